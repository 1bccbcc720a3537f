//! The IndexFile after a crash: every acknowledged key is found again, whatever the
//! checkpoint's index time says.
//!
//! A `kill -9` leaves the page cache: copying a running store's directory gives exactly
//! the files such a kill leaves (with the `abort` marker). The checkpoint's index time
//! is then set back, as a crash between an index file filling up and the checkpoint
//! recording it leaves it (that moment is hard to hit with a kill; the state is not).

use std::io::{Seek, SeekFrom, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use rmqd_store::config::{FlushDiskType, StoreConfig};
use rmqd_store::{MessageStore, MessageToStore, PutStatus};

fn config(root: &Path) -> StoreConfig {
    let mut c = StoreConfig::new(
        root.to_path_buf(),
        SocketAddr::from(([127, 0, 0, 1], 10911)),
    );
    c.mapped_file_size_commitlog = 64 * 1024;
    c.mapped_file_size_consume_queue = 300 * 20;
    c.max_hash_slot_num = 100;
    c.max_index_num = 400;
    c.flush_disk_type = FlushDiskType::Sync;
    // The consume queues and the checkpoint are flushed often, so the checkpoint's
    // physic and logics times are recent, as on a busy broker.
    c.flush_interval_consume_queue = Duration::from_millis(10);
    c
}

fn msg(i: usize) -> MessageToStore {
    MessageToStore {
        topic: "I".into(),
        queue_id: (i % 2) as i32,
        flag: 0,
        body: Bytes::from(format!("body-{i}-{}", "y".repeat(200))),
        properties: format!("KEYS\u{1}key-{i}\u{2}UNIQ_KEY\u{1}U{i:08}"),
        sys_flag: 0,
        born_timestamp: 1_700_000_000_000,
        born_host: SocketAddr::from(([10, 0, 0, 7], 50000)),
        reconsume_times: 0,
        prepared_transaction_offset: 0,
    }
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
        }
    }
}

fn set_checkpoint_index_time(root: &Path, ts: i64) {
    let mut f = std::fs::File::options()
        .write(true)
        .open(root.join("checkpoint"))
        .expect("checkpoint");
    f.seek(SeekFrom::Start(16)).expect("seek");
    f.write_all(&ts.to_be_bytes()).expect("write");
}

fn index_files(root: &Path) -> usize {
    std::fs::read_dir(root.join("index"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Runs a store, "kills" it by copying its files, optionally sets the checkpoint's index
/// time, and checks every key on the recovered copy.
fn crash_and_query(n: usize, index_time: Option<i64>) {
    let live = tempfile::tempdir().expect("tempdir");
    let crashed = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (store, _) = MessageStore::open(config(live.path())).expect("open");
    for i in 0..n {
        if i == n * 2 / 3 {
            // Abnormal recovery re-dispatches from 3 s before the checkpoint's times
            // (Java's margin); older records are only found again if the index recovery
            // itself reaches back for them.
            std::thread::sleep(Duration::from_millis(4000));
        }
        assert_eq!(rt.block_on(store.put(msg(i))).status, PutStatus::PutOk);
    }
    assert!(store.wait_dispatched(Duration::from_secs(10)));
    std::thread::sleep(Duration::from_millis(100));
    copy_dir(live.path(), crashed.path());
    drop(store);
    assert!(index_files(crashed.path()) >= 3, "several index files");
    if let Some(ts) = index_time {
        set_checkpoint_index_time(crashed.path(), ts);
    }

    let (store, report) = MessageStore::open(config(crashed.path())).expect("recover");
    assert!(report.abnormal);
    let mut missing = Vec::new();
    for i in 0..n {
        for key in [format!("key-{i}"), format!("U{i:08}")] {
            if store
                .query_by_key("I", &key, 64, 0, i64::MAX)
                .records
                .is_empty()
            {
                missing.push(key);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "{} keys lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
}

#[test]
fn every_key_is_found_after_a_kill() {
    crash_and_query(900, None);
}

#[test]
fn every_key_is_found_when_the_checkpoint_missed_a_full_index_file() {
    crash_and_query(900, Some(0));
}

/// The dispatcher indexes a record as soon as it is written, so an index file can fill up
/// and be flushed (and the checkpoint vouch for it) with keys of records whose bytes a
/// power cut then takes from the CommitLog. After the restart new records are appended
/// at those offsets; an index file claiming them made the new keys "already indexed",
/// and QUERY_MESSAGE never found them.
#[test]
fn keys_of_records_appended_over_a_lost_tail_are_indexed() {
    let live = tempfile::tempdir().expect("tempdir");
    let crashed = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (store, _) = MessageStore::open(config(live.path())).expect("open");
    let n = 900;
    let mut offsets = Vec::new();
    for i in 0..n {
        let r = rt.block_on(store.put(msg(i)));
        assert_eq!(r.status, PutStatus::PutOk);
        offsets.push(r.phy_offset);
    }
    assert!(store.wait_dispatched(Duration::from_secs(10)));
    std::thread::sleep(Duration::from_millis(100));
    copy_dir(live.path(), crashed.path());
    drop(store);
    assert!(index_files(crashed.path()) >= 4, "several full index files");

    // The cut took every record from message 500 on (index files holding keys of
    // messages up to about 800 are full and flushed), and the checkpoint vouched for them.
    let cut = offsets[500];
    let file_size = config(crashed.path()).mapped_file_size_commitlog as i64;
    for e in std::fs::read_dir(crashed.path().join("commitlog")).expect("commitlog") {
        let path = e.expect("entry").path();
        let start: i64 = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse().ok())
            .expect("commit log file name");
        if start + file_size <= cut {
            continue;
        }
        let mut bytes = std::fs::read(&path).expect("read");
        let from = (cut - start).max(0) as usize;
        bytes[from..].fill(0);
        std::fs::write(&path, bytes).expect("write");
    }
    set_checkpoint_index_time(crashed.path(), i64::MAX);

    let (store, report) = MessageStore::open(config(crashed.path())).expect("recover");
    assert!(report.abnormal);
    assert_eq!(report.commitlog_end, cut);
    let fresh: Vec<usize> = (n..n + 300).collect();
    for &i in &fresh {
        assert_eq!(rt.block_on(store.put(msg(i))).status, PutStatus::PutOk);
    }
    assert!(store.wait_dispatched(Duration::from_secs(10)));
    let missing: Vec<String> = (0..500)
        .chain(fresh)
        .map(|i| format!("key-{i}"))
        .filter(|k| {
            store
                .query_by_key("I", k, 64, 0, i64::MAX)
                .records
                .is_empty()
        })
        .collect();
    assert!(
        missing.is_empty(),
        "{} keys not found, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
}
