//! Message properties as the broker rewrites them on the way into the store.
//!
//! The Java broker parses the producer's properties string into a `HashMap`, adds and
//! removes entries, and serialises the map again, so stored records carry the properties
//! in Java `HashMap` iteration order. To write records byte-identical to a Java broker's
//! we reproduce that order: entries sorted by bucket index in a table sized as Java's
//! would be, ties kept in insertion order.

pub const NAME_SEP: char = '\u{1}';
pub const PROP_SEP: char = '\u{2}';

pub mod keys {
    pub const TAGS: &str = "TAGS";
    pub const WAIT: &str = "WAIT";
    pub const DELAY: &str = "DELAY";
    pub const CLUSTER: &str = "CLUSTER";
    pub const UNIQ_KEY: &str = "UNIQ_KEY";
    pub const TRAN_MSG: &str = "TRAN_MSG";
    pub const PGROUP: &str = "PGROUP";
    pub const REAL_TOPIC: &str = "REAL_TOPIC";
    pub const REAL_QID: &str = "REAL_QID";
    pub const RETRY_TOPIC: &str = "RETRY_TOPIC";
    pub const ORIGIN_MESSAGE_ID: &str = "ORIGIN_MESSAGE_ID";
    pub const TRANSACTION_CHECK_TIMES: &str = "TRANSACTION_CHECK_TIMES";
    pub const CHECK_IMMUNITY_TIME_IN_SECONDS: &str = "CHECK_IMMUNITY_TIME_IN_SECONDS";
}

pub use rmqd_store::java::string_hash as java_string_hash;

/// A properties map that remembers insertion order and how large it ever grew, which is
/// what decides Java's iteration order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties {
    entries: Vec<(String, String)>,
    peak: usize,
}

impl Properties {
    /// Parse `name\x01value\x02…` leniently: empty or malformed pairs are skipped, as
    /// `MessageDecoder.string2messageProperties` does.
    pub fn parse(s: &str) -> Self {
        let mut p = Properties::default();
        for pair in s.split(PROP_SEP) {
            if let Some((k, v)) = pair.split_once(NAME_SEP) {
                if !k.is_empty() {
                    p.insert(k, v);
                }
            }
        }
        p
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn insert(&mut self, key: &str, value: &str) {
        match self.entries.iter_mut().find(|(k, _)| k == key) {
            Some(e) => e.1 = value.to_owned(),
            None => {
                self.entries.push((key.to_owned(), value.to_owned()));
                self.peak = self.peak.max(self.entries.len());
            }
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<String> {
        let i = self.entries.iter().position(|(k, _)| k == key)?;
        Some(self.entries.remove(i).1)
    }

    /// Serialise in Java `HashMap` iteration order, without a trailing separator.
    pub fn encode_java_order(&self) -> String {
        let mut cap = 16usize;
        // Java resizes once size exceeds 3/4 of the table.
        while self.peak * 4 > cap * 3 {
            cap *= 2;
        }
        let bucket = |k: &str| {
            let h = java_string_hash(k) as u32;
            ((h ^ (h >> 16)) as usize) & (cap - 1)
        };
        let mut order: Vec<(usize, usize)> = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, (k, _))| (bucket(k), i))
            .collect();
        order.sort_unstable();
        let mut out = String::with_capacity(
            self.entries
                .iter()
                .map(|(k, v)| k.len() + v.len() + 2)
                .sum(),
        );
        for (n, (_, i)) in order.into_iter().enumerate() {
            if n > 0 {
                out.push(PROP_SEP);
            }
            let (k, v) = &self.entries[i];
            out.push_str(k);
            out.push(NAME_SEP);
            out.push_str(v);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_matches_java() {
        assert_eq!(java_string_hash("TagA"), 2598919);
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("hello world"), 1794106052);
    }

    #[test]
    fn order_matches_a_java_4_9_8_stored_record() {
        // Producer string as sent (wire fixture), then the broker adds CLUSTER and drops
        // WAIT; the stored record (pull body in the same capture) reads as below.
        let mut p = Properties::parse(
            "KEYS\u{1}wkey-1\u{2}up\u{1}v1\u{2}UNIQ_KEY\u{1}FD00000000000000000000000000000270805FFD2B276EB6F0DF0001\u{2}WAIT\u{1}true\u{2}TAGS\u{1}TagW",
        );
        p.insert(keys::CLUSTER, "DefaultCluster");
        p.remove(keys::WAIT);
        assert_eq!(
            p.encode_java_order(),
            "KEYS\u{1}wkey-1\u{2}up\u{1}v1\u{2}UNIQ_KEY\u{1}FD00000000000000000000000000000270805FFD2B276EB6F0DF0001\u{2}CLUSTER\u{1}DefaultCluster\u{2}TAGS\u{1}TagW"
        );
    }

    #[test]
    fn malformed_pairs_are_skipped() {
        let p = Properties::parse("\u{2}noval\u{2}\u{1}x\u{2}a\u{1}b\u{2}");
        assert_eq!(p.encode_java_order(), "a\u{1}b");
        assert_eq!(p.get("a"), Some("b"));
    }

    proptest::proptest! {
        /// Properties come from clients and from stored records: any text parses.
        #[test]
        fn arbitrary_text_parses(text in "\\PC{0,200}") {
            let p = Properties::parse(&text);
            let _ = p.encode_java_order();
        }

        /// What rmqd writes reads back as the same pairs.
        #[test]
        fn encoded_properties_read_back(
            pairs in proptest::collection::btree_map("[A-Za-z_]{1,12}", "[ -~]{0,16}", 0..12)
        ) {
            let mut p = Properties::default();
            for (k, v) in &pairs {
                p.insert(k, v);
            }
            let back = Properties::parse(&p.encode_java_order());
            for (k, v) in &pairs {
                proptest::prop_assert_eq!(back.get(k), Some(v.as_str()));
            }
            proptest::prop_assert_eq!(back.encode_java_order(), p.encode_java_order());
        }
    }
}
