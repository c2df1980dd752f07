//! The gzip framing of the chunks: one member (RFC 1952) whose deflate stream is the
//! chunks concatenated (each ends in a sync flush, so the next starts byte-aligned), then
//! an empty final block, the CRC-32 (combined from the chunks' without reading them again)
//! and ISIZE. That is what pigz writes and what GNU `zcat` (curtin) decodes.

use std::io::{self, Write};
use std::sync::mpsc::{sync_channel, SyncSender};

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

/// Guest bytes of chunks queued for the output thread at most (their encodings are
/// usually far smaller).
const QUEUE_BYTES: usize = 32 << 20;

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

/// Writes one encoding many times, in blocks of [`ZERO_BLOCK`] bytes made where they are
/// written (on the output thread: no copy crosses cores).
struct Repeat<'a> {
    bytes: &'a [u8],
    /// `bytes` repeated `per_block` times, made on the first run that needs it.
    block: Vec<u8>,
    per_block: u64,
}

impl<'a> Repeat<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            block: Vec::new(),
            per_block: (ZERO_BLOCK / bytes.len().max(1)).max(1) as u64,
        }
    }

    fn write(&mut self, out: &mut impl Write, count: u64) -> io::Result<()> {
        if count < self.per_block {
            for _ in 0..count {
                out.write_all(self.bytes)?;
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
}

/// What the output thread is given to write, in order.
enum Out {
    /// These bytes (an encoded chunk, the trailer): moved, not copied.
    Bytes(Vec<u8>),
    /// The encoding of the full-size zero chunk (or the tail's), `count` times.
    Zeros { tail: bool, count: u64 },
}

/// How the zero chunks of a member are made, if it has any.
pub(crate) struct Zeros<'a> {
    /// The disk's size (the last chunk may be shorter).
    pub size: u64,
    /// Bytes per chunk.
    pub chunk_size: usize,
    /// Encodes the zero chunk(s) once.
    pub encoder: &'a mut dyn ChunkEncoder,
}

/// Writes one gzip member into `out`: the header, every chunk `body` pushes (in order),
/// the final block and the trailer (`body` returns the number of source bytes: ISIZE).
/// A disk's member has `zeros` ([`Chunk::Zero`] items); a stream's has none.
///
/// The bytes are written, and hashed by `out` if it hashes, on a thread of their own, so
/// that the caller's thread — the pipeline's writer, which hands chunks over in order —
/// never waits on a hash or a `write` call (workers wait for it when the window is full).
pub(crate) fn write_member<W: Write + Send>(
    mut out: W,
    chunk_size: usize,
    zeros: Option<Zeros<'_>>,
    body: impl FnOnce(&mut dyn FnMut(Chunk) -> Result<(), Error>) -> Result<u64, Error>,
) -> Result<Summary, Error> {
    let (full, tail) = match zeros {
        Some(Zeros {
            size,
            chunk_size,
            encoder,
        }) => {
            let chunk = chunk_size as u64;
            let full = ZeroChunk::new(encoder, chunk_size.min(size as usize).max(1))?;
            let tail_len = (size % chunk) as usize;
            let tail = if tail_len != 0 && size.div_ceil(chunk) > 1 {
                Some(ZeroChunk::new(encoder, tail_len)?)
            } else {
                None
            };
            (Some(full), tail)
        }
        None => (None, None),
    };
    let (full, tail) = (full.as_ref(), tail.as_ref());
    std::thread::scope(|s| {
        let (tx, rx) = sync_channel::<Out>((QUEUE_BYTES / chunk_size).clamp(2, 64));
        let output = std::thread::Builder::new()
            .name("ddgz-output".into())
            .spawn_scoped(s, move || -> io::Result<()> {
                out.write_all(&GZIP_HEADER)?;
                let none: &[u8] = &[];
                let full_bytes = full.map_or(none, |z| &z.bytes);
                let mut zeros = [
                    Repeat::new(full_bytes),
                    Repeat::new(tail.map_or(full_bytes, |z| &z.bytes)),
                ];
                for m in rx {
                    match m {
                        Out::Bytes(b) => out.write_all(&b)?,
                        Out::Zeros { tail, count } => {
                            zeros[tail as usize].write(&mut out, count)?
                        }
                    }
                }
                out.flush()
            })
            .map_err(Error::Write)?;
        let mut member = Member {
            tx,
            crc: Hasher::new(),
            summary: Summary {
                output_bytes: GZIP_HEADER.len() as u64,
                ..Summary::default()
            },
            full,
            tail,
        };
        let r = body(&mut |c| member.push(c)).and_then(|n| member.trailer(n));
        // Closing the channel ends the output thread once it has written what it holds.
        let summary = member.summary;
        drop(member.tx);
        let written = output
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the output thread panicked")));
        // A write error is the cause of whatever the body met after it.
        written.map_err(Error::Write)?;
        r.map(|()| summary)
    })
}

/// The message when the output thread is gone; its own error replaces it.
const OUTPUT_GONE: &str = "the output thread stopped";

/// The member being written: the chunks' CRCs and sizes, what goes to the output thread.
struct Member<'a> {
    tx: SyncSender<Out>,
    crc: Hasher,
    summary: Summary,
    full: Option<&'a ZeroChunk>,
    tail: Option<&'a ZeroChunk>,
}

impl Member<'_> {
    fn send(&self, m: Out) -> Result<(), Error> {
        self.tx
            .send(m)
            .map_err(|_| Error::Write(io::Error::other(OUTPUT_GONE)))
    }

    /// Appends the next chunk.
    fn push(&mut self, c: Chunk) -> Result<(), Error> {
        let (bytes, h) = match c {
            Chunk::Zero { len, count } => {
                let Some(full) = self.full else {
                    return Err(Error::Options(
                        "a zero chunk in a member without zero chunks".into(),
                    ));
                };
                let tail = len != full.len && self.tail.is_some();
                let z = if tail {
                    self.tail.unwrap_or(full)
                } else {
                    full
                };
                debug_assert_eq!(z.len, len);
                self.summary.zero_chunks += count;
                self.send(Out::Zeros { tail, count })?;
                (z.bytes.len() as u64 * count, z.crc_of(count))
            }
            Chunk::Data(bytes, h) => {
                self.summary.data_chunks += 1;
                let n = bytes.len() as u64;
                self.send(Out::Bytes(bytes))?;
                (n, h)
            }
        };
        self.summary.output_bytes += bytes;
        self.crc.combine(&h);
        Ok(())
    }

    /// Sends the final block and the trailer, for `input_bytes` source bytes.
    fn trailer(&mut self, input_bytes: u64) -> Result<(), Error> {
        self.summary.input_bytes = input_bytes;
        self.summary.crc32 = self.crc.clone().finalize();
        let mut trailer = Vec::with_capacity(10);
        trailer.extend_from_slice(&FINAL_BLOCK);
        trailer.extend_from_slice(&self.summary.crc32.to_le_bytes());
        trailer.extend_from_slice(&(self.summary.input_bytes as u32).to_le_bytes());
        self.summary.output_bytes += trailer.len() as u64;
        self.send(Out::Bytes(trailer))
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
            let z = ZeroChunk::new(&mut enc, 4096).unwrap();
            let mut bulk = Vec::new();
            Repeat::new(&z.bytes).write(&mut bulk, count).unwrap();
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
