//! SSH transport to a peer node, with libssh2 through the `ssh2` crate.
//!
//! `connect` opens an authenticated session after checking the peer's host
//! key against the node's known_hosts file. `Session::exec` starts a remote
//! command (the agent) on a channel. Every failure is an `SshError` that
//! names the node, `user@host:port`, the failed step and what to do, in
//! English or Spanish.

pub mod known_hosts;
mod session;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::Node;
use crate::i18n::{self, Lang, Row};

pub use known_hosts::{HostKey, Lookup};
pub use session::{connect, fetch_host_key, Session};

/// Messages of SSH errors: what failed, then what to do.
const TEXTS: &[Row] = &[
    (
        "prefix",
        "node \"{node}\" ({target})",
        "nodo \"{node}\" ({target})",
    ),
    (
        "key_unreadable",
        "cannot read the private key {path}: {error}. Set key in [nodes.{node}] to the private key drkit logs in with, or create one with: ssh-keygen -t ed25519 -N '' -f {path}",
        "no se puede leer la clave privada {path}: {error}. Ponga en key de [nodes.{node}] la clave privada con la que drkit entra, o cree una con: ssh-keygen -t ed25519 -N '' -f {path}",
    ),
    (
        "key_permissions",
        "the private key {path} is accessible to users other than its owner (mode {mode}), so it was not used and nothing was sent. Run: chmod 600 {path}",
        "la clave privada {path} es accesible para otros usuarios además de su dueño (modo {mode}), así que no se usó y no se envió nada. Ejecute: chmod 600 {path}",
    ),
    (
        "known_hosts_unreadable",
        "cannot read the known_hosts file {path}: {error}. Check known_hosts in [nodes.{node}] and the file's permissions",
        "no se puede leer el archivo known_hosts {path}: {error}. Revise known_hosts en [nodes.{node}] y los permisos del archivo",
    ),
    (
        "resolve_failed",
        "cannot resolve the address {address}: {error}. Check address in [nodes.{node}] and the DNS",
        "no se puede resolver la dirección {address}: {error}. Revise address en [nodes.{node}] y el DNS",
    ),
    (
        "connect_failed",
        "connect failed: {error}. Check that sshd runs on the peer and listens on port {port}, and that no firewall blocks it",
        "falló la conexión: {error}. Compruebe que sshd funciona en el par y escucha en el puerto {port}, y que ningún cortafuegos lo bloquea",
    ),
    (
        "connect_timed_out",
        "connect timed out after {timeout}. Check that the peer is up and that no firewall drops traffic to port {port}; connect_timeout in [nodes.{node}] sets the limit",
        "la conexión superó el tiempo límite de {timeout}. Compruebe que el par está en marcha y que ningún cortafuegos descarta el tráfico al puerto {port}; connect_timeout en [nodes.{node}] fija el límite",
    ),
    (
        "handshake_failed",
        "SSH handshake failed: {error}. Check that port {port} on the peer is an SSH server",
        "falló la negociación SSH: {error}. Compruebe que el puerto {port} del par es un servidor SSH",
    ),
    (
        "host_key_unknown",
        "the host key is unknown: {key_type} {fingerprint} is not pinned in {known_hosts}, so nothing was sent.\n  Compare this fingerprint with the one the peer shows (on the peer: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then run: drkit peer trust {node}",
        "la clave de host es desconocida: {key_type} {fingerprint} no está fijada en {known_hosts}, así que no se envió nada.\n  Compare esta huella con la que muestra el par (en el par: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) y después ejecute: drkit peer trust {node}",
    ),
    (
        "host_key_changed",
        "WARNING: THE HOST KEY HAS CHANGED. Nothing was sent.\n  {known_hosts} line {line} pins {pinned_type} {pinned_fingerprint} for this host,\n  but the peer now presents {key_type} {fingerprint}.\n  This can be an attack (someone intercepting the connection) or a reinstalled host.\n  Check the new fingerprint on the peer itself (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub); only if it matches, replace the pinned key with: drkit peer trust {node}",
        "AVISO: LA CLAVE DE HOST HA CAMBIADO. No se envió nada.\n  {known_hosts} línea {line} fija {pinned_type} {pinned_fingerprint} para este host,\n  pero el par presenta ahora {key_type} {fingerprint}.\n  Puede ser un ataque (alguien que intercepta la conexión) o un host reinstalado.\n  Compruebe la nueva huella en el propio par (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub); solo si coincide, sustituya la clave fijada con: drkit peer trust {node}",
    ),
    (
        "host_key_revoked",
        "the host key {key_type} {fingerprint} is marked @revoked in {known_hosts} line {line}, so nothing was sent. Give the peer a new host key, check its fingerprint there, then run: drkit peer trust {node}",
        "la clave de host {key_type} {fingerprint} está marcada @revoked en {known_hosts} línea {line}, así que no se envió nada. Dé al par una clave de host nueva, compruebe allí su huella y después ejecute: drkit peer trust {node}",
    ),
    (
        "auth_failed",
        "authentication failed with the key {key}: {error}. Check that the peer's authorized_keys for user {user} holds the public key {key}.pub",
        "falló la autenticación con la clave {key}: {error}. Compruebe que el authorized_keys del usuario {user} en el par contiene la clave pública {key}.pub",
    ),
    (
        "auth_rejected",
        "the peer rejected the key",
        "el par rechazó la clave",
    ),
    (
        "exec_failed",
        "cannot run \"{command}\" on the peer: {error}. Check agent in [nodes.{node}] and the command= of the key in the peer's authorized_keys",
        "no se puede ejecutar \"{command}\" en el par: {error}. Revise agent en [nodes.{node}] y el command= de la clave en el authorized_keys del par",
    ),
];

fn format(lang: Lang, key: &str, args: &[(&str, &dyn fmt::Display)]) -> String {
    i18n::format(TEXTS, lang, key, args)
}

/// The node an SSH operation was for: its config name and where it logs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub node: String,
    pub user: String,
    pub address: String,
    pub port: u16,
}

impl Endpoint {
    pub fn of(node: &Node) -> Endpoint {
        Endpoint {
            node: node.name.clone(),
            user: node.user.clone(),
            address: node.address.clone(),
            port: node.port,
        }
    }
}

/// Shows `user@host:port`, with an IPv6 address in brackets.
impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.address.contains(':') {
            write!(f, "{}@[{}]:{}", self.user, self.address, self.port)
        } else {
            write!(f, "{}@{}:{}", self.user, self.address, self.port)
        }
    }
}

/// A failed step of an SSH connection. `message` writes it for the user;
/// `Display` writes it in English. The endpoint and host keys are boxed to
/// keep the error, and every `Result` that carries it, small.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    /// The private key cannot be read (missing, not a file, no permission).
    #[error("{}", self.message(Lang::En))]
    KeyUnreadable {
        at: Box<Endpoint>,
        path: PathBuf,
        error: std::io::Error,
    },
    /// The private key is open to group or others.
    #[error("{}", self.message(Lang::En))]
    KeyPermissions {
        at: Box<Endpoint>,
        path: PathBuf,
        mode: u32,
    },
    #[error("{}", self.message(Lang::En))]
    KnownHostsUnreadable {
        at: Box<Endpoint>,
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}", self.message(Lang::En))]
    Resolve { at: Box<Endpoint>, error: std::io::Error },
    /// The TCP connection failed or timed out on every resolved address.
    #[error("{}", self.message(Lang::En))]
    Connect {
        at: Box<Endpoint>,
        error: std::io::Error,
        timeout: Duration,
    },
    #[error("{}", self.message(Lang::En))]
    Handshake { at: Box<Endpoint>, error: ssh2::Error },
    #[error("{}", self.message(Lang::En))]
    HostKeyUnknown {
        at: Box<Endpoint>,
        key: Box<HostKey>,
        known_hosts: PathBuf,
    },
    /// The host is pinned with another key: possibly an attack.
    #[error("{}", self.message(Lang::En))]
    HostKeyChanged {
        at: Box<Endpoint>,
        key: Box<HostKey>,
        pinned: Box<HostKey>,
        known_hosts: PathBuf,
        line: usize,
    },
    #[error("{}", self.message(Lang::En))]
    HostKeyRevoked {
        at: Box<Endpoint>,
        key: Box<HostKey>,
        known_hosts: PathBuf,
        line: usize,
    },
    /// Public-key authentication failed; `error` is None when libssh2
    /// reported success but the session is still unauthenticated.
    #[error("{}", self.message(Lang::En))]
    Auth {
        at: Box<Endpoint>,
        key: PathBuf,
        error: Option<ssh2::Error>,
    },
    #[error("{}", self.message(Lang::En))]
    Exec {
        at: Box<Endpoint>,
        command: String,
        error: ssh2::Error,
    },
}

impl SshError {
    /// Returns the node and address the error is about.
    pub fn endpoint(&self) -> &Endpoint {
        match self {
            SshError::KeyUnreadable { at, .. }
            | SshError::KeyPermissions { at, .. }
            | SshError::KnownHostsUnreadable { at, .. }
            | SshError::Resolve { at, .. }
            | SshError::Connect { at, .. }
            | SshError::Handshake { at, .. }
            | SshError::HostKeyUnknown { at, .. }
            | SshError::HostKeyChanged { at, .. }
            | SshError::HostKeyRevoked { at, .. }
            | SshError::Auth { at, .. }
            | SshError::Exec { at, .. } => at.as_ref(),
        }
    }

    /// Writes the error in `lang`: `node "NAME" (user@host:port): ` and the
    /// failed step with what to do.
    pub fn message(&self, lang: Lang) -> String {
        let at = self.endpoint();
        let prefix = format(lang, "prefix", &[("node", &at.node), ("target", at)]);
        format!("{prefix}: {}", self.detail(lang))
    }

    fn detail(&self, lang: Lang) -> String {
        let at = self.endpoint();
        let node: &dyn fmt::Display = &at.node;
        let port: &dyn fmt::Display = &at.port;
        match self {
            SshError::KeyUnreadable { path, error, .. } => format(
                lang,
                "key_unreadable",
                &[("path", &path.display()), ("error", error), ("node", node)],
            ),
            SshError::KeyPermissions { path, mode, .. } => format(
                lang,
                "key_permissions",
                &[("path", &path.display()), ("mode", &format_args!("{mode:04o}"))],
            ),
            SshError::KnownHostsUnreadable { path, error, .. } => format(
                lang,
                "known_hosts_unreadable",
                &[("path", &path.display()), ("error", error), ("node", node)],
            ),
            SshError::Resolve { error, .. } => format(
                lang,
                "resolve_failed",
                &[("address", &at.address), ("error", error), ("node", node)],
            ),
            SshError::Connect { error, timeout, .. } if error.kind() == std::io::ErrorKind::TimedOut => format(
                lang,
                "connect_timed_out",
                &[
                    ("timeout", &crate::config::format_duration(*timeout)),
                    ("port", port),
                    ("node", node),
                ],
            ),
            SshError::Connect { error, .. } => format(lang, "connect_failed", &[("error", error), ("port", port)]),
            SshError::Handshake { error, .. } => format(lang, "handshake_failed", &[("error", error), ("port", port)]),
            SshError::HostKeyUnknown { key, known_hosts, .. } => format(
                lang,
                "host_key_unknown",
                &[
                    ("key_type", &key.key_type),
                    ("fingerprint", &key.fingerprint()),
                    ("known_hosts", &known_hosts.display()),
                    ("node", node),
                ],
            ),
            SshError::HostKeyChanged {
                key,
                pinned,
                known_hosts,
                line,
                ..
            } => format(
                lang,
                "host_key_changed",
                &[
                    ("known_hosts", &known_hosts.display()),
                    ("line", line),
                    ("pinned_type", &pinned.key_type),
                    ("pinned_fingerprint", &pinned.fingerprint()),
                    ("key_type", &key.key_type),
                    ("fingerprint", &key.fingerprint()),
                    ("node", node),
                ],
            ),
            SshError::HostKeyRevoked {
                key, known_hosts, line, ..
            } => format(
                lang,
                "host_key_revoked",
                &[
                    ("key_type", &key.key_type),
                    ("fingerprint", &key.fingerprint()),
                    ("known_hosts", &known_hosts.display()),
                    ("line", line),
                    ("node", node),
                ],
            ),
            SshError::Auth { key, error, .. } => {
                let reason = match error {
                    Some(error) => error.to_string(),
                    None => i18n::text(TEXTS, lang, "auth_rejected").to_string(),
                };
                format(
                    lang,
                    "auth_failed",
                    &[("key", &key.display()), ("error", &reason), ("user", &at.user)],
                )
            }
            SshError::Exec { command, error, .. } => format(
                lang,
                "exec_failed",
                &[("command", command), ("error", error), ("node", node)],
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_complete() {
        i18n::check_table(TEXTS).unwrap();
    }

    fn endpoint(address: &str) -> Endpoint {
        Endpoint {
            node: "secondary".to_string(),
            user: "drsync".to_string(),
            address: address.to_string(),
            port: 2222,
        }
    }

    #[test]
    fn endpoint_shows_user_host_port() {
        assert_eq!(endpoint("dr2.example.com").to_string(), "drsync@dr2.example.com:2222");
        assert_eq!(endpoint("fd00::2").to_string(), "drsync@[fd00::2]:2222");
    }

    #[test]
    fn permission_error_names_the_fix() {
        let error = SshError::KeyPermissions {
            at: Box::new(endpoint("h")),
            path: PathBuf::from("/etc/drkit/ssh/id_ed25519"),
            mode: 0o644,
        };
        assert_eq!(
            error.to_string(),
            "node \"secondary\" (drsync@h:2222): the private key /etc/drkit/ssh/id_ed25519 is accessible to users \
             other than its owner (mode 0644), so it was not used and nothing was sent. \
             Run: chmod 600 /etc/drkit/ssh/id_ed25519"
        );
        assert!(error
            .message(Lang::Es)
            .contains("Ejecute: chmod 600 /etc/drkit/ssh/id_ed25519"));
    }
}
