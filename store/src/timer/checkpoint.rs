//! `config/timercheck`: the timer checkpoint, Java 5.x `TimerCheckpoint`'s layout. One
//! 4 KiB page; its first 56 bytes are seven big-endian longs:
//!
//! ```text
//! last read time │ timer-log flush position │ timer queue offset │ master timer queue
//! offset │ data version: state version │ timestamp │ counter
//! ```
//!
//! The read time is the first wheel slot not yet delivered; the queue offset the first
//! `rmq_sys_wheel_timer` consume-queue entry not yet in the wheel. Both only move after
//! the work before them is done and the timer log and wheel are flushed.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::mapped_file::FileError;

const PAGE: usize = 4096;
/// Bytes of the page in use.
pub const LEN: usize = 56;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimerCheckpointValues {
    pub last_read_time_ms: i64,
    pub last_timer_log_flush_pos: i64,
    pub last_timer_queue_offset: i64,
    pub master_timer_queue_offset: i64,
    pub state_version: i64,
    pub timestamp: i64,
    pub counter: i64,
}

impl TimerCheckpointValues {
    /// Reads the longs present; a short or missing file reads as zeros past its end.
    pub fn parse(bytes: &[u8]) -> Self {
        let at = |o: usize| {
            bytes
                .get(o..o + 8)
                .and_then(|b| b.try_into().ok())
                .map(i64::from_be_bytes)
                .unwrap_or(0)
        };
        TimerCheckpointValues {
            last_read_time_ms: at(0),
            last_timer_log_flush_pos: at(8),
            last_timer_queue_offset: at(16),
            master_timer_queue_offset: at(24),
            state_version: at(32),
            timestamp: at(40),
            counter: at(48),
        }
    }

    pub fn encode(&self) -> [u8; LEN] {
        let mut b = [0u8; LEN];
        for (i, v) in [
            self.last_read_time_ms,
            self.last_timer_log_flush_pos,
            self.last_timer_queue_offset,
            self.master_timer_queue_offset,
            self.state_version,
            self.timestamp,
            self.counter,
        ]
        .into_iter()
        .enumerate()
        {
            b[i * 8..i * 8 + 8].copy_from_slice(&v.to_be_bytes());
        }
        b
    }
}

#[derive(Debug)]
pub struct TimerCheckpoint {
    path: PathBuf,
    values: TimerCheckpointValues,
    existed: bool,
}

impl TimerCheckpoint {
    /// Reads `path` if it exists.
    pub fn open(path: &Path) -> Result<Self, FileError> {
        let mut bytes = Vec::new();
        let existed = match std::fs::File::open(path) {
            Ok(mut f) => {
                f.read_to_end(&mut bytes)
                    .map_err(|e| FileError::new(path, e))?;
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(FileError::new(path, e)),
        };
        Ok(TimerCheckpoint {
            path: path.to_path_buf(),
            values: TimerCheckpointValues::parse(&bytes),
            existed,
        })
    }

    pub fn values(&self) -> TimerCheckpointValues {
        self.values
    }

    /// Whether the file was there when opened (a fresh timer store has none).
    pub fn existed(&self) -> bool {
        self.existed
    }

    /// Writes the page in place and syncs it.
    pub fn save(&mut self, v: TimerCheckpointValues) -> Result<(), FileError> {
        let mut page = [0u8; PAGE];
        page[..LEN].copy_from_slice(&v.encode());
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| FileError::new(dir, e))?;
        }
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.path)
            .map_err(|e| FileError::new(&self.path, e))?;
        f.seek(SeekFrom::Start(0))
            .and_then(|_| f.write_all(&page))
            .and_then(|_| f.sync_data())
            .map_err(|e| FileError::new(&self.path, e))?;
        if !self.existed {
            if let Some(dir) = self.path.parent() {
                crate::mapped_file::sync_dir(dir).map_err(|e| FileError::new(dir, e))?;
            }
            self.existed = true;
        }
        self.values = v;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_as_javas_page() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("config").join("timercheck");
        let mut c = TimerCheckpoint::open(&p).expect("open");
        assert!(!c.existed());
        assert_eq!(c.values(), TimerCheckpointValues::default());
        let v = TimerCheckpointValues {
            last_read_time_ms: 1_700_000_000_000,
            last_timer_log_flush_pos: 52 * 7,
            last_timer_queue_offset: 9,
            master_timer_queue_offset: 9,
            state_version: 0,
            timestamp: 1_700_000_000_500,
            counter: 3,
        };
        c.save(v).expect("save");
        let raw = std::fs::read(&p).expect("read");
        assert_eq!(raw.len(), 4096);
        assert_eq!(&raw[0..8], &1_700_000_000_000i64.to_be_bytes());
        assert_eq!(&raw[8..16], &364i64.to_be_bytes());
        assert_eq!(&raw[16..24], &9i64.to_be_bytes());
        assert_eq!(&raw[48..56], &3i64.to_be_bytes());
        let d = TimerCheckpoint::open(&p).expect("reopen");
        assert!(d.existed());
        assert_eq!(d.values(), v);
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_parse(raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80)) {
            let v = TimerCheckpointValues::parse(&raw);
            if raw.len() >= LEN {
                proptest::prop_assert_eq!(&v.encode()[..], &raw[..LEN]);
            }
        }
    }
}
