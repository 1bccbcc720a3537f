//! Transactional messages: END_TRANSACTION (37) commits or rolls back a half message, and
//! the checker asks producers about half messages left undecided
//! (CHECK_TRANSACTION_STATE, 39). Layout as the Java broker's: half messages in
//! RMQ_SYS_TRANS_HALF_TOPIC, one op record per decision in RMQ_SYS_TRANS_OP_HALF_TOPIC
//! (tag `d`, body = the half message's queue offset), checker progress as group
//! CID_RMQ_SYS_TRANS's consumer offsets.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rmqd_remoting::body::topic::perm;
use rmqd_remoting::codes::{request, response};
use rmqd_remoting::headers::broker::{
    CheckTransactionStateRequestHeader, EndTransactionRequestHeader,
};
use rmqd_remoting::{CancellationToken, RemotingCommand, Reply};
use rmqd_store::record::{self, sys_flag, Decoded, RecordFields, RecordView};
use rmqd_store::{MessageToStore, PutStatus};

use super::context::{now_ms, BrokerContext, Outcome, Refusal};
use super::properties::{keys, Properties};

pub const HALF_TOPIC: &str = "RMQ_SYS_TRANS_HALF_TOPIC";
pub const OP_HALF_TOPIC: &str = "RMQ_SYS_TRANS_OP_HALF_TOPIC";
pub const CHECK_GROUP: &str = "CID_RMQ_SYS_TRANS";
/// Tag of op records (`TransactionalMessageUtil.REMOVETAG`).
const REMOVE_TAG: &str = "d";

pub fn end_transaction(ctx: &Arc<BrokerContext>, req: RemotingCommand) -> Reply {
    if ctx.ha.role.is_slave() {
        // Java: SLAVE_NOT_AVAILABLE, no remark; the producer's master decides.
        tracing::warn!("Message store is slave mode, so end transaction is forbidden.");
        return Reply::Now(Some(RemotingCommand::response_to(
            &req,
            response::SLAVE_NOT_AVAILABLE,
        )));
    }
    match decide(ctx, &req) {
        Ok(None) => Reply::Now(None),
        Ok(Some(work)) => {
            let ctx = ctx.clone();
            Reply::Later(Box::pin(async move {
                let outcome = work.apply(&ctx).await;
                Some(match outcome {
                    Ok(()) => RemotingCommand::success(&req),
                    Err(r) => RemotingCommand::error(&req, r.code, r.remark),
                })
            }))
        }
        Err(r) => {
            tracing::warn!(code = r.code, remark = %r.remark, "END_TRANSACTION refused");
            Reply::Now(Some(RemotingCommand::error(&req, r.code, r.remark)))
        }
    }
}

/// A checked decision about one half message.
pub struct Decision {
    commit: Option<MessageToStore>,
    op: MessageToStore,
}

impl Decision {
    pub async fn apply(self, ctx: &BrokerContext) -> Outcome<()> {
        if let Some(real) = self.commit {
            let r = ctx.store.put(real).await;
            if !matches!(r.status, PutStatus::PutOk | PutStatus::FlushDiskTimeout) {
                return Err(Refusal::system(format!("commit failed: {:?}", r.status)));
            }
        }
        ctx.ensure_topic(OP_HALF_TOPIC, 1, false);
        let r = ctx.store.put(self.op).await;
        if r.status != PutStatus::PutOk {
            tracing::warn!(status = ?r.status, "transaction op record not stored; the checker will ask again");
        }
        Ok(())
    }
}

fn decide(ctx: &Arc<BrokerContext>, req: &RemotingCommand) -> Outcome<Option<Decision>> {
    let h: EndTransactionRequestHeader = req.decode_header()?;
    decide_header(ctx, &h)
}

/// END_TRANSACTION's checks and decision, for any front end.
pub fn decide_header(
    ctx: &Arc<BrokerContext>,
    h: &EndTransactionRequestHeader,
) -> Outcome<Option<Decision>> {
    let kind = h.commit_or_rollback;
    if kind == sys_flag::TRANSACTION_NOT_TYPE {
        tracing::debug!(msg_id = %h.msg_id, check = h.from_transaction_check, "transaction state unknown; left for the checker");
        return Ok(None);
    }
    if kind != sys_flag::TRANSACTION_COMMIT && kind != sys_flag::TRANSACTION_ROLLBACK {
        return Ok(None);
    }
    let bytes = ctx
        .store
        .message_at(h.commit_log_offset)
        .ok_or_else(|| Refusal::system("Find prepared transaction message failed"))?;
    let Ok(Decoded::Message(half)) = record::decode(&bytes, false) else {
        return Err(Refusal::system("Find prepared transaction message failed"));
    };
    if half.property(keys::PGROUP) != Some(h.producer_group.as_str()) {
        return Err(Refusal::system("The producer group wrong"));
    }
    if half.queue_offset != h.tran_state_table_offset {
        return Err(Refusal::system("The transaction state table offset wrong"));
    }
    if half.physical_offset != h.commit_log_offset {
        return Err(Refusal::system("The commit log offset wrong"));
    }
    let commit = if kind == sys_flag::TRANSACTION_COMMIT {
        let mut real = committed_copy(&bytes, &half, h.commit_log_offset)?;
        timed_commit(ctx, &mut real)?;
        Some(real)
    } else {
        None
    };
    Ok(Some(Decision {
        commit,
        op: op_record(ctx, &half),
    }))
}

/// `endMessageTransaction`: the half message as the real one. Its properties string is the
/// half's re-serialised, so it keeps TRAN_MSG, PGROUP, REAL_TOPIC and REAL_QID as Java's does.
fn committed_copy(
    bytes: &Bytes,
    half: &RecordView<'_>,
    half_offset: i64,
) -> Outcome<MessageToStore> {
    let props = Properties::parse(half.properties);
    let topic = props
        .get(keys::REAL_TOPIC)
        .ok_or_else(|| Refusal::system("half message without REAL_TOPIC"))?
        .to_string();
    let queue_id = props
        .get(keys::REAL_QID)
        .and_then(|q| q.trim().parse().ok())
        .ok_or_else(|| Refusal::system("half message without REAL_QID"))?;
    Ok(MessageToStore {
        topic,
        queue_id,
        flag: half.flag,
        body: bytes.slice_ref(half.body),
        properties: props.encode_java_order(),
        sys_flag: (half.sys_flag & !sys_flag::TRANSACTION_MASK) | sys_flag::TRANSACTION_COMMIT,
        born_timestamp: half.born_timestamp,
        born_host: half.born_host,
        reconsume_times: half.reconsume_times,
        prepared_transaction_offset: half_offset,
    })
}

/// A committed message that asks for a later delivery (timer properties) is parked in
/// the timer wheel from the commit on.
fn timed_commit(ctx: &BrokerContext, msg: &mut MessageToStore) -> Outcome<()> {
    if !msg.properties.contains("TIMER_") {
        return Ok(());
    }
    let mut props = Properties::parse(&msg.properties);
    if let Some(p) = super::timer::put::apply(ctx, msg, &mut props, true)? {
        msg.properties = p;
    }
    Ok(())
}

/// The op record marking a half message decided (`addRemoveTagInTransactionOp`).
fn op_record(ctx: &BrokerContext, half: &RecordView<'_>) -> MessageToStore {
    let mut props = Properties::default();
    props.insert(keys::TAGS, REMOVE_TAG);
    props.insert(keys::WAIT, "true");
    MessageToStore {
        topic: OP_HALF_TOPIC.to_string(),
        queue_id: half.queue_id,
        flag: 0,
        body: Bytes::from(half.queue_offset.to_string()),
        properties: props.encode_java_order(),
        sys_flag: 0,
        born_timestamp: now_ms(),
        born_host: ctx.store_host,
        reconsume_times: 0,
        prepared_transaction_offset: 0,
    }
}

/// The check service: every `transactionCheckInterval`, look at undecided half messages.
pub async fn run_checker(ctx: Arc<BrokerContext>, shutdown: CancellationToken) {
    let period = Duration::from_millis(ctx.config.transaction_check_interval.max(100));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(period) => {}
        }
        check_once(&ctx).await;
    }
}

/// Half-queue offsets that an op record says are decided, reading the op queue from the
/// checker's committed op offset, and the op-queue offset read up to.
fn decided_offsets(ctx: &BrokerContext, queue_id: i32) -> (HashSet<i64>, i64) {
    let mut done = HashSet::new();
    let from = ctx
        .offsets
        .query(CHECK_GROUP, OP_HALF_TOPIC, queue_id)
        .unwrap_or_else(|| ctx.store.min_offset_in_queue(OP_HALF_TOPIC, queue_id));
    let max = ctx.store.max_offset_in_queue(OP_HALF_TOPIC, queue_id);
    for off in from..max {
        let Some((_, b)) = ctx.store.unit_and_record(OP_HALF_TOPIC, queue_id, off) else {
            continue;
        };
        if let Ok(Decoded::Message(m)) = record::decode(&b, false) {
            if m.property(keys::TAGS) == Some(REMOVE_TAG) {
                for part in String::from_utf8_lossy(m.body).split(',') {
                    if let Ok(o) = part.trim().parse::<i64>() {
                        done.insert(o);
                    }
                }
            }
        }
    }
    (done, max)
}

pub async fn check_once(ctx: &Arc<BrokerContext>) {
    let queue_id = 0;
    // Java's checker looks the half topic up, creating it (1 queue, perm 6) and
    // registering it on its first run, so topic lists show it from then on.
    let created = ctx
        .topics()
        .create_system(HALF_TOPIC, 1, perm::READ | perm::WRITE, 0, now_ms())
        .1;
    if created {
        ctx.persist_topics();
        ctx.register_soon();
    }
    let max = ctx.store.max_offset_in_queue(HALF_TOPIC, queue_id);
    if max == 0 {
        return;
    }
    let (decided, op_read_to) = decided_offsets(ctx, queue_id);
    let min = ctx.store.min_offset_in_queue(HALF_TOPIC, queue_id);
    let start = ctx
        .offsets
        .query(CHECK_GROUP, HALF_TOPIC, queue_id)
        .unwrap_or(min)
        .max(min);
    let timeout = ctx.config.transaction_time_out as i64;
    let check_max = ctx.config.transaction_check_max;
    let now = now_ms();
    let mut offset = start;
    // Only look at what existed when the run began; re-appended copies wait for the next.
    while offset < max {
        if decided.contains(&offset) {
            offset += 1;
            continue;
        }
        let Some((_, bytes)) = ctx.store.unit_and_record(HALF_TOPIC, queue_id, offset) else {
            offset += 1;
            continue;
        };
        let Ok(Decoded::Message(half)) = record::decode(&bytes, false) else {
            offset += 1;
            continue;
        };
        let mut props = Properties::parse(half.properties);
        let checks: i32 = props
            .get(keys::TRANSACTION_CHECK_TIMES)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if checks >= check_max {
            tracing::warn!(offset, checks, msg = ?half.property(keys::UNIQ_KEY), "half message checked too often; discarded");
            offset += 1;
            continue;
        }
        let immunity = props
            .get(keys::CHECK_IMMUNITY_TIME_IN_SECONDS)
            .and_then(|v| v.parse::<i64>().ok())
            .map(|s| s * 1000)
            .unwrap_or(timeout);
        let age = now - half.born_timestamp;
        if age < timeout.max(immunity) {
            break;
        }
        // Renew: append the half again with one more check counted, then ask the producer
        // about the renewed copy (its answer names the renewed offsets).
        // Java counts the check on the copy and keeps every other property as it was
        // (TRAN_PREPARED_QUEUE_OFFSET is only added for check-immunity re-puts).
        props.insert(keys::TRANSACTION_CHECK_TIMES, &(checks + 1).to_string());
        let renewed = MessageToStore {
            topic: HALF_TOPIC.to_string(),
            queue_id,
            flag: half.flag,
            body: bytes.slice_ref(half.body),
            properties: props.encode_java_order(),
            sys_flag: half.sys_flag,
            born_timestamp: half.born_timestamp,
            born_host: half.born_host,
            reconsume_times: half.reconsume_times,
            prepared_transaction_offset: 0,
        };
        let r = ctx.store.put(renewed).await;
        if r.status != PutStatus::PutOk {
            tracing::warn!(status = ?r.status, "could not renew a half message; retrying next round");
            break;
        }
        if let Some(b) = ctx.store.message_at(r.phy_offset) {
            ask_producer(ctx, &b, r.phy_offset, r.queue_offset).await;
        }
        offset += 1;
    }
    if offset > start {
        ctx.offsets
            .commit(CHECK_GROUP, HALF_TOPIC, queue_id, offset);
    }
    // The op records read at the start of this run name half offsets below `offset`, so
    // they are not needed again. Only those: an answer to a check sent during this run
    // lands after them, and skipping it would check (and could commit) that half again.
    if decided.iter().all(|o| *o < offset) && op_read_to > 0 {
        ctx.offsets
            .commit(CHECK_GROUP, OP_HALF_TOPIC, queue_id, op_read_to);
    }
}

/// Sends CHECK_TRANSACTION_STATE for a (renewed) half message to a live producer of its
/// group. The body is the message as the producer sent it: real topic and queue.
async fn ask_producer(ctx: &BrokerContext, bytes: &Bytes, phy_offset: i64, queue_offset: i64) {
    let Ok(Decoded::Message(half)) = record::decode(bytes, false) else {
        return;
    };
    let Some(group) = half.property(keys::PGROUP) else {
        return;
    };
    let real_topic = half.property(keys::REAL_TOPIC).unwrap_or(half.topic);
    let real_qid = half
        .property(keys::REAL_QID)
        .and_then(|q| q.parse().ok())
        .unwrap_or(half.queue_id);
    // Java's renew marks its copy WAIT=false through the property map it shares with the
    // message it then sends for the check, so the producer sees WAIT=false there (the
    // stored copy keeps the original value).
    let mut props = Properties::parse(half.properties);
    if props.get(keys::WAIT).is_some() {
        props.insert(keys::WAIT, "false");
    }
    let properties = props.encode_java_order();
    let body = RecordFields {
        queue_id: real_qid,
        flag: half.flag,
        queue_offset: half.queue_offset,
        physical_offset: half.physical_offset,
        sys_flag: half.sys_flag,
        born_timestamp: half.born_timestamp,
        born_host: half.born_host,
        store_timestamp: half.store_timestamp,
        store_host: half.store_host,
        reconsume_times: half.reconsume_times,
        prepared_transaction_offset: half.prepared_transaction_offset,
        body: half.body,
        topic: real_topic,
        properties: &properties,
    }
    .encode();
    let uniq = half.property(keys::UNIQ_KEY).map(str::to_string);
    let Some(conn) = ctx.clients.producer_channel(group) else {
        // A 5.x gRPC producer gets the check over its telemetry stream; its transaction
        // id is the half message's offsetMsgId.
        let check = super::grpc_producers::OrphanCheck {
            record: Bytes::from(body),
            transaction_id: half.offset_msg_id(),
        };
        if !ctx.grpc_producers.ask(group, check) {
            tracing::info!(group, "no live producer to check a transaction with");
        }
        return;
    };
    let mut cmd = RemotingCommand::request(request::CHECK_TRANSACTION_STATE).with_header(
        &CheckTransactionStateRequestHeader {
            tran_state_table_offset: queue_offset,
            commit_log_offset: phy_offset,
            msg_id: uniq.clone(),
            transaction_id: uniq,
            offset_msg_id: Some(half.offset_msg_id()),
        },
    );
    cmd.body = Bytes::from(body);
    if let Err(e) = conn.invoke_oneway(cmd).await {
        tracing::info!(group, error = %e, "transaction check could not be sent");
    }
}
