//! rmqd-powerfs: a FUSE file system that can lose power. Everything written reaches a
//! volatile copy that reads see; only fsync (and msync, which the kernel turns into one)
//! moves data to the durable copy, and a cut throws the volatile copy away. See
//! `state.rs` for exactly what survives.
//!
//! rmqd-powerfs --image DIR --work DIR --mount DIR
//!
//! Starts from the files in the image DIR, mounts, prints `ready`. On a `cut` line on
//! stdin (or stdin closing) it cuts the power: the durable side freezes, the mount goes
//! away (writes the kernel still sends while it unmounts are served and discarded), and
//! the durable side is written into the image DIR, ready for the next mount. Then it
//! prints one JSON line of counters and exits. `--work` must be a new, empty directory.

mod fs;
mod image;
mod ranges;
mod state;
mod tree;

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use fuser::{Config, MountOption};

#[derive(Debug, thiserror::Error)]
enum PowerFsError {
    #[error("usage: rmqd-powerfs --image DIR --work DIR --mount DIR ({0})")]
    Usage(String),
    #[error("loading the image {path}: {source}")]
    Load {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("mounting at {path}: {source}")]
    Mount {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("writing the image {path}: {source}")]
    Store {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("talking to the test: {0}")]
    Control(std::io::Error),
}

struct Args {
    image: PathBuf,
    work: PathBuf,
    mount: PathBuf,
}

fn parse_args() -> Result<Args, PowerFsError> {
    let (mut image, mut work, mut mount) = (None, None, None);
    let mut it = std::env::args_os().skip(1);
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .map(PathBuf::from)
            .ok_or_else(|| PowerFsError::Usage(format!("{flag:?} needs a value")))?;
        match flag.to_str() {
            Some("--image") => image = Some(value),
            Some("--work") => work = Some(value),
            Some("--mount") => mount = Some(value),
            _ => return Err(PowerFsError::Usage(format!("unknown flag {flag:?}"))),
        }
    }
    match (image, work, mount) {
        (Some(image), Some(work), Some(mount)) => Ok(Args { image, work, mount }),
        _ => Err(PowerFsError::Usage("all three are needed".into())),
    }
}

fn say(line: &str) -> Result<(), PowerFsError> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|_| out.flush())
        .map_err(PowerFsError::Control)
}

fn run() -> Result<(), PowerFsError> {
    let args = parse_args()?;
    let loading = Instant::now();
    let (tree, next_ino) =
        image::load(&args.image, &args.work).map_err(|source| PowerFsError::Load {
            path: args.image.clone(),
            source,
        })?;
    let load_ms = loading.elapsed().as_millis();
    let state = Arc::new(Mutex::new(state::State::new(
        args.work.clone(),
        tree,
        next_ino,
    )));
    let mut config = Config::default();
    config.mount_options = vec![
        MountOption::FSName("rmqd-powerfs".into()),
        MountOption::RW,
        MountOption::NoAtime,
    ];
    config.n_threads = Some(2);
    let session = fuser::spawn_mount(
        fs::PowerFs {
            state: state.clone(),
        },
        &args.mount,
        &config,
    )
    .map_err(|source| PowerFsError::Mount {
        path: args.mount.clone(),
        source,
    })?;
    tracing::info!(mount = %args.mount.display(), load_ms, "mounted");
    say("ready")?;

    let mut line = String::new();
    let stdin = std::io::stdin();
    loop {
        line.clear();
        // End of input or a broken pipe: the test is gone, cut anyway so the mount goes.
        match stdin.lock().read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line.trim() == "cut" => break,
            Ok(_) => {}
        }
    }

    let stats = {
        let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
        st.cut();
        st.stats
    };
    let unmounting = Instant::now();
    if let Err(e) = session.umount_and_join() {
        // Still in use (a process holds files open): detach it; the process's later
        // requests fail once this daemon exits. Durable state is frozen either way.
        tracing::error!(error = %e, "unmount failed; detaching");
        detach(&args.mount);
    }
    let unmount_ms = unmounting.elapsed().as_millis();
    let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
    st.close_all();
    image::store(&st.dur, &args.work, &args.image).map_err(|source| PowerFsError::Store {
        path: args.image.clone(),
        source,
    })?;
    let after = st.stats;
    say(&serde_json::json!({
        "event": "cut",
        "fsyncs": stats.fsyncs,
        "fsyncdirs": stats.fsyncdirs,
        "commits": stats.commits,
        "synced_bytes": stats.synced_bytes,
        "written_bytes": stats.written_bytes,
        "fsyncs_after_cut": after.after_cut,
        "written_while_unmounting": after.written_bytes - stats.written_bytes,
        "load_ms": load_ms,
        "unmount_ms": unmount_ms,
    })
    .to_string())
}

fn detach(mount: &std::path::Path) {
    use std::os::unix::ffi::OsStrExt;
    if let Ok(path) = std::ffi::CString::new(mount.as_os_str().as_bytes()) {
        // SAFETY: NUL-terminated path; umount2 has no other preconditions.
        unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) };
    }
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RMQD_POWERFS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            std::process::ExitCode::FAILURE
        }
    }
}
