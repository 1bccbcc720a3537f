//! UPDATE_AND_CREATE_TOPIC and sends to reserved topics, answered as the Java 4.9 broker
//! answers them (`TopicValidator`): system topics cannot be created or overwritten by an
//! admin request, and clients cannot send to the broker's internal topics.

use rmqd_compat_tests::wire::{self, Conn};
use rmqd_compat_tests::{remoting_request, Rmqd};

fn create(broker: &str, topic: &str) -> (i64, String) {
    let (code, remark, _) = remoting_request(
        broker,
        17,
        &[
            ("topic", topic),
            ("defaultTopic", "TBW102"),
            ("readQueueNums", "8"),
            ("writeQueueNums", "8"),
            ("perm", "6"),
            ("topicFilterType", "SINGLE_TAG"),
            ("topicSysFlag", "0"),
            ("order", "false"),
        ],
        b"",
    );
    (code, remark)
}

#[test]
fn system_topics_are_not_created_by_admin_requests() {
    let r = Rmqd::start(&[]);
    for topic in [
        "TBW102",
        "BenchmarkTest",
        "SCHEDULE_TOPIC_XXXX",
        "RMQ_SYS_TRANS_HALF_TOPIC",
        "TRANS_CHECK_MAX_TIME_TOPIC",
        "rmq_sys_anything",
    ] {
        assert_eq!(
            create(&r.broker(), topic),
            (
                1,
                format!("The topic[{topic}] is conflict with system topic.")
            ),
        );
    }
    // The Java broker leaves its default remark on this answer (the mqadmin capture's
    // updateTopic shows it).
    assert_eq!(
        create(&r.broker(), "AnOrdinaryTopic"),
        (0, "not set any response code".to_string())
    );
    assert_eq!(
        create(&r.broker(), "bad topic"),
        (
            1,
            "The specified topic contains illegal characters, allowing only ^[%|a-zA-Z0-9_-]+$"
                .to_string()
        )
    );
}

#[test]
fn internal_topics_refuse_client_sends() {
    let r = Rmqd::start(&[]);
    let mut c = Conn::connect(&r.broker());
    for topic in [
        "SCHEDULE_TOPIC_XXXX",
        "RMQ_SYS_TRANS_HALF_TOPIC",
        "RMQ_SYS_TRANS_OP_HALF_TOPIC",
        "TRANS_CHECK_MAX_TIME_TOPIC",
        "SELF_TEST_TOPIC",
        "OFFSET_MOVED_EVENT",
    ] {
        let f = wire::send(&mut c, "P", topic, 0, 0, "", b"x");
        assert_eq!(
            (f.code, f.remark.as_str()),
            (
                16,
                format!("Sending message to topic[{topic}] is forbidden.").as_str()
            )
        );
    }
}
