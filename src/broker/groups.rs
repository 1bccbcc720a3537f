//! Subscription groups (`SubscriptionGroupManager`): per-group consume settings, created on
//! first use when `autoCreateSubscriptionGroup` is on.

use std::collections::BTreeMap;
use std::sync::Mutex;

use rmqd_remoting::body::topic::DataVersion;
use serde::{Deserialize, Serialize};

/// `SubscriptionGroupConfig` with Java's defaults; unknown (5.x) properties are kept so a
/// file written by a newer Java broker survives a round trip through rmqd.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct GroupConfig {
    pub broker_id: i64,
    pub consume_broadcast_enable: bool,
    pub consume_enable: bool,
    pub consume_from_min_enable: bool,
    pub group_name: String,
    pub notify_consumer_ids_changed_enable: bool,
    pub retry_max_times: i32,
    pub retry_queue_nums: i32,
    pub which_broker_when_consume_slowly: i64,
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            broker_id: 0,
            consume_broadcast_enable: true,
            consume_enable: true,
            consume_from_min_enable: true,
            group_name: String::new(),
            notify_consumer_ids_changed_enable: true,
            retry_max_times: 16,
            retry_queue_nums: 1,
            which_broker_when_consume_slowly: 1,
            other: BTreeMap::new(),
        }
    }
}

/// Groups every Java 4.9.8 broker knows from the start (`SubscriptionGroupManager.init`).
const SYSTEM_GROUPS: [&str; 7] = [
    "TOOLS_CONSUMER",
    "FILTERSRV_CONSUMER",
    "SELF_TEST_C_GROUP",
    "CID_ONS-HTTP-PROXY",
    "CID_ONSAPI_PULL",
    "CID_ONSAPI_PERMISSION",
    "CID_ONSAPI_OWNER",
];

pub struct Groups {
    table: Mutex<BTreeMap<String, GroupConfig>>,
    auto_create: bool,
    /// Bumped on every change (`SubscriptionGroupManager.dataVersion`): a slave copies
    /// the master's table only when it differs.
    version: Mutex<DataVersion>,
}

impl Groups {
    pub fn new(auto_create: bool, loaded: BTreeMap<String, GroupConfig>) -> Self {
        let mut table = loaded;
        for g in SYSTEM_GROUPS {
            table.entry(g.to_owned()).or_insert_with(|| GroupConfig {
                group_name: g.to_owned(),
                ..Default::default()
            });
        }
        Groups {
            table: Mutex::new(table),
            auto_create,
            version: Mutex::new(DataVersion {
                timestamp: super::context::now_ms(),
                ..Default::default()
            }),
        }
    }

    /// Like [`Groups::new`], keeping the data version loaded with the table.
    pub fn with_version(
        auto_create: bool,
        loaded: BTreeMap<String, GroupConfig>,
        version: Option<DataVersion>,
    ) -> Self {
        let g = Self::new(auto_create, loaded);
        if let Some(v) = version {
            *g.version_lock() = v;
        }
        g
    }

    fn version_lock(&self) -> std::sync::MutexGuard<'_, DataVersion> {
        self.version.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn bump(&self) {
        let mut v = self.version_lock();
        v.counter += 1;
        v.timestamp = super::context::now_ms();
    }

    pub fn data_version(&self) -> DataVersion {
        self.version_lock().clone()
    }

    /// A slave's copy of its master's groups (`syncSubscriptionGroupConfig`): the whole
    /// table and its version, only when the version differs. Returns whether taken.
    pub fn replace_from_master(
        &self,
        version: DataVersion,
        table: BTreeMap<String, GroupConfig>,
    ) -> bool {
        let mut v = self.version_lock();
        if *v == version {
            return false;
        }
        *self.lock() = table;
        *v = version;
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, GroupConfig>> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The group's config, created with defaults if allowed. The flag says whether it was
    /// created now (the caller persists).
    pub fn find_or_create(&self, group: &str) -> (Option<GroupConfig>, bool) {
        let mut t = self.lock();
        if let Some(g) = t.get(group) {
            return (Some(g.clone()), false);
        }
        if !self.auto_create {
            return (None, false);
        }
        let g = GroupConfig {
            group_name: group.to_owned(),
            ..Default::default()
        };
        t.insert(group.to_owned(), g.clone());
        drop(t);
        self.bump();
        tracing::info!(group, "auto-created subscription group");
        (Some(g), true)
    }

    pub fn get(&self, group: &str) -> Option<GroupConfig> {
        self.lock().get(group).cloned()
    }

    pub fn update(&self, cfg: GroupConfig) {
        self.lock().insert(cfg.group_name.clone(), cfg);
        self.bump();
    }

    pub fn delete(&self, group: &str) -> bool {
        let removed = self.lock().remove(group).is_some();
        if removed {
            self.bump();
        }
        removed
    }

    pub fn snapshot(&self) -> BTreeMap<String, GroupConfig> {
        self.lock().clone()
    }
}
