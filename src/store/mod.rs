//! The SQLite state database (`<data_dir>/drkit.db`).
//!
//! Schema and locking:
//! - Migrations are an append-only list, and `PRAGMA user_version` stores
//!   how many have run. They run in one `BEGIN EXCLUSIVE` transaction, so two drkit
//!   processes starting at once cannot both migrate.
//! - WAL journal with a 30 s busy timeout: many short-lived drkit processes
//!   (cron jobs, a person) read while one writes.
//! - `runs`: one row per invocation of a job or command, with its outcome.
//! - `results`: what a run produced per subject (a sync set, a verify), as JSON.
//! - `manifest`: per set and side, the last known state of every entry, keyed
//!   by the path as bytes; it lets a sync detect changes by `lstat` alone.
//! - `audit`: append-only; every row stores the BLAKE3 hash of the previous
//!   row, so an edited or deleted row breaks the chain (`audit_verify`).
//!
//! Every result is written in its own transaction.

mod audit;
mod manifest;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};

pub use audit::AuditCheck;
pub use manifest::{ManifestReader, ManifestRow, ManifestWriter, Side};

/// Failure of the state database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the data directory {path}: {source}")]
    DataDir { path: PathBuf, source: std::io::Error },
    #[error("state database {path}: {source}")]
    Sqlite { path: PathBuf, source: rusqlite::Error },
    #[error(
        "state database {path} has schema version {found}, newer than this drkit understands ({known}); upgrade drkit"
    )]
    TooNew { path: PathBuf, found: i64, known: i64 },
}

/// Row id of a run.
pub type RunId = i64;

/// Outcome of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Ok,
    Failed,
    TimedOut,
    Skipped,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Ok => "ok",
            RunStatus::Failed => "failed",
            RunStatus::TimedOut => "timed_out",
            RunStatus::Skipped => "skipped",
        }
    }

    fn parse(text: &str) -> RunStatus {
        match text {
            "ok" => RunStatus::Ok,
            "failed" => RunStatus::Failed,
            "timed_out" => RunStatus::TimedOut,
            "skipped" => RunStatus::Skipped,
            _ => RunStatus::Running,
        }
    }
}

/// One row of `runs`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunRow {
    pub id: RunId,
    /// Kind of work: "job", "sync", "verify" or "command".
    pub kind: String,
    /// The job name, or the command for direct invocations.
    pub name: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub status: RunStatus,
    pub detail: String,
}

/// One row of `results`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ResultRow {
    pub id: i64,
    pub run_id: Option<RunId>,
    /// "sync" or "verify" so far.
    pub kind: String,
    /// The set name, or another subject of the result.
    pub subject: String,
    /// "ok" or "failed".
    pub status: String,
    pub at: DateTime<Utc>,
    pub data: serde_json::Value,
}

const MIGRATIONS: &[&str] = &[r"
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    pid INTEGER
);
CREATE INDEX runs_started ON runs(started_at);
CREATE TABLE results (
    id INTEGER PRIMARY KEY,
    run_id INTEGER REFERENCES runs(id),
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    status TEXT NOT NULL,
    at TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX results_subject ON results(kind, subject, id);
CREATE TABLE manifest (
    set_name TEXT NOT NULL,
    side INTEGER NOT NULL,
    key BLOB NOT NULL,
    kind INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    ino INTEGER NOT NULL,
    mode INTEGER NOT NULL,
    uid INTEGER NOT NULL,
    gid INTEGER NOT NULL,
    hash BLOB,
    PRIMARY KEY (set_name, side, key)
) WITHOUT ROWID;
CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL
);
"];

/// An open state database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens (creating and migrating when needed) `<data_dir>/drkit.db`.
    /// The data directory is created with mode 0700 and the database with 0600.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        create_private_dir(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let path = data_dir.join("drkit.db");
        // Switching to WAL and migrating fail at once with "database is
        // locked" while another process does the same on a new database.
        // This lock makes concurrent first opens take turns.
        let _opening = lock_for_open(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let conn = Connection::open(&path).map_err(|source| StoreError::Sqlite {
            path: path.clone(),
            source,
        })?;
        set_private_mode(&path);
        let mut store = Store { conn, path };
        store.configure().map_err(|e| store.err(e))?;
        store.migrate()?;
        Ok(store)
    }

    fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    fn configure(&self) -> rusqlite::Result<()> {
        self.conn.busy_timeout(Duration::from_secs(30))?;
        self.conn.pragma_update(None, "journal_mode", "WAL")?;
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        self.conn.pragma_update(None, "foreign_keys", "ON")?;
        Ok(())
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let known = MIGRATIONS.len() as i64;
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)
            .map_err(|source| StoreError::Sqlite {
                path: self.path.clone(),
                source,
            })?;
        let version: i64 = tx
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(|source| StoreError::Sqlite {
                path: self.path.clone(),
                source,
            })?;
        if version > known {
            return Err(StoreError::TooNew {
                path: self.path.clone(),
                found: version,
                known,
            });
        }
        for sql in &MIGRATIONS[version as usize..] {
            tx.execute_batch(sql).map_err(|source| StoreError::Sqlite {
                path: self.path.clone(),
                source,
            })?;
        }
        tx.pragma_update(None, "user_version", known)
            .and_then(|()| tx.commit())
            .map_err(|source| StoreError::Sqlite {
                path: self.path.clone(),
                source,
            })
    }

    /// Returns the path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records the start of a run and returns its id.
    pub fn begin_run(&self, kind: &str, name: &str) -> Result<RunId, StoreError> {
        self.conn
            .execute(
                "INSERT INTO runs (kind, name, started_at, status, pid) VALUES (?1, ?2, ?3, 'running', ?4)",
                params![kind, name, now_text(), std::process::id()],
            )
            .map_err(|e| self.err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Records how a run ended.
    pub fn finish_run(&self, id: RunId, status: RunStatus, detail: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE runs SET finished_at = ?2, status = ?3, detail = ?4 WHERE id = ?1",
                params![id, now_text(), status.as_str(), detail],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Records a run that did no work, such as a job skipped because its lock was busy.
    pub fn record_skipped_run(&self, kind: &str, name: &str, detail: &str) -> Result<RunId, StoreError> {
        let id = self.begin_run(kind, name)?;
        self.finish_run(id, RunStatus::Skipped, detail)?;
        Ok(id)
    }

    /// Returns the newest runs first.
    pub fn recent_runs(&self, limit: usize) -> Result<Vec<RunRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, kind, name, started_at, finished_at, status, detail FROM runs ORDER BY id DESC LIMIT ?1",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([limit as i64], |row| {
                Ok(RunRow {
                    id: row.get(0)?,
                    kind: row.get(1)?,
                    name: row.get(2)?,
                    started_at: parse_time(&row.get::<_, String>(3)?),
                    finished_at: row.get::<_, Option<String>>(4)?.map(|t| parse_time(&t)),
                    status: RunStatus::parse(&row.get::<_, String>(5)?),
                    detail: row.get(6)?,
                })
            })
            .and_then(Iterator::collect)
            .map_err(|e| self.err(e));
        rows
    }

    /// Stores one result of a run in its own transaction and returns its id.
    pub fn record_result(
        &self,
        run_id: Option<RunId>,
        kind: &str,
        subject: &str,
        status: &str,
        data: &serde_json::Value,
    ) -> Result<i64, StoreError> {
        self.conn
            .execute(
                "INSERT INTO results (run_id, kind, subject, status, at, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![run_id, kind, subject, status, now_text(), data.to_string()],
            )
            .map_err(|e| self.err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Replaces the status and data of result `id`, and moves its time to now.
    pub fn update_result(&self, id: i64, status: &str, data: &serde_json::Value) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE results SET status = ?2, at = ?3, data = ?4 WHERE id = ?1",
                params![id, status, now_text(), data.to_string()],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Returns the newest result of `kind` for `subject`.
    pub fn latest_result(&self, kind: &str, subject: &str) -> Result<Option<ResultRow>, StoreError> {
        self.results_where("kind = ?1 AND subject = ?2", &[&kind, &subject], 1)
            .map(|mut rows| rows.pop())
    }

    /// Returns the newest result of `kind` for `subject` whose status is "ok".
    pub fn latest_ok_result(&self, kind: &str, subject: &str) -> Result<Option<ResultRow>, StoreError> {
        self.results_where("kind = ?1 AND subject = ?2 AND status = 'ok'", &[&kind, &subject], 1)
            .map(|mut rows| rows.pop())
    }

    /// Returns the newest result of `kind` for `subject` whose JSON data has
    /// a non-null top-level `field`.
    pub fn latest_result_with(&self, kind: &str, subject: &str, field: &str) -> Result<Option<ResultRow>, StoreError> {
        let path = format!("$.\"{field}\"");
        self.results_where(
            "kind = ?1 AND subject = ?2 AND json_extract(data, ?3) IS NOT NULL",
            &[&kind, &subject, &path],
            1,
        )
        .map(|mut rows| rows.pop())
    }

    /// Returns results of `kind` recorded at or after `since`, oldest first.
    pub fn results_since(&self, kind: &str, since: DateTime<Utc>) -> Result<Vec<ResultRow>, StoreError> {
        let since = since.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let mut rows = self.results_where("kind = ?1 AND at >= ?2", &[&kind, &since], i64::MAX)?;
        rows.reverse();
        Ok(rows)
    }

    fn results_where(
        &self,
        condition: &str,
        args: &[&dyn rusqlite::ToSql],
        limit: i64,
    ) -> Result<Vec<ResultRow>, StoreError> {
        let sql = format!(
            "SELECT id, run_id, kind, subject, status, at, data FROM results WHERE {condition} ORDER BY id DESC LIMIT {limit}"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(args, |row| {
                let data: String = row.get(6)?;
                Ok(ResultRow {
                    id: row.get(0)?,
                    run_id: row.get(1)?,
                    kind: row.get(2)?,
                    subject: row.get(3)?,
                    status: row.get(4)?,
                    at: parse_time(&row.get::<_, String>(5)?),
                    data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
                })
            })
            .and_then(Iterator::collect)
            .map_err(|e| self.err(e));
        rows
    }

    #[cfg(test)]
    /// Returns the run with `id`, if any.
    pub fn run(&self, id: RunId) -> Result<Option<RunRow>, StoreError> {
        self.conn
            .query_row(
                "SELECT id, kind, name, started_at, finished_at, status, detail FROM runs WHERE id = ?1",
                [id],
                |row| {
                    Ok(RunRow {
                        id: row.get(0)?,
                        kind: row.get(1)?,
                        name: row.get(2)?,
                        started_at: parse_time(&row.get::<_, String>(3)?),
                        finished_at: row.get::<_, Option<String>>(4)?.map(|t| parse_time(&t)),
                        status: RunStatus::parse(&row.get::<_, String>(5)?),
                        detail: row.get(6)?,
                    })
                },
            )
            .map(Some)
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                other => Err(other),
            })
            .map_err(|e| self.err(e))
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    pub(crate) fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

/// Returns the current UTC time in the text form stored in the database.
pub fn now_text() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn parse_time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

/// Takes the exclusive lock held while the database is opened and migrated.
fn lock_for_open(data_dir: &Path) -> std::io::Result<nix::fcntl::Flock<std::fs::File>> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(data_dir.join("drkit.db.open-lock"))?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive).map_err(|(_, errno)| std::io::Error::from(errno))
}

/// Creates `path` and its parents; the last component gets mode 0700.
pub fn create_private_dir(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if path.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(path)
}

fn set_private_mode(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
        tracing::warn!(path = %path.display(), error = %e, "cannot set mode 0600 on the state database");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_migrates_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let version: i64 = store
            .conn()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        drop(store);
        assert!(Store::open(dir.path()).is_ok());
    }

    #[test]
    fn runs_and_results_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let run = store.begin_run("sync", "cli").unwrap();
        store
            .record_result(Some(run), "sync", "www", "ok", &serde_json::json!({"files_changed": 3}))
            .unwrap();
        store.finish_run(run, RunStatus::Ok, "").unwrap();
        let latest = store.latest_result("sync", "www").unwrap().unwrap();
        assert_eq!(latest.data["files_changed"], 3);
        assert_eq!(store.recent_runs(5).unwrap()[0].status, RunStatus::Ok);
    }

    #[test]
    fn newer_schema_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.conn().pragma_update(None, "user_version", 99).unwrap();
        drop(store);
        assert!(matches!(Store::open(dir.path()), Err(StoreError::TooNew { .. })));
    }
}
