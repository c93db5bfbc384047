//! Replication of one set: walk, compare with the cached manifests, keep a
//! version, apply, record.
//!
//! Public API: `sync_set` and `verify_set`, each returning a summary that
//! the command layer prints and stores. Unchanged files are recognised by
//! `lstat` against the manifest cache: size, mtime, ctime and inode on the
//! source, the same without ctime on the replica. Files whose stat changed
//! are hashed with BLAKE3 in parallel before anything is copied, so a
//! touched but unchanged file costs a read, never a write.

pub mod apply;
pub mod chunks;
pub mod entry;
pub mod plan;
pub mod remote;
pub mod verify;
pub mod versions;
pub mod walk;

use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;

use crate::config::{MaxDelete, SyncSet};
use crate::store::{ManifestReader, ManifestWriter, Side, Store, StoreError};
use crate::transport::local::{self, FileError};
use entry::{display_key, relative_from_key, Entry};
use plan::{CompareItem, CopyItem, MetaItem, Plan};

pub use verify::{verify_set, VerifyReport};

/// Choices of one sync run.
#[derive(Debug, Clone, Default)]
pub struct SyncOptions {
    /// Replaces the set's `max_delete` for this run (`--max-delete`).
    pub max_delete: Option<MaxDelete>,
    /// The part of the set the sync compares: all of it, or the paths a watcher reported.
    pub scope: Scope,
    /// Prune old versions on a thread of their own instead of while the
    /// plan is applied, for a process that keeps running (`drkit watch`).
    pub prune_later: bool,
    /// Files that a watcher's earlier batches deleted recently. Its syncs
    /// count them with their own deletions against `max_delete`, so that a
    /// slow wipe of the source cannot pass in small batches.
    pub deleted_recently: u64,
}

/// The part of a set one sync compares and carries.
#[derive(Debug, Clone, Default)]
pub enum Scope {
    /// Every entry of the set.
    #[default]
    All,
    /// These paths (absolute under the source, or relative to it) and, for
    /// folders, everything below them.
    Paths(Vec<PathBuf>),
}

/// A failure that stops a set's sync before the replica is changed (or,
/// for `Store`, while recording it).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("set \"{set}\": the source {path} does not exist or is not a directory")]
    SourceMissing { set: String, path: PathBuf },
    #[error("set \"{set}\": the source {path} is empty; a missing mount or a wiped disk looks like this, so nothing was changed")]
    SourceEmpty { set: String, path: PathBuf },
    #[error("set \"{set}\": the sync would delete {would_delete} of the replica's {replica_files} files, more than max_delete = {max_delete} allows ({allowed}); nothing was changed")]
    DeletionGuard {
        set: String,
        would_delete: u64,
        replica_files: u64,
        allowed: u64,
        max_delete: MaxDelete,
        /// Of `would_delete`, the files a watcher's earlier batches deleted.
        deleted_recently: u64,
    },
    #[error("set \"{set}\": cannot create the target {path}: {source}")]
    Target {
        set: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("set \"{set}\": {message}")]
    Cache { set: String, message: String },
    /// The peer or its agent failed or refused; the replica is as the agent left it.
    #[error("set \"{set}\": peer {peer}: {message}")]
    Peer { set: String, peer: String, message: String },
    #[error(transparent)]
    Version(#[from] versions::VersionError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One entry that failed, for summaries.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ItemError {
    pub path: String,
    pub error: String,
}

/// Summary of one sync of a set, printed with `--json` and stored as the result.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SyncSummary {
    pub set: String,
    pub source: String,
    pub target: String,
    pub files_scanned: u64,
    pub files_changed: u64,
    pub files_deleted: u64,
    pub bytes_copied: u64,
    pub duration_ms: u64,
    /// Name of the version kept before this sync changed the replica.
    pub version_created: Option<String>,
    pub versions_kept: usize,
    pub versions_dir: String,
    /// The peer holding the replica, as `user@host:port`; null for a local replica.
    pub peer: Option<String>,
    /// Bytes written to the connection to the peer; null for a local replica.
    pub bytes_sent: Option<u64>,
    /// Files that kept changing while read; retried next sync.
    pub unstable: Vec<String>,
    /// FIFOs, sockets and devices, which are never copied.
    pub skipped_special: Vec<String>,
    pub errors: Vec<ItemError>,
    /// Start of the walk: every change made on the source before it is on the replica.
    pub started_at: String,
    pub finished_at: String,
    /// When the newest source change that this sync carried was made (see
    /// `newest_change_ns`); None when the sync changed nothing.
    pub newest_change_at: Option<String>,
    /// When that change reached the replica: the end of the sync, after the
    /// final fsync. None when the sync changed nothing.
    pub reached_replica_at: Option<String>,
    /// For the batches of a watcher, which share one result per minute: how
    /// many batches it holds. The counts are their sums, `started_at` and
    /// the change times are those of the latest batch. None for a whole sync.
    pub batches: Option<u64>,
    /// When the first of those batches started.
    pub batches_since: Option<String>,
    /// The maximum delay, in milliseconds, from a batch's newest change to
    /// the end of that batch, over those batches.
    pub batch_delay_ms_max: Option<u64>,
}

impl SyncSummary {
    /// Records when the newest carried change was made (nanoseconds since
    /// the epoch) and that it reached the replica when the sync finished.
    fn set_change_times(&mut self, newest_change_ns: Option<i64>) {
        if let Some(ns) = newest_change_ns {
            self.newest_change_at =
                Some(chrono::DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
            self.reached_replica_at = Some(self.finished_at.clone());
        }
    }

    /// Turns the summary of one batch into the first of a minute's batches.
    pub fn start_batches(&mut self) {
        self.batches = Some(1);
        self.batches_since = Some(self.started_at.clone());
        self.batch_delay_ms_max = self.delay_ms();
    }

    /// Adds the summary of a later batch to this one (see `batches`).
    pub fn absorb(&mut self, later: SyncSummary) {
        /// Maximum number of paths kept in each list of a minute's result.
        const LISTED: usize = 1000;
        let delay = later.delay_ms();

        self.files_scanned += later.files_scanned;
        self.files_changed += later.files_changed;
        self.files_deleted += later.files_deleted;
        self.bytes_copied += later.bytes_copied;
        self.duration_ms += later.duration_ms;
        self.bytes_sent = match (self.bytes_sent, later.bytes_sent) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
        };
        // A watcher merges the batch versions of a minute into the first
        // one, so the first name is the one that stays.
        if self.version_created.is_none() {
            self.version_created = later.version_created;
        }
        self.versions_kept = later.versions_kept;

        for (list, more) in [
            (&mut self.unstable, later.unstable),
            (&mut self.skipped_special, later.skipped_special),
        ] {
            for path in more {
                if list.len() < LISTED && !list.contains(&path) {
                    list.push(path);
                }
            }
        }
        self.errors
            .extend(later.errors.into_iter().take(LISTED.saturating_sub(self.errors.len())));

        self.started_at = later.started_at;
        self.finished_at = later.finished_at;
        if later.newest_change_at.is_some() {
            self.newest_change_at = later.newest_change_at;
            self.reached_replica_at = later.reached_replica_at;
        }

        self.batches = Some(self.batches.unwrap_or(1) + 1);
        self.batch_delay_ms_max = self.batch_delay_ms_max.max(delay);
    }

    /// Time from the newest carried change to the replica, in milliseconds.
    fn delay_ms(&self) -> Option<u64> {
        let parse = |text: &Option<String>| chrono::DateTime::parse_from_rfc3339(text.as_deref()?).ok();
        let made = parse(&self.newest_change_at)?;
        let reached = parse(&self.reached_replica_at)?;
        Some((reached - made).num_milliseconds().max(0) as u64)
    }

    /// True when every entry reached the replica or was skipped by design.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Exclusive right to change or verify one set's replica, held until dropped.
pub struct SetLock {
    _lock: nix::fcntl::Flock<std::fs::File>,
}

/// Takes the lock of `set`, waiting while another sync or verify of the
/// same set holds it; the lock files live in `<data_dir>/locks/sets/`.
pub fn lock_set(store: &Store, set: &str) -> Result<SetLock, SyncError> {
    use nix::fcntl::{Flock, FlockArg};
    let dir = store
        .path()
        .parent()
        .unwrap_or(Path::new("."))
        .join("locks")
        .join("sets");
    let wrap = |source: std::io::Error| SyncError::Cache {
        set: set.to_string(),
        message: format!("cannot take the set's lock in {}: {source}", dir.display()),
    };
    crate::store::create_private_dir(&dir).map_err(wrap)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(format!("{set}.lock")))
        .map_err(wrap)?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(SetLock { _lock: lock }),
        Err((file, _)) => {
            tracing::info!(set, "waiting for another sync or verify of this set to finish");
            Flock::lock(file, FlockArg::LockExclusive)
                .map(|lock| SetLock { _lock: lock })
                .map_err(|(_, errno)| wrap(errno.into()))
        }
    }
}

/// Synchronises one set from its source to its local replica.
pub fn sync_set(store: &mut Store, set: &SyncSet, options: &SyncOptions) -> Result<SyncSummary, SyncError> {
    let _lock = lock_set(store, &set.name)?;
    let clock = Instant::now();
    let walk_start = chrono::Utc::now();
    let started_at = walk_start.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    check_source(set)?;
    std::fs::create_dir_all(&set.target).map_err(|source| SyncError::Target {
        set: set.name.clone(),
        path: set.target.clone(),
        source,
    })?;

    let mut plan = build_plan(store, set, &options.scope)?;
    tracing::debug!(
        set = %set.name,
        elapsed_ms = clock.elapsed().as_millis() as u64,
        copies = plan.copies.len(),
        compares = plan.compares.len(),
        deletes = plan.deletes.len(),
        "plan built"
    );
    check_deletion_guard(store, set, &plan, options, Side::Replica)?;
    let version = keep_version_and_compare(store, set, &mut plan, &options.scope)?;
    tracing::debug!(set = %set.name, elapsed_ms = clock.elapsed().as_millis() as u64, "compares resolved, version kept");
    report_specials(set, &plan);

    let mut summary = new_summary(set, &plan, started_at);
    let newest_change = newest_change_ns(&plan, walk_start.timestamp_nanos_opt().unwrap_or(i64::MAX));

    if let Some(version) = version {
        tracing::debug!(set = %set.name, version = %version.name, "kept a version of the replica");
        summary.version_created = Some(version.name);
    }
    // Old versions are pruned while the plan is applied: the two touch
    // different trees, and unlinking a version is mostly waiting on the
    // file system.
    let (applied, pruned) = if options.prune_later {
        let applied = apply_plan(store, set, plan);
        versions::prune_later(set.versions_dir.clone(), retention(set));
        (applied, Ok(Vec::new()))
    } else {
        std::thread::scope(|scope| {
            let pruning = scope.spawn(|| versions::prune_with(&set.versions_dir, retention(set)));
            let applied = apply_plan(store, set, plan);
            (applied, pruning.join().expect("the prune thread does not panic"))
        })
    };
    if let Some(applied) = applied? {
        summary.files_changed = applied.files_changed;
        summary.files_deleted = applied.files_deleted;
        summary.bytes_copied = applied.bytes_copied;
        summary.unstable.extend(applied.unstable);
        summary.errors.extend(
            applied
                .errors
                .into_iter()
                .map(|(path, error)| ItemError { path, error }),
        );
    }
    match pruned {
        Ok(deleted) if !deleted.is_empty() => {
            tracing::info!(set = %set.name, count = deleted.len(), "pruned old versions")
        }
        Ok(_) => {}
        Err(e) => summary.errors.push(ItemError {
            path: set.versions_dir.display().to_string(),
            error: format!("cannot prune old versions: {e}"),
        }),
    }
    summary.versions_kept = versions::list(&set.versions_dir).len();
    summary.duration_ms = clock.elapsed().as_millis() as u64;
    summary.finished_at = crate::store::now_text();
    summary.set_change_times(newest_change);
    Ok(summary)
}

/// Builds the summary of a sync about to apply `plan`, before anything is applied.
fn new_summary(set: &SyncSet, plan: &Plan, started_at: String) -> SyncSummary {
    SyncSummary {
        set: set.name.clone(),
        source: set.source.display().to_string(),
        target: set.target.display().to_string(),
        files_scanned: plan.source_files,
        files_changed: 0,
        files_deleted: 0,
        bytes_copied: 0,
        duration_ms: 0,
        version_created: None,
        versions_kept: 0,
        versions_dir: set.versions_dir.display().to_string(),
        peer: None,
        bytes_sent: None,
        unstable: plan.unstable.iter().map(|k| display_key(k)).collect(),
        skipped_special: plan
            .specials
            .iter()
            .map(|e| format!("{} ({})", display_key(&e.key), e.special_name()))
            .collect(),
        errors: plan
            .errors
            .iter()
            .map(|(p, e)| ItemError {
                path: entry::escape_bytes(p.as_os_str().as_encoded_bytes()),
                error: e.clone(),
            })
            .collect(),
        started_at,
        finished_at: String::new(),
        newest_change_at: None,
        reached_replica_at: None,
        batches: None,
        batches_since: None,
        batch_delay_ms_max: None,
    }
}

/// Returns when the newest source change that `plan` carries was made, in
/// nanoseconds since the epoch, or None for a plan that changes nothing.
///
/// The rule: the largest of mtime and ctime (at walk time) of every entry
/// the plan copies, links, creates or fixes. A deletion leaves no entry to
/// read, so it counts as made at the later of mtime and ctime of its
/// nearest surviving parent folder, which the deletion updated. A deletion
/// at the top of the set counts as made at `walk_start_ns`, the latest time
/// it can have happened. Each value is capped at `walk_start_ns`, because a
/// time after the walk started comes from a later change or a clock step.
///
/// NOTE: entries that fail or turn unstable while the plan is applied are
/// still counted; such a sync is recorded as failed.
fn newest_change_ns(plan: &Plan, walk_start_ns: i64) -> Option<i64> {
    let entries = plan
        .mkdirs
        .iter()
        .chain(plan.links.iter().map(|l| &l.source))
        .chain(plan.symlinks.iter().map(|(source, _)| source))
        .chain(plan.metas.iter().map(|m| &m.source))
        .chain(plan.reuses.iter().map(|r| &r.source))
        .chain(plan.dir_metas.iter());
    let deletions = plan.deletes.iter().map(|deleted| {
        parent_keys(&deleted.key)
            .find_map(|parent| plan.source_dirs.get(parent))
            .map_or(walk_start_ns, Entry::changed_ns)
    });
    entries
        .map(Entry::changed_ns)
        .chain(plan.copies.iter().map(|c| c.changed_ns))
        .chain(deletions)
        .max()
        .map(|ns| ns.min(walk_start_ns))
}

/// Yields the keys of the folders above `key`, nearest first (a key
/// separates its components with 0 bytes).
fn parent_keys(key: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut end = key.len();
    std::iter::from_fn(move || {
        let cut = key[..end].iter().rposition(|&b| b == 0)?;
        end = cut;
        Some(&key[..cut])
    })
}

/// Applies a plan that changes the replica, or only removes stale
/// temporary files; returns what was applied, or None for an empty plan.
fn apply_plan(store: &mut Store, set: &SyncSet, mut plan: Plan) -> Result<Option<apply::Applied>, SyncError> {
    let mut source = apply::LocalSource { root: &set.source };
    let mut roots = apply::Roots {
        source: &mut source,
        replica: &set.target,
    };
    if plan.is_empty() {
        let replica_root = std::fs::symlink_metadata(&set.target)
            .ok()
            .map(|meta| Entry::from_metadata(Box::default(), &meta));
        if !plan.stale_temps.is_empty() || root_differs(&set.source, replica_root.as_ref()) {
            apply::apply(store, &set.name, &mut roots, plan)?;
        }
        return Ok(None);
    }
    let forgotten = std::mem::take(&mut plan.forgotten);
    let applied = apply::apply(store, &set.name, &mut roots, plan)?;
    store.manifest_apply(
        &set.name,
        &ManifestWriter {
            upserts: Vec::new(),
            deletes: forgotten,
        },
    )?;
    Ok(Some(applied))
}

/// Resolves the compares and keeps a version when the replica is about to
/// change. When the plan changes the replica whatever the compares find,
/// the version is built while the compares are hashed, since one mostly
/// waits on directory operations and the other on reading. A batch keeps
/// a batch version: only the entries it replaces, deletes or creates.
fn keep_version_and_compare(
    store: &mut Store,
    set: &SyncSet,
    plan: &mut Plan,
    scope: &Scope,
) -> Result<Option<versions::Version>, SyncError> {
    if let Scope::Paths(_) = scope {
        resolve_compares(store, set, plan)?;
        if set.keep_versions == 0 || plan.is_empty() {
            return Ok(None);
        }
        return Ok(Some(keep_batch_version(&set.target, &set.versions_dir, plan)?));
    }
    let wants_version = set.keep_versions > 0 && plan.replica_files > 0;
    if wants_version && plan.changes_besides_compares() {
        let (version, compared) = std::thread::scope(|scope| {
            let snapshot = scope.spawn(|| versions::snapshot(&set.target, &set.versions_dir));
            let compared = resolve_compares(store, set, plan);
            (snapshot.join().expect("the version thread does not panic"), compared)
        });
        compared?;
        return Ok(Some(version?));
    }
    resolve_compares(store, set, plan)?;
    if wants_version && !plan.is_empty() {
        return Ok(Some(versions::snapshot(&set.target, &set.versions_dir)?));
    }
    Ok(None)
}

/// Keeps what `plan` is about to replace, delete or create in `replica` as
/// a batch version under `versions_dir`: a cost in proportion to the
/// change, where a full version links the whole tree.
pub fn keep_batch_version(
    replica: &Path,
    versions_dir: &Path,
    plan: &Plan,
) -> Result<versions::Version, versions::VersionError> {
    let mut keys: Vec<&[u8]> = plan
        .deletes
        .iter()
        .chain(&plan.mkdirs)
        .chain(&plan.dir_metas)
        .map(|e| &*e.key)
        .chain(plan.copies.iter().map(|c| &*c.key))
        .chain(plan.reuses.iter().flat_map(|r| [&*r.source.key, &*r.from]))
        .chain(plan.links.iter().map(|l| &*l.source.key))
        .chain(plan.symlinks.iter().map(|(e, _)| &*e.key))
        .chain(plan.metas.iter().map(|m| &*m.source.key))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    let mut version = versions::BatchVersion::begin(replica, versions_dir)?;
    for key in keys {
        version.keep(key)?;
    }
    version.finish()
}

/// Returns how many versions of each kind `set` keeps.
pub fn retention(set: &SyncSet) -> versions::Retention {
    versions::Retention {
        full: set.keep_versions as usize,
        batch: set.keep_batch_versions as usize,
    }
}

/// True when the replica's top folder lacks the owner, mode or mtime of
/// the source's, which an otherwise empty plan must still fix.
fn root_differs(source: &Path, replica_root: Option<&Entry>) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(source) else {
        return false;
    };
    let source_root = Entry::from_metadata(Box::default(), &meta);
    replica_root.is_none_or(|replica| !plan::same_metadata(&source_root, replica))
}

/// Rejects a missing, non-directory or empty source before anything is read further.
fn check_source(set: &SyncSet) -> Result<(), SyncError> {
    let missing = || SyncError::SourceMissing {
        set: set.name.clone(),
        path: set.source.clone(),
    };
    let meta = std::fs::metadata(&set.source).map_err(|_| missing())?;
    if !meta.is_dir() {
        return Err(missing());
    }
    let mut read = std::fs::read_dir(&set.source).map_err(|_| missing())?;
    if read.next().is_none() {
        return Err(SyncError::SourceEmpty {
            set: set.name.clone(),
            path: set.source.clone(),
        });
    }
    Ok(())
}

fn excludes_of(set: &SyncSet) -> Result<walk::Excludes, SyncError> {
    walk::Excludes::new(&set.exclude).map_err(|e| SyncError::Cache {
        set: set.name.clone(),
        message: format!("invalid exclude pattern: {e}"),
    })
}

/// Turns the changed paths of a batch into the parts of the set it looks
/// at. Paths outside the source are left out.
fn batch_scope(set: &SyncSet, paths: &[PathBuf], excludes: &walk::Excludes) -> Vec<walk::Scoped> {
    let relatives: Vec<PathBuf> = paths
        .iter()
        .filter_map(|path| {
            if path.is_relative() {
                return Some(path.clone());
            }
            match path.strip_prefix(&set.source) {
                Ok(relative) => Some(relative.to_path_buf()),
                Err(_) => {
                    tracing::warn!(set = %set.name, path = %path.display(), "ignored a changed path outside the source");
                    None
                }
            }
        })
        .collect();
    walk::scope_of(&relatives, excludes)
}

fn build_plan(store: &Store, set: &SyncSet, scope: &Scope) -> Result<Plan, SyncError> {
    let excludes = excludes_of(set)?;
    let cache_error = |message: String| SyncError::Cache {
        set: set.name.clone(),
        message: format!("cannot read the manifest cache: {message}"),
    };
    if let Scope::Paths(paths) = scope {
        let parts = batch_scope(set, paths, &excludes);
        let links = plan::LocalLinks {
            source: &set.source,
            replica: &set.target,
        };
        let rows = |side| {
            store
                .manifest_rows_in(&set.name, side, &parts)
                .map_err(|e| cache_error(e.to_string()))
        };
        return Ok(plan::build(
            &links,
            walk::walk_scope(&set.source, &parts, &excludes, walk::Detail::Stat).into_iter(),
            rows(Side::Source)?.into_iter(),
            walk::walk_scope(&set.target, &parts, &excludes, walk::Detail::Stat).into_iter(),
            rows(Side::Replica)?.into_iter(),
        ));
    }
    let mut source_cache = ManifestReader::open(store.path(), &set.name, Side::Source);
    let mut replica_cache = ManifestReader::open(store.path(), &set.name, Side::Replica);
    let plan = plan::build(
        &plan::LocalLinks {
            source: &set.source,
            replica: &set.target,
        },
        walk::walk_in_background(set.source.clone(), excludes.clone(), walk::Detail::Stat),
        source_cache.by_ref(),
        walk::walk_in_background(set.target.clone(), excludes, walk::Detail::Stat),
        replica_cache.by_ref(),
    );
    for reader in [&source_cache, &replica_cache] {
        if let Some(message) = reader.error() {
            return Err(cache_error(message.to_string()));
        }
    }
    Ok(plan)
}

/// Hashes the compare items in parallel and turns each into a copy, a
/// metadata fix or nothing. Equal files get fresh cache rows.
fn resolve_compares(store: &mut Store, set: &SyncSet, plan: &mut Plan) -> Result<(), SyncError> {
    let compares = std::mem::take(&mut plan.compares);
    let outcomes: Vec<Outcome> = compares
        .into_par_iter()
        .map(|item| compare(&set.source, &set.target, item))
        .collect();
    let mut cache = ManifestWriter::default();
    for outcome in outcomes {
        match outcome {
            Outcome::Same { source, replica, hash } => {
                cache.upserts.push((Side::Source, source.to_row(Some(hash))));
                cache.upserts.push((Side::Replica, replica.to_row(Some(hash))));
                if !plan::same_metadata(&source, &replica) {
                    plan.metas.push(MetaItem {
                        source,
                        hash: Some(hash),
                    });
                }
            }
            Outcome::Differ(item) => plan.copies.push(item),
            Outcome::Failed(key, message) => plan.errors.push((relative_from_key(&key), message)),
            Outcome::Unstable(key) => plan.unstable.push(key),
        }
    }
    plan.copies.sort_by(|a, b| a.key.cmp(&b.key));
    store.manifest_apply(&set.name, &cache)?;
    Ok(())
}

enum Outcome {
    Same {
        source: Entry,
        replica: Entry,
        hash: [u8; 32],
    },
    Differ(CopyItem),
    Failed(Box<[u8]>, String),
    Unstable(Box<[u8]>),
}

fn compare(source_root: &Path, replica_root: &Path, item: CompareItem) -> Outcome {
    let relative = relative_from_key(&item.source.key);
    let side = |root: &Path, known: Option<[u8; 32]>, entry: &Entry| -> Result<([u8; 32], Entry), FileError> {
        match known {
            Some(hash) => Ok((hash, entry.clone())),
            None => local::hash_file(&root.join(&relative))
                .map(|(hash, meta)| (hash, Entry::from_metadata(entry.key.clone(), &meta))),
        }
    };
    let source = side(source_root, item.source_hash, &item.source);
    let replica = side(replica_root, item.replica_hash, &item.replica);
    match (source, replica) {
        (Ok((a, source)), Ok((b, replica))) if a == b => Outcome::Same {
            source,
            replica,
            hash: a,
        },
        (Ok(_), Ok(_)) | (Ok(_), Err(_)) => Outcome::Differ(CopyItem::new(item.source)),
        (Err(FileError::Unstable { .. }), _) => Outcome::Unstable(item.source.key),
        (Err(e), _) => Outcome::Failed(item.source.key, format!("cannot read: {e}")),
    }
}

/// Stops a sync that would delete more than `max_delete` allows. A batch
/// reads only part of the set, so its limit comes from the set's file count
/// in the manifest cache of `side`.
fn check_deletion_guard(
    store: &Store,
    set: &SyncSet,
    plan: &Plan,
    options: &SyncOptions,
    side: Side,
) -> Result<(), SyncError> {
    if plan.deleted_files == 0 {
        return Ok(());
    }
    let max_delete = options.max_delete.unwrap_or(set.max_delete);
    // The files deleted recently are no longer on the replica; the limit
    // is taken from the replica as it was before them.
    let recent = options.deleted_recently;
    let replica_files = match options.scope {
        Scope::All => plan.replica_files,
        Scope::Paths(_) => store.manifest_files(&set.name, side)?.max(plan.replica_files),
    } + recent;
    let allowed = max_delete.allowed(replica_files);
    let would_delete = plan.deleted_files + recent;
    if would_delete > allowed {
        return Err(SyncError::DeletionGuard {
            set: set.name.clone(),
            would_delete,
            replica_files,
            allowed,
            max_delete,
            deleted_recently: recent,
        });
    }
    Ok(())
}

fn report_specials(set: &SyncSet, plan: &Plan) {
    for entry in &plan.specials {
        tracing::info!(set = %set.name, path = %display_key(&entry.key), kind = entry.special_name(), "skipped: special files are not replicated");
    }
}

#[cfg(test)]
mod summary_tests {
    use super::*;

    fn batch(changed: u64, started: &str, made: Option<&str>, reached: &str) -> SyncSummary {
        SyncSummary {
            set: "www".into(),
            source: "/src".into(),
            target: "/dst".into(),
            files_scanned: changed,
            files_changed: changed,
            files_deleted: 0,
            bytes_copied: 10 * changed,
            duration_ms: 3,
            version_created: made.map(|_| format!("v-{started}")),
            versions_kept: 2,
            versions_dir: "/v".into(),
            peer: None,
            bytes_sent: None,
            unstable: vec!["busy.log".into()],
            skipped_special: Vec::new(),
            errors: Vec::new(),
            started_at: started.into(),
            finished_at: reached.into(),
            newest_change_at: made.map(str::to_string),
            reached_replica_at: made.map(|_| reached.to_string()),
            batches: None,
            batches_since: None,
            batch_delay_ms_max: None,
        }
    }

    #[test]
    fn batches_of_a_minute_add_up() {
        let mut minute = batch(
            2,
            "2026-12-05T10:00:01Z",
            Some("2026-12-05T10:00:00.990Z"),
            "2026-12-05T10:00:01.010Z",
        );
        minute.start_batches();
        assert_eq!(minute.batch_delay_ms_max, Some(20));
        minute.absorb(batch(
            3,
            "2026-12-05T10:00:05Z",
            Some("2026-12-05T10:00:04.900Z"),
            "2026-12-05T10:00:05.050Z",
        ));
        // A batch that changed nothing keeps the last change's times.
        minute.absorb(batch(0, "2026-12-05T10:00:09Z", None, "2026-12-05T10:00:09.003Z"));
        assert_eq!(minute.batches, Some(3));
        assert_eq!(minute.files_changed, 5);
        assert_eq!(minute.bytes_copied, 50);
        assert_eq!(minute.duration_ms, 9);
        assert_eq!(minute.batch_delay_ms_max, Some(150));
        assert_eq!(minute.batches_since.as_deref(), Some("2026-12-05T10:00:01Z"));
        assert_eq!(minute.started_at, "2026-12-05T10:00:09Z");
        assert_eq!(minute.newest_change_at.as_deref(), Some("2026-12-05T10:00:04.900Z"));
        assert_eq!(minute.reached_replica_at.as_deref(), Some("2026-12-05T10:00:05.050Z"));
        assert_eq!(minute.version_created.as_deref(), Some("v-2026-12-05T10:00:01Z"));
        assert_eq!(minute.unstable, vec!["busy.log".to_string()], "a path is listed once");
    }
}
