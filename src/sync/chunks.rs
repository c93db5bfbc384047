//! Content-defined chunks of large files (FastCDC, chunks hashed with
//! BLAKE3), so that an edit or an insertion in the middle of a large file
//! moves only the chunk boundaries next to it and the rest can be reused.

use std::fs::File;
use std::path::Path;

use rayon::prelude::*;

use crate::transport::protocol::{ChunkSig, Hash};

/// Files at least this large travel as chunks when the peer has an older copy.
pub const DELTA_MIN: u64 = 1 << 20;

const MIN_CHUNK: u32 = 4 << 10;
const AVG_CHUNK: u32 = 16 << 10;
const MAX_CHUNK: u32 = 64 << 10;

/// One chunk of a file: where it is and its hash.
#[derive(Debug, Clone, Copy)]
pub struct Chunk {
    pub offset: u64,
    pub len: u32,
    pub hash: Hash,
}

impl Chunk {
    pub fn sig(&self) -> ChunkSig {
        ChunkSig {
            hash: self.hash,
            len: self.len,
        }
    }
}

/// Splits `data` into chunks and hashes them in parallel.
pub fn chunk_bytes(data: &[u8]) -> Vec<Chunk> {
    let cuts: Vec<(u64, u32)> = fastcdc::v2020::FastCDC::new(data, MIN_CHUNK, AVG_CHUNK, MAX_CHUNK)
        .map(|c| (c.offset as u64, c.length as u32))
        .collect();
    cuts.into_par_iter()
        .map(|(offset, len)| Chunk {
            offset,
            len,
            hash: *blake3::hash(&data[offset as usize..offset as usize + len as usize]).as_bytes(),
        })
        .collect()
}

/// Reads `file` from its current position and yields its chunks with
/// their bytes and hashes, cut where `chunk_bytes` would cut them. Nothing
/// is mapped, so a file truncated meanwhile by another process only ends
/// the stream early.
pub fn stream_chunks(file: &File) -> impl Iterator<Item = std::io::Result<(Vec<u8>, Hash)>> + '_ {
    fastcdc::v2020::StreamCDC::new(file, MIN_CHUNK, AVG_CHUNK, MAX_CHUNK).map(|chunk| match chunk {
        Ok(chunk) => {
            let hash = *blake3::hash(&chunk.data).as_bytes();
            Ok((chunk.data, hash))
        }
        Err(fastcdc::v2020::Error::IoError(e)) => Err(e),
        Err(e) => Err(std::io::Error::other(e.to_string())),
    })
}

/// A file mapped into memory for chunking; empty files map to nothing.
pub struct Mapped {
    map: Option<memmap2::Mmap>,
}

impl Mapped {
    #[allow(unsafe_code)]
    pub fn open(file: &File) -> std::io::Result<Mapped> {
        let len = file.metadata()?.len();
        if len == 0 {
            return Ok(Mapped { map: None });
        }
        // SAFETY: the map is only read. A file truncated by another process
        // while mapped makes reads past its end fault (SIGBUS). drkit maps
        // only replica files, which it replaces by rename and never truncates.
        // Source files are read with `stream_chunks` instead.
        let map = unsafe { memmap2::MmapOptions::new().populate().map(file)? };
        Ok(Mapped { map: Some(map) })
    }

    pub fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }
}

/// Chunks the file at `path`; None when it is not a regular file.
pub fn chunk_file(path: &Path) -> std::io::Result<Option<(Mapped, Vec<Chunk>)>> {
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.is_file() {
        return Ok(None);
    }
    let file = File::open(path)?;
    let mapped = Mapped::open(&file)?;
    let chunks = chunk_bytes(mapped.bytes());
    Ok(Some((mapped, chunks)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
        let mut state = seed;
        (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 33) as u8
            })
            .collect()
    }

    #[test]
    fn chunks_cover_the_data_in_order() {
        let data = pseudo_random(3 << 20, 1);
        let chunks = chunk_bytes(&data);
        let mut offset = 0;
        for c in &chunks {
            assert_eq!(c.offset, offset);
            assert!(c.len <= MAX_CHUNK);
            offset += c.len as u64;
        }
        assert_eq!(offset, data.len() as u64);
    }

    #[test]
    fn streamed_chunks_match_chunks_of_the_whole_file() {
        let data = pseudo_random(3 << 20, 4);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data");
        std::fs::write(&path, &data).unwrap();
        let file = File::open(&path).unwrap();
        let streamed: Vec<Hash> = stream_chunks(&file).map(|c| c.unwrap().1).collect();
        let whole: Vec<Hash> = chunk_bytes(&data).iter().map(|c| c.hash).collect();
        assert_eq!(streamed, whole);
    }

    #[test]
    fn insertion_changes_nearby_chunks_only() {
        let old = pseudo_random(4 << 20, 2);
        let mut new = old.clone();
        let insert = pseudo_random(1000, 3);
        new.splice(2 << 20..2 << 20, insert);
        let known: std::collections::HashSet<Hash> = chunk_bytes(&old).iter().map(|c| c.hash).collect();
        let fresh: u64 = chunk_bytes(&new)
            .iter()
            .filter(|c| !known.contains(&c.hash))
            .map(|c| c.len as u64)
            .sum();
        assert!(
            fresh < 4 * MAX_CHUNK as u64,
            "{fresh} new bytes for a 1000-byte insertion"
        );
    }
}
