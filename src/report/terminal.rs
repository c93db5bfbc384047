//! The text form of `drkit status`: one table row per set, then the verdict.

use chrono::{DateTime, Local, Utc};

use super::model::{format_lag, within_rpo, DrStatus, SetStatus};
use super::texts::{self, text};
use crate::commands::texts::seconds;
use crate::config::format_duration;
use crate::i18n::Lang;

/// Renders the status table and the verdict, one line per `\n`.
pub fn render(status: &DrStatus, lang: Lang) -> String {
    let mut out = format!(
        "{} {}  RTO {}  RPO {}\n\n",
        status.site,
        local_minute(status.generated_at),
        format_duration(status.targets.rto),
        format_duration(status.targets.rpo),
    );

    let header = [
        "col_set",
        "col_last_sync",
        "col_lag",
        "col_change_delay",
        "col_versions",
        "col_last_verify",
    ]
    .map(|key| text(lang, key).to_string());
    let mut rows = vec![header.to_vec()];
    rows.extend(status.sets.iter().map(|set| row(set, lang, status.targets.rpo)));
    out.push_str(&table(&rows));

    out.push('\n');
    let problems = status.problems();
    if problems.is_empty() {
        out.push_str(text(lang, "verdict_ok"));
        out.push('\n');
    } else {
        out.push_str(text(lang, "verdict_bad"));
        out.push('\n');
        for problem in problems {
            out.push_str(&format!("  - {}\n", problem.describe(lang, status.targets.rpo)));
        }
    }
    out
}

fn row(set: &SetStatus, lang: Lang, rpo: std::time::Duration) -> Vec<String> {
    let last_sync = match &set.last_sync {
        Some(sync) => format!("{} {}", local_minute(sync.at), texts::status_word(lang, &sync.status)),
        None => text(lang, "never_synced").to_string(),
    };
    let within = text(lang, if set.within_rpo { "within_target" } else { "over_target" });
    let lag = match set.lag() {
        Some(lag) => format!("{} {within}", format_lag(lag)),
        None => format!("- {within}"),
    };
    let last_verify = match &set.last_verify {
        Some(verify) if verify.status == "ok" => {
            format!("{} {}", local_minute(verify.at), texts::status_word(lang, "ok"))
        }
        Some(verify) => format!(
            "{} {} ({})",
            local_minute(verify.at),
            texts::status_word(lang, &verify.status),
            texts::format(
                lang,
                "verify_short",
                &[
                    ("mismatched", &verify.mismatched),
                    ("missing", &verify.missing),
                    ("extra", &verify.extra)
                ]
            ),
        ),
        None => text(lang, "never_verified").to_string(),
    };
    let change_delay = match &set.last_change {
        Some(change) => {
            let within = text(
                lang,
                if within_rpo(change.delay(), rpo) {
                    "within_target"
                } else {
                    "over_target"
                },
            );
            format!("{} {within}", seconds(lang, change.delay_ms))
        }
        None => "-".to_string(),
    };
    vec![
        set.name.clone(),
        last_sync,
        lag,
        change_delay,
        set.versions.to_string(),
        last_verify,
    ]
}

/// Lays out `rows` in columns two spaces apart; the last column is not padded.
fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if c + 1 < columns {
                let pad = widths[c] - cell.chars().count() + 2;
                line.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn local_minute(time: DateTime<Utc>) -> String {
    time.with_timezone(&Local).format("%Y-%m-%d %H:%M").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let rows = vec![
            vec!["set".to_string(), "lag".to_string(), "x".to_string()],
            vec!["www-long".to_string(), "1m".to_string(), "y".to_string()],
        ];
        assert_eq!(table(&rows), "set       lag  x\nwww-long  1m   y\n");
    }
}
