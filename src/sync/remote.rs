//! Sync of a set whose replica lives on a peer, through `drkit agent`.
//!
//! The primary plans exactly as for a local replica: its own walk and cache
//! on one side, the agent's listing (with the hashes the agent's cache
//! vouches for) on the other. The agent hashes its files for the compares,
//! keeps the version, and applies the plan with the local apply code. The
//! primary sends the file contents. A large file whose older copy (or an
//! interrupted partial copy) is on the peer travels as the chunks the agent
//! does not have yet.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Instant;

use rayon::prelude::*;

use super::chunks::{self, DELTA_MIN};
use super::entry::{self, display_key, relative_from_key, Entry, EntryKind};
use super::plan::{self, CompareItem, CopyItem, MetaItem, Plan};
use super::walk::{self, WalkItem};
use super::{ItemError, SyncError, SyncOptions, SyncSummary};
use crate::config::SyncSet;
use crate::i18n::Lang;
use crate::store::{ManifestReader, ManifestWriter, Side, Store};
use crate::transport::local::{self, FileError, READ_ATTEMPTS};
use crate::transport::protocol::{
    AppliedReport, ChunkSig, FrameReader, FrameWriter, Hash, HashResult, Key, Listed, Part, ProtocolError, RemotePlan,
    Reply, Request, DATA_FRAME, PROTOCOL_VERSION,
};

/// Choices for a sync over an agent connection.
#[derive(Debug, Clone, Default)]
pub struct Wire {
    /// `user@host:port`, for messages.
    pub peer: String,
    pub compress: bool,
    pub bwlimit: Option<u64>,
    /// Language of the messages naming the failed step.
    pub lang: Lang,
}

const TEXTS: &[crate::i18n::Row] = &[
    ("open", "opening the replica", "al abrir la réplica"),
    ("list", "listing the replica", "al listar la réplica"),
    ("hash", "keeping a version and hashing replica files", "al guardar una versión y calcular hashes en la réplica"),
    ("version", "keeping a version", "al guardar una versión"),
    ("send", "sending file contents", "al enviar el contenido de los archivos"),
    ("verify", "verifying the replica", "al verificar la réplica"),
    ("connection_lost", "{error} (the connection to the peer was lost; the next sync connects again)", "{error} (se perdió la conexión con el par; la próxima sincronización vuelve a conectar)"),
    ("timed_out", "{error} (no response within the node's timeout; check that the peer is up and raise `timeout` under [nodes.NAME] for slow links)", "{error} (sin respuesta dentro del plazo del nodo; compruebe que el par funciona y aumente `timeout` en [nodes.NOMBRE] para enlaces lentos)"),
];

impl Wire {
    /// Builds the error of a failed step, naming the step.
    fn failure(&self, set: &SyncSet, step: &str, error: AgentFailure) -> SyncError {
        let lost = matches!(
            error,
            AgentFailure::Protocol(ProtocolError::Io(_) | ProtocolError::Closed)
        );
        let mut text = error.to_string();
        if text.to_ascii_lowercase().contains("timed out") {
            text = crate::i18n::format(TEXTS, self.lang, "timed_out", &[("error", &text)]);
        } else if lost {
            // libssh2's own wording, such as "Failure while draining incoming
            // flow", does not say what happened.
            text = crate::i18n::format(TEXTS, self.lang, "connection_lost", &[("error", &text)]);
        }
        SyncError::Peer {
            set: set.name.clone(),
            peer: self.peer.clone(),
            message: format!("{}: {text}", crate::i18n::text(TEXTS, self.lang, step)),
        }
    }
}

/// An open conversation with an agent.
pub struct Agent<R: Read, W: Write> {
    reader: FrameReader<R>,
    writer: FrameWriter<W>,
}

/// Failure talking to the agent.
#[derive(Debug, thiserror::Error)]
pub enum AgentFailure {
    /// The agent refused a request; its message is in the session's language.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    #[error("unexpected reply: {0}")]
    Unexpected(String),
}

impl<R: Read, W: Write> Agent<R, W> {
    /// Says hello and checks that both ends speak the same protocol.
    pub fn handshake(input: R, output: W, lang: Lang) -> Result<Agent<R, W>, AgentFailure> {
        let mut agent = Agent {
            reader: FrameReader::new(input),
            writer: FrameWriter::new(output),
        };
        agent.writer.send(&Request::Hello {
            version: PROTOCOL_VERSION,
            lang: lang.code().to_string(),
        })?;
        agent.writer.flush()?;
        match agent.reader.receive::<Reply>()? {
            Reply::Hello { .. } => Ok(agent),
            Reply::Error(message) => Err(AgentFailure::Refused(message)),
            other => Err(unexpected(&other)),
        }
    }

    /// Bytes sent to the agent so far.
    pub fn sent(&self) -> u64 {
        self.writer.sent()
    }

    fn ask(&mut self, request: &Request) -> Result<Reply, AgentFailure> {
        self.writer.send(request)?;
        self.writer.flush()?;
        match self.reader.receive::<Reply>()? {
            Reply::Error(message) => Err(AgentFailure::Refused(message)),
            reply => Ok(reply),
        }
    }

    /// Ends the session politely.
    pub fn bye(mut self) {
        let _ = self.writer.send(&Request::Bye);
        let _ = self.writer.flush();
    }
}

fn unexpected(reply: &Reply) -> AgentFailure {
    let name = format!("{reply:?}");
    AgentFailure::Unexpected(name.chars().take(80).collect())
}

/// Synchronises one set to its replica on the peer behind `agent`.
pub fn sync_remote<R: Read, W: Write>(
    store: &mut Store,
    set: &SyncSet,
    options: &SyncOptions,
    agent: &mut Agent<R, W>,
    wire: &Wire,
) -> Result<SyncSummary, SyncError> {
    let _lock = super::lock_set(store, &set.name)?;
    let clock = Instant::now();
    let walk_start = chrono::Utc::now();
    let started_at = walk_start.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let sent_at_start = agent.sent();
    super::check_source(set)?;
    let peer_error = |step: &'static str| move |e: AgentFailure| wire.failure(set, step, e);

    let excludes = super::excludes_of(set)?;
    let cache_error = |message: String| SyncError::Cache {
        set: set.name.clone(),
        message: format!("cannot read the manifest cache: {message}"),
    };
    let batch = match &options.scope {
        super::Scope::All => None,
        super::Scope::Paths(paths) => Some(super::batch_scope(set, paths, &excludes)),
    };
    let plan = match &batch {
        // A batch reads only its parts of both trees.
        Some(parts) => {
            let rows = store
                .manifest_rows_in(&set.name, Side::Source, parts)
                .map_err(|e| cache_error(e.to_string()))?;
            let source_items = walk::walk_scope(&set.source, parts, &excludes, walk::Detail::Stat);
            let versions_kept = open_replica(agent, set).map_err(peer_error("open"))?;
            let listing = list_replica(agent, Some(parts.clone())).map_err(peer_error("list"))?;
            Scanned {
                versions_kept,
                listing,
                source_items,
                source_rows: rows,
                source_cache: None,
            }
        }
        // The source is walked whole while the agent lists the replica.
        None => {
            let source_root = set.source.clone();
            let source_walk = std::thread::spawn(move || {
                walk::walk(&source_root, &excludes, walk::Detail::Stat).collect::<Vec<WalkItem>>()
            });
            let source_cache = ManifestReader::open(store.path(), &set.name, Side::Source);
            let versions_kept = open_replica(agent, set).map_err(peer_error("open"))?;
            tracing::debug!(set = %set.name, elapsed_ms = clock.elapsed().as_millis() as u64, "replica opened");
            let listing = list_replica(agent, None).map_err(peer_error("list"))?;
            tracing::debug!(set = %set.name, elapsed_ms = clock.elapsed().as_millis() as u64, entries = listing.items.len(), "replica listed");
            Scanned {
                versions_kept,
                listing,
                source_items: source_walk.join().expect("the walk thread does not panic"),
                source_rows: Vec::new(),
                source_cache: Some(source_cache),
            }
        }
    }
    .plan(set)
    .map_err(cache_error)?;
    let (versions_kept, listing) = (plan.versions_kept, plan.listing);
    let mut plan = plan.plan;
    tracing::debug!(set = %set.name, elapsed_ms = clock.elapsed().as_millis() as u64, "plan built");
    super::check_deletion_guard(store, set, &plan, options, Side::Source)?;

    // A batch keeps a batch version on the peer while the plan is applied.
    let wants_version = set.keep_versions > 0 && plan.replica_files > 0 && batch.is_none();
    let snapshot_now = wants_version && plan.changes_besides_compares();
    let prepared = resolve_compares(store, set, &mut plan, agent, snapshot_now, &listing).map_err(|e| match e {
        CompareFailure::Agent(e) => peer_error("hash")(e),
        CompareFailure::Store(e) => SyncError::Store(e),
    })?;
    tracing::debug!(set = %set.name, elapsed_ms = clock.elapsed().as_millis() as u64, "version kept, compares resolved");
    let mut version = prepared.version;
    if wants_version && version.is_none() && !plan.is_empty() {
        version = snapshot(agent).map_err(peer_error("version"))?;
    }
    super::report_specials(set, &plan);

    let mut summary = super::new_summary(set, &plan, started_at);
    summary.peer = Some(wire.peer.clone());
    let newest_change = super::newest_change_ns(&plan, walk_start.timestamp_nanos_opt().unwrap_or(i64::MAX));
    if let Some(name) = version {
        tracing::info!(set = %set.name, version = %name, peer = %wire.peer, "kept a version of the replica");
        summary.version_created = Some(name);
    }

    let root_differs = super::root_differs(&set.source, listing.root.as_ref());
    if plan.is_empty() && plan.stale_temps.is_empty() && !root_differs {
        close_replica(agent).map_err(peer_error("send"))?;
        summary.versions_kept = versions_kept as usize;
        summary.bytes_sent = Some(agent.sent() - sent_at_start);
        summary.duration_ms = clock.elapsed().as_millis() as u64;
        summary.finished_at = crate::store::now_text();
        store.manifest_apply(
            &set.name,
            &ManifestWriter {
                upserts: Vec::new(),
                deletes: plan
                    .forgotten
                    .into_iter()
                    .filter(|(side, _)| *side == Side::Source)
                    .collect(),
            },
        )?;
        return Ok(summary);
    }
    let batch_version = batch.is_some() && set.keep_versions > 0 && !plan.is_empty();
    let applied = apply_remote(
        store,
        set,
        plan,
        agent,
        wire,
        &prepared.tables,
        VersionChoice {
            batch_version,
            prune_later: options.prune_later,
        },
    )
    .map_err(|e| match e {
        CompareFailure::Agent(e) => peer_error("send")(e),
        CompareFailure::Store(e) => SyncError::Store(e),
    })?;
    close_replica(agent).map_err(peer_error("send"))?;
    if let Some(name) = &applied.report.version {
        tracing::debug!(set = %set.name, version = %name, peer = %wire.peer, "kept a batch version of the replica");
        summary.version_created = Some(name.clone());
    }
    summary.files_changed = applied.report.files_changed;
    summary.files_deleted = applied.report.files_deleted;
    summary.bytes_copied = applied.bytes_copied;
    summary.unstable.extend(applied.report.unstable);
    summary.errors.extend(
        applied
            .report
            .errors
            .into_iter()
            .map(|(path, error)| ItemError { path, error }),
    );
    summary.errors.extend(applied.send_errors);
    if !applied.report.pruned.is_empty() {
        tracing::info!(set = %set.name, count = applied.report.pruned.len(), "pruned old versions");
    }
    summary.versions_kept = applied.report.versions_kept as usize;
    summary.bytes_sent = Some(agent.sent() - sent_at_start);
    summary.duration_ms = clock.elapsed().as_millis() as u64;
    summary.finished_at = crate::store::now_text();
    summary.set_change_times(newest_change);
    Ok(summary)
}

/// The entries and cache rows a sync read on both sides before planning.
struct Scanned {
    versions_kept: u32,
    listing: Listing,
    source_items: Vec<WalkItem>,
    /// The source's cache rows: read already for a batch, streamed for a whole set.
    source_rows: Vec<crate::store::ManifestRow>,
    source_cache: Option<ManifestReader>,
}

/// A plan with the listing it was built from.
struct Planned {
    plan: Plan,
    versions_kept: u32,
    listing: Listing,
}

impl Scanned {
    /// Builds the plan; fails when the source's cache cannot be read.
    fn plan(mut self, set: &SyncSet) -> Result<Planned, String> {
        let items = std::mem::take(&mut self.listing.items);
        let rows = std::mem::take(&mut self.listing.rows);
        let links = RemoteLinks {
            source: &set.source,
            replica: &self.listing.link_targets,
        };
        let plan = plan::build(
            &links,
            self.source_items.into_iter(),
            self.source_rows
                .into_iter()
                .chain(self.source_cache.iter_mut().flat_map(|cache| cache.by_ref())),
            items.into_iter(),
            rows.into_iter(),
        );
        if let Some(message) = self.source_cache.as_ref().and_then(|cache| cache.error()) {
            return Err(message.to_string());
        }
        Ok(Planned {
            plan,
            versions_kept: self.versions_kept,
            listing: self.listing,
        })
    }
}

/// Releases the replica and its lock on the peer, so that a sync from
/// another process can open it while this session stays connected.
fn close_replica<R: Read, W: Write>(agent: &mut Agent<R, W>) -> Result<(), AgentFailure> {
    agent.writer.send(&Request::Close)?;
    agent.writer.flush()?;
    Ok(())
}

/// Opens the set's replica on the agent and returns how many versions of
/// it are kept.
fn open_replica<R: Read, W: Write>(agent: &mut Agent<R, W>, set: &SyncSet) -> Result<u32, AgentFailure> {
    let request = Request::Open {
        set: set.name.clone(),
        target: set.target.clone(),
        versions_dir: set.versions_dir.clone(),
        excludes: set.exclude.clone(),
    };
    match agent.ask(&request)? {
        Reply::Opened { versions } => Ok(versions),
        other => Err(unexpected(&other)),
    }
}

/// Replica files below this size are never chunked for reuse.
const REUSE_MIN: u64 = 64 << 10;

/// The replica as the agent listed it, in the form the planner reads.
struct Listing {
    items: Vec<WalkItem>,
    rows: Vec<crate::store::ManifestRow>,
    link_targets: HashMap<Box<[u8]>, PathBuf>,
    /// Stale temporary files on the peer, among them partial files of
    /// interrupted transfers.
    partials: HashSet<PathBuf>,
    /// Replica files large enough to be worth a chunk table.
    large_files: HashSet<Box<[u8]>>,
    /// The replica's top folder.
    root: Option<Entry>,
}

fn list_replica<R: Read, W: Write>(
    agent: &mut Agent<R, W>,
    scope: Option<Vec<walk::Scoped>>,
) -> Result<Listing, AgentFailure> {
    let mut listing = Listing {
        items: Vec::new(),
        rows: Vec::new(),
        link_targets: HashMap::new(),
        partials: HashSet::new(),
        large_files: HashSet::new(),
        root: None,
    };
    let mut reply = agent.ask(&match scope {
        None => Request::List,
        Some(scope) => Request::ListScope(scope),
    })?;
    loop {
        match reply {
            Reply::Listing(batch) => {
                for Listed {
                    entry,
                    hash,
                    link_target,
                } in batch
                {
                    if let Some(hash) = hash {
                        listing.rows.push(entry.to_row(Some(hash)));
                    }
                    if entry.kind == EntryKind::File && entry.size >= REUSE_MIN {
                        listing.large_files.insert(entry.key.clone());
                    }
                    if let Some(target) = link_target {
                        listing.link_targets.insert(entry.key.clone(), target);
                    }
                    listing.items.push(WalkItem::Entry(entry));
                }
            }
            Reply::ListingEnd {
                stale_temps,
                errors,
                root,
            } => {
                listing.root = root;
                for temp in stale_temps {
                    listing.partials.insert(temp.clone());
                    listing.items.push(WalkItem::StaleTemp(temp));
                }
                for (path, message) in errors {
                    listing.items.push(WalkItem::Error(path, message));
                }
                return Ok(listing);
            }
            other => return Err(unexpected(&other)),
        }
        reply = agent.reader.receive::<Reply>()?;
        if let Reply::Error(message) = reply {
            return Err(AgentFailure::Refused(message));
        }
    }
}

struct RemoteLinks<'a> {
    source: &'a std::path::Path,
    replica: &'a HashMap<Box<[u8]>, PathBuf>,
}

impl plan::LinkTargets for RemoteLinks<'_> {
    fn source(&self, key: &[u8]) -> Option<PathBuf> {
        std::fs::read_link(self.source.join(relative_from_key(key))).ok()
    }

    fn replica(&self, key: &[u8]) -> Option<PathBuf> {
        self.replica.get(key).cloned()
    }
}

/// The version and the chunk tables the agent prepared before any file is sent.
struct Prepared {
    version: Option<String>,
    tables: HashMap<Box<[u8]>, Vec<ChunkSig>>,
}

fn snapshot<R: Read, W: Write>(agent: &mut Agent<R, W>) -> Result<Option<String>, AgentFailure> {
    match agent.ask(&Request::Prepare {
        snapshot: true,
        hash: Vec::new(),
        chunks: Vec::new(),
    })? {
        Reply::Prepared { version, .. } => Ok(version),
        other => Err(unexpected(&other)),
    }
}

enum CompareFailure {
    Agent(AgentFailure),
    Store(crate::store::StoreError),
}

impl From<AgentFailure> for CompareFailure {
    fn from(e: AgentFailure) -> Self {
        CompareFailure::Agent(e)
    }
}

impl From<ProtocolError> for CompareFailure {
    fn from(e: ProtocolError) -> Self {
        CompareFailure::Agent(e.into())
    }
}

impl From<crate::store::StoreError> for CompareFailure {
    fn from(e: crate::store::StoreError) -> Self {
        CompareFailure::Store(e)
    }
}

/// Resolves the compares: the agent hashes the replica side while the
/// primary hashes its own, then each pair becomes a copy, a metadata fix
/// or nothing.
fn resolve_compares<R: Read, W: Write>(
    store: &mut Store,
    set: &SyncSet,
    plan: &mut Plan,
    agent: &mut Agent<R, W>,
    snapshot: bool,
    listing: &Listing,
) -> Result<Prepared, CompareFailure> {
    let chunks = chunk_keys(plan, listing);
    let compares = std::mem::take(&mut plan.compares);
    if compares.is_empty() && !snapshot && chunks.is_empty() {
        return Ok(Prepared {
            version: None,
            tables: HashMap::new(),
        });
    }
    let wanted: Vec<Key> = compares
        .iter()
        .filter(|c| c.replica_hash.is_none())
        .map(|c| Key::from(c.replica.key.to_vec()))
        .collect();
    let (replica, source) = std::thread::scope(|scope| {
        let source = scope.spawn(|| {
            compares
                .par_iter()
                .map(|c| match c.source_hash {
                    Some(hash) => Ok((hash, c.source.clone())),
                    None => local::hash_file(&set.source.join(relative_from_key(&c.source.key)))
                        .map(|(hash, meta)| (hash, Entry::from_metadata(c.source.key.clone(), &meta))),
                })
                .collect::<Vec<_>>()
        });
        let replica = agent.ask(&Request::Prepare {
            snapshot,
            hash: wanted,
            chunks,
        });
        (replica, source.join().expect("the hashing thread does not panic"))
    });
    let mut replica_hashes: HashMap<Box<[u8]>, HashedOrNot> = HashMap::new();
    let prepared = match replica? {
        Reply::Prepared {
            version,
            hashes,
            chunks,
        } => {
            for result in hashes {
                match result {
                    HashResult::Hashed { entry, hash } => {
                        replica_hashes.insert(entry.key.clone(), Ok((hash, entry)));
                    }
                    HashResult::Failed { key, message } => {
                        replica_hashes.insert(key.into_vec().into_boxed_slice(), Err(message));
                    }
                }
            }
            Prepared {
                version,
                tables: chunks
                    .into_iter()
                    .map(|(key, sigs)| (key.into_vec().into_boxed_slice(), sigs))
                    .collect(),
            }
        }
        other => return Err(unexpected(&other).into()),
    };
    let mut cache = ManifestWriter::default();
    for (item, source) in compares.into_iter().zip(source) {
        let CompareItem {
            source: entry,
            replica,
            replica_hash,
            ..
        } = item;
        let replica = match replica_hash {
            Some(hash) => Ok((hash, replica)),
            None => replica_hashes
                .remove(&replica.key)
                .unwrap_or_else(|| Err("not hashed".into())),
        };
        match (source, replica) {
            (Ok((a, source)), Ok((b, replica))) if a == b => {
                cache.upserts.push((Side::Source, source.to_row(Some(a))));
                if !plan::same_metadata(&source, &replica) {
                    plan.metas.push(MetaItem { source, hash: Some(a) });
                }
            }
            (Ok(_), _) => plan.copies.push(CopyItem {
                key: entry.key.clone(),
                size: entry.size,
                changed_ns: entry.changed_ns(),
            }),
            (Err(FileError::Unstable { .. }), _) => plan.unstable.push(entry.key.clone()),
            (Err(e), _) => plan
                .errors
                .push((relative_from_key(&entry.key), format!("cannot read: {e}"))),
        }
    }
    plan.copies.sort_by(|a, b| a.key.cmp(&b.key));
    store.manifest_apply(&set.name, &cache)?;
    Ok(prepared)
}

/// A replica file's hash and entry, or why it could not be hashed.
type HashedOrNot = Result<(Hash, Entry), String>;

/// The agent's handling of versions when it applies a plan.
#[derive(Debug, Clone, Copy)]
struct VersionChoice {
    /// Keep a batch version of what the plan changes first.
    batch_version: bool,
    /// Prune on a thread of its own rather than while applying.
    prune_later: bool,
}

struct RemoteApplied {
    report: AppliedReport,
    bytes_copied: u64,
    send_errors: Vec<ItemError>,
}

/// Sends the plan and the file contents, and records the source side of
/// every file sent in the cache.
fn apply_remote<R: Read, W: Write>(
    store: &mut Store,
    set: &SyncSet,
    mut plan: Plan,
    agent: &mut Agent<R, W>,
    wire: &Wire,
    tables: &HashMap<Box<[u8]>, Vec<ChunkSig>>,
    versions: VersionChoice,
) -> Result<RemoteApplied, CompareFailure> {
    let forgotten = std::mem::take(&mut plan.forgotten);
    let deleted: Vec<Vec<u8>> = plan.deletes.iter().map(|e| e.key.to_vec()).collect();
    let copies: Vec<CopyItem> = std::mem::take(&mut plan.copies);
    let reused: Vec<crate::store::ManifestRow> = plan.reuses.iter().map(|r| r.source.to_row(Some(r.hash))).collect();
    let mut remote = remote_plan(set, plan, &copies);
    remote.batch_version = versions.batch_version;
    remote.prune_later = versions.prune_later;
    match agent.ask(&Request::Apply(Box::new(remote)))? {
        Reply::Accepted => {}
        other => return Err(unexpected(&other).into()),
    }
    agent.writer.set_limit(wire.bwlimit);
    let mut cache = ManifestWriter::default();
    let mut bytes_copied = 0;
    let mut send_errors = Vec::new();
    for item in &copies {
        let table = tables.get(&*item.key);
        match send_file(agent, set, item, table, wire.compress)? {
            Sent::Done { entry, hash } => {
                bytes_copied += entry.size;
                cache.upserts.push((Side::Source, entry.to_row(Some(hash))));
            }
            Sent::Failed(message) => send_errors.push(ItemError {
                path: display_key(&item.key),
                error: message,
            }),
            Sent::Unstable => {}
        }
    }
    agent.writer.set_limit(None);
    agent.writer.flush()?;
    let report = match agent.reader.receive::<Reply>()? {
        Reply::Applied(report) => report,
        Reply::Error(message) => return Err(AgentFailure::Refused(message).into()),
        other => return Err(unexpected(&other).into()),
    };
    for key in deleted {
        cache.deletes.push((Side::Source, key));
    }
    cache.upserts.extend(reused.into_iter().map(|row| (Side::Source, row)));
    cache
        .deletes
        .extend(forgotten.into_iter().filter(|(side, _)| *side == Side::Source));
    store.manifest_apply(&set.name, &cache)?;
    Ok(RemoteApplied {
        report,
        bytes_copied,
        send_errors,
    })
}

/// Keys of the large files that may be sent and whose older or partial
/// copy is on the peer. The agent reports which of their chunks it has.
fn chunk_keys(plan: &Plan, listing: &Listing) -> Vec<Key> {
    let on_peer = |key: &[u8]| listing.large_files.contains(key) || listing.partials.contains(&partial_relative(key));
    plan.copies
        .iter()
        .map(|c| (&c.key, c.size))
        .chain(plan.compares.iter().map(|c| (&c.source.key, c.source.size)))
        .filter(|(key, size)| *size >= DELTA_MIN && on_peer(key))
        .map(|(key, _)| Key::from(key.to_vec()))
        .collect()
}

/// Returns the path, relative to the replica, of the partial file of `key`.
fn partial_relative(key: &[u8]) -> PathBuf {
    crate::transport::agent::partial_path(std::path::Path::new(""), key)
}

fn remote_plan(set: &SyncSet, plan: Plan, copies: &[CopyItem]) -> RemotePlan {
    let key = |k: &[u8]| Key::from(k.to_vec());
    let source_dirs = needed_dirs(&plan, copies);
    let symlinks = plan
        .symlinks
        .into_iter()
        .filter_map(|(entry, _)| {
            let target = std::fs::read_link(set.source.join(relative_from_key(&entry.key))).ok()?;
            Some((entry, target))
        })
        .collect();
    RemotePlan {
        deletes: plan.deletes,
        mkdirs: plan.mkdirs,
        copies: copies.iter().map(|c| (key(&c.key), c.size)).collect(),
        reuses: plan.reuses,
        links: plan.links.into_iter().map(|l| (l.source, key(&l.leader))).collect(),
        symlinks,
        metas: plan.metas.into_iter().map(|m| (m.source, m.hash)).collect(),
        dir_metas: plan.dir_metas,
        source_dirs,
        linked_followers: plan.linked_followers.into_iter().map(|(k, v)| (key(&k), v)).collect(),
        stale_temps: plan.stale_temps,
        root: std::fs::symlink_metadata(&set.source)
            .ok()
            .map(|meta| Entry::from_metadata(Box::default(), &meta)),
        keep_versions: set.keep_versions,
        keep_batch_versions: set.keep_batch_versions,
        batch_version: false,
        prune_later: false,
    }
}

/// Returns the source folders whose metadata the agent may restore: the parents
/// of every entry the plan changes, and the folders whose own metadata
/// changes.
fn needed_dirs(plan: &Plan, copies: &[CopyItem]) -> Vec<Entry> {
    let changed = plan
        .deletes
        .iter()
        .chain(&plan.mkdirs)
        .map(|e| &*e.key)
        .chain(plan.links.iter().map(|l| &*l.source.key))
        .chain(plan.symlinks.iter().map(|(e, _)| &*e.key))
        .chain(plan.metas.iter().map(|m| &*m.source.key))
        .chain(plan.reuses.iter().map(|r| &*r.source.key))
        .chain(copies.iter().map(|c| &*c.key));
    let mut keys: HashSet<&[u8]> = changed.filter_map(super::entry::parent_key).collect();
    keys.extend(plan.dir_metas.iter().map(|e| &*e.key));
    keys.into_iter()
        .filter_map(|k| plan.source_dirs.get(k).cloned())
        .collect()
}

enum Sent {
    Done { entry: Entry, hash: Hash },
    Failed(String),
    Unstable,
}

/// Sends one file, trying again when it changes while read. Only a broken
/// connection is an error; a file that cannot be read is reported to the
/// agent and to the caller.
fn send_file<R: Read, W: Write>(
    agent: &mut Agent<R, W>,
    set: &SyncSet,
    item: &CopyItem,
    table: Option<&Vec<ChunkSig>>,
    compress: bool,
) -> Result<Sent, ProtocolError> {
    let path = set.source.join(relative_from_key(&item.key));
    for attempt in 0..READ_ATTEMPTS {
        agent.writer.send(&Part::Start {
            key: Key::from(item.key.to_vec()),
        })?;
        match send_body(agent, &path, table, compress)? {
            Ok(Some((entry, hash))) => {
                let entry = Entry {
                    key: item.key.clone(),
                    ..entry
                };
                agent.writer.send(&Part::End {
                    entry: entry.clone(),
                    hash,
                })?;
                return Ok(Sent::Done { entry, hash });
            }
            Ok(None) if attempt + 1 < READ_ATTEMPTS => agent.writer.send(&Part::Retry)?,
            Ok(None) => {
                agent.writer.send(&Part::Failed {
                    message: String::new(),
                    unstable: true,
                })?;
                return Ok(Sent::Unstable);
            }
            Err(e) => {
                let message = format!("cannot read: {e}");
                agent.writer.send(&Part::Failed {
                    message: message.clone(),
                    unstable: false,
                })?;
                return Ok(Sent::Failed(message));
            }
        }
    }
    unreachable!("the last attempt returns")
}

/// Sends the content of one file. The outer error is the connection's;
/// the inner one the file's; None when the file changed while read.
#[allow(clippy::type_complexity)]
fn send_body<R: Read, W: Write>(
    agent: &mut Agent<R, W>,
    path: &std::path::Path,
    table: Option<&Vec<ChunkSig>>,
    compress: bool,
) -> Result<Result<Option<(Entry, Hash)>, std::io::Error>, ProtocolError> {
    let file = match local::open_for_read(path) {
        Ok(file) => file,
        Err(e) => return Ok(Err(e)),
    };
    let before = match file.metadata() {
        Ok(meta) => meta,
        Err(e) => return Ok(Err(e)),
    };
    let hash = match table {
        Some(sigs) if !sigs.is_empty() => match send_chunks(agent, &file, sigs, compress)? {
            Ok(hash) => hash,
            Err(e) => return Ok(Err(e)),
        },
        _ => match send_stream(agent, &file, compress)? {
            Ok(hash) => hash,
            Err(e) => return Ok(Err(e)),
        },
    };
    let after = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) => return Ok(Err(e)),
    };
    if !local::same_content_stat(&before, &after) {
        return Ok(Ok(None));
    }
    Ok(Ok(Some((Entry::from_metadata(Box::default(), &after), hash))))
}

fn send_data<R: Read, W: Write>(agent: &mut Agent<R, W>, data: &[u8], compress: bool) -> Result<(), ProtocolError> {
    if compress && data.len() >= 512 {
        if let Ok(packed) = zstd::bulk::compress(data, 1) {
            if packed.len() < data.len() {
                return agent.writer.send(&Part::Zstd(serde_bytes::ByteBuf::from(packed)));
            }
        }
    }
    agent.writer.send_data(data)
}

fn send_stream<R: Read, W: Write>(
    agent: &mut Agent<R, W>,
    mut file: &std::fs::File,
    compress: bool,
) -> Result<Result<Hash, std::io::Error>, ProtocolError> {
    let mut buffer = vec![0u8; DATA_FRAME];
    let mut hasher = blake3::Hasher::new();
    loop {
        let n = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Ok(Err(e)),
        };
        hasher.update(&buffer[..n]);
        send_data(agent, &buffer[..n], compress)?;
    }
    Ok(Ok(*hasher.finalize().as_bytes()))
}

/// Sends a large file as references to the chunks the agent holds and
/// literal bytes for the rest. The file is read, not mapped: a source file
/// truncated by another process must not stop drkit with SIGBUS.
fn send_chunks<R: Read, W: Write>(
    agent: &mut Agent<R, W>,
    file: &std::fs::File,
    sigs: &[ChunkSig],
    compress: bool,
) -> Result<Result<Hash, std::io::Error>, ProtocolError> {
    let mut known: HashMap<Hash, u32> = HashMap::with_capacity(sigs.len());
    for (index, sig) in sigs.iter().enumerate() {
        known.entry(sig.hash).or_insert(index as u32);
    }
    let mut whole = blake3::Hasher::new();
    let mut reuse: Option<(u32, u32)> = None;
    let mut literal: Vec<u8> = Vec::new();
    for chunk in chunks::stream_chunks(file) {
        let (data, hash) = match chunk {
            Ok(chunk) => chunk,
            Err(e) => return Ok(Err(e)),
        };
        whole.update(&data);
        match known.get(&hash) {
            Some(&index) if sigs[index as usize].len as usize == data.len() => {
                if !literal.is_empty() {
                    send_data(agent, &literal, compress)?;
                    literal.clear();
                }
                reuse = match reuse {
                    Some((first, count)) if first + count == index => Some((first, count + 1)),
                    Some((first, count)) => {
                        agent.writer.send(&Part::Reuse { first, count })?;
                        Some((index, 1))
                    }
                    None => Some((index, 1)),
                };
            }
            _ => {
                if let Some((first, count)) = reuse.take() {
                    agent.writer.send(&Part::Reuse { first, count })?;
                }
                if !literal.is_empty() && literal.len() + data.len() > DATA_FRAME {
                    send_data(agent, &literal, compress)?;
                    literal.clear();
                }
                literal.extend_from_slice(&data);
            }
        }
    }
    if !literal.is_empty() {
        send_data(agent, &literal, compress)?;
    }
    if let Some((first, count)) = reuse {
        agent.writer.send(&Part::Reuse { first, count })?;
    }
    Ok(Ok(*whole.finalize().as_bytes()))
}

/// Re-hashes both sides of a set whose replica is on the peer: the agent
/// hashes its files while the primary hashes its own, then the two sorted
/// lists are compared entry by entry.
pub fn verify_remote<R: Read, W: Write>(
    store: &mut Store,
    set: &SyncSet,
    agent: &mut Agent<R, W>,
    wire: &Wire,
) -> Result<super::VerifyReport, SyncError> {
    let _lock = super::lock_set(store, &set.name)?;
    let clock = Instant::now();
    let peer_error = |step: &'static str| move |e: AgentFailure| wire.failure(set, step, e);
    if !set.source.is_dir() {
        return Err(SyncError::SourceMissing {
            set: set.name.clone(),
            path: set.source.clone(),
        });
    }
    let excludes = walk::Excludes::new(&set.exclude).map_err(|e| SyncError::Cache {
        set: set.name.clone(),
        message: format!("invalid exclude pattern: {e}"),
    })?;
    open_replica(agent, set).map_err(peer_error("open"))?;
    let (source, replica) = std::thread::scope(|scope| {
        let source = scope.spawn(|| hash_source(&set.source, &excludes));
        let replica = collect_verified(agent);
        (source.join().expect("the hashing thread does not panic"), replica)
    });
    let (replica, replica_errors) = replica.map_err(peer_error("verify"))?;
    let (source, source_errors) = source;
    let mut report = super::VerifyReport {
        set: set.name.clone(),
        files_checked: 0,
        bytes_hashed: 0,
        mismatched: Vec::new(),
        missing: Vec::new(),
        extra: Vec::new(),
        errors: source_errors,
        duration_ms: 0,
        finished_at: String::new(),
    };
    report
        .errors
        .extend(replica_errors.into_iter().map(|(path, error)| ItemError {
            path: format!("replica: {}", path.display()),
            error,
        }));
    let mut cache = ManifestWriter::default();
    let mut replica = replica
        .into_iter()
        .filter(|l| l.entry.kind != EntryKind::Special)
        .peekable();
    let mut source = source.into_iter().peekable();
    loop {
        let order = match (source.peek(), replica.peek()) {
            (None, None) => break,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(s), Some(r)) => s.entry.key.cmp(&r.entry.key),
        };
        match order {
            std::cmp::Ordering::Less => report
                .missing
                .push(display_key(&source.next().expect("peeked").entry.key)),
            std::cmp::Ordering::Greater => report
                .extra
                .push(display_key(&replica.next().expect("peeked").entry.key)),
            std::cmp::Ordering::Equal => {
                let (s, r) = (source.next().expect("peeked"), replica.next().expect("peeked"));
                let key = display_key(&s.entry.key);
                match (s.entry.kind, r.entry.kind) {
                    (EntryKind::File, EntryKind::File) => {
                        report.files_checked += 1;
                        report.bytes_hashed += s.entry.size + r.entry.size;
                        if s.hash.is_none() || s.hash != r.hash {
                            report.mismatched.push(key);
                        } else if !plan::same_metadata(&s.entry, &r.entry) {
                            report.mismatched.push(format!("{key} (owner, mode or mtime)"));
                        }
                        if let Some(hash) = s.hash {
                            cache.upserts.push((Side::Source, s.entry.to_row(Some(hash))));
                        }
                    }
                    (EntryKind::Dir, EntryKind::Dir) => {}
                    (EntryKind::Symlink, EntryKind::Symlink)
                        if s.link_target.is_some() && s.link_target == r.link_target => {}
                    _ => report.mismatched.push(key),
                }
            }
        }
    }
    store.manifest_apply(&set.name, &cache)?;
    report.mismatched.sort();
    report.duration_ms = clock.elapsed().as_millis() as u64;
    report.finished_at = crate::store::now_text();
    Ok(report)
}

/// Walks and hashes the source in parallel batches, in key order.
fn hash_source(root: &std::path::Path, excludes: &walk::Excludes) -> (Vec<Listed>, Vec<ItemError>) {
    let mut errors = Vec::new();
    let mut entries = Vec::new();
    for item in walk::walk(root, excludes, walk::Detail::Stat) {
        match item {
            WalkItem::Entry(entry) if entry.kind != EntryKind::Special => entries.push(entry),
            WalkItem::Error(path, message) => errors.push(ItemError {
                path: format!("source: {}", path.display()),
                error: message,
            }),
            _ => {}
        }
    }
    let listed: Vec<Result<Listed, ItemError>> = entries
        .into_par_iter()
        .map(|entry| {
            crate::transport::agent::verify_entry(root, entry).map_err(|(path, error)| ItemError {
                path: entry::escape_bytes(path.as_os_str().as_encoded_bytes()),
                error: format!("source: {error}"),
            })
        })
        .collect();
    let mut out = Vec::with_capacity(listed.len());
    for item in listed {
        match item {
            Ok(listed) => out.push(listed),
            Err(e) => errors.push(e),
        }
    }
    (out, errors)
}

#[allow(clippy::type_complexity)]
fn collect_verified<R: Read, W: Write>(
    agent: &mut Agent<R, W>,
) -> Result<(Vec<Listed>, Vec<(PathBuf, String)>), AgentFailure> {
    let mut all = Vec::new();
    let mut reply = agent.ask(&Request::Verify)?;
    loop {
        match reply {
            Reply::Verified(batch) => all.extend(batch),
            Reply::VerifiedEnd { errors } => return Ok((all, errors)),
            Reply::Error(message) => return Err(AgentFailure::Refused(message)),
            other => return Err(unexpected(&other)),
        }
        reply = agent.reader.receive::<Reply>()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MaxDelete;

    #[test]
    fn table_is_complete() {
        crate::i18n::check_table(TEXTS).unwrap();
    }
    use crate::transport::agent::{serve, AgentOptions};
    use std::os::unix::fs::MetadataExt;
    use std::path::Path;

    /// Runs a real agent on a thread, joined to the primary by two pipes.
    fn with_agent<T>(
        root: &Path,
        state: &Path,
        f: impl FnOnce(&mut Agent<std::io::PipeReader, std::io::PipeWriter>) -> T,
    ) -> T {
        let (from_primary, to_agent) = std::io::pipe().unwrap();
        let (from_agent, to_primary) = std::io::pipe().unwrap();
        let options = AgentOptions {
            root: root.to_path_buf(),
            state: state.to_path_buf(),
        };
        let server = std::thread::spawn(move || serve(&options, from_primary, to_primary));
        let mut agent = Agent::handshake(from_agent, to_agent, Lang::En).unwrap();
        let result = f(&mut agent);
        agent.bye();
        server.join().unwrap().unwrap();
        result
    }

    fn set(dir: &Path) -> SyncSet {
        SyncSet {
            name: "www".into(),
            source: dir.join("src"),
            target: dir.join("peer/www"),
            exclude: Vec::new(),
            max_delete: MaxDelete::Percent(50.0),
            keep_versions: 2,
            keep_batch_versions: 0,
            versions_dir: dir.join("peer/.drkit-versions/www"),
            peer: Some("secondary".into()),
            compress: false,
            bwlimit: None,
        }
    }

    fn noise(len: usize, seed: u64) -> Vec<u8> {
        let mut state = seed;
        (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 33) as u8
            })
            .collect()
    }

    #[test]
    fn large_file_edit_sends_about_the_changed_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let set = set(dir.path());
        std::fs::create_dir_all(set.source.join("sub")).unwrap();
        std::fs::create_dir_all(dir.path().join("peer")).unwrap();
        std::fs::write(set.source.join("sub/a.txt"), b"hello").unwrap();
        std::os::unix::fs::symlink("/etc/hostname", set.source.join("link")).unwrap();
        let big = noise(8 << 20, 5);
        std::fs::write(set.source.join("dump.sql"), &big).unwrap();
        std::fs::hard_link(set.source.join("sub/a.txt"), set.source.join("b.txt")).unwrap();
        let mut store = Store::open(&dir.path().join("data")).unwrap();
        let wire = Wire::default();
        let root = dir.path().join("peer");
        let state = dir.path().join("state");

        let first = with_agent(&root, &state, |agent| {
            sync_remote(&mut store, &set, &SyncOptions::default(), agent, &wire).unwrap()
        });
        assert!(first.errors.is_empty(), "{:?}", first.errors);
        assert_eq!(std::fs::read(set.target.join("dump.sql")).unwrap(), big);
        assert_eq!(
            std::fs::read_link(set.target.join("link")).unwrap(),
            Path::new("/etc/hostname")
        );
        let a = std::fs::metadata(set.target.join("sub/a.txt")).unwrap();
        let b = std::fs::metadata(set.target.join("b.txt")).unwrap();
        assert_eq!(a.ino(), b.ino(), "hard links stay one inode");

        let mut edited = big.clone();
        edited.splice(4 << 20..4 << 20, b"INSERTED IN THE MIDDLE".iter().copied());
        std::fs::write(set.source.join("dump.sql"), &edited).unwrap();
        let second = with_agent(&root, &state, |agent| {
            sync_remote(&mut store, &set, &SyncOptions::default(), agent, &wire).unwrap()
        });
        assert!(second.errors.is_empty(), "{:?}", second.errors);
        assert_eq!(std::fs::read(set.target.join("dump.sql")).unwrap(), edited);
        let sent = second.bytes_sent.unwrap();
        assert!(sent < 400 << 10, "sent {sent} bytes for a 22-byte insertion in 8 MiB");
        assert!(second.version_created.is_some());

        // The same size and a new mtime: a compare that turns into a chunked
        // copy, with the version kept only after the compare.
        let mut rewritten = edited.clone();
        rewritten[1 << 20..(1 << 20) + 4096].copy_from_slice(&noise(4096, 9));
        std::fs::write(set.source.join("dump.sql"), &rewritten).unwrap();
        let in_place = with_agent(&root, &state, |agent| {
            sync_remote(&mut store, &set, &SyncOptions::default(), agent, &wire).unwrap()
        });
        assert!(in_place.errors.is_empty(), "{:?}", in_place.errors);
        assert_eq!(std::fs::read(set.target.join("dump.sql")).unwrap(), rewritten);
        let sent = in_place.bytes_sent.unwrap();
        assert!(sent < 400 << 10, "sent {sent} bytes for a 4 KiB edit in 8 MiB");
        assert!(in_place.version_created.is_some());

        let third = with_agent(&root, &state, |agent| {
            sync_remote(&mut store, &set, &SyncOptions::default(), agent, &wire).unwrap()
        });
        assert_eq!(third.files_changed, 0);
        assert!(third.version_created.is_none());

        let clean = with_agent(&root, &state, |agent| {
            verify_remote(&mut store, &set, agent, &wire).unwrap()
        });
        assert!(clean.is_ok(), "{clean:?}");
        // Bit rot on the peer: same size and mtime, other bytes.
        let rotten = set.target.join("sub/a.txt");
        let meta = std::fs::metadata(&rotten).unwrap();
        std::fs::write(&rotten, b"HELLO").unwrap();
        let mtime =
            std::time::SystemTime::UNIX_EPOCH + std::time::Duration::new(meta.mtime() as u64, meta.mtime_nsec() as u32);
        std::fs::File::options()
            .write(true)
            .open(&rotten)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        let found = with_agent(&root, &state, |agent| {
            verify_remote(&mut store, &set, agent, &wire).unwrap()
        });
        assert!(found.mismatched.iter().any(|p| p.starts_with("sub/a.txt")), "{found:?}");
        let repaired = with_agent(&root, &state, |agent| {
            sync_remote(&mut store, &set, &SyncOptions::default(), agent, &wire).unwrap()
        });
        assert!(repaired.files_changed >= 1);
        assert_eq!(std::fs::read(&rotten).unwrap(), b"hello");
    }
}
