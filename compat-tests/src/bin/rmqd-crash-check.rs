//! Crash checker: producers and consumers run against a real `rmqd standalone` while it is
//! killed with SIGKILL at random moments and restarted on the same store. At the end every
//! acknowledged send must be readable from its queue at the offset it was acknowledged
//! with, each producer's messages must keep their order within a queue, QUERY_MESSAGE must
//! find every acknowledged key through the IndexFile, and `rmqd store verify` must pass
//! after a clean stop.
//!
//! rmqd-crash-check [--flush ASYNC_FLUSH|SYNC_FLUSH] [--kills 20] [--seed 1] [--dir DIR]
//!     [--producers 4] [--queues 4] [--size 256] [--rate 400] [--min-gap-ms 1000]
//!     [--max-gap-ms 8000] [--tail-ms 1000] [--commitlog-file-size 262144]
//!     [--cq-file-size 60000] [--max-hash-slot-num 1000] [--max-index-num 8000]
//!     [--rmqd PATH] [--keep]
//!
//! The defaults are chosen so that kills land while an index file has been filling for
//! longer than crash recovery looks back (the checkpoint time less 3 s, rounded down to a
//! CommitLog file): --rate paces the sends (0: full speed) so an index file
//! (--max-index-num / 2 messages) takes about 10 s to fill, and small CommitLog files keep
//! recovery's look-back close to that margin.
//!
//! The store lives in DIR/store (DIR defaults to a fresh temporary directory, removed on
//! success unless --keep). Prints one summary line of `key=value` figures on stdout;
//! progress and problem details go to stderr. Exits 1 on any loss, order violation, index
//! miss or other damage, 2 when the run itself could not be carried out.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOPIC: &str = "CrashCheck";
const GROUP: &str = "crash-check";

/// Seeded randomness for the kill moments, so a run that finds something can be repeated.
mod rng {
    /// SplitMix64: tiny, and good enough for picking delays.
    pub struct SplitMix(u64);

    impl SplitMix {
        pub fn new(seed: u64) -> Self {
            SplitMix(seed)
        }

        pub fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        /// Uniform in `lo..=hi` (modulo bias is irrelevant here).
        pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
            if hi <= lo {
                return lo;
            }
            lo + self.next_u64() % (hi - lo + 1)
        }
    }
}

mod args {
    use std::path::PathBuf;

    pub struct Args {
        pub rmqd: PathBuf,
        pub dir: Option<PathBuf>,
        pub keep: bool,
        pub flush: String,
        pub kills: u32,
        pub seed: u64,
        pub producers: u32,
        pub queues: i32,
        pub size: usize,
        /// Sends per second over all producers; 0: as fast as acks come.
        pub rate: f64,
        pub min_gap_ms: u64,
        pub max_gap_ms: u64,
        pub tail_ms: u64,
        pub commitlog_file_size: u64,
        pub cq_file_size: u64,
        pub max_hash_slot_num: u32,
        pub max_index_num: u32,
    }

    fn num<T: std::str::FromStr>(flag: &str, v: String) -> Result<T, String>
    where
        T::Err: std::fmt::Display,
    {
        v.parse().map_err(|e| format!("{flag} {v}: {e}"))
    }

    pub fn parse(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
        let mut a = Args {
            rmqd: rmqd_compat_tests::rmqd_bin(),
            dir: None,
            keep: false,
            flush: "ASYNC_FLUSH".into(),
            kills: 20,
            seed: 1,
            producers: 4,
            queues: 4,
            size: 256,
            rate: 400.0,
            min_gap_ms: 1000,
            max_gap_ms: 8000,
            tail_ms: 1000,
            commitlog_file_size: 262_144,
            cq_file_size: 60_000,
            max_hash_slot_num: 1000,
            max_index_num: 8000,
        };
        while let Some(flag) = it.next() {
            if flag == "--keep" {
                a.keep = true;
                continue;
            }
            let v = it.next().ok_or(format!("{flag} needs a value"))?;
            match flag.as_str() {
                "--rmqd" => a.rmqd = PathBuf::from(v),
                "--dir" => a.dir = Some(PathBuf::from(v)),
                "--flush" => a.flush = v,
                "--kills" => a.kills = num(&flag, v)?,
                "--seed" => a.seed = num(&flag, v)?,
                "--producers" => a.producers = num(&flag, v)?,
                "--queues" => a.queues = num(&flag, v)?,
                "--size" => a.size = num(&flag, v)?,
                "--rate" => a.rate = num(&flag, v)?,
                "--min-gap-ms" => a.min_gap_ms = num(&flag, v)?,
                "--max-gap-ms" => a.max_gap_ms = num(&flag, v)?,
                "--tail-ms" => a.tail_ms = num(&flag, v)?,
                "--commitlog-file-size" => a.commitlog_file_size = num(&flag, v)?,
                "--cq-file-size" => a.cq_file_size = num(&flag, v)?,
                "--max-hash-slot-num" => a.max_hash_slot_num = num(&flag, v)?,
                "--max-index-num" => a.max_index_num = num(&flag, v)?,
                other => return Err(format!("unknown option {other}")),
            }
        }
        if a.flush != "ASYNC_FLUSH" && a.flush != "SYNC_FLUSH" {
            return Err(format!("--flush {}: ASYNC_FLUSH or SYNC_FLUSH", a.flush));
        }
        if a.producers == 0 || !(1..=64).contains(&a.queues) {
            return Err("--producers must be > 0 and --queues within 1..=64".into());
        }
        if !(a.rate >= 0.0 && a.rate.is_finite()) {
            return Err("--rate must be a number >= 0".into());
        }
        if a.cq_file_size == 0 || !a.cq_file_size.is_multiple_of(20) {
            return Err("--cq-file-size must be a positive multiple of 20 (one unit)".into());
        }
        Ok(a)
    }
}

/// What a message carries, so that a record read back names its producer and sequence.
mod ident {
    /// The KEYS property of message `seq` of producer `p`: what QUERY_MESSAGE looks up.
    pub fn key(p: u32, seq: u64) -> String {
        format!("crash-{p}-{seq}")
    }

    pub fn uniq_key(p: u32, seq: u64) -> String {
        format!("C0DE{p:08X}{seq:020X}")
    }

    /// `p:seq:` padded to `size` bytes.
    pub fn body(p: u32, seq: u64, size: usize) -> Vec<u8> {
        let mut b = format!("{p}:{seq}:").into_bytes();
        if b.len() < size {
            b.resize(size, b'x');
        }
        b
    }

    pub fn parse_body(body: &[u8]) -> Option<(u32, u64)> {
        let text = std::str::from_utf8(body).ok()?;
        let mut parts = text.splitn(3, ':');
        let p = parts.next()?.parse().ok()?;
        let seq = parts.next()?.parse().ok()?;
        Some((p, seq))
    }

    pub fn queue_of(p: u32, seq: u64, queues: i32) -> i32 {
        ((u64::from(p) + seq) % queues.max(1) as u64) as i32
    }
}

/// One connection to the broker that reconnects on the next request after any failure.
mod link {
    use std::sync::Arc;
    use std::time::Duration;

    use rmqd_remoting::transport::client::{connect, RejectRequests};
    use rmqd_remoting::{CancellationToken, ConnectionHandle, InvokeError, RemotingCommand};

    pub struct Link {
        addr: String,
        conn: Option<ConnectionHandle>,
    }

    impl Link {
        pub fn new(addr: &str) -> Link {
            Link {
                addr: addr.to_string(),
                conn: None,
            }
        }

        pub async fn invoke(
            &mut self,
            req: RemotingCommand,
            timeout: Duration,
        ) -> Result<RemotingCommand, InvokeError> {
            let conn = match self.conn.as_ref().filter(|c| !c.is_closed()) {
                Some(c) => c.clone(),
                None => {
                    let c = connect(
                        &self.addr,
                        Arc::new(RejectRequests),
                        Duration::from_secs(1),
                        CancellationToken::new(),
                    )
                    .await?;
                    self.conn = Some(c.clone());
                    c
                }
            };
            let r = conn.invoke(req, timeout).await;
            if r.is_err() {
                conn.close();
                self.conn = None;
            }
            r
        }

        pub fn close(&mut self) {
            if let Some(c) = self.conn.take() {
                c.close();
            }
        }
    }
}

/// The rmqd process: its config, start, SIGKILL, clean stop and the offline verify.
mod process {
    use std::net::TcpListener;
    use std::path::{Path, PathBuf};
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    use rmqd_remoting::codes::request;
    use rmqd_remoting::headers::broker::TopicQueueHeader;
    use rmqd_remoting::RemotingCommand;
    use tokio::process::{Child, Command};

    use crate::args::Args;
    use crate::link::Link;

    pub struct Broker {
        bin: PathBuf,
        dir: PathBuf,
        conf: PathBuf,
        namesrv_port: u16,
        port: u16,
        child: Option<Child>,
    }

    fn free_port() -> Result<u16, String> {
        TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| format!("no free port: {e}"))
    }

    /// A free port whose VIP channel (port - 2) and HA port (port + 1) are free too.
    fn free_broker_port() -> Result<u16, String> {
        for _ in 0..100 {
            let p = free_port()?;
            if p > 1026
                && p < u16::MAX
                && TcpListener::bind(("127.0.0.1", p - 2)).is_ok()
                && TcpListener::bind(("127.0.0.1", p + 1)).is_ok()
            {
                return Ok(p);
            }
        }
        Err("no free broker port with free VIP and HA ports".into())
    }

    impl Broker {
        /// Writes DIR/broker.conf; nothing runs yet.
        pub fn new(args: &Args, dir: &Path) -> Result<Broker, String> {
            let namesrv_port = free_port()?;
            let port = free_broker_port()?;
            let conf = dir.join("broker.conf");
            let text = format!(
                "brokerClusterName=DefaultCluster\nbrokerName=crash-check\nbrokerIP1=127.0.0.1\n\
                 listenPort={port}\nnamesrvAddr=127.0.0.1:{namesrv_port}\nstorePathRootDir={}\n\
                 flushDiskType={}\nmappedFileSizeCommitLog={}\nmappedFileSizeConsumeQueue={}\n\
                 maxHashSlotNum={}\nmaxIndexNum={}\n",
                dir.join("store").display(),
                args.flush,
                args.commitlog_file_size,
                args.cq_file_size,
                args.max_hash_slot_num,
                args.max_index_num,
            );
            std::fs::write(&conf, text).map_err(|e| format!("write {}: {e}", conf.display()))?;
            Ok(Broker {
                bin: args.rmqd.clone(),
                dir: dir.to_path_buf(),
                conf,
                namesrv_port,
                port,
                child: None,
            })
        }

        pub fn addr(&self) -> String {
            format!("127.0.0.1:{}", self.port)
        }

        pub fn store_dir(&self) -> PathBuf {
            self.dir.join("store")
        }

        pub fn log_path(&self) -> PathBuf {
            self.dir.join("rmqd.log")
        }

        pub fn spawn(&mut self) -> Result<(), String> {
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.log_path())
                .map_err(|e| format!("open {}: {e}", self.log_path().display()))?;
            let child = Command::new(&self.bin)
                .arg("standalone")
                .arg("-c")
                .arg(&self.conf)
                .arg("--namesrv-listen")
                .arg(format!("127.0.0.1:{}", self.namesrv_port))
                .env("HOME", &self.dir)
                .env("RMQD_LOG", "info")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| format!("cannot start {}: {e}", self.bin.display()))?;
            self.child = Some(child);
            Ok(())
        }

        /// Waits until the broker answers a request (any answer), or fails when the
        /// process exits or `limit` passes.
        pub async fn wait_answering(&mut self, limit: Duration) -> Result<(), String> {
            let deadline = Instant::now() + limit;
            let mut link = Link::new(&self.addr());
            loop {
                if let Some(c) = self.child.as_mut() {
                    if let Ok(Some(status)) = c.try_wait() {
                        return Err(format!(
                            "rmqd exited ({status}) before answering; see {}",
                            self.log_path().display()
                        ));
                    }
                }
                let req = RemotingCommand::request(request::GET_MAX_OFFSET).with_header(
                    &TopicQueueHeader {
                        topic: crate::TOPIC.into(),
                        queue_id: 0,
                    },
                );
                if link.invoke(req, Duration::from_secs(1)).await.is_ok() {
                    link.close();
                    return Ok(());
                }
                if Instant::now() > deadline {
                    return Err(format!(
                        "rmqd did not answer within {limit:?}; see {}",
                        self.log_path().display()
                    ));
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }

        /// SIGKILL; returns once the process is gone, with that moment.
        pub async fn kill9(&mut self) -> Result<Instant, String> {
            let Some(mut c) = self.child.take() else {
                return Err("no rmqd to kill".into());
            };
            if let Ok(Some(status)) = c.try_wait() {
                return Err(format!(
                    "rmqd had exited ({status}) before the kill; see {}",
                    self.log_path().display()
                ));
            }
            c.start_kill().map_err(|e| format!("SIGKILL: {e}"))?;
            c.wait().await.map_err(|e| format!("wait: {e}"))?;
            Ok(Instant::now())
        }

        /// SIGTERM and wait: the shutdown path that flushes and removes the abort file.
        pub async fn stop_clean(&mut self) -> Result<(), String> {
            let Some(mut c) = self.child.take() else {
                return Ok(());
            };
            let Some(pid) = c.id() else {
                return Err("rmqd had exited before the clean stop".into());
            };
            let sent = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .map_err(|e| format!("kill -TERM: {e}"))?;
            if !sent.success() {
                return Err(format!("kill -TERM {pid} failed"));
            }
            match tokio::time::timeout(Duration::from_secs(30), c.wait()).await {
                Ok(Ok(status)) if status.success() => Ok(()),
                Ok(Ok(status)) => Err(format!("rmqd exited {status} on SIGTERM")),
                Ok(Err(e)) => Err(format!("wait: {e}")),
                Err(_) => {
                    let _ = c.start_kill();
                    let _ = c.wait().await;
                    Err("rmqd did not stop within 30 s of SIGTERM".into())
                }
            }
        }

        /// `rmqd store verify -c broker.conf DIR/store`: (passed, its output).
        pub fn verify(&self) -> Result<(bool, String), String> {
            let out = std::process::Command::new(&self.bin)
                .arg("store")
                .arg("verify")
                .arg("-c")
                .arg(&self.conf)
                .arg(self.store_dir())
                .output()
                .map_err(|e| format!("rmqd store verify: {e}"))?;
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            Ok((out.status.success(), text))
        }

        /// How many files a store subdirectory holds.
        pub fn files_in(&self, sub: &str) -> usize {
            std::fs::read_dir(self.store_dir().join(sub))
                .map(|d| d.filter_map(Result::ok).count())
                .unwrap_or(0)
        }
    }
}

/// Broker requests the checker makes, each answering a plain result.
mod requests {
    use std::time::Duration;

    use rmqd_remoting::codes::{request, response};
    use rmqd_remoting::headers::broker::pull_flag;
    use rmqd_remoting::headers::broker::{
        CreateTopicRequestHeader, OffsetResponseHeader, PullMessageRequestHeader,
        PullMessageResponseHeader, QueryMessageRequestHeader, TopicQueueHeader,
    };
    use rmqd_remoting::{InvokeError, RemotingCommand};

    use crate::ident;
    use crate::link::Link;

    const TIMEOUT: Duration = Duration::from_secs(5);

    /// A record read from a queue.
    #[derive(Debug, Clone)]
    pub struct Seen {
        pub queue: i32,
        pub offset: i64,
        /// Producer and sequence, None when the body does not parse.
        pub id: Option<(u32, u64)>,
        pub msg_id: String,
        /// The topic, queue and KEYS agree with what the body says.
        pub consistent: bool,
    }

    pub enum Pull {
        Found { next: i64, seen: Vec<Seen> },
        NotFound,
        Moved { next: i64 },
        Other { code: i32 },
    }

    pub async fn create_topic(link: &mut Link, queues: i32) -> Result<(), String> {
        let header = CreateTopicRequestHeader {
            topic: crate::TOPIC.into(),
            default_topic: "TBW102".into(),
            read_queue_nums: queues,
            write_queue_nums: queues,
            perm: 6,
            topic_filter_type: "SINGLE_TAG".into(),
            topic_sys_flag: Some(0),
            order: false,
        };
        let req = RemotingCommand::request(request::UPDATE_AND_CREATE_TOPIC).with_header(&header);
        match link.invoke(req, TIMEOUT).await {
            Ok(r) if r.code == response::SUCCESS => Ok(()),
            Ok(r) => Err(format!("create topic: code {} {:?}", r.code, r.remark)),
            Err(e) => Err(format!("create topic: {e}")),
        }
    }

    pub async fn max_offset(link: &mut Link, queue: i32) -> Result<i64, String> {
        let req =
            RemotingCommand::request(request::GET_MAX_OFFSET).with_header(&TopicQueueHeader {
                topic: crate::TOPIC.into(),
                queue_id: queue,
            });
        let r = link.invoke(req, TIMEOUT).await.map_err(|e| e.to_string())?;
        if r.code != response::SUCCESS {
            return Err(format!(
                "GET_MAX_OFFSET {queue}: code {} {:?}",
                r.code, r.remark
            ));
        }
        r.decode_header::<OffsetResponseHeader>()
            .map(|h| h.offset)
            .map_err(|e| format!("GET_MAX_OFFSET {queue}: {e}"))
    }

    pub async fn pull(link: &mut Link, queue: i32, offset: i64) -> Result<Pull, InvokeError> {
        let header = PullMessageRequestHeader {
            consumer_group: crate::GROUP.into(),
            topic: crate::TOPIC.into(),
            queue_id: queue,
            queue_offset: offset,
            max_msg_nums: 32,
            sys_flag: pull_flag::SUBSCRIPTION,
            commit_offset: 0,
            suspend_timeout_millis: 0,
            subscription: Some("*".into()),
            sub_version: 0,
            expression_type: Some("TAG".into()),
        };
        let req = RemotingCommand::request(request::PULL_MESSAGE).with_header(&header);
        let r = link.invoke(req, TIMEOUT).await?;
        let next = r
            .decode_header::<PullMessageResponseHeader>()
            .map(|h| h.next_begin_offset)
            .ok();
        Ok(match (r.code, next) {
            (response::SUCCESS, Some(next)) => Pull::Found {
                next,
                seen: decode(&r.body, queue),
            },
            (response::PULL_NOT_FOUND | response::PULL_RETRY_IMMEDIATELY, _) => Pull::NotFound,
            (response::PULL_OFFSET_MOVED, Some(next)) => Pull::Moved { next },
            (code, _) => Pull::Other { code },
        })
    }

    fn decode(body: &[u8], queue: i32) -> Vec<Seen> {
        rmqd_store::record::decode_all(body)
            .into_iter()
            .map(|m| {
                let id = ident::parse_body(m.body);
                let consistent = id.is_some_and(|(p, seq)| {
                    m.topic == crate::TOPIC
                        && m.queue_id == queue
                        && m.property("KEYS") == Some(ident::key(p, seq).as_str())
                });
                Seen {
                    queue,
                    offset: m.queue_offset,
                    id,
                    msg_id: m.offset_msg_id(),
                    consistent,
                }
            })
            .collect()
    }

    /// QUERY_MESSAGE by key: whether a record with that KEYS came back (the index only
    /// compares hashes, so other records may come along).
    pub async fn query_key(link: &mut Link, key: &str) -> Result<bool, String> {
        let header = QueryMessageRequestHeader {
            topic: crate::TOPIC.into(),
            key: key.into(),
            max_num: 32,
            begin_timestamp: 0,
            end_timestamp: i64::MAX,
        };
        let req = RemotingCommand::request(request::QUERY_MESSAGE).with_header(&header);
        let r = link.invoke(req, TIMEOUT).await.map_err(|e| e.to_string())?;
        match r.code {
            response::SUCCESS => Ok(rmqd_store::record::decode_all(&r.body)
                .iter()
                .any(|m| m.property("KEYS") == Some(key))),
            response::QUERY_NOT_FOUND => Ok(false),
            code => Err(format!("QUERY_MESSAGE {key}: code {code} {:?}", r.remark)),
        }
    }
}

/// Producers: synchronous sends, each message retried until acknowledged.
mod produce {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use bytes::Bytes;
    use rmqd_remoting::codes::{request, response};
    use rmqd_remoting::headers::send::{SendMessageRequestHeaderV2, SendMessageResponseHeader};
    use rmqd_remoting::RemotingCommand;

    use crate::ident;
    use crate::link::Link;

    /// A SEND_OK: where the broker said the message went.
    #[derive(Debug, Clone)]
    pub struct Ack {
        pub producer: u32,
        pub seq: u64,
        pub queue: i32,
        pub offset: i64,
        pub msg_id: String,
    }

    #[derive(Default)]
    pub struct Report {
        pub acks: Vec<Ack>,
        pub attempts: u64,
        /// Sends that failed on the connection (the broker died under them).
        pub errors: u64,
        /// Sends answered with something other than SEND_OK.
        pub refused: u64,
        /// Acks whose queue id was not the one asked for.
        pub wrong_queue: u64,
    }

    pub struct Producer {
        pub id: u32,
        pub addr: String,
        pub queues: i32,
        pub size: usize,
        /// Time between this producer's first attempts at successive messages (zero:
        /// none). Paced sends keep an index file filling for seconds, the window in which
        /// a kill must not lose its keys.
        pub period: Duration,
        pub stop: Arc<AtomicBool>,
        pub acked: Arc<AtomicU64>,
    }

    impl Producer {
        /// Sends `0, 1, 2, …` until told to stop. A message is resent (same sequence, same
        /// queue) until acknowledged, as a client retries: a send whose answer was lost
        /// in a kill may be stored twice, which the checker counts as a duplicate.
        pub async fn run(self) -> Report {
            let mut link = Link::new(&self.addr);
            let mut report = Report::default();
            let mut seq: u64 = 0;
            let mut due = Instant::now();
            let mut paced_seq = None;
            while !self.stop.load(Ordering::Relaxed) {
                if !self.period.is_zero() && paced_seq != Some(seq) {
                    paced_seq = Some(seq);
                    // After a long outage start afresh instead of sending a burst.
                    due += self.period;
                    if let Some(floor) = Instant::now().checked_sub(Duration::from_secs(1)) {
                        due = due.max(floor);
                    }
                    tokio::time::sleep_until(due.into()).await;
                }
                let queue = ident::queue_of(self.id, seq, self.queues);
                report.attempts += 1;
                match link
                    .invoke(self.request(seq, queue), Duration::from_secs(10))
                    .await
                {
                    Ok(r) if r.code == response::SUCCESS => {
                        match r.decode_header::<SendMessageResponseHeader>() {
                            Ok(h) => {
                                if h.queue_id != queue {
                                    report.wrong_queue += 1;
                                }
                                report.acks.push(Ack {
                                    producer: self.id,
                                    seq,
                                    queue: h.queue_id,
                                    offset: h.queue_offset,
                                    msg_id: h.msg_id,
                                });
                                self.acked.fetch_add(1, Ordering::Relaxed);
                                seq += 1;
                            }
                            Err(e) => {
                                eprintln!("rmqd-crash-check: SEND_OK without header: {e}");
                                report.refused += 1;
                            }
                        }
                    }
                    Ok(r) => {
                        if report.refused == 0 {
                            eprintln!(
                                "rmqd-crash-check: producer {}: send answered {} {:?}",
                                self.id, r.code, r.remark
                            );
                        }
                        report.refused += 1;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Err(_) => {
                        report.errors += 1;
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            link.close();
            report
        }

        fn request(&self, seq: u64, queue: i32) -> RemotingCommand {
            let props = format!(
                "KEYS\u{1}{}\u{2}UNIQ_KEY\u{1}{}\u{2}WAIT\u{1}true\u{2}",
                ident::key(self.id, seq),
                ident::uniq_key(self.id, seq)
            );
            let header = SendMessageRequestHeaderV2 {
                a: crate::GROUP.into(),
                b: crate::TOPIC.into(),
                c: "TBW102".into(),
                d: 4,
                e: queue,
                f: 0,
                g: rmqd_compat_tests::wire::now_ms(),
                h: 0,
                i: Some(props),
                j: Some(0),
                k: false,
                l: None,
                m: false,
                n: None,
            };
            RemotingCommand::request(request::SEND_MESSAGE_V2)
                .with_header(&header)
                .with_body(Bytes::from(ident::body(self.id, seq, self.size)))
        }
    }
}

/// Consumers: one follows each queue during the run; the final read takes every queue
/// from offset 0 to its max.
mod consume {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use crate::link::Link;
    use crate::requests::{self, Pull, Seen};

    #[derive(Default)]
    pub struct Live {
        pub seen: Vec<Seen>,
        /// PULL_OFFSET_MOVED answers: the queue ended before an offset already read.
        pub moved: u64,
    }

    /// Reads `queue` as it grows until `stop`.
    pub async fn follow(addr: String, queue: i32, stop: Arc<AtomicBool>) -> Live {
        let mut link = Link::new(&addr);
        let mut live = Live::default();
        let mut offset = 0;
        while !stop.load(Ordering::Relaxed) {
            match requests::pull(&mut link, queue, offset).await {
                Ok(Pull::Found { next, seen }) => {
                    live.seen.extend(seen);
                    offset = next.max(offset);
                }
                Ok(Pull::Moved { next }) => {
                    live.moved += 1;
                    offset = next;
                }
                Ok(Pull::NotFound) | Ok(Pull::Other { .. }) | Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
        link.close();
        live
    }

    /// Everything in `queue` from 0 to `max`; offsets that cannot be read are returned as
    /// the second value.
    pub async fn read_all(addr: &str, queue: i32, max: i64) -> (Vec<Seen>, i64) {
        let mut link = Link::new(addr);
        let mut out = Vec::new();
        let mut offset = 0;
        let mut stuck_since: Option<Instant> = None;
        while offset < max {
            match requests::pull(&mut link, queue, offset).await {
                Ok(Pull::Found { next, seen }) if next > offset => {
                    out.extend(seen);
                    offset = next;
                    stuck_since = None;
                }
                other => {
                    let since = *stuck_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > Duration::from_secs(5) {
                        let what = match other {
                            Ok(Pull::Moved { next }) => format!("offset moved to {next}"),
                            Ok(Pull::Other { code }) => format!("code {code}"),
                            Ok(_) => "nothing".into(),
                            Err(e) => e.to_string(),
                        };
                        eprintln!(
                            "rmqd-crash-check: queue {queue}: cannot read offsets {offset}..{max}: {what}"
                        );
                        link.close();
                        return (out, max - offset);
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
        link.close();
        (out, 0)
    }
}

/// The figures, from what was acknowledged and what was read.
mod verdict {
    use std::collections::HashMap;

    use crate::produce::Ack;
    use crate::requests::Seen;

    #[derive(Debug, Default)]
    pub struct Figures {
        pub lost: u64,
        pub duplicates: u64,
        pub order_violations: u64,
        /// Acked messages not at the queue offset / msgId the ack named.
        pub ack_mismatches: u64,
        /// Offsets a live consumer read that later held something else or nothing.
        pub rewritten: u64,
        /// Records whose body, topic, queue or KEYS do not agree.
        pub corrupt: u64,
        /// Stored messages that were never acknowledged (sends cut by a kill).
        pub unacked_stored: u64,
    }

    impl Figures {
        pub fn failed(&self) -> bool {
            self.lost + self.order_violations + self.ack_mismatches + self.rewritten + self.corrupt
                > 0
        }
    }

    fn note(count: &mut u64, what: std::fmt::Arguments<'_>) {
        if *count < 10 {
            eprintln!("rmqd-crash-check: {what}");
        }
        *count += 1;
    }

    pub fn judge(acks: &[Ack], fin: &[Seen], live: &[Seen]) -> Figures {
        let mut f = Figures::default();
        let mut at: HashMap<(i32, i64), &Seen> = HashMap::new();
        let mut copies: HashMap<(u32, u64), u64> = HashMap::new();
        for s in fin {
            at.insert((s.queue, s.offset), s);
            if !s.consistent {
                note(
                    &mut f.corrupt,
                    format_args!("corrupt record at {}/{}: {:?}", s.queue, s.offset, s.id),
                );
            }
            if let Some(id) = s.id {
                *copies.entry(id).or_default() += 1;
            }
        }
        f.duplicates = copies.values().map(|n| n.saturating_sub(1)).sum();
        let mut acked: HashMap<(u32, u64), &Ack> = HashMap::new();
        for a in acks {
            acked.insert((a.producer, a.seq), a);
            if !copies.contains_key(&(a.producer, a.seq)) {
                note(
                    &mut f.lost,
                    format_args!(
                        "lost: producer {} seq {} acked at {}/{} ({})",
                        a.producer, a.seq, a.queue, a.offset, a.msg_id
                    ),
                );
                continue;
            }
            let here = at.get(&(a.queue, a.offset));
            let same =
                here.is_some_and(|s| s.id == Some((a.producer, a.seq)) && s.msg_id == a.msg_id);
            if !same {
                note(
                    &mut f.ack_mismatches,
                    format_args!(
                        "producer {} seq {} acked at {}/{} ({}) but that offset holds {:?}",
                        a.producer,
                        a.seq,
                        a.queue,
                        a.offset,
                        a.msg_id,
                        here.map(|s| (s.id, &s.msg_id))
                    ),
                );
            }
        }
        f.unacked_stored = copies.keys().filter(|id| !acked.contains_key(id)).count() as u64;
        f.order_violations = order_violations(fin, acks);
        for s in live {
            let now = at.get(&(s.queue, s.offset));
            if !matches!(now, Some(n) if n.id == s.id && n.msg_id == s.msg_id) {
                note(
                    &mut f.rewritten,
                    format_args!(
                        "{}/{} read as {:?} during the run, now {:?}",
                        s.queue,
                        s.offset,
                        s.id,
                        now.map(|n| n.id)
                    ),
                );
            }
        }
        f
    }

    /// Within a queue a producer's messages must come in sequence: it sends the next only
    /// after the previous was acked, so a smaller sequence after a larger one (in read
    /// order, or in the offsets the acks named) is an order violation.
    fn order_violations(fin: &[Seen], acks: &[Ack]) -> u64 {
        let mut n = 0;
        let mut read: Vec<&Seen> = fin.iter().collect();
        read.sort_by_key(|s| (s.queue, s.offset));
        let mut highest: HashMap<(i32, u32), u64> = HashMap::new();
        for s in read {
            if let Some((p, seq)) = s.id {
                let h = highest.entry((s.queue, p)).or_insert(seq);
                if seq < *h {
                    note(
                        &mut n,
                        format_args!(
                            "order: producer {p} seq {seq} at {}/{} after seq {}",
                            s.queue, s.offset, *h
                        ),
                    );
                }
                *h = (*h).max(seq);
            }
        }
        let mut by_seq: Vec<&Ack> = acks.iter().collect();
        by_seq.sort_by_key(|a| (a.queue, a.producer, a.seq));
        for w in by_seq.windows(2) {
            if let [a, b] = w {
                if a.queue == b.queue && a.producer == b.producer && b.offset <= a.offset {
                    note(
                        &mut n,
                        format_args!(
                            "order: producer {} seq {} acked at {}/{}, seq {} at {}",
                            a.producer, a.seq, a.queue, a.offset, b.seq, b.offset
                        ),
                    );
                }
            }
        }
        n
    }
}

struct Outcome {
    summary: String,
    failed: bool,
}

fn main() -> ExitCode {
    let args = match args::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("rmqd-crash-check: {e}");
            return ExitCode::from(2);
        }
    };
    let (dir, temp) = match &args.dir {
        Some(d) => (d.clone(), None),
        None => match tempfile::Builder::new().prefix("rmqd-crash-").tempdir() {
            Ok(t) => (t.path().to_path_buf(), Some(t)),
            Err(e) => {
                eprintln!("rmqd-crash-check: tempdir: {e}");
                return ExitCode::from(2);
            }
        },
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rmqd-crash-check: tokio runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = rt.block_on(run(&args, &dir));
    let code = match result {
        Ok(o) => {
            println!("{}", o.summary);
            if o.failed {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("rmqd-crash-check: {e}");
            ExitCode::from(2)
        }
    };
    if let Some(t) = temp {
        if args.keep || code != ExitCode::SUCCESS {
            eprintln!(
                "rmqd-crash-check: store and log kept in {}",
                t.keep().display()
            );
        }
    }
    code
}

fn fresh_dir(dir: &std::path::Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let store = dir.join("store");
    let used = std::fs::read_dir(&store).is_ok_and(|mut d| d.next().is_some());
    if used {
        return Err(format!(
            "{} is not empty: the checker needs a fresh store",
            store.display()
        ));
    }
    Ok(())
}

async fn run(args: &args::Args, dir: &std::path::Path) -> Result<Outcome, String> {
    fresh_dir(dir)?;
    let mut broker = process::Broker::new(args, dir)?;
    broker.spawn()?;
    broker.wait_answering(Duration::from_secs(30)).await?;
    let addr = broker.addr();
    requests::create_topic(&mut link::Link::new(&addr), args.queues).await?;

    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let producers: Vec<_> = (0..args.producers)
        .map(|id| {
            tokio::spawn(
                produce::Producer {
                    id,
                    addr: addr.clone(),
                    queues: args.queues,
                    size: args.size,
                    period: if args.rate > 0.0 {
                        Duration::from_secs_f64(f64::from(args.producers) / args.rate)
                    } else {
                        Duration::ZERO
                    },
                    stop: stop.clone(),
                    acked: acked.clone(),
                }
                .run(),
            )
        })
        .collect();
    let followers: Vec<_> = (0..args.queues)
        .map(|q| tokio::spawn(consume::follow(addr.clone(), q, stop.clone())))
        .collect();

    let kills = kill_loop(args, &mut broker, &acked).await;
    tokio::time::sleep(Duration::from_millis(args.tail_ms)).await;
    stop.store(true, Ordering::Relaxed);
    let mut acks = Vec::new();
    let (mut attempts, mut errors, mut refused, mut wrong_queue) = (0, 0, 0, 0);
    for p in producers {
        let r = p.await.map_err(|e| format!("producer task: {e}"))?;
        acks.extend(r.acks);
        attempts += r.attempts;
        errors += r.errors;
        refused += r.refused;
        wrong_queue += r.wrong_queue;
    }
    let mut live = Vec::new();
    let mut moved = 0;
    for f in followers {
        let l = f.await.map_err(|e| format!("consumer task: {e}"))?;
        live.extend(l.seen);
        moved += l.moved;
    }
    let kills = kills?;

    let maxes = wait_dispatched(&addr, args.queues, &acks).await?;
    let mut fin = Vec::new();
    let mut unread = 0;
    for (q, max) in maxes.iter().enumerate() {
        let (seen, missing) = consume::read_all(&addr, q as i32, *max).await;
        fin.extend(seen);
        unread += missing;
    }
    let figures = verdict::judge(&acks, &fin, &live);
    let index_misses = index_misses(&addr, &acks).await?;

    let stopped = broker.stop_clean().await;
    if let Err(e) = &stopped {
        eprintln!("rmqd-crash-check: clean stop: {e}");
    }
    let (verified, report) = broker.verify()?;
    if !verified {
        eprintln!(
            "rmqd-crash-check: rmqd store verify failed:\n{}",
            head_and_tail(&report)
        );
    }

    let rec_ms: Vec<f64> = kills
        .recoveries
        .iter()
        .map(|d| d.as_secs_f64() * 1000.0)
        .collect();
    let rec_max = rec_ms.iter().cloned().fold(0.0, f64::max);
    let rec_avg = if rec_ms.is_empty() {
        0.0
    } else {
        rec_ms.iter().sum::<f64>() / rec_ms.len() as f64
    };
    let nothing_acked = acks.is_empty();
    if nothing_acked {
        eprintln!("rmqd-crash-check: no send was acknowledged: nothing was checked");
    }
    let failed = figures.failed()
        || index_misses > 0
        || unread > 0
        || wrong_queue > 0
        || stopped.is_err()
        || !verified
        || nothing_acked;
    let summary = format!(
        "crash-check flush={} seed={} kills={} kills_under_load={} producers={} queues={} \
         acked={} attempts={} send_errors={} send_refused={} lost={} duplicates={} \
         unacked_stored={} order_violations={} ack_mismatches={} rewritten={} corrupt={} \
         unread={} wrong_queue={} offset_moved={} live_read={} index_checked={} \
         index_misses={} commitlog_files={} index_files={} recovery_max_ms={:.0} \
         recovery_avg_ms={:.0} clean_stop={} verify={} result={}",
        args.flush,
        args.seed,
        kills.recoveries.len(),
        kills.under_load,
        args.producers,
        args.queues,
        acks.len(),
        attempts,
        errors,
        refused,
        figures.lost,
        figures.duplicates,
        figures.unacked_stored,
        figures.order_violations,
        figures.ack_mismatches,
        figures.rewritten,
        figures.corrupt,
        unread,
        wrong_queue,
        moved,
        live.len(),
        acks.len(),
        index_misses,
        broker.files_in("commitlog"),
        broker.files_in("index"),
        rec_max,
        rec_avg,
        if stopped.is_ok() { "OK" } else { "FAIL" },
        if verified { "OK" } else { "FAIL" },
        if failed { "FAIL" } else { "PASS" },
    );
    Ok(Outcome { summary, failed })
}

/// A long report cut to its first lines and its last.
fn head_and_tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() <= 25 {
        return text.to_string();
    }
    let mut out = lines[..20].join("\n");
    out.push_str(&format!("\n… {} lines …\n", lines.len() - 21));
    out.push_str(lines[lines.len() - 1]);
    out
}

struct Kills {
    /// Kill → broker answering again, per kill.
    recoveries: Vec<Duration>,
    /// Kills that came while sends were being acknowledged.
    under_load: u32,
}

async fn kill_loop(
    args: &args::Args,
    broker: &mut process::Broker,
    acked: &AtomicU64,
) -> Result<Kills, String> {
    let mut rng = rng::SplitMix::new(args.seed);
    let mut kills = Kills {
        recoveries: Vec::new(),
        under_load: 0,
    };
    for k in 0..args.kills {
        let before = acked.load(Ordering::Relaxed);
        let gap = rng.range(args.min_gap_ms, args.max_gap_ms);
        tokio::time::sleep(Duration::from_millis(gap)).await;
        if acked.load(Ordering::Relaxed) > before {
            kills.under_load += 1;
        }
        let killed = broker.kill9().await?;
        broker.spawn()?;
        broker.wait_answering(Duration::from_secs(60)).await?;
        let took = killed.elapsed();
        kills.recoveries.push(took);
        eprintln!(
            "rmqd-crash-check: kill {}/{} after {gap} ms: back in {} ms, {} acked so far",
            k + 1,
            args.kills,
            took.as_millis(),
            acked.load(Ordering::Relaxed)
        );
    }
    Ok(kills)
}

/// Waits (bounded) until every queue holds at least up to its highest acked offset:
/// dispatch to the consume queues trails the appends. Returns each queue's max offset.
async fn wait_dispatched(
    addr: &str,
    queues: i32,
    acks: &[produce::Ack],
) -> Result<Vec<i64>, String> {
    let mut want = vec![0i64; queues as usize];
    for a in acks {
        if let Some(w) = want.get_mut(a.queue as usize) {
            *w = (*w).max(a.offset + 1);
        }
    }
    let mut link = link::Link::new(addr);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let mut maxes = Vec::with_capacity(want.len());
        for q in 0..queues {
            maxes.push(requests::max_offset(&mut link, q).await?);
        }
        let behind = maxes.iter().zip(&want).any(|(m, w)| m < w);
        if !behind || Instant::now() > deadline {
            link.close();
            return Ok(maxes);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Asks QUERY_MESSAGE for every key with a few connections; keys not found are asked
/// again after a pause (the index trails the appends) before they count as misses.
async fn index_misses(addr: &str, acks: &[produce::Ack]) -> Result<u64, String> {
    const WORKERS: usize = 4;
    let mut missing: Vec<(u32, u64)> = acks.iter().map(|a| (a.producer, a.seq)).collect();
    for round in 0..2 {
        if round > 0 {
            if missing.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        let chunk = missing.len().div_ceil(WORKERS).max(1);
        let mut tasks = Vec::new();
        for part in missing.chunks(chunk) {
            let part = part.to_vec();
            let addr = addr.to_string();
            tasks.push(tokio::spawn(async move {
                let mut link = link::Link::new(&addr);
                let mut miss = Vec::new();
                for (p, seq) in part {
                    if !requests::query_key(&mut link, &ident::key(p, seq)).await? {
                        miss.push((p, seq));
                    }
                }
                link.close();
                Ok::<_, String>(miss)
            }));
        }
        let mut next = Vec::new();
        for t in tasks {
            next.extend(t.await.map_err(|e| format!("query task: {e}"))??);
        }
        missing = next;
    }
    if !missing.is_empty() {
        eprintln!(
            "rmqd-crash-check: index misses (QUERY_MESSAGE finds no crash-P-SEQ): {}",
            seq_ranges(&mut missing)
        );
    }
    Ok(missing.len() as u64)
}

/// `p0 0..=612 2001..=2400; p1 …`: runs of consecutive sequences per producer.
fn seq_ranges(ids: &mut [(u32, u64)]) -> String {
    ids.sort_unstable();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while let Some(&(p, first)) = ids.get(i) {
        let mut last = first;
        i += 1;
        while ids.get(i) == Some(&(p, last + 1)) {
            last += 1;
            i += 1;
        }
        let run = if first == last {
            format!("{first}")
        } else {
            format!("{first}..={last}")
        };
        match out.last_mut() {
            Some(prev) if prev.starts_with(&format!("p{p} ")) => {
                prev.push(' ');
                prev.push_str(&run);
            }
            _ => out.push(format!("p{p} {run}")),
        }
    }
    out.join("; ")
}
