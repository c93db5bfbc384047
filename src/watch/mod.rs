//! Near real-time replication of one sync set: `drkit watch SET`.
//!
//! One long-lived process per set. It runs `inotifywait -m -r` on the
//! set's source, collects the changed paths into batches and hands each
//! batch to a `Replica` (in drkit, a `Follower` that keeps its SSH session
//! open between batches). Everything the process waits for arrives on one
//! channel as an `Input`: events and messages from the threads that read
//! inotifywait, and stop signals from the thread that takes them. The main
//! thread blocks on that channel with a timeout for the next due batch, so
//! nothing polls.
//!
//! Rules of the loop (see `session.rs`):
//! - The first event of a batch opens a window of `debounce`; every event
//!   inside it joins the batch. A batch syncs in the main thread, so two
//!   syncs of the set never run at once, and events that arrive meanwhile
//!   wait in the channel and form the next batch.
//! - One full sync runs once the first watches are set up, to carry the
//!   changes made while nothing watched.
//! - A queue overflow (Q_OVERFLOW) is logged once per episode; the watches
//!   are set up again by a new inotifywait, and one full sync follows.
//! - When inotify runs out of watches for a new folder, that is logged once
//!   and one full sync runs. When inotifywait cannot watch at all, the set
//!   is synced in full every `interval`.
//! - A failed batch is retried, with its paths, with the next batch, and no
//!   later than a pause that doubles from 0.25 s up to `interval`.
//! - SIGTERM, SIGINT or SIGHUP end the loop once the running batch is done.

mod events;
mod inotify;
mod session;
mod signals;
mod texts;

use std::path::PathBuf;
use std::time::Duration;

use crate::commands::sync::Batch;
use crate::exit::Exit;
use crate::i18n::Lang;

pub use texts::format as text;

/// Settings of one watcher: the set, its source and the batch timing.
#[derive(Debug, Clone)]
pub struct Options {
    /// Name of the set, used in every message.
    pub set: String,
    /// The folder to watch: the set's source.
    pub source: PathBuf,
    /// How long to wait after the first event of a batch for more.
    pub debounce: Duration,
    /// Time between full syncs when no watch can be set, and the longest
    /// pause before a failed batch is retried.
    pub interval: Duration,
    pub lang: Lang,
}

/// The destination of the batches.
pub trait Replica {
    /// Syncs one batch and records it; returns its exit code.
    fn sync(&mut self, batch: Batch) -> Exit;
    /// Rewrites the status pages, so they show the lag of the last batch.
    fn refresh(&mut self);
}

/// One input of the main loop.
#[derive(Debug)]
pub(crate) enum Input {
    /// Changes read from inotifywait's output, in order, and when they were read.
    Changes {
        watcher: u64,
        changes: Vec<events::Change>,
        at: std::time::Instant,
    },
    /// A line inotifywait wrote on stderr.
    Message { watcher: u64, line: String },
    /// inotifywait's output ended: the process is exiting.
    Exited { watcher: u64 },
    /// A stop signal arrived.
    Stop(nix::sys::signal::Signal),
}

/// Watches `options.source` and syncs its changes until a stop signal.
/// Returns `Exit::Ok` after a stop signal, `Exit::Failed` when the source
/// is not a folder, and `Exit::Usage` when inotifywait cannot be run.
pub fn run(options: &Options, replica: &mut impl Replica) -> Exit {
    session::Session::new(options, replica).run()
}

/// Parses seconds written as "60", "0.2" or "0.005" (at most nine
/// decimals); zero is accepted only with `allow_zero`.
pub fn parse_seconds(text: &str, allow_zero: bool) -> Option<Duration> {
    // A decimal comma is accepted too, since Spanish messages print one.
    let text = &text.replacen(',', ".", 1);
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str, max: usize| s.len() <= max && s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole, 9) || !digits(fraction, 9) || text.ends_with('.') {
        return None;
    }
    let nanos = format!("{fraction:0<9}").parse::<u32>().ok()?;
    let duration = Duration::new(whole.parse().ok()?, nanos);
    (allow_zero || !duration.is_zero()).then_some(duration)
}

/// Formats seconds as the user wrote them: "0.005" ("0,005" in Spanish).
fn seconds_text(lang: Lang, duration: Duration) -> String {
    crate::commands::texts::localize_decimal(lang, duration.as_secs_f64().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_parse() {
        assert_eq!(parse_seconds("60", false), Some(Duration::from_secs(60)));
        assert_eq!(parse_seconds("0.2", false), Some(Duration::from_millis(200)));
        assert_eq!(parse_seconds("0.005", false), Some(Duration::from_millis(5)));
        assert_eq!(parse_seconds("0", true), Some(Duration::ZERO));
        assert_eq!(parse_seconds("0.000", true), Some(Duration::ZERO));
        assert_eq!(parse_seconds("0,005", false), Some(Duration::from_millis(5)));
    }

    #[test]
    fn seconds_reject_invalid_text() {
        for text in [
            "",
            "abc",
            "-1",
            "1.",
            ".5",
            "1e3",
            "0.0000000001",
            "1,5,0",
            "1.5,0",
            " 1",
        ] {
            assert_eq!(parse_seconds(text, true), None, "{text:?}");
        }
        assert_eq!(parse_seconds("0", false), None);
    }

    #[test]
    fn seconds_print_as_written() {
        assert_eq!(seconds_text(Lang::En, Duration::from_millis(5)), "0.005");
        assert_eq!(seconds_text(Lang::Es, Duration::from_millis(200)), "0,2");
        assert_eq!(seconds_text(Lang::En, Duration::from_secs(60)), "60");
    }
}
