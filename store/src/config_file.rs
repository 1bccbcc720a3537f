//! One writer per config file. Connection tasks, the schedule loop and shutdown all save
//! the same few files; each save goes through the file's lock, and the content is
//! snapshotted inside that lock, so writes land in snapshot order and an older snapshot
//! never renames over a newer one. A save whose change a later snapshot already carries
//! returns without writing again (coalescing under load).
//!
//! The write itself is `MixAll.string2File` plus durability: `<file>.tmp` written and
//! fsynced, the previous content kept as `<file>.bak`, the rename, then the directory
//! fsynced so the rename survives a power cut.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, TryLockError, Weak};

use serde_json::Value;

use crate::fastjson::ConfigFileError;

#[doc(hidden)]
pub type ContentHook = Arc<dyn Fn(&str) + Send + Sync>;
#[doc(hidden)]
pub type Hook = Arc<dyn Fn() + Send + Sync>;

/// Test-only pause points (see `store/tests/config_persist.rs`): they let a test force the
/// interleavings that used to corrupt a file, instead of hoping a sleep produces them.
#[doc(hidden)]
#[derive(Default, Clone)]
pub struct TestHooks {
    /// Called with the content after the temp file is written, before the rename.
    pub before_rename: Option<ContentHook>,
    /// Called when a save finds another save of the same file in progress and waits.
    pub lock_busy: Option<Hook>,
}

pub struct ConfigFile {
    path: PathBuf,
    /// Held across snapshot and write. The value is the highest request number whose
    /// change the file on disk is known to carry.
    written: Mutex<u64>,
    /// Request numbers, taken by each save after its caller changed the state.
    requested: AtomicU64,
    hooks: Mutex<Option<TestHooks>>,
}

fn registry() -> MutexGuard<'static, HashMap<PathBuf, Weak<ConfigFile>>> {
    static FILES: OnceLock<Mutex<HashMap<PathBuf, Weak<ConfigFile>>>> = OnceLock::new();
    FILES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// Runs blocking file work. On a multi-threaded tokio worker the worker hands its other
/// tasks away first, so a save called from a connection task (which must answer only
/// after the write, as Java does) does not stall the connections sharing that worker.
fn off_worker<R>(f: impl FnOnce() -> R) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

fn io_err(p: &Path) -> impl FnOnce(std::io::Error) -> ConfigFileError {
    let path = p.to_path_buf();
    move |source| ConfigFileError::Io { path, source }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

pub(crate) fn bak_path(path: &Path) -> PathBuf {
    with_suffix(path, ".bak")
}

impl ConfigFile {
    /// The writer for `path`, shared by everyone in the process who opens the same path
    /// (compared lexically, after making it absolute).
    pub fn open(path: &Path) -> Arc<ConfigFile> {
        let key = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let mut files = registry();
        if let Some(f) = files.get(&key).and_then(Weak::upgrade) {
            return f;
        }
        files.retain(|_, w| w.strong_count() > 0);
        let f = Arc::new(ConfigFile {
            path: path.to_path_buf(),
            written: Mutex::new(0),
            requested: AtomicU64::new(0),
            hooks: Mutex::new(None),
        });
        files.insert(key, Arc::downgrade(&f));
        f
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file, or its `.bak` (see [`crate::fastjson::load`]).
    pub fn load(&self) -> Result<Option<Value>, ConfigFileError> {
        crate::fastjson::load(&self.path)
    }

    #[doc(hidden)]
    pub fn set_test_hooks(&self, hooks: Option<TestHooks>) {
        *self.hooks.lock().unwrap_or_else(PoisonError::into_inner) = hooks;
    }

    fn hooks(&self) -> Option<TestHooks> {
        self.hooks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn lock(&self) -> MutexGuard<'_, u64> {
        match self.written.try_lock() {
            Ok(g) => g,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => {
                if let Some(h) = self.hooks().and_then(|h| h.lock_busy) {
                    h();
                }
                self.written.lock().unwrap_or_else(PoisonError::into_inner)
            }
        }
    }

    /// Saves the state the caller has just changed. `snapshot` renders it and runs under
    /// the file's lock, after every earlier save of this file; `None` means nothing to
    /// write (the caller logs why). When this returns `Ok`, the file on disk carries the
    /// caller's change.
    pub fn persist_with(
        &self,
        snapshot: impl FnOnce() -> Option<String>,
    ) -> Result<(), ConfigFileError> {
        let ticket = self.requested.fetch_add(1, Ordering::SeqCst) + 1;
        off_worker(|| {
            let mut written = self.lock();
            if *written >= ticket {
                return Ok(());
            }
            // Every request numbered up to here was made before the snapshot below, so
            // the snapshot carries its change.
            let covers = self.requested.load(Ordering::SeqCst);
            let Some(content) = snapshot() else {
                return Ok(());
            };
            self.write(&content)?;
            *written = covers;
            Ok(())
        })
    }

    /// Writes `content` as it is, after any save in progress. For content that is not a
    /// snapshot of shared state; concurrent callers land in lock order.
    pub fn persist(&self, content: &str) -> Result<(), ConfigFileError> {
        off_worker(|| {
            let _written = self.lock();
            self.write(content)
        })
    }

    /// Call with the lock held.
    fn write(&self, content: &str) -> Result<(), ConfigFileError> {
        let path = &self.path;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let tmp = with_suffix(path, ".tmp");
        {
            let mut f = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
            f.write_all(content.as_bytes()).map_err(io_err(&tmp))?;
            f.sync_all().map_err(io_err(&tmp))?;
        }
        if let Some(h) = self.hooks().and_then(|h| h.before_rename) {
            h(content);
        }
        match std::fs::read(path) {
            Ok(old) => {
                let bak = bak_path(path);
                std::fs::write(&bak, old).map_err(io_err(&bak))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "previous content unreadable; no .bak kept");
            }
        }
        std::fs::rename(&tmp, path).map_err(io_err(path))?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(dir))
    }
}
