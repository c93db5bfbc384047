//! The command layer: each command reads its arguments, loads the config
//! and the state database, calls one function of its capability and prints
//! the outcome in the user's language. Errors carry their context here
//! (set, path, job) and become an exit code.

pub mod agent;
pub mod config;
pub mod db;
pub mod demo;
pub mod peer;
pub mod peers;
pub mod report;
pub mod run;
pub mod status;
pub mod sync;
pub mod texts;
pub mod verify;
pub mod watch;

use std::ffi::OsString;
use std::path::PathBuf;

use crate::config::Config;
use crate::exit::Exit;
use crate::i18n::Lang;
use crate::store::{RunId, Store};
use crate::{Cli, Command, GlobalArgs};

/// Everything a command needs once the config has been accepted.
pub struct Context {
    pub config: Config,
    pub store: Store,
    pub lang: Lang,
    pub global: GlobalArgs,
    /// The run this process belongs to, when started by `drkit run`.
    pub run_id: Option<RunId>,
}

/// Environment variable through which `drkit run` passes the run id to a job process.
pub const RUN_ID_ENV: &str = "DRKIT_RUN_ID";

/// Runs the parsed command line.
pub fn dispatch(cli: Cli) -> Exit {
    let global = cli.global;
    match cli.command {
        Command::Demo(args) => {
            crate::logging::init(global.verbose, None);
            demo::execute(&global, &args)
        }
        Command::Config(cmd) => config::execute(&global, &cmd),
        Command::Agent(args) => agent::execute(&global, &args),
        command => with_context(global, |ctx| match command {
            Command::Sync(args) => sync::execute(ctx, &args),
            Command::Verify(args) => verify::execute(ctx, &args),
            Command::Run(args) => run::execute(ctx, &args),
            Command::JobExec(args) => run::execute_one(ctx, &args),
            Command::Watch(args) => watch::execute(ctx, &args),
            Command::Status(args) => status::execute(ctx, &args),
            Command::Report(cmd) => report::execute(ctx, &cmd),
            Command::Peer(cmd) => peer::execute(ctx, &cmd),
            Command::Db(cmd) => db::execute(ctx, &cmd),
            Command::Init => {
                texts::say(ctx.lang, "init_done", &[("path", &ctx.store.path().display())]);
                Exit::Ok
            }
            Command::Demo(_) | Command::Config(_) | Command::Agent(_) => unreachable!("dispatched above"),
        }),
    }
}

/// Loads the config and the store, then runs `f`.
fn with_context(global: GlobalArgs, f: impl FnOnce(&mut Context) -> Exit) -> Exit {
    let lang_flag = global.lang.as_deref().and_then(Lang::from_code);
    let path = crate::config::resolve_path(global.config.as_deref());
    let config = match crate::config::load(&path, lang_flag) {
        Ok(config) => config,
        Err(e) => {
            crate::logging::init(global.verbose, None);
            texts::error(e.lang(), &e.to_string());
            return Exit::Usage;
        }
    };
    let lang = lang_flag.unwrap_or(config.site.language);
    if let Err(e) = crate::store::create_private_dir(&config.site.data_dir) {
        crate::logging::init(global.verbose, None);
        texts::error(
            lang,
            &texts::format(
                lang,
                "data_dir_failed",
                &[("path", &config.site.data_dir.display()), ("error", &e)],
            ),
        );
        return Exit::Failed;
    }
    crate::logging::init(global.verbose, Some(&config.site.data_dir));
    let store = match Store::open(&config.site.data_dir) {
        Ok(store) => store,
        Err(e) => {
            texts::error(lang, &e.to_string());
            return Exit::Failed;
        }
    };
    let run_id = std::env::var(RUN_ID_ENV).ok().and_then(|v| v.parse().ok());
    let mut ctx = Context {
        config,
        store,
        lang,
        global,
        run_id,
    };
    f(&mut ctx)
}

/// Finds the language before clap parses, so help and usage errors come out
/// translated: `--lang`, else the config's `site.language`, else LANG.
pub fn early_language(args: &[OsString]) -> Lang {
    let mut config: Option<PathBuf> = None;
    let mut iter = args.iter().skip(1);
    while let Some(arg) = iter.next() {
        let text = arg.to_string_lossy();
        if let Some(value) = text.strip_prefix("--lang=") {
            if let Some(lang) = Lang::from_code(value) {
                return lang;
            }
        } else if text == "--lang" {
            if let Some(lang) = iter.next().and_then(|v| Lang::from_code(&v.to_string_lossy())) {
                return lang;
            }
        } else if let Some(value) = text.strip_prefix("--config=") {
            config = Some(PathBuf::from(value));
        } else if text == "--config" {
            config = iter.next().map(PathBuf::from);
        }
    }
    let path = crate::config::resolve_path(config.as_deref());
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| text.parse::<toml::Table>().ok())
        .and_then(|table| {
            let site = table.get("site")?.as_table()?;
            Lang::from_code(site.get("language")?.as_str()?)
        })
        .unwrap_or_else(Lang::from_env)
}

/// Name of the runs of commands started by hand rather than by `drkit run`.
pub const MANUAL_RUN: &str = "manual";

/// Returns the run that results of this process belong to: the one `drkit
/// run` passed down, else a new run for this direct command.
pub fn own_run(ctx: &Context, kind: &str) -> Option<RunId> {
    own_run_named(ctx, kind, MANUAL_RUN)
}

/// Like `own_run`, with `name` in place of "manual" for a run this process
/// starts, such as "watch" for the records of `drkit watch`.
pub fn own_run_named(ctx: &Context, kind: &str, name: &str) -> Option<RunId> {
    if ctx.run_id.is_some() {
        return ctx.run_id;
    }
    match ctx.store.begin_run(kind, name) {
        Ok(id) => Some(id),
        Err(e) => {
            tracing::error!(error = %e, "cannot record the run");
            None
        }
    }
}

/// Closes a run opened by `own_run` for a direct command.
pub fn finish_own_run(ctx: &Context, run: Option<RunId>, exit: Exit) {
    if ctx.run_id.is_some() {
        return;
    }
    if let Some(id) = run {
        if let Err(e) = ctx.store.finish_run(id, exit.into(), "") {
            tracing::error!(error = %e, "cannot record the end of the run");
        }
    }
}

/// Stores a result and appends it to the audit chain; returns the result's
/// id, or None when it could not be stored.
pub fn record(
    ctx: &mut Context,
    run: Option<RunId>,
    kind: &str,
    subject: &str,
    status: &str,
    data: &serde_json::Value,
) -> Option<i64> {
    let id = match ctx.store.record_result(run, kind, subject, status, data) {
        Ok(id) => Some(id),
        Err(e) => {
            tracing::error!(error = %e, kind, subject, "cannot store the result");
            None
        }
    };
    let actor = actor_name();
    if let Err(e) = ctx.store.audit_append(&actor, kind, subject, status) {
        tracing::error!(error = %e, kind, subject, "cannot append to the audit log");
    }
    id
}

/// Names who acted, for the audit log: the job when run by `drkit run`, else the user.
pub fn actor_name() -> String {
    if let Ok(job) = std::env::var("DRKIT_JOB") {
        return format!("job:{job}");
    }
    std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| format!("uid:{}", nix::unistd::getuid()))
}
