//! The store on real files: append, read back, restart, crash recovery on the Java
//! broker's crash fixture, and damaged stores.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use rmqd_store::config::{FlushDiskType, StoreConfig};
use rmqd_store::record::{self, Decoded};
use rmqd_store::{GetMessageStatus, MessageStore, MessageToStore, PutStatus};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/fixtures"
    ))
    .join(name)
}

/// Copies a fixture into a writable temp dir (fixtures are never opened read-write).
fn copy_fixture(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(&fixture(name), dir.path());
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let dst = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).expect("copy");
            let mut perm = std::fs::metadata(&dst).expect("meta").permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perm.set_readonly(false);
            std::fs::set_permissions(&dst, perm).expect("chmod");
        }
    }
}

fn host() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 10911))
}

fn small_config(root: &Path) -> StoreConfig {
    let mut c = StoreConfig::new(root.to_path_buf(), host());
    c.mapped_file_size_commitlog = 64 * 1024;
    c.mapped_file_size_consume_queue = 50 * 20;
    c.max_hash_slot_num = 100;
    c.max_index_num = 400;
    c
}

fn java_config(root: &Path) -> StoreConfig {
    let mut c = StoreConfig::new(root.to_path_buf(), host());
    c.mapped_file_size_commitlog = 262_144;
    c.mapped_file_size_consume_queue = 6000;
    c.max_hash_slot_num = 100;
    c.max_index_num = 400;
    c
}

fn msg(topic: &str, queue_id: i32, i: usize) -> MessageToStore {
    MessageToStore {
        topic: topic.to_string(),
        queue_id,
        flag: 0,
        body: Bytes::from(format!("body-{i}-{}", "x".repeat(i % 300))),
        properties: format!(
            "KEYS\u{1}k-{i}\u{2}TAGS\u{1}Tag{}\u{2}UNIQ_KEY\u{1}U{i:08}",
            i % 3
        ),
        sys_flag: 0,
        born_timestamp: 1_700_000_000_000 + i as i64,
        born_host: SocketAddr::from(([10, 0, 0, 7], 50000)),
        reconsume_times: 0,
        prepared_transaction_offset: 0,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn all_bodies(store: &MessageStore, topic: &str, queue_id: i32) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut off = store.min_offset_in_queue(topic, queue_id);
    loop {
        let r = store.get_messages(topic, queue_id, off, 32, &|_| true);
        if r.status != GetMessageStatus::Found {
            break;
        }
        for (k, m) in r.messages.iter().enumerate() {
            let Ok(Decoded::Message(v)) = record::decode(m, true) else {
                panic!("bad record")
            };
            assert_eq!(v.queue_offset, off + k as i64);
            out.push(v.body.to_vec());
        }
        off = r.next_begin_offset;
    }
    out
}

#[test]
fn append_read_restart_across_file_rolls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = runtime();
    let n = 1000;
    {
        let (store, report) = MessageStore::open(small_config(dir.path())).expect("open");
        assert!(!report.abnormal);
        let futs: Vec<_> = (0..n)
            .map(|i| store.put(msg("T", (i % 4) as i32, i)))
            .collect();
        for (i, f) in futs.into_iter().enumerate() {
            let r = rt.block_on(f);
            assert_eq!(r.status, PutStatus::PutOk);
            assert_eq!(r.queue_id, (i % 4) as i32);
            assert_eq!(r.queue_offset, (i / 4) as i64);
            assert_eq!(r.msg_id, record::offset_msg_id(host(), r.phy_offset));
        }
        assert!(store.wait_dispatched(Duration::from_secs(10)));
        for q in 0..4 {
            assert_eq!(store.max_offset_in_queue("T", q), (n / 4) as i64);
            assert_eq!(all_bodies(&store, "T", q).len(), n / 4);
        }
        assert!(
            store.commitlog_max_offset() > 3 * 64 * 1024,
            "several files used"
        );
        store.shutdown();
        assert!(!dir.path().join("abort").exists());
    }
    let (store, report) = MessageStore::open(small_config(dir.path())).expect("reopen");
    assert!(!report.abnormal);
    for q in 0..4 {
        assert_eq!(store.max_offset_in_queue("T", q), (n / 4) as i64);
        let bodies = all_bodies(&store, "T", q);
        for (k, b) in bodies.iter().enumerate() {
            let i = k * 4 + q as usize;
            assert_eq!(b, msg("T", q, i).body.as_ref());
        }
    }
    // Appends continue where they left off.
    let r = rt.block_on(store.put(msg("T", 1, 9999)));
    assert_eq!(r.queue_offset, (n / 4) as i64);
}

#[test]
fn sync_flush_and_batches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = runtime();
    let mut cfg = small_config(dir.path());
    cfg.flush_disk_type = FlushDiskType::Sync;
    let (store, _) = MessageStore::open(cfg).expect("open");
    let single = rt.block_on(store.put(msg("S", 0, 1)));
    assert_eq!(single.status, PutStatus::PutOk);
    let batch: Vec<_> = (0..10).map(|i| msg("S", 0, 100 + i)).collect();
    let r = rt.block_on(store.put_batch(batch));
    assert_eq!(r.status, PutStatus::PutOk);
    assert_eq!(r.queue_offset, 1);
    assert_eq!(r.count, 10);
    assert_eq!(r.msg_id.split(',').count(), 10);
    assert!(store.wait_dispatched(Duration::from_secs(5)));
    assert_eq!(store.max_offset_in_queue("S", 0), 11);
    let got = store.get_messages("S", 0, 1, 32, &|_| true);
    assert_eq!(got.messages.len(), 10);
    // Contiguous in the CommitLog.
    let offs: Vec<i64> = got
        .messages
        .iter()
        .map(|m| match record::decode(m, true) {
            Ok(Decoded::Message(v)) => v.physical_offset,
            _ => panic!(),
        })
        .collect();
    for w in offs.windows(2) {
        assert!(w[1] > w[0]);
    }
}

#[test]
fn refuses_what_does_not_fit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = runtime();
    let mut cfg = small_config(dir.path());
    cfg.max_message_size = 1024;
    let (store, _) = MessageStore::open(cfg).expect("open");
    let mut big = msg("B", 0, 0);
    big.body = Bytes::from(vec![7u8; 2048]);
    assert_eq!(
        rt.block_on(store.put(big)).status,
        PutStatus::MessageIllegal
    );
    let mut props = msg("B", 0, 0);
    props.properties = "a\u{1}".to_string() + &"v".repeat(40_000);
    assert_eq!(
        rt.block_on(store.put(props)).status,
        PutStatus::PropertiesSizeExceeded
    );
    assert_eq!(
        rt.block_on(store.put(msg("B", 0, 1))).status,
        PutStatus::PutOk
    );
}

#[test]
fn pull_statuses_follow_java() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = runtime();
    let (store, _) = MessageStore::open(small_config(dir.path())).expect("open");
    // Java creates a consume queue on first lookup: an unknown queue reads as empty.
    assert_eq!(
        store.get_messages("None", 0, 0, 32, &|_| true).status,
        GetMessageStatus::NoMessageInQueue
    );
    for i in 0..5 {
        rt.block_on(store.put(msg("P", 0, i)));
    }
    assert!(store.wait_dispatched(Duration::from_secs(5)));
    let r = store.get_messages("P", 0, 5, 32, &|_| true);
    assert_eq!(
        (r.status, r.next_begin_offset),
        (GetMessageStatus::OffsetOverflowOne, 5)
    );
    let r = store.get_messages("P", 0, 9, 32, &|_| true);
    assert_eq!(
        (r.status, r.next_begin_offset),
        (GetMessageStatus::OffsetOverflowBadly, 0)
    );
    let r = store.get_messages("P", 0, 0, 2, &|_| true);
    assert_eq!(
        (r.status, r.messages.len(), r.next_begin_offset),
        (GetMessageStatus::Found, 2, 2)
    );
    // Tag filtering: nothing matches → NO_MATCHED_MESSAGE with the offset moved on.
    let r = store.get_messages("P", 0, 0, 32, &|_| false);
    assert_eq!(
        (r.status, r.next_begin_offset),
        (GetMessageStatus::NoMatchedMessage, 5)
    );
}

fn crash_acked() -> Vec<(i64, String)> {
    std::fs::read_to_string(fixture("java-store-v1-crash/crash-acked.jsonl"))
        .expect("acked")
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v.get("error").is_none())
        .map(|v| {
            (
                v["queueOffset"].as_i64().expect("off"),
                v["offsetMsgId"].as_str().expect("id").to_string(),
            )
        })
        .collect()
}

#[test]
fn crash_fixture_recovers_every_acknowledged_send() {
    let dir = copy_fixture("java-store-v1-crash");
    let rt = runtime();
    let (store, report) = MessageStore::open(java_config(dir.path())).expect("open");
    assert!(report.abnormal, "abort file present → crash recovery");
    assert!(report.stopped_by.is_none() || report.commitlog_end > 0);
    assert_eq!(store.max_offset_in_queue("CrashTopic", 0), 318);
    for (off, id) in crash_acked() {
        let r = store.get_messages("CrashTopic", 0, off, 1, &|_| true);
        assert_eq!(r.status, GetMessageStatus::Found, "offset {off}");
        let Ok(Decoded::Message(m)) = record::decode(&r.messages[0], true) else {
            panic!()
        };
        assert_eq!(m.offset_msg_id(), id);
        assert_eq!(m.body, format!("crash-{off}").as_bytes());
    }
    // Nothing past the last valid record: the next append lands right after it.
    let last = store
        .message_at(
            record::decode_offset_msg_id(&crash_acked()[317].1)
                .expect("id")
                .1,
        )
        .expect("last");
    let end = record::decode_offset_msg_id(&crash_acked()[317].1)
        .expect("id")
        .1
        + last.len() as i64;
    assert_eq!(store.commitlog_max_offset(), end);
    let r = rt.block_on(store.put(msg("CrashTopic", 0, 318)));
    assert_eq!((r.queue_offset, r.phy_offset), (318, end));
    // The rest of the fixture is intact.
    assert_eq!(store.max_offset_in_queue("PadTopic", 0), 330);
    assert_eq!(store.max_offset_in_queue("FixtureTopic", 3), 50);
    store.shutdown();
    assert!(!dir.path().join("abort").exists());
}

#[test]
fn crash_recovery_rebuilds_lost_consume_queue_units() {
    let dir = copy_fixture("java-store-v1-crash");
    // Lose the tail of the CrashTopic queue, as if its last flush never happened.
    let cq = dir
        .path()
        .join("consumequeue/CrashTopic/0/00000000000000006000");
    std::fs::write(&cq, vec![0u8; 6000]).expect("zero cq");
    let (store, _) = MessageStore::open(java_config(dir.path())).expect("open");
    assert_eq!(store.max_offset_in_queue("CrashTopic", 0), 318);
    let r = store.get_messages("CrashTopic", 0, 310, 32, &|_| true);
    assert_eq!(r.messages.len(), 8);
}

#[test]
fn clean_java_store_continues() {
    let dir = copy_fixture("java-store-v1");
    let rt = runtime();
    let (store, report) = MessageStore::open(java_config(dir.path())).expect("open");
    assert!(!report.abnormal);
    assert_eq!(store.max_offset_in_queue("FixtureTopic", 0), 50);
    assert_eq!(store.max_offset_in_queue("SCHEDULE_TOPIC_XXXX", 17), 2);
    let r = rt.block_on(store.put(msg("FixtureTopic", 0, 0)));
    assert_eq!(r.queue_offset, 50);
}

/// Damages a copied store at many points: recovery never panics and keeps every record
/// that lies wholly before the damage.
#[test]
fn damaged_commit_logs_recover_the_records_before_the_damage() {
    let template = copy_fixture("java-store-v1");
    let second = "commitlog/00000000000000262144";
    let (used_end, originals) = {
        let reader_cfg = java_config(template.path());
        let r = rmqd_store::reader::StoreReader::open(&reader_cfg).expect("read");
        (r.scan.end - 262_144, r.records())
    };
    let mut seed = 0x2545F4914F6CDD1Du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..12 {
        let dir = tempfile::tempdir().expect("tempdir");
        copy_dir(template.path(), dir.path());
        let at = (next() % used_end as u64) as usize;
        let path = dir.path().join(second);
        let mut bytes = std::fs::read(&path).expect("read");
        match round % 3 {
            0 => bytes[at] ^= 0x5A, // flip a byte
            1 => {
                for b in bytes.iter_mut().skip(at).take(64) {
                    *b = (next() & 0xFF) as u8; // garbage run
                }
            }
            _ => {
                for b in bytes.iter_mut().skip(at) {
                    *b = 0; // torn write: everything after is gone
                }
            }
        }
        std::fs::write(&path, &bytes).expect("write");
        std::fs::write(dir.path().join("abort"), b"").expect("abort");
        let (store, report) = MessageStore::open(java_config(dir.path())).expect("open damaged");
        let damage = 262_144 + at as i64;
        assert!(
            report.commitlog_end <= damage + 1 || report.stopped_by.is_none(),
            "round {round}: end {} past damage {damage}",
            report.commitlog_end
        );
        // Every record wholly before the damage is kept, byte for byte.
        for (off, bytes) in originals
            .iter()
            .filter(|(o, b)| o + b.len() as i64 <= damage)
        {
            let got = store
                .message_at(*off)
                .unwrap_or_else(|| panic!("round {round}: record at {off} lost"));
            assert_eq!(&got[..], &bytes[..], "round {round}: record at {off}");
        }
        // Queues never point past the end.
        for (topic, ids) in store.topics_on_disk() {
            for q in ids {
                let max = store.max_offset_in_queue(&topic, q);
                if max > 0 {
                    let r = store.get_messages(&topic, q, max - 1, 1, &|_| true);
                    assert_ne!(
                        r.status,
                        GetMessageStatus::MessageWasRemoving,
                        "round {round}: {topic}/{q}"
                    );
                }
            }
        }
    }
}

/// The fixture's messages appended again by rmqd's writer: every field of the new record
/// equals the Java broker's, apart from store time, hosts and commit-log offset (and the
/// queue offset, which continues the queue).
#[test]
fn rmqd_writes_the_java_records_field_by_field() {
    let src = copy_fixture("java-store-v1");
    let java: Vec<(i64, Bytes)> = {
        let r = rmqd_store::reader::StoreReader::open(&java_config(src.path())).expect("read");
        r.records()
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = runtime();
    let (store, _) = MessageStore::open(small_config(dir.path())).expect("open");
    let mut compared = 0;
    for (_, bytes) in java.iter().take(200) {
        let Ok(Decoded::Message(j)) = record::decode(bytes, true) else {
            panic!()
        };
        let put = rt.block_on(store.put(MessageToStore {
            topic: j.topic.to_string(),
            queue_id: j.queue_id,
            flag: j.flag,
            body: Bytes::copy_from_slice(j.body),
            properties: j.properties.to_string(),
            sys_flag: j.sys_flag,
            born_timestamp: j.born_timestamp,
            born_host: j.born_host,
            reconsume_times: j.reconsume_times,
            prepared_transaction_offset: j.prepared_transaction_offset,
        }));
        assert_eq!(put.status, PutStatus::PutOk);
        let ours = store.message_at(put.phy_offset).expect("record");
        let Ok(Decoded::Message(o)) = record::decode(&ours, true) else {
            panic!()
        };
        assert_eq!(o.total_size, j.total_size, "TOTALSIZE");
        assert_eq!(o.magic, j.magic, "MAGIC");
        assert_eq!(o.body_crc, j.body_crc, "BODYCRC");
        assert_eq!(o.queue_id, j.queue_id, "QUEUEID");
        assert_eq!(o.flag, j.flag, "FLAG");
        assert_eq!(o.sys_flag, j.sys_flag, "SYSFLAG");
        assert_eq!(o.born_timestamp, j.born_timestamp, "BORNTIMESTAMP");
        assert_eq!(o.reconsume_times, j.reconsume_times, "RECONSUMETIMES");
        assert_eq!(
            o.prepared_transaction_offset, j.prepared_transaction_offset,
            "PREPAREDTRANSACTIONOFFSET"
        );
        assert_eq!(o.body, j.body, "BODY");
        assert_eq!(o.topic, j.topic, "TOPIC");
        assert_eq!(o.properties, j.properties, "PROPERTIES");
        assert_eq!(
            o.physical_offset, put.phy_offset,
            "PHYSICALOFFSET is where it was written"
        );
        // The bytes differ only in the fields that must differ.
        let mut a = ours.to_vec();
        let mut b = bytes.to_vec();
        for (at, len) in [(20, 8), (28, 8), (48, 8), (56, 8), (64, 8)] {
            a[at..at + len].fill(0);
            b[at..at + len].fill(0);
        }
        assert_eq!(
            a, b,
            "record bytes apart from offsets, hosts and store time"
        );
        compared += 1;
    }
    assert_eq!(compared, 200);
}

/// A crash between creating a file and sizing it leaves an empty file behind (the
/// dispatcher creating a consume queue, the writer rolling the commit log). Opening the
/// store drops such files, and the queues they would have started work as new ones.
#[test]
fn files_left_empty_by_an_interrupted_creation_are_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = runtime();
    {
        let (store, _) = MessageStore::open(small_config(dir.path())).expect("open");
        for i in 0..10 {
            assert_eq!(
                rt.block_on(store.put(msg("T", 0, i))).status,
                PutStatus::PutOk
            );
        }
        assert!(store.wait_dispatched(Duration::from_secs(10)));
        store.shutdown();
    }
    let empty = [
        "commitlog/00000000000000065536",
        "consumequeue/T/0/00000000000000001000",
        "consumequeue/S/2/00000000000000000000",
    ];
    for p in empty {
        let path = dir.path().join(p);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::File::create(&path).expect("empty file");
    }
    let (store, _) = MessageStore::open(small_config(dir.path())).expect("reopen");
    assert_eq!(all_bodies(&store, "T", 0).len(), 10);
    // The new queue takes messages, and the commit log rolls into a properly sized file.
    let n = 300;
    for i in 0..n {
        let r = rt.block_on(store.put(msg("S", 2, i)));
        assert_eq!((r.status, r.queue_offset), (PutStatus::PutOk, i as i64));
    }
    assert!(store.wait_dispatched(Duration::from_secs(10)));
    assert!(store.commitlog_max_offset() > 65_536, "rolled");
    assert_eq!(all_bodies(&store, "S", 2).len(), n);
    assert_eq!(all_bodies(&store, "T", 0).len(), 10);
    for p in empty {
        // Gone, or created again at its full size once needed.
        if let Ok(m) = std::fs::metadata(dir.path().join(p)) {
            assert_ne!(m.len(), 0, "{p} still empty");
        }
    }
}
