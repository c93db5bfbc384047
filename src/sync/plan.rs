//! Building a sync plan: one pass that merges four sorted streams by key
//! (the source walk, the source cache, the replica walk, the replica cache)
//! and decides, per entry, what the replica needs. Nothing is changed here.

use std::collections::HashMap;
use std::iter::Peekable;
use std::path::PathBuf;

use super::entry::{Entry, EntryKind};
use super::walk::WalkItem;
use crate::store::ManifestRow;

/// A regular file whose replica must be (re)written.
#[derive(Debug)]
pub struct CopyItem {
    pub key: Box<[u8]>,
    /// Size at walk time, to size the copy batches.
    pub size: u64,
    /// The later of the source's mtime and ctime at walk time, in
    /// nanoseconds: when the change this copy carries was made.
    pub changed_ns: i64,
}

impl CopyItem {
    pub fn new(source: Entry) -> CopyItem {
        CopyItem {
            changed_ns: source.changed_ns(),
            key: source.key,
            size: source.size,
        }
    }
}

/// A regular file present on both sides with the same size whose content
/// is not known on at least one side: hash, then decide.
#[derive(Debug)]
pub struct CompareItem {
    pub source: Entry,
    pub replica: Entry,
    pub source_hash: Option<[u8; 32]>,
    pub replica_hash: Option<[u8; 32]>,
}

/// A file whose content is right but whose owner, mode or mtime differ.
#[derive(Debug)]
pub struct MetaItem {
    pub source: Entry,
    pub hash: Option<[u8; 32]>,
}

/// A hard link in the source whose replica must point at the replica of
/// `leader`, the first path of the same inode in key order.
#[derive(Debug)]
pub struct LinkItem {
    pub source: Entry,
    pub leader: Box<[u8]>,
}

/// A new source file whose content is already on the replica under a path
/// this sync deletes: the source renamed or moved it. The replica's inode
/// moves to the new path instead of the content travelling again.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ReuseItem {
    pub source: Entry,
    /// The deleted key whose replica file is reused.
    #[serde(with = "serde_bytes")]
    pub from: Box<[u8]>,
    pub hash: [u8; 32],
}

/// Everything one sync must do, in the order it is done.
#[derive(Debug, Default)]
pub struct Plan {
    pub deletes: Vec<Entry>,
    pub mkdirs: Vec<Entry>,
    pub copies: Vec<CopyItem>,
    /// Files moved on the source, placed from the replica's own copy.
    pub reuses: Vec<ReuseItem>,
    pub compares: Vec<CompareItem>,
    pub links: Vec<LinkItem>,
    pub symlinks: Vec<(Entry, Option<Entry>)>,
    pub metas: Vec<MetaItem>,
    /// Source directories whose owner, mode or mtime differ on the replica.
    pub dir_metas: Vec<Entry>,
    /// Every source directory, to restore directory mtimes after changes inside them.
    pub source_dirs: HashMap<Box<[u8]>, Entry>,
    pub specials: Vec<Entry>,
    /// Hard-link followers already linked to their leader's replica, by
    /// leader key; re-linked if the leader is rewritten after a compare.
    pub linked_followers: HashMap<Box<[u8]>, Vec<Entry>>,
    pub errors: Vec<(PathBuf, String)>,
    /// Files that kept changing while they were hashed.
    pub unstable: Vec<Box<[u8]>>,
    pub stale_temps: Vec<PathBuf>,
    /// Cached rows with no entry on either side any more.
    pub forgotten: Vec<(crate::store::Side, Vec<u8>)>,
    pub source_entries: u64,
    /// Source entries other than directories: files, symlinks, special files.
    pub source_files: u64,
    pub replica_files: u64,
    /// Files and symlinks the plan deletes from the replica.
    pub deleted_files: u64,
}

impl Plan {
    /// True when the replica already matches the source.
    pub fn is_empty(&self) -> bool {
        self.compares.is_empty() && !self.changes_besides_compares()
    }

    /// True when the replica will change whatever the compares find.
    pub fn changes_besides_compares(&self) -> bool {
        !(self.deletes.is_empty()
            && self.mkdirs.is_empty()
            && self.copies.is_empty()
            && self.reuses.is_empty()
            && self.links.is_empty()
            && self.symlinks.is_empty()
            && self.metas.is_empty()
            && self.dir_metas.is_empty())
    }
}

/// Cursor over a sorted cache stream that hands out the row for a key.
struct CacheCursor<I: Iterator<Item = ManifestRow>> {
    rows: Peekable<I>,
    side: crate::store::Side,
    skipped: Vec<(crate::store::Side, Vec<u8>)>,
}

impl<I: Iterator<Item = ManifestRow>> CacheCursor<I> {
    /// Returns the row for `key`, remembering rows passed over as stale.
    fn take(&mut self, key: &[u8]) -> Option<ManifestRow> {
        while let Some(row) = self.rows.peek() {
            match row.key.as_slice().cmp(key) {
                std::cmp::Ordering::Less => {
                    let row = self.rows.next().expect("peeked");
                    self.skipped.push((self.side, row.key));
                }
                std::cmp::Ordering::Equal => return self.rows.next(),
                std::cmp::Ordering::Greater => return None,
            }
        }
        None
    }

    fn finish(mut self) -> Vec<(crate::store::Side, Vec<u8>)> {
        for row in self.rows.by_ref() {
            self.skipped.push((self.side, row.key));
        }
        self.skipped
    }
}

/// Reads the targets of symlinks on both sides, to compare them.
pub trait LinkTargets {
    fn source(&self, key: &[u8]) -> Option<PathBuf>;
    fn replica(&self, key: &[u8]) -> Option<PathBuf>;
}

/// Symlink targets read from a local source and a local replica.
pub struct LocalLinks<'a> {
    pub source: &'a std::path::Path,
    pub replica: &'a std::path::Path,
}

impl LinkTargets for LocalLinks<'_> {
    fn source(&self, key: &[u8]) -> Option<PathBuf> {
        std::fs::read_link(self.source.join(super::entry::relative_from_key(key))).ok()
    }

    fn replica(&self, key: &[u8]) -> Option<PathBuf> {
        std::fs::read_link(self.replica.join(super::entry::relative_from_key(key))).ok()
    }
}

/// Builds the plan from the four sorted streams.
pub fn build(
    roots: &dyn LinkTargets,
    source: impl Iterator<Item = WalkItem>,
    source_cache: impl Iterator<Item = ManifestRow>,
    replica: impl Iterator<Item = WalkItem>,
    replica_cache: impl Iterator<Item = ManifestRow>,
) -> Plan {
    let mut plan = Plan::default();
    let mut source = source;
    let mut source_head = next_source_entry(&mut source, &mut plan);
    let mut replica_items: Vec<WalkItem> = Vec::new();
    let mut replica = replica
        .filter_map(|item| match item {
            WalkItem::Entry(e) => Some(e),
            other => {
                replica_items.push(other);
                None
            }
        })
        .peekable();
    let mut source_cache = CacheCursor {
        rows: source_cache.peekable(),
        side: crate::store::Side::Source,
        skipped: Vec::new(),
    };
    let mut replica_cache = CacheCursor {
        rows: replica_cache.peekable(),
        side: crate::store::Side::Replica,
        skipped: Vec::new(),
    };
    let mut links = LinkTracker::default();
    let mut moves = Moves::default();

    loop {
        let order = match (source_head.as_ref(), replica.peek()) {
            (None, None) => break,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(s), Some(r)) => s.key.cmp(&r.key),
        };
        let (s, r) = match order {
            std::cmp::Ordering::Less => (source_head.take(), None),
            std::cmp::Ordering::Greater => (None, replica.next()),
            std::cmp::Ordering::Equal => (source_head.take(), replica.next()),
        };
        if s.is_some() {
            source_head = next_source_entry(&mut source, &mut plan);
        }
        let key: &[u8] = s.as_ref().or(r.as_ref()).map(|e| &*e.key).expect("one side present");
        let sc = source_cache.take(key);
        let rc = replica_cache.take(key);
        if let Some(r) = &r {
            if r.kind != EntryKind::Dir {
                plan.replica_files += 1;
            }
        }
        moves.note(&s, &sc, &r, &rc);
        decide(&mut plan, &mut links, roots, s, sc, r, rc);
    }
    moves.reuse(&mut plan);
    drop(replica);
    for item in replica_items {
        match item {
            WalkItem::StaleTemp(path) => plan.stale_temps.push(path),
            WalkItem::Error(path, message) => plan.errors.push((path, format!("replica: {message}"))),
            WalkItem::Entry(_) => {}
        }
    }
    plan.forgotten.extend(source_cache.finish());
    plan.forgotten.extend(replica_cache.finish());
    plan
}

/// Returns the next source entry, counting it and moving walk errors into the plan.
fn next_source_entry(items: &mut impl Iterator<Item = WalkItem>, plan: &mut Plan) -> Option<Entry> {
    for item in items.by_ref() {
        match item {
            WalkItem::Entry(e) => {
                plan.source_entries += 1;
                if e.kind != EntryKind::Dir {
                    plan.source_files += 1;
                }
                if e.kind == EntryKind::Dir {
                    plan.source_dirs.insert(e.key.clone(), e.clone());
                }
                return Some(e);
            }
            WalkItem::Error(path, message) => plan.errors.push((path, message)),
            // A source file named like drkit's temporary files is left alone.
            WalkItem::StaleTemp(_) => {}
        }
    }
    None
}

/// Files a sync deletes from the replica, and files it creates there. They
/// are matched by the source inode, size and mtime cached for the deleted
/// path, so a renamed file or folder moves on the replica instead of being
/// sent again.
#[derive(Default)]
struct Moves {
    /// Deleted files whose replica content is known, by source inode, size
    /// and mtime.
    gone: HashMap<(u64, u64, i64), Gone>,
    /// New single-link source files.
    new: Vec<Entry>,
}

/// A deleted replica file: its key, its content hash and its entry.
type Gone = (Box<[u8]>, [u8; 32], Entry);

impl Moves {
    fn note(&mut self, s: &Option<Entry>, sc: &Option<ManifestRow>, r: &Option<Entry>, rc: &Option<ManifestRow>) {
        match (s, r) {
            (None, Some(r)) if r.kind == EntryKind::File => {
                let (Some(sc), Some(rc)) = (sc, rc) else {
                    return;
                };
                let same = sc.hash.is_some() && sc.hash == rc.hash && r.matches_replica_cache(rc);
                if same && sc.kind == EntryKind::File as u8 && sc.size == r.size {
                    let hash = sc.hash.expect("checked above");
                    self.gone
                        .insert((sc.ino, sc.size, sc.mtime_ns), (r.key.clone(), hash, r.clone()));
                }
            }
            (Some(s), None) if s.kind == EntryKind::File && s.nlink == 1 => self.new.push(s.clone()),
            _ => {}
        }
    }

    /// Turns the copies of moved files into reuses.
    fn reuse(mut self, plan: &mut Plan) {
        if self.gone.is_empty() || self.new.is_empty() {
            return;
        }
        let mut reused = std::collections::HashSet::new();
        for s in self.new {
            let Some((from, hash, old)) = self.gone.remove(&(s.ino, s.size, s.mtime_ns)) else {
                continue;
            };
            if !same_metadata(&s, &old) {
                continue;
            }
            reused.insert(s.key.clone());
            plan.reuses.push(ReuseItem { source: s, from, hash });
            // A moved file is not lost, so the deletion guard does not count it.
            plan.deleted_files = plan.deleted_files.saturating_sub(1);
        }
        plan.copies.retain(|c| !reused.contains(&c.key));
    }
}

/// The first path of a source hard-link group in key order, and the inode
/// its replica has (None when the leader is rewritten by this sync).
type Leader = (Box<[u8]>, Option<u64>);

/// Hard-link groups of the source seen so far, by (dev, ino).
#[derive(Default)]
struct LinkTracker {
    groups: HashMap<(u64, u64), Leader>,
}

fn decide(
    plan: &mut Plan,
    links: &mut LinkTracker,
    roots: &dyn LinkTargets,
    s: Option<Entry>,
    sc: Option<ManifestRow>,
    r: Option<Entry>,
    rc: Option<ManifestRow>,
) {
    let Some(s) = s else {
        if let Some(r) = r {
            if r.kind != EntryKind::Dir {
                plan.deleted_files += 1;
            }
            plan.deletes.push(r);
        }
        return;
    };
    if s.kind == EntryKind::Special {
        plan.specials.push(s);
        return;
    }
    let r = match r {
        Some(r) if r.kind != s.kind => {
            if r.kind != EntryKind::Dir {
                plan.deleted_files += 1;
            }
            plan.deletes.push(r);
            None
        }
        other => other,
    };
    match s.kind {
        EntryKind::Dir => decide_dir(plan, s, r),
        EntryKind::Symlink => decide_symlink(plan, roots, s, r),
        EntryKind::File => decide_file(plan, links, s, sc, r, rc),
        EntryKind::Special => unreachable!("handled above"),
    }
}

fn decide_dir(plan: &mut Plan, s: Entry, r: Option<Entry>) {
    match r {
        None => {
            plan.dir_metas.push(s.clone());
            plan.mkdirs.push(s);
        }
        Some(r) => {
            if !same_metadata(&s, &r) {
                plan.dir_metas.push(s);
            }
        }
    }
}

fn decide_symlink(plan: &mut Plan, roots: &dyn LinkTargets, s: Entry, r: Option<Entry>) {
    let Some(r) = r else {
        plan.symlinks.push((s, None));
        return;
    };
    let source_target = roots.source(&s.key);
    let replica_target = roots.replica(&s.key);
    // A symlink whose owner or mtime differ is re-created rather than
    // changed in place, because versions share the replica's symlink inodes.
    if source_target.is_none() || source_target != replica_target || !same_metadata(&s, &r) {
        plan.symlinks.push((s, Some(r)));
    }
}

fn decide_file(
    plan: &mut Plan,
    links: &mut LinkTracker,
    s: Entry,
    sc: Option<ManifestRow>,
    r: Option<Entry>,
    rc: Option<ManifestRow>,
) {
    if s.nlink > 1 {
        let id = (s.dev, s.ino);
        if let Some((leader, leader_replica_ino)) = links.groups.get(&id) {
            let linked = matches!((&r, leader_replica_ino), (Some(r), Some(ino)) if r.ino == *ino);
            if linked {
                plan.linked_followers.entry(leader.clone()).or_default().push(s);
            } else {
                plan.links.push(LinkItem {
                    source: s,
                    leader: leader.clone(),
                });
            }
            return;
        }
    }
    let source_hash = sc.filter(|row| s.matches_cache(row)).and_then(|row| row.hash);
    let Some(r) = r else {
        remember_leader(links, &s, None);
        plan.copies.push(CopyItem::new(s));
        return;
    };
    let replica_hash = rc.filter(|row| r.matches_replica_cache(row)).and_then(|row| row.hash);
    match (source_hash, replica_hash) {
        (Some(a), Some(b)) if a == b => {
            remember_leader(links, &s, Some(r.ino));
            if !same_metadata(&s, &r) {
                plan.metas.push(MetaItem {
                    source: s,
                    hash: Some(a),
                });
            }
        }
        (Some(_), Some(_)) => {
            remember_leader(links, &s, None);
            plan.copies.push(CopyItem::new(s));
        }
        _ if s.size != r.size => {
            remember_leader(links, &s, None);
            plan.copies.push(CopyItem::new(s));
        }
        _ => {
            // The leader's replica inode stays the same unless the compare
            // turns into a copy; followers are re-linked in that case.
            remember_leader(links, &s, Some(r.ino));
            plan.compares.push(CompareItem {
                source: s,
                replica: r,
                source_hash,
                replica_hash,
            });
        }
    }
}

fn remember_leader(links: &mut LinkTracker, s: &Entry, replica_ino: Option<u64>) {
    if s.nlink > 1 {
        links.groups.insert((s.dev, s.ino), (s.key.clone(), replica_ino));
    }
}

/// True when owner, mode and mtime agree (mode is ignored for symlinks).
pub fn same_metadata(s: &Entry, r: &Entry) -> bool {
    s.uid == r.uid && s.gid == r.gid && (s.kind == EntryKind::Symlink || s.mode == r.mode) && s.mtime_ns == r.mtime_ns
}
