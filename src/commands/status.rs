//! `drkit status [--json]`.

use clap::Args;

use super::Context;
use crate::exit::Exit;

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print the status as JSON (the content of dr_status.json)
    #[arg(long)]
    pub json: bool,
}

/// Prints the state of every set and rewrites the status pages.
pub fn execute(ctx: &mut Context, args: &StatusArgs) -> Exit {
    crate::report::status(ctx, args.json)
}
