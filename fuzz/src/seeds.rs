//! Writes the seed corpus, `corpus/<target>/`, from the project's golden fixtures (the
//! captured Java sessions and the Java-written store). The corpus is kept in the repo;
//! this is how it was made, and how to remake it when a target's input format changes.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use rmqd_store::index_file::{IndexConfig, IndexFile};
use rmqd_store::record::{self, Decoded};
use serde_json::Value;

use crate::targets::remoting::BODY_JSON_KINDS;

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: not a captured frame: {reason}")]
    Capture {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SeedError + '_ {
    move |source| SeedError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn read(path: &Path) -> Result<Vec<u8>, SeedError> {
    std::fs::read(path).map_err(io(path))
}

/// Bodies past this are cut: the decoders' interesting bytes are near the start, and the
/// corpus stays small.
const MAX_BODY: usize = 1024;

/// Seeds collected per target, written out at the end.
#[derive(Default)]
struct Corpus {
    seeds: Vec<(&'static str, String, Vec<u8>)>,
}

impl Corpus {
    fn add(&mut self, target: &'static str, name: impl Into<String>, bytes: Vec<u8>) {
        self.seeds.push((target, name.into(), bytes));
    }

    fn count(&self, target: &str) -> usize {
        self.seeds.iter().filter(|(t, _, _)| *t == target).count()
    }

    fn write(&self, out: &Path) -> Result<(usize, usize), SeedError> {
        let mut total = 0;
        for (target, name, bytes) in &self.seeds {
            let dir = out.join(target);
            std::fs::create_dir_all(&dir).map_err(io(&dir))?;
            let path = dir.join(name);
            std::fs::write(&path, bytes).map_err(io(&path))?;
            total += bytes.len();
        }
        Ok((self.seeds.len(), total))
    }
}

/// One frame of a capture, as the JSONL line describes it.
struct Captured {
    serialize_type: u8,
    code: i64,
    c2s: bool,
    header: Vec<u8>,
    body: Vec<u8>,
}

impl Captured {
    /// The frame after its length word: `[type<<24 | header length][header][body]`.
    fn frame(&self, max_body: usize) -> Vec<u8> {
        let body = &self.body[..self.body.len().min(max_body)];
        let word = (u32::from(self.serialize_type) << 24) | (self.header.len() as u32 & 0xFF_FFFF);
        let mut f = word.to_be_bytes().to_vec();
        f.extend_from_slice(&self.header);
        f.extend_from_slice(body);
        f
    }

    fn tag(&self) -> String {
        let kind = if self.serialize_type == 0 {
            "json"
        } else {
            "bin"
        };
        let dir = if self.c2s { "req" } else { "resp" };
        format!("{kind}-{}-{dir}", self.code)
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

fn captures(path: &Path) -> Result<Vec<Captured>, SeedError> {
    let text = String::from_utf8_lossy(&read(path)?).into_owned();
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let bad = |reason: &str| SeedError::Capture {
            path: path.to_path_buf(),
            line: i + 1,
            reason: reason.to_owned(),
        };
        let v: Value = serde_json::from_str(line).map_err(|e| bad(&e.to_string()))?;
        let serialize_type = v["serialize_type"]
            .as_u64()
            .ok_or_else(|| bad("no serialize_type"))?;
        let header_text = v["header_json_or_hex"]
            .as_str()
            .ok_or_else(|| bad("no header"))?;
        let header = if serialize_type == 0 {
            header_text.as_bytes().to_vec()
        } else {
            unhex(header_text).ok_or_else(|| bad("header is not hex"))?
        };
        let body = match v["body_hex"].as_str() {
            Some(h) => unhex(h).ok_or_else(|| bad("body is not hex"))?,
            None => Vec::new(),
        };
        out.push(Captured {
            serialize_type: serialize_type as u8,
            code: v["code"].as_i64().unwrap_or(-1),
            c2s: v["dir"].as_str() == Some("c2s"),
            header,
            body,
        });
    }
    Ok(out)
}

/// Writes every target's seeds under `out` from `fixtures` (the shared fixtures root).
/// Returns how many files and bytes were written.
pub fn write(fixtures: &Path, out: &Path) -> Result<(usize, usize), SeedError> {
    let mut c = Corpus::default();
    let wire = fixtures.join("wire/java-4.9.8");
    let mut frames = captures(&wire.join("session-json.jsonl"))?;
    frames.extend(captures(&wire.join("session-rocketmq-serialize.jsonl"))?);
    wire_seeds(&mut c, &frames);
    body_seeds(&mut c, &frames);
    admin_seeds(&mut c, &fixtures.join("wire/java-4.9.8-mqadmin"))?;
    let store = fixtures.join("java-store-v1");
    store_seeds(&mut c, &store, &fixtures.join("java-store-v1-crash"))?;
    index_seeds(&mut c, &store.join("index"))?;
    timer_seeds(&mut c)?;
    ha_seeds(&mut c, &fixtures.join("ha/java-4.9.8/ha-stream-raw.jsonl"))?;
    sql_seeds(&mut c);
    c.write(out)
}

/// The captured Java master ⇄ slave stream of the first HA connection (the one recorded
/// in full): the master's bytes as read, the slave's reports, and the transfer bodies as
/// the slave's record splitter sees them (the 4-byte prefix: offset 0, 1 MiB files cut
/// to 16 bits, so the fuzzer explores file ends too).
fn ha_seeds(c: &mut Corpus, raw: &Path) -> Result<(), SeedError> {
    let text = String::from_utf8_lossy(&read(raw)?).into_owned();
    let (mut s2c, mut c2s) = (Vec::new(), Vec::new());
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if v["conn"].as_i64() != Some(2) {
            continue;
        }
        let Some(bytes) = v["bytes_hex"].as_str().and_then(unhex) else {
            continue;
        };
        match v["dir"].as_str() {
            Some("s2c") => s2c.extend_from_slice(&bytes),
            Some("c2s") => c2s.extend_from_slice(&bytes),
            _ => {}
        }
    }
    for (i, chunk) in [1u8, 7, 200].into_iter().enumerate() {
        let mut seed = vec![chunk];
        seed.extend_from_slice(&s2c[..s2c.len().min(MAX_BODY * 2)]);
        c.add("ha_stream", format!("master-{i}"), seed);
    }
    let mut reports = vec![3u8];
    reports.extend_from_slice(&c2s[..c2s.len().min(256)]);
    c.add("ha_stream", "slave-reports", reports);
    // Transfer bodies: the stream with its 12-byte headers taken out.
    let mut bodies = vec![0u8, 0, 0xff, 0xff];
    let mut at = 0usize;
    while let Some(h) = s2c.get(at..at + 12) {
        let size = i32::from_be_bytes([h[8], h[9], h[10], h[11]]).max(0) as usize;
        if let Some(b) = s2c.get(at + 12..at + 12 + size) {
            bodies.extend_from_slice(b);
        }
        at += 12 + size;
    }
    bodies.truncate(MAX_BODY * 2);
    c.add("replica_records", "java-master-bodies", bodies);
    Ok(())
}

/// SQL92 selectors (no Java capture has one): each production of the grammar, some of
/// Java's refusals, and properties as a producer stores them.
fn sql_seeds(c: &mut Corpus) {
    const EXPRS: &[&str] = &[
        "a = 'x'",
        "a <> 'it''s' AND b IS NOT NULL",
        "a > 5 OR b >= 1.5e3 OR c < -2 OR d <= 3000000000",
        "a BETWEEN 1 AND 10 AND b NOT BETWEEN 2 AND 3",
        "a IN ('x', 'y') OR b NOT IN ('1','2','3','4','5','6')",
        "NOT (a = TRUE) AND b = FALSE OR c IS NULL",
        "(a = 1) = (b = 2) -- comment\n",
        "/* block */ TAGS = 'TagA' AND KEYS IS NOT NULL",
        "a > 0.0",
        "a BETWEEN 5 AND 1",
        "a = 1 AND",
        "'x' IN ('x')",
    ];
    let props = "a\u{1}5\u{2}b\u{1}2\u{2}c\u{1}x\u{2}TAGS\u{1}TagA\u{2}KEYS\u{1}k1\u{2}";
    for (i, e) in EXPRS.iter().enumerate() {
        let mut s = e.as_bytes().to_vec();
        s.push(0);
        s.extend_from_slice(props.as_bytes());
        c.add("sql92", format!("expr-{i}"), s);
    }
    let check = br#"{"clientId":"127.0.0.1@1","group":"G","subscriptionData":{"classFilterMode":false,"codeSet":[],"expressionType":"SQL92","subString":"a > 1","subVersion":1,"tagsSet":[],"topic":"T"}}"#;
    c.add(
        "body_json",
        "check_client",
        with_kind("check_client", check),
    );
}

fn wire_seeds(c: &mut Corpus, frames: &[Captured]) {
    let mut seen = BTreeSet::new();
    let mut framed = Vec::new();
    for f in frames {
        let tag = f.tag();
        if !seen.insert(tag.clone()) {
            continue;
        }
        let frame = f.frame(MAX_BODY);
        c.add("frame", tag.clone(), frame.clone());
        let mut with_len = (frame.len() as u32).to_be_bytes().to_vec();
        with_len.extend_from_slice(&frame);
        framed.push(with_len);
        let header_target = if f.serialize_type == 0 {
            "header_json"
        } else {
            "header_binary"
        };
        c.add(header_target, tag.clone(), f.header.clone());
        if f.c2s {
            c.add("custom_headers", tag, f.header.clone());
        }
    }
    // The codec's seeds: a chunk-size byte, then a few frames back to back.
    for (i, run) in framed.chunks(4).take(8).enumerate() {
        let mut s = vec![(i * 7) as u8];
        for f in run {
            s.extend_from_slice(f);
        }
        c.add("codec", format!("run-{i}"), s);
    }
}

fn kind(name: &str) -> u8 {
    BODY_JSON_KINDS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, k)| *k)
        .unwrap_or(0)
}

fn with_kind(name: &str, body: &[u8]) -> Vec<u8> {
    let mut s = vec![kind(name)];
    s.extend_from_slice(body);
    s
}

fn body_seeds(c: &mut Corpus, frames: &[Captured]) {
    let mut seen = BTreeSet::new();
    for f in frames.iter().filter(|f| !f.body.is_empty()) {
        let text = String::from_utf8_lossy(&f.body);
        let name = match (f.c2s, f.code) {
            (true, 34) => "heartbeat",
            (true, 41 | 42) => "lock_batch_request",
            (true, 103) => "register_broker",
            (false, _) if text.contains("lockOKMQSet") => "lock_batch_response",
            (false, _) if text.contains("brokerDatas") => "route",
            (false, _) if text.contains("clusterAddrTable") => "cluster_info",
            (false, _) if text.contains("consumerIdList") => "consumer_id_list",
            (false, _) if text.contains("topicList") => "topic_list",
            _ => "",
        };
        if name.is_empty() || !seen.insert(name) {
            continue;
        }
        c.add("body_json", name, with_kind(name, &f.body));
        if name == "register_broker" {
            register_seeds(c, &f.body);
        }
    }
    let heartbeats: Vec<&[u8]> = frames
        .iter()
        .filter(|f| f.c2s && f.code == 34)
        .map(|f| f.body.as_slice())
        .collect();
    heartbeat_parts(c, &heartbeats);
    for f in frames.iter().filter(|f| f.c2s && f.code == 320) {
        c.add(
            "batch",
            format!("batch-{}", c.count("batch")),
            f.body.clone(),
        );
    }
    let mut props = BTreeSet::new();
    for f in frames
        .iter()
        .filter(|f| f.c2s && matches!(f.code, 10 | 310 | 320))
    {
        let Ok(cmd) = rmqd_remoting::header::json::decode(&f.header)
            .or_else(|_| rmqd_remoting::header::binary::decode(&f.header))
        else {
            continue;
        };
        let ext = cmd.ext_fields.unwrap_or_default();
        if let Some(p) = ext.get("i").or_else(|| ext.get("properties")) {
            props.insert(p.to_owned());
        }
    }
    for (i, p) in props.into_iter().take(8).enumerate() {
        c.add("properties", format!("send-{i}"), p.into_bytes());
    }
}

/// The subscriptions inside heartbeats, and filter expressions from their tags.
fn heartbeat_parts(c: &mut Corpus, bodies: &[&[u8]]) {
    let parsed: Vec<Value> = bodies
        .iter()
        .filter_map(|b| serde_json::from_slice(b).ok())
        .collect();
    let mut subs: Vec<&Value> = parsed
        .iter()
        .filter_map(|v| v["consumerDataSet"].as_array())
        .flatten()
        .filter_map(|cd| cd["subscriptionDataSet"].as_array())
        .flatten()
        .collect();
    subs.dedup_by_key(|s| s["subString"].as_str().map(str::to_owned));
    let mut exprs: BTreeSet<String> = ["*", "TagA || TagB", " TagA ||  || TagC "]
        .into_iter()
        .map(str::to_owned)
        .collect();
    for (i, sub) in subs.into_iter().take(3).enumerate() {
        if let Ok(text) = serde_json::to_vec(sub) {
            c.add(
                "body_json",
                format!("subscription-{i}"),
                with_kind("subscription", &text),
            );
        }
        if let Some(s) = sub["subString"].as_str() {
            exprs.insert(s.to_owned());
        }
    }
    for (i, e) in exprs.into_iter().enumerate() {
        let mut s = vec![i as u8];
        s.extend_from_slice(e.as_bytes());
        c.add("filter", format!("expr-{i}"), s);
    }
}

/// A plain register body, and the compressed layout made from it
/// (`[len][dataVersion][count]([len][topic config text])*[len][filterServerList]`), both
/// as the bytes inside the zlib stream and as the stream itself.
fn register_seeds(c: &mut Corpus, body: &[u8]) {
    let mut plain = vec![0u8];
    plain.extend_from_slice(body);
    c.add("body_register", "plain", plain);
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    let wrapper = &v["topicConfigSerializeWrapper"];
    let chunk = |out: &mut Vec<u8>, bytes: &[u8]| {
        out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
        out.extend_from_slice(bytes);
    };
    let mut raw = Vec::new();
    chunk(&mut raw, wrapper["dataVersion"].to_string().as_bytes());
    let topics: Vec<String> = wrapper["topicConfigTable"]
        .as_object()
        .into_iter()
        .flatten()
        .take(4)
        .map(|(name, t)| {
            format!(
                "{name} {} {} {} {}",
                t["readQueueNums"], t["writeQueueNums"], t["perm"], "SINGLE_TAG"
            )
        })
        .collect();
    raw.extend_from_slice(&(topics.len() as i32).to_be_bytes());
    for t in &topics {
        chunk(&mut raw, t.as_bytes());
    }
    chunk(&mut raw, v["filterServerList"].to_string().as_bytes());
    let mut inner = vec![2u8];
    inner.extend_from_slice(&raw);
    c.add("body_register", "compressed-layout", inner);
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    if z.write_all(&raw).is_ok() {
        if let Ok(packed) = z.finish() {
            let mut s = vec![1u8];
            s.extend_from_slice(&packed);
            c.add("body_register", "compressed-zlib", s);
        }
    }
}

fn store_seeds(c: &mut Corpus, store: &Path, crash: &Path) -> Result<(), SeedError> {
    let log = read(&store.join("commitlog/00000000000000000000"))?;
    let mut at = 0;
    let mut topics = BTreeSet::new();
    let mut props = BTreeSet::new();
    while let Some(rest) = log.get(at..) {
        match record::decode(rest, true) {
            Ok(Decoded::Message(m)) => {
                if topics.insert(m.topic.to_owned()) {
                    let bytes = rest[..m.total_size].to_vec();
                    c.add(
                        "record",
                        format!("record-{}", m.topic.replace('%', "_")),
                        bytes,
                    );
                    props.insert(m.properties.to_owned());
                }
                at += m.total_size;
            }
            Ok(Decoded::Blank { .. }) => {
                c.add("record", "blank", rest[..rest.len().min(8)].to_vec());
                break;
            }
            Err(_) => break,
        }
    }
    // A pull body: the first few records back to back.
    let run: usize = record::decode_all(&log)
        .iter()
        .take(3)
        .map(|m| m.total_size)
        .sum();
    c.add("record", "pull-body", log[..run].to_vec());
    for (i, p) in props.into_iter().take(6).enumerate() {
        c.add("properties", format!("stored-{i}"), p.into_bytes());
    }

    let text = String::from_utf8_lossy(&read(&store.join("sent-messages.jsonl"))?).into_owned();
    for (i, line) in text.lines().take(2).enumerate() {
        if let Ok(v) = serde_json::from_str::<Value>(line) {
            for key in ["offsetMsgId", "msgId"] {
                if let Some(id) = v[key].as_str() {
                    c.add("msg_id", format!("{key}-{i}"), id.as_bytes().to_vec());
                }
            }
        }
    }

    let cq = store.join("consumequeue");
    // One file of 50 units, cut to the units and a few zero ones after them.
    let fixture = read(&cq.join("FixtureTopic/0/00000000000000000000"))?;
    let mut one = vec![0u8];
    one.extend_from_slice(&fixture[..fixture.len().min(54 * 20)]);
    c.add("consume_queue", "one-file", one);
    // Two files: shape 1 splits the rest in two.
    let pad0 = read(&cq.join("PadTopic/0/00000000000000000000"))?;
    let pad1 = read(&cq.join("PadTopic/0/00000000000000006000"))?;
    let mut two = vec![1u8];
    two.extend_from_slice(&pad0[pad0.len() - 400..]);
    two.extend_from_slice(&pad1[..400]);
    c.add("consume_queue", "two-files", two);

    for (name, dir) in [("clean", store), ("crash", crash)] {
        let page = read(&dir.join("checkpoint"))?;
        c.add("checkpoint", name, page[..page.len().min(24)].to_vec());
    }

    let config = store.join("config");
    for file in [
        "consumerOffset.json",
        "delayOffset.json",
        "topics.json",
        "subscriptionGroup.json",
    ] {
        let bytes = read(&config.join(file))?;
        if file == "topics.json" {
            topic_seeds(c, &bytes);
        }
        c.add("fastjson", file, bytes);
    }
    // The crash copy's offsets were flushed mid-run.
    let offsets = read(&crash.join("config/consumerOffset.json"))?;
    c.add("fastjson", "crash-consumerOffset.json", offsets);
    Ok(())
}

/// `topics.json` as the JSON bodies it is made of.
fn topic_seeds(c: &mut Corpus, bytes: &[u8]) {
    c.add(
        "body_json",
        "topic_config_wrapper",
        with_kind("topic_config_wrapper", bytes),
    );
    let Ok(v) = serde_json::from_slice::<Value>(bytes) else {
        return;
    };
    let dv = v["dataVersion"].to_string();
    c.add(
        "body_json",
        "data_version",
        with_kind("data_version", dv.as_bytes()),
    );
    if let Some((_, t)) = v["topicConfigTable"]
        .as_object()
        .and_then(|m| m.iter().next())
    {
        let t = t.to_string();
        c.add(
            "body_json",
            "topic_config",
            with_kind("topic_config", t.as_bytes()),
        );
    }
}

fn index_seeds(c: &mut Corpus, dir: &Path) -> Result<(), SeedError> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .flatten()
        .map(|e| e.path())
        .collect();
    names.sort();
    for (i, p) in names.iter().take(2).enumerate() {
        // Shape 0: the fixture's own 100-slot, 400-entry layout.
        let mut s = vec![0u8];
        s.extend_from_slice(&read(p)?);
        c.add("index_file", format!("java-{i}"), s);
    }
    // A small file with chains, written by our own writer (shape 1: 4 slots, 8 entries).
    let tmp = std::env::temp_dir().join(format!("rmqd-fuzz-seed-{}", std::process::id()));
    let cfg = IndexConfig {
        max_hash_slot_num: 4,
        max_index_num: 8,
    };
    let made = IndexFile::create(&tmp, 1_700_000_000_000, cfg, (1_700_000_000_000, 0)).ok();
    if let Some(mut f) = made {
        for (i, key) in ["FixtureTopic#key-0", "PadTopic#padkey-0", "FuzzTopic#0"]
            .iter()
            .cycle()
            .take(6)
            .enumerate()
        {
            f.put_key(key, i as i64 * 100, 1_700_000_000_000 + i as i64 * 1000);
        }
        let _ = f.flush();
        let path = f.path().to_path_buf();
        drop(f);
        let mut s = vec![1u8];
        s.extend_from_slice(&read(&path)?);
        c.add("index_file", "small-chains", s);
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}

/// Timer files have no Java fixture (4.9.8 has no timer wheel): the seeds are written by
/// the store's own timer code, in the layout the targets take (see `timer_store`).
fn timer_seeds(c: &mut Corpus) -> Result<(), SeedError> {
    use rmqd_store::timer::log::{TimerUnit, MAGIC_DEFAULT, MAGIC_DELETE, MAGIC_ROLL};
    use rmqd_store::timer::wheel::Slot;
    use rmqd_store::timer::{self, EnqueueRequest, TimerFiles, TimerFilesConfig};
    let t0 = 1_700_000_000_000i64;
    let slot = Slot {
        time_ms: t0,
        first_pos: 0,
        last_pos: 104,
        num: 3,
        magic: 0,
    };
    c.add("timer_records", "slot", slot.encode(1000).to_vec());
    for (name, magic) in [
        ("unit", MAGIC_DEFAULT),
        ("unit-roll", MAGIC_DEFAULT | MAGIC_ROLL),
        ("unit-delete", MAGIC_DEFAULT | MAGIC_DELETE),
    ] {
        let u = TimerUnit::new(52, magic, t0, 5000, 4096, 300, 77);
        c.add("timer_records", name, u.encode().to_vec());
    }
    let mut blank = vec![0u8; 16];
    blank[0..4].copy_from_slice(&40i32.to_be_bytes());
    blank[12..16].copy_from_slice(&timer::log::BLANK_MAGIC.to_be_bytes());
    c.add("timer_records", "blank", blank);

    // Real files: 32-slot wheel, 172-byte log files, 12 units over 4 slots (one rolled,
    // one delete marker), checkpointed after 8.
    let dir = std::env::temp_dir().join(format!("rmqd-fuzz-seed-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cfg = TimerFilesConfig {
        root_dir: dir.clone(),
        precision_ms: 1000,
        log_file_size: 52 * 3 + 16,
        roll_window_slots: 20,
        slots_total: 32,
    };
    let err = |e: rmqd_store::timer::TimerError| SeedError::Io {
        path: dir.clone(),
        source: std::io::Error::other(e.to_string()),
    };
    {
        let (mut f, _) = TimerFiles::open(&cfg, false).map_err(err)?;
        for k in 0..12i64 {
            let req = EnqueueRequest {
                delayed_time: t0 + 1000 * (k % 4) + if k == 5 { 30_000 } else { 0 },
                offset_py: 4096 * k,
                size_py: 200,
                real_topic_hash: 77,
                delete: k == 7,
            };
            f.enqueue(&req, t0)
                .map_err(|e| err(rmqd_store::timer::TimerError::File(e)))?;
            if k == 7 {
                f.checkpoint_now(t0, 8, t0)
                    .map_err(|e| err(rmqd_store::timer::TimerError::File(e)))?;
            }
        }
        f.flush()
            .map_err(|e| err(rmqd_store::timer::TimerError::File(e)))?;
    }
    let wheel = read(&timer::wheel_path(&dir))?;
    let cp = read(&timer::checkpoint_path(&dir))?;
    let mut log = Vec::new();
    for (_, path, _) in rmqd_store::file_queue::list_files(&timer::log_dir(&dir))
        .map_err(|e| err(rmqd_store::timer::TimerError::File(e)))?
    {
        log.extend(read(&path)?);
    }
    let _ = std::fs::remove_dir_all(&dir);
    for (name, shape, torn) in [
        ("clean", 0u8, false),
        ("after-crash", 8, false),
        ("torn-tail", 8, true),
    ] {
        let mut s = vec![shape];
        s.extend_from_slice(&wheel);
        s.extend_from_slice(&cp[..56]);
        let mut l = log.clone();
        if torn {
            let n = l.len();
            l[n - 200..n - 180].iter_mut().for_each(|b| *b = 0xff);
        }
        s.extend_from_slice(&l);
        c.add("timer_store", name, s);
    }
    Ok(())
}

/// The mqadmin capture: admin request headers, the fastjson bodies the Java broker wrote
/// (MessageQueue-keyed maps, bare number keys), and HTTP request heads for the metrics
/// endpoint.
fn admin_seeds(c: &mut Corpus, dir: &Path) -> Result<(), SeedError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .filter(|p| !p.ends_with("timeline.jsonl") && !p.ends_with("setup-results.jsonl"))
        .collect();
    files.sort();
    let mut headers = BTreeSet::new();
    let mut bodies = BTreeSet::new();
    for path in files {
        for f in captures(&path)? {
            if f.c2s && headers.insert(f.code) {
                c.add(
                    "custom_headers",
                    format!("admin-{}-req", f.code),
                    f.header.clone(),
                );
            }
            let fastjson_like = f.body.first() == Some(&b'{')
                && f.body.len() <= 2 * MAX_BODY
                && (f.body.windows(2).any(|w| w == b"{{") || f.body.windows(2).any(|w| w == b"{0"));
            if !f.c2s && fastjson_like && bodies.insert(f.body.clone()) {
                c.add(
                    "body_fastjson",
                    format!("java-{}", bodies.len()),
                    f.body.clone(),
                );
            }
        }
    }
    for (name, head) in [
        ("scrape", &b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:5557\r\nUser-Agent: Prometheus/2.45.0\r\nAccept: text/plain;version=0.0.4\r\n\r\n"[..]),
        ("query", b"GET /metrics?name=x HTTP/1.0\r\n\r\n"),
        ("post", b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"),
        ("partial", b"GET /metr"),
    ] {
        c.add("http_head", name, head.to_vec());
    }
    Ok(())
}
