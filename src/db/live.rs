//! Finds the data folders of database servers running on this host, so the
//! config can reject a sync set that would copy their files while they change.
//!
//! Two signs count: a running `mariadbd`, `mysqld` or `postgres` process,
//! whose working directory is its data folder (both servers change into it
//! at startup), and a `postmaster.pid` or MySQL pid file in a known data
//! folder naming a live process. The second sign covers hosts where
//! `/proc/PID/cwd` cannot be read.

use std::path::{Path, PathBuf};

/// Program names of the database servers looked for in /proc.
const SERVER_PROGRAMS: &[&str] = &["mariadbd", "mysqld", "postgres", "postmaster"];

/// Data folders checked for pid files in addition to the configured ones.
const STANDARD_DATADIRS: &[&str] = &["/var/lib/mysql", "/var/lib/postgresql"];

/// A database server found running, with the folder holding its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveServer {
    pub datadir: PathBuf,
    pub pid: u32,
    /// The process name, such as "mariadbd".
    pub program: String,
}

/// Lists the running servers and their data folders: every server process
/// in /proc, plus the live pid files in `configured` folders and the standard
/// ones (`/var/lib/mysql`, and `/var/lib/postgresql/*/*`).
pub fn running_servers(configured: &[PathBuf]) -> Vec<LiveServer> {
    let mut servers = from_processes();
    let mut candidates: Vec<PathBuf> = configured.to_vec();
    for standard in STANDARD_DATADIRS {
        candidates.push(PathBuf::from(standard));
        candidates.extend(subfolders(Path::new(standard), 2));
    }
    for dir in candidates {
        if servers.iter().any(|s| s.datadir == dir) {
            continue;
        }
        if let Some(server) = from_pid_files(&dir) {
            servers.push(server);
        }
    }
    servers
}

/// Reads the working directory of every database server process.
fn from_processes() -> Vec<LiveServer> {
    let mut servers: Vec<LiveServer> = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return servers;
    };
    for entry in entries.filter_map(Result::ok) {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Some(program) = server_program(pid) else {
            continue;
        };
        let Ok(datadir) = std::fs::read_link(entry.path().join("cwd")) else {
            continue;
        };
        if datadir == Path::new("/") || servers.iter().any(|s| s.datadir == datadir) {
            continue;
        }
        servers.push(LiveServer { datadir, pid, program });
    }
    servers
}

/// Returns the process name of `pid` when it is a database server.
fn server_program(pid: u32) -> Option<String> {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    let comm = comm.trim();
    SERVER_PROGRAMS.contains(&comm).then(|| comm.to_string())
}

/// Looks in `dir` for `postmaster.pid` or a `*.pid` file of MySQL naming a
/// live server process.
fn from_pid_files(dir: &Path) -> Option<LiveServer> {
    let entries = std::fs::read_dir(dir).ok()?;
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name != "postmaster.pid" && !name.ends_with(".pid") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        let Some(pid) = text.lines().next().and_then(|l| l.trim().parse::<u32>().ok()) else {
            continue;
        };
        if let Some(program) = server_program(pid) {
            return Some(LiveServer {
                datadir: dir.to_path_buf(),
                pid,
                program,
            });
        }
    }
    None
}

/// Lists the folders under `dir` down to `depth` levels (such as `/var/lib/postgresql/15/main`).
fn subfolders(dir: &Path, depth: usize) -> Vec<PathBuf> {
    if depth == 0 {
        return Vec::new();
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            found.push(entry.path());
            found.extend(subfolders(&entry.path(), depth - 1));
        }
    }
    found
}
