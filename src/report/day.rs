//! The activity of one local calendar day: the syncs, verifies and failed
//! runs recorded between its local midnights.

use std::collections::HashSet;

use chrono::{DateTime, Local, NaiveDate, TimeDelta, TimeZone, Utc};

use super::model::{RunInfo, SyncInfo, VerifyInfo};
use crate::store::{ResultRow, RunStatus, Store, StoreError};

/// How many of the newest runs are searched for the day's failed runs.
// NOTE: a day with more runs than this (a sync per minute is 1440) loses its
// oldest failed runs from the daily page, because the store has no query of
// runs by time.
const RUNS_SEARCHED: usize = 20_000;

/// One result of the day with the set it belongs to.
#[derive(Debug, Clone)]
pub struct SetResult<T> {
    pub set: String,
    pub info: T,
}

/// The recorded activity of one day, oldest first.
#[derive(Debug, Clone)]
pub struct DayActivity {
    pub date: NaiveDate,
    pub syncs: Vec<SetResult<SyncInfo>>,
    pub verifies: Vec<SetResult<VerifyInfo>>,
    /// Runs that failed or timed out without a failed result of their own
    /// listed above, such as a job that timed out.
    pub failed_runs: Vec<RunInfo>,
}

impl DayActivity {
    /// True when a sync, verify or run of the day failed.
    pub fn has_failures(&self) -> bool {
        self.syncs.iter().any(|s| s.info.status != "ok")
            || self.verifies.iter().any(|v| v.info.status != "ok")
            || !self.failed_runs.is_empty()
    }
}

/// Reads the activity of `date` in the host's local zone.
pub fn gather(store: &Store, date: NaiveDate) -> Result<DayActivity, StoreError> {
    let (start, end) = day_bounds(&Local, date);
    let in_day = |at: DateTime<Utc>| at >= start && at < end;

    let sync_rows: Vec<ResultRow> = store
        .results_since("sync", start)?
        .into_iter()
        .filter(|row| in_day(row.at))
        .collect();
    let verify_rows: Vec<ResultRow> = store
        .results_since("verify", start)?
        .into_iter()
        .filter(|row| in_day(row.at))
        .collect();
    let runs_with_failed_result: HashSet<i64> = sync_rows
        .iter()
        .chain(&verify_rows)
        .filter(|row| row.status != "ok")
        .filter_map(|row| row.run_id)
        .collect();

    let mut failed_runs: Vec<RunInfo> = store
        .recent_runs(RUNS_SEARCHED)?
        .iter()
        .filter(|run| in_day(run.started_at) && matches!(run.status, RunStatus::Failed | RunStatus::TimedOut))
        .filter(|run| !runs_with_failed_result.contains(&run.id))
        .map(RunInfo::from_row)
        .collect();
    failed_runs.reverse();

    let syncs = sync_rows
        .into_iter()
        .map(|row| SetResult {
            info: SyncInfo::from_row(&row),
            set: row.subject,
        })
        .collect();
    let verifies = verify_rows
        .into_iter()
        .map(|row| SetResult {
            info: VerifyInfo::from_row(&row),
            set: row.subject,
        })
        .collect();

    Ok(DayActivity {
        date,
        syncs,
        verifies,
        failed_runs,
    })
}

/// Returns the UTC instants of the first moment of `date` and of the next
/// day in `zone`. Where a zone skips midnight (a daylight-saving change at
/// 00:00), the day starts at the first valid local time after it.
pub fn day_bounds<Tz: TimeZone>(zone: &Tz, date: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let next = date.succ_opt().unwrap_or(date);
    (start_of_day(zone, date), start_of_day(zone, next))
}

fn start_of_day<Tz: TimeZone>(zone: &Tz, date: NaiveDate) -> DateTime<Utc> {
    let midnight = date.and_hms_opt(0, 0, 0).expect("00:00:00 is a valid time");
    for minutes in [0, 30, 60, 90, 120] {
        let local = midnight + TimeDelta::minutes(minutes);
        if let Some(time) = zone.from_local_datetime(&local).earliest() {
            return time.with_timezone(&Utc);
        }
    }
    midnight.and_utc()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::FixedOffset;

    #[test]
    fn failed_run_with_failed_result_listed_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let with_result = store.begin_run("verify", "cli").unwrap();
        store
            .record_result(
                Some(with_result),
                "verify",
                "www",
                "failed",
                &serde_json::json!({"extra": ["x"]}),
            )
            .unwrap();
        store.finish_run(with_result, RunStatus::Failed, "").unwrap();
        let without_result = store.begin_run("job", "nightly").unwrap();
        store
            .finish_run(without_result, RunStatus::TimedOut, "killed after 1h")
            .unwrap();
        let started = store.run(with_result).unwrap().unwrap().started_at;

        let day = gather(&store, started.with_timezone(&Local).date_naive()).unwrap();

        assert_eq!(day.verifies.len(), 1);
        assert_eq!(day.verifies[0].set, "www");
        assert_eq!(day.failed_runs.len(), 1);
        assert_eq!(day.failed_runs[0].id, without_result);
        assert_eq!(day.failed_runs[0].detail, "killed after 1h");
        assert!(day.has_failures());
    }

    #[test]
    fn day_bounds_follow_the_zone() {
        let zone = FixedOffset::east_opt(2 * 3600).unwrap();
        let date = NaiveDate::from_ymd_opt(2026, 3, 14).unwrap();
        let (start, end) = day_bounds(&zone, date);
        assert_eq!(start.to_rfc3339(), "2026-03-13T22:00:00+00:00");
        assert_eq!(end.to_rfc3339(), "2026-03-14T22:00:00+00:00");
    }
}
