//! Name-server KV configuration (namespaces of key/value pairs), kept in
//! `kvConfig.json` as `{"configTable":{namespace:{key:value}}}` like the Java name server.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct KvFile {
    config_table: BTreeMap<String, BTreeMap<String, String>>,
}

pub struct KvConfig {
    path: Option<PathBuf>,
    table: BTreeMap<String, BTreeMap<String, String>>,
}

impl KvConfig {
    /// Load from `path`; a missing file is an empty table, an unreadable one is logged and
    /// treated as empty rather than stopping the name server.
    pub fn load(path: Option<PathBuf>) -> Self {
        let table = path
            .as_ref()
            .and_then(|p| match std::fs::read(p) {
                Ok(bytes) => match serde_json::from_slice::<KvFile>(&bytes) {
                    Ok(f) => Some(f.config_table),
                    Err(e) => {
                        tracing::warn!(path = %p.display(), error = %e, "ignoring unreadable KV config");
                        None
                    }
                },
                Err(_) => None,
            })
            .unwrap_or_default();
        KvConfig { path, table }
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

    fn persist(&self) {
        let Some(path) = &self.path else { return };
        let file = KvFile {
            config_table: self.table.clone(),
        };
        let result = (|| -> std::io::Result<()> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = path.with_extension("json.tmp");
            std::fs::write(&tmp, serde_json::to_vec_pretty(&file)?)?;
            std::fs::rename(&tmp, path)
        })();
        if let Err(e) = result {
            tracing::error!(path = %path.display(), error = %e, "cannot persist KV config");
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
