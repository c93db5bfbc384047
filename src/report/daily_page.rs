//! `daily/YYYY-MM-DD.html`: one day's syncs, verifies and failures, the lag
//! of each set when the report was written, and a verdict.

use maud::{html, Markup};

use super::dashboard::{sync_counts, verify_counts, verify_details};
use super::day::{DayActivity, SetResult};
use super::layout::{self, page, rpo_badge, status_badge};
use super::model::{format_lag, DrStatus, SyncInfo, VerifyInfo};
use super::texts::{self, text};
use crate::commands::texts::bytes;
use crate::config::format_duration;
use crate::i18n::Lang;

/// Renders the daily page of `day` with the state in `status`.
pub fn render(status: &DrStatus, day: &DayActivity, lang: Lang) -> String {
    let date = day.date.format("%Y-%m-%d").to_string();
    let title = texts::format(lang, "daily_title", &[("site", &status.site), ("date", &date)]);
    let body = html! {
        header {
            p { a href="../index.html" { (text(lang, "back_to_dashboard")) } }
            h1 { (title) }
            (layout::generated_and_targets(status, lang))
        }
        main {
            (layout::verdict(lang, &status.problems(), status.targets.rpo))
            (lag_table(status, lang))
            (syncs(&day.syncs, lang))
            (verifies(&day.verifies, lang))
            (failures(day, lang))
        }
    };
    page(lang, &title, body).into_string()
}

fn lag_table(status: &DrStatus, lang: Lang) -> Markup {
    let rpo = format_duration(status.targets.rpo);
    html! {
        section {
            h2 { (text(lang, "lag_now")) }
            @if status.sets.is_empty() {
                p { (text(lang, "no_sets")) }
            } @else {
                (layout::scroll(html! {
                    table {
                        thead { tr {
                            th { (text(lang, "col_set")) }
                            th { (text(lang, "col_lag")) }
                            th { (text(lang, "col_rpo")) }
                            th { (text(lang, "col_status")) }
                        } }
                        tbody {
                            @for set in &status.sets {
                                tr {
                                    td { (set.name) }
                                    td.number { (set.lag().map(format_lag).unwrap_or_else(|| text(lang, "lag_none").to_string())) }
                                    td.number { (rpo) }
                                    td { (rpo_badge(lang, set.within_rpo)) }
                                }
                            }
                        }
                    }
                }))
            }
        }
    }
}

fn syncs(syncs: &[SetResult<SyncInfo>], lang: Lang) -> Markup {
    html! {
        section {
            h2 { (text(lang, "day_syncs")) }
            @if syncs.is_empty() {
                p { (text(lang, "no_syncs")) }
            } @else {
                (layout::scroll(html! {
                    table {
                        thead { tr {
                            th { (text(lang, "col_time")) }
                            th { (text(lang, "col_set")) }
                            th { (text(lang, "col_status")) }
                            th { (text(lang, "col_changed")) }
                            th { (text(lang, "col_deleted")) }
                            th { (text(lang, "col_copied")) }
                            th { (text(lang, "col_duration")) }
                        } }
                        tbody {
                            @for sync in syncs {
                                tr {
                                    td { (layout::clock(sync.info.at)) }
                                    td { (sync.set) }
                                    td { (status_badge(lang, &sync.info.status)) }
                                    td.number { (sync.info.files_changed) }
                                    td.number { (sync.info.files_deleted) }
                                    td.number { (bytes(lang, sync.info.bytes_copied)) }
                                    td.number {
                                        (sync.info.duration_ms.map(layout::millis).unwrap_or_default())
                                        @if let Some(count) = sync.info.batches {
                                            br;
                                            small {
                                                @if count == 1 {
                                                    (text(lang, "batches_one"))
                                                } @else {
                                                    (texts::format(lang, "batches", &[("count", &count)]))
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }))
            }
        }
    }
}

fn verifies(verifies: &[SetResult<VerifyInfo>], lang: Lang) -> Markup {
    html! {
        section {
            h2 { (text(lang, "day_verifies")) }
            @if verifies.is_empty() {
                p { (text(lang, "no_verifies")) }
            } @else {
                (layout::scroll(html! {
                    table {
                        thead { tr {
                            th { (text(lang, "col_time")) }
                            th { (text(lang, "col_set")) }
                            th { (text(lang, "col_status")) }
                            th { (text(lang, "col_checked")) }
                            th { (text(lang, "col_mismatched")) }
                            th { (text(lang, "col_missing")) }
                            th { (text(lang, "col_extra")) }
                        } }
                        tbody {
                            @for verify in verifies {
                                tr {
                                    td { (layout::clock(verify.info.at)) }
                                    td { (verify.set) }
                                    td { (status_badge(lang, &verify.info.status)) }
                                    td.number { (verify.info.files_checked.unwrap_or(0)) }
                                    td.number { (verify.info.mismatched) }
                                    td.number { (verify.info.missing) }
                                    td.number { (verify.info.extra) }
                                }
                            }
                        }
                    }
                }))
            }
        }
    }
}

fn failures(day: &DayActivity, lang: Lang) -> Markup {
    html! {
        section {
            h2 { (text(lang, "day_failures")) }
            @if !day.has_failures() {
                p { (text(lang, "no_failures")) }
            } @else {
                ul.failures {
                    @for sync in day.syncs.iter().filter(|s| s.info.status != "ok") {
                        li { (sync_failure(sync, lang)) }
                    }
                    @for verify in day.verifies.iter().filter(|v| v.info.status != "ok") {
                        li { (verify_failure(verify, lang)) }
                    }
                    @for run in &day.failed_runs {
                        li {
                            (layout::clock(run.started_at)) " "
                            (texts::format(lang, "failed_run", &[
                                ("id", &run.id),
                                ("kind", &texts::kind_word(lang, &run.kind)),
                                ("name", &run.name),
                                ("status", &texts::status_word(lang, &run.status)),
                            ]))
                            @if !run.detail.is_empty() {
                                ": " span.error { (run.detail) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn sync_failure(sync: &SetResult<SyncInfo>, lang: Lang) -> Markup {
    html! {
        (layout::clock(sync.info.at)) " " strong { (sync.set) } " "
        (texts::kind_word(lang, "sync")) " " (status_badge(lang, &sync.info.status))
        @if let Some(error) = &sync.info.error {
            p.error { (error) }
        } @else {
            p { (sync_counts(&sync.info, lang)) }
        }
        (layout::error_list(lang, &sync.info.item_errors, sync.info.item_errors_total))
    }
}

fn verify_failure(verify: &SetResult<VerifyInfo>, lang: Lang) -> Markup {
    html! {
        (layout::clock(verify.info.at)) " " strong { (verify.set) } " "
        (texts::kind_word(lang, "verify")) " " (status_badge(lang, &verify.info.status))
        @if let Some(error) = &verify.info.error {
            p.error { (error) }
        } @else {
            p { (verify_counts(&verify.info, lang)) }
        }
        (verify_details(&verify.info, lang, true))
    }
}
