//! Name-server KV configuration (namespaces of key/value pairs), kept in
//! `kvConfig.json` as `{"configTable":{namespace:{key:value}}}` like the Java name server.
//! Saves go through the file's single writer (temp file, `.bak`, rename, fsyncs).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use rmqd_store::config_file::ConfigFile;
use serde::{Deserialize, Serialize};

#[derive(Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct KvFile {
    config_table: BTreeMap<String, BTreeMap<String, String>>,
}

pub struct KvConfig {
    file: Option<Arc<ConfigFile>>,
    table: BTreeMap<String, BTreeMap<String, String>>,
}

impl KvConfig {
    /// Load from `path`; a missing file is an empty table, an unreadable one is logged and
    /// treated as empty rather than stopping the name server.
    pub fn load(path: Option<PathBuf>) -> Self {
        let file = path.as_deref().map(ConfigFile::open);
        let table = file
            .as_ref()
            .and_then(|f| match f.load() {
                Ok(Some(v)) => match serde_json::from_value::<KvFile>(v) {
                    Ok(kv) => Some(kv.config_table),
                    Err(e) => {
                        tracing::warn!(path = %f.path().display(), error = %e, "ignoring unreadable KV config");
                        None
                    }
                },
                Ok(None) => None,
                Err(e) => {
                    tracing::warn!(error = %e, "ignoring unreadable KV config");
                    None
                }
            })
            .unwrap_or_default();
        KvConfig { file, table }
    }

    pub fn put(&mut self, ns: &str, key: &str, value: &str) {
        self.table
            .entry(ns.to_owned())
            .or_default()
            .insert(key.to_owned(), value.to_owned());
        self.persist();
    }

    pub fn get(&self, ns: &str, key: &str) -> Option<&str> {
        self.table.get(ns)?.get(key).map(String::as_str)
    }

    pub fn delete(&mut self, ns: &str, key: &str) {
        if let Some(t) = self.table.get_mut(ns) {
            t.remove(key);
        }
        self.persist();
    }

    pub fn namespace(&self, ns: &str) -> Option<&BTreeMap<String, String>> {
        self.table.get(ns)
    }

    /// Callers hold the name server's KV lock, so snapshots already come in order.
    fn persist(&self) {
        let Some(file) = &self.file else { return };
        let render = || {
            let kv = KvFile {
                config_table: self.table.clone(),
            };
            match serde_json::to_string_pretty(&kv) {
                Ok(text) => Some(text),
                Err(e) => {
                    tracing::error!(error = %e, "cannot encode KV config");
                    None
                }
            }
        };
        if let Err(e) = file.persist_with(render) {
            tracing::error!(error = %e, "cannot persist KV config");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("namesrv/kvConfig.json");
        let mut kv = KvConfig::load(Some(path.clone()));
        kv.put("ORDER_TOPIC_CONFIG", "T", "broker-a:4");
        kv.put("ns", "k", "v");
        kv.delete("ns", "k");
        let kv = KvConfig::load(Some(path));
        assert_eq!(kv.get("ORDER_TOPIC_CONFIG", "T"), Some("broker-a:4"));
        assert_eq!(kv.get("ns", "k"), None);
    }
}
