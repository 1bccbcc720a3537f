//! Send headers: SEND_MESSAGE (10) carries Java's field names, SEND_MESSAGE_V2 (310) and
//! SEND_BATCH_MESSAGE (320) the same fields under one-letter aliases to save bytes.

use crate::command::RemotingCommand;
use crate::command_header;
use crate::custom_header::{CommandHeader, HeaderError};

command_header! {
    /// SEND_MESSAGE (10) / SEND_REPLY_MESSAGE (324): `SendMessageRequestHeader`.
    pub struct SendMessageRequestHeader {
        required producer_group: String = "producerGroup",
        required topic: String = "topic",
        required default_topic: String = "defaultTopic",
        required default_topic_queue_nums: i32 = "defaultTopicQueueNums",
        required queue_id: i32 = "queueId",
        required sys_flag: i32 = "sysFlag",
        required born_timestamp: i64 = "bornTimestamp",
        required flag: i32 = "flag",
        optional properties: Option<String> = "properties",
        optional reconsume_times: Option<i32> = "reconsumeTimes",
        optional unit_mode: bool = "unitMode",
        optional batch: bool = "batch",
        optional max_reconsume_times: Option<i32> = "maxReconsumeTimes",
        optional broker_name: Option<String> = "brokerName",
    }
}

command_header! {
    /// SEND_MESSAGE_V2 (310), SEND_BATCH_MESSAGE (320), SEND_REPLY_MESSAGE_V2 (325):
    /// `SendMessageRequestHeaderV2`.
    pub struct SendMessageRequestHeaderV2 {
        required a: String = "a",
        required b: String = "b",
        required c: String = "c",
        required d: i32 = "d",
        required e: i32 = "e",
        required f: i32 = "f",
        required g: i64 = "g",
        required h: i32 = "h",
        optional i: Option<String> = "i",
        optional j: Option<i32> = "j",
        optional k: bool = "k",
        optional l: Option<i32> = "l",
        optional m: bool = "m",
        optional n: Option<String> = "n",
    }
}

impl From<SendMessageRequestHeaderV2> for SendMessageRequestHeader {
    fn from(v: SendMessageRequestHeaderV2) -> Self {
        SendMessageRequestHeader {
            producer_group: v.a,
            topic: v.b,
            default_topic: v.c,
            default_topic_queue_nums: v.d,
            queue_id: v.e,
            sys_flag: v.f,
            born_timestamp: v.g,
            flag: v.h,
            properties: v.i,
            reconsume_times: v.j,
            unit_mode: v.k,
            max_reconsume_times: v.l,
            batch: v.m,
            broker_name: v.n,
        }
    }
}

impl From<&SendMessageRequestHeader> for SendMessageRequestHeaderV2 {
    fn from(h: &SendMessageRequestHeader) -> Self {
        SendMessageRequestHeaderV2 {
            a: h.producer_group.clone(),
            b: h.topic.clone(),
            c: h.default_topic.clone(),
            d: h.default_topic_queue_nums,
            e: h.queue_id,
            f: h.sys_flag,
            g: h.born_timestamp,
            h: h.flag,
            i: h.properties.clone(),
            j: h.reconsume_times,
            k: h.unit_mode,
            l: h.max_reconsume_times,
            m: h.batch,
            n: h.broker_name.clone(),
        }
    }
}

impl SendMessageRequestHeader {
    /// Read the send header of any send code: V2 aliases for 310/320/325, Java names
    /// otherwise.
    pub fn from_request(req: &RemotingCommand) -> Result<Self, HeaderError> {
        use crate::codes::request::*;
        match req.code {
            SEND_MESSAGE_V2 | SEND_BATCH_MESSAGE | SEND_REPLY_MESSAGE_V2 => {
                SendMessageRequestHeaderV2::from_ext(req.ext_fields.as_ref()).map(Into::into)
            }
            _ => Self::from_ext(req.ext_fields.as_ref()),
        }
    }
}

command_header! {
    /// Send response: `SendMessageResponseHeader`.
    pub struct SendMessageResponseHeader {
        required msg_id: String = "msgId",
        required queue_id: i32 = "queueId",
        required queue_offset: i64 = "queueOffset",
        optional transaction_id: Option<String> = "transactionId",
    }
}

command_header! {
    /// PUSH_REPLY_MESSAGE_TO_CLIENT (326): `ReplyMessageRequestHeader`, the reply a
    /// replier sent, pushed by the broker to the requester's connection.
    pub struct ReplyMessageRequestHeader {
        required producer_group: String = "producerGroup",
        required topic: String = "topic",
        required default_topic: String = "defaultTopic",
        required default_topic_queue_nums: i32 = "defaultTopicQueueNums",
        required queue_id: i32 = "queueId",
        required sys_flag: i32 = "sysFlag",
        required born_timestamp: i64 = "bornTimestamp",
        required flag: i32 = "flag",
        optional properties: Option<String> = "properties",
        optional reconsume_times: Option<i32> = "reconsumeTimes",
        optional unit_mode: bool = "unitMode",
        required born_host: String = "bornHost",
        required store_host: String = "storeHost",
        required store_timestamp: i64 = "storeTimestamp",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ext_fields::ExtFields;

    #[test]
    fn v2_aliases_map_to_v1_names() {
        let mut req = RemotingCommand::request(crate::codes::request::SEND_MESSAGE_V2);
        let e = req.ext_mut();
        for (k, v) in [
            ("a", "PG"),
            ("b", "T"),
            ("c", "TBW102"),
            ("d", "4"),
            ("e", "2"),
            ("f", "0"),
            ("g", "1700000000000"),
            ("h", "0"),
            ("i", "KEYS\u{1}k\u{2}"),
            ("j", "0"),
            ("k", "0"),
            ("m", "1"),
        ] {
            e.insert(k, v);
        }
        let h = SendMessageRequestHeader::from_request(&req).unwrap();
        assert_eq!(h.producer_group, "PG");
        assert_eq!(h.topic, "T");
        assert_eq!(h.queue_id, 2);
        assert_eq!(h.born_timestamp, 1_700_000_000_000);
        assert!(!h.batch, "C++ sends \"1\", which Java reads as false");
        let mut ext = ExtFields::new();
        SendMessageRequestHeaderV2::from(&h).write_ext(&mut ext);
        assert_eq!(ext.get("b"), Some("T"));
    }
}
