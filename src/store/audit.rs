//! The tamper-evident audit log.
//!
//! Each row's hash is BLAKE3 over the previous row's hash and the row's own
//! fields, each length-prefixed, so no field boundary can be shifted. The
//! first row's previous hash is 32 zero bytes.

use rusqlite::params;

use super::{now_text, Store, StoreError};

/// Result of checking the whole chain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum AuditCheck {
    /// Every row links to the one before; `rows` were checked.
    Intact { rows: u64 },
    /// The first row whose hash does not match its content or predecessor.
    Broken { id: i64 },
}

fn row_hash(prev: &[u8], at: &str, actor: &str, action: &str, subject: &str, detail: &str) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(prev);
    for field in [at, actor, action, subject, detail] {
        hasher.update(&(field.len() as u64).to_le_bytes());
        hasher.update(field.as_bytes());
    }
    *hasher.finalize().as_bytes()
}

impl Store {
    /// Appends an entry to the audit chain.
    pub fn audit_append(&mut self, actor: &str, action: &str, subject: &str, detail: &str) -> Result<(), StoreError> {
        let path = self.path.clone();
        let wrap = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self
            .conn_mut()
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(wrap)?;
        let prev: Vec<u8> = tx
            .query_row("SELECT hash FROM audit ORDER BY id DESC LIMIT 1", [], |r| r.get(0))
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(vec![0u8; 32]),
                other => Err(other),
            })
            .map_err(wrap)?;
        let at = now_text();
        let hash = row_hash(&prev, &at, actor, action, subject, detail);
        tx.execute(
            "INSERT INTO audit (at, actor, action, subject, detail, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![at, actor, action, subject, detail, prev, &hash[..]],
        )
        .map_err(wrap)?;
        tx.commit().map_err(wrap)
    }

    /// Re-computes every hash of the chain in order.
    pub fn audit_verify(&self) -> Result<AuditCheck, StoreError> {
        let mut stmt = self
            .conn()
            .prepare("SELECT id, at, actor, action, subject, detail, prev_hash, hash FROM audit ORDER BY id")
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.err(e))?;
        let mut prev = vec![0u8; 32];
        let mut count = 0;
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            let read = |i| row.get::<_, String>(i);
            let id: i64 = row.get(0).map_err(|e| self.err(e))?;
            let fields: Result<Vec<String>, _> = (1..=5).map(read).collect();
            let fields = fields.map_err(|e| self.err(e))?;
            let stored_prev: Vec<u8> = row.get(6).map_err(|e| self.err(e))?;
            let stored: Vec<u8> = row.get(7).map_err(|e| self.err(e))?;
            let expected = row_hash(&prev, &fields[0], &fields[1], &fields[2], &fields[3], &fields[4]);
            if stored_prev != prev || stored != expected {
                return Ok(AuditCheck::Broken { id });
            }
            prev = stored;
            count += 1;
        }
        Ok(AuditCheck::Intact { rows: count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edited_row_breaks_chain() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        for i in 0..3 {
            store.audit_append("test", "sync", &format!("set{i}"), "ok").unwrap();
        }
        assert_eq!(store.audit_verify().unwrap(), AuditCheck::Intact { rows: 3 });
        store
            .conn()
            .execute("UPDATE audit SET detail = 'forged' WHERE id = 2", [])
            .unwrap();
        assert_eq!(store.audit_verify().unwrap(), AuditCheck::Broken { id: 2 });
    }

    #[test]
    fn deleted_row_breaks_chain() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        for i in 0..3 {
            store.audit_append("test", "sync", &format!("set{i}"), "ok").unwrap();
        }
        store.conn().execute("DELETE FROM audit WHERE id = 2", []).unwrap();
        assert_eq!(store.audit_verify().unwrap(), AuditCheck::Broken { id: 3 });
    }
}
