//! The demo's changes to its files between the commands: a day of changes
//! on the primary, and silent corruption of one replica file.

use std::fs::{File, FileTimes, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use rand::SeedableRng;

use super::primary::{fake_image, seed_for, ABOUT_PAGE, DOMAINS, HOURS_BEFORE, OLD_POST, TEAM_PHOTO};
use super::{write_file, Action, FileError};

/// The opening-hours line of the about page after the demo's edit.
pub const HOURS_AFTER: &str = "Opening hours: Monday to Saturday, 9:00-19:00";

/// Returns the page the demo edits, relative to the `home` set.
pub fn edited_page() -> String {
    format!("{}/{ABOUT_PAGE}", DOMAINS[0])
}

/// Returns the upload the demo adds, relative to the `home` set.
pub fn added_upload() -> String {
    format!("{}/public_html/wp-content/uploads/2025/06/new-product.jpg", DOMAINS[1])
}

/// Returns the post the demo deletes, relative to the `home` set.
pub fn deleted_post() -> String {
    format!("{}/{OLD_POST}", DOMAINS[2])
}

/// Returns the file the demo corrupts on the replica, relative to the `home` set.
pub fn corrupted_file() -> String {
    format!("{}/{TEAM_PHOTO}", DOMAINS[0])
}

/// Makes the primary's changes in the `home` set at `home`: edits a page,
/// adds an upload and deletes a post. Returns the size of the upload.
pub fn change_primary(home: &Path) -> Result<u64, FileError> {
    let page = home.join(edited_page());
    let text = std::fs::read_to_string(&page).map_err(|e| FileError::new(Action::Read, &page, e))?;
    write_file(&page, text.replace(HOURS_BEFORE, HOURS_AFTER))?;

    let mut rng = rand::rngs::StdRng::seed_from_u64(seed_for("new-product"));
    let upload = fake_image(&mut rng, 50_000, 60_000);
    write_file(&home.join(added_upload()), &upload)?;

    let post = home.join(deleted_post());
    std::fs::remove_file(&post).map_err(|e| FileError::new(Action::Remove, &post, e))?;
    Ok(upload.len() as u64)
}

/// Returns the first line of the file at `path` that contains "Opening hours", trimmed.
pub fn opening_hours(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find(|line| line.contains("Opening hours")).map(|line| {
        line.trim()
            .trim_start_matches("<p>")
            .trim_end_matches("</p>")
            .to_string()
    })
}

/// Number of bytes `corrupt` inverts.
pub const CORRUPT_BYTES: usize = 16;

/// Inverts `CORRUPT_BYTES` bytes in the middle of the file at `path`, in
/// place, then puts back its access and modification times, the way a disk
/// error would leave it: same size, same mtime, same inode, other content.
/// Returns the offset of the first inverted byte.
pub fn corrupt(path: &Path) -> Result<u64, FileError> {
    let err = |e| FileError::new(Action::Write, path, e);
    let before = std::fs::metadata(path).map_err(|e| FileError::new(Action::Read, path, e))?;
    let offset = (before.len() / 2).saturating_sub(CORRUPT_BYTES as u64 / 2);

    let mut file = OpenOptions::new().read(true).write(true).open(path).map_err(err)?;
    let mut bytes = [0u8; CORRUPT_BYTES];
    file.seek(SeekFrom::Start(offset)).map_err(err)?;
    file.read_exact(&mut bytes).map_err(err)?;
    for byte in &mut bytes {
        *byte = !*byte;
    }
    file.seek(SeekFrom::Start(offset)).map_err(err)?;
    file.write_all(&bytes).map_err(err)?;
    file.sync_all().map_err(err)?;

    let times = FileTimes::new()
        .set_accessed(before.accessed().map_err(err)?)
        .set_modified(before.modified().map_err(err)?);
    file.set_times(times).map_err(err)?;
    Ok(offset)
}

/// True when both files hold the same bytes.
pub fn same_content(a: &Path, b: &Path) -> Result<bool, FileError> {
    let read = |path: &Path| -> Result<Vec<u8>, FileError> {
        let mut bytes = Vec::new();
        File::open(path)
            .and_then(|mut file| file.read_to_end(&mut bytes))
            .map_err(|e| FileError::new(Action::Read, path, e))?;
        Ok(bytes)
    };
    Ok(read(a)? == read(b)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn corrupt_keeps_size_mtime_and_inode() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("photo.jpg");
        let original: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &original).unwrap();
        let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let before = std::fs::metadata(&path).unwrap();

        let offset = corrupt(&path).unwrap();

        let after = std::fs::metadata(&path).unwrap();
        assert_eq!(after.len(), before.len());
        assert_eq!(after.modified().unwrap(), old);
        assert_eq!(after.ino(), before.ino());
        let bytes = std::fs::read(&path).unwrap();
        let changed: Vec<usize> = (0..bytes.len()).filter(|&i| bytes[i] != original[i]).collect();
        assert_eq!(changed.len(), CORRUPT_BYTES);
        assert_eq!(changed[0] as u64, offset);
    }

    #[test]
    fn change_primary_edits_adds_and_deletes() {
        let temp = tempfile::tempdir().unwrap();
        let home = temp.path();
        write_file(&home.join(edited_page()), format!("<p>{HOURS_BEFORE}</p>\n")).unwrap();
        write_file(&home.join(deleted_post()), "old").unwrap();

        let size = change_primary(home).unwrap();

        assert_eq!(opening_hours(&home.join(edited_page())).as_deref(), Some(HOURS_AFTER));
        assert_eq!(std::fs::metadata(home.join(added_upload())).unwrap().len(), size);
        assert!(!home.join(deleted_post()).exists());
    }
}
