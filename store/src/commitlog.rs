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

/// The fixed fields of a stored record (V1, IPv4 hosts, empty body, topic and
/// properties): no record is shorter.
const MIN_RECORD_LEN: i32 = 91;

/// How many leading bytes of `data`, which starts at CommitLog offset `at` (a record
/// boundary), form whole records or end-of-file fillers in files of `file_size` bytes.
/// A master's transfers cut records anywhere; a slave writes only whole ones, so its
/// CommitLog never holds half a record that a crash could leave behind looking valid.
/// Bytes that cannot be a record there (bad magic, a size that overruns the file) are an
/// error: the stream is not a CommitLog.
pub fn whole_records(at: i64, data: &[u8], file_size: usize) -> Result<usize, String> {
    let file_size = file_size.max(1) as i64;
    let mut pos = 0usize;
    loop {
        let Some(head) = data.get(pos..pos + 8) else {
            return Ok(pos);
        };
        let total = i32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let magic = i32::from_be_bytes([head[4], head[5], head[6], head[7]]);
        let offset = at + pos as i64;
        let left_in_file = file_size - offset.rem_euclid(file_size);
        let ok = match magic {
            BLANK_MAGIC => {
                i64::from(total) == left_in_file && total as usize >= END_FILE_MIN_BLANK_LENGTH
            }
            record::MAGIC_V1 | record::MAGIC_V2 => {
                total >= MIN_RECORD_LEN
                    && (i64::from(total) + END_FILE_MIN_BLANK_LENGTH as i64 <= left_in_file
                        || i64::from(total) == left_in_file)
            }
            _ => false,
        };
        if !ok {
            return Err(format!(
                "no record at commit log offset {offset}: size {total}, magic {magic:#010x}"
            ));
        }
        let len = total as usize;
        if data.len() - pos < len {
            return Ok(pos);
        }
        pos += len;
    }
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

    /// Bytes from `offset` to the published end of the file holding it, at most `max`
    /// (`getData` as the HA master reads it): never crosses a file, so a transfer ends
    /// exactly at a file's end, its BLANK filler included. `None` when nothing is there.
    pub fn data_from(&self, offset: i64, max: usize) -> Option<Bytes> {
        let off = u64::try_from(offset).ok()?;
        let f = self.files.find(off)?;
        let pos = (off - f.start()) as usize;
        let len = f.wrote().checked_sub(pos)?.min(max);
        if len == 0 {
            return None;
        }
        f.bytes(pos, len)
    }

    /// Appends whole records replicated from a master verbatim at `start`, which must be
    /// where this CommitLog ends (Java's `appendData`). An empty CommitLog begins with
    /// the file holding `start`, which must be that file's first byte (a master starts a
    /// new slave at the beginning of its last file). Called by the store's single writer
    /// only, with bytes [`whole_records`] vouched for. Returns the new end.
    pub(crate) fn append_verbatim(
        &self,
        start: i64,
        data: &[u8],
    ) -> Result<i64, crate::message_store::ReplicaAppendError> {
        use crate::message_store::ReplicaAppendError as E;
        if self.files.last().is_none() {
            let file_size = self.files.file_size() as i64;
            let at = u64::try_from(start).map_err(|_| E::Unaligned(start))?;
            if file_size <= 0 || start % file_size != 0 {
                return Err(E::Unaligned(start));
            }
            self.files.create_next(at)?;
        }
        let mut pos = start;
        let mut rest = data;
        loop {
            let Some(last) = self.files.last() else {
                return Err(E::Unaligned(start));
            };
            let end = last.start() as i64 + last.wrote() as i64;
            if end != pos {
                return Err(E::OffsetMismatch {
                    slave: end,
                    master: pos,
                });
            }
            if rest.is_empty() {
                return Ok(end);
            }
            let file = if last.is_full() {
                self.files.create_next(0)?
            } else {
                last
            };
            let n = rest.len().min(file.remaining());
            // SAFETY: single writer (the store's append thread); the slice is dropped
            // before `advance`.
            if let Some(w) = unsafe { file.writable(n) } {
                if let (Some(dst), Some(src)) = (w.get_mut(..n), rest.get(..n)) {
                    dst.copy_from_slice(src);
                }
            }
            file.advance(n);
            pos += n as i64;
            rest = rest.get(n..).unwrap_or_default();
        }
    }

    pub fn flush(&self) -> Result<i64, FileError> {
        self.files.flush().map(|e| e as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn record_bytes(body_len: usize) -> Vec<u8> {
        let body = vec![b'b'; body_len];
        let f = record::RecordFields {
            queue_id: 0,
            flag: 0,
            queue_offset: 0,
            physical_offset: 0,
            sys_flag: 0,
            born_timestamp: 1,
            born_host: "127.0.0.1:1".parse().expect("addr"),
            store_timestamp: 2,
            store_host: "127.0.0.1:2".parse().expect("addr"),
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            body: &body,
            topic: "T",
            properties: "",
        };
        let mut v = vec![0u8; f.encoded_len()];
        f.encode_into(&mut v);
        v
    }

    proptest! {
        /// Whatever a master sends, the count is within the input and never panics.
        #[test]
        fn arbitrary_streams_never_overrun(
            at in 0i64..1_000_000,
            data in proptest::collection::vec(any::<u8>(), 0..256),
            file_size in 1usize..4096,
        ) {
            if let Ok(n) = whole_records(at, &data, file_size) {
                prop_assert!(n <= data.len());
            }
        }

        /// Real records cut at any point: the whole ones are counted, the cut one is not.
        #[test]
        fn a_cut_stream_keeps_its_whole_records(
            sizes in proptest::collection::vec(0usize..200, 1..10),
            cut in any::<prop::sample::Index>(),
        ) {
            let records: Vec<Vec<u8>> = sizes.iter().map(|s| record_bytes(*s)).collect();
            let stream: Vec<u8> = records.concat();
            let cut = cut.index(stream.len() + 1);
            let n = whole_records(0, &stream[..cut], 1 << 20).expect("valid");
            let mut ends = vec![0usize];
            for r in &records {
                ends.push(ends.last().copied().unwrap_or(0) + r.len());
            }
            let expected = ends.iter().copied().filter(|e| *e <= cut).max().unwrap_or(0);
            prop_assert_eq!(n, expected);
        }
    }

    #[test]
    fn a_file_tail_is_a_blank_of_exactly_the_rest() {
        let mut blank = vec![0u8; 100];
        blank[0..4].copy_from_slice(&100i32.to_be_bytes());
        blank[4..8].copy_from_slice(&BLANK_MAGIC.to_be_bytes());
        assert_eq!(whole_records(924, &blank, 1024), Ok(100));
        assert_eq!(whole_records(900, &blank, 1024).ok(), None);
        assert!(whole_records(0, &[0xde; 16], 1024).is_err());
    }
}
