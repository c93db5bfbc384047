//! The main loop of `drkit watch`: its state, the inputs that change it,
//! and the decision when the next batch is due.

use std::collections::BTreeSet;
use std::fmt::Display;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant};

use super::events::Change;
use super::inotify::Inotifywait;
use super::{seconds_text, signals, texts, Input, Options, Replica};
use crate::commands::sync::Batch;
use crate::exit::Exit;

/// Above this many pending paths, a batch becomes one full sync, which
/// walks the set once instead of looking each path up. On the 50,000-file
/// benchmark tree, a batch cost about 16 µs per unchanged path (1,000 paths
/// in 16 ms, 20,000 in 0.33 s) and a whole sync 0.24 s.
const MAX_BATCH_PATHS: usize = 10_000;

/// Idle time after which a watcher syncs an empty batch. It checks that the
/// replica (and the peer) can be reached, and its record keeps the lag shown
/// for a quiet source near zero rather than growing until the next change.
const HEARTBEAT: Duration = Duration::from_secs(15);

/// A batch that takes longer than this is followed by a pause as long as
/// itself (at most `MAX_PAUSE`), so that a large file rewritten without end,
/// such as a busy log, cannot keep the machine copying all the time.
const SLOW_BATCH: Duration = Duration::from_millis(50);
const MAX_PAUSE: Duration = Duration::from_secs(2);

/// Delay of the last walk of new folders. inotifywait watches a new folder
/// only once it has read its creation from its queue, which lags behind
/// during a burst. A file written into the folder before then has no event.
const NEW_FOLDER_RECHECK: Duration = Duration::from_secs(1);

/// Shortest time between two refreshes of the status pages while batches run.
const REFRESH_EVERY: Duration = Duration::from_secs(10);

/// Overflows, or garbled records, closer together than this are one
/// episode, logged once.
const EPISODE_QUIET: Duration = Duration::from_secs(10);

/// First pause before a failed batch is retried; it doubles up to the interval.
const FIRST_RETRY: Duration = Duration::from_millis(250);

/// At most this many queued inputs are read before the next batch is
/// considered, so a steady flood of events cannot starve the syncs.
const MAX_INPUTS_PER_ROUND: usize = 1024;

/// The changes not yet handed to a sync.
#[derive(Debug, Default)]
struct Pending {
    paths: BTreeSet<PathBuf>,
    /// Folders among `paths` that appeared: walked again after the batch.
    new_folders: BTreeSet<PathBuf>,
    /// A full sync is needed (start, overflow, lost watches, garbled output).
    all: bool,
    /// When the oldest change not yet in a batch arrived; None when the
    /// pending work is only a retry of a failed batch.
    since: Option<Instant>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        !self.all && self.paths.is_empty()
    }

    fn add_path(&mut self, path: PathBuf) {
        if self.all {
            return;
        }
        self.paths.insert(path);
        if self.paths.len() > MAX_BATCH_PATHS {
            self.add_all();
        }
    }

    fn add_all(&mut self) {
        self.all = true;
        self.paths.clear();
        self.new_folders.clear();
    }

    fn add_new_folder(&mut self, path: PathBuf) {
        if self.all {
            return;
        }
        self.new_folders.insert(path.clone());
        self.add_path(path);
    }

    fn mark(&mut self, at: Instant) {
        self.since = Some(self.since.map_or(at, |since| since.min(at)));
    }

    fn take(&mut self) -> Batch {
        let batch = if self.all {
            Batch::All
        } else {
            Batch::Paths(std::mem::take(&mut self.paths).into_iter().collect())
        };
        *self = Pending::default();
        batch
    }

    /// Puts a failed batch back, to be retried with the next one.
    fn restore(&mut self, batch: Batch) {
        match batch {
            Batch::All => self.add_all(),
            Batch::Paths(paths) => paths.into_iter().for_each(|path| self.add_path(path)),
        }
    }
}

/// Repeats of one problem, logged once per episode.
#[derive(Debug, Default)]
struct Episode {
    last: Option<Instant>,
}

impl Episode {
    /// Records an occurrence; returns true when it starts a new episode.
    fn starts(&mut self, now: Instant) -> bool {
        let new = self.last.is_none_or(|last| now.duration_since(last) > EPISODE_QUIET);
        self.last = Some(now);
        new
    }
}

pub struct Session<'a, R: Replica> {
    options: &'a Options,
    replica: &'a mut R,
    sender: Sender<Input>,
    inputs: Receiver<Input>,
    next_watcher_id: u64,
    /// The inotifywait whose events are trusted; None in periodic mode.
    current: Option<Inotifywait>,
    /// A new inotifywait setting up its watches after an overflow.
    replacement: Option<Inotifywait>,
    /// The first watches are set up.
    ready: bool,
    /// No watch can be set: the whole set is synced every interval.
    periodic: bool,
    next_tick: Instant,
    pending: Pending,
    /// The next batch waits for a new inotifywait (after an overflow).
    restart_pending: bool,
    overflows: Episode,
    garbled: Episode,
    limit_logged: bool,
    /// The last message of inotifywait, shown when it exits.
    last_message: Option<String>,
    /// Batches failed in a row.
    failures: u32,
    retry_at: Option<Instant>,
    /// When the last batch ended, for the heartbeat.
    last_batch: Option<Instant>,
    /// No batch starts before this time (see `SLOW_BATCH`).
    pause_until: Option<Instant>,
    /// New folders to walk once more at `recheck_at` (see `NEW_FOLDER_RECHECK`).
    recheck: BTreeSet<PathBuf>,
    recheck_at: Option<Instant>,
    /// Device and inode of the source folder that the watches were set on.
    source_id: Option<(u64, u64)>,
    /// The inotifywait whose events are ignored because it watches a
    /// source folder that was moved or replaced.
    distrusted: Option<u64>,
    last_refresh: Option<Instant>,
    refresh_pending: bool,
    stopping: bool,
}

impl<'a, R: Replica> Session<'a, R> {
    pub fn new(options: &'a Options, replica: &'a mut R) -> Session<'a, R> {
        let (sender, inputs) = mpsc::channel();
        Session {
            options,
            replica,
            sender,
            inputs,
            next_watcher_id: 0,
            current: None,
            replacement: None,
            ready: false,
            periodic: false,
            next_tick: Instant::now(),
            pending: Pending::default(),
            restart_pending: false,
            overflows: Episode::default(),
            garbled: Episode::default(),
            limit_logged: false,
            last_message: None,
            failures: 0,
            retry_at: None,
            last_batch: None,
            pause_until: None,
            recheck: BTreeSet::new(),
            recheck_at: None,
            source_id: None,
            distrusted: None,
            last_refresh: None,
            refresh_pending: false,
            stopping: false,
        }
    }

    pub fn run(mut self) -> Exit {
        if !self.options.source.is_dir() {
            self.say("source_missing", &[("path", &self.options.source.display())]);
            return Exit::Failed;
        }
        self.source_id = folder_id(&self.options.source);
        if let Err(exit) = self.start_inputs() {
            return exit;
        }

        while !self.stopping {
            self.wait_for_inputs();
            if !self.stopping {
                self.act(Instant::now());
            }
        }

        self.finish()
    }

    /// Starts the signal thread and the first inotifywait.
    fn start_inputs(&mut self) -> Result<(), Exit> {
        let lang = self.options.lang;
        let prefix = self.prefix();
        let forwarded = signals::forward(self.sender.clone(), move |signal| {
            let text = texts::format(lang, "stopping", &[("signal", &signal.as_str())]);
            eprintln!("{prefix}{text}");
        });
        if let Err(e) = forwarded {
            self.say("signals_failed", &[("error", &e)]);
            return Err(Exit::Failed);
        }
        match self.start_watcher() {
            Ok(watcher) => {
                self.current = Some(watcher);
                Ok(())
            }
            Err(e) => {
                self.say("missing_tool", &[("error", &e)]);
                Err(Exit::Usage)
            }
        }
    }

    fn start_watcher(&mut self) -> std::io::Result<Inotifywait> {
        self.next_watcher_id += 1;
        Inotifywait::start(self.next_watcher_id, &self.options.source, &self.sender)
    }

    /// Blocks until an input arrives or the next deadline passes, then
    /// handles every input already queued, up to `MAX_INPUTS_PER_ROUND`.
    fn wait_for_inputs(&mut self) {
        let first = match self.deadline() {
            None => self.inputs.recv().ok(),
            Some(deadline) => {
                let timeout = deadline.saturating_duration_since(Instant::now());
                self.inputs.recv_timeout(timeout).ok()
            }
        };
        let Some(first) = first else {
            return;
        };
        self.handle(first);
        for _ in 1..MAX_INPUTS_PER_ROUND {
            match self.inputs.try_recv() {
                Ok(input) => self.handle(input),
                Err(_) => break,
            }
        }
    }

    /// Returns when the loop must act without an input: the next batch,
    /// periodic sync or status refresh; None to wait for inputs only.
    fn deadline(&self) -> Option<Instant> {
        let refresh = self
            .refresh_pending
            .then(|| self.last_refresh.map_or_else(Instant::now, |last| last + REFRESH_EVERY));
        [self.batch_due(), refresh, self.recheck_at].into_iter().flatten().min()
    }

    /// Returns when the next batch may start, or None when none is due.
    fn batch_due(&self) -> Option<Instant> {
        if self.periodic {
            return Some(self.next_tick);
        }
        if !self.ready || self.replacement.is_some() {
            return None;
        }
        if self.pending.is_empty() {
            // A quiet source gets an empty batch now and then (see HEARTBEAT).
            let heartbeat = self.last_batch? + HEARTBEAT;
            return Some(self.retry_at.map_or(heartbeat, |retry| retry.max(heartbeat)));
        }
        let debounced = self.pending.since.map(|since| since + self.options.debounce);
        let due = match (debounced, self.retry_at) {
            (Some(due), Some(retry)) => Some(due.max(retry)),
            (due, retry) => due.or(retry),
        };
        match (due, self.pause_until) {
            (Some(due), Some(pause)) => Some(due.max(pause)),
            (due, _) => due,
        }
    }

    fn act(&mut self, now: Instant) {
        if self.recheck_at.is_some_and(|at| at <= now) {
            self.recheck_at = None;
            for path in std::mem::take(&mut self.recheck) {
                self.pending.add_path(path);
            }
            self.pending.mark(now);
        }
        if self.batch_due().is_some_and(|due| due <= now) {
            if self.periodic {
                self.pending.add_all();
                self.sync_batch();
                self.next_tick = Instant::now() + self.options.interval;
            } else if self.restart_pending {
                self.restart_watcher();
            } else if self.source_replaced() {
                // The next round restarts inotifywait, then syncs everything.
            } else {
                self.sync_batch();
            }
        }
        let refresh_due = self
            .last_refresh
            .is_none_or(|last| Instant::now().duration_since(last) >= REFRESH_EVERY);
        if self.refresh_pending && refresh_due {
            self.refresh();
        }
    }

    fn sync_batch(&mut self) {
        let new_folders = std::mem::take(&mut self.pending.new_folders);
        let batch = self.pending.take();
        let (paths, full) = match &batch {
            Batch::All => (0, true),
            Batch::Paths(paths) => (paths.len(), false),
        };
        tracing::debug!(set = %self.options.set, paths, full, "batch started");
        let retry = batch.clone();

        let started = Instant::now();
        let exit = self.replica.sync(batch);
        let ended = Instant::now();
        let took = ended - started;
        self.pause_until = (took > SLOW_BATCH).then(|| ended + took.min(MAX_PAUSE));

        self.last_batch = Some(ended);
        self.refresh_pending = true;
        if exit == Exit::Ok {
            if self.failures > 0 {
                self.say("sync_recovered", &[]);
            }
            self.failures = 0;
            self.retry_at = None;
            // Files written into a new folder before inotifywait watched it
            // have no event: the folder is walked again now, and once more a
            // second after the last new folder appeared.
            if !new_folders.is_empty() {
                for path in new_folders {
                    self.pending.add_path(path.clone());
                    self.recheck.insert(path);
                }
                self.pending.mark(Instant::now());
                self.recheck_at = Some(Instant::now() + NEW_FOLDER_RECHECK);
            }
            return;
        }
        self.failures += 1;
        let pause = FIRST_RETRY
            .saturating_mul(1 << self.failures.min(16).saturating_sub(1))
            .min(self.options.interval);
        self.retry_at = Some(Instant::now() + pause);
        if self.failures == 1 {
            let seconds = seconds_text(self.options.lang, pause);
            self.say("sync_failed", &[("code", &(exit as i32)), ("seconds", &seconds)]);
        }
        self.pending.restore(retry);
    }

    fn refresh(&mut self) {
        self.replica.refresh();
        self.refresh_pending = false;
        self.last_refresh = Some(Instant::now());
    }

    /// Starts a new inotifywait; the batch waits until its watches are set up.
    /// Returns true, after logging it and asking for new watches and a full
    /// sync, when the source path no longer names the folder the watches
    /// were set on. inotify follows the folder, not its path: after `mv
    /// src src.old`, the events of src.old would name paths under src.
    fn source_replaced(&mut self) -> bool {
        let now = folder_id(&self.options.source);
        if now == self.source_id {
            return false;
        }
        self.say("source_replaced", &[("path", &self.options.source.display())]);
        self.source_id = now;
        self.distrusted = self.current.as_ref().map(|watcher| watcher.id);
        self.restart_pending = true;
        self.pending.add_all();
        true
    }

    fn restart_watcher(&mut self) {
        self.restart_pending = false;
        match self.start_watcher() {
            Ok(watcher) => self.replacement = Some(watcher),
            Err(e) => tracing::warn!(error = %e, "cannot start inotifywait again; keeping the running one"),
        }
    }

    fn handle(&mut self, input: Input) {
        match input {
            Input::Changes { watcher, .. } if self.distrusted == Some(watcher) => {
                // Watches of a source folder that was moved or replaced.
            }
            Input::Changes { changes, at, .. } => {
                for change in changes {
                    self.handle_change(change, at);
                }
            }
            Input::Message { watcher, line } => self.handle_message(watcher, line),
            Input::Exited { watcher } => self.handle_exit(watcher),
            Input::Stop(signal) => {
                tracing::info!(set = %self.options.set, signal = signal.as_str(), "stop signal received");
                self.stopping = true;
            }
        }
    }

    fn handle_change(&mut self, change: Change, now: Instant) {
        match change {
            Change::Path(path) => self.pending.add_path(path),
            Change::NewFolder(path) => self.pending.add_new_folder(path),
            Change::Overflow => {
                // One flood can overflow the queue many times, also while
                // the new watches are set up; that is one episode.
                if self.overflows.starts(now) {
                    let value = sysctl("max_queued_events");
                    self.say("overflow", &[("value", &value)]);
                }
                self.restart_pending = true;
                self.pending.add_all();
            }
            Change::Garbled => {
                if self.garbled.starts(now) {
                    self.say("garbled", &[]);
                }
                self.pending.add_all();
            }
        }
        self.pending.mark(now);
    }

    fn handle_message(&mut self, watcher: u64, line: String) {
        let is_current = self.current.as_ref().is_some_and(|w| w.id == watcher);
        let is_replacement = self.replacement.as_ref().is_some_and(|w| w.id == watcher);
        if !is_current && !is_replacement {
            return;
        }
        if line.starts_with("Setting up watches.") || line.starts_with("Please increase the amount of inotify watches")
        {
            return;
        }
        if line == "Watches established." {
            self.watches_established(is_replacement);
            return;
        }
        if let Some(rest) = line.strip_prefix("Couldn't watch new directory ") {
            if !self.limit_logged {
                self.limit_logged = true;
                let value = sysctl("max_user_watches");
                self.say("watch_limit", &[("message", &rest), ("value", &value)]);
            }
            self.pending.add_all();
            self.pending.mark(Instant::now());
            return;
        }
        self.say("inotifywait", &[("message", &line)]);
        self.last_message = Some(line);
    }

    fn watches_established(&mut self, by_replacement: bool) {
        if by_replacement {
            if let Some(old) = self.current.take() {
                old.stop();
            }
            self.current = self.replacement.take();
            return;
        }
        if !self.ready {
            self.ready = true;
            let seconds = seconds_text(self.options.lang, self.options.debounce);
            self.say(
                "started",
                &[("path", &self.options.source.display()), ("seconds", &seconds)],
            );
            // One full sync carries the changes made while nothing watched.
            self.pending.add_all();
            self.pending.mark(Instant::now());
        }
    }

    fn handle_exit(&mut self, watcher: u64) {
        if self.replacement.as_ref().is_some_and(|w| w.id == watcher) {
            // The old inotifywait keeps watching; the full sync goes ahead.
            if let Some(replacement) = self.replacement.take() {
                let code = replacement.reap();
                tracing::warn!(code, "the new inotifywait exited before its watches were set up");
            }
            return;
        }
        if self.current.as_ref().is_none_or(|w| w.id != watcher) {
            return;
        }
        let code = self.current.take().and_then(Inotifywait::reap);
        if let Some(replacement) = self.replacement.take() {
            replacement.stop();
        }
        if code.is_none() && self.waits_for_stop() {
            return;
        }
        let message = self.last_message.clone().unwrap_or_else(|| {
            let code = code.map_or_else(|| "?".to_string(), |c| c.to_string());
            texts::format(self.options.lang, "exited", &[("code", &code)])
        });
        let seconds = seconds_text(self.options.lang, self.options.interval);
        self.say(
            "fallback",
            &[
                ("path", &self.options.source.display()),
                ("message", &message),
                ("seconds", &seconds),
                ("value", &sysctl("max_user_watches")),
            ],
        );
        self.periodic = true;
        self.next_tick = Instant::now();
    }

    /// Handles the inputs of the next 0.5 s and returns true once one of them
    /// is a stop signal. Ctrl-C in a terminal signals inotifywait and drkit at
    /// once, and inotifywait may end first; without this wait, its end
    /// would read as "cannot watch".
    fn waits_for_stop(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_millis(500);
        while !self.stopping {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.inputs.recv_timeout(left) {
                Ok(input) => self.handle(input),
                Err(_) => break,
            }
        }
        self.stopping
    }

    /// Stops inotifywait, refreshes the status pages and logs the stop.
    fn finish(mut self) -> Exit {
        for watcher in [self.current.take(), self.replacement.take()].into_iter().flatten() {
            watcher.stop();
        }
        self.refresh();
        self.say("stopped", &[]);
        Exit::Ok
    }

    fn prefix(&self) -> String {
        format!("drkit watch [{}]: ", self.options.set)
    }

    /// Prints message `key` on stderr, prefixed with the set's name.
    fn say(&self, key: &str, args: &[(&str, &dyn Display)]) {
        let text = texts::format(self.options.lang, key, args);
        eprintln!("{}{text}", self.prefix());
    }
}

/// Returns the device and inode of the folder at `path`, or None when it is
/// missing.
fn folder_id(path: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|meta| (meta.dev(), meta.ino()))
}

/// Reads `/proc/sys/fs/inotify/NAME`, or "?" when it cannot be read.
fn sysctl(name: &str) -> String {
    std::fs::read_to_string(format!("/proc/sys/fs/inotify/{name}"))
        .map_or_else(|_| "?".to_string(), |value| value.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn pending_paths_become_one_batch() {
        let mut pending = Pending::default();
        pending.add_path(PathBuf::from("/src/b"));
        pending.add_path(PathBuf::from("/src/a"));
        pending.add_path(PathBuf::from("/src/b"));
        let Batch::Paths(paths) = pending.take() else {
            panic!("expected a path batch");
        };
        assert_eq!(paths, vec![PathBuf::from("/src/a"), PathBuf::from("/src/b")]);
        assert!(pending.is_empty());
    }

    #[test]
    fn new_folders_are_remembered_until_taken() {
        let mut pending = Pending::default();
        pending.add_new_folder(PathBuf::from("/src/new"));
        pending.add_path(PathBuf::from("/src/file"));
        assert_eq!(pending.new_folders.len(), 1);
        assert!(pending.paths.contains(Path::new("/src/new")));
        pending.add_all();
        assert!(pending.new_folders.is_empty());
    }

    #[test]
    fn full_sync_absorbs_paths() {
        let mut pending = Pending::default();
        pending.add_path(PathBuf::from("/src/a"));
        pending.add_all();
        pending.add_path(PathBuf::from("/src/b"));
        assert!(matches!(pending.take(), Batch::All));
    }

    #[test]
    fn too_many_paths_become_a_full_sync() {
        let mut pending = Pending::default();
        for i in 0..=MAX_BATCH_PATHS {
            pending.add_path(PathBuf::from(format!("/src/{i}")));
        }
        assert!(matches!(pending.take(), Batch::All));
    }

    #[test]
    fn episode_groups_close_repeats() {
        let mut episode = Episode::default();
        let start = Instant::now();
        assert!(episode.starts(start));
        assert!(!episode.starts(start + Duration::from_secs(5)));
        assert!(!episode.starts(start + Duration::from_secs(14)));
        assert!(episode.starts(start + Duration::from_secs(25)));
    }
}
