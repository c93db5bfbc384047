//! `drkit db restore`: loads the dumps found in a replica (or in one of its
//! versions) into the server configured under a `[[database]]` name.
//!
//! Before it replaces an existing database, restore checks for writes newer
//! than the dump, and without `force` it leaves such a database alone:
//! - MariaDB/MySQL: the newest `UPDATE_TIME` or `CREATE_TIME` of the
//!   database's tables (information_schema) against the later of the dump's
//!   start time and the end of drkit's last restore of that database here.
//! - PostgreSQL keeps no time of the last write, so the check compares the
//!   row change counters of `pg_stat_database` with the value drkit stored
//!   right after its own last restore of that database. A non-empty database
//!   that drkit did not restore, or whose counters were reset, cannot be
//!   judged and is left alone without `force`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::client::{check_status, run, Client};
use super::dump::{DumpMeta, GLOBALS_FILE, META_SUFFIX};
use super::DbError;
use crate::config::{Database, DatabaseKind, SyncSet};
use crate::sync::versions::{self, VersionKind};

/// Options of one restore.
#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    /// Restore only this database [default: every dump in the folder].
    pub database: Option<String>,
    /// Restore from this version of the replica instead of its current state.
    pub version: Option<String>,
    /// Replace databases even when they have newer writes.
    pub force: bool,
}

/// The record drkit stored after its last restore of one database on this host.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct PreviousRestore {
    pub finished_at: DateTime<Utc>,
    /// PostgreSQL: tup_inserted + tup_updated + tup_deleted right after that restore.
    pub write_counter: Option<i64>,
}

/// A restore that could not start at all.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("no version {version} in {dir}; available: {available}")]
    VersionNotFound {
        version: String,
        dir: PathBuf,
        available: String,
    },
    #[error("no dump in {dir}")]
    NoDumps { dir: PathBuf },
    #[error("no dump of database {database} in {dir}; available: {available}")]
    DatabaseNotDumped {
        database: String,
        dir: PathBuf,
        available: String,
    },
    /// A batch version was taken after the dump folder or one of its dump
    /// files existed (or before it was first written).
    #[error("{path} did not exist at version {version}")]
    NotAtVersion { version: String, path: PathBuf },
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Outcome of restoring one database, stored as a result of kind "db_restore".
#[derive(Debug, Clone, serde::Serialize)]
pub struct RestoreItem {
    pub server: String,
    pub database: String,
    pub file: PathBuf,
    pub dump_started_at: DateTime<Utc>,
    pub outcome: Outcome,
    pub duration_ms: u64,
    pub finished_at: DateTime<Utc>,
    /// PostgreSQL: the row change counter right after this restore.
    pub write_counter: Option<i64>,
}

/// Outcome of one database's restore.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Restored {
        replaced: bool,
    },
    /// Left alone because of writes newer than the dump.
    Refused {
        reason: Refusal,
    },
    Failed {
        cause: super::Cause,
        detail: String,
    },
}

/// Reason an existing database was left alone.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "check", rename_all = "snake_case")]
pub enum Refusal {
    /// MySQL: a table was created or written after the dump (and after drkit's last restore).
    NewerWrite {
        last_write: DateTime<Utc>,
        since: DateTime<Utc>,
    },
    /// PostgreSQL: rows changed since drkit's last restore.
    ChangedSinceRestore { changes: i64, restored_at: DateTime<Utc> },
    /// PostgreSQL: a database with tables that drkit cannot judge.
    Unknown { tables: i64 },
}

/// Outcome of one `drkit db restore`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RestoreSummary {
    pub server: String,
    pub source_dir: PathBuf,
    pub items: Vec<RestoreItem>,
}

/// State of the target database before a restore.
enum Existing {
    Absent,
    Empty,
    Unchanged,
    Refused(Refusal),
}

/// Returns the folder holding the dumps of `db`: in the replica of its set,
/// or in the named version of that replica.
pub fn dump_source(db: &Database, set: &SyncSet, version: Option<&str>) -> Result<PathBuf, RestoreError> {
    let relative = db.dump_dir.strip_prefix(&set.source).unwrap_or(Path::new(""));
    let Some(version) = version else {
        return Ok(set.target.join(relative));
    };
    let versions = versions::list(&set.versions_dir);
    match versions.iter().find(|v| v.name == version) {
        Some(found) if found.kind == VersionKind::Batch => batch_view(set, version, relative),
        Some(found) => Ok(found.path.join(relative)),
        None => Err(RestoreError::VersionNotFound {
            version: version.to_string(),
            dir: set.versions_dir.clone(),
            available: names_or_none(versions.iter().map(|v| v.name.clone()).collect()),
        }),
    }
}

/// Gathers the dump folder as it was at the batch version `version` into a
/// folder of hard links, because a batch version holds only the entries its
/// batch changed: the others are in later versions or the current replica.
/// Every dump whose meta file existed then must have existed too.
///
/// NOTE: the folder is `.incomplete-view-…` in the versions folder. It stays
/// locked until this process exits, and the next prune after that removes
/// it. Messages and results name the files inside it.
fn batch_view(set: &SyncSet, version: &str, relative: &Path) -> Result<PathBuf, RestoreError> {
    let io_error = |path: &Path, source: std::io::Error| {
        RestoreError::Db(DbError::Io {
            path: path.to_path_buf(),
            source,
        })
    };
    let not_at_version = |path: PathBuf| RestoreError::NotAtVersion {
        version: version.to_string(),
        path,
    };
    let entries = versions::entries_at(&set.versions_dir, &set.target, version, relative)
        .map_err(|e| io_error(&set.versions_dir, std::io::Error::other(e.to_string())))?;
    let replica_dir = set.target.join(relative);
    let mut metas = entries
        .iter()
        .filter(|(name, _)| name.to_string_lossy().ends_with(META_SUFFIX))
        .peekable();
    if metas.peek().is_none() {
        return Err(not_at_version(replica_dir));
    }
    for (_, meta_path) in metas {
        let text = std::fs::read_to_string(meta_path).map_err(|e| io_error(meta_path, e))?;
        let Ok(meta) = serde_json::from_str::<DumpMeta>(&text) else {
            continue;
        };
        if !entries.contains_key(std::ffi::OsStr::new(&meta.file)) {
            return Err(not_at_version(replica_dir.join(&meta.file)));
        }
    }

    let view = set
        .versions_dir
        .join(format!("{INCOMPLETE_VIEW_PREFIX}{version}-{}", std::process::id()));
    if view.exists() {
        std::fs::remove_dir_all(&view).map_err(|e| io_error(&view, e))?;
    }
    std::fs::create_dir(&view).map_err(|e| io_error(&view, e))?;
    let lock = std::fs::File::open(&view).map_err(|e| io_error(&view, e))?;
    lock.lock().map_err(|e| io_error(&view, e))?;
    // The lock keeps a concurrent prune off the folder while the restore
    // reads it, and is released when the process exits.
    std::mem::forget(lock);
    for (name, path) in &entries {
        if std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file()) {
            std::fs::hard_link(path, view.join(name)).map_err(|e| io_error(path, e))?;
        }
    }
    Ok(view)
}

/// Name start of the folders `batch_view` makes; a prune removes them once unlocked.
const INCOMPLETE_VIEW_PREFIX: &str = ".incomplete-view-";

/// Restores the dumps in `source_dir` into the server of `db`. `previous`
/// returns what drkit stored after its last restore of a database here.
pub fn restore_server(
    db: &Database,
    source_dir: &Path,
    options: &RestoreOptions,
    private_dir: &Path,
    previous: &dyn Fn(&str) -> Option<PreviousRestore>,
) -> Result<RestoreSummary, RestoreError> {
    let mut dumps = read_dumps(source_dir)?;
    if let Some(wanted) = &options.database {
        let available = names_or_none(dumps.iter().map(|m| m.database.clone()).collect());
        dumps.retain(|m| &m.database == wanted);
        if dumps.is_empty() {
            return Err(RestoreError::DatabaseNotDumped {
                database: wanted.clone(),
                dir: source_dir.to_path_buf(),
                available,
            });
        }
    }
    let client = Client::new(db, private_dir)?;
    if db.kind == DatabaseKind::Postgresql {
        restore_globals(&client, source_dir)?;
    }
    let mut summary = RestoreSummary {
        server: db.name.clone(),
        source_dir: source_dir.to_path_buf(),
        items: Vec::new(),
    };
    for meta in &dumps {
        let item = restore_one(&client, source_dir, meta, options.force, previous(&meta.database));
        summary.items.push(item);
    }
    Ok(summary)
}

/// Reads the meta files of the database dumps in `dir`, sorted by database.
fn read_dumps(dir: &Path) -> Result<Vec<DumpMeta>, RestoreError> {
    let entries = std::fs::read_dir(dir).map_err(|_| RestoreError::NoDumps { dir: dir.to_path_buf() })?;
    let mut dumps = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with(META_SUFFIX) || name.starts_with('.') || name == format!("{GLOBALS_FILE}{META_SUFFIX}") {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).map_err(|source| DbError::Io {
            path: entry.path(),
            source,
        })?;
        match serde_json::from_str::<DumpMeta>(&text) {
            Ok(meta) if dir.join(&meta.file).is_file() => dumps.push(meta),
            Ok(_) => tracing::warn!(meta = %entry.path().display(), "dump meta file without its dump file, skipped"),
            Err(e) => tracing::warn!(meta = %entry.path().display(), error = %e, "unreadable dump meta file, skipped"),
        }
    }
    if dumps.is_empty() {
        return Err(RestoreError::NoDumps { dir: dir.to_path_buf() });
    }
    dumps.sort_by(|a, b| a.database.cmp(&b.database));
    Ok(dumps)
}

fn restore_one(
    client: &Client,
    dir: &Path,
    meta: &DumpMeta,
    force: bool,
    previous: Option<PreviousRestore>,
) -> RestoreItem {
    let started = Instant::now();
    let file = dir.join(&meta.file);
    let mut item = RestoreItem {
        server: client.db.name.clone(),
        database: meta.database.clone(),
        file: file.clone(),
        dump_started_at: meta.started_at,
        outcome: Outcome::Restored { replaced: false },
        duration_ms: 0,
        finished_at: Utc::now(),
        write_counter: None,
    };
    let result = existing_state(client, meta, previous.as_ref()).and_then(|existing| {
        let replaced = match existing {
            Existing::Absent => false,
            Existing::Refused(reason) if !force => return Ok(Outcome::Refused { reason }),
            Existing::Empty | Existing::Unchanged | Existing::Refused(_) => true,
        };
        tracing::info!(server = %client.db.name, database = %meta.database, file = %file.display(), replaced, "restore started");
        load(client, &meta.database, &file)?;
        Ok(Outcome::Restored { replaced })
    });
    item.outcome = match result {
        Ok(outcome) => outcome,
        Err(e) => Outcome::Failed {
            cause: e.cause(),
            detail: e.to_string(),
        },
    };
    if matches!(item.outcome, Outcome::Restored { .. }) && client.db.kind == DatabaseKind::Postgresql {
        item.write_counter = settled_write_counter(client, &meta.database);
    }
    item.finished_at = Utc::now();
    item.duration_ms = started.elapsed().as_millis() as u64;
    item
}

fn existing_state(client: &Client, meta: &DumpMeta, previous: Option<&PreviousRestore>) -> Result<Existing, DbError> {
    match client.db.kind {
        DatabaseKind::Mysql => mysql_state(client, meta, previous),
        DatabaseKind::Postgresql => postgres_state(client, &meta.database, previous),
    }
}

fn mysql_state(client: &Client, meta: &DumpMeta, previous: Option<&PreviousRestore>) -> Result<Existing, DbError> {
    let name = sql_string(DatabaseKind::Mysql, &meta.database);
    let exists = client.query(
        None,
        &format!("SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = {name}"),
    )?;
    if first_number(&exists) == Some(0) {
        return Ok(Existing::Absent);
    }
    let rows = client.query(
        None,
        &format!(
            "SELECT COUNT(*), UNIX_TIMESTAMP(MAX(COALESCE(update_time, create_time))) \
             FROM information_schema.tables WHERE table_schema = {name} AND table_type = 'BASE TABLE'"
        ),
    )?;
    if first_number(&rows).unwrap_or(0) == 0 {
        return Ok(Existing::Empty);
    }
    // NOTE: InnoDB keeps UPDATE_TIME in memory only, so writes made before
    // the server's last restart are not seen here; CREATE_TIME survives.
    let last_write = rows
        .first()
        .and_then(|row| row.get(1))
        .and_then(|v| v.parse::<f64>().ok())
        .and_then(|secs| DateTime::from_timestamp(secs as i64, 0));
    let mut since = meta.started_at;
    if let Some(previous) = previous {
        since = since.max(previous.finished_at);
    }
    match last_write {
        // Times have whole seconds, so a write in the same second as `since` counts as older.
        Some(last_write) if last_write.timestamp() > since.timestamp() => {
            Ok(Existing::Refused(Refusal::NewerWrite { last_write, since }))
        }
        _ => Ok(Existing::Unchanged),
    }
}

fn postgres_state(client: &Client, database: &str, previous: Option<&PreviousRestore>) -> Result<Existing, DbError> {
    let exists = client.query(
        None,
        &format!(
            "SELECT count(*) FROM pg_database WHERE datname = {}",
            sql_string(DatabaseKind::Postgresql, database)
        ),
    )?;
    if first_number(&exists) == Some(0) {
        return Ok(Existing::Absent);
    }
    let tables = client.query(
        Some(database),
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
         AND n.nspname NOT LIKE 'pg_toast%'",
    )?;
    let tables = first_number(&tables).unwrap_or(0);
    if tables == 0 {
        return Ok(Existing::Empty);
    }
    let counter = write_counter(client, database)?;
    match previous.and_then(|p| p.write_counter.map(|c| (c, p.finished_at))) {
        Some((recorded, _)) if counter == Some(recorded) => Ok(Existing::Unchanged),
        Some((recorded, restored_at)) if counter.is_some_and(|c| c > recorded) => {
            Ok(Existing::Refused(Refusal::ChangedSinceRestore {
                changes: counter.unwrap_or(recorded) - recorded,
                restored_at,
            }))
        }
        _ => Ok(Existing::Refused(Refusal::Unknown { tables })),
    }
}

/// Reads tup_inserted + tup_updated + tup_deleted of `database`.
fn write_counter(client: &Client, database: &str) -> Result<Option<i64>, DbError> {
    let rows = client.query(
        None,
        &format!(
            "SELECT tup_inserted + tup_updated + tup_deleted FROM pg_stat_database WHERE datname = {}",
            sql_string(DatabaseKind::Postgresql, database)
        ),
    )?;
    Ok(first_number(&rows))
}

/// Reads the write counter until two reads half a second apart agree (at
/// most five reads), because the restoring session reports its counts
/// shortly after it ends.
fn settled_write_counter(client: &Client, database: &str) -> Option<i64> {
    let mut last = write_counter(client, database).ok()?;
    for _ in 0..4 {
        std::thread::sleep(Duration::from_millis(500));
        let now = write_counter(client, database).ok()?;
        if now == last {
            return now;
        }
        last = now;
    }
    last
}

/// Replaces `database` with the dump in `file`.
// NOTE: the old database is dropped before the load, so a load that fails
// halfway leaves a partial database; run the restore again once fixed.
fn load(client: &Client, database: &str, file: &Path) -> Result<(), DbError> {
    match client.db.kind {
        DatabaseKind::Mysql => {
            client.query(None, &format!("DROP DATABASE IF EXISTS {}", mysql_identifier(database)))?;
            let mut command = client.command(&["mariadb", "mysql"])?;
            command.arg("--default-character-set=utf8mb4");
            command.stdin(Stdio::from(open(file)?));
            let output = run(&mut command)?;
            check_status(&command, &output)
        }
        DatabaseKind::Postgresql => {
            client.query(
                None,
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", pg_identifier(database)),
            )?;
            let mut command = client.command(&["pg_restore"])?;
            command
                .args(["--create", "--exit-on-error", "-d", "postgres"])
                .arg(file);
            let output = run(&mut command)?;
            check_status(&command, &output)
        }
    }
}

/// Loads roles and tablespaces. Roles that exist already give errors that
/// psql reports and skips, so its stderr is only logged.
fn restore_globals(client: &Client, dir: &Path) -> Result<(), DbError> {
    let file = dir.join(GLOBALS_FILE);
    if !file.is_file() {
        return Ok(());
    }
    let mut command = client.command(&["psql"])?;
    command.args(["-X", "-q", "-d", "postgres", "-f"]).arg(&file);
    let output = run(&mut command)?;
    check_status(&command, &output)?;
    let stderr = super::client::stderr_tail(&output.stderr);
    if !stderr.is_empty() {
        tracing::debug!(file = %file.display(), stderr, "psql notes while loading the globals");
    }
    Ok(())
}

fn open(file: &Path) -> Result<std::fs::File, DbError> {
    std::fs::File::open(file).map_err(|source| DbError::Io {
        path: file.to_path_buf(),
        source,
    })
}

fn first_number(rows: &[Vec<String>]) -> Option<i64> {
    rows.first()?.first()?.trim().parse().ok()
}

/// Quotes a SQL string literal for `kind`: MySQL's default mode reads
/// backslash escapes, PostgreSQL's standard strings do not.
fn sql_string(kind: DatabaseKind, value: &str) -> String {
    let quoted = value.replace('\'', "''");
    match kind {
        DatabaseKind::Mysql => format!("'{}'", quoted.replace('\\', "\\\\")),
        DatabaseKind::Postgresql => format!("'{quoted}'"),
    }
}

fn mysql_identifier(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

fn pg_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn names_or_none(names: Vec<String>) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MaxDelete;
    use crate::sync::entry::key_from_relative;
    use crate::sync::versions::BatchVersion;

    fn set(root: &Path) -> SyncSet {
        SyncSet {
            name: "dumps".into(),
            source: root.join("source"),
            target: root.join("replica"),
            exclude: Vec::new(),
            max_delete: MaxDelete::Percent(10.0),
            keep_versions: 7,
            keep_batch_versions: 1440,
            versions_dir: root.join("versions"),
            peer: None,
            compress: false,
            bwlimit: None,
        }
    }

    fn write_dump(dir: &Path, database: &str, content: &str) {
        std::fs::create_dir_all(dir).unwrap();
        let file = format!("{database}.sql");
        let meta = DumpMeta {
            server: "main".into(),
            kind: "mysql".into(),
            database: database.into(),
            file: file.clone(),
            started_at: Utc::now(),
            finished_at: Utc::now(),
            bytes: content.len() as u64,
        };
        replace(&dir.join(&file), content);
        replace(
            &dir.join(format!("{file}{META_SUFFIX}")),
            &serde_json::to_string(&meta).unwrap(),
        );
    }

    /// Replaces a file by rename, as a dump and a sync do.
    fn replace(path: &Path, content: &str) {
        let temp = path.with_extension("partial");
        std::fs::write(&temp, content).unwrap();
        std::fs::rename(&temp, path).unwrap();
    }

    fn keep(batch: &mut BatchVersion, relative: &str) {
        batch.keep(&key_from_relative(Path::new(relative))).unwrap();
    }

    #[test]
    fn batch_view_holds_dump_at_version() {
        let temp = tempfile::tempdir().unwrap();
        let set = set(temp.path());
        let dumps = set.target.join("main");
        write_dump(&dumps, "shop", "first dump");
        write_dump(&dumps, "blog", "blog dump");

        let mut batch = BatchVersion::begin(&set.target, &set.versions_dir).unwrap();
        keep(&mut batch, "main/shop.sql");
        keep(&mut batch, "main/shop.sql.meta.json");
        write_dump(&dumps, "shop", "second dump");
        let version = batch.finish().unwrap();

        let view = batch_view(&set, &version.name, Path::new("main")).unwrap();
        assert_eq!(std::fs::read_to_string(view.join("shop.sql")).unwrap(), "first dump");
        assert_eq!(std::fs::read_to_string(view.join("blog.sql")).unwrap(), "blog dump");
        let dumps_read: Vec<String> = read_dumps(&view).unwrap().into_iter().map(|m| m.database).collect();
        assert_eq!(dumps_read, ["blog", "shop"]);
        assert!(
            versions::list(&set.versions_dir).iter().all(|v| v.path != view),
            "the view is not a version"
        );
    }

    #[test]
    fn batch_view_names_missing_dump() {
        let temp = tempfile::tempdir().unwrap();
        let set = set(temp.path());
        let dumps = set.target.join("main");
        std::fs::create_dir_all(&set.target).unwrap();

        let mut batch = BatchVersion::begin(&set.target, &set.versions_dir).unwrap();
        keep(&mut batch, "main");
        keep(&mut batch, "main/shop.sql");
        keep(&mut batch, "main/shop.sql.meta.json");
        write_dump(&dumps, "shop", "made after the version");
        let version = batch.finish().unwrap();

        let error = batch_view(&set, &version.name, Path::new("main")).unwrap_err();
        match error {
            RestoreError::NotAtVersion { version: named, path } => {
                assert_eq!(named, version.name);
                assert_eq!(path, dumps);
            }
            other => panic!("unexpected error: {other}"),
        }

        // A meta file that existed while its dump file did not.
        let mut batch = BatchVersion::begin(&set.target, &set.versions_dir).unwrap();
        keep(&mut batch, "main/shop.sql");
        std::fs::remove_file(dumps.join("shop.sql")).unwrap();
        let second = batch.finish().unwrap();
        let mut batch = BatchVersion::begin(&set.target, &set.versions_dir).unwrap();
        keep(&mut batch, "main/shop.sql");
        replace(&dumps.join("shop.sql"), "again");
        let third = batch.finish().unwrap();
        assert!(batch_view(&set, &second.name, Path::new("main")).is_ok());
        match batch_view(&set, &third.name, Path::new("main")).unwrap_err() {
            RestoreError::NotAtVersion { path, .. } => assert_eq!(path, dumps.join("shop.sql")),
            other => panic!("unexpected error: {other}"),
        }
    }
}
