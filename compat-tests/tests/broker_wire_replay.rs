//! Replays the broker side of the captured Java 4.9.8 client sessions
//! (../shared/fixtures/wire/java-4.9.8) against a real rmqd and checks that every request
//! gets the answer the Java broker gave: the same response code, remark, header encoding
//! and extFields (names, and values apart from ids and timestamps), and bodies with the
//! same content (stored records field by field; JSON bodies as values).
//!
//! The capture's requests are sent as recorded, one connection per captured connection,
//! in capture order. Before each request, the replay waits for rmqd's answers to every
//! request the Java broker had answered by then (and for the broker-initiated
//! CHECK_TRANSACTION_STATE the client was reacting to), so the causal order of the
//! session is kept while time-driven events (delay levels, long-poll timeouts, the
//! transaction checker) happen on rmqd's own clock.
//!
//! Requests that name a Java commit-log offset (VIEW_MESSAGE_BY_ID, CONSUMER_SEND_MSG_BACK,
//! END_TRANSACTION) are rewritten to rmqd's offset of the same message, learnt from the
//! send responses; an END_TRANSACTION answering a check takes its offsets from rmqd's
//! CHECK_TRANSACTION_STATE, as the client would.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rmqd_compat_tests::{fixtures_dir, Rmqd};
use rmqd_remoting::frame::{decode_frame, encode_frame};
use rmqd_remoting::RemotingCommand;
use rmqd_store::record;
use serde_json::Value;

const PULL_MESSAGE: i32 = 11;
const QUERY_MESSAGE: i32 = 12;
const VIEW_MESSAGE_BY_ID: i32 = 33;
const CONSUMER_SEND_MSG_BACK: i32 = 36;
const END_TRANSACTION: i32 = 37;
const CHECK_TRANSACTION_STATE: i32 = 39;
const NOTIFY_CONSUMER_IDS_CHANGED: i32 = 40;
const SEND_MESSAGE_V2: i32 = 310;
const SEND_BATCH_MESSAGE: i32 = 320;
const SUBSCRIPTION_NOT_LATEST: i32 = 25;

/// Response extFields whose values are ids, commit-log positions or timestamps of the
/// run that made them: present in both, values not compared.
const RUN_SPECIFIC: &[&str] = &[
    "msgId",
    "offsetMsgId",
    "transactionId",
    "commitLogOffset",
    "indexLastUpdatePhyoffset",
    "indexLastUpdateTimestamp",
];

/// How long rmqd may take for a time-driven answer (the transaction checker runs every
/// 5 s, a long poll waits up to 15 s).
const WAIT: Duration = Duration::from_secs(25);

struct Captured {
    conn: u64,
    c2s: bool,
    ser: u8,
    raw: Vec<u8>,
    cmd: RemotingCommand,
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

/// The broker-side frames of a capture, rebuilt as the bytes that crossed the wire.
fn load(file: &str) -> Vec<Captured> {
    let path = fixtures_dir().join("wire/java-4.9.8").join(file);
    let text = std::fs::read_to_string(&path).expect("wire fixture");
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("json line"))
        .filter(|v| v["peer"] == "broker")
        .map(|v| {
            let ser = v["serialize_type"].as_u64().expect("serialize_type") as u8;
            let h = v["header_json_or_hex"].as_str().expect("header");
            let header = if ser == 0 {
                h.as_bytes().to_vec()
            } else {
                unhex(h)
            };
            let body = unhex(v["body_hex"].as_str().unwrap_or(""));
            let mut raw = Vec::new();
            raw.extend_from_slice(&((4 + header.len() + body.len()) as u32).to_be_bytes());
            raw.extend_from_slice(&((u32::from(ser) << 24) | header.len() as u32).to_be_bytes());
            raw.extend_from_slice(&header);
            raw.extend_from_slice(&body);
            let cmd = decode_frame(Bytes::copy_from_slice(&raw[4..])).expect("captured frame");
            Captured {
                conn: v["conn"].as_u64().expect("conn"),
                c2s: v["dir"] == "c2s",
                ser,
                raw,
                cmd,
            }
        })
        .collect()
}

/// One replayed connection: requests go out on `stream`; a reader thread hands every
/// frame rmqd sends back to the replay loop.
fn connect(addr: &str, conn: u64, inbox: Sender<(u64, RemotingCommand)>) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect to rmqd");
    let mut reader = stream.try_clone().expect("clone stream");
    std::thread::spawn(move || loop {
        let mut len = [0u8; 4];
        if reader.read_exact(&mut len).is_err() {
            return;
        }
        let mut frame = vec![0u8; u32::from_be_bytes(len) as usize];
        if reader.read_exact(&mut frame).is_err() {
            return;
        }
        let cmd = decode_frame(Bytes::from(frame)).expect("rmqd sent an undecodable frame");
        if inbox.send((conn, cmd)).is_err() {
            return;
        }
    });
    stream
}

#[derive(Default)]
struct Received {
    responses: HashMap<(u64, i32), RemotingCommand>,
    /// Broker-initiated requests per connection, in arrival order.
    requests: HashMap<u64, Vec<RemotingCommand>>,
}

struct Replay<'a> {
    addr: String,
    what: &'a str,
    conns: HashMap<u64, TcpStream>,
    inbox_tx: Sender<(u64, RemotingCommand)>,
    inbox: Receiver<(u64, RemotingCommand)>,
    got: Received,
    /// Java commit-log offset → rmqd's, for the same message.
    phys: HashMap<i64, i64>,
    /// CHECK_TRANSACTION_STATE requests already matched per connection.
    checks_seen: HashMap<u64, usize>,
    /// The last check rmqd sent per connection: the client's answer refers to it.
    last_check: HashMap<u64, RemotingCommand>,
    compared: BTreeMap<i32, usize>,
    /// Pulls answered SUBSCRIPTION_NOT_LATEST by rmqd but not by Java (see `settle`).
    races: usize,
}

impl Drop for Replay<'_> {
    fn drop(&mut self) {
        // The reader threads hold clones of each socket: shut them down so the
        // connections really close and rmqd sees these clients go.
        for s in self.conns.values() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

impl Replay<'_> {
    fn pump(&mut self, until: Instant) -> bool {
        let left = until.saturating_duration_since(Instant::now());
        match self.inbox.recv_timeout(left.max(Duration::from_millis(1))) {
            Ok((conn, cmd)) => {
                if cmd.is_response() {
                    self.got.responses.insert((conn, cmd.opaque), cmd);
                } else {
                    self.got.requests.entry(conn).or_default().push(cmd);
                }
                true
            }
            Err(_) => false,
        }
    }

    fn wait_response(&mut self, conn: u64, opaque: i32, code: i32) -> RemotingCommand {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(r) = self.got.responses.remove(&(conn, opaque)) {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "{}: no answer from rmqd to request {code} opaque {opaque} on connection {conn}",
                self.what
            );
            self.pump(deadline);
        }
    }

    fn wait_check(&mut self, conn: u64) -> RemotingCommand {
        let deadline = Instant::now() + WAIT;
        loop {
            let seen = self.checks_seen.get(&conn).copied().unwrap_or(0);
            let checks: Vec<&RemotingCommand> = self
                .got
                .requests
                .get(&conn)
                .map(|v| {
                    v.iter()
                        .filter(|c| c.code == CHECK_TRANSACTION_STATE)
                        .collect()
                })
                .unwrap_or_default();
            if let Some(c) = checks.get(seen) {
                let c = (*c).clone();
                self.checks_seen.insert(conn, seen + 1);
                return c;
            }
            assert!(
                Instant::now() < deadline,
                "{}: rmqd never sent CHECK_TRANSACTION_STATE on connection {conn}",
                self.what
            );
            self.pump(deadline);
        }
    }

    fn map_offset(&self, java: &str) -> String {
        let j: i64 = java.parse().expect("offset");
        match self.phys.get(&j) {
            Some(ours) => ours.to_string(),
            None => panic!(
                "{}: commit-log offset {j} names no message sent in this replay",
                self.what
            ),
        }
    }

    /// The request as this replay sends it: captured bytes, or re-encoded with rmqd's
    /// commit-log offsets where it names Java's.
    fn outgoing(&self, f: &Captured) -> Vec<u8> {
        let mut cmd = f.cmd.clone();
        let ext = cmd.ext_mut();
        match f.cmd.code {
            VIEW_MESSAGE_BY_ID | CONSUMER_SEND_MSG_BACK => {
                let java = ext.get("offset").expect("offset").to_string();
                ext.insert("offset", self.map_offset(&java));
            }
            END_TRANSACTION if ext.get("fromTransactionCheck") == Some("true") => {
                let check = self
                    .last_check
                    .get(&f.conn)
                    .expect("an END_TRANSACTION from a check follows a check");
                for k in ["commitLogOffset", "tranStateTableOffset", "transactionId"] {
                    if let Some(v) = check.ext(k) {
                        ext.insert(k, v.to_string());
                    }
                }
            }
            END_TRANSACTION => {
                let java = ext
                    .get("commitLogOffset")
                    .expect("commitLogOffset")
                    .to_string();
                ext.insert("commitLogOffset", self.map_offset(&java));
            }
            _ => return f.raw.clone(),
        }
        encode_frame(&cmd)
    }

    fn send(&mut self, f: &Captured) {
        let bytes = self.outgoing(f);
        let addr = self.addr.clone();
        let tx = self.inbox_tx.clone();
        let s = self
            .conns
            .entry(f.conn)
            .or_insert_with(|| connect(&addr, f.conn, tx));
        s.write_all(&bytes).expect("send request to rmqd");
    }

    /// Compares rmqd's answer with the Java broker's; `req` is the captured request.
    fn compare(&mut self, req: &Captured, java: &Captured, ours: &RemotingCommand) {
        let what = format!(
            "{}: request {} opaque {} on connection {}",
            self.what, req.cmd.code, req.cmd.opaque, req.conn
        );
        let j = &java.cmd;
        assert_eq!(
            ours.code, j.code,
            "{what}: response code ({:?})",
            ours.remark
        );
        assert_eq!(ours.remark, j.remark, "{what}: remark");
        // The Java broker answers in JSON, whatever the request's encoding, where it
        // builds the response outside the usual path: a long poll it had parked, and the
        // zero-copy answers to VIEW_MESSAGE_BY_ID and QUERY_MESSAGE. rmqd answers in the
        // request's encoding there too, which every client accepts.
        let java_default_json = java.ser == 0
            && req.ser != 0
            && matches!(
                req.cmd.code,
                PULL_MESSAGE | VIEW_MESSAGE_BY_ID | QUERY_MESSAGE
            );
        if !java_default_json {
            assert_eq!(
                ours.serialize_type.byte(),
                java.ser,
                "{what}: header encoding"
            );
        }
        let theirs: BTreeMap<&str, &str> = j.ext_fields.iter().flat_map(|e| e.iter()).collect();
        let mine: BTreeMap<&str, &str> = ours.ext_fields.iter().flat_map(|e| e.iter()).collect();
        assert_eq!(
            mine.keys().collect::<Vec<_>>(),
            theirs.keys().collect::<Vec<_>>(),
            "{what}: extFields names (rmqd {mine:?}, Java {theirs:?})"
        );
        for (k, v) in &theirs {
            if RUN_SPECIFIC.contains(k) {
                continue;
            }
            assert_eq!(mine.get(k), Some(v), "{what}: extField {k}");
        }
        if matches!(req.cmd.code, SEND_MESSAGE_V2 | SEND_BATCH_MESSAGE) && j.code == 0 {
            let js: Vec<&str> = theirs["msgId"].split(',').collect();
            let os: Vec<&str> = mine["msgId"].split(',').collect();
            assert_eq!(os.len(), js.len(), "{what}: one msgId per message");
            for (jid, oid) in js.iter().zip(&os) {
                let (_, jp) = record::decode_offset_msg_id(jid).expect("Java offsetMsgId");
                let (_, op) = record::decode_offset_msg_id(oid)
                    .unwrap_or_else(|| panic!("{what}: msgId {oid} is not an offsetMsgId"));
                self.phys.insert(jp, op);
            }
        }
        compare_bodies(&what, req.cmd.code, &j.body, &ours.body);
        *self.compared.entry(req.cmd.code).or_default() += 1;
    }
}

fn compare_bodies(what: &str, code: i32, java: &[u8], ours: &[u8]) {
    match code {
        PULL_MESSAGE | QUERY_MESSAGE | VIEW_MESSAGE_BY_ID | CHECK_TRANSACTION_STATE => {
            let j = record::decode_all(java);
            let o = record::decode_all(ours);
            assert_eq!(j.len(), o.len(), "{what}: records in the body");
            for (a, b) in o.iter().zip(&j) {
                assert_eq!(a.topic, b.topic, "{what}: topic");
                assert_eq!(a.queue_id, b.queue_id, "{what}: queue id");
                assert_eq!(a.queue_offset, b.queue_offset, "{what}: queue offset");
                assert_eq!(a.body, b.body, "{what}: body");
                assert_eq!(a.flag, b.flag, "{what}: flag");
                assert_eq!(a.sys_flag, b.sys_flag, "{what}: sysFlag");
                assert_eq!(a.born_timestamp, b.born_timestamp, "{what}: born time");
                assert_eq!(a.reconsume_times, b.reconsume_times, "{what}: reconsume");
                let pa: BTreeMap<_, _> = record::properties(a.properties).into_iter().collect();
                let pb: BTreeMap<_, _> = record::properties(b.properties).into_iter().collect();
                let ids = ["ORIGIN_MESSAGE_ID", "__transactionId__"];
                let strip = |m: &BTreeMap<&str, &str>| -> BTreeMap<String, String> {
                    m.iter()
                        .map(|(k, v)| {
                            let v = if ids.contains(k) { "<id>" } else { v };
                            (k.to_string(), v.to_string())
                        })
                        .collect()
                };
                assert_eq!(strip(&pa), strip(&pb), "{what}: properties");
            }
            assert_eq!(
                ours.len(),
                java.len(),
                "{what}: body length (same records, same sizes)"
            );
        }
        _ if java.is_empty() => assert!(ours.is_empty(), "{what}: Java sent no body"),
        _ => {
            let j: Value = serde_json::from_slice(java).expect("Java body is JSON");
            let o: Value = serde_json::from_slice(ours)
                .unwrap_or_else(|e| panic!("{what}: body is not JSON: {e}"));
            assert_eq!(sorted(o), sorted(j), "{what}: body");
        }
    }
}

/// JSON with arrays sorted: sets (consumer ids, locked queues) come in any order.
fn sorted(v: Value) -> Value {
    match v {
        Value::Array(a) => {
            let mut a: Vec<Value> = a.into_iter().map(sorted).collect();
            a.sort_by_key(|x| x.to_string());
            Value::Array(a)
        }
        Value::Object(m) => Value::Object(m.into_iter().map(|(k, v)| (k, sorted(v))).collect()),
        v => v,
    }
}

/// Replays one captured session against `r`; returns how many answers of each request
/// code were compared.
fn replay(r: &Rmqd, file: &str) -> BTreeMap<i32, usize> {
    let frames = load(file);
    let (inbox_tx, inbox) = channel();
    let mut rp = Replay {
        addr: r.broker(),
        what: file,
        conns: HashMap::new(),
        inbox_tx,
        inbox,
        got: Received::default(),
        phys: HashMap::new(),
        checks_seen: HashMap::new(),
        last_check: HashMap::new(),
        compared: BTreeMap::new(),
        races: 0,
    };
    let requests: HashMap<(u64, i32), usize> = frames
        .iter()
        .enumerate()
        .filter(|(_, f)| f.c2s)
        .map(|(i, f)| ((f.conn, f.cmd.opaque), i))
        .collect();
    // Everything the Java broker sent, not yet matched with rmqd's counterpart.
    let mut owed: Vec<usize> = Vec::new();
    let mut java_notified: Vec<(u64, String)> = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        if !f.c2s {
            if f.cmd.is_response() || f.cmd.code == CHECK_TRANSACTION_STATE {
                owed.push(i);
            } else if f.cmd.code == NOTIFY_CONSUMER_IDS_CHANGED {
                let group = f.cmd.ext("consumerGroup").unwrap_or("").to_string();
                java_notified.push((f.conn, group));
            }
            continue;
        }
        for j in std::mem::take(&mut owed) {
            settle(&mut rp, &frames, &requests, j);
        }
        rp.send(f);
    }
    for j in std::mem::take(&mut owed) {
        settle(&mut rp, &frames, &requests, j);
    }
    // Consumers were told to rebalance where the Java broker told them (rmqd may tell
    // them more often; a notification is only a hint to re-read the group).
    for (conn, group) in java_notified {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let told = rp.got.requests.get(&conn).is_some_and(|v| {
                v.iter().any(|c| {
                    c.code == NOTIFY_CONSUMER_IDS_CHANGED
                        && c.ext("consumerGroup") == Some(group.as_str())
                })
            });
            if told {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{file}: connection {conn} was never told group {group} changed"
            );
            rp.pump(deadline);
        }
    }
    assert!(
        rp.races <= 2,
        "{file}: {} pulls raced their heartbeat",
        rp.races
    );
    std::mem::take(&mut rp.compared)
}

/// Waits for rmqd's counterpart of the Java broker's frame `j` and compares them.
fn settle(rp: &mut Replay, frames: &[Captured], requests: &HashMap<(u64, i32), usize>, j: usize) {
    let java = &frames[j];
    if !java.cmd.is_response() {
        let check = rp.wait_check(java.conn);
        compare_check(rp.what, java, &check);
        rp.last_check.insert(java.conn, check);
        *rp.compared.entry(CHECK_TRANSACTION_STATE).or_default() += 1;
        return;
    }
    let req = &frames[*requests
        .get(&(java.conn, java.cmd.opaque))
        .expect("a captured response answers a captured request")];
    if java.cmd.code == SUBSCRIPTION_NOT_LATEST {
        // The Java broker runs heartbeats and pulls on different executors; this pull
        // overtook the heartbeat that registered its subscription version. rmqd serves
        // one connection's requests in order, so the pull finds the subscription and is
        // answered (or parked) as the client's retry of it is: nothing to compare.
        return;
    }
    let ours = rp.wait_response(java.conn, java.cmd.opaque, req.cmd.code);
    if ours.code == SUBSCRIPTION_NOT_LATEST && req.cmd.code == PULL_MESSAGE {
        // The same race the other way round: the client wrote this pull just before the
        // heartbeat carrying its new subscription version (same TCP segment); the Java
        // broker happened to run the heartbeat first, rmqd runs them in wire order.
        rp.races += 1;
        return;
    }
    rp.compare(req, java, &ours);
}

fn compare_check(what: &str, java: &Captured, ours: &RemotingCommand) {
    let keys = |c: &RemotingCommand| -> Vec<String> {
        let mut k: Vec<String> = c
            .ext_fields
            .iter()
            .flat_map(|e| e.iter().map(|(k, _)| k.to_string()))
            .collect();
        k.sort();
        k
    };
    assert_eq!(keys(ours), keys(&java.cmd), "{what}: check header fields");
    assert_eq!(
        ours.ext("tranStateTableOffset"),
        java.cmd.ext("tranStateTableOffset"),
        "{what}: the check names the renewed half message"
    );
    assert_eq!(
        ours.ext("msgId"),
        java.cmd.ext("msgId"),
        "{what}: check msgId"
    );
    assert!(ours.is_oneway(), "{what}: checks are oneway");
    compare_bodies(what, CHECK_TRANSACTION_STATE, &java.cmd.body, &ours.body);
}

#[test]
fn java_client_sessions_get_the_java_broker_answers() {
    // The capture's broker: checker every 5 s for half messages older than 3 s.
    let r = Rmqd::start(&["transactionCheckInterval=5000", "transactionTimeOut=3000"]);
    // Both sessions ran against one broker, the binary-header one after the JSON one.
    for file in ["session-json.jsonl", "session-rocketmq-serialize.jsonl"] {
        let compared = replay(&r, file);
        let total: usize = compared.values().sum();
        for code in [11, 12, 14, 30, 33, 34, 35, 36, 38, 39, 41, 42, 310, 320] {
            assert!(
                compared.get(&code).copied().unwrap_or(0) > 0,
                "{file}: no answer to request code {code} was compared ({compared:?})"
            );
        }
        assert!(total > 60, "{file}: only {total} answers compared");
        eprintln!("{file}: {total} answers compared, per request code {compared:?}");
    }
}
