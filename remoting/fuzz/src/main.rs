//! Feeds random and mutated inputs to the decoders of untrusted bytes for a bounded
//! time: the remoting frame decoder (whole frames and the streaming codec) and the stored
//! message record decoder. Seeds are the captured Java frames and a sample record. A
//! panic aborts the run; the input is saved under `artifacts/` and printed in hex.
//!
//! cargo-fuzz needs a nightly toolchain, which this project does not use; this runner
//! trades coverage guidance for running anywhere `cargo` does.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio_util::codec::Decoder;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .filter_map(|i| s.get(2 * i..2 * i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

/// Frames (after the length word) from the captured Java sessions.
fn seeds() -> Vec<Vec<u8>> {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures/wire/java-4.9.8"));
    let mut out = Vec::new();
    for f in ["session-json.jsonl", "session-rocketmq-serialize.jsonl"] {
        let Ok(text) = std::fs::read_to_string(dir.join(f)) else { continue };
        for line in text.lines() {
            let field = |name: &str| -> Option<String> {
                let key = format!("\"{name}\": ");
                let start = line.find(&key)? + key.len();
                let rest = &line[start..];
                if let Some(r) = rest.strip_prefix('"') {
                    let mut s = String::new();
                    let mut chars = r.chars();
                    while let Some(c) = chars.next() {
                        match c {
                            '\\' => {
                                if let Some(n) = chars.next() {
                                    s.push(match n {
                                        'n' => '\n',
                                        other => other,
                                    });
                                }
                            }
                            '"' => break,
                            c => s.push(c),
                        }
                    }
                    Some(s)
                } else {
                    Some(rest.split([',', '}']).next()?.trim().to_string())
                }
            };
            let (Some(ser), Some(h)) = (field("serialize_type"), field("header_json_or_hex")) else { continue };
            let header = if ser == "0" { h.into_bytes() } else { unhex(&h) };
            let body = field("body_hex").map(|b| unhex(&b)).unwrap_or_default();
            let ser: u32 = ser.parse().unwrap_or(0);
            let mut f = ((ser << 24) | header.len() as u32).to_be_bytes().to_vec();
            f.extend_from_slice(&header);
            f.extend_from_slice(&body);
            out.push(f);
        }
    }
    out
}

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        match rng.below(6) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = rng.next() as u8;
            }
            2 => v.truncate(rng.below(v.len() + 1)),
            3 if v.len() >= 4 => {
                // Tamper with the header-length word.
                let w = (rng.next() as u32).to_be_bytes();
                v[..4].copy_from_slice(&w);
            }
            4 => {
                let extra: Vec<u8> = (0..rng.below(64)).map(|_| rng.next() as u8).collect();
                let at = rng.below(v.len() + 1);
                v.splice(at..at, extra);
            }
            _ => {
                let n = rng.below(512);
                v = (0..n).map(|_| rng.next() as u8).collect();
            }
        }
    }
    v
}

fn check(input: &[u8]) {
    let _ = rmqd_remoting::frame::decode_frame(Bytes::copy_from_slice(input));
    let mut framed = BytesMut::new();
    framed.extend_from_slice(&(input.len() as u32).to_be_bytes());
    framed.extend_from_slice(input);
    let mut codec = rmqd_remoting::CommandCodec::new(1 << 20);
    let _ = codec.decode(&mut framed);
    let mut raw = BytesMut::from(input);
    let _ = codec.decode(&mut raw);
    let _ = rmqd_store::record::decode(input, true);
    let _ = rmqd_store::record::decode_all(input);
}

fn main() {
    let secs: u64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(60);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        | 1;
    let mut rng = Rng(seed);
    let mut corpus = seeds();
    corpus.push(
        rmqd_store::record::RecordFields {
            queue_id: 1,
            flag: 0,
            queue_offset: 7,
            physical_offset: 1024,
            sys_flag: 0,
            born_timestamp: 1,
            born_host: "127.0.0.1:1".parse().expect("addr"),
            store_timestamp: 2,
            store_host: "127.0.0.1:10911".parse().expect("addr"),
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            body: b"fuzz body",
            topic: "FuzzTopic",
            properties: "KEYS\u{1}k\u{2}UNIQ_KEY\u{1}AB",
        }
        .encode(),
    );
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut n: u64 = 0;
    let artifacts = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/artifacts"));
    std::panic::set_hook(Box::new(|_| {}));
    while Instant::now() < deadline {
        for _ in 0..1000 {
            let s = &corpus[rng.below(corpus.len())];
            let input = mutate(&mut rng, s);
            if std::panic::catch_unwind(|| check(&input)).is_err() {
                let _ = std::fs::create_dir_all(&artifacts);
                let path = artifacts.join(format!("crash-{seed:x}-{n}"));
                let _ = std::fs::write(&path, &input);
                let hex: String = input.iter().map(|b| format!("{b:02x}")).collect();
                eprintln!("fuzz: decoder panicked on input {hex} (saved to {})", path.display());
                std::process::exit(1);
            }
            n += 1;
        }
    }
    println!("fuzz: {n} inputs in {secs} s ({:.0}/s), seed {seed:#x}, {} seeds, no panics", n as f64 / secs.max(1) as f64, corpus.len());
}
