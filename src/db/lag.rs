//! `drkit db lag`: how far a native replica is behind its primary.
//!
//! MariaDB/MySQL: `Seconds_Behind_Master` (or `Seconds_Behind_Source`) of
//! `SHOW SLAVE STATUS`; an empty result means the server is no replica.
//! PostgreSQL: `now() - pg_last_xact_replay_timestamp()` on a server where
//! `pg_is_in_recovery()` is true.

use super::client::Client;
use super::DbError;
use crate::config::{Database, DatabaseKind};

/// Replication state of one server, stored as a result of kind "db_lag".
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LagReport {
    /// A replica and how far behind it is, in seconds.
    Replica {
        lag_seconds: f64,
    },
    /// A PostgreSQL standby that has not replayed any transaction yet.
    ReplicaNoReplay,
    /// A MariaDB/MySQL replica whose replication threads are not both running.
    ReplicaStopped {
        io_running: String,
        sql_running: String,
        last_error: String,
    },
    NotReplica,
}

/// Asks the server of `db` for its replication state.
pub fn replica_lag(db: &Database, private_dir: &std::path::Path) -> Result<LagReport, DbError> {
    let client = Client::new(db, private_dir)?;
    match db.kind {
        DatabaseKind::Mysql => mysql_lag(&client),
        DatabaseKind::Postgresql => postgres_lag(&client),
    }
}

fn mysql_lag(client: &Client) -> Result<LagReport, DbError> {
    let rows = client.query_named("SHOW SLAVE STATUS")?;
    let Some(row) = rows.first() else {
        return Ok(LagReport::NotReplica);
    };
    // Returns the first non-empty value among the columns `names`, in that order.
    let field = |names: &[&str]| {
        names
            .iter()
            .filter_map(|name| row.iter().find(|(column, _)| column == name))
            .map(|(_, value)| value.clone())
            .find(|value| !value.is_empty() && value != "NULL")
            .unwrap_or_default()
    };
    let behind = field(&["Seconds_Behind_Master", "Seconds_Behind_Source"]);
    match behind.parse::<f64>() {
        Ok(lag_seconds) => Ok(LagReport::Replica { lag_seconds }),
        Err(_) => Ok(LagReport::ReplicaStopped {
            io_running: field(&["Slave_IO_Running", "Replica_IO_Running"]),
            sql_running: field(&["Slave_SQL_Running", "Replica_SQL_Running"]),
            last_error: field(&["Last_Error", "Last_IO_Error", "Last_SQL_Error"]),
        }),
    }
}

fn postgres_lag(client: &Client) -> Result<LagReport, DbError> {
    let rows = client.query(
        None,
        "SELECT pg_is_in_recovery(), extract(epoch FROM now() - pg_last_xact_replay_timestamp())",
    )?;
    let row = rows.first().cloned().unwrap_or_default();
    if row.first().map(String::as_str) != Some("t") {
        return Ok(LagReport::NotReplica);
    }
    match row.get(1).and_then(|v| v.parse::<f64>().ok()) {
        Some(lag_seconds) => Ok(LagReport::Replica {
            lag_seconds: lag_seconds.max(0.0),
        }),
        None => Ok(LagReport::ReplicaNoReplay),
    }
}
