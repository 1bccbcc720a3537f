//! Every frame captured between Java 4.9.8 clients, broker and name server decodes, and
//! re-encoding it (in either header encoding) gives back the same command.

use std::path::PathBuf;

use bytes::{BufMut, Bytes, BytesMut};
use proptest::prelude::*;
use rmqd_remoting::command::SerializeType;
use rmqd_remoting::frame::{decode_frame, encode_frame};
use rmqd_remoting::{CommandCodec, RemotingCommand};
use serde_json::Value;
use tokio_util::codec::Decoder;

fn fixtures() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/fixtures/wire/java-4.9.8"
    ))
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

/// (fixture line, frame bytes after the length word)
fn frames() -> Vec<(Value, Vec<u8>)> {
    let mut out = Vec::new();
    for f in ["session-json.jsonl", "session-rocketmq-serialize.jsonl"] {
        let text = std::fs::read_to_string(fixtures().join(f)).expect("fixture");
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).expect("json line");
            let ser = v["serialize_type"].as_u64().expect("ser") as u32;
            let h = v["header_json_or_hex"].as_str().expect("header");
            let header = if ser == 0 {
                h.as_bytes().to_vec()
            } else {
                unhex(h)
            };
            let body = unhex(v["body_hex"].as_str().unwrap_or(""));
            let mut b = Vec::new();
            b.extend_from_slice(&((ser << 24) | header.len() as u32).to_be_bytes());
            b.extend_from_slice(&header);
            b.extend_from_slice(&body);
            out.push((v, b));
        }
    }
    out
}

fn same(a: &RemotingCommand, b: &RemotingCommand) {
    assert_eq!(a.code, b.code);
    assert_eq!(a.opaque, b.opaque);
    assert_eq!(a.flag, b.flag);
    assert_eq!(a.remark, b.remark);
    assert_eq!(a.body, b.body);
    let ext = |c: &RemotingCommand| {
        let mut v: Vec<(String, String)> = c
            .ext_fields
            .iter()
            .flat_map(|e| e.iter().map(|(k, v)| (k.to_string(), v.to_string())))
            .collect();
        v.sort();
        v
    };
    assert_eq!(ext(a), ext(b));
}

#[test]
fn every_captured_frame_decodes_and_round_trips() {
    let all = frames();
    assert!(all.len() > 50, "{} frames", all.len());
    for (line, bytes) in all {
        let cmd = decode_frame(Bytes::from(bytes)).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(i64::from(cmd.code), line["code"].as_i64().expect("code"));
        assert_eq!(
            i64::from(cmd.opaque),
            line["opaque"].as_i64().expect("opaque")
        );
        assert_eq!(i64::from(cmd.flag), line["flag"].as_i64().expect("flag"));
        if let Some(ext) = line["header_decoded"]["extFields"].as_object() {
            for (k, v) in ext {
                assert_eq!(cmd.ext(k), v.as_str(), "{k} in {line}");
            }
        }
        for ser in [SerializeType::Json, SerializeType::RocketMq] {
            let mut c = cmd.clone();
            c.serialize_type = ser;
            let enc = encode_frame(&c);
            let again = decode_frame(Bytes::from(enc[4..].to_vec())).expect("re-decode");
            same(&cmd, &again);
        }
    }
}

fn json_frame(header: &str) -> Bytes {
    let mut b = BytesMut::new();
    b.put_u32(header.len() as u32);
    b.put_slice(header.as_bytes());
    b.freeze()
}

#[test]
fn what_real_clients_send_is_accepted() {
    // C++ and ali-ons: no serializeTypeCurrentRPC, numeric and boolean ext values,
    // trailing newline, language by name or number, unknown top-level keys.
    for h in [
        r#"{"code":10,"language":"CPP","version":63,"opaque":1,"flag":0,"extFields":{"queueId":2,"unitMode":false,"flag":0}}"#,
        "{\"code\":10,\"language\":\"CPP\",\"version\":63,\"opaque\":1,\"flag\":0,\"extFields\":{\"queueId\":\"2\"}}\n",
        r#"{"code":10,"language":0,"version":121,"opaque":1,"flag":0,"extFields":{"queueId":"2"},"somethingNew":[1,2]}"#,
    ] {
        let c = decode_frame(json_frame(h)).unwrap_or_else(|e| panic!("{h}: {e}"));
        assert_eq!(c.code, 10);
        assert_eq!(c.ext("queueId"), Some("2"));
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = decode_frame(Bytes::from(bytes.clone()));
        let mut codec = CommandCodec::new(1 << 16);
        let mut buf = BytesMut::from(&bytes[..]);
        for _ in 0..4 {
            match codec.decode(&mut buf) {
                Ok(Some(_)) => continue,
                _ => break,
            }
        }
    }

    #[test]
    fn commands_round_trip(code in 0i32..400, opaque in any::<i32>(), flag in 0i32..4,
                           remark in proptest::option::of("[ -~]{1,40}"),
                           ext in proptest::collection::vec(("[a-zA-Z]{1,8}", "[ -~]{1,20}"), 0..6),
                           body in proptest::collection::vec(any::<u8>(), 0..100),
                           binary in any::<bool>()) {
        // (Empty ext values are dropped by the binary encoding, as Java drops them.)
        let mut c = RemotingCommand::request(code);
        c.opaque = opaque;
        c.flag = flag;
        c.remark = remark;
        for (k, v) in &ext {
            c.ext_mut().insert(k, v);
        }
        c.body = Bytes::from(body);
        c.serialize_type = if binary { SerializeType::RocketMq } else { SerializeType::Json };
        let enc = encode_frame(&c);
        let d = decode_frame(Bytes::from(enc[4..].to_vec())).expect("decode");
        prop_assert_eq!(d.code, c.code);
        prop_assert_eq!(d.opaque, c.opaque);
        prop_assert_eq!(&d.remark, &c.remark);
        prop_assert_eq!(&d.body, &c.body);
        for (k, _) in &ext {
            prop_assert_eq!(d.ext(k), c.ext(k));
        }
    }
}
