//! The records POP keeps in the revive topic (`rmq_sys_REVIVE_LOG_<cluster>`): a
//! checkpoint per popped batch (tag `ck`), an ack per acknowledged message (`ack`) and a
//! batch of acks (`bAck`), with the JSON bodies of Java's `PopCheckPoint`, `AckMsg` and
//! `BatchAckMsg` (fastjson short names; long names accepted on read, as Java does).

use std::net::SocketAddr;

use bytes::Bytes;
use rmqd_store::MessageToStore;
use serde::{Deserialize, Serialize};

// `super::super`, not `crate::broker`: the fuzz crate compiles this file as it is.
use super::super::properties::{keys, Properties};

pub const CK_TAG: &str = "ck";
pub const ACK_TAG: &str = "ack";
pub const BATCH_ACK_TAG: &str = "bAck";
/// `PopAckConstants.SPLIT`.
const SPLIT: char = '@';

/// `PopCheckPoint`: the messages one pop handed out of one queue, as offsets relative to
/// `start_offset`, and which of them are acknowledged (`bit_map`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CheckPoint {
    #[serde(rename = "bm", alias = "bitMap", default)]
    pub bit_map: i32,
    #[serde(rename = "bn", alias = "brokerName", default)]
    pub broker_name: Option<String>,
    #[serde(rename = "c", alias = "cid", alias = "cId", default)]
    pub cid: String,
    #[serde(rename = "d", alias = "queueOffsetDiff", default)]
    pub queue_offset_diff: Vec<i32>,
    #[serde(rename = "it", alias = "invisibleTime", default)]
    pub invisible_time: i64,
    #[serde(rename = "n", alias = "num", default)]
    pub num: i8,
    #[serde(rename = "pt", alias = "popTime", default)]
    pub pop_time: i64,
    #[serde(rename = "q", alias = "queueId", default)]
    pub queue_id: i32,
    /// Java serialises its `getReviveTime()` getter too; written for readers, ignored here.
    #[serde(rename = "reviveTime", default, skip_deserializing)]
    pub revive_time: i64,
    #[serde(rename = "ro", alias = "reviveOffset", default)]
    pub revive_offset: i64,
    #[serde(
        rename = "rp",
        alias = "rePutTimes",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub re_put_times: Option<String>,
    #[serde(rename = "so", alias = "startOffset", default)]
    pub start_offset: i64,
    #[serde(rename = "t", alias = "topic", default)]
    pub topic: String,
}

impl CheckPoint {
    pub fn revive_time(&self) -> i64 {
        self.pop_time.saturating_add(self.invisible_time)
    }

    /// Queue offset of the `i`-th message.
    pub fn offset_at(&self, i: usize) -> i64 {
        match self.queue_offset_diff.get(i) {
            Some(d) => self.start_offset + i64::from(*d),
            None => self.start_offset + i as i64,
        }
    }

    /// Number of messages the checkpoint covers (the diff list when present, else `n`).
    pub fn len(&self) -> usize {
        if self.queue_offset_diff.is_empty() {
            usize::try_from(self.num).unwrap_or(0)
        } else {
            self.queue_offset_diff.len().min(32)
        }
    }

    /// `indexOfAck`: which message an ack of `offset` is for.
    pub fn index_of(&self, offset: i64) -> Option<usize> {
        (0..self.len()).find(|&i| self.offset_at(i) == offset)
    }

    pub fn is_acked(&self, i: usize) -> bool {
        i < 32 && self.bit_map & (1 << i) != 0
    }

    pub fn set_acked(&mut self, i: usize) {
        if i < 32 {
            self.bit_map |= 1 << i;
        }
    }

    pub fn all_acked(&self) -> bool {
        (0..self.len()).all(|i| self.is_acked(i))
    }

    /// The key an ack finds its checkpoint by (`PopReviveService`'s merge key).
    pub fn merge_key(&self) -> String {
        merge_key(
            &self.topic,
            &self.cid,
            self.queue_id,
            self.start_offset,
            self.pop_time,
            self.broker_name.as_deref().unwrap_or(""),
        )
    }

    /// `genCkUniqueId`.
    fn unique_id(&self) -> String {
        format!(
            "{t}{SPLIT}{q}{SPLIT}{so}{SPLIT}{c}{SPLIT}{pt}{SPLIT}{bn}{SPLIT}{CK_TAG}",
            t = self.topic,
            q = self.queue_id,
            so = self.start_offset,
            c = self.cid,
            pt = self.pop_time,
            bn = self.broker_name.as_deref().unwrap_or("null"),
        )
    }
}

pub fn merge_key(
    topic: &str,
    group: &str,
    queue_id: i32,
    start_offset: i64,
    pop_time: i64,
    broker: &str,
) -> String {
    format!("{topic}{group}{queue_id}{start_offset}{pop_time}{broker}")
}

/// `AckMsg` (and, with `ack_offset_list`, `BatchAckMsg`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AckMsg {
    #[serde(rename = "ao", alias = "ackOffset", default)]
    pub ack_offset: i64,
    #[serde(
        rename = "aol",
        alias = "ackOffsetList",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ack_offset_list: Vec<i64>,
    #[serde(rename = "bn", alias = "brokerName", default)]
    pub broker_name: Option<String>,
    #[serde(rename = "c", alias = "consumerGroup", default)]
    pub consumer_group: String,
    #[serde(rename = "pt", alias = "popTime", default)]
    pub pop_time: i64,
    #[serde(rename = "q", alias = "queueId", default)]
    pub queue_id: i32,
    #[serde(rename = "so", alias = "startOffset", default)]
    pub start_offset: i64,
    #[serde(rename = "t", alias = "topic", default)]
    pub topic: String,
}

impl AckMsg {
    pub fn merge_key(&self, default_broker: &str) -> String {
        let broker = match self.broker_name.as_deref() {
            Some(b) if !b.trim().is_empty() => b,
            _ => default_broker,
        };
        merge_key(
            &self.topic,
            &self.consumer_group,
            self.queue_id,
            self.start_offset,
            self.pop_time,
            broker,
        )
    }

    /// Offsets this record acknowledges.
    pub fn offsets(&self) -> Vec<i64> {
        if self.ack_offset_list.is_empty() {
            vec![self.ack_offset]
        } else {
            self.ack_offset_list.clone()
        }
    }

    fn unique_id(&self, batch: bool) -> String {
        let (t, q, c, pt) = (
            &self.topic,
            self.queue_id,
            &self.consumer_group,
            self.pop_time,
        );
        if batch {
            let list = self
                .ack_offset_list
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            format!("{t}{SPLIT}{q}{SPLIT}[{list}]{SPLIT}{c}{SPLIT}{pt}{SPLIT}{BATCH_ACK_TAG}")
        } else {
            let bn = self.broker_name.as_deref().unwrap_or("null");
            let ao = self.ack_offset;
            format!("{t}{SPLIT}{q}{SPLIT}{ao}{SPLIT}{c}{SPLIT}{pt}{SPLIT}{bn}{SPLIT}{ACK_TAG}")
        }
    }
}

/// One decoded revive-topic record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReviveRecord {
    Ck(CheckPoint),
    Ack(AckMsg),
}

/// Reads a revive record from its tag and body; anything else (or damage) is `None`.
pub fn decode(tag: Option<&str>, body: &[u8]) -> Option<ReviveRecord> {
    match tag? {
        CK_TAG => {
            let ck: CheckPoint = serde_json::from_slice(body).ok()?;
            (!ck.topic.is_empty() && !ck.cid.is_empty()).then_some(ReviveRecord::Ck(ck))
        }
        ACK_TAG | BATCH_ACK_TAG => serde_json::from_slice(body).ok().map(ReviveRecord::Ack),
        _ => None,
    }
}

/// Where revive records are written from.
pub struct ReviveTarget<'a> {
    pub topic: &'a str,
    pub queue_id: i32,
    pub store_host: SocketAddr,
    pub now: i64,
}

fn revive_message(t: &ReviveTarget<'_>, tag: &str, uniq: &str, body: Vec<u8>) -> MessageToStore {
    let mut props = Properties::default();
    props.insert(keys::TAGS, tag);
    props.insert(keys::UNIQ_KEY, uniq);
    MessageToStore {
        topic: t.topic.to_string(),
        queue_id: t.queue_id,
        flag: 0,
        body: Bytes::from(body),
        properties: props.encode_java_order(),
        sys_flag: 0,
        born_timestamp: t.now,
        born_host: t.store_host,
        reconsume_times: 0,
        prepared_transaction_offset: 0,
    }
}

pub fn ck_message(t: &ReviveTarget<'_>, ck: &CheckPoint) -> MessageToStore {
    let mut ck = ck.clone();
    ck.revive_time = ck.revive_time();
    let body = serde_json::to_vec(&ck).unwrap_or_default();
    revive_message(t, CK_TAG, &ck.unique_id(), body)
}

pub fn ack_message(t: &ReviveTarget<'_>, ack: &AckMsg) -> MessageToStore {
    let batch = !ack.ack_offset_list.is_empty();
    let body = serde_json::to_vec(ack).unwrap_or_default();
    let tag = if batch { BATCH_ACK_TAG } else { ACK_TAG };
    revive_message(t, tag, &ack.unique_id(batch), body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_checkpoint_json_reads() {
        // As a Java 5.x broker writes it (fastjson, sorted names, reviveTime getter).
        let raw = br#"{"bm":0,"bn":"broker-a","c":"GID","d":[0,1,3],"it":30000,"n":3,"pt":1700000000000,"q":2,"reviveTime":1700000030000,"ro":0,"so":10,"t":"T"}"#;
        let Some(ReviveRecord::Ck(ck)) = decode(Some(CK_TAG), raw) else {
            panic!("not a checkpoint")
        };
        assert_eq!(ck.offset_at(2), 13);
        assert_eq!(ck.index_of(11), Some(1));
        assert_eq!(ck.index_of(12), None);
        assert_eq!(ck.revive_time(), 1_700_000_030_000);
        let ack =
            br#"{"ao":13,"bn":"broker-a","c":"GID","pt":1700000000000,"q":2,"so":10,"t":"T"}"#;
        let Some(ReviveRecord::Ack(a)) = decode(Some(ACK_TAG), ack) else {
            panic!("not an ack")
        };
        assert_eq!(a.merge_key("x"), ck.merge_key());
        let long = br#"{"ackOffsetList":[10,11],"consumerGroup":"GID","popTime":1700000000000,"queueId":2,"startOffset":10,"topic":"T"}"#;
        let Some(ReviveRecord::Ack(b)) = decode(Some(BATCH_ACK_TAG), long) else {
            panic!("not a batch ack")
        };
        assert_eq!(b.offsets(), vec![10, 11]);
        assert_eq!(b.merge_key("broker-a"), ck.merge_key());
    }

    #[test]
    fn written_records_read_back() {
        let ck = CheckPoint {
            num: 2,
            pop_time: 5,
            invisible_time: 7,
            start_offset: 3,
            cid: "g".into(),
            topic: "t".into(),
            queue_id: 1,
            broker_name: Some("b".into()),
            queue_offset_diff: vec![0, 4],
            ..Default::default()
        };
        let t = ReviveTarget {
            topic: "rmq_sys_REVIVE_LOG_C",
            queue_id: 0,
            store_host: SocketAddr::from(([127, 0, 0, 1], 1)),
            now: 9,
        };
        let m = ck_message(&t, &ck);
        let props = Properties::parse(&m.properties);
        assert_eq!(props.get(keys::TAGS), Some(CK_TAG));
        assert_eq!(props.get(keys::UNIQ_KEY), Some("t@1@3@g@5@b@ck"));
        assert_eq!(decode(Some(CK_TAG), &m.body), Some(ReviveRecord::Ck(ck)));
    }

    proptest::proptest! {
        /// Revive bodies are read back from the store (a Java broker's too): any bytes
        /// decode or are skipped, never panic.
        #[test]
        fn arbitrary_bodies_never_panic(raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            for tag in [CK_TAG, ACK_TAG, BATCH_ACK_TAG] {
                if let Some(ReviveRecord::Ck(ck)) = decode(Some(tag), &raw) {
                    let _ = (ck.len(), ck.all_acked(), ck.revive_time());
                }
            }
        }
    }
}
