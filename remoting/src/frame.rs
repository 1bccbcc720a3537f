//! Framing: `[frameLength][serializeType<<24 | headerLength][header][body]`.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use thiserror::Error;
use tokio_util::codec::{Decoder, Encoder};

use crate::command::{RemotingCommand, SerializeType};
use crate::header::{binary, json, HeaderDecodeError};

/// Java's default `com.rocketmq.remoting.frameMaxLength`.
pub const DEFAULT_MAX_FRAME_LEN: usize = 16 * 1024 * 1024;

/// Most the decoder reserves ahead of the bytes a partial frame has delivered.
const RESERVE_STEP: usize = 64 * 1024;

/// Why a byte stream stopped being a valid frame sequence. Every variant ends the
/// connection: after one bad frame the next frame boundary is unknown.
#[derive(Debug, Error)]
pub enum FrameError {
    #[error("frame length {len} exceeds the limit of {max} bytes")]
    TooLong { len: usize, max: usize },
    #[error("frame length {0} is too small to hold a header length word")]
    TooShort(i32),
    #[error("header length {header} exceeds frame length {frame}")]
    HeaderOverrun { header: usize, frame: usize },
    #[error("unknown serialize type {0}")]
    UnknownSerializeType(u8),
    #[error("bad header: {0}")]
    Header(#[from] HeaderDecodeError),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// Decode a frame body (everything after the 4-byte length) into a command. The body
/// shares `frame`'s allocation.
pub fn decode_frame(mut frame: Bytes) -> Result<RemotingCommand, FrameError> {
    if frame.len() < 4 {
        return Err(FrameError::TooShort(frame.len() as i32));
    }
    let word = frame.get_u32();
    let ser = (word >> 24) as u8;
    let header_len = (word & 0x00FF_FFFF) as usize;
    if header_len > frame.len() {
        return Err(FrameError::HeaderOverrun {
            header: header_len,
            frame: frame.len() + 4,
        });
    }
    let header = frame.split_to(header_len);
    let mut cmd = match SerializeType::from_byte(ser) {
        Some(SerializeType::Json) => json::decode(&header)?,
        Some(SerializeType::RocketMq) => binary::decode(&header)?,
        None => return Err(FrameError::UnknownSerializeType(ser)),
    };
    cmd.body = frame;
    Ok(cmd)
}

/// Encode the length words and header of `cmd`; the body follows separately so that it
/// can be written straight from where it lives.
pub fn encode_head(cmd: &RemotingCommand, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0u8; 8]);
    // Codes above i16 only fit a JSON header, so such commands go out as JSON.
    let ser = if cmd.serialize_type == SerializeType::RocketMq && i16::try_from(cmd.code).is_ok() {
        binary::encode(cmd, out);
        SerializeType::RocketMq
    } else {
        json::encode(cmd, out);
        SerializeType::Json
    };
    let header_len = out.len() - start - 8;
    let frame_len = 4 + header_len + cmd.body_len();
    out[start..start + 4].copy_from_slice(&(frame_len as u32).to_be_bytes());
    let word = (u32::from(ser.byte()) << 24) | (header_len as u32 & 0x00FF_FFFF);
    out[start + 4..start + 8].copy_from_slice(&word.to_be_bytes());
}

/// Encode a whole frame into one buffer (tests, small commands).
pub fn encode_frame(cmd: &RemotingCommand) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + cmd.body_len());
    encode_head(cmd, &mut out);
    out.extend_from_slice(&cmd.body);
    for part in &cmd.body_parts {
        out.extend_from_slice(part);
    }
    out
}

/// tokio-util codec for whole commands.
#[derive(Debug, Clone)]
pub struct CommandCodec {
    max_frame_len: usize,
}

impl CommandCodec {
    pub fn new(max_frame_len: usize) -> Self {
        Self { max_frame_len }
    }
}

impl Default for CommandCodec {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME_LEN)
    }
}

impl Decoder for CommandCodec {
    type Item = RemotingCommand;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<RemotingCommand>, FrameError> {
        if src.len() < 4 {
            return Ok(None);
        }
        let len = i32::from_be_bytes([src[0], src[1], src[2], src[3]]);
        if len < 4 {
            return Err(FrameError::TooShort(len));
        }
        let len = len as usize;
        // Like Netty, the limit counts the length field itself.
        if len + 4 > self.max_frame_len {
            return Err(FrameError::TooLong {
                len: len + 4,
                max: self.max_frame_len,
            });
        }
        if src.len() < 4 + len {
            // Grow with the bytes that actually arrive: reserving the announced size up
            // front would let a few bytes per connection pin 16 MiB each.
            src.reserve((4 + len - src.len()).min(RESERVE_STEP));
            return Ok(None);
        }
        src.advance(4);
        let frame = src.split_to(len).freeze();
        decode_frame(frame).map(Some)
    }
}

impl Encoder<RemotingCommand> for CommandCodec {
    type Error = FrameError;

    fn encode(&mut self, cmd: RemotingCommand, dst: &mut BytesMut) -> Result<(), FrameError> {
        let mut head = Vec::with_capacity(256);
        encode_head(&cmd, &mut head);
        dst.reserve(head.len() + cmd.body_len());
        dst.put_slice(&head);
        dst.put_slice(&cmd.body);
        for part in &cmd.body_parts {
            dst.put_slice(part);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(ser: SerializeType) -> RemotingCommand {
        let mut cmd = RemotingCommand::request(105);
        cmd.opaque = 9;
        cmd.serialize_type = ser;
        cmd.ext_mut().insert("topic", "TopicTest");
        cmd.body = Bytes::from_static(b"body bytes");
        cmd
    }

    #[test]
    fn frames_round_trip_in_both_encodings() {
        for ser in [SerializeType::Json, SerializeType::RocketMq] {
            let cmd = sample(ser);
            let mut buf = BytesMut::from(&encode_frame(&cmd)[..]);
            let back = CommandCodec::default().decode(&mut buf).unwrap().unwrap();
            assert_eq!(back, cmd);
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn partial_frames_wait_for_more() {
        let bytes = encode_frame(&sample(SerializeType::Json));
        let mut codec = CommandCodec::default();
        let mut buf = BytesMut::new();
        for b in &bytes[..bytes.len() - 1] {
            buf.put_u8(*b);
            assert!(codec.decode(&mut buf).unwrap().is_none());
        }
        buf.put_u8(bytes[bytes.len() - 1]);
        assert!(codec.decode(&mut buf).unwrap().is_some());
    }

    #[test]
    fn oversize_and_bad_frames_are_errors() {
        let mut codec = CommandCodec::new(1024);
        let mut buf = BytesMut::from(&2000i32.to_be_bytes()[..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(FrameError::TooLong { .. })
        ));
        let mut buf = BytesMut::from(&[0, 0, 0, 2, 0, 0][..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(FrameError::TooShort(2))
        ));
        let mut buf = BytesMut::from(&[0, 0, 0, 6, 7, 0, 0, 0, 0, 0][..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(FrameError::UnknownSerializeType(7))
        ));
        let mut buf = BytesMut::from(&[0, 0, 0, 6, 0, 0, 0, 9, 0, 0][..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(FrameError::HeaderOverrun { .. })
        ));
    }

    #[test]
    fn large_codes_fall_back_to_json() {
        let mut cmd = sample(SerializeType::RocketMq);
        cmd.code = 200050;
        let mut buf = BytesMut::from(&encode_frame(&cmd)[..]);
        let back = CommandCodec::default().decode(&mut buf).unwrap().unwrap();
        assert_eq!(back.code, 200050);
        assert_eq!(back.serialize_type, SerializeType::Json);
    }
}
