//! Fault injection on real files: each failing write or dying store thread ends in the
//! store's health state with a clear status for the next append, and nothing that was
//! acknowledged is lost or hidden. The fault points are the `fail` crate's, armed per
//! test; `FailScenario` serialises the tests of this file (the points are global).

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use fail::FailScenario;
use rmqd_store::config::{FlushDiskType, StoreConfig};
use rmqd_store::record::{self, Decoded};
use rmqd_store::{GetMessageStatus, HealthState, MessageStore, MessageToStore, PutStatus};

fn config(root: &Path, flush: FlushDiskType) -> StoreConfig {
    let mut c = StoreConfig::new(
        root.to_path_buf(),
        SocketAddr::from(([127, 0, 0, 1], 10911)),
    );
    c.mapped_file_size_commitlog = 64 * 1024;
    c.mapped_file_size_consume_queue = 50 * 20;
    c.max_hash_slot_num = 100;
    c.max_index_num = 400;
    c.flush_disk_type = flush;
    c.sync_flush_timeout = Duration::from_secs(5);
    c.dispatch_retry_times = 3;
    c.dispatch_retry_interval = Duration::from_millis(50);
    c
}

fn msg(i: usize) -> MessageToStore {
    MessageToStore {
        topic: "F".into(),
        queue_id: 0,
        flag: 0,
        body: Bytes::from(format!("body-{i}")),
        properties: format!("KEYS\u{1}k-{i}\u{2}UNIQ_KEY\u{1}U{i:08}"),
        sys_flag: 0,
        born_timestamp: 1_700_000_000_000,
        born_host: SocketAddr::from(([10, 0, 0, 7], 50000)),
        reconsume_times: 0,
        prepared_transaction_offset: 0,
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn bodies(store: &MessageStore) -> Vec<String> {
    let mut out = Vec::new();
    let mut off = 0;
    loop {
        let r = store.get_messages("F", 0, off, 32, &|_| true);
        if r.status != GetMessageStatus::Found {
            return out;
        }
        for m in &r.messages {
            let Ok(Decoded::Message(v)) = record::decode(m, true) else {
                panic!("bad record at {off}")
            };
            out.push(String::from_utf8_lossy(v.body).into_owned());
        }
        off = r.next_begin_offset;
    }
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn failed_msync_poisons_and_the_waiting_sync_send_is_not_acknowledged() {
    let scenario = FailScenario::setup();
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = rt();
    let (store, _) = MessageStore::open(config(dir.path(), FlushDiskType::Sync)).expect("open");
    assert_eq!(rt.block_on(store.put(msg(0))).status, PutStatus::PutOk);
    // Fails once, as Linux reports a writeback error once: a retry would "succeed".
    fail::cfg("commitlog-flush", "1*return(EIO)").expect("cfg");
    let r = rt.block_on(store.put(msg(1)));
    assert_eq!(r.status, PutStatus::ServiceNotAvailable, "{r:?}");
    let h = store.health();
    assert_eq!(h.state, HealthState::Poisoned);
    assert!(
        h.cause.as_deref().unwrap_or("").contains("flush failed"),
        "{h:?}"
    );
    // Final until restart, even though the next msync would work.
    assert_eq!(
        rt.block_on(store.put(msg(2))).status,
        PutStatus::ServiceNotAvailable
    );
    // Reads keep working.
    wait_for("dispatch", || bodies(&store).len() >= 2);
    assert_eq!(bodies(&store)[0], "body-0");
    drop(store);
    // A poisoned store keeps its abort marker: the next start recovers as after a crash.
    assert!(dir.path().join("abort").exists());
    let (store, report) =
        MessageStore::open(config(dir.path(), FlushDiskType::Sync)).expect("reopen");
    assert!(report.abnormal);
    assert_eq!(store.health().state, HealthState::Running);
    assert_eq!(rt.block_on(store.put(msg(3))).status, PutStatus::PutOk);
    scenario.teardown();
}

#[test]
fn failed_flush_in_async_mode_refuses_later_sends() {
    let scenario = FailScenario::setup();
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = rt();
    let mut cfg = config(dir.path(), FlushDiskType::Async);
    cfg.flush_interval_commitlog = Duration::from_millis(10);
    let (store, _) = MessageStore::open(cfg).expect("open");
    fail::cfg("commitlog-flush", "1*return(EIO)").expect("cfg");
    assert_eq!(rt.block_on(store.put(msg(0))).status, PutStatus::PutOk);
    wait_for("poison", || store.health().state == HealthState::Poisoned);
    assert_eq!(
        rt.block_on(store.put(msg(1))).status,
        PutStatus::ServiceNotAvailable
    );
    scenario.teardown();
}

#[test]
fn failed_consume_queue_write_is_retried_never_hidden_behind_a_filler() {
    let scenario = FailScenario::setup();
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = rt();
    let (store, _) = MessageStore::open(config(dir.path(), FlushDiskType::Async)).expect("open");
    // The unit of message 0 fails twice (within the retry budget), then works.
    fail::cfg("consume-queue-put", "2*return(ENOSPC)").expect("cfg");
    for i in 0..3 {
        assert_eq!(rt.block_on(store.put(msg(i))).status, PutStatus::PutOk);
    }
    wait_for("dispatch", || store.max_offset_in_queue("F", 0) == 3);
    assert_eq!(bodies(&store), ["body-0", "body-1", "body-2"]);
    assert_eq!(store.health().state, HealthState::Running);
    scenario.teardown();
}

#[test]
fn persistent_consume_queue_failure_poisons_then_dispatch_catches_up_when_it_heals() {
    let scenario = FailScenario::setup();
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = rt();
    let (store, _) = MessageStore::open(config(dir.path(), FlushDiskType::Async)).expect("open");
    fail::cfg("consume-queue-put", "return(ENOSPC)").expect("cfg");
    assert_eq!(rt.block_on(store.put(msg(0))).status, PutStatus::PutOk);
    wait_for("poison", || store.health().state == HealthState::Poisoned);
    let h = store.health();
    assert!(
        h.cause
            .as_deref()
            .unwrap_or("")
            .contains("consume queue write failed"),
        "{h:?}"
    );
    assert_eq!(
        rt.block_on(store.put(msg(1))).status,
        PutStatus::ServiceNotAvailable
    );
    assert_eq!(
        store.max_offset_in_queue("F", 0),
        0,
        "nothing dispatched past the failure"
    );
    fail::remove("consume-queue-put");
    wait_for("catch-up", || store.max_offset_in_queue("F", 0) == 1);
    assert_eq!(bodies(&store), ["body-0"]);
    scenario.teardown();
}

#[test]
fn failed_index_write_is_retried_and_every_key_is_found() {
    let scenario = FailScenario::setup();
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = rt();
    let (store, _) = MessageStore::open(config(dir.path(), FlushDiskType::Async)).expect("open");
    fail::cfg("index-build", "2*return(EIO)").expect("cfg");
    for i in 0..3 {
        assert_eq!(rt.block_on(store.put(msg(i))).status, PutStatus::PutOk);
    }
    assert!(store.wait_dispatched(Duration::from_secs(10)));
    for i in 0..3 {
        let q = store.query_by_key("F", &format!("k-{i}"), 32, 0, i64::MAX);
        assert_eq!(q.records.len(), 1, "key k-{i}");
    }
    assert_eq!(store.health().state, HealthState::Running);
    scenario.teardown();
}

#[test]
fn enospc_on_append_refuses_that_message_only() {
    let scenario = FailScenario::setup();
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = rt();
    let (store, _) = MessageStore::open(config(dir.path(), FlushDiskType::Sync)).expect("open");
    assert_eq!(rt.block_on(store.put(msg(0))).status, PutStatus::PutOk);
    fail::cfg("commitlog-append", "1*return(ENOSPC)").expect("cfg");
    assert_eq!(
        rt.block_on(store.put(msg(1))).status,
        PutStatus::CreateMappedFileFailed
    );
    assert_eq!(rt.block_on(store.put(msg(2))).status, PutStatus::PutOk);
    wait_for("dispatch", || bodies(&store).len() == 2);
    assert_eq!(bodies(&store), ["body-0", "body-2"]);
    assert_eq!(store.health().state, HealthState::Running);
    scenario.teardown();
}

/// A panic in each critical store thread poisons the store with the service's name;
/// the warmer only saves page faults, so the store goes on without it.
#[test]
fn a_dead_store_thread_poisons_the_store() {
    let scenario = FailScenario::setup();
    let rt = rt();
    for (point, service) in [
        ("flusher-loop", "store-flusher"),
        ("dispatcher-loop", "store-dispatcher"),
        ("cleaner-loop", "store-cleaner"),
        ("writer-loop", "store-writer"),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        fail::cfg(point, "1*panic").expect("cfg");
        let (store, _) = MessageStore::open(config(dir.path(), FlushDiskType::Sync)).expect("open");
        // The writer's point is passed on its first job; the others at their loop's top.
        let first = rt.block_on(store.put(msg(0)));
        wait_for(point, || store.health().state == HealthState::Poisoned);
        let h = store.health();
        assert!(
            h.cause.as_deref().unwrap_or("").contains(service),
            "{point}: {h:?}"
        );
        let started = Instant::now();
        let r = rt.block_on(store.put(msg(1)));
        assert_eq!(r.status, PutStatus::ServiceNotAvailable, "{point}");
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{point}: refused, not timed out"
        );
        if point == "writer-loop" {
            assert_eq!(first.status, PutStatus::ServiceNotAvailable);
        }
        fail::remove(point);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    fail::cfg("warmer-loop", "1*panic").expect("cfg");
    let (store, _) = MessageStore::open(config(dir.path(), FlushDiskType::Sync)).expect("open");
    for i in 0..3 {
        assert_eq!(rt.block_on(store.put(msg(i))).status, PutStatus::PutOk);
    }
    assert_eq!(store.health().state, HealthState::Running);
    scenario.teardown();
}
