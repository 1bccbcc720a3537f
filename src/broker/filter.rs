//! Tag filtering: subscriptions as the Java client builds them (`FilterAPI`), and the
//! broker's pre-filter on the consume queue's tag hash codes. SQL92 subscriptions are
//! kept whole here and evaluated by `message_filter`.

use std::collections::BTreeSet;

use rmqd_remoting::body::client::SubscriptionData;

use super::properties::java_string_hash;

pub const SUB_ALL: &str = "*";

/// Build a subscription from an expression such as `TagA || TagB` or `*`.
pub fn build_subscription(
    topic: &str,
    expression: &str,
    expression_type: Option<&str>,
) -> SubscriptionData {
    let mut sub = SubscriptionData {
        topic: topic.to_owned(),
        expression_type: expression_type.unwrap_or("TAG").to_owned(),
        ..Default::default()
    };
    if !matches!(expression_type, None | Some("TAG" | "")) {
        // `FilterAPI.build`: other types (SQL92) keep the expression whole, untrimmed.
        sub.sub_string = expression.to_owned();
        return sub;
    }
    let expr = expression.trim();
    if expr.is_empty() || expr == SUB_ALL {
        sub.sub_string = SUB_ALL.into();
        return sub;
    }
    sub.sub_string = expr.to_owned();
    let tags: BTreeSet<String> = expr
        .split("||")
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    sub.code_set = tags.iter().map(|t| java_string_hash(t)).collect();
    sub.tags_set = tags;
    sub
}

/// Whether a consume-queue entry with `tags_code` can match. Subscriptions to everything,
/// and those whose client sent no code set, take every message.
pub fn matches(sub: &SubscriptionData, tags_code: i64) -> bool {
    if sub.sub_string == SUB_ALL || sub.sub_string.is_empty() || sub.code_set.is_empty() {
        return true;
    }
    i32::try_from(tags_code)
        .map(|c| sub.code_set.contains(&c))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_wildcards() {
        let all = build_subscription("T", "*", None);
        assert!(matches(&all, 12345));
        let ab = build_subscription("T", "TagA || TagB ||", None);
        assert_eq!(ab.tags_set.len(), 2);
        assert!(matches(&ab, i64::from(java_string_hash("TagA"))));
        assert!(!matches(&ab, i64::from(java_string_hash("TagC"))));
        assert!(!matches(&ab, 0), "untagged messages only go to *");
        let sql = build_subscription("T", "a || b", Some("SQL92"));
        assert!(sql.tags_set.is_empty() && sql.sub_string == "a || b");
    }
}
