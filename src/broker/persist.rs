//! The broker's `config/*.json` files (topics, subscription groups, consumer offsets), in
//! the Java broker's format so that either broker can take over the store directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rmqd_remoting::body::topic::{DataVersion, TopicConfigSerializeWrapper};
use rmqd_store::fastjson::{self as config_json, DelayOffsetTable, JsonOut, Key, OffsetTable};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::groups::GroupConfig;

pub struct ConfigFiles {
    dir: PathBuf,
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

impl ConfigFiles {
    pub fn new(store_root: &Path) -> Self {
        ConfigFiles {
            dir: store_root.join("config"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn load(&self, name: &str) -> Option<Value> {
        match config_json::load(&self.path(name)) {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(file = name, error = %e, "config file unreadable; starting with an empty table");
                None
            }
        }
    }

    fn save(&self, name: &str, text: &str) {
        if let Err(e) = std::fs::create_dir_all(&self.dir) {
            tracing::error!(dir = %self.dir.display(), error = %e, "cannot create the config directory");
            return;
        }
        if let Err(e) = config_json::persist(&self.path(name), text) {
            tracing::error!(file = name, error = %e, "cannot write config file");
        }
    }

    fn save_value(&self, name: &str, v: &impl Serialize) {
        match serde_json::to_value(v) {
            Ok(v) => self.save(name, &config_json::to_fastjson_pretty(&to_out(&v))),
            Err(e) => tracing::error!(file = name, error = %e, "cannot encode config file"),
        }
    }

    pub fn load_topics(&self) -> Option<TopicConfigSerializeWrapper> {
        let v = self.load("topics.json")?;
        match serde_json::from_value(v) {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::error!(error = %e, "topics.json does not hold topic configs; ignored");
                None
            }
        }
    }

    pub fn save_topics(&self, t: &TopicConfigSerializeWrapper) {
        self.save_value("topics.json", t);
    }

    pub fn load_groups(&self) -> BTreeMap<String, GroupConfig> {
        let Some(v) = self.load("subscriptionGroup.json") else {
            return BTreeMap::new();
        };
        match serde_json::from_value::<GroupsFile>(v) {
            Ok(f) => f.subscription_group_table,
            Err(e) => {
                tracing::error!(error = %e, "subscriptionGroup.json unreadable; ignored");
                BTreeMap::new()
            }
        }
    }

    pub fn save_groups(&self, groups: &BTreeMap<String, GroupConfig>) {
        let file = GroupsFile {
            data_version: DataVersion {
                counter: groups.len() as i64,
                timestamp: super::context::now_ms(),
                ..Default::default()
            },
            subscription_group_table: groups.clone(),
            other: BTreeMap::new(),
        };
        self.save_value("subscriptionGroup.json", &file);
    }

    pub fn load_offsets(&self) -> BTreeMap<String, BTreeMap<i32, i64>> {
        let Some(v) = self.load("consumerOffset.json") else {
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

    pub fn save_offsets(&self, offsets: &BTreeMap<String, BTreeMap<i32, i64>>) {
        self.save(
            "consumerOffset.json",
            &OffsetTable(offsets.clone()).to_json_string(),
        );
    }

    pub fn load_delay_offsets(&self) -> BTreeMap<i32, i64> {
        let Some(v) = self.load("delayOffset.json") else {
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

    pub fn save_delay_offsets(&self, offsets: &BTreeMap<i32, i64>) {
        self.save(
            "delayOffset.json",
            &DelayOffsetTable(offsets.clone()).to_json_string(),
        );
    }
}
