//! The coverage-guided engine: libFuzzer drives the target named by `RMQD_FUZZ_TARGET`.
//! One binary serves every target (one link, one build); run.sh starts it once per
//! target with that target's corpus directory.

#![no_main]

use std::io::Write;
use std::sync::OnceLock;

use rmqd_fuzz::Target;

static TARGET: OnceLock<&'static Target> = OnceLock::new();

/// Picks the target before libFuzzer runs any input; an unknown name ends the process,
/// since fuzzing nothing would pass silently. `list` prints the targets instead, so that
/// run.sh needs no second build to learn them.
fn select() {
    let name = std::env::var("RMQD_FUZZ_TARGET").unwrap_or_default();
    if name == "list" {
        let mut out = std::io::stdout().lock();
        let ok = rmqd_fuzz::TARGETS
            .iter()
            .all(|t| writeln!(out, "{}", t.name).is_ok());
        std::process::exit(if ok { 0 } else { 1 });
    }
    match rmqd_fuzz::target(&name) {
        Some(t) => {
            let _ = TARGET.set(t);
        }
        None => {
            let subscriber = tracing_subscriber::fmt()
                .with_writer(std::io::stderr)
                .finish();
            tracing::subscriber::with_default(subscriber, || {
                tracing::error!(name = %name, "RMQD_FUZZ_TARGET names no fuzz target");
            });
            std::process::exit(2);
        }
    }
}

libfuzzer_sys::fuzz_target!(init: select(), |data: &[u8]| {
    if let Some(t) = TARGET.get() {
        (t.run)(data);
    }
});
