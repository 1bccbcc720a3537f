//! Load generator: many producers doing synchronous sends, as Java producers do
//! (SEND_MESSAGE_V2, JSON headers), against any RocketMQ broker address. It reports
//! throughput and latency, so two brokers can be compared side by side on one machine.
//! The topic is created first (UPDATE_AND_CREATE_TOPIC) with `--queues` queues, so every
//! broker under test serves the same queues.
//!
//! rmqd-load --broker 127.0.0.1:10911 [--producers 64] [--size 1024] [--seconds 10]
//!           [--topic LoadTest] [--queues 8] [--timer-every N --timer-delay-ms D]
//!
//! With `--timer-every N`, every Nth message of each producer is a timer message
//! (TIMER_DELAY_MS = D, default 2000): the broker parks and later delivers it while the
//! others are plain sends. Timer sends are counted apart (`timer_sent`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rmqd_remoting::codes::{request, response};
use rmqd_remoting::headers::broker::CreateTopicRequestHeader;
use rmqd_remoting::headers::send::SendMessageRequestHeaderV2;
use rmqd_remoting::transport::client::{connect, RejectRequests};
use rmqd_remoting::{CancellationToken, RemotingCommand};

struct Args {
    broker: String,
    producers: usize,
    size: usize,
    seconds: u64,
    topic: String,
    queues: i32,
    /// ACL account to sign every request with (`--access-key AK --secret-key SK`).
    credentials: Option<(String, String)>,
    timer_every: u64,
    timer_delay_ms: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        broker: "127.0.0.1:10911".into(),
        producers: 64,
        size: 1024,
        seconds: 10,
        topic: "LoadTest".into(),
        queues: 8,
        credentials: None,
        timer_every: 0,
        timer_delay_ms: 2000,
    };
    let mut access = None;
    let mut secret = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--broker" => a.broker = val()?,
            "--producers" => a.producers = val()?.parse().map_err(|e| format!("{e}"))?,
            "--size" => a.size = val()?.parse().map_err(|e| format!("{e}"))?,
            "--seconds" => a.seconds = val()?.parse().map_err(|e| format!("{e}"))?,
            "--topic" => a.topic = val()?,
            "--queues" => a.queues = val()?.parse().map_err(|e| format!("{e}"))?,
            "--access-key" => access = Some(val()?),
            "--secret-key" => secret = Some(val()?),
            "--timer-every" => a.timer_every = val()?.parse().map_err(|e| format!("{e}"))?,
            "--timer-delay-ms" => a.timer_delay_ms = val()?.parse().map_err(|e| format!("{e}"))?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    a.credentials = access.zip(secret);
    Ok(a)
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("rmqd-load: {e}");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(run(args));
}

async fn run(args: Args) {
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let timed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let body = bytes::Bytes::from(vec![b'x'; args.size]);
    create_topic(&args).await;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for p in 0..args.producers {
        let conn = match connect(
            &args.broker,
            Arc::new(RejectRequests),
            Duration::from_secs(3),
            CancellationToken::new(),
        )
        .await
        {
            Ok(c) => c,
            Err(e) => {
                eprintln!("rmqd-load: {e}");
                std::process::exit(1);
            }
        };
        let (ok, failed, stop, body) = (ok.clone(), failed.clone(), stop.clone(), body.clone());
        let timed = timed.clone();
        let topic = args.topic.clone();
        let queues = args.queues;
        let creds = args.credentials.clone();
        let (timer_every, timer_delay_ms) = (args.timer_every, args.timer_delay_ms);
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(100_000);
            let mut n: u64 = 0;
            while !stop.load(Ordering::Relaxed) {
                let timer = timer_every > 0 && n % timer_every == timer_every - 1;
                let mut props = format!("UNIQ_KEY\u{1}{p:08X}{n:024X}\u{2}WAIT\u{1}true");
                if timer {
                    props.push_str(&format!("\u{2}TIMER_DELAY_MS\u{1}{timer_delay_ms}"));
                }
                let header = SendMessageRequestHeaderV2 {
                    a: "rmqd-load".into(),
                    b: topic.clone(),
                    c: "TBW102".into(),
                    d: 4,
                    e: ((p as u64 + n) % queues.max(1) as u64) as i32,
                    f: 0,
                    g: 0,
                    h: 0,
                    i: Some(props),
                    j: Some(0),
                    k: false,
                    l: None,
                    m: false,
                    n: None,
                };
                let mut req = RemotingCommand::request(request::SEND_MESSAGE_V2)
                    .with_header(&header)
                    .with_body(body.clone());
                if let Some((ak, sk)) = &creds {
                    rmqd_remoting::acl::sign_request(&mut req, ak, sk);
                }
                let t = Instant::now();
                match conn.invoke(req, Duration::from_secs(3)).await {
                    Ok(r) if r.code == response::SUCCESS => {
                        ok.fetch_add(1, Ordering::Relaxed);
                        if timer {
                            timed.fetch_add(1, Ordering::Relaxed);
                        }
                        lat.push(t.elapsed());
                    }
                    Ok(r) => {
                        if failed.fetch_add(1, Ordering::Relaxed) == 0 {
                            eprintln!("rmqd-load: send failed: code {} {:?}", r.code, r.remark);
                        }
                    }
                    Err(e) => {
                        if failed.fetch_add(1, Ordering::Relaxed) == 0 {
                            eprintln!("rmqd-load: send failed: {e}");
                        }
                        if conn.is_closed() {
                            break;
                        }
                    }
                }
                n += 1;
            }
            lat
        }));
    }
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    let mut all = Vec::new();
    for t in tasks {
        if let Ok(l) = t.await {
            all.extend(l);
        }
    }
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0)
    };
    let sent = ok.load(Ordering::Relaxed);
    let rate = sent as f64 / elapsed;
    println!(
        "{{\"producers\":{},\"size\":{},\"seconds\":{:.1},\"sent\":{},\"timer_sent\":{},\"failed\":{},\"msgs_per_s\":{:.0},\"mb_per_s\":{:.1},\"p50_ms\":{:.2},\"p99_ms\":{:.2}}}",
        args.producers,
        args.size,
        elapsed,
        sent,
        timed.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
        rate,
        rate * args.size as f64 / 1_048_576.0,
        pct(0.50),
        pct(0.99)
    );
}

async fn create_topic(args: &Args) {
    let conn = match connect(
        &args.broker,
        Arc::new(RejectRequests),
        Duration::from_secs(3),
        CancellationToken::new(),
    )
    .await
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rmqd-load: {e}");
            std::process::exit(1);
        }
    };
    let header = CreateTopicRequestHeader {
        topic: args.topic.clone(),
        default_topic: "TBW102".into(),
        read_queue_nums: args.queues,
        write_queue_nums: args.queues,
        perm: 6,
        topic_filter_type: "SINGLE_TAG".into(),
        topic_sys_flag: Some(0),
        order: false,
    };
    let mut req = RemotingCommand::request(request::UPDATE_AND_CREATE_TOPIC).with_header(&header);
    if let Some((ak, sk)) = &args.credentials {
        rmqd_remoting::acl::sign_request(&mut req, ak, sk);
    }
    match conn.invoke(req, Duration::from_secs(5)).await {
        Ok(r) if r.code == response::SUCCESS => {}
        Ok(r) => eprintln!("rmqd-load: create topic: code {} {:?}", r.code, r.remark),
        Err(e) => eprintln!("rmqd-load: create topic: {e}"),
    }
    conn.close();
    // Let the broker publish the new topic before the producers start.
    tokio::time::sleep(Duration::from_millis(200)).await;
}
