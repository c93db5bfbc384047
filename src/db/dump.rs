//! `drkit db dump`: one consistent dump file per database.
//!
//! MariaDB/MySQL: `mariadb-dump --single-transaction` (one snapshot per
//! database, InnoDB) with routines, triggers and events. PostgreSQL: `pg_dump
//! -Fc` (one snapshot per database) and `pg_dumpall --globals-only` for roles
//! and tablespaces. Each file is checked before it replaces the previous one:
//! the exit code, then the end marker mariadb-dump and pg_dumpall write last,
//! or for `pg_dump -Fc` a full read of its table of contents by `pg_restore --list`.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use chrono::{DateTime, Utc};

use super::client::{check_status, program_name, run, Client};
use super::{file_stem, Cause, DbError};
use crate::config::{Database, DatabaseKind, DatabaseSelection};
use crate::sync::walk::TEMP_PREFIX;

/// Databases the servers keep for themselves, never dumped by `databases = "all"`.
const MYSQL_SYSTEM: &[&str] = &["mysql", "information_schema", "performance_schema", "sys"];
const POSTGRES_SYSTEM: &[&str] = &["template0", "template1"];

/// Marker mariadb-dump writes as its last line when it finished.
const MYSQL_END_MARKER: &str = "-- Dump completed";
/// Marker pg_dumpall writes near its end when it finished.
const PG_DUMPALL_END_MARKER: &str = "PostgreSQL database cluster dump complete";

/// File name of the PostgreSQL roles and tablespaces dump.
pub const GLOBALS_FILE: &str = "globals.sql";

/// Suffix of the file that records when a dump was taken.
pub const META_SUFFIX: &str = ".meta.json";

/// Outcome of dumping one server, stored as the result of kind "db_dump".
#[derive(Debug, Clone, serde::Serialize)]
pub struct DumpSummary {
    pub server: String,
    pub kind: DatabaseKind,
    pub connection: String,
    pub dump_dir: PathBuf,
    /// One entry per database, plus one for the PostgreSQL globals.
    pub items: Vec<DumpItem>,
    /// Set when the databases could not even be listed.
    pub error: Option<DumpFailure>,
    pub duration_ms: u64,
}

impl DumpSummary {
    pub fn is_ok(&self) -> bool {
        self.error.is_none() && self.items.iter().all(|i| i.error.is_none())
    }
}

/// One dump file written, or not.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DumpItem {
    /// The database name, or "(globals)" for `pg_dumpall --globals-only`.
    pub database: String,
    pub file: PathBuf,
    pub bytes: u64,
    pub duration_ms: u64,
    pub error: Option<DumpFailure>,
    /// True when a failed dump left an older dump file in place.
    pub previous_kept: bool,
}

/// A failure, in English for the state database, with its cause for the message.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DumpFailure {
    pub cause: Cause,
    pub detail: String,
}

impl From<&DbError> for DumpFailure {
    fn from(e: &DbError) -> Self {
        DumpFailure {
            cause: e.cause(),
            detail: e.to_string(),
        }
    }
}

/// Contents of `<file>.meta.json`: the facts about one dump.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DumpMeta {
    pub server: String,
    pub kind: String,
    pub database: String,
    /// The dump file's name, in the same folder.
    pub file: String,
    /// When the dump started, which is no later than its snapshot (UTC, the primary's clock).
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub bytes: u64,
}

/// Dumps the databases of `db` into its dump folder. Temporary credential
/// files go into `private_dir`. A failed database does not stop the others.
pub fn dump_server(db: &Database, private_dir: &Path) -> DumpSummary {
    let started = Instant::now();
    let mut summary = DumpSummary {
        server: db.name.clone(),
        kind: db.kind,
        connection: db.connection.to_string(),
        dump_dir: db.dump_dir.clone(),
        items: Vec::new(),
        error: None,
        duration_ms: 0,
    };
    let prepared = std::fs::create_dir_all(&db.dump_dir)
        .map_err(|source| DbError::Io {
            path: db.dump_dir.clone(),
            source,
        })
        .and_then(|()| Client::new(db, private_dir))
        .and_then(|client| list_databases(&client).map(|names| (client, names)));
    match prepared {
        Ok((client, names)) => {
            for name in &names {
                summary.items.push(dump_one(&client, name));
            }
            if db.kind == DatabaseKind::Postgresql {
                summary.items.push(dump_globals(&client));
            }
        }
        Err(e) => summary.error = Some(DumpFailure::from(&e)),
    }
    summary.duration_ms = started.elapsed().as_millis() as u64;
    summary
}

/// Returns the databases to dump: the configured list, or every database but the system ones.
fn list_databases(client: &Client) -> Result<Vec<String>, DbError> {
    if let DatabaseSelection::Named(names) = &client.db.databases {
        return Ok(names.clone());
    }
    let (sql, system) = match client.db.kind {
        DatabaseKind::Mysql => ("SHOW DATABASES", MYSQL_SYSTEM),
        DatabaseKind::Postgresql => (
            "SELECT datname FROM pg_database WHERE datallowconn ORDER BY datname",
            POSTGRES_SYSTEM,
        ),
    };
    let rows = client.query(None, sql)?;
    Ok(rows
        .into_iter()
        .filter_map(|row| row.into_iter().next())
        .filter(|name| !system.contains(&name.as_str()))
        .collect())
}

fn dump_one(client: &Client, database: &str) -> DumpItem {
    let extension = match client.db.kind {
        DatabaseKind::Mysql => "sql",
        DatabaseKind::Postgresql => "dump",
    };
    let file = client.db.dump_dir.join(format!("{}.{extension}", file_stem(database)));
    write_dump(client, database, &file, |temp| match client.db.kind {
        DatabaseKind::Mysql => run_mariadb_dump(client, database, temp),
        DatabaseKind::Postgresql => run_pg_dump(client, database, temp),
    })
}

fn dump_globals(client: &Client) -> DumpItem {
    let file = client.db.dump_dir.join(GLOBALS_FILE);
    write_dump(client, "(globals)", &file, |temp| run_pg_dumpall(client, temp))
}

/// Runs `produce` into a temporary file beside `file`, then flushes and
/// renames it over `file` and writes the meta file. On failure the temporary
/// file is removed and `file` stays as it was.
fn write_dump(
    client: &Client,
    database: &str,
    file: &Path,
    produce: impl FnOnce(&Path) -> Result<(), DbError>,
) -> DumpItem {
    let started_at = Utc::now();
    let started = Instant::now();
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = file.with_file_name(format!("{TEMP_PREFIX}{name}.{:08x}", rand::random::<u32>()));
    tracing::info!(server = %client.db.name, database, file = %file.display(), "dump started");
    let result = produce(&temp).and_then(|()| publish(&temp, file));
    let mut item = DumpItem {
        database: database.to_string(),
        file: file.to_path_buf(),
        bytes: 0,
        duration_ms: started.elapsed().as_millis() as u64,
        error: None,
        previous_kept: false,
    };
    match result.and_then(|bytes| {
        let meta = DumpMeta {
            server: client.db.name.clone(),
            kind: client.db.kind.as_str().to_string(),
            database: database.to_string(),
            file: name.clone(),
            started_at,
            finished_at: Utc::now(),
            bytes,
        };
        write_meta(file, &meta).map(|()| bytes)
    }) {
        Ok(bytes) => {
            item.bytes = bytes;
            tracing::info!(server = %client.db.name, database, bytes, duration_ms = item.duration_ms, "dump finished");
        }
        Err(e) => {
            if let Err(remove) = std::fs::remove_file(&temp) {
                if remove.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(path = %temp.display(), error = %remove, "cannot remove a failed dump's temporary file");
                }
            }
            item.previous_kept = file.exists();
            tracing::warn!(server = %client.db.name, database, error = %e, "dump failed");
            item.error = Some(DumpFailure::from(&e));
        }
    }
    item
}

fn run_mariadb_dump(client: &Client, database: &str, temp: &Path) -> Result<(), DbError> {
    let mut command = client.command(&["mariadb-dump", "mysqldump"])?;
    command.args([
        "--single-transaction",
        "--routines",
        "--triggers",
        "--events",
        "--hex-blob",
        "--default-character-set=utf8mb4",
        "--databases",
        database,
    ]);
    let out = create_temp(temp)?;
    command.stdout(Stdio::from(out));
    let output = run(&mut command)?;
    check_status(&command, &output)?;
    let tail = read_tail(temp, 256)?;
    if !tail.contains(MYSQL_END_MARKER) {
        return Err(DbError::Incomplete {
            program: program_name(&command),
            path: temp.to_path_buf(),
            detail: format!("the last line is not \"{MYSQL_END_MARKER} …\""),
        });
    }
    Ok(())
}

fn run_pg_dump(client: &Client, database: &str, temp: &Path) -> Result<(), DbError> {
    let mut command = client.command(&["pg_dump"])?;
    command.arg("-Fc").arg("-f").arg(temp).arg("-d").arg(database);
    let output = run(&mut command)?;
    check_status(&command, &output)?;

    // pg_dump -Fc writes its table of contents first and has no end marker,
    // so the archive is read back whole by pg_restore.
    let mut list = client.command(&["pg_restore"])?;
    list.arg("--list").arg(temp);
    let output = run(&mut list)?;
    if !output.status.success() {
        return Err(DbError::Incomplete {
            program: "pg_dump".to_string(),
            path: temp.to_path_buf(),
            detail: super::client::stderr_tail(&output.stderr),
        });
    }
    Ok(())
}

fn run_pg_dumpall(client: &Client, temp: &Path) -> Result<(), DbError> {
    let mut command = client.command(&["pg_dumpall"])?;
    command.arg("--globals-only").arg("-f").arg(temp);
    let output = run(&mut command)?;
    check_status(&command, &output)?;
    let tail = read_tail(temp, 512)?;
    if !tail.contains(PG_DUMPALL_END_MARKER) {
        return Err(DbError::Incomplete {
            program: program_name(&command),
            path: temp.to_path_buf(),
            detail: format!("\"{PG_DUMPALL_END_MARKER}\" is missing at the end"),
        });
    }
    Ok(())
}

fn create_temp(temp: &Path) -> Result<File, DbError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(temp)
        .map_err(|source| DbError::Io {
            path: temp.to_path_buf(),
            source,
        })
}

fn read_tail(path: &Path, bytes: u64) -> Result<String, DbError> {
    let io = |source| DbError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(io)?;
    let length = file.metadata().map_err(io)?.len();
    file.seek(SeekFrom::Start(length.saturating_sub(bytes))).map_err(io)?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail).map_err(io)?;
    Ok(String::from_utf8_lossy(&tail).into_owned())
}

/// Flushes `temp`, renames it to `file`, flushes the folder; returns the size.
fn publish(temp: &Path, file: &Path) -> Result<u64, DbError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DbError::Io { path, source }
    };
    let handle = File::options().read(true).write(true).open(temp).map_err(io(temp))?;
    handle.sync_all().map_err(io(temp))?;
    let bytes = handle.metadata().map_err(io(temp))?.len();
    drop(handle);
    std::fs::rename(temp, file).map_err(io(file))?;
    sync_parent(file)?;
    Ok(bytes)
}

fn sync_parent(file: &Path) -> Result<(), DbError> {
    let dir = file.parent().unwrap_or(Path::new("/"));
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| DbError::Io {
            path: dir.to_path_buf(),
            source,
        })
}

/// Writes `<file>.meta.json` by temp file and rename. It is written after the
/// dump, so a crash in between leaves an older time, which makes restore
/// more careful, never less.
fn write_meta(file: &Path, meta: &DumpMeta) -> Result<(), DbError> {
    let path = meta_path(file);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = path.with_file_name(format!("{TEMP_PREFIX}{name}"));
    let text = serde_json::to_string_pretty(meta).expect("a dump meta serializes");
    std::fs::write(&temp, text + "\n").map_err(|source| DbError::Io {
        path: temp.clone(),
        source,
    })?;
    publish(&temp, &path).map(|_| ())
}

/// Returns the meta file of a dump file.
pub fn meta_path(file: &Path) -> PathBuf {
    let mut name = file.file_name().unwrap_or_default().to_os_string();
    name.push(META_SUFFIX);
    file.with_file_name(name)
}
