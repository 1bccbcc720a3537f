//! `extFields`: the string map that carries every custom header.

use std::borrow::Cow;

/// Custom header fields in arrival order. A command holds a dozen fields at most, so a
/// vector beats a hash map and keeps encoding deterministic; inserting an existing key
/// replaces its value, matching Java's `HashMap.put` (the last duplicate wins).
///
/// Keys are nearly always one of the header names the protocol defines, so they are kept
/// as static strings where possible ([`intern`]): a send request carries a dozen fields,
/// and allocating each name per message showed up in profiles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtFields(Vec<(Cow<'static, str>, String)>);

impl ExtFields {
    pub fn new() -> Self {
        Self(Vec::new())
    }

    pub fn with_capacity(n: usize) -> Self {
        Self(Vec::with_capacity(n))
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.as_ref() == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn insert(&mut self, key: impl Into<Cow<'static, str>>, value: impl Into<String>) {
        let key = key.into();
        let value = value.into();
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<String> {
        let pos = self.0.iter().position(|(k, _)| k.as_ref() == key)?;
        Some(self.0.remove(pos).1)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_ref(), v.as_str()))
    }
}

impl FromIterator<(String, String)> for ExtFields {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        let mut m = ExtFields::new();
        for (k, v) in iter {
            m.insert(k, v);
        }
        m
    }
}

/// A received key as a static string when it is a header name rmqd knows, so storing it
/// costs nothing; anything else is copied.
pub fn intern(key: &str) -> Cow<'static, str> {
    known(key)
        .map(Cow::Borrowed)
        .unwrap_or_else(|| Cow::Owned(key.to_owned()))
}

/// [`intern`] for a key the decoder already owns: an unknown one is kept, not copied.
pub fn intern_owned(key: String) -> Cow<'static, str> {
    known(&key).map(Cow::Borrowed).unwrap_or(Cow::Owned(key))
}

fn known(key: &str) -> Option<&'static str> {
    let i = KNOWN_KEYS.binary_search(&key).ok()?;
    KNOWN_KEYS.get(i).copied()
}

/// The header names of the requests clients send most (SEND_MESSAGE_V2's one-letter names,
/// pull, offsets, heartbeat-adjacent lookups), sorted for binary search.
static KNOWN_KEYS: [&str; 41] = [
    "MSG_REGION",
    "TRACE_ON",
    "a",
    "b",
    "batch",
    "bornTimestamp",
    "c",
    "commitOffset",
    "consumerGroup",
    "d",
    "defaultTopic",
    "defaultTopicQueueNums",
    "e",
    "expressionType",
    "f",
    "flag",
    "g",
    "group",
    "h",
    "i",
    "j",
    "k",
    "l",
    "m",
    "maxMsgNums",
    "maxReconsumeTimes",
    "msgId",
    "n",
    "offset",
    "producerGroup",
    "properties",
    "queueId",
    "queueOffset",
    "reconsumeTimes",
    "subVersion",
    "subscription",
    "suspendTimeoutMillis",
    "sysFlag",
    "topic",
    "transactionId",
    "unitMode",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_keys_are_sorted_for_binary_search() {
        assert!(KNOWN_KEYS.windows(2).all(|w| w[0] < w[1]));
        assert!(matches!(intern("topic"), Cow::Borrowed("topic")));
        assert!(matches!(intern("MSG_REGION"), Cow::Borrowed(_)));
        assert!(matches!(intern("someOtherKey"), Cow::Owned(_)));
        assert!(matches!(
            intern_owned("topic".into()),
            Cow::Borrowed("topic")
        ));
        assert!(matches!(intern_owned("x".into()), Cow::Owned(_)));
    }
}
