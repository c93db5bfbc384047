//! One SSH session per peer and run, with `drkit agent` started on it.

use std::io::Read;

use crate::config::Node;
use crate::i18n::{self, Lang, Row};
use crate::sync::remote::{Agent, AgentFailure};
use crate::transport::protocol::ProtocolError;
use crate::transport::ssh::{self, SshError};

/// An agent running on a peer, reached over SSH.
pub struct PeerLink {
    pub agent: Agent<ssh2::Stream, ssh2::Stream>,
    /// `user@host:port`.
    pub endpoint: String,
    channel: ssh2::Channel,
    _session: ssh::Session,
}

/// Failure to reach a peer's agent.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("{0}")]
    Ssh(#[from] SshError),
    /// The agent did not start or refused the session.
    #[error("{message}")]
    Agent { message: String },
}

impl PeerError {
    pub fn message(&self, lang: Lang) -> String {
        match self {
            PeerError::Ssh(e) => e.message(lang),
            PeerError::Agent { message } => message.clone(),
        }
    }
}

const TEXTS: &[Row] = &[
    ("agent_not_started", "{endpoint}: the agent did not start: `{command}` ended with exit status {status}{stderr}. Install the same drkit release on the peer and check the command in the node's `agent` key and in authorized_keys.", "{endpoint}: el agente no arrancó: `{command}` terminó con el estado de salida {status}{stderr}. Instale la misma versión de drkit en el par y revise el comando de la clave `agent` del nodo y de authorized_keys."),
    ("agent_refused", "{endpoint}: the agent refused the session: {reason}", "{endpoint}: el agente rechazó la sesión: {reason}"),
];

/// Connects to `node`, starts its agent and checks the protocol version.
pub fn open(node: &Node, lang: Lang) -> Result<PeerLink, PeerError> {
    let session = ssh::connect(node)?;
    let endpoint = session.endpoint().to_string();
    let mut channel = session.exec(&node.agent)?;
    let input = channel.stream(0);
    let output = channel.stream(0);
    match Agent::handshake(input, output, lang) {
        Ok(agent) => Ok(PeerLink {
            agent,
            endpoint,
            channel,
            _session: session,
        }),
        Err(AgentFailure::Protocol(ProtocolError::Closed | ProtocolError::Io(_))) => {
            let mut stderr = String::new();
            let _ = channel.stderr().take(4096).read_to_string(&mut stderr);
            let _ = channel.wait_close();
            let status = channel
                .exit_status()
                .map_or_else(|_| "?".to_string(), |s| s.to_string());
            let stderr = stderr.trim();
            let stderr = if stderr.is_empty() {
                String::new()
            } else {
                format!(" ({stderr})")
            };
            Err(PeerError::Agent {
                message: i18n::format(
                    TEXTS,
                    lang,
                    "agent_not_started",
                    &[
                        ("endpoint", &endpoint),
                        ("command", &node.agent),
                        ("status", &status),
                        ("stderr", &stderr),
                    ],
                ),
            })
        }
        Err(e) => Err(PeerError::Agent {
            message: i18n::format(TEXTS, lang, "agent_refused", &[("endpoint", &endpoint), ("reason", &e)]),
        }),
    }
}

impl PeerLink {
    /// Says goodbye to the agent and waits for it to end.
    pub fn close(self) {
        let PeerLink { agent, mut channel, .. } = self;
        agent.bye();
        let _ = channel.send_eof();
        let _ = channel.wait_close();
    }

    /// Drops a broken link, waiting at most a second on the peer, and logs
    /// the agent's stderr, which shows why it stopped.
    pub fn abandon(self) {
        self._session.set_timeout(std::time::Duration::from_secs(1));
        let mut stderr = String::new();
        let _ = self.channel.stderr().take(4096).read_to_string(&mut stderr);
        let stderr = stderr.trim();
        if !stderr.is_empty() {
            tracing::warn!(peer = %self.endpoint, stderr, "the agent stopped");
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn table_is_complete() {
        crate::i18n::check_table(super::TEXTS).unwrap();
    }
}
