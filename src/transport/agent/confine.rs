//! Confinement of the agent to its root.
//!
//! Folders named by the primary must be absolute, free of `..`, inside the
//! root, and reached without passing through a symlink. Keys must be plain
//! relative names (no empty, `.` or `..` component, no `/`). No key may be
//! reached through a symlink or a file on the replica, unless the same plan
//! deletes that entry and creates a folder in its place. Entries whose
//! metadata the plan changes, and files the primary requests to read, must
//! be what the plan says they are, so a symlink on the replica never leads
//! a change or a read outside the root.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use super::texts;
use crate::i18n::Lang;
use crate::sync::entry::relative_from_key;
use crate::transport::protocol::RemotePlan;

/// The folder the agent may not leave.
#[derive(Debug)]
pub struct Jail {
    root: PathBuf,
}

/// A path or key the agent refused, with the reason.
#[derive(Debug)]
pub struct Refusal {
    key: &'static str,
    path: String,
}

impl Refusal {
    fn new(key: &'static str, path: impl Into<String>) -> Refusal {
        Refusal { key, path: path.into() }
    }

    pub fn message(&self, lang: Lang) -> String {
        texts::format(lang, self.key, &[("path", &self.path)])
    }
}

impl Jail {
    /// Accepts `root` when it is an absolute path to a real folder that is
    /// not itself a symlink.
    pub fn new(root: &Path) -> Result<Jail, Refusal> {
        let shown = root.display().to_string();
        if !root.is_absolute() || root.components().any(|c| matches!(c, Component::ParentDir)) {
            return Err(Refusal::new("root_not_absolute", shown));
        }
        let meta = std::fs::symlink_metadata(root).map_err(|_| Refusal::new("root_missing", shown.clone()))?;
        if meta.file_type().is_symlink() {
            return Err(Refusal::new("root_is_symlink", shown));
        }
        if !meta.is_dir() {
            return Err(Refusal::new("root_missing", shown));
        }
        let canonical = std::fs::canonicalize(root).map_err(|_| Refusal::new("root_missing", shown))?;
        Ok(Jail { root: canonical })
    }

    #[cfg(test)]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Accepts an absolute path inside the root whose existing parts below
    /// the root are real folders, not symlinks.
    pub fn check_path(&self, path: &Path) -> Result<(), Refusal> {
        let shown = path.display().to_string();
        if !path.is_absolute()
            || path
                .components()
                .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
        {
            return Err(Refusal::new("path_not_plain", shown));
        }
        let Ok(inside) = path.strip_prefix(&self.root) else {
            return Err(Refusal::new(
                "path_outside_root",
                format!("{shown} ({})", self.root.display()),
            ));
        };
        let mut current = self.root.clone();
        for part in inside.components() {
            current.push(part);
            match std::fs::symlink_metadata(&current) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    return Err(Refusal::new("path_through_symlink", current.display().to_string()))
                }
                Ok(meta) if !meta.is_dir() => {
                    return Err(Refusal::new("path_not_folder", current.display().to_string()))
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        Ok(())
    }
}

/// Checks that every key names a plain relative path and that every
/// existing ancestor of it under `target` is a real folder, or is replaced
/// by a folder in this plan (`replaced`).
pub fn check_keys<'a>(target: &Path, keys: impl Iterator<Item = &'a [u8]>, replaced: &[&[u8]]) -> Result<(), Refusal> {
    let replaced: HashSet<&[u8]> = replaced.iter().copied().collect();
    let mut checked: HashSet<Vec<u8>> = HashSet::new();
    for key in keys {
        check_key_form(key)?;
        let mut end = 0;
        while let Some(offset) = key[end..].iter().position(|b| *b == 0) {
            let ancestor = &key[..end + offset];
            end += offset + 1;
            if checked.contains(ancestor) {
                continue;
            }
            match std::fs::symlink_metadata(target.join(relative_from_key(ancestor))) {
                Ok(meta) if meta.is_dir() => {}
                Ok(_) if replaced.contains(ancestor) => {}
                Ok(_) => return Err(Refusal::new("key_through_symlink", shown(ancestor))),
                Err(_) => {}
            }
            checked.insert(ancestor.to_vec());
        }
    }
    Ok(())
}

/// Checks that the leaf at each key is a regular file or absent (never a
/// symlink or a folder), for requests that read replica files.
pub fn check_leaves_are_files<'a>(target: &Path, keys: impl Iterator<Item = &'a [u8]>) -> Result<(), Refusal> {
    for key in keys {
        if let Ok(meta) = std::fs::symlink_metadata(target.join(relative_from_key(key))) {
            if !meta.is_file() {
                return Err(Refusal::new("key_not_file", shown(key)));
            }
        }
    }
    Ok(())
}

/// Checks every key of a plan before any of it is applied.
pub fn check_plan(target: &Path, plan: &RemotePlan) -> Result<(), Refusal> {
    let deleted: HashSet<&[u8]> = plan.deletes.iter().map(|e| &*e.key).collect();
    let replaced: Vec<&[u8]> = plan
        .mkdirs
        .iter()
        .map(|e| &*e.key)
        .filter(|k| deleted.contains(k))
        .collect();
    let keys = plan
        .deletes
        .iter()
        .chain(&plan.mkdirs)
        .chain(&plan.dir_metas)
        .chain(&plan.source_dirs)
        .map(|e| &*e.key)
        .chain(plan.copies.iter().map(|(k, _)| k.as_slice()))
        .chain(plan.reuses.iter().flat_map(|r| [&*r.source.key, &*r.from]))
        .chain(plan.links.iter().flat_map(|(e, leader)| [&*e.key, leader.as_slice()]))
        .chain(plan.symlinks.iter().map(|(e, _)| &*e.key))
        .chain(plan.metas.iter().map(|(e, _)| &*e.key))
        .chain(plan.linked_followers.iter().flat_map(|(leader, followers)| {
            std::iter::once(leader.as_slice()).chain(followers.iter().map(|e| &*e.key))
        }));
    check_keys(target, keys, &replaced)?;
    check_leaves_are_files(
        target,
        plan.metas
            .iter()
            .map(|(e, _)| &*e.key)
            .chain(plan.reuses.iter().map(|r| &*r.from)),
    )?;
    for entry in &plan.dir_metas {
        if let Ok(meta) = std::fs::symlink_metadata(target.join(relative_from_key(&entry.key))) {
            if !meta.is_dir() && !deleted.contains(&*entry.key) {
                return Err(Refusal::new("key_not_folder", shown(&entry.key)));
            }
        }
    }
    for temp in &plan.stale_temps {
        let plain = temp.is_relative() && temp.components().all(|c| matches!(c, Component::Normal(_)));
        let named = temp.file_name().is_some_and(crate::sync::walk::is_temp_name);
        if !plain || !named {
            return Err(Refusal::new("path_not_plain", temp.display().to_string()));
        }
        let key = crate::sync::entry::key_from_relative(temp);
        check_keys(target, std::iter::once(&*key), &[])?;
    }
    Ok(())
}

pub fn check_key_form(key: &[u8]) -> Result<(), Refusal> {
    let bad = key.is_empty()
        || key.contains(&b'/')
        || key
            .split(|b| *b == 0)
            .any(|part| part.is_empty() || part == b"." || part == b"..");
    if bad {
        return Err(Refusal::new("key_not_plain", shown(key)));
    }
    Ok(())
}

fn shown(key: &[u8]) -> String {
    crate::sync::entry::display_key(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_forms_are_checked() {
        for bad in [&b""[..], b"..", b"a\0..\0b", b"a/b", b"\0a", b"a\0", b"a\0\0b", b"."] {
            assert!(check_key_form(bad).is_err(), "{bad:?}");
        }
        for good in [&b"a"[..], b"a\0b", b"..a", b"a.."] {
            assert!(check_key_form(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn paths_must_stay_inside_without_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("real")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("link")).unwrap();
        let jail = Jail::new(&root).unwrap();
        let root = jail.root().to_path_buf();
        assert!(jail.check_path(&root.join("real/www")).is_ok());
        assert!(jail.check_path(&root.join("new/www")).is_ok());
        assert!(jail.check_path(&root.join("link/www")).is_err());
        assert!(jail.check_path(&root.join("real/../../x")).is_err());
        assert!(jail.check_path(Path::new("/etc")).is_err());
        assert!(jail.check_path(Path::new("real")).is_err());
        std::os::unix::fs::symlink(&root, dir.path().join("alias")).unwrap();
        assert!(Jail::new(&dir.path().join("alias")).is_err());
    }

    #[test]
    fn keys_through_symlinks_are_refused_unless_replaced() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        std::os::unix::fs::symlink("/etc", dir.path().join("s")).unwrap();
        assert!(check_keys(dir.path(), [&b"d\0x"[..]].into_iter(), &[]).is_ok());
        assert!(check_keys(dir.path(), [&b"s\0passwd"[..]].into_iter(), &[]).is_err());
        assert!(check_keys(dir.path(), [&b"s\0passwd"[..]].into_iter(), &[b"s"]).is_ok());
        assert!(check_leaves_are_files(dir.path(), [&b"s"[..]].into_iter()).is_err());
    }
}
