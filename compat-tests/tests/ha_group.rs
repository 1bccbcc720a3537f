//! An rmqd master and rmqd slaves as one broker group, each its own process registered
//! with a name server of its own process, driven over the wire: SYNC_MASTER answers
//! SEND_OK only once a slave has the bytes, and Java's statuses when it cannot; the
//! slave refuses writes as Java's does and serves reads; the name server routes both;
//! an empty slave catches up from the master's last CommitLog file; the CommitLogs are
//! byte-equal; a slave restarted as master (manual fail-over) continues the delay levels.

use std::path::Path;
use std::time::{Duration, Instant};

use rmqd_compat_tests::wire::{self, Conn};
use rmqd_compat_tests::{create_topic, remoting_request, Namesrv, Rmqd};
use serde_json::Value;

/// 1 MiB CommitLog files (the capture's setting): several of them in a test.
const SMALL_FILES: [&str; 2] = [
    "mappedFileSizeCommitLog=1048576",
    "mappedFileSizeConsumeQueue=6000",
];

fn master(ns: &Namesrv, role: &str, extra: &[&str]) -> Rmqd {
    let mut conf = vec!["brokerId=0", role];
    conf.extend_from_slice(&SMALL_FILES);
    conf.extend_from_slice(extra);
    Rmqd::start_broker(ns, &conf, &[])
}

fn slave(ns: &Namesrv, id: &str, extra: &[&str]) -> Rmqd {
    let mut conf = vec![id, "brokerRole=SLAVE"];
    conf.extend_from_slice(&SMALL_FILES);
    conf.extend_from_slice(extra);
    Rmqd::start_broker(ns, &conf, &[])
}

fn wait_for(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_slaves(m: &Rmqd, n: i64) {
    wait_for("slave connections", 20, || {
        m.runtime_i64("haSlaveConnections") == n
    });
}

/// Sends one message and returns the response (code, remark, ext) and the commit-log end
/// of the record (from the offsetMsgId it was answered with).
fn send_one(c: &mut Conn, topic: &str, i: usize) -> (wire::Frame, Option<i64>) {
    let body = format!("ha-{i}");
    let props = wire::properties(&[
        ("WAIT", "true"),
        ("TAGS", "t"),
        ("KEYS", &format!("key-{i}")),
    ]);
    let f = wire::send(
        c,
        "HaProducer",
        topic,
        (i % 4) as i32,
        0,
        &props,
        body.as_bytes(),
    );
    let phy = rmqd_store::record::decode_offset_msg_id(&f.ext("msgId")).map(|(_, off)| off);
    (f, phy)
}

fn commitlog_files(store: &Path) -> Vec<(u64, Vec<u8>)> {
    let mut v: Vec<(u64, Vec<u8>)> = std::fs::read_dir(store.join("commitlog"))
        .expect("commitlog")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let start = e.file_name().to_str()?.parse().ok()?;
            Some((start, std::fs::read(e.path()).ok()?))
        })
        .collect();
    v.sort();
    v
}

/// The slave's CommitLog holds the master's bytes over the range it has.
fn assert_same_bytes(master: &Rmqd, slave: &Rmqd) {
    let m = commitlog_files(&master.store_dir());
    let s = commitlog_files(&slave.store_dir());
    assert!(!s.is_empty());
    let end = slave.runtime_i64("commitLogMaxOffset");
    for (start, bytes) in &s {
        let (_, theirs) = m
            .iter()
            .find(|(ms, _)| ms == start)
            .unwrap_or_else(|| panic!("the master has no file {start}"));
        let n = ((end - *start as i64).max(0) as usize).min(bytes.len());
        assert!(
            bytes[..n] == theirs[..n],
            "CommitLog file {start} differs in its first {n} bytes"
        );
    }
}

fn route(ns: &Namesrv, topic: &str) -> Value {
    let (code, remark, body) = remoting_request(&ns.addr(), 105, &[("topic", topic)], b"");
    assert_eq!(code, 0, "route of {topic}: {remark}");
    serde_json::from_slice(&body).expect("route JSON")
}

fn broker_addrs(ns: &Namesrv, topic: &str) -> Value {
    route(ns, topic)["brokerDatas"][0]["brokerAddrs"].clone()
}

#[test]
fn sync_master_acknowledges_only_what_its_slave_has_and_the_slave_refuses_writes() {
    let ns = Namesrv::start();
    let m = master(&ns, "brokerRole=SYNC_MASTER", &[]);
    let s = slave(&ns, "brokerId=1", &[]);
    wait_slaves(&m, 1);
    create_topic(&m.broker(), "HaTopic", 4);

    // Every SEND_OK comes after the slave has the record: its CommitLog end is already
    // past it when the answer arrives.
    let mut c = Conn::connect(&m.broker());
    for i in 0..20 {
        let (f, phy) = send_one(&mut c, "HaTopic", i);
        assert_eq!(f.code, 0, "send {i}: {}", f.remark);
        let phy = phy.expect("offsetMsgId");
        let on_slave = s.runtime_i64("commitLogMaxOffset");
        assert!(
            on_slave > phy,
            "SEND_OK for {phy} while the slave ends at {on_slave}"
        );
    }

    // The name server routes both, and told the slave where its master is.
    let addrs = broker_addrs(&ns, "HaTopic");
    assert_eq!(addrs["0"], m.broker());
    assert_eq!(addrs["1"], s.broker());
    let info = s.runtime_info();
    assert_eq!(info["brokerRole"], "SLAVE");
    assert_eq!(info["masterAddr"], m.broker());
    assert_eq!(info["haMasterAddress"], m.ha_addr());
    assert_eq!(info["haConnected"], "true");

    // A send to the slave: Java's code 14 and remark, and the send processor's fields.
    let mut sc = Conn::connect(&s.broker());
    let (f, _) = send_one(&mut sc, "HaTopic", 99);
    assert_eq!(f.code, 14);
    assert!(
        f.remark.starts_with("service not available now. It may be caused by one of the following reasons: the broker's disk is full [CL: "),
        "{}",
        f.remark
    );
    assert!(
        f.remark
            .ends_with("], messages are put to the slave, message store has been shut down, etc."),
        "{}",
        f.remark
    );
    assert_eq!(f.ext("MSG_REGION"), "DefaultRegion");
    assert_eq!(f.ext("TRACE_ON"), "true");
    // END_TRANSACTION: SLAVE_NOT_AVAILABLE without a remark; topic admin: Java's refusal.
    let f = sc.request(
        37,
        &[
            ("producerGroup", "HaProducer".into()),
            ("tranStateTableOffset", "0".into()),
            ("commitLogOffset", "0".into()),
            ("commitOrRollback", "8".into()),
            ("fromTransactionCheck", "false".into()),
            ("msgId", "X".into()),
        ],
        b"",
    );
    assert_eq!((f.code, f.remark.as_str()), (11, ""));
    let (code, remark, _) = remoting_request(
        &s.broker(),
        17,
        &[
            ("topic", "Other"),
            ("readQueueNums", "1"),
            ("writeQueueNums", "1"),
            ("perm", "6"),
        ],
        b"",
    );
    assert_eq!(
        (code, remark.as_str()),
        (1, "Can't modify topic or subscription group from slave broker, please execute it from master broker.")
    );

    // Reads from the slave, once its copy of the topics arrived (SlaveSynchronize):
    // everything the master acknowledged, with Java's suggestion of the master.
    wait_for("the slave's topic copy", 20, || {
        wire::pull(&mut sc, "HaGroup", "HaTopic", 0, 0, 32).0 != 17
    });
    // Dispatch (CommitLog → consume queues) runs behind the appends, on the slave as on
    // the master.
    wait_for("dispatch on the slave", 10, || {
        (0..4)
            .map(|q| rmqd_compat_tests::max_offset(&s.broker(), "HaTopic", q))
            .sum::<i64>()
            == 20
    });
    let mut bodies: Vec<String> = (0..4)
        .flat_map(|q| wire::pull_all(&mut sc, "HaGroup", "HaTopic", q, 0))
        .map(|p| p.body_str())
        .collect();
    bodies.sort();
    let mut want: Vec<String> = (0..20).map(|i| format!("ha-{i}")).collect();
    want.sort();
    assert_eq!(bodies, want);
    let f = sc.request(
        11,
        &[
            ("consumerGroup", "HaGroup".into()),
            ("topic", "HaTopic".into()),
            ("queueId", "0".into()),
            ("queueOffset", "0".into()),
            ("maxMsgNums", "1".into()),
            ("sysFlag", "4".into()),
            ("commitOffset", "0".into()),
            ("suspendTimeoutMillis", "0".into()),
            ("subscription", "*".into()),
            ("subVersion", "0".into()),
        ],
        b"",
    );
    assert_eq!((f.code, f.ext_i64("suggestWhichBrokerId")), (0, 0));
    // A consumer's retry goes through the store, which refuses on a slave: Java answers
    // SYSTEM_ERROR with the status's name.
    let f = sc.request(
        36,
        &[
            ("offset", "0".into()),
            ("group", "HaGroup".into()),
            ("delayLevel", "0".into()),
            ("originMsgId", "X".into()),
            ("originTopic", "HaTopic".into()),
            ("unitMode", "false".into()),
            ("maxReconsumeTimes", "16".into()),
        ],
        b"",
    );
    assert_eq!(
        (f.code, f.remark.as_str()),
        (1, "SERVICE_NOT_AVAILABLE"),
        "send back"
    );

    // What the master answers its slaves' copy (43, 45), as Java's encode() writes it.
    let mut mc = Conn::connect(&m.broker());
    mc.oneway(
        15,
        &[
            ("consumerGroup", "HaGroup".into()),
            ("topic", "HaTopic".into()),
            ("queueId", "1".into()),
            ("commitOffset", "3".into()),
        ],
        b"",
    );
    wait_for("the committed offset", 5, || {
        let f = mc.request(43, &[], b"");
        f.body == br#"{"offsetTable":{"HaTopic@HaGroup":{1:3}}}"#
    });
    assert_eq!(mc.request(45, &[], b"").body, br#"{"offsetTable":{}}"#);
    // …and the slave has the master's offsets within a sync period.
    wait_for("the slave's offset copy", 20, || {
        let f = sc.request(
            14,
            &[
                ("consumerGroup", "HaGroup".into()),
                ("topic", "HaTopic".into()),
                ("queueId", "1".into()),
            ],
            b"",
        );
        f.code == 0 && f.ext_i64("offset") == 3
    });
    assert_same_bytes(&m, &s);
}

#[test]
fn a_slave_down_or_frozen_gets_javas_statuses_and_catches_up_after() {
    let ns = Namesrv::start();
    let m = master(
        &ns,
        "brokerRole=SYNC_MASTER",
        &["slaveTimeout=1000", "haHousekeepingInterval=4000"],
    );
    let mut s = slave(&ns, "brokerId=1", &["haHousekeepingInterval=4000"]);
    wait_slaves(&m, 1);
    create_topic(&m.broker(), "HaTopic", 4);
    let mut c = Conn::connect(&m.broker());
    assert_eq!(send_one(&mut c, "HaTopic", 0).0.code, 0);

    // Frozen: connected but silent. The send waits slaveTimeout, then FLUSH_SLAVE_TIMEOUT,
    // stored and answered with its ids.
    s.signal("STOP");
    // The signal is delivered asynchronously: let it land before sending.
    std::thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    let (f, phy) = send_one(&mut c, "HaTopic", 1);
    assert_eq!(f.code, 12, "{}", f.remark);
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );
    assert!(phy.is_some() && !f.ext("queueOffset").is_empty());
    // After haHousekeepingInterval without a report the master drops it: then
    // SLAVE_NOT_AVAILABLE at once.
    wait_slaves(&m, 0);
    let t = Instant::now();
    let (f, _) = send_one(&mut c, "HaTopic", 2);
    assert_eq!((f.code, f.remark.as_str()), (11, ""));
    assert!(t.elapsed() < Duration::from_millis(900));
    for k in ["msgId", "queueId", "queueOffset", "MSG_REGION", "TRACE_ON"] {
        assert!(!f.ext(k).is_empty(), "SLAVE_NOT_AVAILABLE without {k}");
    }
    s.signal("CONT");
    wait_slaves(&m, 1);
    assert_eq!(send_one(&mut c, "HaTopic", 3).0.code, 0);

    // Killed: the connection closes and sends are SLAVE_NOT_AVAILABLE at once; the
    // messages are on the master.
    s.kill9();
    wait_slaves(&m, 0);
    for i in 4..8 {
        let (f, _) = send_one(&mut c, "HaTopic", i);
        assert_eq!(f.code, 11);
    }
    // Restarted on its store, the slave resumes from its own end and has everything.
    s.restart();
    wait_slaves(&m, 1);
    let (f, phy) = send_one(&mut c, "HaTopic", 8);
    assert_eq!(f.code, 0, "{}", f.remark);
    assert!(s.runtime_i64("commitLogMaxOffset") > phy.unwrap_or(i64::MAX));
    assert_eq!(
        s.runtime_i64("commitLogMaxOffset"),
        m.runtime_i64("commitLogMaxOffset")
    );
    assert_same_bytes(&m, &s);
}

/// An empty slave is fed from the start of the master's last CommitLog file (Java's rule
/// for a slave that reports 0), across the following files; two slaves both get
/// everything, and the route lists all three.
#[test]
fn an_empty_slave_starts_at_the_masters_last_file_and_two_slaves_keep_up() {
    let ns = Namesrv::start();
    let m = master(&ns, "brokerRole=ASYNC_MASTER", &[]);
    create_topic(&m.broker(), "HaBulk", 1);
    let mut c = Conn::connect(&m.broker());
    let body = vec![b'x'; 1024];
    // About 2.3 MiB: three CommitLog files.
    for i in 0..1900 {
        let f = wire::send(&mut c, "P", "HaBulk", 0, 0, "", &body);
        assert_eq!(f.code, 0, "send {i}: {}", f.remark);
    }
    let end = m.runtime_i64("commitLogMaxOffset");
    assert!(end > 2 * 1_048_576);
    let s1 = slave(&ns, "brokerId=1", &[]);
    let s2 = slave(&ns, "brokerId=2", &[]);
    wait_slaves(&m, 2);
    wait_for("catch-up", 30, || {
        s1.runtime_i64("commitLogMaxOffset") == end && s2.runtime_i64("commitLogMaxOffset") == end
    });
    assert_eq!(s1.runtime_i64("commitLogMinOffset"), 2 * 1_048_576);
    let addrs = broker_addrs(&ns, "HaBulk");
    assert_eq!(
        (
            addrs["0"].as_str(),
            addrs["1"].as_str(),
            addrs["2"].as_str()
        ),
        (
            Some(m.broker().as_str()),
            Some(s1.broker().as_str()),
            Some(s2.broker().as_str())
        )
    );
    // The slave holds the queue from the first message of that file on, as the Java
    // slave's GET_MIN_OFFSET showed (839 of 1500 in the capture).
    let q = [("topic", "HaBulk"), ("queueId", "0")];
    wait_for("dispatch on the slave", 10, || {
        rmqd_compat_tests::max_offset(&s1.broker(), "HaBulk", 0) == 1900
    });
    let (_, _, min) = rmqd_compat_tests::remoting_request_ext(&s1.broker(), 31, &q);
    let (_, _, max) = rmqd_compat_tests::remoting_request_ext(&s1.broker(), 30, &q);
    let min: i64 = min["offset"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .expect("min");
    let max: i64 = max["offset"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .expect("max");
    assert!(min > 0 && min < 1900, "min {min}");
    assert_eq!(max, 1900);
    // A pull below the slave's first message: Java's slave leaves the offset alone and
    // sends the consumer back to the master (the capture's S15: code 20, nextBeginOffset
    // as asked, suggestWhichBrokerId 0).
    let mut sc = Conn::connect(&s1.broker());
    wait_for("the slave's topic copy", 20, || {
        let (code, _, body) = remoting_request(&s1.broker(), 21, &[], b"");
        code == 0 && String::from_utf8_lossy(&body).contains("\"HaBulk\"")
    });
    let f = sc.request(
        11,
        &[
            ("consumerGroup", "HaBulkGroup".into()),
            ("topic", "HaBulk".into()),
            ("queueId", "0".into()),
            ("queueOffset", "0".into()),
            ("maxMsgNums", "32".into()),
            ("sysFlag", "4".into()),
            ("commitOffset", "0".into()),
            ("suspendTimeoutMillis", "0".into()),
            ("subscription", "*".into()),
            ("subVersion", "0".into()),
        ],
        b"",
    );
    assert_eq!((f.code, f.remark.as_str()), (20, "OFFSET_TOO_SMALL"));
    assert_eq!(
        (
            f.ext_i64("nextBeginOffset"),
            f.ext_i64("minOffset"),
            f.ext_i64("maxOffset"),
            f.ext_i64("suggestWhichBrokerId")
        ),
        (0, min, 1900, 0)
    );
    assert_same_bytes(&m, &s1);
    assert_same_bytes(&m, &s2);
    // New sends reach both.
    for i in 0..50 {
        assert_eq!(
            wire::send(&mut c, "P", "HaBulk", 0, 0, "", &body).code,
            0,
            "{i}"
        );
    }
    let end = m.runtime_i64("commitLogMaxOffset");
    wait_for("both slaves", 20, || {
        s1.runtime_i64("commitLogMaxOffset") == end && s2.runtime_i64("commitLogMaxOffset") == end
    });
}

/// Manual fail-over as the 4.x docs describe it: the master is gone, the operator gives
/// the slave `brokerId=0` and a master role and restarts it. What the master had done is
/// not done again (a delivered delayed message, a committed offset); what it had left is
/// done now (a delayed message still due, an undecided transaction the new master checks).
#[test]
fn a_slave_restarted_as_master_continues_delay_levels_offsets_and_transactions() {
    let ns = Namesrv::start();
    let mut m = master(
        &ns,
        "brokerRole=ASYNC_MASTER",
        &["transactionCheckInterval=600000"],
    );
    let mut s = slave(&ns, "brokerId=1", &[]);
    wait_slaves(&m, 1);
    let topic = "FoTopic";
    create_topic(&m.broker(), topic, 1);
    let mut c = Conn::connect(&m.broker());
    let delayed = |level: &str| wire::properties(&[("DELAY", level), ("WAIT", "true")]);
    // Delivered by the master (level 1, 1 s) before the fail-over.
    assert_eq!(
        wire::send(&mut c, "FoP", topic, 0, 0, &delayed("1"), b"early").code,
        0
    );
    wait_for("the early delivery", 20, || {
        rmqd_compat_tests::max_offset(&m.broker(), topic, 0) == 1
    });
    // Still waiting (level 4, 30 s) when the master dies.
    assert_eq!(
        wire::send(&mut c, "FoP", topic, 0, 0, &delayed("4"), b"late").code,
        0
    );
    // An undecided transaction: the master would check it in ten minutes.
    let half = wire::half_properties("FoProducer", "FOHALF1", &[]);
    let f = wire::send(
        &mut c,
        "FoProducer",
        topic,
        0,
        wire::PREPARED,
        &half,
        b"half",
    );
    assert_eq!(f.code, 0, "{}", f.remark);
    c.oneway(
        15,
        &[
            ("consumerGroup", "FoGroup".into()),
            ("topic", topic.into()),
            ("queueId", "0".into()),
            ("commitOffset", "1".into()),
        ],
        b"",
    );
    // The slave has the bytes and, within a sync period, the master's progress.
    let mut mc = Conn::connect(&m.broker());
    let mut sc = Conn::connect(&s.broker());
    wait_for("the slave's copy", 30, || {
        let (mo, so) = (mc.request(43, &[], b"").body, sc.request(43, &[], b"").body);
        let (md, sd) = (mc.request(45, &[], b"").body, sc.request(45, &[], b"").body);
        mo == so
            && md == sd
            && String::from_utf8_lossy(&sd).contains("1:1")
            && s.runtime_i64("commitLogMaxOffset") == m.runtime_i64("commitLogMaxOffset")
    });
    // A slave checks no transactions: a producer connected to it is never asked.
    let mut p = Conn::connect(&s.broker());
    wire::heartbeat_producer(&mut p, "127.0.0.1@fo-producer", "FoProducer");
    assert!(p.next_request(Duration::from_secs(2)).is_none());
    drop(p);

    m.kill9();
    s.stop_clean();
    s.append_conf(&[
        "brokerId=0",
        "brokerRole=ASYNC_MASTER",
        // The late message's 30 s are up at once; halves older than 1 s are checked.
        "scheduleClockOffsetMillis=3600000",
        "transactionCheckInterval=1000",
        "transactionTimeOut=1000",
    ]);
    s.restart();
    assert_eq!(s.runtime_info()["brokerRole"], "ASYNC_MASTER");
    let mut p = Conn::connect(&s.broker());
    wire::heartbeat_producer(&mut p, "127.0.0.1@fo-producer", "FoProducer");
    let check = loop {
        let req = p
            .next_request(Duration::from_secs(20))
            .expect("the new master checks the half message");
        if req.code == 39 {
            break req;
        }
    };
    assert_eq!(check.ext("msgId"), "FOHALF1");
    wire::answer_check(&mut p, "FoProducer", &check, wire::COMMIT);
    let mut nc = Conn::connect(&s.broker());
    wait_for("late and committed", 20, || {
        rmqd_compat_tests::max_offset(&s.broker(), topic, 0) == 3
    });
    let mut bodies: Vec<String> = wire::pull_all(&mut nc, "FoReader", topic, 0, 0)
        .iter()
        .map(|m| m.body_str())
        .collect();
    bodies.sort();
    assert_eq!(bodies, ["early", "half", "late"], "each once");
    assert_eq!(wire::query_offset(&mut nc, "FoGroup", topic, 0), (0, 1));
    // The route names the new master as broker 0.
    assert_eq!(broker_addrs(&ns, topic)["0"], s.broker());
}

/// `suggestWhichBrokerId` as PullMessageProcessor sets it with `slaveReadEnable`: a
/// consumer further behind than `accessMessageInMemoryMaxRatio` of memory is sent to the
/// group's `whichBrokerWhenConsumeSlowly` (1), one that keeps up to the group's `brokerId`
/// (0) — on the master and on the slave alike; without slave reads, always 0.
#[test]
fn pulls_suggest_the_slave_when_behind_and_the_master_when_caught_up() {
    let ns = Namesrv::start();
    // Ratio 0: any lag counts as too far behind.
    let m = master(
        &ns,
        "brokerRole=ASYNC_MASTER",
        &["slaveReadEnable=true", "accessMessageInMemoryMaxRatio=0"],
    );
    let s_keeping_up = slave(&ns, "brokerId=1", &["slaveReadEnable=true"]);
    let s_no_reads = slave(&ns, "brokerId=2", &[]);
    wait_slaves(&m, 2);
    create_topic(&m.broker(), "SuggestTopic", 1);
    let mut c = Conn::connect(&m.broker());
    for i in 0..3 {
        assert_eq!(
            wire::send(
                &mut c,
                "P",
                "SuggestTopic",
                0,
                0,
                "",
                format!("s-{i}").as_bytes()
            )
            .code,
            0
        );
    }
    let suggest = |broker: &str| -> (i64, i64) {
        let mut c = Conn::connect(broker);
        let f = c.request(
            11,
            &[
                ("consumerGroup", "SuggestGroup".into()),
                ("topic", "SuggestTopic".into()),
                ("queueId", "0".into()),
                ("queueOffset", "0".into()),
                ("maxMsgNums", "1".into()),
                ("sysFlag", "4".into()),
                ("commitOffset", "0".into()),
                ("suspendTimeoutMillis", "0".into()),
                ("subscription", "*".into()),
                ("subVersion", "0".into()),
            ],
            b"",
        );
        (f.code, f.ext_i64("suggestWhichBrokerId"))
    };
    assert_eq!(
        suggest(&m.broker()),
        (0, 1),
        "the master sends a lagging consumer to broker 1"
    );
    for s in [&s_keeping_up, &s_no_reads] {
        wait_for("the slave's copy", 20, || suggest(&s.broker()).0 == 0);
    }
    assert_eq!(
        suggest(&s_keeping_up.broker()),
        (0, 0),
        "a slave sends it back to the master"
    );
    assert_eq!(suggest(&s_no_reads.broker()), (0, 0));
}

/// The HA port taken by another process: a SYNC_MASTER does not start (it could not
/// acknowledge anything), as a Java broker does not; an ASYNC_MASTER serves on and opens
/// the port once it is free, and its slave then connects.
#[test]
fn a_taken_ha_port_stops_a_sync_master_but_not_an_async_one() {
    let ns = Namesrv::start();
    let taken = std::net::TcpListener::bind("0.0.0.0:0").expect("bind");
    let ha_port = format!("haListenPort={}", taken.local_addr().expect("addr").port());

    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("broker.conf");
    std::fs::write(
        &conf,
        format!(
            "brokerName=broker-x\nbrokerRole=SYNC_MASTER\nlistenPort={}\nnamesrvAddr={}\nstorePathRootDir={}\ngrpcServerPort=0\n{ha_port}\n",
            rmqd_compat_tests::free_broker_port(),
            ns.addr(),
            dir.path().join("store").display()
        ),
    )
    .expect("conf");
    let out = std::process::Command::new(rmqd_compat_tests::rmqd_bin())
        .args(["broker", "-c", conf.to_str().expect("path")])
        .env("HOME", dir.path())
        .output()
        .expect("run rmqd");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("HA port"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let m = master(&ns, "brokerRole=ASYNC_MASTER", &[&ha_port]);
    create_topic(&m.broker(), "PortTopic", 1);
    let _s = slave(&ns, "brokerId=1", &[]);
    assert_eq!(m.runtime_i64("haSlaveConnections"), 0);
    drop(taken);
    wait_slaves(&m, 1);
}
