//! Databases: consistent dumps of MariaDB/MySQL and PostgreSQL servers into a
//! folder that a sync set replicates, restore of those dumps on the
//! secondary, and the lag of native replicas.
//!
//! Each `[[database]]` entry of the config names one server. `dump` writes
//! one file per database (`<db>.sql` from mariadb-dump, `<db>.dump` from
//! `pg_dump -Fc`, plus `globals.sql` from `pg_dumpall --globals-only`) and a
//! `<file>.meta.json` beside it holding the time the dump started. Every file
//! is written under a temporary name, checked, flushed and renamed, so a
//! failed dump leaves the previous one in place.

pub mod client;
pub mod dump;
pub mod lag;
pub mod live;
pub mod restore;
pub mod texts;

use std::path::PathBuf;

pub use dump::{dump_server, DumpSummary};
pub use lag::{replica_lag, LagReport};
pub use restore::{restore_server, RestoreOptions};

/// Failure of a client program or of the files around it.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("cannot start {program}: {source}")]
    Spawn { program: String, source: std::io::Error },
    #[error("{programs} not found in {searched}")]
    ProgramMissing { programs: String, searched: String },
    #[error("{program} failed (exit code {}): {stderr}", code.map_or_else(|| "none".to_string(), |c| c.to_string()))]
    Program {
        program: String,
        code: Option<i32>,
        stderr: String,
    },
    #[error("{program} exited with 0 but its output {path} is incomplete: {detail}")]
    Incomplete {
        program: String,
        path: PathBuf,
        detail: String,
    },
}

/// The likely reason of a failure, which decides the fix a message suggests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    AccessDenied,
    ServerDown,
    DiskFull,
    ProgramMissing,
    Other,
}

impl DbError {
    /// Guesses the cause from the error and the program's stderr.
    pub fn cause(&self) -> Cause {
        let text = match self {
            DbError::Io { source, .. } if source.raw_os_error() == Some(libc::ENOSPC) => return Cause::DiskFull,
            DbError::Io { source, .. } => source.to_string(),
            DbError::ProgramMissing { .. } => return Cause::ProgramMissing,
            DbError::Spawn { .. } => return Cause::ProgramMissing,
            DbError::Program { stderr, .. } => stderr.clone(),
            DbError::Incomplete { detail, .. } => detail.clone(),
        };
        classify(&text)
    }
}

/// Maps the wording of MariaDB, MySQL and PostgreSQL client errors to a cause.
fn classify(stderr: &str) -> Cause {
    let text = stderr.to_ascii_lowercase();
    let any = |needles: &[&str]| needles.iter().any(|n| text.contains(n));
    if any(&["no space left", "errno 28", "errno: 28", "disk full"]) {
        Cause::DiskFull
    } else if any(&[
        "access denied",
        "password authentication failed",
        "no password supplied",
        "authentication failed",
        "role \"",
    ]) {
        Cause::AccessDenied
    } else if any(&[
        "can't connect",
        "connection refused",
        "no such file or directory",
        "could not connect",
        "connection to server",
        "lost connection",
        "server has gone away",
        "timeout expired",
    ]) {
        Cause::ServerDown
    } else {
        Cause::Other
    }
}

/// Encodes a database name as a file name: letters, digits, '_', '-' and
/// '.' stay, every other byte becomes `%XX`, and a leading '.' is encoded
/// too, so no name hides a file or escapes the dump folder.
pub fn file_stem(database: &str) -> String {
    let mut out = String::new();
    for (i, byte) in database.bytes().enumerate() {
        let keep = byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-' || (byte == b'.' && i > 0);
        if keep {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_stem_encodes_unsafe_bytes() {
        assert_eq!(file_stem("wp_site-1"), "wp_site-1");
        assert_eq!(file_stem("../x y"), "%2E.%2Fx%20y");
        assert_eq!(file_stem("ñ"), "%C3%B1");
    }

    #[test]
    fn causes_from_client_messages() {
        assert_eq!(
            classify("mariadb-dump: Got error: 1045: \"Access denied for user 'wp'@'localhost'\""),
            Cause::AccessDenied
        );
        assert_eq!(
            classify("Got error: 2002: \"Can't connect to local server through socket '/x' (2)\""),
            Cause::ServerDown
        );
        assert_eq!(classify("mariadb-dump: Got errno 28 on write"), Cause::DiskFull);
        assert_eq!(
            classify("pg_dump: error: connection to server at \"127.0.0.1\", port 1 failed: Connection refused"),
            Cause::ServerDown
        );
    }
}
