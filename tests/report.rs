//! End-to-end tests of the reports: a real config and source tree in a temp
//! folder, the real `drkit` binary for `sync`, `verify`, `report daily` and
//! `status`, and checks on the files it leaves in the report folder.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Maximum time one drkit command may take before the test fails.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// Prefix of the temporary files drkit renames into place.
const TEMP_PREFIX: &str = ".drkit-tmp-";

/// A temp folder with `drkit.toml`, a source tree per set and the report folder.
struct Site {
    dir: tempfile::TempDir,
}

/// What one drkit command printed and how it exited.
struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Site {
    /// Writes a config with the sets `names` (each with a source folder
    /// holding two files) in `language`, and an RPO target of one hour so
    /// that a test never depends on how fast the machine is.
    fn new(language: &str, names: &[&str]) -> Site {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().display().to_string();
        let mut config = format!(
            "[site]\nname = \"web1\"\ndata_dir = \"{root}/data\"\nreport_dir = \"{root}/reports\"\nlanguage = \"{language}\"\n\n[targets]\nrto = \"15m\"\nrpo = \"1h\"\n"
        );
        for name in names {
            config.push_str(&format!(
                "\n[[sync]]\nname = \"{name}\"\nsource = \"{root}/source/{name}\"\ntarget = \"{root}/replica/{name}\"\n"
            ));
            let source = dir.path().join("source").join(name);
            fs::create_dir_all(source.join("html")).unwrap();
            fs::write(source.join("index.php"), b"<?php echo 'hello';\n").unwrap();
            fs::write(source.join("html/style.css"), b"body { margin: 0 }\n").unwrap();
        }
        fs::write(dir.path().join("drkit.toml"), config).unwrap();
        Site { dir }
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    fn reports(&self) -> PathBuf {
        self.path("reports")
    }

    /// Runs drkit with this site's config; stdout and stderr go to files so
    /// a large output cannot block the child.
    fn drkit(&self, args: &[&str]) -> Outcome {
        let out_path = self.path("stdout.txt");
        let err_path = self.path("stderr.txt");
        let mut child = Command::new(env!("CARGO_BIN_EXE_drkit"))
            .arg("--config")
            .arg(self.path("drkit.toml"))
            .args(args)
            .env_remove("DRKIT_CONFIG")
            .env_remove("DRKIT_RUN_ID")
            .env_remove("DRKIT_JOB")
            .env("LANG", "C.UTF-8")
            .stdin(Stdio::null())
            .stdout(fs::File::create(&out_path).unwrap())
            .stderr(fs::File::create(&err_path).unwrap())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                child.kill().unwrap();
                child.wait().unwrap();
                panic!("drkit {args:?} did not finish within {COMMAND_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Outcome {
            code: status.code().expect("drkit exited by a signal"),
            stdout: fs::read_to_string(&out_path).unwrap(),
            stderr: fs::read_to_string(&err_path).unwrap(),
        }
    }

    /// Runs drkit and fails the test unless it exits with `code`.
    fn expect(&self, code: i32, args: &[&str]) -> Outcome {
        let outcome = self.drkit(args);
        assert_eq!(
            outcome.code, code,
            "drkit {args:?}\nstdout:\n{}\nstderr:\n{}",
            outcome.stdout, outcome.stderr
        );
        outcome
    }

    fn read_report(&self, name: &str) -> String {
        fs::read_to_string(self.reports().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    fn status_json(&self, code: i32) -> Value {
        let outcome = self.expect(code, &["status", "--json"]);
        serde_json::from_str(&outcome.stdout)
            .unwrap_or_else(|e| panic!("status --json is not JSON: {e}\n{}", outcome.stdout))
    }
}

/// Returns the daily page path printed on the second line of `report daily`.
fn daily_path_from(outcome: &Outcome) -> PathBuf {
    let line = outcome
        .stdout
        .lines()
        .nth(1)
        .unwrap_or_else(|| panic!("no second line in:\n{}", outcome.stdout));
    let (_, path) = line.split_once(": ").unwrap_or_else(|| panic!("no path in: {line}"));
    PathBuf::from(path)
}

/// Escapes text the way maud writes it into an HTML page.
fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Lists every name under `dir` that starts with the temporary prefix.
fn temp_files(dir: &Path) -> Vec<PathBuf> {
    walk(dir)
        .into_iter()
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.as_bytes().starts_with(TEMP_PREFIX.as_bytes()))
        })
        .collect()
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(walk(&path));
        }
        found.push(path);
    }
    found
}

#[test]
fn status_json_matches_sync_output() {
    let site = Site::new("en", &["www"]);
    let sync = site.expect(0, &["sync", "--json"]);
    let printed: Value = serde_json::from_str(sync.stdout.trim()).unwrap();
    site.expect(0, &["verify"]);

    let status = site.status_json(0);
    let www = &status["sets"][0];
    assert_eq!(status["site"], "web1");
    assert_eq!(status["language"], "en");
    assert_eq!(status["targets"]["rpo_s"], 3600);
    assert_eq!(status["targets"]["rto_s"], 900);
    assert_eq!(www["name"], "www");
    assert_eq!(www["source"], site.path("source/www").display().to_string());
    assert_eq!(www["target"], site.path("replica/www").display().to_string());
    for field in [
        "files_scanned",
        "files_changed",
        "files_deleted",
        "bytes_copied",
        "duration_ms",
    ] {
        assert_eq!(www["last_sync"][field], printed[field], "last_sync.{field}");
    }
    assert_eq!(www["last_sync"]["files_changed"], 2);
    assert_eq!(www["last_sync"]["status"], "ok");
    assert_eq!(www["within_rpo"], true);
    assert!(www["lag_s"].as_u64().is_some());
    assert_eq!(www["versions"], 0);
    assert_eq!(www["last_verify"]["status"], "ok");
    assert_eq!(www["last_verify"]["files_checked"], 2);
    assert_eq!(www["last_verify"]["mismatched"], 0);
    let kinds: Vec<&str> = status["recent_runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["verify", "sync"]);
    assert_eq!(status["audit"]["intact"], true);
    assert_eq!(status["audit"]["rows"], 2);
}

#[test]
fn status_json_equals_written_file() {
    let site = Site::new("en", &["www"]);
    site.expect(0, &["sync"]);
    let outcome = site.expect(0, &["status", "--json"]);
    assert_eq!(outcome.stdout, site.read_report("dr_status.json"));

    let sync_status: Value = serde_json::from_str(&site.read_report("sync_status.json")).unwrap();
    assert_eq!(sync_status["sets"][0]["name"], "www");
    assert_eq!(sync_status["sets"][0]["last_sync"]["files_changed"], 2);
    assert!(sync_status["sets"][0].get("last_verify").is_none());
}

#[test]
fn second_sync_counts_a_version() {
    let site = Site::new("en", &["www"]);
    site.expect(0, &["sync"]);
    fs::write(site.path("source/www/index.php"), b"<?php echo 'changed';\n").unwrap();
    let sync = site.expect(0, &["sync", "--json"]);
    let printed: Value = serde_json::from_str(sync.stdout.trim()).unwrap();

    let status = site.status_json(0);
    assert_eq!(status["sets"][0]["versions"], 1);
    assert_eq!(status["sets"][0]["versions"], printed["versions_kept"]);
    assert_eq!(status["sets"][0]["last_sync"]["files_changed"], 1);
    assert_eq!(
        status["sets"][0]["last_sync"]["version_created"],
        printed["version_created"]
    );
}

#[test]
fn daily_writes_pages_without_temp_files() {
    let site = Site::new("en", &["www"]);
    site.expect(0, &["sync"]);
    site.expect(0, &["verify"]);
    let daily = site.expect(0, &["report", "daily"]);

    let index = site.reports().join("index.html");
    assert_eq!(
        daily.stdout.lines().next(),
        Some(format!("dashboard: {}", index.display()).as_str())
    );
    let daily_page = daily_path_from(&daily);
    assert!(daily.stdout.lines().nth(1).unwrap().starts_with("daily report: "));
    assert_eq!(daily_page.parent(), Some(site.reports().join("daily").as_path()));
    for path in [
        &index,
        &daily_page,
        &site.reports().join("dr_status.json"),
        &site.reports().join("sync_status.json"),
    ] {
        assert!(path.is_file(), "{} is missing", path.display());
    }
    assert_eq!(temp_files(&site.reports()), Vec::<PathBuf>::new());

    let html = fs::read_to_string(&index).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains(r#"<html lang="en">"#));
    assert!(html.contains("<h3>www</h3>"));
    assert!(html.contains("Replicated sets"));
    assert!(html.contains("All sets are within their targets."));
    let link = format!(r#"href="daily/{}""#, daily_page.file_name().unwrap().to_str().unwrap());
    assert!(html.contains(&link), "index.html does not link {link}");
    assert!(!html.contains("<script"));
    assert!(!html.contains("<link"), "the page must not load a stylesheet");

    let page = fs::read_to_string(&daily_page).unwrap();
    assert!(page.contains(r#"<html lang="en">"#));
    assert!(page.contains("Syncs of the day"));
    assert!(page.contains("Nothing failed this day."));
    assert!(page.contains(r#"href="../index.html""#));
}

#[test]
fn spanish_pages_and_status() {
    let site = Site::new("es", &["www"]);
    site.expect(0, &["sync"]);
    site.expect(0, &["verify"]);
    let daily = site.expect(0, &["report", "daily"]);
    assert!(daily.stdout.starts_with("panel: "), "{}", daily.stdout);
    assert!(daily.stdout.lines().nth(1).unwrap().starts_with("informe diario: "));

    let html = site.read_report("index.html");
    assert!(html.contains(r#"<html lang="es">"#));
    assert!(html.contains("<h3>www</h3>"));
    assert!(html.contains("Conjuntos replicados"));
    assert!(html.contains("Última sincronización"));
    assert!(html.contains("Todos los conjuntos cumplen sus objetivos."));
    assert!(html.contains("Registro de auditoría"));
    assert!(!html.contains("Replicated sets"));

    let page = fs::read_to_string(daily_path_from(&daily)).unwrap();
    assert!(page.contains(r#"<html lang="es">"#));
    assert!(page.contains("Informe diario de web1"));
    assert!(page.contains("Sincronizaciones del día"));
    assert!(page.contains("Nada falló este día."));

    let status = site.expect(0, &["status"]);
    assert!(status.stdout.contains("Conjunto"), "{}", status.stdout);
    assert!(status.stdout.contains("Versiones"));
    assert!(status.stdout.contains("Todos los conjuntos cumplen sus objetivos."));

    let json = site.status_json(0);
    assert_eq!(json["language"], "es");
    assert!(
        json["sets"][0].get("last_sync").is_some(),
        "JSON field names stay English"
    );
}

#[test]
fn failing_verify_paths_are_escaped() {
    let site = Site::new("en", &["www"]);
    let source = site.path("source/www");
    fs::create_dir(source.join("<b>x<")).unwrap();
    fs::write(source.join("<b>x</b>"), b"bold").unwrap();
    fs::create_dir(source.join("<script>alert(1)<")).unwrap();
    fs::write(source.join("<script>alert(1)</script>"), b"js").unwrap();
    let newline_name = OsStr::from_bytes(b"new\nline");
    fs::write(source.join(newline_name), b"two lines").unwrap();
    site.expect(0, &["sync"]);

    let replica = site.path("replica/www");
    fs::write(replica.join("<b>x</b>"), b"changed on the replica").unwrap();
    fs::write(replica.join(newline_name), b"changed too").unwrap();
    fs::remove_file(replica.join("<script>alert(1)</script>")).unwrap();
    site.expect(1, &["verify"]);
    let daily = site.expect(0, &["report", "daily"]);

    let status = site.status_json(1);
    let verify = &status["sets"][0]["last_verify"];
    assert_eq!(verify["status"], "failed");
    assert_eq!(
        verify["mismatched_paths"],
        serde_json::json!(["<b>x</b>", "new\\nline"])
    );
    assert_eq!(
        verify["missing_paths"],
        serde_json::json!(["<script>alert(1)</script>"])
    );

    let index = site.read_report("index.html");
    let page = fs::read_to_string(daily_path_from(&daily)).unwrap();
    for (name, html) in [("index.html", &index), ("daily page", &page)] {
        assert!(
            html.contains("<code>&lt;b&gt;x&lt;/b&gt;</code>"),
            "{name} lacks the escaped <b> path"
        );
        assert!(
            html.contains("<code>new\\nline</code>"),
            "{name} lacks the escaped newline path"
        );
        assert!(
            html.contains("<code>&lt;script&gt;alert(1)&lt;/script&gt;</code>"),
            "{name} lacks the escaped <script> path"
        );
        assert!(!html.contains("<b>x</b>"), "{name} has the raw <b> path");
        assert!(!html.contains("new\nline"), "{name} has a raw newline in a path");
        assert!(!html.contains("<script"), "{name} has a <script> element");
        assert!(
            html.contains("www: the last verify found differences or errors"),
            "{name} lacks the verdict"
        );
    }
    assert!(page.contains("Different on the replica (2)"));
    assert!(page.contains("Missing on the replica (1)"));
}

#[test]
fn failed_sync_shows_error_and_fails_status() {
    let site = Site::new("en", &["www"]);
    fs::remove_dir_all(site.path("source/www")).unwrap();
    site.expect(1, &["sync"]);
    let daily = site.expect(0, &["report", "daily"]);

    let status = site.status_json(1);
    let www = &status["sets"][0];
    assert_eq!(www["last_sync"]["status"], "failed");
    let error = www["last_sync"]["error"].as_str().unwrap();
    assert!(error.contains("does not exist or is not a directory"), "{error}");
    assert_eq!(www["lag_s"], Value::Null);
    assert_eq!(www["within_rpo"], false);

    let page = fs::read_to_string(daily_path_from(&daily)).unwrap();
    assert!(page.contains("Failures"));
    assert!(page.contains(&escaped(error)), "the daily page lacks the error text");
    assert!(page.contains("www: the last sync failed"));
    assert!(page.contains("www: no successful sync yet"));
    let index = site.read_report("index.html");
    assert!(index.contains(&escaped(error)), "the dashboard lacks the error text");
    assert!(index.contains("over target"));
}

#[test]
fn never_synced_set_says_so() {
    let site = Site::new("en", &["www", "mail"]);
    site.expect(0, &["sync", "www"]);
    let status = site.expect(1, &["status"]);
    assert!(status.stdout.contains("never synced"), "{}", status.stdout);
    assert!(status.stdout.contains("never verified"));
    assert!(status.stdout.contains("mail: no successful sync yet"));

    let json = site.status_json(1);
    assert_eq!(json["sets"][1]["name"], "mail");
    assert_eq!(json["sets"][1]["last_sync"], Value::Null);
    assert_eq!(json["sets"][1]["last_verify"], Value::Null);

    let index = site.read_report("index.html");
    assert!(index.contains("never synced"));
    assert!(index.contains("never verified"));
}

#[test]
fn unwritable_report_dir_keeps_sync_exit_code() {
    let site = Site::new("en", &["www"]);
    fs::write(site.reports(), b"a file where the report folder should be").unwrap();
    let sync = site.expect(0, &["sync"]);
    assert!(sync.stderr.contains("cannot refresh the reports"), "{}", sync.stderr);

    let daily = site.expect(1, &["report", "daily"]);
    assert!(daily.stderr.contains("cannot write"), "{}", daily.stderr);
    assert!(temp_files(site.dir.path()).is_empty());
}

#[test]
fn edited_audit_row_shows_broken_chain() {
    let site = Site::new("en", &["www"]);
    site.expect(0, &["sync"]);
    site.expect(0, &["verify"]);
    let db = rusqlite::Connection::open(site.path("data/drkit.db")).unwrap();
    db.execute("UPDATE audit SET detail = 'forged' WHERE id = 1", [])
        .unwrap();
    drop(db);

    let outcome = site.drkit(&["status", "--json"]);
    let status: Value = serde_json::from_str(&outcome.stdout).unwrap();
    assert_eq!(status["audit"]["intact"], false);
    assert_eq!(status["audit"]["first_broken_id"], 1);
    assert_eq!(status["audit"]["rows"], Value::Null);

    let index = site.read_report("index.html");
    assert!(index.contains("Chain broken at entry 1"));
    assert!(index.contains("audit log: the chain is broken at entry 1"));
}
