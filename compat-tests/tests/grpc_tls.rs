//! The gRPC endpoint speaks TLS (rustls) when `tlsCertPath` and `tlsKeyPath` are set: the
//! 5.x Python client with `tls_enable` sends and receives through it, trusting the
//! broker's self-signed certificate; a plain-text client gets nowhere.

use std::process::Command;
use std::time::{Duration, Instant};

use rmqd_compat_tests::{create_topic, Client, Rmqd};
use serde_json::Value;

fn run(cmd: &mut Command) -> (bool, Vec<Value>, String) {
    let out = cmd.output().expect("driver");
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    (
        out.status.success(),
        lines,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn clients_send_and_receive_over_tls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ck =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .expect("certificate");
    let (cert, key) = (dir.path().join("rmqd.crt"), dir.path().join("rmqd.key"));
    std::fs::write(&cert, ck.cert.pem()).expect("write cert");
    std::fs::write(&key, ck.signing_key.serialize_pem()).expect("write key");
    let r = Rmqd::start(&[
        "mappedFileSizeCommitLog=67108864",
        "diskSpaceWarningLevelRatio=0.99",
        "diskSpaceCleanForciblyRatio=0.99",
        "diskMaxUsedSpaceRatio=95",
        &format!("tlsCertPath={}", cert.display()),
        &format!("tlsKeyPath={}", key.display()),
    ]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(r.grpc()).is_err() {
        assert!(
            Instant::now() < deadline,
            "gRPC port never opened:\n{}",
            r.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    create_topic(&r.broker(), "G5Tls", 2);
    let ep = r.grpc();
    let driver = |args: &[&str]| {
        let mut c = Client::Py5.command(args, r.home.path());
        c.env("GRPC_DEFAULT_SSL_ROOTS_FILE_PATH", &cert);
        c
    };
    let (ok, lines, err) = run(&mut driver(&[
        "simple",
        "--endpoint",
        &ep,
        "--topic",
        "G5Tls",
        "--group",
        "gTls",
        "--expect",
        "0",
        "--timeout-secs",
        "3",
        "--tls",
    ]));
    assert!(ok, "{lines:?}\n{err}");
    let (ok, lines, err) = run(&mut driver(&[
        "send",
        "--endpoint",
        &ep,
        "--topic",
        "G5Tls",
        "--count",
        "3",
        "--body-prefix",
        "tls",
        "--tls",
    ]));
    assert!(ok, "{lines:?}\n{err}");
    let (ok, lines, err) = run(&mut driver(&[
        "simple",
        "--endpoint",
        &ep,
        "--topic",
        "G5Tls",
        "--group",
        "gTls",
        "--expect",
        "3",
        "--timeout-secs",
        "20",
        "--tls",
    ]));
    assert!(ok, "{lines:?}\n{err}");
    assert_eq!(lines.iter().filter(|l| l.get("acked").is_some()).count(), 3);
    // Without TLS the client never gets a route, so nothing is sent.
    let (ok, lines, _) = run(Client::Py5
        .command(
            &[
                "send",
                "--endpoint",
                &ep,
                "--topic",
                "G5Tls",
                "--count",
                "1",
            ],
            r.home.path(),
        )
        .env("GRPC_DEFAULT_SSL_ROOTS_FILE_PATH", &cert));
    assert!(
        !ok && !lines.iter().any(|l| l["status"] == "SEND_OK"),
        "{lines:?}"
    );
}
