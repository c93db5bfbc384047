//! Cron schedules: the five-field expressions of crontab(5), matched against
//! the host's local wall-clock minutes.
//!
//! Fields, in order: minute (0-59), hour (0-23), day of month (1-31), month
//! (1-12 or jan-dec) and day of week (0-7 or sun-sat, where 0 and 7 are
//! Sunday). A field is a comma-separated list of `*`, `N` or `N-M`, each
//! optionally followed by `/STEP`. As in cronie, `N/STEP` runs from N to the
//! field's maximum. Names are case-insensitive. The aliases
//! `@hourly`, `@daily`, `@midnight`, `@weekly`, `@monthly`, `@yearly` and
//! `@annually` stand for their five-field forms.
//!
//! Day rule of Vixie cron and cronie: when both day fields are restricted
//! (neither starts with `*`), a day matches if either field matches;
//! otherwise both must match.
//!
//! drkit parses schedules itself instead of through croner because its
//! errors must point at the column of the bad field and exist in Spanish,
//! and croner's messages are English and name no position.
//!
//! NOTE: schedules follow the local wall clock without cron's DST
//! corrections. A job due in the hour that a DST change repeats runs twice,
//! and a job due in the hour that it skips does not run that day.

use chrono::{DateTime, Datelike, Days, Local, NaiveDate, NaiveDateTime, TimeZone, Timelike};

/// How far ahead `next_after` looks: enough for the rarest schedule that can
/// match, February 29th, which can be 8 years apart (2096 to 2104).
const HORIZON_DAYS: u64 = 12 * 366;

/// One of the five fields of a cron expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Minute,
    Hour,
    DayOfMonth,
    Month,
    DayOfWeek,
}

impl FieldKind {
    const ALL: [FieldKind; 5] = [
        FieldKind::Minute,
        FieldKind::Hour,
        FieldKind::DayOfMonth,
        FieldKind::Month,
        FieldKind::DayOfWeek,
    ];

    /// Returns the smallest and largest value the field accepts.
    pub fn range(self) -> (u32, u32) {
        match self {
            FieldKind::Minute => (0, 59),
            FieldKind::Hour => (0, 23),
            FieldKind::DayOfMonth => (1, 31),
            FieldKind::Month => (1, 12),
            FieldKind::DayOfWeek => (0, 7),
        }
    }

    /// Returns the key of the field's name in the jobs text table.
    pub fn text_key(self) -> &'static str {
        match self {
            FieldKind::Minute => "field_minute",
            FieldKind::Hour => "field_hour",
            FieldKind::DayOfMonth => "field_day_of_month",
            FieldKind::Month => "field_month",
            FieldKind::DayOfWeek => "field_day_of_week",
        }
    }

    fn names(self) -> &'static [&'static str] {
        match self {
            FieldKind::Month => &[
                "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
            ],
            FieldKind::DayOfWeek => &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
            _ => &[],
        }
    }

    /// Returns the value of a month or weekday name; months count from 1, weekdays from 0.
    fn value_of_name(self, text: &str) -> Option<u32> {
        let lower = text.to_ascii_lowercase();
        let index = self.names().iter().position(|name| *name == lower)? as u32;
        Some(if self == FieldKind::Month { index + 1 } else { index })
    }
}

/// Reason a schedule is rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleProblem {
    /// The expression does not have exactly five fields.
    FieldCount { found: usize },
    /// An `@` word that is not one of the aliases.
    UnknownAlias { alias: String },
    /// Neither a number nor a name the field accepts.
    InvalidValue { field: FieldKind, text: String },
    /// A number outside the field's range.
    OutOfRange { field: FieldKind, value: u32 },
    /// A range whose start is after its end, such as `5-1`.
    ReversedRange { field: FieldKind, text: String },
    /// A step that is not a whole number of at least 1.
    InvalidStep { field: FieldKind, text: String },
}

/// A rejected schedule: the problem and the byte offset in the expression
/// where the offending part starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleError {
    pub offset: usize,
    pub problem: ScheduleProblem,
}

/// A set of allowed values of one field, as bits 0-63.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Bits(u64);

impl Bits {
    fn has(self, value: u32) -> bool {
        value < 64 && self.0 & (1 << value) != 0
    }
}

/// A parsed cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    text: String,
    minutes: Bits,
    hours: Bits,
    days_of_month: Bits,
    months: Bits,
    /// Weekdays counted from Sunday = 0; a 7 in the expression is stored as 0.
    days_of_week: Bits,
    /// True when both day fields are restricted, so either one matching is enough.
    days_either: bool,
}

impl Schedule {
    /// Parses a five-field expression or an `@` alias.
    pub fn parse(text: &str) -> Result<Schedule, ScheduleError> {
        let trimmed_start = text.len() - text.trim_start().len();
        let body = text.trim();
        if let Some(alias) = body.strip_prefix('@') {
            let expanded = expand_alias(alias).ok_or_else(|| ScheduleError {
                offset: trimmed_start,
                problem: ScheduleProblem::UnknownAlias {
                    alias: body.to_string(),
                },
            })?;
            let mut schedule = parse_fields(expanded).expect("every alias expands to a valid expression");
            schedule.text = text.to_string();
            return Ok(schedule);
        }
        parse_fields(text)
    }

    /// Returns the expression as written in the job file.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Tells whether the schedule selects the minute that contains `time`;
    /// seconds are ignored.
    pub fn matches(&self, time: NaiveDateTime) -> bool {
        self.minutes.has(time.minute()) && self.hours.has(time.hour()) && self.matches_day(time.date())
    }

    fn matches_day(&self, date: NaiveDate) -> bool {
        if !self.months.has(date.month()) {
            return false;
        }
        let by_month_day = self.days_of_month.has(date.day());
        let by_weekday = self.days_of_week.has(date.weekday().num_days_from_sunday());
        if self.days_either {
            by_month_day || by_weekday
        } else {
            by_month_day && by_weekday
        }
    }

    /// Returns the first local time after `after` (at a whole minute) that the
    /// schedule selects, or None when nothing matches within about 12 years,
    /// as with `0 0 31 2 *`. Minutes that a DST change skips are passed over.
    pub fn next_after(&self, after: DateTime<Local>) -> Option<DateTime<Local>> {
        let start = after.naive_local().with_second(0)?.with_nanosecond(0)? + chrono::Duration::minutes(1);
        let first_day = start.date();
        for offset in 0..HORIZON_DAYS {
            let date = first_day.checked_add_days(Days::new(offset))?;
            if !self.matches_day(date) {
                continue;
            }
            if let Some(found) = self.first_minute_of_day(date, start) {
                return Some(found);
            }
        }
        None
    }

    fn first_minute_of_day(&self, date: NaiveDate, not_before: NaiveDateTime) -> Option<DateTime<Local>> {
        for hour in (0..24).filter(|h| self.hours.has(*h)) {
            for minute in (0..60).filter(|m| self.minutes.has(*m)) {
                let candidate = date.and_hms_opt(hour, minute, 0)?;
                if candidate < not_before {
                    continue;
                }
                if let Some(time) = Local.from_local_datetime(&candidate).earliest() {
                    return Some(time);
                }
            }
        }
        None
    }
}

impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

fn expand_alias(alias: &str) -> Option<&'static str> {
    match alias.to_ascii_lowercase().as_str() {
        "hourly" => Some("0 * * * *"),
        "daily" | "midnight" => Some("0 0 * * *"),
        "weekly" => Some("0 0 * * 0"),
        "monthly" => Some("0 0 1 * *"),
        "yearly" | "annually" => Some("0 0 1 1 *"),
        _ => None,
    }
}

/// Parses the five fields of `text`.
fn parse_fields(text: &str) -> Result<Schedule, ScheduleError> {
    let fields = split_with_offsets(text, |c| c.is_ascii_whitespace());
    if fields.len() != 5 {
        let offset = fields
            .get(5)
            .map_or(text.len() - text.trim_start().len(), |(at, _)| *at);
        return Err(ScheduleError {
            offset,
            problem: ScheduleProblem::FieldCount { found: fields.len() },
        });
    }
    let mut bits = [Bits(0); 5];
    for (index, ((at, field_text), kind)) in fields.iter().zip(FieldKind::ALL).enumerate() {
        bits[index] = parse_field(kind, field_text, *at)?;
    }
    let mut days_of_week = bits[4];
    if days_of_week.has(7) {
        days_of_week = Bits((days_of_week.0 | 1) & !(1 << 7));
    }
    Ok(Schedule {
        text: text.to_string(),
        minutes: bits[0],
        hours: bits[1],
        days_of_month: bits[2],
        months: bits[3],
        days_of_week,
        days_either: !fields[2].1.starts_with('*') && !fields[4].1.starts_with('*'),
    })
}

/// Splits `text` at characters matching `is_separator` and returns every
/// non-empty piece with its byte offset.
fn split_with_offsets(text: &str, is_separator: impl Fn(char) -> bool) -> Vec<(usize, &str)> {
    let mut pieces = Vec::new();
    let mut start = None;
    for (at, c) in text.char_indices() {
        match (is_separator(c), start) {
            (true, Some(from)) => {
                pieces.push((from, &text[from..at]));
                start = None;
            }
            (false, None) => start = Some(at),
            _ => {}
        }
    }
    if let Some(from) = start {
        pieces.push((from, &text[from..]));
    }
    pieces
}

/// Parses one field; `at` is the offset of its first byte in the expression.
fn parse_field(kind: FieldKind, text: &str, at: usize) -> Result<Bits, ScheduleError> {
    let mut bits = 0u64;
    let mut item_start = 0;
    for item in text.split(',') {
        bits |= parse_item(kind, item, at + item_start)?;
        item_start += item.len() + 1;
    }
    Ok(Bits(bits))
}

/// Parses `*`, `N` or `N-M`, optionally followed by `/STEP`.
fn parse_item(kind: FieldKind, item: &str, at: usize) -> Result<u64, ScheduleError> {
    let (min, max) = kind.range();
    let (range_text, step_text) = match item.split_once('/') {
        Some((range, step)) => (range, Some(step)),
        None => (item, None),
    };
    let (first, last) = if range_text == "*" {
        (min, max)
    } else if let Some((from, to)) = range_text.split_once('-') {
        let first = parse_value(kind, from, at)?;
        let last = parse_value(kind, to, at + from.len() + 1)?;
        if first > last {
            return Err(ScheduleError {
                offset: at,
                problem: ScheduleProblem::ReversedRange {
                    field: kind,
                    text: range_text.to_string(),
                },
            });
        }
        (first, last)
    } else {
        let value = parse_value(kind, range_text, at)?;
        (value, if step_text.is_some() { max } else { value })
    };
    let step = match step_text {
        None => 1,
        Some(text) => parse_step(kind, text, at + range_text.len() + 1)?,
    };
    Ok((first..=last)
        .step_by(step)
        .fold(0u64, |bits, value| bits | (1 << value)))
}

fn parse_value(kind: FieldKind, text: &str, at: usize) -> Result<u32, ScheduleError> {
    let value = match text.parse::<u32>() {
        Ok(number) if text.bytes().all(|b| b.is_ascii_digit()) => number,
        _ => kind.value_of_name(text).ok_or_else(|| ScheduleError {
            offset: at,
            problem: ScheduleProblem::InvalidValue {
                field: kind,
                text: text.to_string(),
            },
        })?,
    };
    let (min, max) = kind.range();
    if value < min || value > max {
        return Err(ScheduleError {
            offset: at,
            problem: ScheduleProblem::OutOfRange { field: kind, value },
        });
    }
    Ok(value)
}

fn parse_step(kind: FieldKind, text: &str, at: usize) -> Result<usize, ScheduleError> {
    match text.parse::<usize>() {
        Ok(step) if step >= 1 && text.bytes().all(|b| b.is_ascii_digit()) => Ok(step),
        _ => Err(ScheduleError {
            offset: at,
            problem: ScheduleProblem::InvalidStep {
                field: kind,
                text: text.to_string(),
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap()
    }

    fn error(text: &str) -> ScheduleError {
        Schedule::parse(text).unwrap_err()
    }

    #[test]
    fn every_minute_matches_any_time() {
        let schedule = Schedule::parse("* * * * *").unwrap();
        assert!(schedule.matches(at("2024-02-29 23:59")));
        assert!(schedule.matches(at("2025-01-01 00:00")));
    }

    #[test]
    fn daily_time_matches_only_that_minute() {
        let schedule = Schedule::parse("30 3 * * *").unwrap();
        assert!(schedule.matches(at("2024-05-01 03:30")));
        assert!(!schedule.matches(at("2024-05-01 03:31")));
        assert!(!schedule.matches(at("2024-05-01 04:30")));
    }

    #[test]
    fn lists_ranges_and_steps() {
        let schedule = Schedule::parse("*/15 8-18/2 * * mon-fri").unwrap();
        assert!(schedule.matches(at("2024-05-06 08:45")), "Monday 08:45");
        assert!(schedule.matches(at("2024-05-10 18:00")), "Friday 18:00");
        assert!(!schedule.matches(at("2024-05-06 09:00")), "odd hour");
        assert!(!schedule.matches(at("2024-05-06 08:10")), "not a quarter");
        assert!(!schedule.matches(at("2024-05-11 08:00")), "Saturday");
        let list = Schedule::parse("5,10,50-52 * * * *").unwrap();
        assert!(list.matches(at("2024-05-06 08:51")));
        assert!(!list.matches(at("2024-05-06 08:53")));
    }

    #[test]
    fn start_with_step_runs_to_the_maximum() {
        let schedule = Schedule::parse("50/5 * * * *").unwrap();
        assert!(schedule.matches(at("2024-05-06 08:55")));
        assert!(!schedule.matches(at("2024-05-06 08:05")));
    }

    #[test]
    fn sunday_is_zero_and_seven() {
        for text in ["0 0 * * 0", "0 0 * * 7", "0 0 * * SUN"] {
            let schedule = Schedule::parse(text).unwrap();
            assert!(schedule.matches(at("2024-05-05 00:00")), "{text} on a Sunday");
            assert!(!schedule.matches(at("2024-05-06 00:00")), "{text} on a Monday");
        }
    }

    #[test]
    fn restricted_day_fields_match_either() {
        let schedule = Schedule::parse("0 0 1 * mon").unwrap();
        assert!(schedule.matches(at("2024-05-01 00:00")), "the 1st, a Wednesday");
        assert!(schedule.matches(at("2024-05-06 00:00")), "a Monday");
        assert!(!schedule.matches(at("2024-05-07 00:00")), "neither");
    }

    #[test]
    fn starred_day_field_requires_both() {
        let schedule = Schedule::parse("0 0 */2 * mon").unwrap();
        assert!(!schedule.matches(at("2024-05-01 00:00")), "odd day, not Monday");
        assert!(!schedule.matches(at("2024-05-06 00:00")), "Monday, even day");
        assert!(schedule.matches(at("2024-05-13 00:00")), "Monday, odd day");
    }

    #[test]
    fn aliases_expand() {
        let schedule = Schedule::parse("@daily").unwrap();
        assert_eq!(schedule.as_str(), "@daily");
        assert!(schedule.matches(at("2024-05-06 00:00")));
        assert!(!schedule.matches(at("2024-05-06 01:00")));
        assert_eq!(
            error("@reboot").problem,
            ScheduleProblem::UnknownAlias {
                alias: "@reboot".into()
            }
        );
    }

    #[test]
    fn field_count_is_checked() {
        assert_eq!(error("* * * *").problem, ScheduleProblem::FieldCount { found: 4 });
        let six = error("0 * * * * *");
        assert_eq!(six.problem, ScheduleProblem::FieldCount { found: 6 });
        assert_eq!(six.offset, 10, "points at the sixth field");
    }

    #[test]
    fn errors_point_at_the_bad_part() {
        use FieldKind::{DayOfMonth, DayOfWeek, Hour, Minute, Month};
        use ScheduleProblem::{InvalidStep, InvalidValue, OutOfRange, ReversedRange};
        let cases = [
            (
                "61 * * * *",
                0,
                OutOfRange {
                    field: Minute,
                    value: 61,
                },
            ),
            ("0 1,25 * * *", 4, OutOfRange { field: Hour, value: 25 }),
            (
                "0 0 0 * *",
                4,
                OutOfRange {
                    field: DayOfMonth,
                    value: 0,
                },
            ),
            (
                "0 0 * foo *",
                6,
                InvalidValue {
                    field: Month,
                    text: "foo".into(),
                },
            ),
            (
                "1,,2 * * * *",
                2,
                InvalidValue {
                    field: Minute,
                    text: String::new(),
                },
            ),
            (
                "*/0 * * * *",
                2,
                InvalidStep {
                    field: Minute,
                    text: "0".into(),
                },
            ),
            (
                "0 0 * * 5-1",
                8,
                ReversedRange {
                    field: DayOfWeek,
                    text: "5-1".into(),
                },
            ),
        ];
        for (text, offset, problem) in cases {
            let rejected = error(text);
            assert_eq!(rejected.offset, offset, "offset for {text}");
            assert_eq!(rejected.problem, problem, "problem for {text}");
        }
    }

    #[test]
    fn next_after_finds_the_following_minute() {
        let schedule = Schedule::parse("30 3 * * *").unwrap();
        let now = Local.from_local_datetime(&at("2024-05-01 03:30")).unwrap();
        let next = schedule.next_after(now).unwrap();
        assert_eq!(next.naive_local(), at("2024-05-02 03:30"));
        let before = Local.from_local_datetime(&at("2024-05-01 02:10")).unwrap();
        assert_eq!(
            schedule.next_after(before).unwrap().naive_local(),
            at("2024-05-01 03:30")
        );
    }

    #[test]
    fn next_after_reaches_leap_days() {
        let schedule = Schedule::parse("0 0 29 2 *").unwrap();
        let now = Local.from_local_datetime(&at("2097-01-01 00:00")).unwrap();
        assert_eq!(schedule.next_after(now).unwrap().naive_local(), at("2104-02-29 00:00"));
    }

    #[test]
    fn impossible_schedule_has_no_next_run() {
        let schedule = Schedule::parse("0 0 31 2 *").unwrap();
        let now = Local.from_local_datetime(&at("2024-01-01 00:00")).unwrap();
        assert_eq!(schedule.next_after(now), None);
    }
}
