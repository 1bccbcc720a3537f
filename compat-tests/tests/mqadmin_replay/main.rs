//! Replays every request the real Java 4.9.8 `mqadmin` sent in the capture
//! (../shared/fixtures/wire/java-4.9.8-mqadmin: 35 everyday commands, both the name-server
//! and the broker side) against one rmqd, command by command in the capture's order, and
//! holds each answer against the Java servers': code, remark, header fields and body
//! structure, ids, times and rates aside (see `compare`).
//!
//! rmqd is first brought to the state the commands ran against (`seed`), with a real
//! rocketmq-client-rust consumer online where the Java capture had its suspended push
//! consumer: consumerStatus's GET_CONSUMER_RUNNING_INFO goes through rmqd to that client
//! and back.
//!
//! Requests naming what only exists in the Java run are translated as mqadmin would have
//! built them against rmqd: the CommitLog offset of queryMsgById (the same message's
//! offset in rmqd), the consumer's client id of consumerStatus (from rmqd's own
//! GET_CONSUMER_CONNECTION_LIST answer just before) and the store time resetOffsetByTime
//! names (the same message's store time in rmqd).

mod compare;
mod frames;
mod seed;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use compare::Mismatch;
use frames::{Captured, Line, Peer};
use rmqd_compat_tests::wire::Conn;
use rmqd_compat_tests::{remoting_request, Rmqd};
use rmqd_remoting::RemotingCommand;
use rmqd_store::record;

const PULL_MESSAGE: i32 = 11;
const QUERY_MESSAGE: i32 = 12;
const GET_BROKER_CONFIG: i32 = 26;
const GET_BROKER_RUNTIME_INFO: i32 = 28;
const VIEW_MESSAGE_BY_ID: i32 = 33;
const GET_CONSUMER_CONNECTION_LIST: i32 = 203;
const INVOKE_BROKER_TO_RESET_OFFSET: i32 = 222;
const GET_CONSUMER_RUNNING_INFO: i32 = 307;
const GET_NAMESRV_CONFIG: i32 = 319;

/// Settings that name this run's paths, addresses and ports.
const BROKER_RUN_SPECIFIC: &[&str] = &[
    "storePathRootDir",
    "storePathCommitLog",
    "namesrvAddr",
    "listenPort",
    "haListenPort",
    "brokerIP1",
    "brokerIP2",
    // Java's comes from ROCKETMQ_HOME of the process that was captured.
    "rocketmqHome",
    // Set by this test: the transaction checker runs at once; small CommitLog files.
    "transactionCheckInterval",
    "mappedFileSizeCommitLog",
];
const NAMESRV_RUN_SPECIFIC: &[&str] = &[
    "listenPort",
    "kvConfigPath",
    "configStorePath",
    "rocketmqHome",
];

/// Runtime-info keys a Java 4.9.8 broker does not report: rmqd's store health, its view
/// of replication, and the timer figures of Java 5.x.
const RMQD_RUNTIME_KEYS: &[&str] = &[
    "storeHealth",
    "storeHealthCause",
    "brokerTaskRestarts",
    "brokerRole",
    "haSlaveConnections",
    "haSlaveAckOffset",
    "haSlaveFallBehind",
    "haMasterAddress",
    "masterAddr",
    "haConnected",
    "timerReadBehind",
    "timerOffsetBehind",
    "timerCongestNum",
];

struct Replay<'a> {
    r: &'a Rmqd,
    seeded: &'a seed::Seeded,
    mismatches: Vec<Mismatch>,
    compared: BTreeMap<i32, usize>,
}

impl Replay<'_> {
    /// The captured request as mqadmin would have sent it to rmqd.
    fn translate(&self, f: &Captured, client_ids: &[String]) -> RemotingCommand {
        let mut cmd = f.cmd.clone();
        match cmd.code {
            VIEW_MESSAGE_BY_ID => {
                let java: i64 = cmd
                    .ext("offset")
                    .and_then(|o| o.parse().ok())
                    .expect("offset");
                let ours = self.seeded.phys.get(&java).expect("a set-up message");
                cmd.ext_mut().insert("offset", ours.to_string());
            }
            GET_CONSUMER_RUNNING_INFO => {
                let id = client_ids.first().expect("rmqd named the consumer before");
                cmd.ext_mut().insert("clientId", id.as_str());
            }
            INVOKE_BROKER_TO_RESET_OFFSET => {
                let ts: i64 = cmd
                    .ext("timestamp")
                    .and_then(|t| t.parse().ok())
                    .expect("ts");
                if let Some(ours) = self.our_store_time(ts) {
                    cmd.ext_mut().insert("timestamp", ours.to_string());
                }
            }
            _ => {}
        }
        cmd
    }

    /// rmqd's store time of the message the Java broker stored at `java_ts`.
    fn our_store_time(&self, java_ts: i64) -> Option<i64> {
        let m = self
            .seeded
            .java
            .iter()
            .find(|m| m.store_timestamp == java_ts)?;
        let phys = self.seeded.phys.get(&m.physical_offset)?;
        let mut c = Conn::connect(&self.r.broker());
        let f = c.request(VIEW_MESSAGE_BY_ID, &[("offset", phys.to_string())], b"");
        record::decode_all(&f.body)
            .first()
            .map(|r| r.store_timestamp)
    }

    fn compare(
        &mut self,
        what: &str,
        req: &RemotingCommand,
        java: &RemotingCommand,
        ours: &RemotingCommand,
    ) {
        let out = &mut self.mismatches;
        let relayed = req.code == GET_CONSUMER_RUNNING_INFO;
        compare::headers(what, java, ours, relayed, out);
        match req.code {
            PULL_MESSAGE | QUERY_MESSAGE | VIEW_MESSAGE_BY_ID => {
                compare::records(what, &java.body, &ours.body, out)
            }
            GET_BROKER_CONFIG => {
                let shared = compare::properties_text(
                    what,
                    &java.body,
                    &ours.body,
                    BROKER_RUN_SPECIFIC,
                    out,
                );
                compare::check(
                    what,
                    shared >= 40,
                    || format!("only {shared} settings in common"),
                    out,
                );
            }
            GET_NAMESRV_CONFIG => {
                compare::properties_text(what, &java.body, &ours.body, NAMESRV_RUN_SPECIFIC, out);
            }
            GET_BROKER_RUNTIME_INFO => runtime_info(what, &java.body, &ours.body, out),
            GET_CONSUMER_RUNNING_INFO => running_info(what, &java.body, &ours.body, out),
            INVOKE_BROKER_TO_RESET_OFFSET => {
                compare::json(what, &java.body, &ours.body, &mut Vec::new());
                reset_offsets(what, self.r, req, &java.body, &ours.body, out);
            }
            _ if java.body.is_empty() => compare::check(
                what,
                ours.body.is_empty(),
                || "a body Java did not send".into(),
                out,
            ),
            _ => compare::json(what, &java.body, &ours.body, out),
        }
        *self.compared.entry(req.code).or_default() += 1;
    }

    fn command(&mut self, name: &str) {
        let frames = frames::load(name);
        let answers = frames::answers(&frames);
        let mut lines: HashMap<(Peer, u64), Line> = HashMap::new();
        // Client ids rmqd named in GET_CONSUMER_CONNECTION_LIST answers of this command.
        let mut client_ids: Vec<String> = Vec::new();
        for f in frames.iter().filter(|f| f.c2s) {
            let Some(java) = answers.get(&(f.conn, f.cmd.opaque)) else {
                panic!("{name}: request {} has no captured answer", f.cmd.code);
            };
            let req = self.translate(f, &client_ids);
            let addr = match f.peer {
                Peer::Namesrv => self.r.namesrv(),
                Peer::Broker => self.r.broker(),
            };
            let line = lines
                .entry((f.peer, f.conn))
                .or_insert_with(|| Line::connect(&addr));
            let ours = line.call(&req);
            if req.code == GET_CONSUMER_CONNECTION_LIST && ours.code == 0 {
                let v: serde_json::Value = serde_json::from_slice(&ours.body).unwrap_or_default();
                client_ids = v["connectionSet"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c["clientId"].as_str().map(str::to_owned))
                    .collect();
            }
            let what = format!("{name}: request {} (opaque {})", req.code, req.opaque);
            self.compare(&what, &req, &java.cmd, &ours);
        }
    }
}

/// INVOKE_BROKER_TO_RESET_OFFSET: the same queues as Java's answer, each reset to the
/// offset rmqd's store finds for the time asked (SEARCH_OFFSET_BY_TIMESTAMP): which
/// message is "closest" to a time depends on the run's store times, so the numbers are
/// rmqd's own, checked against its own lookup.
fn reset_offsets(
    what: &str,
    r: &Rmqd,
    req: &RemotingCommand,
    java: &[u8],
    ours: &[u8],
    out: &mut Vec<Mismatch>,
) {
    use rmqd_remoting::body::stats::ResetOffsetBody;
    let j = ResetOffsetBody::decode(java).expect("Java reset body");
    let Ok(o) = ResetOffsetBody::decode(ours) else {
        out.push(Mismatch(format!("{what}: reset body unreadable")));
        return;
    };
    let queues = |b: &ResetOffsetBody| -> Vec<_> {
        let mut q: Vec<_> = b.offset_table.iter().map(|(mq, _)| mq.clone()).collect();
        q.sort();
        q
    };
    compare::check(
        what,
        queues(&j) == queues(&o),
        || format!("queues {:?}", queues(&o)),
        out,
    );
    let ts = req.ext("timestamp").unwrap_or_default().to_string();
    for (mq, offset) in &o.offset_table {
        let q = mq.queue_id.to_string();
        let (_, _, ext) = rmqd_compat_tests::remoting_request_ext(
            &r.broker(),
            29,
            &[("topic", &mq.topic), ("queueId", &q), ("timestamp", &ts)],
        );
        let found: i64 = ext["offset"]
            .as_str()
            .and_then(|v| v.parse().ok())
            .unwrap_or(-1);
        compare::check(
            what,
            *offset == found,
            || format!("queue {q} reset to {offset}, the store finds {found} for {ts}"),
            out,
        );
    }
}

/// GET_BROKER_RUNTIME_INFO: every key the Java broker reported (the CommitLog path in
/// `commitLogDiskRatio_<path>` aside), no other but rmqd's health keys, all values text.
fn runtime_info(what: &str, java: &[u8], ours: &[u8], out: &mut Vec<Mismatch>) {
    let keys = |b: &[u8]| -> BTreeMap<String, serde_json::Value> {
        let v: serde_json::Value = serde_json::from_slice(b).expect("KVTable");
        v["table"]
            .as_object()
            .expect("table")
            .iter()
            .map(|(k, v)| {
                let k = if k.starts_with("commitLogDiskRatio_") {
                    "commitLogDiskRatio_<path>".to_string()
                } else {
                    k.clone()
                };
                (k, v.clone())
            })
            .collect()
    };
    let (j, o) = (keys(java), keys(ours));
    let missing: Vec<&String> = j.keys().filter(|k| !o.contains_key(*k)).collect();
    let extra: Vec<&String> = o
        .keys()
        .filter(|k| !j.contains_key(*k) && !RMQD_RUNTIME_KEYS.contains(&k.as_str()))
        .collect();
    compare::check(
        what,
        missing.is_empty() && extra.is_empty(),
        || format!("runtime keys missing {missing:?}, extra {extra:?}"),
        out,
    );
    compare::check(
        what,
        o.values().all(|v| v.is_string()),
        || "a value that is not text".into(),
        out,
    );
}

/// GET_CONSUMER_RUNNING_INFO: the client's `ConsumerRunningInfo`, relayed; its contents
/// are the client's (Java's and Rust's differ), its shape the protocol's.
fn running_info(what: &str, java: &[u8], ours: &[u8], out: &mut Vec<Mismatch>) {
    let j = rmqd_remoting::body::fastjson::parse(java).expect("Java running info");
    let parsed = rmqd_remoting::body::fastjson::parse(ours);
    compare::check(
        what,
        parsed.is_ok(),
        || format!("relayed body unreadable: {parsed:?}"),
        out,
    );
    let Ok(o) = parsed else { return };
    for key in ["mqTable", "properties", "subscriptionSet"] {
        compare::check(
            what,
            j.get(key).is_some() == o.get(key).is_some(),
            || format!("running info has {key}: {}", o.get(key).is_some()),
            out,
        );
    }
    let subs = |v: &serde_json::Value| -> Vec<String> {
        let mut t: Vec<String> = v["subscriptionSet"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["topic"].as_str().map(str::to_owned))
            .collect();
        t.sort();
        t
    };
    compare::check(
        what,
        subs(&j) == subs(&o),
        || {
            format!(
                "the consumer's subscriptions {:?}, Java's {:?}",
                subs(&o),
                subs(&j)
            )
        },
        out,
    );
}

#[test]
fn mqadmin_commands_get_the_java_answers() {
    // The capture's broker: deleteWhen 04, fileReservedTime 48 (updateBrokerConfig makes
    // it 72). The transaction checker runs every second so that the half topic it creates
    // on its first run is there, as it was in the capture.
    let r = Rmqd::start(&[
        "deleteWhen=04",
        "fileReservedTime=48",
        "transactionCheckInterval=1000",
        "mappedFileSizeCommitLog=67108864",
        "diskSpaceWarningLevelRatio=0.98",
    ]);
    let seeded = seed::seed(&r);
    let deadline = Instant::now() + Duration::from_secs(20);
    while remoting_request(
        &r.namesrv(),
        105,
        &[("topic", "RMQ_SYS_TRANS_HALF_TOPIC")],
        b"",
    )
    .0 != 0
    {
        assert!(Instant::now() < deadline, "the half topic never appeared");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut rp = Replay {
        r: &r,
        seeded: &seeded,
        mismatches: Vec::new(),
        compared: BTreeMap::new(),
    };
    let commands = frames::commands();
    assert_eq!(commands.len(), 34, "every command of the timeline");
    for c in &commands {
        rp.command(c);
    }
    let report: Vec<&str> = rp.mismatches.iter().map(|m| m.0.as_str()).collect();
    let total: usize = rp.compared.values().sum();
    eprintln!(
        "{total} answers compared, per request code {:?}",
        rp.compared
    );
    assert!(
        report.is_empty(),
        "{} differences from the Java answers:\n{}",
        report.len(),
        report.join("\n")
    );
    assert_eq!(total, 264, "every captured request answered");
    // updateBrokerConfig saved the change in the broker.conf rmqd was started with.
    let conf = std::fs::read_to_string(r.conf_path()).expect("broker.conf");
    assert!(conf.lines().any(|l| l == "fileReservedTime=72"), "{conf}");
    let run = seeded.consumer.finish(Duration::from_millis(10));
    assert!(
        run.lines.iter().any(|l| l["online"] == true),
        "the consumer driver never reported itself online: {}",
        run.stderr
    );
}
