//! `RemotingCommand`: the one message shape of the protocol.

use bytes::Bytes;

use crate::codes::response;
use crate::ext_fields::ExtFields;
use crate::language::LanguageCode;

/// Flag bit 0: the command is a response.
pub const FLAG_RESPONSE: i32 = 0x1;
/// Flag bit 1: the request expects no response.
pub const FLAG_ONEWAY: i32 = 0x2;

/// `MQVersion.Version.V4_9_8.ordinal()`: what rmqd reports as its version. Clients use the
/// heartbeat response's version to learn the broker's, and 4.9.8 is what we match.
pub const RMQD_VERSION: i32 = 409;

/// Header encoding, the top byte of the header-length word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SerializeType {
    #[default]
    Json,
    RocketMq,
}

impl SerializeType {
    pub fn from_byte(b: u8) -> Option<Self> {
        match b {
            0 => Some(SerializeType::Json),
            1 => Some(SerializeType::RocketMq),
            _ => None,
        }
    }

    pub fn byte(self) -> u8 {
        match self {
            SerializeType::Json => 0,
            SerializeType::RocketMq => 1,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SerializeType::Json => "JSON",
            SerializeType::RocketMq => "ROCKETMQ",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct RemotingCommand {
    pub code: i32,
    pub language: LanguageCode,
    pub version: i32,
    pub opaque: i32,
    pub flag: i32,
    pub remark: Option<String>,
    pub ext_fields: Option<ExtFields>,
    pub body: Bytes,
    /// More body bytes sent after `body`. Stored records go to the socket from the mapped
    /// files this way, without being gathered into one buffer first. Decoding never fills it.
    pub body_parts: Vec<Bytes>,
    /// How this command's header was (or will be) encoded.
    pub serialize_type: SerializeType,
}

impl RemotingCommand {
    /// A new request with rmqd's language and version; the opaque is set by the sender.
    pub fn request(code: i32) -> Self {
        RemotingCommand {
            code,
            language: LanguageCode::Java,
            version: RMQD_VERSION,
            ..Default::default()
        }
    }

    /// A response to `req`: same opaque and header encoding, response bit set.
    ///
    /// Language is reported as JAVA because some clients branch on the peer's language
    /// and rmqd stands in for a Java server.
    pub fn response_to(req: &RemotingCommand, code: i32) -> Self {
        RemotingCommand {
            code,
            language: LanguageCode::Java,
            version: RMQD_VERSION,
            opaque: req.opaque,
            flag: FLAG_RESPONSE,
            serialize_type: req.serialize_type,
            ..Default::default()
        }
    }

    pub fn success(req: &RemotingCommand) -> Self {
        Self::response_to(req, response::SUCCESS)
    }

    pub fn error(req: &RemotingCommand, code: i32, remark: impl Into<String>) -> Self {
        Self::response_to(req, code).with_remark(remark)
    }

    pub fn with_remark(mut self, remark: impl Into<String>) -> Self {
        self.remark = Some(remark.into());
        self
    }

    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Total body length on the wire.
    pub fn body_len(&self) -> usize {
        self.body.len() + self.body_parts.iter().map(Bytes::len).sum::<usize>()
    }

    /// Answer for a code nobody handles, worded like the Java server.
    pub fn not_supported(req: &RemotingCommand) -> Self {
        Self::error(
            req,
            response::REQUEST_CODE_NOT_SUPPORTED,
            format!(" request type {} not supported", req.code),
        )
    }

    pub fn with_ext(mut self, ext: ExtFields) -> Self {
        self.ext_fields = Some(ext);
        self
    }

    pub fn is_response(&self) -> bool {
        self.flag & FLAG_RESPONSE != 0
    }

    pub fn is_oneway(&self) -> bool {
        self.flag & FLAG_ONEWAY != 0
    }

    pub fn mark_oneway(&mut self) {
        self.flag |= FLAG_ONEWAY;
    }

    pub fn ext(&self, key: &str) -> Option<&str> {
        self.ext_fields.as_ref().and_then(|e| e.get(key))
    }

    pub fn ext_mut(&mut self) -> &mut ExtFields {
        self.ext_fields.get_or_insert_with(ExtFields::new)
    }

    /// Decode this command's custom header (see [`crate::CommandHeader`]).
    pub fn decode_header<H: crate::CommandHeader>(&self) -> Result<H, crate::HeaderError> {
        H::from_ext(self.ext_fields.as_ref())
    }

    /// Replace the custom header fields with `header`'s.
    pub fn set_header<H: crate::CommandHeader>(&mut self, header: &H) {
        let ext = self.ext_fields.get_or_insert_with(ExtFields::new);
        header.write_ext(ext);
    }

    pub fn with_header<H: crate::CommandHeader>(mut self, header: &H) -> Self {
        self.set_header(header);
        self
    }
}

/// The name of a `MQVersion.Version` ordinal (`MQVersion.getVersionDesc`), for display.
/// From V4_0_0_SNAPSHOT (212) the enum is regular: each release follows its snapshot, up
/// to V5_9_9 (611), then HIGHER_VERSION; older ordinals are shown as numbers.
pub fn version_desc(ordinal: i32) -> String {
    match ordinal {
        612 => "HIGHER_VERSION".into(),
        212..=611 => {
            let n = (ordinal - 212) / 2;
            let snapshot = if (ordinal - 212) % 2 == 0 {
                "_SNAPSHOT"
            } else {
                ""
            };
            format!("V{}_{}_{}{snapshot}", 4 + n / 100, (n % 100) / 10, n % 10)
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod version_tests {
    use super::version_desc;

    #[test]
    fn ordinals_from_the_java_enum() {
        for (o, name) in [
            (213, "V4_0_0"),
            (273, "V4_3_0"),
            (401, "V4_9_4"),
            (409, "V4_9_8"),
            (408, "V4_9_8_SNAPSHOT"),
            (413, "V5_0_0"),
            (479, "V5_3_3"),
            (612, "HIGHER_VERSION"),
            (121, "121"),
        ] {
            assert_eq!(version_desc(o), name);
        }
    }
}
