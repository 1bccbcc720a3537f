//! Receipt handles: the `extraInfo` string a pop hands out per message
//! (`ExtraInfoUtil.buildExtraInfo`) and, for gRPC clients, the same string with the
//! message's commit-log offset appended (the proxy's `ReceiptHandle`):
//! `ckQueueOffset popTime invisibleTime reviveQid topicType brokerName queueId queueOffset [commitLogOffset]`.

// No `crate::` or `super::` paths: the fuzz crate compiles this file as it is.

pub const RETRY_PREFIX: &str = "%RETRY%";
/// `KeyBuilder.POP_ORDER_REVIVE_QUEUE`: the revive queue id FIFO handles carry.
pub const ORDER_REVIVE_QUEUE: i32 = 999;

/// `KeyBuilder.buildPopRetryTopicV1`: where a group's unacknowledged messages of a topic
/// come back from (`enableRetryTopicV2` is off by default in Java 5.x).
pub fn retry_topic_v1(topic: &str, group: &str) -> String {
    format!("{RETRY_PREFIX}{group}_{topic}")
}

/// Topic type marks: the message came from the topic itself or from its POP retry topic.
pub const NORMAL_TOPIC: &str = "0";
pub const RETRY_TOPIC: &str = "1";
pub const RETRY_TOPIC_V2: &str = "2";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptHandle {
    /// Start offset of the checkpoint the message belongs to.
    pub ck_offset: i64,
    pub pop_time: i64,
    pub invisible_time: i64,
    pub revive_qid: i32,
    pub topic_type: String,
    pub broker_name: String,
    pub queue_id: i32,
    pub offset: i64,
    /// -1 when the handle came from a remoting client (8 fields).
    pub commit_log_offset: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Parse failed, dataList size {0}")]
pub struct BadHandle(pub usize);

impl ReceiptHandle {
    /// `ReceiptHandle.decode` / `ExtraInfoUtil.split`.
    pub fn decode(s: &str) -> Result<Self, BadHandle> {
        let parts: Vec<&str> = s.split(' ').collect();
        if parts.len() < 8 {
            return Err(BadHandle(parts.len()));
        }
        let bad = || BadHandle(parts.len());
        let num = |i: usize| parts[i].parse::<i64>().map_err(|_| bad());
        let int = |i: usize| parts[i].parse::<i32>().map_err(|_| bad());
        Ok(ReceiptHandle {
            ck_offset: num(0)?,
            pop_time: num(1)?,
            invisible_time: num(2)?,
            revive_qid: int(3)?,
            topic_type: parts[4].to_string(),
            broker_name: parts[5].to_string(),
            queue_id: int(6)?,
            offset: num(7)?,
            commit_log_offset: if parts.len() >= 9 { num(8)? } else { -1 },
        })
    }

    /// The remoting `extraInfo` (8 fields).
    pub fn extra_info(&self) -> String {
        format!(
            "{} {} {} {} {} {} {} {}",
            self.ck_offset,
            self.pop_time,
            self.invisible_time,
            self.revive_qid,
            self.topic_type,
            self.broker_name,
            self.queue_id,
            self.offset
        )
    }

    /// The gRPC receipt handle (9 fields).
    pub fn encode(&self) -> String {
        format!("{} {}", self.extra_info(), self.commit_log_offset)
    }

    pub fn next_visible_time(&self) -> i64 {
        self.pop_time.saturating_add(self.invisible_time)
    }

    pub fn is_order(&self) -> bool {
        self.revive_qid == ORDER_REVIVE_QUEUE
    }

    pub fn is_retry(&self) -> bool {
        self.topic_type == RETRY_TOPIC || self.topic_type == RETRY_TOPIC_V2
    }

    /// `getRealTopic`: the topic the handle's offsets are in.
    pub fn real_topic(&self, topic: &str, group: &str) -> String {
        match self.topic_type.as_str() {
            RETRY_TOPIC => retry_topic_v1(topic, group),
            RETRY_TOPIC_V2 => format!("{RETRY_PREFIX}{group}+{topic}"),
            _ => topic.to_string(),
        }
    }
}

/// `ExtraInfoUtil.getRetry`: the mark for a stored topic.
pub fn topic_type(stored_topic: &str) -> &'static str {
    if stored_topic.starts_with(RETRY_PREFIX) && stored_topic.contains('+') {
        RETRY_TOPIC_V2
    } else if stored_topic.starts_with(RETRY_PREFIX) {
        RETRY_TOPIC
    } else {
        NORMAL_TOPIC
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_proxy_handle_round_trips() {
        let s = "10 1700000000000 30000 3 0 broker-a 2 12 4096";
        let h = ReceiptHandle::decode(s).unwrap();
        assert_eq!(
            (h.ck_offset, h.queue_id, h.offset, h.commit_log_offset),
            (10, 2, 12, 4096)
        );
        assert_eq!(h.encode(), s);
        assert_eq!(h.extra_info(), "10 1700000000000 30000 3 0 broker-a 2 12");
        assert_eq!(h.next_visible_time(), 1_700_000_030_000);
        let remoting = ReceiptHandle::decode(&h.extra_info()).unwrap();
        assert_eq!(remoting.commit_log_offset, -1);
        assert!(ReceiptHandle::decode("1 2 3").is_err());
        assert!(ReceiptHandle::decode("a 2 3 4 0 b 1 1").is_err());
        assert_eq!(h.real_topic("T", "G"), "T");
        let r = ReceiptHandle {
            topic_type: RETRY_TOPIC.into(),
            ..h
        };
        assert_eq!(r.real_topic("T", "G"), "%RETRY%G_T");
        assert_eq!(topic_type("%RETRY%G_T"), RETRY_TOPIC);
        assert_eq!(topic_type("%RETRY%G+T"), RETRY_TOPIC_V2);
    }

    proptest::proptest! {
        /// Handles come from clients: any text decodes or is refused, never panics.
        #[test]
        fn arbitrary_handles_never_panic(s in "\\PC{0,120}") {
            let _ = ReceiptHandle::decode(&s);
        }

        #[test]
        fn encoded_handles_decode(a in 0i64.., b in 0i64.., c in 0i64.., q in 0i32..1000, o in 0i64.., p in -1i64..) {
            let h = ReceiptHandle { ck_offset: a, pop_time: b, invisible_time: c, revive_qid: 1,
                topic_type: "0".into(), broker_name: "bk".into(), queue_id: q, offset: o, commit_log_offset: p };
            proptest::prop_assert_eq!(ReceiptHandle::decode(&h.encode()).unwrap(), h);
        }
    }
}
