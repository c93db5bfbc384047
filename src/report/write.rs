//! Atomic replacement of report files: a reader (Apache, a monitoring
//! script) gets either the old or the new content, never a partial file.
//! The bytes go to a temporary file in the same folder, which is flushed to
//! disk and then renamed over the final name. The folder is flushed last so
//! that the rename survives a crash.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::sync::walk::is_temp_name;
use crate::transport::local::{sync_dir, temp_path};

/// Age after which a temporary file in the report folder is taken as left
/// behind by a killed process and deleted. Writing a report takes far less,
/// so a younger temporary file may belong to a drkit process still writing.
const STALE_TEMP_AGE: Duration = Duration::from_secs(10 * 60);

/// Replaces `path` with `contents` atomically, creating its folder when
/// missing. The file gets mode 0644 (less the umask) because the web server
/// reads it. On error the temporary file is removed.
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;

    let temp = temp_path(path);
    let written = write_flushed(&temp, contents).and_then(|()| std::fs::rename(&temp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(e);
    }

    sync_dir(dir)
}

fn write_flushed(temp: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).mode(0o644).open(temp)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// Deletes temporary files older than `STALE_TEMP_AGE` in `dir`, left by a
/// drkit process killed between writing and renaming. Errors are logged.
pub fn remove_stale_temps(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let now = SystemTime::now();
    for entry in entries.filter_map(Result::ok) {
        if !is_temp_name(&entry.file_name()) {
            continue;
        }
        let age = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|modified| now.duration_since(modified).ok());
        if age.is_some_and(|age| age > STALE_TEMP_AGE) {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => {
                    tracing::info!(path = %entry.path().display(), "removed a stale temporary report file")
                }
                Err(e) => {
                    tracing::warn!(path = %entry.path().display(), error = %e, "cannot remove a stale temporary report file")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::walk::TEMP_PREFIX;

    #[test]
    fn write_atomic_replaces_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("index.html");
        write_atomic(&path, b"old").unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("index.html")]);
    }

    #[test]
    fn write_atomic_failure_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("taken");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("inner"), b"x").unwrap();
        assert!(write_atomic(&path, b"data").is_err());
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("taken")]);
    }

    #[test]
    fn stale_temps_are_removed_young_kept() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join(format!("{TEMP_PREFIX}old"));
        let young = dir.path().join(format!("{TEMP_PREFIX}young"));
        std::fs::write(&old, b"x").unwrap();
        std::fs::write(&young, b"x").unwrap();
        let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(an_hour_ago)
            .unwrap();
        remove_stale_temps(dir.path());
        assert!(!old.exists());
        assert!(young.exists());
    }
}
