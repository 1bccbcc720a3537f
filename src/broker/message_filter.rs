//! One pull's filter, in Java's two stages: the consume-queue unit's tag hash
//! (`isMatchedByConsumeQueue`), then the stored record's properties
//! (`isMatchedByCommitLog`) for SQL92 subscriptions. With `filterSupportRetry` a pull of
//! a %RETRY% queue applies, per message, the group's filter on the topic the message
//! was first sent to (`ExpressionForRetryMessageFilter`).

use std::cell::RefCell;
use std::sync::Arc;

use rmqd_remoting::body::client::SubscriptionData;
use rmqd_remoting::sql92::{Scratch, Selector};
use rmqd_store::record;

use super::client_manage::RETRY_GROUP_TOPIC_PREFIX;
use super::consumer_filter::{is_tag_type, ConsumerFilters};
use super::filter;

/// `MessageConst.PROPERTY_RETRY_TOPIC`: the original topic of a retried message.
const RETRY_TOPIC: &str = "RETRY_TOPIC";

pub struct MessageFilter<'a> {
    sub: SubscriptionData,
    selector: Option<Arc<Selector>>,
    /// Set for %RETRY% pulls under `filterSupportRetry`: the registry and the group.
    retry: Option<(&'a ConsumerFilters, String)>,
    scratch: RefCell<Scratch>,
    /// Filters of the original topics met in this pull (usually one).
    retry_seen: RefCell<Vec<(String, Option<Arc<Selector>>)>>,
}

impl<'a> MessageFilter<'a> {
    pub fn new(
        sub: SubscriptionData,
        selector: Option<Arc<Selector>>,
        filters: &'a ConsumerFilters,
        filter_support_retry: bool,
    ) -> Self {
        let retry = filter_support_retry
            .then(|| sub.topic.strip_prefix(RETRY_GROUP_TOPIC_PREFIX))
            .flatten()
            .map(|group| (filters, group.to_owned()));
        MessageFilter {
            sub,
            selector,
            retry,
            scratch: RefCell::new(Scratch::new()),
            retry_seen: RefCell::new(Vec::new()),
        }
    }

    /// `isMatchedByConsumeQueue`: tag subscriptions by hash code; SQL92 ones pass (rmqd
    /// keeps no bloom-filter bitmaps, as Java without `enableCalcFilterBitMap`).
    pub fn by_tags_code(&self, tags_code: i64) -> bool {
        if self.sub.class_filter_mode || !is_tag_type(&self.sub.expression_type) {
            return true;
        }
        filter::matches(&self.sub, tags_code)
    }

    /// `isMatchedByCommitLog` on a stored record.
    pub fn by_record(&self, record: &[u8]) -> bool {
        if self.sub.class_filter_mode {
            return true;
        }
        let selector = match &self.retry {
            Some((filters, group)) => {
                let Some(props) = record::properties_bytes(record) else {
                    return true;
                };
                match self.retry_selector(filters, group, props) {
                    Some(s) => s,
                    None => return true,
                }
            }
            None if is_tag_type(&self.sub.expression_type) => return true,
            None => match &self.selector {
                Some(s) => s.clone(),
                None => return true,
            },
        };
        let Some(props) = record::properties_bytes(record) else {
            return false;
        };
        let matched = selector.matches_encoded(props, &mut self.scratch.borrow_mut());
        tracing::trace!(matched, "pull eval");
        matched
    }

    /// The group's filter on the retried message's original topic. A message without
    /// RETRY_TOPIC has none (Java would fail the whole pull with a NullPointerException).
    fn retry_selector(
        &self,
        filters: &ConsumerFilters,
        group: &str,
        props: &[u8],
    ) -> Option<Arc<Selector>> {
        let real_topic = rmqd_remoting::sql92::property(props, RETRY_TOPIC)?;
        let mut seen = self.retry_seen.borrow_mut();
        if let Some((_, s)) = seen.iter().find(|(t, _)| *t == real_topic) {
            return s.clone();
        }
        let s = filters.get(&real_topic, group).map(|d| d.selector);
        seen.push((real_topic.into_owned(), s.clone()));
        s
    }
}
