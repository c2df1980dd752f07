//! The gzip framing of the chunks: one member (RFC 1952) whose deflate stream is the
//! chunks concatenated (each ends in a sync flush, so the next starts byte-aligned), then
//! an empty final block, the CRC-32 (combined from the chunks' without reading them again)
//! and ISIZE. That is what pigz writes and what GNU `zcat` (curtin) decodes.

use std::io::Write;

use crc32fast::Hasher;

use crate::chunks::Chunk;
use crate::encoder::ChunkEncoder;
use crate::{Error, Summary};

/// The gzip header we write: magic, CM = 8 (deflate), no flags, mtime 0, XFL 0, OS 3 (Unix).
/// A zero mtime keeps the output identical for identical input (RFC 1952, 2.3.1).
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];

/// An empty final block with fixed Huffman codes (BFINAL=1, BTYPE=01, end-of-block): the
/// end of the deflate stream after the last sync-flushed chunk (what pigz writes).
const FINAL_BLOCK: [u8; 2] = [0x03, 0x00];

/// Bytes of repeated zero-chunk encodings written at once for a run of zero chunks.
const ZERO_BLOCK: usize = 256 << 10;

/// Encoded bytes and CRC state of an all-zero chunk of one length, computed once.
struct ZeroChunk {
    len: usize,
    bytes: Vec<u8>,
    crc: Hasher,
    /// `bytes` repeated `per_block` times, made on the first run that needs it.
    block: Vec<u8>,
    per_block: u64,
}

impl ZeroChunk {
    fn new(encoder: &mut dyn ChunkEncoder, len: usize) -> Result<Self, Error> {
        let zeros = vec![0u8; len];
        let bytes = encoder.encode(0, &[], &zeros)?;
        let mut crc = Hasher::new();
        crc.update(&zeros);
        let per_block = (ZERO_BLOCK / bytes.len().max(1)).max(1) as u64;
        Ok(Self {
            len,
            bytes,
            crc,
            block: Vec::new(),
            per_block,
        })
    }

    /// Writes the encoding `count` times, in blocks of [`ZERO_BLOCK`] bytes.
    fn write(&mut self, out: &mut impl Write, count: u64) -> std::io::Result<()> {
        if count < self.per_block {
            for _ in 0..count {
                out.write_all(&self.bytes)?;
            }
            return Ok(());
        }
        if self.block.is_empty() {
            self.block = self.bytes.repeat(self.per_block as usize);
        }
        for _ in 0..count / self.per_block {
            out.write_all(&self.block)?;
        }
        let rest = (count % self.per_block) as usize * self.bytes.len();
        out.write_all(&self.block[..rest])
    }

    /// The CRC state of `count` zero chunks: O(log count) combines, not `count`.
    fn crc_of(&self, count: u64) -> Hasher {
        let mut acc: Option<Hasher> = None;
        let mut pow = self.crc.clone();
        let mut n = count;
        while n > 0 {
            if n & 1 == 1 {
                // Zeros commute: the order of the pieces does not matter.
                match &mut acc {
                    Some(a) => a.combine(&pow),
                    None => acc = Some(pow.clone()),
                }
            }
            n >>= 1;
            if n > 0 {
                let p = pow.clone();
                pow.combine(&p);
            }
        }
        acc.unwrap_or_default()
    }
}

/// One gzip member being written: the header first, the chunks in order, the trailer.
pub(crate) struct Member<W> {
    out: W,
    crc: Hasher,
    summary: Summary,
    zero_full: ZeroChunk,
    zero_tail: Option<ZeroChunk>,
}

impl<W: Write> Member<W> {
    /// Writes the header of a member for a disk of `size` bytes cut in chunks of
    /// `chunk_size`; `encoder` encodes the zero chunks once.
    pub(crate) fn start(
        mut out: W,
        size: u64,
        chunk_size: usize,
        encoder: &mut dyn ChunkEncoder,
    ) -> Result<Self, Error> {
        let chunk = chunk_size as u64;
        let zero_full = ZeroChunk::new(encoder, chunk_size.min(size as usize).max(1))?;
        let tail_len = (size % chunk) as usize;
        let zero_tail = if tail_len != 0 && size.div_ceil(chunk) > 1 {
            Some(ZeroChunk::new(encoder, tail_len)?)
        } else {
            None
        };
        out.write_all(&GZIP_HEADER).map_err(Error::Write)?;
        Ok(Self {
            out,
            crc: Hasher::new(),
            summary: Summary {
                input_bytes: size,
                output_bytes: GZIP_HEADER.len() as u64,
                ..Summary::default()
            },
            zero_full,
            zero_tail,
        })
    }

    /// Appends the next chunk.
    pub(crate) fn push(&mut self, c: Chunk) -> Result<(), Error> {
        let (bytes, h) = match c {
            Chunk::Zero { len, count } => {
                let z = if len == self.zero_full.len {
                    &mut self.zero_full
                } else {
                    self.zero_tail.as_mut().unwrap_or(&mut self.zero_full)
                };
                debug_assert_eq!(z.len, len);
                self.summary.zero_chunks += count;
                z.write(&mut self.out, count).map_err(Error::Write)?;
                (z.bytes.len() as u64 * count, z.crc_of(count))
            }
            Chunk::Data(bytes, h) => {
                self.summary.data_chunks += 1;
                self.out.write_all(&bytes).map_err(Error::Write)?;
                (bytes.len() as u64, h)
            }
        };
        self.summary.output_bytes += bytes;
        self.crc.combine(&h);
        Ok(())
    }

    /// Writes the final block and the trailer, flushes, and says what was written.
    pub(crate) fn finish(mut self) -> Result<Summary, Error> {
        self.summary.crc32 = self.crc.finalize();
        let mut trailer = [0u8; 10];
        trailer[..2].copy_from_slice(&FINAL_BLOCK);
        trailer[2..6].copy_from_slice(&self.summary.crc32.to_le_bytes());
        trailer[6..].copy_from_slice(&(self.summary.input_bytes as u32).to_le_bytes());
        self.out.write_all(&trailer).map_err(Error::Write)?;
        self.out.flush().map_err(Error::Write)?;
        self.summary.output_bytes += trailer.len() as u64;
        Ok(self.summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DeflateEncoder;

    #[test]
    fn zero_runs_equal_their_chunks_one_by_one() {
        let mut enc = DeflateEncoder::new(6, false);
        for count in [1u64, 2, 3, 255, 256, 257, 1000] {
            let mut z = ZeroChunk::new(&mut enc, 4096).unwrap();
            let mut bulk = Vec::new();
            z.write(&mut bulk, count).unwrap();
            let mut one_by_one = Vec::new();
            let mut crc = Hasher::new();
            for _ in 0..count {
                one_by_one.extend_from_slice(&z.bytes);
                crc.combine(&z.crc);
            }
            assert_eq!(bulk, one_by_one, "{count} chunks");
            let h = z.crc_of(count);
            assert_eq!(h.clone().finalize(), crc.finalize(), "{count} chunks");
            assert_eq!(
                h.finalize(),
                crc32fast::hash(&vec![0u8; 4096 * count as usize])
            );
        }
    }
}
