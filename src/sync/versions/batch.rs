//! Building one batch version: the caller keeps each key before it changes
//! the replica entry at that key, then finishes the version.

use std::collections::BTreeMap;
use std::fs::{File, Metadata};
use std::path::{Path, PathBuf};

use super::{
    checked_key, claim_name, copy_dir_metadata, parent_keys, sync_dir, write_record, BatchRecord, Version,
    VersionError, VersionKind,
};
use crate::sync::entry::relative_from_key;

/// A batch version being built under its `.incomplete-` name. Dropping it
/// without [`BatchVersion::finish`] removes what was built.
pub struct BatchVersion {
    replica: PathBuf,
    versions_dir: PathBuf,
    name: String,
    building: PathBuf,
    /// Exclusive `flock` on the folder being built, so a prune leaves it alone.
    _lock: File,
    record: BatchRecord,
    /// Metadata of each replica folder made inside the version, as first seen
    /// in this batch, keyed by its key. Applied by `finish`, because adding
    /// entries to a folder changes its mtime and a read-only mode would
    /// block adding them.
    folders: BTreeMap<Vec<u8>, Metadata>,
    finished: bool,
}

impl BatchVersion {
    /// Starts a batch version of `replica` under `versions_dir`, named by the
    /// current UTC time and built under an `.incomplete-` name.
    pub fn begin(replica: &Path, versions_dir: &Path) -> Result<BatchVersion, VersionError> {
        let wrap = |source| VersionError {
            replica: replica.to_path_buf(),
            versions: versions_dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(versions_dir).map_err(wrap)?;
        let (name, building, lock) = claim_name(versions_dir).map_err(wrap)?;
        Ok(BatchVersion {
            replica: replica.to_path_buf(),
            versions_dir: versions_dir.to_path_buf(),
            name,
            building,
            _lock: lock,
            record: BatchRecord::default(),
            folders: BTreeMap::new(),
            finished: false,
        })
    }

    /// The name the version will have: the UTC time it was begun.
    #[cfg(test)]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Keeps the replica's current entry at `key` before it changes: a hard
    /// link for a file or symlink, a folder with its owner, mode and mtime for
    /// a folder (without its content, which is kept key by key). A key with no
    /// entry is recorded as created by the batch. Parent folders needed inside
    /// the version are made with the replica's metadata but do not count as
    /// kept. A key kept twice in one batch keeps the first state.
    ///
    /// `key` is drkit's entry key: path components joined by 0 bytes.
    pub fn keep(&mut self, key: &[u8]) -> Result<(), VersionError> {
        self.keep_entry(key).map_err(|source| VersionError {
            replica: self.replica.clone(),
            versions: self.versions_dir.clone(),
            source,
        })
    }

    fn keep_entry(&mut self, key: &[u8]) -> std::io::Result<()> {
        checked_key(key)?;
        if self.record.mentions(key) {
            return Ok(());
        }
        for parent in parent_keys(key) {
            if !self.make_folder(parent)? {
                break;
            }
        }
        let relative = relative_from_key(key);
        let meta = match std::fs::symlink_metadata(self.replica.join(&relative)) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.record.created.insert(key.to_vec());
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        if meta.is_dir() {
            self.make_folder(key)?;
        } else {
            std::fs::hard_link(self.replica.join(&relative), self.building.join(&relative))?;
        }
        self.record.kept.insert(key.to_vec());
        Ok(())
    }

    /// Makes the folder at `key` inside the version and notes the replica
    /// folder's metadata, once per batch. Returns false when the replica has
    /// no folder there (a parent that the batch creates).
    fn make_folder(&mut self, key: &[u8]) -> std::io::Result<bool> {
        if self.folders.contains_key(key) {
            return Ok(true);
        }
        let relative = relative_from_key(key);
        let meta = match std::fs::symlink_metadata(self.replica.join(&relative)) {
            Ok(meta) if meta.is_dir() => meta,
            Ok(_) => return Ok(false),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        std::fs::create_dir(self.building.join(&relative))?;
        self.folders.insert(key.to_vec(), meta);
        Ok(true)
    }

    /// Writes the record of kept and created keys and makes the version
    /// visible by renaming its folder. Returns it.
    pub fn finish(mut self) -> Result<Version, VersionError> {
        let done = self.versions_dir.join(&self.name);
        self.complete(&done).map_err(|source| VersionError {
            replica: self.replica.clone(),
            versions: self.versions_dir.clone(),
            source,
        })?;
        self.finished = true;
        Ok(Version {
            name: self.name.clone(),
            path: done,
            kind: VersionKind::Batch,
        })
    }

    /// Applies the folders' metadata, then renames the record into place and
    /// then the folder: until the folder's rename the version is not listed,
    /// and its locked `.incomplete-` folder keeps a prune off the record.
    fn complete(&self, done: &Path) -> std::io::Result<()> {
        for (key, meta) in self.folders.iter().rev() {
            copy_dir_metadata(&self.building.join(relative_from_key(key)), meta)?;
        }
        write_record(&self.versions_dir, &self.name, &self.record)?;
        std::fs::rename(&self.building, done)?;
        sync_dir(&self.versions_dir)
    }
}

impl Drop for BatchVersion {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        if let Err(e) = std::fs::remove_dir_all(&self.building) {
            tracing::warn!(path = %self.building.display(), error = %e, "cannot remove an unfinished batch version; the next prune removes it");
        }
    }
}
