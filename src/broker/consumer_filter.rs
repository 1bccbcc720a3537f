//! The SQL92 subscriptions consumer groups registered through heartbeats, compiled once
//! per subscription version (Java's `ConsumerFilterManager`), and a small cache of
//! compiled expressions for pulls that carry their own (`SelectorParser`'s parse cache
//! of 100 entries, failures included).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use rmqd_remoting::body::client::SubscriptionData;
use rmqd_remoting::sql92::{CompileError, Selector, SQL92};

/// `filterDataCleanTimeSpan`: filter data of a gone consumer is forgotten after this.
const DEAD_DATA_KEPT: Duration = Duration::from_secs(24 * 3600);
/// `SelectorParser.PARSE_CACHE` holds this many expressions.
const PARSE_CACHE_SIZE: usize = 100;

/// `ExpressionType.isTagType`: no type, an empty one or `TAG`.
pub fn is_tag_type(expression_type: &str) -> bool {
    expression_type.is_empty() || expression_type == "TAG"
}

/// Why an expression of a non-tag type cannot be used.
#[derive(Debug, Clone)]
pub enum BuildError {
    /// A type `FilterFactory` has no filter for (Java fails with a null remark).
    UnknownType,
    Compile(CompileError),
}

/// `ConsumerFilterData`: one group's filter on one topic.
#[derive(Debug, Clone)]
pub struct FilterData {
    pub expression: String,
    pub expression_type: String,
    /// The subscription version it was registered under (`clientVersion`).
    pub client_version: i64,
    pub selector: Arc<Selector>,
    dead_since: Option<Instant>,
}

type Compiled = Result<Arc<Selector>, CompileError>;

#[derive(Default)]
struct ParseCache {
    entries: HashMap<String, Compiled>,
    order: VecDeque<String>,
}

#[derive(Default)]
pub struct ConsumerFilters {
    /// topic → group → filter.
    by_topic: RwLock<HashMap<String, HashMap<String, FilterData>>>,
    cache: Mutex<ParseCache>,
}

impl ConsumerFilters {
    /// `FilterFactory.get(type).compile(expression)`, through the parse cache.
    pub fn compile(
        &self,
        expression_type: &str,
        expression: &str,
    ) -> Result<Arc<Selector>, BuildError> {
        if expression_type != SQL92 {
            return Err(BuildError::UnknownType);
        }
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(hit) = cache.entries.get(expression) {
            return hit.clone().map_err(BuildError::Compile);
        }
        let compiled = Selector::compile(expression).map(Arc::new);
        if cache.order.len() >= PARSE_CACHE_SIZE {
            if let Some(old) = cache.order.pop_front() {
                cache.entries.remove(&old);
            }
        }
        cache.order.push_back(expression.to_owned());
        cache
            .entries
            .insert(expression.to_owned(), compiled.clone());
        compiled.map_err(BuildError::Compile)
    }

    /// `ConsumerFilterManager.register(group, subList)`, on every heartbeat: new or
    /// changed expressions of a newer version are compiled (a failed one removes the
    /// old filter, so pulls report FILTER_DATA_NOT_EXIST); the group's topics that are
    /// no longer subscribed are marked dead.
    pub fn register_group(&self, group: &str, subs: &[SubscriptionData]) {
        let any_sql = subs
            .iter()
            .any(|s| !is_tag_type(&s.expression_type) && !s.sub_string.is_empty());
        // The common heartbeat (tags only, no filter on record) takes no write lock.
        if !any_sql && !self.read().values().any(|g| g.contains_key(group)) {
            return;
        }
        let now = Instant::now();
        for sub in subs {
            if is_tag_type(&sub.expression_type) || sub.sub_string.is_empty() {
                continue;
            }
            self.register(&sub.topic, group, sub);
        }
        let mut table = self.write();
        for (topic, groups) in table.iter_mut() {
            if let Some(data) = groups.get_mut(group) {
                if data.dead_since.is_none() && !subs.iter().any(|s| &s.topic == topic) {
                    tracing::info!(
                        group,
                        topic,
                        "consumer filter of an unsubscribed topic marked dead"
                    );
                    data.dead_since = Some(now);
                }
            }
        }
        Self::purge(&mut table, now);
    }

    fn register(&self, topic: &str, group: &str, sub: &SubscriptionData) {
        let (expr, ty, version) = (&sub.sub_string, &sub.expression_type, sub.sub_version);
        let unchanged = {
            let table = self.read();
            match table.get(topic).and_then(|g| g.get(group)) {
                Some(old) if version <= old.client_version => {
                    if &old.expression != expr || &old.expression_type != ty {
                        tracing::info!(
                            group,
                            topic,
                            version,
                            old = old.client_version,
                            "consumer filter of an older version ignored"
                        );
                    }
                    if version < old.client_version || old.dead_since.is_none() {
                        return;
                    }
                    true
                }
                Some(old) => &old.expression == expr && &old.expression_type == ty,
                None => false,
            }
        };
        let mut table = self.write();
        let groups = table.entry(topic.to_owned()).or_default();
        if unchanged {
            if let Some(old) = groups.get_mut(group) {
                old.client_version = old.client_version.max(version);
                old.dead_since = None;
                return;
            }
        }
        // Compiled under the table lock so two heartbeats cannot interleave; compiling
        // is bounded (the expression's size) and usually a parse-cache hit.
        match self.compile(ty, expr) {
            Ok(selector) => {
                tracing::info!(group, topic, expression = %expr, version, "consumer filter registered");
                groups.insert(
                    group.to_owned(),
                    FilterData {
                        expression: expr.clone(),
                        expression_type: ty.clone(),
                        client_version: version,
                        selector,
                        dead_since: None,
                    },
                );
            }
            Err(e) => {
                tracing::warn!(group, topic, expression = %expr, error = ?e, "consumer filter does not compile");
                groups.remove(group);
            }
        }
    }

    /// The group's registered filter on `topic`, dead or alive (`ConsumerFilterManager.get`).
    pub fn get(&self, topic: &str, group: &str) -> Option<FilterData> {
        self.read().get(topic)?.get(group).cloned()
    }

    /// Marks dead the filters of groups that have no consumer left (`unRegister`).
    pub fn sweep(&self, alive: impl Fn(&str) -> bool) {
        // Called on every disconnect: nothing to do for brokers without SQL92 consumers.
        if self.read().is_empty() {
            return;
        }
        let now = Instant::now();
        let mut table = self.write();
        for groups in table.values_mut() {
            for (group, data) in groups.iter_mut() {
                if data.dead_since.is_none() && !alive(group) {
                    data.dead_since = Some(now);
                }
            }
        }
        Self::purge(&mut table, now);
    }

    fn purge(table: &mut HashMap<String, HashMap<String, FilterData>>, now: Instant) {
        for groups in table.values_mut() {
            groups.retain(|_, d| {
                d.dead_since
                    .is_none_or(|t| now.saturating_duration_since(t) < DEAD_DATA_KEPT)
            });
        }
        table.retain(|_, groups| !groups.is_empty());
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, HashMap<String, FilterData>>> {
        self.by_topic.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(
        &self,
    ) -> std::sync::RwLockWriteGuard<'_, HashMap<String, HashMap<String, FilterData>>> {
        self.by_topic.write().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(topic: &str, expr: &str, version: i64) -> SubscriptionData {
        SubscriptionData {
            topic: topic.into(),
            sub_string: expr.into(),
            expression_type: SQL92.into(),
            sub_version: version,
            ..Default::default()
        }
    }

    #[test]
    fn compiled_once_per_version_like_java() {
        let f = ConsumerFilters::default();
        f.register_group("G", &[sub("T", "a = 1", 10)]);
        let first = f.get("T", "G").unwrap();
        assert_eq!(first.client_version, 10);
        // Same expression, newer version: the compiled selector is kept.
        f.register_group("G", &[sub("T", "a = 1", 11)]);
        let again = f.get("T", "G").unwrap();
        assert_eq!(again.client_version, 11);
        assert!(Arc::ptr_eq(&first.selector, &again.selector));
        // An older version changes nothing.
        f.register_group("G", &[sub("T", "a = 2", 5)]);
        assert_eq!(f.get("T", "G").unwrap().expression, "a = 1");
        // A newer, changed expression replaces it; a broken one removes it.
        f.register_group("G", &[sub("T", "a = 2", 12)]);
        assert_eq!(f.get("T", "G").unwrap().expression, "a = 2");
        f.register_group("G", &[sub("T", "a = ", 13)]);
        assert!(f.get("T", "G").is_none());
        // Tag subscriptions are not filter data.
        let mut tag = sub("U", "TagA", 1);
        tag.expression_type = "TAG".into();
        f.register_group("G", &[tag]);
        assert!(f.get("U", "G").is_none());
    }

    #[test]
    fn dead_filters_stay_readable() {
        let f = ConsumerFilters::default();
        f.register_group("G", &[sub("T", "a = 1", 1), sub("U", "b = 1", 1)]);
        f.register_group("G", &[sub("T", "a = 1", 2)]);
        assert!(f.get("U", "G").is_some_and(|d| d.dead_since.is_some()));
        f.sweep(|_| false);
        assert!(f.get("T", "G").is_some_and(|d| d.dead_since.is_some()));
        // Coming back under the same version revives it.
        f.register_group("G", &[sub("T", "a = 1", 2)]);
        assert!(f.get("T", "G").is_some_and(|d| d.dead_since.is_none()));
    }

    #[test]
    fn parse_cache_is_bounded_and_keeps_failures() {
        let f = ConsumerFilters::default();
        for i in 0..(PARSE_CACHE_SIZE * 3) {
            let _ = f.compile(SQL92, &format!("a = {i}"));
        }
        assert_eq!(f.cache.lock().unwrap().entries.len(), PARSE_CACHE_SIZE);
        assert!(matches!(
            f.compile(SQL92, "a ="),
            Err(BuildError::Compile(_))
        ));
        assert!(matches!(
            f.compile(SQL92, "a ="),
            Err(BuildError::Compile(_))
        ));
        assert!(matches!(
            f.compile("FOO", "a = 1"),
            Err(BuildError::UnknownType)
        ));
    }
}
