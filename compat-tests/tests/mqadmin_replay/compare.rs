//! How rmqd's answer is held against the Java broker's: same code and remark, same header
//! field names (values too, but for ids and times), and bodies of the same structure:
//! fastjson bodies parsed leniently (MessageQueue keys included) and compared key by key
//! with figures of the run (times, rates, ids, addresses) compared by type only; stored
//! records field by field; properties texts by the settings both brokers have.

use std::collections::{BTreeMap, BTreeSet};

use rmqd_remoting::body::fastjson;
use rmqd_remoting::RemotingCommand;
use rmqd_store::record;
use serde_json::Value;

/// Header fields whose values belong to the run.
const RUN_SPECIFIC_EXT: &[&str] = &[
    "msgId",
    "offsetMsgId",
    "transactionId",
    "commitLogOffset",
    "indexLastUpdatePhyoffset",
    "indexLastUpdateTimestamp",
    // GET_BROKER_CONFIG's data version: a counter and a time.
    "version",
];

/// Body properties whose values belong to the run: who is connected from where, when,
/// and how fast.
const FIGURES: &[&str] = &[
    "clientId",
    "clientAddr",
    "language",
    "version",
    "subVersion",
    "lastTimestamp",
    "lastUpdateTimestamp",
    "consumeTps",
    "tps",
    "avgpt",
    "sum",
    "timestamp",
    "counter",
    "brokerAddr",
    "minTimeStamp",
    "maxTimeStamp",
    "consumeTimeStamp",
    "delayTime",
];

/// Properties rmqd adds on purpose: `enableActingMaster` in route broker data (a 5.x
/// field rocketmq-client-rust 1.0 needs; Java 4.x clients ignore it).
const RMQD_EXTRA_KEYS: &[&str] = &["enableActingMaster"];

/// Topics the Java broker of the capture had that an rmqd of the same state may not:
/// none so far (kept for the record: RMQ_SYS_TRANS_HALF_TOPIC appears once the
/// transaction checker first runs, on both).
const STATE_TOPICS: &[&str] = &[];

pub struct Mismatch(pub String);

pub fn check(what: &str, ok: bool, detail: impl FnOnce() -> String, out: &mut Vec<Mismatch>) {
    if !ok {
        out.push(Mismatch(format!("{what}: {}", detail())));
    }
}

fn ext_map(c: &RemotingCommand) -> BTreeMap<&str, &str> {
    c.ext_fields.iter().flat_map(|e| e.iter()).collect()
}

/// Compares the header: code, remark, field names and values.
pub fn headers(
    what: &str,
    java: &RemotingCommand,
    ours: &RemotingCommand,
    relayed: bool,
    out: &mut Vec<Mismatch>,
) {
    check(
        what,
        ours.code == java.code,
        || format!("code {} ({:?}), Java {}", ours.code, ours.remark, java.code),
        out,
    );
    // A relayed answer carries the client's remark and fields, not the broker's.
    if relayed {
        return;
    }
    check(
        what,
        ours.remark == java.remark,
        || format!("remark {:?}, Java {:?}", ours.remark, java.remark),
        out,
    );
    let (j, o) = (ext_map(java), ext_map(ours));
    check(
        what,
        j.keys().eq(o.keys()),
        || format!("header fields {o:?}, Java {j:?}"),
        out,
    );
    for (k, v) in &j {
        if !RUN_SPECIFIC_EXT.contains(k) {
            check(
                what,
                o.get(k) == Some(v),
                || format!("field {k} = {:?}, Java {v:?}", o.get(k)),
                out,
            );
        }
    }
}

/// Stored records: the same messages, field by field (PULL_MESSAGE, QUERY_MESSAGE,
/// VIEW_MESSAGE_BY_ID).
pub fn records(what: &str, java: &[u8], ours: &[u8], out: &mut Vec<Mismatch>) {
    let (j, o) = (record::decode_all(java), record::decode_all(ours));
    check(
        what,
        j.len() == o.len(),
        || format!("{} records, Java {}", o.len(), j.len()),
        out,
    );
    for (a, b) in o.iter().zip(&j) {
        let same = a.topic == b.topic
            && a.queue_id == b.queue_id
            && a.queue_offset == b.queue_offset
            && a.body == b.body
            && a.flag == b.flag
            && a.sys_flag == b.sys_flag
            && a.born_timestamp == b.born_timestamp
            && a.reconsume_times == b.reconsume_times;
        check(
            what,
            same,
            || format!("record {}/{} differs", b.queue_id, b.queue_offset),
            out,
        );
        let pa: BTreeMap<_, _> = record::properties(a.properties).into_iter().collect();
        let pb: BTreeMap<_, _> = record::properties(b.properties).into_iter().collect();
        check(
            what,
            pa == pb,
            || format!("properties {pa:?}, Java {pb:?}"),
            out,
        );
    }
}

/// Properties text (GET_BROKER_CONFIG, GET_NAMESRV_CONFIG): every line a `key=value`,
/// and the settings both servers have agree, but for those naming this run's paths,
/// addresses and ports.
pub fn properties_text(
    what: &str,
    java: &[u8],
    ours: &[u8],
    run_specific: &[&str],
    out: &mut Vec<Mismatch>,
) -> usize {
    let parse = |b: &[u8]| -> BTreeMap<String, String> {
        String::from_utf8_lossy(b)
            .lines()
            .filter(|l| !l.is_empty())
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let (j, o) = (parse(java), parse(ours));
    let lines = String::from_utf8_lossy(ours)
        .lines()
        .filter(|l| !l.is_empty())
        .count();
    check(
        what,
        lines == o.len(),
        || "a line that is not key=value".into(),
        out,
    );
    let mut shared = 0;
    for (k, v) in &o {
        if let Some(jv) = j.get(k) {
            shared += 1;
            if !run_specific.contains(&k.as_str()) {
                check(what, jv == v, || format!("{k}={v}, Java {k}={jv}"), out);
            }
        }
    }
    shared
}

/// A JSON body's structure: objects with the same keys, arrays of the same length (sets
/// of strings equal), leaves of the same type and, unless a figure, the same value.
pub fn json(what: &str, java: &[u8], ours: &[u8], out: &mut Vec<Mismatch>) {
    let j = match fastjson::parse(java) {
        Ok(v) => v,
        Err(e) => panic!("{what}: Java body unreadable: {e}"),
    };
    let o = match fastjson::parse(ours) {
        Ok(v) => v,
        Err(e) => {
            out.push(Mismatch(format!("{what}: body is not fastjson: {e}")));
            return;
        }
    };
    value(what, "", &j, &o, out);
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn last_key(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

fn value(what: &str, path: &str, j: &Value, o: &Value, out: &mut Vec<Mismatch>) {
    let key = last_key(path);
    // Broker addresses are keyed by broker id: the values are this run's addresses.
    let figure = FIGURES.contains(&key) || path.contains(".brokerAddrs.");
    match (j, o) {
        (Value::Object(jm), Value::Object(om)) => {
            let jk: BTreeSet<&String> = jm.keys().collect();
            let ok: BTreeSet<&String> = om
                .keys()
                .filter(|k| !RMQD_EXTRA_KEYS.contains(&k.as_str()))
                .collect();
            check(
                what,
                jk == ok,
                || format!("{path}: keys {ok:?}, Java {jk:?}"),
                out,
            );
            for (k, jv) in jm {
                if let Some(ov) = om.get(k) {
                    value(what, &format!("{path}.{k}"), jv, ov, out);
                }
            }
        }
        (Value::Array(ja), Value::Array(oa)) => {
            let strings = |a: &Vec<Value>| -> Option<BTreeSet<String>> {
                a.iter().map(|v| v.as_str().map(str::to_owned)).collect()
            };
            match (strings(ja), strings(oa)) {
                (Some(js), Some(os)) if !figure => {
                    let js: BTreeSet<String> = js
                        .into_iter()
                        .filter(|t| !STATE_TOPICS.contains(&t.as_str()))
                        .collect();
                    check(
                        what,
                        js == os,
                        || format!("{path}: {os:?}, Java {js:?}"),
                        out,
                    );
                }
                _ => {
                    check(
                        what,
                        ja.len() == oa.len(),
                        || format!("{path}: {} items, Java {}", oa.len(), ja.len()),
                        out,
                    );
                    // Sets come in any order: pair items up by their content.
                    let sort = |a: &Vec<Value>| {
                        let mut v = a.clone();
                        v.sort_by_key(|x| x.to_string());
                        v
                    };
                    for (jv, ov) in sort(ja).iter().zip(&sort(oa)) {
                        value(what, &format!("{path}[]"), jv, ov, out);
                    }
                }
            }
        }
        _ if figure => check(
            what,
            kind(j) == kind(o),
            || format!("{path}: {o}, Java {j} (types differ)"),
            out,
        ),
        _ => check(what, j == o, || format!("{path}: {o}, Java {j}"), out),
    }
}
