//! A disk as a sequence of chunks for the pipeline: one extent lookup per claim, zero
//! chunks recognised by extent or by a word-wise scan (never encoded), other chunks read
//! with the bytes before them and handed to the [`ChunkEncoder`].
//!
//! - A run of zero chunks is one item: a claim that ends in zeros is extended over the
//!   whole zero run the extents show, so a terabyte of zeros costs a few claims.
//! - The bytes an encoder wants before a chunk (deflate's 32 KiB dictionary) come from
//!   the previous chunk's input when this worker just had it in memory (pigz's scheme),
//!   or from the same read as the chunk, extended: never from a second read.

use std::sync::atomic::{AtomicBool, Ordering};

use crc32fast::Hasher;
use ddgz_disk::{Disk, Extent, ExtentKind};

use crate::encoder::ChunkEncoder;
use crate::{pipeline, Error};

/// One item of the pipeline, in the order of the disk.
#[derive(Debug)]
pub enum Chunk {
    /// `count` consecutive chunks of `len` zero bytes each: not encoded (the framing has
    /// the encoding of one ready).
    Zero {
        /// Bytes per chunk.
        len: usize,
        /// Chunks in the run.
        count: u64,
    },
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
#[non_exhaustive]
pub struct Progress {
    /// Guest bytes written so far (a position on the disk).
    pub guest_bytes: u64,
    /// Of those, the bytes the disk said hold data: the work done so far, to compare with
    /// [`Disk::allocated_bytes`] (zero extents cost nothing, so a bar or an ETA on guest
    /// bytes would race through holes and crawl through data).
    pub data_bytes: u64,
}

/// Longest zero run one claim extends over: the writer then writes its encoding that many
/// times while the other workers go on (64 MiB of output with 1 MiB chunks).
const MAX_ZERO_RUN: u64 = 64 << 30;

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
    let len_of = |i: u64| (size - i * chunk).min(chunk) as usize;
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
            before: Before::Unknown,
        },
        |r: &mut Reader<E>,
         claim: &mut pipeline::Claim,
         stopped: &pipeline::Stopped,
         results: &mut pipeline::Results<(Chunk, u64)>| {
            let first = claim.range().start;
            // One extent lookup for the whole claim (an L2 read on qcow2), from the bytes
            // the encoder wants before its first chunk.
            let span_start = first * chunk;
            let span_end = (claim.range().end * chunk).min(size);
            let hist = span_start.min(r.encoder.history() as u64);
            let span = match disk.extents(span_start - hist, span_end - span_start + hist) {
                Ok(span) => span,
                // The writer reports the first error it meets, in order.
                Err(source) => {
                    results.push((
                        first..first + 1,
                        Err(Error::Read {
                            offset: span_start,
                            source,
                        }),
                    ));
                    return;
                }
            };
            // A claim ending in zeros takes the rest of the zero run with it.
            let last = claim.range().end - 1;
            let zero_tail = span
                .last()
                .is_some_and(|e| e.kind == ExtentKind::Zero && e.offset <= last * chunk);
            if zero_tail && span_end < size && claim.extendable() {
                let limit = size.min(span_end.saturating_add(MAX_ZERO_RUN));
                // A lookup error here only means no extension: the chunks are read (and
                // the error reported) by whoever claims them.
                if let Ok(run_end) = zero_run_end(disk, span_end, limit) {
                    let end = if run_end == size {
                        count
                    } else {
                        run_end / chunk
                    };
                    claim.extend(end);
                }
            }
            let mut zeros = ZeroRun::default();
            for i in claim.range() {
                if stopped.get() {
                    return;
                }
                let offset = i * chunk;
                let len = len_of(i);
                if offset >= span_end {
                    // Past the extents looked up: zeros, as the extension found.
                    zeros.add(i, len, 0, results);
                    r.zero_chunk(offset, len);
                    continue;
                }
                let c = if cancelled() {
                    Err(Error::Cancelled)
                } else {
                    // Data bytes by extents, for the progress of the work.
                    let data: u64 = clip(&span, offset, len as u64)
                        .iter()
                        .filter(|e| e.kind == ExtentKind::Data)
                        .map(|e| e.len)
                        .sum();
                    r.chunk(disk, offset, len, &span).map(|c| (c, data))
                };
                match c {
                    Ok((Chunk::Zero { .. }, data)) => zeros.add(i, len, data, results),
                    c => {
                        zeros.flush(results);
                        let failed = c.is_err();
                        results.push((i..i + 1, c));
                        if failed {
                            return;
                        }
                    }
                }
            }
            zeros.flush(results);
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

/// Consecutive zero chunks of one length, gathered into one item.
#[derive(Default)]
struct ZeroRun {
    /// First index, index after the last, chunk length, data bytes by extents (chunks
    /// found zero by scanning them).
    run: Option<(u64, u64, usize, u64)>,
}

impl ZeroRun {
    fn add(
        &mut self,
        i: u64,
        len: usize,
        data: u64,
        results: &mut pipeline::Results<(Chunk, u64)>,
    ) {
        match &mut self.run {
            Some((_, end, l, d)) if *end == i && *l == len => {
                *end += 1;
                *d += data;
            }
            _ => {
                self.flush(results);
                self.run = Some((i, i + 1, len, data));
            }
        }
    }

    fn flush(&mut self, results: &mut pipeline::Results<(Chunk, u64)>) {
        if let Some((start, end, len, data)) = self.run.take() {
            let count = end - start;
            results.push((start..end, Ok((Chunk::Zero { len, count }, data))));
        }
    }
}

/// Largest window of one extent lookup while looking for the end of a zero run: a window
/// that follows an all-zero one may hold many small extents, and their list is bounded by
/// this (16 Ki extents with 64 KiB clusters).
const MAX_LOOKAHEAD: u64 = 1 << 30;

/// Where the zeros starting at `from` end (at most `limit`): extents asked for in windows
/// that grow from 4 MiB to [`MAX_LOOKAHEAD`], so that a short run costs a short lookup.
fn zero_run_end(disk: &dyn Disk, from: u64, limit: u64) -> ddgz_disk::Result<u64> {
    let mut pos = from;
    let mut window = 4 << 20;
    while pos < limit {
        let len = (limit - pos).min(window);
        if let Some(e) = disk
            .extents(pos, len)?
            .iter()
            .find(|e| e.kind == ExtentKind::Data)
        {
            return Ok(e.offset);
        }
        pos += len;
        window = (window * 2).min(MAX_LOOKAHEAD);
    }
    Ok(limit)
}

/// What a worker knows of the bytes before the next chunk.
#[derive(Debug, Clone, Copy)]
enum Before {
    /// Nothing.
    Unknown,
    /// `buf` ends with the disk's bytes up to this offset.
    Bytes(u64),
    /// At least a whole history of zeros ends at this offset.
    Zeros(u64),
}

/// A worker's reusable state: its encoder, its read buffer and what it holds.
struct Reader<E> {
    encoder: E,
    /// The bytes before the chunk (what the encoder wants of them), then the chunk.
    buf: Vec<u8>,
    before: Before,
}

impl<E: ChunkEncoder> Reader<E> {
    /// Notes that the chunk at `offset` is zeros by extents (and was not read): the next
    /// chunk's history is zeros if this chunk covers all of it.
    fn zero_chunk(&mut self, offset: u64, len: usize) {
        self.before = if len >= self.encoder.history() {
            Before::Zeros(offset + len as u64)
        } else {
            Before::Unknown
        };
    }

    /// Produces the chunk at `offset`: zero by extents, zero by scan, or encoded. `span`
    /// (the claim's extents) covers the chunk and the history before it.
    fn chunk(
        &mut self,
        disk: &dyn Disk,
        offset: u64,
        len: usize,
        span: &[Extent],
    ) -> Result<Chunk, Error> {
        let read_err = |source| Error::Read { offset, source };
        let end = offset + len as u64;
        let history = self.encoder.history();
        let own = clip(span, offset, len as u64);
        if own.iter().all(|e| e.kind == ExtentKind::Zero) {
            self.zero_chunk(offset, len);
            return Ok(Chunk::Zero { len, count: 1 });
        }
        // The chunk, preceded by what the encoder wants of the bytes before it (deflate:
        // 32 KiB, its dictionary, so that matches reach back across the boundary).
        let before = offset.min(history as u64) as usize;
        // Unknown until the reads succeed.
        match std::mem::replace(&mut self.before, Before::Unknown) {
            Before::Bytes(e) if e == offset && self.buf.len() >= before => {
                let from = self.buf.len() - before;
                self.buf.copy_within(from.., 0);
                self.buf.resize(before + len, 0);
                fill(disk, &own, offset, &mut self.buf[before..]).map_err(read_err)?;
            }
            Before::Zeros(e) if e == offset => {
                self.buf.clear();
                self.buf.resize(before + len, 0);
                fill(disk, &own, offset, &mut self.buf[before..]).map_err(read_err)?;
            }
            _ => {
                // One read for the history and the chunk when both are data.
                let start = offset - before as u64;
                self.buf.resize(before + len, 0);
                let ext = clip(span, start, (before + len) as u64);
                fill(disk, &ext, start, &mut self.buf).map_err(read_err)?;
            }
        }
        self.before = Before::Bytes(end);
        let (before, data) = self.buf.split_at(before);
        if is_zero(data) {
            return Ok(Chunk::Zero { len, count: 1 });
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
