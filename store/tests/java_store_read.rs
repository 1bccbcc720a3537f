//! Reads the golden store written by the Java 4.9.8 broker, read-only, and checks every
//! message the producer sent is where the MANIFEST says, with identical content.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use rmqd_store::config::StoreConfig;
use rmqd_store::reader::{detect_sizes, StoreReader};
use rmqd_store::record::{self, Decoded};
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/fixtures"
    ))
    .join(name)
}

fn open(name: &str) -> (StoreConfig, StoreReader) {
    let mut cfg = StoreConfig::new(fixture(name), SocketAddr::from(([127, 0, 0, 1], 10911)));
    detect_sizes(&mut cfg);
    let r = StoreReader::open(&cfg).expect("open fixture read-only");
    (cfg, r)
}

fn sent() -> Vec<Value> {
    std::fs::read_to_string(fixture("java-store-v1/sent-messages.jsonl"))
        .expect("sent-messages.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect()
}

#[test]
fn sizes_are_taken_from_the_files() {
    let (cfg, _) = open("java-store-v1");
    assert_eq!(cfg.mapped_file_size_commitlog, 262_144);
    assert_eq!(cfg.mapped_file_size_consume_queue, 6000);
}

#[test]
fn every_record_is_valid_and_queues_agree() {
    let (_, r) = open("java-store-v1");
    let report = r.verify();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert!(r.scan.stopped_by.is_none(), "{:?}", r.scan.stopped_by);
    assert!(report.records > 560, "records: {}", report.records);
    // The second file is partly used: the end lies inside it.
    assert!(report.commitlog_end > 262_144 && report.commitlog_end < 2 * 262_144);
}

#[test]
fn queue_max_offsets_match_the_manifest() {
    let (_, r) = open("java-store-v1");
    let expect = [
        ("FixtureTopic", 0, 50),
        ("FixtureTopic", 1, 50),
        ("FixtureTopic", 2, 50),
        ("FixtureTopic", 3, 50),
        ("BatchTopic", 0, 10),
        ("BigTopic", 0, 2),
        ("PadTopic", 0, 330),
        ("DelayTopic", 0, 5),
        ("TxTopic", 0, 3),
        ("RetryTopic", 0, 3),
        ("%RETRY%FixtureGroupRetry", 0, 3),
        ("%DLQ%FixtureGroupRetry", 0, 3),
        ("RMQ_SYS_TRANS_HALF_TOPIC", 0, 5),
        ("RMQ_SYS_TRANS_OP_HALF_TOPIC", 0, 5),
        ("SCHEDULE_TOPIC_XXXX", 0, 6),
        ("SCHEDULE_TOPIC_XXXX", 1, 2),
        ("SCHEDULE_TOPIC_XXXX", 17, 2),
    ];
    for (topic, qid, max) in expect {
        let q = r
            .queue(topic, qid)
            .unwrap_or_else(|| panic!("{topic}/{qid} missing"));
        assert_eq!(q.max_offset(), max, "{topic}/{qid}");
        assert_eq!(q.min_offset(), 0, "{topic}/{qid}");
    }
}

#[test]
fn every_sent_message_is_found_with_identical_content() {
    let (_, r) = open("java-store-v1");
    let mut checked = 0;
    for s in sent() {
        let kind = s["kind"].as_str().unwrap_or("");
        if kind == "retry-deliveries" {
            continue;
        }
        // Delayed and transactional sends report the system-topic position; they are
        // checked by content below.
        let (topic, qid, off) = match kind {
            // The producer is told its own queue id and the offset in the level's
            // SCHEDULE_TOPIC_XXXX queue (level - 1).
            "delay" => (
                "SCHEDULE_TOPIC_XXXX".to_string(),
                s["level"].as_i64().expect("level") as i32 - 1,
                s["queueOffset"].as_i64().expect("off"),
            ),
            "tx" => continue,
            _ => (
                s["topic"].as_str().expect("topic").to_string(),
                s["queueId"].as_i64().expect("qid") as i32,
                s["queueOffset"].as_i64().expect("off"),
            ),
        };
        let q = r.queue(&topic, qid).expect("queue");
        let u = q
            .get(off)
            .unwrap_or_else(|| panic!("{topic}/{qid}@{off} missing"));
        let bytes = r.record_for(u).expect("record");
        let Ok(Decoded::Message(m)) = record::decode(&bytes, true) else {
            panic!("record at {topic}/{qid}@{off} undecodable")
        };
        let body = record::inflate_body(m.sys_flag, m.body).expect("inflate");
        assert_eq!(
            body.len() as u64,
            s["bodyLen"].as_u64().expect("len"),
            "{topic}@{off}"
        );
        if let Some(b) = s["body"].as_str() {
            if kind == "big" {
                // The producer log records the 6000-byte bodies abbreviated; the MANIFEST
                // gives the rule: `big-<k>-` repeated and cut to 6000 characters.
                let k = s["k"].as_i64().expect("k");
                let unit = format!("big-{k}-");
                let want: String = unit.chars().cycle().take(6000).collect();
                assert_eq!(std::str::from_utf8(&body).expect("utf8"), want);
            } else if kind == "pad" {
                // Also abbreviated: `pad-<k>:` then the letter 'a' + (n % 26) at index n.
                let k = s["k"].as_i64().expect("k");
                let prefix = format!("pad-{k}:");
                let want: String = prefix
                    .chars()
                    .chain((prefix.len()..800).map(|n| char::from(b'a' + (n % 26) as u8)))
                    .collect();
                assert_eq!(std::str::from_utf8(&body).expect("utf8"), want);
            } else {
                assert_eq!(std::str::from_utf8(&body).expect("utf8"), b);
            }
        }
        assert_eq!(m.property("TAGS"), s["tags"].as_str(), "{topic}@{off}");
        assert_eq!(m.property("KEYS"), s["keys"].as_str(), "{topic}@{off}");
        assert_eq!(m.topic, topic);
        assert_eq!(m.queue_offset, off);
        assert_eq!(m.offset_msg_id(), s["offsetMsgId"].as_str().expect("id"));
        if kind == "delay" {
            assert_eq!(m.property("REAL_TOPIC"), Some("DelayTopic"));
        }
        if let Some(props) = s["props"].as_object() {
            for (k, v) in props {
                assert_eq!(m.property(k), v.as_str(), "{topic}@{off} property {k}");
            }
        }
        if kind == "big" {
            assert_eq!(m.sys_flag & record::sys_flag::COMPRESSED, 1);
            assert_eq!(body.len(), 6000);
        }
        checked += 1;
    }
    assert_eq!(checked, 200 + 10 + 2 + 330 + 7 + 3);
}

#[test]
fn delivered_delay_copies_and_committed_transactions_keep_java_properties() {
    let (_, r) = open("java-store-v1");
    let read = |topic: &str, qid: i32, off: i64| {
        let u = r.queue(topic, qid).expect("queue").get(off).expect("unit");
        r.record_for(u).expect("record")
    };
    for off in 0..5 {
        let b = read("DelayTopic", 0, off);
        let Ok(Decoded::Message(m)) = record::decode(&b, true) else {
            panic!()
        };
        assert_eq!(m.property("REAL_TOPIC"), Some("DelayTopic"));
        assert!(m.property("DELAY").is_some());
        assert_eq!(m.property("WAIT"), Some("true"));
    }
    let mut committed = Vec::new();
    for off in 0..3 {
        let b = read("TxTopic", 0, off);
        let Ok(Decoded::Message(m)) = record::decode(&b, true) else {
            panic!()
        };
        assert_eq!(m.property("TRAN_MSG"), Some("true"));
        assert_eq!(
            m.sys_flag & record::sys_flag::TRANSACTION_MASK,
            record::sys_flag::TRANSACTION_COMMIT
        );
        committed.push(String::from_utf8_lossy(m.body).to_string());
    }
    assert_eq!(committed, ["tx-commit-0", "tx-commit-1", "tx-commit-2"]);
    // The scheduled copies' tags code is the delivery time: store time + level delay.
    let q = r.queue("SCHEDULE_TOPIC_XXXX", 17).expect("level 18");
    for off in 0..2 {
        let u = q.get(off).expect("unit");
        let b = r.record_for(u).expect("record");
        let Ok(Decoded::Message(m)) = record::decode(&b, true) else {
            panic!()
        };
        assert_eq!(u.tags_code, m.store_timestamp + 7_200_000);
    }
}

#[test]
fn crash_store_reads_up_to_the_last_acknowledged_send() {
    let (_, r) = open("java-store-v1-crash");
    assert!(r.abort_present);
    let acked: Vec<Value> =
        std::fs::read_to_string(fixture("java-store-v1-crash/crash-acked.jsonl"))
            .expect("acked")
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).expect("json"))
            .filter(|v| v.get("error").is_none())
            .collect();
    assert_eq!(acked.len(), 318);
    let q = r.queue("CrashTopic", 0).expect("CrashTopic/0");
    assert_eq!(q.max_offset(), 318);
    let mut by_offset = BTreeMap::new();
    for a in &acked {
        by_offset.insert(
            a["queueOffset"].as_i64().expect("off"),
            a["offsetMsgId"].as_str().expect("id").to_string(),
        );
    }
    for (off, id) in by_offset {
        let b = r.record_for(q.get(off).expect("unit")).expect("record");
        let Ok(Decoded::Message(m)) = record::decode(&b, true) else {
            panic!()
        };
        assert_eq!(m.offset_msg_id(), id);
        assert_eq!(m.body, format!("crash-{off}").as_bytes());
    }
}

#[test]
fn re_encoding_every_java_record_gives_identical_bytes() {
    let (_, r) = open("java-store-v1");
    let records = r.records();
    assert!(records.len() > 560);
    for (off, bytes) in records {
        let Ok(Decoded::Message(m)) = record::decode(&bytes, true) else {
            panic!("{off}")
        };
        let fields = record::RecordFields {
            queue_id: m.queue_id,
            flag: m.flag,
            queue_offset: m.queue_offset,
            physical_offset: m.physical_offset,
            sys_flag: m.sys_flag,
            born_timestamp: m.born_timestamp,
            born_host: m.born_host,
            store_timestamp: m.store_timestamp,
            store_host: m.store_host,
            reconsume_times: m.reconsume_times,
            prepared_transaction_offset: m.prepared_transaction_offset,
            body: m.body,
            topic: m.topic,
            properties: m.properties,
        };
        assert_eq!(m.physical_offset, off);
        assert_eq!(fields.encode(), bytes.to_vec(), "record at {off}");
    }
}

#[test]
fn index_finds_every_key_and_unique_key() {
    let (mut cfg, r) = open("java-store-v1");
    cfg.max_hash_slot_num = 100;
    cfg.max_index_num = 400;
    let check = rmqd_store::index_check::verify_index(&cfg, &r);
    assert_eq!(check.files, 3);
    assert!(
        check.problems.is_empty(),
        "{:?}",
        &check.problems[..check.problems.len().min(5)]
    );
    assert!(check.keys_checked > 1000, "{}", check.keys_checked);
    // Every producer-side key and id through the lookup path the CLI uses.
    for s in sent() {
        let Some(topic) = s["topic"].as_str() else {
            continue;
        };
        if s["kind"] == "delay" || s["kind"] == "tx" {
            continue; // indexed under the system topic they were first stored in
        }
        for key in [
            s["keys"].as_str().expect("keys"),
            s["msgId"].as_str().expect("id"),
        ] {
            let offs = rmqd_store::index_check::lookup(&cfg, topic, key, 64).expect("lookup");
            let want = record::decode_offset_msg_id(s["offsetMsgId"].as_str().expect("id"))
                .expect("id")
                .1;
            assert!(
                offs.contains(&want),
                "{topic}#{key} → {offs:?}, want {want}"
            );
        }
    }
}

#[test]
fn java_config_files_load_with_the_manifest_values() {
    use rmqd_store::fastjson::{load, DelayOffsetTable, OffsetTable};
    let dir = fixture("java-store-v1/config");
    let v = load(&dir.join("consumerOffset.json"))
        .expect("load")
        .expect("present");
    let t = OffsetTable::from_json(&v).expect("offsets");
    assert_eq!(
        t.0["FixtureTopic@FixtureGroupPartial"],
        BTreeMap::from([(0, 10), (1, 25), (2, 50)])
    );
    assert_eq!(
        t.0["RetryTopic@FixtureGroupRetry"],
        BTreeMap::from([(0, 3)])
    );
    assert_eq!(
        t.0["%RETRY%FixtureGroupRetry@FixtureGroupRetry"],
        BTreeMap::from([(0, 3)])
    );
    assert_eq!(
        t.0["RMQ_SYS_TRANS_HALF_TOPIC@CID_RMQ_SYS_TRANS"],
        BTreeMap::from([(0, 5)])
    );
    assert_eq!(
        t.0["RMQ_SYS_TRANS_OP_HALF_TOPIC@CID_RMQ_SYS_TRANS"],
        BTreeMap::from([(0, 5)])
    );
    assert_eq!(t.0.len(), 5);
    let raw = std::fs::read_to_string(dir.join("delayOffset.json")).expect("read");
    let d = DelayOffsetTable::from_json(&rmqd_store::fastjson::parse(&raw).expect("parse"))
        .expect("delay");
    assert_eq!(d.0, BTreeMap::from([(1, 6), (2, 2)]));
    // Written back byte for byte as the Java broker wrote it.
    assert_eq!(d.to_json_string(), raw);
    // The rewritten offsets file reads back to the same table.
    let again =
        OffsetTable::from_json(&rmqd_store::fastjson::parse(&t.to_json_string()).expect("reparse"))
            .expect("t");
    assert_eq!(again, t);
    for f in [
        "topics.json",
        "subscriptionGroup.json",
        "consumerFilter.json",
    ] {
        let v = load(&dir.join(f)).expect("load").expect("present");
        assert!(v.is_object(), "{f}");
    }
    let topics = load(&dir.join("topics.json"))
        .expect("load")
        .expect("present");
    assert_eq!(
        topics["topicConfigTable"]["FixtureTopic"]["writeQueueNums"],
        4
    );
    assert_eq!(topics["dataVersion"]["counter"], 11);
}

/// Replaying the fixture's CommitLog through rmqd's index writer gives the Java broker's
/// index files byte for byte (only the names, which are creation times, differ).
#[test]
fn replaying_the_commit_log_rebuilds_the_java_index_files() {
    use rmqd_store::index_file::{IndexConfig, IndexService};
    let (_, r) = open("java-store-v1");
    let tmp = tempfile::tempdir().expect("tempdir");
    let cfg = IndexConfig {
        max_hash_slot_num: 100,
        max_index_num: 400,
    };
    let (mut svc, _) = IndexService::open(tmp.path(), cfg, None).expect("open");
    for (off, bytes) in r.records() {
        let Ok(Decoded::Message(m)) = record::decode(&bytes, false) else {
            panic!()
        };
        if m.sys_flag & record::sys_flag::TRANSACTION_MASK == record::sys_flag::TRANSACTION_ROLLBACK
        {
            continue;
        }
        svc.build(
            m.topic,
            m.property("UNIQ_KEY"),
            m.property("KEYS"),
            off,
            m.store_timestamp,
        )
        .expect("build");
    }
    svc.flush().expect("flush");
    let ours: Vec<_> = svc.files().into_iter().map(|f| f.path).collect();
    let mut java: Vec<_> = std::fs::read_dir(fixture("java-store-v1/index"))
        .expect("index dir")
        .map(|e| e.expect("entry").path())
        .collect();
    java.sort();
    assert_eq!(ours.len(), java.len());
    for (o, j) in ours.iter().zip(&java) {
        let (ob, jb) = (
            std::fs::read(o).expect("ours"),
            std::fs::read(j).expect("java"),
        );
        assert_eq!(ob.len(), jb.len());
        let first_diff = ob.iter().zip(&jb).position(|(a, b)| a != b);
        assert_eq!(first_diff, None, "{} vs {}", o.display(), j.display());
    }
}
