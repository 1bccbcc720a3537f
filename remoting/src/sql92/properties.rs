//! Looking up a selector's properties in a message's encoded properties, with the rules
//! of `MessageDecoder.string2messageProperties`: pairs separated by `\x02`, name and
//! value by the first `\x01`, pairs with an empty name or an empty value skipped, the
//! last of duplicate names winning. Bytes that are not UTF-8 read as U+FFFD, as Java's
//! decoder reads them.

use std::borrow::Cow;
use std::ops::Range;

use crate::sql92::eval::Properties;

const NAME_VALUE_SEP: u8 = 1;
const PROPERTY_SEP: u8 = 2;

/// Per-evaluation lookup space, kept by the caller so a run of messages costs no
/// allocation.
#[derive(Debug, Default)]
pub struct Scratch {
    found: Vec<Option<Range<usize>>>,
}

impl Scratch {
    pub fn new() -> Self {
        Self::default()
    }

    /// Finds where each of `names` is in `encoded`, in one pass.
    pub fn resolve<'a>(&'a mut self, encoded: &'a [u8], names: &[String]) -> Resolved<'a> {
        self.found.clear();
        self.found.resize(names.len(), None);
        if !names.is_empty() {
            let mut start = 0;
            while start < encoded.len() {
                let end = encoded[start..]
                    .iter()
                    .position(|&b| b == PROPERTY_SEP)
                    .map_or(encoded.len(), |i| start + i);
                let pair = &encoded[start..end];
                if let Some(sep) = pair.iter().position(|&b| b == NAME_VALUE_SEP) {
                    let (name, value) = (&pair[..sep], &pair[sep + 1..]);
                    if !name.is_empty() && !value.is_empty() {
                        if let Some(slot) = names.iter().position(|n| n.as_bytes() == name) {
                            self.found[slot] = Some(start + sep + 1..end);
                        }
                    }
                }
                start = end + 1;
            }
        }
        Resolved {
            encoded,
            found: &self.found,
        }
    }
}

/// One property of encoded properties, read by the same rules (the last one of that
/// name, if not empty).
pub fn property<'a>(encoded: &'a [u8], name: &str) -> Option<Cow<'a, str>> {
    let mut found = None;
    for pair in encoded.split(|&b| b == PROPERTY_SEP) {
        if let Some(sep) = pair.iter().position(|&b| b == NAME_VALUE_SEP) {
            let (n, v) = (&pair[..sep], &pair[sep + 1..]);
            if n == name.as_bytes() && !v.is_empty() {
                found = Some(v);
            }
        }
    }
    found.map(String::from_utf8_lossy)
}

/// A message's properties resolved for one selector.
pub struct Resolved<'a> {
    encoded: &'a [u8],
    found: &'a [Option<Range<usize>>],
}

impl Properties for Resolved<'_> {
    fn get(&self, slot: usize) -> Option<Cow<'_, str>> {
        let range = self.found.get(slot)?.clone()?;
        let bytes = self.encoded.get(range)?;
        Some(String::from_utf8_lossy(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(encoded: &[u8], names: &[&str]) -> Vec<Option<String>> {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut s = Scratch::new();
        let r = s.resolve(encoded, &names);
        (0..names.len())
            .map(|i| r.get(i).map(|v| v.into_owned()))
            .collect()
    }

    #[test]
    fn java_string2message_properties_rules() {
        let enc = b"a\x011\x02b\x01\x02\x01x\x02c\x01x\x01y\x02a\x012\x02d\x01\xff\x02";
        assert_eq!(
            lookup(enc, &["a", "b", "c", "d", "e"]),
            [
                Some("2".into()),       // the last duplicate wins
                None,                   // empty values are skipped
                Some("x\u{1}y".into()), // the first \x01 splits
                Some("\u{fffd}".into()),
                None,
            ]
        );
        assert_eq!(lookup(b"a\x011", &["a"]), [Some("1".into())]);
        assert_eq!(property(enc, "a").as_deref(), Some("2"));
        assert_eq!(property(enc, "b"), None);
    }
}
