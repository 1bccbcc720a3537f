//! The next CommitLog file is created ahead of the writer, used when the writer rolls,
//! and a crash that leaves it behind unused recovers to the same end.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use fail::FailScenario;
use rmqd_store::config::StoreConfig;
use rmqd_store::{MessageStore, MessageToStore, PutStatus};

// The warmer prepares the next file within 4 MiB of a file's end.
const FILE: usize = 8 << 20;

fn config(root: &Path) -> StoreConfig {
    let mut c = StoreConfig::new(
        root.to_path_buf(),
        SocketAddr::from(([127, 0, 0, 1], 10911)),
    );
    c.mapped_file_size_commitlog = FILE;
    c
}

fn msg(i: usize) -> MessageToStore {
    MessageToStore {
        topic: "P".into(),
        queue_id: 0,
        flag: 0,
        body: Bytes::from(vec![b'p'; 64 * 1024]),
        properties: format!("UNIQ_KEY\u{1}U{i:08}"),
        sys_flag: 0,
        born_timestamp: 1_700_000_000_000,
        born_host: SocketAddr::from(([10, 0, 0, 7], 50000)),
        reconsume_times: 0,
        prepared_transaction_offset: 0,
    }
}

fn files(root: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root.join("commitlog"))
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
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

#[test]
fn the_next_file_is_ready_before_the_roll_and_a_crash_leaving_it_recovers() {
    // The fault points are global: the scenario keeps this file's tests apart.
    let scenario = FailScenario::setup();
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (store, _) = MessageStore::open(config(dir.path())).expect("open");
    let mut i = 0;
    // Into the last 4 MiB of the first file.
    while store.commitlog_max_offset() < (FILE - (3 << 20)) as i64 {
        assert_eq!(rt.block_on(store.put(msg(i))).status, PutStatus::PutOk);
        i += 1;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while files(dir.path()).len() < 2 {
        assert!(
            Instant::now() < deadline,
            "no file prepared: {:?}",
            files(dir.path())
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let end = store.commitlog_max_offset();
    assert!(end < FILE as i64, "the writer has not rolled yet");

    // A kill now leaves the unused next file behind.
    let crashed = tempfile::tempdir().expect("tempdir");
    copy_dir(dir.path(), crashed.path());
    {
        let (copy, report) = MessageStore::open(config(crashed.path())).expect("recover");
        assert!(report.abnormal);
        assert_eq!(report.commitlog_end, end);
        let r = rt.block_on(copy.put(msg(999_999)));
        assert_eq!((r.status, r.phy_offset), (PutStatus::PutOk, end));
    }

    // Rolling takes the prepared file.
    while store.commitlog_max_offset() < (FILE + (1 << 20)) as i64 {
        assert_eq!(rt.block_on(store.put(msg(i))).status, PutStatus::PutOk);
        i += 1;
    }
    assert_eq!(files(dir.path())[1], format!("{FILE:020}"));
    store.shutdown();
    // An unused prepared file does not outlive a clean stop.
    assert_eq!(files(dir.path()).len(), 2, "{:?}", files(dir.path()));
    let (store, report) = MessageStore::open(config(dir.path())).expect("reopen");
    assert!(!report.abnormal);
    assert!(store.commitlog_max_offset() > FILE as i64);
    scenario.teardown();
}

/// A warmer that first runs late (a busy machine) still prepares the next file once the
/// writer is within 4 MiB of the end: it used to schedule its next wake-up halfway through
/// the stretch it had just populated, past where the writer was going to stop.
#[test]
fn a_warmer_that_runs_late_still_prepares_the_next_file() {
    let scenario = FailScenario::setup();
    fail::cfg("warmer-loop", "pause").expect("cfg");
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (store, _) = MessageStore::open(config(dir.path())).expect("open");
    let mut i = 0;
    // The warmer is held until the writer is 3.5 MiB in: it then populates up to 7.5 MiB.
    while store.commitlog_max_offset() < (7 << 19) {
        assert_eq!(rt.block_on(store.put(msg(i))).status, PutStatus::PutOk);
        i += 1;
    }
    fail::remove("warmer-loop");
    std::thread::sleep(Duration::from_millis(100));
    while store.commitlog_max_offset() < (FILE - (3 << 20)) as i64 {
        assert_eq!(rt.block_on(store.put(msg(i))).status, PutStatus::PutOk);
        i += 1;
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while files(dir.path()).len() < 2 {
        assert!(
            Instant::now() < deadline,
            "no file prepared 3 MiB before the end: {:?}",
            files(dir.path())
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(store.commitlog_max_offset() < FILE as i64);
    store.shutdown();
    scenario.teardown();
}
