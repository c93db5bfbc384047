//! The status snapshot behind `dr_status.json`, `sync_status.json`, the
//! dashboard and `drkit status`, read from the store and the versions
//! folders at one instant `now`.
//!
//! The serialized form of `DrStatus` is the public JSON status API, so its
//! field names are part of the contract: add fields, never rename them.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize, Serializer};

use super::texts;
use crate::config::{format_duration, Config, SyncSet};
use crate::i18n::Lang;
use crate::store::{AuditCheck, ResultRow, RunRow, Store, StoreError};

/// Maximum number of paths (or failed entries) listed per kind; the counts
/// beside the lists are always complete.
pub const MAX_LISTED: usize = 50;

/// Number of runs in `recent_runs`.
pub const RECENT_RUNS: usize = 20;

/// The content of `dr_status.json`. Times are UTC RFC 3339 strings.
///
/// - `generated_at`, `site`, `language` ("en" or "es": the language of the pages)
/// - `targets`: `rto_s`, `rpo_s` (seconds)
/// - `sets[]`: `name`, `source`, `target`, then:
///   - `last_sync`: see `SyncInfo`, null when never synced
///   - `last_ok_sync_started_at`: start of the last successful sync
///   - `lag_s`: now minus that start, null when no sync succeeded
///   - `within_rpo`: `lag_s` is at most `rpo_s`, false when no sync succeeded;
///     a set over its RPO target is listed in the verdict and makes
///     `drkit status` exit 1
///   - `last_change`: the newest sync that carried a change, null when none
///     did. `newest_change_at` is when the newest source change it carried
///     was made (the later of mtime and ctime of the entries it copied or
///     fixed; a deletion counts as made when its parent folder changed),
///     `reached_replica_at` is when the sync that carried it finished, and
///     `delay_ms` is the difference: the measured RPO of that change.
///     Times have millisecond precision. A first sync, or one that repairs
///     the replica, carries old source changes, so its delay is the age of
///     the data that was missing, not a replication delay.
///   - `versions`: number of point-in-time versions kept
///   - `last_verify`: see `VerifyInfo`, null when never verified
/// - `recent_runs[]`, newest first: see `RunInfo`
/// - `audit`: `intact`, `rows` (entries checked, null unless intact),
///   `first_broken_id`, `error` (why the chain could not be read)
#[derive(Debug, Clone, Serialize)]
pub struct DrStatus {
    #[serde(serialize_with = "utc")]
    pub generated_at: DateTime<Utc>,
    pub site: String,
    pub language: Lang,
    pub targets: TargetsInfo,
    pub sets: Vec<SetStatus>,
    pub recent_runs: Vec<RunInfo>,
    pub audit: AuditState,
}

/// Recovery objectives in seconds, with the exact durations for display.
#[derive(Debug, Clone, Serialize)]
pub struct TargetsInfo {
    pub rto_s: u64,
    pub rpo_s: u64,
    #[serde(skip)]
    pub rto: Duration,
    #[serde(skip)]
    pub rpo: Duration,
}

/// State of one sync set.
#[derive(Debug, Clone, Serialize)]
pub struct SetStatus {
    pub name: String,
    pub source: String,
    pub target: String,
    pub last_sync: Option<SyncInfo>,
    #[serde(serialize_with = "utc_opt")]
    pub last_ok_sync_started_at: Option<DateTime<Utc>>,
    pub lag_s: Option<u64>,
    pub within_rpo: bool,
    pub last_change: Option<ChangeInfo>,
    pub versions: usize,
    pub last_verify: Option<VerifyInfo>,
}

/// The newest change a sync carried to the replica, and how long it took.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeInfo {
    #[serde(serialize_with = "utc_millis")]
    pub newest_change_at: DateTime<Utc>,
    #[serde(serialize_with = "utc_millis")]
    pub reached_replica_at: DateTime<Utc>,
    pub delay_ms: u64,
}

impl ChangeInfo {
    /// Reads the change times of a stored sync result; None when it carried
    /// no change or a time does not parse.
    pub fn from_row(row: &ResultRow) -> Option<ChangeInfo> {
        let text = |field: &str| {
            row.data
                .get(field)
                .and_then(serde_json::Value::as_str)
                .and_then(parse_time)
        };
        let made = text("newest_change_at")?;
        let reached = text("reached_replica_at")?;
        let delay = (reached - made).to_std().unwrap_or(Duration::ZERO);
        Some(ChangeInfo {
            newest_change_at: made,
            reached_replica_at: reached,
            delay_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
        })
    }

    pub fn delay(&self) -> Duration {
        Duration::from_millis(self.delay_ms)
    }
}

/// One recorded sync of a set.
///
/// `files_changed`, `files_deleted` and `bytes_copied` are 0 when the sync
/// stopped before changing anything, and `error` then gives the reason.
/// `item_errors` lists the first `MAX_LISTED` entries that failed while the
/// rest was synced; `item_errors_total` counts all of them.
#[derive(Debug, Clone, Serialize)]
pub struct SyncInfo {
    /// When the result was recorded, at the end of the sync.
    #[serde(serialize_with = "utc")]
    pub at: DateTime<Utc>,
    /// "ok" or "failed".
    pub status: String,
    #[serde(serialize_with = "utc_opt")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "utc_opt")]
    pub finished_at: Option<DateTime<Utc>>,
    pub files_scanned: Option<u64>,
    pub files_changed: u64,
    pub files_deleted: u64,
    pub bytes_copied: u64,
    pub duration_ms: Option<u64>,
    pub version_created: Option<String>,
    /// For the result that the batches of `drkit watch` share per minute:
    /// how many batches it holds; its counts and duration are their sums.
    pub batches: Option<u64>,
    pub error: Option<String>,
    pub item_errors: Vec<PathError>,
    pub item_errors_total: usize,
}

/// One recorded verify of a set. The counts are complete, and each path list
/// contains the first `MAX_LISTED` paths, escaped as the verify stored them.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyInfo {
    #[serde(serialize_with = "utc")]
    pub at: DateTime<Utc>,
    /// "ok" or "failed".
    pub status: String,
    pub files_checked: Option<u64>,
    pub mismatched: usize,
    pub missing: usize,
    pub extra: usize,
    pub errors: usize,
    pub mismatched_paths: Vec<String>,
    pub missing_paths: Vec<String>,
    pub extra_paths: Vec<String>,
    pub item_errors: Vec<PathError>,
    /// The error that stopped the verify, such as a missing source.
    pub error: Option<String>,
}

/// An entry that failed, with the error text.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PathError {
    pub path: String,
    pub error: String,
}

/// One row of `recent_runs`.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub id: i64,
    /// "sync", "verify", "job", ...
    pub kind: String,
    /// The job name, or "manual" for a command run by hand.
    pub name: String,
    #[serde(serialize_with = "utc")]
    pub started_at: DateTime<Utc>,
    #[serde(serialize_with = "utc_opt")]
    pub finished_at: Option<DateTime<Utc>>,
    pub duration_ms: Option<u64>,
    /// "running", "ok", "failed", "timed_out" or "skipped".
    pub status: String,
    pub detail: String,
}

/// Result of re-checking the audit chain.
#[derive(Debug, Clone, Serialize)]
pub struct AuditState {
    pub intact: bool,
    pub rows: Option<u64>,
    pub first_broken_id: Option<i64>,
    pub error: Option<String>,
}

/// A reason why the site is not within its targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    NeverSynced { set: String },
    OverRpo { set: String, lag: Duration },
    SyncFailed { set: String },
    VerifyFailed { set: String },
    AuditBroken { id: i64 },
    AuditUnreadable,
}

/// Reads the state of every configured set, the recent runs and the audit chain.
pub fn gather(config: &Config, store: &Store, lang: Lang, now: DateTime<Utc>) -> Result<DrStatus, StoreError> {
    let mut sets = Vec::with_capacity(config.sets.len());
    for set in &config.sets {
        sets.push(set_status(store, set, config.targets.rpo, now)?);
    }
    let recent_runs = store.recent_runs(RECENT_RUNS)?.iter().map(RunInfo::from_row).collect();
    let targets = TargetsInfo {
        rto_s: config.targets.rto.as_secs(),
        rpo_s: config.targets.rpo.as_secs(),
        rto: config.targets.rto,
        rpo: config.targets.rpo,
    };
    Ok(DrStatus {
        generated_at: now,
        site: config.site.name.clone(),
        language: lang,
        targets,
        sets,
        recent_runs,
        audit: AuditState::check(store),
    })
}

fn set_status(store: &Store, set: &SyncSet, rpo: Duration, now: DateTime<Utc>) -> Result<SetStatus, StoreError> {
    let last_sync = store
        .latest_result("sync", &set.name)?
        .map(|row| SyncInfo::from_row(&row));
    let last_ok_start = store
        .latest_ok_result("sync", &set.name)?
        .and_then(|row| SyncInfo::from_row(&row).started_at);
    let lag = last_ok_start.map(|start| lag(now, start));
    let last_verify = store
        .latest_result("verify", &set.name)?
        .map(|row| VerifyInfo::from_row(&row));
    let last_change = store
        .latest_result_with("sync", &set.name, "newest_change_at")?
        .and_then(|row| ChangeInfo::from_row(&row));
    Ok(SetStatus {
        name: set.name.clone(),
        source: set.source.display().to_string(),
        target: set.target.display().to_string(),
        last_sync,
        last_ok_sync_started_at: last_ok_start,
        lag_s: lag.map(|d| d.as_secs()),
        within_rpo: lag.is_some_and(|d| within_rpo(d, rpo)),
        last_change,
        versions: crate::sync::versions::list(&set.versions_dir).len(),
        last_verify,
    })
}

/// Returns how far the replica may be behind the source: the time since the
/// last successful sync started, because a change made on the source after
/// that start may not be on the replica. A start in the future (a clock
/// set back) counts as no lag.
pub fn lag(now: DateTime<Utc>, last_ok_started_at: DateTime<Utc>) -> Duration {
    (now - last_ok_started_at).to_std().unwrap_or(Duration::ZERO)
}

/// Formats a lag in whole seconds the way the config writes durations ("0s", "1h2m3s").
pub fn format_lag(lag: Duration) -> String {
    if lag.as_secs() == 0 {
        return "0s".to_string();
    }
    format_duration(Duration::from_secs(lag.as_secs()))
}

/// True when `lag` is at most the RPO target.
pub fn within_rpo(lag: Duration, rpo: Duration) -> bool {
    lag <= rpo
}

impl SetStatus {
    /// Returns the lag as a duration, or None when no sync succeeded.
    pub fn lag(&self) -> Option<Duration> {
        self.lag_s.map(Duration::from_secs)
    }

    pub fn sync_failed(&self) -> bool {
        self.last_sync.as_ref().is_some_and(|s| s.status != "ok")
    }

    pub fn verify_failed(&self) -> bool {
        self.last_verify.as_ref().is_some_and(|v| v.status != "ok")
    }
}

impl DrStatus {
    /// Lists what is not within targets: per set (never synced, over the RPO
    /// target, last sync or verify failed), then the audit chain.
    pub fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        for set in &self.sets {
            let name = || set.name.clone();
            match set.lag() {
                None => problems.push(Problem::NeverSynced { set: name() }),
                Some(lag) if !set.within_rpo => problems.push(Problem::OverRpo { set: name(), lag }),
                Some(_) => {}
            }
            if set.sync_failed() {
                problems.push(Problem::SyncFailed { set: name() });
            }
            if set.verify_failed() {
                problems.push(Problem::VerifyFailed { set: name() });
            }
        }
        if let Some(id) = self.audit.first_broken_id {
            problems.push(Problem::AuditBroken { id });
        } else if self.audit.error.is_some() {
            problems.push(Problem::AuditUnreadable);
        }
        problems
    }

    /// True when a set is over its RPO target, was never synced, or its last
    /// sync or verify failed: the cases where `drkit status` exits 1.
    pub fn has_set_problems(&self) -> bool {
        self.problems().iter().any(Problem::concerns_a_set)
    }
}

impl Problem {
    pub fn concerns_a_set(&self) -> bool {
        !matches!(self, Problem::AuditBroken { .. } | Problem::AuditUnreadable)
    }

    /// Returns the one-line description shown in verdicts.
    pub fn describe(&self, lang: Lang, rpo: Duration) -> String {
        match self {
            Problem::NeverSynced { set } => texts::format(lang, "problem_never_synced", &[("set", set)]),
            Problem::OverRpo { set, lag } => texts::format(
                lang,
                "problem_over_rpo",
                &[("set", set), ("lag", &format_lag(*lag)), ("rpo", &format_duration(rpo))],
            ),
            Problem::SyncFailed { set } => texts::format(lang, "problem_sync_failed", &[("set", set)]),
            Problem::VerifyFailed { set } => texts::format(lang, "problem_verify_failed", &[("set", set)]),
            Problem::AuditBroken { id } => texts::format(lang, "problem_audit_broken", &[("id", id)]),
            Problem::AuditUnreadable => texts::format(lang, "problem_audit_error", &[]),
        }
    }
}

/// A sync result as stored: a `SyncSummary`, or `{set, error}` when the
/// sync stopped early. Missing fields take their defaults.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct StoredSync {
    started_at: Option<String>,
    finished_at: Option<String>,
    files_scanned: Option<u64>,
    files_changed: u64,
    files_deleted: u64,
    bytes_copied: u64,
    duration_ms: Option<u64>,
    version_created: Option<String>,
    batches: Option<u64>,
    errors: Vec<PathError>,
    error: Option<String>,
}

/// A verify result as stored: a `VerifyReport`, or `{set, error}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct StoredVerify {
    files_checked: Option<u64>,
    mismatched: Vec<String>,
    missing: Vec<String>,
    extra: Vec<String>,
    errors: Vec<PathError>,
    error: Option<String>,
}

impl SyncInfo {
    /// Reads a stored sync result; data that does not parse counts as empty.
    pub fn from_row(row: &ResultRow) -> SyncInfo {
        let stored: StoredSync = parse_data(row);
        SyncInfo {
            at: row.at,
            status: row.status.clone(),
            started_at: stored.started_at.as_deref().and_then(parse_time),
            finished_at: stored.finished_at.as_deref().and_then(parse_time),
            files_scanned: stored.files_scanned,
            files_changed: stored.files_changed,
            files_deleted: stored.files_deleted,
            bytes_copied: stored.bytes_copied,
            duration_ms: stored.duration_ms,
            version_created: stored.version_created,
            batches: stored.batches,
            error: stored.error,
            item_errors_total: stored.errors.len(),
            item_errors: first(stored.errors),
        }
    }
}

impl VerifyInfo {
    /// Reads a stored verify result; data that does not parse counts as empty.
    pub fn from_row(row: &ResultRow) -> VerifyInfo {
        let stored: StoredVerify = parse_data(row);
        VerifyInfo {
            at: row.at,
            status: row.status.clone(),
            files_checked: stored.files_checked,
            mismatched: stored.mismatched.len(),
            missing: stored.missing.len(),
            extra: stored.extra.len(),
            errors: stored.errors.len(),
            mismatched_paths: first(stored.mismatched),
            missing_paths: first(stored.missing),
            extra_paths: first(stored.extra),
            item_errors: first(stored.errors),
            error: stored.error,
        }
    }
}

impl RunInfo {
    pub fn from_row(row: &RunRow) -> RunInfo {
        let duration_ms = row
            .finished_at
            .and_then(|end| (end - row.started_at).to_std().ok())
            .map(|d| d.as_millis() as u64);
        RunInfo {
            id: row.id,
            kind: row.kind.clone(),
            name: row.name.clone(),
            started_at: row.started_at,
            finished_at: row.finished_at,
            duration_ms,
            status: row.status.as_str().to_string(),
            detail: row.detail.clone(),
        }
    }
}

impl AuditState {
    /// Re-checks the whole chain; a read error is kept as text, not raised,
    /// so that the rest of the report is still written.
    pub fn check(store: &Store) -> AuditState {
        match store.audit_verify() {
            Ok(AuditCheck::Intact { rows }) => AuditState {
                intact: true,
                rows: Some(rows),
                first_broken_id: None,
                error: None,
            },
            Ok(AuditCheck::Broken { id }) => AuditState {
                intact: false,
                rows: None,
                first_broken_id: Some(id),
                error: None,
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot check the audit chain for the report");
                AuditState {
                    intact: false,
                    rows: None,
                    first_broken_id: None,
                    error: Some(e.to_string()),
                }
            }
        }
    }
}

fn parse_data<T: for<'de> Deserialize<'de> + Default>(row: &ResultRow) -> T {
    match serde_json::from_value(row.data.clone()) {
        Ok(value) => value,
        Err(e) => {
            tracing::warn!(result = row.id, kind = %row.kind, error = %e, "stored result does not parse; shown without details");
            T::default()
        }
    }
}

fn first<T>(mut items: Vec<T>) -> Vec<T> {
    items.truncate(MAX_LISTED);
    items
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.with_timezone(&Utc))
}

/// Formats a time as UTC RFC 3339 with whole seconds, as every JSON file writes it.
pub fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn utc<S: Serializer>(time: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&rfc3339(*time))
}

fn utc_millis<S: Serializer>(time: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&time.to_rfc3339_opts(SecondsFormat::Millis, true))
}

fn utc_opt<S: Serializer>(time: &Option<DateTime<Utc>>, serializer: S) -> Result<S::Ok, S::Error> {
    match time {
        Some(time) => serializer.serialize_str(&rfc3339(*time)),
        None => serializer.serialize_none(),
    }
}

/// The content of `sync_status.json`: the sync part of each set of `DrStatus`.
#[derive(Debug, Serialize)]
pub struct SyncStatusFile<'a> {
    #[serde(serialize_with = "utc")]
    pub generated_at: DateTime<Utc>,
    pub site: &'a str,
    pub rpo_s: u64,
    pub sets: Vec<SyncPart<'a>>,
}

/// The sync fields of one `SetStatus`, named as in `dr_status.json`.
#[derive(Debug, Serialize)]
pub struct SyncPart<'a> {
    pub name: &'a str,
    pub source: &'a str,
    pub target: &'a str,
    pub last_sync: Option<&'a SyncInfo>,
    #[serde(serialize_with = "utc_opt")]
    pub last_ok_sync_started_at: Option<DateTime<Utc>>,
    pub lag_s: Option<u64>,
    pub within_rpo: bool,
    pub last_change: Option<&'a ChangeInfo>,
}

impl DrStatus {
    /// Returns the sync part of the snapshot, for `sync_status.json`.
    pub fn sync_part(&self) -> SyncStatusFile<'_> {
        SyncStatusFile {
            generated_at: self.generated_at,
            site: &self.site,
            rpo_s: self.targets.rpo_s,
            sets: self
                .sets
                .iter()
                .map(|s| SyncPart {
                    name: &s.name,
                    source: &s.source,
                    target: &s.target,
                    last_sync: s.last_sync.as_ref(),
                    last_ok_sync_started_at: s.last_ok_sync_started_at,
                    lag_s: s.lag_s,
                    within_rpo: s.within_rpo,
                    last_change: s.last_change.as_ref(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{SubsecRound, TimeDelta};
    use serde_json::json;

    #[test]
    fn lag_counts_from_last_ok_start() {
        let now = Utc::now();
        assert_eq!(lag(now, now - TimeDelta::seconds(90)), Duration::from_secs(90));
        assert_eq!(lag(now, now + TimeDelta::seconds(5)), Duration::ZERO);
    }

    #[test]
    fn within_rpo_includes_the_target() {
        let rpo = Duration::from_secs(60);
        assert!(within_rpo(Duration::from_secs(60), rpo));
        assert!(!within_rpo(Duration::from_secs(61), rpo));
    }

    #[test]
    fn format_lag_uses_whole_seconds() {
        assert_eq!(format_lag(Duration::from_millis(400)), "0s");
        assert_eq!(format_lag(Duration::from_millis(61_900)), "1m1s");
    }

    struct Site {
        _dir: tempfile::TempDir,
        config: Config,
        store: Store,
    }

    /// Creates a config with the sets "www" and "db" under a temp folder, and its store.
    fn site() -> Site {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().display();
        let text = format!(
            r#"
[site]
name = "web1"
data_dir = "{root}/data"
report_dir = "{root}/reports"
language = "en"

[targets]
rto = "15m"
rpo = "60s"

[[sync]]
name = "www"
source = "{root}/src/www"
target = "{root}/replica/www"

[[sync]]
name = "db"
source = "{root}/src/db"
target = "{root}/replica/db"
"#
        );
        let config = crate::config::parse(&dir.path().join("drkit.toml"), &text, None).unwrap();
        let store = Store::open(&config.site.data_dir).unwrap();
        Site {
            _dir: dir,
            config,
            store,
        }
    }

    fn text_time(time: DateTime<Utc>) -> String {
        time.to_rfc3339_opts(SecondsFormat::Micros, true)
    }

    #[test]
    fn gather_measures_lag_from_last_ok_sync() {
        let site = site();
        let now = Utc::now().trunc_subsecs(0);
        let ok =
            json!({"started_at": text_time(now - TimeDelta::seconds(30)), "files_changed": 3, "bytes_copied": 1200});
        site.store.record_result(None, "sync", "www", "ok", &ok).unwrap();
        let stopped = json!({"set": "www", "error": "the source is empty"});
        site.store
            .record_result(None, "sync", "www", "failed", &stopped)
            .unwrap();

        let status = gather(&site.config, &site.store, Lang::En, now).unwrap();
        let www = &status.sets[0];
        assert_eq!(www.lag_s, Some(30));
        assert!(www.within_rpo);
        let last = www.last_sync.as_ref().unwrap();
        assert_eq!(last.status, "failed");
        assert_eq!(last.error.as_deref(), Some("the source is empty"));
        assert_eq!(last.files_changed, 0);
        assert_eq!(www.last_ok_sync_started_at, Some(now - TimeDelta::seconds(30)));
    }

    #[test]
    fn gather_marks_old_sync_over_rpo() {
        let site = site();
        let now = Utc::now().trunc_subsecs(0);
        let ok = json!({"started_at": text_time(now - TimeDelta::seconds(61))});
        site.store.record_result(None, "sync", "www", "ok", &ok).unwrap();

        let status = gather(&site.config, &site.store, Lang::En, now).unwrap();
        assert_eq!(status.sets[0].lag_s, Some(61));
        assert!(!status.sets[0].within_rpo);
        assert!(status.problems().contains(&Problem::OverRpo {
            set: "www".into(),
            lag: Duration::from_secs(61)
        }));
        assert!(status.has_set_problems());
    }

    #[test]
    fn json_has_documented_fields() {
        let site = site();
        let now = Utc::now().trunc_subsecs(0);
        let ok = json!({"started_at": text_time(now - TimeDelta::seconds(5)), "files_scanned": 10, "files_changed": 4, "files_deleted": 1, "bytes_copied": 999, "duration_ms": 12});
        site.store.record_result(None, "sync", "www", "ok", &ok).unwrap();
        let many: Vec<String> = (0..MAX_LISTED + 10).map(|i| format!("file{i}")).collect();
        let verify = json!({"files_checked": 70, "mismatched": many, "missing": ["gone"], "extra": [], "errors": [{"path": "p", "error": "denied"}]});
        site.store
            .record_result(None, "verify", "www", "failed", &verify)
            .unwrap();
        std::fs::create_dir_all(site.config.sets[0].versions_dir.join("20261204T203000.000Z")).unwrap();

        let status = gather(&site.config, &site.store, Lang::Es, now).unwrap();
        let value: serde_json::Value = serde_json::from_str(&crate::report::dr_status_json(&status)).unwrap();

        assert_eq!(value["generated_at"], rfc3339(now));
        assert_eq!(value["site"], "web1");
        assert_eq!(value["language"], "es");
        assert_eq!(value["targets"], json!({"rto_s": 900, "rpo_s": 60}));
        let www = &value["sets"][0];
        assert_eq!(www["name"], "www");
        assert_eq!(www["lag_s"], 5);
        assert_eq!(www["within_rpo"], true);
        assert_eq!(www["versions"], 1);
        assert_eq!(www["last_sync"]["status"], "ok");
        assert_eq!(www["last_sync"]["files_scanned"], 10);
        assert_eq!(www["last_sync"]["files_changed"], 4);
        assert_eq!(www["last_sync"]["files_deleted"], 1);
        assert_eq!(www["last_sync"]["bytes_copied"], 999);
        assert_eq!(www["last_sync"]["started_at"], rfc3339(now - TimeDelta::seconds(5)));
        assert_eq!(www["last_verify"]["status"], "failed");
        assert_eq!(www["last_verify"]["mismatched"], MAX_LISTED + 10);
        assert_eq!(
            www["last_verify"]["mismatched_paths"].as_array().unwrap().len(),
            MAX_LISTED
        );
        assert_eq!(www["last_verify"]["missing_paths"], json!(["gone"]));
        assert_eq!(
            www["last_verify"]["item_errors"],
            json!([{"path": "p", "error": "denied"}])
        );
        let db = &value["sets"][1];
        assert_eq!(db["last_sync"], serde_json::Value::Null);
        assert_eq!(db["lag_s"], serde_json::Value::Null);
        assert_eq!(db["within_rpo"], false);
        assert_eq!(db["last_verify"], serde_json::Value::Null);
        assert_eq!(value["recent_runs"], json!([]));
        assert_eq!(
            value["audit"],
            json!({"intact": true, "rows": 0, "first_broken_id": null, "error": null})
        );
    }

    #[test]
    fn sync_json_has_no_verify_part() {
        let site = site();
        let status = gather(&site.config, &site.store, Lang::En, Utc::now()).unwrap();
        let value: serde_json::Value = serde_json::from_str(&crate::report::sync_status_json(&status)).unwrap();
        assert_eq!(value["rpo_s"], 60);
        assert_eq!(value["sets"][0]["name"], "www");
        assert!(value["sets"][0].get("last_sync").is_some());
        assert!(value["sets"][0].get("last_verify").is_none());
        assert!(value["sets"][0].get("versions").is_none());
    }

    #[test]
    fn problems_list_never_synced_and_failures() {
        let mut site = site();
        let now = Utc::now().trunc_subsecs(0);
        let ok = json!({"started_at": text_time(now)});
        site.store.record_result(None, "sync", "www", "ok", &ok).unwrap();
        site.store
            .record_result(None, "verify", "www", "failed", &json!({"extra": ["x"]}))
            .unwrap();
        site.store.audit_append("test", "sync", "www", "ok").unwrap();

        let status = gather(&site.config, &site.store, Lang::En, now).unwrap();
        assert_eq!(
            status.problems(),
            vec![
                Problem::VerifyFailed { set: "www".into() },
                Problem::NeverSynced { set: "db".into() },
            ]
        );
        assert_eq!(status.audit.rows, Some(1));
    }

    #[test]
    fn run_duration_from_start_and_finish() {
        let site = site();
        let run = site.store.begin_run("sync", "cli").unwrap();
        site.store
            .finish_run(run, crate::store::RunStatus::Failed, "stopped")
            .unwrap();
        let status = gather(&site.config, &site.store, Lang::En, Utc::now()).unwrap();
        let info = &status.recent_runs[0];
        assert_eq!(info.kind, "sync");
        assert_eq!(info.status, "failed");
        assert_eq!(info.detail, "stopped");
        assert!(info.duration_ms.is_some());
    }
}
