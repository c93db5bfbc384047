//! End-to-end tests of `drkit run`: job files, `--list`, `--due`, locks,
//! timeouts and signals, run against the built binary in a temporary site.
//!
//! Jobs that must stay busy are `command` jobs running /bin/sh, which wait
//! for a file the test creates, so no test depends on how fast the host is.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

/// Upper bound on every wait in these tests.
const LIMIT: Duration = Duration::from_secs(30);

/// A temporary site: config, job folder, data folder and a sync set.
struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new() -> Site {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("jobs")).unwrap();
        std::fs::create_dir_all(root.join("source/docroot")).unwrap();
        for i in 0..5 {
            std::fs::write(root.join(format!("source/docroot/page{i}.html")), format!("page {i}\n")).unwrap();
        }
        let config = format!(
            "[site]\nname = \"web1\"\ndata_dir = \"{root}/data\"\nreport_dir = \"{root}/reports\"\nlanguage = \"en\"\n\n\
             [[sync]]\nname = \"www\"\nsource = \"{root}/source\"\ntarget = \"{root}/replica/www\"\n",
            root = root.display()
        );
        std::fs::write(root.join("drkit.toml"), config).unwrap();
        Site { dir }
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    fn write_job(&self, file: &str, text: &str) -> PathBuf {
        let path = self.path("jobs").join(file);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Writes a `command` job that runs `script` with /bin/sh.
    fn command_job(&self, name: &str, schedule: &str, timeout: &str, script: &str) {
        let text = format!(
            "name = \"{name}\"\nkind = \"command\"\nschedule = \"{schedule}\"\ntimeout = \"{timeout}\"\n\n[params]\nargv = [\"/bin/sh\", \"-c\", '{script}']\n"
        );
        self.write_job(&format!("{name}.toml"), &text);
    }

    fn drkit(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_drkit"));
        command
            .arg("--config")
            .arg(self.path("drkit.toml"))
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("DRKIT_CONFIG")
            .env_remove("DRKIT_RUN_ID")
            .env_remove("DRKIT_JOB")
            .stdin(Stdio::null());
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        let child = self
            .drkit(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        output_within(child, LIMIT)
    }

    /// Returns (name, status, detail) of every run, oldest first.
    fn runs(&self) -> Vec<(String, String, String)> {
        let db = rusqlite::Connection::open(self.path("data/drkit.db")).unwrap();
        let mut statement = db
            .prepare("SELECT name, status, detail FROM runs WHERE kind = 'job' ORDER BY id")
            .unwrap();
        let rows = statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .unwrap();
        rows.map(Result::unwrap).collect()
    }
}

/// Waits for `child` to exit and collects its output; kills it and fails past `limit`.
fn output_within(mut child: Child, limit: Duration) -> Output {
    wait_within(&mut child, limit);
    child.wait_with_output().unwrap()
}

fn wait_within(child: &mut Child, limit: Duration) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("drkit did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls `condition` until it is true or `limit` passes, and returns its last value.
fn wait_until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    condition()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Reads the process group of `pid` from /proc.
fn process_group(pid: i32) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = stat.rsplit_once(')').unwrap().1;
    after_name.split_whitespace().nth(2).unwrap().parse().unwrap()
}

/// Waits for a pid file that a job writes, and returns the pid in it.
fn read_pid_file(path: &Path) -> i32 {
    assert!(
        wait_until(LIMIT, || std::fs::read_to_string(path).is_ok_and(|t| t.ends_with('\n'))),
        "the job never wrote {}",
        path.display()
    );
    std::fs::read_to_string(path).unwrap().trim().parse().unwrap()
}

fn group_is_gone(group: i32) -> bool {
    killpg(Pid::from_raw(group), None) == Err(Errno::ESRCH)
}

#[test]
fn shipped_job_files_are_listed() {
    let site = Site::new();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("jobs");
    let config = std::fs::read_to_string(site.path("drkit.toml")).unwrap();
    let config = config.replace(
        "[[sync]]",
        &format!("[jobs]\ndir = \"{}\"\n\n[[sync]]", shipped.display()),
    );
    std::fs::write(site.path("drkit.toml"), config).unwrap();

    let output = site.run(&["run", "--list"]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "stderr: {}", text(&output.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "a header and three jobs:\n{stdout}");
    assert!(lines[0].starts_with("JOB "), "{stdout}");
    assert!(
        lines[1].starts_with("report-daily    report  0 6 * * *   10m "),
        "{stdout}"
    );
    assert!(
        lines[2].starts_with("sync-all        sync    * * * * *   30m "),
        "{stdout}"
    );
    assert!(
        lines[3].starts_with("verify-nightly  verify  30 3 * * *  4h "),
        "{stdout}"
    );
}

#[test]
fn job_dir_defaults_to_jobs_beside_config() {
    let site = Site::new();
    site.command_job("hello", "@daily", "1m", "exit 0");
    let output = site.run(&["run", "--list"]);
    assert!(output.status.success(), "stderr: {}", text(&output.stderr));
    assert!(text(&output.stdout).contains("\nhello  "), "{}", text(&output.stdout));
}

#[test]
fn bad_job_file_error_is_pinned() {
    let site = Site::new();
    site.command_job("good", "* * * * *", "1m", "exit 0");
    let bad = site.write_job(
        "bad.toml",
        "name = \"bad\"\nkind = \"sync\"\nschedule = \"0 24 * * *\"\ntimeout = \"5m\"\n",
    );

    let output = site.run(&["run", "good"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        text(&output.stderr),
        format!(
            "error: {}:3:15: schedule: invalid schedule \"0 24 * * *\": 24 is outside the hour range 0-23\n  \
             fix: write five fields (minute hour day-of-month month day-of-week), such as \"30 3 * * *\" for 03:30 every day; see crontab(5)\n",
            bad.display()
        )
    );
    assert!(
        !site.path("data/drkit.db").exists() || site.runs().is_empty(),
        "nothing runs while a job file is invalid"
    );

    let spanish = site.run(&["--lang", "es", "run", "--due"]);
    assert_eq!(spanish.status.code(), Some(2));
    assert_eq!(
        text(&spanish.stderr),
        format!(
            "error: {}:3:15: schedule: programación no válida \"0 24 * * *\": 24 está fuera del rango 0-23 del campo hora\n  \
             solución: escriba cinco campos (minuto hora día-del-mes mes día-de-la-semana), como \"30 3 * * *\" para las 03:30 de cada día; vea crontab(5)\n",
            bad.display()
        )
    );
}

#[test]
fn unknown_key_error_is_pinned() {
    let site = Site::new();
    let bad = site.write_job("x.toml", "name = \"x\"\nkind = \"verify\"\nschedule = \"@daily\"\ntimeout = \"5m\"\n\n[params]\nsets = [\"www\"]\nretry = 2\n");
    let output = site.run(&["run", "--list"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        text(&output.stderr),
        format!(
            "error: {}:8:1: params.retry: unknown key \"params.retry\"\n  \
             fix: remove it or correct its spelling; [params] takes sets (sync, verify), report (report) and argv (command)\n",
            bad.display()
        )
    );
}

#[test]
fn unknown_job_name_is_a_usage_error() {
    let site = Site::new();
    site.command_job("hello", "@daily", "1m", "exit 0");
    let output = site.run(&["run", "hello", "nightly"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        text(&output.stderr),
        "error: no job is named \"nightly\"; the job files in jobs define: hello\n"
            .replace(" in jobs ", &format!(" in {} ", site.path("jobs").display()))
    );
    assert!(site.runs().is_empty(), "no job starts when one name is unknown");
}

#[test]
fn same_job_twice_runs_once() {
    let site = Site::new();
    let started = site.path("started");
    let release = site.path("release");
    let script = format!(
        "touch {started}; i=0; while [ ! -e {release} ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done",
        started = started.display(),
        release = release.display()
    );
    site.command_job("slow", "@hourly", "1m", &script);

    // Create the state database first, so that the two runs race only for the job lock.
    assert!(site.run(&["init"]).status.success());
    let mut first = site
        .drkit(&["run", "slow"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut second = site
        .drkit(&["run", "slow"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // The job waits for `release`, so whichever process lost the lock exits first.
    let mut exited = None;
    assert!(wait_until(LIMIT, || {
        if first.try_wait().unwrap().is_some() {
            exited = Some(0);
        } else if second.try_wait().unwrap().is_some() {
            exited = Some(1);
        }
        exited.is_some()
    }));
    let (skipper, runner) = if exited == Some(0) {
        (first, second)
    } else {
        (second, first)
    };
    let skipped = output_within(skipper, LIMIT);
    assert_eq!(
        skipped.status.code(),
        Some(0),
        "a skip is not an error; stderr: {}",
        text(&skipped.stderr)
    );
    let lock = site.path("data/locks/slow.lock");
    assert!(
        text(&skipped.stdout).starts_with(&format!(
            "slow: skipped, another run of this job still holds {}",
            lock.display()
        )),
        "{}",
        text(&skipped.stdout)
    );
    assert!(
        wait_until(LIMIT, || started.exists()),
        "the lock holder started the job"
    );

    std::fs::write(&release, "").unwrap();
    let ran = output_within(runner, LIMIT);
    assert_eq!(ran.status.code(), Some(0), "stderr: {}", text(&ran.stderr));
    assert!(text(&ran.stdout).starts_with("slow: ok in "), "{}", text(&ran.stdout));

    let mut statuses: Vec<String> = site.runs().into_iter().map(|(_, status, _)| status).collect();
    statuses.sort();
    assert_eq!(statuses, ["ok", "skipped"]);
}

#[test]
fn timeout_stops_the_process_group() {
    let site = Site::new();
    let pid_file = site.path("pid");
    site.command_job(
        "stuck",
        "@hourly",
        "1s",
        &format!("echo $$ > {}.tmp; mv {0}.tmp {0}; exec sleep 120", pid_file.display()),
    );

    let child = site
        .drkit(&["run", "stuck"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let sleeper = read_pid_file(&pid_file);
    let group = process_group(sleeper);
    assert_ne!(
        group,
        nix::unistd::getpgrp().as_raw(),
        "the job runs in its own process group"
    );

    let output = output_within(child, LIMIT);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr)
            .starts_with("error: stuck: timed out, exceeded its timeout of 1s; its processes were stopped after "),
        "{}",
        text(&output.stderr)
    );
    let runs = site.runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].1, "timed_out");
    assert!(
        runs[0]
            .2
            .contains(&format!("process group {group} stopped with SIGTERM")),
        "{}",
        runs[0].2
    );
    assert!(group_is_gone(group), "process group {group} is still there");
    assert_eq!(
        kill(Pid::from_raw(sleeper), None),
        Err(Errno::ESRCH),
        "sleep {sleeper} is still there"
    );
}

#[test]
fn sigkill_follows_an_ignored_sigterm() {
    let site = Site::new();
    let pid_file = site.path("pid");
    let script = format!(
        "trap \"\" TERM; echo $$ > {0}.tmp; mv {0}.tmp {0}; sleep 120; sleep 120",
        pid_file.display()
    );
    site.command_job("stubborn", "@hourly", "1s", &script);

    let child = site
        .drkit(&["run", "stubborn"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let shell = read_pid_file(&pid_file);
    let group = process_group(shell);

    let output = output_within(child, LIMIT);
    assert_eq!(output.status.code(), Some(1), "stderr: {}", text(&output.stderr));
    let runs = site.runs();
    assert_eq!(runs[0].1, "timed_out");
    assert!(
        runs[0]
            .2
            .contains(&format!("process group {group} needed SIGKILL after 5s")),
        "{}",
        runs[0].2
    );
    assert!(group_is_gone(group), "process group {group} is still there");
}

#[test]
fn due_runs_only_matching_jobs() {
    let site = Site::new();
    let every = site.path("every-minute-ran");
    let never = site.path("never-ran");
    site.command_job("every-minute", "* * * * *", "1m", &format!("touch {}", every.display()));
    site.command_job("february-31", "0 0 31 2 *", "1m", &format!("touch {}", never.display()));

    let output = site.run(&["run", "--due"]);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", text(&output.stderr));
    assert!(every.exists(), "the every-minute job ran");
    assert!(!never.exists(), "the February 31 job did not run");
    let names: Vec<String> = site
        .runs()
        .into_iter()
        .map(|(name, status, _)| format!("{name} {status}"))
        .collect();
    assert_eq!(names, ["every-minute ok"]);
}

#[test]
fn failed_job_fails_the_run() {
    let site = Site::new();
    site.command_job("broken", "@hourly", "1m", "exit 3");
    site.command_job("fine", "@hourly", "1m", "exit 0");

    let output = site.run(&["run", "broken", "fine"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stdout).contains("fine: ok in "),
        "{}",
        text(&output.stdout)
    );
    assert!(
        text(&output.stderr).contains("error: broken: failed after "),
        "{}",
        text(&output.stderr)
    );
    assert!(
        text(&output.stderr).contains(" (exit code 1)\n"),
        "job-exec exits 1 when its command fails: {}",
        text(&output.stderr)
    );
    let mut runs: Vec<String> = site
        .runs()
        .into_iter()
        .map(|(name, status, _)| format!("{name} {status}"))
        .collect();
    runs.sort();
    assert_eq!(runs, ["broken failed", "fine ok"]);
}

#[test]
fn sync_job_records_results_under_its_run() {
    let site = Site::new();
    site.write_job("sync-www.toml", "name = \"sync-www\"\nkind = \"sync\"\nschedule = \"@hourly\"\ntimeout = \"5m\"\n\n[params]\nsets = [\"www\"]\n");

    let output = site.run(&["run", "sync-www"]);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", text(&output.stderr));
    assert_eq!(
        std::fs::read_to_string(site.path("replica/www/docroot/page3.html")).unwrap(),
        "page 3\n"
    );

    let db = rusqlite::Connection::open(site.path("data/drkit.db")).unwrap();
    let (run_id, status): (i64, String) = db
        .query_row(
            "SELECT id, status FROM runs WHERE kind = 'job' AND name = 'sync-www'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(status, "ok");
    let result_run: i64 = db
        .query_row(
            "SELECT run_id FROM results WHERE kind = 'sync' AND subject = 'www'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(result_run, run_id, "the sync result belongs to the job's run");
    let other_runs: i64 = db
        .query_row("SELECT count(*) FROM runs WHERE kind != 'job'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(other_runs, 0, "job-exec opens no run of its own");
}

#[test]
fn sigterm_to_runner_stops_its_jobs() {
    let site = Site::new();
    let pid_file = site.path("pid");
    site.command_job(
        "long",
        "@hourly",
        "1h",
        &format!("echo $$ > {0}.tmp; mv {0}.tmp {0}; exec sleep 120", pid_file.display()),
    );

    let child = site
        .drkit(&["run", "long"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let sleeper = read_pid_file(&pid_file);
    let group = process_group(sleeper);
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();

    let output = output_within(child, LIMIT);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("error: long: stopped after "),
        "{}",
        text(&output.stderr)
    );
    let runs = site.runs();
    assert_eq!(runs[0].1, "failed");
    assert!(
        runs[0].2.contains("because drkit run received SIGTERM"),
        "{}",
        runs[0].2
    );
    assert!(group_is_gone(group), "process group {group} is still there");
}

#[test]
fn leftover_processes_are_stopped() {
    let site = Site::new();
    let pid_file = site.path("pid");
    let script = format!("sleep 120 & echo $! > {0}.tmp; mv {0}.tmp {0}", pid_file.display());
    site.command_job("spawner", "@hourly", "1m", &script);

    let output = site.run(&["run", "spawner"]);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", text(&output.stderr));
    let sleeper = read_pid_file(&pid_file);
    assert_eq!(
        kill(Pid::from_raw(sleeper), None),
        Err(Errno::ESRCH),
        "background sleep {sleeper} is still there"
    );
    let runs = site.runs();
    assert_eq!(runs[0].1, "ok");
    assert!(runs[0].2.contains("were stopped with SIGTERM"), "{}", runs[0].2);
}
