//! The crash checker in its short form: rmqd killed with SIGKILL five times under paced
//! load, in each flush mode. Every acknowledged message must be read back at its offset,
//! in order, and found by key through the IndexFile, and the store must verify after a
//! clean stop. The long run (≥ 20 kills per mode) is compat-tests/bench/crash-check.sh.

use std::collections::HashMap;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs the checker and returns its summary figures; fails the test on a non-zero exit.
fn crash_check(flush: &str, seed: u64) -> HashMap<String, String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rmqd-crash-check"))
        .args([
            "--flush",
            flush,
            "--kills",
            "5",
            "--seed",
            &seed.to_string(),
        ])
        .arg("--rmqd")
        .arg(rmqd_compat_tests::rmqd_bin())
        .arg("--dir")
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rmqd-crash-check");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    // Five gaps of at most 8 s, five restarts and the checks take well under this.
    let deadline = Instant::now() + Duration::from_secs(150);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = out.join().unwrap_or_default();
    let err = err.join().unwrap_or_default();
    let summary = out
        .lines()
        .find(|l| l.starts_with("crash-check "))
        .unwrap_or_default();
    if !status.is_some_and(|s| s.success()) {
        // Keep the store and the broker log for a look.
        let kept = dir.keep();
        panic!(
            "rmqd-crash-check {flush} failed ({status:?}):\n{summary}\n{err}\nstore and rmqd.log kept in {}",
            kept.display()
        );
    }
    summary
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn figure(f: &HashMap<String, String>, key: &str) -> u64 {
    f.get(key)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no figure {key} in {f:?}"))
}

fn check(flush: &str, seed: u64) {
    let f = crash_check(flush, seed);
    // The exit status already says PASS; the figures say the run tested something.
    assert_eq!(figure(&f, "kills"), 5, "{f:?}");
    assert_eq!(figure(&f, "kills_under_load"), 5, "{f:?}");
    assert!(figure(&f, "acked") > 1000, "{f:?}");
    assert!(figure(&f, "index_files") >= 2, "{f:?}");
    for zero in [
        "lost",
        "order_violations",
        "ack_mismatches",
        "rewritten",
        "corrupt",
        "index_misses",
    ] {
        assert_eq!(figure(&f, zero), 0, "{zero}: {f:?}");
    }
    assert_eq!(f.get("verify").map(String::as_str), Some("OK"), "{f:?}");
}

#[test]
fn kill9_loses_nothing_with_async_flush() {
    check("ASYNC_FLUSH", 1);
}

#[test]
fn kill9_loses_nothing_with_sync_flush() {
    check("SYNC_FLUSH", 2);
}
