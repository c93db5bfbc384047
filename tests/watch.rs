//! Tests of `cron/drkit-watch`, the inotifywait wrapper, run against real
//! files, a real inotifywait and the built drkit binary. The last tests
//! check the change times every sync records for the measured RPO.
//!
//! The wrapper runs in its own process group, which `Watch` kills when
//! dropped, so a failed assertion leaves no inotifywait or sync behind.
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
}

impl Watch {
    /// Starts the wrapper on `set` of `site` in a new process group and
    /// waits until its watches are set up.
    fn start(site: &Site, set: &str) -> Watch {
        let mut command = Command::new("bash");
        command
            .arg(wrapper_path())
            .arg("--debounce")
            .arg("0.2")
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
        let watch = Watch { child, stdout, stderr };
        watch.wait_for_log("watching", Duration::from_secs(30));
        watch
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

    /// Number of syncs the wrapper has started that have printed their summary.
    fn syncs_reported(&self) -> usize {
        self.stdout().lines().filter(|l| l.contains("files checked:")).count()
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
        // The whole group: the wrapper, inotifywait and any running sync.
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

    std::fs::rename(site.source("www").join("old-name"), site.source("www").join("new-name")).expect("renaming");

    let replica = site.target("www");
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

    // No loop: once the replica matches, the wrapper goes quiet.
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
