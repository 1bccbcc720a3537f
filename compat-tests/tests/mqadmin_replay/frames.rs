//! The captured mqadmin sessions: frames as they crossed the wire, per command, and a
//! blocking connection that sends a frame and waits for the answer with its opaque.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::Bytes;
use rmqd_compat_tests::fixtures_dir;
use rmqd_remoting::frame::{decode_frame, encode_frame};
use rmqd_remoting::RemotingCommand;
use serde_json::Value;

pub fn dir() -> std::path::PathBuf {
    fixtures_dir().join("wire/java-4.9.8-mqadmin")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Peer {
    Namesrv,
    Broker,
}

pub struct Captured {
    pub conn: u64,
    pub peer: Peer,
    pub c2s: bool,
    pub cmd: RemotingCommand,
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

/// Every frame of one command's capture, in capture order.
pub fn load(command: &str) -> Vec<Captured> {
    let path = dir().join(format!("{command}.jsonl"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("json line"))
        .map(|v| {
            let ser = v["serialize_type"].as_u64().expect("serialize_type") as u32;
            assert_eq!(ser, 0, "the mqadmin capture is all JSON");
            let header = v["header_json_or_hex"].as_str().expect("header").as_bytes();
            let body = unhex(v["body_hex"].as_str().unwrap_or(""));
            let mut raw = Vec::new();
            raw.extend_from_slice(&(header.len() as u32).to_be_bytes());
            raw.extend_from_slice(header);
            raw.extend_from_slice(&body);
            Captured {
                conn: v["conn"].as_u64().expect("conn"),
                peer: if v["peer"] == "namesrv" {
                    Peer::Namesrv
                } else {
                    Peer::Broker
                },
                c2s: v["dir"] == "c2s",
                cmd: decode_frame(Bytes::from(raw)).expect("captured frame"),
            }
        })
        .collect()
}

/// The commands in the order they ran (`timeline.jsonl`).
pub fn commands() -> Vec<String> {
    let text = std::fs::read_to_string(dir().join("timeline.jsonl")).expect("timeline");
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| {
            v["step"]
                .as_str()
                .and_then(|s| s.strip_prefix("cmd:"))
                .map(str::to_owned)
        })
        .collect()
}

/// The Java answer to each captured request, by (connection, opaque).
pub fn answers(frames: &[Captured]) -> HashMap<(u64, i32), &Captured> {
    frames
        .iter()
        .filter(|f| !f.c2s && f.cmd.is_response())
        .map(|f| ((f.conn, f.cmd.opaque), f))
        .collect()
}

/// One connection to rmqd, requests sent one at a time.
pub struct Line {
    stream: TcpStream,
}

impl Line {
    pub fn connect(addr: &str) -> Line {
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        Line { stream }
    }

    /// Sends `req` and returns the response with its opaque; requests the server sends
    /// meanwhile are skipped.
    pub fn call(&mut self, req: &RemotingCommand) -> RemotingCommand {
        self.stream.write_all(&encode_frame(req)).expect("send");
        loop {
            let mut len = [0u8; 4];
            self.stream
                .read_exact(&mut len)
                .unwrap_or_else(|e| panic!("no answer to request {}: {e}", req.code));
            let mut frame = vec![0u8; u32::from_be_bytes(len) as usize];
            self.stream.read_exact(&mut frame).expect("frame");
            let cmd = decode_frame(Bytes::from(frame)).expect("rmqd sent an undecodable frame");
            if cmd.is_response() && cmd.opaque == req.opaque {
                return cmd;
            }
        }
    }
}
