//! Test harness for drkit's integration tests.
//!
//! `Site` makes a temporary site: a folder holding a config file, the
//! sources and replicas of one or more sync sets, the data folder and the
//! report folder. `Site::drkit` runs the built binary against that config
//! with a timeout and returns its exit code, stdout and stderr.
//!
//! `Tree` records a directory tree with `lstat` (symlinks are never
//! followed): kind, mode, owner, mtime in nanoseconds, content hash, symlink
//! target and hard-link groups, so two trees can be compared byte for byte.

#![allow(dead_code)]

pub mod sshd;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one drkit invocation may run before the test fails.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// Path of the binary under test, built by cargo for the integration tests.
pub fn drkit_bin() -> &'static str {
    env!("CARGO_BIN_EXE_drkit")
}

/// Exit code, stdout and stderr of one finished drkit process.
#[derive(Debug)]
pub struct Output {
    /// The exit code, or None when a signal ended the process.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Panics with both streams when the exit code is not `expected`.
    #[track_caller]
    pub fn expect_code(&self, expected: i32) -> &Output {
        assert_eq!(
            self.code,
            Some(expected),
            "drkit exited with {:?}, expected {expected}\n--- stdout\n{}\n--- stderr\n{}",
            self.code,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Parses stdout as one JSON document per line.
    #[track_caller]
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {l}\n--- stderr\n{}", self.stderr))
            })
            .collect()
    }

    /// Parses stdout as exactly one JSON document.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        let mut lines = self.json_lines();
        assert_eq!(
            lines.len(),
            1,
            "expected one JSON line on stdout, got:\n{}",
            self.stdout
        );
        lines.remove(0)
    }
}

/// A process started with `Site::spawn`, killed when dropped if still running.
pub struct Running {
    pub child: std::process::Child,
    stdout: Option<std::thread::JoinHandle<String>>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Running {
    /// Waits up to `timeout` for the process to end; kills it and panics after that.
    #[track_caller]
    pub fn wait(mut self, timeout: Duration) -> Output {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("waiting for drkit") {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let out = self.collect();
                panic!(
                    "drkit did not finish within {timeout:?}\n--- stdout\n{}\n--- stderr\n{}",
                    out.0, out.1
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let (stdout, stderr) = self.collect();
        Output {
            code: status.code(),
            stdout,
            stderr,
        }
    }

    /// Sends SIGKILL and waits for the process to end.
    pub fn kill(mut self) -> Output {
        let _ = self.child.kill();
        let status = self.child.wait().expect("waiting for a killed drkit");
        let (stdout, stderr) = self.collect();
        Output {
            code: status.code(),
            stdout,
            stderr,
        }
    }

    fn collect(&mut self) -> (String, String) {
        let stdout = self
            .stdout
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        let stderr = self
            .stderr
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        (stdout, stderr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn read_pipe(pipe: Option<impl Read + Send + 'static>) -> Option<std::thread::JoinHandle<String>> {
    pipe.map(|mut p| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = p.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        })
    })
}

/// One `[[sync]]` entry of a test site. Source and target lie in the site's
/// folder: `src/<name>` and `replica/<name>`.
#[derive(Debug, Clone)]
pub struct SetSpec {
    pub name: String,
    pub exclude: Vec<String>,
    pub max_delete: Option<String>,
    pub keep_versions: Option<i64>,
}

impl SetSpec {
    pub fn new(name: &str) -> SetSpec {
        SetSpec {
            name: name.to_string(),
            exclude: Vec::new(),
            max_delete: None,
            keep_versions: None,
        }
    }

    pub fn exclude(mut self, patterns: &[&str]) -> SetSpec {
        self.exclude = patterns.iter().map(|p| p.to_string()).collect();
        self
    }

    pub fn max_delete(mut self, limit: &str) -> SetSpec {
        self.max_delete = Some(limit.to_string());
        self
    }

    pub fn keep_versions(mut self, count: i64) -> SetSpec {
        self.keep_versions = Some(count);
        self
    }
}

/// A temporary drkit site, deleted when dropped.
pub struct Site {
    pub dir: tempfile::TempDir,
    pub sets: Vec<SetSpec>,
    /// TOML appended after the sets, such as `[nodes.*]` sections and remote sets.
    pub extra_toml: String,
}

impl Site {
    /// Makes a site with one set named "www" and an empty source folder.
    pub fn new() -> Site {
        Site::with_sets(vec![SetSpec::new("www")])
    }

    /// Makes a site with the given sets; every source folder is created empty.
    pub fn with_sets(sets: Vec<SetSpec>) -> Site {
        let dir = tempfile::Builder::new()
            .prefix("drkit-test-")
            .tempdir()
            .expect("creating a temporary folder");
        let site = Site {
            dir,
            sets,
            extra_toml: String::new(),
        };
        for set in &site.sets {
            std::fs::create_dir_all(site.source(&set.name)).expect("creating a source folder");
        }
        site.write_config();
        site
    }

    /// Makes a site whose config is `text` with every `{root}` replaced by
    /// the site folder; creates nothing else.
    pub fn with_config_text(text: &str) -> Site {
        let dir = tempfile::Builder::new()
            .prefix("drkit-test-")
            .tempdir()
            .expect("creating a temporary folder");
        let site = Site {
            dir,
            sets: Vec::new(),
            extra_toml: String::new(),
        };
        std::fs::write(
            site.config_path(),
            text.replace("{root}", &site.root().display().to_string()),
        )
        .expect("writing the config");
        site
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn config_path(&self) -> PathBuf {
        self.root().join("drkit.toml")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.root().join("data")
    }

    pub fn report_dir(&self) -> PathBuf {
        self.root().join("reports")
    }

    pub fn source(&self, set: &str) -> PathBuf {
        self.root().join("src").join(set)
    }

    pub fn target(&self, set: &str) -> PathBuf {
        self.root().join("replica").join(set)
    }

    /// Returns the default versions folder: `.drkit-versions/<set>` beside the target.
    pub fn versions_dir(&self, set: &str) -> PathBuf {
        self.root().join("replica").join(".drkit-versions").join(set)
    }

    /// Lists the complete versions of `set`, oldest first (names starting
    /// with a dot are unfinished and left out).
    pub fn versions(&self, set: &str) -> Vec<String> {
        let Ok(read) = std::fs::read_dir(self.versions_dir(set)) else {
            return Vec::new();
        };
        let mut names: Vec<String> = read
            .map(|e| {
                e.expect("reading the versions folder")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        names
    }

    /// Rewrites the config file from `sets`.
    pub fn write_config(&self) {
        let root = self.root().display().to_string();
        let mut text =
            format!("[site]\nname = \"test\"\ndata_dir = \"{root}/data\"\nreport_dir = \"{root}/reports\"\n");
        for set in &self.sets {
            text.push_str(&format!(
                "\n[[sync]]\nname = \"{}\"\nsource = \"{}\"\ntarget = \"{}\"\n",
                set.name,
                self.source(&set.name).display(),
                self.target(&set.name).display()
            ));
            if !set.exclude.is_empty() {
                let quoted: Vec<String> = set.exclude.iter().map(|p| format!("\"{p}\"")).collect();
                text.push_str(&format!("exclude = [{}]\n", quoted.join(", ")));
            }
            if let Some(limit) = &set.max_delete {
                text.push_str(&format!("max_delete = \"{limit}\"\n"));
            }
            if let Some(count) = set.keep_versions {
                text.push_str(&format!("keep_versions = {count}\n"));
            }
        }
        text.push_str(&self.extra_toml);
        std::fs::write(self.config_path(), text).expect("writing the config");
    }

    /// Appends `toml` to the config file, and keeps it for later `write_config` calls.
    pub fn add_toml(&mut self, toml: &str) {
        use std::io::Write;
        self.extra_toml.push_str(toml);
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(self.config_path())
            .expect("opening the config");
        file.write_all(toml.as_bytes()).expect("appending to the config");
    }

    /// Builds the drkit command with `--config` and `--lang en`, and a
    /// clean environment for the variables drkit reads.
    pub fn command(&self, args: &[&str]) -> Command {
        self.command_lang("en", args)
    }

    pub fn command_lang(&self, lang: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(drkit_bin());
        cmd.arg("--config")
            .arg(self.config_path())
            .arg("--lang")
            .arg(lang)
            .args(args);
        for var in ["DRKIT_CONFIG", "DRKIT_RUN_ID", "DRKIT_JOB", "RUST_LOG"] {
            cmd.env_remove(var);
        }
        cmd.env("LANG", "C.UTF-8")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Starts drkit with `args` without waiting for it.
    pub fn spawn(&self, args: &[&str]) -> Running {
        spawn_command(self.command(args))
    }

    /// Runs drkit with `args` (English messages) and waits for it.
    #[track_caller]
    pub fn drkit(&self, args: &[&str]) -> Output {
        self.spawn(args).wait(DEFAULT_TIMEOUT)
    }

    /// Runs drkit with `--lang LANG` and `args`.
    #[track_caller]
    pub fn drkit_lang(&self, lang: &str, args: &[&str]) -> Output {
        spawn_command(self.command_lang(lang, args)).wait(DEFAULT_TIMEOUT)
    }

    /// Runs `drkit sync --json` on every set and returns the summary of the
    /// only set, after checking exit code 0.
    #[track_caller]
    pub fn sync_ok(&self) -> serde_json::Value {
        let out = self.drkit(&["sync", "--json"]);
        out.expect_code(0);
        out.json()
    }

    /// Runs `drkit verify` and checks exit code 0.
    #[track_caller]
    pub fn verify_ok(&self) {
        self.drkit(&["verify"]).expect_code(0);
    }
}

/// Starts `cmd` with its output collected by background threads.
pub fn spawn_command(mut cmd: Command) -> Running {
    let mut child = cmd.spawn().expect("starting drkit");
    let stdout = read_pipe(child.stdout.take());
    let stderr = read_pipe(child.stderr.take());
    Running { child, stdout, stderr }
}

// ---------------------------------------------------------------------------
// Building trees

/// Writes `content` to `path`, creating parent folders.
pub fn write(path: impl AsRef<Path>, content: impl AsRef<[u8]>) {
    let path = path.as_ref();
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("creating {}: {e}", parent.display()));
    }
    std::fs::write(path, content).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// Replaces `path` by a new inode (write a temporary file, rename), as editors do.
pub fn replace(path: impl AsRef<Path>, content: impl AsRef<[u8]>) {
    let path = path.as_ref();
    let temp = path.with_file_name(".replace-in-progress");
    std::fs::write(&temp, content).expect("writing a replacement file");
    std::fs::rename(&temp, path).expect("renaming a replacement file");
}

pub fn mkdir(path: impl AsRef<Path>) {
    let path = path.as_ref();
    std::fs::create_dir_all(path).unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
}

pub fn symlink(target: impl AsRef<Path>, link: impl AsRef<Path>) {
    let link = link.as_ref();
    std::os::unix::fs::symlink(target.as_ref(), link)
        .unwrap_or_else(|e| panic!("creating symlink {}: {e}", link.display()));
}

pub fn hard_link(existing: impl AsRef<Path>, link: impl AsRef<Path>) {
    std::fs::hard_link(existing.as_ref(), link.as_ref())
        .unwrap_or_else(|e| panic!("linking {}: {e}", link.as_ref().display()));
}

pub fn chmod(path: impl AsRef<Path>, mode: u32) {
    let path = path.as_ref();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

/// Changes owner and group without following a symlink.
pub fn lchown(path: impl AsRef<Path>, uid: u32, gid: u32) {
    let path = path.as_ref();
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
}

/// Sets the mtime (nanoseconds since the epoch) without following a symlink.
pub fn set_mtime_ns(path: impl AsRef<Path>, ns: i64) {
    use nix::sys::stat::{utimensat, UtimensatFlags};
    use nix::sys::time::TimeSpec;
    let path = path.as_ref();
    let mtime = TimeSpec::new(ns.div_euclid(1_000_000_000), ns.rem_euclid(1_000_000_000));
    utimensat(
        None,
        path,
        &TimeSpec::UTIME_OMIT,
        &mtime,
        UtimensatFlags::NoFollowSymlink,
    )
    .unwrap_or_else(|e| panic!("setting the mtime of {}: {e}", path.display()));
}

pub fn mtime_ns(path: impl AsRef<Path>) -> i64 {
    let meta = lstat(path);
    meta.mtime() * 1_000_000_000 + meta.mtime_nsec()
}

pub fn lstat(path: impl AsRef<Path>) -> std::fs::Metadata {
    let path = path.as_ref();
    std::fs::symlink_metadata(path).unwrap_or_else(|e| panic!("lstat {}: {e}", path.display()))
}

pub fn read(path: impl AsRef<Path>) -> Vec<u8> {
    let path = path.as_ref();
    std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Builds a path from raw bytes, for names that are not UTF-8.
pub fn bytes_path(base: &Path, name: &[u8]) -> PathBuf {
    base.join(OsStr::from_bytes(name))
}

/// Returns `len` pseudo-random bytes from `seed`, the same for the same seed.
pub fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    use rand::{RngCore, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut bytes = vec![0u8; len];
    rng.fill_bytes(&mut bytes);
    bytes
}

/// Lists every path under `root` whose name starts with `prefix`.
pub fn find_names(root: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(read) = std::fs::read_dir(&dir) else { continue };
        for entry in read {
            let entry = entry.expect("reading a folder");
            if entry.file_name().as_bytes().starts_with(prefix.as_bytes()) {
                found.push(entry.path());
            }
            if entry.file_type().expect("file type").is_dir() {
                stack.push(entry.path());
            }
        }
    }
    found
}

/// Lists every path under `root`, relative, sorted; for "nothing was created" checks.
pub fn list_paths(root: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(read) = std::fs::read_dir(&dir) else { continue };
        for entry in read {
            let entry = entry.expect("reading a folder");
            found.push(entry.path().strip_prefix(root).expect("under root").to_path_buf());
            if entry.file_type().expect("file type").is_dir() {
                stack.push(entry.path());
            }
        }
    }
    found.sort();
    found
}

/// Asserts that the process is root, for tests that change owners.
#[track_caller]
pub fn require_root(what: &str) {
    assert!(
        nix::unistd::geteuid().is_root(),
        "{what} needs root to create files owned by other users; run the suite as root (tests/run does)"
    );
}

// ---------------------------------------------------------------------------
// Recording and comparing trees

/// Kind of a tree entry as `lstat` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
    Symlink,
    Fifo,
    Socket,
    Device,
}

/// One entry of a recorded tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub kind: Kind,
    /// Permission bits with setuid, setgid and sticky; 0 for symlinks,
    /// whose mode Linux does not let anyone set.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime_ns: i64,
    pub size: u64,
    /// BLAKE3 of the content of a regular file.
    pub hash: Option<String>,
    pub link_target: Option<Vec<u8>>,
}

/// A directory tree recorded with `lstat`, keyed by the relative path as
/// bytes (the root itself is the empty key).
#[derive(Debug, Clone)]
pub struct Tree {
    pub nodes: BTreeMap<Vec<u8>, Node>,
    /// Groups of two or more paths of this tree that share one inode.
    pub link_groups: BTreeSet<Vec<Vec<u8>>>,
    /// Inode number of each regular file.
    pub inodes: BTreeMap<Vec<u8>, u64>,
}

impl Tree {
    /// Records the tree under `root` without following any symlink.
    pub fn read(root: &Path) -> Tree {
        let mut tree = Tree {
            nodes: BTreeMap::new(),
            link_groups: BTreeSet::new(),
            inodes: BTreeMap::new(),
        };
        let mut by_inode: BTreeMap<(u64, u64), Vec<Vec<u8>>> = BTreeMap::new();
        let mut stack: Vec<Vec<u8>> = vec![Vec::new()];
        while let Some(key) = stack.pop() {
            let path = bytes_path(root, &key);
            let path = if key.is_empty() { root.to_path_buf() } else { path };
            let meta = lstat(&path);
            let node = node_of(&path, &meta);
            if node.kind == Kind::File {
                tree.inodes.insert(key.clone(), meta.ino());
                if meta.nlink() > 1 {
                    by_inode.entry((meta.dev(), meta.ino())).or_default().push(key.clone());
                }
            }
            if node.kind == Kind::Dir {
                for entry in std::fs::read_dir(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display())) {
                    let entry = entry.expect("reading a folder entry");
                    let mut child = key.clone();
                    if !child.is_empty() {
                        child.push(b'/');
                    }
                    child.extend_from_slice(entry.file_name().as_bytes());
                    stack.push(child);
                }
            }
            tree.nodes.insert(key, node);
        }
        for (_, mut group) in by_inode {
            if group.len() > 1 {
                group.sort();
                tree.link_groups.insert(group);
            }
        }
        tree
    }

    /// Returns the tree without FIFOs, sockets and devices, which drkit never copies.
    pub fn without_specials(mut self) -> Tree {
        self.nodes
            .retain(|_, n| !matches!(n.kind, Kind::Fifo | Kind::Socket | Kind::Device));
        self
    }

    pub fn node(&self, key: &[u8]) -> Option<&Node> {
        self.nodes.get(key)
    }

    /// Lists every difference from `other`, one line each; empty when equal.
    pub fn differences(&self, other: &Tree) -> Vec<String> {
        let mut out = Vec::new();
        let keys: BTreeSet<&Vec<u8>> = self.nodes.keys().chain(other.nodes.keys()).collect();
        for key in keys {
            let name = show(key);
            match (self.nodes.get(key), other.nodes.get(key)) {
                (Some(_), None) => out.push(format!("{name}: only in the first tree")),
                (None, Some(_)) => out.push(format!("{name}: only in the second tree")),
                (Some(a), Some(b)) if a != b => out.push(format!("{name}: {a:?} != {b:?}")),
                _ => {}
            }
        }
        if self.link_groups != other.link_groups {
            let show_groups = |t: &Tree| -> Vec<Vec<String>> {
                t.link_groups
                    .iter()
                    .map(|g| g.iter().map(|k| show(k)).collect())
                    .collect()
            };
            out.push(format!(
                "hard links: {:?} != {:?}",
                show_groups(self),
                show_groups(other)
            ));
        }
        out
    }
}

fn node_of(path: &Path, meta: &std::fs::Metadata) -> Node {
    use std::os::unix::fs::FileTypeExt;
    let file_type = meta.file_type();
    let kind = if file_type.is_dir() {
        Kind::Dir
    } else if file_type.is_file() {
        Kind::File
    } else if file_type.is_symlink() {
        Kind::Symlink
    } else if file_type.is_fifo() {
        Kind::Fifo
    } else if file_type.is_socket() {
        Kind::Socket
    } else {
        Kind::Device
    };
    let hash = (kind == Kind::File).then(|| hash_file(path));
    let link_target = (kind == Kind::Symlink).then(|| {
        std::fs::read_link(path)
            .unwrap_or_else(|e| panic!("readlink {}: {e}", path.display()))
            .into_os_string()
            .into_vec()
    });
    Node {
        kind,
        mode: if kind == Kind::Symlink { 0 } else { meta.mode() & 0o7777 },
        uid: meta.uid(),
        gid: meta.gid(),
        mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
        size: if kind == Kind::File { meta.len() } else { 0 },
        hash,
        link_target,
    }
}

use std::os::unix::ffi::OsStringExt;

/// Returns the BLAKE3 hash of a file's content as hex.
pub fn hash_file(path: &Path) -> String {
    let mut hasher = blake3::Hasher::new();
    let mut file = std::fs::File::open(path).unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    std::io::copy(&mut file, &mut hasher).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    hasher.finalize().to_hex().to_string()
}

pub fn hash_bytes(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

/// Shows a path key with non-printable bytes escaped.
pub fn show(key: &[u8]) -> String {
    if key.is_empty() {
        return "(root)".to_string();
    }
    key.escape_ascii().to_string()
}

/// Asserts that the trees under `a` and `b` are equal byte for byte, with
/// FIFOs and sockets of `a` left out.
#[track_caller]
pub fn assert_same_tree(a: &Path, b: &Path) {
    let first = Tree::read(a).without_specials();
    let second = Tree::read(b);
    let diff = first.differences(&second);
    assert!(
        diff.is_empty(),
        "{} and {} differ:\n{}",
        a.display(),
        b.display(),
        diff.join("\n")
    );
}

/// Checks a sync limited to named paths (`drkit sync SET --path P…`, what
/// `drkit watch` runs for each batch) on `source` and its `replica`.
/// `sync` runs drkit with the given extra arguments and returns its JSON
/// summary. Every step names some changed paths and leaves one change
/// unnamed, which must stay behind until a whole sync.
pub fn check_batch_sync(source: &Path, replica: &Path, versions: &Path, sync: &dyn Fn(&[&str]) -> serde_json::Value) {
    write(source.join("keep/f1"), "one");
    write(source.join("keep/f2"), "two");
    write(source.join("gone/deep/x"), "x");
    write(source.join("gone/y"), "y");
    write(source.join("moved/inside/z"), "z");
    symlink("keep", source.join("link"));
    for i in 0..40 {
        write(source.join(format!("bulk/{i}")), format!("{i}"));
    }
    sync(&["--max-delete", "100%"]);
    assert_same_tree(source, replica);

    // A named change arrives; an unnamed one waits for a whole sync.
    replace(source.join("keep/f1"), "one, changed");
    replace(source.join("keep/f2"), "two, changed");
    let summary = sync(&["--path", "keep/f1"]);
    assert_eq!(summary["files_changed"], 1, "{summary}");
    let version = summary["version_created"].as_str().expect("a batch keeps a version");
    assert_eq!(std::fs::read(replica.join("keep/f1")).unwrap(), b"one, changed");
    // A batch version holds only what the batch replaced, beside its record.
    assert_eq!(std::fs::read(versions.join(version).join("keep/f1")).unwrap(), b"one");
    assert!(!versions.join(version).join("keep/f2").exists());
    assert!(versions.join(format!("{version}.batch")).is_file());
    assert_eq!(std::fs::read(replica.join("keep/f2")).unwrap(), b"two");

    // A deleted folder, a new nested file named by its full path only, a
    // symlink replaced by a folder, a renamed folder, awkward names, and a
    // path that exists on neither side.
    std::fs::remove_dir_all(source.join("gone")).unwrap();
    write(source.join("new/a/b/c.txt"), "nested");
    std::fs::remove_file(source.join("link")).unwrap();
    write(source.join("link/inner"), "was a symlink");
    std::fs::rename(source.join("moved"), source.join("renamed")).unwrap();
    let moved_inode = inode(replica.join("moved/inside/z"));
    write(source.join("line\nbreak"), "newline");
    write(bytes_path(source, b"caf\xe9"), "latin-1");
    let absolute = source.join("renamed");
    let names = [
        "gone",
        "new/a/b/c.txt",
        "link/inner",
        "moved",
        absolute.to_str().unwrap(),
        "line\nbreak",
        "never/existed",
    ];
    let mut args = vec!["--max-delete", "100%"];
    for name in names {
        args.extend(["--path", name]);
    }
    let latin = bytes_path(Path::new(""), b"caf\xe9");
    let latin = latin.to_str().map(str::to_string);
    // A non-UTF-8 name cannot travel through `&str`; it is synced by the
    // whole sync below instead.
    assert!(latin.is_none());
    let summary = sync(&args);
    assert_eq!(summary["errors"], serde_json::json!([]), "{summary}");
    // gone/deep/x, gone/y and the symlink; the moved file is not deleted.
    assert_eq!(summary["files_deleted"], 3, "{summary}");
    assert!(!replica.join("gone").exists());
    assert!(!replica.join("moved").exists());
    assert_eq!(std::fs::read(replica.join("renamed/inside/z")).unwrap(), b"z");
    assert_eq!(
        inode(replica.join("renamed/inside/z")),
        moved_inode,
        "a renamed folder moves its files on the replica instead of copying them"
    );
    assert_eq!(std::fs::read(replica.join("new/a/b/c.txt")).unwrap(), b"nested");
    assert_eq!(std::fs::read(replica.join("link/inner")).unwrap(), b"was a symlink");
    assert!(std::fs::symlink_metadata(replica.join("link")).unwrap().is_dir());
    assert_eq!(std::fs::read(replica.join("line\nbreak")).unwrap(), b"newline");
    assert!(!bytes_path(replica, b"caf\xe9").exists());
    assert_eq!(std::fs::read(replica.join("keep/f2")).unwrap(), b"two");

    // The whole sync then carries exactly what no batch named.
    let summary = sync(&["--max-delete", "100%"]);
    assert_eq!(summary["files_changed"], 2, "keep/f2 and the latin-1 name: {summary}");
    assert_eq!(summary["files_deleted"], 0, "{summary}");
    assert_same_tree(source, replica);
}

fn inode(path: impl AsRef<Path>) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path).expect("reading an inode").ino()
}
