//! `extFields`: the string map that carries every custom header.

use std::borrow::Cow;

/// Most fields one received command may carry. Java clients send a couple of dozen at
/// most; the bound keeps one hostile header from costing more than a moment to decode.
pub const MAX_FIELDS: usize = 4096;

/// Up to this many received fields, duplicates are found by scanning: for the dozen fields
/// a real command carries that is cheaper than hashing them.
const SCAN_DEDUPE_MAX: usize = 32;

/// Custom header fields in arrival order. A command holds a dozen fields at most, so a
/// vector beats a hash map and keeps encoding deterministic; inserting an existing key
/// replaces its value, matching Java's `HashMap.put` (the last duplicate wins).
///
/// `insert` scans, so it is for the few fields a handler sets; decoders hand everything a
/// peer sent to [`ExtFields::from_pairs`], which resolves duplicates by hashing.
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
            .find(|(k, _)| same_key(k, key))
            .map(|(_, v)| v.as_str())
    }

    pub fn insert(&mut self, key: impl Into<Cow<'static, str>>, value: impl Into<String>) {
        let key = key.into();
        let value = value.into();
        match self.0.iter_mut().find(|(k, _)| same_key(k, &key)) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }

    /// Fields as received, with each repeated key kept at its first position holding its
    /// last value: what inserting them one by one gives, in time linear in their number.
    pub fn from_pairs(mut pairs: Vec<(Cow<'static, str>, String)>) -> Self {
        if pairs.len() <= SCAN_DEDUPE_MAX {
            let mut m = ExtFields::with_capacity(pairs.len());
            for (k, v) in pairs {
                m.insert(k, v);
            }
            return m;
        }
        // Where each key was first seen; std's hasher is randomly keyed, so chosen keys
        // cannot be made to collide.
        let mut first = std::collections::HashMap::with_capacity(pairs.len());
        let owner: Vec<usize> = pairs
            .iter()
            .enumerate()
            .map(|(i, (k, _))| *first.entry(k.as_ref()).or_insert(i))
            .collect();
        drop(first);
        let mut moved = false;
        for (i, &o) in owner.iter().enumerate() {
            if o != i {
                let v = std::mem::take(&mut pairs[i].1);
                pairs[o].1 = v;
                moved = true;
            }
        }
        if moved {
            let mut i = 0;
            pairs.retain(|_| {
                let keep = owner[i] == i;
                i += 1;
                keep
            });
        }
        Self(pairs)
    }

    pub fn remove(&mut self, key: &str) -> Option<String> {
        let pos = self.0.iter().position(|(k, _)| same_key(k, key))?;
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
        Self::from_pairs(
            iter.into_iter()
                .map(|(k, v)| (intern_owned(k), v))
                .collect(),
        )
    }
}

/// Key equality with the first byte compared inline: a send request's dozen one-letter
/// names all have the same length, so a plain `==` called `memcmp` for every field scanned,
/// a few per cent of the broker's CPU under load.
#[inline]
fn same_key(stored: &str, key: &str) -> bool {
    let (a, b) = (stored.as_bytes(), key.as_bytes());
    a.len() == b.len() && a.first() == b.first() && a == b
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
    // SEND_MESSAGE_V2's one-letter names, most of what a broker receives, skip the search.
    if let [c @ b'a'..=b'n'] = key.as_bytes() {
        return ONE_LETTER_KEYS.get(usize::from(c - b'a')).copied();
    }
    let i = KNOWN_KEYS.binary_search(&key).ok()?;
    KNOWN_KEYS.get(i).copied()
}

static ONE_LETTER_KEYS: [&str; 14] = [
    "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n",
];

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
        for k in ONE_LETTER_KEYS {
            assert!(KNOWN_KEYS.contains(&k));
            assert!(matches!(intern(k), Cow::Borrowed(b) if b == k));
        }
        assert!(matches!(intern("o"), Cow::Owned(_)));
        assert!(matches!(intern("topic"), Cow::Borrowed("topic")));
        assert!(matches!(intern("MSG_REGION"), Cow::Borrowed(_)));
        assert!(matches!(intern("someOtherKey"), Cow::Owned(_)));
        assert!(matches!(
            intern_owned("topic".into()),
            Cow::Borrowed("topic")
        ));
        assert!(matches!(intern_owned("x".into()), Cow::Owned(_)));
    }

    fn one_by_one(pairs: &[(String, String)]) -> ExtFields {
        let mut m = ExtFields::new();
        for (k, v) in pairs {
            m.insert(k.clone(), v.clone());
        }
        m
    }

    #[test]
    fn many_fields_resolve_duplicates_like_insert() {
        // Past the scanning threshold, with repeats of early, late and known keys.
        let mut pairs: Vec<(String, String)> = (0..500)
            .map(|i| (format!("k{}", i % 300), format!("v{i}")))
            .collect();
        pairs.push(("topic".into(), "first".into()));
        pairs.push(("k0".into(), "last".into()));
        pairs.push(("topic".into(), "second".into()));
        let got: ExtFields = pairs.iter().cloned().collect();
        assert_eq!(got, one_by_one(&pairs));
        assert_eq!(got.len(), 301);
        assert_eq!(got.get("k0"), Some("last"));
        assert_eq!(got.get("k299"), Some("v299"));
        assert_eq!(got.get("k1"), Some("v301"));
        assert_eq!(got.get("topic"), Some("second"));
        assert_eq!(got.iter().next(), Some(("k0", "last")));
    }

    proptest::proptest! {
        /// Whatever the count and repeats, decoding order and "last duplicate wins" are
        /// those of inserting one field after another.
        #[test]
        fn from_pairs_equals_inserting_in_order(
            pairs in proptest::collection::vec(("[a-e]{1,2}", "[0-9]{0,3}"), 0..120)
        ) {
            let got: ExtFields = pairs.iter().cloned().collect();
            proptest::prop_assert_eq!(got, one_by_one(&pairs));
        }
    }
}
