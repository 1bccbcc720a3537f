//! An rmqd slave fed the captured Java 4.9.8 master (`ha/java-4.9.8`): a stand-in master
//! registers with a name server as broker 0 (the captured registration), answers the
//! slave's SlaveSynchronize calls with the Java master's captured bodies, and plays the
//! Java master's side of the HA stream (connections 2 and 20, records cut anywhere,
//! heartbeats included). The rmqd slave must report what the Java slave reported, end
//! with the Java master's CommitLog bytes, take the master's offsets and delay progress,
//! and answer the captured consumer's requests (S19, master dead) as the Java slave did,
//! the pulled records byte for byte.

use std::collections::HashMap;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rmqd_compat_tests::ha_capture::{self, Frame, HaMaster};
use rmqd_compat_tests::wire;
use rmqd_compat_tests::{free_broker_port, Namesrv, Rmqd};
use serde_json::{json, Value};

fn wait_for(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Answers every request on `listener` with the Java master's captured answer to that
/// code (its header with the request's opaque, its body).
fn fake_master_port(listener: TcpListener, answers: Arc<HashMap<i64, Frame>>) {
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut s) = conn else { return };
            let answers = answers.clone();
            std::thread::spawn(move || loop {
                let mut len = [0u8; 4];
                if std::io::Read::read_exact(&mut s, &mut len).is_err() {
                    return;
                }
                let (h, _) = wire::read_frame_after_length(&mut s, len);
                let code = h["code"].as_i64().unwrap_or(-1);
                let mut header = json!({"code": 3, "flag": 1, "language": "JAVA", "version": 409});
                let mut body = Vec::new();
                if let Some(a) = answers.get(&code) {
                    header = a.header.clone();
                    body = a.body.clone();
                }
                header["opaque"] = h["opaque"].clone();
                if s.write_all(&wire::json_frame(&header, &body)).is_err() {
                    return;
                }
            });
        }
    });
}

/// Reads frames until the response to `opaque` (the broker's own requests are skipped).
fn response(s: &mut TcpStream, opaque: i64) -> (Value, Vec<u8>) {
    loop {
        let (h, body) = wire::read_frame(s);
        if h["flag"].as_i64().unwrap_or(0) & 1 == 1 && h["opaque"] == opaque {
            return (h, body);
        }
    }
}

#[test]
fn an_rmqd_slave_fed_the_java_masters_stream_holds_its_bytes_and_serves_its_messages() {
    let ns = Namesrv::start();

    // The stand-in master: remoting on P and P-2 (VIP), HA on its own port.
    let sync = ha_capture::frames("slave-master.jsonl");
    let mut answers = HashMap::new();
    for req in sync.iter().filter(|f| f.c2s) {
        if let Some(a) = sync
            .iter()
            .find(|f| !f.c2s && f.conn == req.conn && f.opaque == req.opaque)
        {
            // Later rounds overwrite earlier ones: the master's state at S17.
            answers.insert(req.code, a.clone());
        }
    }
    let answers = Arc::new(answers);
    let port = free_broker_port();
    fake_master_port(
        TcpListener::bind(("127.0.0.1", port)).expect("bind"),
        answers.clone(),
    );
    fake_master_port(
        TcpListener::bind(("127.0.0.1", port - 2)).expect("bind vip"),
        answers,
    );
    let ha = TcpListener::bind("127.0.0.1:0").expect("bind ha");
    let ha_port = ha.local_addr().expect("addr").port();
    // Its registration: the captured one, pointing at the stand-in.
    let reg = ha_capture::frames("master-namesrv.jsonl")
        .into_iter()
        .rfind(|f| f.c2s && f.code == 103 && f.flag & 2 == 0)
        .expect("registration");
    let mut header = reg.header.clone();
    header["extFields"]["brokerAddr"] = json!(format!("127.0.0.1:{port}"));
    header["extFields"]["haServerAddr"] = json!(format!("127.0.0.1:{ha_port}"));
    let mut ns_conn = TcpStream::connect(ns.addr()).expect("connect");
    ns_conn
        .write_all(&wire::json_frame(&header, &reg.body))
        .expect("register");
    assert_eq!(wire::read_frame(&mut ns_conn).0["code"], 0);

    let slave = Rmqd::start_broker(
        &ns,
        &[
            "brokerId=1",
            "brokerRole=SLAVE",
            "mappedFileSizeCommitLog=1048576",
            "mappedFileSizeConsumeQueue=6000",
        ],
        &[],
    );

    // Connection 2: an empty slave reports 0; the Java master's frames follow, and after
    // each transfer the slave reports what the Java slave reported.
    let (s, _) = ha
        .accept()
        .expect("the slave dials the registered HA address");
    let mut m = HaMaster::new(s);
    assert_eq!(m.report(Duration::from_secs(10)), Some(0));
    let captured_reports = ha_capture::reports(2);
    for (start, size, body) in ha_capture::transfers(2) {
        let body = body.unwrap_or_default();
        assert_eq!(body.len(), size);
        m.send(start, &body);
        if size > 0 {
            let end = start + size as i64;
            assert!(captured_reports.contains(&end));
            m.wait_report(end, Duration::from_secs(10));
        }
    }
    drop(m);
    // Connection 20: it comes back reporting its end, as the Java slave did.
    let (s, _) = ha.accept().expect("the slave dials again");
    let mut m = HaMaster::new(s);
    assert_eq!(
        m.report(Duration::from_secs(10)),
        Some(ha_capture::reports(20)[0])
    );
    for (start, size, body) in ha_capture::transfers(20).into_iter().take(2) {
        m.send(start, &body.unwrap_or_default());
        if size > 0 {
            m.wait_report(start + size as i64, Duration::from_secs(10));
        }
    }

    // A master whose offsets do not match: the slave closes, as Java's does ("master
    // pushed offset not equal the max phy offset in slave"), writes nothing, and dials
    // again reporting its end.
    m.send(9_999, b"garbage");
    assert!(
        m.closed(Duration::from_secs(10)),
        "the slave kept a mismatched stream"
    );
    let (s, _) = ha.accept().expect("the slave dials again");
    let mut m = HaMaster::new(s);
    assert_eq!(m.report(Duration::from_secs(10)), Some(6078));

    // The Java master's CommitLog bytes, and nothing after them.
    let head = ha_capture::master_commitlog_head();
    assert_eq!(slave.runtime_i64("commitLogMaxOffset"), head.len() as i64);
    let file = std::fs::read(slave.store_dir().join("commitlog/00000000000000000000"))
        .expect("the slave's first CommitLog file");
    assert_eq!(file.len(), 1_048_576);
    assert!(
        file[..head.len()] == head[..],
        "the replicated bytes differ"
    );
    assert!(file[head.len()..].iter().all(|b| *b == 0));

    // SlaveSynchronize took the master's topics, offsets and delay progress.
    let b = slave.broker();
    wait_for("the topic copy", 20, || {
        let (_, _, body) = rmqd_compat_tests::remoting_request(&b, 21, &[], b"");
        String::from_utf8_lossy(&body).contains("\"HaTopic\"")
    });
    let mut c = wire::Conn::connect(&b);
    wait_for("the offset copy", 20, || {
        (0..4)
            .map(|q| wire::query_offset(&mut c, "HaGroup", "HaTopic", q).1)
            .collect::<Vec<_>>()
            == [3, 3, 2, 2]
    });
    assert_eq!(c.request(45, &[], b"").body, br#"{"offsetTable":{2:2}}"#);

    // S19: the captured consumer's requests to the Java slave, with the master dead.
    let session = ha_capture::frames("client-08-consume-from-slave-master-dead.jsonl");
    let to_slave: Vec<&Frame> = session.iter().filter(|f| f.peer == "slave").collect();
    let mut s = TcpStream::connect(&b).expect("connect");
    let mut pulls = 0;
    for req in to_slave.iter().filter(|f| f.c2s) {
        let java = to_slave
            .iter()
            .find(|f| !f.c2s && f.flag & 1 == 1 && f.opaque == req.opaque);
        // Pulls Java parked (nothing new) and the client's goodbye are left out.
        let wanted = match (req.code, java) {
            (34 | 38 | 14, Some(_)) => true,
            (11, Some(j)) => j.code == 0,
            (15, _) => true,
            _ => false,
        };
        if !wanted {
            continue;
        }
        s.write_all(&req.bytes()).expect("send");
        let Some(java) = java else { continue };
        let (h, body) = response(&mut s, req.opaque);
        assert_eq!(h["code"], java.header["code"], "code of {}", req.code);
        match req.code {
            14 => assert_eq!(
                h["extFields"], java.header["extFields"],
                "QUERY_CONSUMER_OFFSET"
            ),
            38 => assert_eq!(body, java.body, "the consumer list"),
            11 => {
                pulls += 1;
                assert_eq!(h["remark"], java.header["remark"]);
                assert_eq!(h["extFields"], java.header["extFields"], "pull header");
                assert!(
                    body == java.body,
                    "pulled records differ from the Java slave's"
                );
            }
            _ => {}
        }
    }
    assert_eq!(pulls, 4);
    // The consumer's commits (oneway) are kept by the slave.
    wait_for("the consumer's commits", 10, || {
        (0..4)
            .map(|q| wire::query_offset(&mut c, "HaSlaveGroup", "HaTopic", q).1)
            .collect::<Vec<_>>()
            == [5, 6, 7, 7]
    });
    drop(ns_conn);
}
