//! `drkit run JOB…`, `drkit run --due` and the internal `drkit job-exec JOB`.

use clap::Args;

use super::Context;
use crate::exit::Exit;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Jobs to run now, by name
    #[arg(value_name = "JOB", required_unless_present_any = ["due", "list"])]
    pub jobs: Vec<String>,
    /// Run every job whose schedule matches the current minute (for one crontab line)
    #[arg(long, conflicts_with = "jobs")]
    pub due: bool,
    /// List the jobs and their schedules instead of running them
    #[arg(long, conflicts_with_all = ["jobs", "due"])]
    pub list: bool,
}

#[derive(Debug, Args)]
pub struct JobExecArgs {
    /// The job to run in this process
    pub job: String,
}

pub fn execute(ctx: &mut Context, args: &RunArgs) -> Exit {
    crate::jobs::run(
        ctx,
        &crate::jobs::RunRequest {
            names: args.jobs.clone(),
            due: args.due,
            list: args.list,
        },
    )
}

pub fn execute_one(ctx: &mut Context, args: &JobExecArgs) -> Exit {
    crate::jobs::exec_one(ctx, &args.job)
}
