//! Every frame captured between Java 4.9.8 clients, broker and name server decodes to the
//! fields the capture recorded, and re-encoding it (in the same or the other header
//! encoding) gives back the same command. Also the lenient JSON headers that non-Java
//! clients send.

use std::collections::BTreeMap;
use std::path::PathBuf;

use bytes::{BufMut, Bytes, BytesMut};
use rmqd_remoting::frame::{decode_frame, encode_frame};
use rmqd_remoting::{CommandCodec, LanguageCode, RemotingCommand, SerializeType};
use serde_json::Value;
use tokio_util::codec::Decoder;

const FILES: [&str; 2] = ["session-json.jsonl", "session-rocketmq-serialize.jsonl"];

fn fixtures() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/fixtures"
    ))
    .join("wire/java-4.9.8")
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len() & 1 == 0, "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// One captured frame.
struct Captured {
    /// `file:line` for failure messages.
    at: String,
    line: Value,
    /// The whole frame as it was on the wire, length word included.
    wire: Vec<u8>,
}

impl Captured {
    /// The frame after the total-length word: what `decode_frame` takes.
    fn frame(&self) -> Bytes {
        Bytes::copy_from_slice(&self.wire[4..])
    }

    fn serialize_type(&self) -> u64 {
        self.line["serialize_type"]
            .as_u64()
            .expect("serialize_type")
    }

    fn int(&self, field: &str) -> i64 {
        self.line[field]
            .as_i64()
            .unwrap_or_else(|| panic!("{}: no {field}", self.at))
    }

    /// The header as a JSON value: the text itself for JSON headers, the capturing
    /// proxy's decoding for binary ones.
    fn header_json(&self) -> Value {
        if self.serialize_type() == 0 {
            let text = self.line["header_json_or_hex"].as_str().expect("header");
            serde_json::from_str(text).unwrap_or_else(|e| panic!("{}: {e}", self.at))
        } else {
            self.line["header_decoded"].clone()
        }
    }
}

fn captured() -> Vec<Captured> {
    let mut out = Vec::new();
    for f in FILES {
        let path = fixtures().join(f);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for (n, raw) in text.lines().enumerate() {
            if raw.trim().is_empty() {
                continue;
            }
            let at = format!("{f}:{}", n + 1);
            let line: Value = serde_json::from_str(raw).unwrap_or_else(|e| panic!("{at}: {e}"));
            let ser = line["serialize_type"].as_u64().expect("serialize_type") as u32;
            let h = line["header_json_or_hex"].as_str().expect("header");
            let header = if ser == 0 {
                h.as_bytes().to_vec()
            } else {
                unhex(h)
            };
            let body = unhex(line["body_hex"].as_str().unwrap_or(""));
            let mut wire = Vec::with_capacity(8 + header.len() + body.len());
            wire.extend_from_slice(&((4 + header.len() + body.len()) as u32).to_be_bytes());
            wire.extend_from_slice(&((ser << 24) | header.len() as u32).to_be_bytes());
            wire.extend_from_slice(&header);
            wire.extend_from_slice(&body);
            out.push(Captured { at, line, wire });
        }
    }
    assert!(out.len() >= 500, "only {} captured frames", out.len());
    out
}

/// Ext fields as a sorted map, for order-insensitive comparison.
fn ext_map(c: &RemotingCommand) -> BTreeMap<String, String> {
    c.ext_fields
        .iter()
        .flat_map(|e| e.iter().map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect()
}

/// The same command after a trip through the given header encoding loses only what
/// that encoding cannot carry: the binary header drops empty remarks and empty ext
/// entries (Java reads zero-length strings as null).
fn normalized(
    c: &RemotingCommand,
    ser: SerializeType,
) -> (
    i32,
    i32,
    i32,
    Option<String>,
    BTreeMap<String, String>,
    Bytes,
) {
    let mut ext = ext_map(c);
    let mut remark = c.remark.clone();
    if ser == SerializeType::RocketMq {
        ext.retain(|k, v| !k.is_empty() && !v.is_empty());
        remark = remark.filter(|r| !r.is_empty());
    }
    (c.code, c.opaque, c.flag, remark, ext, c.body.clone())
}

fn decode_captured(c: &Captured) -> RemotingCommand {
    decode_frame(c.frame()).unwrap_or_else(|e| panic!("{}: {e}", c.at))
}

fn decode_wire(wire: &[u8]) -> RemotingCommand {
    assert_eq!(
        u32::from_be_bytes(wire[..4].try_into().expect("len")) as usize,
        wire.len() - 4,
        "length word"
    );
    decode_frame(Bytes::copy_from_slice(&wire[4..])).expect("re-decode")
}

#[test]
fn rebuilt_frames_match_the_recorded_lengths() {
    for c in captured() {
        assert_eq!(c.wire.len() as i64 - 4, c.int("frame_len"), "{}", c.at);
        let word = u32::from_be_bytes(c.wire[4..8].try_into().expect("word"));
        assert_eq!(i64::from(word & 0xFF_FFFF), c.int("header_len"), "{}", c.at);
    }
}

#[test]
fn every_captured_frame_decodes_to_the_recorded_fields() {
    for c in captured() {
        let cmd = decode_captured(&c);
        assert_eq!(i64::from(cmd.code), c.int("code"), "{}", c.at);
        assert_eq!(i64::from(cmd.opaque), c.int("opaque"), "{}", c.at);
        assert_eq!(i64::from(cmd.flag), c.int("flag"), "{}", c.at);
        let expected_ser = if c.serialize_type() == 0 {
            SerializeType::Json
        } else {
            SerializeType::RocketMq
        };
        assert_eq!(cmd.serialize_type, expected_ser, "{}", c.at);
        assert_eq!(
            cmd.body.as_ref(),
            &unhex(c.line["body_hex"].as_str().unwrap_or(""))[..],
            "{}",
            c.at
        );

        let header = c.header_json();
        assert_eq!(
            i64::from(cmd.version),
            header["version"].as_i64().expect("version"),
            "{}",
            c.at
        );
        assert_eq!(cmd.remark.as_deref(), header["remark"].as_str(), "{}", c.at);
        let lang = &header["language"];
        let expected_lang = match lang.as_u64() {
            Some(n) => LanguageCode::from_code(n as u8),
            None => LanguageCode::from_name(lang.as_str().expect("language")),
        };
        assert_eq!(cmd.language, expected_lang, "{}", c.at);
        match header["extFields"].as_object() {
            Some(ext) => {
                let expected: BTreeMap<String, String> = ext
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().expect("string value").to_owned()))
                    .collect();
                assert_eq!(ext_map(&cmd), expected, "{}", c.at);
            }
            None => assert!(
                !matches!(&cmd.ext_fields, Some(e) if !e.is_empty()),
                "{}: ext fields from nowhere",
                c.at
            ),
        }
    }
}

#[test]
fn captured_sessions_decode_as_streams() {
    // Each session file as one byte stream through the codec, fed in uneven chunks.
    for f in FILES {
        let frames: Vec<Captured> = captured()
            .into_iter()
            .filter(|c| c.at.starts_with(f))
            .collect();
        let stream: Vec<u8> = frames.iter().flat_map(|c| c.wire.clone()).collect();
        let mut codec = CommandCodec::default();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for (i, chunk) in stream.chunks(997).enumerate() {
            buf.put_slice(chunk);
            while let Some(cmd) = codec
                .decode(&mut buf)
                .unwrap_or_else(|e| panic!("{f} chunk {i}: {e}"))
            {
                got.push(cmd);
            }
        }
        assert!(buf.is_empty(), "{f}: {} bytes left over", buf.len());
        assert_eq!(got.len(), frames.len(), "{f}");
        for (cmd, c) in got.iter().zip(&frames) {
            assert_eq!(cmd, &decode_captured(c), "{}", c.at);
        }
    }
}

#[test]
fn re_encoding_in_the_same_encoding_gives_the_same_command() {
    for c in captured() {
        let cmd = decode_captured(&c);
        let wire = encode_frame(&cmd);
        let again = decode_wire(&wire);
        assert_eq!(again, cmd, "{}", c.at);
        // The header encoding is kept, so a response goes out the way the request came.
        assert_eq!(u32::from(wire[4]), c.serialize_type() as u32, "{}", c.at);
    }
}

#[test]
fn re_encoding_gives_back_javas_bytes() {
    // rmqd writes headers the way Java does: fastjson's property order for JSON, and
    // the same layout for binary; ext fields keep their arrival order. So decoding a
    // Java frame and encoding it again reproduces it byte for byte.
    let mut differ = Vec::new();
    for c in captured() {
        let wire = encode_frame(&decode_captured(&c));
        if wire != c.wire {
            differ.push(format!(
                "{}\n  java: {}\n  rmqd: {}",
                c.at,
                String::from_utf8_lossy(&c.wire[8..c.wire.len().min(300)]),
                String::from_utf8_lossy(&wire[8..wire.len().min(300)])
            ));
        }
    }
    assert!(
        differ.is_empty(),
        "{} frames differ:\n{}",
        differ.len(),
        differ.join("\n")
    );
}

#[test]
fn switching_the_header_encoding_keeps_the_command() {
    for c in captured() {
        let cmd = decode_captured(&c);
        let other = match cmd.serialize_type {
            SerializeType::Json => SerializeType::RocketMq,
            SerializeType::RocketMq => SerializeType::Json,
        };
        let mut switched = cmd.clone();
        switched.serialize_type = other;
        let wire = encode_frame(&switched);
        assert_eq!(wire[4], other.byte(), "{}: encoded as the new type", c.at);
        let again = decode_wire(&wire);
        assert_eq!(again.serialize_type, other, "{}", c.at);
        assert_eq!(
            normalized(&again, other),
            normalized(&cmd, other),
            "{}",
            c.at
        );
        assert_eq!(again.language, cmd.language, "{}", c.at);
        assert_eq!(again.version, cmd.version, "{}", c.at);
        // And back: the original encoding again.
        let mut back = again.clone();
        back.serialize_type = cmd.serialize_type;
        let back = decode_wire(&encode_frame(&back));
        assert_eq!(
            normalized(&back, other),
            normalized(&cmd, other),
            "{}",
            c.at
        );
    }
}

// ---- what non-Java clients send ----------------------------------------------------

/// Decode a JSON header both ways (whole frame and through the codec); both must agree.
fn decode_json_header(header: &str) -> RemotingCommand {
    let mut wire = BytesMut::new();
    wire.put_u32((4 + header.len() + 3) as u32);
    wire.put_u32(header.len() as u32);
    wire.put_slice(header.as_bytes());
    wire.put_slice(b"abc");
    let whole = decode_frame(Bytes::copy_from_slice(&wire[4..]))
        .unwrap_or_else(|e| panic!("{header:?}: {e}"));
    let streamed = CommandCodec::default()
        .decode(&mut wire)
        .unwrap_or_else(|e| panic!("{header:?}: {e}"))
        .expect("whole frame");
    assert_eq!(whole, streamed);
    assert!(wire.is_empty());
    assert_eq!(whole.body.as_ref(), b"abc");
    assert_eq!(whole.serialize_type, SerializeType::Json);
    whole
}

#[test]
fn json_header_without_serialize_type_current_rpc() {
    // The C++ clients and ali-ons never send serializeTypeCurrentRPC.
    let c = decode_json_header(
        r#"{"code":105,"extFields":{"topic":"T"},"flag":0,"language":"CPP","opaque":12,"version":63}"#,
    );
    assert_eq!((c.code, c.opaque, c.flag, c.version), (105, 12, 0, 63));
    assert_eq!(c.ext("topic"), Some("T"));
    assert_eq!(c.remark, None);
    // A header with nothing but the code takes Java's defaults for the rest.
    let c = decode_json_header(r#"{"code":206}"#);
    assert_eq!((c.code, c.opaque, c.flag, c.version), (206, 0, 0, 0));
    assert_eq!(c.ext_fields, None);
}

#[test]
fn json_header_ending_with_a_newline() {
    for tail in ["\n", "\r\n", " \n", "\n\n"] {
        let h = format!(
            r#"{{"code":34,"flag":0,"language":"CPP","opaque":3,"version":63,"extFields":{{"a":"b"}}}}{tail}"#
        );
        let c = decode_json_header(&h);
        assert_eq!((c.code, c.opaque), (34, 3), "{tail:?}");
        assert_eq!(c.ext("a"), Some("b"));
    }
}

#[test]
fn ext_field_values_that_are_numbers_or_booleans() {
    let c = decode_json_header(
        r#"{"code":11,"opaque":1,"extFields":{"queueId":3,"queueOffset":-9007199254740993,"maxMsgNums":32,"unitMode":false,"order":true,"ratio":0.5,"topic":"T","gone":null}}"#,
    );
    assert_eq!(c.ext("queueId"), Some("3"));
    assert_eq!(c.ext("queueOffset"), Some("-9007199254740993"));
    assert_eq!(c.ext("maxMsgNums"), Some("32"));
    assert_eq!(c.ext("unitMode"), Some("false"));
    assert_eq!(c.ext("order"), Some("true"));
    assert_eq!(c.ext("ratio"), Some("0.5"));
    assert_eq!(c.ext("topic"), Some("T"));
    assert_eq!(c.ext("gone"), None, "null values vanish as in Java's map");
}

#[test]
fn language_as_a_name_or_a_number() {
    for (lang, expected) in [
        (r#""JAVA""#, LanguageCode::Java),
        (r#""CPP""#, LanguageCode::Cpp),
        (r#""GO""#, LanguageCode::Go),
        (r#""RUST""#, LanguageCode::Rust),
        ("0", LanguageCode::Java),
        ("1", LanguageCode::Cpp),
        ("9", LanguageCode::Go),
        ("12", LanguageCode::Rust),
    ] {
        let c = decode_json_header(&format!(
            r#"{{"code":10,"language":{lang},"opaque":5,"version":409}}"#
        ));
        assert_eq!(c.language, expected, "language {lang}");
        assert_eq!(c.code, 10);
    }
    // Names and numbers nobody knows do not reject the header.
    for lang in [r#""COBOL""#, "200", "-1"] {
        let c = decode_json_header(&format!(r#"{{"code":10,"language":{lang},"opaque":5}}"#));
        assert_eq!((c.code, c.opaque), (10, 5), "language {lang}");
    }
}

#[test]
fn unknown_top_level_header_keys_are_ignored() {
    let c = decode_json_header(
        r#"{"code":105,"somethingNew":[1,{"x":2}],"nested":{"a":{"b":null}},"serializeTypeCurrentRPC":"JSON","extFields":{"topic":"T"},"opaque":8,"flag":0,"x":null,"y":1.5e3,"z":true}"#,
    );
    assert_eq!((c.code, c.opaque, c.flag), (105, 8, 0));
    assert_eq!(c.ext("topic"), Some("T"));
    assert_eq!(c.ext_fields.as_ref().map(|e| e.len()), Some(1));
}
