//! `fuzz-frames`: feeds random and mutated byte streams to the remoting frame decoder
//! (`decode_frame` and the streaming `CommandCodec`) for a bounded time.
//!
//! cargo-fuzz needs a nightly toolchain, which this project does not use, so this runner
//! trades coverage guidance for running wherever stable `cargo` does. Inputs are random
//! bytes and mutations of the frames captured from real Java 4.9.8 sessions (bit flips,
//! truncation, length-word tampering, splices, concatenations).
//!
//! Nothing is caught: a panic (or an input that takes more than `HANG_SECS` seconds)
//! prints the input in hex, saves it under `artifacts/`, and aborts the run.
//!
//! Usage: `fuzz-frames [SECONDS] [SEED]` or `fuzz-frames --replay FILE...`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use rmqd_remoting::frame::{decode_frame, encode_frame};
use rmqd_remoting::{CommandCodec, RemotingCommand, SerializeType};
use tokio_util::codec::Decoder;

/// An input still running after this long counts as a hang.
const HANG_SECS: u64 = 10;

/// The input being decoded right now, for the panic hook and the hang watchdog.
static CURRENT: Mutex<Vec<u8>> = Mutex::new(Vec::new());
/// Inputs finished so far; the watchdog sees a hang when it stops moving.
static DONE: AtomicU64 = AtomicU64::new(0);
static SEED: AtomicU64 = AtomicU64::new(0);

/// xorshift64* (Vigna): tiny, fast, and plenty for picking mutations.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-ish in `0..n`; 0 when `n` is 0.
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

// ---- seeds --------------------------------------------------------------------------

/// The value of `"name": "..."` (a JSON string, unescaped) or `"name": 123` in one line
/// of a fixture file. Enough JSON for the capture files, without a JSON dependency.
fn field(line: &str, name: &str) -> Option<String> {
    let key = format!("\"{name}\"");
    let after = &line[line.find(&key)? + key.len()..];
    let after = after.trim_start().strip_prefix(':')?.trim_start();
    let Some(s) = after.strip_prefix('"') else {
        let end = after.find([',', '}']).unwrap_or(after.len());
        return Some(after[..end].trim().to_owned());
    };
    let mut out = String::new();
    let mut chars = s.chars();
    loop {
        match chars.next()? {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'b' => out.push('\u{8}'),
                'f' => out.push('\u{c}'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    let mut unit = u32::from_str_radix(&hex, 16).ok()?;
                    if (0xD800..0xDC00).contains(&unit) {
                        // A surrogate pair: `\uD83D\uDE00`.
                        let low: String = chars.by_ref().skip(2).take(4).collect();
                        let low = u32::from_str_radix(&low, 16).ok()?;
                        unit = 0x10000 + ((unit - 0xD800) << 10) + (low.checked_sub(0xDC00)?);
                    }
                    out.push(char::from_u32(unit).unwrap_or('\u{FFFD}'));
                }
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Whole frames (length word included) from the captured Java sessions, plus a few
/// encoded here so that the run has seeds even without the fixtures.
fn seeds() -> Vec<Vec<u8>> {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures"
    ))
    .join("wire/java-4.9.8");
    let mut out = Vec::new();
    for f in ["session-json.jsonl", "session-rocketmq-serialize.jsonl"] {
        let Ok(text) = std::fs::read_to_string(dir.join(f)) else {
            eprintln!("fuzz: no fixture {}", dir.join(f).display());
            continue;
        };
        for line in text.lines() {
            let (Some(ser), Some(h)) = (
                field(line, "serialize_type"),
                field(line, "header_json_or_hex"),
            ) else {
                continue;
            };
            let ser: u32 = ser.parse().unwrap_or(0);
            let header = if ser == 0 {
                h.into_bytes()
            } else {
                let Some(h) = unhex(&h) else { continue };
                h
            };
            let body = field(line, "body_hex")
                .and_then(|b| unhex(&b))
                .unwrap_or_default();
            let mut f = Vec::with_capacity(8 + header.len() + body.len());
            f.extend_from_slice(&((4 + header.len() + body.len()) as u32).to_be_bytes());
            f.extend_from_slice(&((ser << 24) | header.len() as u32).to_be_bytes());
            f.extend_from_slice(&header);
            f.extend_from_slice(&body);
            out.push(f);
        }
    }
    for ser in [SerializeType::Json, SerializeType::RocketMq] {
        let mut c = RemotingCommand::request(310);
        c.serialize_type = ser;
        c.opaque = 7;
        c.remark = Some("remark".into());
        c.ext_mut().insert("topic", "FuzzTopic");
        c.ext_mut().insert("i", "KEYS\u{1}k\u{2}TAGS\u{1}t");
        c.body = Bytes::from_static(b"fuzz body");
        out.push(encode_frame(&c));
    }
    out
}

// ---- mutations ----------------------------------------------------------------------

const INTERESTING: [u32; 14] = [
    0,
    1,
    3,
    4,
    0x7F,
    0xFF,
    0x7FFF,
    0xFFFF,
    0x00FF_FFFF,
    0x0100_0000,
    16 * 1024 * 1024 - 4,
    0x7FFF_FFFF,
    0x8000_0000,
    0xFFFF_FFFF,
];

fn word(rng: &mut Rng, len_hint: usize) -> u32 {
    match rng.below(4) {
        0 => INTERESTING[rng.below(INTERESTING.len())],
        1 => rng.next() as u32,
        // Near the real size: off by a little.
        _ => (len_hint as u32)
            .wrapping_add(rng.below(17) as u32)
            .wrapping_sub(8),
    }
}

fn mutate(rng: &mut Rng, corpus: &[Vec<u8>]) -> Vec<u8> {
    if rng.chance(16) {
        // Pure noise, sometimes behind a plausible length word.
        let n = rng.below(1024);
        let mut v = rng.bytes(n);
        if n >= 4 && rng.chance(2) {
            v[..4].copy_from_slice(&((n - 4) as u32).to_be_bytes());
        }
        return v;
    }
    let mut v = corpus[rng.below(corpus.len())].clone();
    for _ in 0..1 + rng.below(4) {
        let len = v.len();
        match rng.below(11) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                v[i] = rng.next() as u8;
            }
            2 => v.truncate(rng.below(len + 1)),
            3 if len >= 4 => {
                // The total-length word.
                let w = word(rng, len - 4);
                v[..4].copy_from_slice(&w.to_be_bytes());
            }
            4 if len >= 8 => {
                // The serialize-type byte and header-length word.
                let w = if rng.chance(2) {
                    let ser = rng.below(3) as u32;
                    (ser << 24) | (word(rng, len - 8) & 0x00FF_FFFF)
                } else {
                    word(rng, len - 8)
                };
                v[4..8].copy_from_slice(&w.to_be_bytes());
            }
            5 if len >= 4 => {
                // Any four bytes: the binary header's remark, ext and key/value lengths.
                let i = rng.below(len - 3);
                let w = word(rng, len - i);
                v[i..i + 4].copy_from_slice(&w.to_be_bytes());
            }
            6 => {
                // Splice: a prefix of this input and a suffix of another.
                let other = &corpus[rng.below(corpus.len())];
                let cut = rng.below(len + 1);
                let from = rng.below(other.len() + 1);
                v.truncate(cut);
                v.extend_from_slice(&other[from..]);
            }
            7 => {
                // Another whole frame after this one: streams of several frames.
                let other = &corpus[rng.below(corpus.len())];
                v.extend_from_slice(other);
            }
            8 => {
                let at = rng.below(len + 1);
                let n = rng.below(64);
                let extra = rng.bytes(n);
                v.splice(at..at, extra);
            }
            9 if len > 0 => {
                let at = rng.below(len);
                let end = (at + 1 + rng.below(64)).min(len);
                v.drain(at..end);
            }
            10 if len > 0 => {
                // JSON-ish damage: swap one structural character for another.
                const JSON: &[u8] = b"{}[]\":,\\0-9.eEtfn \n";
                let i = rng.below(len);
                v[i] = JSON[rng.below(JSON.len())];
            }
            _ => {}
        }
    }
    v
}

// ---- the target ---------------------------------------------------------------------

#[derive(Default)]
struct Stats {
    inputs: u64,
    frames_ok: u64,
    frames_err: u64,
    codec_frames: u64,
}

/// Feed `input` (a byte stream, length words included) to every decoder entry point.
fn check(input: &[u8], chunk: usize, stats: &mut Stats) {
    // `decode_frame` takes the frame after the length word, and also the raw bytes.
    for frame in [input.get(4..).unwrap_or_default(), input] {
        match decode_frame(Bytes::copy_from_slice(frame)) {
            Ok(cmd) => {
                stats.frames_ok += 1;
                round_trip(&cmd);
            }
            Err(_) => stats.frames_err += 1,
        }
    }
    // The codec over the whole stream, with the default and a tiny frame limit.
    for max in [rmqd_remoting::DEFAULT_MAX_FRAME_LEN, 64] {
        let mut codec = CommandCodec::new(max);
        stats.codec_frames += drain(&mut codec, &mut BytesMut::from(input)).0;
    }
    // The codec fed in chunks, the way reads arrive from a socket.
    let mut codec = CommandCodec::default();
    let mut buf = BytesMut::new();
    for piece in input.chunks(chunk.max(1)) {
        buf.put_slice(piece);
        let (n, failed) = drain(&mut codec, &mut buf);
        stats.codec_frames += n;
        if failed {
            break;
        }
    }
}

/// Decode until the codec wants more or fails; (frames, failed).
fn drain(codec: &mut CommandCodec, buf: &mut BytesMut) -> (u64, bool) {
    let mut n = 0;
    loop {
        let before = buf.len();
        match codec.decode(buf) {
            Ok(Some(cmd)) => {
                assert!(
                    buf.len() < before,
                    "the codec produced a frame from no bytes"
                );
                round_trip(&cmd);
                n += 1;
            }
            Ok(None) => return (n, false),
            Err(_) => return (n, true),
        }
    }
}

/// Whatever decodes can be encoded again, and that encoding decodes to the same fields.
fn round_trip(cmd: &RemotingCommand) {
    let wire = encode_frame(cmd);
    let len = u32::from_be_bytes(wire[..4].try_into().expect("length word")) as usize;
    assert_eq!(len, wire.len() - 4, "encoded length word");
    let again = decode_frame(Bytes::copy_from_slice(&wire[4..]))
        .unwrap_or_else(|e| panic!("re-encoded {cmd:?} does not decode: {e}"));
    assert_eq!(
        (
            again.code,
            again.opaque,
            again.flag,
            &again.remark,
            &again.body
        ),
        (cmd.code, cmd.opaque, cmd.flag, &cmd.remark, &cmd.body),
        "re-encoded command differs"
    );
    assert_eq!(
        again.ext_fields, cmd.ext_fields,
        "re-encoded ext fields differ"
    );
}

// ---- reporting ----------------------------------------------------------------------

fn artifacts_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/artifacts"))
}

/// Print and save the current input; called on a panic or a hang, just before aborting.
fn report(kind: &str) {
    let input = CURRENT
        .lock()
        .map(|g| g.clone())
        .unwrap_or_else(|p| p.into_inner().clone());
    let seed = SEED.load(Ordering::Relaxed);
    let n = DONE.load(Ordering::Relaxed);
    let hex: String = input.iter().map(|b| format!("{b:02x}")).collect();
    eprintln!(
        "fuzz: {kind} on input #{n} (seed {seed:#x}, {} bytes):\n{hex}",
        input.len()
    );
    let dir = artifacts_dir();
    let path = dir.join(format!("{kind}-{seed:x}-{n}.bin"));
    match std::fs::create_dir_all(&dir).and_then(|_| std::fs::write(&path, &input)) {
        Ok(()) => eprintln!(
            "fuzz: saved to {} (replay: run.sh --replay FILE)",
            path.display()
        ),
        Err(e) => eprintln!("fuzz: cannot save to {}: {e}", path.display()),
    }
}

fn install_handlers() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report("crash");
        default(info);
        std::process::abort();
    }));
    std::thread::spawn(|| {
        let mut last = DONE.load(Ordering::Relaxed);
        let mut still = 0;
        loop {
            std::thread::sleep(Duration::from_secs(1));
            let now = DONE.load(Ordering::Relaxed);
            still = if now == last { still + 1 } else { 0 };
            last = now;
            if still >= HANG_SECS {
                report("hang");
                std::process::abort();
            }
        }
    });
}

fn set_current(input: &[u8]) {
    let mut g = CURRENT.lock().unwrap_or_else(|p| p.into_inner());
    g.clear();
    g.extend_from_slice(input);
}

fn replay(files: &[String]) {
    let mut stats = Stats::default();
    for f in files {
        let input = std::fs::read(f).unwrap_or_else(|e| panic!("{f}: {e}"));
        eprintln!("fuzz: replaying {f} ({} bytes)", input.len());
        set_current(&input);
        for chunk in [1, 7, 4096] {
            check(&input, chunk, &mut stats);
        }
        DONE.fetch_add(1, Ordering::Relaxed);
    }
    println!("fuzz: {} inputs replayed without a failure", files.len());
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    install_handlers();
    if args.first().map(String::as_str) == Some("--replay") {
        replay(&args[1..]);
        return;
    }
    let secs: u64 = match args.first().map(|s| s.parse()) {
        None => 60,
        Some(Ok(s)) => s,
        Some(Err(_)) => {
            eprintln!("usage: fuzz-frames [SECONDS] [SEED] | fuzz-frames --replay FILE...");
            std::process::exit(2);
        }
    };
    let seed = args
        .get(1)
        .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64 ^ u64::from(std::process::id()) << 32)
                .unwrap_or(0x9E37_79B9_7F4A_7C15)
        })
        .max(1);
    SEED.store(seed, Ordering::Relaxed);
    let mut rng = Rng::new(seed);
    let corpus = seeds();
    println!(
        "fuzz: {} seeds, {secs} s, seed {seed:#x} (rerun with: run.sh {secs} {seed:#x})",
        corpus.len()
    );

    let mut stats = Stats::default();
    let start = Instant::now();
    let deadline = start + Duration::from_secs(secs);
    while Instant::now() < deadline {
        for _ in 0..256 {
            let input = mutate(&mut rng, &corpus);
            let small = rng.chance(4);
            let chunk = 1 + rng.below(if small { 8 } else { 512 });
            set_current(&input);
            check(&input, chunk, &mut stats);
            stats.inputs += 1;
            DONE.fetch_add(1, Ordering::Relaxed);
        }
    }
    let elapsed = start.elapsed().as_secs_f64().max(1e-9);
    println!(
        "fuzz: seed {seed:#x}: {} inputs in {elapsed:.1} s ({:.0} inputs/s); decode_frame ok {} / err {}; codec frames {}; no panics, no hangs",
        stats.inputs,
        stats.inputs as f64 / elapsed,
        stats.frames_ok,
        stats.frames_err,
        stats.codec_frames
    );
}
