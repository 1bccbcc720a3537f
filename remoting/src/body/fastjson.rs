//! Reading the JSON fastjson writes, which standard parsers refuse: map keys that are
//! bare numbers (`{0:"127.0.0.1:10911"}`) or whole objects (`MessageQueue` keys in
//! GET_CONSUME_STATS, INVOKE_BROKER_TO_RESET_OFFSET, GET_TOPIC_STATS_INFO answers).
//! A non-string key becomes the compact JSON text of that key, so a MessageQueue key reads
//! as `{"brokerName":"b","queueId":2,"topic":"T"}` and can be parsed again by the caller.

use serde_json::{Map, Number, Value};

/// Nesting deeper than this is refused (a real body nests five levels at most).
const MAX_DEPTH: usize = 128;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("bad fastjson at byte {at}: {what}")]
pub struct FastjsonError {
    pub at: usize,
    pub what: &'static str,
}

pub fn parse(bytes: &[u8]) -> Result<Value, FastjsonError> {
    let mut p = Parser { b: bytes, i: 0 };
    let v = p.value(0)?;
    p.ws();
    if p.i != p.b.len() {
        return Err(p.err("trailing bytes"));
    }
    Ok(v)
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn err(&self, what: &'static str) -> FastjsonError {
        FastjsonError { at: self.i, what }
    }

    fn ws(&mut self) {
        while self.b.get(self.i).is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> Result<(), FastjsonError> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.err("unexpected byte"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, FastjsonError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nested too deep"));
        }
        match self.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => {
                self.i += 1;
                let mut out = Vec::new();
                if self.peek() == Some(b']') {
                    self.i += 1;
                    return Ok(Value::Array(out));
                }
                loop {
                    out.push(self.value(depth + 1)?);
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Value::Array(out));
                        }
                        _ => return Err(self.err("expected , or ]")),
                    }
                }
            }
            Some(b'"') => self.string().map(Value::String),
            Some(b't') => self.word("true", Value::Bool(true)),
            Some(b'f') => self.word("false", Value::Bool(false)),
            Some(b'n') => self.word("null", Value::Null),
            Some(c) if c == b'-' || c.is_ascii_digit() => self.number(),
            _ => Err(self.err("expected a value")),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, FastjsonError> {
        self.eat(b'{')?;
        let mut m = Map::new();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(Value::Object(m));
        }
        loop {
            let key = match self.peek() {
                Some(b'"') => self.string()?,
                _ => {
                    let k = self.value(depth + 1)?;
                    k.to_string()
                }
            };
            self.eat(b':')?;
            let v = self.value(depth + 1)?;
            m.insert(key, v);
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Value::Object(m));
                }
                _ => return Err(self.err("expected , or }")),
            }
        }
    }

    fn word(&mut self, w: &'static str, v: Value) -> Result<Value, FastjsonError> {
        if self.b[self.i..].starts_with(w.as_bytes()) {
            self.i += w.len();
            Ok(v)
        } else {
            Err(self.err("bad literal"))
        }
    }

    fn number(&mut self) -> Result<Value, FastjsonError> {
        let start = self.i;
        while self
            .b
            .get(self.i)
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.' | b'e' | b'E'))
        {
            self.i += 1;
        }
        let text = std::str::from_utf8(&self.b[start..self.i]).map_err(|_| self.err("number"))?;
        if let Ok(n) = text.parse::<i64>() {
            return Ok(Value::Number(n.into()));
        }
        if let Ok(n) = text.parse::<u64>() {
            return Ok(Value::Number(n.into()));
        }
        text.parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| self.err("bad number"))
    }

    fn string(&mut self) -> Result<String, FastjsonError> {
        self.eat(b'"')?;
        let start = self.i;
        // Find the end, then let serde_json decode the escapes of that one literal.
        while let Some(&c) = self.b.get(self.i) {
            match c {
                b'\\' => self.i += 2,
                b'"' => {
                    let lit = &self.b[start - 1..=self.i];
                    self.i += 1;
                    return serde_json::from_slice(lit).map_err(|_| self.err("bad string"));
                }
                _ => self.i += 1,
            }
        }
        Err(self.err("unterminated string"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fastjson_keys() {
        let v = parse(br#"{"brokerAddrs":{0:"127.0.0.1:19711"},"offsetTable":{{"brokerName":"broker-a","queueId":2,"topic":"AdmTopic"}:10},"x":[1,-2.5,true,null,"a\"b"]}"#).unwrap();
        assert_eq!(v["brokerAddrs"]["0"], "127.0.0.1:19711");
        let (k, off) = v["offsetTable"].as_object().unwrap().iter().next().unwrap();
        assert_eq!(off, 10);
        let mq: Value = serde_json::from_str(k).unwrap();
        assert_eq!(mq["queueId"], 2);
        assert_eq!(v["x"][4], "a\"b");
        assert!(parse(b"{").is_err());
        assert!(parse(b"{}x").is_err());
        assert!(parse(&vec![b'['; 1000]).is_err());
    }

    proptest::proptest! {
        /// Standard JSON reads as serde_json reads it.
        #[test]
        fn standard_json_agrees(v in proptest::arbitrary::any::<std::collections::BTreeMap<String, (i64, bool, String)>>()) {
            let text = serde_json::to_vec(&v).unwrap();
            proptest::prop_assert_eq!(parse(&text).unwrap(), serde_json::from_slice::<Value>(&text).unwrap());
        }

        /// Any bytes: a value or an error, never a panic.
        #[test]
        fn any_bytes(b in proptest::collection::vec(proptest::sample::select(b"{}[]:,\"\\0123456789-.eEtrufalsn x".to_vec()), 0..200)) {
            let _ = parse(&b);
        }
    }
}
