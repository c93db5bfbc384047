//! Job files: one TOML file per job, read from the job folder and validated
//! before any job runs.
//!
//! A job file sets `name`, `kind`, `schedule` (a cron expression, see
//! `schedule`), `timeout` (a duration such as "30m") and optionally
//! `description` and a `[params]` table whose keys depend on the kind:
//!
//! | kind      | params                                                        |
//! |-----------|---------------------------------------------------------------|
//! | `sync`    | `sets`: set names [default: every set]                        |
//! | `verify`  | `sets`: set names [default: every set]                        |
//! | `report`  | `report`: "daily" (required)                                  |
//! | `command` | `argv`: program (absolute path) and arguments, run without a shell (required) |
//!
//! Files are parsed into `Raw*` types that keep the span of every value, so
//! an error names the file, line, column and key, as `config` does.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::error::{JobError, Problem};
use super::schedule::Schedule;
use crate::config::line_column;

/// A validated job.
#[derive(Debug, Clone)]
pub struct Job {
    pub name: String,
    pub kind: JobKind,
    pub schedule: Schedule,
    /// Time after which the runner stops the job's processes.
    pub timeout: Duration,
    pub description: Option<String>,
    /// The file the job was read from.
    pub path: PathBuf,
    /// Line and column of the `name` value, for the duplicate-name error.
    name_position: (usize, usize),
}

/// Work of a job, with its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobKind {
    /// `drkit sync` of these sets; empty means every set.
    Sync { sets: Vec<String> },
    /// `drkit verify` of these sets; empty means every set.
    Verify { sets: Vec<String> },
    /// `drkit report daily`.
    Report,
    /// A program with its arguments, started without a shell; for hooks.
    Command { argv: Vec<String> },
}

impl JobKind {
    /// Returns the name written as `kind` in job files.
    pub fn name(&self) -> &'static str {
        match self {
            JobKind::Sync { .. } => "sync",
            JobKind::Verify { .. } => "verify",
            JobKind::Report => "report",
            JobKind::Command { .. } => "command",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJob {
    name: Spanned<String>,
    kind: Spanned<String>,
    schedule: Spanned<String>,
    timeout: Spanned<String>,
    description: Option<Spanned<String>>,
    params: Option<RawParams>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParams {
    sets: Option<Spanned<Vec<Spanned<String>>>>,
    report: Option<Spanned<String>>,
    argv: Option<Spanned<Vec<Spanned<String>>>>,
}

/// Reads every `*.toml` file of `dir` (hidden files excepted), in name order.
/// `known_sets` are the config's set names, which `params.sets` must use.
/// Stops at the first invalid file.
pub fn load_dir(dir: &Path, config_path: &Path, known_sets: &[String]) -> Result<Vec<Job>, JobError> {
    if !dir.is_dir() {
        return Err(JobError::MissingDir {
            dir: dir.to_path_buf(),
            config: config_path.to_path_buf(),
        });
    }
    let mut jobs: Vec<Job> = Vec::new();
    for path in job_files(dir)? {
        let text = std::fs::read_to_string(&path).map_err(|error| JobError::Read {
            path: path.clone(),
            error,
        })?;
        let job = parse(&path, &text, known_sets)?;
        if let Some(first) = jobs.iter().find(|j| j.name == job.name) {
            let (line, column) = job.name_position;
            return Err(JobError::Invalid {
                path,
                line,
                column,
                key: "name".into(),
                problem: Box::new(Problem::DuplicateName {
                    name: job.name,
                    other: first.path.clone(),
                }),
            });
        }
        jobs.push(job);
    }
    Ok(jobs)
}

/// Lists the job files of `dir`, sorted by name.
fn job_files(dir: &Path) -> Result<Vec<PathBuf>, JobError> {
    let read_error = |error| JobError::ReadDir {
        dir: dir.to_path_buf(),
        error,
    };
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_error)? {
        let path = entry.map_err(read_error)?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with('.') || !name.ends_with(".toml") || !path.is_file() {
            tracing::debug!(path = %path.display(), "not a job file, ignored");
            continue;
        }
        paths.push(path);
    }
    paths.sort();
    Ok(paths)
}

/// Validates job file `text` read from `path`.
pub fn parse(path: &Path, text: &str, known_sets: &[String]) -> Result<Job, JobError> {
    let checker = Checker { path, text, known_sets };
    let raw: RawJob = toml::from_str(text).map_err(|e| checker.toml_error(&e))?;
    checker.validate(raw)
}

struct Checker<'a> {
    path: &'a Path,
    text: &'a str,
    known_sets: &'a [String],
}

impl Checker<'_> {
    fn error(&self, offset: usize, key: &str, problem: Problem) -> JobError {
        let (line, column) = line_column(self.text, offset);
        JobError::Invalid {
            path: self.path.to_path_buf(),
            line,
            column,
            key: key.to_string(),
            problem: Box::new(problem),
        }
    }

    /// Turns a toml error into a job error; unknown and missing keys get their own problem.
    fn toml_error(&self, e: &toml::de::Error) -> JobError {
        let offset = e.span().map_or(0, |span| span.start);
        let message = e.message();
        let table = self.table_at(offset);
        let named = message.split('`').nth(1).unwrap_or("").to_string();
        let qualified = match &table {
            Some(table) => format!("{table}.{named}"),
            None => named.clone(),
        };
        if message.starts_with("unknown field") {
            let in_params = table.as_deref() == Some("params");
            return self.error(
                offset,
                &qualified,
                Problem::UnknownKey {
                    key: qualified.clone(),
                    in_params,
                },
            );
        }
        if message.starts_with("missing field") {
            return self.error(offset, &named, Problem::MissingKey { key: named.clone() });
        }
        let key = self.key_at(offset, table.as_deref());
        self.error(
            offset,
            &key,
            Problem::Toml {
                detail: message.trim_end().to_string(),
            },
        )
    }

    /// Returns the `[table]` header in force at byte `offset`, if any.
    fn table_at(&self, offset: usize) -> Option<String> {
        let line_start = self.text[..offset.min(self.text.len())]
            .rfind('\n')
            .map_or(0, |i| i + 1);
        let header = self.text[..line_start]
            .lines()
            .rev()
            .find(|line| line.trim_start().starts_with('['))?;
        let name = header.trim().trim_start_matches('[').split(']').next()?.trim();
        Some(name.to_string())
    }

    /// Returns the key of the line that contains byte `offset`, prefixed by its table.
    fn key_at(&self, offset: usize, table: Option<&str>) -> String {
        let start = self.text[..offset.min(self.text.len())]
            .rfind('\n')
            .map_or(0, |i| i + 1);
        let line = self.text[start..].lines().next().unwrap_or("").trim();
        let key: String = line
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '-')
            .collect();
        match (key.is_empty(), table) {
            (true, _) => "(document)".to_string(),
            (false, Some(table)) => format!("{table}.{key}"),
            (false, None) => key,
        }
    }

    /// Returns the offset of the first character inside a quoted string value,
    /// so positions within the value map to columns. Strings with escapes fall
    /// back to the opening quote.
    fn inside(&self, span: &Range<usize>, value: &str) -> usize {
        let written = &self.text[span.clone()];
        let quoted = written.len() == value.len() + 2 && written.get(1..written.len() - 1) == Some(value);
        if quoted {
            span.start + 1
        } else {
            span.start
        }
    }

    fn validate(&self, raw: RawJob) -> Result<Job, JobError> {
        let name = self.name(&raw.name)?;
        let schedule = self.schedule(&raw.schedule)?;
        let timeout = self.timeout(&raw.timeout)?;
        let kind = self.kind(&raw.kind, raw.params.unwrap_or_default())?;
        Ok(Job {
            name,
            kind,
            schedule,
            timeout,
            description: raw.description.map(Spanned::into_inner),
            path: self.path.to_path_buf(),
            name_position: line_column(self.text, raw.name.span().start),
        })
    }

    fn name(&self, value: &Spanned<String>) -> Result<String, JobError> {
        let name = value.get_ref();
        let valid = (1..=64).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_alphanumeric())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err(self.error(value.span().start, "name", Problem::InvalidName { name: name.clone() }));
        }
        Ok(name.clone())
    }

    fn schedule(&self, value: &Spanned<String>) -> Result<Schedule, JobError> {
        Schedule::parse(value.get_ref()).map_err(|e| {
            let offset = self.inside(&value.span(), value.get_ref()) + e.offset;
            let problem = Problem::Schedule {
                text: value.get_ref().clone(),
                problem: e.problem,
            };
            self.error(offset, "schedule", problem)
        })
    }

    fn timeout(&self, value: &Spanned<String>) -> Result<Duration, JobError> {
        match crate::config::parse_duration(value.get_ref()) {
            Some(duration) if !duration.is_zero() => Ok(duration),
            _ => Err(self.error(
                value.span().start,
                "timeout",
                Problem::Timeout {
                    text: value.get_ref().clone(),
                },
            )),
        }
    }

    /// Validates `kind` and the parameters that kind takes; a parameter of another kind is rejected.
    fn kind(&self, kind: &Spanned<String>, params: RawParams) -> Result<JobKind, JobError> {
        let (allowed, job_kind): (&'static str, JobKind) = match kind.get_ref().as_str() {
            "sync" => (
                "sets",
                JobKind::Sync {
                    sets: self.sets(params.sets.as_ref())?,
                },
            ),
            "verify" => (
                "sets",
                JobKind::Verify {
                    sets: self.sets(params.sets.as_ref())?,
                },
            ),
            "report" => ("report", self.report(kind, params.report.as_ref())?),
            "command" => (
                "argv",
                JobKind::Command {
                    argv: self.argv(kind, params.argv.as_ref())?,
                },
            ),
            other => {
                let problem = Problem::UnknownKind {
                    kind: other.to_string(),
                };
                return Err(self.error(kind.span().start, "kind", problem));
            }
        };
        let present = [
            ("sets", params.sets.as_ref().map(Spanned::span)),
            ("report", params.report.as_ref().map(Spanned::span)),
            ("argv", params.argv.as_ref().map(Spanned::span)),
        ];
        for (param, span) in present {
            let Some(span) = span else { continue };
            if param != allowed {
                let key = format!("params.{param}");
                let problem = Problem::ParamNotForKind {
                    param: param.into(),
                    kind: kind.get_ref().clone(),
                    allowed,
                };
                return Err(self.error(self.key_start(span.start), &key, problem));
            }
        }
        Ok(job_kind)
    }

    /// Returns the start of the line that contains byte `offset`, past its indent,
    /// so an error about a whole parameter points at its key.
    fn key_start(&self, offset: usize) -> usize {
        let start = self.text[..offset.min(self.text.len())]
            .rfind('\n')
            .map_or(0, |i| i + 1);
        let indent = self.text[start..].len() - self.text[start..].trim_start().len();
        start + indent
    }

    fn sets(&self, value: Option<&Spanned<Vec<Spanned<String>>>>) -> Result<Vec<String>, JobError> {
        let Some(list) = value else {
            return Ok(Vec::new());
        };
        if list.get_ref().is_empty() {
            return Err(self.error(list.span().start, "params.sets", Problem::EmptySets));
        }
        let mut sets: Vec<String> = Vec::new();
        for set in list.get_ref() {
            if !self.known_sets.contains(set.get_ref()) {
                let problem = Problem::UnknownSet {
                    set: set.get_ref().clone(),
                    known: self.known_sets.to_vec(),
                };
                return Err(self.error(set.span().start, "params.sets", problem));
            }
            if !sets.contains(set.get_ref()) {
                sets.push(set.get_ref().clone());
            }
        }
        Ok(sets)
    }

    fn report(&self, kind: &Spanned<String>, value: Option<&Spanned<String>>) -> Result<JobKind, JobError> {
        let Some(report) = value else {
            let problem = Problem::MissingParam {
                param: "report".into(),
                kind: kind.get_ref().clone(),
            };
            return Err(self.error(kind.span().start, "params.report", problem));
        };
        if report.get_ref() != "daily" {
            let problem = Problem::UnknownReport {
                report: report.get_ref().clone(),
            };
            return Err(self.error(report.span().start, "params.report", problem));
        }
        Ok(JobKind::Report)
    }

    fn argv(
        &self,
        kind: &Spanned<String>,
        value: Option<&Spanned<Vec<Spanned<String>>>>,
    ) -> Result<Vec<String>, JobError> {
        let Some(argv) = value else {
            let problem = Problem::MissingParam {
                param: "argv".into(),
                kind: kind.get_ref().clone(),
            };
            return Err(self.error(kind.span().start, "params.argv", problem));
        };
        let Some(program) = argv.get_ref().first() else {
            return Err(self.error(argv.span().start, "params.argv", Problem::EmptyArgv));
        };
        if !Path::new(program.get_ref()).is_absolute() {
            let problem = Problem::RelativeProgram {
                program: program.get_ref().clone(),
            };
            return Err(self.error(program.span().start, "params.argv", problem));
        }
        Ok(argv.get_ref().iter().map(|arg| arg.get_ref().clone()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Lang;

    const VALID: &str = "name = \"sync-www\"\nkind = \"sync\"\nschedule = \"*/5 * * * *\"\ntimeout = \"30m\"\n\n[params]\nsets = [\"www\"]\n";

    fn sets() -> Vec<String> {
        vec!["www".to_string(), "mail".to_string()]
    }

    fn reject(text: &str) -> String {
        parse(Path::new("/etc/drkit/jobs/x.toml"), text, &sets())
            .unwrap_err()
            .message(Lang::En)
    }

    fn with(line: &str) -> String {
        VALID.replace("timeout = \"30m\"\n", &format!("timeout = \"30m\"\n{line}\n"))
    }

    #[test]
    fn valid_file_parses() {
        let job = parse(Path::new("x.toml"), VALID, &sets()).unwrap();
        assert_eq!(job.name, "sync-www");
        assert_eq!(
            job.kind,
            JobKind::Sync {
                sets: vec!["www".into()]
            }
        );
        assert_eq!(job.timeout, Duration::from_secs(1800));
        assert_eq!(job.schedule.as_str(), "*/5 * * * *");
    }

    #[test]
    fn params_are_optional_for_sync() {
        let text = VALID.replace("\n[params]\nsets = [\"www\"]\n", "");
        let job = parse(Path::new("x.toml"), &text, &sets()).unwrap();
        assert_eq!(job.kind, JobKind::Sync { sets: vec![] });
    }

    #[test]
    fn unknown_key_is_rejected() {
        assert_eq!(
            reject(&with("retries = 3")),
            "/etc/drkit/jobs/x.toml:5:1: retries: unknown key \"retries\"\n  fix: remove it or correct its spelling; a job file takes name, kind, schedule, timeout, description and [params]"
        );
    }

    #[test]
    fn unknown_param_is_rejected() {
        let text = VALID.replace("sets = [\"www\"]", "set = [\"www\"]");
        assert!(
            reject(&text).starts_with("/etc/drkit/jobs/x.toml:7:1: params.set: unknown key \"params.set\"\n"),
            "{}",
            reject(&text)
        );
    }

    #[test]
    fn missing_key_is_rejected() {
        let text = VALID.replace("timeout = \"30m\"\n", "");
        assert!(
            reject(&text).contains("timeout: the key \"timeout\" is missing"),
            "{}",
            reject(&text)
        );
    }

    #[test]
    fn bad_schedule_points_at_the_field() {
        let text = VALID.replace("*/5 * * * *", "0 25 * * *");
        assert_eq!(
            reject(&text),
            "/etc/drkit/jobs/x.toml:3:15: schedule: invalid schedule \"0 25 * * *\": 25 is outside the hour range 0-23\n  fix: write five fields (minute hour day-of-month month day-of-week), such as \"30 3 * * *\" for 03:30 every day; see crontab(5)"
        );
    }

    #[test]
    fn bad_schedule_in_spanish() {
        let text = VALID.replace("*/5 * * * *", "0 25 * * *");
        let message = parse(Path::new("x.toml"), &text, &sets())
            .unwrap_err()
            .message(Lang::Es);
        assert_eq!(
            message,
            "x.toml:3:15: schedule: programación no válida \"0 25 * * *\": 25 está fuera del rango 0-23 del campo hora\n  solución: escriba cinco campos (minuto hora día-del-mes mes día-de-la-semana), como \"30 3 * * *\" para las 03:30 de cada día; vea crontab(5)"
        );
    }

    #[test]
    fn bad_timeout_is_rejected() {
        for timeout in ["30 minutes", "0s", ""] {
            let text = VALID.replace("\"30m\"", &format!("\"{timeout}\""));
            assert!(
                reject(&text).starts_with("/etc/drkit/jobs/x.toml:4:11: timeout: invalid timeout"),
                "{timeout}: {}",
                reject(&text)
            );
        }
    }

    #[test]
    fn unknown_kind_is_rejected() {
        let text = VALID.replace("kind = \"sync\"", "kind = \"backup\"");
        assert!(reject(&text).starts_with("/etc/drkit/jobs/x.toml:2:8: kind: unknown job kind \"backup\"\n  fix: use one of: sync, verify, report, command"));
    }

    #[test]
    fn unknown_set_lists_the_known_ones() {
        let text = VALID.replace("[\"www\"]", "[\"www\", \"ftp\"]");
        assert_eq!(
            reject(&text),
            "/etc/drkit/jobs/x.toml:7:16: params.sets: the config has no sync set named \"ftp\"\n  fix: use one of the config's sets: www, mail"
        );
    }

    #[test]
    fn empty_set_list_is_rejected() {
        let text = VALID.replace("[\"www\"]", "[]");
        assert!(
            reject(&text).contains(":7:8: params.sets: the list of sets is empty"),
            "{}",
            reject(&text)
        );
    }

    #[test]
    fn param_of_another_kind_is_rejected() {
        let text = VALID.replace("sets = [\"www\"]", "report = \"daily\"");
        assert_eq!(
            reject(&text),
            "/etc/drkit/jobs/x.toml:7:1: params.report: a sync job takes no parameter \"report\"\n  fix: remove it; sync takes: sets"
        );
    }

    #[test]
    fn bad_name_is_rejected() {
        for name in ["-all", "a b", "", "x/../y"] {
            let text = VALID.replace("sync-www", name);
            assert!(
                reject(&text).contains(": name: invalid job name"),
                "{name}: {}",
                reject(&text)
            );
        }
    }

    #[test]
    fn report_needs_daily() {
        let report = "name = \"r\"\nkind = \"report\"\nschedule = \"0 6 * * *\"\ntimeout = \"10m\"\n";
        assert!(reject(report).contains("params.report: a report job needs the parameter \"report\""));
        let weekly = format!("{report}[params]\nreport = \"weekly\"\n");
        assert!(
            reject(&weekly).contains(":6:10: params.report: unknown report \"weekly\""),
            "{}",
            reject(&weekly)
        );
        let daily = format!("{report}[params]\nreport = \"daily\"\n");
        assert_eq!(parse(Path::new("r.toml"), &daily, &[]).unwrap().kind, JobKind::Report);
    }

    #[test]
    fn command_needs_an_absolute_program() {
        let command = "name = \"hook\"\nkind = \"command\"\nschedule = \"@hourly\"\ntimeout = \"1m\"\n[params]\n";
        let relative = format!("{command}argv = [\"backup.sh\", \"--all\"]\n");
        assert!(
            reject(&relative).contains(":6:9: params.argv: the program \"backup.sh\" is not an absolute path"),
            "{}",
            reject(&relative)
        );
        let empty = format!("{command}argv = []\n");
        assert!(
            reject(&empty).contains(":6:8: params.argv: the command is empty"),
            "{}",
            reject(&empty)
        );
        let good = format!("{command}argv = [\"/usr/local/bin/backup.sh\", \"--all\"]\n");
        let job = parse(Path::new("h.toml"), &good, &[]).unwrap();
        assert_eq!(
            job.kind,
            JobKind::Command {
                argv: vec!["/usr/local/bin/backup.sh".into(), "--all".into()]
            }
        );
    }

    #[test]
    fn syntax_error_names_the_position() {
        let text = VALID.replace("kind = \"sync\"", "kind = sync");
        assert!(
            reject(&text).starts_with("/etc/drkit/jobs/x.toml:2:8: kind: "),
            "{}",
            reject(&text)
        );
    }

    #[test]
    fn duplicate_names_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.toml"), VALID).unwrap();
        std::fs::write(dir.path().join("b.toml"), VALID).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a job").unwrap();
        let message = load_dir(dir.path(), Path::new("c.toml"), &sets())
            .unwrap_err()
            .message(Lang::En);
        let expected = format!(
            "{}:1:8: name: the job name \"sync-www\" is already used by {}\n  fix: give every job file its own name",
            dir.path().join("b.toml").display(),
            dir.path().join("a.toml").display()
        );
        assert_eq!(message, expected);
    }

    #[test]
    fn shipped_job_files_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("jobs");
        let jobs = load_dir(&dir, Path::new("drkit.toml"), &[]).unwrap();
        let names: Vec<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
        assert_eq!(names, ["report-daily", "sync-all", "verify-nightly"]);
        assert_eq!(jobs[0].kind, JobKind::Report);
        assert_eq!(jobs[1].kind, JobKind::Sync { sets: vec![] });
        assert_eq!(jobs[2].kind, JobKind::Verify { sets: vec![] });
        assert_eq!(jobs[1].schedule.as_str(), "* * * * *");
        assert_eq!(jobs[2].schedule.as_str(), "30 3 * * *");
        assert_eq!(jobs[0].schedule.as_str(), "0 6 * * *");
    }
}
