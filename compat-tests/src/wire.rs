//! A plain remoting connection for tests that need exact control over each request (which
//! message is pulled, sent back or checked, and when): JSON headers over a blocking
//! socket, the way the Java client frames them. Requests the broker initiates on the
//! connection (CHECK_TRANSACTION_STATE, NOTIFY_CONSUMER_IDS_CHANGED) are queued and handed
//! out by [`Conn::next_request`].

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

/// A frame with a JSON header: length word, header length word, header, body.
pub fn json_frame(header: &Value, body: &[u8]) -> Vec<u8> {
    let header = header.to_string();
    let mut frame = Vec::with_capacity(8 + header.len() + body.len());
    frame.extend_from_slice(&((4 + header.len() + body.len()) as u32).to_be_bytes());
    frame.extend_from_slice(&(header.len() as u32).to_be_bytes());
    frame.extend_from_slice(header.as_bytes());
    frame.extend_from_slice(body);
    frame
}

/// Reads the rest of a frame whose length word was `len`: its JSON header and its body.
pub fn read_frame_after_length(r: &mut impl Read, len: [u8; 4]) -> (Value, Vec<u8>) {
    let mut buf = vec![0u8; u32::from_be_bytes(len) as usize];
    r.read_exact(&mut buf).expect("frame");
    let word: [u8; 4] = buf
        .get(..4)
        .and_then(|w| w.try_into().ok())
        .expect("header length word");
    let hlen = (u32::from_be_bytes(word) & 0xFF_FFFF) as usize;
    let header: Value = serde_json::from_slice(&buf[4..4 + hlen]).expect("JSON header");
    let body = buf.split_off(4 + hlen);
    (header, body)
}

/// Reads one whole frame: its JSON header and its body.
pub fn read_frame(r: &mut impl Read) -> (Value, Vec<u8>) {
    let mut len = [0u8; 4];
    r.read_exact(&mut len).expect("frame length");
    read_frame_after_length(r, len)
}

/// One frame read from the broker.
#[derive(Debug, Clone)]
pub struct Frame {
    pub code: i64,
    pub opaque: i64,
    pub flag: i64,
    pub remark: String,
    pub ext: Map<String, Value>,
    pub body: Vec<u8>,
}

impl Frame {
    /// An extFields value as a string ("" when absent).
    pub fn ext(&self, key: &str) -> String {
        match self.ext.get(key) {
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => String::new(),
        }
    }

    pub fn ext_i64(&self, key: &str) -> i64 {
        self.ext(key).parse().unwrap_or(-1)
    }

    fn is_response(&self) -> bool {
        self.flag & 1 == 1
    }
}

pub struct Conn {
    stream: TcpStream,
    next_opaque: i64,
    pending_requests: VecDeque<Frame>,
    /// The `version` of request headers (409: Java 4.9.8).
    version: i64,
}

impl Conn {
    pub fn connect(addr: &str) -> Conn {
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        Conn {
            stream,
            next_opaque: 1,
            pending_requests: VecDeque::new(),
            version: 409,
        }
    }

    /// Requests from here on carry `version` (e.g. 479, a Java 5.3.3 client).
    pub fn set_version(&mut self, version: i64) {
        self.version = version;
    }

    fn write(&mut self, code: i32, flag: i64, opaque: i64, ext: &[(&str, String)], body: &[u8]) {
        let ext: Map<String, Value> = ext
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.clone())))
            .collect();
        let header = serde_json::json!({
            "code": code, "language": "JAVA", "version": self.version, "opaque": opaque,
            "flag": flag, "extFields": ext
        });
        let frame = json_frame(&header, body);
        self.stream.write_all(&frame).expect("write frame");
    }

    /// Reads one frame, or None when nothing arrives within `timeout`.
    fn read(&mut self, timeout: Duration) -> Option<Frame> {
        self.stream
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))
            .expect("timeout");
        let mut len = [0u8; 4];
        match self.stream.read_exact(&mut len) {
            Ok(()) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return None
            }
            Err(e) => panic!("read frame: {e}"),
        }
        // A frame has started: read the rest of it whatever the timeout.
        self.stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let (h, body) = read_frame_after_length(&mut self.stream, len);
        Some(Frame {
            code: h["code"].as_i64().unwrap_or(-1),
            opaque: h["opaque"].as_i64().unwrap_or(-1),
            flag: h["flag"].as_i64().unwrap_or(0),
            remark: h["remark"].as_str().unwrap_or("").to_string(),
            ext: h["extFields"].as_object().cloned().unwrap_or_default(),
            body,
        })
    }

    /// A request and its response; broker-initiated requests met on the way are queued.
    pub fn request(&mut self, code: i32, ext: &[(&str, String)], body: &[u8]) -> Frame {
        let opaque = self.next_opaque;
        self.next_opaque += 1;
        self.write(code, 0, opaque, ext, body);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no response to request code {code}");
            if let Some(f) = self.read(left) {
                if f.is_response() && f.opaque == opaque {
                    return f;
                }
                if !f.is_response() {
                    self.pending_requests.push_back(f);
                }
            }
        }
    }

    /// A oneway request (flag bit 1): no response comes.
    pub fn oneway(&mut self, code: i32, ext: &[(&str, String)], body: &[u8]) {
        let opaque = self.next_opaque;
        self.next_opaque += 1;
        self.write(code, 2, opaque, ext, body);
    }

    /// Answers a request the broker sent on this connection (flag 1, its opaque).
    pub fn respond(&mut self, to: &Frame, code: i32, remark: &str) {
        let header = serde_json::json!({
            "code": code, "language": "JAVA", "version": 409, "opaque": to.opaque,
            "flag": 1, "remark": remark, "extFields": {}
        });
        let frame = json_frame(&header, b"");
        self.stream.write_all(&frame).expect("write frame");
    }

    /// The next request the broker sends on this connection, waiting up to `timeout`.
    pub fn next_request(&mut self, timeout: Duration) -> Option<Frame> {
        if let Some(f) = self.pending_requests.pop_front() {
            return Some(f);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            match self.read(left) {
                Some(f) if !f.is_response() => return Some(f),
                Some(_) => {}
                None => return None,
            }
        }
    }
}

/// The properties of a transactional half message of `group` with unique key `id`, and
/// `extra` pairs.
pub fn half_properties(group: &str, id: &str, extra: &[(&str, &str)]) -> String {
    let mut pairs = vec![
        ("TRAN_MSG", "true"),
        ("PGROUP", group),
        ("UNIQ_KEY", id),
        ("WAIT", "true"),
    ];
    pairs.extend_from_slice(extra);
    properties(&pairs)
}

/// The properties string of a message: `k\u{1}v\u{2}` pairs.
pub fn properties(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}\u{1}{v}\u{2}"))
        .collect()
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// SEND_MESSAGE_V2 (310) to one queue, with the short header names the Java client uses.
pub fn send(
    c: &mut Conn,
    group: &str,
    topic: &str,
    queue: i32,
    sys_flag: i32,
    props: &str,
    body: &[u8],
) -> Frame {
    c.request(
        310,
        &[
            ("a", group.to_string()),
            ("b", topic.to_string()),
            ("c", "TBW102".to_string()),
            ("d", "4".to_string()),
            ("e", queue.to_string()),
            ("f", sys_flag.to_string()),
            ("g", now_ms().to_string()),
            ("h", "0".to_string()),
            ("i", props.to_string()),
            ("j", "0".to_string()),
            ("k", "false".to_string()),
        ],
        body,
    )
}

/// A pulled message, owned.
#[derive(Debug, Clone)]
pub struct Pulled {
    pub queue_offset: i64,
    pub physical_offset: i64,
    pub reconsume_times: i32,
    pub born_timestamp: i64,
    pub store_timestamp: i64,
    pub topic: String,
    pub body: Vec<u8>,
    pub properties: String,
}

impl Pulled {
    pub fn property(&self, name: &str) -> Option<&str> {
        rmqd_store::record::property(&self.properties, name)
    }

    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// PULL_MESSAGE (11) without suspension or offset commit, subscription `*` in the header.
/// Returns the response code and the messages (empty unless FOUND).
pub fn pull(
    c: &mut Conn,
    group: &str,
    topic: &str,
    queue: i32,
    offset: i64,
    max: i32,
) -> (i64, Vec<Pulled>) {
    let f = c.request(
        11,
        &[
            ("consumerGroup", group.to_string()),
            ("topic", topic.to_string()),
            ("queueId", queue.to_string()),
            ("queueOffset", offset.to_string()),
            ("maxMsgNums", max.to_string()),
            ("sysFlag", "4".to_string()),
            ("commitOffset", "0".to_string()),
            ("suspendTimeoutMillis", "0".to_string()),
            ("subscription", "*".to_string()),
            ("subVersion", now_ms().to_string()),
            ("expressionType", "TAG".to_string()),
        ],
        b"",
    );
    let msgs = rmqd_store::record::decode_all(&f.body)
        .into_iter()
        .map(|m| Pulled {
            queue_offset: m.queue_offset,
            physical_offset: m.physical_offset,
            reconsume_times: m.reconsume_times,
            born_timestamp: m.born_timestamp,
            store_timestamp: m.store_timestamp,
            topic: m.topic.to_string(),
            body: rmqd_store::record::inflate_body(m.sys_flag, m.body)
                .unwrap_or_else(|| m.body.to_vec()),
            properties: m.properties.to_string(),
        })
        .collect();
    (f.code, msgs)
}

/// Pulls at `offset` until something is there: a message just appended reaches its
/// consume queue a moment after the send is answered (dispatch is asynchronous, as in
/// the Java broker, which answers such a pull with PULL_NOT_FOUND too).
pub fn pull_when_there(
    c: &mut Conn,
    group: &str,
    topic: &str,
    queue: i32,
    offset: i64,
) -> Vec<Pulled> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (code, msgs) = pull(c, group, topic, queue, offset, 32);
        if code == 0 && !msgs.is_empty() {
            return msgs;
        }
        assert!(
            Instant::now() < deadline,
            "nothing at {topic}/{queue} offset {offset} (last code {code})"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Pulls everything in `topic`/`queue` from `from` on.
pub fn pull_all(c: &mut Conn, group: &str, topic: &str, queue: i32, from: i64) -> Vec<Pulled> {
    let mut out = Vec::new();
    let mut offset = from;
    loop {
        let (code, msgs) = pull(c, group, topic, queue, offset, 32);
        if code != 0 || msgs.is_empty() {
            return out;
        }
        offset = msgs.last().map(|m| m.queue_offset + 1).unwrap_or(offset);
        out.extend(msgs);
    }
}

/// CONSUMER_SEND_MSG_BACK (36) for a pulled message.
pub fn send_back(
    c: &mut Conn,
    group: &str,
    m: &Pulled,
    delay_level: i32,
    max_reconsume: i32,
) -> Frame {
    c.request(
        36,
        &[
            ("offset", m.physical_offset.to_string()),
            ("group", group.to_string()),
            ("delayLevel", delay_level.to_string()),
            (
                "originMsgId",
                m.property("UNIQ_KEY").unwrap_or_default().to_string(),
            ),
            ("originTopic", m.topic.clone()),
            ("unitMode", "false".to_string()),
            ("maxReconsumeTimes", max_reconsume.to_string()),
        ],
        b"",
    )
}

/// HEART_BEAT (34) announcing a producer group on this connection.
pub fn heartbeat_producer(c: &mut Conn, client_id: &str, group: &str) {
    let body = serde_json::json!({
        "clientID": client_id,
        "producerDataSet": [{"groupName": group}],
        "consumerDataSet": []
    })
    .to_string();
    let f = c.request(34, &[], body.as_bytes());
    assert_eq!(f.code, 0, "heartbeat: {}", f.remark);
}

/// Message sysFlag / END_TRANSACTION values of a transaction (`MessageSysFlag`).
pub const PREPARED: i32 = 0x4;
pub const COMMIT: i32 = 0x8;
pub const ROLLBACK: i32 = 0xC;

/// Answers a CHECK_TRANSACTION_STATE request with END_TRANSACTION from the check, naming
/// the (renewed) half message the check named.
pub fn answer_check(c: &mut Conn, group: &str, check: &Frame, decision: i32) {
    end_transaction(
        c,
        group,
        check.ext_i64("tranStateTableOffset"),
        check.ext_i64("commitLogOffset"),
        decision,
        true,
        &check.ext("msgId"),
        &check.ext("transactionId"),
    );
}

/// END_TRANSACTION (37), oneway as the clients send it. `decision`: [`COMMIT`] or [`ROLLBACK`].
#[allow(clippy::too_many_arguments)]
pub fn end_transaction(
    c: &mut Conn,
    group: &str,
    queue_offset: i64,
    commit_log_offset: i64,
    decision: i32,
    from_check: bool,
    msg_id: &str,
    transaction_id: &str,
) {
    c.oneway(
        37,
        &[
            ("producerGroup", group.to_string()),
            ("tranStateTableOffset", queue_offset.to_string()),
            ("commitLogOffset", commit_log_offset.to_string()),
            ("commitOrRollback", decision.to_string()),
            ("fromTransactionCheck", from_check.to_string()),
            ("msgId", msg_id.to_string()),
            ("transactionId", transaction_id.to_string()),
        ],
        b"",
    );
}

/// QUERY_CONSUMER_OFFSET (14): (code, offset).
pub fn query_offset(c: &mut Conn, group: &str, topic: &str, queue: i32) -> (i64, i64) {
    let f = c.request(
        14,
        &[
            ("consumerGroup", group.to_string()),
            ("topic", topic.to_string()),
            ("queueId", queue.to_string()),
        ],
        b"",
    );
    (f.code, f.ext_i64("offset"))
}

impl Conn {
    /// Connects with a bounded wait, or the error.
    pub fn try_connect(addr: &str, timeout: Duration) -> std::io::Result<Conn> {
        let sock: std::net::SocketAddr = addr
            .parse()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let stream = TcpStream::connect_timeout(&sock, timeout)?;
        Ok(Conn {
            stream,
            next_opaque: 1,
            pending_requests: VecDeque::new(),
            version: 409,
        })
    }

    /// A request and its response, or the I/O error that ended the connection (a broker
    /// killed mid-request): for tests that expect the peer to go away.
    pub fn try_request(
        &mut self,
        code: i32,
        ext: &[(&str, String)],
        body: &[u8],
        timeout: Duration,
    ) -> std::io::Result<Frame> {
        let opaque = self.next_opaque;
        self.next_opaque += 1;
        let ext_map: Map<String, Value> = ext
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.clone())))
            .collect();
        let header = serde_json::json!({
            "code": code, "language": "JAVA", "version": self.version, "opaque": opaque,
            "flag": 0, "extFields": ext_map
        });
        self.stream.write_all(&json_frame(&header, body))?;
        self.stream.set_read_timeout(Some(timeout))?;
        loop {
            let mut len = [0u8; 4];
            self.stream.read_exact(&mut len)?;
            let mut buf = vec![0u8; u32::from_be_bytes(len) as usize];
            self.stream.read_exact(&mut buf)?;
            let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
            let word: [u8; 4] = buf
                .get(..4)
                .and_then(|w| w.try_into().ok())
                .ok_or_else(|| bad("short frame"))?;
            let hlen = (u32::from_be_bytes(word) & 0xFF_FFFF) as usize;
            let h: Value = buf
                .get(4..4 + hlen)
                .and_then(|b| serde_json::from_slice(b).ok())
                .ok_or_else(|| bad("bad JSON header"))?;
            let f = Frame {
                code: h["code"].as_i64().unwrap_or(-1),
                opaque: h["opaque"].as_i64().unwrap_or(-1),
                flag: h["flag"].as_i64().unwrap_or(0),
                remark: h["remark"].as_str().unwrap_or("").to_string(),
                ext: h["extFields"].as_object().cloned().unwrap_or_default(),
                body: buf.split_off(4 + hlen),
            };
            if f.is_response() && f.opaque == opaque {
                return Ok(f);
            }
            if !f.is_response() {
                self.pending_requests.push_back(f);
            }
        }
    }
}

/// [`send`] that returns the I/O error instead of panicking when the broker goes away.
pub fn try_send(
    c: &mut Conn,
    group: &str,
    topic: &str,
    queue: i32,
    props: &str,
    body: &[u8],
) -> std::io::Result<Frame> {
    c.try_request(
        310,
        &[
            ("a", group.to_string()),
            ("b", topic.to_string()),
            ("c", "TBW102".to_string()),
            ("d", "4".to_string()),
            ("e", queue.to_string()),
            ("f", "0".to_string()),
            ("g", now_ms().to_string()),
            ("h", "0".to_string()),
            ("i", props.to_string()),
            ("j", "0".to_string()),
            ("k", "false".to_string()),
        ],
        body,
        Duration::from_secs(10),
    )
}
