//! The demo's state and the runner of drkit commands: the setup that
//! writes the demo's files, then each command printed as a user would type
//! it and started as a separate process of this same binary.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::folder::Layout;
use super::primary::{self, SiteCode};
use super::setup;
use super::texts::Output;
use crate::config::{Config, SyncSet};

/// A step's failure, as a sentence in the user's language.
pub type Failure = String;

/// The demo folder, its loaded config and the binary that runs the commands.
pub struct Demo {
    pub layout: Layout,
    pub out: Output,
    pub config: Config,
    exe: PathBuf,
}

impl Demo {
    /// Builds the primary, writes the config and job files, and checks the
    /// config with `drkit config check`.
    pub fn setup(layout: Layout, out: Output) -> Result<Demo, Failure> {
        let exe = std::env::current_exe().map_err(|e| out.format("no_exe", &[("error", &e)]))?;
        build_primary(&layout, out)?;
        let config = write_config(&layout, out)?;
        write_jobs(&layout, out)?;

        let demo = Demo {
            layout,
            out,
            exe,
            config,
        };
        demo.out.paragraph("config_check_why", &[]);
        demo.expect_exit(&["config", "check"], 0)?;
        demo.out.blank();
        Ok(demo)
    }

    pub fn home_set(&self) -> Result<&SyncSet, Failure> {
        self.config.sets.iter().find(|s| s.name == "home").ok_or_else(|| {
            self.out
                .format("no_home_set", &[("path", &self.layout.config().display())])
        })
    }

    /// Returns the command line a user would type for `args`.
    fn command_line(&self, args: &[&str]) -> String {
        let config = self.layout.shown(&self.layout.config());
        let mut words = vec![
            "drkit".to_string(),
            "--config".to_string(),
            shell_quote(&config.to_string_lossy()),
        ];
        words.extend(args.iter().map(|a| shell_quote(a)));
        words.join(" ")
    }

    /// Prints the command, runs it with this binary and returns its exit code.
    fn run_drkit(&self, args: &[&str]) -> Result<i32, Failure> {
        let line = self.command_line(args);
        self.out.command(&line);
        self.out.flush();
        let status = Command::new(&self.exe)
            .arg("--config")
            .arg(self.layout.config())
            .args(args)
            .env_remove(crate::commands::RUN_ID_ENV)
            .env_remove("DRKIT_JOB")
            .status()
            .map_err(|e| self.out.format("spawn_failed", &[("command", &line), ("error", &e)]))?;
        status
            .code()
            .ok_or_else(|| self.out.format("killed", &[("command", &line)]))
    }

    /// Runs drkit with `args` and fails unless it exits with `expected`.
    pub fn expect_exit(&self, args: &[&str], expected: i32) -> Result<(), Failure> {
        let code = self.run_drkit(args)?;
        if code != expected {
            let line = self.command_line(args);
            return Err(self.out.format(
                "exit_unexpected",
                &[("command", &line), ("code", &code), ("expected", &expected)],
            ));
        }
        Ok(())
    }

    /// Returns the failure text `key` about `path` unless `condition` is true.
    pub fn require(&self, condition: bool, key: &str, path: &Path) -> Result<(), Failure> {
        if condition {
            Ok(())
        } else {
            Err(self.out.format(key, &[("path", &self.layout.shown(path).display())]))
        }
    }
}

fn build_primary(layout: &Layout, out: Output) -> Result<(), Failure> {
    let wordpress = primary::installed_wordpress();
    let built = primary::build(&layout.primary(), wordpress.as_deref()).map_err(|e| e.localized(out.lang()))?;
    let shown_primary = layout.shown(&layout.primary());
    match &built.code {
        SiteCode::WordPress(tree) => out.paragraph(
            "built_wordpress",
            &[
                ("path", &shown_primary.display()),
                ("tree", &tree.display()),
                ("count", &built.entries),
            ],
        ),
        SiteCode::Generated => out.paragraph(
            "built_generated",
            &[
                ("path", &shown_primary.display()),
                ("tree", &primary::WORDPRESS_DIR),
                ("count", &built.entries),
            ],
        ),
    }
    out.blank();
    Ok(())
}

/// Writes `drkit.toml` and returns it as drkit loads it.
fn write_config(layout: &Layout, out: Output) -> Result<Config, Failure> {
    let lang = out.lang();
    setup::write_config(layout, lang).map_err(|e| e.localized(lang))?;
    let config = crate::config::load(&layout.config(), Some(lang)).map_err(|e| e.to_string())?;
    out.paragraph(
        "wrote_config",
        &[
            ("path", &layout.shown(&layout.config()).display()),
            ("replica", &layout.shown(&layout.replica()).display()),
            ("keep", &setup::KEEP_VERSIONS),
        ],
    );
    out.blank();
    Ok(config)
}

fn write_jobs(layout: &Layout, out: Output) -> Result<(), Failure> {
    let jobs = setup::write_jobs(layout, out.lang()).map_err(|e| e.localized(out.lang()))?;
    out.paragraph("wrote_jobs", &[("dir", &layout.shown(&layout.jobs()).display())]);
    for job in &jobs {
        out.say(
            "job_line",
            &[
                ("file", &job.file),
                ("kind", &job.kind),
                ("schedule", &job.schedule),
                ("timeout", &job.timeout),
            ],
        );
    }
    out.blank();
    Ok(())
}

/// Quotes `word` for a POSIX shell when it contains anything beyond the usual path characters.
fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@%+,".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quote_leaves_plain_words() {
        assert_eq!(shell_quote("drkit-demo/drkit.toml"), "drkit-demo/drkit.toml");
        assert_eq!(shell_quote("my demo"), "'my demo'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
