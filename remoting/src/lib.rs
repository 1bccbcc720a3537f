//! The RocketMQ remoting protocol: frames, [`RemotingCommand`], both header encodings,
//! typed custom headers, request/response codes, and the TCP transport.
//!
//! Parsing is kept apart from behaviour: bytes become a [`RemotingCommand`] here, and
//! the broker and name server decide what a command means.

pub mod acl;
pub mod admin;
pub mod body;
pub mod codes;
pub mod command;
pub mod custom_header;
pub mod ext_fields;
pub mod frame;
pub mod ha;
pub mod header;
pub mod headers;
pub mod language;
pub mod sql92;
pub mod transport;

pub use command::{RemotingCommand, SerializeType, FLAG_ONEWAY, FLAG_RESPONSE, RMQD_VERSION};
pub use custom_header::{CommandHeader, HeaderError, HeaderValue};
pub use ext_fields::ExtFields;
pub use frame::{CommandCodec, FrameError, DEFAULT_MAX_FRAME_LEN};
pub use language::LanguageCode;
pub use tokio_util::sync::CancellationToken;
pub use transport::{ConnectionHandle, InvokeError, Reply, RequestHandler};
