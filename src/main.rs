//! drkit: disaster recovery for Webmin/Virtualmin hosting servers.
//!
//! This file defines the command line (clap derive) and dispatches each
//! command to `commands`. The work lives in the capability modules.

mod commands;
mod config;
mod db;
mod demo;
mod exit;
mod help_es;
mod i18n;
mod jobs;
mod logging;
mod report;
mod store;
mod sync;
mod transport;
mod watch;

use std::path::PathBuf;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

/// Keeps a secondary server ready and proves it: replication, verification, reports.
#[derive(Debug, Parser)]
#[command(name = "drkit", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// Config file [default: $DRKIT_CONFIG, else /etc/drkit/drkit.toml]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Language of messages: en or es [default: the config's site.language, else LANG]
    #[arg(long, global = true, value_name = "LANG", value_parser = parse_lang)]
    pub lang: Option<String>,
    /// Log more on stderr (-v: info, -vv: debug)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Copy changed files of the named sets (all sets when none is named) to their replicas
    Sync(commands::sync::SyncArgs),
    /// Re-hash source and replica of the named sets and list every difference
    Verify(commands::verify::VerifyArgs),
    /// Replicate one set on every change: watch its source with inotifywait and sync the changed paths
    Watch(commands::watch::WatchArgs),
    /// Run jobs now, in parallel, or those due this minute (--due)
    Run(commands::run::RunArgs),
    /// Show each set's last sync, lag against the RPO target and recent runs
    Status(commands::status::StatusArgs),
    /// Write the HTML and JSON reports into the report folder
    #[command(subcommand)]
    Report(commands::report::ReportCommand),
    /// Dump databases into a synced folder, restore them, show replica lag
    #[command(subcommand)]
    Db(commands::db::DbCommand),
    /// Check the config file and print what it sets up
    #[command(subcommand)]
    Config(commands::config::ConfigCommand),
    /// Pin a peer's SSH host key, or check that every peer accepts drkit's key
    #[command(subcommand)]
    Peer(commands::peer::PeerCommand),
    /// Create the data folder and the state database
    Init,
    /// Build a sample hosting tree and run the main job on it, step by step
    Demo(commands::demo::DemoArgs),
    /// Serve a primary's syncs on this peer over stdin/stdout (started by SSH)
    Agent(commands::agent::AgentArgs),
    /// Run one job inside `drkit run` (internal)
    #[command(hide = true)]
    JobExec(commands::run::JobExecArgs),
}

/// Accepts the languages drkit speaks ("en", "es", also with a region such as "es_MX").
fn parse_lang(value: &str) -> Result<String, String> {
    match i18n::Lang::from_code(value) {
        Some(_) => Ok(value.to_string()),
        None => Err(format!("unsupported language \"{value}\"; use en or es")),
    }
}

fn main() -> std::process::ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let lang = commands::early_language(&args);
    let matches = help_es::localize(Cli::command(), lang).get_matches_from(args);
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    commands::dispatch(cli).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn spanish_help_is_valid() {
        help_es::localize(Cli::command(), i18n::Lang::Es).debug_assert();
    }
}
