//! The demo folder: its layout, its marker file, and the clean start of a
//! second run.
//!
//! The demo deletes and rebuilds what it created, so it works only in a new
//! folder, an empty folder, or a folder that contains its marker file. In a
//! marked folder it removes only the entries listed in `CREATED`; anything
//! else a user put there stays.

use std::path::{Path, PathBuf};

use super::{create_dir, write_file, Action, FileError};

/// Name of the file that marks a folder as made by `drkit demo`.
pub const MARKER: &str = ".drkit-demo";

/// Entries the demo creates in its folder, besides the marker.
pub const CREATED: &[&str] = &["primary", "replica", "data", "reports", "jobs", "drkit.toml"];

/// Paths of the demo folder, absolute for the config and as typed for the output.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The folder as an absolute path, which the config requires.
    pub root: PathBuf,
    /// The folder as the user wrote it, for the commands the demo prints.
    pub shown: PathBuf,
}

impl Layout {
    pub fn primary(&self) -> PathBuf {
        self.root.join("primary")
    }

    pub fn replica(&self) -> PathBuf {
        self.root.join("replica")
    }

    pub fn config(&self) -> PathBuf {
        self.root.join("drkit.toml")
    }

    pub fn data(&self) -> PathBuf {
        self.root.join("data")
    }

    pub fn reports(&self) -> PathBuf {
        self.root.join("reports")
    }

    pub fn jobs(&self) -> PathBuf {
        self.root.join("jobs")
    }

    /// Returns `path` as seen from where the user typed the demo folder:
    /// `drkit-demo/replica/home` for `/cwd/drkit-demo/replica/home`.
    pub fn shown(&self, path: &Path) -> PathBuf {
        match path.strip_prefix(&self.root) {
            Ok(relative) => self.shown.join(relative),
            Err(_) => path.to_path_buf(),
        }
    }
}

/// A folder ready for the demo, and whether an earlier demo's files were removed from it.
#[derive(Debug)]
pub struct Prepared {
    pub layout: Layout,
    pub removed_previous: bool,
}

/// Reason the demo cannot use a folder.
#[derive(Debug)]
pub enum PrepareError {
    /// The path exists and is not a folder.
    NotAFolder(PathBuf),
    /// The folder has content and no marker file, so the demo did not create it.
    NotDemoFolder(PathBuf),
    File(FileError),
}

impl From<FileError> for PrepareError {
    fn from(e: FileError) -> Self {
        PrepareError::File(e)
    }
}

/// Makes `dir` an empty demo folder: creates it, or adopts it when empty, or
/// removes the previous demo's entries when it contains the marker file.
/// Rejects any other existing path and then changes nothing.
pub fn prepare(dir: &Path, marker_text: &str) -> Result<Prepared, PrepareError> {
    let root = std::path::absolute(dir).map_err(|e| FileError::new(Action::Read, dir, e))?;
    let layout = Layout {
        root: root.clone(),
        shown: dir.to_path_buf(),
    };
    let mut removed_previous = false;

    match std::fs::metadata(&root) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_dir(&root)?,
        Err(e) => return Err(FileError::new(Action::Read, &root, e).into()),
        Ok(meta) if !meta.is_dir() => return Err(PrepareError::NotAFolder(dir.to_path_buf())),
        Ok(_) if has_marker(&root) => removed_previous = remove_created(&root)?,
        Ok(_) if is_empty(&root)? => {}
        Ok(_) => return Err(PrepareError::NotDemoFolder(dir.to_path_buf())),
    }

    write_file(&root.join(MARKER), marker_text)?;
    Ok(Prepared {
        layout,
        removed_previous,
    })
}

/// True when `root` contains the marker as a regular file (a symlink does not count).
fn has_marker(root: &Path) -> bool {
    std::fs::symlink_metadata(root.join(MARKER)).is_ok_and(|meta| meta.is_file())
}

fn is_empty(root: &Path) -> Result<bool, FileError> {
    let mut entries = std::fs::read_dir(root).map_err(|e| FileError::new(Action::Read, root, e))?;
    Ok(entries.next().is_none())
}

/// Removes the entries of `CREATED` found in `root`, without following
/// symlinks; returns whether any existed.
fn remove_created(root: &Path) -> Result<bool, FileError> {
    let mut removed = false;
    for name in CREATED {
        let path = root.join(name);
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(FileError::new(Action::Read, &path, e)),
        };
        let result = if meta.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        result.map_err(|e| FileError::new(Action::Remove, &path, e))?;
        removed = true;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepare_creates_missing_folder() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("demo");
        let prepared = prepare(&dir, "marker").unwrap();
        assert!(!prepared.removed_previous);
        assert!(dir.join(MARKER).is_file());
        assert_eq!(prepared.layout.root, dir);
    }

    #[test]
    fn prepare_adopts_empty_folder() {
        let temp = tempfile::tempdir().unwrap();
        let prepared = prepare(temp.path(), "marker").unwrap();
        assert!(!prepared.removed_previous);
        assert!(temp.path().join(MARKER).is_file());
    }

    #[test]
    fn prepare_rejects_unmarked_folder() {
        let temp = tempfile::tempdir().unwrap();
        std::fs::write(temp.path().join("notes.txt"), "mine").unwrap();
        std::fs::create_dir(temp.path().join("primary")).unwrap();

        let result = prepare(temp.path(), "marker");

        assert!(matches!(result, Err(PrepareError::NotDemoFolder(_))));
        assert!(temp.path().join("primary").is_dir());
        assert!(!temp.path().join(MARKER).exists());
    }

    #[test]
    fn prepare_rejects_file() {
        let temp = tempfile::tempdir().unwrap();
        let file = temp.path().join("file");
        std::fs::write(&file, "x").unwrap();
        assert!(matches!(prepare(&file, "marker"), Err(PrepareError::NotAFolder(_))));
    }

    #[test]
    fn prepare_rejects_symlinked_marker() {
        let temp = tempfile::tempdir().unwrap();
        std::fs::write(temp.path().join("elsewhere"), "x").unwrap();
        std::os::unix::fs::symlink(temp.path().join("elsewhere"), temp.path().join(MARKER)).unwrap();
        assert!(matches!(
            prepare(temp.path(), "marker"),
            Err(PrepareError::NotDemoFolder(_))
        ));
    }

    #[test]
    fn prepare_removes_only_demo_entries() {
        let temp = tempfile::tempdir().unwrap();
        let root = temp.path();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("keep.txt"), "x").unwrap();
        std::fs::write(root.join(MARKER), "marker").unwrap();
        std::fs::create_dir_all(root.join("primary/home/a")).unwrap();
        std::fs::write(root.join("primary/home/a/f"), "x").unwrap();
        std::fs::write(root.join("drkit.toml"), "x").unwrap();
        std::fs::write(root.join("user-notes.txt"), "mine").unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("replica")).unwrap();

        let prepared = prepare(root, "marker").unwrap();

        assert!(prepared.removed_previous);
        assert!(!root.join("primary").exists());
        assert!(!root.join("drkit.toml").exists());
        assert!(root.join("replica").symlink_metadata().is_err());
        assert!(root.join("user-notes.txt").is_file());
        assert!(
            outside.path().join("keep.txt").is_file(),
            "a symlink's target is left alone"
        );
    }

    #[test]
    fn shown_paths_keep_the_typed_folder() {
        let layout = Layout {
            root: PathBuf::from("/cwd/drkit-demo"),
            shown: PathBuf::from("drkit-demo"),
        };
        assert_eq!(
            layout.shown(&layout.replica().join("home")),
            PathBuf::from("drkit-demo/replica/home")
        );
        assert_eq!(layout.shown(Path::new("/elsewhere")), PathBuf::from("/elsewhere"));
    }
}
