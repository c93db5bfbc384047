//! Versions built from real files in temporary folders. Scenarios apply
//! changes in the order a sync does: keep the key, then replace the entry by
//! rename or delete it. The state of the replica is read before each version
//! so every result of `resolve` can be checked against what was really there.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::*;

struct Site {
    _temp: tempfile::TempDir,
    replica: PathBuf,
    versions: PathBuf,
}

impl Site {
    fn new() -> Site {
        let temp = tempfile::tempdir().unwrap();
        let replica = temp.path().join("replica");
        let versions = temp.path().join("versions");
        std::fs::create_dir(&replica).unwrap();
        Site {
            replica,
            versions,
            _temp: temp,
        }
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.replica.join(relative)
    }

    /// Writes a file in place, as a test sets up the replica.
    fn write(&self, relative: &str, content: &str) {
        let path = self.path(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    /// Replaces a file by rename, as a sync does.
    fn replace(&self, relative: &str, content: &str) {
        let path = self.path(relative);
        let temp = path.with_file_name(".drkit-tmp-test");
        std::fs::write(&temp, content).unwrap();
        std::fs::rename(&temp, &path).unwrap();
    }

    fn symlink(&self, relative: &str, target: &str) {
        let path = self.path(relative);
        let temp = path.with_file_name(".drkit-tmp-link");
        std::os::unix::fs::symlink(target, &temp).unwrap();
        std::fs::rename(&temp, &path).unwrap();
    }

    fn remove(&self, relative: &str) {
        let path = self.path(relative);
        if std::fs::symlink_metadata(&path).unwrap().is_dir() {
            std::fs::remove_dir(path).unwrap();
        } else {
            std::fs::remove_file(path).unwrap();
        }
    }

    fn begin(&self) -> BatchVersion {
        BatchVersion::begin(&self.replica, &self.versions).unwrap()
    }

    /// Reads the whole replica: each path with a description of its entry.
    fn state(&self) -> BTreeMap<String, String> {
        let mut state = BTreeMap::new();
        for item in WalkDir::new(&self.replica).min_depth(1) {
            let item = item.unwrap();
            let relative = item.path().strip_prefix(&self.replica).unwrap();
            state.insert(relative.to_str().unwrap().to_string(), describe(item.path()).unwrap());
        }
        state
    }

    fn resolve(&self, name: &str, relative: &str) -> Option<String> {
        match resolve(&self.versions, &self.replica, name, Path::new(relative)).unwrap() {
            Resolved::Present(path) => Some(describe(&path).expect("a present entry exists")),
            Resolved::Absent => None,
        }
    }

    /// Checks that every path resolves at `name` to what `truth` holds.
    fn assert_resolves(&self, name: &str, truth: &BTreeMap<String, String>, paths: &BTreeSet<String>) {
        for path in paths {
            assert_eq!(
                self.resolve(name, path).as_ref(),
                truth.get(path),
                "{path} at version {name}"
            );
        }
    }

    fn names(&self) -> Vec<(String, VersionKind)> {
        list(&self.versions).into_iter().map(|v| (v.name, v.kind)).collect()
    }

    /// Gives a version another name, folder and record together.
    fn rename_version(&self, from: &str, to: &str) {
        std::fs::rename(self.versions.join(from), self.versions.join(to)).unwrap();
        let record = self.versions.join(record_name(from));
        if record.exists() {
            std::fs::rename(record, self.versions.join(record_name(to))).unwrap();
        }
    }
}

/// Describes an entry: file content, `-> target` for a symlink, `<dir 750>`
/// for a folder with its mode.
fn describe(path: &Path) -> Option<String> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if meta.file_type().is_symlink() {
        Some(format!("-> {}", std::fs::read_link(path).unwrap().display()))
    } else if meta.is_dir() {
        Some(format!("<dir {:o}>", meta.mode() & 0o7777))
    } else {
        Some(std::fs::read_to_string(path).unwrap())
    }
}

fn key(relative: &str) -> Vec<u8> {
    key_from_relative(Path::new(relative)).to_vec()
}

fn all_paths(states: &[&BTreeMap<String, String>]) -> BTreeSet<String> {
    states.iter().flat_map(|s| s.keys().cloned()).collect()
}

fn set_mtime(path: &Path, seconds: i64) {
    nix::sys::stat::utimensat(
        None,
        path,
        &nix::sys::time::TimeSpec::UTIME_OMIT,
        &nix::sys::time::TimeSpec::new(seconds, 0),
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .unwrap();
}

#[test]
fn batch_keeps_replaced_file() {
    let site = Site::new();
    site.write("a.txt", "old");
    let inode = std::fs::metadata(site.path("a.txt")).unwrap().ino();

    let mut batch = site.begin();
    batch.keep(&key("a.txt")).unwrap();
    site.replace("a.txt", "new");
    let version = batch.finish().unwrap();

    assert_eq!(version.kind, VersionKind::Batch);
    assert_eq!(site.names(), vec![(version.name.clone(), VersionKind::Batch)]);
    let kept = version.path.join("a.txt");
    assert_eq!(
        std::fs::metadata(&kept).unwrap().ino(),
        inode,
        "a hard link to the old inode"
    );
    assert_eq!(site.resolve(&version.name, "a.txt").as_deref(), Some("old"));
    assert_eq!(describe(&site.path("a.txt")).as_deref(), Some("new"));
}

#[test]
fn batch_keeps_deleted_and_records_created() {
    let site = Site::new();
    site.write("gone.txt", "was here");
    site.write("same.txt", "unchanged");

    let mut batch = site.begin();
    batch.keep(&key("gone.txt")).unwrap();
    site.remove("gone.txt");
    batch.keep(&key("new.txt")).unwrap();
    site.write("new.txt", "fresh");
    let version = batch.finish().unwrap();

    assert_eq!(site.resolve(&version.name, "gone.txt").as_deref(), Some("was here"));
    assert_eq!(site.resolve(&version.name, "new.txt"), None);
    let record = read_record(&site.versions, &version.name).unwrap();
    assert!(record.created.contains(&key("new.txt")));
    assert!(
        !version.path.join("new.txt").exists(),
        "a created key has no entry in the tree"
    );
    assert_eq!(
        resolve(&site.versions, &site.replica, &version.name, Path::new("same.txt")).unwrap(),
        Resolved::Present(site.path("same.txt")),
        "an entry the batch did not touch is in the current replica"
    );
}

#[test]
fn batch_keeps_folder_deleted_with_content() {
    let site = Site::new();
    site.write("d/x", "x");
    site.write("d/sub/y", "y");
    std::fs::set_permissions(site.path("d"), std::fs::Permissions::from_mode(0o750)).unwrap();
    std::fs::set_permissions(site.path("d/sub"), std::fs::Permissions::from_mode(0o705)).unwrap();
    set_mtime(&site.path("d/sub"), 1_000_000);
    set_mtime(&site.path("d"), 2_000_000);
    let before = site.state();

    let mut batch = site.begin();
    for relative in ["d/sub/y", "d/sub", "d/x", "d"] {
        batch.keep(&key(relative)).unwrap();
        site.remove(relative);
    }
    let version = batch.finish().unwrap();

    site.assert_resolves(&version.name, &before, &all_paths(&[&before]));
    let kept_sub = std::fs::metadata(version.path.join("d/sub")).unwrap();
    assert_eq!(
        kept_sub.mtime(),
        1_000_000,
        "folder mtime kept although entries were added"
    );
    assert_eq!(kept_sub.mode() & 0o7777, 0o705);
    assert_eq!(std::fs::metadata(version.path.join("d")).unwrap().mtime(), 2_000_000);
    assert!(!site.path("d").exists());
}

#[test]
fn batch_keeps_symlinks_unfollowed() {
    let site = Site::new();
    site.write("target.txt", "content");
    site.symlink("link", "target.txt");
    site.symlink("dangling", "nowhere/at/all");

    let mut batch = site.begin();
    batch.keep(&key("link")).unwrap();
    site.symlink("link", "elsewhere.txt");
    batch.keep(&key("dangling")).unwrap();
    site.remove("dangling");
    let version = batch.finish().unwrap();

    assert_eq!(site.resolve(&version.name, "link").as_deref(), Some("-> target.txt"));
    assert_eq!(
        site.resolve(&version.name, "dangling").as_deref(),
        Some("-> nowhere/at/all")
    );
    assert!(std::fs::symlink_metadata(version.path.join("link"))
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn batch_key_kept_twice_keeps_first() {
    let site = Site::new();
    site.write("a.txt", "v1");

    let mut batch = site.begin();
    batch.keep(&key("a.txt")).unwrap();
    site.replace("a.txt", "v2");
    batch.keep(&key("a.txt")).unwrap();
    site.replace("a.txt", "v3");
    batch.keep(&key("later.txt")).unwrap();
    site.write("later.txt", "made");
    batch.keep(&key("later.txt")).unwrap();
    let version = batch.finish().unwrap();

    assert_eq!(site.resolve(&version.name, "a.txt").as_deref(), Some("v1"));
    assert_eq!(
        site.resolve(&version.name, "later.txt"),
        None,
        "created first, so absent"
    );
}

#[test]
fn batch_parent_folders_not_kept() {
    let site = Site::new();
    site.write("p/q/file", "old");
    std::fs::set_permissions(site.path("p/q"), std::fs::Permissions::from_mode(0o711)).unwrap();

    let mut batch = site.begin();
    batch.keep(&key("p/q/file")).unwrap();
    site.replace("p/q/file", "new");
    let version = batch.finish().unwrap();

    let made = std::fs::metadata(version.path.join("p/q")).unwrap();
    assert_eq!(made.mode() & 0o7777, 0o711, "parent made with the replica's metadata");
    assert_eq!(
        resolve(&site.versions, &site.replica, &version.name, Path::new("p/q")).unwrap(),
        Resolved::Present(site.path("p/q")),
        "a parent folder is not a kept entry"
    );
}

#[test]
fn batch_folder_keeps_metadata_before_change() {
    let site = Site::new();
    site.write("d/a", "a");
    set_mtime(&site.path("d"), 3_000_000);

    let mut batch = site.begin();
    batch.keep(&key("d/new")).unwrap();
    site.write("d/new", "n");
    batch.keep(&key("d")).unwrap();
    std::fs::set_permissions(site.path("d"), std::fs::Permissions::from_mode(0o700)).unwrap();
    let version = batch.finish().unwrap();

    let kept = std::fs::metadata(version.path.join("d")).unwrap();
    assert_eq!(kept.mtime(), 3_000_000, "mtime from before the batch created d/new");
}

#[test]
fn batch_rejects_invalid_key() {
    let site = Site::new();
    let mut batch = site.begin();
    for bad in [&b""[..], b"..", b"a\0..\0b", b"a\0\0b", b"."] {
        assert!(batch.keep(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn batch_dropped_leaves_nothing() {
    let site = Site::new();
    site.write("a.txt", "a");
    let mut batch = site.begin();
    batch.keep(&key("a.txt")).unwrap();
    drop(batch);

    assert!(site.names().is_empty());
    assert_eq!(std::fs::read_dir(&site.versions).unwrap().count(), 0);
}

#[test]
fn list_reports_kinds_hides_incomplete() {
    let site = Site::new();
    site.write("a.txt", "a");
    let full = snapshot(&site.replica, &site.versions).unwrap();
    let mut batch = site.begin();
    batch.keep(&key("a.txt")).unwrap();
    let in_progress = site.begin();
    let finished = batch.finish().unwrap();

    assert_eq!(full.kind, VersionKind::Full);
    assert_eq!(
        site.names(),
        vec![(full.name, VersionKind::Full), (finished.name, VersionKind::Batch)]
    );
    drop(in_progress);
}

/// Scenario: batch, full, a full sync's changes, batch, batch; every path
/// at every version resolves to the state read when that version was taken.
#[test]
fn resolve_across_batch_and_full() {
    let site = Site::new();
    site.write("a", "a1");
    site.write("b", "b1");
    site.write("c", "c1");
    site.write("dir/x", "x1");
    let mut truth = Vec::new();

    truth.push(site.state());
    let mut batch = site.begin();
    batch.keep(&key("a")).unwrap();
    site.replace("a", "a2");
    batch.keep(&key("d")).unwrap();
    site.write("d", "d1");
    truth
        .last_mut()
        .unwrap()
        .insert("name".into(), batch.finish().unwrap().name);

    truth.push(site.state());
    let full = snapshot(&site.replica, &site.versions).unwrap();
    truth.last_mut().unwrap().insert("name".into(), full.name);
    site.replace("b", "b2");
    site.write("dir/z", "z1");

    truth.push(site.state());
    let mut batch = site.begin();
    batch.keep(&key("c")).unwrap();
    site.remove("c");
    batch.keep(&key("a")).unwrap();
    site.replace("a", "a3");
    batch.keep(&key("dir/x")).unwrap();
    site.remove("dir/x");
    truth
        .last_mut()
        .unwrap()
        .insert("name".into(), batch.finish().unwrap().name);

    truth.push(site.state());
    let mut batch = site.begin();
    batch.keep(&key("dir/z")).unwrap();
    site.replace("dir/z", "z2");
    batch.keep(&key("c")).unwrap();
    site.write("c", "c-again");
    truth
        .last_mut()
        .unwrap()
        .insert("name".into(), batch.finish().unwrap().name);

    let states: Vec<&BTreeMap<String, String>> = truth.iter().collect();
    let paths = all_paths(&states);
    for state in &truth {
        let mut state = state.clone();
        let name = state.remove("name").unwrap();
        site.assert_resolves(&name, &state, &paths);
    }
}

#[test]
fn resolve_rejects_bad_input() {
    let site = Site::new();
    site.write("a", "a");
    let full = snapshot(&site.replica, &site.versions).unwrap();

    let missing = resolve(&site.versions, &site.replica, "19990101T000000.000Z", Path::new("a"));
    assert!(matches!(missing, Err(ResolveError::NotFound { .. })));
    for bad in ["../a", "/etc/passwd", "", "a/../b", "./a"] {
        let result = resolve(&site.versions, &site.replica, &full.name, Path::new(bad));
        assert!(matches!(result, Err(ResolveError::InvalidPath { .. })), "{bad}");
    }
}

#[test]
fn entries_at_lists_folder_at_version() {
    let site = Site::new();
    site.write("dumps/one.sql", "1");
    site.write("dumps/two.sql", "2");
    let mut batch = site.begin();
    batch.keep(&key("dumps/two.sql")).unwrap();
    site.remove("dumps/two.sql");
    batch.keep(&key("dumps/three.sql")).unwrap();
    site.write("dumps/three.sql", "3");
    let version = batch.finish().unwrap();

    let entries = entries_at(&site.versions, &site.replica, &version.name, Path::new("dumps")).unwrap();
    let names: Vec<_> = entries.keys().map(|n| n.to_str().unwrap().to_string()).collect();
    assert_eq!(names, ["one.sql", "two.sql"]);
    assert_eq!(
        entries[std::ffi::OsStr::new("two.sql")],
        version.path.join("dumps/two.sql")
    );
    assert_eq!(entries[std::ffi::OsStr::new("one.sql")], site.path("dumps/one.sql"));
}

/// Takes one batch version: keeps then applies each change, and returns
/// the state before the batch with its name.
enum Change {
    Replace(&'static str, &'static str),
    Create(&'static str, &'static str),
    Delete(&'static str),
    Mode(&'static str, u32),
}

fn take_batch(site: &Site, changes: &[Change]) -> (String, BTreeMap<String, String>) {
    let before = site.state();
    let mut batch = site.begin();
    for change in changes {
        match change {
            Change::Replace(path, content) => {
                batch.keep(&key(path)).unwrap();
                site.replace(path, content);
            }
            Change::Create(path, content) => {
                batch.keep(&key(path)).unwrap();
                if content.is_empty() {
                    std::fs::create_dir(site.path(path)).unwrap();
                } else {
                    site.write(path, content);
                }
            }
            Change::Delete(path) => {
                batch.keep(&key(path)).unwrap();
                site.remove(path);
            }
            Change::Mode(path, mode) => {
                batch.keep(&key(path)).unwrap();
                std::fs::set_permissions(site.path(path), std::fs::Permissions::from_mode(*mode)).unwrap();
            }
        }
    }
    (batch.finish().unwrap().name, before)
}

/// Builds versions with names in the past: three batches of minute 10:00,
/// a full version, a batch of 10:00 after it, and two batches of 10:01.
/// Returns each name with the state before it, oldest first.
fn past_history(site: &Site) -> Vec<(String, BTreeMap<String, String>)> {
    site.write("a", "a1");
    site.write("b", "b1");
    site.write("d/x", "x1");
    std::fs::set_permissions(site.path("d"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let batches: Vec<Vec<Change>> = vec![
        vec![
            Change::Replace("a", "a2"),
            Change::Create("n", "n1"),
            Change::Replace("d/x", "x2"),
        ],
        vec![
            Change::Replace("a", "a3"),
            Change::Replace("n", "n2"),
            Change::Mode("d", 0o700),
            Change::Create("e", ""),
            Change::Create("e/f", "f1"),
        ],
        vec![Change::Delete("b"), Change::Replace("e/f", "f2"), Change::Delete("d/x")],
    ];
    let mut history = Vec::new();
    for changes in &batches {
        history.push(take_batch(site, changes));
    }
    let before_full = site.state();
    history.push((snapshot(&site.replica, &site.versions).unwrap().name, before_full));
    history.push(take_batch(site, &[Change::Replace("a", "a4")]));
    history.push(take_batch(
        site,
        &[Change::Replace("a", "a5"), Change::Create("b", "b2")],
    ));
    history.push(take_batch(site, &[Change::Delete("e/f"), Change::Replace("n", "n3")]));

    let past = [
        "20200101T100001.000Z",
        "20200101T100002.000Z",
        "20200101T100003.000Z",
        "20200101T100030.000Z",
        "20200101T100040.000Z",
        "20200101T100110.000Z",
        "20200101T100120.000Z",
    ];
    for ((name, _), new_name) in history.iter_mut().zip(past) {
        site.rename_version(name, new_name);
        *name = new_name.to_string();
    }
    history
}

#[test]
fn merge_keeps_resolve_answers() {
    let site = Site::new();
    let history = past_history(&site);
    let states: Vec<&BTreeMap<String, String>> = history.iter().map(|(_, s)| s).collect();
    states.iter().for_each(|s| assert!(!s.is_empty()));
    let mut paths = all_paths(&states);
    paths.extend(site.state().into_keys());
    for (name, state) in &history {
        site.assert_resolves(name, state, &paths);
    }

    let merged = retention::merge_past_minutes(&site.versions, "20200101T1002").unwrap();

    assert_eq!(
        merged,
        ["20200101T100002.000Z", "20200101T100003.000Z", "20200101T100120.000Z"]
    );
    let expected = vec![
        ("20200101T100001.000Z".to_string(), VersionKind::Batch),
        ("20200101T100030.000Z".to_string(), VersionKind::Full),
        ("20200101T100040.000Z".to_string(), VersionKind::Batch),
        ("20200101T100110.000Z".to_string(), VersionKind::Batch),
    ];
    assert_eq!(site.names(), expected);
    for (name, state) in &history {
        if expected.iter().any(|(kept, _)| kept == name) {
            site.assert_resolves(name, state, &paths);
        }
    }
    let merged_d = std::fs::metadata(site.versions.join("20200101T100001.000Z/d")).unwrap();
    assert_eq!(merged_d.mode() & 0o7777, 0o755, "folder metadata moved with its key");
}

#[test]
fn merge_skips_current_minute() {
    let site = Site::new();
    let history = past_history(&site);
    let merged = retention::merge_past_minutes(&site.versions, "20200101T1001").unwrap();

    assert_eq!(merged, ["20200101T100002.000Z", "20200101T100003.000Z"]);
    assert!(site.versions.join(&history[6].0).is_dir(), "minute 10:01 is not over");
}

#[test]
fn merge_interrupted_then_finished() {
    let site = Site::new();
    let history = past_history(&site);
    let paths = all_paths(&history.iter().map(|(_, s)| s).collect::<Vec<_>>());
    // An interrupted merge linked an entry into the earlier folder without
    // recording it, and left a record being written.
    let earlier = site.versions.join(&history[0].0);
    std::fs::write(earlier.join("b"), "stray").unwrap();
    std::fs::write(
        site.versions.join(format!(".incomplete-{}.batch", history[0].0)),
        b"partial",
    )
    .unwrap();
    site.assert_resolves(&history[0].0, &history[0].1, &paths);

    prune_with(&site.versions, Retention { full: 5, batch: 100 }).unwrap();

    for (name, state) in &history {
        if site.versions.join(name).is_dir() {
            site.assert_resolves(name, state, &paths);
        }
    }
    assert!(!site
        .versions
        .join(format!(".incomplete-{}.batch", history[0].0))
        .exists());
}

#[test]
fn prune_deletes_batches_before_deleted_full() {
    let site = Site::new();
    site.write("a", "a1");
    let first_batch = take_batch(&site, &[Change::Replace("a", "a2")]).0;
    let first_full = snapshot(&site.replica, &site.versions).unwrap().name;
    let (middle_batch, middle_state) = take_batch(&site, &[Change::Replace("a", "a3")]);
    let second_full = snapshot(&site.replica, &site.versions).unwrap().name;
    let (last_batch, last_state) = take_batch(&site, &[Change::Replace("a", "a4")]);

    let deleted = prune_with(&site.versions, Retention { full: 1, batch: 100 }).unwrap();

    assert_eq!(deleted, [first_full, first_batch]);
    let names: Vec<String> = site.names().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, [middle_batch.clone(), second_full, last_batch.clone()]);
    let paths = BTreeSet::from(["a".to_string()]);
    site.assert_resolves(&middle_batch, &middle_state, &paths);
    site.assert_resolves(&last_batch, &last_state, &paths);
}

#[test]
fn prune_old_api_deletes_dependent_batches() {
    let site = Site::new();
    site.write("a", "a1");
    let first_batch = take_batch(&site, &[Change::Replace("a", "a2")]).0;
    let first_full = snapshot(&site.replica, &site.versions).unwrap().name;
    let second_full = snapshot(&site.replica, &site.versions).unwrap().name;
    let last_batch = take_batch(&site, &[Change::Replace("a", "a3")]).0;

    let deleted = prune(&site.versions, 1).unwrap();

    assert_eq!(deleted, [first_full, first_batch]);
    let names: Vec<String> = site.names().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, [second_full, last_batch]);
}

#[test]
fn prune_batch_count_keeps_newest_whole() {
    let site = Site::new();
    site.write("a", "a1");
    site.write("b", "b1");
    let history = [
        take_batch(&site, &[Change::Replace("a", "a2"), Change::Replace("b", "b2")]),
        take_batch(&site, &[Change::Replace("a", "a3")]),
        take_batch(&site, &[Change::Delete("b")]),
    ];
    let paths = BTreeSet::from(["a".to_string(), "b".to_string()]);

    let deleted = prune_with(&site.versions, Retention { full: 5, batch: 2 }).unwrap();

    assert_eq!(deleted, [history[0].0.clone()]);
    for (name, state) in &history[1..] {
        site.assert_resolves(name, state, &paths);
    }
    let none = prune_with(&site.versions, Retention { full: 5, batch: 0 }).unwrap();
    assert_eq!(none.len(), 2);
    assert!(site.names().is_empty());
    assert_eq!(
        std::fs::read_dir(&site.versions)
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name() != ".prune.lock")
            .count(),
        0
    );
}

#[test]
fn prune_removes_crash_leftovers() {
    let site = Site::new();
    site.write("a", "a1");
    let kept = take_batch(&site, &[Change::Replace("a", "a2")]).0;
    std::fs::create_dir_all(site.versions.join(".incomplete-20200101T000000.000Z/some/dir")).unwrap();
    std::fs::create_dir_all(site.versions.join(".incomplete-deleted-20200101T000001.000Z/x")).unwrap();
    std::fs::write(site.versions.join("20200101T000002.000Z.batch"), b"orphan").unwrap();
    std::fs::write(site.versions.join(".incomplete-20200101T000003.000Z.batch"), b"half").unwrap();
    let mut building = site.begin();
    building.keep(&key("a")).unwrap();

    prune_with(&site.versions, Retention { full: 5, batch: 100 }).unwrap();

    let mut left: Vec<String> = std::fs::read_dir(&site.versions)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    let mut expected = vec![
        format!(".incomplete-{}", building.name()),
        ".prune.lock".to_string(),
        kept.clone(),
        format!("{kept}.batch"),
    ];
    expected.sort();
    assert_eq!(
        left, expected,
        "only the locked build in progress and the complete version stay"
    );

    let finished = building.finish().unwrap();
    assert_eq!(site.resolve(&finished.name, "a").as_deref(), Some("a2"));
}
