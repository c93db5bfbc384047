//! OpenSSH known_hosts files: finding the keys pinned for a host and
//! pinning a new one.
//!
//! A line is `[MARKER] PATTERNS KEYTYPE BASE64 [COMMENT]`. PATTERNS is a
//! comma list of host names (`host` for port 22, `[host]:port` otherwise)
//! or hashed names `|1|SALT|HMAC`, where HMAC is HMAC-SHA1 keyed with SALT
//! over the name as written. `@revoked` lines mark keys that must be
//! rejected; `@cert-authority` lines are ignored because drkit does not
//! accept host certificates.

use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Digest;

/// A public host key as the server sends it: the SSH wire-format blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKey {
    /// Algorithm name stored at the start of the blob, such as "ssh-ed25519".
    pub key_type: String,
    pub blob: Vec<u8>,
}

impl HostKey {
    /// Reads the key type from the blob (a 32-bit big-endian length, then
    /// the name); None when the blob is too short to hold one.
    pub fn from_blob(blob: Vec<u8>) -> Option<HostKey> {
        let length = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
        let name = blob.get(4..4 + length)?;
        let key_type = std::str::from_utf8(name).ok()?.to_string();
        Some(HostKey { key_type, blob })
    }

    /// Returns the fingerprint as OpenSSH prints it: "SHA256:" and the
    /// unpadded base64 of the SHA-256 of the blob.
    pub fn fingerprint(&self) -> String {
        let digest = sha2::Sha256::digest(&self.blob);
        format!("SHA256:{}", STANDARD_NO_PAD.encode(digest))
    }

    /// Returns the blob in base64, as known_hosts and authorized_keys hold it.
    pub fn base64(&self) -> String {
        STANDARD.encode(&self.blob)
    }
}

/// Returns the name a known_hosts line uses for a host: `host` on port 22,
/// `[host]:port` on any other port, in lower case as OpenSSH writes it.
pub fn host_pattern(address: &str, port: u16) -> String {
    let host = address.to_ascii_lowercase();
    if port == 22 {
        host
    } else {
        format!("[{host}]:{port}")
    }
}

/// Result of looking up the key a host presented in a known_hosts file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The key is pinned for the host on this line (1-based).
    Known { line: usize },
    /// No line names the host.
    Unknown,
    /// The host is pinned with another key, on this line (the first such line).
    Changed { line: usize, pinned: HostKey },
    /// An `@revoked` line lists this key for the host.
    Revoked { line: usize },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    None,
    Revoked,
    CertAuthority,
}

/// One usable line of a known_hosts file.
#[derive(Debug, Clone)]
struct Entry {
    line: usize,
    marker: Marker,
    patterns: String,
    key: HostKey,
}

/// The entries of one known_hosts file.
#[derive(Debug, Clone, Default)]
pub struct KnownHosts {
    entries: Vec<Entry>,
}

impl KnownHosts {
    /// Reads `path`; a missing file reads as empty, because that is the
    /// state before the first `drkit peer trust`.
    pub fn read(path: &Path) -> io::Result<KnownHosts> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(KnownHosts::parse(&text)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(KnownHosts::default()),
            Err(e) => Err(e),
        }
    }

    /// Parses the text of a known_hosts file. Lines that are not valid
    /// entries are skipped, as OpenSSH does.
    pub fn parse(text: &str) -> KnownHosts {
        let entries = text
            .lines()
            .enumerate()
            .filter_map(|(index, line)| parse_line(index + 1, line))
            .collect();
        KnownHosts { entries }
    }

    /// Checks the key `key` presented by the host named `host` (see `host_pattern`).
    pub fn check(&self, host: &str, key: &HostKey) -> Lookup {
        let for_host: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| matches_host(&e.patterns, host))
            .collect();
        if let Some(entry) = for_host
            .iter()
            .find(|e| e.marker == Marker::Revoked && e.key.blob == key.blob)
        {
            return Lookup::Revoked { line: entry.line };
        }
        let pinned: Vec<&&Entry> = for_host.iter().filter(|e| e.marker == Marker::None).collect();
        if let Some(entry) = pinned.iter().find(|e| e.key.blob == key.blob) {
            return Lookup::Known { line: entry.line };
        }
        match pinned.first() {
            Some(entry) => Lookup::Changed {
                line: entry.line,
                pinned: entry.key.clone(),
            },
            None => Lookup::Unknown,
        }
    }

    /// Lists the key types pinned for `host`, in file order, without repeats.
    pub fn pinned_types(&self, host: &str) -> Vec<String> {
        let mut types: Vec<String> = Vec::new();
        for entry in &self.entries {
            let usable = entry.marker == Marker::None && matches_host(&entry.patterns, host);
            if usable && !types.contains(&entry.key.key_type) {
                types.push(entry.key.key_type.clone());
            }
        }
        types
    }
}

fn parse_line(number: usize, line: &str) -> Option<Entry> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let mut fields = line.split_whitespace();
    let mut first = fields.next()?;
    let marker = match first {
        "@revoked" => Marker::Revoked,
        "@cert-authority" => Marker::CertAuthority,
        other if other.starts_with('@') => return None,
        _ => Marker::None,
    };
    if marker != Marker::None {
        first = fields.next()?;
    }
    let key_type = fields.next()?;
    let blob = STANDARD.decode(fields.next()?).ok()?;
    let key = HostKey::from_blob(blob)?;
    if key.key_type != key_type {
        tracing::debug!(
            line = number,
            "known_hosts line skipped: its key type does not match its key"
        );
        return None;
    }
    Some(Entry {
        line: number,
        marker,
        patterns: first.to_string(),
        key,
    })
}

/// True when the comma list `patterns` names `host`. A negated pattern
/// (`!name`) that matches excludes the host from the whole line.
// NOTE: wildcard patterns (`*`, `?`) are compared literally, so a line such
// as `*.example.com` never matches and the host reads as unknown.
fn matches_host(patterns: &str, host: &str) -> bool {
    let mut matched = false;
    for pattern in patterns.split(',') {
        if let Some(negated) = pattern.strip_prefix('!') {
            if negated.eq_ignore_ascii_case(host) {
                return false;
            }
        } else if pattern.starts_with("|1|") {
            matched |= hashed_matches(pattern, host);
        } else {
            matched |= pattern.eq_ignore_ascii_case(host);
        }
    }
    matched
}

/// Checks a hashed name `|1|SALT|HMAC` against `host`.
fn hashed_matches(pattern: &str, host: &str) -> bool {
    let mut parts = pattern.trim_start_matches("|1|").splitn(2, '|');
    let (Some(salt), Some(hash)) = (parts.next(), parts.next()) else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (STANDARD.decode(salt), STANDARD.decode(hash)) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(&salt) else {
        return false;
    };
    mac.update(host.as_bytes());
    mac.verify_slice(&hash).is_ok()
}

/// Pins `key` for `host` in the known_hosts file at `path`: removes every
/// unmarked line that names the host, then appends `host type base64`.
/// Creates the file with mode 0600 and missing folders with mode 0700.
/// The file is replaced by a rename, so a reader never sees half of it.
/// Returns the numbers of the lines removed.
pub fn pin(path: &Path, host: &str, key: &HostKey) -> io::Result<Vec<usize>> {
    if let Some(parent) = path.parent() {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(parent)?;
    }
    let old = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };

    let mut removed = Vec::new();
    let mut text = String::new();
    for (index, line) in old.lines().enumerate() {
        let replaced = parse_line(index + 1, line)
            .is_some_and(|entry| entry.marker == Marker::None && matches_host(&entry.patterns, host));
        if replaced {
            removed.push(index + 1);
        } else {
            text.push_str(line);
            text.push('\n');
        }
    }
    text.push_str(&format!("{host} {} {}\n", key.key_type, key.base64()));

    write_replacing(path, text.as_bytes())?;
    Ok(removed)
}

/// Writes `bytes` to a temporary file beside `path` (mode 0600), syncs it
/// and renames it over `path`.
fn write_replacing(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = path.with_file_name(format!(".{name}.drkit-tmp"));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ed25519 public key blob made by ssh-keygen, and its fingerprint as `ssh-keygen -l` printed it.
    const ED25519: &str = "AAAAC3NzaC1lZDI1NTE5AAAAINvOdhojc93dGm8oGiGxLE0/1qrnhiNoPNAvlffow8oY";
    const ED25519_FINGERPRINT: &str = "SHA256:QLNmorM++BtsYhs1Gc8JMAJmTjoPaW0K9OqP7fplyog";
    /// A second ed25519 blob (one byte of the first changed).
    const OTHER: &str = "AAAAC3NzaC1lZDI1NTE5AAAAINvOdhojc93dGm8oGiGxLE0/1qrnhiNoPNAvlffow8oZ";

    fn key(base64: &str) -> HostKey {
        HostKey::from_blob(STANDARD.decode(base64).unwrap()).unwrap()
    }

    #[test]
    fn key_type_comes_from_the_blob() {
        assert_eq!(key(ED25519).key_type, "ssh-ed25519");
        assert_eq!(HostKey::from_blob(vec![0, 0, 0, 9, b'a']), None);
    }

    #[test]
    fn fingerprint_matches_openssh() {
        assert_eq!(key(ED25519).fingerprint(), ED25519_FINGERPRINT);
    }

    #[test]
    fn host_pattern_brackets_other_ports() {
        assert_eq!(host_pattern("DR2.example.com", 22), "dr2.example.com");
        assert_eq!(host_pattern("127.0.0.1", 2222), "[127.0.0.1]:2222");
    }

    #[test]
    fn plain_and_listed_names_match() {
        let text = format!("# comment\n\nother,[127.0.0.1]:2222 ssh-ed25519 {ED25519} c\n");
        let hosts = KnownHosts::parse(&text);
        assert_eq!(
            hosts.check("[127.0.0.1]:2222", &key(ED25519)),
            Lookup::Known { line: 3 }
        );
        assert_eq!(hosts.check("127.0.0.1", &key(ED25519)), Lookup::Unknown);
    }

    #[test]
    fn other_key_is_changed() {
        let text = format!("h ssh-ed25519 {ED25519}\n");
        let hosts = KnownHosts::parse(&text);
        assert_eq!(
            hosts.check("h", &key(OTHER)),
            Lookup::Changed {
                line: 1,
                pinned: key(ED25519)
            }
        );
    }

    #[test]
    fn revoked_key_is_reported() {
        let text = format!("@revoked h ssh-ed25519 {ED25519}\nh ssh-ed25519 {ED25519}\n");
        assert_eq!(
            KnownHosts::parse(&text).check("h", &key(ED25519)),
            Lookup::Revoked { line: 1 }
        );
    }

    #[test]
    fn cert_authority_and_negated_lines_are_ignored() {
        let text = format!("@cert-authority h ssh-ed25519 {OTHER}\n!h,* ssh-ed25519 {OTHER}\n");
        assert_eq!(KnownHosts::parse(&text).check("h", &key(ED25519)), Lookup::Unknown);
    }

    #[test]
    fn hashed_name_matches() {
        // A hashed entry for "[127.0.0.1]:2222", built the way ssh-keygen -H builds one.
        let salt = [7u8; 20];
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(&salt).unwrap();
        mac.update(b"[127.0.0.1]:2222");
        let hash = mac.finalize().into_bytes();
        let line = format!(
            "|1|{}|{} ssh-ed25519 {ED25519}\n",
            STANDARD.encode(salt),
            STANDARD.encode(hash)
        );
        let hosts = KnownHosts::parse(&line);
        assert_eq!(
            hosts.check("[127.0.0.1]:2222", &key(ED25519)),
            Lookup::Known { line: 1 }
        );
        assert_eq!(hosts.check("[127.0.0.1]:2223", &key(ED25519)), Lookup::Unknown);
    }

    #[test]
    fn pin_replaces_only_the_host_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ssh/known_hosts");
        pin(&path, "a", &key(ED25519)).unwrap();
        pin(&path, "b", &key(ED25519)).unwrap();
        let removed = pin(&path, "a", &key(OTHER)).unwrap();
        assert_eq!(removed, vec![1]);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("b ssh-ed25519 {ED25519}\na ssh-ed25519 {OTHER}\n"));
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
    }

    #[test]
    fn pinned_types_follow_the_file() {
        let text = format!("h ssh-ed25519 {ED25519}\nh ssh-ed25519 {OTHER}\n");
        assert_eq!(KnownHosts::parse(&text).pinned_types("h"), vec!["ssh-ed25519"]);
    }
}
