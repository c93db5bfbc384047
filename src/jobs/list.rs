//! `drkit run --list`: one row per job with its kind, schedule, timeout,
//! next run in local time and description.

use chrono::{DateTime, Local};

use super::file::Job;
use super::texts;
use crate::config::format_duration;
use crate::i18n::Lang;

/// Prints the jobs as an aligned table on stdout; `now` is the time the next runs count from.
pub fn print(lang: Lang, jobs: &[Job], now: DateTime<Local>, dir: &std::path::Path) {
    if jobs.is_empty() {
        println!("{}", texts::format(lang, "list_empty", &[("dir", &dir.display())]));
        return;
    }
    let header: Vec<String> = [
        "list_job",
        "list_kind",
        "list_schedule",
        "list_timeout",
        "list_next",
        "list_description",
    ]
    .iter()
    .map(|key| texts::text(lang, key).to_string())
    .collect();
    let mut rows = vec![header];
    for job in jobs {
        rows.push(row(lang, job, now));
    }
    for line in align(&rows) {
        println!("{line}");
    }
}

fn row(lang: Lang, job: &Job, now: DateTime<Local>) -> Vec<String> {
    let next = match job.schedule.next_after(now) {
        Some(time) => time.format("%Y-%m-%d %H:%M").to_string(),
        None => texts::text(lang, "list_never").to_string(),
    };
    vec![
        job.name.clone(),
        job.kind.name().to_string(),
        job.schedule.as_str().to_string(),
        format_duration(job.timeout),
        next,
        job.description.clone().unwrap_or_default(),
    ]
}

/// Pads every column but the last to its widest cell, two spaces apart.
fn align(rows: &[Vec<String>]) -> Vec<String> {
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    rows.iter()
        .map(|row| {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                line.push_str(cell);
                if c + 1 < columns {
                    line.push_str(&" ".repeat(widths[c] - cell.chars().count() + 2));
                }
            }
            line.trim_end().to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up() {
        let rows = vec![
            vec!["JOB".to_string(), "KIND".to_string(), "NEXT".to_string()],
            vec!["sync-all".to_string(), "sync".to_string(), "never".to_string()],
        ];
        assert_eq!(align(&rows), ["JOB       KIND  NEXT", "sync-all  sync  never"]);
    }
}
