//! The inotifywait process: started on the set's source, read by two
//! threads that turn its output into `Input`s on the watcher's channel,
//! and stopped with SIGTERM.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, ChildStderr, ChildStdout, Command, Stdio};
use std::sync::mpsc::Sender;
use std::thread::JoinHandle;

use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;

use super::events::{self, Parser, Record};
use super::Input;

/// One running `inotifywait -m -r`. Its inputs carry `id`, so the watcher
/// can tell a replaced process's messages from the current one's.
pub struct Inotifywait {
    pub id: u64,
    child: Child,
}

impl Inotifywait {
    /// Starts inotifywait on `source`; fails when it cannot be run (for
    /// example, when inotify-tools is not installed).
    pub fn start(id: u64, source: &Path, inputs: &Sender<Input>) -> std::io::Result<Inotifywait> {
        let mut command = Command::new("inotifywait");
        command.args([
            "-m",
            "-r",
            "--no-newline",
            "--format",
            events::FORMAT,
            "--exclude",
            events::EXCLUDE,
        ]);
        for event in events::EVENTS {
            command.args(["-e", event]);
        }
        let mut child = command
            .arg("--")
            .arg(source)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;

        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let messages = read_messages(id, stderr, inputs.clone());
        read_events(id, stdout, messages, inputs.clone());
        Ok(Inotifywait { id, child })
    }

    /// Ends the process with SIGTERM and waits for it.
    pub fn stop(mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = signal::kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        let _ = self.child.wait();
    }

    /// Waits for the process after its output ended; returns its exit code.
    pub fn reap(mut self) -> Option<i32> {
        self.child.wait().ok().and_then(|status| status.code())
    }
}

/// Reads the events until inotifywait's stdout closes, then waits for the
/// stderr thread, so `Input::Exited` comes after the process's last message.
fn read_events(id: u64, mut stdout: ChildStdout, messages: JoinHandle<()>, inputs: Sender<Input>) {
    std::thread::spawn(move || {
        let mut parser = Parser::default();
        let mut buffer = vec![0u8; 64 * 1024];
        let mut records: Vec<Record> = Vec::new();
        loop {
            let n = match stdout.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read inotifywait's output");
                    break;
                }
            };
            parser.push(&buffer[..n], &mut records);
            let changes: Vec<_> = records.drain(..).filter_map(events::classify).collect();
            let at = std::time::Instant::now();
            if !changes.is_empty()
                && inputs
                    .send(Input::Changes {
                        watcher: id,
                        changes,
                        at,
                    })
                    .is_err()
            {
                return;
            }
        }
        let _ = messages.join();
        let _ = inputs.send(Input::Exited { watcher: id });
    });
}

/// Sends each line inotifywait writes on stderr (its status and error
/// messages) as `Input::Message`.
fn read_messages(id: u64, stderr: ChildStderr, inputs: Sender<Input>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stderr);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&line).trim_end().to_string();
                    if inputs
                        .send(Input::Message {
                            watcher: id,
                            line: text,
                        })
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
    })
}
