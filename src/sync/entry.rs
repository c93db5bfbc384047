//! One file-system entry of a sync: its key and its `lstat` fields.

use std::ffi::OsStr;
use std::fs::Metadata;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::store::ManifestRow;

/// Kind of an entry. The numbers are stored in the manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum EntryKind {
    Dir = 0,
    File = 1,
    Symlink = 2,
    /// FIFO, socket or device: never copied, reported once per sync.
    Special = 3,
}

impl EntryKind {
    fn from_metadata(meta: &Metadata) -> EntryKind {
        let file_type = meta.file_type();
        if file_type.is_dir() {
            EntryKind::Dir
        } else if file_type.is_file() {
            EntryKind::File
        } else if file_type.is_symlink() {
            EntryKind::Symlink
        } else {
            EntryKind::Special
        }
    }
}

/// An entry found by a walk. `key` is the path relative to the set root with
/// every `/` replaced by a 0 byte, which no file name can contain, so that
/// byte order on keys equals the walk order.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    #[serde(with = "serde_bytes")]
    pub key: Box<[u8]>,
    pub kind: EntryKind,
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub ino: u64,
    pub dev: u64,
    pub nlink: u32,
    /// Permission bits including setuid, setgid and sticky.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// The raw `st_mode` file-type bits, kept to name special files in notes.
    pub file_type_bits: u32,
}

impl Entry {
    /// Builds an entry from `lstat` metadata.
    pub fn from_metadata(key: Box<[u8]>, meta: &Metadata) -> Entry {
        Entry {
            key,
            kind: EntryKind::from_metadata(meta),
            size: if meta.is_file() { meta.len() } else { 0 },
            mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
            ctime_ns: meta.ctime() * 1_000_000_000 + meta.ctime_nsec(),
            ino: meta.ino(),
            dev: meta.dev(),
            nlink: u32::try_from(meta.nlink()).unwrap_or(u32::MAX),
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
            file_type_bits: meta.mode() & libc::S_IFMT,
        }
    }

    /// Returns the later of mtime and ctime in nanoseconds: when the entry's
    /// content or metadata last changed (ctime also catches a chmod, a
    /// rename, or a file extracted with an old mtime).
    pub fn changed_ns(&self) -> i64 {
        self.mtime_ns.max(self.ctime_ns)
    }

    /// Builds an entry with only its key and kind set, from a directory listing.
    pub fn from_file_type(key: Box<[u8]>, file_type: std::fs::FileType) -> Entry {
        use std::os::unix::fs::FileTypeExt;
        let kind = if file_type.is_dir() {
            EntryKind::Dir
        } else if file_type.is_file() {
            EntryKind::File
        } else if file_type.is_symlink() {
            EntryKind::Symlink
        } else {
            EntryKind::Special
        };
        let file_type_bits = if file_type.is_fifo() {
            libc::S_IFIFO
        } else if file_type.is_socket() {
            libc::S_IFSOCK
        } else if file_type.is_char_device() {
            libc::S_IFCHR
        } else if file_type.is_block_device() {
            libc::S_IFBLK
        } else {
            0
        };
        Entry {
            key,
            kind,
            size: 0,
            mtime_ns: 0,
            ctime_ns: 0,
            ino: 0,
            dev: 0,
            nlink: 0,
            mode: 0,
            uid: 0,
            gid: 0,
            file_type_bits,
        }
    }

    /// Returns true when the cached row describes this very source inode
    /// unchanged, so its cached hash can be trusted without reading the file.
    pub fn matches_cache(&self, row: &ManifestRow) -> bool {
        self.matches_replica_cache(row) && row.ctime_ns == self.ctime_ns
    }

    /// Like `matches_cache` without the ctime, for replica files: every
    /// version links to them, and each link or unlink moves their ctime.
    /// A replica edit that keeps size, mtime and inode is found by verify.
    pub fn matches_replica_cache(&self, row: &ManifestRow) -> bool {
        row.kind == self.kind as u8 && row.size == self.size && row.mtime_ns == self.mtime_ns && row.ino == self.ino
    }

    /// Builds the manifest row for this entry with `hash`.
    pub fn to_row(&self, hash: Option<[u8; 32]>) -> ManifestRow {
        ManifestRow {
            key: self.key.to_vec(),
            kind: self.kind as u8,
            size: self.size,
            mtime_ns: self.mtime_ns,
            ctime_ns: self.ctime_ns,
            ino: self.ino,
            mode: self.mode,
            uid: self.uid,
            gid: self.gid,
            hash,
        }
    }

    /// Names the kind of a special file for notes ("FIFO", "socket", "device").
    pub fn special_name(&self) -> &'static str {
        match self.file_type_bits {
            libc::S_IFIFO => "FIFO",
            libc::S_IFSOCK => "socket",
            libc::S_IFCHR => "character device",
            libc::S_IFBLK => "block device",
            _ => "special file",
        }
    }
}

/// Converts a relative path into its key.
pub fn key_from_relative(relative: &Path) -> Box<[u8]> {
    relative
        .as_os_str()
        .as_bytes()
        .iter()
        .map(|&b| if b == b'/' { 0 } else { b })
        .collect()
}

/// Converts a key back into the relative path.
pub fn relative_from_key(key: &[u8]) -> PathBuf {
    let bytes: Vec<u8> = key.iter().map(|&b| if b == 0 { b'/' } else { b }).collect();
    PathBuf::from(OsStr::from_bytes(&bytes))
}

/// Shows a key as a path with every byte that is not printable UTF-8
/// escaped (`\xE9`, `\n`), for messages and reports.
pub fn display_key(key: &[u8]) -> String {
    let bytes: Vec<u8> = key.iter().map(|&b| if b == 0 { b'/' } else { b }).collect();
    escape_bytes(&bytes)
}

/// Escapes control characters and invalid UTF-8 as `\n`, `\t`, `\xNN`.
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\\' => out.push_str("\\\\"),
                c if c.is_control() => out.push_str(&format!("\\x{:02X}", c as u32)),
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02X}"));
        }
    }
    out
}

/// Returns the parent key of `key`, or None for a top-level entry.
pub fn parent_key(key: &[u8]) -> Option<&[u8]> {
    key.iter().rposition(|&b| b == 0).map(|i| &key[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_bytes() {
        let path = Path::new(OsStr::from_bytes(b"a/caf\xe9/new\nline"));
        let key = key_from_relative(path);
        assert_eq!(&*key, b"a\0caf\xe9\0new\nline");
        assert_eq!(relative_from_key(&key), path);
    }

    #[test]
    fn display_escapes_bytes() {
        assert_eq!(display_key(b"caf\xe9\0a\nb"), "caf\\xE9/a\\nb");
    }

    #[test]
    fn parent_of_nested_key() {
        assert_eq!(parent_key(b"a\0b\0c"), Some(&b"a\0b"[..]));
        assert_eq!(parent_key(b"a"), None);
    }
}
