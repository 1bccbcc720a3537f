//! `timerlog/`: the timer log, Java 5.x `TimerLog`'s layout. Mapped files named by their
//! start offset (20 digits, `mappedFileSizeTimerLog` bytes each) holding 52-byte units,
//! big-endian:
//!
//! ```text
//! size i32 (52) │ prev pos i64 │ magic i32 │ write time i64 │ delay i32 │
//! commit-log offset i64 │ record size i32 │ real topic hash i32 │ reserved i64
//! ```
//!
//! A unit links a message parked in `rmq_sys_wheel_timer` (its commit-log offset and
//! size) to its wheel slot: delivery time = write time + delay, and `prev pos` is the
//! slot's previous newest unit (-1 for the first). A unit that would not leave room for
//! a 16-byte blank (size = bytes left, 0, blank magic) at the end of its file goes to the
//! next file, after such a blank.

use std::path::Path;
use std::sync::Arc;

use crate::file_queue::{FileQueue, QueueLoadError};
use crate::mapped_file::{FileError, MappedFile};

/// Bytes per unit (`TimerLog.UNIT_SIZE`).
pub const UNIT_SIZE: usize = 52;
/// The blank that ends a file (`MIN_BLANK_LEN`).
pub const MIN_BLANK_LEN: usize = 16;
/// `TimerLog.BLANK_MAGIC_CODE` (`0xBBCCDDEE ^ 1880681586 + 8`, the CommitLog's too).
pub const BLANK_MAGIC: i32 = 0xCBD4_3194_u32 as i32;
/// Offset of the commit-log offset in a unit (`UNIT_PRE_SIZE_FOR_MSG`).
pub const UNIT_PRE_SIZE_FOR_MSG: usize = 28;

/// Magic bits: every unit has DEFAULT; ROLL marks a unit parked in a nearer slot of a
/// delay longer than the roll window (re-put on expiry, not delivered); DELETE marks a
/// unit that cancels another message of the same slot.
pub const MAGIC_DEFAULT: i32 = 1;
pub const MAGIC_ROLL: i32 = 1 << 1;
pub const MAGIC_DELETE: i32 = 1 << 2;

/// `isMagicOK`: only the four low bits may be set.
pub fn magic_ok(magic: i32) -> bool {
    (magic | 0xF) == 0xF
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerUnit {
    pub size: i32,
    pub prev_pos: i64,
    pub magic: i32,
    /// When the unit was written (the wheel's write time then).
    pub write_time: i64,
    /// Delivery time less `write_time`.
    pub delay: i32,
    pub offset_py: i64,
    pub size_py: i32,
    pub topic_hash: i32,
    pub reserved: i64,
}

/// What a unit's first 16 bytes say about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Head {
    /// The blank that ends a file.
    Blank,
    /// A unit of the right size and magic.
    Unit,
    /// Anything else: the end of what was written (zeros), or damage.
    Invalid,
}

impl TimerUnit {
    pub fn new(
        prev_pos: i64,
        magic: i32,
        write_time: i64,
        delay: i32,
        offset_py: i64,
        size_py: i32,
        topic_hash: i32,
    ) -> Self {
        TimerUnit {
            size: UNIT_SIZE as i32,
            prev_pos,
            magic,
            write_time,
            delay,
            offset_py,
            size_py,
            topic_hash,
            reserved: 0,
        }
    }

    /// The unit in the first 52 bytes, whatever they hold (`None` if fewer are given).
    pub fn decode(b: &[u8]) -> Option<TimerUnit> {
        let b: &[u8; UNIT_SIZE] = b.get(..UNIT_SIZE)?.try_into().ok()?;
        let l = |o: usize| i64::from_be_bytes(b[o..o + 8].try_into().unwrap_or([0; 8]));
        let i = |o: usize| i32::from_be_bytes(b[o..o + 4].try_into().unwrap_or([0; 4]));
        Some(TimerUnit {
            size: i(0),
            prev_pos: l(4),
            magic: i(12),
            write_time: l(16),
            delay: i(24),
            offset_py: l(28),
            size_py: i(36),
            topic_hash: i(40),
            reserved: l(44),
        })
    }

    pub fn encode(&self) -> [u8; UNIT_SIZE] {
        let mut b = [0u8; UNIT_SIZE];
        b[0..4].copy_from_slice(&self.size.to_be_bytes());
        b[4..12].copy_from_slice(&self.prev_pos.to_be_bytes());
        b[12..16].copy_from_slice(&self.magic.to_be_bytes());
        b[16..24].copy_from_slice(&self.write_time.to_be_bytes());
        b[24..28].copy_from_slice(&self.delay.to_be_bytes());
        b[28..36].copy_from_slice(&self.offset_py.to_be_bytes());
        b[36..40].copy_from_slice(&self.size_py.to_be_bytes());
        b[40..44].copy_from_slice(&self.topic_hash.to_be_bytes());
        b[44..52].copy_from_slice(&self.reserved.to_be_bytes());
        b
    }

    /// Delivery time (the slot), wrapping as Java's `long + int` does.
    pub fn delayed_time(&self) -> i64 {
        self.write_time.wrapping_add(i64::from(self.delay))
    }

    pub fn is_valid(&self) -> bool {
        self.size == UNIT_SIZE as i32 && magic_ok(self.magic)
    }

    pub fn rolled(&self) -> bool {
        self.magic & MAGIC_ROLL != 0
    }

    pub fn deletes(&self) -> bool {
        self.magic & MAGIC_DELETE != 0
    }

    /// Classifies the bytes at a unit position as recovery does (size and magic only).
    pub fn head(b: &[u8]) -> Head {
        let (Some(size), Some(magic)) = (b.get(0..4), b.get(12..16)) else {
            return Head::Invalid;
        };
        let size = i32::from_be_bytes([size[0], size[1], size[2], size[3]]);
        let magic = i32::from_be_bytes([magic[0], magic[1], magic[2], magic[3]]);
        if magic == BLANK_MAGIC {
            Head::Blank
        } else if size == UNIT_SIZE as i32 && magic_ok(magic) && b.len() >= UNIT_SIZE {
            Head::Unit
        } else {
            Head::Invalid
        }
    }
}

#[derive(Debug)]
pub struct TimerLog {
    files: FileQueue,
}

impl TimerLog {
    /// Opens `dir` (empty if missing). Files keep the size they were written with.
    pub fn open(dir: &Path, file_size: usize) -> Result<Self, QueueLoadError> {
        let file_size = file_size.max(UNIT_SIZE + MIN_BLANK_LEN);
        Ok(TimerLog {
            files: FileQueue::open(dir, file_size, false)?,
        })
    }

    pub fn files(&self) -> &FileQueue {
        &self.files
    }

    pub fn file_size(&self) -> usize {
        self.files.file_size()
    }

    /// One past the last unit written.
    pub fn end(&self) -> u64 {
        self.files.max_offset()
    }

    pub fn min_offset(&self) -> u64 {
        self.files.min_offset()
    }

    /// Appends a unit; returns its position. Only the timer service writes (callers hold
    /// the timer files exclusively).
    pub fn append(&mut self, unit: &TimerUnit) -> Result<u64, FileError> {
        let mut file = self.writable_file()?;
        if file.remaining() < UNIT_SIZE + MIN_BLANK_LEN {
            let left = file.remaining();
            let mut blank = [0u8; MIN_BLANK_LEN];
            blank[0..4].copy_from_slice(&(left as i32).to_be_bytes());
            blank[12..16].copy_from_slice(&BLANK_MAGIC.to_be_bytes());
            write(&file, &blank[..left.min(MIN_BLANK_LEN)]);
            // The rest of the file counts as written, as Java's setWrotePosition(fileSize).
            file.advance(left - left.min(MIN_BLANK_LEN));
            file = self.files.create_next(0)?;
        }
        let pos = file.start() + file.wrote() as u64;
        write(&file, &unit.encode());
        Ok(pos)
    }

    fn writable_file(&self) -> Result<Arc<MappedFile>, FileError> {
        match self.files.last() {
            Some(f) if !f.is_full() => Ok(f),
            _ => self.files.create_next(0),
        }
    }

    /// The published unit at `pos`, whatever it holds (`None` outside the written log).
    pub fn unit_at(&self, pos: u64) -> Option<TimerUnit> {
        let f = self.files.find(pos)?;
        let at = usize::try_from(pos - f.start()).ok()?;
        TimerUnit::decode(f.slice(at, UNIT_SIZE)?)
    }

    /// Writes what was appended since the last flush; returns the flushed end.
    pub fn flush(&self) -> Result<u64, FileError> {
        self.files.flush()
    }

    /// Cuts the log at `end` (recovery of a torn or damaged tail).
    pub(crate) fn truncate(&self, end: u64) -> Result<(), FileError> {
        self.files.truncate(end)
    }

    /// `deleteExpiredFileByOffsetForTimerLog`: drops the oldest files whose last unit
    /// points below `min_commitlog_offset` (the messages they park are gone), never the
    /// newest file. Returns how many went.
    pub fn delete_expired(&self, min_commitlog_offset: i64) -> usize {
        let check = last_unit_offset(self.file_size());
        self.files
            .delete_oldest_while(|f| {
                let Some(b) = f.slice(check, UNIT_SIZE) else {
                    return false;
                };
                match TimerUnit::decode(b) {
                    Some(u) if u.is_valid() => u.offset_py < min_commitlog_offset,
                    _ => {
                        tracing::warn!(file = %f.path().display(), check, "timer log file without a unit at its last position; kept");
                        false
                    }
                }
            })
            .len()
    }
}

/// `getOffsetForLastUnit`: where the last unit of a full file sits.
pub fn last_unit_offset(file_size: usize) -> usize {
    let room = file_size.saturating_sub(MIN_BLANK_LEN);
    (file_size - room % UNIT_SIZE)
        .saturating_sub(MIN_BLANK_LEN)
        .saturating_sub(UNIT_SIZE)
}

fn write(file: &MappedFile, bytes: &[u8]) {
    // SAFETY: the timer service is the only writer of the timer log, and holds no other
    // writable slice of this file.
    if let Some(w) = unsafe { file.writable(bytes.len()) } {
        w.copy_from_slice(bytes);
        file.advance(bytes.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(n: i64) -> TimerUnit {
        TimerUnit::new(n - 1, MAGIC_DEFAULT, 1000 * n, 5000, 4096 * n, 200, 7)
    }

    #[test]
    fn units_match_javas_layout() {
        let u = TimerUnit::new(
            -1,
            MAGIC_DEFAULT | MAGIC_ROLL,
            1_700_000_000_000,
            172_800_000,
            123_456,
            321,
            -42,
        );
        let b = u.encode();
        assert_eq!(&b[0..4], &52i32.to_be_bytes());
        assert_eq!(&b[4..12], &(-1i64).to_be_bytes());
        assert_eq!(&b[12..16], &3i32.to_be_bytes());
        assert_eq!(&b[16..24], &1_700_000_000_000i64.to_be_bytes());
        assert_eq!(&b[24..28], &172_800_000i32.to_be_bytes());
        assert_eq!(&b[UNIT_PRE_SIZE_FOR_MSG..36], &123_456i64.to_be_bytes());
        assert_eq!(&b[36..40], &321i32.to_be_bytes());
        assert_eq!(&b[40..44], &(-42i32).to_be_bytes());
        assert_eq!(&b[44..52], &[0u8; 8]);
        assert_eq!(TimerUnit::decode(&b), Some(u));
        assert_eq!(u.delayed_time(), 1_700_172_800_000);
        assert!(u.rolled() && !u.deletes() && u.is_valid());
        assert_eq!(TimerUnit::head(&b), Head::Unit);
        assert_eq!(TimerUnit::head(&[0u8; 52]), Head::Invalid);
        // The blank magic is the CommitLog's, as Java computes it.
        assert_eq!(BLANK_MAGIC, 0xBBCC_DDEE_u32 as i32 ^ (1_880_681_586 + 8));
    }

    #[test]
    fn appends_fill_a_file_then_end_it_with_a_blank() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Room for 3 units and a blank of 20 bytes: 3 × 52 + 20.
        let size = 3 * UNIT_SIZE + 20;
        let mut log = TimerLog::open(dir.path(), size).expect("open");
        let mut pos = Vec::new();
        for n in 0..5 {
            pos.push(log.append(&unit(n)).expect("append"));
        }
        assert_eq!(pos, vec![0, 52, 104, size as u64, size as u64 + 52]);
        assert_eq!(log.end(), size as u64 + 104);
        for (n, p) in pos.iter().enumerate() {
            assert_eq!(log.unit_at(*p), Some(unit(n as i64)));
        }
        log.flush().expect("flush");
        let first = std::fs::read(dir.path().join(format!("{:020}", 0))).expect("file 0");
        let blank = &first[156..172];
        assert_eq!(&blank[0..4], &20i32.to_be_bytes());
        assert_eq!(TimerUnit::head(blank), Head::Blank);
        assert_eq!(last_unit_offset(size), 104);
        assert_eq!(last_unit_offset(100 * 1024 * 1024), 104_857_532);
    }

    #[test]
    fn old_files_go_when_their_messages_are_gone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let size = 2 * UNIT_SIZE + 16;
        let mut log = TimerLog::open(dir.path(), size).expect("open");
        for n in 1..=6 {
            log.append(&unit(n)).expect("append");
        }
        assert_eq!(log.files().files().len(), 3);
        // Last units of the files point at 4096×2, 4096×4, 4096×6.
        assert_eq!(log.delete_expired(4096 * 2), 0);
        assert_eq!(log.delete_expired(4096 * 4 + 1), 2);
        assert_eq!(log.files().files().len(), 1, "the newest file stays");
        assert_eq!(log.min_offset(), 2 * size as u64);
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_decode_without_panic(raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80)) {
            let u = TimerUnit::decode(&raw);
            proptest::prop_assert_eq!(u.is_some(), raw.len() >= UNIT_SIZE);
            if let Some(u) = u {
                proptest::prop_assert_eq!(&u.encode()[..], &raw[..UNIT_SIZE]);
                let _ = u.delayed_time();
            }
            let _ = TimerUnit::head(&raw);
        }
    }
}
