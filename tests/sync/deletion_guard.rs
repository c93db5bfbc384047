//! The deletion guard: a sync that would delete more than `max_delete` of
//! the replica's files, or that finds an empty or missing source, stops
//! before changing anything.

use crate::common::*;

/// A site with 20 files synced once and one version kept.
fn synced_site() -> Site {
    let site = Site::new();
    let src = site.source("www");
    for i in 0..20 {
        write(src.join(format!("dir{}/file{i:02}.txt", i % 3)), format!("file {i}"));
    }
    site.sync_ok();
    write(src.join("dir0/file00.txt"), "changed once, so that a version exists");
    site.sync_ok();
    assert_eq!(site.versions("www").len(), 1);
    site
}

#[test]
fn too_many_deletions_stop_sync() {
    let site = synced_site();
    let src = site.source("www");
    let replica_before = Tree::read(&site.target("www"));
    let versions_before = Tree::read(&site.versions_dir("www"));
    for i in 0..5 {
        std::fs::remove_file(src.join(format!("dir{}/file{i:02}.txt", i % 3))).unwrap();
    }
    write(src.join("new.txt"), "a new file must not be copied either");

    let out = site.drkit(&["sync"]);

    out.expect_code(1);
    assert_eq!(
        out.stderr.lines().filter(|l| l.starts_with("error:")).collect::<Vec<_>>(),
        vec![
            "error: set \"www\": the sync would delete 5 of the replica's 20 files, more than max_delete = 10% allows (2). Nothing was changed. If these deletions are intended, run again with --max-delete 5."
        ],
        "{}",
        out.stderr
    );
    let diff = replica_before.differences(&Tree::read(&site.target("www")));
    assert!(diff.is_empty(), "the replica changed:\n{}", diff.join("\n"));
    let versions_diff = versions_before.differences(&Tree::read(&site.versions_dir("www")));
    assert!(
        versions_diff.is_empty(),
        "the versions changed:\n{}",
        versions_diff.join("\n")
    );
}

#[test]
fn deletions_within_limit_pass() {
    let site = synced_site();
    let src = site.source("www");
    for i in 0..2 {
        std::fs::remove_file(src.join(format!("dir{}/file{i:02}.txt", i % 3))).unwrap();
    }
    let summary = site.sync_ok();
    assert_eq!(summary["files_deleted"], 2);
    assert_same_tree(&src, &site.target("www"));
}

#[test]
fn max_delete_flag_lets_through() {
    let site = synced_site();
    let src = site.source("www");
    for i in 0..5 {
        std::fs::remove_file(src.join(format!("dir{}/file{i:02}.txt", i % 3))).unwrap();
    }
    site.drkit(&["sync"]).expect_code(1);

    let out = site.drkit(&["sync", "--json", "--max-delete", "100%"]);

    out.expect_code(0);
    let summary = out.json();
    assert_eq!(summary["files_deleted"], 5);
    assert_same_tree(&src, &site.target("www"));
    assert_eq!(
        site.versions("www").len(),
        2,
        "the deletions must be kept in a new version"
    );
    let newest = site.versions_dir("www").join(site.versions("www").last().unwrap());
    assert_eq!(read(newest.join("dir1/file01.txt")), b"file 1");
}

#[test]
fn max_delete_count_in_config() {
    let site = Site::with_sets(vec![SetSpec::new("www").max_delete("3")]);
    let src = site.source("www");
    for i in 0..10 {
        write(src.join(format!("f{i}")), "x");
    }
    site.sync_ok();
    for i in 0..4 {
        std::fs::remove_file(src.join(format!("f{i}"))).unwrap();
    }
    let out = site.drkit(&["sync"]);
    out.expect_code(1);
    assert!(
        out.stderr
            .contains("would delete 4 of the replica's 10 files, more than max_delete = 3 allows (3)"),
        "{}",
        out.stderr
    );
    assert!(site.target("www").join("f0").exists());

    site.drkit(&["sync", "--max-delete", "4"]).expect_code(0);
    assert!(!site.target("www").join("f0").exists());
}

#[test]
fn invalid_max_delete_flag_exit_2() {
    let site = synced_site();
    let out = site.drkit(&["sync", "--max-delete", "many"]);
    out.expect_code(2);
    assert_eq!(
        out.stderr,
        "error: invalid --max-delete \"many\": write a percentage such as \"25%\" or a file count such as \"500\"\n"
    );
}

#[test]
fn source_mount_gone_changes_nothing() {
    let site = synced_site();
    let src = site.source("www");
    let replica_before = Tree::read(&site.target("www"));
    let versions_before = Tree::read(&site.versions_dir("www"));
    // An unmounted file system leaves its mount point as an empty folder.
    std::fs::remove_dir_all(&src).unwrap();
    mkdir(&src);

    for args in [&["sync"][..], &["sync", "--max-delete", "100%"][..]] {
        let out = site.drkit(args);
        out.expect_code(1);
        assert_eq!(
            out.stderr.lines().filter(|l| l.starts_with("error:")).collect::<Vec<_>>(),
            vec![format!(
                "error: set \"www\": the source {} is empty. A missing mount or a wiped disk looks like this, so nothing was changed and every version is kept. Mount or restore the source, then sync again.",
                src.display()
            )],
            "{}",
            out.stderr
        );
    }

    let diff = replica_before.differences(&Tree::read(&site.target("www")));
    assert!(diff.is_empty(), "the replica changed:\n{}", diff.join("\n"));
    let versions_diff = versions_before.differences(&Tree::read(&site.versions_dir("www")));
    assert!(
        versions_diff.is_empty(),
        "every version must be kept unchanged:\n{}",
        versions_diff.join("\n")
    );
}

#[test]
fn missing_source_is_error() {
    let site = synced_site();
    let src = site.source("www");
    let replica_before = Tree::read(&site.target("www"));
    std::fs::remove_dir_all(&src).unwrap();

    let out = site.drkit(&["sync"]);

    out.expect_code(1);
    assert!(
        out.stderr.contains(&format!(
            "error: set \"www\": the source {} does not exist or is not a directory; check the path and that its disk is mounted. Nothing was changed.",
            src.display()
        )),
        "{}",
        out.stderr
    );
    assert!(replica_before.differences(&Tree::read(&site.target("www"))).is_empty());
}

#[test]
fn source_is_file_is_error() {
    let site = Site::new();
    std::fs::remove_dir(site.source("www")).unwrap();
    write(site.source("www"), "not a folder");
    let out = site.drkit(&["sync"]);
    out.expect_code(1);
    assert!(
        out.stderr.contains("does not exist or is not a directory"),
        "{}",
        out.stderr
    );
    assert!(
        !site.target("www").exists(),
        "no target may be created for a broken source"
    );
}

#[test]
fn failed_set_does_not_stop_others() {
    let site = Site::with_sets(vec![SetSpec::new("broken"), SetSpec::new("www")]);
    write(site.source("www").join("a"), "a");
    std::fs::remove_dir(site.source("broken")).unwrap();

    let out = site.drkit(&["sync"]);

    out.expect_code(1);
    assert!(out.stderr.contains("set \"broken\""), "{}", out.stderr);
    assert_eq!(read(site.target("www").join("a")), b"a");
}
