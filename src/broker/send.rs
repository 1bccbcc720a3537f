//! SEND_MESSAGE (10), SEND_MESSAGE_V2 (310) and SEND_BATCH_MESSAGE (320).
//!
//! Checks and message building happen on the connection's read loop, in arrival order;
//! the append is queued to the store's single writer before `handle` returns, so a
//! producer's messages keep their order in the queue. Only the wait for the append's
//! result runs later.

use std::net::SocketAddr;
use std::sync::Arc;

use rmqd_remoting::codes::{request, response};
use rmqd_remoting::headers::send::{SendMessageRequestHeader, SendMessageResponseHeader};
use rmqd_remoting::{ConnectionHandle, RemotingCommand, Reply};
use rmqd_store::dispatch::SCHEDULE_TOPIC;
use rmqd_store::record::sys_flag;
use rmqd_store::{MessageToStore, PutResult, PutStatus};

use super::batch;
use super::context::{now_ms, BrokerContext, Outcome, Refusal};
use super::properties::{self, keys, Properties, PROP_SEP};
use super::stats::manager::TopicStats;
use super::topics::{send_forbidden, validate_topic, AUTO_CREATE_TOPIC_KEY};
use rmqd_remoting::body::topic::{perm, TopicConfig};

/// Region and trace flags every Java broker adds to a send response.
const MSG_REGION: &str = "DefaultRegion";

pub fn process(ctx: &Arc<BrokerContext>, conn: &ConnectionHandle, req: RemotingCommand) -> Reply {
    match prepare_and_queue(ctx, conn, &req) {
        Ok((queue_id, pending)) => {
            let ctx = Arc::clone(ctx);
            Reply::Later(Box::pin(async move {
                let result = pending.finish(&ctx).await;
                Some(respond(&ctx, &req, queue_id, result))
            }))
        }
        Err(r) => {
            tracing::debug!(code = r.code, remark = %r.remark, "send refused");
            Reply::Now(Some(RemotingCommand::error(&req, r.code, r.remark)))
        }
    }
}

/// A queued append, and where its statistics go: the topic and queue it is stored in
/// (the schedule or half topic for delayed and transactional messages, as Java counts).
pub struct Pending {
    put: rmqd_store::PutFuture,
    topic: Option<Arc<TopicStats>>,
    stored_queue: i32,
}

impl Pending {
    /// Waits for the store's answer and counts what was stored.
    pub async fn finish(self, ctx: &BrokerContext) -> PutResult {
        let result = self.put.await;
        let stored = matches!(
            result.status,
            PutStatus::PutOk
                | PutStatus::FlushDiskTimeout
                | PutStatus::FlushSlaveTimeout
                | PutStatus::SlaveNotAvailable
        );
        if let (true, Some(topic)) = (stored, &self.topic) {
            ctx.stats.manager.record_put(
                topic,
                self.stored_queue,
                result.count as u64,
                result.wrote_bytes as u64,
            );
        }
        result
    }
}

/// Queues the append; `wait` is the producer's WAIT flag (a SYNC_MASTER send waits for a
/// slave only when it is set).
fn queue_put(ctx: &BrokerContext, msgs: Vec<MessageToStore>, wait: bool) -> Pending {
    let (topic, stored_queue) = match msgs.first() {
        Some(m) => (Some(ctx.stats.manager.topic(&m.topic)), m.queue_id),
        None => (None, 0),
    };
    Pending {
        put: ctx.store.put_batch_with(msgs, wait),
        topic,
        stored_queue,
    }
}

fn prepare_and_queue(
    ctx: &Arc<BrokerContext>,
    conn: &ConnectionHandle,
    req: &RemotingCommand,
) -> Outcome<(i32, Pending)> {
    let h = SendMessageRequestHeader::from_request(req)?;
    let topic_cfg = check_topic(ctx, conn.peer_addr(), &h)?;
    let queue_id = pick_queue(&h, &topic_cfg)?;
    let born_host = conn.peer_addr();
    // The C++ clients send batches as SEND_MESSAGE with `batch` = "1" (1.x) or as
    // SEND_MESSAGE_V2 with `m` = "1" (2.x), which Java's Boolean.parseBoolean reads as
    // false, storing the encoded batch as one message body. "1" is only ever sent for
    // batches, so rmqd honours the client's intent.
    let batch_alias = if req.code == request::SEND_MESSAGE_V2 {
        "m"
    } else {
        "batch"
    };
    let batch = h.batch || req.ext(batch_alias) == Some("1");
    if req.code == request::SEND_BATCH_MESSAGE || batch {
        let (msgs, wait) = build_batch(ctx, &h, queue_id, born_host, req)?;
        return Ok((queue_id, queue_put(ctx, msgs, wait)));
    }
    let (msg, wait) = build_single(ctx, &h, queue_id, born_host, &req.body)?;
    Ok((queue_id, queue_put(ctx, vec![msg], wait)))
}

/// `isWaitStoreMsgOK`: the WAIT property, true unless it says otherwise. On a
/// SYNC_MASTER it makes the send wait for a slave.
fn waits_for_store(wait: Option<&str>) -> bool {
    wait.is_none_or(|w| w.trim().eq_ignore_ascii_case("true"))
}

/// One message from another front end (the 5.x gRPC endpoint), through the same checks,
/// rewrites (delay, transaction half) and store path as SEND_MESSAGE_V2. Returns the
/// queue the message was for and the pending append.
pub fn queue_single(
    ctx: &Arc<BrokerContext>,
    h: &SendMessageRequestHeader,
    body: &bytes::Bytes,
    born_host: SocketAddr,
) -> Outcome<(i32, Pending)> {
    let topic_cfg = check_topic(ctx, born_host, h)?;
    let queue_id = pick_queue(h, &topic_cfg)?;
    let (msg, wait) = build_single(ctx, h, queue_id, born_host, body)?;
    Ok((queue_id, queue_put(ctx, vec![msg], wait)))
}

/// The topic's config (auto-created as a send would create it), for front ends that pick
/// their own queue.
pub fn topic_for_send(
    ctx: &Arc<BrokerContext>,
    h: &SendMessageRequestHeader,
    peer: SocketAddr,
) -> Outcome<TopicConfig> {
    check_topic(ctx, peer, h)
}

pub(super) fn check_topic(
    ctx: &Arc<BrokerContext>,
    peer: SocketAddr,
    h: &SendMessageRequestHeader,
) -> Outcome<TopicConfig> {
    validate_topic(&h.topic, &ctx.config.broker_cluster_name)?;
    if send_forbidden(&h.topic) {
        return Err(Refusal::new(
            response::NO_PERMISSION,
            format!("Sending message to topic[{}] is forbidden.", h.topic),
        ));
    }
    if ctx.live_config.broker_permission() & perm::WRITE == 0 {
        return Err(Refusal::new(
            response::NO_PERMISSION,
            format!(
                "the broker[{}] sending message is forbidden",
                ctx.config.broker_ip1
            ),
        ));
    }
    let existing = ctx.topics().get(&h.topic).cloned();
    let tc = match existing {
        Some(tc) => tc,
        None => {
            let created = if let Some(group) = h.topic.strip_prefix("%RETRY%") {
                let queues = ctx
                    .groups
                    .find_or_create(group)
                    .0
                    .map(|g| g.retry_queue_nums)
                    .unwrap_or(1);
                Some(
                    ctx.topics()
                        .create_system(&h.topic, queues, perm::READ | perm::WRITE, 0, now_ms())
                        .0,
                )
            } else if ctx.config.auto_create_topic_enable
                || h.default_topic != AUTO_CREATE_TOPIC_KEY
            {
                ctx.topics().create_on_send(
                    &h.topic,
                    &h.default_topic,
                    h.default_topic_queue_nums,
                    0,
                    now_ms(),
                )
            } else {
                None
            };
            match created {
                Some(tc) => {
                    tracing::info!(topic = %h.topic, producer = %peer, "topic created on send");
                    ctx.persist_topics();
                    ctx.register_soon();
                    tc
                }
                None => {
                    return Err(Refusal::new(
                        response::TOPIC_NOT_EXIST,
                        format!(
                            "topic[{}] not exist, apply first please! http://rocketmq.apache.org/docs/faq/",
                            h.topic
                        ),
                    ))
                }
            }
        }
    };
    if tc.perm & perm::WRITE == 0 {
        return Err(Refusal::new(
            response::NO_PERMISSION,
            format!("the topic[{}] sending message is forbidden", h.topic),
        ));
    }
    Ok(tc)
}

pub(super) fn pick_queue(h: &SendMessageRequestHeader, tc: &TopicConfig) -> Outcome<i32> {
    let valid = tc.read_queue_nums.max(tc.write_queue_nums);
    if h.queue_id >= valid {
        return Err(Refusal::system(format!(
            "request queueId[{}] is illegal, {:?} Producer: {}",
            h.queue_id, tc, h.producer_group
        )));
    }
    if h.queue_id < 0 {
        // Java picks at random; any writable queue is as good.
        let n = tc.write_queue_nums.max(1);
        return Ok((now_ms().rem_euclid(i64::from(n))) as i32);
    }
    Ok(h.queue_id)
}

pub(super) fn check_body(ctx: &BrokerContext, len: usize) -> Outcome<()> {
    if len > ctx.config.max_message_size as usize {
        return Err(Refusal::new(
            response::MESSAGE_ILLEGAL,
            format!(
                "the message body size over max value, MAX: {}",
                ctx.config.max_message_size
            ),
        ));
    }
    Ok(())
}

fn build_single(
    ctx: &BrokerContext,
    h: &SendMessageRequestHeader,
    queue_id: i32,
    born_host: SocketAddr,
    body: &bytes::Bytes,
) -> Outcome<(MessageToStore, bool)> {
    check_body(ctx, body.len())?;
    let mut props = client_properties(ctx, h.properties.as_deref().unwrap_or(""))?;
    props.insert(keys::CLUSTER, &ctx.config.broker_cluster_name);
    // Java stores a plain single message without WAIT, to save the bytes, but keeps it in
    // its property map: any later rewrite of the map (delay, transaction) writes it again.
    let wait = props.remove(keys::WAIT);
    let wait_store = waits_for_store(wait.as_deref());
    let mut properties = props.encode_java_order();
    if let Some(w) = wait {
        props.insert(keys::WAIT, &w);
    }
    let mut msg = MessageToStore {
        topic: h.topic.clone(),
        queue_id,
        flag: h.flag,
        body: body.clone(),
        properties: String::new(),
        sys_flag: h.sys_flag,
        born_timestamp: h.born_timestamp,
        born_host,
        reconsume_times: h.reconsume_times.unwrap_or(0),
        prepared_transaction_offset: 0,
    };
    let prepared = props
        .get(keys::TRAN_MSG)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let half = prepared && !(msg.reconsume_times > 0 && delay_level(&props) > 0);
    if half {
        if ctx.config.reject_transaction_message {
            return Err(Refusal::new(
                response::NO_PERMISSION,
                format!(
                    "the broker[{}] sending transaction message is forbidden",
                    ctx.config.broker_ip1
                ),
            ));
        }
        // A half message: parked in the half topic until END_TRANSACTION or the checker
        // decides (`TransactionalMessageBridge.parseHalfMessageInner`).
        props.insert(keys::REAL_TOPIC, &msg.topic);
        props.insert(keys::REAL_QID, &msg.queue_id.to_string());
        msg.sys_flag &= !sys_flag::TRANSACTION_MASK;
        msg.topic = super::transaction::HALF_TOPIC.to_string();
        msg.queue_id = 0;
        properties = props.encode_java_order();
        ctx.ensure_system_topic(super::transaction::HALF_TOPIC, 1);
    }
    // Java 5.x checks timer properties before the delay level. A half message is timed
    // once committed, not parked itself.
    if let Some(rewritten) = super::timer::put::apply(ctx, &mut msg, &mut props, !half)? {
        properties = rewritten;
    }
    if let Some(rewritten) = schedule_if_delayed(ctx, &mut msg, &mut props) {
        properties = rewritten;
    }
    msg.properties = properties;
    Ok((msg, wait_store))
}

/// A producer's properties, refused unparsed when no record could hold them: Java's
/// store answers such a message with this code and remark.
pub(super) fn client_properties(ctx: &BrokerContext, s: &str) -> Outcome<Properties> {
    properties::parse_from_client(s).map_err(|properties::TooLong(len)| {
        tracing::debug!(len, "message properties length too long");
        Refusal::new(
            response::MESSAGE_ILLEGAL,
            format!(
                "the message is illegal, maybe msg body or properties length not matched. msg body length limit {}B, msg properties length limit 32KB.",
                ctx.config.max_message_size
            ),
        )
    })
}

/// The DELAY level in a property map, 0 when absent or not a number.
pub fn delay_level(props: &Properties) -> i32 {
    props
        .get(keys::DELAY)
        .and_then(|d| d.trim().parse().ok())
        .unwrap_or(0)
}

/// `CommitLog.putMessage`'s delay rule: a non-transactional message with DELAY > 0 is
/// stored in SCHEDULE_TOPIC_XXXX queue level-1 (level clamped to the highest), its real
/// topic and queue kept in REAL_TOPIC / REAL_QID. Returns the rewritten properties.
pub fn schedule_if_delayed(
    ctx: &BrokerContext,
    msg: &mut MessageToStore,
    props: &mut Properties,
) -> Option<String> {
    let tran = msg.sys_flag & sys_flag::TRANSACTION_MASK;
    if tran != sys_flag::TRANSACTION_NOT_TYPE && tran != sys_flag::TRANSACTION_COMMIT {
        return None;
    }
    let mut level = delay_level(props);
    if level <= 0 {
        return None;
    }
    let max = ctx.store.config().delay_level_millis.len() as i32;
    if level > max {
        level = max;
        props.insert(keys::DELAY, &level.to_string());
    }
    props.insert(keys::REAL_TOPIC, &msg.topic);
    props.insert(keys::REAL_QID, &msg.queue_id.to_string());
    msg.topic = SCHEDULE_TOPIC.to_string();
    msg.queue_id = level - 1;
    Some(props.encode_java_order())
}

fn build_batch(
    ctx: &BrokerContext,
    h: &SendMessageRequestHeader,
    queue_id: i32,
    born_host: SocketAddr,
    req: &RemotingCommand,
) -> Outcome<(Vec<MessageToStore>, bool)> {
    if h.topic.starts_with("%RETRY%") {
        return Err(Refusal::new(
            response::MESSAGE_ILLEGAL,
            "batch request does not support retry group",
        ));
    }
    let entries = batch::decode(&req.body)
        .map_err(|e| Refusal::new(response::MESSAGE_ILLEGAL, e.to_string()))?;
    let mut batch_props = client_properties(ctx, h.properties.as_deref().unwrap_or(""))?;
    batch_props.insert(keys::CLUSTER, &ctx.config.broker_cluster_name);
    let wait = waits_for_store(batch_props.get(keys::WAIT));
    let batch_suffix = batch_props.encode_java_order();
    let msgs = entries
        .into_iter()
        .map(|e| {
            check_body(ctx, e.body.len())?;
            if client_properties(ctx, &e.properties)?
                .get(keys::DELAY)
                .is_some_and(|d| d.trim() != "0")
            {
                return Err(Refusal::new(
                    response::MESSAGE_ILLEGAL,
                    "TimeDelayLevel is not supported for batched messages",
                ));
            }
            let mut properties = e.properties;
            if !properties.is_empty() && !properties.ends_with(PROP_SEP) && !batch_suffix.is_empty()
            {
                properties.push(PROP_SEP);
            }
            properties.push_str(&batch_suffix);
            Ok(MessageToStore {
                topic: h.topic.clone(),
                queue_id,
                flag: e.flag,
                body: e.body,
                properties,
                sys_flag: h.sys_flag,
                born_timestamp: h.born_timestamp,
                born_host,
                reconsume_times: h.reconsume_times.unwrap_or(0),
                prepared_transaction_offset: 0,
            })
        })
        .collect::<Outcome<Vec<_>>>()?;
    Ok((msgs, wait))
}

/// `queue_id` is the queue the producer's message was for: Java answers with it even when
/// the message was stored elsewhere first (delay levels, transaction half messages),
/// together with the queue offset where it was stored.
fn respond(
    ctx: &BrokerContext,
    req: &RemotingCommand,
    queue_id: i32,
    result: PutResult,
) -> RemotingCommand {
    let code = match result.status {
        PutStatus::PutOk => response::SUCCESS,
        PutStatus::FlushDiskTimeout => response::FLUSH_DISK_TIMEOUT,
        PutStatus::FlushSlaveTimeout => response::FLUSH_SLAVE_TIMEOUT,
        PutStatus::SlaveNotAvailable => response::SLAVE_NOT_AVAILABLE,
        PutStatus::MessageIllegal | PutStatus::PropertiesSizeExceeded => response::MESSAGE_ILLEGAL,
        PutStatus::ServiceNotAvailable => response::SERVICE_NOT_AVAILABLE,
        PutStatus::OsPageCacheBusy | PutStatus::QueueFull => response::SYSTEM_BUSY,
        _ => response::SYSTEM_ERROR,
    };
    if code == response::SYSTEM_BUSY {
        ctx.stats
            .system_busy
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    let mut resp = RemotingCommand::response_to(req, code);
    // Java adds these to every answer of the send processor, refusals included.
    let ext = resp.ext_mut();
    ext.insert("MSG_REGION", MSG_REGION);
    ext.insert("TRACE_ON", "true");
    match code {
        // The four statuses a producer counts as sent: the message is stored.
        response::SUCCESS
        | response::FLUSH_DISK_TIMEOUT
        | response::FLUSH_SLAVE_TIMEOUT
        | response::SLAVE_NOT_AVAILABLE => {
            resp.set_header(&SendMessageResponseHeader {
                msg_id: result.msg_id,
                queue_id,
                queue_offset: result.queue_offset,
                transaction_id: None,
            });
        }
        // Java's flow-control remarks: clients retry SYSTEM_BUSY on another broker or later.
        _ if result.status == PutStatus::OsPageCacheBusy => {
            resp.remark =
                Some("[PC_SYNCHRONIZED]broker busy, start flow control for a while".into());
        }
        _ if result.status == PutStatus::QueueFull => {
            resp.remark = Some("[OVERLOAD]system busy, start flow control for a while".into());
        }
        _ => resp.remark = Some(refusal_remark(ctx, result.status)),
    }
    resp
}

/// Java's remarks for a refused put, with the store's own cause where rmqd knows it
/// (the Java broker only logs it), so an operator reading a client's error sees why.
fn refusal_remark(ctx: &BrokerContext, status: PutStatus) -> String {
    match status {
        PutStatus::ServiceNotAvailable => {
            let health = ctx.store.health();
            let cause = health
                .cause
                .map(|c| format!(" [store {}: {c}]", health.state.as_str()))
                .unwrap_or_default();
            format!(
                "service not available now. It may be caused by one of the following reasons: \
                 the broker's disk is full [{}], messages are put to the slave, message store \
                 has been shut down, etc.{cause}",
                disk_ratios(ctx)
            )
        }
        PutStatus::CreateMappedFileFailed => {
            "create mapped file failed, server is busy or broken.".into()
        }
        PutStatus::MessageIllegal | PutStatus::PropertiesSizeExceeded => {
            "the message is illegal, maybe msg body or properties length not matched. msg body \
             length limit 128k, msg properties length limit 32k."
                .into()
        }
        _ => "UNKNOWN_ERROR".into(),
    }
}

/// `CL:  0.42 CQ:  0.42 INDEX:  0.42`, Java's `diskUtil()` (`%5.2f`, -1 when unknown).
fn disk_ratios(ctx: &BrokerContext) -> String {
    let cfg = ctx.store.config();
    let r = |p: &std::path::Path| {
        let u = rmqd_store::message_store::disk_usage(p).unwrap_or(-1.0);
        format!("{u:5.2}")
    };
    format!(
        "CL: {} CQ: {} INDEX: {}",
        r(&cfg.commitlog_path()),
        r(&cfg.consume_queue_path()),
        r(&cfg.index_path())
    )
}
