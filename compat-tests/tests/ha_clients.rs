//! The four real clients against an rmqd broker group (SYNC_MASTER + SLAVE, separate
//! processes, one name server): every SEND_OK they get is on the slave already; with the
//! slave gone the broker answers SLAVE_NOT_AVAILABLE (the message stored), which ali-ons
//! and the Rust client report as Java's client does and both C++ clients retry on other
//! queues; with the master killed (-9) their push consumers (and the C++ clients' pull
//! consumers) read everything from the slave and commit their progress there; when the master returns, new messages reach
//! them and their offsets end up on the master, nothing lost.

use std::time::{Duration, Instant};

use rmqd_compat_tests::wire::{self, Conn};
use rmqd_compat_tests::{
    create_topic, max_offset, remoting_request, spawn_driver, Client, Namesrv, Rmqd,
};
use serde_json::Value;

const CLIENTS: [Client; 4] = [Client::PyCpp1, Client::PyCpp2, Client::Node, Client::Rust];
const SMALL_FILES: [&str; 2] = [
    "mappedFileSizeCommitLog=1048576",
    "mappedFileSizeConsumeQueue=6000",
];

fn wait_for(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn topic(c: Client) -> String {
    format!(
        "HaClients{}",
        CLIENTS.iter().position(|x| *x == c).unwrap_or(9)
    )
}

fn route_ids(ns: &Namesrv, topic: &str) -> Vec<String> {
    let (code, _, body) = remoting_request(&ns.addr(), 105, &[("topic", topic)], b"");
    if code != 0 {
        return Vec::new();
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or_default();
    let mut ids: Vec<String> = v["brokerDatas"][0]["brokerAddrs"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    ids.sort();
    ids
}

/// Every client sends `count` messages with `prefix` bodies at once; their statuses.
fn send_all(
    ns: &Namesrv,
    home: &std::path::Path,
    count: usize,
    prefix: &str,
) -> Vec<(Client, Vec<String>)> {
    let running: Vec<_> = CLIENTS
        .iter()
        .map(|c| {
            let t = topic(*c);
            let n = count.to_string();
            let args = [
                "send",
                "--namesrv",
                &ns.addr(),
                "--topic",
                &t,
                "--count",
                &n,
                "--body-prefix",
                prefix,
                "--group",
                "HaClientProducer",
            ];
            (*c, spawn_driver(*c, &args, home))
        })
        .collect();
    running
        .into_iter()
        .map(|(c, r)| {
            let run = r.finish(Duration::from_secs(90));
            let statuses: Vec<String> = run
                .lines
                .iter()
                .map(|l| {
                    l.get("status")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .unwrap_or_else(|| format!("error: {l}"))
                })
                .collect();
            assert_eq!(
                statuses.len(),
                count,
                "{}: {:?}\n{}",
                c.name(),
                run.lines,
                run.stderr
            );
            (c, statuses)
        })
        .collect()
}

#[test]
fn real_clients_on_a_sync_master_group_and_on_its_slave_when_the_master_dies() {
    let ns = Namesrv::start();
    let mut conf = vec!["brokerId=0", "brokerRole=SYNC_MASTER"];
    conf.extend_from_slice(&SMALL_FILES);
    let mut m = Rmqd::start_broker(&ns, &conf, &[]);
    let mut sconf = vec!["brokerId=1", "brokerRole=SLAVE"];
    sconf.extend_from_slice(&SMALL_FILES);
    let mut s = Rmqd::start_broker(&ns, &sconf, &[]);
    wait_for("the slave", 20, || m.runtime_i64("haSlaveConnections") == 1);
    for c in CLIENTS {
        create_topic(&m.broker(), &topic(c), 2);
        wait_for("the route", 20, || route_ids(&ns, &topic(c)) == ["0", "1"]);
    }
    let home = tempfile::tempdir().expect("tempdir");

    // SYNC_MASTER with its slave: SEND_OK, and the slave already has every byte once the
    // last answer is in.
    for (c, statuses) in send_all(&ns, home.path(), 20, "sync") {
        assert!(
            statuses.iter().all(|s| s == "SEND_OK"),
            "{}: {statuses:?}",
            c.name()
        );
    }
    assert_eq!(
        s.runtime_i64("commitLogMaxOffset"),
        m.runtime_i64("commitLogMaxOffset"),
        "a SEND_OK the slave does not have"
    );

    // No slave: SLAVE_NOT_AVAILABLE, the message stored. ali-ons and the Rust client
    // return it as the Java client does; both C++ clients take any status but SEND_OK as
    // a failed attempt, send again to the next queue (each copy stored, answered
    // SLAVE_NOT_AVAILABLE too) and give up with an error when every queue was tried.
    s.kill9();
    wait_for("the slave to go", 20, || {
        m.runtime_i64("haSlaveConnections") == 0
    });
    for (c, statuses) in send_all(&ns, home.path(), 3, "down") {
        let want_status = matches!(c, Client::Node | Client::Rust);
        assert!(
            statuses.iter().all(|s| if want_status {
                s == "SLAVE_NOT_AVAILABLE"
            } else {
                s.starts_with("error:")
            }),
            "{}: {statuses:?}",
            c.name()
        );
    }

    // The slave comes back and catches up; then the master dies.
    s.restart();
    wait_for("catch-up", 30, || {
        s.runtime_i64("commitLogMaxOffset") == m.runtime_i64("commitLogMaxOffset")
    });
    // …and has copied the master's topics (SlaveSynchronize, every 10 s): a topic created
    // on a master that dies before the next copy is unknown to its slave, as with Java.
    wait_for("the slave's topic copy", 30, || {
        let (_, _, body) = remoting_request(&s.broker(), 21, &[], b"");
        let text = String::from_utf8_lossy(&body);
        CLIENTS
            .iter()
            .all(|c| text.contains(&format!("\"{}\"", topic(*c))))
    });
    m.kill9();
    for c in CLIENTS {
        wait_for("the master out of the route", 20, || {
            route_ids(&ns, &topic(c)) == ["1"]
        });
    }
    // Push consumers read all 23 messages of their topic from the slave alone, and
    // commit their progress there (the offsets the slave keeps while its master is away).
    let group = |c: Client| format!("HaSlaveGroup{}", topic(c));
    let consumers: Vec<_> = CLIENTS
        .iter()
        .map(|c| {
            let (t, g) = (topic(*c), group(*c));
            let args = [
                "consume",
                "--namesrv",
                &ns.addr(),
                "--topic",
                &t,
                "--group",
                &g,
                "--expect",
                "25",
                "--timeout-secs",
                "150",
                "--linger",
                "100",
            ];
            (*c, spawn_driver(*c, &args, home.path()))
        })
        .collect();
    // …and so do pull consumers (the C++ clients have one), from the first offset.
    let pullers: Vec<_> = [Client::PyCpp1, Client::PyCpp2]
        .iter()
        .map(|c| {
            let t = topic(*c);
            let g = format!("HaPullGroup{t}");
            let args = [
                "pull",
                "--namesrv",
                &ns.addr(),
                "--topic",
                &t,
                "--group",
                &g,
                "--expect",
                "23",
                "--timeout-secs",
                "60",
            ];
            (*c, spawn_driver(*c, &args, home.path()))
        })
        .collect();
    for (c, r) in pullers {
        let run = r.finish(Duration::from_secs(90));
        let mut bodies: Vec<String> = run
            .messages()
            .iter()
            .filter_map(|l| l["body"].as_str().map(str::to_string))
            .collect();
        bodies.sort();
        bodies.dedup();
        assert_eq!(
            bodies.len(),
            23,
            "{} pulled {bodies:?} from the slave\n{}",
            c.name(),
            run.stderr
        );
    }
    let committed = |broker: &str, c: Client| -> i64 {
        let mut conn = Conn::connect(broker);
        (0..2)
            .map(
                |q| match wire::query_offset(&mut conn, &group(c), &topic(c), q) {
                    (0, o) => o,
                    _ => 0,
                },
            )
            .sum()
    };
    // Every record of the topic (the C++ clients' retried copies included) is consumed:
    // the group's offsets on the slave reach the queues' ends.
    let stored =
        |broker: &str, c: Client| -> i64 { (0..2).map(|q| max_offset(broker, &topic(c), q)).sum() };
    for c in CLIENTS {
        let total = stored(&s.broker(), c);
        wait_for("the consumer's progress on the slave", 60, || {
            committed(&s.broker(), c) == total
        });
    }

    // The master returns: the group is whole again, new sends are SEND_OK, the consumers
    // take them, and once they have the master back in their routes (the clients
    // refresh routes every 30 s) their offsets go to the master again.
    m.restart();
    wait_for("the slave back", 30, || {
        m.runtime_i64("haSlaveConnections") == 1
    });
    for (c, statuses) in send_all(&ns, home.path(), 2, "back") {
        assert!(
            statuses.iter().all(|s| s == "SEND_OK"),
            "{}: {statuses:?}",
            c.name()
        );
    }
    for c in CLIENTS {
        let total = stored(&m.broker(), c);
        wait_for("the consumer's offsets on the master", 90, || {
            committed(&m.broker(), c) == total
        });
    }
    let mut failed = Vec::new();
    for (c, r) in consumers {
        // Still lingering: stopped here; everything it printed is kept.
        let run = r.finish(Duration::from_secs(5));
        let mut bodies: Vec<String> = run
            .messages()
            .iter()
            .filter_map(|l| l["body"].as_str().map(str::to_string))
            .collect();
        bodies.sort();
        bodies.dedup();
        if bodies.len() != 25 {
            failed.push(format!(
                "{} read {} of 25: {bodies:?}\n{}",
                c.name(),
                bodies.len(),
                run.stderr.chars().take(4000).collect::<String>()
            ));
        }
    }
    assert!(failed.is_empty(), "{failed:#?}");
}
