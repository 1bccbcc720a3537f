//! BATCH_ACK_MESSAGE (200151) bodies: `BatchAckMessageRequestBody`, a broker name and a list
//! of `BatchAck`s (fastjson short names), each naming a checkpoint and the acknowledged
//! offsets as a `java.util.BitSet` relative to its start offset, written by fastjson as the
//! base64 of `BitSet.toByteArray()` (little-endian bytes).

use base64::Engine as _;
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct BatchAckBody {
    #[serde(rename = "brokerName")]
    pub broker_name: Option<String>,
    pub acks: Vec<BatchAck>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct BatchAck {
    #[serde(rename = "c", alias = "consumerGroup")]
    pub consumer_group: String,
    #[serde(rename = "t", alias = "topic")]
    pub topic: String,
    /// "0" normal topic, "1"/"2" its retry topic.
    #[serde(rename = "r", alias = "retry")]
    pub retry: String,
    #[serde(rename = "so", alias = "startOffset")]
    pub start_offset: i64,
    #[serde(rename = "q", alias = "queueId")]
    pub queue_id: i32,
    #[serde(rename = "rq", alias = "reviveQueueId")]
    pub revive_queue_id: i32,
    #[serde(rename = "pt", alias = "popTime")]
    pub pop_time: i64,
    #[serde(rename = "it", alias = "invisibleTime")]
    pub invisible_time: i64,
    #[serde(rename = "b", alias = "bitSet")]
    pub bit_set: Option<String>,
}

/// A bit set longer than this many bytes is refused: a checkpoint covers at most 32
/// messages, and no client sends more than a few bytes.
const MAX_BITSET_BYTES: usize = 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BatchAckError {
    #[error("bad batch ack body: {0}")]
    Json(String),
    #[error("bad batch ack bit set")]
    BitSet,
}

pub fn decode(body: &[u8]) -> Result<BatchAckBody, BatchAckError> {
    serde_json::from_slice(body).map_err(|e| BatchAckError::Json(e.to_string()))
}

impl BatchAck {
    /// The acknowledged offsets: `start_offset + i` for every set bit `i`.
    pub fn offsets(&self) -> Result<Vec<i64>, BatchAckError> {
        let Some(b64) = &self.bit_set else {
            return Ok(Vec::new());
        };
        if b64.len() > MAX_BITSET_BYTES * 4 / 3 + 4 {
            return Err(BatchAckError::BitSet);
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| BatchAckError::BitSet)?;
        let mut out = Vec::new();
        for (i, byte) in bytes.iter().enumerate() {
            for bit in 0..8 {
                if byte & (1 << bit) != 0 {
                    out.push(self.start_offset.saturating_add((i * 8 + bit) as i64));
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_body_reads() {
        // BitSet {0, 2, 9}.toByteArray() = [0x05, 0x02] → "BQI=".
        let raw = br#"{"acks":[{"b":"BQI=","c":"g","it":30000,"pt":1700000000000,"q":1,"r":"0","rq":3,"so":100,"t":"T"}],"brokerName":"broker-a"}"#;
        let body = decode(raw).unwrap();
        assert_eq!(body.broker_name.as_deref(), Some("broker-a"));
        assert_eq!(body.acks[0].offsets().unwrap(), vec![100, 102, 109]);
        assert!(decode(b"{").is_err());
        let bad = BatchAck {
            bit_set: Some("!!".into()),
            ..Default::default()
        };
        assert_eq!(bad.offsets(), Err(BatchAckError::BitSet));
    }

    proptest::proptest! {
        /// Batch ack bodies come from clients: any bytes decode or are refused.
        #[test]
        fn arbitrary_bodies_never_panic(raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            if let Ok(b) = decode(&raw) {
                for a in &b.acks {
                    let _ = a.offsets();
                }
            }
        }

        #[test]
        fn bit_sets_decode_to_their_offsets(bits in proptest::collection::btree_set(0usize..64, 0..20), start in 0i64..1_000_000) {
            let mut bytes = vec![0u8; 8];
            for b in &bits {
                bytes[b / 8] |= 1 << (b % 8);
            }
            while bytes.last() == Some(&0) {
                bytes.pop();
            }
            let a = BatchAck {
                start_offset: start,
                bit_set: Some(base64::engine::general_purpose::STANDARD.encode(&bytes)),
                ..Default::default()
            };
            let want: Vec<i64> = bits.iter().map(|b| start + *b as i64).collect();
            proptest::prop_assert_eq!(a.offsets().unwrap(), want);
        }
    }
}
