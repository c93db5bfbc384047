//! Jobs: job files, cron schedules, locks, timeouts and the parallel runner.
//!
//! `drkit run JOB…` and `drkit run --due` read every job file of the job
//! folder (`Config::job_dir`) and reject them all when one is invalid, then
//! start each selected job as `drkit job-exec JOB` in its own process group
//! (`runner`). The child does the work in-process (`exec`).
//!
//! Modules: `file` parses job files, `schedule` parses and matches cron
//! expressions, `lock` holds the per-job flock, `process` spawns, signals
//! and reaps, `runner` supervises, `list` prints `--list`, `error` and
//! `texts` hold the messages in English and Spanish.

mod error;
mod exec;
mod file;
mod list;
mod lock;
mod process;
mod runner;
mod schedule;
mod texts;

use chrono::Local;

pub use error::JobError;
pub use file::Job;

use crate::commands::texts::error as print_error;
use crate::commands::Context;
use crate::exit::Exit;

/// Environment variable through which `drkit run` names the job to its child.
pub const JOB_ENV: &str = "DRKIT_JOB";

/// Request of one `drkit run` invocation.
pub struct RunRequest {
    /// Jobs to run now, by name.
    pub names: Vec<String>,
    /// Run the jobs whose schedule matches the current local minute.
    pub due: bool,
    /// Print the jobs instead of running them.
    pub list: bool,
}

/// Lists the jobs, or runs the requested ones in parallel child processes.
/// Exits 2 when a job file is invalid or a named job does not exist (and
/// then runs nothing), 1 when a job failed or timed out, else 0.
pub fn run(ctx: &mut Context, request: &RunRequest) -> Exit {
    let jobs = match load(ctx) {
        Ok(jobs) => jobs,
        Err(e) => {
            print_error(ctx.lang, &e.message(ctx.lang));
            return Exit::Usage;
        }
    };
    if request.list {
        list::print(ctx.lang, &jobs, Local::now(), &ctx.config.job_dir());
        return Exit::Ok;
    }
    let selected = if request.due {
        due_jobs(jobs)
    } else {
        match named_jobs(ctx, jobs, &request.names) {
            Some(selected) => selected,
            None => return Exit::Usage,
        }
    };
    runner::run_jobs(ctx, &selected)
}

/// Runs one job in this process; used by `drkit job-exec JOB`.
pub fn exec_one(ctx: &mut Context, name: &str) -> Exit {
    process::unblock_stop_signals();
    let jobs = match load(ctx) {
        Ok(jobs) => jobs,
        Err(e) => {
            print_error(ctx.lang, &e.message(ctx.lang));
            return Exit::Usage;
        }
    };
    match jobs.iter().find(|job| job.name == name) {
        Some(job) => exec::execute(ctx, job),
        None => {
            print_unknown(ctx, &jobs, name);
            Exit::Usage
        }
    }
}

/// Reads and validates every job file of the config's job folder.
pub fn load(ctx: &Context) -> Result<Vec<Job>, JobError> {
    load_for(&ctx.config)
}

/// Reads and validates the job files that `config` points to.
pub fn load_for(config: &crate::config::Config) -> Result<Vec<Job>, JobError> {
    let set_names: Vec<String> = config.sets.iter().map(|set| set.name.clone()).collect();
    file::load_dir(&config.job_dir(), &config.path, &set_names)
}

/// Keeps the jobs whose schedule matches the current local minute.
fn due_jobs(jobs: Vec<Job>) -> Vec<Job> {
    let now = Local::now().naive_local();
    let due: Vec<Job> = jobs.into_iter().filter(|job| job.schedule.matches(now)).collect();
    tracing::debug!(minute = %now.format("%Y-%m-%d %H:%M"), due = due.len(), "jobs due this minute");
    due
}

/// Returns the named jobs once each, in the order given, or None after
/// printing an error when a name matches no job.
fn named_jobs(ctx: &Context, mut jobs: Vec<Job>, names: &[String]) -> Option<Vec<Job>> {
    let mut selected: Vec<Job> = Vec::new();
    for name in names {
        if selected.iter().any(|job| &job.name == name) {
            continue;
        }
        match jobs.iter().position(|job| &job.name == name) {
            Some(index) => selected.push(jobs.remove(index)),
            None => {
                jobs.extend(selected);
                print_unknown(ctx, &jobs, name);
                return None;
            }
        }
    }
    Some(selected)
}

fn print_unknown(ctx: &Context, jobs: &[Job], name: &str) {
    let mut known: Vec<&str> = jobs.iter().map(|job| job.name.as_str()).collect();
    known.sort_unstable();
    let known = if known.is_empty() {
        texts::text(ctx.lang, "no_jobs").to_string()
    } else {
        known.join(", ")
    };
    let dir = ctx.config.job_dir();
    print_error(
        ctx.lang,
        &texts::format(
            ctx.lang,
            "unknown_job",
            &[("name", &name), ("dir", &dir.display()), ("known", &known)],
        ),
    );
}
