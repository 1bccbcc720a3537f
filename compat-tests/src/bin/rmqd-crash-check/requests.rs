use std::time::Duration;

use rmqd_remoting::codes::{request, response};
use rmqd_remoting::headers::broker::pull_flag;
use rmqd_remoting::headers::broker::{
    CreateTopicRequestHeader, OffsetResponseHeader, PullMessageRequestHeader,
    PullMessageResponseHeader, QueryMessageRequestHeader, TopicQueueHeader,
};
use rmqd_remoting::{InvokeError, RemotingCommand};

use crate::ident;
use crate::link::Link;

const TIMEOUT: Duration = Duration::from_secs(5);

/// A record read from a queue.
#[derive(Debug, Clone)]
pub struct Seen {
    pub queue: i32,
    pub offset: i64,
    /// Producer and sequence, None when the body does not parse.
    pub id: Option<(u32, u64)>,
    pub msg_id: String,
    /// The topic, queue and KEYS agree with what the body says.
    pub consistent: bool,
}

pub enum Pull {
    Found { next: i64, seen: Vec<Seen> },
    NotFound,
    Moved { next: i64 },
    Other { code: i32 },
}

pub async fn create_topic(link: &mut Link, queues: i32) -> Result<(), String> {
    let header = CreateTopicRequestHeader {
        topic: crate::TOPIC.into(),
        default_topic: "TBW102".into(),
        read_queue_nums: queues,
        write_queue_nums: queues,
        perm: 6,
        topic_filter_type: "SINGLE_TAG".into(),
        topic_sys_flag: Some(0),
        order: false,
    };
    let req = RemotingCommand::request(request::UPDATE_AND_CREATE_TOPIC).with_header(&header);
    match link.invoke(req, TIMEOUT).await {
        Ok(r) if r.code == response::SUCCESS => Ok(()),
        Ok(r) => Err(format!("create topic: code {} {:?}", r.code, r.remark)),
        Err(e) => Err(format!("create topic: {e}")),
    }
}

pub async fn max_offset(link: &mut Link, queue: i32) -> Result<i64, String> {
    let req = RemotingCommand::request(request::GET_MAX_OFFSET).with_header(&TopicQueueHeader {
        topic: crate::TOPIC.into(),
        queue_id: queue,
    });
    let r = link.invoke(req, TIMEOUT).await.map_err(|e| e.to_string())?;
    if r.code != response::SUCCESS {
        return Err(format!(
            "GET_MAX_OFFSET {queue}: code {} {:?}",
            r.code, r.remark
        ));
    }
    r.decode_header::<OffsetResponseHeader>()
        .map(|h| h.offset)
        .map_err(|e| format!("GET_MAX_OFFSET {queue}: {e}"))
}

pub async fn pull(link: &mut Link, queue: i32, offset: i64) -> Result<Pull, InvokeError> {
    let header = PullMessageRequestHeader {
        consumer_group: crate::GROUP.into(),
        topic: crate::TOPIC.into(),
        queue_id: queue,
        queue_offset: offset,
        max_msg_nums: 32,
        sys_flag: pull_flag::SUBSCRIPTION,
        commit_offset: 0,
        suspend_timeout_millis: 0,
        subscription: Some("*".into()),
        sub_version: 0,
        expression_type: Some("TAG".into()),
    };
    let req = RemotingCommand::request(request::PULL_MESSAGE).with_header(&header);
    let r = link.invoke(req, TIMEOUT).await?;
    let next = r
        .decode_header::<PullMessageResponseHeader>()
        .map(|h| h.next_begin_offset)
        .ok();
    Ok(match (r.code, next) {
        (response::SUCCESS, Some(next)) => Pull::Found {
            next,
            seen: decode(&r.body, queue),
        },
        (response::PULL_NOT_FOUND | response::PULL_RETRY_IMMEDIATELY, _) => Pull::NotFound,
        (response::PULL_OFFSET_MOVED, Some(next)) => Pull::Moved { next },
        (code, _) => Pull::Other { code },
    })
}

fn decode(body: &[u8], queue: i32) -> Vec<Seen> {
    rmqd_store::record::decode_all(body)
        .into_iter()
        .map(|m| {
            let id = ident::parse_body(m.body);
            let consistent = id.is_some_and(|(p, seq)| {
                m.topic == crate::TOPIC
                    && m.queue_id == queue
                    && m.property("KEYS") == Some(ident::key(p, seq).as_str())
            });
            Seen {
                queue,
                offset: m.queue_offset,
                id,
                msg_id: m.offset_msg_id(),
                consistent,
            }
        })
        .collect()
}

/// QUERY_MESSAGE by key: whether a record with that KEYS came back (the index only
/// compares hashes, so other records may come along).
pub async fn query_key(link: &mut Link, key: &str) -> Result<bool, String> {
    let header = QueryMessageRequestHeader {
        topic: crate::TOPIC.into(),
        key: key.into(),
        max_num: 32,
        begin_timestamp: 0,
        end_timestamp: i64::MAX,
    };
    let req = RemotingCommand::request(request::QUERY_MESSAGE).with_header(&header);
    let r = link.invoke(req, TIMEOUT).await.map_err(|e| e.to_string())?;
    match r.code {
        response::SUCCESS => Ok(rmqd_store::record::decode_all(&r.body)
            .iter()
            .any(|m| m.property("KEYS") == Some(key))),
        response::QUERY_NOT_FOUND => Ok(false),
        code => Err(format!("QUERY_MESSAGE {key}: code {code} {:?}", r.remark)),
    }
}
