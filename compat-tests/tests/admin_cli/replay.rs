//! `rmqd admin` reading the answers a Java 4.9.8 name server and broker gave mqadmin.

use std::io::Write;
use std::net::{TcpListener, TcpStream};

use rmqd_compat_tests::{fixtures_dir, wire};
use rmqd_remoting::{ExtFields, RemotingCommand};
use serde_json::Value;

use crate::{json, ok};

/// A server that answers each request with what the Java name server or broker answered
/// the same request code in a captured mqadmin run (addresses rewritten to its own).
struct Replay {
    addr: String,
}

impl Replay {
    fn start(fixture: &str) -> Replay {
        let text = std::fs::read_to_string(
            fixtures_dir().join(format!("wire/java-4.9.8-mqadmin/{fixture}.jsonl")),
        )
        .expect("fixture");
        let frames: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        // Each request code → the answers given to it, in order (conn + opaque pair them).
        let mut answers: std::collections::HashMap<i64, Vec<Value>> = Default::default();
        for (i, f) in frames.iter().enumerate() {
            if f["dir"] != "c2s" {
                continue;
            }
            if let Some(resp) = frames[i + 1..]
                .iter()
                .find(|g| g["dir"] == "s2c" && g["conn"] == f["conn"] && g["opaque"] == f["opaque"])
            {
                answers
                    .entry(f["code"].as_i64().unwrap())
                    .or_default()
                    .push(resp.clone());
            }
        }
        let me = addr.clone();
        std::thread::spawn(move || {
            for s in listener.incoming().flatten() {
                let answers = answers.clone();
                let me = me.clone();
                std::thread::spawn(move || serve(s, &answers, &me));
            }
        });
        Replay { addr }
    }
}

fn serve(mut s: TcpStream, answers: &std::collections::HashMap<i64, Vec<Value>>, me: &str) {
    let mut used: std::collections::HashMap<i64, usize> = Default::default();
    loop {
        let mut len = [0u8; 4];
        if std::io::Read::read_exact(&mut s, &mut len).is_err() {
            return;
        }
        let (h, _) = wire::read_frame_after_length(&mut s, len);
        let code = h["code"].as_i64().unwrap_or(-1);
        let list = answers.get(&code);
        let n = used.entry(code).or_default();
        let Some(ans) = list.and_then(|l| l.get(*n % l.len())) else {
            let r = RemotingCommand {
                code: 3,
                flag: 1,
                opaque: h["opaque"].as_i64().unwrap_or(0) as i32,
                ..Default::default()
            };
            let _ = s.write_all(&rmqd_remoting::frame::encode_frame(&r));
            continue;
        };
        *n += 1;
        let captured: Value =
            serde_json::from_str(ans["header_json_or_hex"].as_str().unwrap()).unwrap();
        let body = String::from_utf8_lossy(&hex(ans["body_hex"].as_str().unwrap_or("")))
            .replace("127.0.0.1:19711", me)
            .into_bytes();
        let ext: ExtFields = captured["extFields"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect();
        let r = RemotingCommand {
            code: captured["code"].as_i64().unwrap_or(0) as i32,
            flag: 1,
            opaque: h["opaque"].as_i64().unwrap_or(0) as i32,
            remark: captured["remark"].as_str().map(str::to_owned),
            ext_fields: (!ext.is_empty()).then_some(ext),
            body: body.into(),
            ..Default::default()
        };
        if s.write_all(&rmqd_remoting::frame::encode_frame(&r))
            .is_err()
        {
            return;
        }
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

/// Rows of a Java `.out` table: whitespace-separated cells, header and blank lines dropped.
fn java_rows(fixture: &str) -> Vec<Vec<String>> {
    std::fs::read_to_string(fixtures_dir().join(format!("wire/java-4.9.8-mqadmin/{fixture}.out")))
        .unwrap()
        .lines()
        .filter(|l| {
            !l.trim().is_empty()
                && !["#", "rollback", "Consume TPS", "Diff Total"]
                    .iter()
                    .any(|p| l.starts_with(p))
        })
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .collect()
}

/// The rows of `rmqd admin`'s table, split as [`java_rows`] splits the Java tool's.
fn text_rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter(|l| {
            !l.trim().is_empty()
                && !["#", "Consume TPS", "Diff Total"]
                    .iter()
                    .any(|p| l.starts_with(p))
        })
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .collect()
}

/// The `keys` of each row of a `--json` answer, as the text cells the Java tool printed.
fn cells_of(rows: &Value, keys: &[&str]) -> Vec<Vec<String>> {
    rows.as_array()
        .unwrap_or_else(|| panic!("rows: {rows}"))
        .iter()
        .map(|row| {
            keys.iter()
                .map(|k| match &row[*k] {
                    Value::String(s) => s.clone(),
                    o => o.to_string(),
                })
                .collect()
        })
        .collect()
}

#[test]
fn reads_the_answers_java_brokers_give() {
    // topicStatus (202): min/max offset per queue as the Java tool printed them.
    let rp = Replay::start("topicStatus");
    let v = json(&rp.addr, &["topicStatus", "-t", "AdmTopic"]);
    let got = cells_of(&v, &["brokerName", "queueId", "minOffset", "maxOffset"]);
    let want: Vec<Vec<String>> = java_rows("topicStatus")
        .into_iter()
        .map(|r| r[..4].to_vec())
        .collect();
    assert_eq!(got, want);
    // The table as the Java tool printed it, times too.
    assert_eq!(
        text_rows(&ok(&rp.addr, &["topicStatus", "-t", "AdmTopic"])),
        java_rows("topicStatus")
    );

    // consumerProgress -g (208): offsets and lag per queue, Diff Total 50.
    let rp = Replay::start("consumerProgress-g");
    let v = json(&rp.addr, &["consumerProgress", "-g", "AdmGroup"]);
    assert_eq!(v["diffTotal"], 50, "{v}");
    let got = cells_of(
        &v["queues"],
        &[
            "topic",
            "brokerName",
            "queueId",
            "brokerOffset",
            "consumerOffset",
            "diff",
        ],
    );
    let want: Vec<Vec<String>> = java_rows("consumerProgress-g")
        .into_iter()
        .map(|r| r[..6].to_vec())
        .collect();
    assert_eq!(got, want);
    let text = ok(&rp.addr, &["consumerProgress", "-g", "AdmGroup"]);
    assert!(text.contains("Diff Total: 50"), "{text}");
    assert_eq!(text_rows(&text), java_rows("consumerProgress-g"));

    // consumerProgress without -g (206, then 105 + 208 + 203 per group): mqadmin's row.
    let rp = Replay::start("consumerProgress");
    assert_eq!(
        text_rows(&ok(&rp.addr, &["consumerProgress"])),
        java_rows("consumerProgress")
    );

    // consumerConnection (203): client, version by name, subscription type.
    let rp = Replay::start("consumerConnection");
    let text = ok(&rp.addr, &["consumerConnection", "-g", "AdmGroup"]);
    assert!(
        text.contains("192.0.2.2@9918#3421696457666") && text.contains("V4_9_8"),
        "{text}"
    );
    assert!(text.contains("ConsumeType: CONSUME_PASSIVELY"), "{text}");

    // resetOffsetByTime (222): the offsets the broker moved to.
    let rp = Replay::start("resetOffsetByTime");
    let v = json(
        &rp.addr,
        &[
            "resetOffsetByTime",
            "-g",
            "AdmGroup",
            "-t",
            "AdmTopic",
            "-s",
            "1796310245895",
        ],
    );
    let got = cells_of(&v, &["brokerName", "queueId", "offset"]);
    assert_eq!(got, java_rows("resetOffsetByTime"));

    // producerConnection (204).
    let rp = Replay::start("producerConnection");
    let v = json(
        &rp.addr,
        &[
            "producerConnection",
            "-g",
            "AdmProducerGroup",
            "-t",
            "AdmBgTopic",
        ],
    );
    assert_eq!(
        v["connectionSet"][0]["clientAddr"], "127.0.0.1:37022",
        "{v}"
    );

    // brokerStatus / clusterList (28, full Java table).
    let rp = Replay::start("brokerStatus");
    let v = json(&rp.addr, &["brokerStatus", "-b", &rp.addr]);
    assert_eq!(v["brokerVersionDesc"], "V4_9_8");
    assert_eq!(v["commitLogMaxOffset"], "22310");
    let rp = Replay::start("clusterList");
    let v = json(&rp.addr, &["clusterList"]);
    assert_eq!(v[0]["runtime"]["brokerVersionDesc"], "V4_9_8", "{v}");
    // The row as the Java tool printed it (address and hours since the earliest message aside).
    let text = ok(&rp.addr, &["clusterList"]);
    let row: Vec<&str> = text
        .lines()
        .find(|l| l.starts_with("DefaultCluster"))
        .unwrap_or_else(|| panic!("{text}"))
        .split_whitespace()
        .collect();
    let want = java_rows("clusterList").remove(0);
    assert_eq!(row.len(), want.len(), "{text}");
    for i in [0, 1, 2, 4, 5, 6, 7, 9] {
        assert_eq!(row[i], want[i], "column {i}: {text}");
    }

    // updateBrokerConfig (25).
    let rp = Replay::start("updateBrokerConfig");
    ok(
        &rp.addr,
        &[
            "updateBrokerConfig",
            "-b",
            &rp.addr,
            "-k",
            "fileReservedTime",
            "-v",
            "72",
        ],
    );
}
