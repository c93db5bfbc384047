//! The protocol between drkit on the primary and `drkit agent` on a peer.
//!
//! Every message is one frame: a 4-byte little-endian length, then the
//! message encoded with bincode. The primary sends `Hello` with its
//! protocol version first, and the agent replies with its own version or an
//! error naming both. After that the primary sends one request at a time
//! and reads its replies. File contents travel as `Part` messages after an
//! `Apply` request, with no reply until the whole plan is applied.
//! Only the primary ever sends file contents, so a peer cannot read the
//! primary's files.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::sync::entry::Entry;

/// Version of this protocol; both ends must speak the same one.
pub const PROTOCOL_VERSION: u32 = 2;

/// Largest frame either end accepts; larger lengths mean a broken stream.
pub const MAX_FRAME: usize = 64 << 20;

/// Bytes of file content carried by one `Part::Data` frame.
pub const DATA_FRAME: usize = 256 << 10;

/// A path key as bytes (`/` replaced by 0, see `sync::entry`).
pub type Key = serde_bytes::ByteBuf;

/// A BLAKE3 hash.
pub type Hash = [u8; 32];

/// A request from the primary.
#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    Hello {
        version: u32,
        /// Language of the agent's error messages ("en" or "es").
        lang: String,
    },
    /// Selects the replica every later request works on.
    Open {
        set: String,
        target: PathBuf,
        versions_dir: PathBuf,
        excludes: Vec<String>,
    },
    /// Walks the replica. The agent replies with `Listing` frames and one `ListingEnd`.
    List,
    /// Reads only these parts of the replica (a batch of changed paths),
    /// replying like `List`.
    ListScope(Vec<crate::sync::walk::Scoped>),
    /// Releases the open replica (and its lock) until the next `Open`; no reply.
    Close,
    /// Keeps a version of the replica (when `snapshot`), hashes the
    /// replica files at `hash`, and reads the chunk tables of the replica
    /// files (and of partial files left by an interrupted transfer) at
    /// `chunks`, all at once. The agent replies with `Prepared`.
    Prepare {
        snapshot: bool,
        hash: Vec<Key>,
        chunks: Vec<Key>,
    },
    /// Applies a plan. The agent replies `Accepted`, or `Error` when it
    /// rejects a key. The file contents then follow as `Part` frames in the
    /// order of `plan.copies`, and the agent replies `Applied` at the end.
    Apply(Box<RemotePlan>),
    /// Hashes every file of the replica. The agent replies with `Verified`
    /// frames and one `VerifiedEnd`.
    Verify,
    /// Ends the session.
    Bye,
}

/// A reply from the agent.
#[derive(Debug, Serialize, Deserialize)]
pub enum Reply {
    Hello {
        version: u32,
        /// drkit's version on the peer, for messages.
        release: String,
    },
    /// The replica is open; `versions` complete versions are kept of it.
    Opened {
        versions: u32,
    },
    Listing(Vec<Listed>),
    ListingEnd {
        stale_temps: Vec<PathBuf>,
        errors: Vec<(PathBuf, String)>,
        /// Owner, mode and mtime of the replica's top folder.
        root: Option<Entry>,
    },
    Prepared {
        /// Name of the version kept, when one was asked for.
        version: Option<String>,
        hashes: Vec<HashResult>,
        chunks: Vec<(Key, Vec<ChunkSig>)>,
    },
    Accepted,
    Applied(AppliedReport),
    Verified(Vec<Listed>),
    VerifiedEnd {
        errors: Vec<(PathBuf, String)>,
    },
    /// The request failed as a whole; the message is in the session's language.
    Error(String),
}

/// One replica entry of a listing, with its content hash when the agent's
/// cache (or a verify) has it, and its target when it is a symlink.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Listed {
    pub entry: Entry,
    pub hash: Option<Hash>,
    pub link_target: Option<PathBuf>,
}

/// The outcome of hashing one replica file.
#[derive(Debug, Serialize, Deserialize)]
pub enum HashResult {
    Hashed { entry: Entry, hash: Hash },
    Failed { key: Key, message: String },
}

/// One content-defined chunk of a replica file.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct ChunkSig {
    pub hash: Hash,
    pub len: u32,
}

/// The plan the agent applies, as built on the primary. The agent checks
/// every key before it touches anything.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct RemotePlan {
    pub deletes: Vec<Entry>,
    pub mkdirs: Vec<Entry>,
    /// Files whose content follows as `Part` frames, in this order.
    pub copies: Vec<(Key, u64)>,
    /// Files moved on the source whose replica copy moves with them.
    pub reuses: Vec<crate::sync::plan::ReuseItem>,
    /// Hard links: the follower's source entry and the leader's key.
    pub links: Vec<(Entry, Key)>,
    /// Symlinks to (re)create, with their targets.
    pub symlinks: Vec<(Entry, PathBuf)>,
    /// Files whose owner, mode or mtime change, with their content hash.
    pub metas: Vec<(Entry, Option<Hash>)>,
    pub dir_metas: Vec<Entry>,
    /// Source directories, for restoring directory metadata after changes.
    pub source_dirs: Vec<Entry>,
    /// Followers already linked to their leader's replica, by leader.
    pub linked_followers: Vec<(Key, Vec<Entry>)>,
    pub stale_temps: Vec<PathBuf>,
    pub root: Option<Entry>,
    /// Versions to keep; older ones are deleted while the plan is applied.
    pub keep_versions: u32,
    /// Batch versions to keep (see `sync::versions`).
    pub keep_batch_versions: u32,
    /// Keep a batch version of the entries the plan changes before applying it.
    pub batch_version: bool,
    /// Prune old versions on a thread of their own, not while the plan is
    /// applied; the session waits for it before it ends.
    pub prune_later: bool,
}

/// One piece of a file sent during `Apply`.
#[derive(Debug, Serialize, Deserialize)]
pub enum Part {
    /// A file begins.
    Start { key: Key },
    /// Literal bytes.
    Data(serde_bytes::ByteBuf),
    /// Literal bytes compressed with zstd.
    Zstd(serde_bytes::ByteBuf),
    /// `count` chunks of the agent's chunk table for this key, starting at `first`.
    Reuse { first: u32, count: u32 },
    /// The file is complete: its metadata as read and the BLAKE3 of all its bytes.
    End { entry: Entry, hash: Hash },
    /// The source changed while it was sent: drop what arrived; it is sent again.
    Retry,
    /// The file cannot be sent; drop what arrived and record the reason.
    Failed { message: String, unstable: bool },
}

/// Index of `Part::Data` among the variants of `Part`, as bincode writes it.
const PART_DATA_VARIANT: u32 = 1;

/// The outcome of an applied plan on the peer.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct AppliedReport {
    pub files_changed: u64,
    pub files_deleted: u64,
    pub unstable: Vec<String>,
    pub errors: Vec<(String, String)>,
    /// Name of the batch version kept before the plan was applied.
    pub version: Option<String>,
    /// Names of the old versions deleted.
    pub pruned: Vec<String>,
    pub versions_kept: u32,
}

/// Failure of the connection or of the protocol itself.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the peer sent a frame of {0} bytes, more than the protocol allows")]
    FrameTooLarge(usize),
    #[error("cannot decode a message: {0}")]
    Decode(String),
    #[error("the connection closed")]
    Closed,
}

/// Writes frames, counting bytes and holding to a bandwidth limit.
pub struct FrameWriter<W: Write> {
    inner: std::io::BufWriter<W>,
    sent: u64,
    limit: Option<Limiter>,
    scratch: Vec<u8>,
}

struct Limiter {
    bytes_per_second: u64,
    started: Instant,
    sent_at_start: u64,
}

impl<W: Write> FrameWriter<W> {
    pub fn new(inner: W) -> FrameWriter<W> {
        FrameWriter {
            inner: std::io::BufWriter::with_capacity(1 << 20, inner),
            sent: 0,
            limit: None,
            scratch: Vec::new(),
        }
    }

    /// Holds the average rate from now on to `bytes_per_second`.
    pub fn set_limit(&mut self, bytes_per_second: Option<u64>) {
        self.limit = bytes_per_second.filter(|b| *b > 0).map(|bytes_per_second| Limiter {
            bytes_per_second,
            started: Instant::now(),
            sent_at_start: self.sent,
        });
    }

    /// Bytes written so far, frame headers included.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    pub fn send<T: Serialize>(&mut self, message: &T) -> Result<(), ProtocolError> {
        self.scratch.clear();
        bincode::serialize_into(&mut self.scratch, message).map_err(|e| ProtocolError::Decode(e.to_string()))?;
        let len = self.scratch.len();
        self.inner.write_all(&(len as u32).to_le_bytes())?;
        self.inner.write_all(&self.scratch)?;
        self.sent += 4 + len as u64;
        self.hold_rate()
    }

    /// Sends `Part::Data(data)` without copying `data` into a message
    /// first. The frame contains bincode's encoding of that variant (its index
    /// as a u32, then the length as a u64, then the bytes).
    pub fn send_data(&mut self, data: &[u8]) -> Result<(), ProtocolError> {
        let len = 4 + 8 + data.len();
        self.inner.write_all(&(len as u32).to_le_bytes())?;
        self.inner.write_all(&PART_DATA_VARIANT.to_le_bytes())?;
        self.inner.write_all(&(data.len() as u64).to_le_bytes())?;
        self.inner.write_all(data)?;
        self.sent += 4 + len as u64;
        self.hold_rate()
    }

    fn hold_rate(&mut self) -> Result<(), ProtocolError> {
        if let Some(limit) = &self.limit {
            let allowed = limit.started.elapsed().as_secs_f64() * limit.bytes_per_second as f64;
            let over = (self.sent - limit.sent_at_start) as f64 - allowed;
            if over > 0.0 {
                self.inner.flush()?;
                std::thread::sleep(Duration::from_secs_f64(over / limit.bytes_per_second as f64));
            }
        }
        Ok(())
    }

    pub fn flush(&mut self) -> Result<(), ProtocolError> {
        self.inner.flush()?;
        Ok(())
    }

    #[cfg(test)]
    pub fn get_mut(&mut self) -> &mut W {
        self.inner.get_mut()
    }
}

/// Reads frames.
pub struct FrameReader<R: Read> {
    inner: std::io::BufReader<R>,
    buffer: Vec<u8>,
}

impl<R: Read> FrameReader<R> {
    pub fn new(inner: R) -> FrameReader<R> {
        FrameReader {
            inner: std::io::BufReader::with_capacity(1 << 20, inner),
            buffer: Vec::new(),
        }
    }

    /// Reads the next message; `Closed` when the stream ends between frames.
    pub fn receive<T: for<'de> Deserialize<'de>>(&mut self) -> Result<T, ProtocolError> {
        let mut header = [0u8; 4];
        match self.inner.read_exact(&mut header) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(ProtocolError::Closed),
            Err(e) => return Err(e.into()),
        }
        let len = u32::from_le_bytes(header) as usize;
        if len > MAX_FRAME {
            return Err(ProtocolError::FrameTooLarge(len));
        }
        self.buffer.resize(len, 0);
        self.inner.read_exact(&mut self.buffer).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => ProtocolError::Closed,
            _ => e.into(),
        })?;
        bincode::deserialize(&self.buffer).map_err(|e| ProtocolError::Decode(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_count_bytes() {
        let mut writer = FrameWriter::new(Vec::new());
        writer
            .send(&Request::Hello {
                version: PROTOCOL_VERSION,
                lang: "es".into(),
            })
            .unwrap();
        writer
            .send(&Part::Data(serde_bytes::ByteBuf::from(vec![7u8; 1000])))
            .unwrap();
        writer.flush().unwrap();
        let sent = writer.sent();
        let bytes = writer.get_mut().clone();
        assert_eq!(sent, bytes.len() as u64);
        let mut reader = FrameReader::new(&bytes[..]);
        match reader.receive::<Request>().unwrap() {
            Request::Hello { version, lang } => assert_eq!((version, lang.as_str()), (PROTOCOL_VERSION, "es")),
            other => panic!("unexpected {other:?}"),
        }
        match reader.receive::<Part>().unwrap() {
            Part::Data(data) => assert_eq!(data.len(), 1000),
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(reader.receive::<Part>(), Err(ProtocolError::Closed)));
    }

    #[test]
    fn data_frames_written_directly_decode_as_data_parts() {
        let mut writer = FrameWriter::new(Vec::new());
        writer.send_data(b"written without a copy").unwrap();
        writer
            .send(&Part::Data(serde_bytes::ByteBuf::from(b"written by serde".to_vec())))
            .unwrap();
        writer.flush().unwrap();
        let bytes = writer.get_mut().clone();
        assert_eq!(writer.sent(), bytes.len() as u64);
        let mut reader = FrameReader::new(&bytes[..]);
        for expected in [&b"written without a copy"[..], b"written by serde"] {
            match reader.receive::<Part>().unwrap() {
                Part::Data(data) => assert_eq!(&data[..], expected),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn oversized_frame_is_refused() {
        let bytes = (MAX_FRAME as u32 + 1).to_le_bytes();
        let mut reader = FrameReader::new(&bytes[..]);
        assert!(matches!(
            reader.receive::<Reply>(),
            Err(ProtocolError::FrameTooLarge(_))
        ));
    }
}
