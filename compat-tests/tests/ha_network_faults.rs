//! Faults on the HA link of an rmqd SYNC_MASTER and its slave, made by a proxy in the
//! link (the slave's `haMasterAddress`; this kernel has network namespaces but no
//! `netem`): latency below and above `slaveTimeout`, a partition longer than
//! `haHousekeepingInterval`, and connections cut mid-stream. During each, sends get the
//! statuses a Java master gives (SEND_OK, FLUSH_SLAVE_TIMEOUT while the slave is still
//! counted, SLAVE_NOT_AVAILABLE once it was dropped); after each, replication resumes
//! by itself, and every message — above all every SEND_OK — is on the slave, the
//! CommitLogs byte-equal.

use std::time::{Duration, Instant};

use rmqd_compat_tests::fault_proxy::{Fault, FaultProxy};
use rmqd_compat_tests::wire::{self, Conn};
use rmqd_compat_tests::{create_topic, Namesrv, Rmqd};

fn wait_for(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

struct Sent {
    code: i64,
    body: String,
    took: Duration,
}

fn send(c: &mut Conn, i: usize) -> Sent {
    let body = format!("nf-{i}");
    let props = wire::properties(&[("WAIT", "true"), ("KEYS", &body)]);
    let t = Instant::now();
    let f = wire::send(
        c,
        "NfProducer",
        "NfTopic",
        (i % 2) as i32,
        0,
        &props,
        body.as_bytes(),
    );
    Sent {
        code: f.code,
        body,
        took: t.elapsed(),
    }
}

fn commitlog(store: &std::path::Path, end: i64) -> Vec<u8> {
    let mut files: Vec<_> = std::fs::read_dir(store.join("commitlog"))
        .expect("commitlog")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    files.sort();
    let mut all = Vec::new();
    for f in files {
        all.extend(std::fs::read(f).expect("read"));
    }
    all.truncate(end as usize);
    all
}

#[test]
fn replication_survives_latency_a_partition_and_cut_connections_with_javas_statuses() {
    let ns = Namesrv::start();
    let m = Rmqd::start_broker(
        &ns,
        &[
            "brokerId=0",
            "brokerRole=SYNC_MASTER",
            "slaveTimeout=1000",
            "haHousekeepingInterval=3000",
            "haSendHeartbeatInterval=500",
            "mappedFileSizeCommitLog=1048576",
        ],
        &[],
    );
    let proxy = FaultProxy::start(&m.ha_addr());
    let ha_master = format!("haMasterAddress={}", proxy.addr());
    let s = Rmqd::start_broker(
        &ns,
        &[
            "brokerId=1",
            "brokerRole=SLAVE",
            "haHousekeepingInterval=3000",
            "haSendHeartbeatInterval=500",
            "mappedFileSizeCommitLog=1048576",
            &ha_master,
        ],
        &[],
    );
    let slaves = || m.runtime_i64("haSlaveConnections");
    wait_for("the slave through the proxy", 20, || slaves() == 1);
    create_topic(&m.broker(), "NfTopic", 2);
    let mut c = Conn::connect(&m.broker());
    let mut sent: Vec<Sent> = Vec::new();
    let mut i = 0;
    let mut next = |c: &mut Conn, sent: &mut Vec<Sent>| {
        let r = send(c, i);
        i += 1;
        let code = r.code;
        let took = r.took;
        sent.push(r);
        (code, took)
    };

    // A healthy link.
    for _ in 0..5 {
        assert_eq!(next(&mut c, &mut sent).0, 0);
    }
    // 200 ms each way: still SEND_OK, a round trip later.
    proxy.set(Fault::Delay(Duration::from_millis(200)));
    for _ in 0..3 {
        let (code, took) = next(&mut c, &mut sent);
        assert_eq!(code, 0);
        assert!(took >= Duration::from_millis(350), "{took:?}");
    }
    // 800 ms each way: the acknowledgement comes after slaveTimeout (1 s).
    proxy.set(Fault::Delay(Duration::from_millis(800)));
    let (code, took) = next(&mut c, &mut sent);
    assert_eq!(code, 12, "FLUSH_SLAVE_TIMEOUT");
    assert!(took >= Duration::from_millis(950), "{took:?}");
    proxy.set(Fault::Pass);
    wait_for("the late acknowledgements", 10, || {
        s.runtime_i64("commitLogMaxOffset") == m.runtime_i64("commitLogMaxOffset")
    });
    assert_eq!(next(&mut c, &mut sent).0, 0);

    // A partition: the connection stays up as far as the master knows, so sends wait
    // slaveTimeout and get FLUSH_SLAVE_TIMEOUT; after haHousekeepingInterval without a
    // report the master drops the slave and sends get SLAVE_NOT_AVAILABLE at once.
    proxy.set(Fault::Partition);
    let (code, took) = next(&mut c, &mut sent);
    assert_eq!(code, 12);
    assert!(took >= Duration::from_millis(950), "{took:?}");
    wait_for("the master to drop the slave", 10, || slaves() == 0);
    for _ in 0..3 {
        let (code, took) = next(&mut c, &mut sent);
        assert_eq!(code, 11, "SLAVE_NOT_AVAILABLE");
        assert!(took < Duration::from_millis(500), "{took:?}");
    }
    assert_eq!(
        s.runtime_info()["haConnected"],
        "false",
        "the slave noticed too"
    );
    // Healed: the slave dials again, catches up, and SYNC sends are SEND_OK again.
    proxy.set(Fault::Pass);
    wait_for("the slave back", 20, || slaves() == 1);
    wait_for("catch-up", 10, || {
        s.runtime_i64("commitLogMaxOffset") == m.runtime_i64("commitLogMaxOffset")
    });
    assert_eq!(next(&mut c, &mut sent).0, 0);

    // Connections cut while a burst is in flight: whatever the statuses, the slave
    // reconnects and ends with everything.
    let burst = std::thread::spawn({
        let broker = m.broker();
        move || {
            let mut c = Conn::connect(&broker);
            (1000..1100).map(|i| send(&mut c, i)).collect::<Vec<_>>()
        }
    });
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(150));
        proxy.cut();
    }
    sent.extend(burst.join().expect("burst"));
    assert!(
        sent.iter().all(|r| matches!(r.code, 0 | 11 | 12)),
        "a send was refused"
    );
    wait_for("the slave back after the cuts", 20, || slaves() == 1);
    let end = m.runtime_i64("commitLogMaxOffset");
    wait_for("catch-up after the cuts", 10, || {
        s.runtime_i64("commitLogMaxOffset") == end
    });

    // Every message is on the slave — the SEND_OKs were there when they were answered
    // (see ha_group.rs); here nothing acknowledged went missing across the faults.
    let mut sc = Conn::connect(&s.broker());
    wait_for("the slave's topic copy", 20, || {
        wire::pull(&mut sc, "NfReader", "NfTopic", 0, 0, 1).0 != 17
    });
    wait_for("dispatch on the slave", 10, || {
        let n: usize = (0..2)
            .map(|q| wire::pull_all(&mut sc, "NfReader", "NfTopic", q, 0).len())
            .sum();
        n == sent.len()
    });
    let on_slave: std::collections::HashSet<String> = (0..2)
        .flat_map(|q| wire::pull_all(&mut sc, "NfReader", "NfTopic", q, 0))
        .map(|p| p.body_str())
        .collect();
    for r in &sent {
        assert!(
            on_slave.contains(&r.body),
            "{} (code {}) is not on the slave",
            r.body,
            r.code
        );
    }
    assert!(commitlog(&s.store_dir(), end) == commitlog(&m.store_dir(), end));
}
