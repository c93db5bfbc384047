//! `drkit config check`.

use clap::{Args, Subcommand};

use super::texts;
use crate::config::format_duration;
use crate::exit::Exit;
use crate::i18n::Lang;
use crate::GlobalArgs;

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the config file without touching anything, and print what it sets up
    Check(CheckArgs),
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Print the accepted config as one JSON document on stdout (for scripts)
    #[arg(long)]
    pub json: bool,
}

/// The accepted config as `config check --json` prints it. Paths are
/// absolute and durations are in seconds.
#[derive(Debug, serde::Serialize)]
struct ConfigJson<'a> {
    path: String,
    site: &'a str,
    language: &'static str,
    data_dir: String,
    report_dir: String,
    rto_s: u64,
    rpo_s: u64,
    sets: Vec<SetJson<'a>>,
}

#[derive(Debug, serde::Serialize)]
struct SetJson<'a> {
    name: &'a str,
    source: String,
    target: String,
    versions_dir: String,
    exclude: &'a [String],
    max_delete: String,
    keep_versions: u32,
}

/// Validates the config and prints its sets; exits 2 when it is invalid.
pub fn execute(global: &GlobalArgs, command: &ConfigCommand) -> Exit {
    crate::logging::init(global.verbose, None);
    let ConfigCommand::Check(args) = command;
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
    if args.json {
        // Job files are left out: a script that needs the sets should
        // not stop because a job file is invalid.
        println!("{}", config_json(&path, &config));
        return Exit::Ok;
    }
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

/// Returns the accepted config as one line of JSON.
fn config_json(path: &std::path::Path, config: &crate::config::Config) -> String {
    let text = |p: &std::path::Path| p.display().to_string();
    let document = ConfigJson {
        path: text(path),
        site: &config.site.name,
        language: config.site.language.code(),
        data_dir: text(&config.site.data_dir),
        report_dir: text(&config.site.report_dir),
        rto_s: config.targets.rto.as_secs(),
        rpo_s: config.targets.rpo.as_secs(),
        sets: config
            .sets
            .iter()
            .map(|set| SetJson {
                name: &set.name,
                source: text(&set.source),
                target: text(&set.target),
                versions_dir: text(&set.versions_dir),
                exclude: &set.exclude,
                max_delete: set.max_delete.to_string(),
                keep_versions: set.keep_versions,
            })
            .collect(),
    };
    serde_json::to_string(&document).expect("the config serializes to JSON")
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
