//! The parallel runner behind `drkit run`: lock, record, start and watch
//! every job, stop those past their timeout, record how each ended.
//!
//! Life of one job:
//! 1. take its lock (`lock`); a busy lock records a skipped run and is not an error;
//! 2. `begin_run("job", name)`, then start `drkit job-exec JOB` in its own
//!    process group with `DRKIT_RUN_ID` and `DRKIT_JOB` set;
//! 3. every `TICK`, reap ended processes and check the clock: past its
//!    timeout the group gets SIGTERM, and SIGKILL `GRACE` later;
//! 4. once the job process has ended and its group is empty, `finish_run`
//!    with ok, failed or timed_out, print one line and release the lock.
//!
//! Processes a job leaves behind in its group after the job process ends
//! are stopped the same way, so no job outlives its run. SIGINT, SIGTERM or
//! SIGHUP sent to the runner stop every job like a timeout does (a second
//! one sends SIGKILL at once), and those runs are recorded as failed.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::file::Job;
use super::lock::{self, Attempt, JobLock};
use super::process::{self, Ended, Launch, StopSignals};
use super::texts;
use crate::commands::texts::{error as print_error, seconds};
use crate::commands::Context;
use crate::config::format_duration;
use crate::exit::Exit;
use crate::store::{RunId, RunStatus};

/// How often the runner reaps and checks timeouts.
const TICK: Duration = Duration::from_millis(50);
/// Time between SIGTERM and SIGKILL to a job's process group.
const GRACE: Duration = Duration::from_secs(5);
/// Time allowed after SIGKILL for the group to disappear before the run is
/// recorded anyway; a process in uninterruptible sleep can outlast SIGKILL.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// Runs `jobs` in parallel and returns Failed when any failed or timed out.
/// Skipped jobs count as successes.
pub fn run_jobs(ctx: &Context, jobs: &[Job]) -> Exit {
    let mut signals = match StopSignals::block() {
        Ok(signals) => Some(signals),
        Err(e) => {
            tracing::warn!(error = %e, "cannot catch SIGINT and SIGTERM; an interrupted run leaves its jobs running");
            None
        }
    };
    process::become_subreaper();

    let mut exit = Exit::Ok;
    let mut running = Vec::new();
    for job in jobs {
        match start(ctx, job) {
            Ok(Some(started)) => running.push(started),
            Ok(None) => {}
            Err(failed) => exit = exit.worst(failed),
        }
    }

    while !running.is_empty() {
        std::thread::sleep(TICK);
        exit = exit.worst(tick(ctx, &mut running, signals.as_mut()));
    }
    exit
}

/// A started job that has not been recorded as finished yet.
struct Running<'a> {
    job: &'a Job,
    run_id: RunId,
    /// The job process's pid, which is also its process group id.
    group: Pid,
    started: Instant,
    ended: Option<Ended>,
    stop: Option<Stop>,
    _lock: JobLock,
}

/// Stop sequence of a job's process group: its reason, its start and the time of SIGKILL.
struct Stop {
    reason: StopReason,
    since: Instant,
    killed_at: Option<Instant>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum StopReason {
    Timeout,
    Interrupted(Signal),
    /// The job process ended but left processes in its group.
    Leftovers,
}

/// Locks, records and starts one job. Returns None for a skip, and the exit
/// code as the error when the job could not start.
fn start<'a>(ctx: &Context, job: &'a Job) -> Result<Option<Running<'a>>, Exit> {
    let Some(mut job_lock) = acquire(ctx, job)? else {
        return Ok(None);
    };
    let run_id = ctx
        .store
        .begin_run("job", &job.name)
        .map_err(|e| not_started(ctx, job, None, &format!("cannot record the run: {e}")))?;
    job_lock.note_holder(run_id);

    let launch = Launch {
        config: &ctx.config.path,
        lang: ctx.global.lang.as_deref(),
        verbose: ctx.global.verbose,
        job: &job.name,
        run_id,
    };
    let group = process::spawn_job(&launch)
        .map_err(|e| not_started(ctx, job, Some(run_id), &format!("cannot start drkit job-exec: {e}")))?;
    tracing::info!(job = %job.name, run_id, kind = job.kind.name(), pid = group.as_raw(), timeout = %format_duration(job.timeout), "job started");

    Ok(Some(Running {
        job,
        run_id,
        group,
        started: Instant::now(),
        ended: None,
        stop: None,
        _lock: job_lock,
    }))
}

/// Takes the job's lock. Returns None after recording a skip when the lock
/// is busy, and the exit code as the error when the lock file cannot be opened.
fn acquire(ctx: &Context, job: &Job) -> Result<Option<JobLock>, Exit> {
    match lock::try_lock(&ctx.config.site.data_dir, &job.name) {
        Ok(Attempt::Acquired(job_lock)) => Ok(Some(job_lock)),
        Ok(Attempt::Busy { path, holder }) => {
            skip(ctx, job, &path, &holder);
            Ok(None)
        }
        Err(e) => {
            let path = lock::lock_path(&ctx.config.site.data_dir, &job.name);
            let detail = format!("cannot open the lock file {}: {e}", path.display());
            let run_id = ctx.store.begin_run("job", &job.name).ok();
            Err(not_started(ctx, job, run_id, &detail))
        }
    }
}

/// Records and prints a job skipped because another run holds its lock.
fn skip(ctx: &Context, job: &Job, path: &std::path::Path, holder: &str) {
    let holder_note = if holder.is_empty() {
        String::new()
    } else {
        format!(" ({holder})")
    };
    let detail = format!("lock {} is held by another run{holder_note}", path.display());
    tracing::info!(job = %job.name, lock = %path.display(), holder, "job skipped: its lock is busy");
    if let Err(e) = ctx.store.record_skipped_run("job", &job.name, &detail) {
        tracing::error!(job = %job.name, error = %e, "cannot record the skipped run");
    }

    let args: [(&str, &dyn std::fmt::Display); 3] =
        [("name", &job.name), ("lock", &path.display()), ("holder", &holder_note)];
    println!("{}", texts::format(ctx.lang, "job_skipped", &args));
}

/// Records (when a run exists) and prints a job that could not start.
fn not_started(ctx: &Context, job: &Job, run_id: Option<RunId>, detail: &str) -> Exit {
    tracing::error!(job = %job.name, detail, "job not started");
    if let Some(id) = run_id {
        if let Err(e) = ctx.store.finish_run(id, RunStatus::Failed, detail) {
            tracing::error!(job = %job.name, error = %e, "cannot record the end of the run");
        }
    }
    print_error(
        ctx.lang,
        &texts::format(ctx.lang, "job_not_started", &[("name", &job.name), ("detail", &detail)]),
    );
    Exit::Failed
}

/// Does one round of supervision and removes the jobs that finished.
fn tick(ctx: &Context, running: &mut Vec<Running>, signals: Option<&mut StopSignals>) -> Exit {
    for (pid, ended) in process::reap() {
        if let Some(job) = running.iter_mut().find(|r| r.group == pid) {
            job.ended = Some(ended);
        }
    }
    if let Some(signal) = signals.and_then(StopSignals::pending) {
        tracing::warn!(signal = %signal, "drkit run interrupted; stopping its jobs");
        for job in running.iter_mut() {
            interrupt(job, signal);
        }
    }

    let now = Instant::now();
    let mut exit = Exit::Ok;
    let mut index = 0;
    while index < running.len() {
        if advance(&mut running[index], now) {
            exit = exit.worst(finish(ctx, running.remove(index), now));
        } else {
            index += 1;
        }
    }
    exit
}

/// Starts stopping a job for `reason`, unless it is already being stopped.
fn begin_stop(job: &mut Running, reason: StopReason, now: Instant) {
    if job.stop.is_some() {
        return;
    }
    tracing::info!(job = %job.job.name, group = job.group.as_raw(), "sending SIGTERM to the job's process group");
    process::signal_group(job.group, Signal::SIGTERM);
    job.stop = Some(Stop {
        reason,
        since: now,
        killed_at: None,
    });
}

/// Stops a job after a signal to the runner; a second signal kills at once.
fn interrupt(job: &mut Running, signal: Signal) {
    let now = Instant::now();
    match &mut job.stop {
        None => begin_stop(job, StopReason::Interrupted(signal), now),
        Some(stop) if stop.killed_at.is_none() => {
            process::signal_group(job.group, Signal::SIGKILL);
            stop.killed_at = Some(now);
        }
        Some(_) => {}
    }
}

/// Moves a job's stop sequence forward; returns true when it is over.
fn advance(job: &mut Running, now: Instant) -> bool {
    if job.ended.is_none() && now.duration_since(job.started) >= job.job.timeout {
        begin_stop(job, StopReason::Timeout, now);
    }
    if let Some(stop) = &mut job.stop {
        if stop.killed_at.is_none() && now.duration_since(stop.since) >= GRACE {
            tracing::warn!(job = %job.job.name, group = job.group.as_raw(), "the job's processes outlived SIGTERM; sending SIGKILL");
            process::signal_group(job.group, Signal::SIGKILL);
            stop.killed_at = Some(now);
        }
    }
    let killed_long_ago = job
        .stop
        .as_ref()
        .and_then(|stop| stop.killed_at)
        .is_some_and(|at| now.duration_since(at) >= KILL_WAIT);
    if job.ended.is_none() {
        return killed_long_ago;
    }
    if !process::group_alive(job.group) {
        return true;
    }
    begin_stop(job, StopReason::Leftovers, now);
    killed_long_ago
}

/// Outcome of a job, as stored and printed.
struct Outcome {
    status: RunStatus,
    /// English, for the runs table.
    detail: String,
    /// In the user's language, for the terminal.
    line: String,
}

/// Records, logs and prints a job that is over, and releases its lock.
fn finish(ctx: &Context, job: Running, now: Instant) -> Exit {
    let elapsed = now.duration_since(job.started);
    let outcome = outcome(ctx, &job, elapsed);
    if let Err(e) = ctx.store.finish_run(job.run_id, outcome.status, &outcome.detail) {
        tracing::error!(job = %job.job.name, run_id = job.run_id, error = %e, "cannot record the end of the run");
    }
    tracing::info!(
        job = %job.job.name,
        run_id = job.run_id,
        outcome = outcome.status.as_str(),
        duration_ms = elapsed.as_millis() as u64,
        detail = %outcome.detail,
        "job finished"
    );
    if outcome.status == RunStatus::Ok {
        println!("{}", outcome.line);
        Exit::Ok
    } else {
        print_error(ctx.lang, &outcome.line);
        Exit::Failed
    }
}

fn outcome(ctx: &Context, job: &Running, elapsed: Duration) -> Outcome {
    let lang = ctx.lang;
    let name = &job.job.name;
    let secs = seconds(lang, elapsed.as_millis() as u64);
    let english_secs = seconds(crate::i18n::Lang::En, elapsed.as_millis() as u64);
    let (status, mut detail, line) = match (job.stop.as_ref().map(|s| s.reason), job.ended) {
        (Some(StopReason::Timeout), _) => (
            RunStatus::TimedOut,
            format!(
                "exceeded its timeout of {}; stopped after {english_secs}",
                format_duration(job.job.timeout)
            ),
            texts::format(
                lang,
                "job_timed_out",
                &[
                    ("name", name),
                    ("secs", &secs),
                    ("timeout", &format_duration(job.job.timeout)),
                ],
            ),
        ),
        (Some(StopReason::Interrupted(signal)), _) => (
            RunStatus::Failed,
            format!("stopped after {english_secs} because drkit run received {signal}"),
            texts::format(
                lang,
                "job_interrupted",
                &[("name", name), ("secs", &secs), ("signal", &signal)],
            ),
        ),
        (_, Some(Ended::Code(0))) => (
            RunStatus::Ok,
            format!("exit code 0 after {english_secs}"),
            texts::format(lang, "job_ok", &[("name", name), ("secs", &secs)]),
        ),
        (_, ended) => {
            let end_text = describe_end(lang, ended);
            (
                RunStatus::Failed,
                format!("{} after {english_secs}", describe_end(crate::i18n::Lang::En, ended)),
                texts::format(
                    lang,
                    "job_failed",
                    &[("name", name), ("secs", &secs), ("detail", &end_text)],
                ),
            )
        }
    };
    detail.push_str(&stop_note(job));
    Outcome { status, detail, line }
}

/// Describes how the job process ended: "exit code 1", "ended by signal SIGKILL".
fn describe_end(lang: crate::i18n::Lang, ended: Option<Ended>) -> String {
    match ended {
        Some(Ended::Code(code)) => texts::format(lang, "exit_code", &[("code", &code)]),
        Some(Ended::Signal(signal)) => texts::format(lang, "killed_by", &[("signal", &signal)]),
        None => texts::format(lang, "killed_by", &[("signal", &"?")]),
    }
}

/// Returns the note on how the job's process group was stopped, for the stored detail.
fn stop_note(job: &Running) -> String {
    let Some(stop) = &job.stop else {
        return String::new();
    };
    let group = job.group.as_raw();
    let mut note = match (stop.reason, stop.killed_at) {
        (StopReason::Leftovers, None) => {
            format!("; processes left in group {group} were stopped with SIGTERM")
        }
        (StopReason::Leftovers, Some(_)) => {
            format!("; processes left in group {group} needed SIGKILL")
        }
        (_, None) => format!("; process group {group} stopped with SIGTERM"),
        (_, Some(_)) => format!("; process group {group} needed SIGKILL after {}s", GRACE.as_secs()),
    };
    if job.ended.is_none() || process::group_alive(job.group) {
        note.push_str(&format!(
            "; group {group} still had processes {}s after SIGKILL",
            KILL_WAIT.as_secs()
        ));
    }
    note
}
