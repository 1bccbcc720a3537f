//! Pull load: one connection per queue reads a topic from offset 0 to its end with
//! PULL_MESSAGE (maxMsgNums 32, the subscription in the header, no suspension), as fast
//! as the broker answers, and reports messages per second for each round. With a
//! SQL92 expression the broker evaluates it on every message, so paired runs (tag `*`
//! against an expression) show what the filter costs; read the broker's CPU time from
//! `/proc/PID/stat` around a round for a figure that survives a busy machine.
//!
//! rmqd-pull-load --broker 127.0.0.1:10911 [--topic LoadTest] [--queues 8]
//!                [--type TAG|SQL92] [--expr '*'] [--rounds 1]

use std::time::Instant;

use rmqd_compat_tests::wire::Conn;

struct Args {
    broker: String,
    topic: String,
    queues: i32,
    expression_type: String,
    expression: String,
    rounds: usize,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        broker: "127.0.0.1:10911".into(),
        topic: "LoadTest".into(),
        queues: 8,
        expression_type: "TAG".into(),
        expression: "*".into(),
        rounds: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().ok_or_else(|| format!("{k} needs a value"))?;
        let num = |v: &str| v.parse().map_err(|e| format!("{k}: {e}"));
        match k.as_str() {
            "--broker" => a.broker = v,
            "--topic" => a.topic = v,
            "--queues" => a.queues = num(&v)?,
            "--type" => a.expression_type = v,
            "--expr" => a.expression = v,
            "--rounds" => a.rounds = num(&v)? as usize,
            _ => return Err(format!("unknown option {k}")),
        }
    }
    Ok(a)
}

/// Reads one queue to its end; the number of messages.
fn read_queue(a: &Args, queue: i32) -> u64 {
    let mut c = Conn::connect(&a.broker);
    let (mut offset, mut count) = (0i64, 0u64);
    loop {
        let f = c.request(
            11,
            &[
                ("consumerGroup", "PullLoad".to_string()),
                ("topic", a.topic.clone()),
                ("queueId", queue.to_string()),
                ("queueOffset", offset.to_string()),
                ("maxMsgNums", "32".to_string()),
                ("sysFlag", "4".to_string()),
                ("commitOffset", "0".to_string()),
                ("suspendTimeoutMillis", "0".to_string()),
                ("subscription", a.expression.clone()),
                ("subVersion", "0".to_string()),
                ("expressionType", a.expression_type.clone()),
            ],
            b"",
        );
        // FOUND (0) or PULL_RETRY_IMMEDIATELY (20, nothing matched in the window).
        if f.code != 0 && f.code != 20 {
            return count;
        }
        let mut p = 0usize;
        while let Some(size) = f.body.get(p..p + 4) {
            let size = i32::from_be_bytes([size[0], size[1], size[2], size[3]]);
            if size <= 0 {
                break;
            }
            p += size as usize;
            count += 1;
        }
        offset = f.ext_i64("nextBeginOffset");
    }
}

fn main() {
    let a = match parse() {
        Ok(a) => std::sync::Arc::new(a),
        Err(e) => {
            eprintln!("rmqd-pull-load: {e}");
            std::process::exit(2);
        }
    };
    for _ in 0..a.rounds {
        let started = Instant::now();
        let readers: Vec<_> = (0..a.queues)
            .map(|q| {
                let a = a.clone();
                std::thread::spawn(move || read_queue(&a, q))
            })
            .collect();
        let total: u64 = readers.into_iter().map(|r| r.join().unwrap_or(0)).sum();
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{{\"messages\":{total},\"seconds\":{secs:.3},\"msgs_per_s\":{:.0}}}",
            total as f64 / secs
        );
    }
}
