//! `drkit sync --json`: the fields of the summary for a known change.

use std::path::Path;

use crate::common::*;

#[test]
fn json_summary_counts_known_change() {
    let site = Site::with_sets(vec![SetSpec::new("www").max_delete("100%")]);
    let src = site.source("www");
    write(src.join("keep.txt"), "keep");
    write(src.join("change.bin"), random_bytes(9, 1000));
    write(src.join("delete.txt"), "delete me");
    write(src.join("sub/keep2.txt"), "keep 2");
    let first = site.sync_ok();
    assert_eq!(first["files_scanned"], 4);
    assert_eq!(first["files_changed"], 4);
    assert_eq!(first["bytes_copied"], 4 + 1000 + 9 + 6);
    assert!(first["version_created"].is_null());

    write(src.join("change.bin"), random_bytes(10, 1200));
    std::fs::remove_file(src.join("delete.txt")).unwrap();
    write(src.join("sub/new.bin"), random_bytes(11, 500));
    let summary = site.sync_ok();

    assert_eq!(summary["set"], "www");
    assert_eq!(summary["files_scanned"], 4);
    assert_eq!(summary["files_changed"], 2);
    assert_eq!(summary["files_deleted"], 1);
    assert_eq!(summary["bytes_copied"], 1200 + 500);
    assert!(
        summary["duration_ms"].is_u64(),
        "duration_ms: {}",
        summary["duration_ms"]
    );
    let version = summary["version_created"]
        .as_str()
        .expect("version_created names the new version");
    assert!(site.versions_dir("www").join(version).is_dir());
    assert_eq!(summary["versions_kept"], 1);
    assert_eq!(
        Path::new(summary["versions_dir"].as_str().unwrap()),
        site.versions_dir("www")
    );
    assert_eq!(summary["unstable"], serde_json::json!([]));
    assert_eq!(summary["errors"], serde_json::json!([]));

    let unchanged = site.sync_ok();
    assert_eq!(unchanged["files_changed"], 0);
    assert_eq!(unchanged["files_deleted"], 0);
    assert_eq!(unchanged["bytes_copied"], 0);
    assert!(unchanged["version_created"].is_null());
}

#[test]
fn json_one_line_per_set() {
    let site = Site::with_sets(vec![SetSpec::new("mail"), SetSpec::new("www")]);
    write(site.source("www").join("a"), "a");
    write(site.source("mail").join("b"), "bb");
    let out = site.drkit(&["sync", "--json"]);
    out.expect_code(0);
    let lines = out.json_lines();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["set"], "mail");
    assert_eq!(lines[0]["bytes_copied"], 2);
    assert_eq!(lines[1]["set"], "www");
    assert_eq!(lines[1]["bytes_copied"], 1);

    let only = site.drkit(&["sync", "--json", "www"]);
    only.expect_code(0);
    assert_eq!(only.json()["set"], "www");
}

#[test]
fn unknown_set_exit_2() {
    let site = Site::new();
    let out = site.drkit(&["sync", "nosuch"]);
    out.expect_code(2);
    assert_eq!(
        out.stderr,
        "error: no sync set is named \"nosuch\"; the config defines: www\n"
    );
}
