//! The demo's primary server tree: `home/<domain>` for three Virtualmin
//! domains with a WordPress site each, and the Apache and Webmin config
//! folders under `etc/`.
//!
//! The site code comes from the Debian `wordpress` package when it is
//! installed, else from `generated`. On top of it every domain gets content
//! of its own: a page, uploads, a cache folder and temporary files (both
//! excluded by the demo's config), log symlinks and a mailbox.

use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use walkdir::WalkDir;

use super::{create_dir, symlink, write_file, Action, FileError};

/// The demo's domains; the first one gets the edit and the corruption, the
/// second the upload, the third the deletion.
pub const DOMAINS: [&str; 3] = ["example.com", "shop.example.net", "blog.example.org"];

/// Install folder of the WordPress tree in the Debian `wordpress` package.
pub const WORDPRESS_DIR: &str = "/usr/share/wordpress";

/// Origin of each domain's WordPress code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SiteCode {
    /// Copied from this installed tree.
    WordPress(PathBuf),
    /// Written by `generated`, because no WordPress tree was found.
    Generated,
}

/// Summary of the tree `build` made.
#[derive(Debug)]
pub struct Built {
    pub code: SiteCode,
    /// Regular files and symlinks under the primary folder.
    pub entries: u64,
}

/// Returns the installed WordPress tree, if any.
pub fn installed_wordpress() -> Option<PathBuf> {
    let dir = PathBuf::from(WORDPRESS_DIR);
    dir.join("wp-includes").is_dir().then_some(dir)
}

/// Builds the primary tree under `primary`, with WordPress copied from
/// `wordpress` when given.
pub fn build(primary: &Path, wordpress: Option<&Path>) -> Result<Built, FileError> {
    for (index, domain) in DOMAINS.iter().enumerate() {
        let home = primary.join("home").join(domain);
        let public_html = home.join("public_html");
        match wordpress {
            Some(tree) => copy_tree(tree, &public_html)?,
            None => super::generated::build(&public_html, domain)?,
        }
        write_domain_content(&home, domain, index)?;
    }
    super::server_files::write_apache(&primary.join("etc/apache2"), &DOMAINS)?;
    super::server_files::write_webmin(&primary.join("etc/webmin"), &DOMAINS)?;

    let code = match wordpress {
        Some(tree) => SiteCode::WordPress(tree.to_path_buf()),
        None => SiteCode::Generated,
    };
    Ok(Built {
        code,
        entries: count_entries(primary),
    })
}

/// Copies the tree at `from` to `to`: folders and files with their mode and
/// mtime, symlinks as symlinks (never followed, since the Debian tree links
/// to /etc/wordpress and /usr/share/javascript). Other file types are skipped.
pub fn copy_tree(from: &Path, to: &Path) -> Result<(), FileError> {
    create_dir(to)?;
    let mut folders = Vec::new();
    for item in WalkDir::new(from).min_depth(1).follow_links(false) {
        let item = item.map_err(|e| {
            let path = e.path().unwrap_or(from).to_path_buf();
            FileError::new(Action::Read, &path, e.into())
        })?;
        let relative = item.path().strip_prefix(from).expect("walkdir stays under its root");
        let dest = to.join(relative);
        let kind = item.file_type();
        if kind.is_dir() {
            create_dir(&dest)?;
            folders.push((dest, item.path().to_path_buf()));
        } else if kind.is_symlink() {
            let target = std::fs::read_link(item.path()).map_err(|e| FileError::new(Action::Read, item.path(), e))?;
            symlink(&target, &dest)?;
        } else if kind.is_file() {
            std::fs::copy(item.path(), &dest).map_err(|e| FileError::new(Action::Copy, item.path(), e))?;
            copy_mtime(item.path(), &dest)?;
        }
    }
    // Folder modes and mtimes go last, because adding the files changed them.
    for (dest, source) in folders.iter().rev() {
        let meta = std::fs::metadata(source).map_err(|e| FileError::new(Action::Read, source, e))?;
        std::fs::set_permissions(dest, meta.permissions()).map_err(|e| FileError::new(Action::Write, dest, e))?;
        copy_mtime(source, dest)?;
    }
    Ok(())
}

fn copy_mtime(source: &Path, dest: &Path) -> Result<(), FileError> {
    let modified = std::fs::metadata(source)
        .and_then(|meta| meta.modified())
        .map_err(|e| FileError::new(Action::Read, source, e))?;
    std::fs::File::open(dest)
        .and_then(|file| file.set_modified(modified))
        .map_err(|e| FileError::new(Action::Write, dest, e))
}

/// The page the demo edits on the first domain, relative to the domain's home.
pub const ABOUT_PAGE: &str = "public_html/about.html";

/// The opening-hours line of the about page before the demo's edit.
pub const HOURS_BEFORE: &str = "Opening hours: Monday to Friday, 9:00-17:00";

/// The post on the third domain that the demo deletes.
pub const OLD_POST: &str = "public_html/old-post.html";

/// The upload on the first domain that the demo corrupts on the replica.
pub const TEAM_PHOTO: &str = "public_html/wp-content/uploads/2025/03/team.jpg";

/// Writes what belongs to one domain rather than to WordPress.
fn write_domain_content(home: &Path, domain: &str, index: usize) -> Result<(), FileError> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed_for(domain));
    write_file(&home.join(ABOUT_PAGE), about_page(domain))?;
    write_file(&home.join(TEAM_PHOTO), fake_image(&mut rng, 40_000, 90_000))?;
    write_file(
        &home.join("public_html/wp-content/uploads/2025/05/storefront.jpg"),
        fake_image(&mut rng, 30_000, 70_000),
    )?;
    write_file(
        &home.join("public_html/wp-content/uploads/2025/05/logo.png"),
        fake_image(&mut rng, 2_000, 8_000),
    )?;
    if index == 2 {
        write_file(&home.join(OLD_POST), old_post(domain))?;
    }

    // Excluded by the demo's config: page cache and temporary uploads.
    for page in ["index", "about", "contact"] {
        let cached = format!("<!-- cached copy of /{page} -->\n{}", about_page(domain));
        write_file(
            &home.join(format!("public_html/wp-content/cache/page-{page}.html")),
            cached,
        )?;
    }
    write_file(
        &home.join("tmp/php-upload-7f3a.tmp"),
        fake_image(&mut rng, 1_000, 4_000),
    )?;

    // Virtualmin links the domain's logs from its home; the sync keeps the links.
    for log in ["access_log", "error_log"] {
        let target = PathBuf::from(format!("/var/log/virtualmin/{domain}_{log}"));
        symlink(&target, &home.join("logs").join(log))?;
    }
    create_dir(&home.join("cgi-bin"))?;
    write_mailbox(home, domain)
}

/// Writes a Maildir with one read and one new message.
fn write_mailbox(home: &Path, domain: &str) -> Result<(), FileError> {
    let maildir = home.join("Maildir");
    create_dir(&maildir.join("tmp"))?;
    let message = |id: u32, subject: &str| {
        format!(
            "From: webmaster@{domain}\nTo: info@{domain}\nSubject: {subject}\n\
             Date: Tue, 03 Jun 2025 09:12:44 +0000\nMessage-ID: <{id}.demo@{domain}>\n\n{subject}.\n"
        )
    };
    write_file(
        &maildir.join("cur/1748941964.M12P3301.primary:2,S"),
        message(1, "Backup finished"),
    )?;
    write_file(
        &maildir.join("new/1748942301.M4P3390.primary"),
        message(2, "New contact form message"),
    )
}

fn about_page(domain: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n  <meta charset=\"utf-8\">\n  <title>About {domain}</title>\n\
         <link rel=\"stylesheet\" href=\"/wp-content/themes/site/style.css\">\n</head>\n<body>\n  <h1>About us</h1>\n\
         <p>{domain} is run by a small team in Valencia.</p>\n  <p>{HOURS_BEFORE}</p>\n\
         <p>Write to <a href=\"mailto:info@{domain}\">info@{domain}</a>.</p>\n</body>\n</html>\n"
    )
}

fn old_post(domain: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>Summer sale 2019 - {domain}</title></head>\n\
         <body>\n<article>\n<h1>Summer sale 2019</h1>\n<p>This offer ended on 31 August 2019.</p>\n</article>\n</body>\n</html>\n"
    )
}

/// Returns random bytes framed by the JPEG start and end markers; the demo
/// only needs files that look like uploads, not decodable pictures.
pub fn fake_image(rng: &mut impl Rng, min_len: usize, max_len: usize) -> Vec<u8> {
    let len = rng.gen_range(min_len..max_len);
    let mut bytes = vec![0u8; len];
    rng.fill(&mut bytes[..]);
    bytes[..4].copy_from_slice(&[0xFF, 0xD8, 0xFF, 0xE0]);
    bytes[len - 2..].copy_from_slice(&[0xFF, 0xD9]);
    bytes
}

/// Returns a seed derived from `name`, so each domain gets the same bytes in every run.
///
/// NOTE: `StdRng` promises the same sequence only within one `rand` version,
/// so a `rand` upgrade may change the generated bytes (never their shape).
pub fn seed_for(name: &str) -> u64 {
    let hash = blake3::hash(name.as_bytes());
    u64::from_le_bytes(hash.as_bytes()[..8].try_into().expect("8 bytes"))
}

/// Counts regular files and symlinks under `root`.
fn count_entries(root: &Path) -> u64 {
    WalkDir::new(root)
        .follow_links(false)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| !e.file_type().is_dir())
        .count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_tree_keeps_symlinks_as_links() {
        let temp = tempfile::tempdir().unwrap();
        let from = temp.path().join("from");
        std::fs::create_dir_all(from.join("sub")).unwrap();
        std::fs::write(from.join("sub/page.php"), "<?php echo 1;").unwrap();
        std::os::unix::fs::symlink("/etc/wordpress/htaccess", from.join(".htaccess")).unwrap();
        std::os::unix::fs::symlink("../../outside", from.join("sub/link.js")).unwrap();

        let to = temp.path().join("to");
        copy_tree(&from, &to).unwrap();

        assert_eq!(std::fs::read(to.join("sub/page.php")).unwrap(), b"<?php echo 1;");
        assert_eq!(
            std::fs::read_link(to.join(".htaccess")).unwrap(),
            Path::new("/etc/wordpress/htaccess")
        );
        assert_eq!(
            std::fs::read_link(to.join("sub/link.js")).unwrap(),
            Path::new("../../outside")
        );
    }

    #[test]
    fn build_generated_primary_has_every_part() {
        let temp = tempfile::tempdir().unwrap();
        let built = build(temp.path(), None).unwrap();
        assert_eq!(built.code, SiteCode::Generated);
        for domain in DOMAINS {
            let home = temp.path().join("home").join(domain);
            assert!(home.join("public_html/index.php").is_file(), "{domain}: index.php");
            assert!(home.join(ABOUT_PAGE).is_file(), "{domain}: about page");
            assert!(home.join(TEAM_PHOTO).is_file(), "{domain}: team photo");
            assert!(home
                .join("logs/access_log")
                .symlink_metadata()
                .unwrap()
                .file_type()
                .is_symlink());
            assert!(temp
                .path()
                .join(format!("etc/apache2/sites-available/{domain}.conf"))
                .is_file());
        }
        assert!(temp.path().join("home/blog.example.org").join(OLD_POST).is_file());
        assert!(temp.path().join("etc/webmin/miniserv.conf").is_file());
        assert!(built.entries > 300, "only {} entries", built.entries);
    }

    #[test]
    fn domain_content_is_deterministic() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        write_domain_content(a.path(), "example.com", 0).unwrap();
        write_domain_content(b.path(), "example.com", 0).unwrap();
        assert_eq!(
            std::fs::read(a.path().join(TEAM_PHOTO)).unwrap(),
            std::fs::read(b.path().join(TEAM_PHOTO)).unwrap()
        );
    }
}
