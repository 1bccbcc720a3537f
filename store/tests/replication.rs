//! The store's side of master/slave replication on real files: a SLAVE store fed the
//! bytes a master store hands out (in transfers that split records anywhere and never
//! cross a file) ends with the same CommitLog bytes, queues and index; it refuses sends,
//! waits for the rest of a split record, recovers after a crash mid-record, and starts an
//! empty CommitLog where the master's first transfer says. On the master, SYNC_MASTER
//! sends wait for a slave's acknowledgement, grouped, with Java's statuses.
//!
//! Every test holds a `FailScenario`: fault points are process-wide, so one test arming
//! `commitlog-append` must not hit another's appends.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use fail::FailScenario;
use rmqd_store::config::{BrokerRole, FlushDiskType, StoreConfig};
use rmqd_store::record::{self, Decoded};
use rmqd_store::{GetMessageStatus, MessageStore, MessageToStore, PutStatus, ReplicaAppendError};

const FILE: usize = 64 * 1024;

fn config(root: &Path, role: BrokerRole) -> StoreConfig {
    let mut c = StoreConfig::new(
        root.to_path_buf(),
        SocketAddr::from(([127, 0, 0, 1], 10911)),
    );
    c.mapped_file_size_commitlog = FILE;
    c.mapped_file_size_consume_queue = 50 * 20;
    c.max_hash_slot_num = 100;
    c.max_index_num = 400;
    c.broker_role = role;
    c.slave_timeout = Duration::from_millis(300);
    c
}

fn msg(i: usize) -> MessageToStore {
    MessageToStore {
        topic: format!("R{}", i % 2),
        queue_id: (i % 3) as i32,
        flag: 0,
        body: Bytes::from(format!("body-{i}-{}", "y".repeat(i * 37 % 900))),
        properties: format!(
            "KEYS\u{1}k-{i}\u{2}TAGS\u{1}T{}\u{2}UNIQ_KEY\u{1}U{i:08}",
            i % 4
        ),
        sys_flag: 0,
        born_timestamp: 1_700_000_000_000 + i as i64,
        born_host: SocketAddr::from(([10, 0, 0, 7], 50000)),
        reconsume_times: 0,
        prepared_transaction_offset: 0,
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Every body of a queue, in order, from `from`.
fn bodies(store: &MessageStore, topic: &str, queue: i32, from: i64) -> Vec<String> {
    let mut out = Vec::new();
    let mut off = from;
    loop {
        let r = store.get_messages(topic, queue, off, 32, &|_| true);
        if r.status != GetMessageStatus::Found {
            return out;
        }
        for m in &r.messages {
            let Ok(Decoded::Message(v)) = record::decode(m, true) else {
                panic!("bad record in {topic}-{queue} at {off}")
            };
            out.push(String::from_utf8_lossy(v.body).into_owned());
        }
        off = r.next_begin_offset;
    }
}

fn commitlog_files(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(root.join("commitlog"))
        .expect("commitlog dir")
        .map(|e| e.expect("entry"))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).expect("read"),
            )
        })
        .collect();
    v.sort();
    v
}

/// Copies what the master has into the slave the way the HA master hands it out: from
/// the slave's end, at most `batch` bytes, never across a file.
fn replicate(
    rt: &tokio::runtime::Runtime,
    master: &MessageStore,
    slave: &MessageStore,
    batch: usize,
) {
    let mut from = slave.commitlog_max_offset();
    loop {
        let Some(data) = master.commitlog_data(from, batch) else {
            return;
        };
        assert!(data.len() <= batch);
        let end = rt
            .block_on(slave.append_replicated(from, data.clone()))
            .expect("replicated append");
        assert_eq!(end.received, from + data.len() as i64);
        assert!(end.stored <= end.received);
        assert_eq!(end.stored, slave.commitlog_max_offset());
        from = end.received;
    }
}

#[test]
fn a_slave_fed_in_split_transfers_holds_the_masters_bytes_and_messages() {
    let _serial = FailScenario::setup();
    let rt = rt();
    let (mdir, sdir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (master, _) = MessageStore::open(config(mdir.path(), BrokerRole::AsyncMaster)).unwrap();
    let (slave, _) = MessageStore::open(config(sdir.path(), BrokerRole::Slave)).unwrap();
    // Enough for several CommitLog files, so transfers end at file ends (BLANK included).
    for i in 0..400 {
        assert_eq!(rt.block_on(master.put(msg(i))).status, PutStatus::PutOk);
    }
    assert!(master.commitlog_max_offset() > 3 * FILE as i64);
    // Odd batch sizes split records in every possible place, headers included.
    replicate(&rt, &master, &slave, 777);
    replicate(&rt, &master, &slave, 5);
    for i in 400..420 {
        assert_eq!(rt.block_on(master.put(msg(i))).status, PutStatus::PutOk);
    }
    replicate(&rt, &master, &slave, 32 * 1024);
    assert_eq!(slave.commitlog_max_offset(), master.commitlog_max_offset());
    assert!(master.wait_dispatched(Duration::from_secs(10)));
    assert!(slave.wait_dispatched(Duration::from_secs(10)));
    for (topic, queue) in [
        ("R0", 0),
        ("R0", 1),
        ("R0", 2),
        ("R1", 0),
        ("R1", 1),
        ("R1", 2),
    ] {
        let want = bodies(&master, topic, queue, 0);
        assert!(!want.is_empty());
        assert_eq!(bodies(&slave, topic, queue, 0), want, "{topic}-{queue}");
    }
    let found = slave.query_by_key("R1", "k-401", 10, 0, i64::MAX);
    assert_eq!(found.records.len(), 1, "the slave's index has the keys");
    master.shutdown();
    slave.shutdown();
    assert_eq!(
        commitlog_files(sdir.path()),
        commitlog_files(mdir.path()),
        "byte-equal CommitLog files"
    );
}

#[test]
fn a_slave_refuses_sends_and_a_master_refuses_replicated_bytes() {
    let _serial = FailScenario::setup();
    let rt = rt();
    let (mdir, sdir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (master, _) = MessageStore::open(config(mdir.path(), BrokerRole::SyncMaster)).unwrap();
    let (slave, _) = MessageStore::open(config(sdir.path(), BrokerRole::Slave)).unwrap();
    assert_eq!(
        rt.block_on(slave.put(msg(0))).status,
        PutStatus::ServiceNotAvailable
    );
    assert!(matches!(
        rt.block_on(master.append_replicated(0, Bytes::from_static(b"x"))),
        Err(ReplicaAppendError::NotSlave)
    ));
    // An empty slave starts only at a file boundary; after that only at its end.
    assert!(matches!(
        rt.block_on(slave.append_replicated(100, Bytes::new())),
        Err(ReplicaAppendError::Unaligned(100))
    ));
    assert_eq!(rt.block_on(master.put(msg(0))).status, PutStatus::PutOk);
    replicate(&rt, &master, &slave, 32 * 1024);
    let end = slave.commitlog_max_offset();
    let err = rt
        .block_on(slave.append_replicated(end + 1, Bytes::from_static(b"x")))
        .unwrap_err();
    assert!(
        matches!(err, ReplicaAppendError::OffsetMismatch { slave, master } if slave == end && master == end + 1),
        "{err}"
    );
    assert_eq!(slave.commitlog_max_offset(), end, "nothing written");
}

/// What a Java master does with a slave that reports 0: it starts at its last file. The
/// slave's first file is created by the heartbeat that precedes the data, its consume
/// queues begin with filler units, and their minimum is the first message it holds.
#[test]
fn an_empty_slave_starts_at_the_masters_last_file_and_reports_java_minimums() {
    let _serial = FailScenario::setup();
    let rt = rt();
    let (mdir, sdir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (master, _) = MessageStore::open(config(mdir.path(), BrokerRole::AsyncMaster)).unwrap();
    for i in 0..200 {
        let mut m = msg(i);
        m.topic = "Bulk".into();
        m.queue_id = 0;
        assert_eq!(rt.block_on(master.put(m)).status, PutStatus::PutOk);
    }
    let max = master.commitlog_max_offset();
    let start = max - max % FILE as i64;
    assert!(start > 0);
    let (slave, _) = MessageStore::open(config(sdir.path(), BrokerRole::Slave)).unwrap();
    assert_eq!(
        rt.block_on(slave.append_replicated(start, Bytes::new()))
            .unwrap()
            .stored,
        start,
        "a heartbeat creates the first file"
    );
    assert_eq!(slave.commitlog_max_offset(), start);
    replicate(&rt, &master, &slave, 32 * 1024);
    assert!(slave.wait_dispatched(Duration::from_secs(10)));
    assert!(master.wait_dispatched(Duration::from_secs(10)));
    let on_master: Vec<String> = bodies(&master, "Bulk", 0, 0);
    let first = slave.min_offset_in_queue("Bulk", 0);
    assert!(first > 0);
    assert_eq!(slave.max_offset_in_queue("Bulk", 0), 200);
    assert_eq!(
        bodies(&slave, "Bulk", 0, first),
        on_master[first as usize..].to_vec()
    );
    // A pull below the slave's minimum: Java's slave leaves the offset alone.
    let r = slave.get_messages("Bulk", 0, 0, 32, &|_| true);
    assert_eq!(r.status, GetMessageStatus::OffsetTooSmall);
    assert_eq!(
        (r.next_begin_offset, r.min_offset, r.max_offset),
        (0, first, 200)
    );
    // …and after a restart the same minimum comes back from the files.
    slave.shutdown();
    drop(slave);
    let (slave, _) = MessageStore::open(config(sdir.path(), BrokerRole::Slave)).unwrap();
    assert_eq!(slave.min_offset_in_queue("Bulk", 0), first);
    assert_eq!(slave.commitlog_min_offset(), start);
}

/// A slave killed while half a record has arrived restarts at its last whole record (the
/// half never reached its files) and resumes from there; a new connection that starts
/// again at the last whole record drops the half kept in memory.
#[test]
fn a_slave_crashed_mid_record_resumes_from_its_last_whole_record() {
    let _serial = FailScenario::setup();
    let rt = rt();
    let (mdir, sdir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut scfg = config(sdir.path(), BrokerRole::Slave);
    scfg.flush_disk_type = FlushDiskType::Sync;
    let (master, _) = MessageStore::open(config(mdir.path(), BrokerRole::AsyncMaster)).unwrap();
    let (slave, _) = MessageStore::open(scfg.clone()).unwrap();
    for i in 0..10 {
        assert_eq!(rt.block_on(master.put(msg(i))).status, PutStatus::PutOk);
    }
    let whole = master.commitlog_max_offset();
    assert_eq!(rt.block_on(master.put(msg(10))).status, PutStatus::PutOk);
    let data = master.commitlog_data(0, 32 * 1024).unwrap();
    // Everything but the last 30 bytes: the last record is cut.
    let cut = data.slice(..data.len() - 30);
    let end = rt.block_on(slave.append_replicated(0, cut)).unwrap();
    assert_eq!((end.stored, end.received), (whole, data.len() as i64 - 30));
    wait_for("dispatch of the whole records", || {
        slave.dispatched_offset() == whole
    });
    assert_eq!(
        bodies(&slave, "R0", 1, 0).len(),
        bodies(&master, "R0", 1, 0).len() - 1
    );
    // What a kill -9 leaves: the files as they are (SYNC_FLUSH: on disk), abort marker
    // included.
    let crashed = tempfile::tempdir().unwrap();
    copy_dir(sdir.path(), crashed.path());
    slave.shutdown();
    drop(slave);
    let (slave, report) = MessageStore::open(config(crashed.path(), BrokerRole::Slave)).unwrap();
    assert!(report.abnormal);
    assert_eq!(
        slave.commitlog_max_offset(),
        whole,
        "the half record is cut"
    );
    replicate(&rt, &master, &slave, 32 * 1024);
    assert!(slave.wait_dispatched(Duration::from_secs(10)));
    assert!(master.wait_dispatched(Duration::from_secs(10)));
    for q in 0..3 {
        assert_eq!(bodies(&slave, "R0", q, 0), bodies(&master, "R0", q, 0));
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

#[test]
fn sync_master_sends_wait_for_a_slave_with_javas_statuses() {
    let _serial = FailScenario::setup();
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    let (master, _) = MessageStore::open(config(dir.path(), BrokerRole::SyncMaster)).unwrap();
    // No slave: SLAVE_NOT_AVAILABLE at once, and the message is stored.
    let r = rt.block_on(master.put_batch_with(vec![msg(0)], true));
    assert_eq!(r.status, PutStatus::SlaveNotAvailable);
    assert_eq!(r.queue_offset, 0);
    // WAIT=false and the broker's own appends never wait.
    assert_eq!(
        rt.block_on(master.put_batch_with(vec![msg(3)], false))
            .status,
        PutStatus::PutOk
    );
    let link = master.replica_attach();
    assert_eq!(master.replica_status().0, 1);
    // A connected slave that never acknowledges: FLUSH_SLAVE_TIMEOUT after slaveTimeout.
    let r = rt.block_on(master.put_batch_with(vec![msg(6)], true));
    assert_eq!(r.status, PutStatus::FlushSlaveTimeout);
    // Many sends waiting at once are all released by the one acknowledgement covering
    // the last of them.
    let waiting: Vec<_> = (0..50)
        .map(|i| rt.spawn(master.put_batch_with(vec![msg(9 + i * 3)], true)))
        .collect();
    wait_for("all appended", || {
        master.commitlog_max_offset() > 0 && master.queued_appends() == 0
    });
    std::thread::sleep(Duration::from_millis(20));
    link.acked(master.commitlog_max_offset());
    for w in waiting {
        assert_eq!(rt.block_on(w).unwrap().status, PutStatus::PutOk);
    }
    // A slave further behind than haSlaveFallbehindMax does not count.
    drop(link);
    assert_eq!(master.replica_status().0, 0);
    let mut cfg = config(
        tempfile::tempdir().unwrap().keep().as_path(),
        BrokerRole::SyncMaster,
    );
    cfg.ha_slave_fallbehind_max = 100;
    let (far, _) = MessageStore::open(cfg).unwrap();
    let _link = far.replica_attach();
    assert_eq!(
        rt.block_on(far.put_batch_with(vec![msg(1)], true)).status,
        PutStatus::SlaveNotAvailable
    );
}

/// A replicated append that fails is refused with the cause and writes nothing; the next
/// one goes on from the same end, so the master simply sends it again.
#[test]
fn a_failed_replicated_append_writes_nothing_and_the_next_one_continues() {
    let scenario = FailScenario::setup();
    let rt = rt();
    let (mdir, sdir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (master, _) = MessageStore::open(config(mdir.path(), BrokerRole::AsyncMaster)).unwrap();
    let (slave, _) = MessageStore::open(config(sdir.path(), BrokerRole::Slave)).unwrap();
    for i in 0..5 {
        assert_eq!(rt.block_on(master.put(msg(i))).status, PutStatus::PutOk);
    }
    let data = master.commitlog_data(0, 32 * 1024).unwrap();
    fail::cfg("commitlog-append", "1*return(EIO)").unwrap();
    let err = rt
        .block_on(slave.append_replicated(0, data.clone()))
        .unwrap_err();
    assert!(matches!(err, ReplicaAppendError::File(_)), "{err}");
    assert_eq!(slave.commitlog_max_offset(), 0);
    replicate(&rt, &master, &slave, 32 * 1024);
    assert_eq!(slave.commitlog_max_offset(), master.commitlog_max_offset());
    scenario.teardown();
}
