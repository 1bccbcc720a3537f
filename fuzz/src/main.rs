//! The fuzz crate's own runner, for what needs no libFuzzer: listing the targets,
//! replaying the corpus, reproducing an artifact, the plain mutation engine, and
//! writing the seed corpus.
//!
//! ```text
//! rmqd-fuzz list
//! rmqd-fuzz replay [TARGET...]          every corpus file through its target
//! rmqd-fuzz run TARGET FILE...          given inputs (a libFuzzer artifact, say)
//! rmqd-fuzz fuzz SECONDS [TARGET...]    mutation engine, SECONDS split across targets
//! rmqd-fuzz seed FIXTURES_DIR OUT_DIR   write the seed corpus from the fixtures
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use rmqd_fuzz::mutate::{self, Finding, Rng};
use rmqd_fuzz::{scratch, seeds, Target, TARGETS};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn corpus_dir() -> PathBuf {
    std::env::var_os("RMQD_FUZZ_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate_dir().join("corpus"))
}

fn artifacts_dir() -> PathBuf {
    crate_dir().join("artifacts")
}

fn main() -> ExitCode {
    // Only the runner's own events: the decoders log what they skip, and fuzzing makes
    // them skip a lot.
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(Targets::new().with_target("rmqd_fuzz", LevelFilter::INFO))
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.first().map(String::as_str) {
        Some("list") => list(),
        Some("replay") => replay(&args[1..]),
        Some("run") => run_files(&args[1..]),
        Some("fuzz") => fuzz(&args[1..]),
        Some("seed") => seed(&args[1..]),
        _ => {
            tracing::error!("usage: rmqd-fuzz list | replay [T...] | run T FILE... | fuzz SECONDS [T...] | seed FIXTURES OUT");
            ExitCode::from(2)
        }
    };
    scratch::remove();
    code
}

fn list() -> ExitCode {
    let mut out = std::io::stdout().lock();
    for t in TARGETS {
        if writeln!(out, "{}", t.name).is_err() {
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// The targets named, or all of them; `None` if a name is unknown.
fn chosen(names: &[String]) -> Option<Vec<&'static Target>> {
    if names.is_empty() {
        return Some(TARGETS.iter().collect());
    }
    names
        .iter()
        .map(|n| {
            let t = rmqd_fuzz::target(n);
            if t.is_none() {
                tracing::error!(target_name = %n, "no such fuzz target");
            }
            t
        })
        .collect()
}

/// The files of a target's corpus directory, sorted by name; a missing one is empty.
fn corpus_files(target: &str) -> Vec<PathBuf> {
    let dir = corpus_dir().join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

fn load(files: &[PathBuf]) -> Vec<Vec<u8>> {
    files.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Saves and logs a finding; returns where it went.
fn report(target: &Target, f: &Finding) -> PathBuf {
    let dir = artifacts_dir();
    let path = dir.join(format!("{}-crash-{:08x}", target.name, crc(&f.input)));
    if let Err(e) = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, &f.input)) {
        tracing::warn!(error = %e, "could not save the input");
    }
    tracing::error!(
        target_name = target.name,
        panic = %f.message,
        input = %hex(&f.input),
        saved = %path.display(),
        "decoder panicked"
    );
    path
}

/// A short name for an input (FNV-1a), so that the same crash is saved once.
fn crc(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811C_9DC5_u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

fn replay(names: &[String]) -> ExitCode {
    let Some(targets) = chosen(names) else {
        return ExitCode::from(2);
    };
    let mut failed = 0;
    let mut ran = 0;
    for t in targets {
        let files = corpus_files(t.name);
        if files.is_empty() {
            tracing::error!(target_name = t.name, dir = %corpus_dir().join(t.name).display(), "target has no corpus");
            failed += 1;
        }
        for p in files {
            let Ok(input) = std::fs::read(&p) else {
                tracing::error!(file = %p.display(), "unreadable corpus file");
                failed += 1;
                continue;
            };
            ran += 1;
            if let Err(f) = mutate::run_one(t, &input) {
                tracing::error!(file = %p.display(), "corpus input fails");
                report(t, &f);
                failed += 1;
            }
        }
    }
    tracing::info!(inputs = ran, failed, "corpus replayed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn run_files(args: &[String]) -> ExitCode {
    let Some((name, files)) = args.split_first() else {
        tracing::error!("usage: rmqd-fuzz run TARGET FILE...");
        return ExitCode::from(2);
    };
    let Some(t) = rmqd_fuzz::target(name) else {
        tracing::error!(target_name = %name, "no such fuzz target");
        return ExitCode::from(2);
    };
    let mut failed = false;
    for p in files {
        match std::fs::read(p) {
            Ok(input) => {
                if let Err(f) = mutate::run_one(t, &input) {
                    report(t, &f);
                    failed = true;
                } else {
                    tracing::info!(file = %p, "no panic");
                }
            }
            Err(e) => {
                tracing::error!(file = %p, error = %e, "unreadable input");
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn fuzz(args: &[String]) -> ExitCode {
    let Some(secs) = args.first().and_then(|s| s.parse::<u64>().ok()) else {
        tracing::error!("usage: rmqd-fuzz fuzz SECONDS [TARGET...]");
        return ExitCode::from(2);
    };
    let Some(targets) = chosen(&args[1..]) else {
        return ExitCode::from(2);
    };
    let seed = std::env::var("RMQD_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    let mut rng = Rng::new(seed);
    let share = Duration::from_millis(secs * 1000 / targets.len().max(1) as u64);
    let started = Instant::now();
    let (mut total, mut findings) = (0u64, 0usize);
    for t in &targets {
        let corpus = load(&corpus_files(t.name));
        let t0 = Instant::now();
        match mutate::fuzz(t, &corpus, share, &mut rng) {
            Ok(n) => {
                total += n;
                let rate = n as f64 / t0.elapsed().as_secs_f64().max(1e-3);
                tracing::info!(
                    target_name = t.name,
                    inputs = n,
                    per_second = rate as u64,
                    seeds = corpus.len(),
                    "no panics"
                );
            }
            Err(f) => {
                report(t, &f);
                findings += 1;
            }
        }
    }
    let rate = total as f64 / started.elapsed().as_secs_f64().max(1e-3);
    tracing::info!(
        engine = "mutation",
        targets = targets.len(),
        inputs = total,
        per_second = rate as u64,
        findings,
        seed = format!("{seed:#x}"),
        "fuzz run done"
    );
    if findings == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn seed(args: &[String]) -> ExitCode {
    let [fixtures, out] = args else {
        tracing::error!("usage: rmqd-fuzz seed FIXTURES_DIR OUT_DIR");
        return ExitCode::from(2);
    };
    match seeds::write(Path::new(fixtures), Path::new(out)) {
        Ok((files, bytes)) => {
            tracing::info!(files, bytes, out = %out, "seed corpus written");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %e, "could not write the seed corpus");
            ExitCode::FAILURE
        }
    }
}
