//! Sync and verify to a peer over SSH, through a real OpenSSH sshd whose key
//! may only start `drkit agent --root …`, on loopback and inside a pair of
//! network namespaces. Also dropped connections, a killed agent and a full
//! disk on the peer.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::sshd::{NetnsPair, Sshd};
use common::*;

/// A site whose set "remote" replicates to a folder served by an agent
/// behind a real sshd.
struct RemoteSite {
    site: Site,
    server: Sshd,
    /// The agent's root: the replica and its versions live inside.
    peer_root: PathBuf,
}

impl RemoteSite {
    fn new(set_toml: &str) -> RemoteSite {
        RemoteSite::start(None, set_toml)
    }

    fn start(netns: Option<&NetnsPair>, set_toml: &str) -> RemoteSite {
        let mut site = Site::with_sets(Vec::new());
        let peer_root = site.root().join("peer");
        std::fs::create_dir_all(&peer_root).unwrap();
        let command = format!(
            "{} agent --root {} --state {}",
            drkit_bin(),
            peer_root.display(),
            site.root().join("agent-state").display()
        );
        let server = match netns {
            Some(netns) => Sshd::start_in(netns, Some(&command)),
            None => Sshd::start_loopback(Some(&command)),
        };
        site.add_toml(&server.node_toml("secondary"));
        site.add_toml(&format!(
            "\n[[sync]]\nname = \"remote\"\nsource = \"{}\"\npeer = \"secondary\"\ntarget = \"{}\"\n{set_toml}",
            site.source("remote").display(),
            peer_root.join("www").display(),
        ));
        std::fs::create_dir_all(site.source("remote")).unwrap();
        RemoteSite {
            site,
            server,
            peer_root,
        }
    }

    fn source(&self) -> PathBuf {
        self.site.source("remote")
    }

    fn replica(&self) -> PathBuf {
        self.peer_root.join("www")
    }

    fn versions(&self) -> Vec<String> {
        let dir = self.peer_root.join(".drkit-versions/remote");
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|read| {
                read.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with('.'))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    fn sync(&self) -> serde_json::Value {
        let out = self.site.drkit(&["sync", "--json", "remote"]);
        out.expect_code(0);
        out.json()
    }
}

/// Fills `root` with the entries that break naive tools: awkward names,
/// symlinks (also absolute and dangling), hard links, empty folders,
/// special modes, other owners and nanosecond mtimes.
fn edge_tree(root: &Path) {
    write(root.join("index.php"), "<?php echo 'hi';");
    write(bytes_path(root, b"caf\xe9.txt"), "latin-1 name");
    write(root.join("line\nbreak.txt"), "newline in the name");
    write(root.join("[*?].txt"), "pattern characters");
    write(root.join("back`tick.txt"), "backtick");
    write(root.join("-leading-dash"), "dash");
    write(root.join("x".repeat(255)), "255-byte name");
    write(root.join("uploads/2026/12/photo.jpg"), random_bytes(7, 300_000));
    mkdir(root.join("empty/inner"));
    symlink("index.php", root.join("home.php"));
    symlink("/etc/wordpress/config.php", root.join("wp-config.php"));
    symlink("does/not/exist", root.join("dangling"));
    hard_link(root.join("index.php"), root.join("index-copy.php"));
    write(root.join("run.sh"), "#!/bin/sh\n");
    chmod(root.join("run.sh"), 0o4755);
    chmod(root.join("empty"), 0o1777);
    lchown(root.join("uploads/2026/12/photo.jpg"), 33, 33);
    set_mtime_ns(root.join("index.php"), 1_600_000_000_123_456_789);
}

/// Copies the Debian WordPress tree (tests/run installs the package).
fn wordpress_into(root: &Path) {
    let wordpress = Path::new("/usr/share/wordpress");
    assert!(
        wordpress.join("wp-settings.php").exists(),
        "the wordpress package is missing; tests/run installs it"
    );
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(wordpress)
        .arg(root.join("wordpress"))
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn wordpress_and_edge_tree_reach_the_peer_exactly() {
    require_root("wordpress_and_edge_tree_reach_the_peer_exactly");
    let remote = RemoteSite::new("");
    let src = remote.source();
    wordpress_into(&src);
    edge_tree(&src);

    let first = remote.sync();
    assert_eq!(first["peer"], format!("root@127.0.0.1:{}", remote.server.port));
    assert_same_tree(&src, &remote.replica());
    let index = lstat(remote.replica().join("index.php"));
    assert_eq!(index.ino(), lstat(remote.replica().join("index-copy.php")).ino());

    // Changes of every kind, then a second sync: a version is kept on the peer.
    write(src.join("index.php"), "<?php echo 'changed';");
    std::fs::remove_file(src.join("[*?].txt")).unwrap();
    std::fs::rename(src.join("uploads/2026"), src.join("uploads/2027")).unwrap();
    chmod(src.join("run.sh"), 0o700);
    let second = remote.sync();
    assert!(second["files_changed"].as_u64().unwrap() >= 3, "{second}");
    assert_same_tree(&src, &remote.replica());
    let versions = remote.versions();
    assert_eq!(versions.len(), 1);
    let kept = remote.peer_root.join(".drkit-versions/remote").join(&versions[0]);
    assert_eq!(read(kept.join("index.php")), b"<?php echo 'hi';");
    assert!(kept.join("[*?].txt").exists());

    let unchanged = remote.sync();
    assert_eq!(unchanged["files_changed"], 0);
    assert_eq!(unchanged["version_created"], serde_json::Value::Null);
    remote.site.drkit(&["verify", "remote"]).expect_code(0);
}

#[test]
fn sync_and_verify_between_network_namespaces() {
    let netns = NetnsPair::new();
    let remote = RemoteSite::start(Some(&netns), "compress = true\n");
    edge_tree(&remote.source());
    write(remote.source().join("notes.txt"), "compressible line\n".repeat(20_000));

    let out = common::spawn_command(netns.in_primary(&remote.site.command(&["sync", "--json", "remote"])))
        .wait(DEFAULT_TIMEOUT);
    out.expect_code(0);
    let summary = out.json();
    assert_eq!(summary["peer"], format!("root@{}:22", netns.secondary_address));
    assert_same_tree(&remote.source(), &remote.replica());
    let sent = summary["bytes_sent"].as_u64().unwrap();
    let copied = summary["bytes_copied"].as_u64().unwrap();
    assert!(
        sent < copied / 2,
        "compression: {sent} bytes sent for {copied} bytes copied"
    );

    // Bit rot on the peer is found by verify over SSH and repaired by sync.
    let rotten = remote.replica().join("notes.txt");
    let mtime = mtime_ns(&rotten);
    replace(
        &rotten,
        &"rotten line\n".repeat(30_000).as_bytes()[..rotten.metadata().unwrap().len() as usize],
    );
    set_mtime_ns(&rotten, mtime);
    let verify =
        common::spawn_command(netns.in_primary(&remote.site.command(&["verify", "remote"]))).wait(DEFAULT_TIMEOUT);
    verify.expect_code(1);
    assert!(verify.stdout.contains("notes.txt"), "{}", verify.stdout);
    common::spawn_command(netns.in_primary(&remote.site.command(&["sync", "remote"])))
        .wait(DEFAULT_TIMEOUT)
        .expect_code(0);
    assert_same_tree(&remote.source(), &remote.replica());
}

#[test]
fn unknown_host_key_stops_sync() {
    let remote = RemoteSite::new("");
    write(remote.source().join("a.txt"), "a");
    std::fs::write(&remote.server.known_hosts, "").unwrap();

    let out = remote.site.drkit(&["sync", "remote"]);

    out.expect_code(1);
    assert!(out.stderr.contains(&remote.server.host_fingerprint()), "{}", out.stderr);
    assert!(out.stderr.contains("drkit peer trust secondary"), "{}", out.stderr);
    assert!(!remote.replica().exists(), "nothing may reach an unverified host");
}

#[test]
fn changed_host_key_stops_the_sync() {
    let remote = RemoteSite::new("");
    write(remote.source().join("a.txt"), "a");
    let other = remote.site.root().join("other_host_key");
    common::sshd::keygen(&other, "another host");
    let line = format!(
        "{} {}\n",
        remote.server.host_pattern(),
        common::sshd::public_key(&other.with_extension("pub"))
    );
    std::fs::write(&remote.server.known_hosts, line).unwrap();

    let out = remote.site.drkit(&["sync", "remote"]);

    out.expect_code(1);
    assert!(out.stderr.contains("CHANGED"), "{}", out.stderr);
    assert!(!remote.replica().exists());
}

/// Asserts that every file under a final name on the replica has the
/// source's current or old content, never a torn copy.
fn assert_no_torn_file(src: &Path, replica: &Path, old: &[(PathBuf, Vec<u8>)]) {
    for path in list_paths(replica) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let full = replica.join(&path);
        if name.starts_with(".drkit-tmp-") || !lstat(&full).is_file() {
            continue;
        }
        let content = read(&full);
        let current = read(src.join(&path));
        let before = old.iter().find(|(p, _)| *p == path).map(|(_, c)| c);
        assert!(
            content == current || before == Some(&content),
            "{} holds content that is neither the old nor the new source",
            path.display()
        );
    }
}

#[test]
fn dropped_connection_resumes_without_sending_finished_work_again() {
    let remote = RemoteSite::new("bwlimit = \"6M\"\n");
    let src = remote.source();
    let big = random_bytes(11, 40 << 20);
    write(src.join("backup.tar"), &big);
    for i in 0..200 {
        write(src.join(format!("small/{i:03}.txt")), format!("file {i}\n").repeat(50));
    }

    // Kill drkit on the primary while it sends the large file.
    let running = remote.site.spawn(&["sync", "--json", "remote"]);
    let partial_seen = wait_for(Duration::from_secs(60), || {
        find_names(&remote.replica(), ".drkit-tmp-p")
            .iter()
            .any(|p| std::fs::metadata(p).map(|m| m.len() > 4 << 20).unwrap_or(false))
    });
    running.kill();
    assert!(partial_seen, "the large file never started arriving");
    assert_no_torn_file(&src, &remote.replica(), &[]);
    assert!(!remote.replica().join("backup.tar").exists());

    // The next run (without the limit) reuses the chunks already on the peer.
    let mut config = std::fs::read_to_string(remote.site.config_path()).unwrap();
    config = config.replace("bwlimit = \"6M\"\n", "");
    std::fs::write(remote.site.config_path(), config).unwrap();
    let summary = remote.sync();
    assert_same_tree(&src, &remote.replica());
    let sent = summary["bytes_sent"].as_u64().unwrap();
    assert!(
        sent < big.len() as u64 - (2 << 20),
        "{sent} bytes sent again for a 40 MiB file of which more than 4 MiB had arrived"
    );
    assert!(
        find_names(&remote.replica(), ".drkit-tmp-").is_empty(),
        "temporary files left behind"
    );
}

#[test]
fn killed_agent_then_rerun() {
    let remote = RemoteSite::new("bwlimit = \"4M\"\n");
    // A short operation timeout: the write that was waiting for the dead
    // agent gives up after it.
    let config = std::fs::read_to_string(remote.site.config_path()).unwrap();
    std::fs::write(
        remote.site.config_path(),
        config.replace("timeout = \"30s\"", "timeout = \"5s\""),
    )
    .unwrap();
    let src = remote.source();
    write(src.join("a.bin"), random_bytes(3, 24 << 20));
    write(src.join("b.txt"), "b");

    let running = remote.site.spawn(&["sync", "remote"]);
    let started = wait_for(Duration::from_secs(60), || {
        !find_names(&remote.replica(), ".drkit-tmp-").is_empty()
    });
    assert!(started, "the transfer never started");
    let pattern = format!("agent --root {}", remote.peer_root.display());
    let status = std::process::Command::new("pkill")
        .args(["-KILL", "-f", &pattern])
        .status()
        .unwrap();
    assert!(status.success(), "no agent process matched {pattern}");
    let out = running.wait(DEFAULT_TIMEOUT);

    out.expect_code(1);
    assert!(
        out.stderr.contains("127.0.0.1"),
        "the error names the peer: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains("sending file contents"),
        "the error names the step: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains("the connection to the peer was lost") || out.stderr.contains("no response within"),
        "the error says what happened: {}",
        out.stderr
    );
    assert_no_torn_file(&src, &remote.replica(), &[]);
    let config = std::fs::read_to_string(remote.site.config_path()).unwrap();
    std::fs::write(remote.site.config_path(), config.replace("bwlimit = \"4M\"\n", "")).unwrap();
    remote.sync();
    assert_same_tree(&src, &remote.replica());
}

/// A small tmpfs mounted over a folder, unmounted when dropped.
struct SmallDisk {
    path: PathBuf,
}

impl SmallDisk {
    fn mount(path: &Path, size: &str) -> SmallDisk {
        std::fs::create_dir_all(path).unwrap();
        let status = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "drkit-test",
                path.to_str().unwrap(),
            ])
            .status()
            .unwrap();
        assert!(status.success(), "cannot mount a tmpfs on {}", path.display());
        SmallDisk {
            path: path.to_path_buf(),
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.path).status();
    }
}

#[test]
fn full_peer_disk_loses_nothing() {
    require_root("full_peer_disk_loses_nothing");
    let remote = RemoteSite::new("");
    let _disk = SmallDisk::mount(&remote.peer_root, "6m");
    let src = remote.source();
    write(src.join("site/index.php"), "<?php echo 'v1';");
    write(src.join("site/style.css"), "body { color: black; }");
    remote.sync();
    let old = vec![
        (PathBuf::from("site/index.php"), b"<?php echo 'v1';".to_vec()),
        (PathBuf::from("site/style.css"), b"body { color: black; }".to_vec()),
    ];

    // Larger than the peer's disk: the sync fails for that file only.
    write(src.join("site/index.php"), "<?php echo 'v2';");
    write(src.join("huge.bin"), random_bytes(5, 10 << 20));
    let out = remote.site.drkit(&["sync", "remote"]);

    out.expect_code(1);
    assert!(out.stderr.contains("huge.bin"), "{}", out.stderr);
    assert!(out.stderr.contains("No space left on device"), "{}", out.stderr);
    assert!(!remote.replica().join("huge.bin").exists());
    assert_no_torn_file(&src, &remote.replica(), &old);
    assert!(
        find_names(&remote.replica(), ".drkit-tmp-").is_empty(),
        "temporary files left on a full disk"
    );
    let versions = remote.versions();
    assert_eq!(versions.len(), 1, "the version taken before the change is kept");
    let kept = remote.peer_root.join(".drkit-versions/remote").join(&versions[0]);
    assert_eq!(read(kept.join("site/index.php")), b"<?php echo 'v1';");

    // Once the large file is gone from the source, the replica converges.
    std::fs::remove_file(src.join("huge.bin")).unwrap();
    remote.sync();
    assert_same_tree(&src, &remote.replica());
}

/// Polls `done` every 50 ms until it returns true or `limit` passes.
fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn deletion_guard_holds_over_ssh() {
    let remote = RemoteSite::new("");
    for i in 0..20 {
        write(remote.source().join(format!("page-{i:02}.html")), format!("page {i}"));
    }
    remote.sync();
    for i in 0..10 {
        std::fs::remove_file(remote.source().join(format!("page-{i:02}.html"))).unwrap();
    }

    let out = remote.site.drkit(&["sync", "remote"]);

    out.expect_code(1);
    assert!(
        out.stderr.contains("would delete 10 of the replica's 20 files"),
        "{}",
        out.stderr
    );
    assert_eq!(
        list_paths(&remote.replica()).len(),
        20,
        "nothing was deleted on the peer"
    );
    assert!(remote.versions().is_empty(), "a stopped sync keeps no version");
    remote
        .site
        .drkit(&["sync", "--max-delete", "10", "remote"])
        .expect_code(0);
    assert_same_tree(&remote.source(), &remote.replica());
}

#[test]
fn batch_sync_over_ssh_named_paths() {
    let remote = RemoteSite::new("");
    let sync = |extra: &[&str]| {
        let mut args = vec!["sync", "--json", "remote"];
        args.extend_from_slice(extra);
        let out = remote.site.drkit(&args);
        out.expect_code(0);
        out.json()
    };
    let versions = remote.peer_root.join(".drkit-versions/remote");
    check_batch_sync(&remote.source(), &remote.replica(), &versions, &sync);
    let out = remote.site.drkit(&["verify", "remote"]);
    out.expect_code(0);
}

#[test]
fn watch_keeps_one_ssh_session_for_all_batches() {
    let remote = RemoteSite::new("");
    write(remote.source().join("index.html"), "home");
    let watch = remote.site.spawn(&["watch", "--debounce", "0.005", "remote"]);
    let replica = remote.replica();
    assert!(
        wait_for(Duration::from_secs(60), || replica.join("index.html").exists()),
        "the first full sync did not reach the peer"
    );
    // One file at a time, each awaited, so every file is a batch of its own.
    for i in 0..20 {
        write(remote.source().join(format!("posts/{i}.html")), format!("post {i}"));
        let arrived = replica.join(format!("posts/{i}.html"));
        assert!(
            wait_for(Duration::from_secs(30), || std::fs::read(&arrived)
                .is_ok_and(|b| b == format!("post {i}").as_bytes())),
            "posts/{i}.html did not reach the peer"
        );
    }
    std::fs::rename(remote.source().join("posts"), remote.source().join("archive")).unwrap();
    assert!(
        wait_for(Duration::from_secs(30), || replica.join("archive/19.html").exists()
            && !replica.join("posts").exists()),
        "the renamed folder did not arrive"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(watch.child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = watch.wait(Duration::from_secs(60));
    out.expect_code(0);
    assert_same_tree(&remote.source(), &replica);

    let log = std::fs::read_to_string(&remote.server.log).unwrap();
    let logins = log.matches("Accepted publickey").count();
    assert_eq!(
        logins, 1,
        "one SSH login for the whole watch, not one per batch:\n{log}"
    );
    let versions = remote.versions();
    let batches = std::fs::read_dir(remote.peer_root.join(".drkit-versions/remote"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".batch"))
        .count();
    assert!(batches >= 1, "the batches kept batch versions: {versions:?}");

    // The successful batches of one minute share one result.
    let db = rusqlite::Connection::open(remote.site.data_dir().join("drkit.db")).unwrap();
    let rows: Vec<(String, Option<i64>)> = db
        .prepare("SELECT status, json_extract(data, '$.batches') FROM results WHERE kind = 'sync'")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let batch_rows: Vec<i64> = rows.iter().filter_map(|(_, batches)| *batches).collect();
    assert!(rows.iter().all(|(status, _)| status == "ok"), "{rows:?}");
    assert!(
        (1..=3).contains(&batch_rows.len()),
        "at most one result per minute for 21 batches: {rows:?}"
    );
    assert!(batch_rows.iter().sum::<i64>() >= 21, "every batch is counted: {rows:?}");
}

#[test]
fn watch_reconnects_after_the_peer_comes_back() {
    let mut remote = RemoteSite::new("");
    write(remote.source().join("index.html"), "home");
    let watch = remote.site.spawn(&["watch", "--interval", "2", "remote"]);
    let replica = remote.replica();
    assert!(
        wait_for(Duration::from_secs(60), || replica.join("index.html").exists()),
        "the first full sync did not reach the peer"
    );

    // The peer goes away: its listener and the session's agent.
    remote.server.stop_listener();
    let agents = format!("agent --root {}", remote.peer_root.display());
    let _ = std::process::Command::new("pkill").args(["-f", &agents]).status();
    write(remote.source().join("during.html"), "written while the peer was down");
    let log = remote.site.data_dir().join("drkit.log");
    // A connection attempt fails while the listener is down.
    assert!(
        wait_for(Duration::from_secs(60), || std::fs::read_to_string(&log)
            .is_ok_and(|l| l.contains("Connection refused"))),
        "the watcher did not try to reconnect while the peer was down"
    );

    remote.server.start_listener();
    assert!(
        wait_for(Duration::from_secs(60), || replica.join("during.html").exists()),
        "the watcher did not reconnect once the peer was back"
    );
    let out = watch.kill();
    assert!(
        out.stderr.contains("the connection to the peer was lost") || out.stderr.contains("no response within"),
        "the first error says what happened: {}",
        out.stderr
    );
}
