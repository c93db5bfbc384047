//! Full verification of a set: both trees are walked and every file on both
//! sides is hashed again, ignoring the cache, so bit rot that keeps size and
//! mtime is found. The fresh hashes replace the cached ones, so the next
//! sync repairs every mismatch found here.

use std::path::Path;
use std::time::Instant;

use rayon::prelude::*;

use super::entry::{display_key, relative_from_key, Entry, EntryKind};
use super::walk::{self, WalkItem};
use super::{ItemError, SyncError};
use crate::config::SyncSet;
use crate::store::{ManifestWriter, Side, Store};
use crate::transport::local;

/// Findings of one verify of a set, printed with `--json` and stored as the result.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VerifyReport {
    pub set: String,
    pub files_checked: u64,
    pub bytes_hashed: u64,
    /// Present on both sides with different content or symlink target, or
    /// with the same content and a different owner, mode or mtime (listed
    /// with that note after the path).
    pub mismatched: Vec<String>,
    /// On the source but not on the replica.
    pub missing: Vec<String>,
    /// On the replica but not on the source.
    pub extra: Vec<String>,
    pub errors: Vec<ItemError>,
    pub duration_ms: u64,
    pub finished_at: String,
}

impl VerifyReport {
    /// True when the replica equals the source.
    pub fn is_ok(&self) -> bool {
        self.mismatched.is_empty() && self.missing.is_empty() && self.extra.is_empty() && self.errors.is_empty()
    }
}

/// Re-hashes source and replica of `set` and compares them entry by entry.
pub fn verify_set(store: &mut Store, set: &SyncSet) -> Result<VerifyReport, SyncError> {
    let _lock = super::lock_set(store, &set.name)?;
    let clock = Instant::now();
    let excludes = walk::Excludes::new(&set.exclude).map_err(|e| SyncError::Cache {
        set: set.name.clone(),
        message: format!("invalid exclude pattern: {e}"),
    })?;
    let mut report = VerifyReport {
        set: set.name.clone(),
        files_checked: 0,
        bytes_hashed: 0,
        mismatched: Vec::new(),
        missing: Vec::new(),
        extra: Vec::new(),
        errors: Vec::new(),
        duration_ms: 0,
        finished_at: String::new(),
    };
    if !set.source.is_dir() {
        return Err(SyncError::SourceMissing {
            set: set.name.clone(),
            path: set.source.clone(),
        });
    }

    compare_trees(store, set, &excludes, &mut report)?;
    tracing::debug!(set = %set.name, elapsed_ms = clock.elapsed().as_millis() as u64, "trees compared");
    report.mismatched.sort();
    report.duration_ms = clock.elapsed().as_millis() as u64;
    report.finished_at = crate::store::now_text();
    Ok(report)
}

/// Added to a listed path whose content matches but whose owner, mode or
/// mtime differ.
const METADATA_NOTE: &str = "owner, mode or mtime";

/// Files hashed per round; bounds the memory of pending keys and cache rows.
const CHUNK: usize = 8192;

/// Compares the trees while a second connection to the state database
/// stores the fresh hashes, so the writes overlap with the hashing.
fn compare_trees(
    store: &mut Store,
    set: &SyncSet,
    excludes: &walk::Excludes,
    report: &mut VerifyReport,
) -> Result<(), SyncError> {
    let data_dir = store.path().parent().unwrap_or(Path::new(".")).to_path_buf();
    std::thread::scope(|scope| {
        let (sender, receiver) = std::sync::mpsc::sync_channel::<ManifestWriter>(2);
        let writer = scope.spawn(move || write_manifest(&data_dir, &set.name, receiver));
        let compared = merge_and_hash(set, excludes, report, &sender);
        drop(sender);
        let written = writer.join().expect("the manifest writer does not panic");
        compared.and(written.map_err(SyncError::from))
    })
}

/// Applies every batch of manifest changes received, in order.
fn write_manifest(
    data_dir: &Path,
    set: &str,
    receiver: std::sync::mpsc::Receiver<ManifestWriter>,
) -> Result<(), crate::store::StoreError> {
    let mut store = Store::open(data_dir)?;
    for changes in receiver {
        store.manifest_apply(set, &changes)?;
    }
    Ok(())
}

/// Merges the two walks. Files present on both sides are hashed in
/// parallel chunks, and their fresh hashes go to the manifest writer.
/// Everything else is decided from the walk alone.
fn merge_and_hash(
    set: &SyncSet,
    excludes: &walk::Excludes,
    report: &mut VerifyReport,
    manifest: &std::sync::mpsc::SyncSender<ManifestWriter>,
) -> Result<(), SyncError> {
    let replica_items: Box<dyn Iterator<Item = WalkItem>> = if set.target.is_dir() {
        Box::new(walk::walk_in_background(
            set.target.clone(),
            excludes.clone(),
            walk::Detail::Kind,
        ))
    } else {
        Box::new(std::iter::empty())
    };
    let mut source_errors = Vec::new();
    let mut replica_errors = Vec::new();
    let mut source = entries(
        walk::walk_in_background(set.source.clone(), excludes.clone(), walk::Detail::Kind),
        "source",
        &mut source_errors,
    )
    .peekable();
    let mut replica = entries(replica_items, "replica", &mut replica_errors).peekable();
    let mut pending: Vec<Box<[u8]>> = Vec::with_capacity(CHUNK);
    loop {
        let order = match (source.peek(), replica.peek()) {
            (None, None) => break,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(s), Some(r)) => s.key.cmp(&r.key),
        };
        match order {
            std::cmp::Ordering::Less => report.missing.push(display_key(&source.next().expect("peeked").key)),
            std::cmp::Ordering::Greater => report.extra.push(display_key(&replica.next().expect("peeked").key)),
            std::cmp::Ordering::Equal => {
                let (s, r) = (source.next().expect("peeked"), replica.next().expect("peeked"));
                match (s.kind, r.kind) {
                    (EntryKind::File, EntryKind::File) => pending.push(s.key),
                    (EntryKind::Dir, EntryKind::Dir) => {}
                    (EntryKind::Symlink, EntryKind::Symlink) if same_link_target(set, &s.key) => {}
                    _ => report.mismatched.push(display_key(&s.key)),
                }
            }
        }
        if pending.len() == CHUNK {
            hash_chunk(manifest, set, std::mem::take(&mut pending), report);
        }
    }
    hash_chunk(manifest, set, pending, report);
    drop(source);
    drop(replica);
    report.errors.extend(source_errors);
    report.errors.extend(replica_errors);
    Ok(())
}

/// Unwraps walk items into entries other than special files, collecting errors.
fn entries<'a>(
    items: impl Iterator<Item = WalkItem> + 'a,
    side: &'a str,
    errors: &'a mut Vec<ItemError>,
) -> impl Iterator<Item = Entry> + 'a {
    items.filter_map(move |item| match item {
        WalkItem::Entry(e) if e.kind != EntryKind::Special => Some(e),
        WalkItem::Error(path, message) => {
            errors.push(ItemError {
                path: format!("{side}: {}", path.display()),
                error: message,
            });
            None
        }
        _ => None,
    })
}

fn same_link_target(set: &SyncSet, key: &[u8]) -> bool {
    let relative = relative_from_key(key);
    let a = std::fs::read_link(set.source.join(&relative)).ok();
    let b = std::fs::read_link(set.target.join(&relative)).ok();
    a.is_some() && a == b
}

/// Hashes both sides of every key in parallel, records mismatches and
/// sends the fresh hashes to the manifest writer.
fn hash_chunk(
    manifest: &std::sync::mpsc::SyncSender<ManifestWriter>,
    set: &SyncSet,
    keys: Vec<Box<[u8]>>,
    report: &mut VerifyReport,
) {
    let outcomes: Vec<PairOutcome> = keys
        .into_par_iter()
        .map(|key| hash_pair(&set.source, &set.target, key))
        .collect();
    let mut cache = ManifestWriter::default();
    for outcome in outcomes {
        match outcome {
            PairOutcome::Hashed {
                source,
                replica,
                source_hash,
                replica_hash,
            } => {
                report.files_checked += 1;
                report.bytes_hashed += source.size + replica.size;
                if source_hash != replica_hash {
                    report.mismatched.push(display_key(&source.key));
                } else if !super::plan::same_metadata(&source, &replica) {
                    report
                        .mismatched
                        .push(format!("{} ({})", display_key(&source.key), METADATA_NOTE));
                }
                cache.upserts.push((Side::Source, source.to_row(Some(source_hash))));
                cache.upserts.push((Side::Replica, replica.to_row(Some(replica_hash))));
            }
            PairOutcome::Failed(key, error) => report.errors.push(ItemError {
                path: display_key(&key),
                error,
            }),
        }
    }
    // A send fails only after the writer thread stopped on an error.
    // compare_trees returns that error once it has joined the thread.
    let _ = manifest.send(cache);
}

enum PairOutcome {
    Hashed {
        source: Entry,
        replica: Entry,
        source_hash: [u8; 32],
        replica_hash: [u8; 32],
    },
    Failed(Box<[u8]>, String),
}

fn hash_pair(source_root: &Path, replica_root: &Path, key: Box<[u8]>) -> PairOutcome {
    let relative = relative_from_key(&key);
    let source = local::hash_file(&source_root.join(&relative));
    let replica = local::hash_file(&replica_root.join(&relative));
    match (source, replica) {
        (Ok((source_hash, source_meta)), Ok((replica_hash, replica_meta))) => PairOutcome::Hashed {
            source: Entry::from_metadata(key.clone(), &source_meta),
            replica: Entry::from_metadata(key, &replica_meta),
            source_hash,
            replica_hash,
        },
        (Err(e), _) => PairOutcome::Failed(key, format!("source: {e}")),
        (_, Err(e)) => PairOutcome::Failed(key, format!("replica: {e}")),
    }
}
