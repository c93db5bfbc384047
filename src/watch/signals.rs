//! SIGTERM, SIGINT and SIGHUP as `Input::Stop` on the watcher's channel.
//!
//! signal-hook's handler only writes to a pipe, and one thread reads that
//! pipe, so nothing polls. The signals stay unblocked: inotifywait and any
//! other child starts with their default actions, because exec resets
//! handlers, while a blocked signal mask would be inherited.

use std::sync::mpsc::Sender;

use nix::sys::signal::Signal;
use signal_hook::iterator::Signals;

use super::Input;

/// Installs the handlers and starts the thread that forwards the signals.
/// The thread calls `on_signal` before it forwards one, so the signal is
/// acknowledged on stderr even while a sync keeps the main loop busy.
pub fn forward(inputs: Sender<Input>, on_signal: impl Fn(Signal) + Send + 'static) -> std::io::Result<()> {
    let mut signals = Signals::new([Signal::SIGTERM as i32, Signal::SIGINT as i32, Signal::SIGHUP as i32])?;
    std::thread::spawn(move || {
        for number in signals.forever() {
            let Ok(signal) = Signal::try_from(number) else {
                continue;
            };
            on_signal(signal);
            if inputs.send(Input::Stop(signal)).is_err() {
                return;
            }
        }
    });
    Ok(())
}
