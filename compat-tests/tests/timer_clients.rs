//! Timer messages from real clients: `rocketmq-client-rust` 1.0.0 through its own
//! setters (`set_delay_time_sec`, `set_deliver_time_ms`, as the Java 5.x `Message` has),
//! the C++ clients (PyPI `rocketmq` 0.4.4 and `rocketmq-python-cvs` 2.1) and `ali-ons`
//! through a plain property; each message consumed by the same client's push consumer when
//! due, with the timer properties.

use std::time::Duration;

use rmqd_compat_tests::{create_topic, run_driver, Client, DriverRun, Rmqd};
use serde_json::Value;

const T: Duration = Duration::from_secs(120);
const P: i64 = 1000;
/// Past the slot boundary: the service tick, dispatch, the push consumer's pull.
const SLACK: i64 = 1000;

fn run(c: Client, r: &Rmqd, args: &[&str]) -> DriverRun {
    let run = run_driver(c, args, r.home.path(), T);
    assert!(
        run.success && run.errors().is_empty(),
        "{}: {:?}\n{}\nbroker log:\n{}",
        c.name(),
        run.errors(),
        run.stderr,
        r.log()
    );
    run
}

fn timed_sends_come_when_due(c: Client) {
    let r = Rmqd::start(&[]);
    let ns = r.namesrv();
    let cases: [(&str, &str, i64); 2] = [
        ("--timer-delay-sec", "2", 2000),
        ("--timer-deliver-in-ms", "3000", 3000),
    ];
    for (k, (opt, v, wait)) in cases.iter().enumerate() {
        let topic = format!("TimerC{k}");
        let prefix = format!("t{k}");
        if c == Client::Node {
            // ali-ons does not create topics on send.
            create_topic(&r.broker(), &topic, 4);
        }
        run(
            c,
            &r,
            &[
                "send",
                "--namesrv",
                &ns,
                "--topic",
                &topic,
                "--count",
                "8",
                "--body-prefix",
                &prefix,
                opt,
                v,
            ],
        );
        let got = run(
            c,
            &r,
            &[
                "consume",
                "--namesrv",
                &ns,
                "--topic",
                &topic,
                "--group",
                &format!("TimerG{k}"),
                "--expect",
                "8",
                "--timeout",
                "60",
            ],
        );
        let msgs: Vec<&Value> = got
            .lines
            .iter()
            .filter(|l| l.get("body").is_some())
            .collect();
        assert_eq!(msgs.len(), 8, "{}: {opt} {v}: {}", c.name(), got.stderr);
        for m in msgs {
            let born = m["bornTimestamp"].as_i64().unwrap_or(0);
            let stored = m["storeTimestamp"].as_i64().unwrap_or(0);
            let waited = stored - born;
            eprintln!("{}: {opt} {v}: stored {waited} ms after born", c.name());
            assert!(
                waited >= *wait && waited < wait + P + SLACK,
                "{}: {opt} {v}: stored {waited} ms after it was born",
                c.name()
            );
            let timer = &m["timer"];
            let out: i64 = timer["TIMER_OUT_MS"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            assert!(out > born && out % P == 0, "{timer}");
            assert!(
                timer["TIMER_ENQUEUE_MS"].is_string() && timer["TIMER_DEQUEUE_MS"].is_string(),
                "{timer}"
            );
            assert_eq!(timer["REAL_TOPIC"].as_str(), Some(topic.as_str()));
        }
    }
}

#[test]
fn rust_client_timer_messages() {
    timed_sends_come_when_due(Client::Rust);
}

#[test]
fn cpp1_client_timer_messages() {
    timed_sends_come_when_due(Client::PyCpp1);
}

#[test]
fn cpp2_client_timer_messages() {
    timed_sends_come_when_due(Client::PyCpp2);
}

#[test]
fn node_client_timer_messages() {
    timed_sends_come_when_due(Client::Node);
}
