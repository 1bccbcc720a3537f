//! Drives rmqd with the crates.io `rocketmq-client-rust` 1.0.0 client. Same command line
//! and JSON-lines output as the other drivers (compat-tests/clients/README.md).

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cheetah_string::CheetahString;
use rocketmq_client_rust::{
    ClientConfig, ClientError, ClientResult, ClientRuntime, ClientRuntimeConfig,
    ConsumeConcurrentlyContext, ConsumeConcurrentlyStatus, ConsumeOrderlyContext,
    ConsumeOrderlyStatus, DefaultLitePullConsumer, DefaultMQProducer, DefaultMQPushConsumer,
    LocalTransactionState, MQPushConsumer, MessageListenerConcurrently, MessageListenerOrderly,
    MessageSelector, MessageUtil, SendResult, TransactionListener, TransactionMQProducer,
};
use rocketmq_model::common::consumer::consume_from_where::ConsumeFromWhere;
use rocketmq_model::common::message::message_ext::MessageExt;
use rocketmq_model::common::message::message_single::Message;
use rocketmq_model::common::message::MessageTrait;
use rocketmq_runtime::{RuntimeConfig, RuntimeOwner};
use serde_json::{json, Value};

/// The Java `SendStatus` names, as the other drivers print them.
fn status_name(s: &rocketmq_model::result::SendStatus) -> &'static str {
    use rocketmq_model::result::SendStatus;
    match s {
        SendStatus::SendOk => "SEND_OK",
        SendStatus::FlushDiskTimeout => "FLUSH_DISK_TIMEOUT",
        SendStatus::FlushSlaveTimeout => "FLUSH_SLAVE_TIMEOUT",
        SendStatus::SlaveNotAvailable => "SLAVE_NOT_AVAILABLE",
    }
}

struct Args(HashMap<String, String>);

impl Args {
    fn parse() -> (String, Args) {
        let mut it = std::env::args().skip(1);
        let cmd = it.next().unwrap_or_default();
        let mut m = HashMap::new();
        let rest: Vec<String> = it.collect();
        let mut i = 0;
        while i < rest.len() {
            let k = rest[i].trim_start_matches("--").to_string();
            if matches!(k.as_str(), "orderly" | "broadcast" | "trace" | "suspend") {
                m.insert(k, "true".into());
                i += 1;
            } else {
                m.insert(k, rest.get(i + 1).cloned().unwrap_or_default());
                i += 2;
            }
        }
        (cmd, Args(m))
    }
    fn s(&self, k: &str, d: &str) -> String {
        self.0.get(k).cloned().unwrap_or_else(|| d.to_string())
    }
    fn n(&self, k: &str, d: i64) -> i64 {
        self.0.get(k).and_then(|v| v.parse().ok()).unwrap_or(d)
    }
    fn f(&self, k: &str, d: f64) -> f64 {
        self.0.get(k).and_then(|v| v.parse().ok()).unwrap_or(d)
    }
    fn flag(&self, k: &str) -> bool {
        self.0.contains_key(k)
    }
}

fn out(v: Value) {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{v}");
    let _ = o.flush();
}

fn message(a: &Args, i: i64) -> Message {
    let mut b = Message::builder()
        .topic(a.s("topic", ""))
        .tags(a.s("tag", "TagA"))
        .key(format!("{}-{i}", a.s("keys-prefix", "key")))
        .body_slice(format!("{}-{i}", a.s("body-prefix", "msg")).as_bytes());
    let level = a.n("delay-level", 0);
    if level > 0 {
        b = b.delay_level(level as i32);
    }
    let mut m = b.build_unchecked();
    let _ = m.put_user_property(CheetahString::from("idx"), CheetahString::from(i.to_string()));
    // Timer messages (5.x properties) through the client's own setters.
    let sec = a.n("timer-delay-sec", 0);
    if sec > 0 {
        m.set_delay_time_sec(sec as u64);
    }
    let ms = a.n("timer-delay-ms", 0);
    if ms > 0 {
        m.set_delay_time_ms(ms as u64);
    }
    let at = a.n("timer-deliver-in-ms", 0);
    if at > 0 {
        m.set_deliver_time_ms((now_ms() + at) as u64);
    }
    m
}

/// The timer properties a delivered message carries.
const TIMER_PROPS: [&str; 8] = [
    "TIMER_DELAY_SEC",
    "TIMER_DELAY_MS",
    "TIMER_DELIVER_MS",
    "TIMER_OUT_MS",
    "TIMER_ENQUEUE_MS",
    "TIMER_DEQUEUE_MS",
    "TIMER_ROLL_TIMES",
    "REAL_TOPIC",
];

fn received(m: &MessageExt, delivery: usize) -> Value {
    let body = m.body().map(|b| String::from_utf8_lossy(&b).to_string()).unwrap_or_default();
    let prop = |k: &str| m.property(&CheetahString::from(k)).map(|v| v.to_string());
    json!({
        "topic": m.topic().to_string(),
        "body": body,
        "tags": m.get_tags().map(|t| t.to_string()),
        "keys": prop("KEYS"),
        "msgId": m.msg_id().to_string(),
        "queueId": m.queue_id(),
        "queueOffset": m.queue_offset(),
        "reconsumeTimes": m.reconsume_times(),
        "idx": prop("idx"),
        "storeTimestamp": m.store_timestamp(),
        "bornTimestamp": m.born_timestamp(),
        "recvTimestamp": now_ms(),
        "delivery": delivery,
        "timer": TIMER_PROPS
            .iter()
            .filter_map(|k| prop(k).map(|v| (k.to_string(), Value::String(v))))
            .collect::<serde_json::Map<String, Value>>(),
    })
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// ACL: the client's `AclClientRPCHook` signs every request when `--access-key` is given.
fn acl_hook(a: &Args) -> Option<Arc<dyn rocketmq_transport::api::RPCHook>> {
    let ak = a.s("access-key", "");
    (!ak.is_empty()).then(|| {
        Arc::new(rocketmq_client_rust::AclClientRPCHook::new(
            rocketmq_client_rust::SessionCredentials::with_keys(ak, a.s("secret-key", "")),
        )) as Arc<dyn rocketmq_transport::api::RPCHook>
    })
}

/// The client configuration: message trace on with `--trace`, to `--trace-topic` if
/// given (else the client's default, RMQ_SYS_TRACE_TOPIC).
fn client_config(a: &Args) -> ClientConfig {
    let mut c = ClientConfig::default();
    if a.flag("trace") {
        c.set_enable_trace(true);
        let topic = a.s("trace-topic", "");
        if !topic.is_empty() {
            c.trace_topic = Some(CheetahString::from(topic));
        }
    }
    c
}

async fn producer(rt: &Arc<ClientRuntime>, a: &Args) -> ClientResult<DefaultMQProducer> {
    let mut p = DefaultMQProducer::builder(rt.clone())
        .client_config(client_config(a))
        .producer_group(a.s("group", "CompatProducer"))
        .name_server_addr(a.s("namesrv", ""))
        .build();
    if let Some(hook) = acl_hook(a) {
        p.set_rpc_hook(hook);
    }
    p.start().await?;
    Ok(p)
}

async fn send(rt: Arc<ClientRuntime>, a: Args) -> ClientResult<i32> {
    let mut p = producer(&rt, &a).await?;
    let count = a.n("count", 1);
    let mode = a.s("mode", "sync");
    let mut failures = 0;
    if mode == "batch" {
        let step = a.n("batch-size", 10).max(1);
        let mut start = 0;
        while start < count {
            let msgs: Vec<Message> = (start..(start + step).min(count)).map(|i| message(&a, i)).collect();
            match p.send_batch(msgs).await {
                Ok(r) => out(json!({"i": start, "status": status_name(&r.send_status), "msgId": r.msg_id.map(|m| m.to_string()), "queueOffset": r.queue_offset})),
                Err(e) => {
                    failures += 1;
                    out(json!({"i": start, "error": e.to_string()}));
                }
            }
            start += step;
        }
    }
    if mode == "async" {
        // Every send is issued before any answer is awaited; the callbacks report back.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for i in 0..count {
            let cb_tx = tx.clone();
            let issued = p
                .send_with_callback(message(&a, i), move |r: Option<&SendResult>, e: Option<&ClientError>| {
                    let line = match (r, e) {
                        (Some(r), _) => json!({
                            "i": i, "status": status_name(&r.send_status), "async": true,
                            "msgId": r.msg_id.as_ref().map(|m| m.to_string()),
                            "queueId": r.message_queue.as_ref().map(|q| q.queue_id()),
                            "queueOffset": r.queue_offset,
                        }),
                        (None, Some(e)) => json!({"i": i, "error": e.to_string()}),
                        (None, None) => json!({"i": i, "error": "callback without result"}),
                    };
                    let _ = cb_tx.send(line);
                })
                .await;
            if let Err(e) = issued {
                let _ = tx.send(json!({"i": i, "error": e.to_string()}));
            }
        }
        drop(tx);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let mut answered = 0;
        while answered < count {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(line)) => {
                    answered += 1;
                    if line.get("error").is_some() {
                        failures += 1;
                    }
                    out(line);
                }
                _ => {
                    out(json!({"error": format!("{} async sends never answered", count - answered)}));
                    failures += 1;
                    break;
                }
            }
        }
    }
    let order_keys = a.n("order-keys", 1).max(1);
    for i in 0..count {
        if mode == "batch" || mode == "async" {
            break;
        }
        let m = message(&a, i);
        let res = match mode.as_str() {
            "oneway" => p.send_oneway(m).await.map(|_| None),
            "orderly" => {
                let key = (i % order_keys) as usize;
                p.send_with_selector(m, |mqs, _msg, arg: &usize| Some(mqs[arg % mqs.len()].clone()), key)
                    .await
            }
            _ => p.send(m).await,
        };
        match res {
            Ok(Some(r)) => out(json!({
                "i": i, "status": status_name(&r.send_status),
                "msgId": r.msg_id.map(|m| m.to_string()),
                "offsetMsgId": r.offset_msg_id,
                "queueId": r.message_queue.as_ref().map(|q| q.queue_id()),
                "queueOffset": r.queue_offset,
            })),
            Ok(None) => out(json!({"i": i, "status": "SEND_OK", "oneway": true})),
            Err(e) => {
                failures += 1;
                out(json!({"i": i, "error": e.to_string()}));
            }
        }
    }
    if mode == "oneway" {
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    p.shutdown().await;
    Ok(if failures == 0 { 0 } else { 1 })
}

#[derive(Clone)]
struct Tally {
    seen: Arc<Mutex<HashSet<String>>>,
    deliveries: Arc<Mutex<HashMap<String, usize>>>,
    fail_times: usize,
    stop_after: usize,
    expect: usize,
    count_prefix: String,
    done: Arc<tokio::sync::Notify>,
}

impl Tally {
    /// Records a delivery; false means "ask for a retry".
    fn on(&self, m: &MessageExt) -> bool {
        let id = m.msg_id().to_string();
        let n = {
            let mut d = self.deliveries.lock().unwrap_or_else(|e| e.into_inner());
            let e = d.entry(id).or_insert(0);
            *e += 1;
            *e - 1
        };
        let quota_reached = self.stop_after > 0
            && self.seen.lock().unwrap_or_else(|e| e.into_inner()).len() >= self.stop_after;
        if quota_reached {
            // Hold the message: never acknowledged, so the next consumer of the group gets it.
            std::thread::sleep(Duration::from_secs(3600));
        }
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        out(received(m, n));
        if n < self.fail_times {
            return false;
        }
        let body = m.body().map(|b| String::from_utf8_lossy(&b).to_string()).unwrap_or_default();
        if body.starts_with(&self.count_prefix) {
            seen.insert(body);
        }
        if seen.len() >= self.expect || (self.stop_after > 0 && seen.len() >= self.stop_after) {
            self.done.notify_one();
        }
        true
    }
}

struct Concurrent(Tally);
impl MessageListenerConcurrently for Concurrent {
    fn consume_message(&self, msgs: &[&MessageExt], _c: &ConsumeConcurrentlyContext) -> ClientResult<ConsumeConcurrentlyStatus> {
        let mut ok = true;
        for m in msgs {
            ok &= self.0.on(m);
        }
        Ok(if ok { ConsumeConcurrentlyStatus::ConsumeSuccess } else { ConsumeConcurrentlyStatus::ReconsumeLater })
    }
}

struct Orderly(Tally);
impl MessageListenerOrderly for Orderly {
    fn consume_message(&self, msgs: &[&MessageExt], c: &mut ConsumeOrderlyContext) -> ClientResult<ConsumeOrderlyStatus> {
        c.set_auto_commit(true);
        let mut ok = true;
        for m in msgs {
            ok &= self.0.on(m);
        }
        Ok(if ok { ConsumeOrderlyStatus::Success } else { ConsumeOrderlyStatus::SuspendCurrentQueueAMoment })
    }
}

async fn consume(rt: Arc<ClientRuntime>, a: Args) -> ClientResult<i32> {
    use rocketmq_protocol::protocol::heartbeat::message_model::MessageModel;
    let model = if a.flag("broadcast") { MessageModel::Broadcasting } else { MessageModel::Clustering };
    let mut c = DefaultMQPushConsumer::builder(rt.clone())
        .client_config(client_config(&a))
        .consumer_group(a.s("group", "CompatConsumer"))
        .name_server_addr(a.s("namesrv", ""))
        .message_model(model)
        .consume_from_where(ConsumeFromWhere::ConsumeFromFirstOffset)
        .rpc_hook(acl_hook(&a))
        .build();
    let sql = a.s("sql", "");
    if sql.is_empty() {
        c.subscribe(a.s("topic", "").as_str(), a.s("tag-expr", "*").as_str()).await?;
    } else {
        c.subscribe_with_selector(a.s("topic", "").as_str(), Some(MessageSelector::by_sql(sql))).await?;
    }
    let tally = Tally {
        seen: Default::default(),
        deliveries: Default::default(),
        fail_times: a.n("fail-times", 0) as usize,
        stop_after: a.n("stop-after", 0) as usize,
        expect: a.n("expect", 1) as usize,
        count_prefix: a.s("count-prefix", ""),
        done: Arc::new(tokio::sync::Notify::new()),
    };
    if a.flag("orderly") {
        c.register_message_listener_orderly(Orderly(tally.clone()));
    } else {
        c.register_message_listener_concurrently(Concurrent(tally.clone()));
    }
    // A suspended consumer is online (heartbeats, subscriptions, answers to the broker's
    // requests) but takes no queues and pulls nothing.
    if a.flag("suspend") {
        c.suspend().await;
    }
    c.start().await?;
    if a.flag("suspend") {
        out(json!({"online": true}));
    }
    let _ = tokio::time::timeout(Duration::from_secs_f64(a.f("timeout", 60.0)), tally.done.notified()).await;
    tokio::time::sleep(Duration::from_secs_f64(a.f("linger", 0.0))).await;
    let n = tally.seen.lock().unwrap_or_else(|e| e.into_inner()).len();
    out(json!({"done": true, "distinct": n}));
    if tally.stop_after == 0 {
        c.shutdown().await;
    }
    let want = if tally.stop_after > 0 { tally.stop_after.min(tally.expect) } else { tally.expect };
    Ok(if n >= want { 0 } else { 1 })
}

struct TxListener {
    decisions: Vec<LocalTransactionState>,
    next: AtomicUsize,
    answer: LocalTransactionState,
    checks: Arc<AtomicUsize>,
}

fn state(s: &str) -> LocalTransactionState {
    match s {
        "commit" => LocalTransactionState::CommitMessage,
        "rollback" => LocalTransactionState::RollbackMessage,
        _ => LocalTransactionState::Unknown,
    }
}

impl TransactionListener for TxListener {
    fn execute_local_transaction(&self, _msg: &dyn MessageTrait, _arg: Option<&(dyn Any + Send + Sync)>) -> LocalTransactionState {
        let i = self.next.fetch_add(1, Ordering::AcqRel);
        self.decisions[i % self.decisions.len()]
    }
    fn check_local_transaction(&self, msg: &MessageExt) -> LocalTransactionState {
        self.checks.fetch_add(1, Ordering::AcqRel);
        let body = msg.body().map(|b| String::from_utf8_lossy(&b).to_string()).unwrap_or_default();
        out(json!({"check": body}));
        self.answer
    }
}

async fn tx_send(rt: Arc<ClientRuntime>, a: Args) -> ClientResult<i32> {
    let decisions: Vec<LocalTransactionState> = a.s("decisions", "commit").split(',').map(state).collect();
    let names: Vec<String> = a.s("decisions", "commit").split(',').map(str::to_string).collect();
    let checks = Arc::new(AtomicUsize::new(0));
    let mut p = TransactionMQProducer::builder(rt.clone())
        .producer_group(a.s("group", "CompatTxProducer"))
        .name_server_addr(a.s("namesrv", ""))
        .topics(vec![a.s("topic", "")])
        .transaction_listener(TxListener {
            decisions,
            next: AtomicUsize::new(0),
            answer: state(&a.s("check-answer", "commit")),
            checks: checks.clone(),
        })
        .build();
    p.start().await?;
    let mut failures = 0;
    for i in 0..a.n("count", 1) {
        match p.send_message_in_transaction::<(), _>(message(&a, i), None).await {
            Ok(r) => {
                let (msg_id, qo) = r
                    .send_result
                    .as_ref()
                    .map(|s| (s.msg_id.as_ref().map(|m| m.to_string()), s.queue_offset))
                    .unwrap_or((None, 0));
                out(json!({"i": i, "status": 0, "msgId": msg_id, "queueOffset": qo, "decision": names[i as usize % names.len()]}))
            }
            Err(e) => {
                failures += 1;
                out(json!({"i": i, "error": e.to_string()}));
            }
        }
    }
    tokio::time::sleep(Duration::from_secs_f64(a.f("linger", 0.0))).await;
    out(json!({"done": true, "checks": checks.load(Ordering::Acquire)}));
    p.shutdown().await;
    Ok(if failures == 0 { 0 } else { 1 })
}

/// Query by key and by unique id through the client API (QUERY_MESSAGE, VIEW_MESSAGE_BY_ID).
async fn query(rt: Arc<ClientRuntime>, a: Args) -> ClientResult<i32> {
    let mut p = producer(&rt, &a).await?;
    let topic = a.s("topic", "");
    let mut code = 0;
    let key = a.s("key", "");
    if !key.is_empty() {
        match p.query_message(&topic, &key, 32, 0, u64::MAX / 2).await {
            Ok(r) => {
                for m in r.message_list() {
                    out(json!({"by": "key", "message": received(m, 0)}));
                }
            }
            Err(e) => {
                code = 1;
                out(json!({"by": "key", "error": e.to_string()}));
            }
        }
    }
    let id = a.s("msg-id", "");
    if !id.is_empty() {
        match p.view_message(&topic, &id).await {
            Ok(m) => out(json!({"by": "id", "message": received(&m, 0)})),
            Err(e) => {
                code = 1;
                out(json!({"by": "id", "error": e.to_string()}));
            }
        }
    }
    p.shutdown().await;
    Ok(code)
}

/// A lite pull consumer (LITE_PULL_MESSAGE, the subscription in every pull header), by
/// tag expression or `--sql`.
async fn lite_pull(rt: Arc<ClientRuntime>, a: Args) -> ClientResult<i32> {
    let c = DefaultLitePullConsumer::builder(rt.clone())
        .consumer_group(a.s("group", "CompatLitePull"))
        .name_server_addr(a.s("namesrv", ""))
        .consume_from_where(ConsumeFromWhere::ConsumeFromFirstOffset)
        .build()?;
    let sql = a.s("sql", "");
    let selector = if sql.is_empty() {
        MessageSelector::by_tag(a.s("tag-expr", "*"))
    } else {
        MessageSelector::by_sql(sql)
    };
    c.subscribe_with_selector(a.s("topic", "").as_str(), Some(selector)).await?;
    c.start().await?;
    let expect = a.n("expect", 1) as usize;
    let mut seen = HashSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(a.f("timeout", 60.0));
    let linger = Duration::from_secs_f64(a.f("linger", 0.0));
    let mut stop_at = deadline;
    while tokio::time::Instant::now() < stop_at {
        for m in c.poll_with_timeout(500).await {
            out(received(&m, 0));
            seen.insert(m.body().map(|b| String::from_utf8_lossy(&b).to_string()).unwrap_or_default());
        }
        if seen.len() >= expect && stop_at == deadline {
            stop_at = (tokio::time::Instant::now() + linger).min(deadline);
        }
    }
    out(json!({"done": true, "distinct": seen.len()}));
    // No shutdown: it waits out the pulls the broker holds (long polling), and the
    // result is already out.
    drop(c);
    Ok(if seen.len() >= expect { 0 } else { 1 })
}

/// `DefaultMQProducer.request`: each message waits for its reply (PUSH_REPLY_MESSAGE_TO_CLIENT).
async fn request(rt: Arc<ClientRuntime>, a: Args) -> ClientResult<i32> {
    let mut p = producer(&rt, &a).await?;
    let timeout = a.n("timeout-ms", 10_000) as u64;
    let mut failures = 0;
    for i in 0..a.n("count", 1) {
        let started = now_ms();
        match p.request(message(&a, i), timeout).await {
            Ok(reply) => {
                let body = reply.get_body().map(|b| String::from_utf8_lossy(b).to_string()).unwrap_or_default();
                let prop = |k: &str| reply.property(&CheetahString::from(k)).map(|v| v.to_string());
                out(json!({
                    "i": i, "reply": body, "topic": reply.topic().to_string(),
                    "correlationId": prop("CORRELATION_ID"), "msgType": prop("MSG_TYPE"),
                    "pushReplyTime": prop("PUSH_REPLY_TIME"), "replyToClient": prop("REPLY_TO_CLIENT"),
                    "rtMs": now_ms() - started,
                }))
            }
            Err(e) => {
                failures += 1;
                out(json!({"i": i, "error": e.to_string()}));
            }
        }
    }
    p.shutdown().await;
    Ok(if failures == 0 { 0 } else { 1 })
}

struct Replier {
    tx: tokio::sync::mpsc::UnboundedSender<MessageExt>,
}
impl MessageListenerConcurrently for Replier {
    fn consume_message(&self, msgs: &[&MessageExt], _c: &ConsumeConcurrentlyContext) -> ClientResult<ConsumeConcurrentlyStatus> {
        for m in msgs {
            let _ = self.tx.send((*m).clone());
        }
        Ok(ConsumeConcurrentlyStatus::ConsumeSuccess)
    }
}

/// The replying side: a push consumer that answers every request with
/// `MessageUtil.createReplyMessage` sent by a producer (SEND_REPLY_MESSAGE_V2).
async fn respond(rt: Arc<ClientRuntime>, a: Args) -> ClientResult<i32> {
    let mut p = producer(&rt, &a).await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut c = DefaultMQPushConsumer::builder(rt.clone())
        .consumer_group(a.s("group", "CompatResponder"))
        .name_server_addr(a.s("namesrv", ""))
        .consume_from_where(ConsumeFromWhere::ConsumeFromFirstOffset)
        .build();
    c.subscribe(a.s("topic", "").as_str(), "*").await?;
    c.register_message_listener_concurrently(Replier { tx });
    c.start().await?;
    let expect = a.n("expect", 1) as usize;
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(a.f("timeout", 60.0));
    let mut replied = HashSet::new();
    while replied.len() < expect {
        let Ok(Some(m)) = tokio::time::timeout_at(deadline, rx.recv()).await else {
            break;
        };
        let body = m.body().map(|b| String::from_utf8_lossy(&b).to_string()).unwrap_or_default();
        let reply = match MessageUtil::create_reply_message(&m.message, format!("reply-to-{body}").as_bytes()) {
            Ok(r) => r,
            Err(e) => {
                out(json!({"body": body, "error": e.to_string()}));
                continue;
            }
        };
        match p.send(reply).await {
            Ok(r) => {
                replied.insert(body.clone());
                out(json!({"replied": body, "status": 0, "queueOffset": r.map(|r| r.queue_offset)}))
            }
            Err(e) => out(json!({"replied": body, "error": e.to_string()})),
        }
    }
    out(json!({"done": true, "distinct": replied.len()}));
    c.shutdown().await;
    p.shutdown().await;
    Ok(if replied.len() >= expect { 0 } else { 1 })
}

fn main() {
    let (cmd, a) = Args::parse();
    let mut config = RuntimeConfig {
        thread_name: "rust-driver".to_string(),
        ..Default::default()
    };
    // The push consumer runs each listener call on the metadata-io blocking lane, whose
    // default queue (8 per core) is smaller than one round of pulls (32 messages per
    // queue): the overflow is refused inside the client ("runtime.capacity.exhausted")
    // and comes back through %RETRY%.
    config.blocking_lane_policies.metadata_io.max_queue_depth = 4096;
    let planned = RuntimeOwner::plan(config)
    .map_err(|e| e.to_string())
    .and_then(|p| p.build().map_err(|e| e.to_string()));
    let owner = match planned {
        Ok(o) => o,
        Err(e) => {
            out(json!({"error": format!("runtime: {e}")}));
            std::process::exit(1);
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let code = rt.block_on(async move {
        let telemetry = match rocketmq_observability::install_global(&rocketmq_observability::TelemetryBootstrapConfig::default()) {
            Ok(t) => t,
            Err(e) => {
                out(json!({"error": format!("telemetry: {e}")}));
                return 1;
            }
        };
        let client = match ClientRuntime::try_new(owner.root_context().component("client"), ClientRuntimeConfig::default(), telemetry.handle()) {
            Ok(c) => c,
            Err(e) => {
                out(json!({"error": format!("client runtime: {e}")}));
                return 1;
            }
        };
        let result: Result<i32, ClientError> = match cmd.as_str() {
            "send" => send(client, a).await,
            "consume" | "pull" => consume(client, a).await,
            "tx-send" => tx_send(client, a).await,
            "query" => query(client, a).await,
            "lite-pull" => lite_pull(client, a).await,
            "request" => request(client, a).await,
            "respond" => respond(client, a).await,
            other => {
                out(json!({"error": format!("unknown command {other}")}));
                Ok(2)
            }
        };
        match result {
            Ok(c) => c,
            Err(e) => {
                out(json!({"error": e.to_string()}));
                1
            }
        }
    });
    // Exit without tearing the client runtime down: the result is already out.
    std::process::exit(code);
}
