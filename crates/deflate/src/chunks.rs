//! A disk as a sequence of chunks for the pipeline: one extent lookup per claim, zero
//! chunks recognised by extent or by a word-wise scan (never encoded), other chunks read
//! with the bytes before them and handed to the [`ChunkEncoder`].

use std::sync::atomic::{AtomicBool, Ordering};

use crc32fast::Hasher;
use ddgz_disk::{Disk, Extent, ExtentKind};

use crate::encoder::ChunkEncoder;
use crate::{pipeline, Error};

/// One chunk, encoded, in the order of the disk.
#[derive(Debug)]
pub enum Chunk {
    /// This many bytes of zeros: not encoded (the framing has its encoding ready).
    Zero(usize),
    /// The encoded bytes, and the CRC-32 state of the source bytes.
    Data(Vec<u8>, Hasher),
}

/// How to cut and encode a disk.
#[derive(Debug, Clone, Copy)]
pub struct ChunkOptions<'a> {
    /// Guest bytes per chunk.
    pub chunk_size: usize,
    /// Worker threads (at least 1).
    pub threads: usize,
    /// Set from elsewhere to stop with [`Error::Cancelled`].
    pub cancel: Option<&'a AtomicBool>,
}

/// How far an encoding got, after each batch of chunks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Guest bytes written so far (a position on the disk).
    pub guest_bytes: u64,
    /// Of those, the bytes the disk said hold data: the work done so far, to compare with
    /// [`Disk::allocated_bytes`] (zero extents cost nothing, so a bar or an ETA on guest
    /// bytes would race through holes and crawl through data).
    pub data_bytes: u64,
}

/// Encodes every chunk of `disk` in parallel, each worker with an encoder from
/// `new_encoder`, and hands the chunks to `write` in order; `progress` is told how far it
/// got after each batch. Memory stays bounded ([`pipeline::window`]).
pub fn encode_disk<E: ChunkEncoder>(
    disk: &dyn Disk,
    opts: ChunkOptions<'_>,
    new_encoder: &(dyn Fn() -> E + Sync),
    write: &mut dyn FnMut(Chunk) -> Result<(), Error>,
    progress: &mut dyn FnMut(Progress),
) -> Result<(), Error> {
    let size = disk.size();
    let chunk = opts.chunk_size as u64;
    let count = size.div_ceil(chunk);
    let cancelled = || opts.cancel.is_some_and(|c| c.load(Ordering::Relaxed));
    let data_bytes = std::cell::Cell::new(0u64);
    pipeline::run(
        count,
        opts.threads,
        pipeline::window(opts.threads, chunk),
        &cancelled,
        || Reader {
            encoder: new_encoder(),
            buf: Vec::new(),
        },
        |r: &mut Reader<E>,
         claim,
         stopped: &pipeline::Stopped,
         results: &mut pipeline::Results<(Chunk, u64)>| {
            // One extent lookup for the whole claim (an L2 read on qcow2).
            let span_start = claim.start * chunk;
            let span_end = (claim.end * chunk).min(size);
            let span = match disk.extents(span_start, span_end - span_start) {
                Ok(span) => span,
                // The writer reports the first error it meets, in order.
                Err(source) => {
                    results.push((
                        claim.start,
                        Err(Error::Read {
                            offset: span_start,
                            source,
                        }),
                    ));
                    return;
                }
            };
            for i in claim {
                if stopped.get() {
                    return;
                }
                let offset = i * chunk;
                let len = (size - offset).min(chunk) as usize;
                let c = if cancelled() {
                    Err(Error::Cancelled)
                } else {
                    let ext = clip(&span, offset, len as u64);
                    let data: u64 = ext
                        .iter()
                        .filter(|e| e.kind == ExtentKind::Data)
                        .map(|e| e.len)
                        .sum();
                    r.chunk(disk, offset, len, &ext).map(|c| (c, data))
                };
                let failed = c.is_err();
                results.push((i, c));
                if failed {
                    return;
                }
            }
        },
        &mut |(c, data)| {
            data_bytes.set(data_bytes.get() + data);
            write(c)
        },
        &mut |n| {
            progress(Progress {
                guest_bytes: (n * chunk).min(size),
                data_bytes: data_bytes.get(),
            })
        },
    )
}

/// A worker's reusable state: its encoder and its read buffer.
struct Reader<E> {
    encoder: E,
    buf: Vec<u8>,
}

impl<E: ChunkEncoder> Reader<E> {
    /// Produces the chunk at `offset`: zero by extents, zero by scan, or encoded.
    fn chunk(
        &mut self,
        disk: &dyn Disk,
        offset: u64,
        len: usize,
        extents: &[Extent],
    ) -> Result<Chunk, Error> {
        let read_err = |source| Error::Read { offset, source };
        if extents.iter().all(|e| e.kind == ExtentKind::Zero) {
            return Ok(Chunk::Zero(len));
        }
        // The chunk, preceded by what the encoder wants of the bytes before it (deflate:
        // 32 KiB, its dictionary, so that matches reach back across the boundary).
        let before = offset.min(self.encoder.history() as u64) as usize;
        self.buf.resize(before + len, 0);
        if before > 0 {
            let start = offset - before as u64;
            let ext = disk.extents(start, before as u64).map_err(read_err)?;
            fill(disk, &ext, start, &mut self.buf[..before]).map_err(read_err)?;
        }
        fill(disk, extents, offset, &mut self.buf[before..]).map_err(read_err)?;
        let (before, data) = self.buf.split_at(before);
        if is_zero(data) {
            return Ok(Chunk::Zero(len));
        }
        let mut crc = Hasher::new();
        crc.update(data);
        let bytes = self.encoder.encode(offset, before, data)?;
        Ok(Chunk::Data(bytes, crc))
    }
}

/// The part of `extents` (sorted, covering a larger range) inside `[offset, offset + len)`.
fn clip(extents: &[Extent], offset: u64, len: u64) -> Vec<Extent> {
    let end = offset + len;
    let first = extents.partition_point(|e| e.end() <= offset);
    extents[first..]
        .iter()
        .take_while(|e| e.offset < end)
        .map(|e| {
            let start = e.offset.max(offset);
            Extent {
                offset: start,
                len: e.end().min(end) - start,
                kind: e.kind,
            }
        })
        .collect()
}

/// Fills `buf` with `[offset, offset + buf.len())` of `disk`, described by `extents`:
/// zero extents are filled, not read.
fn fill(disk: &dyn Disk, extents: &[Extent], offset: u64, buf: &mut [u8]) -> ddgz_disk::Result<()> {
    for e in extents {
        let range = (e.offset - offset) as usize..(e.end() - offset) as usize;
        match e.kind {
            ExtentKind::Zero => buf[range].fill(0),
            ExtentKind::Data => disk.read_at(e.offset, &mut buf[range])?,
        }
    }
    Ok(())
}

/// Whether every byte of `buf` is zero; word-wise so that it vectorizes.
pub fn is_zero(buf: &[u8]) -> bool {
    let mut blocks = buf.chunks_exact(256);
    for b in &mut blocks {
        if b.iter().fold(0u8, |acc, &x| acc | x) != 0 {
            return false;
        }
    }
    blocks.remainder().iter().all(|&x| x == 0)
}
