//! The per-set manifest cache: the last known `lstat` fields and BLAKE3 hash
//! of every entry, for the source side and for the replica side.
//!
//! Rows are keyed by the relative path with `/` replaced by a 0 byte, so the
//! table's byte order equals a depth-first walk with sorted siblings and a
//! sync can merge the walk and the cache in one pass.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;

use rusqlite::{params, Connection, OpenFlags};

use super::{Store, StoreError};

/// Tree of a set that a manifest row describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Source = 0,
    Replica = 1,
}

/// One cached entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestRow {
    pub key: Vec<u8>,
    /// Entry kind code (see `sync::EntryKind`).
    pub kind: u8,
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub ino: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// BLAKE3 of the content, for regular files.
    pub hash: Option<[u8; 32]>,
}

const BATCH: usize = 2048;

/// Streams the rows of one set and side in key order, read by a background
/// thread on its own connection so the caller can walk the disk meanwhile.
pub struct ManifestReader {
    rx: mpsc::Receiver<Result<Vec<ManifestRow>, String>>,
    batch: std::vec::IntoIter<ManifestRow>,
    handle: Option<thread::JoinHandle<()>>,
    error: Option<String>,
}

impl ManifestReader {
    /// Starts reading the rows of `set` and `side` from the database at `db_path`.
    pub fn open(db_path: &Path, set: &str, side: Side) -> ManifestReader {
        let (tx, rx) = mpsc::sync_channel(4);
        let db_path: PathBuf = db_path.to_path_buf();
        let set = set.to_string();
        let handle = thread::spawn(move || {
            if let Err(e) = stream_rows(&db_path, &set, side, &tx) {
                let _ = tx.send(Err(format!("{}: {e}", db_path.display())));
            }
        });
        ManifestReader {
            rx,
            batch: Vec::new().into_iter(),
            handle: Some(handle),
            error: None,
        }
    }

    /// Returns the read error, if the stream stopped because of one.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }
}

impl Iterator for ManifestReader {
    type Item = ManifestRow;

    fn next(&mut self) -> Option<ManifestRow> {
        loop {
            if let Some(row) = self.batch.next() {
                return Some(row);
            }
            match self.rx.recv() {
                Ok(Ok(batch)) => self.batch = batch.into_iter(),
                Ok(Err(e)) => {
                    self.error = Some(e);
                    return None;
                }
                Err(_) => {
                    if let Some(handle) = self.handle.take() {
                        let _ = handle.join();
                    }
                    return None;
                }
            }
        }
    }
}

fn stream_rows(
    db_path: &Path,
    set: &str,
    side: Side,
    tx: &mpsc::SyncSender<Result<Vec<ManifestRow>, String>>,
) -> rusqlite::Result<()> {
    let conn = Connection::open_with_flags(
        db_path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    let mut stmt = conn.prepare(
        "SELECT key, kind, size, mtime_ns, ctime_ns, ino, mode, uid, gid, hash FROM manifest
         WHERE set_name = ?1 AND side = ?2 ORDER BY key",
    )?;
    let mut rows = stmt.query(params![set, side as i64])?;
    let mut batch = Vec::with_capacity(BATCH);
    while let Some(row) = rows.next()? {
        batch.push(row_of(row)?);
        if batch.len() == BATCH
            && tx
                .send(Ok(std::mem::replace(&mut batch, Vec::with_capacity(BATCH))))
                .is_err()
        {
            return Ok(());
        }
    }
    if !batch.is_empty() {
        let _ = tx.send(Ok(batch));
    }
    Ok(())
}

/// Reads one manifest row from the columns `key, kind, size, mtime_ns,
/// ctime_ns, ino, mode, uid, gid, hash`.
fn row_of(row: &rusqlite::Row) -> rusqlite::Result<ManifestRow> {
    let hash: Option<Vec<u8>> = row.get(9)?;
    Ok(ManifestRow {
        key: row.get(0)?,
        kind: row.get::<_, i64>(1)? as u8,
        size: row.get::<_, i64>(2)? as u64,
        mtime_ns: row.get(3)?,
        ctime_ns: row.get(4)?,
        ino: row.get::<_, i64>(5)? as u64,
        mode: row.get::<_, i64>(6)? as u32,
        uid: row.get::<_, i64>(7)? as u32,
        gid: row.get::<_, i64>(8)? as u32,
        hash: hash.and_then(|h| h.try_into().ok()),
    })
}

/// Changes to one set's manifest, applied in one transaction.
#[derive(Debug, Default)]
pub struct ManifestWriter {
    pub upserts: Vec<(Side, ManifestRow)>,
    pub deletes: Vec<(Side, Vec<u8>)>,
}

impl Store {
    /// Returns, in key order, the rows of `set` and `side` for the keys in
    /// `scope` and, where `below` is set, for every key under them.
    pub fn manifest_rows_in(
        &self,
        set: &str,
        side: Side,
        scope: &[crate::sync::walk::Scoped],
    ) -> Result<Vec<ManifestRow>, StoreError> {
        let wrap = |source| StoreError::Sqlite {
            path: self.path.clone(),
            source,
        };
        const COLUMNS: &str = "key, kind, size, mtime_ns, ctime_ns, ino, mode, uid, gid, hash";
        let conn = self.conn();

        let mut exact = conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM manifest WHERE set_name = ?1 AND side = ?2 AND key = ?3"
            ))
            .map_err(wrap)?;
        let mut rows = Vec::new();
        for part in scope {
            let found = exact
                .query_map(params![set, side as i64, &*part.key], row_of)
                .map_err(wrap)?;
            for row in found {
                rows.push(row.map_err(wrap)?);
            }
        }
        drop(exact);

        // The keys below `k` are those from `k` + 0 to `k` + 1, because a key
        // separates its components with 0 bytes.
        let mut below = conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM manifest WHERE set_name = ?1 AND side = ?2 AND key > ?3 AND key < ?4"
            ))
            .map_err(wrap)?;
        for part in scope.iter().filter(|p| p.below) {
            let mut low = part.key.to_vec();
            low.push(0);
            let mut high = part.key.to_vec();
            high.push(1);
            let found = below
                .query_map(params![set, side as i64, low, high], row_of)
                .map_err(wrap)?;
            for row in found {
                rows.push(row.map_err(wrap)?);
            }
        }

        rows.sort_by(|a, b| a.key.cmp(&b.key));
        rows.dedup_by(|a, b| a.key == b.key);
        Ok(rows)
    }

    /// Counts the rows of `set` and `side` that are not folders.
    pub fn manifest_files(&self, set: &str, side: Side) -> Result<u64, StoreError> {
        self.conn()
            .query_row(
                "SELECT count(*) FROM manifest WHERE set_name = ?1 AND side = ?2 AND kind != ?3",
                params![set, side as i64, crate::sync::entry::EntryKind::Dir as i64],
                |row| row.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(|source| StoreError::Sqlite {
                path: self.path.clone(),
                source,
            })
    }

    /// Applies `changes` to the manifest of `set` in one transaction.
    pub fn manifest_apply(&mut self, set: &str, changes: &ManifestWriter) -> Result<(), StoreError> {
        let path = self.path.clone();
        let wrap = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn_mut().transaction().map_err(wrap)?;
        {
            let mut upsert = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO manifest (set_name, side, key, kind, size, mtime_ns, ctime_ns, ino, mode, uid, gid, hash)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                )
                .map_err(wrap)?;
            for (side, row) in &changes.upserts {
                upsert
                    .execute(params![
                        set,
                        *side as i64,
                        row.key,
                        row.kind as i64,
                        row.size as i64,
                        row.mtime_ns,
                        row.ctime_ns,
                        row.ino as i64,
                        row.mode as i64,
                        row.uid as i64,
                        row.gid as i64,
                        row.hash.as_ref().map(|h| &h[..]),
                    ])
                    .map_err(wrap)?;
            }
            let mut delete = tx
                .prepare_cached("DELETE FROM manifest WHERE set_name = ?1 AND side = ?2 AND key = ?3")
                .map_err(wrap)?;
            for (side, key) in &changes.deletes {
                delete.execute(params![set, *side as i64, key]).map_err(wrap)?;
            }
        }
        tx.commit().map_err(wrap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(key: &[u8]) -> ManifestRow {
        ManifestRow {
            key: key.to_vec(),
            kind: 1,
            size: 3,
            mtime_ns: 5,
            ctime_ns: 6,
            ino: 7,
            mode: 0o644,
            uid: 0,
            gid: 0,
            hash: Some([9; 32]),
        }
    }

    #[test]
    fn reader_streams_in_key_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let mut changes = ManifestWriter::default();
        for key in [&b"b"[..], b"a\0z", b"a", b"a.b", b"\xe9"] {
            changes.upserts.push((Side::Source, row(key)));
        }
        changes.upserts.push((Side::Replica, row(b"other")));
        store.manifest_apply("www", &changes).unwrap();
        let keys: Vec<Vec<u8>> = ManifestReader::open(store.path(), "www", Side::Source)
            .map(|r| r.key)
            .collect();
        assert_eq!(
            keys,
            vec![
                b"a".to_vec(),
                b"a\0z".to_vec(),
                b"a.b".to_vec(),
                b"b".to_vec(),
                b"\xe9".to_vec()
            ]
        );
    }
}
