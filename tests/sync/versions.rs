//! Versions: every sync that changes the replica first keeps its previous
//! state beside it, as hard links to the files that did not change.

use std::os::unix::fs::MetadataExt;

use crate::common::*;

#[test]
fn version_holds_previous_tree() {
    let site = Site::new();
    let src = site.source("www");
    write(src.join("changed.txt"), "old content");
    write(src.join("same.txt"), "unchanged");
    write(src.join("dir/same-too.bin"), random_bytes(6, 50_000));
    mkdir(src.join("empty"));
    symlink("same.txt", src.join("link"));
    site.sync_ok();
    let before = Tree::read(&site.target("www"));

    write(src.join("changed.txt"), "new content, longer");
    let summary = site.sync_ok();

    let name = summary["version_created"]
        .as_str()
        .expect("a changing sync keeps a version");
    assert_eq!(site.versions("www"), vec![name.to_string()]);
    let version = site.versions_dir("www").join(name);
    assert!(
        name.len() >= 16 && name.ends_with('Z') && name.as_bytes()[8] == b'T',
        "the version name should be a UTC timestamp such as 20261204T203000.123Z: {name}"
    );

    // The version equals the replica as it was before the sync.
    let diff = before.differences(&Tree::read(&version));
    assert!(
        diff.is_empty(),
        "the version differs from the replica before the sync:\n{}",
        diff.join("\n")
    );
    assert_eq!(read(version.join("changed.txt")), b"old content");
    assert_eq!(read(site.target("www").join("changed.txt")), b"new content, longer");

    // Unchanged files are hard links to the replica's inodes; the changed one is not.
    let dst = site.target("www");
    assert_eq!(lstat(version.join("same.txt")).ino(), lstat(dst.join("same.txt")).ino());
    assert_eq!(
        lstat(version.join("dir/same-too.bin")).ino(),
        lstat(dst.join("dir/same-too.bin")).ino()
    );
    assert_ne!(
        lstat(version.join("changed.txt")).ino(),
        lstat(dst.join("changed.txt")).ino()
    );
    assert_same_tree(&src, &dst);
}

#[test]
fn first_sync_keeps_no_version() {
    let site = Site::new();
    write(site.source("www").join("a"), "a");
    let summary = site.sync_ok();
    assert!(
        summary["version_created"].is_null(),
        "an empty replica has nothing to keep"
    );
    assert!(site.versions("www").is_empty());
}

#[test]
fn no_change_sync_keeps_no_version() {
    let site = Site::new();
    let src = site.source("www");
    write(src.join("a"), "a");
    site.sync_ok();
    write(src.join("a"), "b");
    site.sync_ok();
    assert_eq!(site.versions("www").len(), 1);

    let summary = site.sync_ok();

    assert!(summary["version_created"].is_null());
    assert_eq!(summary["files_changed"], 0);
    assert_eq!(
        site.versions("www").len(),
        1,
        "a sync that changed nothing must not add a version"
    );
}

#[test]
fn keep_versions_limits_count() {
    let site = Site::with_sets(vec![SetSpec::new("www").keep_versions(2)]);
    let src = site.source("www");
    write(src.join("counter"), "0");
    site.sync_ok();

    let mut created = Vec::new();
    for round in 1..=4 {
        write(src.join("counter"), round.to_string());
        let summary = site.sync_ok();
        created.push(
            summary["version_created"]
                .as_str()
                .expect("a version per changing sync")
                .to_string(),
        );
        assert!(
            site.versions("www").len() <= 2,
            "round {round}: {:?}",
            site.versions("www")
        );
        assert_eq!(summary["versions_kept"], site.versions("www").len());
    }

    // The two newest stay, holding the two states before the last two syncs.
    let kept = site.versions("www");
    assert_eq!(kept, created[2..].to_vec());
    assert_eq!(read(site.versions_dir("www").join(&kept[0]).join("counter")), b"2");
    assert_eq!(read(site.versions_dir("www").join(&kept[1]).join("counter")), b"3");
    assert_eq!(read(site.target("www").join("counter")), b"4");
}

#[test]
fn keep_versions_zero_keeps_none() {
    let site = Site::with_sets(vec![SetSpec::new("www").keep_versions(0)]);
    let src = site.source("www");
    write(src.join("a"), "1");
    site.sync_ok();
    write(src.join("a"), "2");
    let summary = site.sync_ok();
    assert!(summary["version_created"].is_null());
    assert!(site.versions("www").is_empty());
    assert_eq!(read(site.target("www").join("a")), b"2");
}

#[test]
fn metadata_change_leaves_version_intact() {
    let site = Site::new();
    let src = site.source("www");
    write(src.join("a.php"), "code");
    chmod(src.join("a.php"), 0o644);
    site.sync_ok();
    write(src.join("b"), "a change so that the next sync keeps a version");
    site.sync_ok();
    let first = site.versions("www");
    assert_eq!(first.len(), 1);
    let version = site.versions_dir("www").join(&first[0]);
    let version_tree = Tree::read(&version);

    chmod(src.join("a.php"), 0o600);
    set_mtime_ns(src.join("a.php"), 1_500_000_000_000_000_001);
    site.sync_ok();

    // The replica's file changed mode and mtime; the older version must not.
    assert_eq!(lstat(site.target("www").join("a.php")).mode() & 0o7777, 0o600);
    assert_eq!(lstat(version.join("a.php")).mode() & 0o7777, 0o644);
    let diff = version_tree.differences(&Tree::read(&version));
    assert!(
        diff.is_empty(),
        "a metadata change reached into an older version:\n{}",
        diff.join("\n")
    );
    assert_same_tree(&src, &site.target("www"));
}

#[test]
fn first_version_keeps_old_mode_and_owner() {
    // Regression: the version taken by the same sync that changes only the
    // mode or owner shared the replica's inode, which was then changed in place.
    let site = Site::new();
    let src = site.source("www");
    write(src.join("f1"), "one");
    write(src.join("f2"), "two");
    chmod(src.join("f1"), 0o644);
    site.sync_ok();

    chmod(src.join("f1"), 0o600);
    std::os::unix::fs::chown(src.join("f2"), Some(4321), Some(4321)).unwrap();
    site.sync_ok();

    let versions = site.versions("www");
    assert_eq!(versions.len(), 1);
    let version = site.versions_dir("www").join(&versions[0]);
    assert_eq!(
        lstat(version.join("f1")).mode() & 0o7777,
        0o644,
        "the version must keep the old mode"
    );
    assert_eq!(
        lstat(version.join("f2")).uid(),
        0,
        "the version must keep the old owner"
    );
    assert_eq!(lstat(site.target("www").join("f1")).mode() & 0o7777, 0o600);
    assert_eq!(lstat(site.target("www").join("f2")).uid(), 4321);
    assert_same_tree(&src, &site.target("www"));
}

#[test]
fn versions_outside_replica() {
    let site = Site::new();
    let src = site.source("www");
    write(src.join("a"), "1");
    site.sync_ok();
    write(src.join("a"), "2");
    site.sync_ok();
    assert!(
        find_names(&site.target("www"), ".drkit").is_empty(),
        "drkit's own files must not appear inside the replica"
    );
    assert_eq!(site.versions("www").len(), 1);
    site.verify_ok();
}
