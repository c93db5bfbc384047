//! Two syncs of one set started at the same moment must not corrupt it.

use std::time::Duration;

use crate::common::*;

#[test]
fn simultaneous_syncs_stay_correct() {
    let site = Site::new();
    let src = site.source("www");
    for i in 0..300 {
        write(
            src.join(format!("d{}/f{i:03}", i % 10)),
            random_bytes(i, 2000 + i as usize),
        );
    }
    for i in 0..3 {
        write(src.join(format!("big{i}.bin")), random_bytes(1000 + i, 16 << 20));
    }
    site.sync_ok();

    for round in 0..3u64 {
        for i in (0..300).step_by(3) {
            write(
                src.join(format!("d{}/f{i:03}", i % 10)),
                random_bytes(round * 10_000 + i, 3000),
            );
        }
        for i in 0..3 {
            write(
                src.join(format!("big{i}.bin")),
                random_bytes(round * 100 + 50 + i, (16 << 20) + 1),
            );
        }
        write(src.join(format!("new{round}")), "new");

        let first = site.spawn(&["sync"]);
        let second = site.spawn(&["sync"]);
        let a = first.wait(Duration::from_secs(300));
        let b = second.wait(Duration::from_secs(300));

        for out in [&a, &b] {
            assert!(
                matches!(out.code, Some(0) | Some(1)),
                "round {round}: a sync ended with {:?}\n{}",
                out.code,
                out.stderr
            );
            assert!(!out.stderr.contains("panicked"), "round {round}: {}", out.stderr);
        }
        assert!(
            a.code == Some(0) || b.code == Some(0),
            "round {round}: neither sync succeeded\n--- first\n{}\n--- second\n{}",
            a.stderr,
            b.stderr
        );
        let verify = site.drkit(&["verify"]);
        assert_eq!(
            verify.code,
            Some(0),
            "round {round}: verify after two simultaneous syncs:\n{}\n{}",
            verify.stdout,
            verify.stderr
        );
        assert_same_tree(&src, &site.target("www"));
        assert!(
            find_names(&site.target("www"), ".drkit-tmp-").is_empty(),
            "round {round}: temporary files left"
        );
    }
}

/// Two syncs of one set at once should both succeed: the second waits for
/// the first or finds nothing left to do.
#[test]
fn simultaneous_syncs_both_succeed() {
    let site = Site::new();
    let src = site.source("www");
    for i in 0..200 {
        write(src.join(format!("d{}/f{i:03}", i % 10)), random_bytes(i, 2000));
    }
    site.sync_ok();

    for round in 0..5u64 {
        for i in (0..200).step_by(2) {
            write(
                src.join(format!("d{}/f{i:03}", i % 10)),
                random_bytes(round * 10_000 + i, 2500),
            );
        }

        let first = site.spawn(&["sync"]);
        let second = site.spawn(&["sync"]);
        let a = first.wait(Duration::from_secs(300));
        let b = second.wait(Duration::from_secs(300));

        assert_eq!(a.code, Some(0), "round {round}, first sync:\n{}", a.stderr);
        assert_eq!(b.code, Some(0), "round {round}, second sync:\n{}", b.stderr);
        site.verify_ok();
    }
}
