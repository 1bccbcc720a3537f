//! One fixed-size memory-mapped file, named by the offset of its first byte in its queue's
//! logical byte stream (20 decimal digits, as the Java broker names them).
//!
//! One writer appends; any number of readers read what it has published. The writer
//! copies bytes past `wrote` and only then advances `wrote` (release), and readers only
//! look below `wrote` (acquire), so the two never touch the same bytes.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use memmap2::{MmapOptions, MmapRaw};

/// Granularity of the stale-tail check in `set_wrote`.
const PAGE: usize = 4096;

/// `UtilAll.offset2FileName`.
pub fn file_name(offset: u64) -> String {
    format!("{offset:020}")
}

/// The start offset a file name encodes, if it is one of ours.
pub fn parse_file_name(name: &str) -> Option<u64> {
    if name.len() == 20 && name.bytes().all(|b| b.is_ascii_digit()) {
        name.parse().ok()
    } else {
        None
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct FileError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

impl FileError {
    pub fn new(path: &Path, source: io::Error) -> Self {
        FileError {
            path: path.to_path_buf(),
            source,
        }
    }
}

pub struct MappedFile {
    path: PathBuf,
    start: u64,
    size: usize,
    map: MmapRaw,
    _file: File,
    wrote: AtomicUsize,
    flushed: AtomicUsize,
    /// End of the range already faulted in for writing by [`MappedFile::populate_ahead`].
    populated: AtomicUsize,
    deleted: AtomicBool,
}

impl std::fmt::Debug for MappedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedFile")
            .field("path", &self.path)
            .field("wrote", &self.wrote())
            .finish()
    }
}

impl MappedFile {
    /// Creates `dir/<start>` of `size` bytes, with its blocks reserved so that a full disk
    /// shows up here as an error rather than later as a fault on a mapped page.
    pub fn create(dir: &Path, start: u64, size: usize) -> Result<Self, FileError> {
        let path = dir.join(file_name(start));
        std::fs::create_dir_all(dir).map_err(|e| FileError::new(dir, e))?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| FileError::new(&path, e))?;
        file.set_len(size as u64)
            .map_err(|e| FileError::new(&path, e))?;
        reserve(&file, size).map_err(|e| FileError::new(&path, e))?;
        // The size and the directory entry must be on disk before any record in the file
        // is acknowledged: msync of the data later does not make a new file's name durable.
        file.sync_all().map_err(|e| FileError::new(&path, e))?;
        sync_dir(dir).map_err(|e| FileError::new(dir, e))?;
        Self::map(path, file, start, size, 0)
    }

    /// Opens an existing file read-write; its length is its size.
    pub fn open(path: &Path, start: u64) -> Result<Self, FileError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| FileError::new(path, e))?;
        let size = file.metadata().map_err(|e| FileError::new(path, e))?.len() as usize;
        Self::map(path.to_path_buf(), file, start, size, size)
    }

    /// Opens an existing file for reading only (the store CLI's verify/dump/query).
    pub fn open_read_only(path: &Path, start: u64) -> Result<Self, FileError> {
        let file = File::open(path).map_err(|e| FileError::new(path, e))?;
        let size = file.metadata().map_err(|e| FileError::new(path, e))?.len() as usize;
        let map = MmapOptions::new()
            .len(size.max(1))
            .map_raw_read_only(&file)
            .map_err(|e| FileError::new(path, e))?;
        Ok(MappedFile {
            path: path.to_path_buf(),
            start,
            size,
            map,
            _file: file,
            wrote: AtomicUsize::new(size),
            flushed: AtomicUsize::new(size),
            // Nothing to populate in a read-only mapping.
            populated: AtomicUsize::new(size),
            deleted: AtomicBool::new(false),
        })
    }

    fn map(
        path: PathBuf,
        file: File,
        start: u64,
        size: usize,
        wrote: usize,
    ) -> Result<Self, FileError> {
        let map = MmapOptions::new()
            .len(size.max(1))
            .map_raw(&file)
            .map_err(|e| FileError::new(&path, e))?;
        Ok(MappedFile {
            path,
            start,
            size,
            map,
            _file: file,
            wrote: AtomicUsize::new(wrote),
            flushed: AtomicUsize::new(wrote),
            populated: AtomicUsize::new(0),
            deleted: AtomicBool::new(false),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    /// Offset of the first byte in the queue's logical stream.
    pub fn start(&self) -> u64 {
        self.start
    }
    pub fn size(&self) -> usize {
        self.size
    }
    /// Bytes written (and visible to readers) from the file start.
    pub fn wrote(&self) -> usize {
        self.wrote.load(Ordering::Acquire)
    }
    pub fn flushed(&self) -> usize {
        self.flushed.load(Ordering::Acquire)
    }
    pub fn remaining(&self) -> usize {
        self.size.saturating_sub(self.wrote())
    }
    pub fn is_full(&self) -> bool {
        self.wrote() >= self.size
    }

    /// The whole file's bytes, including what is not yet published. Only for recovery and
    /// read-only tools, before any writer runs.
    pub(crate) fn all_bytes(&self) -> &[u8] {
        // SAFETY: the mapping is `size` bytes long (at least 1) and lives as long as self;
        // callers use this only when no writer is active.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr(), self.size) }
    }

    /// Published bytes `[pos, pos+len)`, if all of them are published.
    pub fn slice(&self, pos: usize, len: usize) -> Option<&[u8]> {
        let end = pos.checked_add(len)?;
        if end > self.wrote() {
            return None;
        }
        // SAFETY: [pos, end) lies below `wrote`, which the single writer never rewrites;
        // the mapping outlives the borrow of self.
        Some(unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(pos), len) })
    }

    /// Published bytes as a `Bytes` that keeps the mapping alive: pull and query answers
    /// go from the page cache to the socket without a copy.
    pub fn bytes(self: &Arc<Self>, pos: usize, len: usize) -> Option<Bytes> {
        self.slice(pos, len)?;
        Some(Bytes::from_owner(MappedSlice {
            file: Arc::clone(self),
            pos,
            len,
        }))
    }

    /// Gives the writer the unpublished bytes `[wrote, wrote+len)` to fill.
    ///
    /// # Safety
    /// Only the file's single writer may call this, and it must not hold two such slices
    /// at once.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn writable(&self, len: usize) -> Option<&mut [u8]> {
        let pos = self.wrote.load(Ordering::Relaxed);
        if pos.checked_add(len)? > self.size {
            return None;
        }
        Some(std::slice::from_raw_parts_mut(
            self.map.as_mut_ptr().add(pos),
            len,
        ))
    }

    /// Faults in the pages from the write position to `ahead` bytes past it, writable,
    /// so that the appending thread does not stop on a page fault (for a new page the
    /// kernel zero-fills it first: about as much work as writing the page). Returns the
    /// end of the populated range; a kernel without MADV_POPULATE_WRITE (before 5.14)
    /// returns an error and the writer simply faults as before.
    pub fn populate_ahead(&self, ahead: usize) -> std::io::Result<usize> {
        let populated = self.populated.load(Ordering::Relaxed);
        let from = populated.max(self.wrote()) / PAGE * PAGE;
        let to = (self.wrote() + ahead).min(self.size);
        if from >= to {
            return Ok(populated);
        }
        self.map
            .advise_range(memmap2::Advice::PopulateWrite, from, to - from)?;
        self.populated.fetch_max(to, Ordering::Relaxed);
        Ok(to)
    }

    /// Publishes `len` more bytes written through `writable`.
    pub fn advance(&self, len: usize) {
        self.wrote.fetch_add(len, Ordering::Release);
    }

    /// Sets the write position (recovery, truncation). Stale bytes past it are zeroed so
    /// that a later scan cannot mistake them for records. Files are written sequentially,
    /// so the first all-zero page after them ends the stale region: the untouched rest of
    /// a large file is neither read in full nor dirtied.
    pub(crate) fn set_wrote(&self, pos: usize) {
        let pos = pos.min(self.size);
        let mut at = pos;
        while at < self.size {
            let end = ((at / PAGE) + 1) * PAGE;
            let end = end.min(self.size);
            // SAFETY: only called before writers run (recovery) or by the writer itself;
            // [at, end) lies inside the mapping.
            let chunk =
                unsafe { std::slice::from_raw_parts_mut(self.map.as_mut_ptr().add(at), end - at) };
            let clean = chunk.iter().all(|b| *b == 0);
            if clean && at.is_multiple_of(PAGE) {
                break; // a whole clean page: nothing stale follows
            }
            if !clean {
                chunk.fill(0);
            }
            at = end;
        }
        self.wrote.store(pos, Ordering::Release);
        self.flushed.store(pos, Ordering::Release);
    }

    /// Sets the write position without touching bytes (read-only opening).
    pub fn mark_wrote(&self, pos: usize) {
        let pos = pos.min(self.size);
        self.wrote.store(pos, Ordering::Release);
        self.flushed.store(pos, Ordering::Release);
    }

    /// Writes published-but-unflushed bytes to disk. Returns the flushed position.
    pub fn flush(&self) -> Result<usize, FileError> {
        let wrote = self.wrote();
        let flushed = self.flushed();
        if wrote > flushed {
            self.map
                .flush_range(flushed, wrote - flushed)
                .map_err(|e| FileError::new(&self.path, e))?;
            self.flushed.fetch_max(wrote, Ordering::AcqRel);
        }
        Ok(wrote)
    }

    /// Unlinks the file. The mapping stays valid for readers still holding it.
    pub fn delete(&self) -> Result<(), FileError> {
        if !self.deleted.swap(true, Ordering::AcqRel) {
            std::fs::remove_file(&self.path).map_err(|e| FileError::new(&self.path, e))?;
        }
        Ok(())
    }

    pub fn modified_ms(&self) -> i64 {
        std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
}

struct MappedSlice {
    file: Arc<MappedFile>,
    pos: usize,
    len: usize,
}

impl AsRef<[u8]> for MappedSlice {
    fn as_ref(&self) -> &[u8] {
        self.file.slice(self.pos, self.len).unwrap_or_default()
    }
}

/// fsync of a directory: makes the entries created or renamed in it durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn reserve(file: &File, size: usize) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let Ok(len) = libc::off_t::try_from(size) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "file too large",
        ));
    };
    // SAFETY: plain syscall on a file descriptor we own.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len) };
    match rc {
        0 => Ok(()),
        // Filesystems without fallocate: the sparse file still works.
        libc::EOPNOTSUPP | libc::EINVAL => Ok(()),
        e => Err(io::Error::from_raw_os_error(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(file_name(262144), "00000000000000262144");
        assert_eq!(parse_file_name("00000000000000262144"), Some(262144));
        assert_eq!(parse_file_name("0000000000000026214"), None);
        assert_eq!(parse_file_name("0000000000000026214x"), None);
    }

    #[test]
    fn write_publish_read_flush() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = Arc::new(MappedFile::create(dir.path(), 0, 4096).expect("create"));
        assert!(f.slice(0, 1).is_none());
        // SAFETY: single writer in this test.
        let w = unsafe { f.writable(5) }.expect("room");
        w.copy_from_slice(b"hello");
        assert!(f.slice(0, 5).is_none(), "not published yet");
        f.advance(5);
        assert_eq!(f.slice(0, 5), Some(&b"hello"[..]));
        let b = f.bytes(1, 3).expect("bytes");
        assert_eq!(&b[..], b"ell");
        assert_eq!(f.flush().expect("flush"), 5);
        drop(f);
        let g = MappedFile::open(&dir.path().join(file_name(0)), 0).expect("open");
        assert_eq!(g.size(), 4096);
        assert_eq!(&g.all_bytes()[..5], b"hello");
    }
}
