//! `drkit config check`.

use clap::Subcommand;

use super::texts;
use crate::config::format_duration;
use crate::exit::Exit;
use crate::i18n::Lang;
use crate::GlobalArgs;

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the config file without touching anything, and print what it sets up
    Check,
}

/// Validates the config and prints its sets; exits 2 when it is invalid.
pub fn execute(global: &GlobalArgs, command: &ConfigCommand) -> Exit {
    crate::logging::init(global.verbose, None);
    let ConfigCommand::Check = command;
    let flag = global.lang.as_deref().and_then(Lang::from_code);
    let path = crate::config::resolve_path(global.config.as_deref());
    let config = match crate::config::load(&path, flag) {
        Ok(config) => config,
        Err(e) => {
            texts::error(e.lang(), &e.to_string());
            return Exit::Usage;
        }
    };
    let lang = flag.unwrap_or(config.site.language);
    texts::say(
        lang,
        "config_ok",
        &[
            ("path", &path.display()),
            ("site", &config.site.name),
            ("lang", &config.site.language.code()),
            ("rto", &format_duration(config.targets.rto)),
            ("rpo", &format_duration(config.targets.rpo)),
            ("count", &config.sets.len()),
        ],
    );
    for set in &config.sets {
        // A remote target is shown the way scp and rsync write it: NODE:PATH.
        let target = match &set.peer {
            Some(peer) => format!("{peer}:{}", set.target.display()),
            None => set.target.display().to_string(),
        };
        texts::say(
            lang,
            "config_set",
            &[
                ("name", &set.name),
                ("source", &set.source.display()),
                ("target", &target),
                ("max_delete", &set.max_delete),
                ("keep", &set.keep_versions),
                ("versions", &set.versions_dir.display()),
            ],
        );
    }
    for db in &config.databases {
        texts::say(
            lang,
            "config_database",
            &[
                ("name", &db.name),
                ("kind", &db.kind.as_str()),
                ("connection", &db.connection),
                ("dump_dir", &db.dump_dir.display()),
                ("set", &db.dump_set),
            ],
        );
    }
    check_jobs(lang, &config)
}

/// Validates the job files too, since `drkit run` rejects them all when one is invalid.
fn check_jobs(lang: Lang, config: &crate::config::Config) -> Exit {
    let dir = config.job_dir();
    if !dir.is_dir() && config.jobs_dir.is_none() {
        texts::say(lang, "config_no_jobs", &[("dir", &dir.display())]);
        return Exit::Ok;
    }
    match crate::jobs::load_for(config) {
        Ok(jobs) => {
            texts::say(lang, "config_jobs", &[("dir", &dir.display()), ("count", &jobs.len())]);
            Exit::Ok
        }
        Err(e) => {
            texts::error(lang, &e.message(lang));
            Exit::Usage
        }
    }
}
