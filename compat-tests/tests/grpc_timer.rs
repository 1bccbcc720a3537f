//! 5.x timer delivery through the gRPC endpoint: a message sent with a `delivery_timestamp`
//! is stored with the TIMER_DELIVER_MS property (as the Java proxy maps it), parked by the
//! broker's timer store and not delivered before that time.
//!
//! The Node client sends the delay (`Timestamp.fromDate`). The Python client 5.1.2 writes
//! the delivery time in milliseconds into the timestamp's *seconds* field, a time
//! thousands of years ahead: the Java proxy refuses that with ILLEGAL_DELIVERY_TIME
//! (`SendMessageActivity.validateDelayTime`, at most `maxDelayTimeMills`, 1 day), and so
//! does rmqd.

use std::time::{Duration, Instant};

use rmqd_compat_tests::{remoting_request, run_driver, Client, Rmqd};

#[test]
fn a_delivery_timestamp_holds_the_message_until_then() {
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
    let (code, remark, _) = remoting_request(
        &r.broker(),
        17,
        &[
            ("topic", "G5Timer"),
            ("defaultTopic", "TBW102"),
            ("readQueueNums", "2"),
            ("writeQueueNums", "2"),
            ("perm", "6"),
            ("topicFilterType", "SINGLE_TAG"),
            ("topicSysFlag", "0"),
            ("order", "false"),
            ("attributes", "+message.type=DELAY"),
        ],
        b"",
    );
    assert_eq!(code, 0, "{remark}");
    let ep = r.grpc();
    let warm = run_driver(
        Client::Py5,
        &[
            "simple",
            "--endpoint",
            &ep,
            "--topic",
            "G5Timer",
            "--group",
            "gTimer",
            "--expect",
            "0",
            "--timeout-secs",
            "2",
        ],
        r.home.path(),
        Duration::from_secs(30),
    );
    assert!(warm.success, "{}", warm.stderr);
    let sent = run_driver(
        Client::Node5,
        &[
            "send",
            "--endpoint",
            &ep,
            "--topic",
            "G5Timer",
            "--count",
            "3",
            "--body-prefix",
            "d",
            "--delay-ms",
            "4000",
        ],
        r.home.path(),
        Duration::from_secs(60),
    );
    assert!(sent.success, "{:?}\n{}", sent.lines, sent.stderr);
    let sent_at = sent
        .lines
        .iter()
        .filter_map(|l| l["sentTimestamp"].as_i64())
        .min()
        .unwrap();
    let got = run_driver(
        Client::Py5,
        &[
            "simple",
            "--endpoint",
            &ep,
            "--topic",
            "G5Timer",
            "--group",
            "gTimer",
            "--expect",
            "3",
            "--timeout-secs",
            "30",
        ],
        r.home.path(),
        Duration::from_secs(60),
    );
    assert!(got.success, "{:?}\n{}", got.lines, got.stderr);
    for d in got.lines.iter().filter(|l| l.get("body").is_some()) {
        let at = d["recvTimestamp"].as_i64().unwrap();
        assert!(
            at - sent_at >= 3_900,
            "delivered {} ms after sending, asked for 4000: {d}",
            at - sent_at
        );
        assert!(at - sent_at < 10_000, "delivered late: {d}");
    }
}

#[test]
fn a_delivery_time_past_the_proxy_bound_is_illegal_delivery_time() {
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
    let (code, remark, _) = remoting_request(
        &r.broker(),
        17,
        &[
            ("topic", "G5TimerFar"),
            ("defaultTopic", "TBW102"),
            ("readQueueNums", "2"),
            ("writeQueueNums", "2"),
            ("perm", "6"),
            ("topicFilterType", "SINGLE_TAG"),
            ("topicSysFlag", "0"),
            ("order", "false"),
            ("attributes", "+message.type=DELAY"),
        ],
        b"",
    );
    assert_eq!(code, 0, "{remark}");
    let sent = run_driver(
        Client::Py5,
        &[
            "send",
            "--endpoint",
            &r.grpc(),
            "--topic",
            "G5TimerFar",
            "--count",
            "1",
            "--delay-ms",
            "4000",
        ],
        r.home.path(),
        Duration::from_secs(60),
    );
    let errors: Vec<String> = sent
        .lines
        .iter()
        .filter_map(|l| l["error"].as_str().map(str::to_string))
        .collect();
    assert_eq!(errors.len(), 1, "{:?}\n{}", sent.lines, sent.stderr);
    assert!(
        errors[0].starts_with("40012,"),
        "the Python client's delay must be refused as the proxy refuses it: {errors:?}"
    );
}
