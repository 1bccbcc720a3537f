//! Remoting protocol.
