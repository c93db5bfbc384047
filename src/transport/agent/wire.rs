//! File contents arriving from the primary during an apply: literal bytes,
//! compressed bytes, or chunks reused from the replica's older copy or from
//! a partial file of an interrupted transfer. Every file is assembled in a
//! temporary file and accepted only when its BLAKE3 equals the primary's.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::texts;
use crate::i18n::Lang;
use crate::sync::apply::ContentSource;
use crate::sync::chunks::{self, Mapped, DELTA_MIN};
use crate::sync::entry::{relative_from_key, Entry};
use crate::sync::plan::CopyItem;
use crate::sync::walk::TEMP_PREFIX;
use crate::transport::local::{self, FileError, TempCopy, READ_ATTEMPTS};
use crate::transport::protocol::{ChunkSig, FrameReader, Part, ProtocolError, DATA_FRAME};

/// Name of the file a large transfer is assembled in. It depends only on
/// the key, so an interrupted transfer leaves it where the next run finds
/// it and reuses its chunks.
pub fn partial_path(target: &Path, key: &[u8]) -> PathBuf {
    let final_path = target.join(relative_from_key(key));
    let parent = final_path.parent().unwrap_or(target);
    let id = blake3::hash(key).to_hex();
    parent.join(format!("{TEMP_PREFIX}p{}", &id[..16]))
}

/// Chunks the replica already holds for one key: those of its current file
/// and of a partial file, in that order.
#[derive(Default)]
pub struct ChunkTable {
    sources: Vec<Arc<Mapped>>,
    chunks: Vec<(usize, chunks::Chunk)>,
}

impl ChunkTable {
    pub fn read(target: &Path, key: &[u8]) -> ChunkTable {
        let mut table = ChunkTable::default();
        for path in [target.join(relative_from_key(key)), partial_path(target, key)] {
            if let Ok(Some((mapped, found))) = chunks::chunk_file(&path) {
                let index = table.sources.len();
                table.sources.push(Arc::new(mapped));
                table.chunks.extend(found.into_iter().map(|c| (index, c)));
            }
        }
        table
    }

    pub fn sigs(&self) -> Vec<ChunkSig> {
        self.chunks.iter().map(|(_, c)| c.sig()).collect()
    }

    fn bytes(&self, index: usize) -> Option<&[u8]> {
        let (source, chunk) = self.chunks.get(index)?;
        let start = chunk.offset as usize;
        self.sources[*source].bytes().get(start..start + chunk.len as usize)
    }
}

/// Content source of an apply on the agent: the primary's `Part` frames.
pub struct WireSource<'r, R: Read> {
    reader: &'r mut FrameReader<R>,
    tables: HashMap<Box<[u8]>, ChunkTable>,
    link_targets: HashMap<Box<[u8]>, PathBuf>,
    root: Option<Entry>,
    lang: Lang,
    fatal: Option<ProtocolError>,
}

impl<'r, R: Read> WireSource<'r, R> {
    pub fn new(
        reader: &'r mut FrameReader<R>,
        tables: HashMap<Box<[u8]>, ChunkTable>,
        link_targets: HashMap<Box<[u8]>, PathBuf>,
        root: Option<Entry>,
        lang: Lang,
    ) -> WireSource<'r, R> {
        WireSource {
            reader,
            tables,
            link_targets,
            root,
            lang,
            fatal: None,
        }
    }

    /// Returns the connection failure that cut the stream short, if any.
    pub fn take_fatal(&mut self) -> Option<ProtocolError> {
        self.fatal.take()
    }

    fn receive_file(&mut self, item: &CopyItem, replica: &Path) -> Result<TempCopy, FileError> {
        let table = self.tables.remove(&item.key).unwrap_or_default();
        let large = item.size >= DELTA_MIN || !table.chunks.is_empty();
        for _ in 0..=READ_ATTEMPTS {
            self.expect_start(item)?;
            let temp = if large {
                let path = partial_path(replica, &item.key);
                // The old partial stays mapped in `table` after this.
                let _ = std::fs::remove_file(&path);
                path
            } else {
                local::temp_path(&replica.join(relative_from_key(&item.key)))
            };
            match self.receive_body(&temp, &table) {
                Ok(Some(copy)) => return Ok(copy),
                Ok(None) => continue,
                Err(e) => {
                    // A partial file stays for the next run after a dropped
                    // connection; in every other case nothing is left.
                    if !(large && self.fatal.is_some()) {
                        let _ = std::fs::remove_file(&temp);
                    }
                    return Err(e);
                }
            }
        }
        Err(self.fail(ProtocolError::Decode("a file was sent again too many times".into())))
    }

    /// Reads one attempt of a file into `temp`: the copy, None when the
    /// primary requests a new attempt, or the failure.
    fn receive_body(&mut self, temp: &Path, table: &ChunkTable) -> Result<Option<TempCopy>, FileError> {
        let mut file = match OpenOptions::new().write(true).create_new(true).mode(0o600).open(temp) {
            Ok(file) => Some(file),
            Err(e) => return self.skip_file(e),
        };
        let mut hasher = blake3::Hasher::new();
        let mut bytes = 0u64;
        let mut write_error: Option<std::io::Error> = None;
        loop {
            let part = match self.reader.receive::<Part>() {
                Ok(part) => part,
                Err(e) => return Err(self.fail(e)),
            };
            let data: std::borrow::Cow<[u8]> = match &part {
                Part::Data(data) => std::borrow::Cow::Borrowed(data),
                Part::Zstd(data) => match zstd::bulk::decompress(data, DATA_FRAME) {
                    Ok(plain) => std::borrow::Cow::Owned(plain),
                    Err(e) => return Err(self.fail(ProtocolError::Decode(format!("bad compressed data: {e}")))),
                },
                Part::Reuse { first, count } => {
                    for index in *first as usize..(*first as usize + *count as usize) {
                        let Some(chunk) = table.bytes(index) else {
                            return Err(self.fail(ProtocolError::Decode("a reused chunk is not in the table".into())));
                        };
                        hasher.update(chunk);
                        bytes += chunk.len() as u64;
                        write_to(&mut file, chunk, &mut write_error);
                    }
                    continue;
                }
                Part::End { entry, hash } => {
                    let file = file.take();
                    if let Some(e) = write_error {
                        let _ = std::fs::remove_file(temp);
                        return Err(e.into());
                    }
                    if *hasher.finalize().as_bytes() != *hash {
                        let _ = std::fs::remove_file(temp);
                        return Err(FileError::Io(std::io::Error::other(texts::format(
                            self.lang,
                            "content_check_failed",
                            &[],
                        ))));
                    }
                    let file = file.expect("open until the end");
                    local::apply_metadata(&file, entry)?;
                    return Ok(Some(TempCopy {
                        temp: temp.to_path_buf(),
                        source: entry.clone(),
                        hash: *hash,
                        bytes,
                    }));
                }
                Part::Retry => {
                    let _ = std::fs::remove_file(temp);
                    return Ok(None);
                }
                Part::Failed { message, unstable } => {
                    let _ = std::fs::remove_file(temp);
                    if *unstable {
                        return Err(FileError::Unstable {
                            attempts: READ_ATTEMPTS,
                        });
                    }
                    return Err(FileError::Io(std::io::Error::other(message.clone())));
                }
                Part::Start { .. } => {
                    return Err(self.fail(ProtocolError::Decode("a file started before the last one ended".into())))
                }
            };
            hasher.update(&data);
            bytes += data.len() as u64;
            write_to(&mut file, &data, &mut write_error);
        }
    }

    /// Reads and drops one file's parts after its temporary file could not
    /// be created, so the stream stays in step.
    fn skip_file(&mut self, error: std::io::Error) -> Result<Option<TempCopy>, FileError> {
        loop {
            match self.reader.receive::<Part>() {
                Ok(Part::End { .. }) | Ok(Part::Failed { .. }) => return Err(error.into()),
                Ok(Part::Retry) => return Ok(None),
                Ok(_) => {}
                Err(e) => return Err(self.fail(e)),
            }
        }
    }

    /// Gathers one small file in memory, for a writer thread.
    fn receive_small(&mut self, item: &CopyItem, replica: &Path) -> Result<SmallFile, FileError> {
        'attempt: for _ in 0..=READ_ATTEMPTS {
            self.expect_start(item)?;
            let mut data: Vec<u8> = Vec::new();
            loop {
                match self.reader.receive::<Part>() {
                    Ok(Part::Data(bytes)) if data.is_empty() => data = bytes.into_vec(),
                    Ok(Part::Data(bytes)) => data.extend_from_slice(&bytes),
                    Ok(Part::Zstd(bytes)) => match zstd::bulk::decompress(&bytes, DATA_FRAME) {
                        Ok(plain) => data.extend_from_slice(&plain),
                        Err(e) => return Err(self.fail(ProtocolError::Decode(format!("bad compressed data: {e}")))),
                    },
                    Ok(Part::End { entry, hash }) => {
                        return Ok(SmallFile {
                            temp: local::temp_path(&replica.join(relative_from_key(&item.key))),
                            data,
                            entry,
                            hash,
                        })
                    }
                    Ok(Part::Retry) => continue 'attempt,
                    Ok(Part::Failed { message, unstable }) => {
                        return Err(if unstable {
                            FileError::Unstable {
                                attempts: READ_ATTEMPTS,
                            }
                        } else {
                            FileError::Io(std::io::Error::other(message))
                        })
                    }
                    Ok(Part::Reuse { .. } | Part::Start { .. }) => {
                        return Err(self.fail(ProtocolError::Decode("unexpected part in a small file".into())))
                    }
                    Err(e) => return Err(self.fail(e)),
                }
                if data.len() > SMALL_LIMIT {
                    // The file grew far past its size at the walk: its parts
                    // are read and dropped, and the next sync sends it whole.
                    let grew = texts::format(self.lang, "file_grew", &[("limit", &(SMALL_LIMIT >> 20))]);
                    match self.skip_file(std::io::Error::other(grew)) {
                        Ok(_) => continue 'attempt,
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        Err(self.fail(ProtocolError::Decode("a file was sent again too many times".into())))
    }

    /// Reads the `Start` of `item`; anything else means the stream is out of step.
    fn expect_start(&mut self, item: &CopyItem) -> Result<(), FileError> {
        match self.reader.receive::<Part>() {
            Ok(Part::Start { key }) if *key == *item.key => Ok(()),
            Ok(_) => Err(self.fail(ProtocolError::Decode("expected the start of the next file".into()))),
            Err(e) => Err(self.fail(e)),
        }
    }

    fn fail(&mut self, error: ProtocolError) -> FileError {
        tracing::warn!(error = %error, "file stream from the primary broke off");
        self.fatal = Some(error);
        FileError::Io(std::io::Error::other(texts::format(self.lang, "connection_lost", &[])))
    }
}

/// Files below this size without a chunk table are gathered in memory and
/// written by the writer threads.
const SMALL_MAX: u64 = 8 << 20;

/// Threads that write small files while the next ones arrive.
const WRITERS: usize = 2;

/// Bound on the bytes of one file gathered in memory; a file announced as
/// small cannot grow past it.
const SMALL_LIMIT: usize = 64 << 20;

/// A small file received whole, waiting to be written.
struct SmallFile {
    temp: PathBuf,
    data: Vec<u8>,
    entry: Entry,
    hash: crate::transport::protocol::Hash,
}

impl SmallFile {
    /// Checks the content against the primary's hash, then writes it to
    /// the temporary file with the source's metadata.
    fn write(self, lang: Lang) -> Result<TempCopy, FileError> {
        if *blake3::hash(&self.data).as_bytes() != self.hash {
            return Err(FileError::Io(std::io::Error::other(texts::format(
                lang,
                "content_check_failed",
                &[],
            ))));
        }
        let written = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&self.temp)
            .and_then(|mut file| {
                file.write_all(&self.data)?;
                local::apply_metadata(&file, &self.entry)
            });
        match written {
            Ok(()) => Ok(TempCopy {
                temp: self.temp,
                source: self.entry,
                hash: self.hash,
                bytes: self.data.len() as u64,
            }),
            Err(e) => {
                let _ = std::fs::remove_file(&self.temp);
                Err(e.into())
            }
        }
    }
}

fn write_to(file: &mut Option<File>, data: &[u8], error: &mut Option<std::io::Error>) {
    if error.is_some() {
        return;
    }
    if let Some(file) = file {
        if let Err(e) = file.write_all(data) {
            *error = Some(e);
        }
    }
}

impl<R: Read> ContentSource for WireSource<'_, R> {
    fn batch_limits(&self) -> (usize, u64) {
        // Small batches: a dropped connection loses at most one batch of
        // finished files, which the next run sends again.
        (1024, 64 << 20)
    }

    /// Small files are gathered in memory and written by worker threads
    /// while the next ones arrive; large files are written as they arrive.
    fn fetch(&mut self, items: &[CopyItem], replica: &Path) -> Vec<Result<TempCopy, FileError>> {
        let mut results: Vec<Option<Result<TempCopy, FileError>>> = (0..items.len()).map(|_| None).collect();
        let lang = self.lang;
        let (jobs, queue) = std::sync::mpsc::sync_channel::<(usize, SmallFile)>(64);
        let queue = std::sync::Mutex::new(queue);
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::scope(|scope| {
            for _ in 0..WRITERS {
                let done = done.clone();
                let queue = &queue;
                scope.spawn(move || loop {
                    let job = queue.lock().expect("the queue lock is never poisoned").recv();
                    let Ok((index, file)) = job else { return };
                    let _ = done.send((index, file.write(lang)));
                });
            }
            drop(done);
            for (index, item) in items.iter().enumerate() {
                if self.fatal.is_some() {
                    results[index] = Some(Err(FileError::Io(std::io::Error::other(texts::format(
                        lang,
                        "connection_lost",
                        &[],
                    )))));
                    continue;
                }
                let small = item.size < SMALL_MAX && !self.tables.contains_key(&item.key);
                if !small {
                    results[index] = Some(self.receive_file(item, replica));
                    continue;
                }
                match self.receive_small(item, replica) {
                    Ok(file) => {
                        if let Err(std::sync::mpsc::SendError((index, _))) = jobs.send((index, file)) {
                            results[index] = Some(Err(FileError::Io(std::io::Error::other("no writer thread left"))));
                        }
                    }
                    Err(e) => results[index] = Some(Err(e)),
                }
            }
            drop(jobs);
            for (index, result) in finished {
                results[index] = Some(result);
            }
        });
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(FileError::Io(std::io::Error::other("the file was not written")))))
            .collect()
    }

    fn link_target(&mut self, key: &[u8]) -> std::io::Result<PathBuf> {
        self.link_targets
            .get(key)
            .cloned()
            .ok_or_else(|| std::io::Error::other("the plan gave no target for this symlink"))
    }

    fn root_entry(&mut self) -> Option<Entry> {
        self.root.clone()
    }
}
