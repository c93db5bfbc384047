//! Point-in-time versions of a replica: full trees of hard links, one per
//! sync that changed something, named by the UTC time they were taken.
//!
//! A version is built under a `.incomplete-` name and renamed when whole, so
//! a listed version is always complete. Because a sync only ever replaces
//! replica files by rename, the inodes a version links to are never written
//! again.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use walkdir::WalkDir;

use super::walk::is_temp_name;

const INCOMPLETE_PREFIX: &str = ".incomplete-";

/// A kept version.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Version {
    /// The folder name: the UTC time it was taken, such as `20261204T203000.123Z`.
    pub name: String,
    pub path: PathBuf,
}

/// Failure to keep a version; the sync stops before changing the replica.
#[derive(Debug, thiserror::Error)]
#[error("cannot keep a version of {replica} in {versions}: {source}")]
pub struct VersionError {
    pub replica: PathBuf,
    pub versions: PathBuf,
    pub source: std::io::Error,
}

/// Takes a version of `replica` under `versions_dir` and returns it.
pub fn snapshot(replica: &Path, versions_dir: &Path) -> Result<Version, VersionError> {
    let wrap = |source| VersionError {
        replica: replica.to_path_buf(),
        versions: versions_dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(versions_dir).map_err(wrap)?;
    let name = unique_name(versions_dir);
    let building = versions_dir.join(format!("{INCOMPLETE_PREFIX}{name}"));
    link_tree(replica, &building).map_err(wrap)?;
    let done = versions_dir.join(&name);
    std::fs::rename(&building, &done).map_err(wrap)?;
    Ok(Version { name, path: done })
}

fn unique_name(versions_dir: &Path) -> String {
    let base = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ").to_string();
    let mut name = base.clone();
    let mut n = 1;
    while versions_dir.join(&name).exists() {
        name = format!("{base}-{n}");
        n += 1;
    }
    name
}

/// Re-creates the directories of `from` under `to` and hard-links everything
/// else. Directories are made one depth at a time and filled in parallel,
/// because a version of a large tree is otherwise a long run of syscalls.
fn link_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    let dirs = list_dirs(from)?;
    std::fs::create_dir(to)?;
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

/// Lists complete versions, oldest first.
pub fn list(versions_dir: &Path) -> Vec<Version> {
    let Ok(read) = std::fs::read_dir(versions_dir) else {
        return Vec::new();
    };
    let mut versions: Vec<Version> = read
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            (!name.starts_with('.')).then(|| Version { path: e.path(), name })
        })
        .collect();
    versions.sort_by(|a, b| a.name.cmp(&b.name));
    versions
}

/// Deletes the oldest versions beyond `keep`, and leftovers of interrupted
/// snapshots; returns the names deleted.
pub fn prune(versions_dir: &Path, keep: usize) -> std::io::Result<Vec<String>> {
    let mut deleted = Vec::new();
    if let Ok(read) = std::fs::read_dir(versions_dir) {
        for entry in read.filter_map(Result::ok) {
            let name = entry.file_name();
            if name.to_string_lossy().starts_with(INCOMPLETE_PREFIX) {
                std::fs::remove_dir_all(entry.path())?;
            }
        }
    }
    let versions = list(versions_dir);
    let excess = versions.len().saturating_sub(keep);
    for version in &versions[..excess] {
        std::fs::remove_dir_all(&version.path)?;
        deleted.push(version.name.clone());
    }
    Ok(deleted)
}
