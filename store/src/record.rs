//! The stored message record: the CommitLog's unit, and also the bytes of pull, query and
//! view responses. Layout as the Java broker's `CommitLog`/`MessageDecoder` (big-endian):
//! TOTALSIZE, MAGIC, BODYCRC, QUEUEID, FLAG, QUEUEOFFSET, PHYSICALOFFSET, SYSFLAG,
//! BORNTIMESTAMP, BORNHOST, STORETIMESTAMP, STOREHOST, RECONSUMETIMES,
//! PREPAREDTRANSACTIONOFFSET, BODY (len32), TOPIC (len8 in V1, len16 in V2), PROPERTIES (len16).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Magic of records written by 4.x brokers (and by 5.x for topics up to 127 bytes).
pub const MAGIC_V1: i32 = 0xDAA3_20A7_u32 as i32;
/// 5.x magic for records with a two-byte topic length.
pub const MAGIC_V2: i32 = 0xDAA3_20AB_u32 as i32;
/// End-of-file filler: the rest of the file after it is unused.
pub const BLANK_MAGIC: i32 = 0xCBD4_3194_u32 as i32;
/// A file always keeps room for a BLANK header (TOTALSIZE + MAGIC).
pub const END_FILE_MIN_BLANK_LENGTH: usize = 8;

/// Longest properties string the record can hold (its length is a signed 16-bit value).
pub const MAX_PROPERTIES_LEN: usize = i16::MAX as usize;
/// Longest topic a V1 record can hold (its length is a signed byte in Java).
pub const MAX_V1_TOPIC_LEN: usize = i8::MAX as usize;

pub mod sys_flag {
    pub const COMPRESSED: i32 = 0x1;
    pub const MULTI_TAGS: i32 = 0x2;
    pub const TRANSACTION_MASK: i32 = 0xC;
    pub const TRANSACTION_NOT_TYPE: i32 = 0x0;
    pub const TRANSACTION_PREPARED: i32 = 0x4;
    pub const TRANSACTION_COMMIT: i32 = 0x8;
    pub const TRANSACTION_ROLLBACK: i32 = 0xC;
    pub const BORNHOST_V6: i32 = 0x10;
    pub const STOREHOST_V6: i32 = 0x20;
    /// Bits 8..10 name the compression algorithm; 0 and 3 are zlib.
    pub const COMPRESSION_TYPE_MASK: i32 = 0x700;
    pub const COMPRESSION_ZLIB: i32 = 0x300;

    pub fn transaction_type(flag: i32) -> i32 {
        flag & TRANSACTION_MASK
    }
}

/// Property string separators (`MessageDecoder.NAME_VALUE_SEPARATOR` / `PROPERTY_SEPARATOR`).
pub const NAME_VALUE_SEP: char = '\u{1}';
pub const PROPERTY_SEP: char = '\u{2}';

/// Looks one property up in a stored properties string, with Java's parsing rules (a pair
/// needs a non-empty name and value).
pub fn property<'a>(props: &'a str, name: &str) -> Option<&'a str> {
    props
        .split(PROPERTY_SEP)
        .filter_map(|pair| pair.split_once(NAME_VALUE_SEP))
        .find(|(k, v)| *k == name && !v.is_empty())
        .map(|(_, v)| v)
}

/// Every property of a stored properties string, in stored order.
pub fn properties(props: &str) -> Vec<(&str, &str)> {
    props
        .split(PROPERTY_SEP)
        .filter_map(|pair| pair.split_once(NAME_VALUE_SEP))
        .filter(|(k, v)| !k.is_empty() && !v.is_empty())
        .collect()
}

/// Body CRC as the broker stores it (`UtilAll.crc32`: CRC32 masked to a positive int).
pub fn body_crc(body: &[u8]) -> i32 {
    (crc32fast::hash(body) & 0x7FFF_FFFF) as i32
}

fn host_len(v6: bool) -> usize {
    if v6 {
        20
    } else {
        8
    }
}

/// `calMsgLength`: the record length for these field lengths.
pub fn record_len(
    sys_flag: i32,
    body_len: usize,
    topic_len: usize,
    props_len: usize,
    v2: bool,
) -> usize {
    let born = host_len(sys_flag & sys_flag::BORNHOST_V6 != 0);
    let store = host_len(sys_flag & sys_flag::STOREHOST_V6 != 0);
    4 + 4
        + 4
        + 4
        + 4
        + 8
        + 8
        + 4
        + 8
        + born
        + 8
        + store
        + 4
        + 8
        + 4
        + body_len
        + if v2 { 2 } else { 1 }
        + topic_len
        + 2
        + props_len
}

/// Why bytes are not a valid record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("record truncated: needs {need} bytes, {have} available")]
    Truncated { need: usize, have: usize },
    #[error("bad magic code {0:#010x}")]
    BadMagic(u32),
    #[error("TOTALSIZE {stored} disagrees with the fields' length {computed}")]
    SizeMismatch { stored: i64, computed: usize },
    #[error("body CRC {stored} does not match the body ({computed})")]
    BodyCrc { stored: i32, computed: i32 },
    #[error("negative length field {0}")]
    NegativeLength(i64),
    #[error("{0} is not valid UTF-8")]
    NotUtf8(&'static str),
}

/// A decoded record borrowing the bytes it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordView<'a> {
    pub total_size: usize,
    pub magic: i32,
    pub body_crc: i32,
    pub queue_id: i32,
    pub flag: i32,
    pub queue_offset: i64,
    pub physical_offset: i64,
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub born_host: SocketAddr,
    pub store_timestamp: i64,
    pub store_host: SocketAddr,
    pub reconsume_times: i32,
    pub prepared_transaction_offset: i64,
    pub body: &'a [u8],
    pub topic: &'a str,
    pub properties: &'a str,
}

impl RecordView<'_> {
    pub fn property(&self, name: &str) -> Option<&str> {
        property(self.properties, name)
    }

    /// The broker's message id: store host and commit-log offset, upper-case hex.
    pub fn offset_msg_id(&self) -> String {
        offset_msg_id(self.store_host, self.physical_offset)
    }
}

/// What a position in the CommitLog holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded<'a> {
    Message(RecordView<'a>),
    /// End-of-file filler covering `size` bytes: continue in the next file.
    Blank {
        size: usize,
    },
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], RecordError> {
        let end = self.pos.checked_add(n).ok_or(RecordError::Truncated {
            need: usize::MAX,
            have: self.buf.len(),
        })?;
        let s = self.buf.get(self.pos..end).ok_or(RecordError::Truncated {
            need: end,
            have: self.buf.len(),
        })?;
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], RecordError> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn i8(&mut self) -> Result<i8, RecordError> {
        Ok(i8::from_be_bytes(self.array()?))
    }
    fn i16(&mut self) -> Result<i16, RecordError> {
        Ok(i16::from_be_bytes(self.array()?))
    }
    fn i32(&mut self) -> Result<i32, RecordError> {
        Ok(i32::from_be_bytes(self.array()?))
    }
    fn i64(&mut self) -> Result<i64, RecordError> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    fn host(&mut self, v6: bool) -> Result<SocketAddr, RecordError> {
        let ip = if v6 {
            IpAddr::V6(Ipv6Addr::from(self.array::<16>()?))
        } else {
            IpAddr::V4(Ipv4Addr::from(self.array::<4>()?))
        };
        let port = self.i32()?;
        // Java stores the port as an int; anything outside u16 is kept modulo 2^16 so a
        // damaged field cannot stop the rest of the record from being read.
        Ok(SocketAddr::new(ip, port as u16))
    }
}

fn len(n: i64) -> Result<usize, RecordError> {
    usize::try_from(n).map_err(|_| RecordError::NegativeLength(n))
}

/// Decodes the record at the start of `buf`. `check_crc` verifies the body CRC, as
/// recovery does with `checkCRCOnRecover`. Never panics, whatever the bytes.
pub fn decode(buf: &[u8], check_crc: bool) -> Result<Decoded<'_>, RecordError> {
    let mut r = Reader { buf, pos: 0 };
    let total = r.i32()?;
    let magic = r.i32()?;
    match magic {
        BLANK_MAGIC => {
            let size = len(i64::from(total))?;
            return Ok(Decoded::Blank { size });
        }
        MAGIC_V1 | MAGIC_V2 => {}
        other => return Err(RecordError::BadMagic(other as u32)),
    }
    let total_size = len(i64::from(total))?;
    if total_size > buf.len() {
        return Err(RecordError::Truncated {
            need: total_size,
            have: buf.len(),
        });
    }
    // Parse only within the record, so a short TOTALSIZE cannot read the next one.
    r.buf = buf.get(..total_size).unwrap_or(buf);
    let body_crc = r.i32()?;
    let queue_id = r.i32()?;
    let flag = r.i32()?;
    let queue_offset = r.i64()?;
    let physical_offset = r.i64()?;
    let sys_flag = r.i32()?;
    let born_timestamp = r.i64()?;
    let born_host = r.host(sys_flag & sys_flag::BORNHOST_V6 != 0)?;
    let store_timestamp = r.i64()?;
    let store_host = r.host(sys_flag & sys_flag::STOREHOST_V6 != 0)?;
    let reconsume_times = r.i32()?;
    let prepared_transaction_offset = r.i64()?;
    let body_len = r.i32()?;
    let body_len = len(i64::from(body_len))?;
    let body = r.take(body_len)?;
    let v2 = magic == MAGIC_V2;
    let topic_len = if v2 {
        len(i64::from(r.i16()?))?
    } else {
        len(i64::from(r.i8()?))?
    };
    let topic = r.take(topic_len)?;
    let props_len = r.i16()?;
    let props_len = len(i64::from(props_len))?;
    let props = r.take(props_len)?;
    let computed = record_len(sys_flag, body_len, topic_len, props_len, v2);
    if computed != total_size {
        return Err(RecordError::SizeMismatch {
            stored: i64::from(total),
            computed,
        });
    }
    if check_crc {
        let crc = self::body_crc(body);
        if crc != body_crc {
            return Err(RecordError::BodyCrc {
                stored: body_crc,
                computed: crc,
            });
        }
    }
    Ok(Decoded::Message(RecordView {
        total_size,
        magic,
        body_crc,
        queue_id,
        flag,
        queue_offset,
        physical_offset,
        sys_flag,
        born_timestamp,
        born_host,
        store_timestamp,
        store_host,
        reconsume_times,
        prepared_transaction_offset,
        body,
        topic: std::str::from_utf8(topic).map_err(|_| RecordError::NotUtf8("topic"))?,
        properties: std::str::from_utf8(props).map_err(|_| RecordError::NotUtf8("properties"))?,
    }))
}

/// The encoded properties of the record at the start of `buf`, located by the fixed
/// field positions as `MessageDecoder.decodeProperties` does (no CRC or UTF-8 check,
/// the bytes as stored). `None` if the lengths do not fit in `buf`.
pub fn properties_bytes(buf: &[u8]) -> Option<&[u8]> {
    let mut r = Reader { buf, pos: 4 };
    let magic = r.i32().ok()?;
    r.pos = 4 + 4 + 4 + 4 + 4 + 8 + 8;
    let sys_flag = r.i32().ok()?;
    r.pos += 8 + host_len(sys_flag & sys_flag::BORNHOST_V6 != 0);
    r.pos += 8 + host_len(sys_flag & sys_flag::STOREHOST_V6 != 0);
    r.pos += 4 + 8;
    let body_len = usize::try_from(r.i32().ok()?).ok()?;
    r.take(body_len).ok()?;
    let topic_len = if magic == MAGIC_V2 {
        usize::try_from(r.i16().ok()?).ok()?
    } else {
        usize::try_from(r.i8().ok()?).ok()?
    };
    r.take(topic_len).ok()?;
    let props_len = usize::try_from(r.i16().ok()?).ok()?;
    r.take(props_len).ok()
}

/// Decodes a run of records, as a client decodes a pull body. Stops at the first bad one.
pub fn decode_all(mut buf: &[u8]) -> Vec<RecordView<'_>> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        match decode(buf, false) {
            Ok(Decoded::Message(m)) => {
                let n = m.total_size;
                out.push(m);
                buf = buf.get(n..).unwrap_or_default();
            }
            _ => break,
        }
    }
    out
}

/// The fields a writer supplies; the store fills in offsets and its own timestamp.
#[derive(Debug, Clone)]
pub struct RecordFields<'a> {
    pub queue_id: i32,
    pub flag: i32,
    pub queue_offset: i64,
    pub physical_offset: i64,
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub born_host: SocketAddr,
    pub store_timestamp: i64,
    pub store_host: SocketAddr,
    pub reconsume_times: i32,
    pub prepared_transaction_offset: i64,
    pub body: &'a [u8],
    pub topic: &'a str,
    pub properties: &'a str,
}

impl RecordFields<'_> {
    /// The sysflag with the host bits matching the addresses actually written.
    pub fn effective_sys_flag(&self) -> i32 {
        let mut f = self.sys_flag & !(sys_flag::BORNHOST_V6 | sys_flag::STOREHOST_V6);
        if self.born_host.is_ipv6() {
            f |= sys_flag::BORNHOST_V6;
        }
        if self.store_host.is_ipv6() {
            f |= sys_flag::STOREHOST_V6;
        }
        f
    }

    fn v2(&self) -> bool {
        self.topic.len() > MAX_V1_TOPIC_LEN
    }

    pub fn encoded_len(&self) -> usize {
        record_len(
            self.effective_sys_flag(),
            self.body.len(),
            self.topic.len(),
            self.properties.len(),
            self.v2(),
        )
    }

    /// Writes the record into `out`, which must be exactly `encoded_len()` bytes.
    /// Returns false (writing nothing) if it is not.
    pub fn encode_into(&self, out: &mut [u8]) -> bool {
        let len = self.encoded_len();
        if out.len() != len || self.properties.len() > MAX_PROPERTIES_LEN {
            return false;
        }
        let sys = self.effective_sys_flag();
        let v2 = self.v2();
        let mut w = Writer { out, pos: 0 };
        w.put(&(len as i32).to_be_bytes());
        w.put(&(if v2 { MAGIC_V2 } else { MAGIC_V1 }).to_be_bytes());
        w.put(&body_crc(self.body).to_be_bytes());
        w.put(&self.queue_id.to_be_bytes());
        w.put(&self.flag.to_be_bytes());
        w.put(&self.queue_offset.to_be_bytes());
        w.put(&self.physical_offset.to_be_bytes());
        w.put(&sys.to_be_bytes());
        w.put(&self.born_timestamp.to_be_bytes());
        w.host(self.born_host);
        w.put(&self.store_timestamp.to_be_bytes());
        w.host(self.store_host);
        w.put(&self.reconsume_times.to_be_bytes());
        w.put(&self.prepared_transaction_offset.to_be_bytes());
        w.put(&(self.body.len() as i32).to_be_bytes());
        w.put(self.body);
        if v2 {
            w.put(&(self.topic.len() as i16).to_be_bytes());
        } else {
            w.put(&[self.topic.len() as u8]);
        }
        w.put(self.topic.as_bytes());
        w.put(&(self.properties.len() as i16).to_be_bytes());
        w.put(self.properties.as_bytes());
        true
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut v = vec![0u8; self.encoded_len()];
        self.encode_into(&mut v);
        v
    }
}

struct Writer<'a> {
    out: &'a mut [u8],
    pos: usize,
}

impl Writer<'_> {
    fn put(&mut self, b: &[u8]) {
        if let Some(dst) = self.out.get_mut(self.pos..self.pos + b.len()) {
            dst.copy_from_slice(b);
        }
        self.pos += b.len();
    }

    fn host(&mut self, a: SocketAddr) {
        match a.ip() {
            IpAddr::V4(ip) => self.put(&ip.octets()),
            IpAddr::V6(ip) => self.put(&ip.octets()),
        }
        self.put(&i32::from(a.port()).to_be_bytes());
    }
}

/// `MessageDecoder.createMessageId`: store host (ip + port as int32) and the commit-log
/// offset, as upper-case hex.
pub fn offset_msg_id(store_host: SocketAddr, physical_offset: i64) -> String {
    let mut bytes = Vec::with_capacity(28);
    match store_host.ip() {
        IpAddr::V4(ip) => bytes.extend_from_slice(&ip.octets()),
        IpAddr::V6(ip) => bytes.extend_from_slice(&ip.octets()),
    }
    bytes.extend_from_slice(&i32::from(store_host.port()).to_be_bytes());
    bytes.extend_from_slice(&physical_offset.to_be_bytes());
    hex_upper(&bytes)
}

pub fn hex_upper(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0xF)]));
    }
    s
}

/// Decodes an offsetMsgId into store host and commit-log offset (`decodeMessageId`: 32
/// hex characters are IPv4, 56 IPv6).
pub fn decode_offset_msg_id(id: &str) -> Option<(SocketAddr, i64)> {
    let bytes = unhex(id)?;
    let (ip, rest) = match bytes.len() {
        16 => {
            let (a, rest) = bytes.split_at(4);
            (
                IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(a).ok()?)),
                rest,
            )
        }
        28 => {
            let (a, rest) = bytes.split_at(16);
            (
                IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(a).ok()?)),
                rest,
            )
        }
        _ => return None,
    };
    let (port, off) = rest.split_at(4);
    let port = i32::from_be_bytes(port.try_into().ok()?);
    let off = i64::from_be_bytes(off.try_into().ok()?);
    Some((SocketAddr::new(ip, port as u16), off))
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

/// Inflates a body stored compressed (sysflag bit 0). zlib is the only algorithm 4.x
/// producers use; others are returned as `None`.
pub fn inflate_body(sys_flag: i32, body: &[u8]) -> Option<Vec<u8>> {
    use std::io::Read;
    if sys_flag & sys_flag::COMPRESSED == 0 {
        return Some(body.to_vec());
    }
    let kind = sys_flag & sys_flag::COMPRESSION_TYPE_MASK;
    if kind != 0 && kind != sys_flag::COMPRESSION_ZLIB {
        return None;
    }
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(body)
        .read_to_end(&mut out)
        .ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample<'a>(topic: &'a str, body: &'a [u8], props: &'a str) -> RecordFields<'a> {
        RecordFields {
            queue_id: 3,
            flag: 7,
            queue_offset: 42,
            physical_offset: 1 << 33,
            sys_flag: 0,
            born_timestamp: 1_700_000_000_000,
            born_host: "10.0.0.1:5555".parse().expect("addr"),
            store_timestamp: 1_700_000_000_123,
            store_host: "127.0.0.1:10911".parse().expect("addr"),
            reconsume_times: 2,
            prepared_transaction_offset: 0,
            body,
            topic,
            properties: props,
        }
    }

    #[test]
    fn v1_ipv4_overhead_is_91_bytes() {
        assert_eq!(sample("", b"", "").encoded_len(), 91);
    }

    #[test]
    fn round_trip_v4_v6_v2() {
        let long_topic = "t".repeat(200);
        for (topic, born) in [
            ("TopicA", "10.0.0.1:5555"),
            ("TopicB", "[fd00::2]:40000"),
            (long_topic.as_str(), "10.0.0.1:1"),
        ] {
            let mut f = sample(topic, b"hello", "KEYS\u{1}k1\u{2}TAGS\u{1}TagA");
            f.born_host = born.parse().expect("addr");
            let bytes = f.encode();
            let Ok(Decoded::Message(m)) = decode(&bytes, true) else {
                panic!("decode failed for {topic}");
            };
            assert_eq!(m.topic, topic);
            assert_eq!(m.body, b"hello");
            assert_eq!(m.born_host, f.born_host);
            assert_eq!(m.property("TAGS"), Some("TagA"));
            assert_eq!(m.queue_offset, 42);
            assert_eq!(m.magic == MAGIC_V2, topic.len() > 127);
            assert_eq!(properties_bytes(&bytes), Some(m.properties.as_bytes()));
            assert_eq!(properties_bytes(&bytes[..bytes.len() - 1]), None);
        }
    }

    #[test]
    fn crc_mismatch_is_detected() {
        let mut bytes = sample("T", b"body", "").encode();
        let body_at = 4 + 4 + 4 + 4 + 4 + 8 + 8 + 4 + 8 + 8 + 8 + 8 + 4 + 8 + 4;
        bytes[body_at] ^= 1;
        assert!(matches!(
            decode(&bytes, true),
            Err(RecordError::BodyCrc { .. })
        ));
        assert!(decode(&bytes, false).is_ok());
    }

    #[test]
    fn offset_msg_id_round_trips() {
        let host: SocketAddr = "127.0.0.1:10911".parse().expect("addr");
        let id = offset_msg_id(host, 0xE4);
        assert_eq!(id, "7F00000100002A9F00000000000000E4");
        assert_eq!(decode_offset_msg_id(&id), Some((host, 0xE4)));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode(&bytes, true);
            let _ = decode_all(&bytes);
        }

        #[test]
        fn mutated_records_never_panic(pos in 0usize..200, val in any::<u8>(), cut in 0usize..200) {
            let mut bytes = sample("TopicX", b"some body bytes", "UNIQ_KEY\u{1}AB").encode();
            let p = pos % bytes.len();
            bytes[p] = val;
            bytes.truncate(cut.min(bytes.len()));
            let _ = decode(&bytes, true);
        }

        #[test]
        fn encode_decode_round_trip(
            topic in "[A-Za-z0-9_%-]{1,140}",
            body in proptest::collection::vec(any::<u8>(), 0..300),
            props in "[a-z]{0,40}",
            qo in any::<i64>(),
        ) {
            let mut f = sample(&topic, &body, &props);
            f.queue_offset = qo;
            let bytes = f.encode();
            let Ok(Decoded::Message(m)) = decode(&bytes, true) else { panic!("decode") };
            prop_assert_eq!(m.topic, topic.as_str());
            prop_assert_eq!(m.body, body.as_slice());
            prop_assert_eq!(m.properties, props.as_str());
            prop_assert_eq!(m.queue_offset, qo);
            prop_assert_eq!(m.total_size, bytes.len());
        }
    }
}
