//! `drkit sync [SET…]`.

use clap::Args;

use super::texts::{self, bytes, seconds};
use super::Context;
use crate::config::{MaxDelete, SyncSet};
use crate::exit::Exit;
use crate::i18n::Lang;
use crate::store::RunStatus;
use crate::sync::{SyncError, SyncOptions, SyncSummary};

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Sets to sync, by name [default: every set]
    #[arg(value_name = "SET")]
    pub sets: Vec<String>,
    /// Print one JSON summary per set on stdout instead of text
    #[arg(long)]
    pub json: bool,
    /// Allow this many deletions for this run: a percentage such as "25%" or a file count
    #[arg(long, value_name = "LIMIT")]
    pub max_delete: Option<String>,
    /// Sync only this path of the source (absolute, or relative to the source) and, for a folder, everything in it; repeatable
    #[arg(long = "path", value_name = "PATH")]
    pub paths: Vec<std::path::PathBuf>,
}

/// Syncs the chosen sets one after the other; a failed set does not stop the others.
pub fn execute(ctx: &mut Context, args: &SyncArgs) -> Exit {
    let Some(sets) = select_sets(ctx, &args.sets) else {
        return Exit::Usage;
    };
    let max_delete = match &args.max_delete {
        None => None,
        Some(value) => match MaxDelete::parse(value) {
            Some(limit) => Some(limit),
            None => {
                texts::error(
                    ctx.lang,
                    &texts::format(ctx.lang, "invalid_max_delete", &[("value", value)]),
                );
                return Exit::Usage;
            }
        },
    };
    let options = SyncOptions {
        max_delete,
        scope: if args.paths.is_empty() {
            crate::sync::Scope::All
        } else {
            crate::sync::Scope::Paths(args.paths.clone())
        },
        ..SyncOptions::default()
    };
    let run = super::own_run(ctx, "sync");
    let mut exit = Exit::Ok;
    let mut peers = super::peers::Peers::default();
    let output = if args.json { Output::Json } else { Output::Text };
    for set in &sets {
        exit = exit.worst(sync_one(ctx, set, &options, output, run, &mut peers));
    }
    peers.close();
    super::finish_own_run(ctx, run, exit);
    crate::report::refresh(ctx);
    exit
}

/// Syncs one set to its local replica, or to its peer over the run's SSH session.
fn sync_set(
    ctx: &mut Context,
    set: &SyncSet,
    options: &SyncOptions,
    peers: &mut super::peers::Peers,
) -> Result<SyncSummary, SyncError> {
    let Some(node) = ctx.config.node_of(set).cloned() else {
        return crate::sync::sync_set(&mut ctx.store, set, options);
    };
    let link = peers.link(&node, ctx.lang).map_err(|message| SyncError::Peer {
        set: set.name.clone(),
        peer: node.name.clone(),
        message,
    })?;
    let wire = super::peers::wire(set, link, ctx.lang);
    let result = crate::sync::remote::sync_remote(&mut ctx.store, set, options, &mut link.agent, &wire);
    if matches!(result, Err(SyncError::Peer { .. })) {
        peers.forget(&node);
    }
    result
}

/// The destination of a sync's outcome, besides the state database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// A summary in the user's language on stdout.
    Text,
    /// One JSON object on stdout.
    Json,
    /// The log only, for the many small syncs of a follower.
    Log,
}

/// The changes one batch of a follower syncs.
#[derive(Debug, Clone)]
pub enum Batch {
    /// Paths that changed under the set's source: absolute, or relative to
    /// the source. A folder stands for everything below it.
    Paths(Vec<std::path::PathBuf>),
    /// The whole set, as `drkit sync SET` does.
    All,
}

/// Syncs one set batch after batch in one process, keeping the SSH session
/// to its peer open between batches. Each batch is a sync of its own: it
/// takes the set's lock, keeps a version and is recorded like `drkit sync`.
/// A watcher can make ten batches a second. So that each does not add a
/// result, a run and an audit entry, the successful batches of one UTC
/// minute share one result. The first batch records it and the next ones
/// add to it (see `SyncSummary::absorb`). A failed batch and a whole sync
/// are recorded on their own.
pub struct Follower {
    set: SyncSet,
    peers: super::peers::Peers,
    minute: Option<MinuteRecord>,
    /// Files deleted by the batches of the last `GUARD_WINDOW`, oldest first.
    deletions: std::collections::VecDeque<(std::time::Instant, u64)>,
    /// The deletion guard stopped a batch: whole syncs run until one passes.
    guarded: bool,
}

/// How far back a watcher's batches count their deletions together against
/// `max_delete`.
const GUARD_WINDOW: std::time::Duration = std::time::Duration::from_secs(3600);

/// The result that the successful batches of one minute add to.
struct MinuteRecord {
    /// Minutes since the epoch.
    minute: i64,
    run: Option<i64>,
    result: i64,
    summary: SyncSummary,
}

impl Follower {
    pub fn new(set: SyncSet) -> Follower {
        Follower {
            set,
            peers: super::peers::Peers::default(),
            minute: None,
            deletions: std::collections::VecDeque::new(),
            guarded: false,
        }
    }

    /// Syncs one batch and records it; returns the exit code `drkit sync`
    /// would have given.
    pub fn sync(&mut self, ctx: &mut Context, batch: Batch, output: Output) -> Exit {
        // Once the guard stopped a batch, only a whole sync, which checks the
        // limit against the whole replica, can tell that the source is fine.
        let batch = if self.guarded { Batch::All } else { batch };
        let is_paths = matches!(batch, Batch::Paths(_));
        let now = std::time::Instant::now();
        while self
            .deletions
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) > GUARD_WINDOW)
        {
            self.deletions.pop_front();
        }
        let options = SyncOptions {
            scope: match batch {
                Batch::All => crate::sync::Scope::All,
                Batch::Paths(paths) => crate::sync::Scope::Paths(paths),
            },
            prune_later: true,
            deleted_recently: self.deletions.iter().map(|(_, count)| count).sum(),
            ..SyncOptions::default()
        };
        if !is_paths {
            self.minute = None;
            let run = watch_run(ctx);
            let exit = sync_one(ctx, &self.set, &options, output, run, &mut self.peers);
            super::finish_own_run(ctx, run, exit);
            if exit == Exit::Ok {
                // The whole replica now matches the source, with the recent
                // deletions counted in its check.
                self.guarded = false;
                self.deletions.clear();
            } else {
                self.peers.forget_failures();
            }
            return exit;
        }
        match sync_set(ctx, &self.set, &options, &mut self.peers) {
            Ok(summary) if summary.is_ok() => {
                if summary.files_deleted > 0 {
                    self.deletions.push_back((now, summary.files_deleted));
                }
                tracing::info!(set = %self.set.name, files_changed = summary.files_changed, files_deleted = summary.files_deleted, duration_ms = summary.duration_ms, status = "ok", "sync finished");
                self.record_batch(ctx, summary);
                Exit::Ok
            }
            outcome => {
                self.minute = None;
                self.guarded = matches!(outcome, Err(SyncError::DeletionGuard { .. }));
                if let Ok(summary) = &outcome {
                    if summary.files_deleted > 0 {
                        self.deletions.push_back((now, summary.files_deleted));
                    }
                }
                let run = watch_run(ctx);
                let exit = report_outcome(ctx, &self.set, outcome, output, run);
                super::finish_own_run(ctx, run, exit);
                self.peers.forget_failures();
                exit
            }
        }
    }

    /// Adds a successful batch to the result of its minute, or records a
    /// new result when the minute is new.
    fn record_batch(&mut self, ctx: &mut Context, summary: SyncSummary) {
        let minute = chrono::Utc::now().timestamp().div_euclid(60);
        if let Some(record) = self.minute.as_mut().filter(|record| record.minute == minute) {
            record.summary.absorb(summary);
            let data = serde_json::to_value(&record.summary).unwrap_or_default();
            if let Err(e) = ctx.store.update_result(record.result, "ok", &data) {
                tracing::error!(error = %e, set = %self.set.name, "cannot store the result");
            }
            if let Some(run) = record.run {
                if let Err(e) = ctx.store.finish_run(run, crate::store::RunStatus::Ok, "") {
                    tracing::error!(error = %e, "cannot record the end of the run");
                }
            }
            return;
        }
        let mut summary = summary;
        summary.start_batches();
        let run = watch_run(ctx);
        let data = serde_json::to_value(&summary).unwrap_or_default();
        let result = super::record(ctx, run, "sync", &self.set.name, "ok", &data);
        super::finish_own_run(ctx, run, Exit::Ok);
        self.minute = result.map(|result| MinuteRecord {
            minute,
            run: if ctx.run_id.is_some() { None } else { run },
            result,
            summary,
        });
    }

    /// Closes the SSH session, if one is open, once the last prune of old
    /// versions has finished.
    pub fn close(self) {
        crate::sync::versions::wait_for_pruning();
        self.peers.close();
    }
}

/// Name of the runs that `drkit watch` records, so the recent runs tell
/// them from syncs started by hand.
const WATCH_RUN: &str = "watch";

fn watch_run(ctx: &Context) -> Option<i64> {
    super::own_run_named(ctx, "sync", WATCH_RUN)
}

fn sync_one(
    ctx: &mut Context,
    set: &SyncSet,
    options: &SyncOptions,
    output: Output,
    run: Option<i64>,
    peers: &mut super::peers::Peers,
) -> Exit {
    tracing::debug!(set = %set.name, "sync started");
    let outcome = sync_set(ctx, set, options, peers);
    report_outcome(ctx, set, outcome, output, run)
}

/// Records the outcome of one sync, prints it to `output`, and returns its
/// exit code.
fn report_outcome(
    ctx: &mut Context,
    set: &SyncSet,
    outcome: Result<SyncSummary, SyncError>,
    output: Output,
    run: Option<i64>,
) -> Exit {
    match outcome {
        Ok(summary) => {
            let status = if summary.is_ok() { "ok" } else { "failed" };
            let data = serde_json::to_value(&summary).unwrap_or_default();
            super::record(ctx, run, "sync", &set.name, status, &data);
            tracing::info!(set = %set.name, files_changed = summary.files_changed, files_deleted = summary.files_deleted, duration_ms = summary.duration_ms, status, "sync finished");
            match output {
                Output::Json => {
                    println!("{data}");
                    print_warnings(ctx.lang, &summary);
                }
                Output::Text => print_summary(ctx.lang, &summary),
                Output::Log => print_warnings(ctx.lang, &summary),
            }
            if summary.is_ok() {
                Exit::Ok
            } else {
                Exit::Failed
            }
        }
        Err(e) => {
            let message = sync_error_text(ctx.lang, &e);
            tracing::info!(set = %set.name, error = %e, outcome = "failed", "sync stopped");
            let data = serde_json::json!({ "set": set.name, "error": message });
            super::record(ctx, run, "sync", &set.name, "failed", &data);
            if output == Output::Json {
                println!("{data}");
            }
            texts::error(ctx.lang, &message);
            Exit::Failed
        }
    }
}

fn print_summary(lang: Lang, s: &SyncSummary) {
    texts::say(
        lang,
        "sync_done",
        &[
            ("set", &s.set),
            ("scanned", &s.files_scanned),
            ("changed", &s.files_changed),
            ("deleted", &s.files_deleted),
            ("bytes", &bytes(lang, s.bytes_copied)),
            ("secs", &seconds(lang, s.duration_ms)),
        ],
    );
    match &s.version_created {
        Some(name) => texts::say(
            lang,
            "sync_version",
            &[("name", name), ("count", &s.versions_kept), ("dir", &s.versions_dir)],
        ),
        None if s.files_changed == 0 && s.files_deleted == 0 => texts::say(lang, "sync_unchanged", &[]),
        None => {}
    }
    print_warnings(lang, s);
}

/// Prints the entries that were skipped or failed, on stderr.
fn print_warnings(lang: Lang, s: &SyncSummary) {
    for path in &s.unstable {
        texts::warn(lang, texts::format(lang, "sync_unstable", &[("path", path)]).trim());
    }
    for path in &s.skipped_special {
        texts::warn(lang, texts::format(lang, "sync_special", &[("path", path)]).trim());
    }
    for item in &s.errors {
        texts::error(
            lang,
            texts::format(lang, "item_failed", &[("path", &item.path), ("error", &item.error)]).trim(),
        );
    }
    if !s.errors.is_empty() {
        let key = if s.errors.len() == 1 {
            "sync_failed_item"
        } else {
            "sync_failed_items"
        };
        texts::error(
            lang,
            &texts::format(lang, key, &[("set", &s.set), ("count", &s.errors.len())]),
        );
    }
}

/// Translates the errors that stop a sync; the others keep their English text.
pub fn sync_error_text(lang: Lang, e: &SyncError) -> String {
    match e {
        SyncError::SourceMissing { set, path } => {
            texts::format(lang, "source_missing", &[("set", set), ("path", &path.display())])
        }
        SyncError::SourceEmpty { set, path } => {
            texts::format(lang, "source_empty", &[("set", set), ("path", &path.display())])
        }
        SyncError::DeletionGuard {
            set,
            would_delete,
            replica_files,
            allowed,
            max_delete,
            deleted_recently,
        } if *deleted_recently > 0 => texts::format(
            lang,
            "deletion_guard_recent",
            &[
                ("set", set),
                ("count", &(would_delete - deleted_recently)),
                ("total", would_delete),
                ("before", replica_files),
                ("limit", max_delete),
                ("allowed", allowed),
            ],
        ),
        SyncError::DeletionGuard {
            set,
            would_delete,
            replica_files,
            allowed,
            max_delete,
            ..
        } => texts::format(
            lang,
            "deletion_guard",
            &[
                ("set", set),
                ("count", would_delete),
                ("total", replica_files),
                ("limit", max_delete),
                ("allowed", allowed),
            ],
        ),
        SyncError::Peer { set, peer, message } => texts::format(
            lang,
            "peer_failed",
            &[("set", set), ("peer", peer), ("message", message)],
        ),
        other => other.to_string(),
    }
}

/// Returns the sets named on the command line, or all sets. Prints an error
/// and returns None when a name is unknown or the config has no set.
pub fn select_sets(ctx: &Context, names: &[String]) -> Option<Vec<SyncSet>> {
    let all = &ctx.config.sets;
    if all.is_empty() {
        texts::error(ctx.lang, &texts::format(ctx.lang, "no_sets", &[]));
        return None;
    }
    if names.is_empty() {
        return Some(all.clone());
    }
    let mut chosen = Vec::new();
    for name in names {
        match all.iter().find(|s| &s.name == name) {
            Some(set) => chosen.push(set.clone()),
            None => {
                let known: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
                texts::error(
                    ctx.lang,
                    &texts::format(ctx.lang, "unknown_set", &[("name", name), ("known", &known.join(", "))]),
                );
                return None;
            }
        }
    }
    Some(chosen)
}

impl From<Exit> for RunStatus {
    fn from(exit: Exit) -> RunStatus {
        match exit {
            Exit::Ok => RunStatus::Ok,
            _ => RunStatus::Failed,
        }
    }
}
