//! JSON header (serialize type 0): fastjson's rendering of `RemotingCommand`.
//!
//! Decoding is as lenient as fastjson: unknown properties are ignored, missing ones take
//! Java's defaults, and `extFields` values may be numbers or booleans (C++ and Node
//! clients send them that way) even though Java always sends strings.

use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;

use super::HeaderDecodeError;
use crate::command::{RemotingCommand, SerializeType};
use crate::ext_fields::{ExtFields, MAX_FIELDS};
use crate::language::LanguageCode;

#[derive(Deserialize, Default)]
#[serde(default)]
struct JsonHeader {
    #[serde(deserialize_with = "lenient_i32")]
    code: i32,
    #[serde(deserialize_with = "lenient_language")]
    language: LanguageCode,
    #[serde(deserialize_with = "lenient_i32")]
    version: i32,
    #[serde(deserialize_with = "lenient_i32")]
    opaque: i32,
    #[serde(deserialize_with = "lenient_i32")]
    flag: i32,
    remark: Option<String>,
    #[serde(rename = "extFields")]
    ext_fields: Option<LenientExt>,
}

/// Decode a JSON header into a command with an empty body.
pub fn decode(header: &[u8]) -> Result<RemotingCommand, HeaderDecodeError> {
    let h: JsonHeader = serde_json::from_slice(header).map_err(json_error)?;
    Ok(RemotingCommand {
        code: h.code,
        language: h.language,
        version: h.version,
        opaque: h.opaque,
        flag: h.flag,
        remark: h.remark,
        ext_fields: h.ext_fields.map(|e| e.0),
        body: Default::default(),
        body_parts: Vec::new(),
        serialize_type: SerializeType::Json,
    })
}

/// serde reports every error as text; the field bound is raised with our own wording
/// (see [`LenientExt`]), so it is recognised and kept as its own variant.
fn json_error(e: serde_json::Error) -> HeaderDecodeError {
    let text = e.to_string();
    let too_many = HeaderDecodeError::TooManyFields(MAX_FIELDS);
    if e.is_data() && text.starts_with(&too_many.to_string()) {
        too_many
    } else {
        HeaderDecodeError::Json(text)
    }
}

/// Append the JSON header of `cmd` to `out`, with properties in fastjson's alphabetical
/// order and nulls omitted.
pub fn encode(cmd: &RemotingCommand, out: &mut Vec<u8>) {
    use std::io::Write;
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{{\"code\":{}", cmd.code);
    if let Some(ext) = &cmd.ext_fields {
        out.extend_from_slice(b",\"extFields\":{");
        for (i, (k, v)) in ext.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_json_str(out, k);
            out.push(b':');
            write_json_str(out, v);
        }
        out.push(b'}');
    }
    let _ = write!(
        out,
        ",\"flag\":{},\"language\":\"{}\",\"opaque\":{}",
        cmd.flag,
        cmd.language.name(),
        cmd.opaque
    );
    if let Some(remark) = &cmd.remark {
        out.extend_from_slice(b",\"remark\":");
        write_json_str(out, remark);
    }
    let _ = write!(
        out,
        ",\"serializeTypeCurrentRPC\":\"JSON\",\"version\":{}}}",
        cmd.version
    );
}

fn write_json_str(out: &mut Vec<u8>, s: &str) {
    // serde_json escapes exactly what JSON requires (quotes, backslash, control characters
    // as \uXXXX), which is what fastjson does for the characters that occur in headers.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn lenient_i32<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = i32;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an int32")
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<i32, E> {
            i32::try_from(v).map_err(|_| E::custom("int32 out of range"))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<i32, E> {
            i32::try_from(v).map_err(|_| E::custom("int32 out of range"))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<i32, E> {
            v.trim().parse().map_err(E::custom)
        }
        fn visit_unit<E: de::Error>(self) -> Result<i32, E> {
            Ok(0)
        }
    }
    d.deserialize_any(V)
}

fn lenient_language<'de, D: Deserializer<'de>>(d: D) -> Result<LanguageCode, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = LanguageCode;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a language name or number")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<LanguageCode, E> {
            Ok(LanguageCode::from_name(v))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<LanguageCode, E> {
            Ok(u8::try_from(v)
                .map(LanguageCode::from_code)
                .unwrap_or(LanguageCode::Other))
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<LanguageCode, E> {
            Ok(LanguageCode::Other)
        }
        fn visit_unit<E: de::Error>(self) -> Result<LanguageCode, E> {
            Ok(LanguageCode::Java)
        }
    }
    d.deserialize_any(V)
}

/// `extFields` with every scalar value turned into the string Java would have received.
struct LenientExt(ExtFields);

impl<'de> Deserialize<'de> for LenientExt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MapV;
        impl<'de> Visitor<'de> for MapV {
            type Value = LenientExt;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an extFields object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<LenientExt, A::Error> {
                let mut pairs = Vec::with_capacity(m.size_hint().unwrap_or(16).min(64));
                let mut keys = 0usize;
                while let Some(ExtKey(k)) = m.next_key::<ExtKey>()? {
                    keys += 1;
                    if keys > MAX_FIELDS {
                        return Err(de::Error::custom(HeaderDecodeError::TooManyFields(
                            MAX_FIELDS,
                        )));
                    }
                    if let Some(v) = m.next_value::<LenientValue>()?.0 {
                        pairs.push((k, v));
                    }
                }
                Ok(LenientExt(ExtFields::from_pairs(pairs)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<LenientExt, E> {
                Ok(LenientExt(ExtFields::new()))
            }
        }
        d.deserialize_any(MapV)
    }
}

/// An extFields key, borrowed from the frame and interned when it is a known name.
struct ExtKey(std::borrow::Cow<'static, str>);

impl<'de> Deserialize<'de> for ExtKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ExtKey;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an extFields key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ExtKey, E> {
                Ok(ExtKey(crate::ext_fields::intern(v)))
            }
        }
        d.deserialize_str(V)
    }
}

struct LenientValue(Option<String>);

impl<'de> Deserialize<'de> for LenientValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LenientValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a scalar extFields value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LenientValue, E> {
                Ok(LenientValue(Some(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<LenientValue, E> {
                Ok(LenientValue(Some(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<LenientValue, E> {
                Ok(LenientValue(Some(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<LenientValue, E> {
                Ok(LenientValue(Some(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<LenientValue, E> {
                Ok(LenientValue(Some(v.to_string())))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<LenientValue, E> {
                Ok(LenientValue(Some(v.to_string())))
            }
            fn visit_unit<E: de::Error>(self) -> Result<LenientValue, E> {
                Ok(LenientValue(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<LenientValue, A::Error> {
                // Nested objects never carry header data; skip rather than reject.
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(LenientValue(None))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut s: A) -> Result<LenientValue, A::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(LenientValue(None))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_header_round_trips() {
        let text = br#"{"code":310,"extFields":{"a":"PG","e":"1","k":"false"},"flag":0,"language":"JAVA","opaque":42,"serializeTypeCurrentRPC":"JSON","version":409}"#;
        let cmd = decode(text).unwrap();
        assert_eq!(cmd.code, 310);
        assert_eq!(cmd.opaque, 42);
        assert_eq!(cmd.version, 409);
        assert_eq!(cmd.ext("a"), Some("PG"));
        let mut out = Vec::new();
        encode(&cmd, &mut out);
        assert_eq!(out, text.to_vec());
    }

    #[test]
    fn lenient_values_and_missing_fields() {
        let text = b"{\"code\":34,\"extFields\":{\"queueId\":3,\"unitMode\":false,\"AccessKey\":\"\",\"x\":null},\"language\":\"CPP\",\"opaque\":7,\"version\":63}\n";
        let cmd = decode(text).unwrap();
        assert_eq!(cmd.ext("queueId"), Some("3"));
        assert_eq!(cmd.ext("unitMode"), Some("false"));
        assert_eq!(cmd.ext("AccessKey"), Some(""));
        assert_eq!(cmd.ext("x"), None);
        assert_eq!(cmd.flag, 0);
        assert_eq!(cmd.language, LanguageCode::Cpp);
    }

    #[test]
    fn control_characters_are_escaped() {
        let mut cmd = RemotingCommand::request(310);
        cmd.ext_mut().insert("i", "KEYS\u{1}k1\u{2}TAGS\u{1}\"t\"");
        let mut out = Vec::new();
        encode(&cmd, &mut out);
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(
            text.contains(r#""i":"KEYS\u0001k1\u0002TAGS\u0001\"t\"""#),
            "{text}"
        );
        assert_eq!(decode(&out).unwrap().ext("i"), cmd.ext("i"));
    }
}
