//! Log files like the Java broker's (`~/logs/rocketmqlogs/broker.log`, `namesrv.log`,
//! `store.log`): they appear, roll by size, and a full or slow log disk never stops sends.

use std::process::Command;
use std::time::{Duration, Instant};

use rmqd_compat_tests::{create_topic, wire, Rmqd};

/// These tests are not about a full store disk; on a shared machine whose disk is over
/// the 90 % guard they would be refused sends, so the guard is raised.
const SHARED_DISK: &[&str] = &[
    "diskSpaceWarningLevelRatio=0.99",
    "diskSpaceCleanForciblyRatio=0.99",
];

/// `n` sends on one connection; every one must be stored.
fn send_all(r: &Rmqd, topic: &str, n: usize) {
    let mut c = wire::Conn::connect(&r.broker());
    for i in 0..n {
        let f = wire::send(
            &mut c,
            "LogGroup",
            topic,
            (i % 4) as i32,
            0,
            "",
            format!("m{i}").as_bytes(),
        );
        assert_eq!(f.code, 0, "send {i}: {}", f.remark);
    }
}

fn wait_for_log(r: &Rmqd, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(25);
    while !r.log().contains(needle) {
        assert!(
            Instant::now() < deadline,
            "no {needle:?} in the log:\n{}",
            r.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn files_appear_and_roll() {
    let r = Rmqd::start_env(
        SHARED_DISK,
        &[
            ("RMQD_LOG", "trace"),
            ("RMQD_LOG_FILE_MAX_SIZE", "8192"),
            ("RMQD_LOG_FILE_MAX_INDEX", "3"),
        ],
    );
    create_topic(&r.broker(), "LogTopic", 4);
    send_all(&r, "LogTopic", 200);
    let dir = r.home.path().join("logs/rocketmqlogs");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ready = [
            "broker.log",
            "namesrv.log",
            "store.log",
            "otherdays/broker.3.log",
        ]
        .iter()
        .all(|f| dir.join(f).metadata().is_ok_and(|m| m.len() > 0));
        if ready {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "log files missing in {}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !dir.join("otherdays/broker.4.log").exists(),
        "only 3 rolled files are kept"
    );
    let broker = std::fs::read_to_string(dir.join("broker.log")).unwrap();
    assert!(
        broker.len() <= 8192 + 4096,
        "broker.log rolled at its size: {}",
        broker.len()
    );
    let namesrv = std::fs::read_to_string(dir.join("namesrv.log")).unwrap();
    assert!(namesrv.contains("rmqd::namesrv"), "{namesrv}");
    assert!(
        !broker.contains("rmqd::namesrv"),
        "name server lines stay out of broker.log"
    );
    let store = std::fs::read_to_string(dir.join("store.log")).unwrap();
    assert!(store.contains("rmqd_store"), "{store}");
}

/// A tmpfs for the logs only, unmounted when dropped.
struct LogFs {
    dir: tempfile::TempDir,
}

impl LogFs {
    fn mount(kib: u32) -> LogFs {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(
            ok.success(),
            "mounting a tmpfs failed (the test needs root)"
        );
        LogFs { dir }
    }
}

impl Drop for LogFs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[test]
fn a_full_log_disk_does_not_stop_sends() {
    let fs = LogFs::mount(64);
    let logs = fs.dir.path().display().to_string();
    let r = Rmqd::start_env(
        SHARED_DISK,
        &[("RMQD_LOG", "trace"), ("RMQD_LOG_DIR", &logs)],
    );
    create_topic(&r.broker(), "LogTopic", 4);
    send_all(&r, "LogTopic", 500);
    wait_for_log(&r, "log lines lost: writing the log files failed");
    // Still serving after the reports.
    send_all(&r, "LogTopic", 50);
}

#[test]
fn a_slow_log_disk_drops_lines_instead_of_waiting() {
    // Every file write takes 300 ms; the queue holds 20 lines.
    let r = Rmqd::start_env(
        SHARED_DISK,
        &[
            ("RMQD_LOG", "trace"),
            ("RMQD_LOG_BUFFER_LINES", "20"),
            ("RMQD_FAILPOINTS", "log-file-write=sleep(300)"),
        ],
    );
    create_topic(&r.broker(), "LogTopic", 4);
    // Were lines waited for, 300 sends logging several lines each would take minutes.
    send_all(&r, "LogTopic", 300);
    wait_for_log(&r, "log lines dropped: the log disk is too slow");
}

/// `RMQD_LOG_DIR=""` turns the files off; stderr must keep logging (an empty set of file
/// layers once silenced every line, stderr included).
#[test]
fn stderr_keeps_logging_with_files_off() {
    let r = Rmqd::start_env(SHARED_DISK, &[("RMQD_LOG_DIR", "")]);
    wait_for_log(&r, "broker listening");
    assert!(!r.home.path().join("logs/rocketmqlogs").exists());
}
