//! `drkit demo`: builds a Virtualmin-like primary, a config and job files in
//! one folder, then runs the main job on it step by step.
//!
//! Every step starts this same binary with the command a user would type, so
//! the demo shows the real output and exit code of each command. The demo
//! itself only prepares files, makes the changes between steps and checks
//! that each command had the expected effect on disk.

mod changes;
mod folder;
mod generated;
mod primary;
mod runner;
mod server_files;
mod setup;
mod steps;
mod texts;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::exit::Exit;
use crate::i18n::Lang;
use folder::PrepareError;
use texts::Output;

/// Builds the demo under `dir` and runs the main job on it. Returns 0 when
/// every step behaved as expected, 1 when one did not, and 2 when `dir`
/// cannot be used.
pub fn run(dir: &Path, lang: Lang) -> Exit {
    let out = Output::new(lang);
    let layout = match folder::prepare(dir, out.text("marker_text")) {
        Ok(prepared) => {
            out.say("intro", &[("dir", &dir.display())]);
            out.blank();
            if prepared.removed_previous {
                out.say("cleaned", &[("dir", &dir.display())]);
            }
            prepared.layout
        }
        Err(PrepareError::NotAFolder(path)) => {
            out.error(&out.format("not_a_folder", &[("dir", &path.display())]));
            return Exit::Usage;
        }
        Err(PrepareError::NotDemoFolder(path)) => {
            out.error(&out.format(
                "not_demo_folder",
                &[("dir", &path.display()), ("marker", &folder::MARKER)],
            ));
            return Exit::Usage;
        }
        Err(PrepareError::File(e)) => {
            out.error(&out.format("setup_failed", &[("reason", &e.localized(lang))]));
            return Exit::Failed;
        }
    };

    let mut demo = match runner::Demo::setup(layout, out) {
        Ok(demo) => demo,
        Err(failure) => {
            out.error(&out.format("setup_failed", &[("reason", &failure)]));
            return Exit::Failed;
        }
    };
    steps::run_all(&mut demo)
}

/// A filesystem operation of the demo that failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {path}: {source}")]
pub struct FileError {
    pub action: Action,
    pub path: PathBuf,
    pub source: io::Error,
}

/// The file operation that failed.
#[derive(Debug, Clone, Copy)]
pub enum Action {
    Create,
    Write,
    Read,
    Copy,
    Remove,
    Link,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Create => "create",
            Action::Write => "write",
            Action::Read => "read",
            Action::Copy => "copy",
            Action::Remove => "remove",
            Action::Link => "link",
        })
    }
}

impl FileError {
    fn new(action: Action, path: &Path, source: io::Error) -> FileError {
        FileError {
            action,
            path: path.to_path_buf(),
            source,
        }
    }

    /// Returns the message in the user's language.
    pub fn localized(&self, lang: Lang) -> String {
        let key = match self.action {
            Action::Create => "io_create",
            Action::Write => "io_write",
            Action::Read => "io_read",
            Action::Copy => "io_copy",
            Action::Remove => "io_remove",
            Action::Link => "io_link",
        };
        texts::format(lang, key, &[("path", &self.path.display()), ("error", &self.source)])
    }
}

/// Writes `contents` to `path`, creating the missing parent folders.
fn write_file(path: &Path, contents: impl AsRef<[u8]>) -> Result<(), FileError> {
    if let Some(parent) = path.parent() {
        create_dir(parent)?;
    }
    std::fs::write(path, contents).map_err(|e| FileError::new(Action::Write, path, e))
}

/// Creates `path` and its missing parents.
fn create_dir(path: &Path) -> Result<(), FileError> {
    std::fs::create_dir_all(path).map_err(|e| FileError::new(Action::Create, path, e))
}

/// Creates the symlink `link` pointing to `target`, creating the missing parent folders.
fn symlink(target: &Path, link: &Path) -> Result<(), FileError> {
    if let Some(parent) = link.parent() {
        create_dir(parent)?;
    }
    std::os::unix::fs::symlink(target, link).map_err(|e| FileError::new(Action::Link, link, e))
}
