//! The master/slave replication stream on `haListenPort` (Java's `HAService` and
//! `HAConnection`): raw TCP, no RemotingCommand, no handshake.
//!
//! - slave → master: 8-byte big-endian int64 reports, each the slave's CommitLog end;
//!   the master uses only the last complete one it has read.
//! - master → slave: 12-byte headers (int64 start offset, int32 size, big-endian), each
//!   followed by `size` raw CommitLog bytes; size 0 is a heartbeat.

use bytes::{Buf, Bytes, BytesMut};
use tokio_util::codec::Decoder;

pub const TRANSFER_HEADER_LEN: usize = 12;
pub const REPORT_LEN: usize = 8;

/// The largest transfer body a Java slave can take: its read buffer is 4 MiB, header
/// included (`HAClient.READ_MAX_BUFFER_SIZE`).
pub const MAX_TRANSFER_BODY: usize = 4 * 1024 * 1024 - TRANSFER_HEADER_LEN;

/// One master → slave frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// CommitLog offset of the first body byte.
    pub start: i64,
    /// Raw CommitLog bytes; empty for a heartbeat.
    pub body: Bytes,
}

#[derive(Debug, thiserror::Error)]
pub enum HaError {
    #[error("transfer header with negative size {0}")]
    NegativeSize(i32),
    #[error("transfer of {size} bytes exceeds the {max}-byte limit")]
    TooLarge { size: usize, max: usize },
    #[error("transfer header with negative start offset {0}")]
    NegativeStart(i64),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

pub fn transfer_header(start: i64, size: usize) -> [u8; TRANSFER_HEADER_LEN] {
    let mut h = [0u8; TRANSFER_HEADER_LEN];
    h[..8].copy_from_slice(&start.to_be_bytes());
    h[8..].copy_from_slice(&(size.min(i32::MAX as usize) as i32).to_be_bytes());
    h
}

pub fn report(offset: i64) -> [u8; REPORT_LEN] {
    offset.to_be_bytes()
}

/// The slave's decoder of master frames.
#[derive(Debug, Clone)]
pub struct TransferDecoder {
    max_body: usize,
}

impl TransferDecoder {
    pub fn new(max_body: usize) -> Self {
        TransferDecoder { max_body }
    }
}

impl Default for TransferDecoder {
    fn default() -> Self {
        Self::new(MAX_TRANSFER_BODY)
    }
}

impl Decoder for TransferDecoder {
    type Item = Transfer;
    type Error = HaError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Transfer>, HaError> {
        let Some(head) = src.get(..TRANSFER_HEADER_LEN) else {
            return Ok(None);
        };
        let mut h = head;
        let start = h.get_i64();
        let size = h.get_i32();
        if start < 0 {
            return Err(HaError::NegativeStart(start));
        }
        let size = usize::try_from(size).map_err(|_| HaError::NegativeSize(size))?;
        if size > self.max_body {
            return Err(HaError::TooLarge {
                size,
                max: self.max_body,
            });
        }
        if src.len() < TRANSFER_HEADER_LEN + size {
            src.reserve(TRANSFER_HEADER_LEN + size - src.len());
            return Ok(None);
        }
        src.advance(TRANSFER_HEADER_LEN);
        let body = src.split_to(size).freeze();
        Ok(Some(Transfer { start, body }))
    }
}

/// The master's decoder of slave reports: like `ReadSocketService`, it consumes every
/// complete 8-byte report available and yields only the last (a report that is already
/// superseded is not worth acting on). A partial report waits for its remaining bytes.
#[derive(Debug, Clone, Default)]
pub struct ReportDecoder;

impl Decoder for ReportDecoder {
    type Item = i64;
    type Error = HaError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<i64>, HaError> {
        let whole = src.len() - src.len() % REPORT_LEN;
        if whole == 0 {
            return Ok(None);
        }
        let mut last = src.split_to(whole);
        last.advance(whole - REPORT_LEN);
        Ok(Some(last.get_i64()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn header_and_report_layout() {
        assert_eq!(
            transfer_header(1_048_576, 32_768),
            [0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0x80, 0]
        );
        assert_eq!(report(6078), [0, 0, 0, 0, 0, 0, 0x17, 0xbe]);
    }

    #[test]
    fn reports_yield_the_last_complete_value() {
        let mut d = ReportDecoder;
        let mut b = BytesMut::new();
        for v in [1i64, 2, 3] {
            b.extend_from_slice(&report(v));
        }
        b.extend_from_slice(&[0, 0, 0]);
        assert_eq!(d.decode(&mut b).unwrap(), Some(3));
        assert_eq!(b.len(), 3, "the partial report waits");
        assert_eq!(d.decode(&mut b).unwrap(), None);
        b.extend_from_slice(&[0, 0, 0, 0, 9]);
        assert_eq!(d.decode(&mut b).unwrap(), Some(9));
    }

    #[test]
    fn transfers_split_anywhere_come_out_whole() {
        let mut stream = Vec::new();
        stream.extend_from_slice(&transfer_header(4300, 0));
        stream.extend_from_slice(&transfer_header(4300, 5));
        stream.extend_from_slice(b"hello");
        let mut d = TransferDecoder::default();
        let mut b = BytesMut::new();
        let mut out = Vec::new();
        for byte in stream {
            b.extend_from_slice(&[byte]);
            while let Some(t) = d.decode(&mut b).unwrap() {
                out.push(t);
            }
        }
        assert_eq!(
            out,
            vec![
                Transfer {
                    start: 4300,
                    body: Bytes::new()
                },
                Transfer {
                    start: 4300,
                    body: Bytes::from_static(b"hello")
                }
            ]
        );
    }

    #[test]
    fn bad_headers_are_errors() {
        let mut d = TransferDecoder::new(100);
        let mut b = BytesMut::from(&transfer_header(0, 101)[..]);
        assert!(matches!(d.decode(&mut b), Err(HaError::TooLarge { .. })));
        let mut b = BytesMut::from(&[0u8, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff][..]);
        assert!(matches!(d.decode(&mut b), Err(HaError::NegativeSize(-1))));
        let mut b = BytesMut::from(&transfer_header(-1, 0)[..]);
        assert!(matches!(d.decode(&mut b), Err(HaError::NegativeStart(-1))));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_or_overrun(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..8)
        ) {
            let mut t = TransferDecoder::new(1024);
            let mut r = ReportDecoder;
            let (mut bt, mut br) = (BytesMut::new(), BytesMut::new());
            for c in chunks {
                bt.extend_from_slice(&c);
                br.extend_from_slice(&c);
                loop {
                    match t.decode(&mut bt) {
                        Ok(Some(x)) => prop_assert!(x.body.len() <= 1024 && x.start >= 0),
                        Ok(None) => break,
                        Err(_) => { bt.clear(); break }
                    }
                }
                while let Ok(Some(_)) = r.decode(&mut br) {}
                prop_assert!(br.len() < REPORT_LEN);
            }
        }
    }
}
