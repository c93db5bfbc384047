//! Replication edge cases: every kind of entry and metadata that a hosting
//! tree contains arrives on the replica exactly, and nothing else does.

use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use crate::common::*;

/// 2020-09-13T12:26:40.123456789Z, with nanoseconds that a copy through
/// a seconds-only API would lose.
const MTIME: i64 = 1_600_000_000_123_456_789;

#[test]
fn owner_and_group_kept() {
    require_root("owner_and_group_kept");
    let site = Site::new();
    let src = site.source("www");
    write(src.join("index.php"), "<?php echo 1;");
    write(src.join("uploads/photo.jpg"), random_bytes(1, 5000));
    symlink("index.php", src.join("home.php"));
    lchown(src.join("index.php"), 1234, 5678);
    lchown(src.join("uploads/photo.jpg"), 1001, 1002);
    lchown(src.join("uploads"), 2000, 3000);
    lchown(src.join("home.php"), 4321, 8765);

    site.sync_ok();

    let dst = site.target("www");
    assert_eq!(
        (lstat(dst.join("index.php")).uid(), lstat(dst.join("index.php")).gid()),
        (1234, 5678)
    );
    assert_eq!(
        (
            lstat(dst.join("uploads/photo.jpg")).uid(),
            lstat(dst.join("uploads/photo.jpg")).gid()
        ),
        (1001, 1002)
    );
    assert_eq!(
        (lstat(dst.join("uploads")).uid(), lstat(dst.join("uploads")).gid()),
        (2000, 3000)
    );
    assert_eq!(
        (lstat(dst.join("home.php")).uid(), lstat(dst.join("home.php")).gid()),
        (4321, 8765)
    );
    assert_same_tree(&src, &dst);
}

#[test]
fn owner_change_alone_synced() {
    require_root("owner_change_alone_synced");
    let site = Site::new();
    let src = site.source("www");
    write(src.join("a.txt"), "content");
    site.sync_ok();

    lchown(src.join("a.txt"), 1234, 5678);
    let summary = site.sync_ok();

    assert_eq!(summary["files_changed"], 1);
    assert_eq!(summary["bytes_copied"], 0, "an owner change must not copy the content");
    let meta = lstat(site.target("www").join("a.txt"));
    assert_eq!((meta.uid(), meta.gid()), (1234, 5678));
    assert_same_tree(&src, &site.target("www"));
}

#[test]
fn modes_with_special_bits_kept() {
    let site = Site::new();
    let src = site.source("www");
    write(src.join("secret.php"), "x");
    write(src.join("run.sh"), "#!/bin/sh\n");
    write(src.join("setuid-tool"), "y");
    mkdir(src.join("shared"));
    mkdir(src.join("tmp"));
    mkdir(src.join("private"));
    chmod(src.join("secret.php"), 0o640);
    chmod(src.join("run.sh"), 0o755);
    chmod(src.join("setuid-tool"), 0o4750);
    chmod(src.join("shared"), 0o2775);
    chmod(src.join("tmp"), 0o1777);
    chmod(src.join("private"), 0o700);

    site.sync_ok();

    let dst = site.target("www");
    assert_eq!(lstat(dst.join("secret.php")).mode() & 0o7777, 0o640);
    assert_eq!(lstat(dst.join("run.sh")).mode() & 0o7777, 0o755);
    assert_eq!(lstat(dst.join("setuid-tool")).mode() & 0o7777, 0o4750);
    assert_eq!(lstat(dst.join("shared")).mode() & 0o7777, 0o2775);
    assert_eq!(lstat(dst.join("tmp")).mode() & 0o7777, 0o1777);
    assert_eq!(lstat(dst.join("private")).mode() & 0o7777, 0o700);
    assert_same_tree(&src, &dst);
}

#[test]
fn mode_change_alone_synced() {
    let site = Site::new();
    let src = site.source("www");
    write(src.join("a.txt"), "content");
    mkdir(src.join("d"));
    site.sync_ok();

    chmod(src.join("a.txt"), 0o600);
    chmod(src.join("d"), 0o2750);
    site.sync_ok();

    assert_eq!(lstat(site.target("www").join("a.txt")).mode() & 0o7777, 0o600);
    assert_eq!(lstat(site.target("www").join("d")).mode() & 0o7777, 0o2750);
    assert_same_tree(&src, &site.target("www"));
}

#[test]
fn replica_drift_repaired() {
    require_root("replica_drift_repaired");
    let site = Site::new();
    let src = site.source("www");
    write(src.join("a.php"), "a");
    write(src.join("b.php"), "b");
    chmod(src.join("a.php"), 0o640);
    site.sync_ok();

    // Someone changes the replica by hand: mode, owner and mtime.
    let dst = site.target("www");
    chmod(dst.join("a.php"), 0o666);
    lchown(dst.join("b.php"), 999, 999);
    set_mtime_ns(dst.join("b.php"), MTIME);
    site.sync_ok();

    assert_same_tree(&src, &dst);
}

#[test]
fn mtime_kept_to_nanosecond() {
    let site = Site::new();
    let src = site.source("www");
    write(src.join("deep/dir/file.txt"), "x");
    symlink("file.txt", src.join("deep/dir/link"));
    set_mtime_ns(src.join("deep/dir/file.txt"), MTIME);
    set_mtime_ns(src.join("deep/dir/link"), MTIME + 1);
    set_mtime_ns(src.join("deep/dir"), MTIME + 2);
    set_mtime_ns(src.join("deep"), MTIME + 3);

    site.sync_ok();

    let dst = site.target("www");
    assert_eq!(mtime_ns(dst.join("deep/dir/file.txt")), MTIME);
    assert_eq!(mtime_ns(dst.join("deep/dir/link")), MTIME + 1);
    assert_eq!(mtime_ns(dst.join("deep/dir")), MTIME + 2);
    assert_eq!(mtime_ns(dst.join("deep")), MTIME + 3);
    assert_same_tree(&src, &dst);
}

#[test]
fn mtime_before_1970_and_after_2038() {
    let site = Site::new();
    let src = site.source("www");
    write(src.join("old"), "o");
    write(src.join("future"), "f");
    // 1969-12-31T23:59:59.876543211Z and 2100-01-01T00:00:00.123456789Z.
    set_mtime_ns(src.join("old"), -123_456_789);
    set_mtime_ns(src.join("future"), 4_102_444_800_123_456_789);

    site.sync_ok();

    assert_eq!(mtime_ns(site.target("www").join("old")), -123_456_789);
    assert_eq!(mtime_ns(site.target("www").join("future")), 4_102_444_800_123_456_789);
    assert_same_tree(&src, &site.target("www"));
}

#[test]
fn touch_alone_updates_mtime() {
    let site = Site::new();
    let src = site.source("www");
    write(src.join("a.txt"), "same content");
    site.sync_ok();

    set_mtime_ns(src.join("a.txt"), MTIME);
    let summary = site.sync_ok();

    assert_eq!(
        summary["bytes_copied"], 0,
        "a touched file with the same content must not be copied"
    );
    assert_eq!(mtime_ns(site.target("www").join("a.txt")), MTIME);
    assert_same_tree(&src, &site.target("www"));
}

#[test]
fn symlinks_kept_never_followed() {
    let site = Site::new();
    let src = site.source("www");
    let outside = site.root().join("outside");
    write(outside.join("passwords.txt"), "must not be copied");
    write(src.join("real/index.html"), "hello");
    symlink("real/index.html", src.join("relative"));
    symlink("real", src.join("dir-link"));
    symlink(outside.join("passwords.txt"), src.join("escape-file"));
    symlink(&outside, src.join("escape-dir"));
    symlink("../../../../etc/shadow", src.join("escape-relative"));
    symlink("nowhere/missing.txt", src.join("dangling"));
    symlink("loop", src.join("loop"));

    let summary = site.sync_ok();

    let dst = site.target("www");
    for name in [
        "relative",
        "dir-link",
        "escape-file",
        "escape-dir",
        "escape-relative",
        "dangling",
        "loop",
    ] {
        let meta = lstat(dst.join(name));
        assert!(
            meta.file_type().is_symlink(),
            "{name} must stay a symlink on the replica"
        );
        assert_eq!(
            std::fs::read_link(dst.join(name)).unwrap(),
            std::fs::read_link(src.join(name)).unwrap(),
            "{name}"
        );
    }
    assert!(
        find_names(&dst, "passwords").is_empty(),
        "a file outside the set was copied"
    );
    assert_eq!(summary["files_scanned"], 8, "real/index.html and the seven symlinks");
    assert_same_tree(&src, &dst);
    assert_eq!(read(outside.join("passwords.txt")), b"must not be copied");
}

#[test]
fn symlink_target_change_synced() {
    let site = Site::new();
    let src = site.source("www");
    write(src.join("a"), "a");
    write(src.join("b"), "b");
    symlink("a", src.join("current"));
    site.sync_ok();

    std::fs::remove_file(src.join("current")).unwrap();
    symlink("b", src.join("current"));
    site.sync_ok();

    assert_eq!(
        std::fs::read_link(site.target("www").join("current")).unwrap(),
        std::path::Path::new("b")
    );
    assert_same_tree(&src, &site.target("www"));
}

#[test]
fn hard_links_share_inode() {
    let site = Site::new();
    let src = site.source("www");
    write(src.join("a/original.bin"), random_bytes(2, 100_000));
    mkdir(src.join("b/c"));
    hard_link(src.join("a/original.bin"), src.join("b/c/second.bin"));
    hard_link(src.join("a/original.bin"), src.join("third.bin"));
    write(src.join("x"), "x");
    hard_link(src.join("x"), src.join("y"));
    write(src.join("alone"), "alone");

    site.sync_ok();

    let dst = site.target("www");
    let ino = |p: &str| lstat(dst.join(p)).ino();
    assert_eq!(ino("a/original.bin"), ino("b/c/second.bin"));
    assert_eq!(ino("a/original.bin"), ino("third.bin"));
    assert_eq!(ino("x"), ino("y"));
    assert_ne!(ino("x"), ino("a/original.bin"));
    assert_ne!(ino("alone"), ino("x"));
    assert_ne!(
        ino("x"),
        lstat(src.join("x")).ino(),
        "the replica must not share inodes with the source"
    );
    assert_same_tree(&src, &dst);
}

#[test]
fn hard_link_added_later() {
    let site = Site::new();
    let src = site.source("www");
    write(src.join("a"), random_bytes(3, 10_000));
    write(src.join("b"), "b");
    site.sync_ok();

    hard_link(src.join("a"), src.join("c"));
    std::fs::remove_file(src.join("b")).unwrap();
    hard_link(src.join("a"), src.join("b"));
    site.drkit(&["sync", "--max-delete", "100%"]).expect_code(0);

    let dst = site.target("www");
    assert_eq!(lstat(dst.join("a")).ino(), lstat(dst.join("b")).ino());
    assert_eq!(lstat(dst.join("a")).ino(), lstat(dst.join("c")).ino());
    assert_same_tree(&src, &dst);
}

#[test]
fn hard_linked_file_edited_in_place() {
    let site = Site::new();
    let src = site.source("www");
    write(src.join("a"), [1u8; 10_000]);
    hard_link(src.join("a"), src.join("b"));
    hard_link(src.join("a"), src.join("sub-c"));
    site.sync_ok();

    // Same size, so the sync must hash to see the change; all three names change at once.
    std::fs::write(src.join("a"), [2u8; 10_000]).unwrap();
    site.sync_ok();

    let dst = site.target("www");
    for name in ["a", "b", "sub-c"] {
        assert_eq!(read(dst.join(name)), [2u8; 10_000], "{name}");
    }
    assert_eq!(lstat(dst.join("a")).ino(), lstat(dst.join("b")).ino());
    assert_eq!(lstat(dst.join("a")).ino(), lstat(dst.join("sub-c")).ino());
    assert_same_tree(&src, &dst);
    site.verify_ok();
}

#[test]
fn hard_linked_file_chmod_synced() {
    let site = Site::new();
    let src = site.source("www");
    write(src.join("a"), "shared");
    hard_link(src.join("a"), src.join("b"));
    chmod(src.join("a"), 0o644);
    site.sync_ok();

    // One chmod changes the shared inode, so both names change mode.
    chmod(src.join("a"), 0o600);
    site.sync_ok();

    let dst = site.target("www");
    assert_eq!(lstat(dst.join("a")).mode() & 0o7777, 0o600);
    assert_eq!(lstat(dst.join("b")).mode() & 0o7777, 0o600);
    assert_eq!(lstat(dst.join("a")).ino(), lstat(dst.join("b")).ino());
    assert_same_tree(&src, &dst);
}

#[test]
fn hard_link_leader_deleted() {
    let site = Site::with_sets(vec![SetSpec::new("www").max_delete("100%")]);
    let src = site.source("www");
    write(src.join("a"), "shared");
    hard_link(src.join("a"), src.join("b"));
    hard_link(src.join("a"), src.join("c"));
    site.sync_ok();

    // "a" led the group in key order; "b" and "c" must stay linked without it.
    std::fs::remove_file(src.join("a")).unwrap();
    site.sync_ok();

    let dst = site.target("www");
    assert!(std::fs::symlink_metadata(dst.join("a")).is_err());
    assert_eq!(lstat(dst.join("b")).ino(), lstat(dst.join("c")).ino());
    assert_same_tree(&src, &dst);
}

#[test]
fn hard_link_outside_set_copied() {
    let site = Site::new();
    let src = site.source("www");
    let outside = site.root().join("outside.txt");
    write(&outside, "linked from outside the set");
    hard_link(&outside, src.join("inside.txt"));

    site.sync_ok();

    let copy = site.target("www").join("inside.txt");
    assert_eq!(read(&copy), b"linked from outside the set");
    assert_eq!(
        lstat(&copy).nlink(),
        1,
        "the replica file must not be linked to anything outside the replica"
    );
    assert_same_tree(&src, &site.target("www"));
}

#[test]
fn many_files_in_batches() {
    let site = Site::new();
    let src = site.source("www");
    // More files than one copy batch holds (4096 in this release), with
    // hard-link groups whose members fall into different batches.
    for i in 0..9000u32 {
        write(src.join(format!("d{:02}/f{i:05}", i % 50)), i.to_string());
    }
    hard_link(src.join("d00/f00000"), src.join("d49/zz-link-to-first"));
    hard_link(src.join("d49/f08999"), src.join("d00/aa-link-to-last"));

    let summary = site.sync_ok();

    assert_eq!(summary["files_scanned"], 9002);
    assert_eq!(summary["files_changed"], 9002);
    assert_same_tree(&src, &site.target("www"));
    let again = site.sync_ok();
    assert_eq!(again["files_changed"], 0);
}

#[test]
fn empty_directories_kept() {
    let site = Site::new();
    let src = site.source("www");
    write(src.join("file"), "f");
    mkdir(src.join("empty"));
    mkdir(src.join("nested/empty/deeper"));
    chmod(src.join("nested/empty"), 0o750);

    site.sync_ok();

    let dst = site.target("www");
    assert!(lstat(dst.join("empty")).is_dir());
    assert!(lstat(dst.join("nested/empty/deeper")).is_dir());
    assert_same_tree(&src, &dst);
}

#[test]
fn awkward_names_arrive_byte_for_byte() {
    let site = Site::new();
    let src = site.source("www");
    let long_name = vec![b'n'; 255];
    let names: Vec<Vec<u8>> = vec![
        b"caf\xe9.txt".to_vec(),
        b"new\nline".to_vec(),
        b"[*?]".to_vec(),
        b"*".to_vec(),
        b"back`tick`".to_vec(),
        b"-rf".to_vec(),
        b"--help".to_vec(),
        b" leading space".to_vec(),
        b"back\\slash".to_vec(),
        long_name.clone(),
    ];
    for (i, name) in names.iter().enumerate() {
        write(bytes_path(&src, name), format!("content {i}"));
    }
    mkdir(bytes_path(&src, b"dir \xe9 [a-z]"));
    write(bytes_path(&src, b"dir \xe9 [a-z]/inner\n\xff"), "inner");
    write(bytes_path(&src, b"a"), "plain a, which the pattern [a-z] would match");
    symlink(
        bytes_path(std::path::Path::new(""), b"caf\xe9.txt"),
        bytes_path(&src, b"link \xe9"),
    );

    let summary = site.sync_ok();

    let dst = site.target("www");
    for (i, name) in names.iter().enumerate() {
        assert_eq!(
            read(bytes_path(&dst, name)),
            format!("content {i}").as_bytes(),
            "name {}",
            show(name)
        );
    }
    assert_eq!(read(bytes_path(&dst, b"dir \xe9 [a-z]/inner\n\xff")), b"inner");
    assert_eq!(
        read(bytes_path(&dst, b"link \xe9")),
        b"content 0",
        "the symlink with a non-UTF-8 target must resolve on the replica"
    );
    assert_eq!(
        summary["files_scanned"],
        names.len() + 3,
        "every name, the inner file, the file \"a\" and the symlink"
    );
    assert_same_tree(&src, &dst);

    // A second sync finds nothing to do, because the names match their cache rows.
    let again = site.sync_ok();
    assert_eq!(again["files_changed"], 0);
    assert!(again["version_created"].is_null());
}

#[test]
fn awkward_names_deleted_exactly() {
    let site = Site::new();
    let src = site.source("www");
    for i in 0..20 {
        write(src.join(format!("keep{i:02}")), "k");
    }
    write(bytes_path(&src, b"[*?]"), "pattern-like");
    write(bytes_path(&src, b"caf\xe9"), "latin-1");
    site.sync_ok();

    // Deleting the file named "[*?]" must not delete anything it would match as a pattern.
    std::fs::remove_file(bytes_path(&src, b"[*?]")).unwrap();
    site.sync_ok();

    let dst = site.target("www");
    assert!(std::fs::symlink_metadata(bytes_path(&dst, b"[*?]")).is_err());
    assert_eq!(read(bytes_path(&dst, b"caf\xe9")), b"latin-1");
    assert_same_tree(&src, &dst);
}

#[test]
fn fifo_and_socket_skipped_without_blocking() {
    let site = Site::new();
    let src = site.source("www");
    write(src.join("a.txt"), "first");
    nix::unistd::mkfifo(&src.join("m-fifo"), nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    let _listener = std::os::unix::net::UnixListener::bind(src.join("m-socket")).unwrap();
    write(src.join("z.txt"), "last");

    // A sync that opened the FIFO would wait here for a writer; the timeout catches it.
    let out = site.spawn(&["sync", "--json"]).wait(Duration::from_secs(60));
    out.expect_code(0);

    let dst = site.target("www");
    assert_eq!(read(dst.join("a.txt")), b"first");
    assert_eq!(read(dst.join("z.txt")), b"last");
    assert!(
        std::fs::symlink_metadata(dst.join("m-fifo")).is_err(),
        "the FIFO must not be copied"
    );
    assert!(
        std::fs::symlink_metadata(dst.join("m-socket")).is_err(),
        "the socket must not be copied"
    );
    let warnings: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.to_lowercase().contains("warn"))
        .collect();
    assert!(
        warnings.iter().any(|l| l.contains("m-fifo")),
        "no warning names the FIFO:\n{}",
        out.stderr
    );
    assert!(
        warnings.iter().any(|l| l.contains("m-socket")),
        "no warning names the socket:\n{}",
        out.stderr
    );
    let summary = out.json();
    let skipped = summary["skipped_special"].to_string();
    assert!(skipped.contains("m-fifo"), "{skipped}");
    assert!(skipped.contains("m-socket"), "{skipped}");
    assert_same_tree(&src, &dst);
}

#[test]
fn fifo_skipped_in_text_output() {
    let site = Site::new();
    let src = site.source("www");
    write(src.join("a.txt"), "first");
    nix::unistd::mkfifo(&src.join("pipe"), nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();

    let out = site.spawn(&["sync"]).wait(Duration::from_secs(60));
    out.expect_code(0);

    assert!(
        out.stderr
            .contains("warning: pipe (FIFO): skipped (special files are not replicated)\n"),
        "{}",
        out.stderr
    );
    assert_eq!(read(site.target("www").join("a.txt")), b"first");
}

#[test]
fn excludes_neither_copied_nor_deleted() {
    let site = Site::with_sets(vec![SetSpec::new("www").exclude(&["*.tmp", "cache/"])]);
    let src = site.source("www");
    let dst = site.target("www");
    write(src.join("index.php"), "i");
    write(src.join("upload.tmp"), "temporary");
    write(src.join("sub/deep.tmp"), "temporary");
    write(src.join("cache/page.html"), "cached");
    write(src.join("sub/cache/x"), "cached");
    write(src.join("cache.txt"), "a file named like the directory pattern is kept");
    write(dst.join("replica-only.tmp"), "the replica's own excluded file");
    write(dst.join("cache/own"), "the replica's own cache");

    site.sync_ok();

    assert_eq!(read(dst.join("index.php")), b"i");
    assert_eq!(
        read(dst.join("cache.txt")),
        b"a file named like the directory pattern is kept"
    );
    assert!(std::fs::symlink_metadata(dst.join("upload.tmp")).is_err());
    assert!(std::fs::symlink_metadata(dst.join("sub/deep.tmp")).is_err());
    assert!(std::fs::symlink_metadata(dst.join("cache/page.html")).is_err());
    assert!(std::fs::symlink_metadata(dst.join("sub/cache")).is_err());
    assert_eq!(read(dst.join("replica-only.tmp")), b"the replica's own excluded file");
    assert_eq!(read(dst.join("cache/own")), b"the replica's own cache");

    // Deleting from the source: excluded entries on the replica stay.
    std::fs::remove_file(src.join("index.php")).unwrap();
    site.drkit(&["sync", "--max-delete", "100%"]).expect_code(0);
    assert!(std::fs::symlink_metadata(dst.join("index.php")).is_err());
    assert_eq!(read(dst.join("replica-only.tmp")), b"the replica's own excluded file");
    assert_eq!(read(dst.join("cache/own")), b"the replica's own cache");
    site.verify_ok();
}

#[test]
fn deleted_file_kept_in_version() {
    let site = Site::with_sets(vec![SetSpec::new("www").max_delete("100%")]);
    let src = site.source("www");
    write(src.join("keep.txt"), "keep");
    write(src.join("old/report.pdf"), "the only copy of an old report");
    site.sync_ok();

    std::fs::remove_dir_all(src.join("old")).unwrap();
    let summary = site.sync_ok();

    let dst = site.target("www");
    assert_eq!(summary["files_deleted"], 1);
    assert!(
        std::fs::symlink_metadata(dst.join("old")).is_err(),
        "the deleted folder must leave the replica"
    );
    let version = summary["version_created"]
        .as_str()
        .expect("a version is kept before a deletion");
    let kept = site.versions_dir("www").join(version);
    assert_eq!(read(kept.join("old/report.pdf")), b"the only copy of an old report");
    assert_eq!(read(kept.join("keep.txt")), b"keep");
    assert_same_tree(&src, &dst);
}

#[test]
fn file_becomes_directory() {
    let site = Site::with_sets(vec![SetSpec::new("www").max_delete("100%")]);
    let src = site.source("www");
    write(src.join("config"), "a file first");
    write(src.join("other"), "o");
    site.sync_ok();

    std::fs::remove_file(src.join("config")).unwrap();
    write(src.join("config/settings.php"), "now a folder");
    site.sync_ok();

    let dst = site.target("www");
    assert!(lstat(dst.join("config")).is_dir());
    assert_eq!(read(dst.join("config/settings.php")), b"now a folder");
    assert_same_tree(&src, &dst);
}

#[test]
fn directory_becomes_symlink() {
    let site = Site::with_sets(vec![SetSpec::new("www").max_delete("100%")]);
    let src = site.source("www");
    write(src.join("current/index.html"), "v1");
    write(src.join("releases/v2/index.html"), "v2");
    site.sync_ok();

    std::fs::remove_dir_all(src.join("current")).unwrap();
    symlink("releases/v2", src.join("current"));
    site.sync_ok();

    let dst = site.target("www");
    assert!(lstat(dst.join("current")).file_type().is_symlink());
    assert_eq!(
        std::fs::read_link(dst.join("current")).unwrap(),
        std::path::Path::new("releases/v2")
    );
    assert_same_tree(&src, &dst);
}

#[test]
fn symlink_becomes_file() {
    let site = Site::with_sets(vec![SetSpec::new("www").max_delete("100%")]);
    let src = site.source("www");
    write(src.join("target.txt"), "t");
    symlink("target.txt", src.join("link"));
    site.sync_ok();

    std::fs::remove_file(src.join("link")).unwrap();
    write(src.join("link"), "a regular file now");
    site.sync_ok();

    let dst = site.target("www");
    assert!(lstat(dst.join("link")).is_file());
    assert_eq!(read(dst.join("link")), b"a regular file now");
    assert_same_tree(&src, &dst);
}

#[test]
fn symlink_becomes_directory() {
    let site = Site::with_sets(vec![SetSpec::new("www").max_delete("100%")]);
    let src = site.source("www");
    write(src.join("real/a"), "a");
    symlink("real", src.join("alias"));
    site.sync_ok();

    std::fs::remove_file(src.join("alias")).unwrap();
    write(src.join("alias/own"), "a folder of its own now");
    site.sync_ok();

    let dst = site.target("www");
    assert!(lstat(dst.join("alias")).is_dir());
    assert_eq!(read(dst.join("alias/own")), b"a folder of its own now");
    assert_eq!(
        read(dst.join("real/a")),
        b"a",
        "the old symlink's target must be untouched"
    );
    assert_same_tree(&src, &dst);
}

#[test]
fn hard_link_broken_in_source() {
    let site = Site::new();
    let src = site.source("www");
    write(src.join("a"), "shared");
    hard_link(src.join("a"), src.join("b"));
    site.sync_ok();

    // An editor saves "a" as a new inode; "b" keeps the old content.
    replace(src.join("a"), "edited");
    site.sync_ok();

    let dst = site.target("www");
    assert_eq!(read(dst.join("a")), b"edited");
    assert_eq!(read(dst.join("b")), b"shared");
    assert_ne!(lstat(dst.join("a")).ino(), lstat(dst.join("b")).ino());
    assert_same_tree(&src, &dst);
}

#[test]
fn directory_becomes_file() {
    let site = Site::with_sets(vec![SetSpec::new("www").max_delete("100%")]);
    let src = site.source("www");
    write(src.join("data/a"), "a");
    write(src.join("data/sub/b"), "b");
    write(src.join("other"), "o");
    site.sync_ok();

    std::fs::remove_dir_all(src.join("data")).unwrap();
    write(src.join("data"), "a file now");
    site.sync_ok();

    assert_eq!(read(site.target("www").join("data")), b"a file now");
    assert_same_tree(&src, &site.target("www"));
}

#[test]
fn mixed_tree_matches_exactly() {
    let site = Site::new();
    let src = site.source("www");
    write(src.join("public_html/index.php"), random_bytes(4, 3000));
    write(
        src.join("public_html/wp-content/uploads/2024/01/big.jpg"),
        random_bytes(5, 3_000_000),
    );
    mkdir(src.join("public_html/wp-content/uploads/2024/02"));
    symlink("../public_html", src.join("logs-link"));
    hard_link(src.join("public_html/index.php"), src.join("index-copy.php"));
    chmod(src.join("public_html"), 0o2750);
    set_mtime_ns(src.join("public_html/index.php"), MTIME);

    site.sync_ok();
    assert_same_tree(&src, &site.target("www"));
    site.verify_ok();

    let again = site.sync_ok();
    assert_eq!(again["files_changed"], 0, "a second sync must find nothing to do");
    assert_eq!(again["bytes_copied"], 0);
    assert!(again["version_created"].is_null());
}
