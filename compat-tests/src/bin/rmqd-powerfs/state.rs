//! The durability model: what a power cut keeps.
//!
//! Two copies of everything. The volatile side (`vol` tree, `work/volatile/<ino>` objects)
//! takes every operation and serves every read: it is the page cache plus the running
//! journal transaction. The durable side (`dur` tree, `work/durable/<ino>` objects) is
//! what the disk holds; only these events move things there:
//!
//! * a journal commit, which any fsync or fsyncdir on the mount causes (ext4 has one
//!   journal: an fsync commits the whole running transaction): the durable namespace
//!   becomes the volatile one (creates, mkdirs, renames, unlinks, chmods), and explicit
//!   size changes (truncate, fallocate) reach the durable objects;
//! * an fsync (fdatasync, msync(MS_SYNC)) of a file: a commit, then every byte of that
//!   file the kernel has written to us since its last fsync, and its length. The kernel
//!   writes a file's dirty pages back before it sends FSYNC, so for msync these are the
//!   mapped pages just written.
//!
//! Nothing else is ever written back: no periodic commit (ext4's 5 s), no background
//! writeback of data. Both are things a power cut may legitimately beat, so this is
//! ext4 data=ordered's worst case; it is also stricter than ext4's auto_da_alloc
//! (a rename over a file does not push the renamed file's data). Not modelled: torn
//! writes (an fsync lands whole) and a disk that lies about its cache. After
//! [`State::cut`] nothing reaches the durable side at all.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::ranges::Ranges;
use crate::tree::{Kind, Node, Tree};

/// Counters printed when the power is cut.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub fsyncs: u64,
    pub fsyncdirs: u64,
    pub commits: u64,
    pub synced_bytes: u64,
    pub written_bytes: u64,
    /// fsyncs that arrived after the cut (they change nothing).
    pub after_cut: u64,
}

pub struct State {
    work: PathBuf,
    pub vol: Tree,
    pub dur: Tree,
    /// The volatile namespace differs from the durable one.
    ns_dirty: bool,
    /// Open handles on the volatile objects.
    vol_files: HashMap<u64, File>,
    /// Open handles on the durable objects.
    dur_files: HashMap<u64, File>,
    dirty: HashMap<u64, Ranges>,
    /// Sizes set by truncate/fallocate since the last commit: journaled metadata.
    pending_size: HashMap<u64, u64>,
    next_ino: u64,
    cut: bool,
    pub stats: Stats,
}

pub fn volatile_path(work: &Path, ino: u64) -> PathBuf {
    work.join("volatile").join(ino.to_string())
}

pub fn durable_path(work: &Path, ino: u64) -> PathBuf {
    work.join("durable").join(ino.to_string())
}

fn open_rw(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

impl State {
    /// `tree` and its objects were loaded by `image::load`; both sides start equal.
    pub fn new(work: PathBuf, tree: Tree, next_ino: u64) -> State {
        State {
            work,
            dur: tree.clone(),
            vol: tree,
            ns_dirty: false,
            vol_files: HashMap::new(),
            dur_files: HashMap::new(),
            dirty: HashMap::new(),
            pending_size: HashMap::new(),
            next_ino,
            cut: false,
            stats: Stats::default(),
        }
    }

    pub fn work(&self) -> &Path {
        &self.work
    }

    /// The power is cut: from now on the durable side is frozen.
    pub fn cut(&mut self) {
        self.cut = true;
    }

    pub fn namespace_changed(&mut self) {
        self.ns_dirty = true;
    }

    fn vol_file(&mut self, ino: u64) -> io::Result<&File> {
        if !self.vol_files.contains_key(&ino) {
            let f = open_rw(&volatile_path(&self.work, ino))?;
            self.vol_files.insert(ino, f);
        }
        self.vol_files
            .get(&ino)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EIO))
    }

    fn dur_file(&mut self, ino: u64) -> io::Result<&File> {
        if !self.dur_files.contains_key(&ino) {
            let f = open_rw(&durable_path(&self.work, ino))?;
            self.dur_files.insert(ino, f);
        }
        self.dur_files
            .get(&ino)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EIO))
    }

    /// A new node under `parent`/`name` (and its empty volatile object for a file).
    pub fn create(&mut self, parent: u64, name: &std::ffi::OsStr, node: Node) -> Result<u64, i32> {
        let ino = self.next_ino;
        if node.kind == Kind::File {
            let f = OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(volatile_path(&self.work, ino))
                .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
            self.vol_files.insert(ino, f);
        }
        self.vol
            .insert(parent, name, ino, node)
            .map_err(|e| e.errno())?;
        self.next_ino += 1;
        self.ns_dirty = true;
        Ok(ino)
    }

    /// (length, 512-byte blocks) of a file's volatile object.
    pub fn size(&mut self, ino: u64) -> io::Result<(u64, u64)> {
        use std::os::unix::fs::MetadataExt;
        let m = self.vol_file(ino)?.metadata()?;
        Ok((m.len(), m.blocks()))
    }

    pub fn read(&mut self, ino: u64, offset: u64, size: usize) -> io::Result<Vec<u8>> {
        let f = self.vol_file(ino)?;
        let mut buf = vec![0u8; size];
        let mut got = 0;
        while got < size {
            match f.read_at(&mut buf[got..], offset + got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        buf.truncate(got);
        Ok(buf)
    }

    pub fn write(&mut self, ino: u64, offset: u64, data: &[u8]) -> io::Result<()> {
        self.vol_file(ino)?.write_all_at(data, offset)?;
        self.dirty
            .entry(ino)
            .or_default()
            .insert(offset, offset + data.len() as u64);
        self.stats.written_bytes += data.len() as u64;
        Ok(())
    }

    pub fn set_size(&mut self, ino: u64, size: u64) -> io::Result<()> {
        self.vol_file(ino)?.set_len(size)?;
        self.pending_size.insert(ino, size);
        Ok(())
    }

    /// fallocate(2) modes 0 and KEEP_SIZE on the volatile object.
    pub fn fallocate(&mut self, ino: u64, offset: u64, len: u64, mode: i32) -> Result<(), i32> {
        use std::os::fd::AsRawFd;
        if mode & !libc::FALLOC_FL_KEEP_SIZE != 0 {
            return Err(libc::EOPNOTSUPP);
        }
        let (Ok(off), Ok(l)) = (libc::off_t::try_from(offset), libc::off_t::try_from(len)) else {
            return Err(libc::EFBIG);
        };
        let before = self
            .size(ino)
            .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?
            .0;
        let fd = self
            .vol_file(ino)
            .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?
            .as_raw_fd();
        // SAFETY: plain syscall on a descriptor this state owns.
        if unsafe { libc::fallocate(fd, mode, off, l) } != 0 {
            return Err(io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO));
        }
        let after = self
            .size(ino)
            .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?
            .0;
        if after != before {
            self.pending_size.insert(ino, after);
        }
        Ok(())
    }

    /// A journal commit: the namespace and explicit size changes become durable.
    pub fn commit(&mut self) -> io::Result<()> {
        if self.cut {
            return Ok(());
        }
        if self.ns_dirty {
            self.dur = self.vol.clone();
            self.ns_dirty = false;
        }
        let sizes: Vec<(u64, u64)> = self.pending_size.drain().collect();
        for (ino, size) in sizes {
            self.dur_file(ino)?.set_len(size)?;
        }
        self.stats.commits += 1;
        Ok(())
    }

    /// fsync of a file: a commit, then its written ranges and its length.
    pub fn fsync(&mut self, ino: u64) -> io::Result<()> {
        self.stats.fsyncs += 1;
        if self.cut {
            self.stats.after_cut += 1;
            return Ok(());
        }
        self.commit()?;
        let ranges = self
            .dirty
            .get_mut(&ino)
            .map(Ranges::take)
            .unwrap_or_default();
        let len = self.size(ino)?.0;
        let mut buf = vec![0u8; 1 << 20];
        let mut copied = 0u64;
        for (start, end) in ranges {
            let end = end.min(len);
            let mut at = start;
            while at < end {
                let n = ((end - at) as usize).min(buf.len());
                let chunk = &mut buf[..n];
                self.vol_file(ino)?.read_exact_at(chunk, at)?;
                self.dur_file(ino)?.write_all_at(chunk, at)?;
                copied += n as u64;
                at += n as u64;
            }
        }
        self.dur_file(ino)?.set_len(len)?;
        self.stats.synced_bytes += copied;
        tracing::debug!(ino, len, copied, "fsync");
        Ok(())
    }

    pub fn fsyncdir(&mut self) -> io::Result<()> {
        self.stats.fsyncdirs += 1;
        if self.cut {
            self.stats.after_cut += 1;
            return Ok(());
        }
        self.commit()
    }

    /// Drops the handles so that the durable objects can be moved into the image.
    pub fn close_all(&mut self) {
        self.vol_files.clear();
        self.dur_files.clear();
    }
}
