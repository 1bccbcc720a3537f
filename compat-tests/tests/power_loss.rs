//! Power loss. `kill -9` leaves the page cache behind, so a broker that never syncs
//! survives it; a power cut does not. The store here lives on rmqd-powerfs
//! (src/bin/rmqd-powerfs), a FUSE file system where only fsync/msync makes data durable
//! and a cut discards everything else (see its state.rs for the exact model: ext4
//! data=ordered's worst case). Each round: producers send with keys and record every
//! acknowledgement, rmqd is killed with SIGKILL mid-send, the power is cut, the
//! file system comes back with what was durable, and rmqd restarts on it.
//!
//! SYNC_FLUSH: every acknowledged message must come back. ASYNC_FLUSH: what is lost must
//! be the tail acknowledged within about one flush interval before the cut. Either way
//! the store must recover consistent (`rmqd store verify` after a clean stop).

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rmqd_compat_tests::{create_topic, rmqd_bin, wire, Rmqd};
use serde_json::Value;

/// A mounted rmqd-powerfs daemon.
struct PowerFs {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    log: PathBuf,
}

impl PowerFs {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn read_line(&mut self) -> String {
        let mut line = String::new();
        let _ = self.stdout.read_line(&mut line);
        line
    }

    /// Cuts the power: the durable state goes back into the image. Returns the daemon's
    /// counters.
    fn cut(mut self) -> Value {
        if let Some(mut stdin) = self.stdin.take() {
            stdin.write_all(b"cut\n").expect("tell powerfs to cut");
        }
        let line = self.read_line();
        let status = self
            .child
            .take()
            .map(|mut c| c.wait().expect("powerfs exit"));
        assert!(
            status.is_some_and(|s| s.success()),
            "powerfs failed to cut; log:\n{}",
            self.log()
        );
        serde_json::from_str(&line)
            .unwrap_or_else(|_| panic!("powerfs said {line:?}; log:\n{}", self.log()))
    }
}

impl Drop for PowerFs {
    fn drop(&mut self) {
        // Stdin closing is a cut too; give it a moment to unmount, then make sure.
        drop(self.stdin.take());
        if let Some(mut c) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The "disk": an image directory that survives power cuts, and one mount point.
struct Disk {
    dir: tempfile::TempDir,
    boots: usize,
}

impl Disk {
    fn new() -> Disk {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("image")).expect("image dir");
        std::fs::create_dir(dir.path().join("mnt")).expect("mount point");
        Disk { dir, boots: 0 }
    }

    fn mnt(&self) -> PathBuf {
        self.dir.path().join("mnt")
    }

    fn image(&self) -> PathBuf {
        self.dir.path().join("image")
    }

    /// Mounts a fresh daemon on the image (the previous one must have been cut).
    fn power_on(&mut self) -> PowerFs {
        // The previous boot's scratch space holds only what the cut discarded.
        let old = self.dir.path().join(format!("work-{}", self.boots));
        let _ = std::fs::remove_dir_all(old);
        self.boots += 1;
        let work = self.dir.path().join(format!("work-{}", self.boots));
        let log = self.dir.path().join(format!("powerfs-{}.log", self.boots));
        let mut child = Command::new(env!("CARGO_BIN_EXE_rmqd-powerfs"))
            .arg("--image")
            .arg(self.image())
            .arg("--work")
            .arg(&work)
            .arg("--mount")
            .arg(self.mnt())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("powerfs log"))
            .spawn()
            .expect("start rmqd-powerfs");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut fs = PowerFs {
            child: Some(child),
            stdin,
            stdout,
            log,
        };
        let line = fs.read_line();
        assert_eq!(
            line.trim(),
            "ready",
            "powerfs did not mount; log:\n{}",
            fs.log()
        );
        fs
    }
}

fn sync_file_range_write(f: &std::fs::File) {
    use std::os::fd::AsRawFd;
    // SAFETY: plain syscall on a descriptor `f` owns.
    let rc = unsafe {
        libc::sync_file_range(
            f.as_raw_fd(),
            0,
            0,
            libc::SYNC_FILE_RANGE_WAIT_BEFORE
                | libc::SYNC_FILE_RANGE_WRITE
                | libc::SYNC_FILE_RANGE_WAIT_AFTER,
        )
    };
    assert_eq!(
        rc,
        0,
        "sync_file_range: {}",
        std::io::Error::last_os_error()
    );
}

fn mapped(path: &Path, len: u64) -> (std::fs::File, memmap2::MmapMut) {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)
        .expect("create mapped file");
    f.set_len(len).expect("set_len");
    // SAFETY: the test owns the file; nothing else maps it.
    let m = unsafe { memmap2::MmapMut::map_mut(&f) }.expect("shared writable mmap on FUSE");
    (f, m)
}

fn read(path: &Path) -> Option<Vec<u8>> {
    std::fs::read(path).ok()
}

/// What survives a cut, checked on the image and again through a fresh mount of it.
fn check_survivors(root: &Path, what: &str) {
    let at = |n: &str| root.join(n);
    assert_eq!(
        read(&at("synced")).as_deref(),
        Some(&b"kept"[..]),
        "{what}: write+fsync"
    );
    assert_eq!(
        read(&at("partial")).as_deref(),
        Some(&b"AAAA"[..]),
        "{what}: only the fsynced prefix"
    );
    let m = read(&at("mapped-synced")).expect("mapped-synced");
    assert_eq!(m.len(), 8192, "{what}");
    assert_eq!(&m[..2], b"M1", "{what}: mmap write + msync");
    assert_eq!(
        &m[4096..4098],
        b"M2",
        "{what}: mmap write + msync, second page"
    );
    let u = read(&at("mapped-unsynced")).expect("mapped-unsynced: its creation was committed");
    assert_eq!(u.len(), 8192, "{what}: set_len is journaled metadata");
    assert!(
        u.iter().all(|b| *b == 0),
        "{what}: mmap write written back but never msynced must be lost"
    );
    assert_eq!(
        read(&at("moved")).as_deref(),
        Some(&b"r"[..]),
        "{what}: rename + fsyncdir"
    );
    assert!(!at("to-move").exists(), "{what}: renamed away durably");
    assert!(
        !at("unsynced").exists(),
        "{what}: created after the last commit"
    );
    assert!(
        !at("synced-moved").exists(),
        "{what}: rename after the last commit"
    );
}

/// The rig itself: write without fsync is lost, with fsync kept; mmap + msync kept, mmap
/// without msync lost even once the kernel wrote the pages back.
#[test]
fn powerfs_keeps_exactly_what_was_synced() {
    use std::os::unix::fs::FileExt;
    let mut disk = Disk::new();
    let fs = disk.power_on();
    let m = disk.mnt();

    let f = std::fs::File::create(m.join("synced")).expect("create");
    f.write_all_at(b"kept", 0).expect("write");
    f.sync_all().expect("fsync");

    let f = std::fs::File::create(m.join("partial")).expect("create");
    f.write_all_at(b"AAAA", 0).expect("write");
    f.sync_data().expect("fdatasync");
    f.write_all_at(b"BBBB", 4).expect("write");

    let (_f, mut map) = mapped(&m.join("mapped-synced"), 8192);
    map[..2].copy_from_slice(b"M1");
    map[4096..4098].copy_from_slice(b"M2");
    map.flush().expect("msync(MS_SYNC)");

    let (uf, mut umap) = mapped(&m.join("mapped-unsynced"), 8192);
    umap[..1].copy_from_slice(b"U");
    // The dirty page reaches the daemon as a WRITE, but no FSYNC follows.
    sync_file_range_write(&uf);

    let f = std::fs::File::create(m.join("to-move")).expect("create");
    f.write_all_at(b"r", 0).expect("write");
    f.sync_all().expect("fsync");
    std::fs::rename(m.join("to-move"), m.join("moved")).expect("rename");
    std::fs::File::open(&m)
        .expect("open dir")
        .sync_all()
        .expect("fsyncdir");

    // After the last sync of anything: neither survives.
    std::fs::rename(m.join("synced"), m.join("synced-moved")).expect("rename");
    std::fs::write(m.join("unsynced"), b"lost").expect("write");

    // Before the cut every read sees every write.
    assert_eq!(read(&m.join("synced-moved")).as_deref(), Some(&b"kept"[..]));
    assert_eq!(read(&m.join("partial")).as_deref(), Some(&b"AAAABBBB"[..]));
    assert_eq!(read(&m.join("unsynced")).as_deref(), Some(&b"lost"[..]));
    assert_eq!(read(&m.join("mapped-unsynced")).map(|u| u[0]), Some(b'U'));
    drop((map, umap, uf));

    let stats = fs.cut();
    assert!(stats["fsyncs"].as_u64() >= Some(4), "{stats}");
    check_survivors(&disk.image(), "image");

    // A new mount serves the durable state (no page cache survives the cut).
    let fs = disk.power_on();
    check_survivors(&disk.mnt(), "remount");
    fs.cut();
}

// ---- rmqd on the power-cut file system ----

const TOPIC: &str = "PowerLoss";
const QUEUES: i32 = 4;
const PRODUCERS: usize = 4;

/// Cycles per test: 3 in CI; `RMQD_POWER_ROUNDS=20` for the README's figures.
fn round_count() -> usize {
    std::env::var("RMQD_POWER_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(3)
}

#[derive(Debug, Clone)]
struct Ack {
    key: String,
    queue: i32,
    queue_offset: i64,
    msg_id: String,
    at: Instant,
}

fn broker_conf(flush: &str) -> Vec<String> {
    vec![
        format!("flushDiskType={flush}"),
        "flushIntervalCommitLog=500".into(),
        // Small files so that rounds roll CommitLog, ConsumeQueue and IndexFile files
        // over, and image copies stay cheap.
        "mappedFileSizeCommitLog=1048576".into(),
        "mappedFileSizeConsumeQueue=6000".into(),
        "maxHashSlotNum=1000".into(),
        "maxIndexNum=4000".into(),
        // What is checked is what power cuts leave: a full host disk must not make the
        // cleaner delete unexpired files forcibly under the test.
        "cleanFileForciblyEnable=false".into(),
    ]
}

/// What one producer got: its acknowledgements, and how many sends each refusal code
/// answered.
type Produced = (Vec<Ack>, HashMap<i64, usize>);

/// Producers sending until the broker goes away; each returns what was acknowledged.
fn start_producers(
    broker: &str,
    round: usize,
    stop: &Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<Produced>> {
    (0..PRODUCERS)
        .map(|p| {
            let broker = broker.to_string();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut acks = Vec::new();
                let mut refused = HashMap::new();
                let Ok(mut c) = wire::Conn::try_connect(&broker, Duration::from_secs(5)) else {
                    return (acks, refused);
                };
                let body = vec![b'x'; 512];
                for i in 0..1_000_000 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let key = format!("r{round}-p{p}-{i}");
                    let queue = ((p + i) % QUEUES as usize) as i32;
                    let props =
                        wire::properties(&[("KEYS", &key), ("UNIQ_KEY", &key), ("WAIT", "true")]);
                    match wire::try_send(&mut c, "powerloss-pg", TOPIC, queue, &props, &body) {
                        Ok(f) if f.code == 0 => acks.push(Ack {
                            key,
                            queue,
                            queue_offset: f.ext_i64("queueOffset"),
                            msg_id: f.ext("msgId"),
                            at: Instant::now(),
                        }),
                        Ok(f) => *refused.entry(f.code).or_default() += 1,
                        Err(_) => break, // the broker was killed
                    }
                }
                (acks, refused)
            })
        })
        .collect()
}

/// Every message in the topic, by key; checks each queue's offsets run 0.. without gaps.
fn pull_everything(broker: &str) -> HashMap<String, (i32, i64)> {
    let mut c = wire::Conn::connect(broker);
    let mut found = HashMap::new();
    for q in 0..QUEUES {
        let msgs = wire::pull_all(&mut c, "powerloss-cg", TOPIC, q, 0);
        for (i, m) in msgs.iter().enumerate() {
            assert_eq!(
                m.queue_offset, i as i64,
                "queue {q}: offsets must run from 0 without gaps after recovery"
            );
            let key = m.property("KEYS").unwrap_or_default().to_string();
            assert!(
                key.starts_with('r'),
                "queue {q} offset {i}: foreign message {m:?}"
            );
            let dup = found.insert(key.clone(), (q, m.queue_offset));
            assert!(
                dup.is_none(),
                "{key} is in the store twice: {dup:?} and {q}/{i}"
            );
        }
    }
    found
}

/// Waits until the recovered store has dispatched what it holds (the consume queues are
/// rebuilt behind the CommitLog after a crash): the pull results stop changing.
fn settled(broker: &str) -> HashMap<String, (i32, i64)> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = pull_everything(broker);
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let now = pull_everything(broker);
        if now.len() == last.len() || Instant::now() > deadline {
            return now;
        }
        last = now;
    }
}

struct Round {
    acked: usize,
    refused: HashMap<i64, usize>,
    lost: Vec<(Ack, Duration)>,
    cut_stats: Value,
    remount_ms: u128,
    restart_ms: u128,
}

/// rmqd on a mounted powerfs. Fields drop in order: rmqd before its file system.
struct Rig {
    rmqd: Rmqd,
    fs: Option<PowerFs>,
    disk: Disk,
}

/// Runs `round_count()` send / kill / cut / restart cycles; returns each round's figures and the
/// rig, rmqd running on the last remount.
fn power_cut_rounds(flush: &str) -> (Vec<Round>, Rig) {
    let mut disk = Disk::new();
    let fs = Some(disk.power_on());
    let store = disk.mnt().join("store");
    let conf = broker_conf(flush);
    let conf: Vec<&str> = conf.iter().map(String::as_str).collect();
    let rmqd = Rmqd::start_with_store(&store, &conf);
    create_topic(&rmqd.broker(), TOPIC, QUEUES as u32);
    let mut rig = Rig { rmqd, fs, disk };
    let mut all: Vec<Ack> = Vec::new();
    let mut rounds = Vec::new();
    for round in 0..round_count() {
        let stop = Arc::new(AtomicBool::new(false));
        let producers = start_producers(&rig.rmqd.broker(), round, &stop);
        // Longer than the ASYNC bound, so that losing more than the last interval shows;
        // a different moment in the flush cycle each round.
        std::thread::sleep(Duration::from_millis(2200 + 330 * round as u64));
        let killed_at = Instant::now();
        rig.rmqd.kill9();
        stop.store(true, Ordering::Relaxed);
        let mut refused: HashMap<i64, usize> = HashMap::new();
        let mut acked = 0;
        for p in producers {
            let (acks, r) = p.join().expect("producer thread");
            acked += acks.len();
            all.extend(acks);
            for (code, n) in r {
                *refused.entry(code).or_default() += n;
            }
        }
        let cut_stats = rig.fs.take().expect("mounted").cut();

        let t = Instant::now();
        rig.fs = Some(rig.disk.power_on());
        let remount_ms = t.elapsed().as_millis();
        let t = Instant::now();
        rig.rmqd.restart();
        let restart_ms = t.elapsed().as_millis();

        let found = settled(&rig.rmqd.broker());
        let lost: Vec<(Ack, Duration)> = all
            .iter()
            .filter(|a| !found.contains_key(&a.key))
            .map(|a| (a.clone(), killed_at.saturating_duration_since(a.at)))
            .collect();
        // What is lost is gone for good: later rounds check only what this one kept.
        let lost_keys: HashSet<&str> = lost.iter().map(|(a, _)| a.key.as_str()).collect();
        all.retain(|a| !lost_keys.contains(a.key.as_str()));
        let ages = lost.iter().map(|(_, age)| age.as_millis());
        eprintln!(
            "{flush} round {round}: {acked} acked, {} lost (acked {:?}..{:?} ms before the kill), \
             {} in store, remount {remount_ms} ms, restart {restart_ms} ms, refused {refused:?}, \
             powerfs {cut_stats}",
            lost.len(),
            ages.clone().min(),
            ages.max(),
            found.len()
        );
        rounds.push(Round {
            acked,
            refused,
            lost,
            cut_stats,
            remount_ms,
            restart_ms,
        });
    }
    (rounds, rig)
}

/// A clean stop, then the offline checker over the recovered store.
fn verify_after_clean_stop(rig: &mut Rig) {
    rig.rmqd.stop_clean();
    let out = Command::new(rmqd_bin())
        .args(["store", "verify"])
        .arg(rig.disk.mnt().join("store"))
        .arg("-c")
        .arg(rig.rmqd.conf_path())
        .output()
        .expect("run rmqd store verify");
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!(
        "store verify:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "the recovered store is inconsistent:\n{text}"
    );
}

fn describe(lost: &[(Ack, Duration)]) -> String {
    lost.iter()
        .take(20)
        .map(|(a, age)| {
            format!(
                "{} queue {} offset {} msgId {} acked {} ms before the kill",
                a.key,
                a.queue,
                a.queue_offset,
                a.msg_id,
                age.as_millis()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn check_rounds_ran(rounds: &[Round]) {
    for (i, r) in rounds.iter().enumerate() {
        assert!(
            r.acked > 0,
            "round {i}: nothing was acknowledged ({:?})",
            r.refused
        );
        assert!(
            r.cut_stats["fsyncs"].as_u64() > Some(0),
            "round {i}: the broker never synced: {}",
            r.cut_stats
        );
        assert!(r.restart_ms < 20_000 && r.remount_ms < 20_000);
    }
}

/// One line of totals, the figures the README quotes.
fn summary(flush: &str, rounds: &[Round]) {
    let acked: usize = rounds.iter().map(|r| r.acked).sum();
    let lost: usize = rounds.iter().map(|r| r.lost.len()).sum();
    let oldest = rounds
        .iter()
        .flat_map(|r| r.lost.iter().map(|(_, age)| age.as_millis()))
        .max();
    let restart_max = rounds.iter().map(|r| r.restart_ms).max().unwrap_or(0);
    eprintln!(
        "power-loss flush={flush} cuts={} acked={acked} lost={lost} \
         oldest_lost_ms={oldest:?} restart_max_ms={restart_max}",
        rounds.len()
    );
}

#[test]
fn sync_flush_keeps_every_acknowledged_message_across_power_cuts() {
    let (rounds, mut rig) = power_cut_rounds("SYNC_FLUSH");
    summary("SYNC_FLUSH", &rounds);
    check_rounds_ran(&rounds);
    for (i, r) in rounds.iter().enumerate() {
        assert!(
            r.lost.is_empty(),
            "round {i}: SYNC_FLUSH lost {} of {} acknowledged messages:\n{}",
            r.lost.len(),
            r.acked,
            describe(&r.lost)
        );
    }
    verify_after_clean_stop(&mut rig);
}

/// flushIntervalCommitLog is 500 ms; the flush itself and scheduling on a loaded machine
/// add to it (seen here: nothing older than about 470 ms was lost). Rounds send for
/// longer than this, so a broker flushing too rarely shows.
const ASYNC_LOSS_BOUND: Duration = Duration::from_millis(1500);

#[test]
fn async_flush_loses_at_most_the_last_flush_interval() {
    let (rounds, mut rig) = power_cut_rounds("ASYNC_FLUSH");
    summary("ASYNC_FLUSH", &rounds);
    check_rounds_ran(&rounds);
    for (i, r) in rounds.iter().enumerate() {
        let too_old: Vec<(Ack, Duration)> = r
            .lost
            .iter()
            .filter(|(_, age)| *age > ASYNC_LOSS_BOUND)
            .cloned()
            .collect();
        assert!(
            too_old.is_empty(),
            "round {i}: ASYNC_FLUSH lost messages acknowledged more than {ASYNC_LOSS_BOUND:?} \
             before the cut:\n{}",
            describe(&too_old)
        );
    }
    // The rig is honest: with sends in flight, a cut does take the unflushed tail (kill -9
    // alone would lose nothing).
    let lost: usize = rounds.iter().map(|r| r.lost.len()).sum();
    assert!(
        lost > 0,
        "no round lost anything: the power cut did not cut"
    );
    verify_after_clean_stop(&mut rig);
}

/// Timer messages (SYNC_FLUSH) across power cuts taken while some are being delivered
/// and others parked: the cut takes whatever of the timer log, wheel and checkpoint was
/// not yet synced, and still every acknowledged timer message comes once due (a few
/// twice: the slot delivered since the last checkpoint, counted).
#[test]
fn sync_flush_timer_messages_survive_power_cuts() {
    let mut disk = Disk::new();
    let fs = Some(disk.power_on());
    let store = disk.mnt().join("store");
    let mut conf = broker_conf("SYNC_FLUSH");
    // Timer-log files of 78 units: rounds roll them over.
    conf.push("mappedFileSizeTimerLog=4096".into());
    let conf: Vec<&str> = conf.iter().map(String::as_str).collect();
    let rmqd = Rmqd::start_with_store(&store, &conf);
    let topic = "PowerTimer";
    create_topic(&rmqd.broker(), topic, 2);
    let mut rig = Rig { rmqd, fs, disk };
    let mut due: HashMap<String, i64> = HashMap::new();
    for round in 0..3 {
        let mut c = wire::Conn::connect(&rig.rmqd.broker());
        let mut send = |c: &mut wire::Conn, id: String, t: i64, q: i32| {
            let props =
                wire::properties(&[("UNIQ_KEY", &id), ("TIMER_DELIVER_MS", &t.to_string())]);
            let f = wire::send(c, "P", topic, q, 0, &props, id.as_bytes());
            assert_eq!(f.code, 0, "{id}: {}", f.remark);
            due.insert(id, t);
        };
        let start = wire::now_ms();
        for i in 0..100i64 {
            let t = start + 500 + (i * 31) % 3500;
            send(&mut c, format!("R{round}-{i:03}"), t, (i % 2) as i32);
        }
        std::thread::sleep(Duration::from_millis(1500 + 300 * round as u64));
        // A burst acknowledged (synced) right before the cut: parked, but the timer log
        // and wheel writes for it not synced yet.
        let now = wire::now_ms();
        for i in 100..150i64 {
            let t = now + 1000 + (i % 7) * 200;
            send(&mut c, format!("R{round}-{i:03}"), t, (i % 2) as i32);
        }
        std::thread::sleep(Duration::from_millis(50));
        drop(c);
        rig.rmqd.kill9();
        let stats = rig.fs.take().expect("mounted").cut();
        eprintln!("timer round {round}: cut, powerfs {stats}");
        rig.fs = Some(rig.disk.power_on());
        rig.rmqd.restart();
    }
    let last = due.values().copied().max().unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut c = wire::Conn::connect(&rig.rmqd.broker());
    let counts = loop {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for q in 0..2 {
            for m in wire::pull_all(&mut c, "PowerTimerCheck", topic, q, 0) {
                *counts.entry(m.body_str()).or_default() += 1;
            }
        }
        if counts.len() >= due.len() && wire::now_ms() > last + 2000 {
            break counts;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} timer messages delivered; log:\n{}",
            counts.len(),
            due.len(),
            rig.rmqd.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let lost: Vec<&String> = due.keys().filter(|k| !counts.contains_key(*k)).collect();
    let twice = counts.values().filter(|n| **n > 1).count();
    eprintln!(
        "timer messages over 3 power cuts: {} sent, {} lost, {twice} delivered twice",
        due.len(),
        lost.len()
    );
    for l in rig
        .rmqd
        .log()
        .lines()
        .filter(|l| l.contains("timer wheel recovered") || l.contains("timer log:"))
    {
        eprintln!("{l}");
    }
    assert!(lost.is_empty(), "lost: {lost:?}");
    verify_after_clean_stop(&mut rig);
}
