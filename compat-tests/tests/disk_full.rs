//! A real rmqd on a small filesystem (a tmpfs the test mounts; CI runs as root): the
//! disk guard refuses sends with Java's status and remark once usage passes
//! `diskSpaceWarningLevelRatio`, nothing stored is damaged, sends resume when space is
//! freed, and the cleaner never deletes an unexpired CommitLog file below
//! `diskSpaceCleanForciblyRatio`.
//!
//! The usage is set with a ballast file next to the store, so each threshold is
//! reached by real bytes on a real filesystem.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rmqd_compat_tests::wire::{self, Conn};
use rmqd_compat_tests::{create_topic, Rmqd};
use rmqd_store::message_store::disk_usage;

const MIB: u64 = 1 << 20;
const FS_MIB: u64 = 96;
const SERVICE_NOT_AVAILABLE: i64 = 14;

/// A tmpfs mounted for one test, unmounted when dropped.
struct SmallFs {
    _dir: tempfile::TempDir,
    mnt: PathBuf,
}

impl SmallFs {
    fn mount() -> SmallFs {
        let dir = tempfile::tempdir().expect("tempdir");
        let mnt = dir.path().join("mnt");
        std::fs::create_dir(&mnt).expect("mkdir");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={FS_MIB}m"), "tmpfs"])
            .arg(&mnt)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "mounting a {FS_MIB} MiB tmpfs failed (the test needs root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallFs { _dir: dir, mnt }
    }

    fn usage(&self) -> f64 {
        disk_usage(&self.mnt).expect("statvfs")
    }

    /// Grows the ballast until the filesystem is `target` full.
    fn fill_to(&self, target: f64) {
        let used = self.usage() * (FS_MIB * MIB) as f64;
        let want = (target * (FS_MIB * MIB) as f64 - used).max(0.0) as u64;
        let path = self.ballast();
        let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        std::fs::write(&path, vec![7u8; (len + want) as usize]).expect("ballast");
    }

    fn ballast(&self) -> PathBuf {
        self.mnt.join("ballast")
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.mnt).status();
    }
}

fn start(fs: &SmallFs, extra: &[&str]) -> Rmqd {
    let root = format!("storePathRootDir={}", fs.mnt.join("store").display());
    let mut conf = vec![
        root.as_str(),
        "mappedFileSizeCommitLog=4194304",
        "mappedFileSizeConsumeQueue=60000",
        "maxHashSlotNum=1000",
        "maxIndexNum=4000",
        "cleanResourceInterval=200",
        "fileReservedTime=72",
        "deleteWhen=99",
    ];
    conf.extend_from_slice(extra);
    Rmqd::start(&conf)
}

fn commitlog_files(store: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(store.join("commitlog"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn body(i: usize) -> Vec<u8> {
    let mut b = format!("msg-{i:06}-").into_bytes();
    b.resize(8 * 1024, b'a' + (i % 26) as u8);
    b
}

/// Sends until the broker refuses; returns the acknowledged indexes and the refusal.
fn send_until_refused(c: &mut Conn, from: usize, max: usize) -> (Vec<usize>, wire::Frame) {
    let mut acked = Vec::new();
    for i in from..from + max {
        let r = wire::send(c, "G", "DiskTopic", 0, 0, "", &body(i));
        match r.code {
            0 => acked.push(i),
            // The disk ran out before the guard's next look (real ENOSPC on creating the
            // next CommitLog file): Java's status for that, nothing written; go on.
            1 if r.remark.contains("create mapped file failed") => {
                std::thread::sleep(Duration::from_millis(20));
            }
            _ => return (acked, r),
        }
    }
    panic!("{max} sends of 8 KiB on a {FS_MIB} MiB disk were all accepted");
}

fn assert_all_readable(c: &mut Conn, from_offset: i64, acked: &[usize]) {
    let pulled = wire::pull_all(c, "G", "DiskTopic", 0, from_offset);
    let bodies: Vec<Vec<u8>> = pulled.iter().map(|p| p.body.clone()).collect();
    for i in acked {
        assert!(
            bodies.contains(&body(*i)),
            "acknowledged message {i} is missing"
        );
    }
}

#[test]
fn the_guard_refuses_sends_when_the_disk_fills_and_lets_them_in_again() {
    let fs = SmallFs::mount();
    fs.fill_to(0.55);
    // Unexpired files must stay so that the guard, not the cleaner, meets the full disk.
    let rmqd = start(
        &fs,
        &["cleanFileForciblyEnable=false", "flushDiskType=SYNC_FLUSH"],
    );
    create_topic(&rmqd.broker(), "DiskTopic", 1);
    let mut c = Conn::connect(&rmqd.broker());
    let (acked, refused) = send_until_refused(&mut c, 0, 20_000);
    assert!(
        acked.len() > 100,
        "only {} sends before the refusal",
        acked.len()
    );
    assert_eq!(refused.code, SERVICE_NOT_AVAILABLE, "{refused:?}");
    assert!(
        refused.remark.contains("service not available now"),
        "{}",
        refused.remark
    );
    assert!(
        refused.remark.contains("disk is full"),
        "{}",
        refused.remark
    );
    assert!(fs.usage() > 0.85, "refused at usage {:.2}", fs.usage());
    let files = commitlog_files(&fs.mnt.join("store"));
    assert_eq!(
        files.first().map(String::as_str),
        Some("00000000000000000000")
    );
    assert_all_readable(&mut c, 0, &acked);

    // Free space: within a few cleaner passes sends are accepted again.
    std::fs::remove_file(fs.ballast()).expect("free the ballast");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut i = 1_000_000;
    let resumed = loop {
        let r = wire::send(&mut c, "G", "DiskTopic", 0, 0, "", &body(i));
        if r.code == 0 {
            break i;
        }
        assert!(Instant::now() < deadline, "sends never resumed: {r:?}");
        std::thread::sleep(Duration::from_millis(100));
        i += 1;
    };
    let mut all = acked.clone();
    all.push(resumed);
    assert_all_readable(&mut c, 0, &all);
    assert_eq!(
        commitlog_files(&fs.mnt.join("store"))[0],
        files[0],
        "nothing deleted"
    );
}

#[test]
fn unexpired_files_are_deleted_only_above_the_forcible_ratio() {
    let fs = SmallFs::mount();
    let rmqd = start(&fs, &[]);
    create_topic(&rmqd.broker(), "DiskTopic", 1);
    let mut c = Conn::connect(&rmqd.broker());
    // About 20 MiB of messages: five CommitLog files.
    let acked: Vec<usize> = (0..2500)
        .filter(|i| wire::send(&mut c, "G", "DiskTopic", 0, 0, "", &body(*i)).code == 0)
        .collect();
    assert_eq!(acked.len(), 2500);
    let files = commitlog_files(&fs.mnt.join("store"));
    assert!(files.len() >= 5, "{files:?}");

    // 75–85 %: over diskMaxUsedSpaceRatio, nothing expired: nothing may go.
    fs.fill_to(0.80);
    // Longer than Java's default cleanResourceInterval (10 s) too, so that a cleaner that
    // ignored the configured 200 ms would also have had its turn.
    std::thread::sleep(Duration::from_millis(11_000));
    assert_eq!(
        commitlog_files(&fs.mnt.join("store")),
        files,
        "usage {:.2}",
        fs.usage()
    );
    assert_all_readable(&mut c, 0, &acked);

    // Above 85 %: Java deletes unexpired files too (cleanFileForciblyEnable), oldest
    // first, never the newest; sends go on.
    fs.fill_to(0.87);
    let deadline = Instant::now() + Duration::from_secs(10);
    while commitlog_files(&fs.mnt.join("store")).first() == files.first() {
        assert!(
            Instant::now() < deadline,
            "nothing deleted at usage {:.2}",
            fs.usage()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let left = commitlog_files(&fs.mnt.join("store"));
    assert!(left.contains(files.last().expect("newest")), "{left:?}");
    let r = wire::send(&mut c, "G", "DiskTopic", 0, 0, "", &body(9999));
    assert_eq!(r.code, 0, "{r:?}");
    let min = wire::Conn::connect(&rmqd.broker()).request(
        31,
        &[
            ("topic", "DiskTopic".to_string()),
            ("queueId", "0".to_string()),
        ],
        b"",
    );
    assert!(
        min.ext_i64("offset") > 0,
        "the queue's minimum follows the CommitLog: {min:?}"
    );
}
