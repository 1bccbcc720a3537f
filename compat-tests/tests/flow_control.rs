//! Load shedding: when more sends are waiting for the store's writer than
//! `sendThreadPoolQueueCapacity`, rmqd answers SYSTEM_BUSY with Java's flow-control remark
//! instead of queueing without bound, and every send it acknowledged is stored.

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use rmqd_compat_tests::wire;
use rmqd_compat_tests::{create_topic, max_offset, Rmqd};
use serde_json::Value;

const SENDS: usize = 3000;

fn send_frame(topic: &str, i: usize, body: &[u8]) -> Vec<u8> {
    let header = serde_json::json!({
        "code": 310, "language": "JAVA", "version": 409, "opaque": i, "flag": 0,
        "extFields": {
            "a": "FlowProducer", "b": topic, "c": "TBW102", "d": "4",
            "e": (i % 4).to_string(), "f": "0", "g": "0", "h": "0",
            "i": format!("UNIQ_KEY\u{1}flow-{i}\u{2}WAIT\u{1}true"),
            "j": "0", "k": "false", "m": "false"
        }
    });
    wire::json_frame(&header, body)
}

fn read_header(r: &mut impl Read) -> Value {
    wire::read_frame(r).0
}

#[test]
fn a_full_send_queue_answers_system_busy_and_loses_nothing_acknowledged() {
    let r = Rmqd::start(&["sendThreadPoolQueueCapacity=2"]);
    let topic = "FlowTopic";
    create_topic(&r.broker(), topic, 4);
    let body = vec![b'x'; 1024];
    let mut out: Vec<u8> = Vec::new();
    for i in 0..SENDS {
        out.extend_from_slice(&send_frame(topic, i, &body));
    }
    let s = TcpStream::connect(r.broker()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    // All requests pipelined in one write burst, from another thread so the replies
    // can be read while it is still writing.
    let mut w = s.try_clone().expect("clone");
    let writer = std::thread::spawn(move || w.write_all(&out).expect("pipeline sends"));
    let mut rd = BufReader::new(s);
    let (mut ok, mut busy) = (0usize, 0usize);
    let mut seen = vec![false; SENDS];
    for _ in 0..SENDS {
        let h = read_header(&mut rd);
        let opaque = h["opaque"].as_u64().expect("opaque") as usize;
        assert!(!seen[opaque], "two answers to send {opaque}");
        seen[opaque] = true;
        match h["code"].as_i64() {
            Some(0) => ok += 1,
            Some(2) => {
                assert_eq!(
                    h["remark"], "[OVERLOAD]system busy, start flow control for a while",
                    "{h}"
                );
                busy += 1;
            }
            other => panic!("send {opaque}: unexpected answer {other:?}: {h}"),
        }
    }
    writer.join().expect("writer");
    eprintln!("{SENDS} pipelined sends: {ok} stored, {busy} answered SYSTEM_BUSY");
    assert!(
        busy > 0,
        "a queue of 2 never filled under {SENDS} pipelined sends"
    );
    assert!(ok > 0, "nothing was stored");
    let stored = max_offsets(&r, topic);
    assert_eq!(
        stored as usize, ok,
        "every acknowledged send is stored, nothing else"
    );
}

fn max_offsets(r: &Rmqd, topic: &str) -> i64 {
    (0..4).map(|q| max_offset(&r.broker(), topic, q)).sum()
}
