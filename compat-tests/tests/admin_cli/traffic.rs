//! `rmqd admin` figures against real clients' traffic on a spawned rmqd.

use std::time::{Duration, Instant};

use rmqd_compat_tests::{run_driver, spawn_driver, Client, Rmqd};
use serde_json::Value;

use crate::{admin, eventually, json, ok, SHARED_DISK};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Sends `count` messages with the Rust client: how many landed in each of 4 queues, and
/// the send lines.
fn rust_send(r: &Rmqd, topic: &str, count: usize, prefix: &str) -> ([i64; 4], Vec<Value>) {
    let run = run_driver(
        Client::Rust,
        &[
            "send",
            "--namesrv",
            &r.namesrv(),
            "--topic",
            topic,
            "--count",
            &count.to_string(),
            "--body-prefix",
            prefix,
            "--keys-prefix",
            prefix,
        ],
        r.home.path(),
        Duration::from_secs(60),
    );
    assert!(run.success, "{:?}\n{}", run.errors(), run.stderr);
    let lines: Vec<Value> = run
        .lines
        .into_iter()
        .filter(|l| l["status"] == "SEND_OK")
        .collect();
    assert_eq!(lines.len(), count, "{lines:?}");
    let mut per = [0i64; 4];
    for l in &lines {
        per[l["queueId"].as_u64().expect("queueId") as usize] += 1;
    }
    (per, lines)
}

/// A real Rust push consumer of `group` takes `expect` messages of `topic`: what it got.
fn rust_consume(r: &Rmqd, topic: &str, group: &str, expect: usize) -> Vec<Value> {
    let run = run_driver(
        Client::Rust,
        &[
            "consume",
            "--namesrv",
            &r.namesrv(),
            "--topic",
            topic,
            "--group",
            group,
            "--expect",
            &expect.to_string(),
        ],
        r.home.path(),
        Duration::from_secs(60),
    );
    assert!(run.success, "{}", run.stderr);
    run.messages().into_iter().cloned().collect()
}

/// The text rows (whitespace-split cells) whose first cell is `first`.
fn cells(text: &str, first: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .filter(|c| c.first().is_some_and(|c| c == first))
        .collect()
}

/// A runtime-table figure (the first of a TPS triple) as a number; -1 if absent.
fn num(v: &Value) -> f64 {
    match v {
        Value::String(s) => s
            .split_whitespace()
            .next()
            .unwrap_or("")
            .parse()
            .unwrap_or(-1.0),
        Value::Number(n) => n.as_f64().unwrap_or(-1.0),
        _ => -1.0,
    }
}

/// The commands whose figures come from traffic, against real clients' traffic: topic
/// status, broker figures, a connected producer, lag, offset resets, messages by offset.
#[test]
fn figures_follow_real_traffic() {
    let r = Rmqd::start(SHARED_DISK);
    let ns = r.namesrv();
    let ns = ns.as_str();
    let b = r.broker();
    let t0 = now_ms();
    for t in ["AdmStat", "AdmTx"] {
        ok(
            ns,
            &["updateTopic", "-t", t, "-b", &b, "-r", "4", "-w", "4"],
        );
    }

    // producerConnection (204) while a real producer is connected.
    let producer = spawn_driver(
        Client::Rust,
        &[
            "tx-send",
            "--namesrv",
            ns,
            "--topic",
            "AdmTx",
            "--group",
            "AdmProdGroup",
            "--count",
            "1",
            "--decisions",
            "commit",
            "--linger",
            "30",
        ],
        r.home.path(),
    );
    assert!(
        producer.wait_for_line(Duration::from_secs(30), |l| l["i"] == 0),
        "{:?}",
        producer.lines_so_far()
    );
    let mut conn = Value::Null;
    eventually("the producer listed", || {
        let (success, out, _) = admin(
            ns,
            &[
                "--json",
                "producerConnection",
                "-g",
                "AdmProdGroup",
                "-t",
                "AdmTx",
            ],
        );
        conn = serde_json::from_str(&out).unwrap_or(Value::Null);
        success
            && conn["connectionSet"]
                .as_array()
                .is_some_and(|s| s.len() == 1)
    });
    let c0 = &conn["connectionSet"][0];
    let client_id = c0["clientId"].as_str().expect("clientId").to_owned();
    assert!(!client_id.is_empty(), "{conn}");
    assert!(
        c0["clientAddr"]
            .as_str()
            .is_some_and(|a| a.starts_with("127.0.0.1:")),
        "{conn}"
    );
    assert_eq!(c0["language"], "RUST", "{conn}");
    let text = ok(
        ns,
        &["producerConnection", "-g", "AdmProdGroup", "-t", "AdmTx"],
    );
    let rows = cells(&text, "1");
    assert_eq!(rows.len(), 1, "{text}");
    assert_eq!(rows[0][1], client_id, "{text}");
    assert_eq!(rows[0][3], "RUST", "{text}");
    let (success, _, err) = admin(
        ns,
        &["producerConnection", "-g", "NoSuchProducers", "-t", "AdmTx"],
    );
    assert!(!success && err.contains("not exist"), "{err}");
    let _ = producer.finish(Duration::ZERO);

    // brokerStatus / clusterList (28): today's puts and the put TPS move with 20 sends.
    let mut put0 = -1.0;
    eventually("the transaction's puts settle", || {
        let now = num(&json(ns, &["brokerStatus", "-b", &b])["msgPutTotalTodayNow"]);
        let settled = now == put0;
        put0 = now;
        settled
    });
    let (first, lines) = rust_send(&r, "AdmStat", 20, "early");
    let status = json(ns, &["brokerStatus", "-b", &b]);
    assert_eq!(num(&status["msgPutTotalTodayNow"]), put0 + 20.0, "{status}");
    eventually("putTps above 0 in brokerStatus and clusterList", || {
        let status = json(ns, &["brokerStatus", "-b", &b]);
        let cluster = json(ns, &["clusterList"]);
        num(&status["putTps"]) > 0.0 && num(&cluster[0]["runtime"]["putTps"]) > 0.0
    });
    let cluster = json(ns, &["clusterList"]);
    assert_eq!(
        num(&cluster[0]["runtime"]["msgPutTotalTodayNow"]),
        put0 + 20.0,
        "{cluster}"
    );
    let text = ok(ns, &["clusterList"]);
    let row = &cells(&text, "DefaultCluster")[0];
    assert_eq!(row[3], b, "{text}");
    let in_tps = row[5].split('(').next().unwrap_or("");
    assert!(
        in_tps.parse::<f64>().is_ok_and(|tps| tps > 0.0) && row[5].ends_with("ms)"),
        "InTPS(LOAD): {text}"
    );
    assert_eq!(row.len(), 10, "{text}");
    let text = ok(ns, &["brokerStatus", "-b", &b]);
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["msgPutTotalTodayNow", ":", &(put0 as i64 + 20).to_string()]),
        "{text}"
    );

    // topicStatus (202): each queue's max offset is what was sent to it.
    let v = json(ns, &["topicStatus", "-t", "AdmStat"]);
    let got: Vec<(i64, i64, i64)> = v
        .as_array()
        .expect("queues")
        .iter()
        .map(|q| {
            assert_eq!(q["brokerName"], "broker-a", "{q}");
            assert!(
                q["lastUpdateTimestamp"].as_i64().is_some_and(|t| t >= t0),
                "{q}"
            );
            (
                q["queueId"].as_i64().unwrap(),
                q["minOffset"].as_i64().unwrap(),
                q["maxOffset"].as_i64().unwrap(),
            )
        })
        .collect();
    let want: Vec<(i64, i64, i64)> = (0..4).map(|q| (q, 0, first[q as usize])).collect();
    assert_eq!(got, want, "{v}");
    let text = ok(ns, &["topicStatus", "-t", "AdmStat"]);
    let rows: Vec<(i64, i64, i64)> = cells(&text, "broker-a")
        .iter()
        .map(|c| {
            // Last Updated as mqadmin prints it: `yyyy-MM-dd HH:mm:ss,SSS`.
            assert!(
                c.len() == 6 && c[4].len() == 10 && c[5].len() == 12 && &c[5][8..9] == ",",
                "{c:?}"
            );
            (
                c[1].parse().unwrap(),
                c[2].parse().unwrap(),
                c[3].parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(rows, want, "{text}");

    // queryMsgByOffset (11): the client's message at the offset it was told.
    let l = &lines[3];
    let (q, o) = (l["queueId"].to_string(), l["queueOffset"].to_string());
    let by_offset = |o| {
        [
            "queryMsgByOffset",
            "-t",
            "AdmStat",
            "-b",
            "broker-a",
            "-i",
            &q,
            "-o",
            o,
        ]
    };
    let args = by_offset(&o);
    let m = json(ns, &args);
    assert_eq!(m[0]["body"], "early-3", "{m}");
    assert_eq!(m[0]["keys"], "early-3", "{m}");
    assert_eq!(m[0]["msgId"], l["msgId"], "{m}");
    let text = ok(ns, &args);
    assert!(
        text.lines().any(|l| l == "body:             early-3"),
        "{text}"
    );
    assert_eq!(json(ns, &by_offset("1000")), serde_json::json!([]));

    // consumerProgress (208): a real consumer takes the 20, then 7 more arrive: lag 7.
    rust_consume(&r, "AdmStat", "AdmStatGroup", 20);
    let mut last = Value::Null;
    let deadline = Instant::now() + Duration::from_secs(20);
    // The group's retry queue is listed too (as Java's 208 lists every topic it consumes).
    let of_topic = |v: &Value| -> Vec<Value> {
        v["queues"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|q| q["topic"] == "AdmStat")
            .cloned()
            .collect()
    };
    while !(of_topic(&last).len() == 4
        && of_topic(&last)
            .iter()
            .all(|q| q["consumerOffset"] == q["brokerOffset"]))
    {
        assert!(Instant::now() < deadline, "offsets never committed: {last}");
        std::thread::sleep(Duration::from_millis(200));
        last = json(ns, &["consumerProgress", "-g", "AdmStatGroup"]);
    }
    let (late, _) = rust_send(&r, "AdmStat", 7, "late");
    let progress = |want_consumed: [i64; 4]| {
        let v = json(ns, &["consumerProgress", "-g", "AdmStatGroup"]);
        let got: Vec<(String, i64, i64, i64, i64)> = of_topic(&v)
            .iter()
            .map(|q| {
                (
                    q["topic"].as_str().unwrap().to_owned(),
                    q["queueId"].as_i64().unwrap(),
                    q["brokerOffset"].as_i64().unwrap(),
                    q["consumerOffset"].as_i64().unwrap(),
                    q["diff"].as_i64().unwrap(),
                )
            })
            .collect();
        let want: Vec<(String, i64, i64, i64, i64)> = (0..4)
            .map(|q| {
                let total = first[q] + late[q];
                let c = want_consumed[q];
                ("AdmStat".to_owned(), q as i64, total, c, total - c)
            })
            .collect();
        assert_eq!(got, want, "{v}");
        let diff: i64 = want.iter().map(|w| w.4).sum();
        assert_eq!(v["diffTotal"], diff, "{v}");
        let text = ok(ns, &["consumerProgress", "-g", "AdmStatGroup"]);
        let rows: Vec<(String, i64, i64, i64, i64)> = cells(&text, "AdmStat")
            .iter()
            .map(|c| {
                (
                    c[0].clone(),
                    c[2].parse().unwrap(),
                    c[3].parse().unwrap(),
                    c[4].parse().unwrap(),
                    c[5].parse().unwrap(),
                )
            })
            .collect();
        assert_eq!(rows, want, "{text}");
        assert!(text.contains(&format!("\nDiff Total: {diff}\n")), "{text}");
        diff
    };
    assert_eq!(progress(first), 7);
    // Without -g: one line per group, the group's total lag; no consumer online now.
    let all = json(ns, &["consumerProgress"]);
    let g = all
        .as_array()
        .expect("groups")
        .iter()
        .find(|g| g["group"] == "AdmStatGroup")
        .unwrap_or_else(|| panic!("{all}"));
    assert_eq!(g["diffTotal"], 7, "{g}");
    assert_eq!(g["count"], 0, "{g}");
    let text = ok(ns, &["consumerProgress"]);
    let row = &cells(&text, "AdmStatGroup")[0];
    assert_eq!(row.last().map(String::as_str), Some("7"), "{text}");

    // resetOffsetByTime (222; the group is offline, so, as mqadmin, by UPDATE_CONSUMER_OFFSET):
    // back to before the first send, then to the end, then back again.
    fn reset_args(ts: &str) -> [&str; 7] {
        [
            "resetOffsetByTime",
            "-g",
            "AdmStatGroup",
            "-t",
            "AdmStat",
            "-s",
            ts,
        ]
    }
    let reset = |ts: &str| {
        let v = json(ns, &reset_args(ts));
        let rows = v.as_array().expect("rows").clone();
        assert_eq!(rows.len(), 4, "{v}");
        rows.iter()
            .map(|r| r["offset"].as_i64().expect("offset"))
            .collect::<Vec<_>>()
    };
    assert_eq!(reset(&t0.to_string()), vec![0; 4]);
    assert_eq!(progress([0; 4]), 27);
    let ends: [i64; 4] = std::array::from_fn(|q| first[q] + late[q]);
    assert_eq!(reset("now"), ends);
    assert_eq!(progress(ends), 0);
    let t0_text = t0.to_string();
    let text = ok(ns, &reset_args(&t0_text));
    assert!(
        text.starts_with(&format!(
            "rollback consumer offset by specified consumerGroup[AdmStatGroup], topic[AdmStat], force[true], timestamp(string)[{t0}], timestamp(long)[{t0}]\n#brokerName"
        )),
        "{text}"
    );
    assert_eq!(cells(&text, "broker-a").len(), 4, "{text}");
    assert!(
        cells(&text, "broker-a")
            .iter()
            .all(|c| c.last().map(String::as_str) == Some("0")),
        "{text}"
    );
    // A real consumer of the group reads everything again.
    let again = rust_consume(&r, "AdmStat", "AdmStatGroup", 27);
    let bodies: std::collections::BTreeSet<&str> =
        again.iter().filter_map(|m| m["body"].as_str()).collect();
    assert_eq!(bodies.len(), 27, "{bodies:?}");
}
