//! Fault injection for tests. With the `failpoints` feature the store's I/O and thread
//! loops have named points (the `fail` crate) that tests switch on in-process with
//! `fail::cfg`, or in a broker process through `RMQD_FAILPOINTS`
//! (`name=action;name=action`, e.g. `commitlog-flush=return(EIO)`). Without the feature
//! the points compile to nothing.
//!
//! Points: `commitlog-append`, `commitlog-flush`, `consume-queue-put`, `index-build`,
//! `checkpoint-flush`, and `<service>-loop` (writer, flusher, dispatcher, cleaner,
//! warmer) for a panic in that thread.

/// The error an injected `return(ERRNO)` action stands for (EIO when unnamed).
#[allow(dead_code)]
pub(crate) fn injected(arg: Option<String>) -> std::io::Error {
    let errno = match arg.as_deref().map(str::trim) {
        Some("ENOSPC") => libc::ENOSPC,
        Some("EROFS") => libc::EROFS,
        Some("EDQUOT") => libc::EDQUOT,
        _ => libc::EIO,
    };
    std::io::Error::from_raw_os_error(errno)
}

/// Applies `RMQD_FAILPOINTS` once per process.
pub(crate) fn configure_from_env() {
    #[cfg(feature = "failpoints")]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            let Ok(spec) = std::env::var("RMQD_FAILPOINTS") else {
                return;
            };
            for pair in spec.split(';').filter(|p| !p.trim().is_empty()) {
                let Some((name, action)) = pair.split_once('=') else {
                    tracing::warn!(pair, "RMQD_FAILPOINTS entry without '='");
                    continue;
                };
                match fail::cfg(name.trim(), action.trim()) {
                    Ok(()) => tracing::warn!(name, action, "fail point armed"),
                    Err(e) => tracing::warn!(name, action, error = %e, "bad fail point"),
                }
            }
        });
    }
}
