//! The disk cleaner on real files, with Java's thresholds: an unexpired CommitLog file is
//! never deleted below `diskSpaceCleanForciblyRatio`, expired ones go oldest first, at
//! most 10 a pass, never the newest; queues follow the CommitLog's new minimum; above
//! `diskSpaceWarningLevelRatio` writes are refused.
//!
//! The thresholds are set relative to this disk's real usage (which is well above 1 %
//! and below 99 % on any machine that runs tests), so the files, the statvfs call and
//! the deletions are all real.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use rmqd_store::config::StoreConfig;
use rmqd_store::message_store::disk_usage;
use rmqd_store::{GetMessageStatus, HealthState, MessageStore, MessageToStore, PutStatus};

const FILE: usize = 64 * 1024;

fn config(root: &Path) -> StoreConfig {
    let mut c = StoreConfig::new(
        root.to_path_buf(),
        SocketAddr::from(([127, 0, 0, 1], 10911)),
    );
    c.mapped_file_size_commitlog = FILE;
    c.mapped_file_size_consume_queue = 50 * 20;
    c.file_reserved_hours = 72;
    // Never the hour: only the space rules can trigger a pass.
    c.delete_when = "99".into();
    c.clean_resource_interval = Duration::from_secs(3600);
    c
}

fn msg(i: usize) -> MessageToStore {
    MessageToStore {
        topic: "C".into(),
        queue_id: 0,
        flag: 0,
        body: Bytes::from(vec![b'a' + (i % 26) as u8; 4000]),
        properties: format!("UNIQ_KEY\u{1}U{i:08}"),
        sys_flag: 0,
        born_timestamp: 1_700_000_000_000,
        born_host: SocketAddr::from(([10, 0, 0, 7], 50000)),
        reconsume_times: 0,
        prepared_transaction_offset: 0,
    }
}

/// Fills `files` CommitLog files and returns their paths, oldest first.
fn fill(root: &Path, files: usize) -> Vec<PathBuf> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (store, _) = MessageStore::open(config(root)).expect("open");
    let per_file = FILE / 4200;
    for i in 0..files * per_file {
        assert_eq!(rt.block_on(store.put(msg(i))).status, PutStatus::PutOk);
    }
    store.shutdown();
    commitlog_files(root)
}

fn commitlog_files(root: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root.join("commitlog"))
        .expect("commitlog dir")
        .map(|e| e.expect("entry").path())
        .collect();
    v.sort();
    v
}

fn age(path: &Path, hours: u64) {
    let f = std::fs::File::options()
        .write(true)
        .open(path)
        .expect("open");
    f.set_modified(SystemTime::now() - Duration::from_secs(hours * 3600))
        .expect("set mtime");
}

fn usage(root: &Path) -> f64 {
    disk_usage(root).expect("statvfs")
}

#[test]
fn unexpired_files_stay_until_the_forcible_ratio() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = fill(dir.path(), 5);
    assert!(files.len() >= 5, "{files:?}");
    let u = usage(dir.path());
    assert!(
        u > 0.02 && u < 0.97,
        "disk usage {u} leaves no room for the thresholds"
    );

    // Over diskMaxUsedSpaceRatio (1 %), under the forcible ratio: nothing is expired,
    // so nothing goes. (rmqd used to delete every file but the newest here.)
    let mut c = config(dir.path());
    c.disk_max_used_space_ratio = 1;
    c.disk_space_clean_forcibly_ratio = 0.99;
    c.disk_space_warning_ratio = 0.995;
    let (store, _) = MessageStore::open(c.clone()).expect("open");
    assert_eq!(store.clean_now(), 0);
    assert_eq!(commitlog_files(dir.path()), files);
    assert_eq!(store.min_offset_in_queue("C", 0), 0);
    drop(store);

    // Expired files go, oldest first, stopping at the first unexpired one.
    age(&files[0], 100);
    age(&files[1], 100);
    age(&files[3], 100);
    let (store, _) = MessageStore::open(c).expect("open");
    assert_eq!(store.clean_now(), 2);
    assert_eq!(commitlog_files(dir.path()), files[2..].to_vec());
    let min = store.min_offset_in_queue("C", 0);
    assert!(min > 0, "the queue follows the CommitLog's minimum");
    let r = store.get_messages("C", 0, 0, 32, &|_| true);
    assert_eq!(r.status, GetMessageStatus::OffsetTooSmall);
    assert_eq!(
        store.get_messages("C", 0, min, 32, &|_| true).status,
        GetMessageStatus::Found
    );
}

#[test]
fn above_the_forcible_ratio_unexpired_files_go_ten_a_pass_never_the_newest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = fill(dir.path(), 14);
    let n = files.len();
    assert!(n >= 14, "{n}");
    let mut c = config(dir.path());
    c.disk_max_used_space_ratio = 1;
    c.disk_space_clean_forcibly_ratio = 0.01;
    c.disk_space_warning_ratio = 0.995;
    let (store, _) = MessageStore::open(c.clone()).expect("open");
    assert_eq!(store.clean_now(), 10);
    assert_eq!(store.clean_now(), n - 11);
    assert_eq!(store.clean_now(), 0);
    assert_eq!(commitlog_files(dir.path()), files[n - 1..].to_vec());
    assert_eq!(store.health().state, HealthState::Running);

    // With cleanFileForciblyEnable off, unexpired files stay even there.
    drop(store);
    let dir = tempfile::tempdir().expect("tempdir");
    let files = fill(dir.path(), 3);
    c.root_dir = dir.path().to_path_buf();
    c.clean_file_forcibly_enable = false;
    let (store, _) = MessageStore::open(c).expect("open");
    assert_eq!(store.clean_now(), 0);
    assert_eq!(commitlog_files(dir.path()), files);
}

#[test]
fn above_the_warning_ratio_writes_are_refused_and_nothing_stored_is_damaged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let files = fill(dir.path(), 2);
    let mut c = config(dir.path());
    c.disk_space_warning_ratio = 0.01;
    c.disk_space_clean_forcibly_ratio = 0.99;
    c.disk_max_used_space_ratio = 95;
    // Above the warning ratio Java also deletes unexpired files; keep them to see that
    // refusing writes damages nothing.
    c.clean_file_forcibly_enable = false;
    let (store, _) = MessageStore::open(c).expect("open");
    store.clean_now();
    let h = store.health();
    assert_eq!(h.state, HealthState::DiskFull);
    assert!(
        h.cause.as_deref().unwrap_or("").contains("disk is full"),
        "{h:?}"
    );
    assert_eq!(
        rt.block_on(store.put(msg(0))).status,
        PutStatus::ServiceNotAvailable
    );
    assert_eq!(commitlog_files(dir.path()), files);
    drop(store);
    // Space back (here: a sane threshold): writes resume.
    let (store, _) = MessageStore::open(config(dir.path())).expect("open");
    store.clean_now();
    assert_eq!(store.health().state, HealthState::Running);
    assert_eq!(rt.block_on(store.put(msg(1))).status, PutStatus::PutOk);
}
