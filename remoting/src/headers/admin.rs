//! Headers of the admin codes mqadmin, the Dashboard and rocketmq-exporter send to a
//! broker, and of the requests the broker relays to clients for them.

use crate::command_header;

command_header! {
    /// GET_PRODUCER_CONNECTION_LIST (204).
    pub struct ProducerGroupHeader {
        required producer_group: String = "producerGroup",
    }
}

command_header! {
    /// INVOKE_BROKER_TO_RESET_OFFSET (222) and RESET_CONSUMER_CLIENT_OFFSET (220).
    pub struct ResetOffsetRequestHeader {
        required topic: String = "topic",
        required group: String = "group",
        required timestamp: i64 = "timestamp",
        required is_force: bool = "isForce",
    }
}

command_header! {
    /// INVOKE_BROKER_TO_GET_CONSUMER_STATUS (223) and GET_CONSUMER_STATUS_FROM_CLIENT (221).
    pub struct GetConsumerStatusRequestHeader {
        required topic: String = "topic",
        required group: String = "group",
        optional client_addr: Option<String> = "clientAddr",
    }
}

command_header! {
    /// QUERY_CONSUME_TIME_SPAN (303).
    pub struct QueryConsumeTimeSpanRequestHeader {
        required topic: String = "topic",
        required group: String = "group",
    }
}

command_header! {
    /// GET_CONSUMER_RUNNING_INFO (307), relayed to the client.
    pub struct GetConsumerRunningInfoRequestHeader {
        required consumer_group: String = "consumerGroup",
        required client_id: String = "clientId",
        optional jstack_enable: bool = "jstackEnable",
    }
}

command_header! {
    /// QUERY_CORRECTION_OFFSET (308).
    pub struct QueryCorrectionOffsetHeader {
        optional filter_groups: Option<String> = "filterGroups",
        required compare_group: String = "compareGroup",
        required topic: String = "topic",
    }
}

command_header! {
    /// CONSUME_MESSAGE_DIRECTLY (309), relayed to the client.
    pub struct ConsumeMessageDirectlyRequestHeader {
        required consumer_group: String = "consumerGroup",
        optional client_id: Option<String> = "clientId",
        optional msg_id: Option<String> = "msgId",
        optional broker_name: Option<String> = "brokerName",
    }
}

command_header! {
    /// CLONE_GROUP_OFFSET (314).
    pub struct CloneGroupOffsetRequestHeader {
        required src_group: String = "srcGroup",
        required dest_group: String = "destGroup",
        optional topic: Option<String> = "topic",
        optional offline: bool = "offline",
    }
}

command_header! {
    /// VIEW_BROKER_STATS_DATA (315).
    pub struct ViewBrokerStatsDataRequestHeader {
        required stats_name: String = "statsName",
        required stats_key: String = "statsKey",
    }
}

command_header! {
    /// GET_BROKER_CONSUME_STATS (317).
    pub struct GetConsumeStatsInBrokerHeader {
        required is_order: bool = "isOrder",
    }
}

command_header! {
    /// QUERY_CONSUME_QUEUE (321): every field optional, primitives defaulting to 0 as the
    /// Java header's do.
    pub struct QueryConsumeQueueRequestHeader {
        optional topic: Option<String> = "topic",
        optional queue_id: i32 = "queueId",
        optional index: i64 = "index",
        optional count: i32 = "count",
        optional consumer_group: Option<String> = "consumerGroup",
    }
}

command_header! {
    /// RESUME_CHECK_HALF_MESSAGE (323).
    pub struct ResumeCheckHalfMessageRequestHeader {
        optional msg_id: Option<String> = "msgId",
    }
}

command_header! {
    /// GET_BROKER_CONFIG (26) response: the config's data version as JSON.
    pub struct GetBrokerConfigResponseHeader {
        required version: String = "version",
    }
}
