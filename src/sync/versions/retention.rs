//! Retention: deleting old versions, merging the batch versions of a past
//! minute, and removing what interrupted builds, merges and deletions left.

use std::collections::BTreeMap;
use std::fs::{File, Metadata};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::{
    copy_dir_metadata, is_incomplete, list, parent_keys, read_record, record_name, write_record, Version, VersionKind,
    INCOMPLETE_PREFIX, RECORD_SUFFIX,
};
use crate::sync::entry::relative_from_key;

/// How many versions of each kind a prune keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub full: usize,
    pub batch: usize,
}

/// Lock file that lets one prune at a time work in a versions folder.
const PRUNE_LOCK: &str = ".prune.lock";

/// Deletes the oldest full versions beyond `keep`, and leftovers of
/// interrupted builds. It also deletes the batch versions older than a
/// deleted full version, because they can no longer be resolved. Other
/// batch versions stay, since [`prune_with`] applies their retention.
/// Returns the names deleted.
#[cfg(test)]
pub fn prune(versions_dir: &Path, keep: usize) -> std::io::Result<Vec<String>> {
    prune_kinds(versions_dir, keep, None, &current_minute())
}

/// Prunes both kinds of versions and returns the names deleted:
/// - leftovers of interrupted builds, merges and deletions are removed;
/// - the oldest full versions beyond `retention.full` are deleted, and with
///   them every batch version older than the newest deleted full version;
/// - consecutive batch versions of a past UTC minute, with no full version
///   between them, are merged into the earliest of them;
/// - the oldest batch versions beyond `retention.batch` are deleted, which
///   never changes what the newer versions resolve to.
///
/// When another prune is running in the versions folder, this one returns
/// at once and deletes nothing.
pub fn prune_with(versions_dir: &Path, retention: Retention) -> std::io::Result<Vec<String>> {
    prune_kinds(versions_dir, retention.full, Some(retention.batch), &current_minute())
}

/// Prunes like [`prune_with`], but also merges the batch versions of the
/// minute that is still running. A watcher calls it after its batches.
/// Otherwise a file rewritten in every batch keeps one old copy per batch
/// until the minute is over: a 50 MB log appended ten times a second
/// filled 2.5 GB in 10 s. The restore points of a minute are then one
/// version, as they become anyway once the minute is over.
pub fn prune_merging_now(versions_dir: &Path, retention: Retention) -> std::io::Result<Vec<String>> {
    // '~' sorts after every minute name, so every minute counts as past.
    prune_kinds(versions_dir, retention.full, Some(retention.batch), "~")
}

fn prune_kinds(
    versions_dir: &Path,
    keep_full: usize,
    keep_batch: Option<usize>,
    merge_before: &str,
) -> std::io::Result<Vec<String>> {
    if !versions_dir.is_dir() {
        return Ok(Vec::new());
    }
    let lock = File::create(versions_dir.join(PRUNE_LOCK))?;
    if lock.try_lock().is_err() {
        tracing::debug!(dir = %versions_dir.display(), "another prune is running in this versions folder");
        return Ok(Vec::new());
    }
    remove_leftovers(versions_dir)?;

    let mut deleted = Vec::new();
    let versions = list(versions_dir);
    let fulls: Vec<&Version> = versions.iter().filter(|v| v.kind == VersionKind::Full).collect();
    let excess = fulls.len().saturating_sub(keep_full);
    for version in &fulls[..excess] {
        delete_version(versions_dir, version)?;
        deleted.push(version.name.clone());
    }
    if let Some(newest_deleted) = fulls[..excess].last() {
        for version in versions.iter().filter(|v| v.kind == VersionKind::Batch) {
            if version.name < newest_deleted.name {
                delete_version(versions_dir, version)?;
                deleted.push(version.name.clone());
            }
        }
    }

    if let Some(keep_batch) = keep_batch {
        deleted.extend(merge_past_minutes(versions_dir, merge_before)?);
        let batches: Vec<Version> = list(versions_dir)
            .into_iter()
            .filter(|v| v.kind == VersionKind::Batch)
            .collect();
        let excess = batches.len().saturating_sub(keep_batch);
        for version in &batches[..excess] {
            delete_version(versions_dir, version)?;
            deleted.push(version.name.clone());
        }
    }
    Ok(deleted)
}

/// The minute of a version name, such as `20261204T2030`.
fn minute_of(name: &str) -> &str {
    name.get(..13).unwrap_or(name)
}

fn current_minute() -> String {
    chrono::Utc::now().format("%Y%m%dT%H%M").to_string()
}

/// Merges each run of consecutive batch versions that share a minute before
/// `now_minute` into the run's earliest version; returns the names merged
/// away.
pub(super) fn merge_past_minutes(versions_dir: &Path, now_minute: &str) -> std::io::Result<Vec<String>> {
    let versions = list(versions_dir);
    let mut merged = Vec::new();
    let mut earliest: Option<&Version> = None;
    for version in &versions {
        let joins = earliest.is_some_and(|first| {
            version.kind == VersionKind::Batch && minute_of(&first.name) == minute_of(&version.name)
        });
        if joins {
            merge_into(versions_dir, earliest.expect("checked above"), version)?;
            merged.push(version.name.clone());
            continue;
        }
        let past = minute_of(&version.name) < now_minute;
        earliest = (version.kind == VersionKind::Batch && past).then_some(version);
    }
    Ok(merged)
}

/// Moves what `later` mentions and `earlier` does not into `earlier`, then
/// deletes `later`. Entries are hard-linked, not renamed, so that until the
/// new record of `earlier` is in place `later` is still whole: a crash at
/// any step leaves versions that resolve as before, and the next prune
/// finishes the merge.
fn merge_into(versions_dir: &Path, earlier: &Version, later: &Version) -> std::io::Result<()> {
    let mut record = read_record(versions_dir, &earlier.name)?;
    let moving = read_record(versions_dir, &later.name)?;
    let mut folders = FolderFixes::default();
    for key in &moving.kept {
        if record.mentions(key) {
            continue;
        }
        if move_entry(&earlier.path, &later.path, key, &mut folders)? {
            record.kept.insert(key.clone());
        } else {
            tracing::warn!(
                version = %later.name,
                key = %crate::sync::entry::display_key(key),
                "entry dropped while merging batch versions: its parent is not a folder in the earlier version"
            );
        }
    }
    for key in &moving.created {
        if !record.mentions(key) {
            record.created.insert(key.clone());
        }
    }
    folders.apply()?;
    write_record(versions_dir, &earlier.name, &record)?;
    delete_version(versions_dir, later)
}

/// Folders of the earlier version that a merge changes, with the metadata
/// each must have once the merge is done.
#[derive(Default)]
struct FolderFixes {
    wanted: BTreeMap<PathBuf, Metadata>,
}

impl FolderFixes {
    /// Notes an existing folder's metadata before the merge first adds to it,
    /// and makes it writable by its owner meanwhile.
    fn touch(&mut self, folder: &Path) -> std::io::Result<()> {
        if self.wanted.contains_key(folder) {
            return Ok(());
        }
        let meta = std::fs::symlink_metadata(folder)?;
        if meta.permissions().mode() & 0o200 == 0 {
            let mode = meta.permissions().mode() | 0o200;
            std::fs::set_permissions(folder, std::fs::Permissions::from_mode(mode))?;
        }
        self.wanted.insert(folder.to_path_buf(), meta);
        Ok(())
    }

    fn apply(&self) -> std::io::Result<()> {
        for (folder, meta) in self.wanted.iter().rev() {
            copy_dir_metadata(folder, meta)?;
        }
        Ok(())
    }
}

/// Links the entry at `key` of `later` into `earlier`, making the parent
/// folders it lacks with the later version's metadata. Returns false when a
/// parent exists in `earlier` but is not a folder.
fn move_entry(earlier: &Path, later: &Path, key: &[u8], folders: &mut FolderFixes) -> std::io::Result<bool> {
    folders.touch(earlier)?;
    for parent in parent_keys(key) {
        let relative = relative_from_key(parent);
        let target = earlier.join(&relative);
        match std::fs::symlink_metadata(&target) {
            Ok(meta) if meta.is_dir() => folders.touch(&target)?,
            Ok(_) => return Ok(false),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir(&target)?;
                let source_meta = std::fs::symlink_metadata(later.join(&relative))?;
                folders.wanted.insert(target, source_meta);
            }
            Err(e) => return Err(e),
        }
    }

    let relative = relative_from_key(key);
    let source = later.join(&relative);
    let target = earlier.join(&relative);
    let meta = std::fs::symlink_metadata(&source)?;
    let existing = std::fs::symlink_metadata(&target).ok();
    if meta.is_dir() {
        match existing {
            Some(found) if !found.is_dir() => return Ok(false),
            Some(_) => {}
            None => std::fs::create_dir(&target)?,
        }
        folders.wanted.insert(target, meta);
        return Ok(true);
    }
    match existing {
        // An entry that the earlier record does not mention is left by an
        // interrupted merge, except a parent folder made for other entries.
        Some(found) if found.is_dir() => return Ok(false),
        Some(_) => std::fs::remove_file(&target)?,
        None => {}
    }
    std::fs::hard_link(&source, &target)?;
    Ok(true)
}

/// Deletes a version: first hides its folder under an `.incomplete-` name,
/// then removes its record, then the folder, so a crash never leaves a
/// listed version with missing entries.
fn delete_version(versions_dir: &Path, version: &Version) -> std::io::Result<()> {
    let hidden = versions_dir.join(format!("{INCOMPLETE_PREFIX}deleted-{}", version.name));
    std::fs::rename(&version.path, &hidden)?;
    if version.kind == VersionKind::Batch {
        remove_if_present(&versions_dir.join(record_name(&version.name)))?;
    }
    std::fs::remove_dir_all(&hidden)
}

fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Removes `.incomplete-` folders and files that no builder holds locked,
/// and batch records whose folder is gone.
fn remove_leftovers(versions_dir: &Path) -> std::io::Result<()> {
    let mut records = Vec::new();
    for entry in std::fs::read_dir(versions_dir)?.filter_map(Result::ok) {
        let file_name = entry.file_name();
        if is_incomplete(&file_name) {
            // A record being written belongs to the folder of the same name.
            let owner = match file_name.to_str().and_then(|n| n.strip_suffix(RECORD_SUFFIX)) {
                Some(stem) => versions_dir.join(stem),
                None => entry.path(),
            };
            if !is_locked(&owner) {
                remove_entry(&entry.path())?;
            }
        } else if let Some(stem) = file_name.to_str().and_then(|n| n.strip_suffix(RECORD_SUFFIX)) {
            records.push(stem.to_string());
        }
    }
    for name in records {
        // A builder renames the record into place before its folder, so a
        // record without a folder is a leftover only when no locked
        // `.incomplete-` folder of that name exists. Checking in this order
        // cannot miss a folder renamed in between.
        let building = versions_dir.join(format!("{INCOMPLETE_PREFIX}{name}"));
        if building.exists() && is_locked(&building) {
            continue;
        }
        if !versions_dir.join(&name).is_dir() {
            remove_if_present(&versions_dir.join(record_name(&name)))?;
        }
    }
    Ok(())
}

/// Returns true when another open file has a `flock` on `path`.
fn is_locked(path: &Path) -> bool {
    match File::open(path) {
        Ok(file) => file.try_lock().is_err(),
        Err(_) => false,
    }
}

fn remove_entry(path: &Path) -> std::io::Result<()> {
    let result = if std::fs::symlink_metadata(path)?.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    match result {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
