//! SEND_BATCH_MESSAGE bodies: the producer's messages, each `[totalSize][magic][bodyCRC]
//! [flag][bodyLen][body][propsLen:i16][props]`.

use bytes::Bytes;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchEntry {
    pub flag: i32,
    /// Shares the request frame's buffer.
    pub body: Bytes,
    pub properties: String,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum BatchError {
    #[error("batch body truncated at byte {0}")]
    Truncated(usize),
    #[error("batch entry at byte {0} has an impossible size")]
    BadSize(usize),
    #[error("batch entry at byte {0} has properties that are not UTF-8")]
    NotUtf8(usize),
    #[error("batch body holds no message")]
    Empty,
}

pub fn decode(body: &Bytes) -> Result<Vec<BatchEntry>, BatchError> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    let read_i32 = |at: usize| -> Result<i32, BatchError> {
        body.get(at..at + 4)
            .and_then(|s| s.try_into().ok())
            .map(i32::from_be_bytes)
            .ok_or(BatchError::Truncated(at))
    };
    while pos < body.len() {
        let start = pos;
        let total = usize::try_from(read_i32(pos)?).map_err(|_| BatchError::BadSize(start))?;
        if total < 22 || start + total > body.len() {
            return Err(BatchError::BadSize(start));
        }
        let flag = read_i32(pos + 12)?;
        let body_len =
            usize::try_from(read_i32(pos + 16)?).map_err(|_| BatchError::BadSize(start))?;
        pos += 20;
        let body_end = pos
            .checked_add(body_len)
            .ok_or(BatchError::BadSize(start))?;
        if body_end + 2 > start + total {
            return Err(BatchError::BadSize(start));
        }
        let msg_body = body.slice(pos..body_end);
        pos = body_end;
        let props_len = body
            .get(pos..pos + 2)
            .map(|s| u16::from_be_bytes([s[0], s[1]]) as usize)
            .ok_or(BatchError::Truncated(pos))?;
        pos += 2;
        let props_end = pos + props_len;
        if props_end > start + total {
            return Err(BatchError::BadSize(start));
        }
        let properties = std::str::from_utf8(&body[pos..props_end])
            .map_err(|_| BatchError::NotUtf8(start))?
            .to_owned();
        out.push(BatchEntry {
            flag,
            body: msg_body,
            properties,
        });
        pos = start + total;
    }
    if out.is_empty() {
        return Err(BatchError::Empty);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(body: &[u8], props: &str) -> Vec<u8> {
        let total = 20 + body.len() + 2 + props.len();
        let mut v = Vec::new();
        v.extend_from_slice(&(total as i32).to_be_bytes());
        v.extend_from_slice(&[0; 8]);
        v.extend_from_slice(&7i32.to_be_bytes());
        v.extend_from_slice(&(body.len() as i32).to_be_bytes());
        v.extend_from_slice(body);
        v.extend_from_slice(&(props.len() as u16).to_be_bytes());
        v.extend_from_slice(props.as_bytes());
        v
    }

    #[test]
    fn decodes_entries_and_rejects_damage() {
        let mut raw = entry(b"wire-batch-0", "KEYS\u{1}k0");
        raw.extend(entry(b"b1", ""));
        let raw = Bytes::from(raw);
        let e = decode(&raw).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(&e[0].body[..], b"wire-batch-0");
        assert_eq!(e[0].flag, 7);
        assert_eq!(e[0].properties, "KEYS\u{1}k0");
        assert_eq!(e[1].properties, "");
        for cut in 1..raw.len() {
            let _ = decode(&raw.slice(..cut));
        }
        assert!(decode(&raw.slice(..raw.len() - 1)).is_err());
        assert_eq!(decode(&Bytes::new()), Err(BatchError::Empty));
    }

    proptest::proptest! {
        /// Client-sent batch bodies are untrusted: any bytes decode or fail, never panic.
        #[test]
        fn arbitrary_bodies_never_panic(raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = decode(&Bytes::from(raw));
        }

        #[test]
        fn encoded_batches_decode_to_their_entries(
            entries in proptest::collection::vec(
                (proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64), "[a-zA-Z0-9\u{1}\u{2}]{0,40}"),
                1..8,
            )
        ) {
            let mut raw = Vec::new();
            for (b, p) in &entries {
                raw.extend(entry(b, p));
            }
            let got = decode(&Bytes::from(raw)).expect("well-formed batch");
            proptest::prop_assert_eq!(got.len(), entries.len());
            for (g, (b, p)) in got.iter().zip(&entries) {
                proptest::prop_assert_eq!(&g.body[..], &b[..]);
                proptest::prop_assert_eq!(&g.properties, p);
            }
        }

        /// Damage inside a well-formed batch (a flipped byte) never panics either.
        #[test]
        fn damaged_batches_never_panic(at in 0usize..200, bit in 0u8..8) {
            let mut raw = entry(b"wire-batch-0", "KEYS\u{1}k0\u{2}TAGS\u{1}t");
            raw.extend(entry(b"second", ""));
            let i = at % raw.len();
            raw[i] ^= 1 << bit;
            let _ = decode(&Bytes::from(raw));
        }
    }
}
