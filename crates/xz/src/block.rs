//! One xz Block from one chunk: block header (both sizes, one LZMA2 filter), the LZMA2
//! data from a fresh encoder, padding and the CRC-64 of the chunk.

use std::io;
use std::sync::OnceLock;

use lzma_rust2::{Lzma2Options, Lzma2Writer};

use crate::crc64;

/// Filter ID of LZMA2 in an xz Filter Flags field.
const FILTER_LZMA2: u8 = 0x21;
/// Size of the CRC-64 check after each block.
pub(crate) const CHECK_SIZE: u64 = 8;
/// The LZMA2 end-of-data marker.
const LZMA2_END: u8 = 0x00;

/// What the index must say about one block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IndexRecord {
    /// Block header + compressed data + check, without the block padding.
    pub unpadded_size: u64,
    /// Bytes the block decodes to.
    pub uncompressed_size: u64,
}

/// A complete xz Block (header, LZMA2 data, padding, check) and its index record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedBlock {
    /// The block's bytes, ready to be written between others.
    pub bytes: Vec<u8>,
    /// Its record for the stream index.
    pub record: IndexRecord,
}

/// Appends `v` as an xz multibyte integer (7 bits per byte, low first).
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Dictionary size coded by LZMA2's property byte `p` (0..=40).
fn dict_of_prop(p: u8) -> u64 {
    (2 | (p as u64 & 1)) << (p / 2 + 11)
}

/// The smallest LZMA2 dictionary property covering `len` bytes (at least 4 KiB, at most
/// 40 = 4 GiB - 1), and the dictionary size it codes (capped for the encoder).
fn dict_prop(len: u64) -> (u8, u32) {
    let p = (0..40u8).find(|&p| dict_of_prop(p) >= len).unwrap_or(40);
    (p, dict_of_prop(p).min(u32::MAX as u64) as u32)
}

/// Appends to `out` the block whose LZMA2 data (end marker included) is `lzma2_parts`
/// concatenated, the second part `repeat_middle` times (the zero unit), which decodes to
/// `uncompressed` bytes with CRC-64 `check`, announcing dictionary property `dict_prop`.
pub(crate) fn frame(
    out: &mut Vec<u8>,
    lzma2_parts: &[&[u8]],
    repeat_middle: u64,
    uncompressed: u64,
    check: u64,
    dict_prop: u8,
) -> IndexRecord {
    let compressed = block_data_len(lzma2_parts, repeat_middle);
    let header = header(compressed, uncompressed, dict_prop);
    out.extend_from_slice(&header);
    for (i, part) in lzma2_parts.iter().enumerate() {
        let times = if i == 1 { repeat_middle } else { 1 };
        for _ in 0..times {
            out.extend_from_slice(part);
        }
    }
    out.resize(out.len() + pad4(compressed), 0);
    out.extend_from_slice(&check.to_le_bytes());
    IndexRecord {
        unpadded_size: header.len() as u64 + compressed + CHECK_SIZE,
        uncompressed_size: uncompressed,
    }
}

/// Bytes of LZMA2 data of parts where the second one is repeated `repeat_middle` times.
pub(crate) fn block_data_len(parts: &[&[u8]], repeat_middle: u64) -> u64 {
    parts
        .iter()
        .enumerate()
        .map(|(i, p)| p.len() as u64 * if i == 1 { repeat_middle } else { 1 })
        .sum()
}

/// Zero bytes that pad `n` to a multiple of four.
pub(crate) fn pad4(n: u64) -> usize {
    ((4 - n % 4) % 4) as usize
}

/// The block header: size byte, flags (one filter, both sizes present), the sizes, the
/// LZMA2 filter flags, zero padding to a multiple of four, CRC-32.
pub(crate) fn header(compressed: u64, uncompressed: u64, dict_prop: u8) -> Vec<u8> {
    let mut h = vec![0u8, 0xC0];
    put_varint(&mut h, compressed);
    put_varint(&mut h, uncompressed);
    h.extend_from_slice(&[FILTER_LZMA2, 1, dict_prop]);
    h.resize(h.len() + pad4(h.len() as u64 + 4), 0);
    h[0] = ((h.len() + 4) / 4 - 1) as u8;
    let crc = crc32fast::hash(&h);
    h.extend_from_slice(&crc.to_le_bytes());
    h
}

/// LZMA2 of `data` from a fresh encoder at `preset` with a dictionary of `dict` bytes,
/// given `preset_dict` as the bytes before it (then the first chunk resets the state, not
/// the dictionary), with the end marker if `end`.
fn lzma2(
    data: &[u8],
    preset: u32,
    dict: u32,
    preset_dict: Option<Vec<u8>>,
    end: bool,
) -> io::Result<Vec<u8>> {
    let mut opts = Lzma2Options::with_preset(preset);
    opts.lzma_options.dict_size =
        dict.clamp(lzma_rust2::DICT_SIZE_MIN, opts.lzma_options.dict_size);
    opts.lzma_options.preset_dict = preset_dict;
    let mut w = Lzma2Writer::new(Vec::with_capacity(data.len() / 2 + 64), opts);
    io::Write::write_all(&mut w, data)?;
    let mut out = w.finish()?;
    if !end {
        // finish() wrote exactly one end marker after the chunks.
        out.pop();
    }
    Ok(out)
}

/// Encodes chunks as blocks. One per worker: it keeps nothing between chunks but the
/// encoding of the last all-zero chunk size it saw, so equal input gives equal bytes
/// whatever ran before.
#[derive(Debug, Clone)]
pub struct BlockEncoder {
    preset: u32,
    zero: Option<EncodedBlock>,
}

/// Zero bytes per precomputed LZMA2 unit of a zero run.
pub(crate) const ZERO_UNIT: u64 = 2 << 20;

/// The precomputed LZMA2 of zero runs (see [`zero_block`]).
struct ZeroUnits {
    /// [`ZERO_UNIT`] zeros from an empty dictionary (resets it), no end marker.
    first: Vec<u8>,
    /// [`ZERO_UNIT`] zeros after zeros: resets the state only, so it may follow itself.
    next: Vec<u8>,
}

/// Zeros the `next` unit is encoded after: its matches reach no further back.
const ZERO_PRESET: usize = 4096;

fn zero_units() -> &'static io::Result<ZeroUnits> {
    static UNITS: OnceLock<io::Result<ZeroUnits>> = OnceLock::new();
    UNITS.get_or_init(|| {
        let zeros = vec![0u8; ZERO_UNIT as usize];
        Ok(ZeroUnits {
            first: lzma2(&zeros, 6, ZERO_UNIT as u32, None, false)?,
            next: lzma2(
                &zeros,
                6,
                ZERO_UNIT as u32,
                Some(vec![0u8; ZERO_PRESET]),
                false,
            )?,
        })
    })
}

fn shared(e: &io::Error) -> io::Error {
    io::Error::new(e.kind(), e.to_string())
}

/// The block of `len` zero bytes, written with the precomputed units: the first one, the
/// next one `len / ZERO_UNIT - 1` times, the remainder encoded after zeros, the end
/// marker. Costs no compression work for the whole units; its check is computed
/// arithmetically. Identical for identical `len`.
pub(crate) fn zero_block(len: u64, out: &mut Vec<u8>) -> io::Result<IndexRecord> {
    let check = crc64::zeros(len);
    if len < ZERO_UNIT {
        let data = lzma2(&vec![0u8; len as usize], 6, len as u32, None, true)?;
        return Ok(frame(out, &[&data], 1, len, check, dict_prop(len).0));
    }
    let units = zero_units().as_ref().map_err(shared)?;
    let rest = len % ZERO_UNIT;
    let tail = if rest == 0 {
        vec![LZMA2_END]
    } else {
        let mut t = lzma2(
            &vec![0u8; rest as usize],
            6,
            ZERO_UNIT as u32,
            Some(vec![0u8; ZERO_PRESET]),
            true,
        )?;
        t.shrink_to_fit();
        t
    };
    let parts: [&[u8]; 3] = [&units.first, &units.next, &tail];
    Ok(frame(
        out,
        &parts,
        len / ZERO_UNIT - 1,
        len,
        check,
        dict_prop(ZERO_UNIT).0,
    ))
}

impl BlockEncoder {
    /// An encoder at xz `preset` (0..=9, clamped; 6 is `xz -6`). The dictionary is the
    /// preset's, but never larger than the chunk.
    pub fn new(preset: u32) -> Self {
        Self {
            preset: preset.min(9),
            zero: None,
        }
    }

    /// Encodes `data` as one complete block. An all-zero chunk is not compressed: its
    /// block is the same as [`crate::XzStreamWriter::push_zero_run`] of its length would
    /// write, kept from the last time.
    pub fn encode(&mut self, data: &[u8]) -> io::Result<EncodedBlock> {
        let len = data.len() as u64;
        if is_zero(data) {
            if let Some(z) = self
                .zero
                .as_ref()
                .filter(|z| z.record.uncompressed_size == len)
            {
                return Ok(z.clone());
            }
            let mut bytes = Vec::new();
            let record = zero_block(len, &mut bytes)?;
            let z = EncodedBlock { bytes, record };
            self.zero = Some(z.clone());
            return Ok(z);
        }
        let (prop, dict) = dict_prop(len);
        let lz = lzma2(data, self.preset, dict, None, true)?;
        let mut bytes = Vec::with_capacity(lz.len() + 64);
        let record = frame(&mut bytes, &[&lz], 1, len, crc64::crc64(data), prop);
        Ok(EncodedBlock { bytes, record })
    }
}

impl EncodedBlock {
    /// The block [`BlockEncoder::encode`] made, from its bytes alone (the record is read
    /// back from its header): for a pipeline that carries encoded chunks as bytes. `None`
    /// if `bytes` is not one such block.
    pub fn from_bytes(bytes: Vec<u8>) -> Option<Self> {
        let hlen = (usize::from(*bytes.first()?) + 1) * 4;
        let mut rest = bytes.get(2..hlen)?;
        if bytes.get(1) != Some(&0xC0) {
            return None;
        }
        let compressed = take_varint(&mut rest)?;
        let uncompressed = take_varint(&mut rest)?;
        let unpadded = (hlen as u64)
            .checked_add(compressed)?
            .checked_add(CHECK_SIZE)?;
        let total = unpadded.checked_add(pad4(compressed) as u64)?;
        (total == bytes.len() as u64).then_some(Self {
            bytes,
            record: IndexRecord {
                unpadded_size: unpadded,
                uncompressed_size: uncompressed,
            },
        })
    }

    /// Decodes the block with lzma-rust2's xz reader (as a one-block stream) and compares
    /// it with `data`, its source: the self-check of a pipeline. The reader verifies the
    /// block's CRC-64, the sizes in its header and the index.
    pub fn check(&self, data: &[u8]) -> Result<(), String> {
        let mut w = crate::XzStreamWriter::new(Vec::with_capacity(self.bytes.len() + 64))
            .map_err(|e| e.to_string())?;
        w.push_block(self).map_err(|e| e.to_string())?;
        let (stream, _) = w.finish().map_err(|e| e.to_string())?;
        let mut back = Vec::with_capacity(data.len() + 1);
        io::Read::read_to_end(
            &mut lzma_rust2::XzReader::new(&stream[..], false),
            &mut back,
        )
        .map_err(|e| format!("the block does not decode: {e}"))?;
        if back.len() != data.len() {
            return Err(format!(
                "decodes to {} bytes, not {}",
                back.len(),
                data.len()
            ));
        }
        match back.iter().zip(data).position(|(a, b)| a != b) {
            Some(at) => Err(format!("decodes to other bytes from byte {at}")),
            None => Ok(()),
        }
    }
}

/// Reads an xz multibyte integer (at most 9 bytes) from the front of `buf`.
fn take_varint(buf: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for i in 0..9 {
        let (&b, rest) = buf.split_first()?;
        *buf = rest;
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Whether every byte of `buf` is zero; word-wise so that it vectorizes.
fn is_zero(buf: &[u8]) -> bool {
    let mut blocks = buf.chunks_exact(256);
    for b in &mut blocks {
        if b.iter().fold(0u8, |acc, &x| acc | x) != 0 {
            return false;
        }
    }
    blocks.remainder().iter().all(|&x| x == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The LZMA2 chunks of `data` (no end marker): (control, uncompressed size) each.
    fn chunks(mut data: &[u8]) -> Vec<(u8, u64)> {
        let mut out = Vec::new();
        while let [c, b1, b2, rest @ ..] = data {
            let (c, n) = (*c, u64::from(*b1) << 8 | u64::from(*b2));
            if c < 0x80 {
                assert!(c == 1 || c == 2, "control {c:#x}");
                out.push((c, n + 1));
                data = &rest[n as usize + 1..];
            } else {
                let usize = (u64::from(c & 0x1f) << 16 | n) + 1;
                let csize = (usize::from(rest[0]) << 8 | usize::from(rest[1])) + 1;
                let props = usize::from((c >> 5) & 3 >= 2);
                out.push((c, usize));
                data = &rest[2 + props + csize..];
            }
        }
        assert!(data.is_empty());
        out
    }

    #[test]
    fn zero_units_reset_the_dictionary_once_and_the_next_one_repeats() {
        let u = zero_units().as_ref().unwrap();
        let first = chunks(&u.first);
        let next = chunks(&u.next);
        eprintln!(
            "first {} bytes {first:x?}, next {} bytes {next:x?}",
            u.first.len(),
            u.next.len()
        );
        // The first resets the dictionary; the next never does, and starts with a state
        // reset, so it decodes the same after itself as after the first.
        assert_eq!(first[0].0 >> 5, 7);
        assert!(next[0].0 == 2 || matches!(next[0].0 >> 5, 5 | 6));
        assert!(next.iter().all(|&(c, _)| c != 1 && c >> 5 != 7));
        for units in [&first, &next] {
            assert_eq!(units.iter().map(|c| c.1).sum::<u64>(), ZERO_UNIT);
        }
    }

    #[test]
    fn dictionary_properties() {
        assert_eq!(dict_of_prop(0), 4096);
        assert_eq!(dict_of_prop(1), 6144);
        assert_eq!(dict_of_prop(16), 1 << 20);
        assert_eq!(dict_prop(0), (0, 4096));
        assert_eq!(dict_prop(1 << 20), (16, 1 << 20));
        assert_eq!(dict_prop((1 << 20) + 1), (17, 3 << 19));
        assert_eq!(dict_prop(u64::MAX).0, 40);
    }

    #[test]
    fn blocks_are_read_back_from_their_bytes_and_checked() {
        let data: Vec<u8> = (0..300_000u32)
            .map(|i| (i % 251) as u8 ^ (i >> 12) as u8)
            .collect();
        let mut enc = BlockEncoder::new(6);
        for d in [&data[..], &data[..1], &vec![0u8; 5 << 20][..]] {
            let b = enc.encode(d).unwrap();
            assert_eq!(EncodedBlock::from_bytes(b.bytes.clone()), Some(b.clone()));
            b.check(d).unwrap();
        }
        let b = enc.encode(&data).unwrap();
        assert!(b.check(&data[1..]).is_err());
        let mut other = data.clone();
        other[1000] ^= 1;
        assert!(b.check(&other).unwrap_err().contains("byte 1000"));
        assert_eq!(
            EncodedBlock::from_bytes(b.bytes[..b.bytes.len() - 1].to_vec()),
            None
        );
        assert_eq!(EncodedBlock::from_bytes(Vec::new()), None);
    }

    #[test]
    fn header_is_padded_and_sized() {
        for (c, u) in [(1u64, 0u64), (300, 1 << 20), (u64::MAX >> 1, u64::MAX >> 1)] {
            let h = header(c, u, 16);
            assert_eq!(h.len() % 4, 0);
            assert_eq!((h[0] as usize + 1) * 4, h.len());
            assert_eq!(
                crc32fast::hash(&h[..h.len() - 4]).to_le_bytes(),
                h[h.len() - 4..]
            );
        }
    }
}
