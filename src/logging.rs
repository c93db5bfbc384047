//! Diagnostics through `tracing`: warnings and errors on stderr (more with
//! `-v`), and info level appended to `<data_dir>/drkit.log`.
//!
//! Levels: error = a set, job or check failed; warn = something skipped or
//! retried that a person should know; info = a job or sync started or
//! finished; debug = why a decision was taken (why a file was copied or skipped).

use std::path::Path;
use std::sync::Mutex;

use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// Installs the stderr logger, and the file logger when `data_dir` is given.
/// Safe to call once per process; later calls do nothing.
pub fn init(verbose: u8, data_dir: Option<&Path>) {
    let stderr_level = match verbose {
        0 => LevelFilter::WARN,
        1 => LevelFilter::INFO,
        _ => LevelFilter::DEBUG,
    };
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .without_time()
        .with_filter(stderr_level);
    let file = data_dir.and_then(|dir| {
        let path = dir.join("drkit.log");
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&path).ok()?;
        Some(
            tracing_subscriber::fmt::layer()
                .with_writer(Mutex::new(file))
                .with_ansi(false)
                .with_target(false)
                .with_filter(if verbose > 1 {
                    LevelFilter::DEBUG
                } else {
                    LevelFilter::INFO
                }),
        )
    });
    let _ = tracing_subscriber::registry().with(stderr).with(file).try_init();
}
