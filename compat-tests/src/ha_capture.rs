//! The captured Java 4.9.8 master ⇄ slave session (`../shared/fixtures/ha/java-4.9.8`,
//! see its README) as test data: remoting frames, the decoded HA stream, and small raw
//! HA peers (a slave's side and a master's side) for replaying it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

pub fn dir() -> PathBuf {
    crate::fixtures_dir().join("ha/java-4.9.8")
}

pub fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .filter_map(|i| s.get(2 * i..2 * i + 2))
        .filter_map(|b| u8::from_str_radix(b, 16).ok())
        .collect()
}

fn lines(file: &str) -> Vec<Value> {
    let path = dir().join(file);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("capture line"))
        .collect()
}

/// One captured remoting frame.
#[derive(Debug, Clone)]
pub struct Frame {
    pub conn: i64,
    /// `c2s` (towards the server of that connection) or `s2c`.
    pub c2s: bool,
    pub peer: String,
    pub code: i64,
    pub opaque: i64,
    pub flag: i64,
    pub header: Value,
    pub body: Vec<u8>,
}

impl Frame {
    pub fn ext(&self) -> Map<String, Value> {
        self.header["extFields"]
            .as_object()
            .cloned()
            .unwrap_or_default()
    }

    /// The frame as sent on the wire (JSON header as captured).
    pub fn bytes(&self) -> Vec<u8> {
        crate::wire::json_frame(&self.header, &self.body)
    }
}

/// The remoting frames of a capture file, in order.
pub fn frames(file: &str) -> Vec<Frame> {
    lines(file)
        .into_iter()
        .map(|v| Frame {
            conn: v["conn"].as_i64().unwrap_or(-1),
            c2s: v["dir"] == "c2s",
            peer: v["peer"].as_str().unwrap_or("").to_string(),
            code: v["code"].as_i64().unwrap_or(-1),
            opaque: v["opaque"].as_i64().unwrap_or(-1),
            flag: v["flag"].as_i64().unwrap_or(0),
            header: serde_json::from_str(v["header_json_or_hex"].as_str().unwrap_or("{}"))
                .expect("JSON header"),
            body: unhex(v["body_hex"].as_str().unwrap_or("")),
        })
        .collect()
}

/// One entry of `ha-stream.jsonl`.
#[derive(Debug, Clone)]
pub enum Ha {
    Open(i64),
    Close(i64),
    /// slave → master.
    Report {
        conn: i64,
        offset: i64,
    },
    /// master → slave: start, size, and the body when it was recorded in full.
    Transfer {
        conn: i64,
        start: i64,
        size: usize,
        body: Option<Vec<u8>>,
    },
}

pub fn ha_stream() -> Vec<Ha> {
    lines("ha-stream.jsonl")
        .into_iter()
        .filter_map(|v| {
            let conn = v["conn"].as_i64()?;
            Some(match v["kind"].as_str()? {
                "tcp_open" => Ha::Open(conn),
                "tcp_close" => Ha::Close(conn),
                "report" => Ha::Report {
                    conn,
                    offset: v["max_phy_offset"].as_i64()?,
                },
                "heartbeat" | "transfer" => Ha::Transfer {
                    conn,
                    start: v["start_offset"].as_i64()?,
                    size: v["body_size"].as_u64()? as usize,
                    body: v["body_hex"].as_str().map(unhex),
                },
                _ => return None,
            })
        })
        .collect()
}

/// The master's frames of one captured HA connection, in order: (start, size, body).
pub fn transfers(conn: i64) -> Vec<(i64, usize, Option<Vec<u8>>)> {
    ha_stream()
        .into_iter()
        .filter_map(|e| match e {
            Ha::Transfer {
                conn: c,
                start,
                size,
                body,
            } if c == conn => Some((start, size, body)),
            _ => None,
        })
        .collect()
}

/// The slave's reports of one captured HA connection, in order.
pub fn reports(conn: i64) -> Vec<i64> {
    ha_stream()
        .into_iter()
        .filter_map(|e| match e {
            Ha::Report { conn: c, offset } if c == conn => Some(offset),
            _ => None,
        })
        .collect()
}

/// The CommitLog bytes the captured master sent in full, from 0 on (connections 2 and
/// 20 carry 0 → 6078 whole).
pub fn master_commitlog_head() -> Vec<u8> {
    let mut out = Vec::new();
    for conn in [2, 20] {
        for (start, _, body) in transfers(conn) {
            if let Some(b) = body.filter(|b| !b.is_empty()) {
                if start as usize == out.len() {
                    out.extend_from_slice(&b);
                }
            }
        }
    }
    out
}

/// The slave's end of an HA connection, raw.
pub struct HaSlave {
    s: TcpStream,
}

impl HaSlave {
    pub fn connect(addr: &str) -> HaSlave {
        let s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("HA connect {addr}: {e}"));
        s.set_nodelay(true).expect("nodelay");
        HaSlave { s }
    }

    pub fn report(&mut self, offset: i64) {
        self.s.write_all(&offset.to_be_bytes()).expect("report");
    }

    /// The next transfer (start, body), or None if nothing comes within `timeout`.
    pub fn next(&mut self, timeout: Duration) -> Option<(i64, Vec<u8>)> {
        self.s
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))
            .expect("timeout");
        let mut head = [0u8; 12];
        match self.s.read_exact(&mut head) {
            Ok(()) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return None
            }
            Err(e) => panic!("HA read: {e}"),
        }
        self.s
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let start = i64::from_be_bytes(head[..8].try_into().expect("8"));
        let size = i32::from_be_bytes(head[8..].try_into().expect("4"));
        let mut body = vec![0u8; size.max(0) as usize];
        self.s.read_exact(&mut body).expect("HA body");
        Some((start, body))
    }

    /// Whether the master closed the connection within `timeout` (anything it sends
    /// meanwhile is read and dropped).
    pub fn closed(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 4096];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            self.s.set_read_timeout(Some(left)).expect("timeout");
            match self.s.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return false
                }
                Err(_) => return true,
            }
        }
    }

    /// Transfers until one ends at `end` (heartbeats included), within `timeout`.
    pub fn until(&mut self, end: i64, timeout: Duration) -> Vec<(i64, Vec<u8>)> {
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "transfers stopped before {end}: {:?}",
                shape(&out)
            );
            let Some((start, body)) = self.next(left) else {
                continue;
            };
            let done = start + body.len() as i64 == end && !body.is_empty();
            out.push((start, body));
            if done {
                return out;
            }
        }
    }
}

/// (start, size) of each transfer: what to compare with the capture.
pub fn shape(t: &[(i64, Vec<u8>)]) -> Vec<(i64, usize)> {
    t.iter().map(|(s, b)| (*s, b.len())).collect()
}

/// The master's end of an HA connection, raw: reads reports, writes transfers.
pub struct HaMaster {
    s: TcpStream,
    buf: Vec<u8>,
}

impl HaMaster {
    pub fn new(s: TcpStream) -> HaMaster {
        s.set_nodelay(true).expect("nodelay");
        HaMaster { s, buf: Vec::new() }
    }

    pub fn send(&mut self, start: i64, body: &[u8]) {
        let mut f = start.to_be_bytes().to_vec();
        f.extend_from_slice(&(body.len() as i32).to_be_bytes());
        self.s.write_all(&f).expect("HA header");
        self.s.write_all(body).expect("HA body");
    }

    /// The next report, or None within `timeout`.
    pub fn report(&mut self, timeout: Duration) -> Option<i64> {
        let deadline = Instant::now() + timeout;
        while self.buf.len() < 8 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.s.set_read_timeout(Some(left)).expect("timeout");
            let mut chunk = [0u8; 64];
            match self.s.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(_) => return None,
            }
        }
        let v = i64::from_be_bytes(self.buf[..8].try_into().expect("8"));
        self.buf.drain(..8);
        Some(v)
    }

    /// Whether the slave closed the connection within `timeout` (reports are dropped).
    pub fn closed(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            self.s.set_read_timeout(Some(left)).expect("timeout");
            let mut chunk = [0u8; 64];
            match self.s.read(&mut chunk) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return false
                }
                Err(_) => return true,
            }
        }
    }

    /// Reports until one is `offset` (the slave repeats its last on every heartbeat).
    pub fn wait_report(&mut self, offset: i64, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.report(left) {
                Some(v) if v == offset => return,
                Some(v) => seen.push(v),
                None => panic!("no report of {offset}; saw {seen:?}"),
            }
        }
    }
}
