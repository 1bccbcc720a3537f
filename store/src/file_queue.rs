//! A directory of equally sized mapped files forming one contiguous logical byte stream
//! (the CommitLog, or one ConsumeQueue).

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::mapped_file::{parse_file_name, FileError, MappedFile};

#[derive(Debug, thiserror::Error)]
pub enum QueueLoadError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("{dir}: files are not contiguous: {file} should start at {expected}")]
    Gap {
        dir: PathBuf,
        file: PathBuf,
        expected: u64,
    },
    #[error("{dir}: files of different sizes ({first} and {other} bytes, {file})")]
    MixedSizes {
        dir: PathBuf,
        first: usize,
        other: usize,
        file: PathBuf,
    },
}

#[derive(Debug)]
pub struct FileQueue {
    dir: PathBuf,
    file_size: usize,
    files: RwLock<Vec<Arc<MappedFile>>>,
    /// The next file, created ahead of need off the writer's path (Java's
    /// AllocateMappedFileService); taken by [`FileQueue::create_next`] when its start fits.
    spare: std::sync::Mutex<Option<Arc<MappedFile>>>,
}

/// Lists `dir`'s 20-digit files, sorted by start offset (a missing dir is empty).
pub fn list_files(dir: &Path) -> Result<Vec<(u64, PathBuf, u64)>, FileError> {
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(FileError::new(dir, e)),
    };
    for entry in rd {
        let entry = entry.map_err(|e| FileError::new(dir, e))?;
        let name = entry.file_name();
        let Some(start) = name.to_str().and_then(parse_file_name) else {
            continue;
        };
        let len = entry
            .metadata()
            .map_err(|e| FileError::new(&entry.path(), e))?
            .len();
        out.push((start, entry.path(), len));
    }
    out.sort_by_key(|(s, _, _)| *s);
    Ok(out)
}

impl FileQueue {
    /// Opens the files in `dir`. A queue written with another file size keeps that size
    /// (a migrated store must); the caller is told through `file_size()` and may warn.
    pub fn open(
        dir: &Path,
        configured_size: usize,
        read_only: bool,
    ) -> Result<Self, QueueLoadError> {
        let mut listed = list_files(dir)?;
        // A file is created empty and sized right after; an empty one is what a crash in
        // between leaves. It holds nothing, so it is dropped (the Java broker refuses to
        // start on it instead), and the queue goes on as if it had never been created.
        listed.retain(|(_, path, len)| {
            if *len != 0 {
                return true;
            }
            tracing::warn!(file = %path.display(), "empty file left by an interrupted creation; removed");
            if !read_only {
                if let Err(e) = std::fs::remove_file(path) {
                    tracing::warn!(file = %path.display(), error = %e, "could not remove it");
                }
            }
            false
        });
        let mut file_size = configured_size;
        if let Some((_, _, len)) = listed.first() {
            file_size = *len as usize;
        }
        let mut files = Vec::with_capacity(listed.len());
        let mut expected = None;
        for (start, path, len) in listed {
            if len as usize != file_size {
                return Err(QueueLoadError::MixedSizes {
                    dir: dir.to_path_buf(),
                    first: file_size,
                    other: len as usize,
                    file: path,
                });
            }
            if let Some(e) = expected {
                if start != e {
                    return Err(QueueLoadError::Gap {
                        dir: dir.to_path_buf(),
                        file: path,
                        expected: e,
                    });
                }
            }
            expected = Some(start + len);
            let f = if read_only {
                MappedFile::open_read_only(&path, start)?
            } else {
                MappedFile::open(&path, start)?
            };
            files.push(Arc::new(f));
        }
        Ok(FileQueue {
            dir: dir.to_path_buf(),
            file_size,
            files: RwLock::new(files),
            spare: std::sync::Mutex::new(None),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn file_size(&self) -> usize {
        self.file_size
    }

    pub fn files(&self) -> RwLockReadGuard<'_, Vec<Arc<MappedFile>>> {
        self.files.read().unwrap_or_else(|e| e.into_inner())
    }

    fn files_mut(&self) -> RwLockWriteGuard<'_, Vec<Arc<MappedFile>>> {
        self.files.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn last(&self) -> Option<Arc<MappedFile>> {
        self.files().last().cloned()
    }

    pub fn first(&self) -> Option<Arc<MappedFile>> {
        self.files().first().cloned()
    }

    /// The file holding logical offset `offset`.
    pub fn find(&self, offset: u64) -> Option<Arc<MappedFile>> {
        let files = self.files();
        let first = files.first()?.start();
        if offset < first {
            return None;
        }
        let idx = ((offset - first) / self.file_size.max(1) as u64) as usize;
        files
            .get(idx)
            .filter(|f| f.start() <= offset && offset < f.start() + f.size() as u64)
            .cloned()
    }

    /// Appends a new empty file starting where the last one ends (or at `start` if the
    /// queue is empty).
    pub fn create_next(&self, start_if_empty: u64) -> Result<Arc<MappedFile>, FileError> {
        let mut files = self.files_mut();
        let start = files
            .last()
            .map(|f| f.start() + f.size() as u64)
            .unwrap_or(start_if_empty);
        let spare = self
            .spare
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .filter(|f| f.start() == start);
        let f = match spare {
            Some(f) => f,
            None => Arc::new(MappedFile::create(&self.dir, start, self.file_size)?),
        };
        files.push(Arc::clone(&f));
        Ok(f)
    }

    /// Deletes an unused preallocated file (at shutdown: the next start would only find
    /// it past the end and delete it).
    pub fn drop_spare(&self) {
        if let Some(f) = self.spare.lock().unwrap_or_else(|e| e.into_inner()).take() {
            if let Err(e) = f.delete() {
                tracing::warn!(error = %e, "could not delete the preallocated file");
            }
        }
    }

    /// Creates the file after the last one ahead of need, so that rolling into it costs
    /// the writer nothing. Returns it when one was created now.
    pub fn prepare_next(&self) -> Result<Option<Arc<MappedFile>>, FileError> {
        let Some(start) = self.last().map(|f| f.start() + f.size() as u64) else {
            return Ok(None);
        };
        let mut spare = self.spare.lock().unwrap_or_else(|e| e.into_inner());
        if spare.as_ref().is_some_and(|f| f.start() == start) {
            return Ok(None);
        }
        // Created outside the file list's lock: readers and the writer go on meanwhile.
        let f = Arc::new(MappedFile::create(&self.dir, start, self.file_size)?);
        *spare = Some(Arc::clone(&f));
        Ok(Some(f))
    }

    /// Lowest logical offset held.
    pub fn min_offset(&self) -> u64 {
        self.first().map(|f| f.start()).unwrap_or(0)
    }

    /// One past the last published byte.
    pub fn max_offset(&self) -> u64 {
        self.last()
            .map(|f| f.start() + f.wrote() as u64)
            .unwrap_or(0)
    }

    /// Cuts the stream at `offset`: the file holding it keeps what is before, later files
    /// are deleted. Used by recovery for a dirty tail.
    pub(crate) fn truncate(&self, offset: u64) -> Result<(), FileError> {
        let mut files = self.files_mut();
        let mut keep = Vec::with_capacity(files.len());
        for f in files.drain(..) {
            let end = f.start() + f.size() as u64;
            if end <= offset {
                keep.push(f);
            } else if f.start() <= offset {
                f.set_wrote((offset - f.start()) as usize);
                keep.push(f);
            } else {
                tracing::warn!(file = %f.path().display(), "deleting file past the valid end");
                f.delete()?;
            }
        }
        *files = keep;
        Ok(())
    }

    /// Removes the oldest files matching `expired`, never the newest one.
    pub fn delete_oldest_while(
        &self,
        mut expired: impl FnMut(&MappedFile) -> bool,
    ) -> Vec<Arc<MappedFile>> {
        let mut files = self.files_mut();
        let mut n = 0;
        while n + 1 < files.len() && files.get(n).is_some_and(|f| expired(f)) {
            n += 1;
        }
        let gone: Vec<_> = files.drain(..n).collect();
        drop(files);
        for f in &gone {
            if let Err(e) = f.delete() {
                tracing::warn!(error = %e, "could not delete expired file");
            }
        }
        gone
    }

    /// Flushes every file with unflushed bytes; returns the new flushed end.
    pub fn flush(&self) -> Result<u64, FileError> {
        let files: Vec<_> = self.files().iter().cloned().collect();
        let mut end = 0;
        for f in files.iter().filter(|f| f.flushed() < f.wrote()) {
            f.flush()?;
        }
        if let Some(f) = files.last() {
            end = f.start() + f.flushed() as u64;
        }
        Ok(end)
    }

    /// Deletes every file (a queue whose topic was deleted).
    pub fn destroy(&self) {
        if let Some(f) = self.spare.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = f.delete();
        }
        for f in self.files_mut().drain(..) {
            let _ = f.delete();
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}
