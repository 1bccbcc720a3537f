//! Admin requests relayed to 5.x clients over their telemetry streams:
//! GET_CONSUMER_RUNNING_INFO (307) asks a gRPC consumer for its thread stacks
//! (PrintThreadStackTraceCommand → ThreadStackTrace), as the Java proxy relays it. The
//! Node client 1.0.8 answers with a fixed "mock stack"; the Python client 5.1.2 does not
//! handle the command.

use std::time::{Duration, Instant};

use rmqd_compat_tests::{create_topic, remoting_request, run_driver, spawn_driver, Client, Rmqd};
use serde_json::Value;

#[test]
fn consumer_running_info_reaches_a_grpc_consumer() {
    let r = Rmqd::start(&[
        "mappedFileSizeCommitLog=67108864",
        "diskSpaceWarningLevelRatio=0.99",
        "diskSpaceCleanForciblyRatio=0.99",
        "diskMaxUsedSpaceRatio=95",
    ]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(r.grpc()).is_err() {
        assert!(Instant::now() < deadline, "gRPC port never opened");
        std::thread::sleep(Duration::from_millis(20));
    }
    create_topic(&r.broker(), "G5Admin", 1);
    let id_file = r.home.path().join("client-id");
    let ep = r.grpc();
    let consumer = spawn_driver(
        Client::Node5,
        &[
            "simple",
            "--endpoint",
            &ep,
            "--topic",
            "G5Admin",
            "--group",
            "gAdmin",
            "--expect",
            "1",
            "--timeout-secs",
            "30",
            "--id-file",
            id_file.to_str().unwrap(),
        ],
        r.home.path(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let client_id = loop {
        if let Ok(id) = std::fs::read_to_string(&id_file) {
            break id;
        }
        assert!(Instant::now() < deadline, "the consumer never started");
        std::thread::sleep(Duration::from_millis(100));
    };
    // Its telemetry stream opens with the settings exchange, just after start-up.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (code, remark, body) = loop {
        let got = remoting_request(
            &r.broker(),
            307,
            &[
                ("consumerGroup", "gAdmin"),
                ("clientId", &client_id),
                ("jstackEnable", "true"),
            ],
            b"",
        );
        if got.0 == 0 || Instant::now() > deadline {
            break got;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(code, 0, "{remark}");
    let info: Value = serde_json::from_slice(&body).expect("ConsumerRunningInfo JSON");
    assert_eq!(info["jstack"], "mock stack", "{info}");
    let (code, remark, _) = remoting_request(
        &r.broker(),
        307,
        &[
            ("consumerGroup", "gAdmin"),
            ("clientId", "nobody"),
            ("jstackEnable", "true"),
        ],
        b"",
    );
    assert_eq!(
        (code, remark.as_str()),
        (1, "The Consumer <gAdmin> <nobody> not online")
    );
    let sent = run_driver(
        Client::Node5,
        &[
            "send",
            "--endpoint",
            &ep,
            "--topic",
            "G5Admin",
            "--count",
            "1",
        ],
        r.home.path(),
        Duration::from_secs(60),
    );
    assert!(sent.success, "{:?}", sent.lines);
    let got = consumer.finish(Duration::from_secs(40));
    assert!(got.success, "{:?}\n{}", got.lines, got.stderr);
}
