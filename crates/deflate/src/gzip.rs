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

/// Encoded bytes and CRC state of an all-zero chunk of one length, computed once.
struct ZeroChunk {
    len: usize,
    bytes: Vec<u8>,
    crc: Hasher,
}

impl ZeroChunk {
    fn new(encoder: &mut dyn ChunkEncoder, len: usize) -> Result<Self, Error> {
        let zeros = vec![0u8; len];
        let bytes = encoder.encode(0, &[], &zeros)?;
        let mut crc = Hasher::new();
        crc.update(&zeros);
        Ok(Self { len, bytes, crc })
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
            Chunk::Zero(len) => {
                let z = if len == self.zero_full.len {
                    &self.zero_full
                } else {
                    self.zero_tail.as_ref().unwrap_or(&self.zero_full)
                };
                debug_assert_eq!(z.len, len);
                self.summary.zero_chunks += 1;
                self.out.write_all(&z.bytes).map_err(Error::Write)?;
                (z.bytes.len(), z.crc.clone())
            }
            Chunk::Data(bytes, h) => {
                self.summary.data_chunks += 1;
                self.out.write_all(&bytes).map_err(Error::Write)?;
                (bytes.len(), h)
            }
        };
        self.summary.output_bytes += bytes as u64;
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
