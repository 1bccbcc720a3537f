//! ConsumeQueue: per topic and queue id, 20-byte units (commit-log offset i64, record
//! size i32, tags code i64); unit *n* is the message at queue offset *n*.

use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::file_queue::{FileQueue, QueueLoadError};
use crate::mapped_file::FileError;

pub const UNIT_SIZE: usize = 20;

/// Size field of the filler units written before the first real unit of a queue whose
/// first file does not start at offset 0 (`fillPreBlank`).
const FILLER_SIZE: i32 = i32::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unit {
    pub phy_offset: i64,
    pub size: i32,
    pub tags_code: i64,
}

impl Unit {
    fn decode(b: &[u8]) -> Option<Unit> {
        Some(Unit {
            phy_offset: i64::from_be_bytes(b.get(0..8)?.try_into().ok()?),
            size: i32::from_be_bytes(b.get(8..12)?.try_into().ok()?),
            tags_code: i64::from_be_bytes(b.get(12..20)?.try_into().ok()?),
        })
    }

    fn encode(&self) -> [u8; UNIT_SIZE] {
        let mut b = [0u8; UNIT_SIZE];
        b[0..8].copy_from_slice(&self.phy_offset.to_be_bytes());
        b[8..12].copy_from_slice(&self.size.to_be_bytes());
        b[12..20].copy_from_slice(&self.tags_code.to_be_bytes());
        b
    }

    /// The CommitLog offset just past the record. Units read from disk may be damaged, so
    /// the sum saturates instead of overflowing.
    pub fn phy_end(&self) -> i64 {
        self.phy_offset.saturating_add(i64::from(self.size))
    }

    /// A unit that does not point at a message (filler, or zeros past the end).
    pub fn is_filler(&self) -> bool {
        self.size == FILLER_SIZE || self.size <= 0 || self.phy_offset < 0
    }
}

/// Why a unit could not be written.
#[derive(Debug, thiserror::Error)]
pub enum PutUnitError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("consume queue {topic}-{queue_id}: unit for offset {got} would leave a gap after {expected}")]
    Gap {
        topic: String,
        queue_id: i32,
        expected: i64,
        got: i64,
    },
    #[error("queue offset {0} out of range")]
    BadOffset(i64),
}

#[derive(Debug)]
pub struct ConsumeQueue {
    pub topic: String,
    pub queue_id: i32,
    files: FileQueue,
    /// First queue offset whose message still exists in the CommitLog.
    min_logic_offset: AtomicI64,
    /// One past the highest commit-log byte the units point at.
    max_phy_end: AtomicI64,
}

impl ConsumeQueue {
    pub fn open(
        root: &Path,
        topic: &str,
        queue_id: i32,
        file_size: usize,
        read_only: bool,
    ) -> Result<Self, QueueLoadError> {
        let dir = root.join(topic).join(queue_id.to_string());
        // A file size that is not a whole number of units cannot be Java's either.
        let size = file_size - file_size % UNIT_SIZE;
        let files = FileQueue::open(&dir, size.max(UNIT_SIZE), read_only)?;
        Ok(ConsumeQueue {
            topic: topic.to_string(),
            queue_id,
            files,
            min_logic_offset: AtomicI64::new(0),
            max_phy_end: AtomicI64::new(0),
        })
    }

    pub fn file_size(&self) -> usize {
        self.files.file_size()
    }

    pub fn files(&self) -> &FileQueue {
        &self.files
    }

    /// `ConsumeQueue.recover`: from the third-last file, scan units until the first one
    /// that is zero/invalid; that is the end. Returns the end as a queue offset.
    ///
    /// After a crash (`rebuild_from` is the CommitLog offset re-dispatch starts at) the
    /// tail is not trusted: units written after the last flush may have reached the disk
    /// in any order of pages, so a power cut can leave a hole (zeros) in an older file
    /// while a newer file kept its units. Java's scan of the last three files would take
    /// the newer units as the end and re-dispatch would skip the hole's messages for
    /// good. So the scan starts at the newest file whose first unit points before
    /// `rebuild_from` and ends at the first unit at or past it (or at a hole); re-dispatch
    /// then writes everything from there again, the same units from the CommitLog.
    pub fn recover(&self, rebuild_from: Option<i64>) -> i64 {
        let files: Vec<_> = self.files.files().iter().cloned().collect();
        let last_three = files.len().saturating_sub(3);
        let from = match rebuild_from {
            None => last_three,
            Some(phy) => files
                .iter()
                .rposition(|f| {
                    f.all_bytes()
                        .get(..UNIT_SIZE)
                        .and_then(Unit::decode)
                        .is_some_and(|u| u.size > 0 && u.phy_offset >= 0 && u.phy_offset < phy)
                })
                .unwrap_or(0)
                .min(last_three),
        };
        let mut end_byte = files.get(from).map(|f| f.start()).unwrap_or(0);
        let mut max_phy_end = 0i64;
        'files: for f in files.iter().skip(from) {
            let bytes = f.all_bytes();
            let mut pos = 0usize;
            while let Some(u) = bytes.get(pos..pos + UNIT_SIZE).and_then(Unit::decode) {
                let rebuilt =
                    u.size != FILLER_SIZE && rebuild_from.is_some_and(|p| u.phy_offset >= p);
                if u.phy_offset < 0 || u.size <= 0 || rebuilt {
                    end_byte = f.start() + pos as u64;
                    break 'files;
                }
                if u.size != FILLER_SIZE {
                    max_phy_end = max_phy_end.max(u.phy_end());
                }
                pos += UNIT_SIZE;
            }
            end_byte = f.start() + pos as u64;
        }
        if let Err(e) = self.files.truncate(end_byte) {
            tracing::warn!(error = %e, topic = %self.topic, queue = self.queue_id, "consume queue truncation failed");
        }
        for f in files.iter() {
            if f.start() + (f.size() as u64) <= end_byte {
                f.mark_wrote(f.size());
            }
        }
        self.max_phy_end.store(max_phy_end, Ordering::Release);
        (end_byte / UNIT_SIZE as u64) as i64
    }

    /// For read-only tools: the end is found by scanning for the first zero unit in every file.
    pub fn scan_read_only(&self) {
        let files: Vec<_> = self.files.files().iter().cloned().collect();
        for f in files {
            let bytes = f.all_bytes();
            let mut pos = 0;
            while let Some(u) = bytes.get(pos..pos + UNIT_SIZE).and_then(Unit::decode) {
                if u.phy_offset < 0 || u.size <= 0 {
                    break;
                }
                pos += UNIT_SIZE;
            }
            f.mark_wrote(pos);
            if pos < f.size() {
                break;
            }
        }
    }

    /// Queue offset one past the last unit.
    pub fn max_offset(&self) -> i64 {
        (self.files.max_offset() / UNIT_SIZE as u64) as i64
    }

    /// Lowest queue offset with a readable unit.
    pub fn min_offset(&self) -> i64 {
        let first_file = (self.files.min_offset() / UNIT_SIZE as u64) as i64;
        first_file.max(self.min_logic_offset.load(Ordering::Acquire))
    }

    pub fn max_phy_end(&self) -> i64 {
        self.max_phy_end.load(Ordering::Acquire)
    }

    /// The unit at `offset`, if published.
    pub fn get(&self, offset: i64) -> Option<Unit> {
        let byte = u64::try_from(offset).ok()?.checked_mul(UNIT_SIZE as u64)?;
        let f = self.files.find(byte)?;
        let pos = (byte - f.start()) as usize;
        f.slice(pos, UNIT_SIZE).and_then(Unit::decode)
    }

    /// Appends the unit for queue offset `offset` (the dispatcher is the only writer).
    /// Offsets below the end were already dispatched (a re-dispatch after recovery) and
    /// are skipped. A gap — units missing before `offset` — is filled with filler units
    /// only when `fill_gaps` (re-dispatch during recovery, where the missing records are
    /// gone with a damaged file) and only within one file's worth of units: while serving,
    /// a gap means an acknowledged message would vanish behind a filler, so it is an error.
    pub fn put(&self, offset: i64, unit: Unit, fill_gaps: bool) -> Result<(), PutUnitError> {
        let max = self.max_offset();
        if offset < max {
            return Ok(());
        }
        let units_per_file = (self.files.file_size() / UNIT_SIZE) as i64;
        if self.files.last().is_none() {
            // A queue that starts past 0 (its older files were deleted, it was migrated
            // mid-stream, or a slave was fed from the master's last CommitLog file)
            // begins with a file named for the unit's file, filled with filler units up
            // to it (`fillPreBlank`); its minimum is the first real unit.
            let byte = u64::try_from(offset)
                .ok()
                .and_then(|o| o.checked_mul(UNIT_SIZE as u64))
                .ok_or(PutUnitError::BadOffset(offset))?;
            let start = byte - byte % self.files.file_size() as u64;
            self.files.create_next(start)?;
            let mut next = (start / UNIT_SIZE as u64) as i64;
            while next < offset {
                self.append(Unit {
                    phy_offset: 0,
                    size: FILLER_SIZE,
                    tags_code: 0,
                })?;
                next += 1;
            }
            self.min_logic_offset.store(offset, Ordering::Release);
        }
        let mut next = self.max_offset();
        if next < offset && !(fill_gaps && offset - next <= units_per_file) {
            return Err(PutUnitError::Gap {
                topic: self.topic.clone(),
                queue_id: self.queue_id,
                expected: next,
                got: offset,
            });
        }
        if next < offset {
            tracing::warn!(
                topic = %self.topic,
                queue = self.queue_id,
                expected = next,
                got = offset,
                "consume queue gap filled with filler units during recovery"
            );
        }
        while next < offset {
            self.append(Unit {
                phy_offset: 0,
                size: FILLER_SIZE,
                tags_code: 0,
            })?;
            next += 1;
        }
        self.append(unit)?;
        self.max_phy_end.fetch_max(unit.phy_end(), Ordering::AcqRel);
        Ok(())
    }

    fn append(&self, unit: Unit) -> Result<(), FileError> {
        let file = match self.files.last() {
            Some(f) if f.remaining() >= UNIT_SIZE => f,
            _ => self.files.create_next(0)?,
        };
        // SAFETY: the dispatcher is the single writer of consume queues.
        if let Some(w) = unsafe { file.writable(UNIT_SIZE) } {
            w.copy_from_slice(&unit.encode());
            file.advance(UNIT_SIZE);
        }
        Ok(())
    }

    /// Drops units pointing at or past `phy_end` (CommitLog truncated by recovery).
    pub fn truncate_phy(&self, phy_end: i64) -> Result<(), FileError> {
        let max = self.max_offset();
        let mut keep = max;
        while keep > self.min_offset() {
            match self.get(keep - 1) {
                Some(u) if !u.is_filler() && u.phy_end() > phy_end => keep -= 1,
                _ => break,
            }
        }
        if keep < max {
            tracing::warn!(topic = %self.topic, queue = self.queue_id, from = keep, to = max, "truncating consume queue past the commit log end");
            self.files.truncate(keep as u64 * UNIT_SIZE as u64)?;
        }
        let mut max_phy = 0;
        if let Some(u) = (keep > 0).then(|| self.get(keep - 1)).flatten() {
            if !u.is_filler() {
                max_phy = u.phy_end();
            }
        }
        self.max_phy_end.store(max_phy, Ordering::Release);
        Ok(())
    }

    /// After commit-log files below `min_phy` were deleted: the first unit still pointing
    /// into the CommitLog becomes the minimum, and wholly stale files are removed.
    pub fn correct_min_offset(&self, min_phy: i64) {
        let files: Vec<_> = self.files.files().iter().cloned().collect();
        let mut deletable = 0;
        for (i, f) in files.iter().enumerate() {
            let last_unit = f
                .wrote()
                .checked_sub(UNIT_SIZE)
                .and_then(|p| f.slice(p, UNIT_SIZE))
                .and_then(Unit::decode);
            match last_unit {
                Some(u) if i + 1 < files.len() && u.phy_end() <= min_phy => {
                    deletable = i + 1;
                }
                _ => break,
            }
        }
        if deletable > 0 {
            let mut n = 0;
            self.files.delete_oldest_while(|_| {
                n += 1;
                n <= deletable
            });
        }
        let mut off = self.min_offset();
        let max = self.max_offset();
        while off < max {
            match self.get(off) {
                Some(u) if u.is_filler() || u.phy_offset < min_phy => off += 1,
                _ => break,
            }
        }
        self.min_logic_offset.fetch_max(off, Ordering::AcqRel);
    }

    pub fn flush(&self) -> Result<(), FileError> {
        self.files.flush().map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(phy: i64) -> Unit {
        Unit {
            phy_offset: phy,
            size: 100,
            tags_code: 0,
        }
    }

    #[test]
    fn a_gap_is_an_error_while_serving_and_bounded_during_recovery() {
        let dir = tempfile::tempdir().expect("tempdir");
        let q = ConsumeQueue::open(dir.path(), "G", 0, 10 * UNIT_SIZE, false).expect("open");
        q.put(0, unit(0), false).expect("first");
        // Unit 1 missing while serving: a filler would hide message 1 for good.
        let err = q.put(2, unit(200), false).expect_err("gap");
        assert!(
            matches!(
                err,
                PutUnitError::Gap {
                    expected: 1,
                    got: 2,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(q.max_offset(), 1, "nothing written");
        // During recovery a short gap is filled (the records are gone with a damaged file)…
        q.put(3, unit(300), true).expect("filled");
        assert!(q.get(1).expect("unit").is_filler());
        assert_eq!(q.get(3).expect("unit").phy_offset, 300);
        // …but a damaged offset far ahead must not write fillers until the disk is full.
        assert!(matches!(
            q.put(1 << 40, unit(400), true),
            Err(PutUnitError::Gap { .. })
        ));
        assert!(matches!(
            q.put(i64::MAX, unit(400), true),
            Err(PutUnitError::Gap { .. })
        ));
        assert_eq!(q.max_offset(), 4);
    }

    #[test]
    fn a_negative_or_huge_first_offset_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let q = ConsumeQueue::open(dir.path(), "G", 1, 10 * UNIT_SIZE, false).expect("open");
        assert!(q.put(i64::MAX, unit(0), true).is_err());
        assert_eq!(q.max_offset(), 0);
    }

    /// Found by the fuzzer: a damaged unit near i64::MAX made the end-of-record sums in
    /// min-offset correction and truncation overflow.
    #[test]
    fn damaged_units_near_the_top_do_not_overflow() {
        let dir = tempfile::tempdir().expect("tempdir");
        let q = ConsumeQueue::open(dir.path(), "G", 2, 2 * UNIT_SIZE, false).expect("open");
        for i in 0..4 {
            q.put(i, unit(i64::MAX - 10), true).expect("put");
        }
        q.correct_min_offset(i64::MAX);
        q.truncate_phy(0).expect("truncate");
        assert_eq!(unit(i64::MAX - 10).phy_end(), i64::MAX);
    }
}
