//! Parsing of inotifywait's event output.
//!
//! inotifywait (inotify-tools 3.22) runs with `--no-newline --format
//! '%0%e%0%w%f%0'`, so every event is three NUL-terminated fields: an
//! empty one, the comma-separated event names, and the absolute path
//! (`%w%f`, the watched folder followed by the file name). A file name may
//! hold any byte except NUL and '/', so newlines, spaces and bytes that are
//! not UTF-8 pass through unchanged. The empty first field marks where an
//! event starts. According to the inotifywait man page, it truncates event
//! strings of more than about 4000 characters, which would drop a trailing
//! NUL. So when a field that should be empty is not, the parser reports
//! `Record::Garbled` and skips to the next empty field.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

/// The `--format` string that `Parser` reads; see the module documentation.
pub const FORMAT: &str = "%0%e%0%w%f%0";

/// The events inotifywait is asked for. A plain CREATE of a file is
/// dropped by `classify` (its CLOSE_WRITE follows), but CREATE stays in the
/// list because a new folder reports nothing else.
pub const EVENTS: &[&str] = &[
    "close_write",
    "create",
    "delete",
    "moved_to",
    "moved_from",
    "attrib",
    "q_overflow",
];

/// The extended regular expression of the paths inotifywait leaves out:
/// the temporary files drkit's sync writes before renaming them in place.
pub const EXCLUDE: &str = r"(^|/)\.drkit-tmp-[^/]*$";

/// The meaning of one event for the next batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// This path changed; a folder stands for everything below it.
    Path(PathBuf),
    /// A folder appeared (created, or moved in). inotifywait reports it
    /// before it watches it, so files written into it in between have no
    /// event. The next batch walks the folder, and the one after walks it again.
    NewFolder(PathBuf),
    /// The kernel dropped events (Q_OVERFLOW); only a full sync is safe.
    Overflow,
    /// The output could not be read as an event; only a full sync is safe.
    Garbled,
}

/// One event as inotifywait printed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Event { names: String, path: Vec<u8> },
    Garbled,
}

/// Splits inotifywait's output into records. Bytes arrive in chunks of any
/// size; a record cut by a chunk boundary is completed by the next chunk.
#[derive(Debug, Default)]
pub struct Parser {
    /// Bytes of the field being read.
    field: Vec<u8>,
    /// Fields of the current record read so far.
    fields: Vec<Vec<u8>>,
    /// True after a garbled record, until an empty field starts the next one.
    resync: bool,
}

impl Parser {
    /// Adds `bytes` and appends every record they complete to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<Record>) {
        for chunk in bytes.split_inclusive(|b| *b == 0) {
            match chunk.split_last() {
                Some((0, head)) => {
                    self.field.extend_from_slice(head);
                    let field = std::mem::take(&mut self.field);
                    self.finish_field(field, out);
                }
                _ => self.field.extend_from_slice(chunk),
            }
        }
    }

    fn finish_field(&mut self, field: Vec<u8>, out: &mut Vec<Record>) {
        if self.resync {
            if field.is_empty() {
                self.resync = false;
                self.fields.push(field);
            }
            return;
        }
        if self.fields.is_empty() && !field.is_empty() {
            out.push(Record::Garbled);
            self.resync = true;
            return;
        }
        self.fields.push(field);
        if self.fields.len() == 3 {
            let path = self.fields.pop().unwrap_or_default();
            let names = self.fields.pop().unwrap_or_default();
            self.fields.clear();
            match String::from_utf8(names) {
                Ok(names) if is_event_list(&names) => out.push(Record::Event { names, path }),
                _ => {
                    out.push(Record::Garbled);
                    self.resync = true;
                }
            }
        }
    }
}

/// Event names are upper-case words with underscores, separated by commas.
fn is_event_list(names: &str) -> bool {
    !names.is_empty() && names.bytes().all(|b| b.is_ascii_uppercase() || b == b'_' || b == b',')
}

/// Returns what `record` means for the next batch, or None for an event
/// that needs no sync: the CREATE of a file, whose CLOSE_WRITE follows.
pub fn classify(record: Record) -> Option<Change> {
    let (names, path) = match record {
        Record::Garbled => return Some(Change::Garbled),
        Record::Event { names, path } => (names, path),
    };
    let names: Vec<&str> = names.split(',').collect();
    if names.contains(&"Q_OVERFLOW") {
        return Some(Change::Overflow);
    }
    if path.is_empty() {
        return Some(Change::Garbled);
    }
    let is_folder = names.contains(&"ISDIR");
    if names.contains(&"CREATE") && !is_folder {
        return None;
    }
    let path = PathBuf::from(OsString::from_vec(path));
    if is_folder && (names.contains(&"CREATE") || names.contains(&"MOVED_TO")) {
        return Some(Change::NewFolder(path));
    }
    Some(Change::Path(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Vec<Record> {
        let mut parser = Parser::default();
        let mut out = Vec::new();
        parser.push(bytes, &mut out);
        out
    }

    fn event(names: &str, path: &[u8]) -> Record {
        Record::Event {
            names: names.to_string(),
            path: path.to_vec(),
        }
    }

    #[test]
    fn parses_consecutive_events() {
        let records = parse(b"\0CLOSE_WRITE,CLOSE\0/src/a b\0\0DELETE\0/src/c\0");
        assert_eq!(
            records,
            vec![event("CLOSE_WRITE,CLOSE", b"/src/a b"), event("DELETE", b"/src/c")]
        );
    }

    #[test]
    fn keeps_newlines_and_non_utf8_bytes() {
        let records = parse(b"\0MOVED_TO\0/src/new\nline\0\0ATTRIB\0/src/bad\xffbyte\0");
        assert_eq!(
            records,
            vec![
                event("MOVED_TO", b"/src/new\nline"),
                event("ATTRIB", b"/src/bad\xffbyte")
            ]
        );
    }

    #[test]
    fn completes_records_across_chunks() {
        let bytes = b"\0CLOSE_WRITE,CLOSE\0/src/long-name.txt\0\0DELETE,ISDIR\0/src/dir\0";
        for cut in 0..bytes.len() {
            let mut parser = Parser::default();
            let mut out = Vec::new();
            parser.push(&bytes[..cut], &mut out);
            parser.push(&bytes[cut..], &mut out);
            assert_eq!(
                out,
                vec![
                    event("CLOSE_WRITE,CLOSE", b"/src/long-name.txt"),
                    event("DELETE,ISDIR", b"/src/dir")
                ],
                "cut at byte {cut}"
            );
        }
    }

    #[test]
    fn waits_for_the_last_nul() {
        assert_eq!(parse(b"\0CLOSE_WRITE,CLOSE\0/src/a"), Vec::new());
    }

    #[test]
    fn overflow_has_an_empty_path() {
        let records = parse(b"\0Q_OVERFLOW\0\0");
        assert_eq!(records, vec![event("Q_OVERFLOW", b"")]);
        assert_eq!(classify(records[0].clone()), Some(Change::Overflow));
    }

    #[test]
    fn truncated_path_is_garbled_then_resyncs() {
        // The first path lost its NUL, so the next event's empty field is missing.
        let records = parse(b"\0CREATE\0/src/very-lo\0CLOSE_WRITE,CLOSE\0/src/x\0\0DELETE\0/src/y\0");
        assert_eq!(records.len(), 3, "{records:?}");
        assert_eq!(records[0], event("CREATE", b"/src/very-lo"));
        assert_eq!(records[1], Record::Garbled);
        assert_eq!(records[2], event("DELETE", b"/src/y"));
    }

    #[test]
    fn invalid_event_names_are_garbled() {
        assert_eq!(parse(b"\0/src/a\0/src/b\0"), vec![Record::Garbled]);
    }

    #[test]
    fn plain_file_create_is_dropped() {
        assert_eq!(classify(event("CREATE", b"/src/a")), None);
    }

    #[test]
    fn new_folders_are_told_apart() {
        for names in ["CREATE,ISDIR", "MOVED_TO,ISDIR"] {
            assert_eq!(
                classify(event(names, b"/src/a")),
                Some(Change::NewFolder(PathBuf::from("/src/a"))),
                "{names}"
            );
        }
    }

    #[test]
    fn changes_are_kept() {
        for names in ["CLOSE_WRITE,CLOSE", "MOVED_TO", "MOVED_FROM,ISDIR", "DELETE", "ATTRIB"] {
            assert_eq!(
                classify(event(names, b"/src/a")),
                Some(Change::Path(PathBuf::from("/src/a"))),
                "{names}"
            );
        }
    }

    #[test]
    fn event_without_path_is_garbled() {
        assert_eq!(classify(event("DELETE", b"")), Some(Change::Garbled));
    }
}
