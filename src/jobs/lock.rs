//! Job locks: an exclusive, non-blocking `flock` on
//! `<data_dir>/locks/<job>.lock`.
//!
//! `drkit run` takes the lock before it records the run and keeps it until
//! the job's process group is empty, so two runs of one job never overlap,
//! whether they come from cron, a timer or a person. The kernel drops the
//! lock when the holder exits, even by SIGKILL, so no stale lock remains.
//! The file contains the holder's pid, run id and start time, which a run
//! that finds the lock busy prints.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// A held job lock; dropping it releases the lock.
pub struct JobLock {
    file: Flock<File>,
    path: PathBuf,
}

/// Result of trying to take a job lock.
pub enum Attempt {
    Acquired(JobLock),
    /// Another process holds the lock; `holder` is what it wrote into the file.
    Busy {
        path: PathBuf,
        holder: String,
    },
}

/// Returns the lock file of `job` under `data_dir`.
pub fn lock_path(data_dir: &Path, job: &str) -> PathBuf {
    data_dir.join("locks").join(format!("{job}.lock"))
}

/// Tries to take the lock of `job` without waiting. Job names are checked
/// when job files are parsed, so the name is a safe file name.
pub fn try_lock(data_dir: &Path, job: &str) -> std::io::Result<Attempt> {
    let path = lock_path(data_dir, job);
    crate::store::create_private_dir(path.parent().unwrap_or(data_dir))?;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(file) => Ok(Attempt::Acquired(JobLock { file, path })),
        Err((mut file, Errno::EWOULDBLOCK)) => {
            let mut holder = String::new();
            // The holder may not have written its note yet; an empty note is fine.
            let _ = file.read_to_string(&mut holder);
            Ok(Attempt::Busy {
                path,
                holder: holder.trim().to_string(),
            })
        }
        Err((_, errno)) => Err(std::io::Error::from(errno)),
    }
}

impl JobLock {
    /// Writes who holds the lock into the lock file; a failure is logged, as
    /// the note only helps the message of a skipped run.
    pub fn note_holder(&mut self, run_id: i64) {
        let since = chrono::Local::now().format("%Y-%m-%d %H:%M:%S %z");
        let note = format!("pid {}, run {run_id}, since {since}\n", std::process::id());
        let file: &mut File = &mut self.file;
        let written = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(note.as_bytes()));
        if let Err(e) = written {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot write the holder into the lock file");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_is_busy_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let Attempt::Acquired(mut first) = try_lock(dir.path(), "sync-all").unwrap() else {
            panic!("the first lock must be free");
        };
        first.note_holder(42);
        match try_lock(dir.path(), "sync-all").unwrap() {
            Attempt::Busy { path, holder } => {
                assert_eq!(path, dir.path().join("locks/sync-all.lock"));
                assert!(holder.contains("run 42"), "holder note: {holder}");
            }
            Attempt::Acquired(_) => panic!("the second lock must be busy"),
        }
        drop(first);
        assert!(matches!(
            try_lock(dir.path(), "sync-all").unwrap(),
            Attempt::Acquired(_)
        ));
    }
}
