//! `timerwheel`: the timer wheel file, Java 5.x `TimerWheel`'s layout.
//!
//! `2 × slots_total` slots of 32 bytes, big-endian:
//!
//! ```text
//! ┌──────────────────┬───────────┬───────────┬─────────┬─────────┐
//! │ time / precision │ first pos │ last pos  │   num   │  magic  │
//! │      8 bytes     │  8 bytes  │  8 bytes  │ 4 bytes │ 4 bytes │
//! └──────────────────┴───────────┴───────────┴─────────┴─────────┘
//! ```
//!
//! Slot `i` holds the delivery time `t` with `t / precision % (2 × slots_total) == i`; its
//! first field says which round of the wheel it belongs to, so a slot left over from a
//! past round reads as empty. `first pos` / `last pos` are timer-log positions of the
//! slot's oldest and newest units; the units link backwards through their `prev pos`.
//!
//! The file is mapped and every field is read and written as an atomic: the timer service
//! is the only writer, and the send path may read a slot's count (flow control) at the
//! same time without a data race.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, Ordering};

use memmap2::{MmapOptions, MmapRaw};

use crate::mapped_file::FileError;

/// Bytes per slot (`Slot.SIZE`).
pub const SLOT_SIZE: usize = 32;
const PAGE: usize = 4096;
/// Slots per page of the file.
pub const SLOTS_PER_PAGE: i64 = (PAGE / SLOT_SIZE) as i64;

/// One slot, as read. `time_ms` is the stored round times the precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub time_ms: i64,
    pub first_pos: i64,
    pub last_pos: i64,
    pub num: i32,
    pub magic: i32,
}

impl Slot {
    /// A slot from its 32 stored bytes (`None` if fewer are given), the time field scaled
    /// by `precision_ms` as `TimerWheel.getRawSlot` does (wrapping, as Java's `long`).
    pub fn decode(b: &[u8], precision_ms: i64) -> Option<Slot> {
        let b: &[u8; SLOT_SIZE] = b.get(..SLOT_SIZE)?.try_into().ok()?;
        let l = |o: usize| {
            i64::from_be_bytes([
                b[o],
                b[o + 1],
                b[o + 2],
                b[o + 3],
                b[o + 4],
                b[o + 5],
                b[o + 6],
                b[o + 7],
            ])
        };
        let i = |o: usize| i32::from_be_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        Some(Slot {
            time_ms: l(0).wrapping_mul(precision_ms),
            first_pos: l(8),
            last_pos: l(16),
            num: i(24),
            magic: i(28),
        })
    }

    /// The stored bytes of this slot.
    pub fn encode(&self, precision_ms: i64) -> [u8; SLOT_SIZE] {
        let mut b = [0u8; SLOT_SIZE];
        b[0..8].copy_from_slice(&(self.time_ms / precision_ms.max(1)).to_be_bytes());
        b[8..16].copy_from_slice(&self.first_pos.to_be_bytes());
        b[16..24].copy_from_slice(&self.last_pos.to_be_bytes());
        b[24..28].copy_from_slice(&self.num.to_be_bytes());
        b[28..32].copy_from_slice(&self.magic.to_be_bytes());
        b
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WheelError {
    #[error(transparent)]
    File(#[from] FileError),
    /// Java refuses to start on such a file too (`Timer wheel length:%d != expected:%s`).
    #[error("{path}: timer wheel length {found} != expected {expected}")]
    Length {
        path: PathBuf,
        found: u64,
        expected: u64,
    },
}

pub struct TimerWheel {
    path: PathBuf,
    map: MmapRaw,
    _file: File,
    slots: usize,
    precision_ms: i64,
    dirty: AtomicBool,
}

impl std::fmt::Debug for TimerWheel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimerWheel")
            .field("path", &self.path)
            .field("slots", &self.slots)
            .finish()
    }
}

impl TimerWheel {
    /// Opens or creates the wheel of `2 × slots_total` slots. A new file is sparse: only
    /// the slots ever written take disk blocks and memory.
    pub fn open(path: &Path, slots_total: usize, precision_ms: i64) -> Result<Self, WheelError> {
        let slots = slots_total.max(1) * 2;
        let len = (slots * SLOT_SIZE) as u64;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| FileError::new(dir, e))?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| FileError::new(path, e))?;
        let found = file.metadata().map_err(|e| FileError::new(path, e))?.len();
        if found != 0 && found != len {
            return Err(WheelError::Length {
                path: path.to_path_buf(),
                found,
                expected: len,
            });
        }
        if found == 0 {
            file.set_len(len).map_err(|e| FileError::new(path, e))?;
            file.sync_all().map_err(|e| FileError::new(path, e))?;
            if let Some(dir) = path.parent() {
                crate::mapped_file::sync_dir(dir).map_err(|e| FileError::new(dir, e))?;
            }
        }
        let map = MmapOptions::new()
            .len(len as usize)
            .map_raw(&file)
            .map_err(|e| FileError::new(path, e))?;
        Ok(TimerWheel {
            path: path.to_path_buf(),
            map,
            _file: file,
            slots,
            precision_ms: precision_ms.max(1),
            dirty: AtomicBool::new(false),
        })
    }

    pub fn precision_ms(&self) -> i64 {
        self.precision_ms
    }

    /// Slots in the file (twice `slots_total`).
    pub fn slot_count(&self) -> usize {
        self.slots
    }

    /// `getSlotIndex`; Euclidean, so a negative time (hostile input) still names a slot.
    pub fn slot_index(&self, time_ms: i64) -> usize {
        (time_ms / self.precision_ms).rem_euclid(self.slots as i64) as usize
    }

    fn field64(&self, slot: usize, off: usize) -> &AtomicI64 {
        debug_assert!(slot < self.slots && off.is_multiple_of(8) && off < SLOT_SIZE);
        // SAFETY: the mapping is `slots × 32` bytes, page aligned, and lives as long as
        // self; `slot < slots` and `off ≤ 16` keep the 8 bytes inside it and 8-aligned.
        // Every bit pattern is a valid AtomicI64, and all access goes through atomics.
        unsafe { &*(self.map.as_mut_ptr().add(slot * SLOT_SIZE + off) as *const AtomicI64) }
    }

    fn field32(&self, slot: usize, off: usize) -> &AtomicI32 {
        debug_assert!(slot < self.slots && off.is_multiple_of(4) && off < SLOT_SIZE);
        // SAFETY: as in field64, with 4 bytes at a 4-aligned offset ≤ 28.
        unsafe { &*(self.map.as_mut_ptr().add(slot * SLOT_SIZE + off) as *const AtomicI32) }
    }

    fn load64(&self, slot: usize, off: usize) -> i64 {
        i64::from_be(self.field64(slot, off).load(Ordering::Acquire))
    }

    fn load32(&self, slot: usize, off: usize) -> i32 {
        i32::from_be(self.field32(slot, off).load(Ordering::Acquire))
    }

    fn store64(&self, slot: usize, off: usize, v: i64) {
        self.field64(slot, off).store(v.to_be(), Ordering::Release);
    }

    fn store32(&self, slot: usize, off: usize, v: i32) {
        self.field32(slot, off).store(v.to_be(), Ordering::Release);
    }

    /// `getRawSlot`: whatever the slot for `time_ms` holds, of any round.
    pub fn raw_slot(&self, time_ms: i64) -> Slot {
        let i = self.slot_index(time_ms);
        Slot {
            time_ms: self.load64(i, 0).wrapping_mul(self.precision_ms),
            first_pos: self.load64(i, 8),
            last_pos: self.load64(i, 16),
            num: self.load32(i, 24),
            magic: self.load32(i, 28),
        }
    }

    /// `getSlot`: the slot of `time_ms` if it belongs to that time's round, else `None`
    /// (Java returns a slot of -1s).
    pub fn slot(&self, time_ms: i64) -> Option<Slot> {
        let s = self.raw_slot(time_ms);
        (s.time_ms == time_ms / self.precision_ms * self.precision_ms).then_some(s)
    }

    /// `putSlot` with all five fields.
    pub fn put_slot(&self, time_ms: i64, first_pos: i64, last_pos: i64, num: i32, magic: i32) {
        let i = self.slot_index(time_ms);
        self.store64(i, 0, time_ms / self.precision_ms);
        self.store64(i, 8, first_pos);
        self.store64(i, 16, last_pos);
        self.store32(i, 24, num);
        self.store32(i, 28, magic);
        self.dirty.store(true, Ordering::Release);
    }

    /// `reviseSlot(time, IGNORE, last_pos, force = true)`, what recovery does for every
    /// unit it finds in the timer log: the slot of the unit's round gets it as its newest
    /// unit; a slot of another round is taken over (first = last = the unit; the count
    /// and magic are left as they were, as Java's three-field `putSlot` leaves them).
    pub fn revise_last(&self, time_ms: i64, last_pos: i64) {
        let i = self.slot_index(time_ms);
        if self.load64(i, 0) != time_ms / self.precision_ms {
            self.store64(i, 0, time_ms / self.precision_ms);
            self.store64(i, 8, last_pos);
        }
        self.store64(i, 16, last_pos);
        self.dirty.store(true, Ordering::Release);
    }

    /// `getAllNum`: the counts of every slot from `from_ms` on, over one turn of the wheel
    /// (reads the whole file; for tools and tests, not for a hot path).
    pub fn all_num(&self, from_ms: i64) -> i64 {
        let start = from_ms / self.precision_ms * self.precision_ms;
        (0..self.slots as i64)
            .map(|k| start.wrapping_add(k.wrapping_mul(self.precision_ms)))
            .filter_map(|t| self.slot(t))
            .map(|s| i64::from(s.num))
            .sum()
    }

    /// Lets go of the mapped page holding the slot of `time_ms` (its bytes stay in the
    /// file and the page cache). The read time passes a page of slots every 128 slots and
    /// comes back to it only a turn of the wheel later: without this, the whole file would
    /// end up resident over two weeks, though a few pages are in use at any time.
    pub fn release_page_of(&self, time_ms: i64) {
        let page = self.slot_index(time_ms) * SLOT_SIZE / PAGE * PAGE;
        let len = PAGE.min(self.slots * SLOT_SIZE - page);
        // SAFETY: the range lies inside the mapping. The mapping is shared and file
        // backed, so MADV_DONTNEED drops only this process's page-table entries: the next
        // access faults the same bytes back in from the page cache (dirty ones included,
        // which the kernel still writes back), and no reference into the page outlives
        // the atomic accesses above.
        if let Err(e) = unsafe {
            self.map
                .unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, page, len)
        } {
            tracing::debug!(error = %e, "timer wheel page not released");
        }
    }

    /// Writes changed pages back (msync), if anything changed since the last flush.
    pub fn flush(&self) -> Result<(), FileError> {
        if self.dirty.swap(false, Ordering::AcqRel) {
            if let Err(e) = self.map.flush() {
                self.dirty.store(true, Ordering::Release);
                return Err(FileError::new(&self.path, e));
            }
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_round_trip_through_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("timerwheel");
        let w = TimerWheel::open(&p, 100, 1000).expect("open");
        assert_eq!(std::fs::metadata(&p).expect("meta").len(), 200 * 32);
        let t = 1_700_000_123_456;
        assert_eq!(w.slot(t), None, "a fresh wheel is empty");
        w.put_slot(t, 52, 104, 2, 0);
        let s = w.slot(t).expect("slot");
        assert_eq!(
            s,
            Slot {
                time_ms: 1_700_000_123_000,
                first_pos: 52,
                last_pos: 104,
                num: 2,
                magic: 0
            }
        );
        // The same index one turn later is another round: empty.
        assert_eq!(w.slot(t + 200_000), None);
        assert_eq!(w.raw_slot(t + 200_000), s);
        w.flush().expect("flush");
        drop(w);
        // The bytes are Java's: big-endian time/precision, first, last, num, magic.
        let bytes = std::fs::read(&p).expect("read");
        let i = (t / 1000 % 200) as usize * 32;
        assert_eq!(&bytes[i..i + 8], &(t / 1000).to_be_bytes());
        assert_eq!(&bytes[i + 8..i + 16], &52i64.to_be_bytes());
        assert_eq!(&bytes[i + 16..i + 24], &104i64.to_be_bytes());
        assert_eq!(&bytes[i + 24..i + 28], &2i32.to_be_bytes());
        assert_eq!(Slot::decode(&bytes[i..i + 32], 1000), Some(s));
        let w = TimerWheel::open(&p, 100, 1000).expect("reopen");
        assert_eq!(w.slot(t), Some(s));
        assert_eq!(w.all_num(t - 5000), 2);
        // A released page reads back the same.
        w.release_page_of(t);
        assert_eq!(w.slot(t), Some(s));
        w.put_slot(t, 52, 156, 3, 0);
        w.release_page_of(t);
        assert_eq!(w.slot(t).map(|s| s.num), Some(3));
        w.flush().expect("flush");
        let bytes = std::fs::read(&p).expect("read");
        assert_eq!(&bytes[i + 24..i + 28], &3i32.to_be_bytes());
    }

    #[test]
    fn a_wheel_of_another_length_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("timerwheel");
        std::fs::write(&p, [0u8; 100]).expect("write");
        match TimerWheel::open(&p, 100, 1000) {
            Err(WheelError::Length {
                found, expected, ..
            }) => assert_eq!((found, expected), (100, 6400)),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn revise_takes_over_a_slot_of_an_old_round() {
        let dir = tempfile::tempdir().expect("tempdir");
        let w = TimerWheel::open(&dir.path().join("w"), 10, 1000).expect("open");
        let t = 50_000;
        w.put_slot(t, 0, 52, 2, 0);
        w.revise_last(t, 520);
        assert_eq!(
            w.slot(t).map(|s| (s.first_pos, s.last_pos, s.num)),
            Some((0, 520, 2))
        );
        let later = t + 20_000; // same index, next round
        w.revise_last(later, 1040);
        let s = w.slot(later).expect("taken over");
        assert_eq!((s.first_pos, s.last_pos), (1040, 1040));
        assert_eq!(w.slot(t), None);
    }

    #[test]
    fn negative_times_name_a_slot() {
        let dir = tempfile::tempdir().expect("tempdir");
        let w = TimerWheel::open(&dir.path().join("w"), 10, 1000).expect("open");
        assert!(w.slot_index(-1_000_000) < 20);
        assert_eq!(w.slot(i64::MIN), None);
        w.put_slot(-5000, 1, 2, 3, 4);
        assert_eq!(w.slot(-5000).map(|s| s.last_pos), Some(2));
    }

    proptest::proptest! {
        #[test]
        fn any_32_bytes_decode_and_reencode(raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 32..33)) {
            let s = Slot::decode(&raw, 1).expect("32 bytes");
            proptest::prop_assert_eq!(&s.encode(1)[..], &raw[..]);
        }
    }
}
