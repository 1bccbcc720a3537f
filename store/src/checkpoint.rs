//! `checkpoint`: one 4 KiB page holding the store times up to which the CommitLog, the
//! consume queues and the index are known flushed. Abnormal recovery starts from it.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};

use crate::mapped_file::FileError;

const PAGE: usize = 4096;

#[derive(Debug)]
pub struct Checkpoint {
    path: PathBuf,
    physic: AtomicI64,
    logics: AtomicI64,
    index: AtomicI64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckpointValues {
    pub physic_msg_timestamp: i64,
    pub logics_msg_timestamp: i64,
    pub index_msg_timestamp: i64,
}

impl CheckpointValues {
    pub fn parse(bytes: &[u8]) -> Self {
        let at = |o: usize| {
            bytes
                .get(o..o + 8)
                .and_then(|b| b.try_into().ok())
                .map(i64::from_be_bytes)
                .unwrap_or(0)
        };
        CheckpointValues {
            physic_msg_timestamp: at(0),
            logics_msg_timestamp: at(8),
            index_msg_timestamp: at(16),
        }
    }

    /// `getMinTimestamp`: what abnormal recovery trusts, with Java's 3 s margin.
    pub fn min_timestamp(&self) -> i64 {
        self.physic_msg_timestamp
            .min(self.logics_msg_timestamp)
            .saturating_sub(3000)
            .max(0)
    }

    /// `getMinTimestampIndex`.
    pub fn min_timestamp_index(&self) -> i64 {
        self.min_timestamp().min(self.index_msg_timestamp)
    }
}

impl Checkpoint {
    /// Reads `path` if it exists (a short or unreadable file reads as zeros).
    pub fn open(path: &Path) -> Result<Self, FileError> {
        let mut bytes = Vec::new();
        match std::fs::File::open(path) {
            Ok(mut f) => {
                f.read_to_end(&mut bytes)
                    .map_err(|e| FileError::new(path, e))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(FileError::new(path, e)),
        }
        let v = CheckpointValues::parse(&bytes);
        Ok(Checkpoint {
            path: path.to_path_buf(),
            physic: AtomicI64::new(v.physic_msg_timestamp),
            logics: AtomicI64::new(v.logics_msg_timestamp),
            index: AtomicI64::new(v.index_msg_timestamp),
        })
    }

    pub fn values(&self) -> CheckpointValues {
        CheckpointValues {
            physic_msg_timestamp: self.physic.load(Ordering::Acquire),
            logics_msg_timestamp: self.logics.load(Ordering::Acquire),
            index_msg_timestamp: self.index.load(Ordering::Acquire),
        }
    }

    pub fn set_physic(&self, ts: i64) {
        if ts > 0 {
            self.physic.store(ts, Ordering::Release);
        }
    }
    pub fn set_logics(&self, ts: i64) {
        if ts > 0 {
            self.logics.store(ts, Ordering::Release);
        }
    }
    pub fn set_index(&self, ts: i64) {
        if ts > 0 {
            self.index.store(ts, Ordering::Release);
        }
    }

    /// Writes the page in place and syncs it.
    pub fn flush(&self) -> Result<(), FileError> {
        let v = self.values();
        let mut page = [0u8; PAGE];
        page[0..8].copy_from_slice(&v.physic_msg_timestamp.to_be_bytes());
        page[8..16].copy_from_slice(&v.logics_msg_timestamp.to_be_bytes());
        page[16..24].copy_from_slice(&v.index_msg_timestamp.to_be_bytes());
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.path)
            .map_err(|e| FileError::new(&self.path, e))?;
        f.seek(SeekFrom::Start(0))
            .and_then(|_| f.write_all(&page))
            .and_then(|_| f.sync_data())
            .map_err(|e| FileError::new(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_fixture() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("checkpoint");
        let c = Checkpoint::open(&p).expect("open");
        assert_eq!(c.values(), CheckpointValues::default());
        c.set_physic(10_000);
        c.set_logics(9_000);
        c.set_index(5);
        c.flush().expect("flush");
        let d = Checkpoint::open(&p).expect("reopen");
        assert_eq!(d.values().min_timestamp(), 6_000);
        assert_eq!(d.values().min_timestamp_index(), 5);
        assert_eq!(std::fs::metadata(&p).expect("meta").len(), 4096);
    }

    /// Found by the fuzzer: a damaged checkpoint holding i64::MIN made the 3 s margin
    /// overflow (a panic in a debug build, a wrapped huge timestamp in a release build).
    #[test]
    fn extreme_timestamps_do_not_overflow() {
        let mut raw = [0u8; 24];
        raw[0] = 0x80;
        let v = CheckpointValues::parse(&raw);
        assert_eq!(v.physic_msg_timestamp, i64::MIN);
        assert_eq!(v.min_timestamp(), 0);
        assert_eq!(v.min_timestamp_index(), 0);
    }

    proptest::proptest! {
        /// The checkpoint file may be short or garbage after a crash: any bytes parse.
        #[test]
        fn arbitrary_bytes_parse(raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            let v = CheckpointValues::parse(&raw);
            if raw.len() >= 24 {
                let want = i64::from_be_bytes(raw[16..24].try_into().expect("8 bytes"));
                proptest::prop_assert_eq!(v.index_msg_timestamp, want);
            }
        }
    }
}
