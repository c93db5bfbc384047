//! `index.html`: the dashboard of the whole site, rewritten after every
//! sync and verify.

use maud::{html, Markup};

use super::layout::{self, badge, page, rpo_badge, status_badge, Tone};
use super::model::{format_lag, within_rpo, AuditState, DrStatus, RunInfo, SetStatus, SyncInfo, VerifyInfo};
use super::texts::{self, text};
use crate::commands::texts::{bytes, seconds};
use crate::config::format_duration;
use crate::i18n::Lang;

/// Renders the dashboard. `daily_pages` are the file names of the daily
/// reports under `daily/`, newest first.
pub fn render(status: &DrStatus, lang: Lang, daily_pages: &[String]) -> String {
    let title = texts::format(lang, "dashboard_title", &[("site", &status.site)]);
    let body = html! {
        header {
            h1 { (title) }
            (layout::generated_and_targets(status, lang))
        }
        main {
            (layout::verdict(lang, &status.problems(), status.targets.rpo))
            (sets(status, lang))
            (recent_runs(&status.recent_runs, lang))
            (audit(&status.audit, lang))
            (daily_links(daily_pages, lang))
        }
    };
    page(lang, &title, body).into_string()
}

fn sets(status: &DrStatus, lang: Lang) -> Markup {
    html! {
        section {
            h2 { (text(lang, "sets")) }
            @if status.sets.is_empty() {
                p { (text(lang, "no_sets")) }
            }
            @for set in &status.sets {
                (set_card(set, status, lang))
            }
        }
    }
}

fn set_card(set: &SetStatus, status: &DrStatus, lang: Lang) -> Markup {
    html! {
        article.set id={ "set-" (set.name) } {
            h3 { (set.name) }
            p.path { code { (set.source) } " → " code { (set.target) } }
            dl {
                dt { (text(lang, "last_sync")) }
                dd { (last_sync(set.last_sync.as_ref(), lang)) }
                dt { (text(lang, "lag")) }
                dd { (lag(set, status, lang)) }
                dt { (text(lang, "last_change")) }
                dd { (last_change(set, status, lang)) }
                dt { (text(lang, "versions")) }
                dd { (set.versions) }
                dt { (text(lang, "last_verify")) }
                dd { (last_verify(set.last_verify.as_ref(), lang)) }
            }
        }
    }
}

fn last_sync(sync: Option<&SyncInfo>, lang: Lang) -> Markup {
    let Some(sync) = sync else {
        return html! { (badge(Tone::Bad, text(lang, "never_synced"))) };
    };
    html! {
        (layout::time(sync.at)) " " (status_badge(lang, &sync.status))
        br;
        @if let Some(error) = &sync.error {
            (text(lang, "sync_stopped")) ": " span.error { (error) }
        } @else {
            (sync_counts(sync, lang))
        }
        (layout::error_list(lang, &sync.item_errors, sync.item_errors_total))
    }
}

/// Returns the counts of a sync: files changed, deleted, bytes copied.
pub fn sync_counts(sync: &SyncInfo, lang: Lang) -> String {
    texts::format(
        lang,
        "sync_counts",
        &[
            ("changed", &sync.files_changed),
            ("deleted", &sync.files_deleted),
            ("bytes", &bytes(lang, sync.bytes_copied)),
        ],
    )
}

fn lag(set: &SetStatus, status: &DrStatus, lang: Lang) -> Markup {
    let Some(lag) = set.lag() else {
        return html! { (rpo_badge(lang, false)) " " (text(lang, "lag_unknown")) };
    };
    let rpo = format_duration(status.targets.rpo);
    html! {
        (rpo_badge(lang, set.within_rpo)) " "
        (texts::format(lang, "lag_value", &[("lag", &format_lag(lag)), ("rpo", &rpo)]))
        @if let Some(start) = set.last_ok_sync_started_at {
            br;
            small { (text(lang, "lag_from")) ": " (layout::time(start)) }
        }
    }
}

fn last_change(set: &SetStatus, status: &DrStatus, lang: Lang) -> Markup {
    let Some(change) = &set.last_change else {
        return html! { (text(lang, "no_change")) };
    };
    let rpo = status.targets.rpo;
    html! {
        (rpo_badge(lang, within_rpo(change.delay(), rpo))) " "
        (texts::format(lang, "last_change_value", &[
            ("made", &layout::time_millis(change.newest_change_at)),
            ("reached", &layout::time_millis(change.reached_replica_at)),
            ("delay", &seconds(lang, change.delay_ms)),
            ("rpo", &format_duration(rpo)),
        ]))
    }
}

fn last_verify(verify: Option<&VerifyInfo>, lang: Lang) -> Markup {
    let Some(verify) = verify else {
        return html! { (badge(Tone::Neutral, text(lang, "never_verified"))) };
    };
    html! {
        (layout::time(verify.at)) " " (status_badge(lang, &verify.status))
        br;
        @if let Some(error) = &verify.error {
            span.error { (error) }
        } @else {
            (verify_counts(verify, lang))
        }
        (verify_details(verify, lang, false))
    }
}

/// Returns the counts of a verify: files checked, different, missing, extra.
pub fn verify_counts(verify: &VerifyInfo, lang: Lang) -> String {
    texts::format(
        lang,
        "verify_counts",
        &[
            ("checked", &verify.files_checked.unwrap_or(0)),
            ("mismatched", &verify.mismatched),
            ("missing", &verify.missing),
            ("extra", &verify.extra),
        ],
    )
}

/// Renders the path lists of a verify that found differences, unfolded when `open`.
pub fn verify_details(verify: &VerifyInfo, lang: Lang, open: bool) -> Markup {
    html! {
        (layout::path_list(lang, "paths_mismatched", &verify.mismatched_paths, verify.mismatched, open))
        (layout::path_list(lang, "paths_missing", &verify.missing_paths, verify.missing, open))
        (layout::path_list(lang, "paths_extra", &verify.extra_paths, verify.extra, open))
        (layout::error_list(lang, &verify.item_errors, verify.errors))
    }
}

fn recent_runs(runs: &[RunInfo], lang: Lang) -> Markup {
    html! {
        section {
            h2 { (text(lang, "recent_runs")) }
            @if runs.is_empty() {
                p { (text(lang, "no_runs")) }
            } @else {
                (layout::scroll(runs_table(runs, lang)))
            }
        }
    }
}

fn runs_table(runs: &[RunInfo], lang: Lang) -> Markup {
    html! {
        table {
            thead {
                tr {
                    th { (text(lang, "col_kind")) }
                    th { (text(lang, "col_name")) }
                    th { (text(lang, "col_start")) }
                    th { (text(lang, "col_duration")) }
                    th { (text(lang, "col_status")) }
                }
            }
            tbody {
                @for run in runs {
                    tr {
                        td { (texts::kind_word(lang, &run.kind)) }
                        td { (run.name) }
                        td { (layout::time(run.started_at)) }
                        td.number { (run.duration_ms.map(layout::millis).unwrap_or_default()) }
                        td { (status_badge(lang, &run.status)) }
                    }
                }
            }
        }
    }
}

fn audit(audit: &AuditState, lang: Lang) -> Markup {
    html! {
        section {
            h2 { (text(lang, "audit")) }
            p {
                @if let (true, Some(rows)) = (audit.intact, audit.rows) {
                    (badge(Tone::Good, text(lang, "within_target"))) " "
                    (texts::format(lang, "audit_intact", &[("rows", &rows)]))
                } @else if let Some(id) = audit.first_broken_id {
                    (badge(Tone::Bad, texts::status_word(lang, "failed"))) " "
                    (texts::format(lang, "audit_broken", &[("id", &id)]))
                } @else {
                    (badge(Tone::Bad, texts::status_word(lang, "failed"))) " "
                    (texts::format(lang, "audit_error", &[("error", &audit.error.as_deref().unwrap_or(""))]))
                }
            }
        }
    }
}

fn daily_links(pages: &[String], lang: Lang) -> Markup {
    html! {
        section {
            h2 { (text(lang, "daily_reports")) }
            @if pages.is_empty() {
                p { (text(lang, "no_daily")) }
            } @else {
                ul.daily {
                    @for name in pages {
                        li { a href={ "daily/" (name) } { (name.trim_end_matches(".html")) } }
                    }
                }
            }
        }
    }
}
