//! The two header encodings. Both decode to the same [`RemotingCommand`] fields; the
//! frame's serialize-type byte says which one applies.

pub mod binary;
pub mod json;

use thiserror::Error;

/// A header that cannot be decoded. The connection that sent it is closed, as the Java
/// server does, because the frame boundary can no longer be trusted to mean anything.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum HeaderDecodeError {
    #[error("JSON header is not a valid command: {0}")]
    Json(String),
    #[error("binary header truncated: needed {needed} bytes at offset {offset}, header has {len}")]
    Truncated {
        offset: usize,
        needed: usize,
        len: usize,
    },
    #[error("binary header has a negative length {0}")]
    NegativeLength(i32),
    #[error("binary header string is not UTF-8 at offset {0}")]
    NotUtf8(usize),
    /// More than [`crate::ext_fields::MAX_FIELDS`]: no client sends that many, and
    /// decoding an unbounded number would let one frame tie up a worker.
    #[error("header has more than {0} extFields")]
    TooManyFields(usize),
}
