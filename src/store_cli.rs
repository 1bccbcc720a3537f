//! `rmqd store …`: offline tools over a store directory (verify, dump, query). They open
//! the files read-only, so they are safe on a copy, a backup, or a Java broker's store.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use rmqd_store::config::StoreConfig;
use rmqd_store::reader::{detect_sizes, StoreReader};
use rmqd_store::record::{self, Decoded, RecordView};
use serde_json::{json, Map, Value};

use crate::config::BrokerConfig;

#[derive(Debug, clap::Args)]
pub struct StoreArgs {
    /// The store directory (the broker's storePathRootDir).
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// Broker config whose maxHashSlotNum/maxIndexNum/messageDelayLevel describe the store
    /// (file sizes are read from the files themselves).
    #[arg(short = 'c', long = "configFile", value_name = "FILE")]
    config_file: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
pub enum StoreCommand {
    /// Check every record's CRC and that consume queues and index agree with the
    /// CommitLog. Exits 1 and says where on any damage.
    Verify {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Print the messages of a topic, one per line (JSON objects with --json).
    Dump {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        topic: String,
        /// Only this queue id.
        #[arg(long)]
        queue: Option<i32>,
        /// First queue offset to print.
        #[arg(long, default_value_t = 0)]
        from: i64,
        #[arg(long)]
        json: bool,
    },
    /// Find messages by key or unique key (UNIQ_KEY) through the IndexFile.
    Query {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        topic: String,
        #[arg(long)]
        key: String,
        /// At most this many results.
        #[arg(long, default_value_t = 64)]
        max: usize,
    },
}

fn store_config(args: &StoreArgs) -> Result<StoreConfig, String> {
    let broker = match &args.config_file {
        Some(p) => BrokerConfig::load(p).map_err(|e| e.to_string())?,
        None => BrokerConfig::default(),
    };
    let mut cfg = broker
        .store_config(SocketAddr::from(([127, 0, 0, 1], broker.listen_port)))
        .map_err(|e| e.to_string())?;
    cfg.root_dir = args.dir.clone();
    cfg.commitlog_dir = None;
    detect_sizes(&mut cfg);
    Ok(cfg)
}

pub fn run(cmd: StoreCommand) -> ExitCode {
    let result = match cmd {
        StoreCommand::Verify { store } => verify(&store),
        StoreCommand::Dump {
            store,
            topic,
            queue,
            from,
            json,
        } => dump(&store, &topic, queue, from, json),
        StoreCommand::Query {
            store,
            topic,
            key,
            max,
        } => query(&store, &topic, &key, max),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "rmqd store: {e}");
            ExitCode::from(2)
        }
    }
}

fn open(args: &StoreArgs) -> Result<(StoreConfig, StoreReader), String> {
    let cfg = store_config(args)?;
    let reader = StoreReader::open(&cfg).map_err(|e| e.to_string())?;
    Ok((cfg, reader))
}

fn verify(args: &StoreArgs) -> Result<ExitCode, String> {
    let (cfg, reader) = open(args)?;
    let mut report = reader.verify();
    let index = rmqd_store::index_check::verify_index(&cfg, &reader);
    report.problems.extend(index.problems);
    let mut out = std::io::stdout().lock();
    let w = |out: &mut std::io::StdoutLock<'_>, s: String| {
        let _ = writeln!(out, "{s}");
    };
    w(&mut out, format!("store: {}", cfg.root_dir.display()));
    w(
        &mut out,
        format!(
            "commitlog: {} records, offsets {}..{}, file size {}",
            report.records,
            report.commitlog_min,
            report.commitlog_end,
            cfg.mapped_file_size_commitlog
        ),
    );
    w(
        &mut out,
        format!(
            "consume queues: {} queues, {} units, file size {}",
            report.queues, report.units, cfg.mapped_file_size_consume_queue
        ),
    );
    w(
        &mut out,
        format!(
            "index: {} files, {} keys checked",
            index.files, index.keys_checked
        ),
    );
    if reader.abort_present {
        w(
            &mut out,
            "abort file present: the last broker did not shut down cleanly; starting a broker on this store runs crash recovery".into(),
        );
    }
    if report.problems.is_empty() {
        w(&mut out, "OK".into());
        return Ok(ExitCode::SUCCESS);
    }
    for p in &report.problems {
        w(&mut out, format!("CORRUPT {}: {}", p.place, p.what));
    }
    w(
        &mut out,
        format!("{} problem(s) found", report.problems.len()),
    );
    Ok(ExitCode::from(1))
}

/// One message as `dump --json` prints it.
pub fn message_json(m: &RecordView<'_>, commit_log_offset: i64) -> Value {
    let mut props = Map::new();
    for (k, v) in record::properties(m.properties) {
        props.insert(k.to_string(), Value::String(v.to_string()));
    }
    let mut o = json!({
        "topic": m.topic,
        "queueId": m.queue_id,
        "queueOffset": m.queue_offset,
        "commitLogOffset": commit_log_offset,
        "size": m.total_size,
        "msgId": m.offset_msg_id(),
        "uniqKey": m.property("UNIQ_KEY"),
        "tags": m.property("TAGS"),
        "keys": m.property("KEYS"),
        "properties": props,
        "sysFlag": m.sys_flag,
        "flag": m.flag,
        "reconsumeTimes": m.reconsume_times,
        "preparedTransactionOffset": m.prepared_transaction_offset,
        "bornTimestamp": m.born_timestamp,
        "storeTimestamp": m.store_timestamp,
        "bornHost": m.born_host.to_string(),
        "storeHost": m.store_host.to_string(),
        "bodyCrc": m.body_crc,
    });
    let body = record::inflate_body(m.sys_flag, m.body);
    if let Some(map) = o.as_object_mut() {
        match body.as_deref().map(std::str::from_utf8) {
            Some(Ok(s)) => {
                map.insert("body".into(), Value::String(s.to_string()));
            }
            Some(Err(_)) => {
                map.insert(
                    "bodyBase64".into(),
                    Value::String(base64(body.as_deref().unwrap_or_default())),
                );
            }
            None => {
                // A compression this build cannot inflate: give the stored bytes.
                map.insert("bodyBase64".into(), Value::String(base64(m.body)));
                map.insert("bodyCompressed".into(), Value::Bool(true));
            }
        }
    }
    o
}

fn dump(
    args: &StoreArgs,
    topic: &str,
    queue: Option<i32>,
    from: i64,
    as_json: bool,
) -> Result<ExitCode, String> {
    let (_, reader) = open(args)?;
    let Some(queues) = reader.queues.get(topic) else {
        return Err(format!(
            "no consume queue for topic {topic} in {}",
            args.dir.display()
        ));
    };
    let mut out = std::io::stdout().lock();
    for (qid, q) in queues {
        if queue.is_some_and(|want| want != *qid) {
            continue;
        }
        for off in from.max(q.min_offset())..q.max_offset() {
            let Some(u) = q.get(off) else { break };
            let Some(bytes) = reader.record_for(u) else {
                continue;
            };
            let Ok(Decoded::Message(m)) = record::decode(&bytes, false) else {
                let _ = writeln!(std::io::stderr(), "queue {qid} offset {off}: unit points at no valid record (commitlog offset {})", u.phy_offset);
                continue;
            };
            let line = if as_json {
                message_json(&m, u.phy_offset).to_string()
            } else {
                let body = record::inflate_body(m.sys_flag, m.body).unwrap_or_default();
                let text = String::from_utf8_lossy(&body);
                let preview: String = text.chars().take(60).collect();
                format!(
                    "{}\t{}\t{}\t{}\ttags={}\tkeys={}\t{}",
                    m.topic,
                    m.queue_id,
                    m.queue_offset,
                    m.offset_msg_id(),
                    m.property("TAGS").unwrap_or(""),
                    m.property("KEYS").unwrap_or(""),
                    preview
                )
            };
            if writeln!(out, "{line}").is_err() {
                return Ok(ExitCode::SUCCESS); // stdout closed (e.g. piped into head)
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn query(args: &StoreArgs, topic: &str, key: &str, max: usize) -> Result<ExitCode, String> {
    let (cfg, reader) = open(args)?;
    let offsets =
        rmqd_store::index_check::lookup(&cfg, topic, key, max).map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    let mut found = 0;
    for off in offsets {
        let Some(bytes) = reader.commitlog.record_bytes(off) else {
            continue;
        };
        let Ok(Decoded::Message(m)) = record::decode(&bytes, false) else {
            continue;
        };
        // The index matches hashes only; keep what really carries the key.
        let has_key = m.property("UNIQ_KEY") == Some(key)
            || m.property("KEYS")
                .is_some_and(|ks| ks.split(' ').any(|k| k == key));
        if m.topic != topic || !has_key {
            continue;
        }
        found += 1;
        let _ = writeln!(out, "{}", message_json(&m, off));
    }
    if found == 0 {
        let _ = writeln!(
            std::io::stderr(),
            "no message with key {key} in topic {topic}"
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                s.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                s.push('=');
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::base64;

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }
}
