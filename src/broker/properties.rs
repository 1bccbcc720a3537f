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

/// Longest properties string a message may carry: the record stores its length in 16
/// bits, and Java refuses longer ones (`DefaultMessageStore.checkMessage`).
pub const MAX_LEN: usize = rmqd_store::record::MAX_PROPERTIES_LEN;

/// Up to this many pairs, repeated names are found by scanning, which for the handful
/// of properties a message carries is cheaper than hashing.
const SCAN_DEDUPE_MAX: usize = 32;

/// A producer's properties string longer than [`MAX_LEN`] bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLong(pub usize);

/// [`Properties::parse`] for a string a producer sent: one too long for a record is
/// refused before any work is spent on it.
pub fn parse_from_client(s: &str) -> Result<Properties, TooLong> {
    if s.len() > MAX_LEN {
        return Err(TooLong(s.len()));
    }
    Ok(Properties::parse(s))
}

/// A properties map that remembers insertion order and how large it ever grew, which is
/// what decides Java's iteration order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties {
    entries: Vec<(String, String)>,
    peak: usize,
}

impl Properties {
    /// Parse `name\x01value\x02…` leniently: empty or malformed pairs are skipped, as
    /// `MessageDecoder.string2messageProperties` does, and a repeated name keeps its
    /// first position with its last value, as `HashMap.put` leaves it.
    ///
    /// Linear in the text: a string of a few thousand tiny pairs must not cost a
    /// comparison of every name with every other (see [`parse_from_client`] for the
    /// length bound on what producers send).
    pub fn parse(s: &str) -> Self {
        let pairs: Vec<(&str, &str)> = s
            .split(PROP_SEP)
            .filter_map(|pair| pair.split_once(NAME_SEP))
            .filter(|(k, _)| !k.is_empty())
            .collect();
        if pairs.len() <= SCAN_DEDUPE_MAX {
            let mut p = Properties::default();
            for (k, v) in pairs {
                p.insert(k, v);
            }
            return p;
        }
        // std's hasher is randomly keyed: chosen names cannot be made to collide.
        let mut slot: std::collections::HashMap<&str, usize> =
            std::collections::HashMap::with_capacity(pairs.len());
        let mut entries: Vec<(String, String)> = Vec::with_capacity(pairs.len());
        for (k, v) in pairs {
            match slot.get(k) {
                Some(&i) => v.clone_into(&mut entries[i].1),
                None => {
                    slot.insert(k, entries.len());
                    entries.push((k.to_owned(), v.to_owned()));
                }
            }
        }
        let peak = entries.len();
        Properties { entries, peak }
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

    fn one_by_one(s: &str) -> Properties {
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

    #[test]
    fn many_pairs_with_repeats_parse_like_put() {
        let mut text: String = (0..3000)
            .map(|i| format!("k{}\u{1}v{i}\u{2}", i % 1000))
            .collect();
        text.push_str("TAGS\u{1}a\u{2}k0\u{1}last\u{2}TAGS\u{1}b");
        let p = Properties::parse(&text);
        assert_eq!(p, one_by_one(&text));
        assert_eq!(p.get("k0"), Some("last"));
        assert_eq!(p.get("k999"), Some("v2999"));
        assert_eq!(p.get("TAGS"), Some("b"));
        assert_eq!(p.encode_java_order(), one_by_one(&text).encode_java_order());
    }

    #[test]
    fn client_strings_past_the_record_limit_are_refused_unparsed() {
        let at_limit = "a".repeat(MAX_LEN);
        assert!(parse_from_client(&at_limit).is_ok());
        let over = format!("{at_limit}b");
        assert_eq!(parse_from_client(&over), Err(TooLong(MAX_LEN + 1)));
    }

    proptest::proptest! {
        /// Parsing equals putting each pair into the map in order, however many pairs
        /// and repeats there are.
        #[test]
        fn parse_equals_inserting_in_order(
            pairs in proptest::collection::vec(("[a-d]{0,2}", "[0-9]{0,2}"), 0..100)
        ) {
            let text: String = pairs
                .iter()
                .map(|(k, v)| format!("{k}\u{1}{v}\u{2}"))
                .collect();
            proptest::prop_assert_eq!(Properties::parse(&text), one_by_one(&text));
        }

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
