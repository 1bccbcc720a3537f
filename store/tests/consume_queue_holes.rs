//! A power cut can keep a newer consume-queue file's units while an older file lost the
//! units it took after the last flush (unsynced pages reach the disk in any order). The
//! records are safe in the CommitLog; recovery must not take the newer units as the end
//! and leave the hole's messages unreachable behind them.
//!
//! The state is made on real files: a store runs and is "killed" by copying its
//! directory (what a kill -9 leaves), then the tail of one older consume-queue file is
//! zeroed, as a cut before that file's next flush leaves it.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use rmqd_store::config::{FlushDiskType, StoreConfig};
use rmqd_store::record::{self, Decoded};
use rmqd_store::{GetMessageStatus, MessageStore, MessageToStore, PutStatus};

const UNITS_PER_FILE: usize = 50;

fn config(root: &Path) -> StoreConfig {
    let mut c = StoreConfig::new(
        root.to_path_buf(),
        SocketAddr::from(([127, 0, 0, 1], 10911)),
    );
    c.mapped_file_size_commitlog = 64 * 1024;
    c.mapped_file_size_consume_queue = UNITS_PER_FILE * 20;
    c.flush_disk_type = FlushDiskType::Sync;
    c
}

fn msg(i: usize) -> MessageToStore {
    MessageToStore {
        topic: "H".into(),
        queue_id: 0,
        flag: 0,
        body: Bytes::from(format!("body-{i}")),
        properties: format!("KEYS\u{1}key-{i}"),
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
        } else if e.file_name() != "lock" {
            std::fs::copy(e.path(), &dst).expect("copy");
        }
    }
}

/// Zeroes the units from `from_unit` to the end of the file holding it.
fn punch_hole(root: &Path, from_unit: usize) {
    let file_start = from_unit / UNITS_PER_FILE * UNITS_PER_FILE;
    let path = root
        .join("consumequeue/H/0")
        .join(format!("{:020}", file_start * 20));
    let mut bytes = std::fs::read(&path).expect("consume queue file");
    let at = (from_unit - file_start) * 20;
    bytes[at..].fill(0);
    std::fs::write(&path, bytes).expect("write");
}

#[test]
fn a_hole_in_an_older_consume_queue_file_is_rebuilt_after_a_crash() {
    let live = tempfile::tempdir().expect("tempdir");
    let crashed = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (store, _) = MessageStore::open(config(live.path())).expect("open");
    let n = UNITS_PER_FILE * 6;
    for i in 0..n {
        assert_eq!(rt.block_on(store.put(msg(i))).status, PutStatus::PutOk);
    }
    assert!(store.wait_dispatched(Duration::from_secs(10)));
    copy_dir(live.path(), crashed.path());
    drop(store);
    // Units 110..149 gone; the three files after it (150..299) kept theirs.
    punch_hole(crashed.path(), 110);
    // The checkpoint still says the queues were flushed long ago (as when the cut came
    // before their next flush): re-dispatch starts before the hole.
    std::fs::write(crashed.path().join("checkpoint"), [0u8; 4096]).expect("checkpoint");

    let (store, report) = MessageStore::open(config(crashed.path())).expect("recover");
    assert!(report.abnormal);
    let mut offset = 0i64;
    let mut seen = Vec::new();
    while offset < n as i64 {
        let r = store.get_messages("H", 0, offset, 32, &|_| true);
        assert_eq!(
            r.status,
            GetMessageStatus::Found,
            "at queue offset {offset}"
        );
        for m in &r.messages {
            match record::decode(m, true) {
                Ok(Decoded::Message(m)) => seen.push(m.queue_offset),
                other => panic!("not a record at queue offset {offset}: {other:?}"),
            }
        }
        offset = r.next_begin_offset;
    }
    let expected: Vec<i64> = (0..n as i64).collect();
    assert_eq!(seen, expected, "every message, in order, no gap");
}
