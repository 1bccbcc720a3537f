//! Index lookups and checks for the read-only store tools.

use crate::config::StoreConfig;
use crate::index_file::{IndexConfig, IndexError, IndexService};
use crate::reader::{Problem, StoreReader};
use crate::record::{self, Decoded};

fn open(cfg: &StoreConfig) -> Result<IndexService, IndexError> {
    IndexService::open_read_only(
        &cfg.index_path(),
        IndexConfig {
            max_hash_slot_num: cfg.max_hash_slot_num,
            max_index_num: cfg.max_index_num,
        },
    )
}

/// Commit-log offsets the index holds for `topic#key` (hash matches: callers re-check).
pub fn lookup(
    cfg: &StoreConfig,
    topic: &str,
    key: &str,
    max: usize,
) -> Result<Vec<i64>, IndexError> {
    Ok(open(cfg)?.query(topic, key, max, 0, i64::MAX).phy_offsets)
}

#[derive(Debug, Default)]
pub struct IndexCheck {
    pub files: usize,
    pub keys_checked: u64,
    pub problems: Vec<Problem>,
}

/// Every key of every record the index should cover (records at or after the oldest
/// index file's first offset) must be found pointing at that record.
pub fn verify_index(cfg: &StoreConfig, reader: &StoreReader) -> IndexCheck {
    let mut out = IndexCheck::default();
    let index = match open(cfg) {
        Ok(i) => i,
        Err(e) => {
            out.problems.push(Problem {
                place: cfg.index_path().display().to_string(),
                what: e.to_string(),
            });
            return out;
        }
    };
    let files = index.files();
    out.files = files.len();
    let Some(covered_from) = files.iter().map(|f| f.begin_phy_offset).min() else {
        return out;
    };
    let covered_to = files.iter().map(|f| f.end_phy_offset).max().unwrap_or(0);
    for (off, bytes) in reader.records() {
        if off < covered_from || off > covered_to {
            continue;
        }
        let Ok(Decoded::Message(m)) = record::decode(&bytes, false) else {
            continue;
        };
        if record::sys_flag::transaction_type(m.sys_flag) == record::sys_flag::TRANSACTION_ROLLBACK
        {
            continue;
        }
        let mut keys: Vec<&str> = m
            .property("KEYS")
            .map(|k| k.split(' ').filter(|k| !k.is_empty()).collect())
            .unwrap_or_default();
        if let Some(u) = m.property("UNIQ_KEY") {
            keys.push(u);
        }
        for k in keys {
            out.keys_checked += 1;
            // An entry keeps its time in whole seconds after its file's start, so it lies
            // within the second before the record's store time: that window picks the one
            // file that should hold it (the whole index is searched only on a miss, so a
            // large store verifies in time linear in its keys).
            let ts = m.store_timestamp;
            let leads_to = |begin, end| {
                index
                    .query(m.topic, k, usize::MAX, begin, end)
                    .phy_offsets
                    .contains(&off)
            };
            if !leads_to(ts.saturating_sub(1000), ts) && !leads_to(0, i64::MAX) {
                out.problems.push(Problem {
                    place: format!("index key {}#{k}", m.topic),
                    what: format!("does not lead to the record at commitlog offset {off}"),
                });
            }
        }
    }
    out
}
