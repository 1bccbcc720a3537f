//! `RegisterBrokerBody`, plain JSON or the compressed binary form a broker sends with
//! `compressedRegister=true`.

use std::io::Read;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::topic::{DataVersion, TopicConfig, TopicConfigSerializeWrapper};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RegisterBrokerBody {
    pub filter_server_list: Vec<String>,
    pub topic_config_serialize_wrapper: TopicConfigSerializeWrapper,
}

#[derive(Debug, Error)]
pub enum RegisterBodyError {
    #[error("register body is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("compressed register body does not inflate: {0}")]
    Inflate(std::io::Error),
    #[error("compressed register body is truncated")]
    Truncated,
    #[error("compressed register body holds a bad topic config {0:?}")]
    BadTopic(String),
}

/// Inflated size we refuse to exceed, so a small hostile body cannot balloon in memory.
const MAX_INFLATED: u64 = 64 * 1024 * 1024;

impl RegisterBrokerBody {
    pub fn decode(body: &[u8], compressed: bool) -> Result<Self, RegisterBodyError> {
        if !compressed {
            return Ok(serde_json::from_slice(body)?);
        }
        let mut raw = Vec::new();
        flate2::read::ZlibDecoder::new(body)
            .take(MAX_INFLATED)
            .read_to_end(&mut raw)
            .map_err(RegisterBodyError::Inflate)?;
        let mut r = Cursor(&raw);
        let data_version: DataVersion = serde_json::from_slice(r.chunk()?)?;
        let count = r.i32()?;
        let mut wrapper = TopicConfigSerializeWrapper {
            data_version,
            ..Default::default()
        };
        for _ in 0..count.max(0) {
            let text = std::str::from_utf8(r.chunk()?)
                .map_err(|_| RegisterBodyError::BadTopic("not UTF-8".into()))?;
            let tc = parse_topic_config_text(text)?;
            wrapper.topic_config_table.insert(tc.topic_name.clone(), tc);
        }
        let filter_server_list = serde_json::from_slice(r.chunk()?)?;
        Ok(RegisterBrokerBody {
            filter_server_list,
            topic_config_serialize_wrapper: wrapper,
        })
    }
}

/// `TopicConfig.encode()` text: `name read write perm filterType [attributesJson]`.
fn parse_topic_config_text(text: &str) -> Result<TopicConfig, RegisterBodyError> {
    let bad = || RegisterBodyError::BadTopic(text.to_owned());
    let mut it = text.splitn(6, ' ');
    let mut next = || it.next().ok_or_else(bad);
    let topic_name = next()?.to_owned();
    let read_queue_nums = next()?.parse().map_err(|_| bad())?;
    let write_queue_nums = next()?.parse().map_err(|_| bad())?;
    let perm = next()?.parse().map_err(|_| bad())?;
    let topic_filter_type = next()?.to_owned();
    let attributes = match it.next() {
        Some(a) if !a.trim().is_empty() => serde_json::from_str(a).ok(),
        _ => None,
    };
    Ok(TopicConfig {
        attributes,
        topic_name,
        read_queue_nums,
        write_queue_nums,
        perm,
        topic_filter_type,
        ..Default::default()
    })
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn i32(&mut self) -> Result<i32, RegisterBodyError> {
        let (head, rest) = self
            .0
            .split_first_chunk::<4>()
            .ok_or(RegisterBodyError::Truncated)?;
        self.0 = rest;
        Ok(i32::from_be_bytes(*head))
    }

    fn chunk(&mut self) -> Result<&'a [u8], RegisterBodyError> {
        let len = usize::try_from(self.i32()?).map_err(|_| RegisterBodyError::Truncated)?;
        if len > self.0.len() {
            return Err(RegisterBodyError::Truncated);
        }
        let (c, rest) = self.0.split_at(len);
        self.0 = rest;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn compress(parts: &[&[u8]], topics: &[&str]) -> Vec<u8> {
        let mut raw = Vec::new();
        raw.extend_from_slice(&(parts[0].len() as i32).to_be_bytes());
        raw.extend_from_slice(parts[0]);
        raw.extend_from_slice(&(topics.len() as i32).to_be_bytes());
        for t in topics {
            raw.extend_from_slice(&(t.len() as i32).to_be_bytes());
            raw.extend_from_slice(t.as_bytes());
        }
        raw.extend_from_slice(&(parts[1].len() as i32).to_be_bytes());
        raw.extend_from_slice(parts[1]);
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&raw).unwrap();
        z.finish().unwrap()
    }

    #[test]
    fn compressed_form_decodes() {
        let body = compress(
            &[br#"{"counter":3,"timestamp":17}"#, b"[]"],
            &["TopicA 4 4 6 SINGLE_TAG", "TopicB 8 8 7 SINGLE_TAG {}"],
        );
        let b = RegisterBrokerBody::decode(&body, true).unwrap();
        let w = &b.topic_config_serialize_wrapper;
        assert_eq!(w.data_version.counter, 3);
        assert_eq!(w.topic_config_table["TopicA"].read_queue_nums, 4);
        assert_eq!(w.topic_config_table["TopicB"].perm, 7);
    }

    #[test]
    fn damaged_compressed_bodies_are_errors() {
        let body = compress(&[br#"{"counter":3,"timestamp":17}"#, b"[]"], &["Bad"]);
        assert!(RegisterBrokerBody::decode(&body, true).is_err());
        assert!(RegisterBrokerBody::decode(b"not zlib", true).is_err());
        let mut body = compress(&[b"{}", b"[]"], &[]);
        body.truncate(body.len() / 2);
        assert!(RegisterBrokerBody::decode(&body, true).is_err());
    }

    proptest::proptest! {
        /// REGISTER_BROKER bodies come off the network: neither plain nor compressed
        /// decoding panics on any bytes, including any bytes that inflate fine.
        #[test]
        fn arbitrary_bodies_never_panic(raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            let _ = RegisterBrokerBody::decode(&raw, false);
            let _ = RegisterBrokerBody::decode(&raw, true);
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            z.write_all(&raw).expect("deflate");
            let _ = RegisterBrokerBody::decode(&z.finish().expect("deflate"), true);
        }
    }
}
