//! SQL92 property filters (`MessageSelector.bySql`) end to end.
//!
//! Real clients: rocketmq-client-rust's push consumer (`subscribe_with_selector`,
//! heartbeat-registered filter, CHECK_CLIENT_CONFIG) and lite pull consumer (the
//! expression in every LITE_PULL_MESSAGE header), and ali-ons's push consumer
//! (`{ expressionType: 'SQL92' }`, heartbeat-registered). The Java client's
//! CHECK_CLIENT_CONFIG, which makes a Java consumer fail at start, is sent hand-framed
//! as `MQClientAPIImpl.checkClientInBroker` sends it (no registry client stops on it:
//! the Rust client sends it and ignores the answer, ali-ons does not send it).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use rmqd_compat_tests::wire::{self, Conn, Frame, Pulled};
use rmqd_compat_tests::{create_topic, max_offset, run_driver, Client, Rmqd};
use serde_json::{json, Value};

const SYSTEM_ERROR: i64 = 1;
const SUBSCRIPTION_PARSE_FAILED: i64 = 23;
const FILTER_DATA_NOT_EXIST: i64 = 27;

/// The body of `MQClientAPIImpl.checkClientInBroker` (fastjson orders the fields).
fn check_body(expression_type: &str, expression: &str) -> Vec<u8> {
    json!({
        "clientId": "127.0.0.1@4242",
        "group": "CheckGroup",
        "subscriptionData": {
            "classFilterMode": false,
            "codeSet": [],
            "expressionType": expression_type,
            "subString": expression,
            "subVersion": 1_700_000_000_000i64,
            "tagsSet": [],
            "topic": "SqlTopic"
        }
    })
    .to_string()
    .into_bytes()
}

fn check(c: &mut Conn, expression_type: &str, expression: &str) -> Frame {
    c.request(46, &[], &check_body(expression_type, expression))
}

#[test]
fn check_client_config_as_java_answers_it() {
    let off = Rmqd::start(&[]);
    let mut c = Conn::connect(&off.broker());
    assert_eq!(check(&mut c, "TAG", "TagA || TagB").code, 0);
    let f = check(&mut c, "SQL92", "a > 1");
    assert_eq!(
        (f.code, f.remark.as_str()),
        (
            SYSTEM_ERROR,
            "The broker does not support consumer to filter message by SQL92"
        )
    );
    // A body without a subscription is fine (Java: nothing to check).
    assert_eq!(c.request(46, &[], b"").code, 0);
    drop(off);

    let on = Rmqd::start(&["enablePropertyFilter=true"]);
    let mut c = Conn::connect(&on.broker());
    assert_eq!(check(&mut c, "SQL92", "a > 1 AND b IN ('x', 'y')").code, 0);
    let f = check(&mut c, "SQL92", "a >");
    assert_eq!(
        (f.code, f.remark.as_str()),
        (
            SUBSCRIPTION_PARSE_FAILED,
            "org.apache.rocketmq.filter.parser.ParseException: Encountered \"<EOF>\" at line 1, column 3."
        )
    );
    let f = check(&mut c, "SQL92", "a BETWEEN 5 AND 1");
    assert_eq!(
        (f.code, f.remark.as_str()),
        (
            SUBSCRIPTION_PARSE_FAILED,
            "java.lang.RuntimeException: Illegal values of between, left value(5) must less than or equal to right value(1)"
        )
    );
    // FilterFactory knows only SQL92: another type fails with no remark.
    let f = check(&mut c, "FOO", "a");
    assert_eq!((f.code, f.remark.as_str()), (SUBSCRIPTION_PARSE_FAILED, ""));
    // Hostile expressions are refused quickly and the broker goes on serving.
    let started = Instant::now();
    let long = format!("a = '{}'", "x".repeat(100_000));
    assert_eq!(
        check(&mut c, "SQL92", &long).code,
        SUBSCRIPTION_PARSE_FAILED
    );
    let deep = format!("{}a = 1{}", "(".repeat(10_000), ")".repeat(10_000));
    assert_eq!(
        check(&mut c, "SQL92", &deep).code,
        SUBSCRIPTION_PARSE_FAILED
    );
    let nots = format!("{}a", "NOT ".repeat(4_000));
    assert_eq!(
        check(&mut c, "SQL92", &nots).code,
        SUBSCRIPTION_PARSE_FAILED
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(check(&mut c, "SQL92", "a = 1").code, 0);
}

/// Twelve messages in queue 0: `a` = i (none for 10 and 11), `region` east/west by
/// parity, tag TagA/TagB by parity.
fn send_fixture(c: &mut Conn, topic: &str) {
    for i in 0..12 {
        let a = i.to_string();
        let region = if i % 2 == 0 { "east" } else { "west" };
        let tag = if i % 2 == 0 { "TagA" } else { "TagB" };
        let mut pairs = vec![("region", region), ("TAGS", tag)];
        if i < 10 {
            pairs.push(("a", &a));
        }
        let f = wire::send(
            c,
            "SqlProducer",
            topic,
            0,
            0,
            &wire::properties(&pairs),
            format!("m{i}").as_bytes(),
        );
        assert_eq!(f.code, 0, "send {i}: {}", f.remark);
    }
}

/// PULL_MESSAGE from queue 0, offset `from`, with `sys_flag` and optional subscription
/// fields; (code, remark, messages, nextBeginOffset).
fn pull(
    c: &mut Conn,
    group: &str,
    topic: &str,
    from: i64,
    sys_flag: i32,
    sub: Option<(&str, &str)>,
    sub_version: i64,
) -> (i64, String, Vec<Pulled>, i64) {
    let mut ext = vec![
        ("consumerGroup", group.to_string()),
        ("topic", topic.to_string()),
        ("queueId", "0".to_string()),
        ("queueOffset", from.to_string()),
        ("maxMsgNums", "32".to_string()),
        ("sysFlag", sys_flag.to_string()),
        ("commitOffset", "0".to_string()),
        ("suspendTimeoutMillis", "0".to_string()),
        ("subVersion", sub_version.to_string()),
    ];
    if let Some((ty, expr)) = sub {
        ext.push(("subscription", expr.to_string()));
        ext.push(("expressionType", ty.to_string()));
    }
    let f = c.request(11, &ext, b"");
    let msgs = rmqd_store::record::decode_all(&f.body)
        .into_iter()
        .map(|m| Pulled {
            queue_offset: m.queue_offset,
            physical_offset: m.physical_offset,
            reconsume_times: m.reconsume_times,
            born_timestamp: m.born_timestamp,
            store_timestamp: m.store_timestamp,
            topic: m.topic.to_string(),
            body: m.body.to_vec(),
            properties: m.properties.to_string(),
        })
        .collect();
    let next = f.ext_i64("nextBeginOffset");
    (f.code, f.remark, msgs, next)
}

/// Everything the filter lets through from offset 0, following nextBeginOffset (a pull
/// that matched nothing is PULL_RETRY_IMMEDIATELY, code 20, and moves on too).
fn pull_matching(
    c: &mut Conn,
    group: &str,
    topic: &str,
    sys_flag: i32,
    sub: Option<(&str, &str)>,
    sub_version: i64,
) -> Result<BTreeSet<String>, (i64, String)> {
    let mut out = BTreeSet::new();
    let mut offset = 0;
    for _ in 0..20 {
        let (code, remark, msgs, next) = pull(c, group, topic, offset, sys_flag, sub, sub_version);
        match code {
            0 | 20 => {
                out.extend(msgs.iter().map(|m| m.body_str()));
                offset = next;
            }
            19 => return Ok(out), // PULL_NOT_FOUND: at the end
            _ => return Err((code, remark)),
        }
    }
    panic!("pulling {topic} never reached its end");
}

/// Sends are answered before the consume queue has the message: wait for it.
fn wait_dispatched(r: &Rmqd, topic: &str, count: i64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while max_offset(&r.broker(), topic, 0) < count {
        assert!(
            Instant::now() < deadline,
            "{topic} never held {count} messages"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn bodies(ids: &[u32]) -> BTreeSet<String> {
    ids.iter().map(|i| format!("m{i}")).collect()
}

#[test]
fn pulls_carrying_the_expression_are_filtered() {
    let r = Rmqd::start(&["enablePropertyFilter=true"]);
    let mut c = Conn::connect(&r.broker());
    send_fixture(&mut c, "SqlTopic");
    wait_dispatched(&r, "SqlTopic", 12);
    // sysFlag 4: the subscription is in the header, as LITE_PULL and pull consumers send.
    let sql =
        |c: &mut Conn, e: &str| pull_matching(c, "LiteGroup", "SqlTopic", 4, Some(("SQL92", e)), 0);
    assert_eq!(
        sql(&mut c, "a >= 4 AND region = 'east'"),
        Ok(bodies(&[4, 6, 8]))
    );
    assert_eq!(sql(&mut c, "a IS NULL"), Ok(bodies(&[10, 11])));
    assert_eq!(sql(&mut c, "TAGS = 'TagB' AND a < 5"), Ok(bodies(&[1, 3])));
    assert_eq!(
        sql(&mut c, "a IN ('2', '7') OR a BETWEEN 8 AND 100"),
        Ok(bodies(&[2, 7, 8, 9]))
    );
    assert_eq!(sql(&mut c, "NOT (a > 1)"), Ok(bodies(&[0, 1])));
    // Java's quirks: NOT binds first, so `NOT a = 1` is `(NOT a) = 1`, never true; a
    // string compared with a number that does not parse throws, so nothing matches.
    assert_eq!(sql(&mut c, "NOT a = 1"), Ok(bodies(&[])));
    assert_eq!(sql(&mut c, "region > 1"), Ok(bodies(&[])));
    assert_eq!(
        sql(&mut c, "TRUE"),
        Ok(bodies(&(0..12).collect::<Vec<_>>()))
    );
    assert_eq!(
        sql(&mut c, "a >"),
        Err((
            SUBSCRIPTION_PARSE_FAILED,
            "parse the consumer's subscription failed".into()
        ))
    );
    assert_eq!(
        sql(&mut c, ""),
        Err((
            SUBSCRIPTION_PARSE_FAILED,
            "parse the consumer's subscription failed".into()
        ))
    );
    // Tags still work the old way alongside.
    assert_eq!(
        pull_matching(&mut c, "LiteGroup", "SqlTopic", 4, Some(("TAG", "TagA")), 0),
        Ok(bodies(&[0, 2, 4, 6, 8, 10]))
    );
}

#[test]
fn sql92_needs_enable_property_filter() {
    let r = Rmqd::start(&[]);
    let mut c = Conn::connect(&r.broker());
    send_fixture(&mut c, "SqlTopic");
    wait_dispatched(&r, "SqlTopic", 12);
    assert_eq!(
        pull_matching(
            &mut c,
            "LiteGroup",
            "SqlTopic",
            4,
            Some(("SQL92", "a > 1")),
            0
        ),
        Err((
            SYSTEM_ERROR,
            "The broker does not support consumer to filter message by SQL92".into()
        ))
    );
}

/// HEART_BEAT (34) of a push consumer of `group` subscribing `topic` by SQL92 (and its
/// %RETRY% topic by `*`, as the Java client adds it).
fn heartbeat_sql(c: &mut Conn, group: &str, topic: &str, expr: &str, version: i64) {
    let body = json!({
        "clientID": "127.0.0.1@sql",
        "producerDataSet": [],
        "consumerDataSet": [{
            "groupName": group,
            "consumeType": "CONSUME_PASSIVELY",
            "messageModel": "CLUSTERING",
            "consumeFromWhere": "CONSUME_FROM_FIRST_OFFSET",
            "unitMode": false,
            "subscriptionDataSet": [
                {"classFilterMode": false, "codeSet": [], "expressionType": "SQL92",
                 "subString": expr, "subVersion": version, "tagsSet": [], "topic": topic},
                {"classFilterMode": false, "codeSet": [], "expressionType": "TAG",
                 "subString": "*", "subVersion": version, "tagsSet": [],
                 "topic": format!("%RETRY%{group}")}
            ]
        }]
    })
    .to_string();
    let f = c.request(34, &[], body.as_bytes());
    assert_eq!(f.code, 0, "heartbeat: {}", f.remark);
}

#[test]
fn push_consumers_use_the_filter_their_heartbeat_registered() {
    let r = Rmqd::start(&["enablePropertyFilter=true"]);
    let mut c = Conn::connect(&r.broker());
    send_fixture(&mut c, "SqlTopic");
    wait_dispatched(&r, "SqlTopic", 12);
    // sysFlag 0: no subscription in the header, as a Java push consumer pulls.
    heartbeat_sql(&mut c, "PushGroup", "SqlTopic", "a > 6", 100);
    assert_eq!(
        pull_matching(&mut c, "PushGroup", "SqlTopic", 0, None, 100),
        Ok(bodies(&[7, 8, 9]))
    );
    // A new version with a new expression replaces the filter.
    heartbeat_sql(
        &mut c,
        "PushGroup",
        "SqlTopic",
        "region = 'west' AND a < 4",
        101,
    );
    assert_eq!(
        pull_matching(&mut c, "PushGroup", "SqlTopic", 0, None, 101),
        Ok(bodies(&[1, 3]))
    );
    // One that does not compile leaves no filter: pulls say so instead of delivering.
    heartbeat_sql(&mut c, "PushGroup", "SqlTopic", "a >", 102);
    assert_eq!(
        pull_matching(&mut c, "PushGroup", "SqlTopic", 0, None, 102),
        Err((
            FILTER_DATA_NOT_EXIST,
            "The broker's consumer filter data is not exist!Your expression may be wrong!".into()
        ))
    );
}

/// Retried messages in %RETRY%G: with `filterSupportRetry` the group's filter on the
/// message's RETRY_TOPIC applies (ExpressionForRetryMessageFilter); without it (Java's
/// default) a %RETRY% pull is not filtered.
fn retry_fixture(r: &Rmqd) -> Conn {
    let mut c = Conn::connect(&r.broker());
    heartbeat_sql(&mut c, "RetryGroup", "SqlTopic", "a = 1", 100);
    for (i, a) in [(0, Some("1")), (1, Some("2")), (2, None)] {
        let mut pairs = vec![("RETRY_TOPIC", "SqlTopic")];
        if let Some(a) = a {
            pairs.push(("a", a));
        }
        let f = wire::send(
            &mut c,
            "P",
            "%RETRY%RetryGroup",
            0,
            0,
            &wire::properties(&pairs),
            format!("m{i}").as_bytes(),
        );
        assert_eq!(f.code, 0, "{}", f.remark);
    }
    // A message that never was in SqlTopic has no RETRY_TOPIC: nothing to filter by.
    let f = wire::send(
        &mut c,
        "P",
        "%RETRY%RetryGroup",
        0,
        0,
        &wire::properties(&[("a", "5")]),
        b"m3",
    );
    assert_eq!(f.code, 0, "{}", f.remark);
    wait_dispatched(r, "%RETRY%RetryGroup", 4);
    c
}

#[test]
fn retry_queues_follow_filter_support_retry() {
    let on = Rmqd::start(&["enablePropertyFilter=true", "filterSupportRetry=true"]);
    let mut c = retry_fixture(&on);
    assert_eq!(
        pull_matching(
            &mut c,
            "RetryGroup",
            "%RETRY%RetryGroup",
            4,
            Some(("TAG", "*")),
            100
        ),
        Ok(bodies(&[0, 3]))
    );
    let off = Rmqd::start(&["enablePropertyFilter=true"]);
    let mut c = retry_fixture(&off);
    assert_eq!(
        pull_matching(
            &mut c,
            "RetryGroup",
            "%RETRY%RetryGroup",
            4,
            Some(("TAG", "*")),
            100
        ),
        Ok(bodies(&[0, 1, 2, 3]))
    );
}

// ---- real clients ------------------------------------------------------------------

fn received_bodies(lines: &[Value]) -> BTreeSet<String> {
    lines
        .iter()
        .filter_map(|l| l.get("body").and_then(Value::as_str))
        .map(str::to_string)
        .collect()
}

/// Ten messages `msg-0`..`msg-9` from the Rust producer, user property `idx` = i.
fn send_ten(r: &Rmqd, topic: &str, home: &std::path::Path) {
    create_topic(&r.broker(), topic, 4);
    let run = run_driver(
        Client::Rust,
        &[
            "send",
            "--namesrv",
            &r.namesrv(),
            "--topic",
            topic,
            "--count",
            "10",
        ],
        home,
        Duration::from_secs(60),
    );
    assert!(run.success, "send: {:?}", run.lines);
}

fn msgs(ids: &[u32]) -> BTreeSet<String> {
    ids.iter().map(|i| format!("msg-{i}")).collect()
}

#[test]
fn real_clients_receive_exactly_the_matching_messages() {
    let r = Rmqd::start(&["enablePropertyFilter=true"]);
    let home = tempfile::tempdir().expect("tempdir");
    send_ten(&r, "SqlClients", home.path());
    let ns = r.namesrv();
    // Push (heartbeat-registered filter) and lite pull (expression in every pull).
    for (cmd, group, expr, want) in [
        (
            "consume",
            "RustPushSql",
            "idx BETWEEN 3 AND 6",
            msgs(&[3, 4, 5, 6]),
        ),
        (
            "lite-pull",
            "RustLiteSql",
            "idx IN ('1', '8') OR idx > 8",
            msgs(&[1, 8, 9]),
        ),
    ] {
        let n = want.len().to_string();
        let run = run_driver(
            Client::Rust,
            &[
                cmd,
                "--namesrv",
                &ns,
                "--topic",
                "SqlClients",
                "--group",
                group,
                "--sql",
                expr,
                "--expect",
                &n,
                "--timeout-secs",
                "40",
                "--linger",
                "3",
            ],
            home.path(),
            Duration::from_secs(90),
        );
        assert!(run.success, "{cmd}: {:?}\n{}", run.lines, run.stderr);
        assert_eq!(received_bodies(&run.lines), want, "{cmd} with {expr}");
    }
    let run = run_driver(
        Client::Node,
        &[
            "consume",
            "--namesrv",
            &ns,
            "--topic",
            "SqlClients",
            "--group",
            "OnsSql",
            "--sql",
            "idx < 2 OR idx = 7",
            "--expect",
            "3",
            "--timeout-secs",
            "40",
            "--linger",
            "3",
        ],
        home.path(),
        Duration::from_secs(90),
    );
    assert!(run.success, "ali-ons: {:?}\n{}", run.lines, run.stderr);
    assert_eq!(received_bodies(&run.lines), msgs(&[0, 1, 7]));
}

#[test]
fn a_sql92_consumer_is_told_when_filters_are_off() {
    let r = Rmqd::start(&[]);
    let home = tempfile::tempdir().expect("tempdir");
    send_ten(&r, "SqlOff", home.path());
    let run = run_driver(
        Client::Rust,
        &[
            "consume",
            "--namesrv",
            &r.namesrv(),
            "--topic",
            "SqlOff",
            "--group",
            "RustSqlOff",
            "--sql",
            "idx > 1",
            "--expect",
            "1",
            "--timeout-secs",
            "8",
        ],
        home.path(),
        Duration::from_secs(60),
    );
    assert!(
        !run.success && received_bodies(&run.lines).is_empty(),
        "{:?}",
        run.lines
    );
    // The client's CHECK_CLIENT_CONFIG was refused (a Java consumer would not have
    // started); the Rust client goes on, and its pulls are refused too.
    assert!(
        r.log()
            .contains("consumer refused: property filters are off"),
        "no refusal in the broker log"
    );
}
