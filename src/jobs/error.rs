//! Rejected job files: the file, line, column and key of the problem, what is
//! wrong and the fix, rendered in the user's language.

use std::fmt::{self, Display};
use std::path::PathBuf;

use super::schedule::ScheduleProblem;
use super::texts::{format, text};
use crate::i18n::Lang;

/// A job folder or job file that cannot be used; nothing runs while one exists.
#[derive(Debug)]
pub enum JobError {
    MissingDir {
        dir: PathBuf,
        config: PathBuf,
    },
    ReadDir {
        dir: PathBuf,
        error: std::io::Error,
    },
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        /// The key as written in the file, with its table: "schedule", "params.sets".
        key: String,
        problem: Box<Problem>,
    },
}

/// Problem with a value of a job file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// TOML syntax or a value of the wrong type; the detail is the toml crate's English text.
    Toml {
        detail: String,
    },
    UnknownKey {
        key: String,
        in_params: bool,
    },
    MissingKey {
        key: String,
    },
    InvalidName {
        name: String,
    },
    DuplicateName {
        name: String,
        other: PathBuf,
    },
    UnknownKind {
        kind: String,
    },
    Schedule {
        text: String,
        problem: ScheduleProblem,
    },
    Timeout {
        text: String,
    },
    UnknownSet {
        set: String,
        known: Vec<String>,
    },
    EmptySets,
    ParamNotForKind {
        param: String,
        kind: String,
        allowed: &'static str,
    },
    MissingParam {
        param: String,
        kind: String,
    },
    UnknownReport {
        report: String,
    },
    EmptyArgv,
    RelativeProgram {
        program: String,
    },
}

impl JobError {
    /// Renders the error in `lang`; `Display` gives the English text.
    pub fn message(&self, lang: Lang) -> String {
        match self {
            JobError::MissingDir { dir, config } => {
                let message = format(lang, "missing_dir", &[("dir", &dir.display())]);
                let fix = format(lang, "missing_dir_fix", &[("config", &config.display())]);
                format!("{message}\n  {}: {fix}", fix_label(lang))
            }
            JobError::ReadDir { dir, error } => {
                format(lang, "read_dir_failed", &[("dir", &dir.display()), ("error", error)])
            }
            JobError::Read { path, error } => {
                format(lang, "read_failed", &[("path", &path.display()), ("error", error)])
            }
            JobError::Invalid {
                path,
                line,
                column,
                key,
                problem,
            } => format(
                lang,
                "invalid",
                &[
                    ("path", &path.display()),
                    ("line", line),
                    ("column", column),
                    ("key", key),
                    ("message", &problem.message(lang)),
                    ("fix", &problem.fix(lang)),
                ],
            ),
        }
    }
}

impl Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message(Lang::En))
    }
}

impl std::error::Error for JobError {}

/// Returns the translated word before a fix ("fix", "solución").
fn fix_label(lang: Lang) -> &'static str {
    match lang {
        Lang::En => "fix",
        Lang::Es => "solución",
    }
}

impl Problem {
    /// Says what is wrong, in `lang`.
    pub fn message(&self, lang: Lang) -> String {
        match self {
            Problem::Toml { detail } => format(lang, "toml", &[("detail", detail)]),
            Problem::UnknownKey { key, .. } => format(lang, "unknown_key", &[("key", key)]),
            Problem::MissingKey { key } => format(lang, "missing_key", &[("key", key)]),
            Problem::InvalidName { name } => format(lang, "invalid_name", &[("name", name)]),
            Problem::DuplicateName { name, other } => {
                format(lang, "duplicate_name", &[("name", name), ("other", &other.display())])
            }
            Problem::UnknownKind { kind } => format(lang, "unknown_kind", &[("kind", kind)]),
            Problem::Schedule { text, problem } => format(
                lang,
                "schedule",
                &[("text", text), ("detail", &schedule_detail(lang, problem))],
            ),
            Problem::Timeout { text } => format(lang, "timeout", &[("text", text)]),
            Problem::UnknownSet { set, .. } => format(lang, "unknown_set", &[("set", set)]),
            Problem::EmptySets => format(lang, "empty_sets", &[]),
            Problem::ParamNotForKind { param, kind, .. } => {
                format(lang, "param_not_for_kind", &[("param", param), ("kind", kind)])
            }
            Problem::MissingParam { param, kind } => format(lang, "missing_param", &[("param", param), ("kind", kind)]),
            Problem::UnknownReport { report } => format(lang, "unknown_report", &[("report", report)]),
            Problem::EmptyArgv => format(lang, "empty_argv", &[]),
            Problem::RelativeProgram { program } => format(lang, "relative_program", &[("program", program)]),
        }
    }

    /// Says how to correct the file, in `lang`.
    pub fn fix(&self, lang: Lang) -> String {
        match self {
            Problem::Toml { .. } => format(lang, "toml_fix", &[]),
            Problem::UnknownKey { in_params: false, .. } => format(lang, "unknown_key_fix", &[]),
            Problem::UnknownKey { in_params: true, .. } => format(lang, "unknown_param_fix", &[]),
            Problem::MissingKey { .. } => format(lang, "missing_key_fix", &[]),
            Problem::InvalidName { .. } => format(lang, "invalid_name_fix", &[]),
            Problem::DuplicateName { .. } => format(lang, "duplicate_name_fix", &[]),
            Problem::UnknownKind { .. } => format(lang, "unknown_kind_fix", &[]),
            Problem::Schedule { .. } => format(lang, "schedule_fix", &[]),
            Problem::Timeout { .. } => format(lang, "timeout_fix", &[]),
            Problem::UnknownSet { known, .. } if known.is_empty() => format(lang, "unknown_set_none_fix", &[]),
            Problem::UnknownSet { known, .. } => format(lang, "unknown_set_fix", &[("known", &known.join(", "))]),
            Problem::EmptySets => format(lang, "empty_sets_fix", &[]),
            Problem::ParamNotForKind { kind, allowed, .. } => {
                format(lang, "param_not_for_kind_fix", &[("kind", kind), ("allowed", allowed)])
            }
            Problem::MissingParam { param, .. } if param == "report" => format(lang, "missing_param_report_fix", &[]),
            Problem::MissingParam { .. } => format(lang, "missing_param_argv_fix", &[]),
            Problem::UnknownReport { .. } => format(lang, "unknown_report_fix", &[]),
            Problem::EmptyArgv | Problem::RelativeProgram { .. } => format(lang, "relative_program_fix", &[]),
        }
    }
}

/// Describes a schedule problem, with the field named in `lang`.
fn schedule_detail(lang: Lang, problem: &ScheduleProblem) -> String {
    match problem {
        ScheduleProblem::FieldCount { found } => format(lang, "field_count", &[("found", found)]),
        ScheduleProblem::UnknownAlias { alias } => format(lang, "unknown_alias", &[("alias", alias)]),
        ScheduleProblem::InvalidValue { field, text: value } => format(
            lang,
            "invalid_value",
            &[("text", value), ("field", &text(lang, field.text_key()))],
        ),
        ScheduleProblem::OutOfRange { field, value } => {
            let (min, max) = field.range();
            format(
                lang,
                "out_of_range",
                &[
                    ("value", value),
                    ("field", &text(lang, field.text_key())),
                    ("min", &min),
                    ("max", &max),
                ],
            )
        }
        ScheduleProblem::ReversedRange { field, text: range } => format(
            lang,
            "reversed_range",
            &[("text", range), ("field", &text(lang, field.text_key()))],
        ),
        ScheduleProblem::InvalidStep { field, text: step } => format(
            lang,
            "invalid_step",
            &[("text", step), ("field", &text(lang, field.text_key()))],
        ),
    }
}
