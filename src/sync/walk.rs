//! Sorted, streaming walks of a set's source or replica.
//!
//! Siblings are visited in byte order of their names and parents before
//! children, so the keys come out in the same order as the manifest table.
//! Symlinks are never followed. Excluded entries and drkit's own temporary
//! files are left out. A directory that cannot be read becomes an error
//! item, and the walk goes on.

use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobMatcher};
use walkdir::WalkDir;

use super::entry::{key_from_relative, Entry};

/// Prefix of the temporary files drkit writes next to their final name.
pub const TEMP_PREFIX: &str = ".drkit-tmp-";

/// Compiled exclude patterns of a set.
///
/// A pattern without `/` matches an entry's name at any depth ("*.tmp").
/// A pattern with `/` matches the path from the set root ("wp-content/cache").
/// A trailing `/` limits the pattern to directories ("cache/").
#[derive(Debug, Default, Clone)]
pub struct Excludes {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
struct Rule {
    matcher: GlobMatcher,
    anchored: bool,
    dirs_only: bool,
}

impl Excludes {
    /// Compiles patterns that the config check has already accepted.
    pub fn new(patterns: &[String]) -> Result<Excludes, globset::Error> {
        let mut rules = Vec::new();
        for pattern in patterns {
            let dirs_only = pattern.ends_with('/');
            let body = pattern.trim_end_matches('/').trim_start_matches('/');
            let anchored = body.contains('/') || pattern.starts_with('/');
            let glob = GlobBuilder::new(body)
                .literal_separator(true)
                .backslash_escape(true)
                .build()?;
            rules.push(Rule {
                matcher: glob.compile_matcher(),
                anchored,
                dirs_only,
            });
        }
        Ok(Excludes { rules })
    }

    /// True when the entry at `relative` (with file name `name`) is excluded.
    pub fn is_excluded(&self, relative: &Path, name: &std::ffi::OsStr, is_dir: bool) -> bool {
        self.rules.iter().any(|rule| {
            if rule.dirs_only && !is_dir {
                return false;
            }
            if rule.anchored {
                rule.matcher.is_match(relative)
            } else {
                rule.matcher.is_match(Path::new(name))
            }
        })
    }
}

/// One item of a walk.
#[derive(Debug)]
pub enum WalkItem {
    Entry(Entry),
    /// An entry that could not be read; the relative path and the error.
    Error(PathBuf, String),
    /// A leftover temporary file of an interrupted sync (replica side only).
    StaleTemp(PathBuf),
}

/// Level of detail a walk reads of each entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// `lstat` of every entry.
    Stat,
    /// Only the name and the kind from the directory listing; the other
    /// fields of the entries are zero. For verify, which hashes anyway.
    Kind,
}

/// Walks `root` lazily in key order.
pub fn walk<'a>(root: &'a Path, excludes: &'a Excludes, detail: Detail) -> impl Iterator<Item = WalkItem> + 'a {
    walk_below(root, root.to_path_buf(), excludes, detail)
}

/// Walks everything below the folder `start` (which is `root` or a folder
/// under it) in key order; keys stay relative to `root`.
fn walk_below<'a>(
    root: &'a Path,
    start: PathBuf,
    excludes: &'a Excludes,
    detail: Detail,
) -> impl Iterator<Item = WalkItem> + 'a {
    WalkDir::new(start)
        .min_depth(1)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(move |e| {
            let relative = e.path().strip_prefix(root).unwrap_or(e.path());
            !excludes.is_excluded(relative, e.file_name(), e.file_type().is_dir())
        })
        .map(move |item| match item {
            Ok(e) => {
                let relative = e.path().strip_prefix(root).unwrap_or(e.path()).to_path_buf();
                if is_temp_name(e.file_name()) {
                    return WalkItem::StaleTemp(relative);
                }
                if detail == Detail::Kind {
                    return WalkItem::Entry(Entry::from_file_type(key_from_relative(&relative), e.file_type()));
                }
                match e.metadata() {
                    Ok(meta) => WalkItem::Entry(Entry::from_metadata(key_from_relative(&relative), &meta)),
                    Err(err) => WalkItem::Error(relative, err.to_string()),
                }
            }
            Err(err) => {
                let relative = err
                    .path()
                    .map(|p| p.strip_prefix(root).unwrap_or(p).to_path_buf())
                    .unwrap_or_default();
                let message = err.io_error().map_or_else(|| err.to_string(), ToString::to_string);
                WalkItem::Error(relative, message)
            }
        })
}

/// One part of a set that a batch sync looks at: a path that changed and,
/// when it is a folder on either side, everything below it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Scoped {
    #[serde(with = "serde_bytes")]
    pub key: Box<[u8]>,
    /// True for the changed paths; false for the folders above them, which
    /// are looked at alone so their new children have a parent.
    pub below: bool,
}

/// Turns changed paths (relative to the set root) into the parts of the
/// set a batch looks at, in key order: each path with everything below it,
/// and each folder above a path on its own. A path under another changed
/// path is covered by it; the root itself, excluded paths and drkit's
/// temporary files are left out.
pub fn scope_of(paths: &[PathBuf], excludes: &Excludes) -> Vec<Scoped> {
    use std::collections::BTreeMap;
    let mut changed: Vec<Box<[u8]>> = paths
        .iter()
        .filter(|relative| !relative.as_os_str().is_empty() && !is_left_out(relative, excludes))
        .map(|relative| key_from_relative(relative))
        .collect();
    changed.sort();
    changed.dedup();
    let mut kept: Vec<Box<[u8]>> = Vec::with_capacity(changed.len());
    for key in changed {
        let covered = kept
            .last()
            .is_some_and(|last| key.len() > last.len() && key.starts_with(last) && key[last.len()] == 0);
        if !covered {
            kept.push(key);
        }
    }
    let mut scope: BTreeMap<Box<[u8]>, bool> = BTreeMap::new();
    for key in &kept {
        for (i, &b) in key.iter().enumerate() {
            if b == 0 {
                scope.entry(key[..i].into()).or_insert(false);
            }
        }
        scope.insert(key.clone(), true);
    }
    scope.into_iter().map(|(key, below)| Scoped { key, below }).collect()
}

/// True when `relative` or a folder above it is excluded or a temporary file.
fn is_left_out(relative: &Path, excludes: &Excludes) -> bool {
    let mut prefix = PathBuf::new();
    let mut components = relative.components().peekable();
    while let Some(component) = components.next() {
        let name = component.as_os_str();
        prefix.push(name);
        let last = components.peek().is_none();
        // The last component's kind is not known yet; `walk_scope`
        // checks the patterns for folders once it has read it.
        if is_temp_name(name) || excludes.is_excluded(&prefix, name, !last) {
            return true;
        }
    }
    false
}

/// Reads the parts of `root` in `scope`, in key order: an `lstat` of each
/// scoped key that exists, and a walk below it when it is a folder. A key
/// whose parent is not a folder here (absent, a file, a symlink) is absent
/// too, so nothing is ever read through a symlink.
pub fn walk_scope(root: &Path, scope: &[Scoped], excludes: &Excludes, detail: Detail) -> Vec<WalkItem> {
    let mut items = Vec::new();
    let mut folders: std::collections::HashSet<&[u8]> = std::collections::HashSet::new();
    for part in scope {
        let parent = super::entry::parent_key(&part.key);
        if parent.is_some_and(|parent| !folders.contains(parent)) {
            continue;
        }
        let relative = super::entry::relative_from_key(&part.key);
        let path = root.join(&relative);
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR) => continue,
            Err(e) => {
                items.push(WalkItem::Error(relative, e.to_string()));
                continue;
            }
        };
        let is_dir = meta.is_dir();
        if is_dir && part.below && excludes.is_excluded(&relative, path.file_name().unwrap_or_default(), true) {
            continue;
        }
        if is_dir {
            folders.insert(&part.key);
        }
        items.push(WalkItem::Entry(if detail == Detail::Kind {
            Entry::from_file_type(part.key.clone(), meta.file_type())
        } else {
            Entry::from_metadata(part.key.clone(), &meta)
        }));
        if part.below && is_dir {
            items.extend(walk_below(root, path, excludes, detail));
        }
    }
    items
}

/// Walks `root` on a background thread and streams the items in key order,
/// so two trees can be walked at the same time.
pub fn walk_in_background(root: PathBuf, excludes: Excludes, detail: Detail) -> impl Iterator<Item = WalkItem> {
    const BATCH: usize = 1024;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<WalkItem>>(8);
    std::thread::spawn(move || {
        let mut batch = Vec::with_capacity(BATCH);
        for item in walk(&root, &excludes, detail) {
            batch.push(item);
            if batch.len() == BATCH
                && tx
                    .send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))
                    .is_err()
            {
                return;
            }
        }
        let _ = tx.send(batch);
    });
    rx.into_iter().flatten()
}

/// True for names drkit uses for its temporary files.
pub fn is_temp_name(name: &std::ffi::OsStr) -> bool {
    use std::os::unix::ffi::OsStrExt;
    name.as_bytes().starts_with(TEMP_PREFIX.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn name_patterns_match_at_any_depth() {
        let ex = Excludes::new(&["*.tmp".into(), "cache/".into(), "wp-content/uploads/*.log".into()]).unwrap();
        assert!(ex.is_excluded(Path::new("a/b/x.tmp"), OsStr::new("x.tmp"), false));
        assert!(ex.is_excluded(Path::new("a/cache"), OsStr::new("cache"), true));
        assert!(!ex.is_excluded(Path::new("a/cache"), OsStr::new("cache"), false));
        assert!(ex.is_excluded(Path::new("wp-content/uploads/e.log"), OsStr::new("e.log"), false));
        assert!(!ex.is_excluded(Path::new("x/wp-content/uploads/e.log"), OsStr::new("e.log"), false));
    }

    #[test]
    fn brackets_in_names_are_not_patterns_unless_excluded() {
        let ex = Excludes::new(&["*.tmp".into()]).unwrap();
        assert!(!ex.is_excluded(Path::new("[*?]"), OsStr::new("[*?]"), false));
    }
}
