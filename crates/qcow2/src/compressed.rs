//! Compressed clusters (qcow2 spec, "Compressed Clusters Descriptor", header field
//! `compression_type`).
//!
//! A compressed cluster is a stream starting at an arbitrary host byte offset, at most
//! `(sectors + 1) * 512 - (offset % 512)` bytes long (the bound can include the start of
//! the next compressed cluster). Decompression stops once exactly one cluster has been
//! produced; trailing input is ignored, as QEMU does.
//!
//! - zlib: raw deflate (RFC 1951, no zlib header), decoded with `flate2`.
//! - zstd: one or more Zstandard frames, decoded with the pure-Rust `ruzstd`.

use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};

use crate::header::Compression;
use ddgz_disk::Problem;

/// Largest zstd window accepted: 32 MiB. QEMU compresses one cluster (at most 2 MiB) per
/// frame, so its frames never need more; the limit bounds the decoder's allocation.
const ZSTD_MAX_WINDOW: u64 = 32 << 20;

/// Decompresses `input` until `out` is full.
pub(crate) fn decompress(kind: Compression, input: &[u8], out: &mut [u8]) -> Result<(), Problem> {
    let produced = match kind {
        Compression::Zlib => inflate(input, out)?,
        Compression::Zstd => unzstd(input, out)?,
    };
    if produced != out.len() {
        return Err(Problem::corrupt(format!(
            "{kind:?} data of at most {} bytes decompressed to {produced} bytes, short of \
             the cluster size {}",
            input.len(),
            out.len()
        )));
    }
    Ok(())
}

fn inflate(input: &[u8], out: &mut [u8]) -> Result<usize, Problem> {
    use flate2::{Decompress, FlushDecompress, Status};
    let mut d = Decompress::new(false);
    loop {
        let (i, o) = (d.total_in() as usize, d.total_out() as usize);
        if o == out.len() {
            return Ok(o);
        }
        let status = d
            .decompress(&input[i..], &mut out[o..], FlushDecompress::Finish)
            .map_err(|e| Problem::corrupt(format!("invalid deflate data after {i} bytes: {e}")))?;
        let progressed = d.total_in() as usize != i || d.total_out() as usize != o;
        if status == Status::StreamEnd || !progressed {
            return Ok(d.total_out() as usize);
        }
    }
}

thread_local! {
    /// One zstd decoder per thread, reused: creating one allocates its tables and
    /// buffers, which costs as much as decoding a small cluster.
    static ZSTD: std::cell::RefCell<Option<FrameDecoder>> = const { std::cell::RefCell::new(None) };
}

fn unzstd(input: &[u8], out: &mut [u8]) -> Result<usize, Problem> {
    ZSTD.with(|cell| {
        // A re-entrant call (impossible today) would get a fresh decoder.
        match cell.try_borrow_mut() {
            Ok(mut slot) => {
                let dec = slot.get_or_insert_with(|| {
                    let mut d = FrameDecoder::new();
                    d.set_max_window_size(ZSTD_MAX_WINDOW);
                    d
                });
                unzstd_with(dec, input, out)
            }
            Err(_) => {
                let mut d = FrameDecoder::new();
                d.set_max_window_size(ZSTD_MAX_WINDOW);
                unzstd_with(&mut d, input, out)
            }
        }
    })
}

fn unzstd_with(dec: &mut FrameDecoder, input: &[u8], out: &mut [u8]) -> Result<usize, Problem> {
    let bad = |what: &str, e: &dyn std::fmt::Display| {
        Problem::corrupt(format!("invalid zstd data ({what}): {e}"))
    };
    let mut src: &[u8] = input;
    let mut filled = 0usize;
    // Each frame consumes at least its header, so the outer loop ends.
    while filled < out.len() && !src.is_empty() {
        let before = src.len();
        match dec.reset(&mut src) {
            Ok(()) => {}
            Err(ruzstd::decoding::errors::FrameDecoderError::ReadFrameHeaderError(
                ruzstd::decoding::errors::ReadFrameHeaderError::SkipFrame { length, .. },
            )) => {
                src = src.get(length as usize..).ok_or_else(|| {
                    Problem::corrupt("zstd skippable frame runs past the compressed data")
                })?;
                continue;
            }
            Err(e) => {
                if filled == 0 {
                    return Err(bad("frame header", &e));
                }
                // Trailing bytes after a frame that are not another frame.
                break;
            }
        }
        if src.len() == before {
            break;
        }
        loop {
            let want = out.len() - filled;
            dec.decode_blocks(&mut src, BlockDecodingStrategy::UptoBytes(want))
                .map_err(|e| bad("block", &e))?;
            let n = std::io::Read::read(dec, &mut out[filled..]).map_err(|e| bad("drain", &e))?;
            filled += n;
            if filled == out.len() || (dec.is_finished() && dec.can_collect() == 0) {
                break;
            }
            if n == 0 && src.is_empty() {
                break;
            }
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn deflate(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn inflates_exactly_one_cluster_ignoring_trailing_bytes() {
        let data: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut c = deflate(&data);
        c.extend([0xaa; 300]);
        let mut out = vec![0u8; 4096];
        decompress(Compression::Zlib, &c, &mut out).unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn refuses_short_or_garbage_streams() {
        let data = vec![5u8; 1000];
        let c = deflate(&data);
        let mut out = vec![0u8; 4096];
        let m = decompress(Compression::Zlib, &c, &mut out)
            .unwrap_err()
            .message;
        assert!(
            m.contains("decompressed to 1000 bytes, short of the cluster size 4096"),
            "{m}"
        );
        let m = decompress(Compression::Zlib, &c[..c.len() / 2], &mut out)
            .unwrap_err()
            .message;
        assert!(m.contains("short of the cluster size"), "{m}");
        let m = decompress(Compression::Zlib, &[0xff; 64], &mut out)
            .unwrap_err()
            .message;
        assert!(m.contains("invalid deflate data"), "{m}");
        let m = decompress(Compression::Zstd, &[0xff; 64], &mut out)
            .unwrap_err()
            .message;
        assert!(m.contains("invalid zstd data"), "{m}");
        let m = decompress(Compression::Zstd, &[], &mut out)
            .unwrap_err()
            .message;
        assert!(m.contains("decompressed to 0 bytes"), "{m}");
    }

    #[test]
    fn unzstd_roundtrip() {
        let data: Vec<u8> = (0..65536u32).map(|i| (i / 3 % 17) as u8).collect();
        let mut c = ruzstd::encoding::compress_to_vec(
            &data[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        c.extend([0u8; 100]);
        let mut out = vec![0u8; 65536];
        decompress(Compression::Zstd, &c, &mut out).unwrap();
        assert_eq!(out, data);
    }
}
