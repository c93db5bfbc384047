//! A file that never stops changing (a log appended every few
//! milliseconds) never reaches the replica torn: the replica keeps a
//! complete earlier state, the run reports the file and exits 0, and the
//! rest of the set syncs.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::*;

/// Size of the log before the writer starts: large enough that one read
/// of it takes far longer than the pause between two appends.
const LOG_SIZE: usize = 64 << 20;

/// Appends numbered lines to `path` every millisecond until `stop` is set
/// or 120 s have passed.
fn start_writer(path: std::path::PathBuf, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("opening the log");
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut lines = 0u64;
        while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
            writeln!(file, "request {lines} served").expect("appending to the log");
            lines += 1;
            std::thread::sleep(Duration::from_millis(1));
        }
        lines
    })
}

/// Reads the replica's copy of the log every 20 ms until `stop` is set and
/// returns (length, hash) of every state it saw.
fn start_watcher(path: std::path::PathBuf, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<(usize, String)>> {
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(120);
        while !stop.load(Ordering::Relaxed) && Instant::now() < deadline && seen.len() < 500 {
            if let Ok(bytes) = std::fs::read(&path) {
                seen.push((bytes.len(), hash_bytes(&bytes)));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        seen
    })
}

#[test]
fn growing_log_never_torn() {
    let site = Site::new();
    let src = site.source("www");
    let log = src.join("logs/access.log");
    let mut initial = random_bytes(12, LOG_SIZE);
    initial.push(b'\n');
    write(&log, &initial);
    write(src.join("index.php"), "v1");
    site.sync_ok();

    write(src.join("index.php"), "v2");
    write(src.join("new.php"), "new");
    let stop_writer = Arc::new(AtomicBool::new(false));
    let stop_watcher = Arc::new(AtomicBool::new(false));
    let writer = start_writer(log.clone(), stop_writer.clone());
    let watcher = start_watcher(site.target("www").join("logs/access.log"), stop_watcher.clone());
    std::thread::sleep(Duration::from_millis(20));

    let out = site.drkit(&["sync", "--json"]);

    stop_watcher.store(true, Ordering::Relaxed);
    let seen = watcher.join().expect("watcher thread");
    stop_writer.store(true, Ordering::Relaxed);
    let lines = writer.join().expect("writer thread");
    assert!(lines > 0, "the writer never appended");
    let last = read(&log);

    out.expect_code(0);
    let summary = out.json();
    let reported = summary["unstable"].as_array().is_some_and(|a| !a.is_empty());
    if reported {
        assert_eq!(
            summary["unstable"],
            serde_json::json!(["logs/access.log"]),
            "{}",
            out.stdout
        );
    } else {
        // The copy threads can keep the writer off both cores long enough
        // for one attempt to read the whole log between two appends. The
        // log is then copied whole, and the prefix check below confirms it.
        assert!(
            read(site.target("www").join("logs/access.log")).len() > initial.len(),
            "a log that was not reported as unstable must have been copied: {}",
            out.stdout
        );
    }
    assert_eq!(
        read(site.target("www").join("index.php")),
        b"v2",
        "the other files must sync"
    );
    assert_eq!(read(site.target("www").join("new.php")), b"new");

    // Every state of the replica's log, during and after the sync, is a
    // prefix of what the writer produced.
    let replica_log = read(site.target("www").join("logs/access.log"));
    assert!(
        last.starts_with(&replica_log),
        "the replica holds a torn log ({} bytes)",
        replica_log.len()
    );
    for (len, hash) in &seen {
        assert!(
            *len <= last.len(),
            "the replica showed a log of {len} bytes, longer than the source's"
        );
        assert_eq!(
            hash_bytes(&last[..*len]),
            *hash,
            "the replica showed a torn log of {len} bytes during the sync"
        );
    }
    assert!(
        find_names(&site.target("www"), ".drkit-tmp-").is_empty(),
        "temporary files left behind"
    );

    // Once the writer has stopped, the next sync carries the whole log.
    let after = site.sync_ok();
    assert_eq!(after["unstable"], serde_json::json!([]));
    assert_eq!(read(site.target("www").join("logs/access.log")), last);
    site.verify_ok();
}

#[test]
fn growing_new_log_not_copied_torn() {
    let site = Site::new();
    let src = site.source("www");
    write(src.join("index.php"), "v1");
    site.sync_ok();

    let log = src.join("error.log");
    write(&log, random_bytes(13, LOG_SIZE));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = start_writer(log.clone(), stop.clone());
    std::thread::sleep(Duration::from_millis(20));

    let out = site.drkit(&["sync"]);

    stop.store(true, Ordering::Relaxed);
    writer.join().expect("writer thread");
    out.expect_code(0);
    let warned = out
        .stderr
        .contains("warning: error.log: kept changing while read; left as it was on the replica, tried again next sync");
    let last = read(&log);
    if !warned {
        // One attempt read the whole log between two appends, so it was
        // copied whole; the prefix check below confirms it is not torn.
        assert!(
            site.target("www").join("error.log").exists(),
            "a log that was not reported as unstable must have been copied:\n{}",
            out.stderr
        );
    }
    match std::fs::read(site.target("www").join("error.log")) {
        Ok(copy) => assert!(last.starts_with(&copy), "the replica holds a torn log"),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::NotFound),
    }
    assert!(
        find_names(&site.target("www"), ".drkit-tmp-").is_empty(),
        "temporary files left behind"
    );
}
