//! The copy of a parked message that the wheel delivers (Java 5.x
//! `TimerMessageStore.convert` / `convertMessage`).

use bytes::Bytes;
use rmqd_store::record::{self, Decoded, RecordView};
use rmqd_store::timer::TIMER_TOPIC;
use rmqd_store::MessageToStore;

use super::super::properties::{keys, Properties};
use super::put::prop;

/// Why a parked record cannot be delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Undeliverable {
    #[error("not a readable record")]
    Unreadable,
    #[error("record is in {0}, not {TIMER_TOPIC}")]
    WrongTopic(String),
    #[error("no usable TIMER_OUT_MS")]
    NoTimerOut,
    #[error("no usable REAL_TOPIC / REAL_QID")]
    NoRealTopic,
}

/// A record parked in `rmq_sys_wheel_timer`, as the timer service reads it.
pub struct Parked<'a> {
    pub view: RecordView<'a>,
    pub timer_out_ms: i64,
    pub real_topic: &'a str,
    /// `REAL_TOPIC+UNIQ_KEY`, what a delete marker names.
    pub delete_key: Option<String>,
    /// The TIMER_DEL_UNIQKEY of a delete marker.
    pub deletes: Option<&'a str>,
}

/// Reads a parked record and checks it can be delivered.
pub fn parse(bytes: &Bytes) -> Result<Parked<'_>, Undeliverable> {
    let Ok(Decoded::Message(view)) = record::decode(bytes, false) else {
        return Err(Undeliverable::Unreadable);
    };
    let props: &str = view.properties;
    let get = |k: &str| record::property(props, k);
    if view.topic != TIMER_TOPIC {
        return Err(Undeliverable::WrongTopic(view.topic.to_string()));
    }
    let timer_out_ms = get(prop::OUT_MS)
        .and_then(|v| v.parse::<i64>().ok())
        .ok_or(Undeliverable::NoTimerOut)?;
    let real_topic = get(keys::REAL_TOPIC)
        .filter(|t| !t.is_empty())
        .ok_or(Undeliverable::NoRealTopic)?;
    get(keys::REAL_QID)
        .and_then(|q| q.trim().parse::<i32>().ok())
        .ok_or(Undeliverable::NoRealTopic)?;
    let delete_key = get(keys::UNIQ_KEY).map(|u| format!("{real_topic}+{u}"));
    let deletes = get(prop::DEL_UNIQKEY);
    Ok(Parked {
        timer_out_ms,
        real_topic,
        delete_key,
        deletes,
        view,
    })
}

/// The message to store for a parked record: in its real topic and queue, or, for a roll,
/// in the timer topic again. Its properties are the parked ones plus TIMER_ENQUEUE_MS
/// (when it was parked; `i64::MAX` if it was due on arrival), TIMER_ROLL_TIMES (rolls)
/// and TIMER_DEQUEUE_MS; REAL_TOPIC and REAL_QID stay in the stored string, as Java's
/// copy keeps them.
pub fn delivered_copy(
    bytes: &Bytes,
    p: &Parked<'_>,
    enqueue_time: i64,
    roll: bool,
    now: i64,
) -> MessageToStore {
    let m = &p.view;
    let mut props = Properties::parse(m.properties);
    props.insert(prop::ENQUEUE_MS, &enqueue_time.to_string());
    if roll {
        let times = props
            .get(prop::ROLL_TIMES)
            .and_then(|t| t.parse::<i32>().ok())
            .unwrap_or(0);
        props.insert(prop::ROLL_TIMES, &times.saturating_add(1).to_string());
    }
    props.insert(prop::DEQUEUE_MS, &now.to_string());
    let (topic, queue_id) = if roll {
        (m.topic.to_string(), m.queue_id)
    } else {
        let q = props
            .get(keys::REAL_QID)
            .and_then(|q| q.trim().parse().ok())
            .unwrap_or(0);
        (p.real_topic.to_string(), q)
    };
    MessageToStore {
        topic,
        queue_id,
        flag: m.flag,
        body: bytes.slice_ref(m.body),
        properties: props.encode_java_order(),
        sys_flag: m.sys_flag,
        born_timestamp: m.born_timestamp,
        born_host: m.born_host,
        reconsume_times: m.reconsume_times,
        prepared_transaction_offset: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmqd_store::record::RecordFields;
    use std::net::SocketAddr;

    fn parked(props: &str) -> Bytes {
        let host: SocketAddr = "127.0.0.1:10911".parse().expect("addr");
        Bytes::from(
            RecordFields {
                queue_id: 0,
                flag: 3,
                queue_offset: 9,
                physical_offset: 4096,
                sys_flag: 0,
                born_timestamp: 11,
                born_host: host,
                store_timestamp: 12,
                store_host: host,
                reconsume_times: 2,
                prepared_transaction_offset: 0,
                body: b"hello",
                topic: TIMER_TOPIC,
                properties: props,
            }
            .encode(),
        )
    }

    #[test]
    fn the_delivered_copy_carries_javas_timer_properties() {
        let b = parked("TIMER_DELAY_SEC\u{1}5\u{2}UNIQ_KEY\u{1}U1\u{2}TIMER_OUT_MS\u{1}15000\u{2}REAL_TOPIC\u{1}T\u{2}REAL_QID\u{1}3");
        let p = parse(&b).expect("parked");
        assert_eq!(p.timer_out_ms, 15_000);
        assert_eq!(p.delete_key.as_deref(), Some("T+U1"));
        let m = delivered_copy(&b, &p, 10_000, false, 15_020);
        assert_eq!((m.topic.as_str(), m.queue_id), ("T", 3));
        assert_eq!((m.flag, m.reconsume_times, m.born_timestamp), (3, 2, 11));
        assert_eq!(&m.body[..], b"hello");
        let q = Properties::parse(&m.properties);
        assert_eq!(q.get(prop::ENQUEUE_MS), Some("10000"));
        assert_eq!(q.get(prop::DEQUEUE_MS), Some("15020"));
        assert_eq!(q.get(keys::REAL_TOPIC), Some("T"));
        assert_eq!(q.get(prop::ROLL_TIMES), None);
        // A roll goes back to the timer topic, counted.
        let r = delivered_copy(&b, &p, i64::MAX, true, 15_020);
        assert_eq!((r.topic.as_str(), r.queue_id), (TIMER_TOPIC, 0));
        let q = Properties::parse(&r.properties);
        assert_eq!(q.get(prop::ROLL_TIMES), Some("1"));
        assert_eq!(q.get(prop::ENQUEUE_MS), Some("9223372036854775807"));
    }

    #[test]
    fn records_that_cannot_be_delivered_say_why() {
        assert_eq!(
            parse(&Bytes::from_static(b"junk")).err(),
            Some(Undeliverable::Unreadable)
        );
        let b = parked("REAL_TOPIC\u{1}T\u{2}REAL_QID\u{1}0");
        assert_eq!(parse(&b).err(), Some(Undeliverable::NoTimerOut));
        let b = parked("TIMER_OUT_MS\u{1}5\u{2}REAL_QID\u{1}0");
        assert_eq!(parse(&b).err(), Some(Undeliverable::NoRealTopic));
        let b = parked("TIMER_OUT_MS\u{1}5\u{2}REAL_TOPIC\u{1}T\u{2}REAL_QID\u{1}x");
        assert_eq!(parse(&b).err(), Some(Undeliverable::NoRealTopic));
    }
}
