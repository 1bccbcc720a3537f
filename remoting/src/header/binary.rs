//! ROCKETMQ binary header (serialize type 1), `RocketMQSerializable` in Java.

use super::HeaderDecodeError;
use crate::command::{RemotingCommand, SerializeType};
use crate::ext_fields::{ExtFields, MAX_FIELDS};
use crate::language::LanguageCode;

/// Decode a binary header into a command with an empty body. Every length is checked
/// against what is left of the header, so hostile input ends in an error, not a panic.
pub fn decode(header: &[u8]) -> Result<RemotingCommand, HeaderDecodeError> {
    let mut r = Reader {
        buf: header,
        pos: 0,
    };
    let code = i32::from(r.i16()?);
    let language = LanguageCode::from_code(r.u8()?);
    let version = i32::from(r.i16()?);
    let opaque = r.i32()?;
    let flag = r.i32()?;
    let remark_len = r.len32()?;
    let remark = r.string(remark_len)?;
    let ext_len = r.len32()?;
    let ext_block = r.take(ext_len)?;
    let ext_fields = if ext_len > 0 {
        Some(decode_ext(ext_block, r.pos - ext_len)?)
    } else {
        None
    };
    Ok(RemotingCommand {
        code,
        language,
        version,
        opaque,
        flag,
        remark,
        ext_fields,
        body: Default::default(),
        body_parts: Vec::new(),
        serialize_type: SerializeType::RocketMq,
    })
}

fn decode_ext(block: &[u8], base: usize) -> Result<ExtFields, HeaderDecodeError> {
    let mut r = Reader { buf: block, pos: 0 };
    let mut pairs = Vec::with_capacity(16);
    let mut entries = 0usize;
    while r.pos < block.len() {
        entries += 1;
        if entries > MAX_FIELDS {
            return Err(HeaderDecodeError::TooManyFields(MAX_FIELDS));
        }
        let key_len = r.i16()?;
        let key_len = usize::try_from(key_len)
            .map_err(|_| HeaderDecodeError::NegativeLength(key_len.into()))?;
        let key = r.string(key_len).map_err(|e| shift(e, base))?;
        let value_len = r.len32()?;
        let value = r.string(value_len).map_err(|e| shift(e, base))?;
        // Java turns zero-length strings into null and null entries vanish from the map.
        if let (Some(k), Some(v)) = (key, value) {
            pairs.push((crate::ext_fields::intern_owned(k), v));
        }
    }
    Ok(ExtFields::from_pairs(pairs))
}

fn shift(e: HeaderDecodeError, base: usize) -> HeaderDecodeError {
    match e {
        HeaderDecodeError::Truncated {
            offset,
            needed,
            len,
        } => HeaderDecodeError::Truncated {
            offset: offset + base,
            needed,
            len,
        },
        HeaderDecodeError::NotUtf8(o) => HeaderDecodeError::NotUtf8(o + base),
        other => other,
    }
}

/// Append the binary header of `cmd` to `out`.
///
/// The code is written as a 16-bit value as Java does; codes above 32767 (5.x POP) only
/// exist in JSON headers, which is what we answer such requests in.
pub fn encode(cmd: &RemotingCommand, out: &mut Vec<u8>) {
    out.extend_from_slice(&(cmd.code as i16).to_be_bytes());
    out.push(cmd.language.code());
    out.extend_from_slice(&(cmd.version as i16).to_be_bytes());
    out.extend_from_slice(&cmd.opaque.to_be_bytes());
    out.extend_from_slice(&cmd.flag.to_be_bytes());
    match &cmd.remark {
        Some(r) if !r.is_empty() => {
            out.extend_from_slice(&(r.len() as i32).to_be_bytes());
            out.extend_from_slice(r.as_bytes());
        }
        _ => out.extend_from_slice(&0i32.to_be_bytes()),
    }
    let len_pos = out.len();
    out.extend_from_slice(&0i32.to_be_bytes());
    if let Some(ext) = &cmd.ext_fields {
        for (k, v) in ext.iter() {
            if k.is_empty() || v.is_empty() {
                continue;
            }
            out.extend_from_slice(&(k.len() as i16).to_be_bytes());
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(&(v.len() as i32).to_be_bytes());
            out.extend_from_slice(v.as_bytes());
        }
    }
    let ext_len = (out.len() - len_pos - 4) as i32;
    out[len_pos..len_pos + 4].copy_from_slice(&ext_len.to_be_bytes());
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], HeaderDecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or(HeaderDecodeError::Truncated {
                offset: self.pos,
                needed: n,
                len: self.buf.len(),
            })?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], HeaderDecodeError> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, HeaderDecodeError> {
        Ok(self.array::<1>()?[0])
    }

    fn i16(&mut self) -> Result<i16, HeaderDecodeError> {
        Ok(i16::from_be_bytes(self.array()?))
    }

    fn i32(&mut self) -> Result<i32, HeaderDecodeError> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    fn len32(&mut self) -> Result<usize, HeaderDecodeError> {
        let n = self.i32()?;
        usize::try_from(n).map_err(|_| HeaderDecodeError::NegativeLength(n))
    }

    fn string(&mut self, n: usize) -> Result<Option<String>, HeaderDecodeError> {
        let start = self.pos;
        let bytes = self.take(n)?;
        if bytes.is_empty() {
            return Ok(None);
        }
        std::str::from_utf8(bytes)
            .map(|s| Some(s.to_owned()))
            .map_err(|_| HeaderDecodeError::NotUtf8(start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut cmd = RemotingCommand::request(11);
        cmd.opaque = 77;
        cmd.flag = 2;
        cmd.remark = Some("hello".into());
        cmd.ext_mut().insert("topic", "T");
        cmd.ext_mut().insert("queueId", "3");
        cmd.serialize_type = SerializeType::RocketMq;
        let mut out = Vec::new();
        encode(&cmd, &mut out);
        assert_eq!(decode(&out).unwrap(), cmd);
    }

    #[test]
    fn empty_values_are_dropped_like_java_nulls() {
        let mut cmd = RemotingCommand::request(11);
        cmd.ext_mut().insert("AccessKey", "");
        cmd.ext_mut().insert("topic", "T");
        let mut out = Vec::new();
        encode(&cmd, &mut out);
        let back = decode(&out).unwrap();
        assert_eq!(back.ext("AccessKey"), None);
        assert_eq!(back.ext("topic"), Some("T"));
    }

    #[test]
    fn lengths_past_the_end_are_errors() {
        let mut cmd = RemotingCommand::request(11);
        cmd.remark = Some("abc".into());
        let mut out = Vec::new();
        encode(&cmd, &mut out);
        // Claim a remark far longer than the header.
        out[13..17].copy_from_slice(&1000i32.to_be_bytes());
        assert!(matches!(
            decode(&out),
            Err(HeaderDecodeError::Truncated { .. })
        ));
        out[13..17].copy_from_slice(&(-5i32).to_be_bytes());
        assert_eq!(decode(&out), Err(HeaderDecodeError::NegativeLength(-5)));
    }
}
