//! `config/*.json` as the Java broker reads and writes them (fastjson): read leniently,
//! since fastjson writes integer map keys unquoted (`{0:10,1:25}`); written in fastjson's
//! pretty format (tabs; integer-keyed maps inline) through write-tmp / keep-`.bak` /
//! rename, as `MixAll.string2File` does (the writing is in [`crate::config_file`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not JSON: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{0}")]
    Shape(String),
}

/// Quotes bare integer object keys so serde_json accepts fastjson output. String
/// contents (with their escapes) are copied untouched.
pub fn quote_numeric_keys(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len() + 16);
    let mut i = 0;
    // True right after `{` or `,` (where an object key may start).
    let mut key_position = false;
    while let Some(&c) = b.get(i) {
        match c {
            b'"' => {
                let start = i;
                i += 1;
                while let Some(&d) = b.get(i) {
                    i += 1;
                    if d == b'\\' {
                        i += 1;
                    } else if d == b'"' {
                        break;
                    }
                }
                out.push_str(text.get(start..i.min(b.len())).unwrap_or_default());
                key_position = false;
                continue;
            }
            b'{' | b',' => {
                out.push(char::from(c));
                key_position = true;
                i += 1;
                continue;
            }
            c if c.is_ascii_whitespace() => {
                out.push(char::from(c));
                i += 1;
                continue;
            }
            b'-' | b'0'..=b'9' if key_position => {
                let start = i;
                i += 1;
                while b.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
                let mut j = i;
                while b.get(j).is_some_and(u8::is_ascii_whitespace) {
                    j += 1;
                }
                let num = text.get(start..i).unwrap_or_default();
                if b.get(j) == Some(&b':') {
                    out.push('"');
                    out.push_str(num);
                    out.push('"');
                } else {
                    out.push_str(num);
                }
                key_position = false;
                continue;
            }
            _ => {}
        }
        // Anything else: copy one UTF-8 character.
        let ch_len = text
            .get(i..)
            .and_then(|s| s.chars().next())
            .map_or(1, char::len_utf8);
        out.push_str(text.get(i..i + ch_len).unwrap_or_default());
        i += ch_len;
        key_position = false;
    }
    out
}

/// Parses fastjson text leniently.
pub fn parse(text: &str) -> Result<Value, serde_json::Error> {
    serde_json::from_str(&quote_numeric_keys(text))
}

fn read_one(path: &Path) -> Result<Option<Value>, ConfigFileError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(ConfigFileError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    if text.trim().is_empty() {
        return Ok(None);
    }
    parse(&text)
        .map(Some)
        .map_err(|source| ConfigFileError::Parse {
            path: path.to_path_buf(),
            source,
        })
}

fn bak(path: &Path) -> PathBuf {
    crate::config_file::bak_path(path)
}

/// `ConfigManager.load`: the file, or its `.bak` when the file is missing, empty or
/// unreadable. `Ok(None)` when neither holds anything.
pub fn load(path: &Path) -> Result<Option<Value>, ConfigFileError> {
    match read_one(path) {
        Ok(Some(v)) => Ok(Some(v)),
        first => {
            if let Err(e) = &first {
                tracing::warn!(error = %e, "config file unreadable; trying its .bak");
            }
            match read_one(&bak(path)) {
                Ok(Some(v)) => {
                    tracing::warn!(file = %path.display(), "loaded the .bak copy");
                    Ok(Some(v))
                }
                Ok(None) => first,
                Err(e) => first.and(Err(e)),
            }
        }
    }
}

/// `MixAll.string2File` through the file's single writer
/// ([`crate::config_file::ConfigFile`]): `<file>.tmp`, the previous content kept as
/// `<file>.bak`, rename, fsyncs. Content that snapshots shared state should go through
/// [`crate::config_file::ConfigFile::persist_with`] so that the newest state lands last.
pub fn persist(path: &Path, content: &str) -> Result<(), ConfigFileError> {
    crate::config_file::ConfigFile::open(path).persist(content)
}

/// JSON with ordered keys that may be strings or integers, for the printer.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonOut {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
    Arr(Vec<JsonOut>),
    Obj(Vec<(Key, JsonOut)>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    Str(String),
    Int(i64),
}

fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn indent(out: &mut String, n: usize) {
    for _ in 0..n {
        out.push('\t');
    }
}

fn write_value(out: &mut String, v: &JsonOut, depth: usize) {
    match v {
        JsonOut::Null => out.push_str("null"),
        JsonOut::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        JsonOut::Int(i) => out.push_str(&i.to_string()),
        JsonOut::Str(s) => write_str(out, s),
        JsonOut::Arr(items) => {
            out.push('[');
            for (n, it) in items.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                write_value(out, it, depth + 1);
            }
            out.push(']');
        }
        JsonOut::Obj(entries) if entries.is_empty() => out.push_str("{}"),
        JsonOut::Obj(entries) => {
            out.push('{');
            for (n, (k, val)) in entries.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                match k {
                    // fastjson writes integer-keyed maps on one line.
                    Key::Int(i) => out.push_str(&i.to_string()),
                    Key::Str(s) => {
                        out.push('\n');
                        indent(out, depth + 1);
                        write_str(out, s);
                    }
                }
                out.push(':');
                write_value(out, val, depth + 1);
            }
            out.push('\n');
            indent(out, depth);
            out.push('}');
        }
    }
}

fn write_compact(out: &mut String, v: &JsonOut) {
    match v {
        JsonOut::Arr(items) => {
            out.push('[');
            for (n, it) in items.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                write_compact(out, it);
            }
            out.push(']');
        }
        JsonOut::Obj(entries) => {
            out.push('{');
            for (n, (k, val)) in entries.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                match k {
                    Key::Int(i) => out.push_str(&i.to_string()),
                    Key::Str(s) => write_str(out, s),
                }
                out.push(':');
                write_compact(out, val);
            }
            out.push('}');
        }
        scalar => write_value(out, scalar, 0),
    }
}

/// fastjson's plain `toJSONString` output: one line, integer map keys unquoted (what
/// `ConsumerOffsetManager.encode()` and `ScheduleMessageService.encode()` send).
pub fn to_fastjson_compact(v: &JsonOut) -> String {
    let mut out = String::new();
    write_compact(&mut out, v);
    out
}

/// fastjson `PrettyFormat` output.
pub fn to_fastjson_pretty(v: &JsonOut) -> String {
    let mut out = String::new();
    write_value(&mut out, v, 0);
    out
}

/// Rebuilds printer input from parsed JSON, keeping key order; keys for which
/// `int_keys(path_depth)` is true and that parse as integers become integer keys.
pub fn from_value(v: &Value, int_keys_at_depth: &dyn Fn(usize) -> bool) -> JsonOut {
    fn go(v: &Value, depth: usize, f: &dyn Fn(usize) -> bool) -> JsonOut {
        match v {
            Value::Null => JsonOut::Null,
            Value::Bool(b) => JsonOut::Bool(*b),
            Value::Number(n) => n
                .as_i64()
                .map(JsonOut::Int)
                .unwrap_or_else(|| JsonOut::Str(n.to_string())),
            Value::String(s) => JsonOut::Str(s.clone()),
            Value::Array(a) => JsonOut::Arr(a.iter().map(|x| go(x, depth + 1, f)).collect()),
            Value::Object(m) => JsonOut::Obj(
                m.iter()
                    .map(|(k, x)| {
                        let key = match k.parse::<i64>() {
                            Ok(i) if f(depth) => Key::Int(i),
                            _ => Key::Str(k.clone()),
                        };
                        (key, go(x, depth + 1, f))
                    })
                    .collect(),
            ),
        }
    }
    go(v, 0, int_keys_at_depth)
}

fn number(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

/// `consumerOffset.json`: `{"offsetTable":{"topic@group":{queueId:offset}}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetTable(pub BTreeMap<String, BTreeMap<i32, i64>>);

impl OffsetTable {
    pub fn from_json(v: &Value) -> Result<Self, ConfigFileError> {
        let table = v
            .get("offsetTable")
            .and_then(Value::as_object)
            .ok_or_else(|| ConfigFileError::Shape("no offsetTable object".into()))?;
        let mut out = BTreeMap::new();
        for (k, queues) in table {
            let Some(queues) = queues.as_object() else {
                tracing::warn!(key = %k, "offset entry is not an object; skipped");
                continue;
            };
            let mut m = BTreeMap::new();
            for (q, off) in queues {
                match (q.trim().parse::<i32>(), number(off)) {
                    (Ok(q), Some(o)) => {
                        m.insert(q, o);
                    }
                    _ => tracing::warn!(key = %k, queue = %q, "bad offset entry; skipped"),
                }
            }
            out.insert(k.clone(), m);
        }
        Ok(OffsetTable(out))
    }

    pub fn to_json_string(&self) -> String {
        to_fastjson_pretty(&self.to_out())
    }

    /// The one-line form a master sends a slave (GET_ALL_CONSUMER_OFFSET).
    pub fn to_compact_json(&self) -> String {
        to_fastjson_compact(&self.to_out())
    }

    fn to_out(&self) -> JsonOut {
        let table = self
            .0
            .iter()
            .map(|(k, m)| {
                (
                    Key::Str(k.clone()),
                    JsonOut::Obj(
                        m.iter()
                            .map(|(q, o)| (Key::Int(i64::from(*q)), JsonOut::Int(*o)))
                            .collect(),
                    ),
                )
            })
            .collect();
        JsonOut::Obj(vec![(Key::Str("offsetTable".into()), JsonOut::Obj(table))])
    }
}

/// `delayOffset.json`: `{"offsetTable":{level:offset}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DelayOffsetTable(pub BTreeMap<i32, i64>);

impl DelayOffsetTable {
    pub fn from_json(v: &Value) -> Result<Self, ConfigFileError> {
        let table = v
            .get("offsetTable")
            .and_then(Value::as_object)
            .ok_or_else(|| ConfigFileError::Shape("no offsetTable object".into()))?;
        let mut out = BTreeMap::new();
        for (k, off) in table {
            match (k.trim().parse::<i32>(), number(off)) {
                (Ok(level), Some(o)) => {
                    out.insert(level, o);
                }
                _ => tracing::warn!(level = %k, "bad delay offset entry; skipped"),
            }
        }
        Ok(DelayOffsetTable(out))
    }

    pub fn to_json_string(&self) -> String {
        to_fastjson_pretty(&self.to_out())
    }

    /// The one-line form a master sends a slave (GET_ALL_DELAY_OFFSET).
    pub fn to_compact_json(&self) -> String {
        to_fastjson_compact(&self.to_out())
    }

    fn to_out(&self) -> JsonOut {
        let table = self
            .0
            .iter()
            .map(|(l, o)| (Key::Int(i64::from(*l)), JsonOut::Int(*o)))
            .collect();
        JsonOut::Obj(vec![(Key::Str("offsetTable".into()), JsonOut::Obj(table))])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bare_integer_keys_are_quoted_but_strings_untouched() {
        let t = r#"{"a":{0:10, 1 :25,-2:3},"s":"{0:1}","e":"x\"{1:2}"}"#;
        let v = parse(t).expect("parse");
        assert_eq!(v["a"]["1"], 25);
        assert_eq!(v["a"]["-2"], 3);
        assert_eq!(v["s"], "{0:1}");
        assert_eq!(v["e"], "x\"{1:2}");
    }

    #[test]
    fn printer_matches_fastjson() {
        let off = OffsetTable(BTreeMap::from([(
            "T@g".to_string(),
            BTreeMap::from([(0, 10), (1, 25)]),
        )]));
        assert_eq!(
            off.to_json_string(),
            "{\n\t\"offsetTable\":{\n\t\t\"T@g\":{0:10,1:25\n\t\t}\n\t}\n}"
        );
        let d = DelayOffsetTable(BTreeMap::from([(1, 6), (2, 2)]));
        assert_eq!(d.to_json_string(), "{\n\t\"offsetTable\":{1:6,2:2\n\t}\n}");
    }

    /// The bodies a Java 4.9.8 master sent its slave (ha/java-4.9.8/slave-master.jsonl).
    #[test]
    fn compact_printer_matches_the_masters_answers() {
        let off = OffsetTable(BTreeMap::from([(
            "HaTopic@HaGroup".to_string(),
            BTreeMap::from([(0, 3), (1, 3), (2, 2), (3, 2)]),
        )]));
        assert_eq!(
            off.to_compact_json(),
            r#"{"offsetTable":{"HaTopic@HaGroup":{0:3,1:3,2:2,3:2}}}"#
        );
        assert_eq!(
            OffsetTable::default().to_compact_json(),
            r#"{"offsetTable":{}}"#
        );
        let d = DelayOffsetTable(BTreeMap::from([(2, 2)]));
        assert_eq!(d.to_compact_json(), r#"{"offsetTable":{2:2}}"#);
        let back = OffsetTable::from_json(&parse(&off.to_compact_json()).unwrap()).unwrap();
        assert_eq!(back, off);
    }

    #[test]
    fn persist_keeps_a_bak_and_load_falls_back_to_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("consumerOffset.json");
        persist(&p, "{\"offsetTable\":{}}").expect("first");
        persist(&p, "{\"offsetTable\":{\"a@b\":{0:1}}}").expect("second");
        assert_eq!(
            std::fs::read_to_string(bak(&p)).expect("bak"),
            "{\"offsetTable\":{}}"
        );
        std::fs::write(&p, "{garbage").expect("corrupt");
        let v = load(&p).expect("load").expect("some");
        assert_eq!(v["offsetTable"], serde_json::json!({}));
        std::fs::remove_file(&p).expect("rm");
        assert!(load(&p).expect("load").is_some());
        std::fs::remove_file(bak(&p)).expect("rm");
        assert!(load(&p).expect("load").is_none());
    }

    proptest! {
        #[test]
        fn lenient_parse_never_panics(s in "\\PC{0,200}") {
            let _ = parse(&s);
        }
    }
}
