//! rmqd as a broker on a copy of the Java 4.9.8 golden store: it serves what the Java
//! broker stored and carries on its delayed-message state.

use std::path::Path;
use std::time::{Duration, Instant};

use rmqd_compat_tests::{fixtures_dir, Rmqd};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir").flatten() {
        let dst = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).expect("copy");
            let mut p = std::fs::metadata(&dst).expect("meta").permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            p.set_readonly(false);
            std::fs::set_permissions(&dst, p).expect("chmod");
        }
    }
}

/// GET_MAX_OFFSET (30); the answer is in the response header's extFields.
fn max_offset(r: &Rmqd, topic: &str, queue: i32) -> i64 {
    let header = remoting_header(&r.broker(), topic, queue);
    assert_eq!(header["code"], 0, "{header}");
    header["extFields"]["offset"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(-1)
}

fn remoting_header(addr: &str, topic: &str, queue: i32) -> serde_json::Value {
    use std::io::{Read, Write};
    let h = serde_json::json!({"code":30,"language":"JAVA","version":409,"opaque":9,"flag":0,
        "extFields":{"topic":topic,"queueId":queue.to_string()}})
    .to_string();
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    let mut f = ((4 + h.len()) as u32).to_be_bytes().to_vec();
    f.extend_from_slice(&(h.len() as u32).to_be_bytes());
    f.extend_from_slice(h.as_bytes());
    s.write_all(&f).expect("send");
    let mut len = [0u8; 4];
    s.read_exact(&mut len).expect("len");
    let mut buf = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut buf).expect("frame");
    let hl = (u32::from_be_bytes(buf[..4].try_into().expect("w")) & 0xFF_FFFF) as usize;
    serde_json::from_slice(&buf[4..4 + hl]).expect("json")
}

#[test]
fn pending_level_18_messages_are_delivered_from_a_java_store() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = tmp.path().join("store");
    copy_dir(&fixtures_dir().join("java-store-v1"), &store);
    let root = format!("storePathRootDir={}", store.display());
    // The Java store's geometry, and a schedule clock 2 h ahead so the level-18 (2 h)
    // messages are due now.
    let r = Rmqd::start(&[
        &root,
        "mappedFileSizeCommitLog=262144",
        "mappedFileSizeConsumeQueue=6000",
        "maxHashSlotNum=100",
        "maxIndexNum=400",
        "scheduleClockOffsetMillis=7200000",
    ]);
    // What the Java broker stored is served as it was.
    assert_eq!(max_offset(&r, "FixtureTopic", 0), 50);
    assert_eq!(max_offset(&r, "PadTopic", 0), 330);
    // DelayTopic held the 5 delivered level-1/2 copies; the 2 pending level-18 ones follow.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let n = max_offset(&r, "DelayTopic", 0);
        if n == 7 {
            break;
        }
        assert!(n == 5 || n == 6, "DelayTopic max offset {n}");
        assert!(
            Instant::now() < deadline,
            "level-18 messages not delivered; log:\n{}",
            r.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Levels 1 and 2 were already done (delayOffset.json {1:6,2:2}): nothing delivered twice.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(max_offset(&r, "DelayTopic", 0), 7);
    let dump = std::process::Command::new(rmqd_compat_tests::rmqd_bin())
        .args([
            "store",
            "dump",
            store.to_str().expect("path"),
            "--topic",
            "DelayTopic",
            "--json",
        ])
        .output()
        .expect("dump");
    let text = String::from_utf8_lossy(&dump.stdout);
    assert!(
        text.contains("delay-5-level-18") && text.contains("delay-6-level-18"),
        "{text}"
    );
}
