//! The namespace: directories, their entries and each node's attributes. File bytes live
//! in object files named by inode number (see `state.rs`), so a copy of a `Tree` is a
//! cheap snapshot of the whole namespace, which is what a journal commit makes durable.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::time::SystemTime;

pub const ROOT: u64 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
}

#[derive(Clone, Debug)]
pub struct Node {
    pub kind: Kind,
    pub perm: u16,
    pub uid: u32,
    pub gid: u32,
    pub atime: SystemTime,
    pub mtime: SystemTime,
    pub ctime: SystemTime,
    /// Entries of a directory (empty for files).
    pub children: BTreeMap<OsString, u64>,
}

impl Node {
    pub fn new(kind: Kind, perm: u16, uid: u32, gid: u32) -> Node {
        let now = SystemTime::now();
        Node {
            kind,
            perm,
            uid,
            gid,
            atime: now,
            mtime: now,
            ctime: now,
            children: BTreeMap::new(),
        }
    }
}

/// Why a namespace change was refused, as the errno the kernel passes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NsError {
    NotFound,
    Exists,
    NotDir,
    IsDir,
    NotEmpty,
    Invalid,
}

impl NsError {
    pub fn errno(self) -> i32 {
        match self {
            NsError::NotFound => libc::ENOENT,
            NsError::Exists => libc::EEXIST,
            NsError::NotDir => libc::ENOTDIR,
            NsError::IsDir => libc::EISDIR,
            NsError::NotEmpty => libc::ENOTEMPTY,
            NsError::Invalid => libc::EINVAL,
        }
    }
}

/// Nodes by inode number. A node that loses its last entry stays (an unlinked file can
/// still be open and mapped); only entries reachable from [`ROOT`] are part of the image.
#[derive(Clone, Debug)]
pub struct Tree {
    nodes: HashMap<u64, Node>,
}

impl Tree {
    pub fn new(root: Node) -> Tree {
        let mut nodes = HashMap::new();
        nodes.insert(ROOT, root);
        Tree { nodes }
    }

    pub fn get(&self, ino: u64) -> Option<&Node> {
        self.nodes.get(&ino)
    }

    pub fn get_mut(&mut self, ino: u64) -> Option<&mut Node> {
        self.nodes.get_mut(&ino)
    }

    fn dir(&self, ino: u64) -> Result<&Node, NsError> {
        match self.nodes.get(&ino) {
            Some(n) if n.kind == Kind::Dir => Ok(n),
            Some(_) => Err(NsError::NotDir),
            None => Err(NsError::NotFound),
        }
    }

    fn dir_mut(&mut self, ino: u64) -> Result<&mut Node, NsError> {
        match self.nodes.get_mut(&ino) {
            Some(n) if n.kind == Kind::Dir => Ok(n),
            Some(_) => Err(NsError::NotDir),
            None => Err(NsError::NotFound),
        }
    }

    pub fn child(&self, parent: u64, name: &OsStr) -> Result<u64, NsError> {
        self.dir(parent)?
            .children
            .get(name)
            .copied()
            .ok_or(NsError::NotFound)
    }

    /// Adds `node` as `ino` under `parent`/`name`.
    pub fn insert(
        &mut self,
        parent: u64,
        name: &OsStr,
        ino: u64,
        node: Node,
    ) -> Result<(), NsError> {
        let dir = self.dir_mut(parent)?;
        if dir.children.contains_key(name) {
            return Err(NsError::Exists);
        }
        dir.children.insert(name.to_os_string(), ino);
        touch(dir);
        self.nodes.insert(ino, node);
        Ok(())
    }

    /// Removes the entry `parent`/`name`; `want` says which kind it must be.
    pub fn remove(&mut self, parent: u64, name: &OsStr, want: Kind) -> Result<u64, NsError> {
        let ino = self.child(parent, name)?;
        let node = self.nodes.get(&ino).ok_or(NsError::NotFound)?;
        match (want, node.kind) {
            (Kind::File, Kind::Dir) => return Err(NsError::IsDir),
            (Kind::Dir, Kind::File) => return Err(NsError::NotDir),
            (Kind::Dir, Kind::Dir) if !node.children.is_empty() => return Err(NsError::NotEmpty),
            _ => {}
        }
        let dir = self.dir_mut(parent)?;
        dir.children.remove(name);
        touch(dir);
        Ok(ino)
    }

    /// `rename(2)`: replaces a target of the same kind (an empty directory only).
    pub fn rename(
        &mut self,
        parent: u64,
        name: &OsStr,
        new_parent: u64,
        new_name: &OsStr,
        no_replace: bool,
    ) -> Result<(), NsError> {
        let ino = self.child(parent, name)?;
        if self.is_ancestor(ino, new_parent) {
            return Err(NsError::Invalid);
        }
        let kind = self.nodes.get(&ino).ok_or(NsError::NotFound)?.kind;
        match self.child(new_parent, new_name) {
            Ok(target) if target == ino => return Ok(()),
            Ok(_) if no_replace => return Err(NsError::Exists),
            Ok(_) => {
                self.remove(new_parent, new_name, kind)?;
            }
            Err(NsError::NotFound) => {}
            Err(e) => return Err(e),
        }
        let from = self.dir_mut(parent)?;
        from.children.remove(name);
        touch(from);
        let to = self.dir_mut(new_parent)?;
        to.children.insert(new_name.to_os_string(), ino);
        touch(to);
        Ok(())
    }

    /// Whether `ino` is `dir` or one of its ancestors (a rename into itself).
    fn is_ancestor(&self, ino: u64, dir: u64) -> bool {
        if ino == dir {
            return true;
        }
        let Some(node) = self.nodes.get(&ino) else {
            return false;
        };
        node.children.values().any(|c| self.is_ancestor(*c, dir))
    }
}

fn touch(dir: &mut Node) {
    let now = SystemTime::now();
    dir.mtime = now;
    dir.ctime = now;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> Tree {
        Tree::new(Node::new(Kind::Dir, 0o755, 0, 0))
    }

    #[test]
    fn rename_replaces_and_refuses() {
        let mut t = tree();
        let f = Node::new(Kind::File, 0o644, 0, 0);
        t.insert(ROOT, OsStr::new("a"), 2, f.clone()).expect("a");
        t.insert(ROOT, OsStr::new("b"), 3, f).expect("b");
        assert_eq!(
            t.rename(ROOT, OsStr::new("a"), ROOT, OsStr::new("b"), true),
            Err(NsError::Exists)
        );
        t.rename(ROOT, OsStr::new("a"), ROOT, OsStr::new("b"), false)
            .expect("replace");
        assert_eq!(t.child(ROOT, OsStr::new("b")), Ok(2));
        assert_eq!(t.child(ROOT, OsStr::new("a")), Err(NsError::NotFound));
        t.insert(ROOT, OsStr::new("d"), 4, Node::new(Kind::Dir, 0o755, 0, 0))
            .expect("d");
        assert_eq!(
            t.rename(ROOT, OsStr::new("d"), 4, OsStr::new("x"), false),
            Err(NsError::Invalid)
        );
        t.rename(ROOT, OsStr::new("b"), 4, OsStr::new("b"), false)
            .expect("into d");
        assert_eq!(
            t.remove(ROOT, OsStr::new("d"), Kind::Dir),
            Err(NsError::NotEmpty)
        );
    }
}
