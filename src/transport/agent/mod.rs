//! `drkit agent`: the replica side of a sync over SSH.
//!
//! The primary starts the agent on the peer over an SSH exec channel and
//! speaks the framed protocol of `transport::protocol` on its stdin and
//! stdout. The agent walks and hashes the replica, keeps its own manifest
//! cache in its state folder, keeps versions, and applies plans with the
//! same code as a local sync, so every replication rule holds on the peer.
//! Every path it is given is checked against its root first (see `confine`).

mod confine;
mod texts;
mod wire;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::i18n::Lang;
use crate::store::{ManifestReader, ManifestWriter, Side, Store};
use crate::sync::entry::{relative_from_key, Entry, EntryKind};
use crate::sync::plan::{CopyItem, LinkItem, MetaItem, Plan};
use crate::sync::walk::{self, WalkItem};
use crate::sync::{apply, versions};
use crate::transport::local;
use crate::transport::protocol::{
    AppliedReport, FrameReader, FrameWriter, HashResult, Key, Listed, ProtocolError, RemotePlan, Reply, Request,
    PROTOCOL_VERSION,
};
pub use confine::Jail;
pub use wire::partial_path;

/// The folders the agent works in and keeps its state in.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// Every replica and versions folder must lie inside this folder.
    pub root: PathBuf,
    /// The agent's own SQLite database and locks.
    pub state: PathBuf,
}

/// Failure that ends an agent session.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("{0}")]
    Protocol(#[from] ProtocolError),
    #[error("{0}")]
    Refused(String),
}

/// One replica opened by the primary.
struct OpenSet {
    target: PathBuf,
    versions_dir: PathBuf,
    excludes: walk::Excludes,
    /// Name of the replica's rows in the agent's manifest cache.
    cache_name: String,
    _lock: nix::fcntl::Flock<std::fs::File>,
    /// Chunk tables returned by `Prepare` requests, by key. The next apply takes them.
    chunks: HashMap<Box<[u8]>, wire::ChunkTable>,
}

struct Session {
    jail: Jail,
    state: PathBuf,
    lang: Lang,
    store: Option<Store>,
    open: Option<OpenSet>,
}

/// Serves one primary on `input`/`output` until it sends `Bye` or the
/// connection ends.
pub fn serve(options: &AgentOptions, input: impl Read, output: impl Write) -> Result<(), AgentError> {
    let mut reader = FrameReader::new(input);
    let mut writer = FrameWriter::new(output);
    let lang = match reader.receive::<Request>()? {
        Request::Hello { version, lang } => {
            let lang = Lang::from_code(&lang).unwrap_or_default();
            if version != PROTOCOL_VERSION {
                let message = texts::format(
                    lang,
                    "version_mismatch",
                    &[("agent", &PROTOCOL_VERSION), ("primary", &version)],
                );
                writer.send(&Reply::Error(message.clone()))?;
                writer.flush()?;
                return Err(AgentError::Refused(message));
            }
            lang
        }
        _ => return Err(AgentError::Refused("the first message must be Hello".into())),
    };
    let jail = match Jail::new(&options.root) {
        Ok(jail) => jail,
        Err(e) => {
            let message = e.message(lang);
            writer.send(&Reply::Error(message.clone()))?;
            writer.flush()?;
            return Err(AgentError::Refused(message));
        }
    };
    writer.send(&Reply::Hello {
        version: PROTOCOL_VERSION,
        release: env!("CARGO_PKG_VERSION").to_string(),
    })?;
    writer.flush()?;
    let mut session = Session {
        jail,
        state: options.state.clone(),
        lang,
        store: None,
        open: None,
    };
    loop {
        let request = match reader.receive::<Request>() {
            Ok(request) => request,
            Err(ProtocolError::Closed) => {
                versions::wait_for_pruning();
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        match request {
            Request::Bye => {
                versions::wait_for_pruning();
                return Ok(());
            }
            Request::Hello { .. } => session.refuse(&mut writer, "hello_twice", &[])?,
            Request::Open {
                set,
                target,
                versions_dir,
                excludes,
            } => session.open(&mut writer, &set, &target, &versions_dir, &excludes)?,
            Request::List => session.list(&mut writer, None)?,
            Request::ListScope(scope) => session.list(&mut writer, Some(scope))?,
            Request::Close => {
                session.open = None;
                continue;
            }
            Request::Prepare { snapshot, hash, chunks } => session.prepare(&mut writer, snapshot, hash, chunks)?,
            Request::Apply(plan) => session.apply(&mut reader, &mut writer, *plan)?,
            Request::Verify => session.verify(&mut writer)?,
        }
        writer.flush()?;
    }
}

type Writer<'a, W> = &'a mut FrameWriter<W>;

impl Session {
    fn refuse<W: Write>(
        &self,
        writer: Writer<W>,
        key: &str,
        args: &[(&str, &dyn std::fmt::Display)],
    ) -> Result<(), ProtocolError> {
        writer.send(&Reply::Error(texts::format(self.lang, key, args)))
    }

    /// Writes changes to the open replica's cache rows. A failure only costs
    /// hashing again next time, so it is logged and the request goes on.
    fn update_cache(&mut self, changes: &ManifestWriter) {
        let (Some(open), Some(store)) = (&self.open, self.store.as_mut()) else {
            return;
        };
        if let Err(e) = store.manifest_apply(&open.cache_name, changes) {
            tracing::warn!(error = %e, target = %open.target.display(), "failed to update the agent's cache");
        }
    }

    fn store(&mut self) -> Result<&mut Store, String> {
        if self.store.is_none() {
            let store = Store::open(&self.state).map_err(|e| {
                texts::format(
                    self.lang,
                    "state_unusable",
                    &[("path", &self.state.display()), ("error", &e)],
                )
            })?;
            self.store = Some(store);
        }
        Ok(self.store.as_mut().expect("opened above"))
    }

    fn open<W: Write>(
        &mut self,
        writer: Writer<W>,
        set: &str,
        target: &Path,
        versions_dir: &Path,
        excludes: &[String],
    ) -> Result<(), ProtocolError> {
        self.open = None;
        for path in [target, versions_dir] {
            if let Err(e) = self.jail.check_path(path) {
                return writer.send(&Reply::Error(e.message(self.lang)));
            }
        }
        if target.starts_with(versions_dir) || versions_dir.starts_with(target) {
            return self.refuse(writer, "versions_inside_target", &[("path", &versions_dir.display())]);
        }
        let excludes = match walk::Excludes::new(excludes) {
            Ok(excludes) => excludes,
            Err(e) => return self.refuse(writer, "bad_exclude", &[("error", &e)]),
        };
        if let Err(e) = std::fs::create_dir_all(target) {
            return self.refuse(writer, "cannot_create", &[("path", &target.display()), ("error", &e)]);
        }
        let cache_name = format!("peer:{}", target.display());
        let lock = match self.lock(&cache_name) {
            Ok(lock) => lock,
            Err(message) => return writer.send(&Reply::Error(message)),
        };
        if let Err(message) = self.store() {
            return writer.send(&Reply::Error(message));
        }
        tracing::info!(set, target = %target.display(), "replica opened");
        let versions = versions::list(versions_dir).len() as u32;
        self.open = Some(OpenSet {
            target: target.to_path_buf(),
            versions_dir: versions_dir.to_path_buf(),
            excludes,
            cache_name,
            _lock: lock,
            chunks: HashMap::new(),
        });
        writer.send(&Reply::Opened { versions })
    }

    /// Takes the replica's lock, so two primaries never write one replica at once.
    fn lock(&self, cache_name: &str) -> Result<nix::fcntl::Flock<std::fs::File>, String> {
        use nix::fcntl::{Flock, FlockArg};
        let dir = self.state.join("locks");
        let fail = |e: &dyn std::fmt::Display| {
            texts::format(self.lang, "state_unusable", &[("path", &dir.display()), ("error", e)])
        };
        crate::store::create_private_dir(&dir).map_err(|e| fail(&e))?;
        let name = blake3::hash(cache_name.as_bytes()).to_hex();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(format!("{}.lock", &name[..16])))
            .map_err(|e| fail(&e))?;
        Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, errno)| fail(&errno))
    }

    /// Streams the replica's entries (all, or those in `scope`) with the
    /// hashes its cache still vouches for, and drops cache rows of entries
    /// that are gone.
    fn list<W: Write>(&mut self, writer: Writer<W>, scope: Option<Vec<walk::Scoped>>) -> Result<(), ProtocolError> {
        let lang = self.lang;
        let Some(open) = &self.open else {
            return self.refuse(writer, "not_open", &[]);
        };
        let store = self.store.as_ref().expect("opened with the set");
        let (items, rows): (
            Box<dyn Iterator<Item = WalkItem>>,
            Box<dyn Iterator<Item = crate::store::ManifestRow>>,
        ) = match &scope {
            None => (
                Box::new(walk::walk_in_background(
                    open.target.clone(),
                    open.excludes.clone(),
                    walk::Detail::Stat,
                )),
                Box::new(ManifestReader::open(store.path(), &open.cache_name, Side::Replica)),
            ),
            Some(scope) => {
                if let Err(e) = scope.iter().try_for_each(|part| confine::check_key_form(&part.key)) {
                    return writer.send(&Reply::Error(e.message(lang)));
                }
                let rows = match store.manifest_rows_in(&open.cache_name, Side::Replica, scope) {
                    Ok(rows) => rows,
                    Err(e) => return writer.send(&Reply::Error(e.to_string())),
                };
                (
                    Box::new(walk::walk_scope(&open.target, scope, &open.excludes, walk::Detail::Stat).into_iter()),
                    Box::new(rows.into_iter()),
                )
            }
        };
        let mut cache = rows.peekable();
        let mut gone = ManifestWriter::default();
        let mut stale_temps = Vec::new();
        let mut errors = Vec::new();
        let mut batch = Vec::with_capacity(1024);
        for item in items {
            let entry = match item {
                WalkItem::Entry(entry) => entry,
                WalkItem::StaleTemp(path) => {
                    stale_temps.push(path);
                    continue;
                }
                WalkItem::Error(path, message) => {
                    errors.push((path, message));
                    continue;
                }
            };
            let mut hash = None;
            while let Some(row) = cache.peek() {
                match row.key.as_slice().cmp(&entry.key) {
                    std::cmp::Ordering::Less => {
                        let row = cache.next().expect("peeked");
                        gone.deletes.push((Side::Replica, row.key));
                    }
                    std::cmp::Ordering::Equal => {
                        let row = cache.next().expect("peeked");
                        if entry.matches_replica_cache(&row) {
                            hash = row.hash;
                        }
                        break;
                    }
                    std::cmp::Ordering::Greater => break,
                }
            }
            let link_target = (entry.kind == EntryKind::Symlink)
                .then(|| std::fs::read_link(open.target.join(relative_from_key(&entry.key))).ok())
                .flatten();
            batch.push(Listed {
                entry,
                hash,
                link_target,
            });
            if batch.len() == 1024 {
                writer.send(&Reply::Listing(std::mem::take(&mut batch)))?;
            }
        }
        gone.deletes.extend(cache.map(|row| (Side::Replica, row.key)));
        if !batch.is_empty() {
            writer.send(&Reply::Listing(batch))?;
        }
        let root = std::fs::symlink_metadata(&open.target)
            .ok()
            .map(|meta| Entry::from_metadata(Box::default(), &meta));
        self.update_cache(&gone);
        writer.send(&Reply::ListingEnd {
            stale_temps,
            errors,
            root,
        })
    }

    /// Everything the primary needs before it sends files, done at once:
    /// the version (on its own thread), the hashes of the replica files it
    /// compares, and the chunk tables of the large files it will send.
    fn prepare<W: Write>(
        &mut self,
        writer: Writer<W>,
        snapshot: bool,
        hash: Vec<Key>,
        chunks: Vec<Key>,
    ) -> Result<(), ProtocolError> {
        let lang = self.lang;
        let Some(open) = self.open.as_mut() else {
            return self.refuse(writer, "not_open", &[]);
        };
        let target = open.target.clone();
        let keys = || hash.iter().chain(&chunks).map(|k| k.as_slice());
        let checked =
            confine::check_keys(&target, keys(), &[]).and_then(|()| confine::check_leaves_are_files(&target, keys()));
        if let Err(e) = checked {
            return writer.send(&Reply::Error(e.message(lang)));
        }
        let versions_dir = open.versions_dir.clone();
        let clock = std::time::Instant::now();
        let (version, hashes, tables) = std::thread::scope(|scope| {
            let (target, versions_dir, clock) = (&target, &versions_dir, &clock);
            let version = snapshot.then(|| {
                scope.spawn(move || {
                    let version = versions::snapshot(target, versions_dir);
                    tracing::debug!(elapsed_ms = clock.elapsed().as_millis() as u64, "version kept");
                    version
                })
            });
            let hashes: Vec<HashResult> = hash.into_par_iter().map(|key| hash_one(target, key)).collect();
            let tables: Vec<(Key, wire::ChunkTable)> = chunks
                .into_par_iter()
                .map(|key| {
                    let table = wire::ChunkTable::read(target, &key);
                    (key, table)
                })
                .collect();
            tracing::debug!(
                elapsed_ms = clock.elapsed().as_millis() as u64,
                "hashes and chunk tables ready"
            );
            let version = version.map(|thread| thread.join().expect("the version thread does not panic"));
            (version, hashes, tables)
        });
        let version = match version.transpose() {
            Ok(version) => version.map(|v| v.name),
            Err(e) => return writer.send(&Reply::Error(e.to_string())),
        };
        let mut cache = ManifestWriter::default();
        for result in &hashes {
            if let HashResult::Hashed { entry, hash } = result {
                cache.upserts.push((Side::Replica, entry.to_row(Some(*hash))));
            }
        }
        // Tables of an earlier request stay: a second request that only
        // keeps a version must not drop them before the files arrive.
        let mut sigs = Vec::with_capacity(tables.len());
        for (key, table) in tables {
            sigs.push((key.clone(), table.sigs()));
            open.chunks.insert(key.into_vec().into_boxed_slice(), table);
        }
        self.update_cache(&cache);
        writer.send(&Reply::Prepared {
            version,
            hashes,
            chunks: sigs,
        })
    }

    fn apply<R: Read, W: Write>(
        &mut self,
        reader: &mut FrameReader<R>,
        writer: Writer<W>,
        remote: RemotePlan,
    ) -> Result<(), AgentError> {
        let lang = self.lang;
        let Some(open) = self.open.as_mut() else {
            self.refuse(writer, "not_open", &[])?;
            return Ok(());
        };
        if let Err(e) = confine::check_plan(&open.target, &remote) {
            writer.send(&Reply::Error(e.message(lang)))?;
            return Ok(());
        }
        let keep = versions::Retention {
            full: remote.keep_versions as usize,
            batch: remote.keep_batch_versions as usize,
        };
        let root = remote.root.clone();
        let batch_version = remote.batch_version;
        let prune_later = remote.prune_later;
        let (plan, link_targets) = into_plan(remote);
        let mut report = AppliedReport::default();
        if batch_version {
            // Before `Accepted`: when no version can be kept, the request
            // fails as a whole and the replica stays as it was.
            match crate::sync::keep_batch_version(&open.target, &open.versions_dir, &plan) {
                Ok(version) => report.version = Some(version.name),
                Err(e) => {
                    writer.send(&Reply::Error(e.to_string()))?;
                    return Ok(());
                }
            }
        }
        writer.send(&Reply::Accepted)?;
        writer.flush()?;
        let mut source = wire::WireSource::new(reader, std::mem::take(&mut open.chunks), link_targets, root, lang);
        let store = self.store.as_mut().expect("opened with the set");
        let (applied, pruned) = std::thread::scope(|scope| {
            let versions_dir = &open.versions_dir;
            let pruning = (!prune_later).then(|| scope.spawn(move || versions::prune_with(versions_dir, keep)));
            let mut roots = apply::Roots {
                source: &mut source,
                replica: &open.target,
            };
            let applied = apply::apply(store, &open.cache_name, &mut roots, plan);
            let pruned = match pruning {
                Some(pruning) => pruning.join().expect("the prune thread does not panic"),
                None => {
                    versions::prune_later(versions_dir.clone(), keep);
                    Ok(Vec::new())
                }
            };
            (applied, pruned)
        });
        if let Some(e) = source.take_fatal() {
            return Err(e.into());
        }
        match applied {
            Ok(applied) => {
                report.files_changed = applied.files_changed;
                report.files_deleted = applied.files_deleted;
                report.unstable = applied.unstable;
                report.errors = applied.errors;
            }
            Err(e) => report.errors.push((open.target.display().to_string(), e.to_string())),
        }
        match pruned {
            Ok(deleted) => report.pruned = deleted,
            Err(e) => report.errors.push((
                open.versions_dir.display().to_string(),
                texts::format(lang, "cannot_prune", &[("error", &e)]),
            )),
        }
        report.versions_kept = versions::list(&open.versions_dir).len() as u32;
        writer.send(&Reply::Applied(report))?;
        Ok(())
    }

    /// Hashes every file of the replica in parallel batches, in key order.
    fn verify<W: Write>(&mut self, writer: Writer<W>) -> Result<(), ProtocolError> {
        let Some(open) = &self.open else {
            return self.refuse(writer, "not_open", &[]);
        };
        const BATCH: usize = 4096;
        let mut errors = Vec::new();
        let mut pending: Vec<Entry> = Vec::with_capacity(BATCH);
        let mut cache = ManifestWriter::default();
        let target = open.target.clone();
        let flush = |pending: &mut Vec<Entry>,
                     writer: &mut FrameWriter<W>,
                     cache: &mut ManifestWriter,
                     errors: &mut Vec<(PathBuf, String)>|
         -> Result<(), ProtocolError> {
            let listed: Vec<Result<Listed, (PathBuf, String)>> = std::mem::take(pending)
                .into_par_iter()
                .map(|entry| verify_entry(&target, entry))
                .collect();
            let mut batch = Vec::with_capacity(listed.len());
            for item in listed {
                match item {
                    Ok(listed) => {
                        if let Some(hash) = listed.hash {
                            cache.upserts.push((Side::Replica, listed.entry.to_row(Some(hash))));
                        }
                        batch.push(listed);
                    }
                    Err(error) => errors.push(error),
                }
            }
            writer.send(&Reply::Verified(batch))
        };
        for item in walk::walk(&open.target, &open.excludes, walk::Detail::Stat) {
            match item {
                WalkItem::Entry(entry) => pending.push(entry),
                WalkItem::StaleTemp(_) => {}
                WalkItem::Error(path, message) => errors.push((path, message)),
            }
            if pending.len() == BATCH {
                flush(&mut pending, writer, &mut cache, &mut errors)?;
            }
        }
        flush(&mut pending, writer, &mut cache, &mut errors)?;
        self.update_cache(&cache);
        writer.send(&Reply::VerifiedEnd { errors })
    }
}

fn hash_one(target: &Path, key: Key) -> HashResult {
    match local::hash_file(&target.join(relative_from_key(&key))) {
        Ok((hash, meta)) => HashResult::Hashed {
            entry: Entry::from_metadata(key.into_vec().into_boxed_slice(), &meta),
            hash,
        },
        Err(e) => HashResult::Failed {
            key,
            message: e.to_string(),
        },
    }
}

/// Hashes a file, or reads a symlink's target, for a verify; the error
/// names the entry's path relative to `root`.
pub fn verify_entry(root: &Path, entry: Entry) -> Result<Listed, (PathBuf, String)> {
    let relative = relative_from_key(&entry.key);
    let path = root.join(&relative);
    match entry.kind {
        EntryKind::File => match local::hash_file(&path) {
            Ok((hash, meta)) => Ok(Listed {
                entry: Entry::from_metadata(entry.key, &meta),
                hash: Some(hash),
                link_target: None,
            }),
            Err(e) => Err((relative, e.to_string())),
        },
        EntryKind::Symlink => Ok(Listed {
            link_target: std::fs::read_link(&path).ok(),
            entry,
            hash: None,
        }),
        _ => Ok(Listed {
            entry,
            hash: None,
            link_target: None,
        }),
    }
}

/// Turns the primary's plan into the plan the local apply code runs, and
/// the targets of the symlinks it creates.
fn into_plan(remote: RemotePlan) -> (Plan, HashMap<Box<[u8]>, PathBuf>) {
    let mut plan = Plan {
        deletes: remote.deletes,
        mkdirs: remote.mkdirs,
        dir_metas: remote.dir_metas,
        stale_temps: remote.stale_temps,
        reuses: remote.reuses,
        ..Plan::default()
    };
    plan.copies = remote
        .copies
        .into_iter()
        .map(|(key, size)| CopyItem {
            key: key.into_vec().into_boxed_slice(),
            size,
            // Only the primary records when changes were made.
            changed_ns: 0,
        })
        .collect();
    plan.links = remote
        .links
        .into_iter()
        .map(|(source, leader)| LinkItem {
            source,
            leader: leader.into_vec().into_boxed_slice(),
        })
        .collect();
    let mut link_targets = HashMap::with_capacity(remote.symlinks.len());
    for (entry, target) in remote.symlinks {
        link_targets.insert(entry.key.clone(), target);
        plan.symlinks.push((entry, None));
    }
    plan.metas = remote
        .metas
        .into_iter()
        .map(|(source, hash)| MetaItem { source, hash })
        .collect();
    plan.source_dirs = remote.source_dirs.into_iter().map(|e| (e.key.clone(), e)).collect();
    plan.linked_followers = remote
        .linked_followers
        .into_iter()
        .map(|(k, v)| (k.into_vec().into_boxed_slice(), v))
        .collect();
    (plan, link_targets)
}

#[cfg(test)]
mod tests {
    //! A test client that speaks the protocol to a real agent over pipes and
    //! sends it paths that try to leave its root.

    use super::*;
    use crate::transport::protocol::{Part, RemotePlan};
    use serde_bytes::ByteBuf;

    struct Client {
        reader: FrameReader<std::io::PipeReader>,
        writer: FrameWriter<std::io::PipeWriter>,
        server: Option<std::thread::JoinHandle<Result<(), AgentError>>>,
    }

    impl Client {
        fn start(root: &Path, state: &Path, version: u32) -> (Client, Reply) {
            let (from_client, to_agent) = std::io::pipe().unwrap();
            let (from_agent, to_client) = std::io::pipe().unwrap();
            let options = AgentOptions {
                root: root.to_path_buf(),
                state: state.to_path_buf(),
            };
            let server = std::thread::spawn(move || serve(&options, from_client, to_client));
            let mut client = Client {
                reader: FrameReader::new(from_agent),
                writer: FrameWriter::new(to_agent),
                server: Some(server),
            };
            let hello = client.ask(&Request::Hello {
                version,
                lang: "en".into(),
            });
            (client, hello)
        }

        fn ask(&mut self, request: &Request) -> Reply {
            self.writer.send(request).unwrap();
            self.writer.flush().unwrap();
            self.reader.receive().unwrap()
        }

        fn open(&mut self, target: &Path, versions: &Path) -> Reply {
            self.ask(&Request::Open {
                set: "www".into(),
                target: target.to_path_buf(),
                versions_dir: versions.to_path_buf(),
                excludes: Vec::new(),
            })
        }

        fn finish(mut self) {
            self.writer.send(&Request::Bye).unwrap();
            self.writer.flush().unwrap();
            let _ = self.server.take().unwrap().join().unwrap();
        }
    }

    fn refused(reply: &Reply, needle: &str) {
        match reply {
            Reply::Error(message) => assert!(message.contains(needle), "{message}"),
            other => panic!("expected a refusal mentioning {needle:?}, got {other:?}"),
        }
    }

    fn key(text: &str) -> Key {
        ByteBuf::from(text.replace('/', "\0").into_bytes())
    }

    fn file_entry(name: &str) -> Entry {
        let meta = std::fs::metadata("/etc/hostname").unwrap();
        Entry::from_metadata(key(name).into_vec().into_boxed_slice(), &meta)
    }

    #[test]
    fn protocol_version_mismatch_names_both_versions() {
        let dir = tempfile::tempdir().unwrap();
        let (client, hello) = Client::start(dir.path(), &dir.path().join("state"), PROTOCOL_VERSION + 1);
        refused(&hello, &format!("version {PROTOCOL_VERSION}"));
        refused(&hello, &format!("version {}", PROTOCOL_VERSION + 1));
        let _ = client.server.unwrap().join().unwrap();
    }

    #[test]
    fn symlinked_root_rejected() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("real")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("real"), dir.path().join("alias")).unwrap();
        let (client, hello) = Client::start(&dir.path().join("alias"), &dir.path().join("state"), PROTOCOL_VERSION);
        refused(&hello, "symlink");
        let _ = client.server.unwrap().join().unwrap();
    }

    #[test]
    fn replica_folders_outside_the_root_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("real")).unwrap();
        std::os::unix::fs::symlink(dir.path(), root.join("escape")).unwrap();
        let (mut client, hello) = Client::start(&root, &dir.path().join("state"), PROTOCOL_VERSION);
        assert!(matches!(hello, Reply::Hello { .. }));
        let versions = root.join(".versions");
        refused(&client.open(Path::new("/etc"), &versions), "outside");
        refused(&client.open(&root.join("real/../../x"), &versions), "\"..\"");
        refused(&client.open(Path::new("relative/www"), &versions), "absolute");
        refused(&client.open(&root.join("escape/www"), &versions), "symlink");
        refused(&client.open(&root.join("real/www"), Path::new("/tmp/v")), "outside");
        assert!(!dir.path().join("www").exists());
        client.finish();
    }

    #[test]
    fn escaping_keys_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let target = root.join("www");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&target).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("secret"), b"secret").unwrap();
        std::os::unix::fs::symlink(&outside, target.join("door")).unwrap();
        std::os::unix::fs::symlink(outside.join("secret"), target.join("pointer")).unwrap();
        let (mut client, _) = Client::start(&root, &dir.path().join("state"), PROTOCOL_VERSION);
        assert!(matches!(
            client.open(&target, &root.join(".versions/www")),
            Reply::Opened { .. }
        ));

        let prepare = |hash: &str, chunks: &str| Request::Prepare {
            snapshot: true,
            hash: [hash].iter().filter(|k| !k.is_empty()).map(|k| key(k)).collect(),
            chunks: [chunks].iter().filter(|k| !k.is_empty()).map(|k| key(k)).collect(),
        };
        for bad in ["../outside/secret", "door/secret", "a//b", "/etc/passwd"] {
            refused(&client.ask(&prepare(bad, "")), "refused");
            refused(&client.ask(&prepare("", bad)), "refused");
        }
        refused(&client.ask(&prepare("pointer", "")), "not a regular file");
        assert!(!root.join(".versions").exists(), "a refused request keeps no version");

        let copy_through_door = RemotePlan {
            copies: vec![(key("door/planted"), 5)],
            ..RemotePlan::default()
        };
        refused(&client.ask(&Request::Apply(Box::new(copy_through_door))), "door");
        let link_leaving = RemotePlan {
            links: vec![(file_entry("inside"), key("../outside/secret"))],
            ..RemotePlan::default()
        };
        refused(&client.ask(&Request::Apply(Box::new(link_leaving))), "refused");
        let chmod_through_symlink = RemotePlan {
            metas: vec![(file_entry("pointer"), None)],
            ..RemotePlan::default()
        };
        refused(&client.ask(&Request::Apply(Box::new(chmod_through_symlink))), "pointer");
        let stale_outside = RemotePlan {
            stale_temps: vec![PathBuf::from("../outside/secret")],
            ..RemotePlan::default()
        };
        refused(&client.ask(&Request::Apply(Box::new(stale_outside))), "refused");

        // After the refusals the session still works: a plain file arrives.
        let good = RemotePlan {
            copies: vec![(key("ok.txt"), 2)],
            ..RemotePlan::default()
        };
        assert!(matches!(client.ask(&Request::Apply(Box::new(good))), Reply::Accepted));
        client.writer.send(&Part::Start { key: key("ok.txt") }).unwrap();
        client.writer.send(&Part::Data(ByteBuf::from(b"ok".to_vec()))).unwrap();
        let entry = file_entry("ok.txt");
        let hash = *blake3::hash(b"ok").as_bytes();
        client.writer.send(&Part::End { entry, hash }).unwrap();
        client.writer.flush().unwrap();
        match client.reader.receive::<Reply>().unwrap() {
            Reply::Applied(report) => assert!(report.errors.is_empty(), "{:?}", report.errors),
            other => panic!("{other:?}"),
        }
        client.finish();
        assert_eq!(std::fs::read(target.join("ok.txt")).unwrap(), b"ok");
        assert_eq!(std::fs::read(outside.join("secret")).unwrap(), b"secret");
        assert_eq!(
            std::fs::read_dir(&outside).unwrap().count(),
            1,
            "nothing was written outside the root"
        );
    }
}
