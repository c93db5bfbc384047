//! `drkit db dump`, `drkit db restore` and `drkit db lag`.

use clap::{Args, Subcommand};

use super::texts::{self as common, bytes, seconds};
use super::Context;
use crate::config::Database;
use crate::db::restore::{dump_source, Outcome, PreviousRestore, Refusal, RestoreError, RestoreItem};
use crate::db::texts::{format, text};
use crate::db::{Cause, DumpSummary, LagReport, RestoreOptions};
use crate::exit::Exit;
use crate::i18n::Lang;

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Dump the databases of the named [[database]] servers (all when none is named) into their dump folders
    Dump(DumpArgs),
    /// Restore the dumps from the replica (or a version of it) into the server configured under NAME
    // Its --version option names a replica version, so clap's own --version is off here.
    #[command(disable_version_flag = true)]
    Restore(RestoreArgs),
    /// Print how many seconds each named server's native replication is behind (all when none is named)
    Lag(LagArgs),
}

#[derive(Debug, Args)]
pub struct DumpArgs {
    /// [[database]] entries to dump, by name [default: every entry]
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The [[database]] entry naming the server to restore into
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Restore only this database [default: every database dumped]
    #[arg(long, value_name = "DB")]
    pub database: Option<String>,
    /// Restore the dumps kept in this replica version (a folder name such as 20261204T203000.123Z) [default: the replica's current dumps]
    #[arg(long, value_name = "TIMESTAMP")]
    pub version: Option<String>,
    /// Replace databases even when they were written after the dump
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct LagArgs {
    /// [[database]] entries to ask, by name [default: every entry]
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
}

/// Runs one `drkit db` subcommand.
pub fn execute(ctx: &mut Context, command: &DbCommand) -> Exit {
    match command {
        DbCommand::Dump(args) => dump(ctx, args),
        DbCommand::Restore(args) => restore(ctx, args),
        DbCommand::Lag(args) => lag(ctx, args),
    }
}

/// Returns the named entries, or all of them; None after printing an error.
fn select_servers(ctx: &Context, names: &[String]) -> Option<Vec<Database>> {
    let all = &ctx.config.databases;
    if all.is_empty() {
        common::error(ctx.lang, text(ctx.lang, "no_servers"));
        return None;
    }
    if names.is_empty() {
        return Some(all.clone());
    }
    let mut chosen = Vec::new();
    for name in names {
        match all.iter().find(|d| &d.name == name) {
            Some(db) => chosen.push(db.clone()),
            None => {
                let known: Vec<&str> = all.iter().map(|d| d.name.as_str()).collect();
                common::error(
                    ctx.lang,
                    &format(
                        ctx.lang,
                        "unknown_server",
                        &[("name", name), ("known", &known.join(", "))],
                    ),
                );
                return None;
            }
        }
    }
    Some(chosen)
}

/// Builds the "fix:" line for a failure of `command` on `db`.
fn fix_line(lang: Lang, cause: Cause, db: &Database, command: &str, dir: &std::path::Path) -> String {
    let key = match cause {
        Cause::AccessDenied => "fix_access_denied",
        Cause::ServerDown => "fix_server_down",
        Cause::DiskFull => "fix_disk_full",
        Cause::ProgramMissing => "fix_program_missing",
        Cause::Other => "fix_other",
    };
    let fix = format(
        lang,
        key,
        &[("server", &db.name), ("dir", &dir.display()), ("command", &command)],
    );
    format!("\n  {}: {fix}", text(lang, "fix_label"))
}

fn dump(ctx: &mut Context, args: &DumpArgs) -> Exit {
    let Some(servers) = select_servers(ctx, &args.names) else {
        return Exit::Usage;
    };
    let run = super::own_run(ctx, "db_dump");
    let mut exit = Exit::Ok;
    for db in &servers {
        tracing::info!(server = %db.name, "db dump started");
        let summary = crate::db::dump_server(db, &ctx.config.site.data_dir);
        let status = if summary.is_ok() { "ok" } else { "failed" };
        let data = serde_json::to_value(&summary).unwrap_or_default();
        super::record(ctx, run, "db_dump", &db.name, status, &data);
        tracing::info!(server = %db.name, duration_ms = summary.duration_ms, status, "db dump finished");
        print_dump(ctx.lang, db, &summary);
        if !summary.is_ok() {
            exit = Exit::Failed;
        }
    }
    super::finish_own_run(ctx, run, exit);
    crate::report::refresh(ctx);
    exit
}

fn print_dump(lang: Lang, db: &Database, summary: &DumpSummary) {
    let kind = db.kind.as_str();
    let connection = db.connection.to_string();
    if let Some(failure) = &summary.error {
        let message = format(
            lang,
            "dump_list_failed",
            &[
                ("server", &db.name),
                ("kind", &kind),
                ("connection", &connection),
                ("detail", &failure.detail),
            ],
        );
        common::error(
            lang,
            &(message + &fix_line(lang, failure.cause, db, "dump", &db.dump_dir)),
        );
        return;
    }
    let mut failed = 0;
    for item in &summary.items {
        let Some(failure) = &item.error else {
            common::say_text(&format(
                lang,
                "dump_ok",
                &[
                    ("server", &db.name),
                    ("database", &item.database),
                    ("file", &item.file.display()),
                    ("bytes", &bytes(lang, item.bytes)),
                    ("secs", &seconds(lang, item.duration_ms)),
                ],
            ));
            continue;
        };
        failed += 1;
        let kept = if item.previous_kept {
            format(lang, "dump_kept", &[("file", &item.file.display())])
        } else {
            text(lang, "dump_none_kept").to_string()
        };
        let message = format(
            lang,
            "dump_failed",
            &[
                ("database", &item.database),
                ("server", &db.name),
                ("kind", &kind),
                ("connection", &connection),
                ("detail", &failure.detail),
                ("kept", &kept),
            ],
        );
        common::error(
            lang,
            &(message + &fix_line(lang, failure.cause, db, "dump", &db.dump_dir)),
        );
    }
    if failed > 0 {
        common::error(
            lang,
            &format(lang, "dump_server_failed", &[("server", &db.name), ("count", &failed)]),
        );
    }
}

fn restore(ctx: &mut Context, args: &RestoreArgs) -> Exit {
    let Some(servers) = select_servers(ctx, std::slice::from_ref(&args.name)) else {
        return Exit::Usage;
    };
    let db = &servers[0];
    let set = ctx
        .config
        .sets
        .iter()
        .find(|s| s.name == db.dump_set)
        .cloned()
        .expect("config validation ties every dump folder to a set");
    let options = RestoreOptions {
        database: args.database.clone(),
        version: args.version.clone(),
        force: args.force,
    };
    let run = super::own_run(ctx, "db_restore");
    let result = dump_source(db, &set, options.version.as_deref()).and_then(|dir| {
        let store = &ctx.store;
        let previous = |database: &str| -> Option<PreviousRestore> {
            let row = store
                .latest_ok_result("db_restore", &format!("{}/{database}", db.name))
                .ok()??;
            serde_json::from_value(row.data).ok()
        };
        crate::db::restore_server(db, &dir, &options, &ctx.config.site.data_dir, &previous)
    });
    let exit = match result {
        Ok(summary) => {
            let mut exit = Exit::Ok;
            for item in &summary.items {
                exit = exit.worst(report_restore(ctx, run, db, item));
            }
            exit
        }
        Err(e) => {
            let message = restore_error_text(ctx.lang, db, &set.name, &e);
            let data = serde_json::json!({ "server": db.name, "error": e.to_string() });
            super::record(ctx, run, "db_restore", &db.name, "failed", &data);
            common::error(ctx.lang, &message);
            Exit::Failed
        }
    };
    super::finish_own_run(ctx, run, exit);
    exit
}

/// Records and prints one restored, refused or failed database.
fn report_restore(ctx: &mut Context, run: Option<i64>, db: &Database, item: &RestoreItem) -> Exit {
    let lang = ctx.lang;
    let subject = format!("{}/{}", db.name, item.database);
    let status = if matches!(item.outcome, Outcome::Restored { .. }) {
        "ok"
    } else {
        "failed"
    };
    let data = serde_json::to_value(item).unwrap_or_default();
    super::record(ctx, run, "db_restore", &subject, status, &data);
    let local = |t: &chrono::DateTime<chrono::Utc>| {
        t.with_timezone(&chrono::Local)
            .format("%Y-%m-%d %H:%M:%S %Z")
            .to_string()
    };
    let names: [(&str, &dyn std::fmt::Display); 2] = [("database", &item.database), ("server", &db.name)];
    match &item.outcome {
        Outcome::Restored { .. } => {
            let dump_time = local(&item.dump_started_at);
            let secs = seconds(lang, item.duration_ms);
            let file = item.file.display();
            common::say_text(&format(
                lang,
                "restore_done",
                &[
                    names[0],
                    names[1],
                    ("file", &file),
                    ("dump_time", &dump_time),
                    ("secs", &secs),
                ],
            ));
            Exit::Ok
        }
        Outcome::Refused { reason } => {
            let message = match reason {
                Refusal::NewerWrite { last_write, since } => format(
                    lang,
                    "restore_newer",
                    &[
                        names[0],
                        names[1],
                        ("last_write", &local(last_write)),
                        ("since", &local(since)),
                    ],
                ),
                Refusal::ChangedSinceRestore { changes, restored_at } => format(
                    lang,
                    "restore_changed",
                    &[
                        names[0],
                        names[1],
                        ("changes", changes),
                        ("restored_at", &local(restored_at)),
                    ],
                ),
                Refusal::Unknown { tables } => {
                    format(lang, "restore_unknown", &[names[0], names[1], ("tables", tables)])
                }
            };
            common::error(lang, &message);
            Exit::Failed
        }
        Outcome::Failed { cause, detail } => {
            let connection = db.connection.to_string();
            let message = format(
                lang,
                "restore_failed",
                &[names[0], names[1], ("connection", &connection), ("detail", detail)],
            );
            let dir = item.file.parent().unwrap_or(std::path::Path::new("/"));
            common::error(lang, &(message + &fix_line(lang, *cause, db, "restore", dir)));
            Exit::Failed
        }
    }
}

fn restore_error_text(lang: Lang, db: &Database, set: &str, e: &RestoreError) -> String {
    match e {
        RestoreError::VersionNotFound {
            version,
            dir,
            available,
        } => format(
            lang,
            "restore_no_version",
            &[("version", version), ("dir", &dir.display()), ("available", available)],
        ),
        RestoreError::NotAtVersion { version, path } => format(
            lang,
            "restore_not_at_version",
            &[("path", &path.display()), ("version", version)],
        ),
        RestoreError::NoDumps { dir } => format(
            lang,
            "restore_no_dumps",
            &[("dir", &dir.display()), ("server", &db.name), ("set", &set)],
        ),
        RestoreError::DatabaseNotDumped {
            database,
            dir,
            available,
        } => format(
            lang,
            "restore_not_dumped",
            &[
                ("database", database),
                ("dir", &dir.display()),
                ("available", available),
            ],
        ),
        RestoreError::Db(e) => {
            let connection = db.connection.to_string();
            let message = format(
                lang,
                "restore_cannot_start",
                &[("server", &db.name), ("connection", &connection), ("detail", e)],
            );
            message + &fix_line(lang, e.cause(), db, "restore", &db.dump_dir)
        }
    }
}

fn lag(ctx: &mut Context, args: &LagArgs) -> Exit {
    let Some(servers) = select_servers(ctx, &args.names) else {
        return Exit::Usage;
    };
    let lang = ctx.lang;
    let rpo = ctx.config.targets.rpo;
    let run = super::own_run(ctx, "db_lag");
    let mut exit = Exit::Ok;
    for db in &servers {
        let server: &dyn std::fmt::Display = &db.name;
        let (status, data, outcome) = match crate::db::replica_lag(db, &ctx.config.site.data_dir) {
            Ok(report) => {
                let (status, line, outcome) = lag_line(lang, db, &report, rpo);
                match status {
                    "ok" => common::say_text(&line),
                    _ => common::error(lang, &line),
                }
                (status, serde_json::to_value(&report).unwrap_or_default(), outcome)
            }
            Err(e) => {
                let connection = db.connection.to_string();
                let message = format(
                    lang,
                    "lag_failed",
                    &[("server", server), ("connection", &connection), ("detail", &e)],
                );
                common::error(lang, &(message + &fix_line(lang, e.cause(), db, "lag", &db.dump_dir)));
                ("failed", serde_json::json!({ "error": e.to_string() }), Exit::Failed)
            }
        };
        super::record(ctx, run, "db_lag", &db.name, status, &data);
        exit = exit.worst(outcome);
    }
    super::finish_own_run(ctx, run, exit);
    exit
}

/// Returns the status, the message and the exit of one lag report.
fn lag_line(lang: Lang, db: &Database, report: &LagReport, rpo: std::time::Duration) -> (&'static str, String, Exit) {
    let server: &dyn std::fmt::Display = &db.name;
    match report {
        LagReport::Replica { lag_seconds } => {
            let secs = seconds(lang, (lag_seconds * 1000.0) as u64);
            if *lag_seconds > rpo.as_secs_f64() {
                let rpo = crate::config::format_duration(rpo);
                let line = format(
                    lang,
                    "lag_over_rpo",
                    &[("server", server), ("secs", &secs), ("rpo", &rpo)],
                );
                ("failed", line, Exit::Failed)
            } else {
                (
                    "ok",
                    format(lang, "lag_replica", &[("server", server), ("secs", &secs)]),
                    Exit::Ok,
                )
            }
        }
        LagReport::ReplicaNoReplay => ("ok", format(lang, "lag_no_replay", &[("server", server)]), Exit::Ok),
        LagReport::ReplicaStopped {
            io_running,
            sql_running,
            last_error,
        } => {
            let line = format(
                lang,
                "lag_stopped",
                &[
                    ("server", server),
                    ("io", io_running),
                    ("sql", sql_running),
                    ("error", last_error),
                ],
            );
            ("failed", line, Exit::Failed)
        }
        LagReport::NotReplica => ("ok", format(lang, "lag_not_replica", &[("server", server)]), Exit::Ok),
    }
}
