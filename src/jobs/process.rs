//! Process plumbing of the runner: job processes in their own process
//! groups, reaping, signals to whole groups, and the runner's own SIGINT,
//! SIGTERM and SIGHUP.
//!
//! Each job runs as `drkit job-exec JOB` in a new process group whose id is
//! the child's pid, so a timeout can stop the job and everything it started
//! with one `killpg`. The runner makes itself a child subreaper
//! (PR_SET_CHILD_SUBREAPER): processes orphaned inside a job are reparented
//! to it and reaped by `reap`, so a group that is empty has really ended,
//! whatever the host's init does with orphans.
//!
//! A job's group is not the terminal's foreground group, so Ctrl-C reaches
//! only the runner. The runner blocks SIGINT, SIGTERM and SIGHUP and reads
//! them from a signalfd, then stops the jobs itself (see `runner`). A child
//! started with `process_group` inherits that signal mask (observed with
//! Rust 1.95), so `drkit job-exec` unblocks the three signals first. A
//! signal that arrived before then is delivered at that moment.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use nix::errno::Errno;
use nix::sys::signal::{killpg, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// End of a job process: its exit code, or the signal that ended it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Code(i32),
    Signal(Signal),
}

/// Arguments of a `drkit job-exec` child.
pub struct Launch<'a> {
    pub config: &'a Path,
    pub lang: Option<&'a str>,
    pub verbose: u8,
    pub job: &'a str,
    pub run_id: i64,
}

/// Starts `drkit job-exec JOB` from the running binary in a new process
/// group and returns its pid, which is also the group id. Standard input is
/// /dev/null; output goes where the runner's goes.
pub fn spawn_job(launch: &Launch) -> std::io::Result<Pid> {
    let exe = std::env::current_exe()?;
    let mut command = Command::new(exe);
    command.arg("--config").arg(launch.config);
    if let Some(lang) = launch.lang {
        command.arg("--lang").arg(lang);
    }
    for _ in 0..launch.verbose {
        command.arg("-v");
    }
    command
        .arg("job-exec")
        .arg(launch.job)
        .env(crate::commands::RUN_ID_ENV, launch.run_id.to_string())
        .env(super::JOB_ENV, launch.job)
        .stdin(Stdio::null())
        .process_group(0);
    let child = command.spawn()?;
    // The runner reaps its children with `reap`; dropping `Child` neither waits nor kills.
    Ok(Pid::from_raw(child.id() as i32))
}

/// Makes this process the reaper of orphans among its descendants; a
/// failure is logged, and orphans then go to init.
pub fn become_subreaper() {
    if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
        tracing::warn!(error = %e, "cannot become a child subreaper; processes orphaned inside a job are reaped by init");
    }
}

/// Collects every child that has ended, without waiting, and returns the
/// pid and outcome of each. Children that the runner did not start itself
/// (orphans of a job) are reaped as well and returned like the others.
///
/// NOTE: this waits for any child, so nothing else in the runner process
/// may start and wait for children while jobs are running.
pub fn reap() -> Vec<(Pid, Ended)> {
    let mut ended = Vec::new();
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => ended.push((pid, Ended::Code(code))),
            Ok(WaitStatus::Signaled(pid, signal, _)) => ended.push((pid, Ended::Signal(signal))),
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => break,
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "waitpid failed");
                break;
            }
        }
    }
    ended
}

/// Sends `signal` to every process of group `group`; a group that is
/// already empty is not an error.
pub fn signal_group(group: Pid, signal: Signal) {
    match killpg(group, signal) {
        Ok(()) | Err(Errno::ESRCH) => {}
        Err(e) => {
            tracing::warn!(group = group.as_raw(), signal = %signal, error = %e, "cannot signal the process group")
        }
    }
}

/// Tells whether any process, zombies included, is left in group `group`.
pub fn group_alive(group: Pid) -> bool {
    !matches!(killpg(group, None), Err(Errno::ESRCH))
}

/// Returns the signals that the runner blocks and turns into a stop of its jobs.
fn stop_signal_set() -> SigSet {
    let mut mask = SigSet::empty();
    for signal in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        mask.add(signal);
    }
    mask
}

/// Unblocks SIGINT, SIGTERM and SIGHUP in a job process, which inherits
/// them blocked from the runner, so a timeout's SIGTERM ends it.
pub fn unblock_stop_signals() {
    if let Err(e) = stop_signal_set().thread_unblock() {
        tracing::error!(error = %e, "cannot unblock SIGTERM; the runner will need SIGKILL to stop this job");
    }
}

/// SIGINT, SIGTERM and SIGHUP sent to the runner, read without waiting.
pub struct StopSignals {
    fd: SignalFd,
}

impl StopSignals {
    /// Blocks the three signals for this thread and opens a signalfd for
    /// them. Call it before any other thread starts, so that no thread
    /// keeps the default action of ending the process.
    pub fn block() -> nix::Result<StopSignals> {
        let mask = stop_signal_set();
        mask.thread_block()?;
        let fd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
        Ok(StopSignals { fd })
    }

    /// Returns a signal received since the last call, if any.
    pub fn pending(&mut self) -> Option<Signal> {
        let info = self.fd.read_signal().ok()??;
        Signal::try_from(info.ssi_signo as i32).ok()
    }
}
