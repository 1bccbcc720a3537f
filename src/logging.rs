//! Logs: human-readable lines to stderr, and to files like the Java broker's
//! `~/logs/rocketmqlogs/` (broker.log, namesrv.log, store.log), rotated by size and day.
//!
//! File lines go through a bounded queue to one writer thread per file. When the queue is
//! full (a slow or stuck disk) lines are dropped and counted, never waited for; a write
//! that fails (a full disk) is counted and the line is lost. Either way the broker goes on.
//!
//! Settings (environment, read once at start):
//! * `RMQD_LOG` — level filter (default `info`), for stderr and files alike;
//! * `RMQD_LOG_DIR` — the folder (default `$HOME/logs/rocketmqlogs`); empty turns files off;
//! * `RMQD_LOG_FILE_MAX_SIZE` — bytes before a file rolls (default 128 MiB);
//! * `RMQD_LOG_FILE_MAX_INDEX` — rolled files kept per log (default 20);
//! * `RMQD_LOG_BUFFER_LINES` — lines queued per file before dropping (default 100 000).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Which process this is: it decides the files and where unrouted lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Standalone,
    Broker,
    Namesrv,
    /// Short-lived tools (`rmqd admin`, `rmqd store`): stderr only.
    Tool,
}

const DEFAULT_MAX_SIZE: u64 = 128 * 1024 * 1024;
const DEFAULT_MAX_INDEX: u32 = 20;
const DEFAULT_BUFFER_LINES: usize = 100_000;

fn env_num<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn filter() -> EnvFilter {
    EnvFilter::try_from_env("RMQD_LOG").unwrap_or_else(|_| EnvFilter::new("info"))
}

/// The folder for log files, or `None` when files are off.
pub fn log_dir() -> Option<PathBuf> {
    match std::env::var_os("RMQD_LOG_DIR") {
        Some(d) if d.is_empty() => None,
        Some(d) => Some(PathBuf::from(d)),
        None => crate::config::home_dir().map(|h| h.join("logs").join("rocketmqlogs")),
    }
}

/// Keeps the writer threads alive; dropping it flushes what is queued.
pub struct LogGuard {
    _guards: Vec<WorkerGuard>,
}

/// Which file a line from `target` goes to.
fn route(role: Role, target: &str) -> &'static str {
    if target.starts_with("rmqd_store") {
        "store"
    } else if target.starts_with("rmqd::namesrv") || role == Role::Namesrv {
        "namesrv"
    } else {
        "broker"
    }
}

pub fn init(role: Role) -> LogGuard {
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_filter(filter());
    let mut guards = Vec::new();
    let mut files: Vec<Box<dyn Layer<_> + Send + Sync>> = Vec::new();
    let mut counters = Vec::new();
    let names: &[&'static str] = match role {
        Role::Standalone => &["broker", "namesrv", "store"],
        Role::Broker => &["broker", "store"],
        Role::Namesrv => &["namesrv"],
        Role::Tool => &[],
    };
    let dir = log_dir().filter(|_| !names.is_empty());
    if let Some(dir) = &dir {
        let failures = Arc::new(AtomicU64::new(0));
        for &name in names {
            let file = RollingFile::new(
                dir,
                name,
                env_num("RMQD_LOG_FILE_MAX_SIZE", DEFAULT_MAX_SIZE).max(1024),
                env_num("RMQD_LOG_FILE_MAX_INDEX", DEFAULT_MAX_INDEX).max(1),
                failures.clone(),
            );
            let (writer, guard) = NonBlockingBuilder::default()
                .lossy(true)
                .buffered_lines_limit(env_num("RMQD_LOG_BUFFER_LINES", DEFAULT_BUFFER_LINES).max(1))
                .thread_name(&format!("rmqd-log-{name}"))
                .finish(file);
            counters.push((name, writer.error_counter()));
            guards.push(guard);
            files.push(
                tracing_subscriber::fmt::layer()
                    .with_writer(writer)
                    .with_ansi(false)
                    .with_filter(tracing_subscriber::filter::filter_fn(move |m| {
                        route(role, m.target()) == name
                    }))
                    .with_filter(filter())
                    .boxed(),
            );
        }
        spawn_reporter(counters, failures);
    }
    // An empty Vec of layers is not neutral: it tells every callsite "never", which
    // silences stderr too. No file layers means no layer at all.
    let files = (!files.is_empty()).then_some(files);
    tracing_subscriber::registry()
        .with(stderr)
        .with(files)
        .init();
    if let Some(dir) = dir {
        tracing::info!(dir = %dir.display(), "log files");
    }
    LogGuard { _guards: guards }
}

/// Says on the logs (stderr at least) how many lines were lost, at most every 10 s.
fn spawn_reporter(counters: Vec<(&'static str, ErrorCounter)>, failures: Arc<AtomicU64>) {
    let spawned = std::thread::Builder::new()
        .name("rmqd-log-drops".into())
        .spawn(move || {
            let mut seen: Vec<usize> = vec![0; counters.len()];
            let mut failed_seen = 0;
            loop {
                std::thread::sleep(Duration::from_secs(10));
                for (i, (name, c)) in counters.iter().enumerate() {
                    let n = c.dropped_lines();
                    if n > seen[i] {
                        tracing::warn!(
                            file = name,
                            dropped = n - seen[i],
                            total = n,
                            "log lines dropped: the log disk is too slow"
                        );
                        seen[i] = n;
                    }
                }
                let f = failures.load(Ordering::Relaxed);
                if f > failed_seen {
                    tracing::warn!(
                        failed = f - failed_seen,
                        total = f,
                        "log lines lost: writing the log files failed (disk full?)"
                    );
                    failed_seen = f;
                }
            }
        });
    if let Err(e) = spawned {
        eprintln!("rmqd: cannot start the log drop reporter: {e}");
    }
}

fn day_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0)
}

/// `<dir>/<name>.log`, rolled like logback's FixedWindowRollingPolicy: the full file
/// becomes `otherdays/<name>.1.log`, older ones move up one index, the oldest goes.
/// It rolls when the next line would pass `max_size`, and at the first line of a new
/// (UTC) day. Runs on its writer thread only.
struct RollingFile {
    dir: PathBuf,
    name: &'static str,
    max_size: u64,
    max_index: u32,
    file: Option<File>,
    size: u64,
    day: u64,
    failures: Arc<AtomicU64>,
}

impl RollingFile {
    fn new(
        dir: &Path,
        name: &'static str,
        max_size: u64,
        max_index: u32,
        failures: Arc<AtomicU64>,
    ) -> Self {
        RollingFile {
            dir: dir.to_owned(),
            name,
            max_size,
            max_index,
            file: None,
            size: 0,
            day: day_now(),
            failures,
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.join(format!("{}.log", self.name))
    }

    fn rolled(&self, i: u32) -> PathBuf {
        self.dir
            .join("otherdays")
            .join(format!("{}.{i}.log", self.name))
    }

    fn open(&mut self) -> std::io::Result<&mut File> {
        if self.file.is_none() {
            std::fs::create_dir_all(&self.dir)?;
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.path())?;
            self.size = f.metadata().map(|m| m.len()).unwrap_or(0);
            self.file = Some(f);
        }
        self.file
            .as_mut()
            .ok_or_else(|| std::io::Error::other("log file not open"))
    }

    fn roll(&mut self) -> std::io::Result<()> {
        self.file = None;
        std::fs::create_dir_all(self.dir.join("otherdays"))?;
        let _ = std::fs::remove_file(self.rolled(self.max_index));
        for i in (1..self.max_index).rev() {
            let from = self.rolled(i);
            if from.exists() {
                std::fs::rename(&from, self.rolled(i + 1))?;
            }
        }
        std::fs::rename(self.path(), self.rolled(1))?;
        self.size = 0;
        Ok(())
    }

    fn write_line(&mut self, buf: &[u8]) -> std::io::Result<()> {
        fail::fail_point!("log-file-write", |_| Err(std::io::Error::other(
            "log-file-write fault point"
        )));
        let today = day_now();
        if self.file.is_none() {
            self.open()?;
        }
        if self.size > 0 && (self.size + buf.len() as u64 > self.max_size || today != self.day) {
            self.roll()?;
        }
        self.day = today;
        self.open()?.write_all(buf)?;
        self.size += buf.len() as u64;
        Ok(())
    }
}

impl Write for RollingFile {
    /// Never fails: a line that cannot be written is counted and dropped, and the file
    /// is opened again for the next one.
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.write_line(buf).is_err() {
            self.failures.fetch_add(1, Ordering::Relaxed);
            self.file = None;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if let Some(f) = self.file.as_mut() {
            let _ = f.flush();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_route_by_module() {
        assert_eq!(route(Role::Standalone, "rmqd_store::commitlog"), "store");
        assert_eq!(
            route(Role::Standalone, "rmqd::namesrv::processor"),
            "namesrv"
        );
        assert_eq!(route(Role::Standalone, "rmqd::broker::send"), "broker");
        assert_eq!(
            route(Role::Standalone, "rmqd_remoting::transport"),
            "broker"
        );
        assert_eq!(route(Role::Namesrv, "rmqd_remoting::transport"), "namesrv");
    }

    #[test]
    fn rolls_by_size_keeping_max_index() {
        let dir = tempfile::tempdir().unwrap();
        let failures = Arc::new(AtomicU64::new(0));
        let mut f = RollingFile::new(dir.path(), "broker", 100, 3, failures.clone());
        for i in 0..40 {
            f.write_all(format!("line {i:04} ....................\n").as_bytes())
                .unwrap();
        }
        let main = std::fs::read_to_string(dir.path().join("broker.log")).unwrap();
        assert!(main.len() <= 100 && main.ends_with("line 0039 ....................\n"));
        for i in 1..=3 {
            let p = dir.path().join(format!("otherdays/broker.{i}.log"));
            assert!(p.exists(), "{}", p.display());
        }
        assert!(!dir.path().join("otherdays/broker.4.log").exists());
        let newest = std::fs::read_to_string(dir.path().join("otherdays/broker.1.log")).unwrap();
        assert!(newest.contains("line 0038"), "{newest}");
        assert_eq!(failures.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn rolls_at_a_new_day() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = RollingFile::new(dir.path(), "store", 1 << 20, 5, Default::default());
        f.write_all(b"yesterday\n").unwrap();
        f.day -= 1;
        f.write_all(b"today\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("store.log")).unwrap(),
            "today\n"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("otherdays/store.1.log")).unwrap(),
            "yesterday\n"
        );
    }

    #[test]
    fn a_failing_disk_is_counted_not_raised() {
        let failures = Arc::new(AtomicU64::new(0));
        // A directory that cannot be created (a file is in the way).
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("blocker");
        std::fs::write(&blocker, b"").unwrap();
        let mut f = RollingFile::new(
            &blocker.join("logs"),
            "broker",
            1 << 20,
            5,
            failures.clone(),
        );
        assert_eq!(f.write(b"lost\n").unwrap(), 5);
        assert_eq!(failures.load(Ordering::Relaxed), 1);
    }
}
