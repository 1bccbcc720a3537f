//! fastjson's non-standard JSON, both ways.
//!
//! The Java broker writes its admin bodies with fastjson, which puts map keys that are not
//! strings into the text as they are: `Map<Integer, Long>` keys bare (`{0:10}`) and
//! `Map<MessageQueue, …>` keys as whole objects
//! (`{{"brokerName":"b","queueId":0,"topic":"T"}:10}`). Java tools parse nothing else for
//! MessageQueue-keyed maps, so rmqd writes them that way ([`write_mq_key`]), and reads them
//! back ([`parse`]) where a client sends one (GET_CONSUMER_STATUS_FROM_CLIENT answers).
//!
//! [`parse`] turns such text into a [`serde_json::Value`]: a bare number key becomes its
//! digits, an object key becomes its canonical JSON text (keys sorted), which
//! [`mq_from_key`] reads back. It is hostile-input safe: nesting is bounded, and the work is
//! linear in the input.

use serde_json::{Map, Number, Value};
use thiserror::Error;

use super::client::MessageQueue;

/// Deeper nesting than any body the protocol has; keeps hostile input off the stack.
pub const MAX_DEPTH: usize = 64;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum FastJsonError {
    #[error("fastjson body: {what} at byte {at}")]
    Syntax { what: &'static str, at: usize },
    #[error("fastjson body: nested deeper than {MAX_DEPTH}")]
    TooDeep,
    #[error("fastjson body: not UTF-8")]
    NotUtf8,
}

/// Parses fastjson text (standard JSON plus number and object map keys).
pub fn parse(bytes: &[u8]) -> Result<Value, FastJsonError> {
    let text = std::str::from_utf8(bytes).map_err(|_| FastJsonError::NotUtf8)?;
    let mut p = Parser {
        s: text.as_bytes(),
        text,
        i: 0,
    };
    let v = p.value(0)?;
    p.ws();
    if p.i != p.s.len() {
        return Err(p.err("trailing characters"));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
}

impl Parser<'_> {
    fn err(&self, what: &'static str) -> FastJsonError {
        FastJsonError::Syntax { what, at: self.i }
    }

    fn ws(&mut self) {
        while self.s.get(self.i).is_some_and(u8::is_ascii_whitespace) {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }

    fn expect(&mut self, c: u8, what: &'static str) -> Result<(), FastJsonError> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.err(what))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, FastJsonError> {
        if depth > MAX_DEPTH {
            return Err(FastJsonError::TooDeep);
        }
        match self.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string().map(Value::String),
            Some(b't') => self.word("true", Value::Bool(true)),
            Some(b'f') => self.word("false", Value::Bool(false)),
            Some(b'n') => self.word("null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number().map(Value::Number),
            Some(_) => Err(self.err("unexpected character")),
            None => Err(self.err("unexpected end")),
        }
    }

    fn word(&mut self, w: &'static str, v: Value) -> Result<Value, FastJsonError> {
        if self.s.get(self.i..self.i + w.len()) == Some(w.as_bytes()) {
            self.i += w.len();
            Ok(v)
        } else {
            Err(self.err("bad literal"))
        }
    }

    fn number_text(&mut self) -> &str {
        let start = self.i;
        while self
            .s
            .get(self.i)
            .is_some_and(|c| matches!(c, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
        {
            self.i += 1;
        }
        self.text.get(start..self.i).unwrap_or_default()
    }

    fn number(&mut self) -> Result<Number, FastJsonError> {
        let at = self.i;
        let t = self.number_text();
        let n = serde_json::from_str::<Number>(t).map_err(|_| FastJsonError::Syntax {
            what: "bad number",
            at,
        })?;
        if n.is_f64() {
            // serde_json's own float reading is not correctly rounded (without its
            // float_roundtrip feature): a value written back would read as another.
            if let Some(f) = t.parse::<f64>().ok().and_then(Number::from_f64) {
                return Ok(f);
            }
        }
        Ok(n)
    }

    fn string(&mut self) -> Result<String, FastJsonError> {
        let start = self.i;
        self.i += 1;
        loop {
            match self.s.get(self.i) {
                None => return Err(self.err("unterminated string")),
                Some(b'\\') => self.i += 2,
                Some(b'"') => {
                    self.i += 1;
                    break;
                }
                Some(_) => self.i += 1,
            }
        }
        let raw = self.text.get(start..self.i).ok_or(FastJsonError::Syntax {
            what: "bad string",
            at: start,
        })?;
        serde_json::from_str(raw).map_err(|_| FastJsonError::Syntax {
            what: "bad string",
            at: start,
        })
    }

    fn key(&mut self, depth: usize) -> Result<String, FastJsonError> {
        match self.peek() {
            Some(b'"') => self.string(),
            Some(b'-' | b'0'..=b'9') => {
                let n = self.number()?;
                Ok(n.to_string())
            }
            // An object used as a key: its canonical text, keys sorted.
            Some(b'{') => {
                let v = self.object(depth + 1)?;
                Ok(v.to_string())
            }
            _ => Err(self.err("bad object key")),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, FastJsonError> {
        self.i += 1;
        let mut map = Map::new();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(Value::Object(map));
        }
        loop {
            let k = self.key(depth)?;
            self.expect(b':', "expected ':'")?;
            let v = self.value(depth + 1)?;
            map.insert(k, v);
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Value::Object(map));
                }
                _ => return Err(self.err("expected ',' or '}'")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, FastJsonError> {
        self.i += 1;
        let mut items = Vec::new();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(Value::Array(items));
        }
        loop {
            items.push(self.value(depth + 1)?);
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.err("expected ',' or ']'")),
            }
        }
    }
}

/// A MessageQueue written as fastjson writes it as a map key (properties alphabetical).
pub fn write_mq_key(out: &mut String, mq: &MessageQueue) {
    out.push_str("{\"brokerName\":");
    write_str(out, &mq.broker_name);
    out.push_str(",\"queueId\":");
    out.push_str(&mq.queue_id.to_string());
    out.push_str(",\"topic\":");
    write_str(out, &mq.topic);
    out.push('}');
}

/// A JSON string literal.
pub fn write_str(out: &mut String, s: &str) {
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into()));
}

/// Any serializable value as JSON text.
pub fn write_value<T: serde::Serialize + ?Sized>(out: &mut String, v: &T) {
    out.push_str(&serde_json::to_string(v).unwrap_or_else(|_| "null".into()));
}

/// `{<mq>:<value>,…}`: a fastjson `Map<MessageQueue, V>`.
pub fn write_mq_map<'a, V: serde::Serialize + 'a>(
    out: &mut String,
    entries: impl IntoIterator<Item = (&'a MessageQueue, &'a V)>,
) {
    out.push('{');
    for (n, (mq, v)) in entries.into_iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        write_mq_key(out, mq);
        out.push(':');
        write_value(out, v);
    }
    out.push('}');
}

/// The MessageQueue behind a key [`parse`] produced from an object key.
pub fn mq_from_key(key: &str) -> Option<MessageQueue> {
    serde_json::from_str(key).ok()
}

/// `Map<MessageQueue, Long>` out of a parsed object, in queue order; entries that are
/// not one are skipped, and keys spelling the same queue differently (extra properties)
/// count once, the last one winning, as a Java map would have them.
pub fn mq_long_map(v: Option<&Value>) -> Vec<(MessageQueue, i64)> {
    let mut out = std::collections::BTreeMap::new();
    for (k, v) in v.and_then(Value::as_object).into_iter().flatten() {
        if let (Some(mq), Some(n)) = (mq_from_key(k), v.as_i64()) {
            out.insert(mq, n);
        }
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_the_java_brokers_consume_stats() {
        // GET_CONSUME_STATS as the Java 4.9.8 broker answered it in the mqadmin capture.
        let java = br#"{"consumeTps":0.0,"offsetTable":{{"brokerName":"broker-a","queueId":2,"topic":"AdmTopic"}:{"brokerOffset":25,"consumerOffset":12,"lastTimestamp":1796310245923},{"brokerName":"broker-a","queueId":3,"topic":"AdmTopic"}:{"brokerOffset":25,"consumerOffset":12,"lastTimestamp":1796310245905}}}"#;
        let v = parse(java).unwrap();
        let table = v["offsetTable"].as_object().unwrap();
        assert_eq!(table.len(), 2);
        let (k, off) = table.iter().next().unwrap();
        let mq = mq_from_key(k).unwrap();
        assert_eq!(mq.topic, "AdmTopic");
        assert_eq!(mq.broker_name, "broker-a");
        assert_eq!(off["brokerOffset"], 25);
    }

    /// Found by the fuzzer: `910e212` read as 9.099999999999999e214, which written back
    /// read as 9.1e214. Floats are read correctly rounded, so they survive a re-read.
    #[test]
    fn floats_read_back_the_same() {
        let v = parse(b"910e212").unwrap();
        assert_eq!(v.as_f64(), Some(9.1e214));
        let again = parse(&serde_json::to_vec(&v).unwrap()).unwrap();
        assert_eq!(v, again);
    }

    #[test]
    fn numeric_keys_and_nesting_limit() {
        let v = parse(b"{\"correctionOffsets\":{0:10, 1 : 9223372036854775807}}").unwrap();
        assert_eq!(
            v["correctionOffsets"]["1"].as_i64(),
            Some(9_223_372_036_854_775_807)
        );
        let deep = "[".repeat(MAX_DEPTH + 2);
        assert_eq!(parse(deep.as_bytes()), Err(FastJsonError::TooDeep));
        assert!(parse(b"{\"a\":1,}").is_err());
        assert!(parse(b"{\"a\":\"\\").is_err());
    }

    fn mq() -> impl Strategy<Value = MessageQueue> {
        ("[a-zA-Z%_@\"\\\\\u{e9}-]{0,12}", -2i32..64, "[a-z-]{0,8}").prop_map(|(topic, q, b)| {
            MessageQueue {
                broker_name: b,
                queue_id: q,
                topic,
            }
        })
    }

    proptest! {
        #[test]
        fn mq_maps_round_trip(entries in proptest::collection::vec((mq(), any::<i64>()), 0..16)) {
            let mut out = String::from("{\"offsetTable\":");
            write_mq_map(&mut out, entries.iter().map(|(m, v)| (m, v)));
            out.push('}');
            let back = mq_long_map(parse(out.as_bytes()).unwrap().get("offsetTable"));
            let mut want: std::collections::BTreeMap<MessageQueue, i64> = Default::default();
            for (m, v) in &entries {
                want.insert(m.clone(), *v);
            }
            let got: std::collections::BTreeMap<MessageQueue, i64> = back.into_iter().collect();
            prop_assert_eq!(got, want);
        }

        #[test]
        fn arbitrary_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse(&raw);
        }

        #[test]
        fn standard_json_reads_as_serde_json_does(v in proptest_json()) {
            let text = v.to_string();
            prop_assert_eq!(parse(text.as_bytes()).unwrap(), v);
        }
    }

    fn proptest_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| Value::Number(n.into())),
            "[a-z\"\\\\ ]{0,6}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map("[a-z]{0,4}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }
}
