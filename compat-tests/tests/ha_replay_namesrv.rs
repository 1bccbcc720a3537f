//! The rmqd name server against the captured registrations of a Java master and its
//! Java slave (`ha/java-4.9.8/*-namesrv.jsonl`): the master's answer has no master
//! address, the slave's names the master and its HA port, the route lists both; once
//! the master's connection is gone (SIGKILL), the slave's answer is empty and the route
//! keeps only the slave.

use std::io::Write;
use std::net::TcpStream;

use rmqd_compat_tests::ha_capture::{self, Frame};
use rmqd_compat_tests::wire;
use rmqd_compat_tests::{remoting_request, Namesrv};
use serde_json::{json, Value};

/// Sends a captured frame; the answer's header when it expects one.
fn replay(s: &mut TcpStream, f: &Frame) -> Option<Value> {
    s.write_all(&f.bytes()).expect("send");
    (f.flag & 2 == 0).then(|| wire::read_frame(s).0)
}

fn answer_to<'a>(frames: &'a [Frame], req: &Frame) -> &'a Frame {
    frames
        .iter()
        .find(|f| !f.c2s && f.conn == req.conn && f.opaque == req.opaque)
        .expect("captured answer")
}

fn route(ns: &Namesrv, topic: &str) -> Value {
    let (code, remark, body) = remoting_request(&ns.addr(), 105, &[("topic", topic)], b"");
    assert_eq!(code, 0, "{remark}");
    serde_json::from_slice(&body).expect("route")
}

#[test]
fn captured_master_and_slave_registrations_get_the_java_name_servers_answers() {
    let ns = Namesrv::start();
    let master = ha_capture::frames("master-namesrv.jsonl");
    let slave = ha_capture::frames("slave-namesrv.jsonl");
    let regs = |frames: &[Frame]| -> Vec<Frame> {
        frames
            .iter()
            .filter(|f| f.c2s && f.code == 103 && f.flag & 2 == 0)
            .cloned()
            .collect()
    };
    let (mregs, sregs) = (regs(&master), regs(&slave));

    let mut m = TcpStream::connect(ns.addr()).expect("connect");
    let h = replay(&mut m, &mregs[0]).expect("answer");
    let java = answer_to(&master, &mregs[0]);
    assert_eq!(h["code"], 0);
    assert_eq!(
        h["extFields"], java.header["extFields"],
        "a master is told nothing"
    );
    assert_eq!(h["extFields"], json!({}));

    let mut s = TcpStream::connect(ns.addr()).expect("connect");
    let h = replay(&mut s, &sregs[0]).expect("answer");
    let java = answer_to(&slave, &sregs[0]);
    assert_eq!(
        h["extFields"], java.header["extFields"],
        "the slave learns its master"
    );
    assert_eq!(
        h["extFields"],
        json!({"masterAddr": "127.0.0.1:19911", "haServerAddr": "127.0.0.1:19912"})
    );
    // A oneway registration (after a topic was created on the slave) has no answer.
    let oneway = slave
        .iter()
        .find(|f| f.c2s && f.code == 103 && f.flag & 2 != 0)
        .expect("oneway registration");
    assert!(replay(&mut s, oneway).is_none());
    let addrs = &route(&ns, "TBW102")["brokerDatas"][0]["brokerAddrs"];
    assert_eq!(
        addrs,
        &json!({"0": "127.0.0.1:19911", "1": "127.0.0.1:19811"})
    );

    // S18: the master is killed; its connection closes.
    drop(m);
    let after = sregs.last().expect("a late registration");
    let java = answer_to(&slave, after);
    assert_eq!(java.header["extFields"], json!({}));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let h = replay(&mut s, after).expect("answer");
        if h["extFields"] == java.header["extFields"] || h.get("extFields").is_none() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still names the dead master: {h}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let r = route(&ns, "TBW102");
    assert_eq!(
        r["brokerDatas"][0]["brokerAddrs"],
        json!({"1": "127.0.0.1:19811"})
    );
    assert!(
        !r["queueDatas"].as_array().is_none_or(Vec::is_empty),
        "the queues stay routable through the slave"
    );
    // S20: the slave unregisters.
    let unreg = slave.iter().find(|f| f.c2s && f.code == 104).expect("104");
    let h = replay(&mut s, unreg).expect("answer");
    assert_eq!(h["code"], answer_to(&slave, unreg).header["code"]);
}
