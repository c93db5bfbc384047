//! `drkit agent --root DIR`: the peer's side of a sync over SSH.

use std::os::fd::AsFd;
use std::path::PathBuf;

use clap::Args;

use crate::exit::Exit;
use crate::transport::agent::{serve, AgentError, AgentOptions};
use crate::GlobalArgs;

#[derive(Debug, Args)]
pub struct AgentArgs {
    /// Folder the agent never leaves: every replica and versions folder must lie inside it
    #[arg(long, value_name = "DIR")]
    pub root: PathBuf,
    /// Folder for the agent's database and locks
    #[arg(long, value_name = "DIR", default_value = "/var/lib/drkit/agent")]
    pub state: PathBuf,
}

/// Serves one primary on stdin/stdout. Logs go to stderr only (warnings),
/// since stdout carries the protocol.
pub fn execute(global: &GlobalArgs, args: &AgentArgs) -> Exit {
    crate::logging::init(global.verbose, None);
    let streams = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .and_then(|input| Ok((input, std::io::stdout().as_fd().try_clone_to_owned()?)));
    let (input, output) = match streams {
        Ok(pair) => pair,
        Err(e) => {
            tracing::error!(error = %e, "cannot use stdin and stdout");
            return Exit::Failed;
        }
    };
    let options = AgentOptions {
        root: args.root.clone(),
        state: args.state.clone(),
    };
    match serve(&options, std::fs::File::from(input), std::fs::File::from(output)) {
        Ok(()) => Exit::Ok,
        Err(AgentError::Refused(message)) => {
            tracing::error!(%message, "agent rejected the session");
            Exit::Failed
        }
        Err(AgentError::Protocol(e)) => {
            tracing::error!(error = %e, "agent session ended");
            Exit::Failed
        }
    }
}
