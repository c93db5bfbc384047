//! Carrying out a plan on a local replica.
//!
//! Order: stale temporary files, second names for replica files that move
//! (see `plan::ReuseItem`), deletions (children first), new directories
//! (parents first), the moved files at their new paths, file copies in
//! batches, hard links,
//! symlinks, metadata, then directory metadata (children first, because
//! every change inside a directory moves its mtime). Copies are written to
//! temporary files in parallel; each batch is flushed with one `syncfs` and
//! only then renamed into place. One failed entry is recorded and the rest
//! go on.

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::entry::{display_key, parent_key, relative_from_key, Entry, EntryKind};
use super::plan::{CopyItem, LinkItem, MetaItem, Plan, ReuseItem};
use crate::store::{ManifestWriter, Side, Store, StoreError};
use crate::transport::local::{self, FileError};

/// Files per batch between two flushes; bounds the temporary files left by
/// a crash and the memory of pending cache rows.
const BATCH_FILES: usize = 4096;
/// Bytes per batch between two flushes.
const BATCH_BYTES: u64 = 512 << 20;

/// Plans and copy batches that change at most this many entries are
/// flushed entry by entry (an fsync of each file and folder they touch),
/// larger ones with one `syncfs` of the replica's file system. A `syncfs`
/// also waits for every other writer's unflushed data on that file system,
/// which on a busy server can hold a small batch up for seconds.
const SMALL_FLUSH: usize = 64;

/// Counts and problems of one applied plan.
#[derive(Debug, Default)]
pub struct Applied {
    pub files_changed: u64,
    pub files_deleted: u64,
    pub bytes_copied: u64,
    /// Files that kept changing while read; left as they were on the replica.
    pub unstable: Vec<String>,
    /// Entries that failed, with the reason.
    pub errors: Vec<(String, String)>,
}

/// A source of the content of copied files, the targets of new symlinks and
/// the metadata of the source root: the local source folder, or the
/// primary on the other end of an agent connection.
pub trait ContentSource {
    /// Most files and bytes written between two flushes.
    fn batch_limits(&self) -> (usize, u64) {
        (BATCH_FILES, BATCH_BYTES)
    }

    /// Writes every item to a new temporary file beside its final path
    /// under `replica`, in order, with the source's owner, mode and mtime.
    fn fetch(&mut self, items: &[CopyItem], replica: &Path) -> Vec<Result<local::TempCopy, FileError>>;

    /// Returns the target of the source symlink at `key`.
    fn link_target(&mut self, key: &[u8]) -> std::io::Result<PathBuf>;

    /// Owner, mode and mtime of the source root, when it can be read.
    fn root_entry(&mut self) -> Option<Entry>;
}

/// Content read from a source folder on this machine.
pub struct LocalSource<'a> {
    pub root: &'a Path,
}

impl ContentSource for LocalSource<'_> {
    fn fetch(&mut self, items: &[CopyItem], replica: &Path) -> Vec<Result<local::TempCopy, FileError>> {
        items
            .par_iter()
            .map(|item| {
                let relative = relative_from_key(&item.key);
                local::copy_to_temp(&self.root.join(&relative), &replica.join(&relative), None)
            })
            .collect()
    }

    fn link_target(&mut self, key: &[u8]) -> std::io::Result<PathBuf> {
        std::fs::read_link(self.root.join(relative_from_key(key)))
    }

    fn root_entry(&mut self) -> Option<Entry> {
        let meta = std::fs::symlink_metadata(self.root).ok()?;
        Some(Entry::from_metadata(Box::default(), &meta))
    }
}

/// The replica root a plan is applied to, and where its content comes from.
pub struct Roots<'a> {
    pub source: &'a mut dyn ContentSource,
    pub replica: &'a Path,
}

impl Roots<'_> {
    fn replica_path(&self, key: &[u8]) -> PathBuf {
        self.replica.join(relative_from_key(key))
    }
}

/// Applies `plan` and records every change in the manifest of `set` as it goes.
pub fn apply(store: &mut Store, set: &str, roots: &mut Roots, mut plan: Plan) -> Result<Applied, StoreError> {
    let mut applied = Applied::default();
    let mut touched_dirs: BTreeSet<Box<[u8]>> = BTreeSet::new();

    remove_stale_temps(roots, &plan.stale_temps);
    let stashed = stash_reused(roots, &plan.reuses, &mut applied);
    delete_entries(store, set, roots, &plan.deletes, &mut applied, &mut touched_dirs)?;
    make_dirs(roots, &plan.mkdirs, &mut applied, &mut touched_dirs);
    let mut moved = ManifestWriter::default();
    place_reused(
        roots,
        &plan.reuses,
        stashed,
        &mut moved,
        &mut applied,
        &mut touched_dirs,
    );
    store.manifest_apply(set, &moved)?;

    let copies = std::mem::take(&mut plan.copies);
    let mut new_inodes = copy_files(store, set, roots, copies, &mut applied, &mut touched_dirs)?;

    let mut cache = ManifestWriter::default();
    new_inodes.extend(fix_metadata(
        roots,
        &plan.metas,
        &mut cache,
        &mut applied,
        &mut touched_dirs,
    ));
    relink_followers(&mut plan, new_inodes);
    link_files(roots, &plan.links, &mut cache, &mut applied, &mut touched_dirs);
    make_symlinks(roots, &plan.symlinks, &mut applied, &mut touched_dirs);
    store.manifest_apply(set, &cache)?;

    fix_dir_metadata(roots, &plan, &touched_dirs, &mut applied);
    let small = touched_dirs.len() + plan.metas.len() + plan.dir_metas.len() < SMALL_FLUSH;
    let flushed = if small {
        flush_entries(roots, &plan, &touched_dirs)
    } else {
        local::sync_filesystem(roots.replica)
    };
    if let Err(e) = flushed {
        applied.errors.push((
            roots.replica.display().to_string(),
            format!("flush to disk failed: {e}"),
        ));
    }
    Ok(applied)
}

/// Flushes the folders a small plan changed (their entries and metadata),
/// the files whose metadata it changed, and the replica's top folder.
fn flush_entries(roots: &Roots, plan: &Plan, touched: &BTreeSet<Box<[u8]>>) -> std::io::Result<()> {
    // A folder that the plan deleted, or replaced by a file, has nothing
    // left to flush; its parent's flush covers the change.
    let gone = |e: &std::io::Error| e.kind() == std::io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR);
    let folders = touched
        .iter()
        .map(|key| &**key)
        .chain(plan.dir_metas.iter().map(|e| &*e.key));
    let files = plan.metas.iter().map(|item| &*item.source.key);
    for key in folders.chain(files) {
        match std::fs::File::open(roots.replica_path(key)).and_then(|entry| entry.sync_all()) {
            Err(e) if gone(&e) => {}
            other => other?,
        }
    }
    local::sync_dir(roots.replica)
}

/// Queues a new link for every follower whose leader now has a new inode
/// on the replica, so the hard-link group stays one inode.
fn relink_followers(plan: &mut Plan, leaders: Vec<Box<[u8]>>) {
    for leader in leaders {
        let Some(followers) = plan.linked_followers.remove(&leader) else {
            continue;
        };
        for source in followers {
            plan.links.push(LinkItem {
                leader: leader.clone(),
                source,
            });
        }
    }
}

fn remove_stale_temps(roots: &Roots, temps: &[PathBuf]) {
    for relative in temps {
        let path = roots.replica.join(relative);
        match std::fs::remove_file(&path) {
            Ok(()) => tracing::info!(path = %path.display(), "removed a temporary file left by an interrupted sync"),
            Err(e) => tracing::warn!(path = %path.display(), error = %e, "cannot remove a stale temporary file"),
        }
    }
}

fn delete_entries(
    store: &mut Store,
    set: &str,
    roots: &Roots,
    deletes: &[Entry],
    applied: &mut Applied,
    touched: &mut BTreeSet<Box<[u8]>>,
) -> Result<(), StoreError> {
    let mut cache = ManifestWriter::default();
    for entry in deletes.iter().rev() {
        let path = roots.replica_path(&entry.key);
        let result = if entry.kind == EntryKind::Dir {
            std::fs::remove_dir(&path)
        } else {
            std::fs::remove_file(&path)
        };
        match result {
            Ok(()) => {
                if entry.kind != EntryKind::Dir {
                    applied.files_deleted += 1;
                }
                touch_parent(touched, &entry.key);
                cache.deletes.push((Side::Source, entry.key.to_vec()));
                cache.deletes.push((Side::Replica, entry.key.to_vec()));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => applied
                .errors
                .push((display_key(&entry.key), format!("cannot delete from the replica: {e}"))),
        }
    }
    store.manifest_apply(set, &cache)
}

/// Gives every reused replica file a second name in the replica's top
/// folder before the deletions remove its old path. Returns the temporary
/// names, None where the link failed (recorded as an error; the next sync
/// copies that file).
fn stash_reused(roots: &Roots, reuses: &[ReuseItem], applied: &mut Applied) -> Vec<Option<PathBuf>> {
    reuses
        .iter()
        .map(|item| {
            let stash = local::temp_path(&roots.replica.join("moved"));
            match std::fs::hard_link(roots.replica_path(&item.from), &stash) {
                Ok(()) => Some(stash),
                Err(e) => {
                    applied.errors.push((
                        display_key(&item.source.key),
                        format!("cannot move {} on the replica: {e}", display_key(&item.from)),
                    ));
                    None
                }
            }
        })
        .collect()
}

/// Renames each stashed replica file to its new path, once the folders exist.
fn place_reused(
    roots: &Roots,
    reuses: &[ReuseItem],
    stashed: Vec<Option<PathBuf>>,
    cache: &mut ManifestWriter,
    applied: &mut Applied,
    touched: &mut BTreeSet<Box<[u8]>>,
) {
    for (item, stash) in reuses.iter().zip(stashed) {
        let Some(stash) = stash else {
            continue;
        };
        let key = &item.source.key;
        let final_path = roots.replica_path(key);
        if let Err(e) = std::fs::rename(&stash, &final_path) {
            let _ = std::fs::remove_file(&stash);
            applied.errors.push((
                display_key(key),
                format!("cannot move {} on the replica: {e}", display_key(&item.from)),
            ));
            continue;
        }
        applied.files_changed += 1;
        // The old path was deleted, but its file moved here: not a loss.
        applied.files_deleted = applied.files_deleted.saturating_sub(1);
        touch_parent(touched, key);
        cache.upserts.push((Side::Source, item.source.to_row(Some(item.hash))));
        if let Ok(meta) = std::fs::symlink_metadata(&final_path) {
            cache.upserts.push((
                Side::Replica,
                Entry::from_metadata(key.clone(), &meta).to_row(Some(item.hash)),
            ));
        }
    }
}

fn make_dirs(roots: &Roots, dirs: &[Entry], applied: &mut Applied, touched: &mut BTreeSet<Box<[u8]>>) {
    use std::os::unix::fs::DirBuilderExt;
    for entry in dirs {
        let path = roots.replica_path(&entry.key);
        match std::fs::DirBuilder::new().mode(0o700).create(&path) {
            Ok(()) => touch_parent(touched, &entry.key),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && path.is_dir() => {}
            Err(e) => applied
                .errors
                .push((display_key(&entry.key), format!("cannot create the directory: {e}"))),
        }
    }
}

/// Copies files in batches and returns the keys of the files copied. The
/// flush of one batch runs while the next batch is written; a batch is
/// renamed into place only after its own flush has finished.
fn copy_files(
    store: &mut Store,
    set: &str,
    roots: &mut Roots,
    copies: Vec<CopyItem>,
    applied: &mut Applied,
    touched: &mut BTreeSet<Box<[u8]>>,
) -> Result<Vec<Box<[u8]>>, StoreError> {
    let mut copied = Vec::new();
    let (batch_files, batch_bytes) = roots.source.batch_limits();
    let mut batches = Vec::new();
    let mut start = 0;
    while start < copies.len() {
        let mut end = start;
        let mut bytes = 0;
        while end < copies.len() && end - start < batch_files && (bytes < batch_bytes || end == start) {
            bytes += copies[end].size;
            end += 1;
        }
        batches.push(start..end);
        start = end;
    }
    let replica = roots.replica;
    std::thread::scope(|scope| {
        type Flushing<'s> = (
            std::ops::Range<usize>,
            Vec<Result<local::TempCopy, FileError>>,
            std::thread::ScopedJoinHandle<'s, std::io::Result<()>>,
        );
        let mut flushing: Option<Flushing> = None;
        // One more round after the last batch renames it.
        for range in batches.into_iter().map(Some).chain([None]) {
            let fetched = range.map(|range| {
                let results = roots.source.fetch(&copies[range.clone()], replica);
                (range, results)
            });
            if let Some((done, results, flush)) = flushing.take() {
                let flushed = flush.join().expect("the flush thread does not panic");
                let batch = &copies[done];
                rename_batch(
                    store,
                    set,
                    roots,
                    batch,
                    results,
                    flushed,
                    applied,
                    touched,
                    &mut copied,
                )?;
            }
            if let Some((range, results)) = fetched {
                let temps: Vec<PathBuf> = results.iter().flatten().map(|copy| copy.temp.clone()).collect();
                let flush = scope.spawn(move || {
                    if temps.len() > SMALL_FLUSH {
                        return local::sync_filesystem(replica);
                    }
                    for temp in temps {
                        std::fs::File::open(temp)?.sync_data()?;
                    }
                    Ok(())
                });
                flushing = Some((range, results, flush));
            }
        }
        Ok(copied)
    })
}

/// Moves a flushed batch into place and records it in the manifest.
#[allow(clippy::too_many_arguments)]
fn rename_batch(
    store: &mut Store,
    set: &str,
    roots: &Roots,
    batch: &[CopyItem],
    results: Vec<Result<local::TempCopy, FileError>>,
    flushed: std::io::Result<()>,
    applied: &mut Applied,
    touched: &mut BTreeSet<Box<[u8]>>,
    copied: &mut Vec<Box<[u8]>>,
) -> Result<(), StoreError> {
    if let Err(e) = flushed {
        applied.errors.push((
            roots.replica.display().to_string(),
            format!("flush to disk failed: {e}"),
        ));
    }
    let mut cache = ManifestWriter::default();
    for (item, result) in batch.iter().zip(results) {
        if let Some(key) = finish_copy(roots, item, result, &mut cache, applied) {
            touch_parent(touched, &key);
            copied.push(key);
        }
    }
    store.manifest_apply(set, &cache)
}

/// Renames one finished temporary copy into place and queues its cache rows.
fn finish_copy(
    roots: &Roots,
    item: &CopyItem,
    result: Result<local::TempCopy, FileError>,
    cache: &mut ManifestWriter,
    applied: &mut Applied,
) -> Option<Box<[u8]>> {
    let key = &item.key;
    let copy = match result {
        Ok(copy) => copy,
        Err(FileError::Unstable { .. }) => {
            applied.unstable.push(display_key(key));
            return None;
        }
        Err(FileError::Io(e)) => {
            applied.errors.push((display_key(key), format!("cannot copy: {e}")));
            return None;
        }
    };
    let final_path = roots.replica_path(key);
    if let Err(e) = std::fs::rename(&copy.temp, &final_path) {
        let _ = std::fs::remove_file(&copy.temp);
        applied
            .errors
            .push((display_key(key), format!("cannot move the copy into place: {e}")));
        return None;
    }
    applied.files_changed += 1;
    applied.bytes_copied += copy.bytes;
    let source = Entry {
        key: key.clone(),
        ..copy.source
    };
    cache.upserts.push((Side::Source, source.to_row(Some(copy.hash))));
    if let Ok(meta) = std::fs::symlink_metadata(&final_path) {
        cache.upserts.push((
            Side::Replica,
            Entry::from_metadata(key.clone(), &meta).to_row(Some(copy.hash)),
        ));
    }
    Some(key.clone())
}

fn link_files(
    roots: &Roots,
    links: &[LinkItem],
    cache: &mut ManifestWriter,
    applied: &mut Applied,
    touched: &mut BTreeSet<Box<[u8]>>,
) {
    for item in links {
        let key = &item.source.key;
        let final_path = roots.replica_path(key);
        let temp = local::temp_path(&final_path);
        let result = std::fs::hard_link(roots.replica_path(&item.leader), &temp)
            .and_then(|()| std::fs::rename(&temp, &final_path));
        match result {
            Ok(()) => {
                applied.files_changed += 1;
                touch_parent(touched, key);
                cache.upserts.push((Side::Source, item.source.to_row(None)));
                cache.deletes.push((Side::Replica, key.to_vec()));
            }
            Err(e) => {
                let _ = std::fs::remove_file(&temp);
                applied
                    .errors
                    .push((display_key(key), format!("cannot create the hard link: {e}")));
            }
        }
    }
}

fn make_symlinks(
    roots: &mut Roots,
    links: &[(Entry, Option<Entry>)],
    applied: &mut Applied,
    touched: &mut BTreeSet<Box<[u8]>>,
) {
    for (source, _) in links {
        let final_path = roots.replica_path(&source.key);
        let temp = local::temp_path(&final_path);
        let result = roots
            .source
            .link_target(&source.key)
            .and_then(|target| std::os::unix::fs::symlink(target, &temp))
            .and_then(|()| local::apply_path_metadata(&temp, source, true))
            .and_then(|()| std::fs::rename(&temp, &final_path));
        match result {
            Ok(()) => {
                applied.files_changed += 1;
                touch_parent(touched, &source.key);
            }
            Err(e) => {
                let _ = std::fs::remove_file(&temp);
                applied
                    .errors
                    .push((display_key(&source.key), format!("cannot create the symlink: {e}")));
            }
        }
    }
}

/// Gives replica files the owner, mode and mtime of their source. A file
/// that versions share (more than one link) gets a fresh copy instead, so
/// the change does not reach back into older versions. Returns the keys of
/// the files that got a fresh copy.
fn fix_metadata(
    roots: &Roots,
    metas: &[MetaItem],
    cache: &mut ManifestWriter,
    applied: &mut Applied,
    touched: &mut BTreeSet<Box<[u8]>>,
) -> Vec<Box<[u8]>> {
    let mut copied = Vec::new();
    for item in metas {
        let key = &item.source.key;
        let final_path = roots.replica_path(key);
        // The link count is read now, not at planning time: the version
        // taken by this very sync links the file too.
        let shared = std::fs::symlink_metadata(&final_path).map_or(true, |meta| meta.nlink() > 1);
        let result = if shared {
            local::copy_to_temp(&final_path, &final_path, Some(&item.source))
                .map_err(|e| std::io::Error::other(e.to_string()))
                .and_then(|copy| {
                    if Some(copy.hash) != item.hash {
                        let _ = std::fs::remove_file(&copy.temp);
                        return Err(std::io::Error::other("the replica changed during the sync"));
                    }
                    std::fs::rename(&copy.temp, &final_path)
                })
        } else {
            local::apply_path_metadata(&final_path, &item.source, false)
        };
        match result {
            Ok(()) => {
                if shared {
                    copied.push(key.clone());
                }
                applied.files_changed += 1;
                touch_parent(touched, key);
                cache.upserts.push((Side::Source, item.source.to_row(item.hash)));
                if let Ok(meta) = std::fs::symlink_metadata(&final_path) {
                    cache.upserts.push((
                        Side::Replica,
                        Entry::from_metadata(key.clone(), &meta).to_row(item.hash),
                    ));
                }
            }
            Err(e) => applied
                .errors
                .push((display_key(key), format!("cannot set owner, mode or mtime: {e}"))),
        }
    }
    copied
}

/// Restores owner, mode and mtime of every directory that changed or contains
/// a change, deepest first, and of the replica root.
fn fix_dir_metadata(roots: &mut Roots, plan: &Plan, touched: &BTreeSet<Box<[u8]>>, applied: &mut Applied) {
    let mut dirs: BTreeSet<&[u8]> = touched.iter().map(|k| &**k).collect();
    dirs.insert(&[]);
    dirs.extend(plan.dir_metas.iter().map(|e| &*e.key));
    for key in dirs.iter().rev() {
        let (path, entry) = if key.is_empty() {
            let Some(entry) = roots.source.root_entry() else {
                continue;
            };
            (roots.replica.to_path_buf(), entry)
        } else {
            let Some(entry) = plan.source_dirs.get(*key) else {
                continue;
            };
            (roots.replica_path(key), entry.clone())
        };
        if let Err(e) = local::apply_path_metadata(&path, &entry, false) {
            applied.errors.push((
                display_key(key),
                format!("cannot set the directory's owner, mode or mtime: {e}"),
            ));
        }
    }
}

/// Marks the parent directory of `key` (the root is the empty key) as changed.
fn touch_parent(touched: &mut BTreeSet<Box<[u8]>>, key: &[u8]) {
    let parent = parent_key(key).unwrap_or(&[]);
    if !touched.contains(parent) {
        touched.insert(parent.into());
    }
}
