//! An rmqd master against the captured Java 4.9.8 slave (`ha/java-4.9.8`):
//!
//! - given the CommitLog the Java master had, it answers the captured slave reports with
//!   the transfers the Java master sent: the same start offsets and sizes, a new slave
//!   (report 0) started at the last file, 32 KiB at most, never across a file, the file's
//!   last transfer ending at its end with the BLANK filler, and the same bytes where the
//!   capture has them;
//! - it answers the captured SlaveSynchronize requests (21 on the VIP port, 43, 45, 201)
//!   with Java's bodies, byte for byte where Java's are fixed strings.

use std::time::{Duration, Instant};

use rmqd_compat_tests::ha_capture::{self, shape, HaSlave};
use rmqd_compat_tests::wire::{self, Conn};
use rmqd_compat_tests::{create_topic, max_offset, Namesrv, Rmqd};
use serde_json::Value;

const FILE: usize = 1_048_576;

fn group_conf(role: &str, extra: &[&'static str]) -> Vec<&'static str> {
    let mut v = vec![
        "brokerId=0",
        "mappedFileSizeCommitLog=1048576",
        "mappedFileSizeConsumeQueue=6000",
    ];
    v.push(if role == "SYNC" {
        "brokerRole=SYNC_MASTER"
    } else {
        "brokerRole=ASYNC_MASTER"
    });
    v.extend_from_slice(extra);
    v
}

fn wait_for(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The captured transfers of a connection as (start, size), heartbeats included, up to
/// the last one that carried data (idle heartbeats followed it).
fn captured_shape(conn: i64) -> Vec<(i64, usize)> {
    let mut v: Vec<(i64, usize)> = ha_capture::transfers(conn)
        .into_iter()
        .map(|(s, n, _)| (s, n))
        .collect();
    while v.last().is_some_and(|(_, n)| *n == 0) {
        v.pop();
    }
    v
}

/// Java's bulk message `i` of step S13 (1024-byte body, keys, a 56-character unique key,
/// three tags): the same stored size, so the CommitLog has the Java master's layout.
fn send_bulk(c: &mut Conn, i: usize) {
    let prefix = format!("bulk-{i} ");
    let body: Vec<u8> = (0..1024)
        .map(|k| match prefix.as_bytes().get(k) {
            Some(b) => *b,
            None => b'a' + (k % 26) as u8,
        })
        .collect();
    let props = wire::properties(&[
        ("KEYS", &format!("bulk-key-{i}")),
        (
            "UNIQ_KEY",
            &format!("FD00000000000000000000000000000266895FFD2B270D7E{i:08X}"),
        ),
        ("WAIT", "true"),
        ("TAGS", &format!("tag{}", i % 3)),
    ]);
    let f = wire::send(c, "HaBulkProducer", "HaBulkTopic", 0, 0, &props, &body);
    assert_eq!(f.code, 0, "bulk {i}: {}", f.remark);
}

#[test]
fn the_captured_slave_reports_get_the_java_masters_transfers() {
    let ns = Namesrv::start();
    let mut m = Rmqd::start_broker(
        &ns,
        &group_conf("ASYNC", &["haSendHeartbeatInterval=1000"]),
        &[],
    );
    // The Java master's store at step S10: its CommitLog (0 → 6078, recorded in full on
    // the HA stream) and its delay-level progress (both delayed messages delivered).
    m.stop_clean();
    let head = ha_capture::master_commitlog_head();
    assert_eq!(head.len(), 6078);
    let mut file = head.clone();
    file.resize(FILE, 0);
    let store = m.store_dir();
    std::fs::create_dir_all(store.join("commitlog")).expect("mkdir");
    std::fs::write(store.join("commitlog/00000000000000000000"), &file).expect("write");
    std::fs::create_dir_all(store.join("config")).expect("mkdir");
    std::fs::write(
        store.join("config/delayOffset.json"),
        "{\n\t\"offsetTable\":{2:2\n\t}\n}",
    )
    .expect("write");
    m.restart();
    assert_eq!(m.runtime_i64("commitLogMaxOffset"), 6078);

    // S10, connection 20: the restarted slave reports 5412.
    let mut s = HaSlave::connect(&m.ha_addr());
    s.report(5412);
    let got = s.until(6078, Duration::from_secs(10));
    assert_eq!(shape(&got), captured_shape(20)[..2]);
    let (_, _, body) = &ha_capture::transfers(20)[1];
    assert_eq!(
        Some(&got[1].1),
        body.as_ref(),
        "the 3 records of S09, byte for byte"
    );
    // Acknowledged and idle: heartbeats at the new end.
    s.report(6078);
    assert_eq!(s.next(Duration::from_secs(5)), Some((6078, Vec::new())));
    drop(s);

    // A slave reporting more than this master has (its CommitLog is not a copy of this
    // one) is disconnected, not streamed into.
    let mut s = HaSlave::connect(&m.ha_addr());
    s.report(7000);
    assert!(
        s.closed(Duration::from_secs(10)),
        "a diverged slave was kept"
    );

    // An empty slave against a one-file master: from 0, everything in one transfer.
    let mut s = HaSlave::connect(&m.ha_addr());
    s.report(0);
    let got = s.until(6078, Duration::from_secs(10));
    assert_eq!(shape(&got), [(0, 0), (0, 6078)]);
    assert_eq!(got[1].1, head);
    drop(s);
    wait_for("the slaves to go", 20, || {
        m.runtime_i64("haSlaveConnections") == 0
    });

    // S12–S13: 1500 bulk messages of the Java run's sizes. The CommitLog ends where the
    // Java master's did, in two files.
    create_topic(&m.broker(), "HaBulkTopic", 1);
    let mut c = Conn::connect(&m.broker());
    for i in 0..1500 {
        send_bulk(&mut c, i);
    }
    assert_eq!(m.runtime_i64("commitLogMaxOffset"), 1_870_038);

    // S17, connection 34: the original slave at 6078 catches up across the file end.
    let mut s = HaSlave::connect(&m.ha_addr());
    s.report(6078);
    let got = s.until(1_870_038, Duration::from_secs(30));
    assert_eq!(shape(&got), captured_shape(34));
    let (start, blanked) = got
        .iter()
        .find(|(st, b)| *st + b.len() as i64 == FILE as i64 && !b.is_empty())
        .expect("a transfer ending at the file end");
    assert_eq!((*start, blanked.len()), (1_021_886, 26_690));
    let at = (1_048_006 - start) as usize;
    assert_eq!(&blanked[at..at + 4], &570i32.to_be_bytes(), "BLANK size");
    assert_eq!(
        &blanked[at + 4..at + 8],
        &0xCBD4_3194_u32.to_be_bytes(),
        "BLANK magic"
    );
    drop(s);

    // S14, connection 25: a fresh slave reports 0 and is fed from the last file.
    let mut s = HaSlave::connect(&m.ha_addr());
    s.report(0);
    let got = s.until(1_870_038, Duration::from_secs(30));
    assert_eq!(shape(&got), captured_shape(25));
    assert_eq!(got[0], (1_048_576, Vec::new()));
}

/// The captured SlaveSynchronize requests, as the Java slave sent them, to a fresh rmqd
/// master and then to one that went through steps S03–S06: Java's answers.
#[test]
fn the_captured_slave_sync_requests_get_the_java_masters_answers() {
    let ns = Namesrv::start();
    // Delayed messages are due at once (the clock is 10 s ahead).
    let m = Rmqd::start_broker(
        &ns,
        &group_conf("SYNC", &["scheduleClockOffsetMillis=10000"]),
        &[],
    );
    let frames = ha_capture::frames("slave-master.jsonl");
    let vip = format!("127.0.0.1:{}", m.broker_port - 2);
    // Replays the request and returns rmqd's answer with Java's.
    let ask = |code: i64, round: usize| -> (wire::Frame, ha_capture::Frame) {
        let mut reqs = frames
            .iter()
            .enumerate()
            .filter(|(_, f)| f.c2s && f.code == code);
        let (i, req) = reqs.nth(round).expect("captured request");
        let java = frames[i + 1..]
            .iter()
            .find(|f| !f.c2s && f.conn == req.conn && f.opaque == req.opaque)
            .expect("captured answer")
            .clone();
        let addr = if req.peer == "master-vip" {
            &vip
        } else {
            &m.broker()
        };
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        use std::io::Write;
        s.write_all(&req.bytes()).expect("send");
        let (h, body) = wire::read_frame(&mut s);
        let ours = wire::Frame {
            code: h["code"].as_i64().unwrap_or(-1),
            opaque: h["opaque"].as_i64().unwrap_or(-1),
            flag: h["flag"].as_i64().unwrap_or(0),
            remark: h["remark"].as_str().unwrap_or("").to_string(),
            ext: h["extFields"].as_object().cloned().unwrap_or_default(),
            body,
        };
        assert_eq!((ours.code, ours.flag, ours.opaque), (0, 1, req.opaque));
        (ours, java)
    };
    let json = |b: &[u8]| -> Value { serde_json::from_slice(b).expect("JSON body") };

    // Round 1, a fresh master.
    let (ours, java) = ask(21, 0);
    let (o, j) = (json(&ours.body), json(&java.body));
    assert_eq!(
        o["topicConfigTable"], j["topicConfigTable"],
        "the initial topics"
    );
    assert_eq!(o["dataVersion"]["counter"], j["dataVersion"]["counter"]);
    for code in [43, 45] {
        let (ours, java) = ask(code, 0);
        assert_eq!(ours.body, java.body, "code {code}");
        assert_eq!(ours.body, br#"{"offsetTable":{}}"#);
    }
    let (ours, java) = ask(201, 0);
    let (o, j) = (json(&ours.body), json(&java.body));
    assert_eq!(
        o["subscriptionGroupTable"], j["subscriptionGroupTable"],
        "the initial groups"
    );
    assert_eq!(o["dataVersion"]["counter"], j["dataVersion"]["counter"]);

    // S03, S05: the topic, then the pull consumer's requests as captured (its pulls
    // create the group, its oneway commits store the offsets).
    create_topic(&m.broker(), "HaTopic", 4);
    let mut c = std::net::TcpStream::connect(m.broker()).expect("connect");
    for f in ha_capture::frames("client-03-pull-and-commit-offsets.jsonl")
        .iter()
        .filter(|f| f.c2s && f.peer == "master")
    {
        use std::io::Write;
        c.write_all(&f.bytes()).expect("send");
        if f.flag & 2 == 0 {
            // The broker's own requests (NOTIFY_CONSUMER_IDS_CHANGED) may come first.
            loop {
                let (h, _) = wire::read_frame(&mut c);
                if h["flag"].as_i64().unwrap_or(0) & 1 == 1 {
                    assert_eq!(h["opaque"], f.opaque, "answer to {}", f.code);
                    break;
                }
            }
        }
    }
    // S06: two messages with delay level 2, delivered by the master.
    let mut p = Conn::connect(&m.broker());
    let props = wire::properties(&[("DELAY", "2"), ("WAIT", "true")]);
    for q in [2, 3] {
        assert_eq!(
            wire::send(&mut p, "HaProducerGroup", "HaTopic", q, 0, &props, b"d").code,
            11
        );
    }
    wait_for("the deliveries", 20, || {
        max_offset(&m.broker(), "HaTopic", 2) == 1 && max_offset(&m.broker(), "HaTopic", 3) == 1
    });
    // The last round of the capture: the same offsets, the same delay progress.
    let last = frames.iter().filter(|f| f.c2s && f.code == 43).count() - 1;
    wait_for("the committed offsets", 10, || {
        let (ours, java) = ask(43, last);
        ours.body == java.body
    });
    let (ours, java) = ask(43, last);
    assert_eq!(
        ours.body,
        br#"{"offsetTable":{"HaTopic@HaGroup":{0:3,1:3,2:2,3:2}}}"#
    );
    assert_eq!(ours.body, java.body);
    wait_for("the delay progress", 10, || {
        ask(45, last).0.body == ask(45, last).1.body
    });
    assert_eq!(ask(45, last).0.body, br#"{"offsetTable":{2:2}}"#);
    // The group the consumer created, with Java's defaults and a new data version.
    let (ours, java) = ask(201, last);
    let (o, j) = (json(&ours.body), json(&java.body));
    assert_eq!(o["subscriptionGroupTable"], j["subscriptionGroupTable"]);
    assert_eq!(o["dataVersion"]["counter"], j["dataVersion"]["counter"]);
}
