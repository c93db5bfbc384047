//! Tests of `drkit watch`, started through its wrapper `cron/drkit-watch`,
//! run against real files, a real inotifywait and the built drkit binary.
//! The last tests check the change times every sync records for the
//! measured RPO.
//!
//! The wrapper execs drkit in its own process group, which `Watch` kills
//! when dropped, so a failed assertion leaves no inotifywait behind.
//! The wrapper tests hold `SERIAL`: they share the inotify limits of the
//! machine, and one of them lowers `fs.inotify.max_queued_events`.

mod common;

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::{write, SetSpec, Site, Tree};
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;

static SERIAL: Mutex<()> = Mutex::new(());

/// How long a change may take to reach the replica before a test fails.
const ARRIVAL: Duration = Duration::from_secs(20);

/// How long the large bursts may take, since every file is copied and fsynced.
const BURST_ARRIVAL: Duration = Duration::from_secs(180);

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn wrapper_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("cron").join("drkit-watch")
}

/// A running `drkit-watch` with its stdout and stderr collected as they come.
struct Watch {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    /// drkit's log, with one "sync finished" line per batch.
    log: PathBuf,
}

impl Watch {
    /// Starts the wrapper on `set` of `site` with the default debounce.
    fn start(site: &Site, set: &str) -> Watch {
        Watch::start_with(site, set, &[])
    }

    /// Starts the wrapper with `options` on `set` of `site` in a new process
    /// group and waits until its watches are set up.
    fn start_with(site: &Site, set: &str, options: &[&str]) -> Watch {
        let watch = Watch::spawn_with(site, set, options);
        watch.wait_for_log("watching", Duration::from_secs(30));
        watch
    }

    /// Starts the wrapper without waiting for its watches.
    fn spawn_with(site: &Site, set: &str, options: &[&str]) -> Watch {
        let mut command = Command::new("bash");
        command
            .arg(wrapper_path())
            .args(options)
            .arg("--config")
            .arg(site.config_path())
            .arg(set)
            .env("DRKIT_BIN", common::drkit_bin())
            .env("LANG", "C.UTF-8")
            .env_remove("DRKIT_LANG")
            .env_remove("DRKIT_CONFIG")
            .env_remove("DRKIT_WATCH_DEBOUNCE")
            .env_remove("DRKIT_WATCH_INTERVAL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = command.spawn().expect("starting drkit-watch");
        let stdout = collect(child.stdout.take().expect("piped stdout"));
        let stderr = collect(child.stderr.take().expect("piped stderr"));
        Watch {
            child,
            stdout,
            stderr,
            log: site.data_dir().join("drkit.log"),
        }
    }

    fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("a pid fits in i32")
    }

    fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr buffer").clone()
    }

    fn stdout(&self) -> String {
        self.stdout.lock().expect("stdout buffer").clone()
    }

    /// Number of batches synced so far, from drkit's log.
    fn syncs_reported(&self) -> usize {
        let log = std::fs::read(&self.log).unwrap_or_default();
        String::from_utf8_lossy(&log)
            .lines()
            .filter(|l| l.contains("sync finished") || l.contains("sync stopped"))
            .count()
    }

    #[track_caller]
    fn wait_for_log(&self, text: &str, timeout: Duration) {
        wait_until(timeout, &format!("drkit-watch to log \"{text}\""), self, || {
            self.stderr().contains(text)
        });
    }

    /// Sends SIGTERM and waits for the wrapper to exit; returns its exit code.
    fn terminate(&mut self, timeout: Duration) -> Option<i32> {
        signal::kill(Pid::from_raw(self.pid()), Signal::SIGTERM).expect("sending SIGTERM");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for drkit-watch") {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "drkit-watch did not stop within {timeout:?} after SIGTERM\n--- stderr\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // The whole group: drkit and its inotifywait.
        let _ = signal::killpg(Pid::from_raw(self.pid()), Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

fn collect(mut pipe: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let buffer = Arc::new(Mutex::new(String::new()));
    let shared = Arc::clone(&buffer);
    std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        while let Ok(n) = pipe.read(&mut chunk) {
            if n == 0 {
                break;
            }
            shared
                .lock()
                .expect("output buffer")
                .push_str(&String::from_utf8_lossy(&chunk[..n]));
        }
    });
    buffer
}

/// Polls `condition` every 50 ms until it holds; panics with the wrapper's
/// output after `timeout`.
#[track_caller]
fn wait_until(timeout: Duration, what: &str, watch: &Watch, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}\n--- drkit-watch stdout\n{}\n--- drkit-watch stderr\n{}",
            watch.stdout(),
            watch.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the replica equals the source byte for byte.
#[track_caller]
fn wait_same_tree(watch: &Watch, source: &Path, replica: &Path, timeout: Duration) {
    wait_until(timeout, "the replica to equal the source", watch, || {
        replica.is_dir() && read_tree(source).differences(&read_tree(replica)).is_empty()
    });
}

/// Records a tree that a running sync may be changing. `Tree::read` panics
/// when a temporary file vanishes between listing and `lstat`, so it is
/// retried, up to 100 times.
fn read_tree(root: &Path) -> Tree {
    for _ in 0..100 {
        if let Ok(tree) = std::panic::catch_unwind(|| Tree::read(root)) {
            return tree;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Tree::read(root)
}

/// Processes whose process group is `group`, as (pid, command name).
fn processes_in_group(group: i32) -> Vec<(i32, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("reading /proc") {
        let entry = entry.expect("a /proc entry");
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // The command name is in parentheses and may contain spaces; the
        // fields after it are: state, ppid, pgrp.
        let Some((head, tail)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = tail.split_whitespace().collect();
        if fields.get(2).and_then(|g| g.parse::<i32>().ok()) == Some(group) && fields[0] != "Z" {
            let name = head.split_once('(').map_or("", |(_, n)| n).to_string();
            found.push((pid, name));
        }
    }
    found
}

/// Sets `fs.inotify.max_queued_events` and restores the old value when dropped.
struct QueueLimit {
    old: String,
}

const QUEUE_LIMIT_PATH: &str = "/proc/sys/fs/inotify/max_queued_events";

impl QueueLimit {
    fn set(value: u32) -> QueueLimit {
        common::require_root("lowering fs.inotify.max_queued_events");
        let old = std::fs::read_to_string(QUEUE_LIMIT_PATH).expect("reading max_queued_events");
        std::fs::write(QUEUE_LIMIT_PATH, value.to_string()).expect("writing max_queued_events");
        QueueLimit {
            old: old.trim().to_string(),
        }
    }
}

impl Drop for QueueLimit {
    fn drop(&mut self) {
        if let Err(e) = std::fs::write(QUEUE_LIMIT_PATH, &self.old) {
            eprintln!("cannot restore fs.inotify.max_queued_events to {}: {e}", self.old);
        }
    }
}

/// Lowers `fs.inotify.max_user_watches` to the watches in use plus
/// `room`, and puts the old value back when dropped.
struct WatchLimit {
    old: String,
}

const WATCH_LIMIT_PATH: &str = "/proc/sys/fs/inotify/max_user_watches";

impl WatchLimit {
    fn room_for(room: usize) -> WatchLimit {
        common::require_root("lowering fs.inotify.max_user_watches");
        let old = std::fs::read_to_string(WATCH_LIMIT_PATH).expect("reading max_user_watches");
        let limit = watches_in_use() + room;
        std::fs::write(WATCH_LIMIT_PATH, limit.to_string()).expect("writing max_user_watches");
        WatchLimit {
            old: old.trim().to_string(),
        }
    }
}

impl Drop for WatchLimit {
    fn drop(&mut self) {
        if let Err(e) = std::fs::write(WATCH_LIMIT_PATH, &self.old) {
            eprintln!("cannot restore fs.inotify.max_user_watches to {}: {e}", self.old);
        }
    }
}

/// Counts the inotify watches of every process, from `/proc/*/fdinfo`.
fn watches_in_use() -> usize {
    let mut count = 0;
    for process in std::fs::read_dir("/proc").expect("reading /proc").flatten() {
        let Ok(fds) = std::fs::read_dir(process.path().join("fdinfo")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(info) = std::fs::read_to_string(fd.path()) {
                count += info.lines().filter(|l| l.starts_with("inotify wd:")).count();
            }
        }
    }
    count
}

#[test]
fn out_of_watches_runs_a_full_sync() {
    let _serial = serial();
    let site = Site::new();
    write(site.source("www").join("a/index.html"), "a");
    write(site.source("www").join("b/index.html"), "b");
    // Room for the three folders that exist: the source, a and b.
    let limit = WatchLimit::room_for(3);
    let watch = Watch::start(&site, "www");
    wait_same_tree(&watch, &site.source("www"), &site.target("www"), ARRIVAL);

    for i in 0..5 {
        write(
            site.source("www").join(format!("new{i}/page.html")),
            format!("page {i}"),
        );
    }
    wait_same_tree(&watch, &site.source("www"), &site.target("www"), ARRIVAL);
    drop(limit);
    let stderr = watch.stderr();
    assert!(stderr.contains("ran out of watches"), "{stderr}");
    assert!(stderr.contains("fs.inotify.max_user_watches"), "{stderr}");
}

#[test]
fn no_watch_at_all_syncs_every_interval() {
    let _serial = serial();
    let site = Site::new();
    write(site.source("www").join("index.html"), "home");
    let limit = WatchLimit::room_for(0);
    let watch = Watch::spawn_with(&site, "www", &["--interval", "1"]);
    wait_until(ARRIVAL, "the fallback message", &watch, || {
        watch.stderr().contains("fs.inotify.max_user_watches")
    });
    drop(limit);

    write(site.source("www").join("later.html"), "written after the fallback");
    wait_same_tree(&watch, &site.source("www"), &site.target("www"), ARRIVAL);
    assert!(
        watch.stderr().contains("every 1 s"),
        "the log names the interval\n{}",
        watch.stderr()
    );
}

#[test]
fn written_file_reaches_replica() {
    let _serial = serial();
    let site = Site::new();
    write(site.source("www").join("index.html"), "first");
    let watch = Watch::start(&site, "www");
    wait_same_tree(&watch, &site.source("www"), &site.target("www"), ARRIVAL);

    write(site.source("www").join("new.txt"), "written while watched");

    let arrived = site.target("www").join("new.txt");
    wait_until(ARRIVAL, "new.txt on the replica", &watch, || {
        std::fs::read(&arrived).is_ok_and(|c| c == b"written while watched")
    });
}

#[test]
fn burst_of_1000_files_arrives() {
    let _serial = serial();
    let site = Site::new();
    write(site.source("www").join("index.html"), "home");
    let watch = Watch::start(&site, "www");

    for i in 0..1000 {
        write(
            site.source("www").join(format!("burst/{}/file{i}.txt", i % 10)),
            format!("content {i}"),
        );
    }

    wait_same_tree(&watch, &site.source("www"), &site.target("www"), BURST_ARRIVAL);
}

#[test]
fn renamed_directory_arrives_renamed() {
    let _serial = serial();
    let site = Site::new();
    for i in 0..40 {
        write(site.source("www").join(format!("page{i}.html")), format!("page {i}"));
    }
    for name in ["a.txt", "b.txt", "c.txt"] {
        write(site.source("www").join("old-name").join(name), name);
    }
    let watch = Watch::start(&site, "www");
    wait_same_tree(&watch, &site.source("www"), &site.target("www"), ARRIVAL);

    let replica = site.target("www");
    let inode = |path: PathBuf| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(path).expect("stat"));
    let old_inode = inode(replica.join("old-name/c.txt"));
    std::fs::rename(site.source("www").join("old-name"), site.source("www").join("new-name")).expect("renaming");

    wait_until(ARRIVAL, "the rename on the replica", &watch, || {
        !replica.join("old-name").exists() && replica.join("new-name").join("c.txt").exists()
    });
    assert!(
        !replica.join("old-name").exists(),
        "the old name is still on the replica"
    );
    for name in ["a.txt", "b.txt", "c.txt"] {
        assert_eq!(
            common::read(replica.join("new-name").join(name)),
            name.as_bytes(),
            "content of new-name/{name}"
        );
    }
    assert_eq!(
        inode(replica.join("new-name/c.txt")),
        old_inode,
        "the files moved on the replica instead of being copied again"
    );
}

/// With a queue of 64 events, 10,000 files created at once overflow it.
/// The wrapper logs one rescan, not a loop, and every file arrives, also
/// in folders created during the flood.
#[test]
fn queue_overflow_does_one_rescan() {
    let _serial = serial();
    let site = Site::with_sets(vec![SetSpec::new("www")]);
    write(site.source("www").join("index.html"), "home");
    let limit = QueueLimit::set(64);
    let watch = Watch::start(&site, "www");
    wait_same_tree(&watch, &site.source("www"), &site.target("www"), ARRIVAL);

    for i in 0..10_000 {
        write(
            site.source("www").join(format!("flood/{}/f{i}", i % 100)),
            i.to_string(),
        );
    }
    wait_same_tree(&watch, &site.source("www"), &site.target("www"), BURST_ARRIVAL);

    // No loop: once the replica matches and the new folders had their
    // last walk (one second later), the wrapper goes quiet.
    std::thread::sleep(Duration::from_millis(1500));
    let syncs = watch.syncs_reported();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(watch.syncs_reported(), syncs, "syncs kept starting after the rescan");
    let overflows = watch.stderr().matches("event queue overflowed").count();
    assert_eq!(overflows, 1, "overflow rescans logged\n{}", watch.stderr());
    assert!(
        watch.stderr().contains("fs.inotify.max_queued_events"),
        "the log names the sysctl to raise\n{}",
        watch.stderr()
    );

    // The watches were set up again, so a folder made during the flood is watched.
    write(site.source("www").join("flood/57/after.txt"), "after the flood");
    let arrived = site.target("www").join("flood/57/after.txt");
    wait_until(ARRIVAL, "flood/57/after.txt on the replica", &watch, || {
        arrived.exists()
    });
    drop(limit);
}

#[test]
fn sigterm_stops_wrapper_and_inotifywait() {
    let _serial = serial();
    let site = Site::new();
    write(site.source("www").join("index.html"), "home");
    let mut watch = Watch::start(&site, "www");
    let group = watch.pid();
    let names: Vec<String> = processes_in_group(group).into_iter().map(|(_, n)| n).collect();
    assert!(
        names.iter().any(|n| n == "inotifywait"),
        "no inotifywait in the wrapper's group: {names:?}"
    );

    let code = watch.terminate(Duration::from_secs(30));

    assert_eq!(code, Some(0), "exit code after SIGTERM\n{}", watch.stderr());
    let deadline = Instant::now() + Duration::from_secs(5);
    while !processes_in_group(group).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(processes_in_group(group), Vec::new(), "processes left after SIGTERM");
    assert!(watch.stderr().contains("stopped"), "{}", watch.stderr());
}

#[test]
fn odd_file_names_reach_replica() {
    use std::os::unix::ffi::OsStrExt;
    let _serial = serial();
    let site = Site::new();
    write(site.source("www").join("index.html"), "home");
    let watch = Watch::start(&site, "www");
    wait_same_tree(&watch, &site.source("www"), &site.target("www"), ARRIVAL);

    let names: [&[u8]; 3] = [b"two\nlines.txt", b"latin1-\xe9t\xe9.txt", b"with space.txt"];
    for name in names {
        write(site.source("www").join(std::ffi::OsStr::from_bytes(name)), name);
    }

    for name in names {
        let arrived = site.target("www").join(std::ffi::OsStr::from_bytes(name));
        wait_until(ARRIVAL, &format!("{arrived:?} on the replica"), &watch, || {
            std::fs::read(&arrived).is_ok_and(|c| c == name)
        });
    }
    wait_same_tree(&watch, &site.source("www"), &site.target("www"), ARRIVAL);
}

/// A writer makes 200 files while batches sync, so most events arrive
/// during a running batch; they must join the next one.
#[test]
fn events_during_sync_are_kept() {
    let _serial = serial();
    let site = Site::new();
    write(site.source("www").join("index.html"), "home");
    let watch = Watch::start(&site, "www");
    wait_same_tree(&watch, &site.source("www"), &site.target("www"), ARRIVAL);

    let source = site.source("www");
    let writer = std::thread::spawn(move || {
        for i in 0..200 {
            write(source.join(format!("w/{}/file{i}.txt", i % 7)), format!("content {i}"));
            if i % 20 == 0 {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    });
    writer.join().expect("the writer thread");

    wait_same_tree(&watch, &site.source("www"), &site.target("www"), BURST_ARRIVAL);
    assert!(
        watch.syncs_reported() >= 2,
        "the start sync and at least one batch ran\n{}",
        watch.stderr()
    );
}

#[test]
fn zero_debounce_syncs() {
    let _serial = serial();
    let site = Site::new();
    // Enough files that deleting one stays within the default max_delete of 10%.
    for i in 0..20 {
        write(site.source("www").join(format!("page{i}.html")), format!("page {i}"));
    }
    write(site.source("www").join("index.html"), "home");
    let watch = Watch::start_with(&site, "www", &["--debounce", "0"]);
    assert!(
        watch.stderr().contains("(debounce 0 s)"),
        "the log names the debounce\n{}",
        watch.stderr()
    );
    wait_same_tree(&watch, &site.source("www"), &site.target("www"), ARRIVAL);

    write(site.source("www").join("now.txt"), "at once");
    std::fs::remove_file(site.source("www").join("index.html")).expect("deleting index.html");

    let replica = site.target("www");
    wait_until(ARRIVAL, "now.txt and the deletion on the replica", &watch, || {
        std::fs::read(replica.join("now.txt")).is_ok_and(|c| c == b"at once") && !replica.join("index.html").exists()
    });
}

#[test]
fn watch_rejects_unknown_set() {
    let site = Site::with_sets(vec![SetSpec::new("www"), SetSpec::new("mail")]);
    let out = site.drkit(&["watch", "nosuchset"]);
    out.expect_code(2);
    assert!(
        out.stderr.contains("no sync set is named \"nosuchset\""),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("www, mail"),
        "the known sets are named\n{}",
        out.stderr
    );
}

#[test]
fn watch_rejects_zero_interval() {
    let site = Site::new();
    let out = site.drkit(&["watch", "--interval", "0", "www"]);
    out.expect_code(2);
    assert!(out.stderr.contains("invalid --interval \"0\""), "{}", out.stderr);
}

#[test]
fn wrapper_rejects_unknown_set() {
    let site = Site::new();
    let output = Command::new("bash")
        .arg(wrapper_path())
        .arg("--config")
        .arg(site.config_path())
        .arg("nosuchset")
        .env("DRKIT_BIN", common::drkit_bin())
        .env("LANG", "C.UTF-8")
        .env_remove("DRKIT_LANG")
        .output()
        .expect("running drkit-watch");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no sync set is named \"nosuchset\""), "{stderr}");
}

#[test]
fn wrapper_speaks_spanish() {
    let site = Site::new();
    let output = Command::new("bash")
        .arg(wrapper_path())
        .arg("--debounce")
        .arg("abc")
        .arg("www")
        .env("DRKIT_BIN", common::drkit_bin())
        .env("DRKIT_LANG", "es")
        .env("DRKIT_CONFIG", site.config_path())
        .output()
        .expect("running drkit-watch");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no es válido"), "{stderr}");
}

fn parse_time(value: &serde_json::Value) -> chrono::DateTime<chrono::Utc> {
    let text = value.as_str().unwrap_or_else(|| panic!("not a time: {value}"));
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("invalid time {text}: {e}"))
        .with_timezone(&chrono::Utc)
}

fn changed_at(path: &Path) -> chrono::DateTime<chrono::Utc> {
    use std::os::unix::fs::MetadataExt;
    let meta = common::lstat(path);
    let ns = (meta.mtime() * 1_000_000_000 + meta.mtime_nsec()).max(meta.ctime() * 1_000_000_000 + meta.ctime_nsec());
    chrono::DateTime::from_timestamp_nanos(ns)
}

#[test]
fn sync_records_change_times() {
    let site = Site::new();
    write(site.source("www").join("keep.txt"), "kept");
    site.sync_ok();
    write(site.source("www").join("new.txt"), "new");
    let made = changed_at(&site.source("www").join("new.txt"));

    let summary = site.sync_ok();

    let newest = parse_time(&summary["newest_change_at"]);
    let reached = parse_time(&summary["reached_replica_at"]);
    assert_eq!(
        newest.timestamp_micros(),
        made.timestamp_micros(),
        "newest change is new.txt's ctime"
    );
    assert_eq!(
        reached,
        parse_time(&summary["finished_at"]),
        "reached at the end of the sync"
    );
    assert!(newest <= reached);

    let unchanged = site.sync_ok();
    assert_eq!(unchanged["newest_change_at"], serde_json::Value::Null);
    assert_eq!(unchanged["reached_replica_at"], serde_json::Value::Null);

    let out = site.drkit(&["status", "--json"]);
    out.expect_code(0);
    let status: serde_json::Value = serde_json::from_str(&out.stdout).expect("status --json prints JSON");
    let change = &status["sets"][0]["last_change"];
    assert_eq!(
        parse_time(&change["newest_change_at"]).timestamp_millis(),
        newest.timestamp_millis()
    );
    assert_eq!(
        parse_time(&change["reached_replica_at"]).timestamp_millis(),
        reached.timestamp_millis()
    );
    let delay = (reached - newest).num_milliseconds();
    let shown = change["delay_ms"].as_i64().expect("delay_ms is a number");
    assert!((shown - delay).abs() <= 1, "delay_ms {shown}, expected about {delay}");
    let sync_status = common::read(site.report_dir().join("sync_status.json"));
    let sync_status: serde_json::Value = serde_json::from_slice(&sync_status).expect("sync_status.json is JSON");
    assert_eq!(sync_status["sets"][0]["last_change"], *change);
}

#[test]
fn deletion_counts_from_its_folder() {
    let site = Site::new();
    for name in ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"] {
        write(site.source("www").join("dir").join(name), name);
    }
    site.sync_ok();
    std::fs::remove_file(site.source("www").join("dir/k")).expect("deleting dir/k");
    let folder_changed = changed_at(&site.source("www").join("dir"));

    let summary = site.sync_ok();

    assert_eq!(summary["files_deleted"], 1);
    let newest = parse_time(&summary["newest_change_at"]);
    assert_eq!(newest.timestamp_micros(), folder_changed.timestamp_micros());
}

#[test]
fn status_alerts_over_rpo_in_both_languages() {
    let site = Site::with_config_text(
        "[site]\nname = \"test\"\ndata_dir = \"{root}/data\"\nreport_dir = \"{root}/reports\"\n\n\
         [targets]\nrpo = \"1ms\"\n\n\
         [[sync]]\nname = \"www\"\nsource = \"{root}/src/www\"\ntarget = \"{root}/replica/www\"\n",
    );
    write(site.root().join("src/www/index.html"), "home");
    site.drkit(&["sync"]).expect_code(0);
    // The lag counts in whole seconds, so it passes 1 ms only after a second.
    std::thread::sleep(Duration::from_millis(1100));

    let english = site.drkit(&["status"]);
    english.expect_code(1);
    assert!(english.stdout.contains("exceeds the RPO target"), "{}", english.stdout);
    assert!(english.stdout.contains("Last change delay"), "{}", english.stdout);

    let spanish = site.drkit_lang("es", &["status"]);
    spanish.expect_code(1);
    assert!(spanish.stdout.contains("supera el objetivo RPO"), "{}", spanish.stdout);
    assert!(
        spanish.stdout.contains("Retraso del último cambio"),
        "{}",
        spanish.stdout
    );

    site.drkit(&["report", "daily"]).expect_code(0);
    let dashboard = String::from_utf8(common::read(site.report_dir().join("index.html"))).expect("UTF-8 page");
    assert!(
        dashboard.contains("exceeds the RPO target"),
        "dashboard lacks the RPO alert"
    );
    assert!(
        dashboard.contains("Last change carried"),
        "dashboard lacks the last change"
    );
}

/// Reads the start of the last successful sync of `set` from `drkit status --json`.
fn last_ok_start(site: &Site, set: &str) -> Option<String> {
    let out = site.drkit(&["status", "--json"]);
    let status: serde_json::Value = serde_json::from_str(&out.stdout).expect("status --json prints JSON");
    status["sets"].as_array()?.iter().find(|s| s["name"] == set)?["last_ok_sync_started_at"]
        .as_str()
        .map(str::to_string)
}

#[test]
fn quiet_source_gets_heartbeat_batches() {
    let _serial = serial();
    let site = Site::new();
    write(site.source("www").join("index.html"), "home");
    let watch = Watch::start(&site, "www");
    wait_same_tree(&watch, &site.source("www"), &site.target("www"), ARRIVAL);
    let first = last_ok_start(&site, "www").expect("the start sync is recorded");

    // Nothing changes on the source; the watcher still proves the replica
    // is reachable, so the recorded start moves on.
    wait_until(Duration::from_secs(60), "a heartbeat batch", &watch, || {
        last_ok_start(&site, "www").is_some_and(|now| now > first)
    });
}

#[test]
fn busy_log_keeps_one_old_copy_per_minute() {
    let _serial = serial();
    let site = Site::new();
    let log = site.source("www").join("app.log");
    write(&log, common::random_bytes(3, 4 << 20));
    let watch = Watch::start(&site, "www");
    wait_same_tree(&watch, &site.source("www"), &site.target("www"), ARRIVAL);

    // Every append is a batch that replaces the replica's copy of the log.
    let replica_log = site.target("www").join("app.log");
    for i in 0..20 {
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .expect("opening the log");
        std::io::Write::write_all(&mut file, format!("line {i}\n").as_bytes()).expect("appending");
        drop(file);
        let expected = std::fs::metadata(&log).expect("stat").len();
        wait_until(ARRIVAL, "the appended log on the replica", &watch, || {
            std::fs::metadata(&replica_log).is_ok_and(|m| m.len() == expected)
        });
    }

    // The batch versions of a minute are merged as the watcher goes, so
    // old copies of the log do not pile up (at most two minutes here).
    let old_copies = wait_for_versions_to_settle(&site.versions_dir("www"));
    assert!(
        (1..=2).contains(&old_copies),
        "{old_copies} old copies of the log in the versions"
    );
}

/// Counts the copies of `app.log` in the versions once the background
/// merges are done (the count stops changing).
fn wait_for_versions_to_settle(versions: &Path) -> usize {
    let count = || {
        std::fs::read_dir(versions)
            .map(|read| read.flatten().filter(|e| e.path().join("app.log").exists()).count())
            .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = count();
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        let now = count();
        if now == last && now <= 2 {
            return now;
        }
        last = now;
    }
    last
}

#[test]
fn ctrl_c_to_the_group_stops_quietly() {
    let _serial = serial();
    let site = Site::new();
    write(site.source("www").join("index.html"), "home");
    let mut watch = Watch::start(&site, "www");
    wait_same_tree(&watch, &site.source("www"), &site.target("www"), ARRIVAL);

    // A terminal sends SIGINT to the whole foreground group: drkit and
    // inotifywait get it at once.
    signal::killpg(Pid::from_raw(watch.pid()), Signal::SIGINT).expect("signalling the group");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = watch.child.try_wait().expect("waiting for the wrapper") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "drkit watch did not stop\n{}",
            watch.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0), "{}", watch.stderr());
    let stderr = watch.stderr();
    assert!(stderr.contains("stopped"), "{stderr}");
    assert!(!stderr.contains("cannot watch"), "a false alarm on Ctrl-C: {stderr}");
}

#[test]
fn replaced_source_folder_deletes_nothing() {
    let _serial = serial();
    let site = Site::new();
    for i in 0..40 {
        write(site.source("www").join(format!("page{i}.html")), format!("page {i}"));
    }
    let watch = Watch::start(&site, "www");
    wait_same_tree(&watch, &site.source("www"), &site.target("www"), ARRIVAL);

    // The source folder moves away and an almost empty one takes its path;
    // the watches still follow the old folder.
    let source = site.source("www");
    let moved = site.root().join("src/www.moved");
    std::fs::rename(&source, &moved).expect("moving the source");
    write(source.join("only.txt"), "new folder");
    common::replace(moved.join("page1.html"), "edited in the moved folder");

    wait_until(ARRIVAL, "the log of the replaced source", &watch, || {
        watch.stderr().contains("was moved, deleted or replaced")
    });
    wait_until(ARRIVAL, "the deletion guard", &watch, || {
        std::fs::read_to_string(site.data_dir().join("drkit.log")).is_ok_and(|l| l.contains("would delete"))
    });
    let replica = site.target("www");
    for i in 0..40 {
        assert!(
            replica.join(format!("page{i}.html")).exists(),
            "page{i}.html was deleted"
        );
    }
}

#[test]
fn slow_wipe_meets_the_deletion_guard() {
    let _serial = serial();
    let site = Site::new();
    for i in 0..100 {
        write(site.source("www").join(format!("page{i:03}.html")), format!("page {i}"));
    }
    let watch = Watch::start(&site, "www");
    wait_same_tree(&watch, &site.source("www"), &site.target("www"), ARRIVAL);

    // Five files at a time, each batch well under the 10% limit.
    let replica = site.target("www");
    for round in 0..8 {
        for i in 0..5 {
            let name = format!("page{:03}.html", round * 5 + i);
            std::fs::remove_file(site.source("www").join(&name)).expect("deleting a page");
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    wait_until(ARRIVAL, "the deletion guard", &watch, || {
        watch.stderr().contains("drkit watch stopped its batches")
    });
    let left = std::fs::read_dir(&replica).expect("reading the replica").count();
    assert!(left >= 90, "the watcher deleted {} of 100 files", 100 - left);

    // The files come back on the source; a whole sync passes and the
    // batches go on.
    for i in 0..40 {
        write(site.source("www").join(format!("page{i:03}.html")), format!("page {i}"));
    }
    write(site.source("www").join("after.html"), "after the restore");
    wait_same_tree(&watch, &site.source("www"), &replica, ARRIVAL);
}
