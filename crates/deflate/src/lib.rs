//! Parallel single-member gzip of a [`Disk`].
//!
//! The guest space is cut into fixed chunks (1 MiB by default). Each chunk becomes raw
//! deflate from a fresh engine primed with the 32 KiB before the chunk (pigz's scheme),
//! ending in a sync flush (an empty stored block, so the next chunk starts byte-aligned);
//! concatenated, they form the body of **one** gzip member (RFC 1952), ended by an empty
//! final block, the CRC-32 and ISIZE. That is what pigz writes and what GNU `zcat`
//! (curtin) decodes.
//!
//! - A chunk known to be zero from the disk's extents, or found all-zero by a word-wise
//!   scan, is not compressed: its deflate bytes were computed once and are written again,
//!   and its CRC is combined arithmetically (`crc32fast::Hasher::combine`).
//! - Other chunks are compressed by `threads` workers; a writer puts them out in order.
//!   Only a bounded window of chunks is in flight, so memory is bounded whatever the disk
//!   size.
//! - A chunk's bytes depend only on its content and the 32 KiB before it, the level and
//!   the chunk size — never on the thread count. The header has mtime 0.
//!
//! One module per job: [`pipeline`] (ordered, bounded, codec-agnostic), [`chunks`] (a
//! disk as chunks: extents, zero detection, reads), [`encoder`] (the deflate chunk
//! encoder behind the [`ChunkEncoder`] trait: another codec is another encoder), `gzip`
//! (the member framing), [`stream`] (push mode: a stream of unknown length, such as a
//! tarball, through the same pipeline, encoder and framing), [`verify`] (checking gzip
//! streams).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod chunks;
pub mod encoder;
mod gzip;
pub mod pipeline;
pub mod stream;
pub mod verify;
pub mod xz;

use std::io::Write;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use ddgz_disk::Disk;

pub use chunks::{is_zero, Chunk, Progress};
pub use encoder::{ChunkEncoder, DeflateEncoder};
pub use stream::{compress_stream, StreamError, StreamWriter};
pub use xz::{XzEncoder, XZ_CHUNK_SIZE};

/// The output codec: the pipeline, the zero runs and the reading are the same.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Codec {
    /// One gzip member of deflate chunks, each primed with the 32 KiB before it (MAAS
    /// `ddgz`, `tgz`).
    #[default]
    Gzip,
    /// One xz stream, one block per chunk ([`XZ_CHUNK_SIZE`] is the size to use), zero
    /// runs as precomputed blocks, `level` is the xz preset (MAAS `ddxz`, `txz`).
    Xz,
}

impl Codec {
    /// What the reader of a stream cut short (cancelled) has: a writer's output cannot be
    /// taken back, so a cancel says it.
    pub fn cut_short(self) -> &'static str {
        match self {
            Codec::Gzip => "the gzip stream written so far is cut short (no trailer)",
            Codec::Xz => "the xz stream written so far is cut short (no index)",
        }
    }
}

/// Default chunk size: large enough that per-chunk overhead (a sync marker, a cold window)
/// costs well under 0.1 % of output, small enough to spread work over cores.
pub const DEFAULT_CHUNK_SIZE: usize = 1 << 20;

/// Largest chunk size accepted, to bound per-worker memory.
pub const MAX_CHUNK_SIZE: usize = 64 << 20;

/// How to compress.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// The output codec.
    pub codec: Codec,
    /// Deflate level, 0 (store) to 9 (best), or the xz preset for [`Codec::Xz`]. 6 is
    /// gzip's, pigz's and xz's default.
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
            codec: Codec::Gzip,
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
#[non_exhaustive]
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

/// Checks `opts` and returns the number of workers.
fn checked_threads(opts: &Options) -> Result<usize, Error> {
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
    Ok(threads(opts.threads))
}

/// The workers `threads` asks for: 0 means one per available core.
pub fn threads(threads: usize) -> usize {
    match threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

/// Compresses all of `disk` into `out` as one gzip member (or one xz stream, by
/// [`Options::codec`]). `progress` is told how far it
/// got (guest bytes, and data bytes: the work) after each batch of chunks. `out` is
/// written (and hashed, if it hashes) on a thread of its own, off the workers' path.
pub fn compress(
    disk: &dyn Disk,
    out: impl Write + Send,
    opts: &Options,
    progress: &mut dyn FnMut(Progress),
) -> Result<Summary, Error> {
    let threads = checked_threads(opts)?;
    let chunk_opts = chunks::ChunkOptions {
        chunk_size: opts.chunk_size,
        threads,
        cancel: opts.cancel.as_deref(),
    };
    if opts.codec == Codec::Xz {
        let new_encoder = || XzEncoder::new(opts.level, opts.verify);
        return xz::write_stream(out, opts.chunk_size, |push| {
            chunks::encode_disk(disk, chunk_opts, &new_encoder, push, progress)
                .map(|()| disk.size())
        });
    }
    let new_encoder = || DeflateEncoder::new(opts.level, opts.verify);
    gzip::write_member(
        out,
        opts.chunk_size,
        Some(gzip::Zeros {
            size: disk.size(),
            chunk_size: opts.chunk_size,
            encoder: &mut new_encoder(),
        }),
        |push| {
            chunks::encode_disk(disk, chunk_opts, &new_encoder, push, progress)
                .map(|()| disk.size())
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ddgz_disk::{MemoryDisk, Overlay, Patch, RawDisk};
    use std::io::Read;
    use std::sync::atomic::Ordering;

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

    /// Random bytes are stored; base64 of random bytes (6 bits per byte, which the fixed
    /// Huffman table of the level-1 probe cannot shrink) is deflated. The old probe stored
    /// it: 16 MiB of base64 came out 32 % larger than `gzip -6`.
    #[test]
    fn small_alphabets_are_deflated_not_stored() {
        use crate::encoder::DeflateEncoder;
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let random: Vec<u8> = (0..1 << 20).map(|_| next() as u8).collect();
        const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let base64: Vec<u8> = (0..1 << 20).map(|_| B64[(next() % 64) as usize]).collect();
        let mut probe = Vec::new();
        assert!(DeflateEncoder::looks_incompressible(&mut probe, &random));
        assert!(!DeflateEncoder::looks_incompressible(&mut probe, &base64));
        let (gz, _) = run(&MemoryDisk::new(base64.clone()), 2, 1 << 20);
        assert!(gz.len() < base64.len() * 80 / 100, "{} bytes", gz.len());
        assert_eq!(gunzip(&gz), base64);
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
        assert!(!DeflateEncoder::looks_incompressible(
            &mut Vec::new(),
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

    /// A sparse disk: data regions, zeros elsewhere (as extents say), counting calls.
    #[derive(Debug)]
    struct Sparse {
        size: u64,
        regions: Vec<(u64, Vec<u8>)>,
        reads: std::sync::atomic::AtomicU64,
        lookups: std::sync::atomic::AtomicU64,
    }

    impl Sparse {
        fn new(size: u64, regions: Vec<(u64, Vec<u8>)>) -> Self {
            Self {
                size,
                regions,
                reads: 0.into(),
                lookups: 0.into(),
            }
        }
        fn bytes(&self) -> Vec<u8> {
            let mut v = vec![0u8; self.size as usize];
            self.read_at(0, &mut v).unwrap();
            v
        }
    }

    impl Disk for Sparse {
        fn size(&self) -> u64 {
            self.size
        }
        fn extents(&self, offset: u64, len: u64) -> ddgz_disk::Result<Vec<ddgz_disk::Extent>> {
            use ddgz_disk::{push_merged, Extent, ExtentKind};
            self.lookups.fetch_add(1, Ordering::Relaxed);
            let (end, mut out, mut pos) = (offset + len, Vec::new(), offset);
            for (at, d) in &self.regions {
                let (s, e) = ((*at).clamp(pos, end), (at + d.len() as u64).clamp(pos, end));
                if s < e {
                    push_merged(
                        &mut out,
                        Extent {
                            offset: pos,
                            len: s - pos,
                            kind: ExtentKind::Zero,
                        },
                    );
                    push_merged(
                        &mut out,
                        Extent {
                            offset: s,
                            len: e - s,
                            kind: ExtentKind::Data,
                        },
                    );
                    pos = e;
                }
            }
            push_merged(
                &mut out,
                Extent {
                    offset: pos,
                    len: end - pos,
                    kind: ExtentKind::Zero,
                },
            );
            Ok(out.into_iter().filter(|e| e.len > 0).collect())
        }
        fn read_at(&self, offset: u64, buf: &mut [u8]) -> ddgz_disk::Result<()> {
            self.reads.fetch_add(1, Ordering::Relaxed);
            buf.fill(0);
            let end = offset + buf.len() as u64;
            for (at, d) in &self.regions {
                let (s, e) = ((*at).max(offset), (at + d.len() as u64).min(end));
                if s < e {
                    buf[(s - offset) as usize..(e - offset) as usize]
                        .copy_from_slice(&d[(s - at) as usize..(e - at) as usize]);
                }
            }
            Ok(())
        }
    }

    /// The member written chunk by chunk the simplest way: each chunk encoded on its own
    /// with the 32 KiB before it from the whole disk, zero chunks as the zero encoding.
    fn reference(data: &[u8], chunk: usize) -> Vec<u8> {
        let mut enc = DeflateEncoder::new(6, false);
        let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
        for (i, c) in data.chunks(chunk).enumerate() {
            let off = i * chunk;
            let bytes = if is_zero(c) {
                enc.encode(0, &[], c).unwrap()
            } else {
                enc.encode(0, &data[off.saturating_sub(32 << 10)..off], c)
                    .unwrap()
            };
            out.extend_from_slice(&bytes);
        }
        out.extend_from_slice(&[3, 0]);
        out.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out
    }

    #[test]
    fn output_equals_the_chunk_by_chunk_reference() {
        // Dense data, zero runs by extent, zeros by scan inside a data region, a short
        // tail; chunks smaller and larger than the history.
        let mut dense = sample(3 << 20);
        dense[(1 << 20)..(1 << 20) + (256 << 10)].fill(0);
        let disk = Sparse::new(
            (40 << 20) + 12345,
            vec![
                (0, dense),
                (9 << 20, sample(100_000)),
                (40 << 20, vec![7u8; 12345]),
            ],
        );
        let data = disk.bytes();
        for chunk in [4096, 65536, 1 << 20] {
            let want = reference(&data, chunk);
            for threads in [1, 2, 3] {
                let (got, s) = run(&disk, threads, chunk);
                assert!(got == want, "chunk {chunk}, {threads} threads differ");
                assert_eq!(
                    s.zero_chunks + s.data_chunks,
                    data.len().div_ceil(chunk) as u64
                );
            }
        }
    }

    #[test]
    fn one_read_per_dense_chunk_and_few_lookups_for_zeros() {
        // 32 MiB of dense data with one thread: the dictionary never costs a read.
        let disk = Sparse::new(32 << 20, vec![(0, sample(32 << 20))]);
        run(&disk, 1, 1 << 20);
        assert_eq!(disk.reads.load(Ordering::Relaxed), 32);
        // 1 TiB of zeros around 3 MiB of data: the zero runs are claimed whole.
        let disk = Sparse::new(1 << 40, vec![(5 << 30, sample(3 << 20))]);
        let (_, s) = run(&disk, 2, 1 << 20);
        assert_eq!(s.zero_chunks + s.data_chunks, 1 << 20);
        // A claim per chunk would take 1,048,576 lookups; runs of up to 64 GiB, looked up
        // in windows of up to 1 GiB, about 1,200.
        let lookups = disk.lookups.load(Ordering::Relaxed);
        assert!(lookups < 3000, "{lookups} extent lookups");
    }

    #[test]
    fn an_output_error_is_reported_as_it_was() {
        /// Takes `self.0` more bytes, then fails.
        struct Full(usize);
        impl std::io::Write for Full {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                if b.len() > self.0 {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::StorageFull,
                        "no space left",
                    ));
                }
                self.0 -= b.len();
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let disk = MemoryDisk(sample(8 << 20));
        for room in [0, 5, 100_000] {
            let opts = Options {
                threads: 2,
                chunk_size: 65536,
                ..Options::default()
            };
            match compress(&disk, Full(room), &opts, &mut |_| {}) {
                Err(Error::Write(e)) => {
                    assert_eq!(e.kind(), std::io::ErrorKind::StorageFull, "{e}")
                }
                other => panic!("room {room}: {other:?}"),
            }
        }
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
}
