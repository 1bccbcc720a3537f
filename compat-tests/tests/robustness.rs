//! Bad input against a real `rmqd namesrv` process: unknown codes are answered, broken
//! or oversized frames close only their own connection, and the server keeps serving.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rmqd_compat_tests::{free_port, remoting_request, rmqd_bin};

struct Namesrv {
    child: Child,
    addr: String,
    _home: tempfile::TempDir,
}

impl Drop for Namesrv {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Namesrv {
    let port = free_port();
    let home = tempfile::tempdir().expect("tempdir");
    let child = Command::new(rmqd_bin())
        .args(["namesrv", "--listen", &format!("127.0.0.1:{port}")])
        .env("HOME", home.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start rmqd namesrv");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "namesrv did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Namesrv {
        child,
        addr: format!("127.0.0.1:{port}"),
        _home: home,
    }
}

/// The server still answers a valid request on a fresh connection.
fn still_serving(ns: &mut Namesrv) {
    assert!(ns.child.try_wait().expect("wait").is_none(), "rmqd exited");
    let (code, _, _) = remoting_request(&ns.addr, 206, &[], b"");
    assert_eq!(
        code, 0,
        "GET_ALL_TOPIC_LIST_FROM_NAMESERVER after bad input"
    );
}

fn connect(addr: &str) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s
}

fn json_frame(header: &str, body: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&((4 + header.len() + body.len()) as u32).to_be_bytes());
    f.extend_from_slice(&(header.len() as u32).to_be_bytes());
    f.extend_from_slice(header.as_bytes());
    f.extend_from_slice(body);
    f
}

/// True when the server closed the connection (EOF or reset) within the timeout.
fn closed(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return false
            }
            Err(_) => return true,
        }
    }
}

#[test]
fn unknown_code_is_answered_and_the_connection_stays_usable() {
    let mut ns = start();
    let mut s = connect(&ns.addr);
    s.write_all(&json_frame(
        r#"{"code":9999,"language":"JAVA","version":409,"opaque":77,"flag":0}"#,
        b"",
    ))
    .expect("send");
    let mut len = [0u8; 4];
    s.read_exact(&mut len).expect("reply");
    let mut buf = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut buf).expect("reply");
    let h: serde_json::Value = serde_json::from_slice(&buf[4..]).expect("json");
    assert_eq!(h["code"], 3);
    assert_eq!(h["opaque"], 77);
    assert!(h["remark"].as_str().unwrap_or("").contains("9999"), "{h}");
    // Oneway unknown code: no answer at all; then a valid request on the same connection.
    s.write_all(&json_frame(
        r#"{"code":9998,"language":"JAVA","version":409,"opaque":78,"flag":2}"#,
        b"",
    ))
    .expect("send");
    s.write_all(&json_frame(
        r#"{"code":206,"language":"JAVA","version":409,"opaque":79,"flag":0}"#,
        b"",
    ))
    .expect("send");
    s.read_exact(&mut len).expect("reply");
    let mut buf = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut buf).expect("reply");
    let hl = (u32::from_be_bytes(buf[..4].try_into().expect("w")) & 0xFF_FFFF) as usize;
    let h: serde_json::Value = serde_json::from_slice(&buf[4..4 + hl]).expect("json");
    assert_eq!(
        h["opaque"], 79,
        "the oneway request got no reply; the next one did"
    );
    still_serving(&mut ns);
}

#[test]
fn broken_frames_close_only_their_connection() {
    let mut ns = start();
    let bystander = connect(&ns.addr);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "oversized length word",
            (64u32 << 20).to_be_bytes().to_vec(),
        ),
        ("header longer than frame", {
            let mut f = 20u32.to_be_bytes().to_vec();
            f.extend_from_slice(&1000u32.to_be_bytes());
            f.extend_from_slice(&[b'{'; 16]);
            f
        }),
        (
            "malformed JSON header",
            json_frame("{\"code\":10,\"opaque\":", b""),
        ),
        ("unknown serialize type", {
            let mut f = 12u32.to_be_bytes().to_vec();
            f.extend_from_slice(&((7u32 << 24) | 8).to_be_bytes());
            f.extend_from_slice(&[0u8; 8]);
            f
        }),
        ("truncated binary header", {
            let mut f = 10u32.to_be_bytes().to_vec();
            f.extend_from_slice(&((1u32 << 24) | 6).to_be_bytes());
            f.extend_from_slice(&[0, 10, 0, 0, 0, 0]);
            f
        }),
        // Garbage framed by a plausible length word (otherwise the server rightly waits
        // for the rest of a frame that size).
        ("random garbage in a frame", {
            let mut f = 4092u32.to_be_bytes().to_vec();
            f.extend((0..4092u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8));
            f
        }),
    ];
    for (what, bytes) in cases {
        let mut s = connect(&ns.addr);
        let _ = s.write_all(&bytes);
        assert!(closed(&mut s), "{what}: connection left open");
        still_serving(&mut ns);
    }
    // A truncated frame followed by hang-up.
    let mut s = connect(&ns.addr);
    let _ = s.write_all(&json_frame(r#"{"code":206,"opaque":1}"#, b"")[..10]);
    drop(s);
    still_serving(&mut ns);
    // The bystander connection was never disturbed.
    let mut b = bystander;
    b.write_all(&json_frame(
        r#"{"code":206,"language":"JAVA","version":409,"opaque":5,"flag":0}"#,
        b"",
    ))
    .expect("bystander send");
    let mut len = [0u8; 4];
    b.read_exact(&mut len).expect("bystander reply");
}

#[test]
fn many_concurrent_connections_are_served() {
    let ns = start();
    let handles: Vec<_> = (0..200)
        .map(|_| {
            let addr = ns.addr.clone();
            std::thread::spawn(move || remoting_request(&addr, 206, &[], b"").0)
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().expect("thread"), 0);
    }
}
