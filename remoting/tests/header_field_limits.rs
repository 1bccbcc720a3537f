//! How many extFields one header may carry. A frame under the 16 MiB limit can hold
//! hundreds of thousands of tiny fields; decoding must refuse such a header outright
//! (the connection is then closed, as for any malformed frame) and must resolve the
//! fields it does accept without comparing each one against all the others.

use bytes::Bytes;
use rmqd_remoting::frame::decode_frame;
use rmqd_remoting::header::HeaderDecodeError;
use rmqd_remoting::{FrameError, SerializeType};

/// A frame body (after the length word) with a JSON header whose extFields are `fields`.
fn json_frame(fields: impl Iterator<Item = (String, String)>) -> Bytes {
    let mut header = String::from(r#"{"code":310,"language":"JAVA","opaque":1,"extFields":{"#);
    for (i, (k, v)) in fields.enumerate() {
        if i > 0 {
            header.push(',');
        }
        header.push_str(&format!("\"{k}\":\"{v}\""));
    }
    header.push_str("},\"flag\":0,\"version\":409}");
    let mut frame = (header.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(header.as_bytes());
    Bytes::from(frame)
}

/// The same with a ROCKETMQ binary header.
fn binary_frame(fields: impl Iterator<Item = (String, String)>) -> Bytes {
    let mut ext = Vec::new();
    for (k, v) in fields {
        ext.extend_from_slice(&(k.len() as i16).to_be_bytes());
        ext.extend_from_slice(k.as_bytes());
        ext.extend_from_slice(&(v.len() as i32).to_be_bytes());
        ext.extend_from_slice(v.as_bytes());
    }
    let mut h = Vec::new();
    h.extend_from_slice(&310i16.to_be_bytes());
    h.push(0);
    h.extend_from_slice(&409i16.to_be_bytes());
    h.extend_from_slice(&1i32.to_be_bytes());
    h.extend_from_slice(&0i32.to_be_bytes());
    h.extend_from_slice(&0i32.to_be_bytes());
    h.extend_from_slice(&(ext.len() as i32).to_be_bytes());
    h.extend_from_slice(&ext);
    let mut frame = ((1u32 << 24) | h.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&h);
    Bytes::from(frame)
}

fn distinct(n: usize) -> impl Iterator<Item = (String, String)> {
    (0..n).map(|i| (format!("f{i}"), "x".to_string()))
}

fn assert_too_many(r: Result<rmqd_remoting::RemotingCommand, FrameError>, what: &str) {
    match r {
        Err(FrameError::Header(HeaderDecodeError::TooManyFields(max))) => {
            assert!(
                max >= 1000,
                "{what}: a bound of {max} would refuse real clients"
            )
        }
        Err(e) => panic!("{what}: refused for the wrong reason: {e}"),
        Ok(cmd) => panic!(
            "{what}: accepted with {} fields",
            cmd.ext_fields.map(|e| e.len()).unwrap_or(0)
        ),
    }
}

/// The defect's frame: about 2.4 MB of JSON, 200,000 distinct fields. Decoding it used to
/// cost 36-40 CPU-seconds in a release build.
#[test]
fn a_json_header_with_200_000_fields_is_refused() {
    let frame = json_frame(distinct(200_000));
    assert!(frame.len() < 16 * 1024 * 1024);
    assert_too_many(decode_frame(frame), "JSON, 200,000 fields");
}

#[test]
fn a_binary_header_with_200_000_fields_is_refused() {
    assert_too_many(
        decode_frame(binary_frame(distinct(200_000))),
        "binary, 200,000 fields",
    );
}

/// Just past a few thousand: still far more than any client sends.
#[test]
fn five_thousand_fields_are_refused_in_both_encodings() {
    assert_too_many(decode_frame(json_frame(distinct(5_000))), "JSON, 5,000");
    assert_too_many(decode_frame(binary_frame(distinct(5_000))), "binary, 5,000");
}

/// Repeating one key counts every occurrence: the bound is on the work, not on what
/// survives deduplication.
#[test]
fn repeats_of_one_key_count_against_the_bound() {
    let same = (0..5_000).map(|i| ("topic".to_string(), i.to_string()));
    assert_too_many(decode_frame(json_frame(same)), "JSON, one key 5,000 times");
}

/// Up to the bound, every field is kept in arrival order and a repeated key keeps its
/// first position with its last value, as in both encodings' decoders before.
#[test]
fn four_thousand_fields_with_repeats_decode_like_java_put() {
    let fields = || {
        (0..4_000).map(|i| {
            let k = if i % 4 == 3 {
                format!("f{}", i / 2)
            } else {
                format!("f{i}")
            };
            (k, format!("v{i}"))
        })
    };
    for (frame, ser) in [
        (json_frame(fields()), SerializeType::Json),
        (binary_frame(fields()), SerializeType::RocketMq),
    ] {
        let cmd = decode_frame(frame).expect("within the bound");
        assert_eq!(cmd.serialize_type, ser);
        let ext = cmd.ext_fields.expect("fields");
        // Expected: insert one by one into an ordered map that keeps first positions.
        let mut order: Vec<String> = Vec::new();
        let mut last = std::collections::HashMap::new();
        for (k, v) in fields() {
            if last.insert(k.clone(), v).is_none() {
                order.push(k);
            }
        }
        let got: Vec<(&str, &str)> = ext.iter().collect();
        let want: Vec<(&str, &str)> = order
            .iter()
            .map(|k| (k.as_str(), last[k].as_str()))
            .collect();
        assert_eq!(got, want, "{ser:?}");
        // f3 repeats as f1: f1 keeps position 1 with f3's value.
        assert_eq!(ext.get("f1"), Some("v3"));
    }
}
