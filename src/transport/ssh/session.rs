//! Opening an SSH session to a node: TCP with a timeout, handshake, host
//! key check against known_hosts, public-key authentication.

use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use super::known_hosts::{host_pattern, HostKey, KnownHosts, Lookup};
use super::{Endpoint, SshError};
use crate::config::Node;

/// Host key algorithms libssh2 offers, strongest first; pinned key types
/// are moved to the front so the peer presents the key already pinned.
const HOST_KEY_ALGORITHMS: &[&str] = &[
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "rsa-sha2-512",
    "rsa-sha2-256",
    "ssh-rsa",
];

/// An authenticated SSH session to a node whose host key was checked.
/// Every blocking call on it and on its channels is bounded by the node's
/// `timeout`.
pub struct Session {
    inner: ssh2::Session,
    at: Endpoint,
    host_key: HostKey,
}

impl Session {
    /// Starts `command` on the peer and returns its channel: stdin, stdout
    /// and exit status of the remote command, readable and writable from
    /// one thread.
    pub fn exec(&self, command: &str) -> Result<ssh2::Channel, SshError> {
        let error = |error| SshError::Exec {
            at: Box::new(self.at.clone()),
            command: command.to_string(),
            error,
        };
        let mut channel = self.inner.channel_session().map_err(error)?;
        channel.exec(command).map_err(error)?;
        Ok(channel)
    }

    /// Bounds every later blocking call on the session by `timeout`.
    pub fn set_timeout(&self, timeout: std::time::Duration) {
        self.inner.set_timeout(millis(timeout));
    }

    /// Returns the node and `user@host:port` of the session.
    pub fn endpoint(&self) -> &Endpoint {
        &self.at
    }

    /// Returns the host key the peer presented, which known_hosts pins.
    pub fn host_key(&self) -> &HostKey {
        &self.host_key
    }
}

/// Connects to `node` and authenticates with its key. Nothing is sent to
/// the peer before the key file passed its checks, and nothing but the
/// handshake before the host key matched known_hosts.
pub fn connect(node: &Node) -> Result<Session, SshError> {
    let at = Endpoint::of(node);
    check_key_file(node, &at)?;
    let known = KnownHosts::read(&node.known_hosts).map_err(|error| SshError::KnownHostsUnreadable {
        at: Box::new(at.clone()),
        path: node.known_hosts.clone(),
        error,
    })?;
    let host = host_pattern(&node.address, node.port);

    let (inner, host_key) = handshake(node, &at, &known.pinned_types(&host))?;
    check_host_key(node, &at, &known, &host, &host_key)?;
    authenticate(node, &at, &inner)?;

    inner.set_timeout(millis(node.timeout));
    tracing::debug!(
        node = %node.name,
        target = %at,
        fingerprint = %host_key.fingerprint(),
        cipher = inner.methods(ssh2::MethodType::CryptCs).unwrap_or("?"),
        kex = inner.methods(ssh2::MethodType::Kex).unwrap_or("?"),
        "SSH session open"
    );
    Ok(Session { inner, at, host_key })
}

/// Connects to `node` and returns the host key it presents, without
/// checking it and without authenticating; for `drkit peer trust`.
pub fn fetch_host_key(node: &Node) -> Result<HostKey, SshError> {
    let at = Endpoint::of(node);
    let known = KnownHosts::read(&node.known_hosts).unwrap_or_default();
    let host = host_pattern(&node.address, node.port);
    let (session, key) = handshake(node, &at, &known.pinned_types(&host))?;
    let _ = session.disconnect(None, "host key fetched", None);
    Ok(key)
}

/// Rejects a key file that is missing, unreadable or open to group or
/// others (as OpenSSH's ssh does), before any connection is made.
fn check_key_file(node: &Node, at: &Endpoint) -> Result<(), SshError> {
    let unreadable = |error| SshError::KeyUnreadable {
        at: Box::new(at.clone()),
        path: node.key.clone(),
        error,
    };
    let meta = std::fs::metadata(&node.key).map_err(unreadable)?;
    if !meta.is_file() {
        return Err(unreadable(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        )));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(SshError::KeyPermissions {
            at: Box::new(at.clone()),
            path: node.key.clone(),
            mode,
        });
    }
    std::fs::File::open(&node.key).map_err(unreadable)?;
    Ok(())
}

/// Opens the TCP connection and runs the SSH handshake, preferring the host
/// key types in `pinned_types`; returns the session and the server's host key.
/// Ciphers offered, best first: AES-GCM runs on the CPU's AES instructions
/// through OpenSSL, while libssh2's own ChaCha20-Poly1305 has no SIMD code.
/// OpenSSH servers offer all of them.
const CIPHERS: &str =
    "aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,aes128-ctr,aes256-ctr";

fn handshake(node: &Node, at: &Endpoint, pinned_types: &[String]) -> Result<(ssh2::Session, HostKey), SshError> {
    let tcp = connect_tcp(node, at)?;
    let handshake_error = |error| SshError::Handshake {
        at: Box::new(at.clone()),
        error,
    };

    let mut session = ssh2::Session::new().map_err(handshake_error)?;
    session.set_timeout(millis(node.connect_timeout));
    let preference = host_key_preference(pinned_types);
    if let Err(e) = session.method_pref(ssh2::MethodType::HostKey, &preference) {
        tracing::debug!(error = %e, preference, "host key algorithm preference not accepted; using the default");
    }
    for method in [ssh2::MethodType::CryptCs, ssh2::MethodType::CryptSc] {
        if let Err(e) = session.method_pref(method, CIPHERS) {
            tracing::debug!(error = %e, "cipher preference not accepted; using the default");
        }
    }
    session.set_tcp_stream(tcp);
    session.handshake().map_err(handshake_error)?;

    let blob = session.host_key().map(|(blob, _)| blob.to_vec()).unwrap_or_default();
    let key = HostKey::from_blob(blob).ok_or_else(|| {
        handshake_error(ssh2::Error::new(
            ssh2::ErrorCode::Session(-1),
            "the server sent no valid host key",
        ))
    })?;
    Ok((session, key))
}

/// Connects to each address the node's name resolves to, in turn, each
/// attempt bounded by `connect_timeout`; returns the first that answers.
// NOTE: name resolution itself has no timeout of its own; a hanging DNS
// server delays it by the resolver's timeout (resolv.conf).
fn connect_tcp(node: &Node, at: &Endpoint) -> Result<TcpStream, SshError> {
    let addresses: Vec<_> = (node.address.as_str(), node.port)
        .to_socket_addrs()
        .map_err(|error| SshError::Resolve {
            at: Box::new(at.clone()),
            error,
        })?
        .collect();
    let mut last_error = std::io::Error::new(std::io::ErrorKind::NotFound, "the name has no address");
    for address in addresses {
        match TcpStream::connect_timeout(&address, node.connect_timeout) {
            Ok(stream) => {
                tracing::debug!(node = %node.name, %address, "TCP connected");
                return Ok(stream);
            }
            Err(error) => {
                tracing::debug!(node = %node.name, %address, %error, "TCP connect failed");
                last_error = error;
            }
        }
    }
    Err(SshError::Connect {
        at: Box::new(at.clone()),
        error: last_error,
        timeout: node.connect_timeout,
    })
}

fn check_host_key(node: &Node, at: &Endpoint, known: &KnownHosts, host: &str, key: &HostKey) -> Result<(), SshError> {
    let known_hosts = node.known_hosts.clone();
    match known.check(host, key) {
        Lookup::Known { line } => {
            tracing::debug!(node = %node.name, line, "host key matches known_hosts");
            Ok(())
        }
        Lookup::Unknown => Err(SshError::HostKeyUnknown {
            at: Box::new(at.clone()),
            key: Box::new(key.clone()),
            known_hosts,
        }),
        Lookup::Changed { line, pinned } => Err(SshError::HostKeyChanged {
            at: Box::new(at.clone()),
            key: Box::new(key.clone()),
            pinned: Box::new(pinned),
            known_hosts,
            line,
        }),
        Lookup::Revoked { line } => Err(SshError::HostKeyRevoked {
            at: Box::new(at.clone()),
            key: Box::new(key.clone()),
            known_hosts,
            line,
        }),
    }
}

/// Authenticates with the node's private key only: no password, no ssh-agent.
fn authenticate(node: &Node, at: &Endpoint, session: &ssh2::Session) -> Result<(), SshError> {
    let failed = |error| SshError::Auth {
        at: Box::new(at.clone()),
        key: node.key.clone(),
        error,
    };
    session
        .userauth_pubkey_file(&node.user, None, &node.key, None)
        .map_err(|e| failed(Some(e)))?;
    if !session.authenticated() {
        return Err(failed(None));
    }
    Ok(())
}

/// Builds the host key algorithm list: those of the pinned types first.
fn host_key_preference(pinned_types: &[String]) -> String {
    let mut order: Vec<&str> = Vec::new();
    for key_type in pinned_types {
        let algorithms: &[&str] = match key_type.as_str() {
            "ssh-rsa" => &["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
            other => match HOST_KEY_ALGORITHMS.iter().find(|a| **a == other) {
                Some(found) => std::slice::from_ref(found),
                None => &[],
            },
        };
        for algorithm in algorithms {
            if !order.contains(algorithm) {
                order.push(algorithm);
            }
        }
    }
    for algorithm in HOST_KEY_ALGORITHMS {
        if !order.contains(algorithm) {
            order.push(algorithm);
        }
    }
    order.join(",")
}

/// Converts a timeout for libssh2, which takes milliseconds in a u32 and
/// reads 0 as "no timeout".
fn millis(duration: Duration) -> u32 {
    u32::try_from(duration.as_millis()).unwrap_or(u32::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_types_come_first() {
        let rsa = host_key_preference(&["ssh-rsa".to_string()]);
        assert!(
            rsa.starts_with("rsa-sha2-512,rsa-sha2-256,ssh-rsa,ssh-ed25519,"),
            "{rsa}"
        );
        assert_eq!(host_key_preference(&[]), HOST_KEY_ALGORITHMS.join(","));
    }

    #[test]
    fn millis_never_means_no_timeout() {
        assert_eq!(millis(Duration::ZERO), 1);
        assert_eq!(millis(Duration::from_secs(10)), 10_000);
    }
}
