//! A sync killed with SIGKILL at any point leaves every replica file with
//! either its old or its new content under its final name. The next sync
//! converges and cleans up.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::*;

/// Sizes of the large files, in MiB.
const LARGE_MIB: [usize; 6] = [40, 55, 80, 48, 66, 72];

/// Small files deleted in version B.
const DELETED_IN_B: [u64; 3] = [3, 17, 29];

/// Records the content hash of every regular file under `root`, by relative path.
fn file_hashes(root: &Path) -> BTreeMap<Vec<u8>, String> {
    Tree::read(root)
        .nodes
        .into_iter()
        .filter_map(|(key, node)| node.hash.map(|hash| (key, hash)))
        .collect()
}

fn small_path(src: &Path, i: u64) -> std::path::PathBuf {
    src.join(format!("small/{}/f{i:02}.php", i % 4))
}

/// Writes version A (`version_b == false`) or B of the source. B has other
/// random content in every large file (1 MiB longer), other small files,
/// three small files fewer and one more.
fn write_version(src: &Path, version_b: bool) {
    let b = version_b;
    let seed = if b { 200 } else { 100 };
    let grow = usize::from(b);
    for (i, mib) in LARGE_MIB.iter().enumerate() {
        write(
            src.join(format!("large/dump{i}.sql")),
            random_bytes(seed + i as u64, (mib + grow) << 20),
        );
    }
    for i in 0..40u64 {
        let path = small_path(src, i);
        if b && DELETED_IN_B.contains(&i) {
            let _ = std::fs::remove_file(path);
        } else {
            write(path, random_bytes(seed * 1000 + i, 100 + 37 * i as usize));
        }
    }
    let added = src.join("small/added.php");
    if b {
        write(added, "added in version B");
    } else {
        let _ = std::fs::remove_file(added);
    }
}

#[test]
fn killed_sync_leaves_old_or_new() {
    let site = Site::new();
    let src = site.source("www");
    let dst = site.target("www");

    write_version(&src, false);
    let version_a = file_hashes(&src);
    let clock = Instant::now();
    site.sync_ok();
    let full_sync = clock.elapsed();
    write_version(&src, true);
    let version_b = file_hashes(&src);
    let mut source_is_b = true;

    // Kill points spread over one full sync and a little beyond. When a run
    // finishes before its kill, the source switches to the other version,
    // so the next run has the whole copy to do again.
    let mut delays: Vec<Duration> = [5u64, 30].iter().map(|ms| Duration::from_millis(*ms)).collect();
    for step in 1..=24u32 {
        delays.push(full_sync * step / 20);
    }
    let mut killed = 0;
    let mut mixed = 0;
    for delay in &delays {
        let running = site.spawn(&["sync"]);
        std::thread::sleep(*delay);
        let out = running.kill();
        if out.code.is_none() {
            killed += 1;
        } else {
            out.expect_code(0);
        }

        let mut seen = [0usize; 2];
        for (key, hash) in file_hashes(&dst) {
            let name = show(&key);
            if name.rsplit('/').next().is_some_and(|n| n.starts_with(".drkit-tmp-")) {
                continue;
            }
            let in_a = version_a.get(&key) == Some(&hash);
            let in_b = version_b.get(&key) == Some(&hash);
            assert!(
                in_a || in_b,
                "after a kill at {delay:?}, {name} holds neither its old nor its new content"
            );
            if in_a != in_b {
                seen[usize::from(in_b)] += 1;
            }
        }
        if seen[0] > 0 && seen[1] > 0 {
            mixed += 1;
        }
        eprintln!(
            "kill at {delay:?} of {full_sync:?}: exit {:?}, {} files of A, {} of B",
            out.code, seen[0], seen[1]
        );

        if out.code.is_some() {
            source_is_b = !source_is_b;
            write_version(&src, source_is_b);
        }
    }
    eprintln!("{killed} runs killed, {mixed} left a replica mixing both versions");
    assert!(
        killed > 0,
        "every run finished before its kill; the test killed nothing"
    );

    site.sync_ok();
    site.verify_ok();
    assert_same_tree(&src, &dst);
    assert!(
        find_names(&dst, ".drkit-tmp-").is_empty(),
        "temporary files left in the replica"
    );
    assert!(
        find_names(&site.versions_dir("www"), ".incomplete-").is_empty(),
        "unfinished versions left behind"
    );
    let expected = if source_is_b { &version_b } else { &version_a };
    assert_eq!(&file_hashes(&dst), expected);
}
