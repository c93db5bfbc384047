//! Point-in-time versions of a replica: full trees of hard links, one per
//! sync that changed something, named by the UTC time they were taken.
//!
//! A version is built under a `.incomplete-` name and renamed when whole, so
//! a listed version is always complete. Because a sync only ever replaces
//! replica files by rename, the inodes a version links to are never written
//! again.

use std::path::{Path, PathBuf};

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

/// Re-creates the directories of `from` under `to` and hard-links everything else.
fn link_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    let mut dirs = Vec::new();
    for item in WalkDir::new(from).follow_links(false) {
        let item = item.map_err(|e| e.into_io_error().unwrap_or_else(|| std::io::Error::other("walk failed")))?;
        if is_temp_name(item.file_name()) {
            continue;
        }
        let relative = item.path().strip_prefix(from).expect("walk stays under its root");
        let dest = to.join(relative);
        if item.file_type().is_dir() {
            std::fs::create_dir(&dest)?;
            dirs.push((dest, item.metadata()?));
        } else {
            std::fs::hard_link(item.path(), &dest)?;
        }
    }
    for (dest, meta) in dirs.iter().rev() {
        copy_dir_metadata(dest, meta)?;
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
