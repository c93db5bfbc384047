//! Job files, schedules, locks, timeouts and the parallel runner.

use crate::commands::Context;
use crate::exit::Exit;

/// What `drkit run` was asked to do.
pub struct RunRequest {
    pub names: Vec<String>,
    pub due: bool,
    pub list: bool,
}

/// Runs the requested jobs in parallel child processes.
pub fn run(_ctx: &mut Context, _request: &RunRequest) -> Exit {
    Exit::Failed
}

/// Runs one job in this process.
pub fn exec_one(_ctx: &mut Context, _name: &str) -> Exit {
    Exit::Failed
}
