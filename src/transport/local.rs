//! File-system primitives for writing a replica safely.
//!
//! A file reaches its final name only by `rename` of a complete temporary
//! file in the same directory, and only after its data is flushed to disk.
//! A crash at any point therefore leaves the old or the new content under
//! the final name.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::sys::stat::{futimens, utimensat, UtimensatFlags};
use nix::sys::time::TimeSpec;

use crate::sync::entry::Entry;
use crate::sync::walk::TEMP_PREFIX;

/// Size of the buffer used to copy and hash file contents.
const BUFFER: usize = 1 << 20;

/// How many times a file that changes while it is read is tried again.
pub const READ_ATTEMPTS: u32 = 3;

/// Failure to read or write one file.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The source changed while it was read, on every attempt.
    #[error("the file kept changing while it was read ({attempts} attempts)")]
    Unstable { attempts: u32 },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A complete, flushed-later temporary copy waiting for its rename.
#[derive(Debug)]
pub struct TempCopy {
    pub temp: PathBuf,
    /// The source's `lstat` fields while it was read (unchanged from start
    /// to end); the key is empty.
    pub source: Entry,
    pub hash: [u8; 32],
    pub bytes: u64,
}

/// Returns a fresh temporary name in the directory of `final_path`. The name
/// is short, so it also fits beside a 255-byte file name.
pub fn temp_path(final_path: &Path) -> PathBuf {
    let parent = final_path.parent().unwrap_or(Path::new("."));
    parent.join(format!("{TEMP_PREFIX}{:016x}", rand::random::<u64>()))
}

/// Copies `source` into a new temporary file beside `final_path`, hashing
/// what it writes, and gives the copy the owner, mode and mtime of `entry`,
/// or of the source itself as it was read when `entry` is None.
/// The copy is retried when the source changes while it is read, so the
/// returned hash always matches the bytes in the temporary file.
pub fn copy_to_temp(source: &Path, final_path: &Path, entry: Option<&Entry>) -> Result<TempCopy, FileError> {
    COPY_BUFFER.with_borrow_mut(|buffer| copy_with_retries(source, final_path, entry, buffer))
}

thread_local! {
    /// One copy buffer per thread: allocating 1 MiB per file would map and
    /// unmap fresh pages for every small file.
    static COPY_BUFFER: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; BUFFER]);
}

fn copy_with_retries(
    source: &Path,
    final_path: &Path,
    entry: Option<&Entry>,
    buffer: &mut [u8],
) -> Result<TempCopy, FileError> {
    for _ in 0..READ_ATTEMPTS {
        let temp = temp_path(final_path);
        match copy_once(source, &temp, entry, buffer) {
            Ok(Some(copy)) => return Ok(copy),
            Ok(None) => {
                let _ = std::fs::remove_file(&temp);
                tracing::debug!(path = %source.display(), "source changed while read; trying again");
            }
            Err(e) => {
                let _ = std::fs::remove_file(&temp);
                return Err(e.into());
            }
        }
    }
    Err(FileError::Unstable {
        attempts: READ_ATTEMPTS,
    })
}

fn copy_once(
    source: &Path,
    temp: &Path,
    entry: Option<&Entry>,
    buffer: &mut [u8],
) -> std::io::Result<Option<TempCopy>> {
    let input = open_for_read(source)?;
    let before = input.metadata()?;
    let output = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(temp)?;
    let (hash, bytes) = if before.len() >= PARALLEL_COPY_MIN {
        copy_in_parallel(&input, &output, before.len())?
    } else {
        copy_and_hash(&input, &output, buffer)?
    };
    let after = std::fs::symlink_metadata(source)?;
    if !same_content_stat(&before, &after) || bytes != after.len() {
        return Ok(None);
    }
    match entry {
        Some(entry) => apply_metadata(&output, entry)?,
        None => apply_metadata(&output, &Entry::from_metadata(Box::default(), &after))?,
    }
    Ok(Some(TempCopy {
        temp: temp.to_path_buf(),
        source: Entry::from_metadata(Box::default(), &after),
        hash,
        bytes,
    }))
}

/// Files at least this large are copied by several threads at once.
const PARALLEL_COPY_MIN: u64 = 64 << 20;
/// Bytes each thread copies at a time in a parallel copy.
const PARALLEL_COPY_CHUNK: u64 = 8 << 20;

/// Streams `input` into `output` through `buffer`, hashing on the way.
fn copy_and_hash(mut input: &File, mut output: &File, buffer: &mut [u8]) -> std::io::Result<([u8; 32], u64)> {
    let mut hasher = blake3::Hasher::new();
    let mut bytes = 0u64;
    loop {
        let n = match input.read(buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buffer[..n]);
        output.write_all(&buffer[..n])?;
        bytes += n as u64;
    }
    Ok((*hasher.finalize().as_bytes(), bytes))
}

/// Copies the first `size` bytes of `input` in chunks on several threads,
/// then hashes what `output` contains, so the hash describes the bytes written.
/// A source that shrinks meanwhile yields fewer bytes than `size`, and the
/// caller compares the count with the source's stat.
fn copy_in_parallel(input: &File, output: &File, size: u64) -> std::io::Result<([u8; 32], u64)> {
    use rayon::prelude::*;
    use std::os::unix::fs::FileExt;
    output.set_len(size)?;
    let chunks = size.div_ceil(PARALLEL_COPY_CHUNK);
    let copied: u64 = (0..chunks)
        .into_par_iter()
        .map(|index| {
            let start = index * PARALLEL_COPY_CHUNK;
            let len = PARALLEL_COPY_CHUNK.min(size - start) as usize;
            let mut chunk = vec![0u8; len];
            let mut filled = 0;
            while filled < len {
                match input.read_at(&mut chunk[filled..], start + filled as u64) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            output.write_all_at(&chunk[..filled], start)?;
            Ok(filled as u64)
        })
        .sum::<std::io::Result<u64>>()?;
    Ok((hash_open_file(output, size)?, copied))
}

/// Hashes the file at `path` and returns the hash with the metadata of the
/// open file. A file that changes while it is read is hashed again.
pub fn hash_file(path: &Path) -> Result<([u8; 32], std::fs::Metadata), FileError> {
    for _ in 0..READ_ATTEMPTS {
        let input = open_for_read(path)?;
        let before = input.metadata()?;
        let hash = hash_open_file(&input, before.len())?;
        let after = input.metadata()?;
        if same_content_stat(&before, &after) {
            return Ok((hash, after));
        }
    }
    Err(FileError::Unstable {
        attempts: READ_ATTEMPTS,
    })
}

/// Files below this size are read with `read`; larger ones are mapped.
const MAP_MIN: u64 = 64 << 10;
/// Mapped files are hashed in windows of this size, so a huge file does not
/// count towards the process's resident memory all at once.
const MAP_WINDOW: u64 = 64 << 20;
/// Windows at least this large are hashed on several threads.
const PARALLEL_MIN: u64 = 4 << 20;

fn hash_open_file(mut input: &File, size: u64) -> std::io::Result<[u8; 32]> {
    let mut hasher = blake3::Hasher::new();
    if size < MAP_MIN {
        let mut buffer = Vec::with_capacity(size as usize + 1);
        input.read_to_end(&mut buffer)?;
        hasher.update(&buffer);
        return Ok(*hasher.finalize().as_bytes());
    }
    let mut offset = 0;
    while offset < size {
        let len = MAP_WINDOW.min(size - offset);
        let window = map_window(input, offset, len as usize)?;
        if len >= PARALLEL_MIN {
            hasher.update_rayon(&window);
        } else {
            hasher.update(&window);
        }
        offset += len;
    }
    Ok(*hasher.finalize().as_bytes())
}

/// Maps `len` bytes of `file` from `offset` read-only.
#[allow(unsafe_code)]
fn map_window(file: &File, offset: u64, len: usize) -> std::io::Result<memmap2::Mmap> {
    // NOTE: a file truncated by another process while it is mapped makes the
    // kernel send SIGBUS, which ends drkit like a crash. The replica stays
    // consistent, because nothing is renamed before its copy is complete.
    // SAFETY: the mapping is read-only and private to this function's caller.
    // If another process truncates the file meanwhile, reading the lost pages
    // raises SIGBUS; a concurrent write only changes the bytes hashed, which
    // `hash_file` detects by comparing the file's stat before and after.
    unsafe { memmap2::MmapOptions::new().offset(offset).len(len).populate().map(file) }
}

/// Opens a file for reading without following a symlink at the last step and
/// without updating its access time where the kernel allows it.
pub fn open_for_read(path: &Path) -> std::io::Result<File> {
    let base = libc::O_NOFOLLOW | libc::O_NONBLOCK;
    match OpenOptions::new()
        .read(true)
        .custom_flags(base | libc::O_NOATIME)
        .open(path)
    {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => OpenOptions::new().read(true).custom_flags(base).open(path),
        other => other,
    }
}

pub fn same_content_stat(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    a.len() == b.len()
        && a.mtime() == b.mtime()
        && a.mtime_nsec() == b.mtime_nsec()
        && a.ctime() == b.ctime()
        && a.ctime_nsec() == b.ctime_nsec()
}

/// Sets owner, mode and mtime of an open file to those of `entry`. A chown
/// that the current user may not do is logged at debug level and skipped.
pub fn apply_metadata(file: &File, entry: &Entry) -> std::io::Result<()> {
    let meta = file.metadata()?;
    if meta.uid() != entry.uid || meta.gid() != entry.gid {
        if let Err(e) = std::os::unix::fs::fchown(file, Some(entry.uid), Some(entry.gid)) {
            if e.raw_os_error() != Some(libc::EPERM) {
                return Err(e);
            }
            tracing::debug!(
                uid = entry.uid,
                gid = entry.gid,
                "owner not kept: not permitted for this user"
            );
        }
    }
    // fchmod comes after fchown, which clears setuid and setgid bits.
    nix::sys::stat::fchmod(file.as_raw_fd(), nix::sys::stat::Mode::from_bits_truncate(entry.mode))
        .map_err(std::io::Error::from)?;
    let mtime = timespec(entry.mtime_ns);
    futimens(file.as_raw_fd(), &TimeSpec::UTIME_OMIT, &mtime).map_err(std::io::Error::from)
}

/// Sets owner, mode (not for symlinks) and mtime of the entry at `path`
/// without following a symlink.
pub fn apply_path_metadata(path: &Path, entry: &Entry, is_symlink: bool) -> std::io::Result<()> {
    if let Err(e) = std::os::unix::fs::lchown(path, Some(entry.uid), Some(entry.gid)) {
        if e.raw_os_error() != Some(libc::EPERM) {
            return Err(e);
        }
    }
    if !is_symlink {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(entry.mode))?;
    }
    let mtime = timespec(entry.mtime_ns);
    utimensat(
        None,
        path,
        &TimeSpec::UTIME_OMIT,
        &mtime,
        UtimensatFlags::NoFollowSymlink,
    )
    .map_err(std::io::Error::from)
}

fn timespec(ns: i64) -> TimeSpec {
    TimeSpec::new(ns.div_euclid(1_000_000_000), ns.rem_euclid(1_000_000_000))
}

/// Flushes every written page of the file system holding `path` to disk.
/// One call covers a whole batch of temporary files before their renames,
/// and the directory entries of renames done before it.
pub fn sync_filesystem(path: &Path) -> std::io::Result<()> {
    let dir = File::open(path)?;
    nix::unistd::syncfs(dir.as_raw_fd()).map_err(std::io::Error::from)
}

/// Flushes one directory, making the renames inside it durable.
pub fn sync_dir(path: &Path) -> std::io::Result<()> {
    File::open(path)?.sync_all()
}
