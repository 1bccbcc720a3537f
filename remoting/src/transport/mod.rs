//! Connections, the server accept loop and the client.

mod connection;
mod handler;
mod server;
mod writer;

pub mod client;

pub use connection::{ConnectionHandle, InvokeError};
pub use handler::{Reply, RequestHandler};
pub use server::{serve, ServerConfig};
