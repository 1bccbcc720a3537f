//! Headers of the 5.x POP codes (POP_MESSAGE 200050, ACK_MESSAGE 200051, PEEK_MESSAGE
//! 200052, CHANGE_MESSAGE_INVISIBLETIME 200053, POLLING_INFO 200055).

use crate::command_header;

command_header! {
    /// POP_MESSAGE (200050): `PopMessageRequestHeader`.
    pub struct PopMessageRequestHeader {
        required consumer_group: String = "consumerGroup",
        required topic: String = "topic",
        required queue_id: i32 = "queueId",
        required max_msg_nums: i32 = "maxMsgNums",
        required invisible_time: i64 = "invisibleTime",
        required poll_time: i64 = "pollTime",
        required born_time: i64 = "bornTime",
        required init_mode: i32 = "initMode",
        optional exp_type: Option<String> = "expType",
        optional exp: Option<String> = "exp",
        optional order: bool = "order",
        optional attempt_id: Option<String> = "attemptId",
    }
}

command_header! {
    /// POP_MESSAGE response.
    pub struct PopMessageResponseHeader {
        required pop_time: i64 = "popTime",
        required invisible_time: i64 = "invisibleTime",
        required revive_qid: i32 = "reviveQid",
        required rest_num: i64 = "restNum",
        optional start_offset_info: Option<String> = "startOffsetInfo",
        optional msg_offset_info: Option<String> = "msgOffsetInfo",
        optional order_count_info: Option<String> = "orderCountInfo",
    }
}

command_header! {
    /// ACK_MESSAGE (200051).
    pub struct AckMessageRequestHeader {
        required consumer_group: String = "consumerGroup",
        required topic: String = "topic",
        required queue_id: i32 = "queueId",
        required extra_info: String = "extraInfo",
        required offset: i64 = "offset",
    }
}

command_header! {
    /// CHANGE_MESSAGE_INVISIBLETIME (200053).
    pub struct ChangeInvisibleTimeRequestHeader {
        required consumer_group: String = "consumerGroup",
        required topic: String = "topic",
        required queue_id: i32 = "queueId",
        required extra_info: String = "extraInfo",
        required offset: i64 = "offset",
        required invisible_time: i64 = "invisibleTime",
    }
}

command_header! {
    /// CHANGE_MESSAGE_INVISIBLETIME response.
    pub struct ChangeInvisibleTimeResponseHeader {
        required pop_time: i64 = "popTime",
        required invisible_time: i64 = "invisibleTime",
        required revive_qid: i32 = "reviveQid",
    }
}

command_header! {
    /// PEEK_MESSAGE (200052).
    pub struct PeekMessageRequestHeader {
        required consumer_group: String = "consumerGroup",
        required topic: String = "topic",
        required queue_id: i32 = "queueId",
        required max_msg_nums: i32 = "maxMsgNums",
    }
}

command_header! {
    /// POLLING_INFO (200055).
    pub struct PollingInfoRequestHeader {
        required consumer_group: String = "consumerGroup",
        required topic: String = "topic",
        required queue_id: i32 = "queueId",
    }
}

command_header! {
    /// POLLING_INFO response.
    pub struct PollingInfoResponseHeader {
        required polling_num: i32 = "pollingNum",
    }
}
