//! `drkit report daily`.

use clap::Subcommand;

use super::Context;
use crate::exit::Exit;

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Write today's report, the dashboard and the JSON status files
    Daily,
}

pub fn execute(ctx: &mut Context, command: &ReportCommand) -> Exit {
    match command {
        ReportCommand::Daily => crate::report::daily(ctx),
    }
}
