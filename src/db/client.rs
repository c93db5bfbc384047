//! Runs the client programs of a configured server (mariadb, mariadb-dump,
//! psql, pg_dump, …) with its connection and credentials.
//!
//! The password never appears on a command line or in the environment: for
//! MySQL it goes into a temporary option file passed with
//! `--defaults-extra-file`, for PostgreSQL into a temporary password file
//! named by `PGPASSFILE`. Both are created with mode 0600 in drkit's data
//! folder (itself 0700) and removed when the `Client` is dropped.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::config::{Database, DatabaseKind, DbConnection};

use super::DbError;

/// Seconds a client program waits for the server to accept a connection.
const CONNECT_TIMEOUT_SECS: u32 = 10;

/// Environment variables that could slip another password or server into a client program.
const CLEARED_ENV: &[&str] = &[
    "MYSQL_PWD",
    "MYSQL_HOST",
    "MYSQL_TCP_PORT",
    "MYSQL_UNIX_PORT",
    "PGPASSWORD",
    "PGPASSFILE",
    "PGSERVICE",
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGUSER",
    "PGDATABASE",
    "PGOPTIONS",
];

/// Client programs of one configured server, ready to connect.
pub struct Client<'a> {
    pub db: &'a Database,
    /// MySQL option file or PostgreSQL password file; removed on drop.
    credentials: Option<PathBuf>,
}

impl Drop for Client<'_> {
    fn drop(&mut self) {
        if let Some(path) = &self.credentials {
            if let Err(e) = std::fs::remove_file(path) {
                tracing::warn!(path = %path.display(), error = %e, "cannot remove a temporary credentials file");
            }
        }
    }
}

impl<'a> Client<'a> {
    /// Prepares the credentials of `db` in `private_dir` (a folder only root can read).
    pub fn new(db: &'a Database, private_dir: &Path) -> Result<Client<'a>, DbError> {
        let password = match &db.password_file {
            Some(path) => Some(read_password(path)?),
            None => None,
        };
        let content = match db.kind {
            DatabaseKind::Mysql => Some(mysql_option_file(db, password.as_deref())),
            DatabaseKind::Postgresql => password.as_deref().map(pgpass_line),
        };
        let credentials = match content {
            Some(text) => Some(write_private(private_dir, &text)?),
            None => None,
        };
        Ok(Client { db, credentials })
    }

    /// Builds a command for one of the server's client programs. The first
    /// name found in `bin_dir` (or on PATH) wins, so "mariadb-dump" can fall
    /// back to "mysqldump".
    pub fn command(&self, programs: &[&str]) -> Result<Command, DbError> {
        let program = find_program(self.db.bin_dir.as_deref(), programs)?;
        let mut command = Command::new(&program);
        for var in CLEARED_ENV {
            command.env_remove(var);
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        match self.db.kind {
            DatabaseKind::Mysql => {
                // The option file must be the first argument, or the programs reject it.
                if let Some(path) = &self.credentials {
                    command.arg(format!("--defaults-extra-file={}", path.display()));
                }
            }
            DatabaseKind::Postgresql => {
                if let Some(path) = &self.credentials {
                    command.env("PGPASSFILE", path);
                }
                command.env("PGCONNECT_TIMEOUT", CONNECT_TIMEOUT_SECS.to_string());
                command.args(pg_connection_args(self.db));
            }
        }
        Ok(command)
    }

    /// Runs one SQL statement in `database` (or the server's default) and
    /// returns the rows, fields split; NULL reads as "NULL" from MySQL and as
    /// an empty field from PostgreSQL.
    pub fn query(&self, database: Option<&str>, sql: &str) -> Result<Vec<Vec<String>>, DbError> {
        let text = self.query_text(database, sql, false)?;
        Ok(split_rows(&text, self.field_separator()))
    }

    /// Runs a MySQL statement and returns its rows as (column, value) pairs,
    /// for statements such as SHOW REPLICA STATUS whose columns vary by version.
    pub fn query_named(&self, sql: &str) -> Result<Vec<Vec<(String, String)>>, DbError> {
        let text = self.query_text(None, sql, true)?;
        let mut rows = split_rows(&text, '\t').into_iter();
        let Some(header) = rows.next() else {
            return Ok(Vec::new());
        };
        Ok(rows.map(|row| header.iter().cloned().zip(row).collect()).collect())
    }

    fn field_separator(&self) -> char {
        match self.db.kind {
            DatabaseKind::Mysql => '\t',
            DatabaseKind::Postgresql => '\u{1f}',
        }
    }

    fn query_text(&self, database: Option<&str>, sql: &str, header: bool) -> Result<String, DbError> {
        let mut command = match self.db.kind {
            DatabaseKind::Mysql => {
                let mut command = self.command(&["mariadb", "mysql"])?;
                // mariadb-dump has no connect timeout; the interactive client does.
                command.arg(format!("--connect-timeout={CONNECT_TIMEOUT_SECS}"));
                command.args(["--batch", "--raw", "--default-character-set=utf8mb4"]);
                if !header {
                    command.arg("--skip-column-names");
                }
                if let Some(name) = database {
                    command.arg(format!("--database={name}"));
                }
                command.args(["-e", sql]);
                command
            }
            DatabaseKind::Postgresql => {
                let mut command = self.command(&["psql"])?;
                command.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-F", "\u{1f}"]);
                command.args(["-d", database.unwrap_or("postgres"), "-c", sql]);
                command
            }
        };
        let output = run(&mut command)?;
        check_status(&command, &output)?;
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

/// Runs `command` to completion, collecting its output.
pub fn run(command: &mut Command) -> Result<Output, DbError> {
    command.output().map_err(|source| DbError::Spawn {
        program: program_name(command),
        source,
    })
}

/// Turns a non-zero exit into `DbError::Program` with the end of stderr.
pub fn check_status(command: &Command, output: &Output) -> Result<(), DbError> {
    if output.status.success() {
        return Ok(());
    }
    Err(DbError::Program {
        program: program_name(command),
        code: output.status.code(),
        stderr: stderr_tail(&output.stderr),
    })
}

/// Returns the file name of the program `command` runs.
pub fn program_name(command: &Command) -> String {
    Path::new(command.get_program())
        .file_name()
        .map_or_else(|| "?".to_string(), |n| n.to_string_lossy().into_owned())
}

/// Returns the last lines of a program's stderr, enough to show the cause.
pub fn stderr_tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(4);
    lines[start..].join(" / ")
}

fn split_rows(text: &str, separator: char) -> Vec<Vec<String>> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.split(separator).map(str::to_string).collect())
        .collect()
}

fn pg_connection_args(db: &Database) -> Vec<String> {
    let (host, port) = match &db.connection {
        DbConnection::Socket { path, port } => (path.display().to_string(), port.unwrap_or(5432)),
        DbConnection::Tcp { host, port } => (host.clone(), *port),
    };
    vec![
        "-h".into(),
        host,
        "-p".into(),
        port.to_string(),
        "-U".into(),
        db.user.clone(),
        // Never prompt for a password: fail instead, as cron has no terminal.
        "-w".into(),
    ]
}

/// Reads the first line of the password file.
fn read_password(path: &Path) -> Result<String, DbError> {
    let text = std::fs::read_to_string(path).map_err(|source| DbError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(text.lines().next().unwrap_or("").to_string())
}

/// Builds the `[client]` option file read by every MySQL client program.
fn mysql_option_file(db: &Database, password: Option<&str>) -> String {
    let mut text = String::from("[client]\n");
    text.push_str(&format!("user={}\n", option_value(&db.user)));
    if let Some(password) = password {
        text.push_str(&format!("password={}\n", option_value(password)));
    }
    match &db.connection {
        DbConnection::Socket { path, .. } => {
            text.push_str(&format!("socket={}\n", option_value(&path.display().to_string())));
        }
        DbConnection::Tcp { host, port } => {
            text.push_str(&format!("host={}\nport={port}\nprotocol=tcp\n", option_value(host)));
        }
    }
    text
}

/// Quotes an option file value, escaping backslashes and double quotes.
fn option_value(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Builds a `.pgpass` line matching any server, database and user.
fn pgpass_line(password: &str) -> String {
    format!("*:*:*:*:{}\n", password.replace('\\', "\\\\").replace(':', "\\:"))
}

/// Writes `text` to a new file with mode 0600 in `dir` and returns its path.
fn write_private(dir: &Path, text: &str) -> Result<PathBuf, DbError> {
    let path = dir.join(format!(".db-client-{:016x}", rand::random::<u64>()));
    let io = |source| DbError::Io {
        path: path.clone(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)?;
    Ok(path)
}

/// Finds the first of `programs` in `bin_dir`, else on PATH.
fn find_program(bin_dir: Option<&Path>, programs: &[&str]) -> Result<PathBuf, DbError> {
    let dirs: Vec<PathBuf> = match bin_dir {
        Some(dir) => vec![dir.to_path_buf()],
        None => std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).collect())
            .unwrap_or_default(),
    };
    for program in programs {
        for dir in &dirs {
            let candidate = dir.join(program);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(DbError::ProgramMissing {
        programs: programs.join(" or "),
        searched: bin_dir.map_or_else(|| "PATH".to_string(), |d| d.display().to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_values_are_quoted() {
        assert_eq!(option_value(r#"pa"ss\word"#), r#""pa\"ss\\word""#);
    }

    #[test]
    fn pgpass_escapes_colons() {
        assert_eq!(pgpass_line(r"a:b\c"), "*:*:*:*:a\\:b\\\\c\n");
    }
}
