//! `drkit sync SET --path P…`: a sync limited to the paths a watcher saw
//! change, on a local replica.

use crate::common::*;

#[test]
fn batch_sync_carries_only_the_named_paths() {
    let site = Site::new();
    let sync = |extra: &[&str]| {
        let mut args = vec!["sync", "--json", "www"];
        args.extend_from_slice(extra);
        let out = site.drkit(&args);
        out.expect_code(0);
        out.json()
    };
    check_batch_sync(
        &site.source("www"),
        &site.target("www"),
        &site.versions_dir("www"),
        &sync,
    );
    site.verify_ok();
}
