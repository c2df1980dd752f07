//! Parallel single-member gzip of a [`Disk`].
//!
//! The guest space is cut into fixed chunks (1 MiB by default). Each chunk becomes raw
//! deflate that starts on a block boundary with an empty window and ends in a sync flush
//! (an empty stored block, so the next chunk starts byte-aligned); concatenated, they form
//! the body of **one** gzip member (RFC 1952), ended by an empty final block, the CRC-32 and
//! ISIZE. That is what pigz writes and what GNU `zcat` (curtin) decodes.
//!
//! - A chunk known to be zero from the disk's extents, or found all-zero by a word-wise
//!   scan, is not compressed: its deflate bytes were computed once and are written again,
//!   and its CRC is combined arithmetically (`crc32fast::Hasher::combine`).
//! - Other chunks are compressed by `threads` workers; a writer puts them out in order.
//!   At most `window` chunks are in flight, so memory is bounded whatever the disk size.
//! - Every chunk is compressed from a reset state, so the bytes depend only on the input,
//!   the level and the chunk size — never on the thread count. The header has mtime 0.
#![deny(missing_docs)]

pub mod verify;

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use crc32fast::Hasher;
use ddgz_disk::{Disk, ExtentKind};
use flate2::{Compress, Compression, FlushCompress};

/// The gzip header we write: magic, CM = 8 (deflate), no flags, mtime 0, XFL 0, OS 3 (Unix).
/// A zero mtime keeps the output identical for identical input (RFC 1952, 2.3.1).
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];

/// An empty final block with fixed Huffman codes (BFINAL=1, BTYPE=01, end-of-block): the
/// end of the deflate stream after the last sync-flushed chunk (what pigz writes).
const FINAL_BLOCK: [u8; 2] = [0x03, 0x00];

/// Deflate's window: the most a dictionary can help.
const DICTIONARY: usize = 32 << 10;

/// Default chunk size: large enough that per-chunk overhead (a sync marker, a cold window)
/// costs well under 0.1 % of output, small enough to spread work over cores.
pub const DEFAULT_CHUNK_SIZE: usize = 1 << 20;

/// Largest chunk size accepted, to bound per-worker memory.
pub const MAX_CHUNK_SIZE: usize = 64 << 20;

/// How to compress.
#[derive(Debug, Clone)]
pub struct Options {
    /// Deflate level, 0 (store) to 9 (best). 6 is gzip's and pigz's default.
    pub level: u32,
    /// Worker threads; 0 means one per available core.
    pub threads: usize,
    /// Bytes of guest data per chunk (4 KiB ..= [`MAX_CHUNK_SIZE`]).
    pub chunk_size: usize,
    /// Decode each compressed chunk again and compare its CRC with the source's.
    pub verify: bool,
    /// Set from elsewhere (e.g. a signal handler) to stop early with [`Error::Cancelled`].
    pub cancel: Option<Arc<AtomicBool>>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            level: 6,
            threads: 0,
            chunk_size: DEFAULT_CHUNK_SIZE,
            verify: true,
            cancel: None,
        }
    }
}

/// What [`compress`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Guest bytes compressed (the disk size, ISIZE modulo 2^32 in the trailer).
    pub input_bytes: u64,
    /// Bytes written to the output.
    pub output_bytes: u64,
    /// CRC-32 of the guest bytes.
    pub crc32: u32,
    /// Chunks written from the precomputed zero chunk.
    pub zero_chunks: u64,
    /// Chunks compressed.
    pub data_chunks: u64,
}

/// Why compression stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The disk could not be read.
    #[error("reading the chunk at offset {offset}: {source}")]
    Read {
        /// Guest offset of the chunk.
        offset: u64,
        /// The disk's error.
        #[source]
        source: ddgz_disk::Error,
    },
    /// The output could not be written.
    #[error("writing the output: {0}")]
    Write(#[source] std::io::Error),
    /// The deflate engine failed (should not happen).
    #[error("deflate failed on the chunk at offset {offset}: {message}")]
    Deflate {
        /// Guest offset of the chunk.
        offset: u64,
        /// The engine's message.
        message: String,
    },
    /// The self-check of a compressed chunk failed: it does not decode to its source.
    #[error("self-check failed: the compressed chunk at offset {offset} does not decode to its source ({detail})")]
    Verify {
        /// Guest offset of the chunk.
        offset: u64,
        /// What differed.
        detail: String,
    },
    /// The options are out of range.
    #[error("invalid options: {0}")]
    Options(String),
    /// [`Options::cancel`] was set.
    #[error("cancelled")]
    Cancelled,
}

/// One chunk's result, ready to be written.
enum Chunk {
    /// The precomputed zero chunk of this length.
    Zero(usize),
    /// Compressed bytes and the hasher of the source bytes.
    Data(Vec<u8>, Hasher),
}

/// Deflate bytes and CRC state of an all-zero chunk of one length, computed once.
struct ZeroChunk {
    len: usize,
    deflate: Vec<u8>,
    crc: Hasher,
}

impl ZeroChunk {
    fn new(len: usize, level: u32) -> Result<Self, Error> {
        let zeros = vec![0u8; len];
        let mut deflate = Vec::new();
        deflate_chunk(level, &[], &zeros, &mut deflate)
            .map_err(|message| Error::Deflate { offset: 0, message })?;
        let mut crc = Hasher::new();
        crc.update(&zeros);
        Ok(Self { len, deflate, crc })
    }
}

/// Compresses `input` as raw deflate ending in a sync flush, from a reset state primed
/// with `dictionary` (the bytes before the chunk, as pigz does), into `out`.
fn deflate_chunk(
    level: u32,
    dictionary: &[u8],
    input: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), String> {
    // A fresh engine per chunk, not `reset()`: with zlib-rs, a reset engine that had been
    // given a dictionary before produced output that depended on which chunks the worker
    // had compressed earlier (caught by the -j1/-j3 identity test). Creating one costs
    // microseconds next to deflating a MiB.
    let c = &mut Compress::new(Compression::new(level), false);
    if !dictionary.is_empty() {
        c.set_dictionary(dictionary).map_err(|e| e.to_string())?;
    }
    out.clear();
    out.reserve(input.len() / 2 + 4096);
    loop {
        let done = c.total_in() as usize;
        c.compress_vec(&input[done..], out, FlushCompress::Sync)
            .map_err(|e| e.to_string())?;
        // All input taken and room left over means the flush completed.
        if c.total_in() as usize == input.len() && out.len() < out.capacity() {
            return Ok(());
        }
        out.reserve(out.capacity().max(64 << 10));
    }
}

/// The part of `extents` (sorted, covering a larger range) inside `[offset, offset + len)`.
fn clip(extents: &[ddgz_disk::Extent], offset: u64, len: u64) -> Vec<ddgz_disk::Extent> {
    let end = offset + len;
    let first = extents.partition_point(|e| e.end() <= offset);
    extents[first..]
        .iter()
        .take_while(|e| e.offset < end)
        .map(|e| {
            let start = e.offset.max(offset);
            ddgz_disk::Extent {
                offset: start,
                len: e.end().min(end) - start,
                kind: e.kind,
            }
        })
        .collect()
}

/// Fills `buf` with `[offset, offset + buf.len())` of `disk`, described by `extents`:
/// zero extents are filled, not read.
fn fill(
    disk: &dyn Disk,
    extents: &[ddgz_disk::Extent],
    offset: u64,
    buf: &mut [u8],
) -> ddgz_disk::Result<()> {
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

/// A worker's reusable state.
struct Worker {
    probe_out: Vec<u8>,
    buf: Vec<u8>,
}

/// Probe samples: this many, of this size, spread over a chunk.
const PROBE_SAMPLES: usize = 4;
const PROBE_SAMPLE_LEN: usize = 16 << 10;

impl Worker {
    fn new() -> Self {
        Self {
            probe_out: Vec::with_capacity(2 * PROBE_SAMPLE_LEN),
            buf: Vec::new(),
        }
    }

    /// Whether `buf` looks already compressed (ESXi modules, tarballs, images): every
    /// sample deflated at level 1 keeps over 98 % of its size. Such a chunk is stored
    /// rather than deflated: deflate would spend most of its time to save nothing.
    /// Decided from the content only, so the output stays deterministic.
    /// A fresh level-1 engine per sample, like [`deflate_chunk`]: nothing carries over.
    fn looks_incompressible(probe_out: &mut Vec<u8>, buf: &[u8]) -> bool {
        if buf.len() < PROBE_SAMPLES * PROBE_SAMPLE_LEN * 4 {
            return false;
        }
        let stride = (buf.len() - PROBE_SAMPLE_LEN) / (PROBE_SAMPLES - 1);
        (0..PROBE_SAMPLES).all(|k| {
            let sample = &buf[k * stride..k * stride + PROBE_SAMPLE_LEN];
            let mut probe = Compress::new(Compression::fast(), false);
            probe_out.clear();
            match probe.compress_vec(sample, probe_out, FlushCompress::Finish) {
                // Output that did not fit in twice the sample is certainly not smaller.
                Ok(flate2::Status::StreamEnd) => probe_out.len() * 100 > sample.len() * 98,
                _ => true,
            }
        })
    }
}

impl Worker {
    /// Produces chunk `index`: zero by extents, zero by scan, or compressed.
    fn chunk(
        &mut self,
        disk: &dyn Disk,
        offset: u64,
        len: usize,
        extents: &[ddgz_disk::Extent],
        opts: &Options,
    ) -> Result<Chunk, Error> {
        let read_err = |source| Error::Read { offset, source };
        if extents.iter().all(|e| e.kind == ExtentKind::Zero) {
            return Ok(Chunk::Zero(len));
        }
        // The chunk, preceded by up to 32 KiB of what comes before it: the dictionary, so
        // that matches reach back across the chunk boundary. Zero and stored chunks are
        // written without one; that is valid, a dictionary only allows references back.
        let dict = (offset.min(DICTIONARY as u64)) as usize;
        self.buf.resize(dict + len, 0);
        if dict > 0 {
            let before = disk
                .extents(offset - dict as u64, dict as u64)
                .map_err(read_err)?;
            fill(disk, &before, offset - dict as u64, &mut self.buf[..dict]).map_err(read_err)?;
        }
        fill(disk, extents, offset, &mut self.buf[dict..]).map_err(read_err)?;
        let (dictionary, data) = self.buf.split_at(dict);
        if is_zero(data) {
            return Ok(Chunk::Zero(len));
        }
        let mut crc = Hasher::new();
        crc.update(data);
        let mut out = Vec::new();
        let stored = opts.level > 0 && Self::looks_incompressible(&mut self.probe_out, data);
        let (level, dictionary) = if stored {
            (0, &[][..])
        } else {
            (opts.level, dictionary)
        };
        deflate_chunk(level, dictionary, data, &mut out)
            .map_err(|message| Error::Deflate { offset, message })?;
        if opts.verify {
            let d = verify::decode_chunk(&out, dictionary).map_err(|e| Error::Verify {
                offset,
                detail: e.to_string(),
            })?;
            let scrc = crc.clone().finalize();
            if d.len != len as u64 || d.crc32 != scrc || d.final_block {
                return Err(Error::Verify {
                    offset,
                    detail: format!(
                        "decoded {} bytes with CRC {:08x}, source has {len} bytes with CRC {scrc:08x}",
                        d.len, d.crc32
                    ),
                });
            }
        }
        Ok(Chunk::Data(out, crc))
    }
}

/// State shared between the workers and the writer.
struct Shared {
    /// Next chunk index a worker may take.
    next: AtomicU64,
    state: Mutex<State>,
    /// Signalled when the chunk the writer waits for is ready.
    ready: Condvar,
    /// Signalled when the writer took chunks, so the window moved.
    room: Condvar,
    /// Set when the writer stops early, so workers stop too.
    stop: AtomicBool,
}

/// Behind `Shared::state`. Notifications are sent only to someone waiting for them:
/// on a disk of zeros a chunk costs microseconds, and futex calls would dominate.
#[derive(Default)]
struct State {
    /// Finished chunks not yet written, by index.
    done: BTreeMap<u64, Result<Chunk, Error>>,
    /// The index the writer needs next.
    next_write: u64,
    /// Workers waiting for the window to move.
    room_waiters: usize,
}

/// Chunks a worker claims at once: fewer lock round trips on long zero runs, small enough
/// that the work still spreads evenly over the workers.
const CLAIM: u64 = 4;

/// Guest bytes of chunks in flight beyond one claim per worker: what bounds the memory of
/// many threads or big chunks (each chunk in flight holds up to its size of output).
const IN_FLIGHT_BUDGET: u64 = 256 << 20;

/// Compresses all of `disk` into `out` as one gzip member. `progress` is called with the
/// number of guest bytes written so far, after each chunk.
pub fn compress(
    disk: &dyn Disk,
    mut out: impl Write,
    opts: &Options,
    progress: &mut dyn FnMut(u64),
) -> Result<Summary, Error> {
    if opts.level > 9 {
        return Err(Error::Options(format!(
            "level {} is out of range 0..=9",
            opts.level
        )));
    }
    if !(4096..=MAX_CHUNK_SIZE).contains(&opts.chunk_size) {
        return Err(Error::Options(format!(
            "chunk size {} is out of range 4096..={MAX_CHUNK_SIZE}",
            opts.chunk_size
        )));
    }
    let threads = match opts.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let size = disk.size();
    let chunk = opts.chunk_size as u64;
    let count = size.div_ceil(chunk);
    // In flight: enough to keep every worker busy while the writer waits on a slow chunk
    // (4 claims per worker), but at most IN_FLIGHT_BUDGET of chunks, and never less than one
    // claim per worker (fewer would leave a worker waiting on chunks no one has claimed).
    let claims_per_worker = (IN_FLIGHT_BUDGET / (threads as u64 * CLAIM * chunk)).clamp(1, 4);
    let window = (threads as u64) * claims_per_worker * CLAIM;
    let cancelled = || {
        opts.cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
    };

    let zero_full = ZeroChunk::new(opts.chunk_size.min(size as usize).max(1), opts.level)?;
    let tail_len = (size % chunk) as usize;
    let zero_tail = if tail_len != 0 && count > 1 {
        Some(ZeroChunk::new(tail_len, opts.level)?)
    } else {
        None
    };

    let mut summary = Summary {
        input_bytes: size,
        ..Summary::default()
    };
    out.write_all(&GZIP_HEADER).map_err(Error::Write)?;
    summary.output_bytes += GZIP_HEADER.len() as u64;
    let mut crc = Hasher::new();

    let shared = Shared {
        next: AtomicU64::new(0),
        state: Mutex::new(State::default()),
        ready: Condvar::new(),
        room: Condvar::new(),
        stop: AtomicBool::new(false),
    };
    let lock = || shared.state.lock().unwrap_or_else(|p| p.into_inner());

    let result: Result<(), Error> = std::thread::scope(|s| {
        for _ in 0..threads.min(count.max(1) as usize) {
            s.spawn(|| {
                let mut w = Worker::new();
                let mut results = Vec::with_capacity(CLAIM as usize);
                loop {
                    let first = shared.next.fetch_add(CLAIM, Ordering::Relaxed);
                    if first >= count {
                        return;
                    }
                    let last = (first + CLAIM).min(count) - 1;
                    // Wait until the claimed chunks are inside the window.
                    {
                        let mut g = lock();
                        while last >= g.next_write + window && !shared.stop.load(Ordering::Relaxed)
                        {
                            g.room_waiters += 1;
                            g = shared.room.wait(g).unwrap_or_else(|p| p.into_inner());
                            g.room_waiters -= 1;
                        }
                    }
                    // One extent lookup for the whole claim (an L2 read on qcow2).
                    let span_start = first * chunk;
                    let span_end = ((last + 1) * chunk).min(size);
                    match disk.extents(span_start, span_end - span_start) {
                        // The writer reports the first error it meets, in order.
                        Err(source) => results.push((
                            first,
                            Err(Error::Read {
                                offset: span_start,
                                source,
                            }),
                        )),
                        Ok(span) => {
                            for i in first..=last {
                                if shared.stop.load(Ordering::Relaxed) {
                                    return;
                                }
                                let offset = i * chunk;
                                let len = (size - offset).min(chunk) as usize;
                                let r = if cancelled() {
                                    Err(Error::Cancelled)
                                } else {
                                    w.chunk(
                                        disk,
                                        offset,
                                        len,
                                        &clip(&span, offset, len as u64),
                                        opts,
                                    )
                                };
                                let failed = r.is_err();
                                results.push((i, r));
                                if failed {
                                    break;
                                }
                            }
                        }
                    }
                    let mut g = lock();
                    let wake = results.iter().any(|(i, _)| *i == g.next_write);
                    g.done.extend(results.drain(..));
                    if wake {
                        shared.ready.notify_one();
                    }
                }
            });
        }

        // The writer: take every chunk that is ready, in order, then write them.
        let mut batch = Vec::with_capacity(window as usize);
        let r = (|| {
            let mut i = 0;
            while i < count {
                {
                    let mut g = lock();
                    while !g.done.contains_key(&i) {
                        g = shared.ready.wait(g).unwrap_or_else(|p| p.into_inner());
                    }
                    while let Some(c) = g.done.remove(&i) {
                        batch.push(c);
                        i += 1;
                    }
                    g.next_write = i;
                    if g.room_waiters > 0 {
                        shared.room.notify_all();
                    }
                }
                if cancelled() {
                    return Err(Error::Cancelled);
                }
                for c in batch.drain(..) {
                    let (bytes, h) = match c? {
                        Chunk::Zero(len) => {
                            let z = if len == zero_full.len {
                                &zero_full
                            } else {
                                zero_tail.as_ref().unwrap_or(&zero_full)
                            };
                            debug_assert_eq!(z.len, len);
                            summary.zero_chunks += 1;
                            out.write_all(&z.deflate).map_err(Error::Write)?;
                            (z.deflate.len(), z.crc.clone())
                        }
                        Chunk::Data(bytes, h) => {
                            summary.data_chunks += 1;
                            out.write_all(&bytes).map_err(Error::Write)?;
                            (bytes.len(), h)
                        }
                    };
                    summary.output_bytes += bytes as u64;
                    crc.combine(&h);
                }
                progress((i * chunk).min(size));
            }
            Ok(())
        })();
        if r.is_err() {
            let _g = lock();
            shared.stop.store(true, Ordering::Relaxed);
            shared.room.notify_all();
        }
        r
    });
    result?;

    summary.crc32 = crc.finalize();
    let mut trailer = [0u8; 10];
    trailer[..2].copy_from_slice(&FINAL_BLOCK);
    trailer[2..6].copy_from_slice(&summary.crc32.to_le_bytes());
    trailer[6..].copy_from_slice(&(size as u32).to_le_bytes());
    out.write_all(&trailer).map_err(Error::Write)?;
    out.flush().map_err(Error::Write)?;
    summary.output_bytes += trailer.len() as u64;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ddgz_disk::{MemoryDisk, Overlay, Patch, RawDisk};
    use std::io::Read;

    fn gunzip(gz: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(gz)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    /// Deterministic mixed content: text-like runs, zeros, pseudo-random bytes.
    fn sample(len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        let mut x: u32 = 12345;
        for (i, b) in v.iter_mut().enumerate() {
            x = x.wrapping_mul(1103515245).wrapping_add(12345);
            *b = match (i >> 16) % 4 {
                0 => 0,
                1 => b"the quick brown fox jumps over the lazy dog "[i % 44],
                2 => (x >> 16) as u8,
                _ => {
                    if i % 7 == 0 {
                        (x >> 24) as u8
                    } else {
                        0
                    }
                }
            };
        }
        v
    }

    fn run(disk: &dyn Disk, threads: usize, chunk_size: usize) -> (Vec<u8>, Summary) {
        let mut out = Vec::new();
        let opts = Options {
            threads,
            chunk_size,
            ..Options::default()
        };
        let s = compress(disk, &mut out, &opts, &mut |_| {}).unwrap();
        (out, s)
    }

    #[test]
    fn round_trips_and_is_identical_for_any_thread_count() {
        // Not a multiple of the chunk size.
        let data = sample(5 * 65536 + 1234);
        let disk = MemoryDisk(data.clone());
        let (a, sa) = run(&disk, 1, 65536);
        let (b, _) = run(&disk, 2, 65536);
        let (c, _) = run(&disk, 5, 65536);
        assert_eq!(a, b);
        assert_eq!(a, c);
        // Workers see different chunk histories on every run: none may leak into the bytes.
        for threads in [2, 3, 4, 2, 3] {
            assert_eq!(run(&disk, threads, 65536).0, a, "{threads} threads");
        }
        assert_eq!(gunzip(&a), data);
        assert_eq!(sa.output_bytes, a.len() as u64);
        assert_eq!(sa.crc32, crc32fast::hash(&data));
        assert!(
            sa.zero_chunks >= 1,
            "the all-zero chunk was not recognised by scan"
        );
    }

    #[test]
    fn incompressible_chunks_are_stored_and_round_trip() {
        let mut data = sample(4 << 20);
        let mut x: u64 = 7;
        for b in &mut data[(1 << 20)..(2 << 20)] {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        let disk = MemoryDisk(data.clone());
        let (gz, _) = run(&disk, 2, 1 << 20);
        assert_eq!(gunzip(&gz), data);
        // The random MiB is stored: its bytes appear verbatim in the output.
        let needle = &data[(1 << 20) + 100..(1 << 20) + 200];
        assert!(
            gz.windows(100).any(|w| w == needle),
            "the random chunk was not stored"
        );
        // Compressible chunks are not.
        let mut w = Worker::new();
        assert!(!Worker::looks_incompressible(
            &mut w.probe_out,
            &data[..1 << 20]
        ));
    }

    #[test]
    fn empty_and_all_zero_disks() {
        let (a, s) = run(&MemoryDisk(Vec::new()), 2, 4096);
        assert_eq!(gunzip(&a), Vec::<u8>::new());
        assert_eq!(s.input_bytes, 0);
        let f = tempfile::NamedTempFile::new().unwrap();
        f.as_file().set_len(10 << 20).unwrap();
        let raw = RawDisk::open(f.path()).unwrap();
        let (z, s) = run(&raw, 2, 1 << 20);
        assert_eq!(s.data_chunks, 0);
        assert_eq!(s.zero_chunks, 10);
        let out = gunzip(&z);
        assert_eq!(out.len(), 10 << 20);
        assert!(is_zero(&out));
        assert!(z.len() < 20_000, "10 MiB of zeros took {} bytes", z.len());
    }

    #[test]
    fn overlay_patches_are_compressed() {
        let f = tempfile::NamedTempFile::new().unwrap();
        f.as_file().set_len(3 << 20).unwrap();
        let raw = RawDisk::open(f.path()).unwrap();
        let o = Overlay::new(
            raw,
            vec![Patch {
                offset: (1 << 20) + 5,
                data: b"hello".to_vec(),
            }],
        )
        .unwrap();
        let (gz, s) = run(&o, 2, 1 << 20);
        let out = gunzip(&gz);
        assert_eq!(&out[(1 << 20) + 5..(1 << 20) + 10], b"hello");
        assert_eq!(s.data_chunks, 1);
    }

    #[test]
    fn cancel_stops_early() {
        let disk = MemoryDisk(sample(1 << 20));
        let opts = Options {
            chunk_size: 4096,
            cancel: Some(Arc::new(AtomicBool::new(true))),
            ..Options::default()
        };
        let r = compress(&disk, Vec::new(), &opts, &mut |_| {});
        assert!(matches!(r, Err(Error::Cancelled)));
    }

    #[test]
    fn self_check_decodes_what_deflate_chunk_wrote() {
        let mut out = Vec::new();
        deflate_chunk(6, &[], &[7u8; 10000], &mut out).unwrap();
        let d = verify::decode_chunk(&out, &[]).unwrap();
        assert_eq!(
            (d.crc32, d.len, d.final_block),
            (crc32fast::hash(&[7u8; 10000]), 10000, false)
        );
        assert!(verify::decode_chunk(&[0xff, 0xff, 0xff], &[]).is_err());
    }
}
