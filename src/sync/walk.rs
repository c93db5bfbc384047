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
    WalkDir::new(root)
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
