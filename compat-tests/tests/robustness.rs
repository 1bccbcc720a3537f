//! Bad input against a real `rmqd namesrv` process. Unknown request codes are answered
//! the way the Java server answers them; oversized, truncated or malformed frames close
//! only their own connection; and after every case the process is alive and a fresh
//! connection still gets a correct answer.
//!
//! The binary is `$RMQD_BIN`, else `target/debug/rmqd` (build it first).

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use serde_json::Value;

const MAX_FRAME: usize = 16 * 1024 * 1024;
const GET_ALL_TOPIC_LIST: i32 = 206;
const REQUEST_CODE_NOT_SUPPORTED: i64 = 3;

fn rmqd_bin() -> PathBuf {
    std::env::var_os("RMQD_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/debug/rmqd"))
        })
}

struct Namesrv {
    child: Child,
    addr: String,
    home: tempfile::TempDir,
}

impl Drop for Namesrv {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Namesrv {
    fn start() -> Namesrv {
        Self::start_limited(None)
    }

    /// Start with the address space limited to `limit_kib` (`ulimit -v`), if given.
    fn start_limited(limit_kib: Option<u64>) -> Namesrv {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let home = tempfile::tempdir().expect("tempdir");
        let log = std::fs::File::create(home.path().join("rmqd.log")).expect("log file");
        let bin = rmqd_bin();
        let listen = format!("127.0.0.1:{port}");
        let mut cmd = match limit_kib {
            None => Command::new(&bin),
            Some(kib) => {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(format!("ulimit -v {kib} && exec \"$0\" \"$@\""))
                    .arg(&bin);
                c
            }
        };
        let child = cmd
            .args(["namesrv", "--listen", &listen])
            .env("HOME", home.path())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {} (build it first): {e}", bin.display()));
        let mut ns = Namesrv {
            child,
            addr: format!("127.0.0.1:{port}"),
            home,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(&ns.addr).is_err() {
            assert!(ns.alive(), "rmqd namesrv exited at start:\n{}", ns.log());
            assert!(Instant::now() < deadline, "rmqd namesrv did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        ns
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.home.path().join("rmqd.log")).unwrap_or_default()
    }

    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(&self.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        s.set_nodelay(true).expect("nodelay");
        s
    }

    /// The process is alive and a fresh connection gets a correct answer to a valid
    /// request.
    fn assert_still_serving(&mut self, after: &str) {
        assert!(self.alive(), "rmqd exited after {after}:\n{}", self.log());
        let mut s = self.connect();
        assert_topic_list(&mut s, 4242, &format!("fresh connection after {after}"));
    }
}

fn json_header(code: i32, opaque: i32, flag: i32) -> String {
    format!(
        r#"{{"code":{code},"flag":{flag},"language":"JAVA","opaque":{opaque},"serializeTypeCurrentRPC":"JSON","version":409}}"#
    )
}

/// A whole frame: total length, serialize type and header length, header, body.
fn frame(ser: u8, header: &[u8], body: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(8 + header.len() + body.len());
    f.extend_from_slice(&((4 + header.len() + body.len()) as u32).to_be_bytes());
    f.extend_from_slice(&((u32::from(ser) << 24) | header.len() as u32).to_be_bytes());
    f.extend_from_slice(header);
    f.extend_from_slice(body);
    f
}

fn json_request(code: i32, opaque: i32, flag: i32) -> Vec<u8> {
    frame(0, json_header(code, opaque, flag).as_bytes(), b"")
}

/// A ROCKETMQ (binary) header: code i16, language u8, version i16, opaque, flag, remark,
/// ext fields.
fn binary_header(code: i16, opaque: i32, flag: i32, ext: &[(&str, &str)]) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&code.to_be_bytes());
    h.push(0);
    h.extend_from_slice(&409i16.to_be_bytes());
    h.extend_from_slice(&opaque.to_be_bytes());
    h.extend_from_slice(&flag.to_be_bytes());
    h.extend_from_slice(&0i32.to_be_bytes());
    let mut e = Vec::new();
    for (k, v) in ext {
        e.extend_from_slice(&(k.len() as i16).to_be_bytes());
        e.extend_from_slice(k.as_bytes());
        e.extend_from_slice(&(v.len() as i32).to_be_bytes());
        e.extend_from_slice(v.as_bytes());
    }
    h.extend_from_slice(&(e.len() as i32).to_be_bytes());
    h.extend_from_slice(&e);
    h
}

#[derive(Debug)]
struct Reply {
    ser: u8,
    code: i64,
    opaque: i64,
    flag: i64,
    remark: String,
    body: Vec<u8>,
}

fn read_reply(s: &mut TcpStream, what: &str) -> Reply {
    let mut len = [0u8; 4];
    s.read_exact(&mut len)
        .unwrap_or_else(|e| panic!("{what}: no reply: {e}"));
    let mut buf = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut buf)
        .unwrap_or_else(|e| panic!("{what}: short reply: {e}"));
    let word = u32::from_be_bytes(buf[..4].try_into().expect("word"));
    let (ser, hlen) = ((word >> 24) as u8, (word & 0xFF_FFFF) as usize);
    let header = &buf[4..4 + hlen];
    let body = buf[4 + hlen..].to_vec();
    match ser {
        0 => {
            let h: Value = serde_json::from_slice(header)
                .unwrap_or_else(|e| panic!("{what}: reply header is not JSON: {e}"));
            Reply {
                ser,
                code: h["code"].as_i64().expect("code"),
                opaque: h["opaque"].as_i64().expect("opaque"),
                flag: h["flag"].as_i64().expect("flag"),
                remark: h["remark"].as_str().unwrap_or("").to_owned(),
                body,
            }
        }
        1 => {
            let i32_at = |i: usize| i32::from_be_bytes(header[i..i + 4].try_into().expect("i32"));
            let remark_len = i32_at(13) as usize;
            Reply {
                ser,
                code: i64::from(i16::from_be_bytes([header[0], header[1]])),
                opaque: i64::from(i32_at(5)),
                flag: i64::from(i32_at(9)),
                remark: String::from_utf8_lossy(&header[17..17 + remark_len]).into_owned(),
                body,
            }
        }
        other => panic!("{what}: reply in serialize type {other}"),
    }
}

/// Send GET_ALL_TOPIC_LIST_FROM_NAMESERVER on `s` and check the answer: SUCCESS, a JSON
/// header (the request's encoding), the same opaque, and a topic-list body.
fn assert_topic_list(s: &mut TcpStream, opaque: i32, what: &str) {
    s.write_all(&json_request(GET_ALL_TOPIC_LIST, opaque, 0))
        .unwrap_or_else(|e| panic!("{what}: send: {e}"));
    let r = read_reply(s, what);
    assert_eq!(
        (r.ser, r.code, r.opaque),
        (0, 0, i64::from(opaque)),
        "{what}: {r:?}"
    );
    assert_eq!(r.flag & 1, 1, "{what}: response flag");
    let body: Value =
        serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{what}: topic list body: {e}"));
    assert!(body["topicList"].is_array(), "{what}: {body}");
}

/// Whether the server closes `s` (EOF or reset) within `within`; bytes the server sends
/// first are skipped.
fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).expect("timeout");
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) if Instant::now() < deadline => continue,
            Ok(_) => return false,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            // Reset, or aborted: the server dropped the connection with bytes unread.
            Err(_) => return true,
        }
    }
}

/// Send `bytes` on a fresh connection and require the server to close it while a
/// connection opened before stays usable and the server keeps serving.
fn assert_closes(ns: &mut Namesrv, what: &str, bytes: &[u8]) {
    let mut bystander = ns.connect();
    let mut s = ns.connect();
    // The server may close before everything is written; that is fine.
    let _ = s.write_all(bytes);
    assert!(
        closed_within(&mut s, Duration::from_secs(5)),
        "{what}: the connection was left open"
    );
    assert_topic_list(&mut bystander, 1, &format!("bystander after {what}"));
    ns.assert_still_serving(what);
}

#[test]
fn unknown_request_code_is_answered_with_request_code_not_supported() {
    let mut ns = Namesrv::start();
    let mut s = ns.connect();
    s.write_all(&json_request(9999, 77, 0)).expect("send");
    let r = read_reply(&mut s, "code 9999");
    assert_eq!(r.code, REQUEST_CODE_NOT_SUPPORTED, "{r:?}");
    assert_eq!(r.opaque, 77);
    assert_eq!(r.flag & 1, 1, "response flag");
    assert_eq!(r.ser, 0, "answered in the request's encoding");
    assert!(r.remark.contains("9999"), "remark {:?}", r.remark);
    // The same connection serves a following valid request.
    assert_topic_list(&mut s, 78, "request after the unknown code");
    ns.assert_still_serving("an unknown request code");
}

#[test]
fn unknown_request_code_in_a_binary_header_is_answered_in_binary() {
    let mut ns = Namesrv::start();
    let mut s = ns.connect();
    s.write_all(&frame(1, &binary_header(9999, 31, 0, &[("k", "v")]), b""))
        .expect("send");
    let r = read_reply(&mut s, "binary code 9999");
    assert_eq!(
        (r.ser, r.code, r.opaque),
        (1, REQUEST_CODE_NOT_SUPPORTED, 31),
        "{r:?}"
    );
    assert!(r.remark.contains("9999"), "remark {:?}", r.remark);
    assert_topic_list(&mut s, 32, "request after the binary unknown code");
    ns.assert_still_serving("a binary unknown request code");
}

#[test]
fn oneway_unknown_request_code_gets_no_reply() {
    let mut ns = Namesrv::start();
    let mut s = ns.connect();
    s.write_all(&json_request(9998, 5, 2)).expect("send");
    s.set_read_timeout(Some(Duration::from_millis(1500)))
        .expect("timeout");
    let mut byte = [0u8; 1];
    match s.read(&mut byte) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!("a oneway request was answered (or the connection dropped): {other:?}"),
    }
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    // The next reply on this connection is the valid request's.
    assert_topic_list(&mut s, 6, "request after the oneway");
    ns.assert_still_serving("a oneway unknown request code");
}

#[test]
fn responses_sent_by_a_client_are_dropped_without_a_reply() {
    let mut ns = Namesrv::start();
    let mut s = ns.connect();
    // Flag bit 0: a response to an invocation the server never made.
    s.write_all(&json_request(0, 123, 1)).expect("send");
    assert_topic_list(&mut s, 124, "request after a stray response");
    ns.assert_still_serving("a stray response");
}

#[test]
fn length_word_beyond_16_mib_closes_the_connection() {
    let mut ns = Namesrv::start();
    // The limit counts the length word itself, as Netty's frame decoder does: a length
    // word of 16 MiB - 4 is the largest accepted.
    for len in [
        (MAX_FRAME - 3) as u32,
        MAX_FRAME as u32 + 1,
        64 << 20,
        i32::MAX as u32,
    ] {
        let mut bytes = len.to_be_bytes().to_vec();
        bytes.extend_from_slice(&json_header(GET_ALL_TOPIC_LIST, 1, 0).len().to_be_bytes()[4..]);
        bytes.extend_from_slice(json_header(GET_ALL_TOPIC_LIST, 1, 0).as_bytes());
        assert_closes(&mut ns, &format!("length word {len:#x}"), &bytes);
    }
}

#[test]
fn length_word_too_small_or_negative_closes_the_connection() {
    let mut ns = Namesrv::start();
    for len in [0u32, 3, 0x8000_0000, u32::MAX] {
        let mut bytes = len.to_be_bytes().to_vec();
        bytes.extend_from_slice(&[0u8; 8]);
        assert_closes(&mut ns, &format!("length word {len:#x}"), &bytes);
    }
}

#[test]
fn a_frame_of_exactly_the_maximum_length_is_served() {
    let mut ns = Namesrv::start();
    let header = json_header(GET_ALL_TOPIC_LIST, 9, 0);
    let body = vec![b'x'; MAX_FRAME - 8 - header.len()];
    let f = frame(0, header.as_bytes(), &body);
    assert_eq!(f.len(), MAX_FRAME);
    let mut s = ns.connect();
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    s.write_all(&f).expect("send");
    let r = read_reply(&mut s, "maximum-size frame");
    assert_eq!((r.code, r.opaque), (0, 9), "{r:?}");
    ns.assert_still_serving("a maximum-size frame");
}

#[test]
fn truncated_frame_then_hang_up() {
    let mut ns = Namesrv::start();
    let whole = json_request(GET_ALL_TOPIC_LIST, 1, 0);
    for cut in [2, 4, 6, 8, 20, whole.len() - 1] {
        let mut s = ns.connect();
        s.write_all(&whole[..cut]).expect("send");
        drop(s);
        ns.assert_still_serving(&format!("a frame cut after {cut} bytes"));
    }
    // Half-close instead: the server sees the end of the stream mid-frame and closes.
    let mut s = ns.connect();
    s.write_all(&whole[..20]).expect("send");
    s.shutdown(Shutdown::Write).expect("shutdown");
    assert!(
        closed_within(&mut s, Duration::from_secs(5)),
        "end of stream mid-frame left the connection open"
    );
    ns.assert_still_serving("end of stream mid-frame");
}

/// xorshift64*, for reproducible garbage.
fn garbage(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as u8
        })
        .collect()
}

#[test]
fn random_garbage_closes_the_connection() {
    let mut ns = Namesrv::start();
    for seed in 1..=12u64 {
        let bytes = garbage(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15), 4096);
        let len = i32::from_be_bytes(bytes[..4].try_into().expect("word"));
        let what = format!("4 KiB of garbage (seed {seed}, length word {len:#x})");
        if len >= 4 && (len as usize) + 4 <= MAX_FRAME && len as usize > bytes.len() - 4 {
            // A plausible length word: the server waits for the rest of that frame, as
            // Java does; it closes once the peer ends the stream.
            let mut s = ns.connect();
            s.write_all(&bytes).expect("send");
            s.shutdown(Shutdown::Write).expect("shutdown");
            assert!(closed_within(&mut s, Duration::from_secs(5)), "{what}");
            ns.assert_still_serving(&what);
        } else {
            assert_closes(&mut ns, &what, &bytes);
        }
    }
    // Garbage inside a well-formed length word reaches the header decoders.
    for seed in 100..110u64 {
        let mut bytes = (4092u32).to_be_bytes().to_vec();
        bytes.extend(garbage(seed, 4092));
        // Both serialize types the server knows, so the header decoders see it.
        bytes[4] = (seed % 2) as u8;
        assert_closes(&mut ns, &format!("framed garbage (seed {seed})"), &bytes);
    }
}

#[test]
fn header_length_larger_than_the_frame_closes_the_connection() {
    let mut ns = Namesrv::start();
    let header = json_header(GET_ALL_TOPIC_LIST, 1, 0);
    for (ser, claimed) in [(0u32, header.len() + 1), (0, 0xFF_FFFF), (1, 1000)] {
        let mut f = frame(0, header.as_bytes(), b"");
        f[4..8].copy_from_slice(&((ser << 24) | claimed as u32).to_be_bytes());
        assert_closes(
            &mut ns,
            &format!("header length {claimed} in a {}-byte frame", f.len() - 4),
            &f,
        );
    }
}

#[test]
fn malformed_json_header_closes_the_connection() {
    let mut ns = Namesrv::start();
    let cases: [(&str, &[u8]); 9] = [
        ("truncated JSON", br#"{"code":206,"opaque":"#),
        ("not JSON", b"hello, rocketmq"),
        ("empty header", b""),
        ("a JSON string", br#""{\"code\":206}""#),
        ("code not a number", br#"{"code":"abc","opaque":1}"#),
        ("code beyond int32", br#"{"code":4294967296,"opaque":1}"#),
        (
            "extFields not an object",
            br#"{"code":206,"opaque":1,"extFields":"x"}"#,
        ),
        ("invalid UTF-8", b"{\"code\":206,\"remark\":\"\xff\xfe\"}"),
        ("trailing garbage", br#"{"code":206,"opaque":1} xyz"#),
    ];
    for (what, header) in cases {
        assert_closes(&mut ns, what, &frame(0, header, b""));
    }
}

#[test]
fn json_array_header_is_read_positionally() {
    // Java's fastjson rejects a header that is an array. rmqd's serde-derived header
    // struct accepts a sequence and reads it in field order (code, language, version,
    // opaque, flag, remark, extFields). Harmless, but it differs from Java: pinned here
    // so that changing it is deliberate.
    let mut ns = Namesrv::start();
    let mut s = ns.connect();
    s.write_all(&frame(0, br#"[206,"JAVA",409,55,0]"#, b""))
        .expect("send");
    let r = read_reply(&mut s, "array header");
    assert_eq!((r.ser, r.code, r.opaque), (0, 0, 55), "{r:?}");
    ns.assert_still_serving("an array header");
}

#[test]
fn invalid_binary_header_closes_the_connection() {
    let mut ns = Namesrv::start();
    let good = binary_header(206, 1, 0, &[("topic", "T")]);
    let with = |at: usize, v: i32| {
        let mut h = good.clone();
        h[at..at + 4].copy_from_slice(&v.to_be_bytes());
        h
    };
    // Offsets: remark length at 13, ext length at 17, first key length at 21.
    let mut negative_key = good.clone();
    negative_key[21..23].copy_from_slice(&(-1i16).to_be_bytes());
    let mut not_utf8 = binary_header(206, 1, 0, &[("topic", "T")]);
    let last = not_utf8.len() - 1;
    not_utf8[last] = 0xFF;
    let cases: Vec<(&str, u8, Vec<u8>)> = vec![
        ("header shorter than its fixed part", 1, good[..10].to_vec()),
        ("negative remark length", 1, with(13, -5)),
        ("remark length past the end", 1, with(13, 1000)),
        ("negative ext length", 1, with(17, -1)),
        ("ext length past the end", 1, with(17, 1 << 20)),
        ("negative key length", 1, negative_key),
        ("ext value not UTF-8", 1, not_utf8),
        ("unknown serialize type 2", 2, good.clone()),
        ("unknown serialize type 0xFF", 0xFF, good.clone()),
    ];
    for (what, ser, header) in cases {
        assert_closes(&mut ns, what, &frame(ser, &header, b""));
    }
    // The untouched header is served, in binary.
    let mut s = ns.connect();
    s.write_all(&frame(1, &good, b"")).expect("send");
    let r = read_reply(&mut s, "valid binary header");
    assert_eq!((r.ser, r.code, r.opaque), (1, 0, 1), "{r:?}");
}

#[test]
fn pipelined_requests_on_one_connection_are_all_answered() {
    let mut ns = Namesrv::start();
    let mut s = ns.connect();
    let all: Vec<u8> = (0..100)
        .flat_map(|i| {
            if i % 3 == 0 {
                json_request(9999, i, 0)
            } else {
                json_request(GET_ALL_TOPIC_LIST, i, 0)
            }
        })
        .collect();
    s.write_all(&all).expect("send");
    let mut seen: Vec<i64> = (0..100)
        .map(|i| {
            let r = read_reply(&mut s, &format!("pipelined reply {i}"));
            let expected = if r.opaque % 3 == 0 { 3 } else { 0 };
            assert_eq!(r.code, expected, "{r:?}");
            r.opaque
        })
        .collect();
    seen.sort();
    assert_eq!(seen, (0..100).collect::<Vec<i64>>());
    ns.assert_still_serving("pipelined requests");
}

#[test]
fn two_hundred_concurrent_connections_are_answered() {
    let mut ns = Namesrv::start();
    const N: usize = 200;
    // All connections open at once, then every one sends at the same moment.
    let conns: Vec<TcpStream> = (0..N).map(|_| ns.connect()).collect();
    let barrier = Arc::new(Barrier::new(N));
    let threads: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(i, mut s)| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                s.set_read_timeout(Some(Duration::from_secs(20)))
                    .expect("timeout");
                barrier.wait();
                assert_topic_list(&mut s, 1000 + i as i32, &format!("connection {i}"));
            })
        })
        .collect();
    let failed = threads
        .into_iter()
        .map(|t| t.join())
        .filter(Result::is_err)
        .count();
    assert_eq!(
        failed, 0,
        "{failed} of {N} connections got no correct answer"
    );
    ns.assert_still_serving("200 concurrent connections");
}

#[test]
fn partial_frames_do_not_reserve_their_announced_size() {
    // remoting/src/frame.rs, CommandCodec::decode: `src.reserve(4 + len - src.len())`
    // allocates up to 16 MiB per connection for a length word alone, and nothing closes
    // a connection that never finishes its frame (Java's server closes connections idle
    // for 120 s, and Netty's frame decoder grows its buffer only as bytes arrive). With
    // an address-space limit the allocation fails and the process aborts ("memory
    // allocation of 16777216 bytes failed", SIGABRT).
    let mut ns = Namesrv::start_limited(Some(1_000_000));
    let mut held = Vec::new();
    for i in 0..100 {
        let Ok(mut s) = TcpStream::connect(&ns.addr) else {
            panic!("connection {i} refused: rmqd died:\n{}", ns.log());
        };
        let mut partial = ((MAX_FRAME - 4) as u32).to_be_bytes().to_vec();
        partial.extend_from_slice(&[0u8; 8]);
        let _ = s.write_all(&partial);
        held.push(s);
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(500));
    ns.assert_still_serving("100 connections holding partial 16 MiB frames");
}
