//! Reports: the dashboard (`index.html`), the daily pages
//! (`daily/YYYY-MM-DD.html`) and the JSON status files (`dr_status.json`,
//! `sync_status.json`) in the config's `site.report_dir`, and the text
//! status of `drkit status`.
//!
//! Each command reads one snapshot (`model::gather`) and renders every file
//! from it, so the pages and the JSON agree. Files are replaced atomically
//! (`write`), so the web server never serves a partial page. Pages are in
//! the user's language; JSON field names are English.

mod daily_page;
mod dashboard;
mod day;
mod layout;
pub mod model;
mod terminal;
pub mod texts;
mod write;

use std::path::{Path, PathBuf};

use chrono::{Local, NaiveDate, Utc};

use crate::commands::Context;
use crate::exit::Exit;
use crate::store::StoreError;
use model::DrStatus;

/// File name of the dashboard in the report folder.
pub const INDEX_FILE: &str = "index.html";
/// File name of the full JSON status (see `model::DrStatus`).
pub const DR_STATUS_FILE: &str = "dr_status.json";
/// File name of the JSON status of the syncs alone.
pub const SYNC_STATUS_FILE: &str = "sync_status.json";
/// Folder of the daily pages inside the report folder.
pub const DAILY_DIR: &str = "daily";

/// How many daily pages the dashboard links to, newest first.
const DAILY_LINKS: usize = 31;

/// Failure to read the state or to write a report file.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// Rewrites `index.html`, `dr_status.json` and `sync_status.json` after a
/// command changed the state. A failure is logged as a warning and does
/// not change the command's outcome.
pub fn refresh(ctx: &Context) {
    let written = snapshot(ctx).and_then(|status| write_status_files(ctx, &status));
    if let Err(e) = written {
        tracing::warn!(error = %e, report_dir = %ctx.config.site.report_dir.display(), "cannot refresh the reports");
    }
}

/// Prints the status (the content of `dr_status.json` with `json`, else a
/// table in the user's language) and rewrites the status files. Returns
/// `Exit::Failed` when a set was never synced, is over its RPO target, or
/// its last sync or verify failed. A failure to write the files is only
/// logged.
pub fn status(ctx: &Context, json: bool) -> Exit {
    let status = match snapshot(ctx) {
        Ok(status) => status,
        Err(e) => {
            let message = texts::format(ctx.lang, "status_failed_to_read", &[("error", &e)]);
            crate::commands::texts::error(ctx.lang, &message);
            return Exit::Failed;
        }
    };
    if let Err(e) = write_status_files(ctx, &status) {
        tracing::warn!(error = %e, "cannot refresh the reports");
    }

    if json {
        print!("{}", dr_status_json(&status));
    } else {
        print!("{}", terminal::render(&status, ctx.lang));
    }

    if status.has_set_problems() {
        Exit::Failed
    } else {
        Exit::Ok
    }
}

/// Writes today's daily page (local date), then the dashboard and the JSON
/// files, and prints the paths of the dashboard and of the daily page.
/// Returns `Exit::Failed` when a file could not be written.
pub fn daily(ctx: &Context) -> Exit {
    match write_daily(ctx) {
        Ok(daily_path) => {
            let index_path = ctx.config.site.report_dir.join(INDEX_FILE);
            println!(
                "{}",
                texts::format(ctx.lang, "index_written", &[("path", &index_path.display())])
            );
            println!(
                "{}",
                texts::format(ctx.lang, "daily_written", &[("path", &daily_path.display())])
            );
            Exit::Ok
        }
        Err(e) => {
            let message = match &e {
                ReportError::Write { path, source } => texts::format(
                    ctx.lang,
                    "write_failed",
                    &[("path", &path.display()), ("error", source)],
                ),
                ReportError::Store(e) => texts::format(ctx.lang, "status_failed_to_read", &[("error", e)]),
            };
            tracing::error!(error = %e, "daily report failed");
            crate::commands::texts::error(ctx.lang, &message);
            Exit::Failed
        }
    }
}

fn write_daily(ctx: &Context) -> Result<PathBuf, ReportError> {
    let status = snapshot(ctx)?;
    let today = status.generated_at.with_timezone(&Local).date_naive();
    let activity = day::gather(&ctx.store, today)?;

    let path = daily_path(&ctx.config.site.report_dir, today);
    write_file(&path, daily_page::render(&status, &activity, ctx.lang).as_bytes())?;

    write_status_files(ctx, &status)?;
    Ok(path)
}

/// Returns the path of the daily page of `date`.
pub fn daily_path(report_dir: &Path, date: NaiveDate) -> PathBuf {
    report_dir
        .join(DAILY_DIR)
        .join(format!("{}.html", date.format("%Y-%m-%d")))
}

fn snapshot(ctx: &Context) -> Result<DrStatus, ReportError> {
    Ok(model::gather(&ctx.config, &ctx.store, ctx.lang, Utc::now())?)
}

/// Writes the JSON files first and the dashboard last, so that the
/// dashboard's links to daily pages include one written just before.
fn write_status_files(ctx: &Context, status: &DrStatus) -> Result<(), ReportError> {
    let dir = &ctx.config.site.report_dir;
    write::remove_stale_temps(dir);
    write::remove_stale_temps(&dir.join(DAILY_DIR));

    write_file(&dir.join(DR_STATUS_FILE), dr_status_json(status).as_bytes())?;
    write_file(&dir.join(SYNC_STATUS_FILE), sync_status_json(status).as_bytes())?;

    let pages = daily_pages(&dir.join(DAILY_DIR));
    write_file(
        &dir.join(INDEX_FILE),
        dashboard::render(status, ctx.lang, &pages).as_bytes(),
    )
}

fn write_file(path: &Path, contents: &[u8]) -> Result<(), ReportError> {
    write::write_atomic(path, contents).map_err(|source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Returns the content of `dr_status.json`: pretty-printed, ending in a newline.
pub fn dr_status_json(status: &DrStatus) -> String {
    let text = serde_json::to_string_pretty(status).expect("the status has only string keys and finite numbers");
    text + "\n"
}

/// Returns the content of `sync_status.json`.
pub fn sync_status_json(status: &DrStatus) -> String {
    let text =
        serde_json::to_string_pretty(&status.sync_part()).expect("the status has only string keys and finite numbers");
    text + "\n"
}

/// Lists the daily pages in `dir` (names `YYYY-MM-DD.html`), newest first,
/// at most `DAILY_LINKS`.
fn daily_pages(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut dates: Vec<NaiveDate> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let stem = name.strip_suffix(".html")?;
            let date = NaiveDate::parse_from_str(stem, "%Y-%m-%d").ok()?;
            (date.format("%Y-%m-%d").to_string() == stem).then_some(date)
        })
        .collect();
    dates.sort_unstable_by(|a, b| b.cmp(a));
    dates.truncate(DAILY_LINKS);
    dates.iter().map(|d| format!("{}.html", d.format("%Y-%m-%d"))).collect()
}
