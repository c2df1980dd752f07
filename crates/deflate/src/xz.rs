//! The xz framing of the chunks: one xz stream (`ddgz-xz`) of one block per chunk, every
//! run of zero chunks written as [`XzStreamWriter::push_zero_run`] blocks (precomputed
//! LZMA2, no compression work), the index and footer at the end. What `xz -T` writes in
//! shape, what curtin's `xzcat` (MAAS `ddxz`, `tar -xJ` for `txz`) decodes.
//!
//! xz needs no dictionary from the chunk before ([`XzEncoder::history`] is 0): each block
//! starts from an empty one. Consecutive zero items are joined before they are written,
//! so the zero blocks depend only on the length of the zero run, never on how the workers
//! claimed it: equal input gives equal bytes whatever the thread count.

use std::collections::HashMap;
use std::io::{self, Write};
use std::sync::mpsc::sync_channel;

use crc32fast::Hasher;
use ddgz_xz::{BlockEncoder, EncodedBlock, XzStreamWriter};

use crate::chunks::Chunk;
use crate::encoder::ChunkEncoder;
use crate::{Error, Summary};

/// Chunk (and block) size for xz output: an LZMA2 block starts with an empty dictionary,
/// so small blocks cost size (measured on an OS disk's binaries: 1 MiB blocks ~5 % larger
/// than `xz -6`, 4 MiB ~2 %); 4 MiB still gives two workers hundreds of blocks per GiB,
/// and preset 6's encoder with a 4 MiB dictionary takes ~50 MiB per worker.
pub const XZ_CHUNK_SIZE: usize = 4 << 20;

/// Encodes a chunk as one complete xz block at an xz preset (0..=9); with `verify`, the
/// block is decoded again (lzma-rust2's reader) and compared with its source.
#[derive(Debug)]
pub struct XzEncoder {
    block: BlockEncoder,
    verify: bool,
}

impl XzEncoder {
    /// An encoder at xz `preset` (6 is `xz -6`), checking each block if `verify`.
    pub fn new(preset: u32, verify: bool) -> Self {
        Self {
            block: BlockEncoder::new(preset),
            verify,
        }
    }
}

impl ChunkEncoder for XzEncoder {
    fn history(&self) -> usize {
        0
    }

    fn encode(&mut self, offset: u64, _before: &[u8], data: &[u8]) -> Result<Vec<u8>, Error> {
        let b = self.block.encode(data).map_err(|e| Error::Deflate {
            offset,
            message: format!("xz: {e}"),
        })?;
        if self.verify {
            b.check(data)
                .map_err(|detail| Error::Verify { offset, detail })?;
        }
        Ok(b.bytes)
    }
}

/// What the output thread is given to write, in order.
enum Out {
    /// A block made by [`XzEncoder`].
    Block(Vec<u8>),
    /// A run of zero bytes.
    Zeros(u64),
}

/// Writes one xz stream into `out`: every chunk `body` pushes, in order (its blocks from
/// [`XzEncoder`], zero runs joined), then the index and footer (`body` returns the number
/// of source bytes). The bytes are written on a thread of their own, as gzip's are.
/// [`Summary::crc32`] is the CRC-32 of the source all the same (combined, not computed).
pub(crate) fn write_stream<W: Write + Send>(
    out: W,
    chunk_size: usize,
    body: impl FnOnce(&mut dyn FnMut(Chunk) -> Result<(), Error>) -> Result<u64, Error>,
) -> Result<Summary, Error> {
    std::thread::scope(|s| {
        let (tx, rx) = sync_channel::<Out>(((32 << 20) / chunk_size.max(1)).clamp(2, 64));
        let output = std::thread::Builder::new()
            .name("ddgz-output".into())
            .spawn_scoped(s, move || -> io::Result<u64> {
                let mut w = XzStreamWriter::new(out)?;
                for m in rx {
                    match m {
                        Out::Block(bytes) => {
                            let b = EncodedBlock::from_bytes(bytes).ok_or_else(|| {
                                io::Error::other("an encoded chunk is not one xz block")
                            })?;
                            w.push_block(&b)?
                        }
                        Out::Zeros(n) => w.push_zero_run(n)?,
                    }
                }
                let (_, s) = w.finish()?;
                Ok(s.bytes)
            })
            .map_err(Error::Write)?;
        let gone = || Error::Write(io::Error::other("the output thread stopped"));
        let mut summary = Summary::default();
        let mut crc = Hasher::new();
        let mut zero_crcs: HashMap<usize, Hasher> = HashMap::new();
        let mut zeros = 0u64;
        let r = body(&mut |c| {
            match c {
                Chunk::Zero { len, count } => {
                    summary.zero_chunks += count;
                    zeros += len as u64 * count;
                    let one = zero_crcs.entry(len).or_insert_with(|| {
                        let mut h = Hasher::new();
                        h.update(&vec![0u8; len]);
                        h
                    });
                    crc.combine(&repeat_crc(one, count));
                }
                Chunk::Data(bytes, h) => {
                    if zeros > 0 {
                        tx.send(Out::Zeros(std::mem::take(&mut zeros)))
                            .map_err(|_| gone())?;
                    }
                    summary.data_chunks += 1;
                    crc.combine(&h);
                    tx.send(Out::Block(bytes)).map_err(|_| gone())?;
                }
            }
            Ok(())
        })
        .and_then(|n| {
            if zeros > 0 {
                tx.send(Out::Zeros(zeros)).map_err(|_| gone())?;
            }
            summary.input_bytes = n;
            Ok(())
        });
        drop(tx);
        let written = output
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the output thread panicked")));
        // A write error is the cause of whatever the body met after it.
        summary.output_bytes = written.map_err(Error::Write)?;
        summary.crc32 = crc.finalize();
        r.map(|()| summary)
    })
}

/// The CRC state of `count` copies of the zero bytes `one` hashed: O(log count) combines.
fn repeat_crc(one: &Hasher, count: u64) -> Hasher {
    let mut acc = Hasher::new();
    let mut pow = one.clone();
    let mut n = count;
    while n > 0 {
        if n & 1 == 1 {
            // Zeros commute: the order of the pieces does not matter.
            acc.combine(&pow);
        }
        n >>= 1;
        if n > 0 {
            let p = pow.clone();
            pow.combine(&p);
        }
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{compress, compress_stream, Codec, Options};
    use ddgz_disk::{MemoryDisk, Overlay, Patch, RawDisk};
    use std::process::{Command, Stdio};

    /// `xz -dc` of `xz` (the real tool), after `xz -t`.
    fn xzcat(xz: &[u8]) -> Vec<u8> {
        let run = |arg: &str| {
            let mut c = Command::new("xz")
                .args([arg, "-c"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("xz (xz-utils) is installed");
            let mut stdin = c.stdin.take().unwrap();
            let data = xz.to_vec();
            let feeder = std::thread::spawn(move || stdin.write_all(&data));
            let out = c.wait_with_output().unwrap();
            feeder.join().unwrap().unwrap();
            assert!(out.status.success(), "xz {arg} failed");
            out.stdout
        };
        run("-t");
        run("-dc")
    }

    fn opts(threads: usize, chunk_size: usize) -> Options {
        Options {
            codec: Codec::Xz,
            threads,
            chunk_size,
            ..Options::default()
        }
    }

    /// Data, zeros by extents (a sparse file) and zeros by scan, not chunk-aligned: `xz`
    /// decodes it to the disk, and the bytes do not depend on the thread count.
    #[test]
    fn a_disk_as_xz_round_trips_and_is_identical_for_any_thread_count() {
        let f = tempfile::NamedTempFile::new().unwrap();
        let size = (40 << 20) + 4321;
        f.as_file().set_len(size).unwrap();
        let raw = RawDisk::open(f.path()).unwrap();
        let text: Vec<u8> = (0..3 << 20)
            .map(|i: u32| b"an os image, mostly binaries "[(i % 29) as usize] ^ (i >> 17) as u8)
            .collect();
        let disk = Overlay::new(
            raw,
            vec![
                Patch {
                    offset: 1000,
                    data: text.clone(),
                },
                Patch {
                    offset: 30 << 20,
                    data: text[..100_000].to_vec(),
                },
                Patch {
                    offset: size - 10,
                    data: vec![7; 10],
                },
            ],
        )
        .unwrap();
        let mut want = vec![0u8; size as usize];
        want[1000..1000 + text.len()].copy_from_slice(&text);
        want[30 << 20..(30 << 20) + 100_000].copy_from_slice(&text[..100_000]);
        want[size as usize - 10..].fill(7);
        let mut first: Option<Vec<u8>> = None;
        for threads in [1, 2, 3] {
            let mut out = Vec::new();
            let s = compress(&disk, &mut out, &opts(threads, 1 << 20), &mut |_| {}).unwrap();
            assert_eq!(s.output_bytes, out.len() as u64);
            assert_eq!(s.input_bytes, size);
            assert_eq!(s.crc32, crc32fast::hash(&want));
            assert!(s.zero_chunks >= 30, "{s:?}");
            match &first {
                None => {
                    assert!(xzcat(&out) == want, "xz -dc differs from the disk");
                    first = Some(out);
                }
                Some(f) => assert!(*f == out, "{threads} threads changed the bytes"),
            }
        }
        // A disk of zeros only, and an empty one.
        let mut out = Vec::new();
        compress(
            &MemoryDisk(vec![0; 5 << 20]),
            &mut out,
            &opts(2, 1 << 20),
            &mut |_| {},
        )
        .unwrap();
        assert!(xzcat(&out) == vec![0; 5 << 20]);
        assert!(out.len() < 4096, "{} bytes for 5 MiB of zeros", out.len());
        let mut out = Vec::new();
        compress(
            &MemoryDisk(Vec::new()),
            &mut out,
            &opts(2, 1 << 20),
            &mut |_| {},
        )
        .unwrap();
        assert!(xzcat(&out).is_empty());
    }

    #[test]
    fn a_stream_as_xz_round_trips_whatever_the_threads() {
        let data: Vec<u8> = (0..(5 << 20) + 77)
            .map(|i: u32| {
                if (i >> 20) % 2 == 0 {
                    (i % 253) as u8
                } else {
                    0
                }
            })
            .collect();
        let mut first: Option<Vec<u8>> = None;
        for threads in [1, 2] {
            let mut out = Vec::new();
            let ((), s) = compress_stream(&mut out, &opts(threads, 1 << 20), &mut |_| {}, |w| {
                data.chunks(100_000).try_for_each(|p| w.write_all(p))
            })
            .unwrap();
            assert_eq!(s.input_bytes, data.len() as u64);
            assert_eq!(s.output_bytes, out.len() as u64);
            match &first {
                None => {
                    assert!(xzcat(&out) == data);
                    first = Some(out);
                }
                Some(f) => assert!(*f == out),
            }
        }
    }
}
