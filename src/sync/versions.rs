//! Point-in-time versions of a replica, named by the UTC time they were
//! taken, of two kinds:
//!
//! - A *full* version is a tree of hard links of the whole replica, taken
//!   before a sync that changes it.
//! - A *batch* version keeps, in the folder `<name>/`, only what one small
//!   batch of changes replaced, deleted or changed: hard links to the old
//!   inodes, and folders with their old owner, mode and mtime. The record
//!   `<name>.batch` beside it lists the keys it kept and the keys the batch
//!   created. The record lives outside the tree because a replica file may
//!   have any name.
//!
//! The state of the replica at version T is, for each path, given by the
//! first version at or after T (in name order, over both kinds) that
//! mentions the path: a full version mentions every path (present or
//! absent), a batch version the keys it kept (present, as kept) or created
//! (absent at T). When no version mentions a path, the current replica has it.
//!
//! A version is built under a `.incomplete-` name, which its builder holds
//! an exclusive `flock` on, and is renamed when whole, so a listed version is
//! always complete. A batch record is renamed into place before its folder,
//! and a deleted version loses its folder before its record. Because a sync
//! only ever replaces replica files by rename, the inodes a version links to
//! are never written again.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::ffi::OsString;
use std::fs::File;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rayon::prelude::*;
use walkdir::WalkDir;

use super::entry::key_from_relative;
use super::walk::is_temp_name;

mod batch;
mod retention;
#[cfg(test)]
mod tests;

pub use batch::BatchVersion;

/// The prune that `prune_later` started, if any.
static BACKGROUND_PRUNE: std::sync::Mutex<Option<std::thread::JoinHandle<()>>> = std::sync::Mutex::new(None);

/// Prunes `versions_dir` on a thread of its own with `prune_merging_now`, so
/// that a watcher's batch does not wait for it (deleting a full version can
/// take a second). Does nothing while the previous one
/// still runs; the next batch starts another. The outcome is logged.
pub fn prune_later(versions_dir: PathBuf, retention: Retention) {
    let mut slot = BACKGROUND_PRUNE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if slot.as_ref().is_some_and(|running| !running.is_finished()) {
        return;
    }
    *slot = Some(std::thread::spawn(move || {
        match prune_merging_now(&versions_dir, retention) {
            Ok(deleted) if !deleted.is_empty() => {
                tracing::debug!(versions = %versions_dir.display(), count = deleted.len(), "pruned old versions")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(versions = %versions_dir.display(), error = %e, "cannot prune old versions"),
        }
    }));
}

/// Waits for the prune that `prune_later` started, before the process exits.
pub fn wait_for_pruning() {
    let running = BACKGROUND_PRUNE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .take();
    if let Some(running) = running {
        let _ = running.join();
    }
}
#[cfg(test)]
pub use retention::prune;
pub use retention::{prune_merging_now, prune_with, Retention};

const INCOMPLETE_PREFIX: &str = ".incomplete-";
/// Extension of the record beside a batch version's folder.
const RECORD_SUFFIX: &str = ".batch";
/// First bytes of a record file, with the format number.
const RECORD_MAGIC: &[u8; 8] = b"drkitbv1";

/// The storage scheme of a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VersionKind {
    /// Every entry of the replica, as hard links.
    Full,
    /// Only the entries one batch changed, with a record of the keys it created.
    Batch,
}

/// A kept version.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Version {
    /// The folder name: the UTC time it was taken, such as `20261204T203000.123Z`.
    pub name: String,
    pub path: PathBuf,
    pub kind: VersionKind,
}

/// Failure to keep a version; the sync stops before changing the replica.
#[derive(Debug, thiserror::Error)]
#[error("cannot keep a version of {replica} in {versions}: {source}")]
pub struct VersionError {
    pub replica: PathBuf,
    pub versions: PathBuf,
    pub source: std::io::Error,
}

/// Failure to tell where a path was at a version.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("no version {name} in {dir}")]
    NotFound { name: String, dir: PathBuf },
    #[error("invalid path {path}: it must be relative to the replica, without `.` or `..`")]
    InvalidPath { path: PathBuf },
    #[error("cannot read the record of version {name}: {source}")]
    Record { name: String, source: std::io::Error },
}

/// Location of a path's content at a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// The entry, in a version or in the current replica.
    Present(PathBuf),
    /// The path did not exist at that version.
    Absent,
}

/// The keys a batch version mentions. Keys are drkit entry keys (path
/// components joined by 0 bytes), stored as byte strings.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
struct BatchRecord {
    /// Keys whose old entry is in the version's folder.
    kept: BTreeSet<Vec<u8>>,
    /// Keys that did not exist at the version's time.
    created: BTreeSet<Vec<u8>>,
}

impl BatchRecord {
    fn mentions(&self, key: &[u8]) -> bool {
        self.kept.contains(key) || self.created.contains(key)
    }
}

/// Takes a full version of `replica` under `versions_dir` and returns it.
pub fn snapshot(replica: &Path, versions_dir: &Path) -> Result<Version, VersionError> {
    let wrap = |source| VersionError {
        replica: replica.to_path_buf(),
        versions: versions_dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(versions_dir).map_err(wrap)?;
    let (name, building, _lock) = claim_name(versions_dir).map_err(wrap)?;
    link_tree(replica, &building).map_err(wrap)?;
    let done = versions_dir.join(&name);
    std::fs::rename(&building, &done).map_err(wrap)?;
    Ok(Version {
        name,
        path: done,
        kind: VersionKind::Full,
    })
}

/// Picks a name from the current UTC time for a new version and creates its
/// `.incomplete-` folder, locked, so that concurrent builders and prunes
/// leave it alone. Returns the name, the folder and the lock.
fn claim_name(versions_dir: &Path) -> std::io::Result<(String, PathBuf, File)> {
    let base = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ").to_string();
    let mut suffix = 0;
    loop {
        let name = if suffix == 0 {
            base.clone()
        } else {
            format!("{base}-{suffix}")
        };
        suffix += 1;
        if versions_dir.join(&name).exists() || versions_dir.join(record_name(&name)).exists() {
            continue;
        }
        let building = versions_dir.join(format!("{INCOMPLETE_PREFIX}{name}"));
        match std::fs::create_dir(&building) {
            Ok(()) => {
                let lock = File::open(&building)?;
                lock.lock()?;
                return Ok((name, building, lock));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

fn record_name(name: &str) -> String {
    format!("{name}{RECORD_SUFFIX}")
}

/// Re-creates the directories of `from` under `to` and hard-links everything
/// else. Directories are made one depth at a time and filled in parallel,
/// because a version of a large tree is otherwise a long run of syscalls.
/// `to` exists already.
fn link_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    let dirs = list_dirs(from)?;
    let deepest = dirs.iter().map(|(_, depth, _)| *depth).max().unwrap_or(0);
    for depth in 1..=deepest {
        dirs.par_iter()
            .filter(|(_, d, _)| *d == depth)
            .try_for_each(|(relative, _, _)| std::fs::create_dir(to.join(relative)))?;
    }
    dirs.par_iter()
        .try_for_each(|(relative, _, _)| link_entries(&from.join(relative), &to.join(relative)))?;
    link_entries(from, to)?;
    dirs.par_iter()
        .try_for_each(|(relative, _, meta)| copy_dir_metadata(&to.join(relative), meta))?;
    copy_dir_metadata(to, &std::fs::symlink_metadata(from)?)
}

/// Lists the directories under `root` (relative path, depth, metadata).
fn list_dirs(root: &Path) -> std::io::Result<Vec<(PathBuf, usize, std::fs::Metadata)>> {
    let mut dirs = Vec::new();
    for item in WalkDir::new(root).min_depth(1).follow_links(false) {
        let item = item.map_err(|e| {
            e.into_io_error()
                .unwrap_or_else(|| std::io::Error::other("walk failed"))
        })?;
        if item.file_type().is_dir() {
            let relative = item
                .path()
                .strip_prefix(root)
                .expect("walk stays under its root")
                .to_path_buf();
            dirs.push((relative, item.depth(), item.metadata()?));
        }
    }
    Ok(dirs)
}

/// Hard-links every entry of `from` that is not a directory into `to`.
fn link_entries(from: &Path, to: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() || is_temp_name(&entry.file_name()) {
            continue;
        }
        std::fs::hard_link(entry.path(), to.join(entry.file_name()))?;
    }
    Ok(())
}

/// Gives the folder `dest` the owner, mode and mtime in `meta`. A failed
/// change of owner is ignored when drkit runs without the right to change it.
fn copy_dir_metadata(dest: &Path, meta: &std::fs::Metadata) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    if let Err(e) = std::os::unix::fs::lchown(dest, Some(meta.uid()), Some(meta.gid())) {
        if e.raw_os_error() != Some(libc::EPERM) {
            return Err(e);
        }
    }
    std::fs::set_permissions(dest, std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    let mtime = filetime_of(meta);
    nix::sys::stat::utimensat(
        None,
        dest,
        &nix::sys::time::TimeSpec::UTIME_OMIT,
        &mtime,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .map_err(std::io::Error::from)
}

fn filetime_of(meta: &std::fs::Metadata) -> nix::sys::time::TimeSpec {
    use std::os::unix::fs::MetadataExt;
    nix::sys::time::TimeSpec::new(meta.mtime(), meta.mtime_nsec())
}

/// Lists complete versions of both kinds, oldest first. One `read_dir` of
/// the versions folder, without a `stat` per version where the file system
/// reports entry types.
pub fn list(versions_dir: &Path) -> Vec<Version> {
    let Ok(read) = std::fs::read_dir(versions_dir) else {
        return Vec::new();
    };
    let mut folders = Vec::new();
    let mut records = HashSet::new();
    for entry in read.filter_map(Result::ok) {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            folders.push((name, entry.path()));
        } else if let Some(stem) = name.strip_suffix(RECORD_SUFFIX) {
            records.insert(stem.to_string());
        }
    }
    let mut versions: Vec<Version> = folders
        .into_iter()
        .map(|(name, path)| {
            let kind = if records.contains(&name) {
                VersionKind::Batch
            } else {
                VersionKind::Full
            };
            Version { name, path, kind }
        })
        .collect();
    versions.sort_by(|a, b| a.name.cmp(&b.name));
    versions
}

/// Reads the record of the batch version `name`.
fn read_record(versions_dir: &Path, name: &str) -> std::io::Result<BatchRecord> {
    let bytes = std::fs::read(versions_dir.join(record_name(name)))?;
    let body = bytes
        .strip_prefix(RECORD_MAGIC.as_slice())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "not a drkit batch record"))?;
    bincode::deserialize(body).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Writes the record of the batch version `name` through a temporary file,
/// fsynced and renamed, so a reader sees the old record or the new one.
fn write_record(versions_dir: &Path, name: &str, record: &BatchRecord) -> std::io::Result<()> {
    let body = bincode::serialize(record).map_err(std::io::Error::other)?;
    let temp = versions_dir.join(format!("{INCOMPLETE_PREFIX}{}", record_name(name)));
    let mut file = File::create(&temp)?;
    file.write_all(RECORD_MAGIC)?;
    file.write_all(&body)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temp, versions_dir.join(record_name(name)))?;
    sync_dir(versions_dir)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Checks that `relative` names an entry inside the replica.
fn checked_relative(relative: &Path) -> Result<(), ResolveError> {
    let normal = relative.components().all(|c| matches!(c, Component::Normal(_)));
    if normal && relative.components().next().is_some() {
        Ok(())
    } else {
        Err(ResolveError::InvalidPath {
            path: relative.to_path_buf(),
        })
    }
}

/// Returns where the content of `relative` (a path relative to the replica
/// root) was at version `name`: in that version or a later one, in the
/// current replica, or nowhere because it did not exist then.
/// (`entries_at` serves the restore command; this one the tests.)
#[cfg(test)]
pub fn resolve(versions_dir: &Path, replica: &Path, name: &str, relative: &Path) -> Result<Resolved, ResolveError> {
    checked_relative(relative)?;
    let mut history = History::open(versions_dir, name)?;
    history.resolve(replica, relative)
}

/// Lists the entries of the folder `relative` (relative to the replica root,
/// empty for the root) as they were at version `name`, with where the content
/// of each is. Folders nested inside are listed too, without their content.
pub fn entries_at(
    versions_dir: &Path,
    replica: &Path,
    name: &str,
    relative: &Path,
) -> Result<BTreeMap<OsString, PathBuf>, ResolveError> {
    if relative.components().next().is_some() {
        checked_relative(relative)?;
    }
    let mut history = History::open(versions_dir, name)?;
    let mut candidates = BTreeSet::new();
    let mut places: Vec<PathBuf> = history.versions.iter().map(|v| v.path.join(relative)).collect();
    places.push(replica.join(relative));
    for place in places {
        let Ok(read) = std::fs::read_dir(&place) else {
            continue;
        };
        candidates.extend(read.filter_map(Result::ok).map(|e| e.file_name()));
    }
    let mut entries = BTreeMap::new();
    for file_name in candidates {
        if is_temp_name(&file_name) {
            continue;
        }
        if let Resolved::Present(path) = history.resolve(replica, &relative.join(&file_name))? {
            entries.insert(file_name, path);
        }
    }
    Ok(entries)
}

/// The versions from one version on, with their records read on first use.
struct History {
    versions_dir: PathBuf,
    versions: Vec<Version>,
    records: Vec<Option<BatchRecord>>,
}

impl History {
    fn open(versions_dir: &Path, name: &str) -> Result<History, ResolveError> {
        let mut versions = list(versions_dir);
        let Some(start) = versions.iter().position(|v| v.name == name) else {
            return Err(ResolveError::NotFound {
                name: name.to_string(),
                dir: versions_dir.to_path_buf(),
            });
        };
        versions.drain(..start);
        let records = vec![None; versions.len()];
        Ok(History {
            versions_dir: versions_dir.to_path_buf(),
            versions,
            records,
        })
    }

    fn resolve(&mut self, replica: &Path, relative: &Path) -> Result<Resolved, ResolveError> {
        let key = key_from_relative(relative);
        for index in 0..self.versions.len() {
            let version = &self.versions[index];
            let inside = version.path.join(relative);
            if version.kind == VersionKind::Full {
                return Ok(present_or_absent(inside));
            }
            let record = self.record(index)?;
            if record.kept.contains(key.as_ref() as &[u8]) {
                return Ok(Resolved::Present(inside));
            }
            if record.created.contains(key.as_ref() as &[u8]) {
                return Ok(Resolved::Absent);
            }
        }
        Ok(present_or_absent(replica.join(relative)))
    }

    fn record(&mut self, index: usize) -> Result<&BatchRecord, ResolveError> {
        if self.records[index].is_none() {
            let name = &self.versions[index].name;
            let record = read_record(&self.versions_dir, name).map_err(|source| ResolveError::Record {
                name: name.clone(),
                source,
            })?;
            self.records[index] = Some(record);
        }
        Ok(self.records[index].as_ref().expect("record read above"))
    }
}

fn present_or_absent(path: PathBuf) -> Resolved {
    if std::fs::symlink_metadata(&path).is_ok() {
        Resolved::Present(path)
    } else {
        Resolved::Absent
    }
}

/// Returns the key prefixes of `key`'s parent folders, shortest first.
fn parent_keys(key: &[u8]) -> impl Iterator<Item = &[u8]> {
    key.iter()
        .enumerate()
        .filter(|(_, &b)| b == 0)
        .map(move |(at, _)| &key[..at])
}

/// Checks that `key` has no empty, `.` or `..` component, so the path it
/// names stays inside the folder it is joined to.
fn checked_key(key: &[u8]) -> std::io::Result<()> {
    let valid = !key.is_empty()
        && key
            .split(|&b| b == 0)
            .all(|part| !part.is_empty() && part != b"." && part != b".." && !part.contains(&b'/'));
    if valid {
        Ok(())
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("invalid entry key {}", super::entry::display_key(key)),
        ))
    }
}

fn is_incomplete(name: &std::ffi::OsStr) -> bool {
    name.as_bytes().starts_with(INCOMPLETE_PREFIX.as_bytes())
}
