//! The broker's `config/*.json` files (topics, subscription groups, consumer offsets), in
//! the Java broker's format so that either broker can take over the store directory.
//! Each file has one writer; a save renders its snapshot inside that writer's lock, so
//! the newest table is the one that stays on disk.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use rmqd_remoting::body::topic::{DataVersion, TopicConfigSerializeWrapper};
use rmqd_store::config_file::ConfigFile;
use rmqd_store::fastjson::{self as config_json, DelayOffsetTable, JsonOut, Key, OffsetTable};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::groups::GroupConfig;

pub struct ConfigFiles {
    topics: Arc<ConfigFile>,
    groups: Arc<ConfigFile>,
    offsets: Arc<ConfigFile>,
    delay_offsets: Arc<ConfigFile>,
}

/// `SubscriptionGroupWrapper`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct GroupsFile {
    data_version: DataVersion,
    subscription_group_table: BTreeMap<String, GroupConfig>,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

/// Converts JSON to the printer's ordered form (object keys as strings, in order).
fn to_out(v: &Value) -> JsonOut {
    match v {
        Value::Null => JsonOut::Null,
        Value::Bool(b) => JsonOut::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => JsonOut::Int(i),
            None => JsonOut::Str(n.to_string()),
        },
        Value::String(s) => JsonOut::Str(s.clone()),
        Value::Array(a) => JsonOut::Arr(a.iter().map(to_out).collect()),
        Value::Object(m) => JsonOut::Obj(
            m.iter()
                .map(|(k, v)| (Key::Str(k.clone()), to_out(v)))
                .collect(),
        ),
    }
}

/// Encodes through serde into fastjson's pretty layout; `None` (logged) when it cannot.
fn encode(file: &ConfigFile, v: &impl Serialize) -> Option<String> {
    match serde_json::to_value(v) {
        Ok(v) => Some(config_json::to_fastjson_pretty(&to_out(&v))),
        Err(e) => {
            tracing::error!(file = %file.path().display(), error = %e, "cannot encode config file");
            None
        }
    }
}

impl ConfigFiles {
    pub fn new(store_root: &Path) -> Self {
        let dir = store_root.join("config");
        ConfigFiles {
            topics: ConfigFile::open(&dir.join("topics.json")),
            groups: ConfigFile::open(&dir.join("subscriptionGroup.json")),
            offsets: ConfigFile::open(&dir.join("consumerOffset.json")),
            delay_offsets: ConfigFile::open(&dir.join("delayOffset.json")),
        }
    }

    fn load(file: &ConfigFile) -> Option<Value> {
        match file.load() {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(file = %file.path().display(), error = %e, "config file unreadable; starting with an empty table");
                None
            }
        }
    }

    /// Blocks until the file holds a snapshot taken after this call began (or logs why
    /// not); on a runtime worker the worker's other tasks move elsewhere meanwhile.
    fn save(file: &ConfigFile, render: impl FnOnce() -> Option<String>) {
        if let Err(e) = file.persist_with(render) {
            tracing::error!(error = %e, "cannot write config file");
        }
    }

    pub fn load_topics(&self) -> Option<TopicConfigSerializeWrapper> {
        let v = Self::load(&self.topics)?;
        match serde_json::from_value(v) {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::error!(error = %e, "topics.json does not hold topic configs; ignored");
                None
            }
        }
    }

    /// `snapshot` runs inside the file's lock (see the module comment).
    pub fn save_topics(&self, snapshot: impl FnOnce() -> TopicConfigSerializeWrapper) {
        let file = &self.topics;
        Self::save(file, || encode(file, &snapshot()));
    }

    /// The groups and the data version they were saved with.
    pub fn load_groups_versioned(&self) -> (BTreeMap<String, GroupConfig>, Option<DataVersion>) {
        let Some(v) = Self::load(&self.groups) else {
            return (BTreeMap::new(), None);
        };
        match serde_json::from_value::<GroupsFile>(v) {
            Ok(f) => (f.subscription_group_table, Some(f.data_version)),
            Err(e) => {
                tracing::error!(error = %e, "subscriptionGroup.json unreadable; ignored");
                (BTreeMap::new(), None)
            }
        }
    }

    pub fn save_groups(
        &self,
        snapshot: impl FnOnce() -> (DataVersion, BTreeMap<String, GroupConfig>),
    ) {
        let file = &self.groups;
        Self::save(file, || {
            let (data_version, groups) = snapshot();
            let wrapper = GroupsFile {
                data_version,
                subscription_group_table: groups,
                other: BTreeMap::new(),
            };
            encode(file, &wrapper)
        });
    }

    pub fn load_offsets(&self) -> BTreeMap<String, BTreeMap<i32, i64>> {
        let Some(v) = Self::load(&self.offsets) else {
            return BTreeMap::new();
        };
        match OffsetTable::from_json(&v) {
            Ok(t) => t.0,
            Err(e) => {
                tracing::error!(error = %e, "consumerOffset.json unreadable; ignored");
                BTreeMap::new()
            }
        }
    }

    pub fn save_offsets(&self, snapshot: impl FnOnce() -> BTreeMap<String, BTreeMap<i32, i64>>) {
        Self::save(&self.offsets, || {
            Some(OffsetTable(snapshot()).to_json_string())
        });
    }

    pub fn load_delay_offsets(&self) -> BTreeMap<i32, i64> {
        let Some(v) = Self::load(&self.delay_offsets) else {
            return BTreeMap::new();
        };
        match DelayOffsetTable::from_json(&v) {
            Ok(t) => t.0,
            Err(e) => {
                tracing::error!(error = %e, "delayOffset.json unreadable; ignored");
                BTreeMap::new()
            }
        }
    }

    pub fn save_delay_offsets(&self, snapshot: impl FnOnce() -> BTreeMap<i32, i64>) {
        Self::save(&self.delay_offsets, || {
            Some(DelayOffsetTable(snapshot()).to_json_string())
        });
    }
}
