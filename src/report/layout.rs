//! The frame every page shares and the small pieces the pages repeat:
//! times, outcome badges, path lists.
//!
//! Pages are self-contained (the CSS is inlined) and need no JavaScript.
//! Everything taken from data goes through maud's escaping; `PreEscaped` is
//! used only for the CSS, which is part of the binary.

use std::time::Duration;

use chrono::{DateTime, Local, Utc};
use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::model::{rfc3339, PathError, Problem};
use super::texts::{self, text};
use crate::config::format_duration;
use crate::i18n::Lang;

/// The stylesheet of every page.
const CSS: &str = include_str!("../../reports/drkit.css");

/// Wraps `body` in a complete HTML document in `lang`.
pub fn page(lang: Lang, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="generator" content=(concat!("drkit ", env!("CARGO_PKG_VERSION")));
                title { (title) }
                style { (PreEscaped(CSS)) }
            }
            body {
                (body)
                footer {
                    p { (texts::format(lang, "footer", &[("version", &env!("CARGO_PKG_VERSION"))])) }
                }
            }
        }
    }
}

/// Renders the two header lines every page shares: when it was generated,
/// and the RTO and RPO targets.
pub fn generated_and_targets(status: &super::model::DrStatus, lang: Lang) -> Markup {
    html! {
        p { (text(lang, "generated")) " " (time(status.generated_at)) }
        p {
            (text(lang, "targets")) ": RTO " (format_duration(status.targets.rto))
            ", RPO " (format_duration(status.targets.rpo))
        }
    }
}

/// Shows `time` in the local zone, with the UTC time in the title attribute
/// and in `datetime`.
pub fn time(time: DateTime<Utc>) -> Markup {
    let local = time.with_timezone(&Local).format("%Y-%m-%d %H:%M:%S %:z").to_string();
    let utc = rfc3339(time);
    html! {
        time datetime=(utc) title=(format!("{utc} (UTC)")) { (local) }
    }
}

/// Returns the local time of `time` with milliseconds, as plain text.
pub fn time_millis(time: DateTime<Utc>) -> String {
    time.with_timezone(&Local).format("%Y-%m-%d %H:%M:%S%.3f").to_string()
}

/// Shows only the local clock time of `time`, for tables of one day.
pub fn clock(time: DateTime<Utc>) -> Markup {
    let local = time.with_timezone(&Local).format("%H:%M:%S").to_string();
    let utc = rfc3339(time);
    html! {
        time datetime=(utc) title=(format!("{utc} (UTC)")) { (local) }
    }
}

/// The kind of a badge: its colour, which always comes with a word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Good,
    Bad,
    Neutral,
}

/// Renders a coloured label. The word carries the meaning and the colour repeats it.
pub fn badge(tone: Tone, word: &str) -> Markup {
    let class = match tone {
        Tone::Good => "badge good",
        Tone::Bad => "badge bad",
        Tone::Neutral => "badge neutral",
    };
    html! { span class=(class) { (word) } }
}

/// Renders the badge of a stored status ("ok", "failed", "running", ...).
pub fn status_badge(lang: Lang, status: &str) -> Markup {
    let tone = match status {
        "ok" => Tone::Good,
        "failed" | "timed_out" => Tone::Bad,
        _ => Tone::Neutral,
    };
    badge(tone, texts::status_word(lang, status))
}

/// Renders the badge of a lag against the RPO target.
pub fn rpo_badge(lang: Lang, within: bool) -> Markup {
    if within {
        badge(Tone::Good, text(lang, "within_target"))
    } else {
        badge(Tone::Bad, text(lang, "over_target"))
    }
}

/// Renders the verdict box: one line when all is well, else the list of problems.
pub fn verdict(lang: Lang, problems: &[Problem], rpo: Duration) -> Markup {
    html! {
        @if problems.is_empty() {
            p.verdict.good { (badge(Tone::Good, text(lang, "within_target"))) " " (text(lang, "verdict_ok")) }
        } @else {
            div.verdict.bad {
                p { (badge(Tone::Bad, text(lang, "verdict_badge_bad"))) " " (text(lang, "verdict_bad")) }
                ul {
                    @for problem in problems {
                        li { (problem.describe(lang, rpo)) }
                    }
                }
            }
        }
    }
}

/// Renders a collapsible list of paths with its full count, unfolded when
/// `open`. `paths` may be only the first part of the list.
pub fn path_list(lang: Lang, label_key: &str, paths: &[String], total: usize, open: bool) -> Markup {
    html! {
        @if total > 0 {
            details open[open] {
                summary { (text(lang, label_key)) " (" (total) ")" }
                ul.paths {
                    @for path in paths {
                        li { code { (path) } }
                    }
                    @if total > paths.len() {
                        li { (texts::format(lang, "more_paths", &[("count", &(total - paths.len()))])) }
                    }
                }
            }
        }
    }
}

/// Renders a list of failed entries with their error texts.
pub fn error_list(lang: Lang, errors: &[PathError], total: usize) -> Markup {
    html! {
        @if total > 0 {
            details open {
                summary { (text(lang, "paths_errors")) " (" (total) ")" }
                ul.paths {
                    @for item in errors {
                        li { code { (item.path) } ": " (item.error) }
                    }
                    @if total > errors.len() {
                        li { (texts::format(lang, "more_paths", &[("count", &(total - errors.len()))])) }
                    }
                }
            }
        }
    }
}

/// Formats a duration in milliseconds the way the config writes durations.
pub fn millis(ms: u64) -> String {
    format_duration(Duration::from_millis(ms))
}

/// Wraps a table so that it scrolls sideways on a narrow screen instead of
/// widening the page.
pub fn scroll(table: Markup) -> Markup {
    html! { div.scroll { (table) } }
}
