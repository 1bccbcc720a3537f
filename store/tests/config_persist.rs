//! Concurrent saves of one config file (`topics.json`, `consumerOffset.json`, ...):
//! every save succeeds, and the file ends holding the newest snapshot, whole.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::time::Duration;

use rmqd_store::config_file::{ConfigFile, TestHooks};
use rmqd_store::fastjson;

/// The state the savers share: a version bumped by each change, rendered as the file.
fn render(version: &AtomicU64) -> Option<String> {
    Some(format!(
        "{{\n\t\"offsetTable\":{{\n\t\t\"T@g\":{{0:{}\n\t\t}}\n\t}}\n}}",
        version.load(Ordering::SeqCst)
    ))
}

fn version_on_disk(path: &Path) -> i64 {
    let v = fastjson::load(path)
        .expect("file parses")
        .expect("file has content");
    v["offsetTable"]["T@g"]["0"]
        .as_i64()
        .expect("offset is a number")
}

/// Saver A is paused between writing its temp file and renaming it while saver B, holding
/// a newer change, saves. A single writer makes B wait for A (the `lock_busy` hook says
/// so); the old code let B write the same temp file and rename it away, so A's rename
/// failed (or, with distinct temp names, A's older snapshot landed last).
#[test]
fn a_save_paused_before_its_rename_neither_fails_nor_lands_last() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("consumerOffset.json");
    let file = ConfigFile::open(&path);
    let version = Arc::new(AtomicU64::new(0));
    let (b_said, b_news) = mpsc::channel::<&'static str>();
    let b_news = std::sync::Mutex::new(b_news);
    let paused_once = Arc::new(AtomicBool::new(false));
    let b_thread: Arc<std::sync::Mutex<Option<std::thread::JoinHandle<_>>>> = Default::default();

    let busy_tx = b_said.clone();
    let hooks = TestHooks {
        lock_busy: Some(Arc::new(move || {
            let _ = busy_tx.send("waiting");
        })),
        before_rename: Some(Arc::new({
            let version = version.clone();
            let b_thread = b_thread.clone();
            let path = path.clone();
            move |_content: &str| {
                if paused_once.swap(true, Ordering::SeqCst) {
                    return;
                }
                // A is paused here. B makes a newer change and saves it.
                let version = version.clone();
                let done_tx = b_said.clone();
                let path = path.clone();
                let b = std::thread::spawn(move || {
                    version.fetch_add(1, Ordering::SeqCst);
                    let r = ConfigFile::open(&path).persist_with(|| render(&version));
                    let _ = done_tx.send("done");
                    r
                });
                *b_thread.lock().expect("b slot") = Some(b);
                // Either B waits for A (single writer) or B gets all the way through.
                b_news
                    .lock()
                    .expect("news")
                    .recv_timeout(Duration::from_secs(30))
                    .expect("saver B neither waited nor finished");
            }
        })),
    };
    file.set_test_hooks(Some(hooks));

    version.fetch_add(1, Ordering::SeqCst);
    let a = file.persist_with(|| render(&version));
    let b = b_thread
        .lock()
        .expect("b slot")
        .take()
        .expect("the hook started saver B")
        .join()
        .expect("saver B panicked");
    file.set_test_hooks(None);

    a.expect("saver A");
    b.expect("saver B");
    assert_eq!(version_on_disk(&path), 2, "the newest snapshot is on disk");
    assert!(
        !path.with_extension("json.tmp").exists(),
        "no temp file left"
    );
    let bak = fastjson::parse(
        &std::fs::read_to_string(dir.path().join("consumerOffset.json.bak")).expect(".bak"),
    )
    .expect(".bak parses");
    assert_eq!(
        bak["offsetTable"]["T@g"]["0"], 1,
        ".bak holds the previous save"
    );
}

/// Many threads change the shared state and save it, at once and repeatedly.
#[test]
fn concurrent_snapshot_saves_end_with_the_newest() {
    const THREADS: usize = 8;
    const ROUNDS: usize = 25;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("topics.json");
    let version = Arc::new(AtomicU64::new(0));
    let start = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (path, version, start) = (path.clone(), version.clone(), start.clone());
            std::thread::spawn(move || {
                let file = ConfigFile::open(&path);
                start.wait();
                for _ in 0..ROUNDS {
                    version.fetch_add(1, Ordering::SeqCst);
                    file.persist_with(|| render(&version))?;
                }
                Ok::<_, fastjson::ConfigFileError>(())
            })
        })
        .collect();
    for t in threads {
        t.join().expect("saver panicked").expect("save failed");
    }
    assert_eq!(version_on_disk(&path), (THREADS * ROUNDS) as i64);
}

/// The plain `fastjson::persist` (fixed content) from many threads at once: no save
/// fails, and the file ends whole, holding one of the contents written.
#[test]
fn concurrent_plain_persists_never_fail_or_tear() {
    const THREADS: usize = 8;
    const ROUNDS: usize = 25;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("subscriptionGroup.json");
    let start = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (path, start) = (path.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                for r in 0..ROUNDS {
                    // Sizes differ so that a torn file would not parse.
                    let pad = "x".repeat((t * ROUNDS + r) % 97);
                    let content = format!("{{\"writer\":{t},\"round\":{r},\"pad\":\"{pad}\"}}");
                    fastjson::persist(&path, &content)?;
                }
                Ok::<_, fastjson::ConfigFileError>(())
            })
        })
        .collect();
    for t in threads {
        t.join().expect("saver panicked").expect("save failed");
    }
    let v = fastjson::load(&path).expect("parses").expect("content");
    assert_eq!(v["round"], (ROUNDS - 1) as i64, "a last round is last");
}
