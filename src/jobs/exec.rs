//! `drkit job-exec JOB`: the work of one job, done in the process that
//! `drkit run` started for it.
//!
//! Sync and verify jobs call the same functions as `drkit sync` and
//! `drkit verify`; their results join the run that `DRKIT_RUN_ID` names.
//! Command jobs start their program without a shell, in this process's
//! group, so a timeout stops the program too.

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus, Stdio};
use std::time::Instant;

use super::file::{Job, JobKind};
use super::texts;
use crate::commands::{self, texts::error as print_error, Context};
use crate::exit::Exit;

/// Does the work of `job` in this process and returns its exit code.
pub fn execute(ctx: &mut Context, job: &Job) -> Exit {
    match &job.kind {
        JobKind::Sync { sets } => {
            let args = commands::sync::SyncArgs {
                sets: sets.clone(),
                json: false,
                max_delete: None,
                paths: Vec::new(),
            };
            commands::sync::execute(ctx, &args)
        }
        JobKind::Verify { sets } => {
            let args = commands::verify::VerifyArgs {
                sets: sets.clone(),
                json: false,
            };
            commands::verify::execute(ctx, &args)
        }
        JobKind::Report => crate::report::daily(ctx),
        JobKind::Command { argv } => run_command(ctx, job, argv),
    }
}

/// Runs `argv` (program, then arguments), waits for it and records a
/// "command" result with its exit code or signal and its duration.
fn run_command(ctx: &mut Context, job: &Job, argv: &[String]) -> Exit {
    let run = commands::own_run(ctx, "command");
    let clock = Instant::now();
    let status = Command::new(&argv[0]).args(&argv[1..]).stdin(Stdio::null()).status();
    let duration_ms = clock.elapsed().as_millis() as u64;

    let mut data = serde_json::json!({ "argv": argv, "duration_ms": duration_ms });
    let exit = match status {
        Ok(status) => {
            data["exit_code"] = status.code().into();
            data["signal"] = status.signal().map(|_| signal_name(status)).into();
            check_status(ctx, &argv[0], status)
        }
        Err(e) => {
            data["error"] = e.to_string().into();
            let message = texts::format(ctx.lang, "command_not_started", &[("program", &argv[0]), ("error", &e)]);
            print_error(ctx.lang, &message);
            Exit::Failed
        }
    };

    let status_text = if exit == Exit::Ok { "ok" } else { "failed" };
    commands::record(ctx, run, "command", &job.name, status_text, &data);
    commands::finish_own_run(ctx, run, exit);
    exit
}

/// Returns Ok for a zero exit code; otherwise prints how `program` ended and returns Failed.
fn check_status(ctx: &Context, program: &str, status: ExitStatus) -> Exit {
    if status.success() {
        return Exit::Ok;
    }
    let detail = match status.code() {
        Some(code) => texts::format(ctx.lang, "exit_code", &[("code", &code)]),
        None => texts::format(ctx.lang, "killed_by", &[("signal", &signal_name(status))]),
    };
    let message = texts::format(
        ctx.lang,
        "command_failed",
        &[("program", &program), ("detail", &detail)],
    );
    print_error(ctx.lang, &message);
    Exit::Failed
}

/// Returns the name of the signal that ended a process, such as "SIGTERM".
fn signal_name(status: ExitStatus) -> String {
    match status.signal().map(nix::sys::signal::Signal::try_from) {
        Some(Ok(signal)) => signal.to_string(),
        Some(Err(_)) => status.signal().unwrap_or_default().to_string(),
        None => "?".to_string(),
    }
}
