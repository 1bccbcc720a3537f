//! IndexFile: `topic#key` → commit-log offsets, in the Java broker's format (all
//! big-endian):
//!
//! ```text
//! header (40 B): beginTimestamp i64, endTimestamp i64, beginPhyOffset i64,
//!                endPhyOffset i64, hashSlotCount i32, indexCount i32 (starts at 1)
//! slots:         maxHashSlotNum × i32, newest entry number of the bucket (0 = empty)
//! entries:       maxIndexNum × 20 B: keyHash i32, phyOffset i64,
//!                timeDiff i32 (seconds since beginTimestamp), prevIndex i32
//! ```
//!
//! Neither size is stored in the file; the broker's `maxHashSlotNum`/`maxIndexNum` say
//! them. Files are named by their creation time, `yyyyMMddHHmmssSSS`.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use memmap2::{MmapMut, MmapOptions};

use crate::java;

pub const HEADER_SIZE: usize = 40;
const SLOT_SIZE: usize = 4;
const ENTRY_SIZE: usize = 20;

#[derive(Debug, Clone, Copy)]
pub struct IndexConfig {
    pub max_hash_slot_num: u32,
    pub max_index_num: u32,
}

impl IndexConfig {
    pub fn file_size(&self) -> usize {
        HEADER_SIZE
            + self.max_hash_slot_num as usize * SLOT_SIZE
            + self.max_index_num as usize * ENTRY_SIZE
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {size} bytes is not an index file of {slots} slots and {entries} entries ({expected} bytes)")]
    BadSize {
        path: PathBuf,
        size: usize,
        slots: u32,
        entries: u32,
        expected: usize,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> IndexError + '_ {
    move |source| IndexError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The 40-byte header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexHeader {
    pub begin_timestamp: i64,
    pub end_timestamp: i64,
    pub begin_phy_offset: i64,
    pub end_phy_offset: i64,
    pub hash_slot_count: i32,
    pub index_count: i32,
}

fn get_i64(b: &[u8], at: usize) -> i64 {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map(i64::from_be_bytes)
        .unwrap_or(0)
}

fn get_i32(b: &[u8], at: usize) -> i32 {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map(i32::from_be_bytes)
        .unwrap_or(0)
}

fn put(b: &mut [u8], at: usize, v: &[u8]) {
    if let Some(dst) = b.get_mut(at..at + v.len()) {
        dst.copy_from_slice(v);
    }
}

impl IndexHeader {
    pub fn parse(b: &[u8]) -> Self {
        IndexHeader {
            begin_timestamp: get_i64(b, 0),
            end_timestamp: get_i64(b, 8),
            begin_phy_offset: get_i64(b, 16),
            end_phy_offset: get_i64(b, 24),
            hash_slot_count: get_i32(b, 32),
            index_count: get_i32(b, 36),
        }
    }

    fn write(&self, b: &mut [u8]) {
        put(b, 0, &self.begin_timestamp.to_be_bytes());
        put(b, 8, &self.end_timestamp.to_be_bytes());
        put(b, 16, &self.begin_phy_offset.to_be_bytes());
        put(b, 24, &self.end_phy_offset.to_be_bytes());
        put(b, 32, &self.hash_slot_count.to_be_bytes());
        put(b, 36, &self.index_count.to_be_bytes());
    }
}

/// `IndexService.buildKey` hashed as `IndexFile.indexKeyHashMethod`.
pub fn key_hash(key: &str) -> i32 {
    let h = java::string_hash(key).wrapping_abs();
    if h < 0 {
        0
    } else {
        h
    }
}

enum Map {
    Rw(MmapMut),
    Ro(memmap2::Mmap),
}

pub struct IndexFile {
    path: PathBuf,
    cfg: IndexConfig,
    map: Map,
    header: IndexHeader,
}

impl IndexFile {
    /// Creates a new file; `prev_end` (end timestamp and phy offset of the previous file)
    /// seeds the header as Java does.
    pub fn create(
        dir: &Path,
        name_ts_ms: i64,
        cfg: IndexConfig,
        prev_end: (i64, i64),
    ) -> Result<Self, IndexError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let mut path = dir.join(timestamp_name(name_ts_ms));
        let mut bump = name_ts_ms;
        while path.exists() {
            bump += 1;
            path = dir.join(timestamp_name(bump));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io(&path))?;
        file.set_len(cfg.file_size() as u64).map_err(io(&path))?;
        // SAFETY: we own the file; nothing else maps it mutably.
        let map =
            unsafe { MmapOptions::new().len(cfg.file_size()).map_mut(&file) }.map_err(io(&path))?;
        let mut f = IndexFile {
            path,
            cfg,
            map: Map::Rw(map),
            header: IndexHeader {
                begin_timestamp: prev_end.0,
                end_timestamp: prev_end.0,
                begin_phy_offset: prev_end.1,
                end_phy_offset: prev_end.1,
                hash_slot_count: 0,
                index_count: 1,
            },
        };
        f.write_header();
        Ok(f)
    }

    /// Opens an existing file (read-write unless `read_only`).
    pub fn open(path: &Path, cfg: IndexConfig, read_only: bool) -> Result<Self, IndexError> {
        let file = OpenOptions::new()
            .read(true)
            .write(!read_only)
            .open(path)
            .map_err(io(path))?;
        let size = file.metadata().map_err(io(path))?.len() as usize;
        if size != cfg.file_size() {
            return Err(IndexError::BadSize {
                path: path.to_path_buf(),
                size,
                slots: cfg.max_hash_slot_num,
                entries: cfg.max_index_num,
                expected: cfg.file_size(),
            });
        }
        // SAFETY: the store owns its index files; external writers are excluded by the lock file.
        let map = if read_only {
            Map::Ro(unsafe { MmapOptions::new().len(size).map(&file) }.map_err(io(path))?)
        } else {
            Map::Rw(unsafe { MmapOptions::new().len(size).map_mut(&file) }.map_err(io(path))?)
        };
        let mut f = IndexFile {
            path: path.to_path_buf(),
            cfg,
            map,
            header: IndexHeader::default(),
        };
        f.header = IndexHeader::parse(f.bytes());
        Ok(f)
    }

    fn bytes(&self) -> &[u8] {
        match &self.map {
            Map::Rw(m) => m,
            Map::Ro(m) => m,
        }
    }

    fn bytes_mut(&mut self) -> Option<&mut [u8]> {
        match &mut self.map {
            Map::Rw(m) => Some(m),
            Map::Ro(_) => None,
        }
    }

    fn write_header(&mut self) {
        let h = self.header;
        if let Some(b) = self.bytes_mut() {
            h.write(b);
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn header(&self) -> IndexHeader {
        self.header
    }

    /// Entry numbers run 1..indexCount; the file is full at maxIndexNum. A count below 1
    /// can only come from a damaged header: such a file takes no more keys (the service
    /// rolls to a new one) rather than writing at a position computed from it.
    pub fn is_full(&self) -> bool {
        self.header.index_count >= self.cfg.max_index_num as i32 || self.header.index_count < 1
    }

    fn slot_pos(&self, hash: i32) -> usize {
        HEADER_SIZE + (hash as u32 % self.cfg.max_hash_slot_num.max(1)) as usize * SLOT_SIZE
    }

    fn entry_pos(&self, n: i32) -> usize {
        HEADER_SIZE + self.cfg.max_hash_slot_num as usize * SLOT_SIZE + n as usize * ENTRY_SIZE
    }

    /// `IndexFile.putKey`. Returns false when the file is full (the caller rolls).
    pub fn put_key(&mut self, key: &str, phy_offset: i64, store_timestamp: i64) -> bool {
        if self.is_full() {
            return false;
        }
        let hash = key_hash(key);
        let slot = self.slot_pos(hash);
        let count = self.header.index_count;
        let mut prev = get_i32(self.bytes(), slot);
        if prev <= 0 || prev > count {
            prev = 0;
        }
        let mut diff = store_timestamp.saturating_sub(self.header.begin_timestamp);
        if self.header.begin_timestamp <= 0 {
            diff = 0;
        }
        let diff = (diff / 1000).clamp(0, i64::from(i32::MAX)) as i32;
        let entry = self.entry_pos(count);
        let Some(b) = self.bytes_mut() else {
            return false;
        };
        put(b, entry, &hash.to_be_bytes());
        put(b, entry + 4, &phy_offset.to_be_bytes());
        put(b, entry + 12, &diff.to_be_bytes());
        put(b, entry + 16, &prev.to_be_bytes());
        put(b, slot, &count.to_be_bytes());
        if count <= 1 {
            self.header.begin_phy_offset = phy_offset;
            self.header.begin_timestamp = store_timestamp;
        }
        if prev == 0 {
            self.header.hash_slot_count = self.header.hash_slot_count.saturating_add(1);
        }
        self.header.index_count += 1;
        self.header.end_phy_offset = phy_offset;
        self.header.end_timestamp = store_timestamp;
        self.write_header();
        true
    }

    /// `IndexFile.selectPhyOffset`: offsets of entries with the key's hash whose time lies
    /// in `[begin, end]`, newest first. Chain walks are bounded, so damaged files end the
    /// walk instead of looping.
    pub fn select(&self, key: &str, max: usize, begin: i64, end: i64, out: &mut Vec<i64>) {
        let hash = key_hash(key);
        let b = self.bytes();
        let count = IndexHeader::parse(b).index_count;
        let begin_ts = self.header.begin_timestamp;
        let mut n = get_i32(b, self.slot_pos(hash));
        let mut steps = 0i64;
        while n > 0 && n < count && out.len() < max && steps <= i64::from(count) {
            steps += 1;
            let e = self.entry_pos(n);
            let h = get_i32(b, e);
            let phy = get_i64(b, e + 4);
            let diff = i64::from(get_i32(b, e + 12));
            let prev = get_i32(b, e + 16);
            let t = begin_ts.saturating_add(diff * 1000);
            if h == hash && t >= begin && t <= end {
                out.push(phy);
            }
            if prev <= 0 || prev >= n || t < begin {
                break; // chains always point to older entries
            }
            n = prev;
        }
    }

    pub fn flush(&self) -> Result<(), IndexError> {
        match &self.map {
            Map::Rw(m) => m.flush().map_err(io(&self.path)),
            Map::Ro(_) => Ok(()),
        }
    }

    /// Whether the file's time range overlaps `[begin, end]` (`isTimeMatched`).
    pub fn covers(&self, begin: i64, end: i64) -> bool {
        self.header.begin_timestamp <= end && self.header.end_timestamp >= begin
    }
}

/// `yyyyMMddHHmmssSSS` of a time in ms since the epoch (UTC).
pub fn timestamp_name(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}{millis:03}",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// Summary of one index file, for tools.
#[derive(Debug, Clone)]
pub struct IndexFileSummary {
    pub path: PathBuf,
    pub begin_timestamp: i64,
    pub end_timestamp: i64,
    pub begin_phy_offset: i64,
    pub end_phy_offset: i64,
    pub index_count: i32,
}

pub struct IndexQueryResult {
    pub phy_offsets: Vec<i64>,
    pub last_update_timestamp: i64,
    pub last_update_phy_offset: i64,
}

/// What recovery after a crash tells the index about the store it belongs to.
#[derive(Debug, Clone, Copy)]
pub struct AbnormalExit {
    /// The checkpoint's index time: files ending later are not known to be whole.
    pub index_timestamp: i64,
    /// One past the last record the CommitLog kept.
    pub commitlog_end: i64,
}

/// The `index/` directory: the files oldest first, the newest taking new keys.
pub struct IndexService {
    dir: PathBuf,
    cfg: IndexConfig,
    files: Vec<IndexFile>,
    read_only: bool,
    /// End time of a file that filled up and was flushed, not yet in the checkpoint.
    rolled: Option<i64>,
}

impl IndexService {
    /// Opens every index file. After a crash (`abnormal_exit` set) files newer than the
    /// checkpoint's index time are deleted, as Java does, and so are files holding keys of
    /// records at or past the recovered CommitLog end: the dispatcher indexes records as
    /// soon as they are written, so a full file can be flushed with keys of records whose
    /// bytes a power cut then took. Kept, it would claim those offsets, and the records
    /// appended there after the restart would be skipped as already indexed. The
    /// returned offset is where re-dispatch must start to rebuild the deleted files (the
    /// end of the newest file kept), so that every acknowledged key is found again.
    pub fn open(
        dir: &Path,
        cfg: IndexConfig,
        abnormal_exit: Option<AbnormalExit>,
    ) -> Result<(Self, Option<i64>), IndexError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let mut s = Self::load(dir, cfg, false)?;
        let mut rebuild_from = None;
        if let Some(exit) = abnormal_exit {
            let mut kept = Vec::new();
            for f in s.files.drain(..) {
                // Once a newer file is dropped, every later one goes too: the index files
                // must stay a contiguous run of the CommitLog.
                let newer = f.header.end_timestamp > exit.index_timestamp;
                let past_end = f.header.end_phy_offset >= exit.commitlog_end;
                if rebuild_from.is_some() || newer || past_end {
                    tracing::warn!(file = %f.path.display(), newer, past_end, "index file not vouched for after a crash; rebuilding it");
                    let begin = f.header.begin_phy_offset.max(0);
                    rebuild_from.get_or_insert(begin);
                    let p = f.path.clone();
                    drop(f);
                    std::fs::remove_file(&p).map_err(io(&p))?;
                } else {
                    kept.push(f);
                }
            }
            if let (Some(from), Some(last)) = (rebuild_from.as_mut(), kept.last()) {
                // The kept file vouches for everything up to its last entry.
                *from = last.header.end_phy_offset;
            }
            s.files = kept;
        }
        Ok((s, rebuild_from))
    }

    /// Opens the files for lookups only (store tools on a read-only copy).
    pub fn open_read_only(dir: &Path, cfg: IndexConfig) -> Result<Self, IndexError> {
        Self::load(dir, cfg, true)
    }

    fn load(dir: &Path, cfg: IndexConfig, read_only: bool) -> Result<Self, IndexError> {
        let mut names: Vec<PathBuf> = match std::fs::read_dir(dir) {
            Ok(rd) => rd
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.len() == 17 && n.bytes().all(|b| b.is_ascii_digit()))
                })
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io(dir)(e)),
        };
        names.sort();
        let mut files = Vec::with_capacity(names.len());
        let mut cfg = cfg;
        for p in names {
            let size = std::fs::metadata(&p).map_err(io(&p))?.len() as usize;
            if size != cfg.file_size() {
                // A store written with other settings: with the usual 1:4 ratio the
                // counts follow from the size.
                let slots = (size.saturating_sub(HEADER_SIZE)) / (SLOT_SIZE + 4 * ENTRY_SIZE);
                let guess = IndexConfig {
                    max_hash_slot_num: slots as u32,
                    max_index_num: slots as u32 * 4,
                };
                if slots > 0 && guess.file_size() == size {
                    tracing::warn!(file = %p.display(), slots, "index file size differs from maxHashSlotNum/maxIndexNum; using the file's own");
                    cfg = guess;
                }
            }
            files.push(IndexFile::open(&p, cfg, read_only)?);
        }
        Ok(IndexService {
            dir: dir.to_path_buf(),
            cfg,
            files,
            read_only,
            rolled: None,
        })
    }

    /// Indexes one message's keys: `topic#UNIQ_KEY` and `topic#k` for each key in KEYS.
    pub fn build(
        &mut self,
        topic: &str,
        uniq_key: Option<&str>,
        keys: Option<&str>,
        phy_offset: i64,
        store_timestamp: i64,
    ) -> Result<(), IndexError> {
        if self.read_only {
            return Ok(());
        }
        if let Some(last) = self.files.last() {
            if phy_offset < last.header.end_phy_offset {
                return Ok(()); // already indexed (re-dispatch after recovery)
            }
        }
        let mut all: Vec<&str> = Vec::new();
        if let Some(u) = uniq_key.filter(|u| !u.is_empty()) {
            all.push(u);
        }
        if let Some(ks) = keys {
            all.extend(ks.split(' ').filter(|k| !k.is_empty()));
        }
        for k in all {
            let key = format!("{topic}#{k}");
            self.put(&key, phy_offset, store_timestamp)?;
        }
        Ok(())
    }

    fn put(&mut self, key: &str, phy_offset: i64, ts: i64) -> Result<(), IndexError> {
        for _ in 0..2 {
            let need_new = self.files.last().is_none_or(IndexFile::is_full);
            if need_new {
                let prev = self
                    .files
                    .last()
                    .map(|f| (f.header.end_timestamp, f.header.end_phy_offset))
                    .unwrap_or((0, 0));
                if let Some(last) = self.files.last() {
                    last.flush()?;
                    if last.is_full() {
                        self.rolled = Some(last.header.end_timestamp);
                    }
                }
                let f = IndexFile::create(&self.dir, now_ms(), self.cfg, prev)?;
                self.files.push(f);
            }
            if let Some(f) = self.files.last_mut() {
                if f.put_key(key, phy_offset, ts) {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Newest files first; files whose time range misses the window are skipped.
    pub fn query(
        &self,
        topic: &str,
        key: &str,
        max: usize,
        begin: i64,
        end: i64,
    ) -> IndexQueryResult {
        let full_key = format!("{topic}#{key}");
        let mut out = Vec::new();
        for f in self.files.iter().rev() {
            if out.len() >= max {
                break;
            }
            if f.covers(begin, end) {
                f.select(&full_key, max, begin, end, &mut out);
            }
        }
        let last = self.files.last().map(|f| f.header).unwrap_or_default();
        IndexQueryResult {
            phy_offsets: out,
            last_update_timestamp: last.end_timestamp,
            last_update_phy_offset: last.end_phy_offset,
        }
    }

    pub fn flush(&mut self) -> Result<(), IndexError> {
        if let Some(f) = self.files.last() {
            f.flush()?;
        }
        Ok(())
    }

    /// The end time of a file that filled up and was flushed since the last call: the
    /// caller records it in the checkpoint before more keys go to the new file, so a crash
    /// never makes recovery drop a complete file.
    pub fn take_rolled(&mut self) -> Option<i64> {
        self.rolled.take()
    }

    /// End time of the newest full file: what the checkpoint may vouch for.
    pub fn last_full_end_timestamp(&self) -> i64 {
        self.files
            .iter()
            .rev()
            .find(|f| f.is_full())
            .map(|f| f.header.end_timestamp)
            .unwrap_or(0)
    }

    /// Deletes files wholly below `min_phy_offset`, never the newest.
    pub fn delete_before(&mut self, min_phy_offset: i64) -> usize {
        let mut n = 0;
        while self.files.len() > 1
            && self
                .files
                .first()
                .is_some_and(|f| f.header.end_phy_offset < min_phy_offset)
        {
            let f = self.files.remove(0);
            let p = f.path.clone();
            drop(f);
            if let Err(e) = std::fs::remove_file(&p) {
                tracing::warn!(file = %p.display(), error = %e, "could not delete index file");
            }
            n += 1;
        }
        n
    }

    pub fn files(&self) -> Vec<IndexFileSummary> {
        self.files
            .iter()
            .map(|f| IndexFileSummary {
                path: f.path.clone(),
                begin_timestamp: f.header.begin_timestamp,
                end_timestamp: f.header.end_timestamp,
                begin_phy_offset: f.header.begin_phy_offset,
                end_phy_offset: f.header.end_phy_offset,
                index_count: f.header.index_count,
            })
            .collect()
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SMALL: IndexConfig = IndexConfig {
        max_hash_slot_num: 10,
        max_index_num: 40,
    };

    #[test]
    fn names_are_utc_timestamps() {
        assert_eq!(timestamp_name(0), "19700101000000000");
        assert_eq!(timestamp_name(1_795_348_425_128), "20261122115345128");
    }

    #[test]
    fn put_select_roll_and_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut s, _) = IndexService::open(dir.path(), SMALL, None).expect("open");
        for i in 0..100i64 {
            s.build(
                "T",
                Some(&format!("U{i}")),
                Some(&format!("k{i} shared")),
                i * 100,
                1_000_000 + i * 1000,
            )
            .expect("build");
        }
        assert!(s.files().len() >= 5, "rolled: {}", s.files().len());
        let r = s.query("T", "k42", 10, 0, i64::MAX);
        assert!(r.phy_offsets.contains(&4200));
        let shared = s.query("T", "shared", 1000, 0, i64::MAX);
        assert_eq!(shared.phy_offsets.len(), 100);
        // Time window narrows the search.
        let narrow = s.query("T", "shared", 1000, 1_000_000 + 10_000, 1_000_000 + 20_000);
        assert!(
            narrow.phy_offsets.len() >= 10 && narrow.phy_offsets.len() < 30,
            "{}",
            narrow.phy_offsets.len()
        );
        s.flush().expect("flush");
        drop(s);
        let (s, _) = IndexService::open(dir.path(), SMALL, None).expect("reopen");
        assert!(s
            .query("T", "U99", 10, 0, i64::MAX)
            .phy_offsets
            .contains(&9900));
        // A full file's entries: indexCount stops at maxIndexNum.
        assert!(s.files().iter().any(|f| f.index_count == 40));
    }

    #[test]
    fn redispatch_below_the_end_is_skipped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut s, _) = IndexService::open(dir.path(), SMALL, None).expect("open");
        s.build("T", None, Some("a"), 500, 1).expect("build");
        s.build("T", None, Some("a"), 100, 1).expect("build");
        assert_eq!(s.query("T", "a", 10, 0, i64::MAX).phy_offsets, vec![500]);
    }

    /// Found by the fuzzer: a damaged header with a negative indexCount made `put_key`
    /// compute an entry position from it (multiply overflow). Such a file is treated as
    /// full: it takes no key, the service rolls to a new file, and lookups still work.
    #[test]
    fn negative_index_count_takes_no_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("20260101000000000");
        let mut bytes = vec![0u8; SMALL.file_size()];
        bytes[36..40].copy_from_slice(&(-5i32).to_be_bytes());
        std::fs::write(&path, &bytes).expect("write");
        let mut f = IndexFile::open(&path, SMALL, false).expect("open");
        assert!(f.is_full());
        assert!(!f.put_key("T#k", 100, 1_000));
        let mut out = Vec::new();
        f.select("T#k", 10, i64::MIN, i64::MAX, &mut out);
        assert!(out.is_empty());

        let (mut s, _) = IndexService::open(dir.path(), SMALL, None).expect("service");
        s.build("T", None, Some("k"), 100, 1_000).expect("build");
        assert_eq!(s.query("T", "k", 10, 0, i64::MAX).phy_offsets, vec![100]);
    }

    proptest! {
        #[test]
        fn garbage_files_never_panic(bytes in proptest::collection::vec(any::<u8>(), SMALL.file_size()..=SMALL.file_size()), key in "[a-z#]{0,12}") {
            let dir = tempfile::tempdir().expect("tempdir");
            std::fs::write(dir.path().join("20260101000000000"), &bytes).expect("write");
            let s = IndexService::open_read_only(dir.path(), SMALL).expect("open");
            let _ = s.query("T", &key, 100, i64::MIN, i64::MAX);
            let _ = s.files();
        }
    }
}
