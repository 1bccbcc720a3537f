//! A directory for the targets that decode real files (consume queues, index files, the
//! checkpoint): the store opens and maps files, so those decoders are fed files.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Where the per-process directory goes. Unset: `/dev/shm` where there is one, since
/// creating and removing files on a journaling disk costs a millisecond each, a hundred
/// times the decoding; else the system temp dir.
pub const ENV: &str = "RMQD_FUZZ_SCRATCH";

fn root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let shm = Path::new("/dev/shm");
        let base = std::env::var_os(ENV).map(PathBuf::from).unwrap_or_else(|| {
            if shm.is_dir() {
                shm.to_path_buf()
            } else {
                std::env::temp_dir()
            }
        });
        base.join(format!("rmqd-fuzz-{}", std::process::id()))
    })
}

/// An empty directory for `target`, emptied anew on every call.
pub fn fresh(target: &str) -> std::io::Result<PathBuf> {
    let dir = root().join(target);
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Removes this process's directory (the runner calls it on the way out).
pub fn remove() {
    let _ = std::fs::remove_dir_all(root());
}
