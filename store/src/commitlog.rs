//! The CommitLog: every message of every topic, appended as stored records to a chain of
//! mapped files. A record never spans two files: the tail of a file that cannot take the
//! next record holds a BLANK filler.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

use crate::checkpoint::CheckpointValues;
use crate::file_queue::{FileQueue, QueueLoadError};
use crate::mapped_file::{FileError, MappedFile};
use crate::record::{self, Decoded, RecordView, BLANK_MAGIC, END_FILE_MIN_BLANK_LENGTH};

#[derive(Debug)]
pub struct CommitLog {
    files: FileQueue,
}

/// Why an append could not happen.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error("a record of {len} bytes cannot fit in a commit log file of {file_size} bytes")]
    TooLarge { len: usize, file_size: usize },
    #[error(transparent)]
    File(#[from] FileError),
}

/// Where a scan of the CommitLog starts.
#[derive(Debug, Clone, Copy)]
pub enum ScanStart {
    /// Every file (verification).
    FirstFile,
    /// The third-last file (`recoverNormally`, after a clean shutdown).
    Normal,
    /// The newest file whose first record is older than what the checkpoint vouches for
    /// (`recoverAbnormally`, after a crash).
    Abnormal(CheckpointValues),
}

/// Where recovery found the end of valid data, and what it saw on the way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanOutcome {
    /// Offset of the first byte after the last valid record.
    pub end: i64,
    /// Offset from which records must be dispatched again (abnormal recovery).
    pub redispatch_from: i64,
    /// Why the scan stopped before the end of the last file, if it did.
    pub stopped_by: Option<(i64, String)>,
    pub records: u64,
}

impl CommitLog {
    pub fn open(dir: &Path, file_size: usize, read_only: bool) -> Result<Self, QueueLoadError> {
        Ok(CommitLog {
            files: FileQueue::open(dir, file_size, read_only)?,
        })
    }

    pub fn files(&self) -> &FileQueue {
        &self.files
    }

    pub fn file_size(&self) -> usize {
        self.files.file_size()
    }

    pub fn min_offset(&self) -> i64 {
        self.files.min_offset() as i64
    }

    /// One past the last published byte.
    pub fn max_offset(&self) -> i64 {
        self.files.max_offset() as i64
    }

    /// Scans for the valid end from where `start` says, visiting every valid record.
    pub fn scan(
        &self,
        start: ScanStart,
        check_crc: bool,
        mut visit: impl FnMut(i64, &RecordView<'_>),
    ) -> ScanOutcome {
        let files: Vec<Arc<MappedFile>> = self.files.files().iter().cloned().collect();
        let Some(first) = files.first() else {
            return ScanOutcome::default();
        };
        let start_idx = match start {
            ScanStart::FirstFile => 0,
            ScanStart::Normal => files.len().saturating_sub(3),
            ScanStart::Abnormal(checkpoint) => {
                let min_ts = checkpoint.min_timestamp();
                files
                    .iter()
                    .rposition(|f| match record::decode(f.all_bytes(), false) {
                        Ok(Decoded::Message(m)) => {
                            m.store_timestamp != 0 && m.store_timestamp <= min_ts
                        }
                        _ => false,
                    })
                    .unwrap_or(0)
            }
        };
        let mut out = ScanOutcome {
            end: first.start() as i64,
            redispatch_from: files.get(start_idx).map(|f| f.start() as i64).unwrap_or(0),
            ..ScanOutcome::default()
        };
        'files: for f in files.iter().skip(start_idx) {
            let bytes = f.all_bytes();
            let base = f.start() as i64;
            let mut pos = 0usize;
            out.end = base;
            while pos < bytes.len() {
                let rest = bytes.get(pos..).unwrap_or_default();
                match record::decode(rest, check_crc) {
                    Ok(Decoded::Message(m)) if m.total_size > 0 => {
                        visit(base + pos as i64, &m);
                        out.records += 1;
                        pos += m.total_size;
                        out.end = base + pos as i64;
                    }
                    Ok(Decoded::Blank { .. }) => {
                        out.end = base + f.size() as i64;
                        continue 'files;
                    }
                    Ok(Decoded::Message(_)) => break 'files,
                    Err(e) => {
                        // A zero tail (never written) is the normal end, not damage.
                        let zero = rest.iter().take(8).all(|b| *b == 0);
                        if !zero {
                            out.stopped_by = Some((base + pos as i64, e.to_string()));
                        }
                        break 'files;
                    }
                }
            }
            out.end = base + pos as i64;
        }
        out
    }

    /// Cuts everything after `end` (and zeroes it).
    pub(crate) fn truncate(&self, end: i64) -> Result<(), FileError> {
        self.files.truncate(end.max(0) as u64)
    }

    /// Marks the files as written up to `end` without changing them (read-only tools).
    pub fn mark_end(&self, end: i64) {
        for f in self.files.files().iter() {
            let start = f.start() as i64;
            let wrote = (end - start).clamp(0, f.size() as i64) as usize;
            f.mark_wrote(wrote);
        }
    }

    /// The record starting at `offset`, without a copy.
    pub fn record_bytes(&self, offset: i64) -> Option<Bytes> {
        let off = u64::try_from(offset).ok()?;
        let f = self.files.find(off)?;
        let pos = (off - f.start()) as usize;
        let head = f.slice(pos, 8)?;
        let size = i32::from_be_bytes(head.get(0..4)?.try_into().ok()?);
        let magic = i32::from_be_bytes(head.get(4..8)?.try_into().ok()?);
        if magic == BLANK_MAGIC || size <= 0 {
            return None;
        }
        f.bytes(pos, size as usize)
    }

    /// `size` bytes at `offset` (a consume-queue unit's target), without a copy.
    pub fn bytes(&self, offset: i64, size: usize) -> Option<Bytes> {
        let off = u64::try_from(offset).ok()?;
        let f = self.files.find(off)?;
        f.bytes((off - f.start()) as usize, size)
    }

    /// Reserves `len` bytes at the end for one record or a batch, rolling to a new file
    /// (with a BLANK filler in the old one) when they do not fit, and lets `fill` write
    /// them. Called by the store's single writer only. Returns the start offset.
    pub fn append(
        &self,
        len: usize,
        fill: impl FnOnce(i64, &mut [u8]),
    ) -> Result<i64, AppendError> {
        let file_size = self.files.file_size();
        if len + END_FILE_MIN_BLANK_LENGTH > file_size {
            return Err(AppendError::TooLarge { len, file_size });
        }
        let mut file = match self.files.last() {
            Some(f) => f,
            None => self.files.create_next(0)?,
        };
        if len + END_FILE_MIN_BLANK_LENGTH > file.remaining() {
            let remaining = file.remaining();
            // SAFETY: single writer (the store's append thread).
            if let Some(w) = unsafe { file.writable(remaining) } {
                if let Some(head) = w.get_mut(0..8) {
                    head[0..4].copy_from_slice(&(remaining as i32).to_be_bytes());
                    head[4..8].copy_from_slice(&BLANK_MAGIC.to_be_bytes());
                }
                file.advance(remaining);
            }
            file = self.files.create_next(0)?;
        }
        let start = file.start() as i64 + file.wrote() as i64;
        // SAFETY: single writer; the slice is dropped before `advance`.
        let Some(w) = (unsafe { file.writable(len) }) else {
            return Err(AppendError::TooLarge { len, file_size });
        };
        fill(start, w);
        file.advance(len);
        Ok(start)
    }

    pub fn flush(&self) -> Result<i64, FileError> {
        self.files.flush().map(|e| e as i64)
    }
}
