//! The image: a plain directory holding what survived the last power cut. A mount starts
//! from it (volatile and durable sides both equal to it) and a cut writes the durable
//! side back into it, so the next mount sees exactly what the "disk" kept.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::Path;

use crate::state::{durable_path, volatile_path};
use crate::tree::{Kind, Node, Tree, ROOT};

fn node_from(meta: &fs::Metadata, kind: Kind) -> Node {
    let mut n = Node::new(kind, (meta.mode() & 0o7777) as u16, meta.uid(), meta.gid());
    if let Ok(t) = meta.modified() {
        n.mtime = t;
        n.ctime = t;
    }
    n
}

/// Moves the image's files into `work/durable/<ino>`, copies them to
/// `work/volatile/<ino>`, and returns the namespace and the next free inode number. The
/// image is left empty.
pub fn load(image: &Path, work: &Path) -> io::Result<(Tree, u64)> {
    fs::create_dir_all(work.join("volatile"))?;
    fs::create_dir_all(work.join("durable"))?;
    fs::create_dir_all(image)?;
    let mut tree = Tree::new(node_from(&fs::metadata(image)?, Kind::Dir));
    let mut next = ROOT + 1;
    load_dir(image, ROOT, work, &mut tree, &mut next)?;
    for entry in fs::read_dir(image)? {
        let path = entry?.path();
        if path.is_dir() {
            fs::remove_dir_all(&path)?;
        }
    }
    Ok((tree, next))
}

fn load_dir(dir: &Path, ino: u64, work: &Path, tree: &mut Tree, next: &mut u64) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        let child = *next;
        *next += 1;
        let name = entry.file_name();
        let invalid = |e: crate::tree::NsError| io::Error::from_raw_os_error(e.errno());
        if meta.is_dir() {
            tree.insert(ino, &name, child, node_from(&meta, Kind::Dir))
                .map_err(invalid)?;
            load_dir(&entry.path(), child, work, tree, next)?;
        } else if meta.is_file() {
            tree.insert(ino, &name, child, node_from(&meta, Kind::File))
                .map_err(invalid)?;
            let durable = durable_path(work, child);
            fs::rename(entry.path(), &durable)?;
            copy_sparse(&durable, &volatile_path(work, child))?;
        }
        // Anything else (sockets, links) is not part of a store: left out.
    }
    Ok(())
}

/// Copies `from` to `to`, leaving holes where `from` has holes or zero blocks: store
/// files are mostly preallocated zeros and must not cost their full size.
pub fn copy_sparse(from: &Path, to: &Path) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let src = File::open(from)?;
    let dst = File::create(to)?;
    let len = src.metadata()?.len();
    dst.set_len(len)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut pos: u64 = 0;
    while pos < len {
        let Ok(at) = libc::off_t::try_from(pos) else {
            break;
        };
        // SAFETY: lseek on a descriptor owned by `src`.
        let data = unsafe { libc::lseek(src.as_raw_fd(), at, libc::SEEK_DATA) };
        if data < 0 {
            match io::Error::last_os_error().raw_os_error() {
                Some(libc::ENXIO) => break, // only a hole is left
                _ => return copy_all(&src, &dst, pos, len, &mut buf),
            }
        }
        // SAFETY: as above.
        let hole = unsafe { libc::lseek(src.as_raw_fd(), data, libc::SEEK_HOLE) };
        let (data, hole) = (data as u64, if hole < 0 { len } else { hole as u64 });
        copy_all(&src, &dst, data, hole.min(len), &mut buf)?;
        pos = hole.max(data + 1);
    }
    Ok(())
}

fn copy_all(src: &File, dst: &File, from: u64, to: u64, buf: &mut [u8]) -> io::Result<()> {
    let mut at = from;
    while at < to {
        let n = ((to - at) as usize).min(buf.len());
        let chunk = &mut buf[..n];
        src.read_exact_at(chunk, at)?;
        if chunk.iter().any(|b| *b != 0) {
            dst.write_all_at(chunk, at)?;
        }
        at += n as u64;
    }
    Ok(())
}

/// Writes the durable namespace into `image` (empty), moving each durable object into
/// place. A file whose data never reached the disk is there, empty.
pub fn store(dur: &Tree, work: &Path, image: &Path) -> io::Result<()> {
    fs::create_dir_all(image)?;
    store_dir(dur, ROOT, work, image)
}

fn store_dir(dur: &Tree, ino: u64, work: &Path, dir: &Path) -> io::Result<()> {
    let Some(node) = dur.get(ino) else {
        return Ok(());
    };
    for (name, child) in &node.children {
        let Some(c) = dur.get(*child) else {
            continue;
        };
        let path = dir.join(name);
        match c.kind {
            Kind::Dir => {
                fs::create_dir(&path)?;
                store_dir(dur, *child, work, &path)?;
            }
            Kind::File => {
                let object = durable_path(work, *child);
                if object.exists() {
                    fs::rename(&object, &path)?;
                } else {
                    File::create(&path)?;
                }
                File::options()
                    .write(true)
                    .open(&path)?
                    .set_modified(c.mtime)?;
            }
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(u32::from(c.perm)))?;
    }
    Ok(())
}
