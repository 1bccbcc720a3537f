//! Long polling (`PullRequestHoldService`): a suspended PULL_MESSAGE that found nothing is
//! answered as soon as a message reaches its queue, including one that is dispatched in the
//! gap between the pull's lookup and its park (the lost wake-up of issue 11, defect 6).
//! That gap is forced with rmqd's `RMQD_TEST_HOOK_PULL_PARK` hook, not with timing.

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rmqd_compat_tests::wire::{self, Conn, Frame};
use rmqd_compat_tests::{create_topic, Rmqd};
use serde_json::Value;

/// What the push consumers send: 15 s; a lost wake-up costs the whole of it.
const SUSPEND_MS: i64 = 15_000;
/// An answer later than this means the pull slept instead of being woken.
const WOKEN_WITHIN: Duration = Duration::from_secs(3);

/// The hook reaches rmqd through the environment the harness passes on; tests that start a
/// broker take this lock so that no broker starts while another test has the variable set.
static ENV: Mutex<()> = Mutex::new(());

const HOOK_ENV: &str = "RMQD_TEST_HOOK_PULL_PARK";

/// PULL_MESSAGE's fields with the suspend and subscription flags, as a push consumer
/// sends them.
fn pull_ext(topic: &str, offset: i64) -> Vec<(&'static str, String)> {
    vec![
        ("consumerGroup", "LongPollGroup".to_string()),
        ("topic", topic.to_string()),
        ("queueId", "0".to_string()),
        ("queueOffset", offset.to_string()),
        ("maxMsgNums", "32".to_string()),
        ("sysFlag", "6".to_string()),
        ("commitOffset", "0".to_string()),
        ("suspendTimeoutMillis", SUSPEND_MS.to_string()),
        ("subscription", "*".to_string()),
        ("subVersion", wire::now_ms().to_string()),
        ("expressionType", "TAG".to_string()),
    ]
}

/// A suspended pull on its own connection and thread: its answer and when it came.
fn suspended_pull(
    broker: String,
    topic: &'static str,
    offset: i64,
) -> JoinHandle<(Frame, Instant)> {
    std::thread::spawn(move || {
        let mut c = Conn::connect(&broker);
        let f = c.request(11, &pull_ext(topic, offset), b"");
        (f, Instant::now())
    })
}

fn request_frame(code: i32, opaque: i64, ext: &[(&str, String)]) -> Vec<u8> {
    let ext: serde_json::Map<String, Value> = ext
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.clone())))
        .collect();
    let header = serde_json::json!({
        "code": code, "language": "JAVA", "version": 409, "opaque": opaque, "flag": 0,
        "extFields": ext
    });
    wire::json_frame(&header, b"")
}

fn send_one(broker: &str, topic: &str, body: &[u8]) -> Instant {
    let mut c = Conn::connect(broker);
    let sent = Instant::now();
    let f = wire::send(&mut c, "LongPollProducer", topic, 0, 0, "", body);
    assert_eq!(f.code, 0, "send: {}", f.remark);
    sent
}

fn bodies(body: &[u8]) -> Vec<String> {
    rmqd_store::record::decode_all(body)
        .into_iter()
        .map(|m| String::from_utf8_lossy(m.body).into_owned())
        .collect()
}

fn wait_for_file(path: &Path, r: &Rmqd) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "the pull never reached the park hook ({}); log:\n{}",
            path.display(),
            r.log()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_message_dispatched_between_lookup_and_park_answers_the_pull_at_once() {
    let marks = tempfile::tempdir().expect("tempdir");
    let r = {
        let _env = ENV.lock().unwrap_or_else(|p| p.into_inner());
        std::env::set_var(HOOK_ENV, marks.path());
        let r = Rmqd::start(&[]);
        std::env::remove_var(HOOK_ENV);
        r
    };
    let topic = "LongPollRace";
    create_topic(&r.broker(), topic, 1);

    let pull = suspended_pull(r.broker(), topic, 0);
    // The pull has looked, found nothing, and now waits in the hook: it parks only after
    // the dispatcher has reported this message (and found nobody parked to wake).
    wait_for_file(&marks.path().join(format!("0@{topic}.paused")), &r);
    let sent = send_one(&r.broker(), topic, b"raced");
    let (f, answered) = pull.join().expect("pull thread");

    let took = answered.duration_since(sent);
    assert!(
        took < WOKEN_WITHIN,
        "the pull slept {took:?} of its {SUSPEND_MS} ms suspend time after the message came"
    );
    assert_eq!(f.code, 0, "pull: {} {}", f.code, f.remark);
    assert_eq!(bodies(&f.body), ["raced"]);
    assert!(
        !r.log().contains("park hook saw no arrival"),
        "the hook did not see the message; log:\n{}",
        r.log()
    );
}

#[test]
fn a_parked_pull_is_answered_when_its_message_arrives() {
    let r = {
        let _env = ENV.lock().unwrap_or_else(|p| p.into_inner());
        Rmqd::start(&[])
    };
    let topic = "LongPollPlain";
    create_topic(&r.broker(), topic, 1);
    send_one(&r.broker(), topic, b"first");
    // Dispatch is asynchronous: offset 1 is only "the next one" once the first is queued.
    wire::pull_when_there(
        &mut Conn::connect(&r.broker()),
        "LongPollGroup",
        topic,
        0,
        0,
    );

    // From offset 1 the queue is empty, so the pull parks. rmqd parks a pull before it
    // reads the connection's next request: once GET_MAX_OFFSET behind it is answered, the
    // pull is parked, and the message below can only reach it through a wake-up.
    let mut s = TcpStream::connect(r.broker()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut frames = request_frame(11, 1, &pull_ext(topic, 1));
    frames.extend(request_frame(
        30,
        2,
        &[("topic", topic.to_string()), ("queueId", "0".to_string())],
    ));
    s.write_all(&frames).expect("send");
    let (h, _) = wire::read_frame(&mut s);
    assert_eq!(h["opaque"], 2, "the pull was answered without parking: {h}");

    let sent = send_one(&r.broker(), topic, b"second");
    let (h, body) = wire::read_frame(&mut s);
    let took = sent.elapsed();
    assert_eq!(h["opaque"], 1, "{h}");
    assert!(
        took < WOKEN_WITHIN,
        "the parked pull answered {took:?} after the send"
    );
    assert_eq!(h["code"], 0, "pull: {h}");
    assert_eq!(bodies(&body), ["second"]);
}

#[test]
fn short_polling_answers_not_found_after_short_polling_time() {
    let r = {
        let _env = ENV.lock().unwrap_or_else(|p| p.into_inner());
        Rmqd::start(&["longPollingEnable=false", "shortPollingTimeMills=500"])
    };
    let topic = "ShortPoll";
    create_topic(&r.broker(), topic, 1);

    let asked = Instant::now();
    let (f, answered) = suspended_pull(r.broker(), topic, 0)
        .join()
        .expect("pull thread");
    let took = answered.duration_since(asked);
    // PULL_NOT_FOUND after shortPollingTimeMills, not after the client's 15 s.
    assert_eq!(
        f.code,
        19,
        "pull: {} {}; log:\n{}",
        f.code,
        f.remark,
        r.log()
    );
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_secs(5),
        "short polling held the pull {took:?}; log:\n{}",
        r.log()
    );
}
