//! `drkit demo` end to end. The real binary builds the demo in a temporary
//! folder and runs every step, then the tests check the files it left.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const DRKIT: &str = env!("CARGO_BIN_EXE_drkit");

/// Upper bound for one demo run. A debug build took 20 to 40 seconds per run
/// on the 2-CPU development VM, with the four tests running in parallel.
const DEMO_TIMEOUT: Duration = Duration::from_secs(600);

/// The replica file the demo corrupts, relative to the `home` set.
const CORRUPTED: &str = "example.com/public_html/wp-content/uploads/2025/03/team.jpg";

/// Each demo set: folder under `primary/` and `replica/`, and its excludes
/// as (file name suffixes, folder names).
const SETS: [(&str, &[&str], &[&str]); 3] = [
    ("home", &[".tmp"], &["cache"]),
    ("etc/apache2", &[".tmp", "~"], &[]),
    ("etc/webmin", &[".tmp", ".pid"], &[]),
];

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn describe(&self) -> String {
        format!(
            "exit code {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `drkit demo DIR --lang LANG` in `cwd`, killing it after `DEMO_TIMEOUT`.
fn run_demo(cwd: &Path, dir: &str, lang: &str) -> Run {
    let mut child = Command::new(DRKIT)
        .args(["demo", dir, "--lang", lang])
        .current_dir(cwd)
        .env_remove("DRKIT_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start drkit demo");
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let out_reader = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).map(|_| text)
    });
    let err_reader = std::thread::spawn(move || {
        let mut text = String::new();
        stderr.read_to_string(&mut text).map(|_| text)
    });

    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for drkit demo") {
            break status;
        }
        if started.elapsed() > DEMO_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("drkit demo did not finish within {DEMO_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    Run {
        code: status.code(),
        stdout: out_reader.join().expect("stdout reader").expect("read stdout"),
        stderr: err_reader.join().expect("stderr reader").expect("read stderr"),
    }
}

/// One entry of a tree, compared between primary and replica.
#[derive(Debug, PartialEq, Eq)]
enum Node {
    Dir { mode: u32 },
    File { mode: u32, mtime: i64, bytes: Vec<u8> },
    Symlink(PathBuf),
}

fn is_excluded(name: &str, is_dir: bool, suffixes: &[&str], folders: &[&str]) -> bool {
    if is_dir {
        folders.contains(&name)
    } else {
        suffixes.iter().any(|s| name.ends_with(s))
    }
}

/// Reads the tree at `root`, without following symlinks, leaving out the
/// excluded entries.
fn read_tree(root: &Path, suffixes: &[&str], folders: &[&str]) -> BTreeMap<PathBuf, Node> {
    let mut tree = BTreeMap::new();
    let walk = walkdir::WalkDir::new(root)
        .min_depth(1)
        .follow_links(false)
        .into_iter()
        .filter_entry(|e| {
            let name = e.file_name().to_string_lossy();
            !is_excluded(&name, e.file_type().is_dir(), suffixes, folders)
        });
    for entry in walk {
        let entry = entry.expect("walk the tree");
        let meta = entry.path().symlink_metadata().expect("stat the entry");
        let relative = entry.path().strip_prefix(root).unwrap().to_path_buf();
        let node = if meta.file_type().is_symlink() {
            Node::Symlink(std::fs::read_link(entry.path()).unwrap())
        } else if meta.is_dir() {
            Node::Dir { mode: meta.mode() }
        } else {
            Node::File {
                mode: meta.mode(),
                mtime: meta.mtime(),
                bytes: std::fs::read(entry.path()).unwrap(),
            }
        };
        tree.insert(relative, node);
    }
    tree
}

/// Asserts that every set's replica equals its primary, and that the
/// excluded entries exist on the primary only.
fn assert_replica_equals_primary(demo: &Path) {
    for (folder, suffixes, folders) in SETS {
        let primary = read_tree(&demo.join("primary").join(folder), suffixes, folders);
        let replica = read_tree(&demo.join("replica").join(folder), suffixes, folders);
        assert!(
            primary.len() > 5,
            "{folder}: only {} entries on the primary",
            primary.len()
        );
        let only_primary: Vec<_> = primary.keys().filter(|k| !replica.contains_key(*k)).collect();
        let only_replica: Vec<_> = replica.keys().filter(|k| !primary.contains_key(*k)).collect();
        assert!(
            only_primary.is_empty(),
            "{folder}: missing on the replica: {only_primary:?}"
        );
        assert!(
            only_replica.is_empty(),
            "{folder}: only on the replica: {only_replica:?}"
        );
        let differ: Vec<_> = primary
            .iter()
            .filter(|(k, v)| replica.get(*k) != Some(v))
            .map(|(k, _)| k)
            .collect();
        assert!(differ.is_empty(), "{folder}: entries differ: {differ:?}");
    }

    let site = Path::new("home/example.com");
    for excluded in [
        "public_html/wp-content/cache/page-index.html",
        "tmp/php-upload-7f3a.tmp",
    ] {
        assert!(
            demo.join("primary").join(site).join(excluded).is_file(),
            "{excluded} is on the primary"
        );
        assert!(
            !demo.join("replica").join(site).join(excluded).exists(),
            "{excluded} is not on the replica"
        );
    }
}

/// Returns the names of the kept versions of the `home` set.
fn home_versions(demo: &Path) -> Vec<String> {
    let dir = demo.join("replica/.drkit-versions/home");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with('.'))
        .collect();
    names.sort();
    names
}

/// Checks what every successful demo run leaves, in either language.
fn assert_demo_outcome(demo: &Path, run: &Run) {
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert_replica_equals_primary(demo);

    let versions = home_versions(demo);
    assert!(!versions.is_empty(), "no version of the home set");
    let first = demo.join("replica/.drkit-versions/home").join(&versions[0]);
    assert!(
        first.join("blog.example.org/public_html/old-post.html").is_file(),
        "the first version keeps the post deleted on the primary"
    );

    assert!(demo.join("reports/index.html").is_file(), "reports/index.html");
    assert!(demo.join(".drkit-demo").is_file(), "marker file");
}

#[test]
fn demo_in_english() {
    let temp = tempfile::tempdir().unwrap();
    let run = run_demo(temp.path(), "drkit-demo", "en");
    let demo = temp.path().join("drkit-demo");
    assert_demo_outcome(&demo, &run);

    let out = &run.stdout;
    assert!(out.contains("$ drkit --config drkit-demo/drkit.toml sync\n"), "{out}");
    assert!(
        out.contains(&format!("  different: {CORRUPTED}\n")),
        "verify lists the corrupted file:\n{out}"
    );
    assert!(out.contains("As expected, verify exited with code 1"), "{out}");
    assert!(out.contains("== Step 7 of 7: daily report =="), "{out}");
    assert!(out.contains("All 7 steps behaved as expected."), "{out}");
    let index = demo.join("reports/index.html");
    assert!(
        out.contains(&index.display().to_string()),
        "the path of index.html is printed:\n{out}"
    );
}

#[test]
fn demo_in_spanish() {
    let temp = tempfile::tempdir().unwrap();
    let run = run_demo(temp.path(), "demo-es", "es");
    let demo = temp.path().join("demo-es");
    assert_demo_outcome(&demo, &run);

    let out = &run.stdout;
    assert!(out.contains("== Paso 1 de 7: primera sincronización =="), "{out}");
    assert!(
        out.contains("== Paso 5 de 7: corrupción silenciosa en la réplica =="),
        "{out}"
    );
    assert!(
        out.contains(&format!("  distinto: {CORRUPTED}\n")),
        "verify lists the corrupted file:\n{out}"
    );
    assert!(
        out.contains("Como se esperaba, verify terminó con el código 1"),
        "{out}"
    );
    assert!(out.contains("home: la réplica coincide con el origen"), "{out}");
    assert!(out.contains("Los 7 pasos se comportaron como se esperaba."), "{out}");
    assert!(
        !out.contains("Step 1 of 7"),
        "no English step header in the Spanish run:\n{out}"
    );

    let config = std::fs::read_to_string(demo.join("drkit.toml")).unwrap();
    assert!(config.contains("language = \"es\""), "{config}");
}

#[test]
fn demo_runs_twice_in_same_folder() {
    let temp = tempfile::tempdir().unwrap();
    let demo = temp.path().join("drkit-demo");
    let first = run_demo(temp.path(), "drkit-demo", "en");
    assert_eq!(first.code, Some(0), "{}", first.describe());
    std::fs::write(demo.join("my-notes.txt"), "not made by the demo").unwrap();

    let second = run_demo(temp.path(), "drkit-demo", "en");

    assert_demo_outcome(&demo, &second);
    assert!(
        second.stdout.contains("Removed the files of the previous demo run"),
        "{}",
        second.stdout
    );
    assert_eq!(
        home_versions(&demo).len(),
        2,
        "the second run starts without the first run's versions"
    );
    assert_eq!(
        std::fs::read_to_string(demo.join("my-notes.txt")).unwrap(),
        "not made by the demo"
    );
}

#[test]
fn demo_rejects_folder_it_did_not_create() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("site");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("index.html"), "precious").unwrap();

    let run = run_demo(temp.path(), "site", "en");

    assert_eq!(run.code, Some(2), "{}", run.describe());
    assert!(run.stderr.contains("no .drkit-demo file"), "{}", run.stderr);
    let entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(entries, ["index.html"], "nothing was added to the folder");
    assert_eq!(std::fs::read_to_string(dir.join("index.html")).unwrap(), "precious");
}
