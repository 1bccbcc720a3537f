//! SendMessage and EndTransaction (`SendMessageActivity`, `EndTransactionActivity`): a 5.x
//! message becomes the properties the Java proxy would give it, then goes through the
//! broker's own send path (auto-create, delay levels, timer properties, transaction half).

use std::net::SocketAddr;
use std::sync::Arc;

use rmqd_remoting::headers::broker::EndTransactionRequestHeader;
use rmqd_remoting::headers::send::SendMessageRequestHeader;
use rmqd_store::record::{self, sys_flag, Decoded};
use rmqd_store::{PutResult, PutStatus};

use super::convert::{self, millis_of, Delivery};
use super::pb::{self, Code};
use super::status;
use super::validate;
use crate::broker::context::{now_ms, BrokerContext, Refusal};
use crate::broker::grpc_producers::OrphanCheck;
use crate::broker::properties::{keys, Properties};
use crate::broker::{send, transaction};

/// `ProxyConfig.userPropertyMaxNum` / `maxUserPropertySize`.
const USER_PROPERTY_MAX_NUM: usize = 128;
const MAX_USER_PROPERTY_SIZE: usize = 16 * 1024;

type Fail = (Code, String);

/// Java's `buildMessageProperty`: the stored properties of one 5.x message.
fn properties(m: &pb::Message, topic: &str, peer: SocketAddr) -> Result<Properties, Fail> {
    let sp = m.system_properties.clone().unwrap_or_default();
    if m.user_properties.len() > USER_PROPERTY_MAX_NUM {
        return Err((
            Code::MessagePropertiesTooLarge,
            format!("too many user properties, max is {USER_PROPERTY_MAX_NUM}"),
        ));
    }
    let mut size = 0usize;
    let mut props = Properties::default();
    for (k, v) in &m.user_properties {
        if convert::is_system_key(k) {
            return Err((
                Code::IllegalMessagePropertyKey,
                format!("property is used by system: {k}"),
            ));
        }
        if validate::has_control_char(k) {
            return Err((
                Code::IllegalMessagePropertyKey,
                "the key of property cannot contain control character".into(),
            ));
        }
        if validate::has_control_char(v) {
            return Err((
                Code::IllegalMessagePropertyKey,
                "the value of property cannot contain control character".into(),
            ));
        }
        size += k.len() + v.len();
        props.insert(k, v);
    }
    let tag = sp.tag.clone().unwrap_or_default();
    validate::tag(&tag)?;
    if !tag.is_empty() {
        props.insert(keys::TAGS, &tag);
    }
    size += tag.len();
    for k in &sp.keys {
        validate::message_key(k)?;
        size += k.len();
    }
    if !sp.keys.is_empty() {
        props.insert("KEYS", &sp.keys.join(" "));
    }
    if size > MAX_USER_PROPERTY_SIZE {
        return Err((
            Code::MessagePropertiesTooLarge,
            format!(
                "the total size of user property is too large, max is {MAX_USER_PROPERTY_SIZE}"
            ),
        ));
    }
    if sp.message_id.trim().is_empty() {
        return Err((Code::IllegalMessageId, "message id cannot be empty".into()));
    }
    props.insert(keys::UNIQ_KEY, &sp.message_id);
    if sp.message_type == pb::MessageType::Transaction as i32 {
        props.insert(keys::TRAN_MSG, "true");
        if let Some(d) = &sp.orphaned_transaction_recovery_duration {
            props.insert(keys::CHECK_IMMUNITY_TIME_IN_SECONDS, &d.seconds.to_string());
        }
    }
    // The 5.x timer: the broker's timer store delivers at TIMER_DELIVER_MS, within the
    // proxy's own bound first (`SendMessageActivity.validateDelayTime`).
    if let Some(ts) = &sp.delivery_timestamp {
        let at = millis_of(ts);
        if at.saturating_sub(now_ms()) > MAX_DELAY_TIME_MS {
            return Err((
                Code::IllegalDeliveryTime,
                format!("the max delay time of message is too large, max is {MAX_DELAY_TIME_MS}"),
            ));
        }
        props.insert("TIMER_DELIVER_MS", &at.to_string());
    }
    props.insert(
        "RECONSUME_TIME",
        &sp.delivery_attempt.unwrap_or(0).to_string(),
    );
    props.insert(keys::PGROUP, topic);
    if let Some(g) = sp.message_group.as_deref().filter(|g| !g.is_empty()) {
        validate::message_group(g)?;
        props.insert("__SHARDINGKEY", g);
    }
    if let Some(t) = sp.trace_context.as_deref().filter(|t| !t.is_empty()) {
        props.insert("TRACE_CONTEXT", t);
    }
    let born_host = if sp.born_host.trim().is_empty() {
        peer.to_string()
    } else {
        sp.born_host.clone()
    };
    props.insert("__BORNHOST", &born_host);
    if let Some(ts) = &sp.born_timestamp {
        props.insert("BORN_TIMESTAMP", &millis_of(ts).to_string());
    }
    Ok(props)
}

/// `buildSysFlag`.
fn sys_flag_of(m: &pb::Message) -> i32 {
    let sp = m.system_properties.clone().unwrap_or_default();
    let mut flag = 0;
    if sp.body_encoding == pb::Encoding::Gzip as i32 {
        flag |= sys_flag::COMPRESSED;
    }
    if sp.message_type == pb::MessageType::Transaction as i32 {
        flag |= sys_flag::TRANSACTION_PREPARED;
    }
    flag
}

/// Guava's `Hashing.consistentHash`, which the proxy uses to put a message group on a queue.
pub fn consistent_hash(input: i64, buckets: i32) -> i32 {
    let mut state = input;
    let mut candidate: i32 = 0;
    loop {
        state = state
            .wrapping_mul(2_862_933_555_777_941_757)
            .wrapping_add(1);
        let d = f64::from(((state as u64) >> 33) as i32 + 1) / f64::from(1u32 << 31);
        let next = (f64::from(candidate + 1) / d) as i64;
        if next >= 0 && next < i64::from(buckets) {
            candidate = next as i32;
        } else {
            return candidate;
        }
    }
}

/// Round robin over write queues for messages without a group (`selectOneByPipeline`).
static NEXT_QUEUE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

fn pick_queue(group: Option<&str>, write_queues: i32) -> i32 {
    let n = write_queues.max(1);
    match group {
        Some(g) if !g.is_empty() => {
            consistent_hash(i64::from(crate::broker::properties::java_string_hash(g)), n)
        }
        _ => (NEXT_QUEUE.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % n as u32) as i32,
    }
}

fn entry_of(result: &PutResult, message_id: &str, transactional: bool) -> pb::SendResultEntry {
    let fail = |code: Code, what: &str| pb::SendResultEntry {
        status: status::some(code, format!("send message failed, sendStatus={what}")),
        ..Default::default()
    };
    match result.status {
        PutStatus::PutOk => pb::SendResultEntry {
            status: status::ok(),
            message_id: message_id.to_string(),
            // The half message's offsetMsgId: EndTransaction finds the half by it.
            transaction_id: if transactional {
                result.msg_id.clone()
            } else {
                String::new()
            },
            offset: result.queue_offset,
            recall_handle: String::new(),
        },
        PutStatus::FlushDiskTimeout => fail(Code::MasterPersistenceTimeout, "FLUSH_DISK_TIMEOUT"),
        PutStatus::OsPageCacheBusy => pb::SendResultEntry {
            status: status::some(
                Code::TooManyRequests,
                "[PC_SYNCHRONIZED]broker busy, start flow control for a while",
            ),
            ..Default::default()
        },
        PutStatus::QueueFull => pb::SendResultEntry {
            status: status::some(
                Code::TooManyRequests,
                "[OVERLOAD]system busy, start flow control for a while",
            ),
            ..Default::default()
        },
        other => pb::SendResultEntry {
            status: {
                tracing::debug!(status = ?other, "gRPC send not stored");
                status::some(Code::InternalServerError, format!("{other:?}"))
            },
            ..Default::default()
        },
    }
}

fn refused_entry(r: &Refusal) -> pb::SendResultEntry {
    tracing::debug!(code = r.code, remark = %r.remark, "gRPC send refused");
    pb::SendResultEntry {
        status: status::from_refusal(r),
        ..Default::default()
    }
}

fn response(entries: Vec<pb::SendResultEntry>) -> pb::SendMessageResponse {
    let mut codes: Vec<i32> = entries
        .iter()
        .filter_map(|e| e.status.as_ref().map(|s| s.code))
        .collect();
    codes.sort_unstable();
    codes.dedup();
    let status = match codes.as_slice() {
        [] => status::some(Code::InternalServerError, "send status is empty"),
        [one] => {
            let code = Code::try_from(*one).unwrap_or(Code::InternalServerError);
            status::some(code, code.as_str_name())
        }
        _ => status::some(Code::MultipleResults, "MULTIPLE_RESULTS"),
    };
    pb::SendMessageResponse { status, entries }
}

fn failed(code: Code, message: impl Into<String>) -> pb::SendMessageResponse {
    pb::SendMessageResponse {
        status: status::some(code, message),
        entries: Vec::new(),
    }
}

pub async fn send_message(
    ctx: &Arc<BrokerContext>,
    peer: SocketAddr,
    req: pb::SendMessageRequest,
) -> pb::SendMessageResponse {
    let Some(first) = req.messages.first() else {
        return failed(Code::MessageCorrupted, "no message to send");
    };
    let topic = first.topic.clone().unwrap_or_default();
    if let Err((code, msg)) = validate::topic(&topic.name) {
        return failed(code, msg);
    }
    let group = if req.messages.len() == 1 {
        first
            .system_properties
            .as_ref()
            .and_then(|s| s.message_group.clone())
    } else {
        None
    };
    let mut pending = Vec::with_capacity(req.messages.len());
    let mut queue_id: Option<i32> = None;
    for m in &req.messages {
        if m.topic.as_ref() != Some(&topic) {
            return failed(Code::MessageCorrupted, "topic in message is not same");
        }
        if m.body.len() > MAX_BODY {
            return failed(
                Code::MessageBodyTooLarge,
                format!("message body cannot exceed the max {MAX_BODY}"),
            );
        }
        let props = match properties(m, &topic.name, peer) {
            Ok(p) => p,
            Err((code, msg)) => return failed(code, msg),
        };
        let mut h = SendMessageRequestHeader {
            producer_group: topic.name.clone(),
            topic: topic.name.clone(),
            default_topic: crate::broker::topics::AUTO_CREATE_TOPIC_KEY.to_string(),
            default_topic_queue_nums: 4,
            queue_id: -1,
            sys_flag: sys_flag_of(m),
            born_timestamp: now_ms(),
            flag: 0,
            properties: Some(props.encode_java_order()),
            ..Default::default()
        };
        if queue_id.is_none() {
            match send::topic_for_send(ctx, &h, peer) {
                Ok(tc) => queue_id = Some(pick_queue(group.as_deref(), tc.write_queue_nums)),
                Err(r) => return response(vec![refused_entry(&r)]),
            }
        }
        h.queue_id = queue_id.unwrap_or(0);
        let message_id = m
            .system_properties
            .as_ref()
            .map(|s| s.message_id.clone())
            .unwrap_or_default();
        let transactional = h.sys_flag & sys_flag::TRANSACTION_PREPARED != 0;
        match send::queue_single(ctx, &h, &m.body, peer) {
            Ok((_, fut)) => pending.push(Ok((fut, message_id, transactional))),
            Err(r) => pending.push(Err(r)),
        }
    }
    let mut entries = Vec::with_capacity(pending.len());
    for p in pending {
        entries.push(match p {
            Ok((fut, id, tx)) => entry_of(&fut.finish(ctx).await, &id, tx),
            Err(r) => refused_entry(&r),
        });
    }
    response(entries)
}

/// `ProxyConfig.maxDelayTimeMills` (1 day).
const MAX_DELAY_TIME_MS: i64 = 24 * 60 * 60 * 1000;

/// `ProxyConfig.maxMessageSize`.
const MAX_BODY: usize = 4 * 1024 * 1024;

pub async fn end_transaction(
    ctx: &Arc<BrokerContext>,
    req: pb::EndTransactionRequest,
) -> pb::EndTransactionResponse {
    let fail = |code: Code, msg: String| pb::EndTransactionResponse {
        status: status::some(code, msg),
    };
    let topic = req.topic.clone().unwrap_or_default().name;
    if let Err((code, msg)) = validate::topic(&topic) {
        return fail(code, msg);
    }
    if req.transaction_id.trim().is_empty() {
        return fail(
            Code::InvalidTransactionId,
            "transaction id cannot be empty".into(),
        );
    }
    let Some((_, phy)) = record::decode_offset_msg_id(&req.transaction_id) else {
        return fail(
            Code::InvalidTransactionId,
            format!("transaction id is invalid: {}", req.transaction_id),
        );
    };
    let kind = match pb::TransactionResolution::try_from(req.resolution) {
        Ok(pb::TransactionResolution::Commit) => sys_flag::TRANSACTION_COMMIT,
        Ok(pb::TransactionResolution::Rollback) => sys_flag::TRANSACTION_ROLLBACK,
        _ => sys_flag::TRANSACTION_NOT_TYPE,
    };
    let Some(bytes) = ctx.store.message_at(phy) else {
        return fail(
            Code::InvalidTransactionId,
            "Find prepared transaction message failed".into(),
        );
    };
    let Ok(Decoded::Message(half)) = record::decode(&bytes, false) else {
        return fail(
            Code::InvalidTransactionId,
            "Find prepared transaction message failed".into(),
        );
    };
    let h = EndTransactionRequestHeader {
        producer_group: half.property(keys::PGROUP).unwrap_or(&topic).to_string(),
        tran_state_table_offset: half.queue_offset,
        commit_log_offset: phy,
        commit_or_rollback: kind,
        from_transaction_check: req.source == pb::TransactionSource::SourceServerCheck as i32,
        msg_id: req.message_id.clone(),
        transaction_id: Some(req.transaction_id.clone()),
    };
    match transaction::decide_header(ctx, &h) {
        Ok(None) => pb::EndTransactionResponse {
            status: status::ok(),
        },
        Ok(Some(d)) => match d.apply(ctx).await {
            Ok(()) => pb::EndTransactionResponse {
                status: status::ok(),
            },
            Err(r) => pb::EndTransactionResponse {
                status: status::from_refusal(&r),
            },
        },
        Err(r) => pb::EndTransactionResponse {
            status: status::from_refusal(&r),
        },
    }
}

/// The telemetry command asking a producer about an undecided half message.
pub fn recovery_command(topic: &str, check: &OrphanCheck) -> Option<pb::TelemetryCommand> {
    let Ok(Decoded::Message(m)) = record::decode(&check.record, false) else {
        return None;
    };
    let message = convert::message(
        &check.record,
        &m,
        &Delivery {
            topic,
            receipt_handle: None,
            reconsume_times: m.reconsume_times,
            invisible_ms: None,
        },
    );
    Some(pb::TelemetryCommand {
        status: status::ok(),
        command: Some(
            pb::telemetry_command::Command::RecoverOrphanedTransactionCommand(
                pb::RecoverOrphanedTransactionCommand {
                    message: Some(message),
                    transaction_id: check.transaction_id.clone(),
                },
            ),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guava_consistent_hash() {
        // Values from Guava's HashingTest (consistentHash of small inputs).
        assert_eq!(consistent_hash(0, 1), 0);
        for buckets in 1..50 {
            for input in [-5i64, 0, 1, 7, 123456, i64::from(i32::MIN)] {
                let b = consistent_hash(input, buckets);
                assert!((0..buckets).contains(&b));
            }
        }
        // Growing the bucket count moves a key only to the new bucket.
        for input in 0..200i64 {
            let a = consistent_hash(input, 8);
            let b = consistent_hash(input, 9);
            assert!(a == b || b == 8);
        }
    }
}
