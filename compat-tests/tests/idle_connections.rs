//! Idle connections: a peer that delivers no complete frame for
//! `serverChannelMaxIdleTimeSeconds` is disconnected, so a stalled or half-sent frame
//! cannot hold a connection slot and its buffer forever; active peers are unaffected.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use rmqd_compat_tests::Rmqd;

/// GET_BROKER_CONFIG (26) as a JSON-header request with `opaque`.
fn request(opaque: i32) -> Vec<u8> {
    let h = format!(
        r#"{{"code":26,"language":"JAVA","version":409,"opaque":{opaque},"flag":0,"extFields":{{}}}}"#
    );
    let mut f = ((4 + h.len()) as u32).to_be_bytes().to_vec();
    f.extend_from_slice(&(h.len() as u32).to_be_bytes());
    f.extend_from_slice(h.as_bytes());
    f
}

/// Reads one reply frame; false at EOF.
fn read_frame(s: &mut TcpStream) -> bool {
    let mut len = [0u8; 4];
    if s.read_exact(&mut len).is_err() {
        return false;
    }
    let mut buf = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut buf).is_ok()
}

#[test]
fn a_stalled_half_frame_is_disconnected_and_active_peers_stay() {
    let r = Rmqd::start(&["serverChannelMaxIdleTimeSeconds=1"]);
    let mut stalled = TcpStream::connect(r.broker()).expect("connect");
    stalled
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    // Announce a 1000-byte frame and send only its first bytes.
    let half = request(1);
    let mut partial = 1000u32.to_be_bytes().to_vec();
    partial.extend_from_slice(&half[4..20]);
    stalled.write_all(&partial).expect("write");

    let mut active = TcpStream::connect(r.broker()).expect("connect");
    active
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let started = Instant::now();
    let mut opaque = 1;
    while started.elapsed() < Duration::from_millis(3000) {
        opaque += 1;
        active.write_all(&request(opaque)).expect("active request");
        assert!(read_frame(&mut active), "an active connection was closed");
        std::thread::sleep(Duration::from_millis(300));
    }

    let mut rest = Vec::new();
    let t = Instant::now();
    let n = stalled
        .read_to_end(&mut rest)
        .expect("the stalled peer sees EOF");
    assert_eq!(n, 0, "nothing is answered to half a frame");
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "the stalled connection was not closed after its idle time"
    );
}
