//! Hostile and careless peers against a real `rmqd standalone`: crowds of idle
//! connections, frames trickled a byte at a time, absurd declared lengths, headers with a
//! million fields, bytes that are not UTF-8, numbers that are not numbers, negative queue
//! ids and offsets, and pull batch sizes of 2^31-1.
//!
//! Each case gets the Java broker's answer (code and remark) or, where Java's decoder
//! would throw, a closed connection. Around every case a bystander on another connection
//! must still be answered within a generous deadline, the process's CPU time and peak
//! resident memory (read from /proc) must stay within generous bounds, and the figures
//! are printed (`--nocapture`) for the README.
//!
//! The binary is `$RMQD_BIN`, else `target/debug/rmqd` (build it first).

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use rmqd_compat_tests::wire::{self, Conn};
use rmqd_compat_tests::{create_topic, Rmqd};
use serde_json::Value;

const GET_BROKER_CONFIG: i32 = 26;
const GET_ALL_TOPIC_LIST_FROM_NAMESERVER: i32 = 206;
const SEND_MESSAGE_V2: i32 = 310;
const PULL_MESSAGE: i32 = 11;
const SEND_BATCH_MESSAGE: i32 = 320;

const SUCCESS: i64 = 0;
const SYSTEM_ERROR: i64 = 1;
const MESSAGE_ILLEGAL: i64 = 13;
const PULL_NOT_FOUND: i64 = 19;
const PULL_OFFSET_MOVED: i64 = 21;

/// How long a bystander may wait for its answer. Generous: the machine is shared and the
/// binary is a debug build; a stalled worker would hold it for many times this.
const BYSTANDER_DEADLINE: Duration = Duration::from_secs(10);

/// The rmqd process's pid, found by its own config file on its command line (the
/// harness keeps the child handle to itself).
fn pid_of(r: &Rmqd) -> u32 {
    let needle = r.home.path().join("broker.conf");
    let needle = needle.to_string_lossy().into_owned();
    let entries = std::fs::read_dir("/proc").expect("/proc");
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
        if args.contains(&needle.as_bytes()) {
            return pid;
        }
    }
    panic!("no rmqd process runs with {needle}")
}

fn clock_ticks_per_sec() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime of `pid`, in seconds.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the state field.
    let ticks: f64 = f[11].parse::<f64>().expect("utime") + f[12].parse::<f64>().expect("stime");
    ticks / clock_ticks_per_sec()
}

/// A line of /proc/<pid>/status in KiB (VmHWM: peak resident set, VmRSS: current).
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} missing from status"))
}

/// Peak RSS must stay under `bound_mib`; the figure is printed either way.
fn assert_peak_rss(pid: u32, case: &str, bound_mib: u64) -> u64 {
    let hwm = status_kib(pid, "VmHWM") / 1024;
    println!("[{case}] rmqd peak RSS (VmHWM): {hwm} MiB");
    assert!(
        hwm < bound_mib,
        "[{case}] rmqd peak RSS {hwm} MiB exceeds {bound_mib} MiB"
    );
    hwm
}

/// A frame from raw parts: total length, serialize type and header length, header, body.
fn raw_frame(ser: u8, header: &[u8], body: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(8 + header.len() + body.len());
    f.extend_from_slice(&((4 + header.len() + body.len()) as u32).to_be_bytes());
    f.extend_from_slice(&((u32::from(ser) << 24) | header.len() as u32).to_be_bytes());
    f.extend_from_slice(header);
    f.extend_from_slice(body);
    f
}

fn request_frame(code: i32, opaque: i32, ext: &[(&str, &str)]) -> Vec<u8> {
    let ext: serde_json::Map<String, Value> = ext
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        .collect();
    let header = serde_json::json!({
        "code": code, "language": "JAVA", "version": 409, "opaque": opaque, "flag": 0,
        "extFields": ext
    });
    wire::json_frame(&header, b"")
}

/// Reads one frame's JSON header within `within`; None on timeout, EOF or reset.
fn read_header(s: &mut TcpStream, within: Duration) -> Option<Value> {
    s.set_read_timeout(Some(within)).ok()?;
    let mut len = [0u8; 4];
    s.read_exact(&mut len).ok()?;
    let mut buf = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut buf).ok()?;
    let hlen = (u32::from_be_bytes(buf[..4].try_into().ok()?) & 0xFF_FFFF) as usize;
    serde_json::from_slice(buf.get(4..4 + hlen)?).ok()
}

/// A fresh connection to `addr` gets the answer to `code` within the bystander deadline.
fn assert_answered(addr: &str, code: i32, case: &str) {
    let started = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("[{case}] connect: {e}"));
    s.write_all(&request_frame(code, 7, &[]))
        .unwrap_or_else(|e| panic!("[{case}] bystander write: {e}"));
    let h = read_header(&mut s, BYSTANDER_DEADLINE);
    let h = h.unwrap_or_else(|| {
        panic!("[{case}] a bystander on {addr} was not answered within {BYSTANDER_DEADLINE:?}")
    });
    assert_eq!(h["code"].as_i64(), Some(SUCCESS), "[{case}] bystander: {h}");
    assert_eq!(h["opaque"].as_i64(), Some(7), "[{case}] bystander: {h}");
    println!(
        "[{case}] bystander on {addr} answered in {} ms",
        started.elapsed().as_millis()
    );
}

fn assert_broker_serving(r: &Rmqd, case: &str) {
    assert_answered(&r.broker(), GET_BROKER_CONFIG, case);
}

/// The peer closed (EOF or reset) within `within`, having sent nothing back.
fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let _ = s.set_read_timeout(Some(within));
    match s.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => panic!("a reply came to a frame that should have closed the connection"),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
        Err(_) => true,
    }
}

/// Writes `bytes` on a fresh connection (ignoring a reset part way: the broker may close
/// as soon as it has seen enough) and asserts the connection is closed soon after.
fn assert_closes(r: &Rmqd, bytes: &[u8], case: &str) {
    let mut s = TcpStream::connect(r.broker()).expect("connect");
    let _ = s.write_all(bytes);
    assert!(
        closed_within(&mut s, Duration::from_secs(20)),
        "[{case}] the connection stayed open"
    );
}

/// A JSON header carrying `n` distinct extFields with short keys and empty values.
fn json_header_with_fields(n: usize) -> Vec<u8> {
    let mut h = Vec::with_capacity(n * 10 + 128);
    h.extend_from_slice(
        br#"{"code":310,"language":"JAVA","version":409,"opaque":1,"flag":0,"extFields":{"#,
    );
    for i in 0..n {
        if i > 0 {
            h.push(b',');
        }
        h.extend_from_slice(format!("\"{i:x}\":\"\"").as_bytes());
    }
    h.extend_from_slice(b"}}");
    h
}

/// A ROCKETMQ binary header with `n` distinct one-byte-valued fields.
fn binary_header_with_fields(n: usize) -> Vec<u8> {
    let mut ext = Vec::with_capacity(n * 12);
    for i in 0..n {
        let k = format!("{i:x}");
        ext.extend_from_slice(&(k.len() as i16).to_be_bytes());
        ext.extend_from_slice(k.as_bytes());
        ext.extend_from_slice(&1i32.to_be_bytes());
        ext.push(b'x');
    }
    binary_header(&ext)
}

fn binary_header(ext: &[u8]) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&(SEND_MESSAGE_V2 as i16).to_be_bytes());
    h.push(0);
    h.extend_from_slice(&409i16.to_be_bytes());
    h.extend_from_slice(&1i32.to_be_bytes());
    h.extend_from_slice(&0i32.to_be_bytes());
    h.extend_from_slice(&0i32.to_be_bytes());
    h.extend_from_slice(&(ext.len() as i32).to_be_bytes());
    h.extend_from_slice(ext);
    h
}

/// The defect's frame: a 2.4 MB JSON header with 200,000 ext fields, once on each of two
/// connections (one per runtime worker on this 2-core machine). Decoding it used to cost
/// 36-40 CPU-seconds (release build) per frame and stall the worker that read it.
#[test]
fn two_frames_of_200_000_header_fields_stall_nobody_and_cost_little_cpu() {
    let r = Rmqd::start(&[]);
    let pid = pid_of(&r);
    assert_broker_serving(&r, "200k fields, before");
    let cpu0 = cpu_secs(pid);
    let frame = raw_frame(0, &json_header_with_fields(200_000), b"");
    assert!(frame.len() > 2_000_000 && frame.len() < 16 * 1024 * 1024);
    let hostile: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut s = TcpStream::connect(r.broker()).expect("connect");
            s.write_all(&frame)
                .expect("the broker reads the whole frame");
            s
        })
        .collect();
    assert_broker_serving(&r, "200k fields, during");
    for mut s in hostile {
        assert!(
            closed_within(&mut s, Duration::from_secs(10)),
            "a header with 200,000 fields was not refused within 10 s"
        );
    }
    let spent = cpu_secs(pid) - cpu0;
    println!("[200k fields] rmqd CPU for two frames: {spent:.2} s");
    assert!(
        spent < 5.0,
        "two 200,000-field headers cost rmqd {spent:.2} CPU-seconds"
    );
    assert_peak_rss(pid, "200k fields", 512);
    assert_broker_serving(&r, "200k fields, after");
}

/// 10^6 fields, as JSON (about 9 MB) and as a binary header (about 11 MB).
#[test]
fn a_header_with_a_million_fields_closes_its_connection() {
    let r = Rmqd::start(&[]);
    let pid = pid_of(&r);
    let cpu0 = cpu_secs(pid);
    let json = raw_frame(0, &json_header_with_fields(1_000_000), b"");
    let binary = raw_frame(1, &binary_header_with_fields(1_000_000), b"");
    for (frame, case) in [(json, "10^6 JSON fields"), (binary, "10^6 binary fields")] {
        assert!(
            frame.len() < 16 * 1024 * 1024,
            "{case}: {} bytes",
            frame.len()
        );
        assert_closes(&r, &frame, case);
        assert_broker_serving(&r, case);
    }
    let spent = cpu_secs(pid) - cpu0;
    println!("[10^6 fields] rmqd CPU for both frames: {spent:.2} s");
    assert!(
        spent < 5.0,
        "10^6-field headers cost {spent:.2} CPU-seconds"
    );
    assert_peak_rss(pid, "10^6 fields", 512);
}

/// Length words of 2 GiB - 1, 2 GiB (negative as an i32) and 4 GiB - 1: refused from
/// the length word alone, nothing reserved for them.
#[test]
fn declared_lengths_of_2_gib_close_the_connection_without_reserving_them() {
    let r = Rmqd::start(&[]);
    let pid = pid_of(&r);
    for (word, case) in [
        (0x7FFF_FFFFu32, "length 2 GiB - 1"),
        (0x8000_0000, "length 2 GiB"),
        (0xFFFF_FFFF, "length 4 GiB - 1"),
    ] {
        let mut bytes = word.to_be_bytes().to_vec();
        bytes.extend_from_slice(&request_frame(GET_BROKER_CONFIG, 1, &[])[4..]);
        assert_closes(&r, &bytes, case);
        assert_broker_serving(&r, case);
    }
    assert_peak_rss(pid, "2 GiB lengths", 256);
}

/// serde_json refuses bytes that are not UTF-8 (fastjson would substitute U+FFFD); the
/// frame cannot be read as a command, so its connection closes like any malformed frame.
#[test]
fn invalid_utf8_in_headers_closes_the_connection() {
    let r = Rmqd::start(&[]);
    let cases: [(&str, Vec<u8>); 4] = [
        (
            "JSON remark",
            b"{\"code\":26,\"language\":\"JAVA\",\"opaque\":1,\"remark\":\"\xff\xfe\"}".to_vec(),
        ),
        (
            "JSON extFields key",
            b"{\"code\":26,\"language\":\"JAVA\",\"opaque\":1,\"extFields\":{\"\xc3\x28\":\"v\"}}"
                .to_vec(),
        ),
        (
            "JSON extFields value",
            b"{\"code\":310,\"language\":\"JAVA\",\"opaque\":1,\"extFields\":{\"b\":\"T\xed\xa0\x80\"}}"
                .to_vec(),
        ),
        ("binary extFields value", {
            let mut ext = Vec::new();
            ext.extend_from_slice(&1i16.to_be_bytes());
            ext.push(b'b');
            ext.extend_from_slice(&2i32.to_be_bytes());
            ext.extend_from_slice(b"\x80\x81");
            binary_header(&ext)
        }),
    ];
    for (case, header) in cases {
        let ser = u8::from(case.starts_with("binary"));
        assert_closes(&r, &raw_frame(ser, &header, b""), case);
        assert_broker_serving(&r, case);
    }
}

fn send_ext(queue: &str, props: &str) -> Vec<(&'static str, String)> {
    vec![
        ("a", "PG_ABUSE".to_string()),
        ("b", "TopicAbuse".to_string()),
        ("c", "TBW102".to_string()),
        ("d", "4".to_string()),
        ("e", queue.to_string()),
        ("f", "0".to_string()),
        ("g", wire::now_ms().to_string()),
        ("h", "0".to_string()),
        ("i", props.to_string()),
        ("j", "0".to_string()),
        ("k", "false".to_string()),
    ]
}

fn pull_ext(queue: &str, offset: &str, max: &str) -> Vec<(&'static str, String)> {
    vec![
        ("consumerGroup", "CG_ABUSE".to_string()),
        ("topic", "TopicAbuse".to_string()),
        ("queueId", queue.to_string()),
        ("queueOffset", offset.to_string()),
        ("maxMsgNums", max.to_string()),
        ("sysFlag", "4".to_string()),
        ("commitOffset", "0".to_string()),
        ("suspendTimeoutMillis", "0".to_string()),
        ("subscription", "*".to_string()),
        ("subVersion", "0".to_string()),
        ("expressionType", "TAG".to_string()),
    ]
}

/// Java's `decodeCommandCustomHeader` logs a field it cannot parse and leaves it null;
/// the required queue id then fails with a SYSTEM_ERROR. rmqd answers the same code and
/// names the field.
#[test]
fn non_numeric_header_numbers_are_answered_with_system_error() {
    let r = Rmqd::start(&[]);
    create_topic(&r.broker(), "TopicAbuse", 4);
    let mut c = Conn::connect(&r.broker());
    let f = c.request(SEND_MESSAGE_V2, &send_ext("abc", ""), b"body");
    assert_eq!(f.code, SYSTEM_ERROR, "send queueId \"abc\": {}", f.remark);
    assert!(f.remark.contains("abc"), "remark: {}", f.remark);
    let f = c.request(PULL_MESSAGE, &pull_ext("abc", "0", "32"), b"");
    assert_eq!(f.code, SYSTEM_ERROR, "pull queueId \"abc\": {}", f.remark);
    assert!(f.remark.contains("queueId"), "remark: {}", f.remark);
    let f = c.request(PULL_MESSAGE, &pull_ext("0", "1e3", "32"), b"");
    assert_eq!(
        f.code, SYSTEM_ERROR,
        "pull queueOffset \"1e3\": {}",
        f.remark
    );
    assert!(f.remark.contains("queueOffset"), "remark: {}", f.remark);
    // Out-of-range for an i32 is as unparseable to Java as letters.
    let f = c.request(SEND_MESSAGE_V2, &send_ext("4294967296", ""), b"body");
    assert_eq!(f.code, SYSTEM_ERROR, "send queueId 2^32: {}", f.remark);
    assert_broker_serving(&r, "non-numeric numbers");
}

/// Send: a negative queue id makes Java pick a writable queue (`sendMessage`). Pull: a
/// negative queue id is refused by `PullMessageProcessor`'s range check, and a negative
/// offset is below the queue's minimum, which Java answers with PULL_OFFSET_MOVED and the
/// minimum as the next offset.
#[test]
fn negative_queue_ids_and_offsets_get_java_answers() {
    let r = Rmqd::start(&[]);
    create_topic(&r.broker(), "TopicAbuse", 4);
    let mut c = Conn::connect(&r.broker());
    for q in ["-1", "-2147483648"] {
        let f = c.request(SEND_MESSAGE_V2, &send_ext(q, ""), b"neg");
        assert_eq!(f.code, SUCCESS, "send queueId {q}: {}", f.remark);
        let chosen = f.ext_i64("queueId");
        assert!(
            (0..4).contains(&chosen),
            "send queueId {q} stored in {chosen}"
        );
    }
    let f = c.request(PULL_MESSAGE, &pull_ext("-1", "0", "32"), b"");
    assert_eq!(f.code, SYSTEM_ERROR, "pull queueId -1: {}", f.remark);
    assert!(
        f.remark.starts_with(
            "queueId[-1] is illegal, topic:[TopicAbuse] topicConfig.readQueueNums:[4] consumer:["
        ),
        "remark: {}",
        f.remark
    );
    // Fill queue 0 so that a negative offset is "too small" rather than "no message".
    for _ in 0..3 {
        let f = c.request(SEND_MESSAGE_V2, &send_ext("0", ""), b"q0");
        assert_eq!(f.code, SUCCESS, "{}", f.remark);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (code, msgs) = wire::pull(&mut c, "CG_ABUSE", "TopicAbuse", 0, 0, 32);
        if code == SUCCESS && msgs.len() >= 3 {
            break;
        }
        assert!(Instant::now() < deadline, "queue 0 never filled");
        std::thread::sleep(Duration::from_millis(50));
    }
    for off in ["-1", "-9223372036854775808"] {
        let f = c.request(PULL_MESSAGE, &pull_ext("0", off, "32"), b"");
        assert_eq!(f.code, PULL_OFFSET_MOVED, "pull offset {off}: {}", f.remark);
        assert_eq!(
            f.ext_i64("nextBeginOffset"),
            0,
            "pull offset {off}: {:?}",
            f.ext
        );
    }
    // An empty queue: NO_MESSAGE_IN_QUEUE, and an offset other than 0 is "moved" to 0.
    let f = c.request(PULL_MESSAGE, &pull_ext("3", "-5", "32"), b"");
    assert_eq!(
        f.code, PULL_OFFSET_MOVED,
        "empty queue, offset -5: {}",
        f.remark
    );
    assert_eq!(f.ext_i64("nextBeginOffset"), 0, "empty queue: {:?}", f.ext);
    assert_broker_serving(&r, "negative ids");
}

/// maxMsgNums 2^31-1 (and 0 and negative): Java's store caps a pull at
/// maxTransferCountOnMessageInMemory (32) messages, and takes at least one.
#[test]
fn huge_pull_batch_sizes_are_capped_like_java() {
    let r = Rmqd::start(&[]);
    let pid = pid_of(&r);
    create_topic(&r.broker(), "TopicAbuse", 1);
    let mut c = Conn::connect(&r.broker());
    for i in 0..40 {
        let f = c.request(
            SEND_MESSAGE_V2,
            &send_ext("0", ""),
            format!("m{i}").as_bytes(),
        );
        assert_eq!(f.code, SUCCESS, "{}", f.remark);
    }
    let count = |c: &mut Conn, max: &str| {
        let f = c.request(PULL_MESSAGE, &pull_ext("0", "0", max), b"");
        (f.code, rmqd_store::record::decode_all(&f.body).len())
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while count(&mut c, "40") != (SUCCESS, 32) {
        assert!(
            Instant::now() < deadline,
            "40 messages never became pullable"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        count(&mut c, "2147483647"),
        (SUCCESS, 32),
        "maxMsgNums 2^31-1"
    );
    assert_eq!(
        count(&mut c, "-2147483648"),
        (SUCCESS, 1),
        "maxMsgNums -2^31"
    );
    assert_eq!(count(&mut c, "0"), (SUCCESS, 1), "maxMsgNums 0");
    let f = c.request(PULL_MESSAGE, &pull_ext("0", "40", "2147483647"), b"");
    assert_eq!(f.code, PULL_NOT_FOUND, "at the end: {}", f.remark);
    assert_peak_rss(pid, "huge pull", 256);
    assert_broker_serving(&r, "huge pull");
}

/// A properties string longer than a record can hold (32767 bytes) is refused before it
/// is parsed, with the code and remark of Java's store refusal. It is made of tiny pairs,
/// the shape that used to make parsing quadratic.
#[test]
fn properties_past_32_kib_are_refused_with_javas_remark() {
    let r = Rmqd::start(&[]);
    create_topic(&r.broker(), "TopicAbuse", 1);
    let mut c = Conn::connect(&r.broker());
    let long: String = (0..10_000).map(|i| format!("{i:x}\u{1}\u{2}")).collect();
    assert!(long.len() > 32767 && long.len() < 65535);
    let remark = "the message is illegal, maybe msg body or properties length not matched. msg body length limit 4194304B, msg properties length limit 32KB.";
    let f = c.request(SEND_MESSAGE_V2, &send_ext("0", &long), b"body");
    assert_eq!(f.code, MESSAGE_ILLEGAL, "{}", f.remark);
    assert_eq!(f.remark, remark);

    // SEND_BATCH_MESSAGE: the batch's own properties, and an entry's (whose length is a
    // 16-bit field of the body, so up to 65535 bytes), get the same refusal.
    let entry = batch_entry(b"b0", "");
    let f = c.request(SEND_BATCH_MESSAGE, &send_ext("0", &long), &entry);
    assert_eq!(f.code, MESSAGE_ILLEGAL, "batch header: {}", f.remark);
    assert_eq!(f.remark, remark, "batch header");
    let f = c.request(
        SEND_BATCH_MESSAGE,
        &send_ext("0", ""),
        &batch_entry(b"b1", &long),
    );
    assert_eq!(f.code, MESSAGE_ILLEGAL, "batch entry: {}", f.remark);
    assert_eq!(f.remark, remark, "batch entry");
    // Just under the limit, with many pairs: stored, each pair kept.
    let pairs: String = (0..5_000).map(|i| format!("{i:x}\u{1}v\u{2}")).collect();
    assert!(pairs.len() < 32000);
    let f = c.request(SEND_MESSAGE_V2, &send_ext("0", &pairs), b"body");
    assert_eq!(f.code, SUCCESS, "{}", f.remark);
    let msgs = wire::pull_when_there(&mut c, "CG_ABUSE", "TopicAbuse", 0, 0);
    assert_eq!(msgs[0].property("0"), Some("v"));
    assert_eq!(msgs[0].property(&format!("{:x}", 4_999)), Some("v"));
    assert_broker_serving(&r, "long properties");
}

/// One message of a SEND_BATCH_MESSAGE body: `[totalSize][magic][bodyCRC][flag][bodyLen]
/// [body][propsLen:i16][props]`.
fn batch_entry(body: &[u8], props: &str) -> Vec<u8> {
    let total = 20 + body.len() + 2 + props.len();
    let mut v = Vec::with_capacity(total);
    v.extend_from_slice(&(total as i32).to_be_bytes());
    v.extend_from_slice(&[0; 8]);
    v.extend_from_slice(&0i32.to_be_bytes());
    v.extend_from_slice(&(body.len() as i32).to_be_bytes());
    v.extend_from_slice(body);
    v.extend_from_slice(&(props.len() as u16).to_be_bytes());
    v.extend_from_slice(props.as_bytes());
    v
}

/// A request written one byte at a time is answered once its last byte arrives; one that
/// trickles slower than the idle timeout allows is closed by it (the timer counts whole
/// frames, so trickling bytes does not keep a connection alive). Others are served
/// meanwhile.
#[test]
fn slowloris_frames_are_served_or_closed_by_the_idle_timeout() {
    let r = Rmqd::start(&["serverChannelMaxIdleTimeSeconds=2"]);
    let frame = request_frame(GET_BROKER_CONFIG, 99, &[]);
    let mut s = TcpStream::connect(r.broker()).expect("connect");
    s.set_nodelay(true).expect("nodelay");
    for (i, b) in frame.iter().enumerate() {
        s.write_all(&[*b]).expect("write a byte");
        std::thread::sleep(Duration::from_millis(5));
        if i == frame.len() / 2 {
            assert_broker_serving(&r, "slowloris, mid-frame");
        }
    }
    let h = read_header(&mut s, BYSTANDER_DEADLINE).expect("the trickled request is answered");
    assert_eq!(h["code"].as_i64(), Some(SUCCESS), "{h}");
    assert_eq!(h["opaque"].as_i64(), Some(99), "{h}");

    // 1000 announced bytes at one byte per 250 ms would take four minutes.
    let mut s = TcpStream::connect(r.broker()).expect("connect");
    s.set_nodelay(true).expect("nodelay");
    let mut bytes = 1000u32.to_be_bytes().to_vec();
    bytes.extend_from_slice(&frame[4..]);
    let started = Instant::now();
    let mut closed = false;
    for b in bytes.iter().take(80) {
        if s.write_all(&[*b]).is_err() {
            closed = true;
            break;
        }
        let _ = s.set_read_timeout(Some(Duration::from_millis(250)));
        let mut one = [0u8; 1];
        match s.read(&mut one) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(_) => panic!("a reply came to a half-sent frame"),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => {
                closed = true;
                break;
            }
        }
    }
    let took = started.elapsed();
    println!("[slowloris] trickling connection closed after {took:?}");
    assert!(closed, "a frame trickled for {took:?} kept its connection");
    assert!(
        took < Duration::from_secs(12),
        "the idle timeout of 2 s took {took:?} to close a trickling frame"
    );
    assert_broker_serving(&r, "slowloris, after");
}

/// 10,000 connections that never send a byte. The broker port serves at most 10,000
/// connections at once (`ServerConfig::max_connections`) and closes the next one at
/// once, so the bystanders use the name server and the broker's VIP port (listen port -
/// 2), which have their own limits; after the crowd leaves the main port serves again. The fd limit is raised in the
/// harness's environment (this process and rmqd inherit 20,000 here); peak RSS is
/// printed for the README.
#[test]
fn ten_thousand_idle_connections_leave_the_broker_serving() {
    const IDLE: usize = 10_000;
    let r = Rmqd::start(&[]);
    let pid = pid_of(&r);
    let before = status_kib(pid, "VmRSS") / 1024;
    let started = Instant::now();
    let mut idle = Vec::with_capacity(IDLE);
    for i in 0..IDLE {
        match TcpStream::connect(r.broker()) {
            Ok(s) => idle.push(s),
            Err(e) => panic!("connection {i} of {IDLE} failed: {e} (raise `ulimit -n`)"),
        }
    }
    println!(
        "[10k idle] opened {IDLE} connections in {:?}",
        started.elapsed()
    );
    // Every connection is accepted (has a task) before the measurement: the fd count of
    // rmqd shows it.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| d.count())
            .unwrap_or(0);
        if fds >= IDLE {
            println!("[10k idle] rmqd holds {fds} fds");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "rmqd accepted only {fds} of {IDLE} connections in 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let vip = format!("127.0.0.1:{}", r.broker_port - 2);
    assert_answered(&vip, GET_BROKER_CONFIG, "10k idle, VIP port");
    assert_answered(
        &r.namesrv(),
        GET_ALL_TOPIC_LIST_FROM_NAMESERVER,
        "10k idle, namesrv",
    );
    // One more on the main port is closed at once (not left hanging in the backlog),
    // and the log says why.
    let mut extra = TcpStream::connect(r.broker()).expect("connect past the limit");
    extra
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut byte = [0u8; 1];
    let refused = Instant::now();
    match std::io::Read::read(&mut extra, &mut byte) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("a connection past the limit was not closed: {other:?}"),
    }
    assert!(
        refused.elapsed() < Duration::from_secs(4),
        "closed only after {:?}",
        refused.elapsed()
    );
    assert!(r.log().contains("connection limit reached"), "{}", r.log());
    let with = status_kib(pid, "VmRSS") / 1024;
    println!("[10k idle] rmqd RSS {before} MiB before, {with} MiB with {IDLE} idle connections");
    assert_peak_rss(pid, "10k idle", 1024);
    drop(idle);
    let deadline = Instant::now() + BYSTANDER_DEADLINE;
    loop {
        let mut s = TcpStream::connect(r.broker()).expect("connect");
        s.write_all(&request_frame(GET_BROKER_CONFIG, 7, &[]))
            .expect("write");
        if read_header(&mut s, Duration::from_secs(2)).is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the broker port did not serve again after the idle crowd left"
        );
    }
}
