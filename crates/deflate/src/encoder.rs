//! Chunk encoders: what one chunk of guest bytes becomes. The pipeline and the disk
//! reading know nothing of the codec; another output codec is another [`ChunkEncoder`]
//! (and its own framing around the chunks).

use flate2::{Compress, Compression, FlushCompress};

use crate::{verify, Error};

/// Deflate's window: the most a dictionary can help.
pub const DEFLATE_WINDOW: usize = 32 << 10;

/// Encodes chunks; each worker has its own, reused from chunk to chunk. The bytes it
/// returns must depend only on `before` and `data` (never on which chunks this worker
/// encoded earlier), so that the output does not depend on the thread count.
pub trait ChunkEncoder: Send {
    /// How many bytes before a chunk it wants as `before` (its dictionary); 0 for none.
    fn history(&self) -> usize;

    /// Encodes `data`, the chunk at guest `offset` (for errors), given `before`: the up to
    /// [`ChunkEncoder::history`] bytes just before it (fewer at the start of the disk).
    fn encode(&mut self, offset: u64, before: &[u8], data: &[u8]) -> Result<Vec<u8>, Error>;
}

/// Raw deflate ending in a sync flush, from a fresh engine primed with the 32 KiB before
/// the chunk (pigz's scheme): chunks concatenate into one deflate stream. A chunk that
/// looks already compressed is stored instead; with `verify`, each chunk is decoded again
/// and compared with its source.
#[derive(Debug)]
pub struct DeflateEncoder {
    level: u32,
    verify: bool,
    probe_out: Vec<u8>,
    /// Where the self-check decodes a chunk: one byte larger than the largest chunk so
    /// far, so that a chunk decodes in one call and an overlong one is caught.
    check: Vec<u8>,
}

/// Order-0 entropy below which a sample is worth deflating whatever the level-1 probe
/// says: Huffman coding alone saves `8 - H` bits per byte (3 % at 7.75).
const MIN_STORED_ENTROPY: f64 = 7.75;

/// Order-0 entropy of `data`, in bits per byte.
fn bits_per_byte(data: &[u8]) -> f64 {
    let mut counts = [0u32; 256];
    for &b in data {
        counts[b as usize] += 1;
    }
    let n = data.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

/// Probe samples: this many, of this size, spread over a chunk.
const PROBE_SAMPLES: usize = 4;
const PROBE_SAMPLE_LEN: usize = 16 << 10;

impl DeflateEncoder {
    /// An encoder at `level` (0 stores, 9 is smallest), checking each chunk if `verify`.
    pub fn new(level: u32, verify: bool) -> Self {
        Self {
            level,
            verify,
            probe_out: Vec::with_capacity(2 * PROBE_SAMPLE_LEN),
            check: Vec::new(),
        }
    }

    /// Whether `buf` looks already compressed (ESXi modules, tarballs, images): every
    /// sample deflated at level 1 keeps over 98 % of its size *and* uses nearly all 8 bits
    /// per byte. Such a chunk is stored rather than deflated: deflate would spend most of
    /// its time to save nothing. The entropy test matters because zlib-rs's level 1 codes
    /// with the fixed Huffman table, which gains nothing on text of a small alphabet
    /// without repeats (base64: 6 bits per byte, which level 6 does shrink by 25 %).
    /// Decided from the content only, so the output stays deterministic.
    /// A fresh level-1 engine per sample, like [`deflate_chunk`]: nothing carries over.
    pub(crate) fn looks_incompressible(probe_out: &mut Vec<u8>, buf: &[u8]) -> bool {
        if buf.len() < PROBE_SAMPLES * PROBE_SAMPLE_LEN * 4 {
            return false;
        }
        let stride = (buf.len() - PROBE_SAMPLE_LEN) / (PROBE_SAMPLES - 1);
        // compress_vec writes only into spare capacity: twice a sample is the cut-off.
        probe_out.clear();
        probe_out.reserve(2 * PROBE_SAMPLE_LEN);
        (0..PROBE_SAMPLES).all(|k| {
            let sample = &buf[k * stride..k * stride + PROBE_SAMPLE_LEN];
            if bits_per_byte(sample) < MIN_STORED_ENTROPY {
                return false;
            }
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

impl ChunkEncoder for DeflateEncoder {
    fn history(&self) -> usize {
        DEFLATE_WINDOW
    }

    fn encode(&mut self, offset: u64, before: &[u8], data: &[u8]) -> Result<Vec<u8>, Error> {
        let stored = self.level > 0 && Self::looks_incompressible(&mut self.probe_out, data);
        // A stored chunk needs no dictionary: a dictionary only allows references back.
        let (level, dictionary) = if stored {
            (0, &[][..])
        } else {
            (self.level, before)
        };
        let mut out = Vec::new();
        deflate_chunk(level, dictionary, data, &mut out)
            .map_err(|message| Error::Deflate { offset, message })?;
        if self.verify {
            if self.check.len() <= data.len() {
                self.check.resize(data.len() + 1, 0);
            }
            let d = verify::decode_chunk_into(&out, dictionary, &mut self.check).map_err(|e| {
                Error::Verify {
                    offset,
                    detail: e.to_string(),
                }
            })?;
            let scrc = crc32fast::hash(data);
            if d.len != data.len() as u64 || d.crc32 != scrc || d.final_block {
                return Err(Error::Verify {
                    offset,
                    detail: format!(
                        "decoded {} bytes with CRC {:08x}, source has {} bytes with CRC {scrc:08x}",
                        d.len,
                        d.crc32,
                        data.len()
                    ),
                });
            }
        }
        Ok(out)
    }
}

/// Compresses `input` as raw deflate ending in a sync flush, from a fresh engine primed
/// with `dictionary` (the bytes before the chunk, as pigz does), into `out`.
pub(crate) fn deflate_chunk(
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn encoding_depends_on_the_bytes_only() {
        let before: Vec<u8> = (0..DEFLATE_WINDOW).map(|i| (i * 7 % 251) as u8).collect();
        let data: Vec<u8> = (0..100_000).map(|i| (i * 13 % 97) as u8).collect();
        let mut a = DeflateEncoder::new(6, true);
        let first = a.encode(0, &before, &data).unwrap();
        // Whatever it encoded before.
        a.encode(0, &[], &[1u8; 5000]).unwrap();
        assert_eq!(a.encode(0, &before, &data).unwrap(), first);
        assert_eq!(
            DeflateEncoder::new(6, false)
                .encode(0, &before, &data)
                .unwrap(),
            first
        );
    }
}
