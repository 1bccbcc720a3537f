//! Headers of the broker's client-facing codes other than send.

use crate::command_header;

command_header! {
    /// PULL_MESSAGE (11) / LITE_PULL_MESSAGE (361).
    pub struct PullMessageRequestHeader {
        required consumer_group: String = "consumerGroup",
        required topic: String = "topic",
        required queue_id: i32 = "queueId",
        required queue_offset: i64 = "queueOffset",
        required max_msg_nums: i32 = "maxMsgNums",
        required sys_flag: i32 = "sysFlag",
        required commit_offset: i64 = "commitOffset",
        required suspend_timeout_millis: i64 = "suspendTimeoutMillis",
        optional subscription: Option<String> = "subscription",
        required sub_version: i64 = "subVersion",
        optional expression_type: Option<String> = "expressionType",
    }
}

/// `PullSysFlag` bits.
pub mod pull_flag {
    pub const COMMIT_OFFSET: i32 = 0x1;
    pub const SUSPEND: i32 = 0x2;
    pub const SUBSCRIPTION: i32 = 0x4;
    pub const CLASS_FILTER: i32 = 0x8;
    pub const LITE_PULL: i32 = 0x10;
}

command_header! {
    /// PULL_MESSAGE response.
    pub struct PullMessageResponseHeader {
        required suggest_which_broker_id: i64 = "suggestWhichBrokerId",
        required next_begin_offset: i64 = "nextBeginOffset",
        required min_offset: i64 = "minOffset",
        required max_offset: i64 = "maxOffset",
    }
}

command_header! {
    /// QUERY_CONSUMER_OFFSET (14).
    pub struct QueryConsumerOffsetRequestHeader {
        required consumer_group: String = "consumerGroup",
        required topic: String = "topic",
        required queue_id: i32 = "queueId",
        /// 5.x: answer 0 instead of QUERY_NOT_FOUND.
        optional set_zero_if_not_found: Option<bool> = "setZeroIfNotFound",
    }
}

command_header! {
    /// UPDATE_CONSUMER_OFFSET (15).
    pub struct UpdateConsumerOffsetRequestHeader {
        required consumer_group: String = "consumerGroup",
        required topic: String = "topic",
        required queue_id: i32 = "queueId",
        required commit_offset: i64 = "commitOffset",
    }
}

command_header! {
    /// GET_MAX_OFFSET (30), GET_MIN_OFFSET (31), GET_EARLIEST_MSG_STORETIME (32).
    pub struct TopicQueueHeader {
        required topic: String = "topic",
        required queue_id: i32 = "queueId",
    }
}

command_header! {
    /// SEARCH_OFFSET_BY_TIMESTAMP (29).
    pub struct SearchOffsetRequestHeader {
        required topic: String = "topic",
        required queue_id: i32 = "queueId",
        required timestamp: i64 = "timestamp",
        optional boundary_type: Option<String> = "boundaryType",
    }
}

command_header! {
    /// Responses carrying one offset (14, 29, 30, 31).
    pub struct OffsetResponseHeader {
        required offset: i64 = "offset",
    }
}

command_header! {
    /// GET_EARLIEST_MSG_STORETIME response.
    pub struct TimestampResponseHeader {
        required timestamp: i64 = "timestamp",
    }
}

command_header! {
    /// UNREGISTER_CLIENT (35).
    pub struct UnregisterClientRequestHeader {
        required client_id: String = "clientID",
        optional producer_group: Option<String> = "producerGroup",
        optional consumer_group: Option<String> = "consumerGroup",
    }
}

command_header! {
    /// GET_CONSUMER_LIST_BY_GROUP (38), GET_CONSUMER_CONNECTION_LIST (203),
    /// NOTIFY_CONSUMER_IDS_CHANGED (40).
    pub struct ConsumerGroupHeader {
        required consumer_group: String = "consumerGroup",
    }
}

command_header! {
    /// QUERY_MESSAGE (12).
    pub struct QueryMessageRequestHeader {
        required topic: String = "topic",
        required key: String = "key",
        required max_num: i32 = "maxNum",
        required begin_timestamp: i64 = "beginTimestamp",
        required end_timestamp: i64 = "endTimestamp",
    }
}

/// Ext field that turns QUERY_MESSAGE into a lookup by unique message id.
pub const UNIQUE_KEY_QUERY: &str = "_UNIQUE_KEY_QUERY";

command_header! {
    /// QUERY_MESSAGE response.
    pub struct QueryMessageResponseHeader {
        required index_last_update_timestamp: i64 = "indexLastUpdateTimestamp",
        required index_last_update_phyoffset: i64 = "indexLastUpdatePhyoffset",
    }
}

command_header! {
    /// VIEW_MESSAGE_BY_ID (33).
    pub struct ViewMessageRequestHeader {
        required offset: i64 = "offset",
    }
}

command_header! {
    /// UPDATE_AND_CREATE_TOPIC (17).
    pub struct CreateTopicRequestHeader {
        required topic: String = "topic",
        required default_topic: String = "defaultTopic",
        required read_queue_nums: i32 = "readQueueNums",
        required write_queue_nums: i32 = "writeQueueNums",
        required perm: i32 = "perm",
        required topic_filter_type: String = "topicFilterType",
        optional topic_sys_flag: Option<i32> = "topicSysFlag",
        optional order: bool = "order",
    }
}

command_header! {
    /// DELETE_TOPIC_IN_BROKER (215), GET_TOPIC_STATS_INFO (202),
    /// QUERY_TOPIC_CONSUME_BY_WHO (300).
    pub struct TopicOnlyHeader {
        required topic: String = "topic",
    }
}

command_header! {
    /// DELETE_SUBSCRIPTIONGROUP (207).
    pub struct DeleteSubscriptionGroupRequestHeader {
        required group_name: String = "groupName",
    }
}

command_header! {
    /// GET_CONSUME_STATS (208).
    pub struct GetConsumeStatsRequestHeader {
        required consumer_group: String = "consumerGroup",
        optional topic: Option<String> = "topic",
    }
}

command_header! {
    /// CONSUMER_SEND_MSG_BACK (36).
    pub struct ConsumerSendMsgBackRequestHeader {
        required offset: i64 = "offset",
        required group: String = "group",
        required delay_level: i32 = "delayLevel",
        optional origin_msg_id: Option<String> = "originMsgId",
        optional origin_topic: Option<String> = "originTopic",
        optional unit_mode: bool = "unitMode",
        optional max_reconsume_times: Option<i32> = "maxReconsumeTimes",
    }
}

command_header! {
    /// END_TRANSACTION (37).
    pub struct EndTransactionRequestHeader {
        required producer_group: String = "producerGroup",
        required tran_state_table_offset: i64 = "tranStateTableOffset",
        required commit_log_offset: i64 = "commitLogOffset",
        required commit_or_rollback: i32 = "commitOrRollback",
        optional from_transaction_check: bool = "fromTransactionCheck",
        required msg_id: String = "msgId",
        optional transaction_id: Option<String> = "transactionId",
    }
}

command_header! {
    /// CHECK_TRANSACTION_STATE (39), broker to producer.
    pub struct CheckTransactionStateRequestHeader {
        required tran_state_table_offset: i64 = "tranStateTableOffset",
        required commit_log_offset: i64 = "commitLogOffset",
        optional msg_id: Option<String> = "msgId",
        optional transaction_id: Option<String> = "transactionId",
        optional offset_msg_id: Option<String> = "offsetMsgId",
    }
}
