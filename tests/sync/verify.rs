//! `drkit verify` re-hashes both sides and finds what a stat check cannot.

use crate::common::*;

#[test]
fn verify_finds_bit_rot() {
    let site = Site::new();
    let src = site.source("www");
    write(src.join("db/dump.sql"), random_bytes(7, 200_000));
    write(src.join("index.php"), "ok");
    site.sync_ok();

    // Bit rot: other bytes, same size and mtime, on the replica only.
    let rotten = site.target("www").join("db/dump.sql");
    let mtime = mtime_ns(&rotten);
    let mut bytes = read(&rotten);
    bytes[100_000] ^= 0x01;
    std::fs::write(&rotten, &bytes).unwrap();
    set_mtime_ns(&rotten, mtime);
    assert_eq!(lstat(&rotten).len(), 200_000);

    let out = site.drkit(&["verify"]);

    out.expect_code(1);
    assert!(out.stdout.contains("  different: db/dump.sql\n"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("www: the replica differs from the source (different: 1, missing: 0, extra: 0;"),
        "{}",
        out.stdout
    );

    site.sync_ok();
    assert_eq!(
        read(&rotten),
        read(src.join("db/dump.sql")),
        "sync after verify must repair the file"
    );
    site.verify_ok();
}

#[test]
fn verify_json_lists_missing_and_extra() {
    let site = Site::with_sets(vec![SetSpec::new("www").max_delete("100%")]);
    let src = site.source("www");
    write(src.join("a.txt"), "a");
    write(src.join("dir/b.txt"), "b");
    write(src.join("c.txt"), "c");
    site.sync_ok();
    let dst = site.target("www");
    std::fs::remove_file(dst.join("dir/b.txt")).unwrap();
    write(dst.join("intruder.php"), "<?php evil();");
    write(dst.join("c.txt"), "C");

    let out = site.drkit(&["verify", "--json"]);

    out.expect_code(1);
    let report = out.json();
    assert_eq!(report["missing"], serde_json::json!(["dir/b.txt"]));
    assert_eq!(report["extra"], serde_json::json!(["intruder.php"]));
    assert_eq!(report["mismatched"], serde_json::json!(["c.txt"]));

    let text = site.drkit(&["verify"]);
    text.expect_code(1);
    assert!(
        text.stdout.contains("  missing on the replica: dir/b.txt\n"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("  only on the replica: intruder.php\n"),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("  different: c.txt\n"), "{}", text.stdout);
    assert!(
        text.stdout
            .contains("the next `drkit sync www` makes the replica equal to the source again"),
        "{}",
        text.stdout
    );

    site.sync_ok();
    site.verify_ok();
    assert_same_tree(&src, &dst);
}

#[test]
fn verify_escapes_awkward_names() {
    let site = Site::new();
    let src = site.source("www");
    write(bytes_path(&src, b"caf\xe9.txt"), "one");
    write(bytes_path(&src, b"new\nline"), "two");
    site.sync_ok();
    write(bytes_path(&site.target("www"), b"caf\xe9.txt"), "ONE");
    write(bytes_path(&site.target("www"), b"new\nline"), "TWO");

    let out = site.drkit(&["verify"]);

    out.expect_code(1);
    assert!(out.stdout.contains("  different: caf\\xE9.txt\n"), "{}", out.stdout);
    assert!(out.stdout.contains("  different: new\\nline\n"), "{}", out.stdout);
    let json = site.drkit(&["verify", "--json"]);
    assert_eq!(
        json.json()["mismatched"],
        serde_json::json!(["caf\\xE9.txt", "new\\nline"])
    );
}

#[test]
fn verify_ok_on_equal_trees() {
    let site = Site::new();
    write(site.source("www").join("a"), random_bytes(8, 20_000_000));
    write(site.source("www").join("b"), "b");
    site.sync_ok();
    let out = site.drkit(&["verify", "--json"]);
    out.expect_code(0);
    let report = out.json();
    assert_eq!(report["files_checked"], 2);
    assert_eq!(report["mismatched"], serde_json::json!([]));
}

#[test]
fn verify_finds_symlink_target_change() {
    let site = Site::new();
    let src = site.source("www");
    write(src.join("a"), "a");
    symlink("a", src.join("link"));
    site.sync_ok();
    let link = site.target("www").join("link");
    std::fs::remove_file(&link).unwrap();
    symlink("/etc/passwd", &link);

    let out = site.drkit(&["verify", "--json"]);

    out.expect_code(1);
    assert_eq!(out.json()["mismatched"], serde_json::json!(["link"]));
}

#[test]
fn same_size_same_second_synced() {
    let site = Site::new();
    let src = site.source("www");
    write(src.join("config.php"), "define('DB_PASSWORD', 'aaaaaaaa');");
    write(src.join("other.txt"), "other");
    set_mtime_ns(src.join("config.php"), 1_700_000_000_000_000_000);
    site.sync_ok();

    // Other content, same size, same mtime: only inode and ctime differ.
    replace(src.join("config.php"), "define('DB_PASSWORD', 'bbbbbbbb');");
    set_mtime_ns(src.join("config.php"), 1_700_000_000_000_000_000);
    let summary = site.sync_ok();

    assert_eq!(
        read(site.target("www").join("config.php")),
        b"define('DB_PASSWORD', 'bbbbbbbb');"
    );
    assert_eq!(summary["files_changed"], 1);
    site.verify_ok();
    assert_same_tree(&src, &site.target("www"));
}

#[test]
fn same_size_same_second_in_place() {
    let site = Site::new();
    let src = site.source("www");
    write(src.join("data.bin"), [1u8; 4096]);
    set_mtime_ns(src.join("data.bin"), 1_700_000_000_000_000_000);
    site.sync_ok();

    // Rewritten in place (same inode): only ctime differs.
    std::fs::write(src.join("data.bin"), [2u8; 4096]).unwrap();
    set_mtime_ns(src.join("data.bin"), 1_700_000_000_000_000_000);
    site.sync_ok();

    assert_eq!(read(site.target("www").join("data.bin")), [2u8; 4096]);
    site.verify_ok();
}

#[test]
fn same_size_same_second_verify_reports() {
    let site = Site::new();
    let src = site.source("www");
    write(src.join("page.html"), "version one!");
    set_mtime_ns(src.join("page.html"), 1_700_000_000_000_000_000);
    site.sync_ok();

    replace(src.join("page.html"), "version two!");
    set_mtime_ns(src.join("page.html"), 1_700_000_000_000_000_000);

    let out = site.drkit(&["verify", "--json"]);
    out.expect_code(1);
    assert_eq!(out.json()["mismatched"], serde_json::json!(["page.html"]));

    site.sync_ok();
    assert_eq!(read(site.target("www").join("page.html")), b"version two!");
    site.verify_ok();
}
