//! The Prometheus endpoint (`metricsPort`) scraped while real clients send and consume:
//! the figures move with the traffic, under rocketmq-exporter's names and labels where
//! the exporter has the same figure.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use rmqd_compat_tests::{create_topic, free_port, run_driver, spawn_driver, Client, Rmqd};

const TOPIC: &str = "MetricsTopic";
const GROUP: &str = "MetricsGroup";

/// One scrape: (name, labels) → value.
struct Scrape(BTreeMap<(String, BTreeMap<String, String>), f64>);

fn http_get(port: u16, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the endpoint");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(s, "GET {path} HTTP/1.1\r\nHost: rmqd\r\n\r\n").expect("request");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("response");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    (head.to_string(), body.to_string())
}

fn scrape(port: u16) -> Scrape {
    let (head, body) = http_get(port, "/metrics");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.contains("Content-Type: text/plain; version=0.0.4"),
        "{head}"
    );
    let mut m = BTreeMap::new();
    for line in body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').expect("series and value");
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => {
                let labels = rest
                    .trim_end_matches('}')
                    .split("\",")
                    .filter(|p| !p.is_empty())
                    .filter_map(|p| p.split_once("=\""))
                    .map(|(k, v)| (k.to_string(), v.trim_end_matches('"').to_string()))
                    .collect();
                (n.to_string(), labels)
            }
            None => (series.to_string(), BTreeMap::new()),
        };
        let v: f64 = value.parse().unwrap_or_else(|_| panic!("value of {line}"));
        m.insert((name, labels), v);
    }
    Scrape(m)
}

impl Scrape {
    /// The sum of a family's samples whose labels include `labels`.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut found = None;
        for ((n, l), v) in &self.0 {
            if n == name
                && labels
                    .iter()
                    .all(|(k, val)| l.get(*k).map(String::as_str) == Some(val))
            {
                *found.get_or_insert(0.0) += v;
            }
        }
        found
    }

    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels).unwrap_or(0.0)
    }
}

fn wait_scrape(port: u16, what: &str, ok: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = scrape(port);
        if ok(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "metrics never showed {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn the_endpoint_follows_real_traffic() {
    let port = free_port();
    // Small CommitLog files and a high refusal threshold: the test is about figures, on
    // machines whose disk other jobs share.
    let r = Rmqd::start(&[
        &format!("metricsPort={port}"),
        "mappedFileSizeCommitLog=67108864",
        "diskSpaceWarningLevelRatio=0.98",
    ]);
    let ns = r.namesrv();
    create_topic(&r.broker(), TOPIC, 4);

    let before = scrape(port);
    let topic = [("topic", TOPIC)];
    assert_eq!(before.get("rmqd_topic_put_messages_total", &topic), None);
    assert_eq!(before.value("rocketmq_producer_offset", &topic), 0.0);
    assert_eq!(
        before.value("rmqd_store_health", &[("state", "RUNNING")]),
        1.0
    );
    let (head, _) = http_get(port, "/other");
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");

    // 30 messages from a real producer.
    let sent = run_driver(
        Client::Rust,
        &["send", "--namesrv", &ns, "--topic", TOPIC, "--count", "30"],
        r.home.path(),
        Duration::from_secs(60),
    );
    assert!(sent.success, "sends: {:?}", sent.errors());
    // Dispatch (hence max offsets) runs just behind the acknowledgements.
    let s = wait_scrape(port, "the sends", |s| {
        s.value("rocketmq_producer_offset", &topic) == 30.0
    });
    assert_eq!(s.value("rmqd_topic_put_messages_total", &topic), 30.0);
    assert!(s.value("rmqd_topic_put_bytes_total", &topic) > 30.0 * 100.0);
    assert!(s.value("rocketmq_brokeruntime_msg_put_total_today_now", &[]) >= 30.0);
    assert!(s.value("rocketmq_brokeruntime_commitlog_maxoffset", &[]) > 0.0);
    assert!(s.value("rmqd_store_put_messages_total", &[]) >= 30.0);

    // A real consumer takes them all.
    let home = r.home.path().join("consumer");
    std::fs::create_dir_all(&home).expect("home");
    let consumer = spawn_driver(
        Client::Rust,
        &[
            "consume",
            "--namesrv",
            &ns,
            "--topic",
            TOPIC,
            "--group",
            GROUP,
            "--expect",
            "30",
            "--linger",
            "15",
        ],
        &home,
    );
    let tg = [("topic", TOPIC), ("group", GROUP)];
    let s = wait_scrape(port, "the consumption", |s| {
        s.value("rmqd_group_get_messages_total", &tg) >= 30.0
            && s.value("rocketmq_consumer_offset", &tg) == 30.0
    });
    assert!(s.value("rmqd_group_get_bytes_total", &tg) > 0.0);
    assert_eq!(s.value("rocketmq_group_diff", &tg), 0.0);
    assert_eq!(s.value("rmqd_consumer_lag", &tg), 0.0);
    assert!(
        s.value("rmqd_connections", &[]) >= 1.0,
        "the consumer is connected"
    );
    assert!(s.value("rocketmq_group_count", &[("group", GROUP)]) >= 1.0);
    assert!(s.value("rocketmq_brokeruntime_msg_gettotal_today_now", &[]) >= 30.0);

    // Rates appear once the statistics have been sampled (every 10 s, as Java's).
    let s = wait_scrape(port, "the rates", |s| {
        s.value("rocketmq_producer_tps", &topic) > 0.0
            && s.value("rocketmq_consumer_tps", &tg) > 0.0
            && s.value("rocketmq_broker_tps", &[]) > 0.0
            && s.value("rocketmq_broker_qps", &[]) > 0.0
    });
    assert!(s.value("rocketmq_producer_message_size", &topic) > 0.0);
    assert!(s.value("rocketmq_consumer_message_size", &tg) > 0.0);
    assert!(
        s.value("rmqd_commitlog_flush_latency_seconds_count", &[]) > 0.0,
        "the CommitLog was flushed"
    );
    let run = consumer.finish(Duration::from_secs(60));
    assert!(run.success, "consumer: {}", run.stderr);

    // With the consumer gone, new messages are lag.
    let sent = run_driver(
        Client::Rust,
        &["send", "--namesrv", &ns, "--topic", TOPIC, "--count", "10"],
        r.home.path(),
        Duration::from_secs(60),
    );
    assert!(sent.success, "sends: {:?}", sent.errors());
    let s = wait_scrape(port, "the lag", |s| {
        s.value("rmqd_consumer_lag", &tg) == 10.0
    });
    assert_eq!(s.value("rocketmq_group_diff", &tg), 10.0);
    assert!(s.value("rocketmq_group_get_latency_by_storetime", &tg) >= 0.0);
    assert_eq!(s.value("rmqd_topic_put_messages_total", &topic), 40.0);
}

#[test]
fn flow_control_answers_are_counted() {
    let port = free_port();
    let r = Rmqd::start(&[
        &format!("metricsPort={port}"),
        "sendThreadPoolQueueCapacity=2",
        "mappedFileSizeCommitLog=67108864",
        "diskSpaceWarningLevelRatio=0.98",
    ]);
    create_topic(&r.broker(), "BusyTopic", 4);
    const SENDS: usize = 2000;
    let mut burst = Vec::new();
    for i in 0..SENDS {
        let header = serde_json::json!({
            "code": 310, "language": "JAVA", "version": 409, "opaque": i, "flag": 0,
            "extFields": {
                "a": "BusyProducer", "b": "BusyTopic", "c": "TBW102", "d": "4",
                "e": (i % 4).to_string(), "f": "0", "g": "0", "h": "0",
                "i": format!("UNIQ_KEY\u{1}busy-{i}\u{2}WAIT\u{1}true"), "j": "0", "k": "false"
            }
        });
        burst.extend_from_slice(&rmqd_compat_tests::wire::json_frame(&header, &[b'x'; 1024]));
    }
    let s = TcpStream::connect(r.broker()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut w = s.try_clone().expect("clone");
    let writer = std::thread::spawn(move || w.write_all(&burst).expect("pipeline"));
    let mut rd = std::io::BufReader::new(s);
    let (mut ok, mut busy) = (0u64, 0u64);
    for _ in 0..SENDS {
        let (h, _) = rmqd_compat_tests::wire::read_frame(&mut rd);
        match h["code"].as_i64() {
            Some(0) => ok += 1,
            Some(2) => busy += 1,
            other => panic!("unexpected answer {other:?}: {h}"),
        }
    }
    writer.join().expect("writer");
    assert!(busy > 0, "a queue of 2 never filled");
    let s = scrape(port);
    assert_eq!(s.value("rmqd_system_busy_total", &[]), busy as f64);
    assert_eq!(
        s.value("rmqd_topic_put_messages_total", &[("topic", "BusyTopic")]),
        ok as f64
    );
}
