//! The engine for machines without libFuzzer: random mutations of the corpus, with no
//! coverage feedback, for a fixed time per target. A panic stops the target and hands
//! back the input and the panic message.

use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::Target;

/// xorshift64*: fast, and a run is reproducible from its printed seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
}

/// Values that sit on the edges of length and offset checks.
const INTERESTING: [i64; 12] = [
    0,
    1,
    -1,
    4,
    20,
    127,
    128,
    32767,
    65535,
    i32::MAX as i64,
    i32::MIN as i64,
    i64::MAX,
];

/// One to four random edits of `seed`, now and then spliced with `other`.
pub fn mutate(rng: &mut Rng, seed: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        match rng.below(8) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = rng.next_u64() as u8;
            }
            2 => v.truncate(rng.below(v.len() + 1)),
            3 => {
                // A big-endian edge value over a 2-, 4- or 8-byte field.
                let value = INTERESTING[rng.below(INTERESTING.len())].to_be_bytes();
                let width = [2, 4, 8][rng.below(3)];
                if v.len() >= width {
                    let at = rng.below(v.len() - width + 1);
                    v[at..at + width].copy_from_slice(&value[8 - width..]);
                }
            }
            4 => {
                let extra: Vec<u8> = (0..rng.below(64)).map(|_| rng.next_u64() as u8).collect();
                let at = rng.below(v.len() + 1);
                v.splice(at..at, extra);
            }
            5 if !v.is_empty() => {
                // Repeat a slice, as a run of fields or frames would.
                let from = rng.below(v.len());
                let to = from + rng.below(v.len() - from + 1);
                let piece = v[from..to].to_vec();
                let at = rng.below(v.len() + 1);
                v.splice(at..at, piece);
            }
            6 if !other.is_empty() => {
                let cut = rng.below(v.len() + 1);
                let from = rng.below(other.len());
                v.truncate(cut);
                v.extend_from_slice(&other[from..]);
            }
            _ => {
                let n = rng.below(512);
                v = (0..n).map(|_| rng.next_u64() as u8).collect();
            }
        }
    }
    v
}

/// A decoder that panicked, with what it panicked on.
#[derive(Debug)]
pub struct Finding {
    pub input: Vec<u8>,
    pub message: String,
}

type PanicHook = Box<dyn Fn(&panic::PanicHookInfo<'_>) + Sync + Send + 'static>;

/// Replaces the panic hook while alive: panic messages are kept for the report instead
/// of printed, and the previous hook comes back on drop.
struct PanicCapture {
    message: Arc<Mutex<String>>,
    previous: Option<PanicHook>,
}

impl PanicCapture {
    fn install() -> Self {
        let message = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&message);
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if let Ok(mut m) = sink.lock() {
                *m = info.to_string();
            }
        }));
        PanicCapture {
            message,
            previous: Some(previous),
        }
    }

    fn finding(&self, input: Vec<u8>) -> Finding {
        Finding {
            input,
            message: self.message.lock().map(|m| m.clone()).unwrap_or_default(),
        }
    }
}

impl Drop for PanicCapture {
    fn drop(&mut self) {
        if let Some(previous) = self.previous.take() {
            panic::set_hook(previous);
        }
    }
}

fn survives(target: &Target, input: &[u8]) -> bool {
    panic::catch_unwind(AssertUnwindSafe(|| (target.run)(input))).is_ok()
}

/// Runs `target` on `input`, turning a panic into a [`Finding`].
pub fn run_one(target: &Target, input: &[u8]) -> Result<(), Finding> {
    let capture = PanicCapture::install();
    if survives(target, input) {
        Ok(())
    } else {
        Err(capture.finding(input.to_vec()))
    }
}

/// Mutates `corpus` for `budget`. Returns how many inputs ran.
pub fn fuzz(
    target: &Target,
    corpus: &[Vec<u8>],
    budget: Duration,
    rng: &mut Rng,
) -> Result<u64, Finding> {
    let capture = PanicCapture::install();
    let empty = Vec::new();
    let deadline = Instant::now() + budget;
    let mut n = 0u64;
    while Instant::now() < deadline {
        for _ in 0..256 {
            let seed = corpus.get(rng.below(corpus.len())).unwrap_or(&empty);
            let other = corpus.get(rng.below(corpus.len())).unwrap_or(&empty);
            let input = mutate(rng, seed, other);
            n += 1;
            if !survives(target, &input) {
                return Err(capture.finding(input));
            }
        }
    }
    Ok(n)
}
