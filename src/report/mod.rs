//! Static HTML pages and JSON status files written into the report folder.

use crate::commands::Context;
use crate::exit::Exit;

/// Rewrites the status files after a command changed the state.
pub fn refresh(_ctx: &Context) {}

/// Prints the status and rewrites the status files.
pub fn status(_ctx: &Context, _json: bool) -> Exit {
    Exit::Failed
}

/// Writes the daily report.
pub fn daily(_ctx: &Context) -> Exit {
    Exit::Failed
}
