//! Verification of gzip streams: is a `.dd.gz` whole and sound, and does it equal its
//! source?
//!
//! curtin writes whatever `zcat` produces and its pipeline has no `pipefail`
//! (`domain/MAAS.md`): a truncated or corrupt stream is written to the target disk without
//! an error. This module is the check that stands in for it. It reads the stream once,
//! sequentially, in bounded memory (a 256 KiB input buffer, a 256 KiB output buffer, the
//! decoder's 32 KiB window), and checks, per RFC 1952 / RFC 1951:
//!
//! - each member's header: magic `1f 8b`, CM = 8 (deflate), no reserved FLG bits (5-7),
//!   FEXTRA (`XLEN` bytes), FNAME and FCOMMENT (NUL-terminated) skipped, FHCRC (the low
//!   16 bits of the CRC32 of the header bytes before it) checked;
//! - every deflate block of the member (decoded with zlib-rs through `flate2`);
//! - the trailer: CRC32 of the member's decoded bytes and ISIZE (their count mod 2^32);
//! - that nothing but further valid members follows (GNU `zcat` decodes concatenated
//!   members; anything else after the last member, zeros included, is an error here).
//!
//! The decoded bytes go to [`Sink`]s: [`Against`] compares them with a source [`Disk`]
//! extent by extent (zero extents by scanning the decoded bytes, never reading the source
//! there); [`Capture`] keeps the few ranges a layout validator needs, so that the
//! decompressed disk can be validated without holding it (see [`Capture`]).
//!
//! [`decode_chunk`] is the compressor's self-check: it decodes one raw-deflate chunk and
//! returns the CRC32 and length of what it decodes to.

use std::io::{self, Read};

pub use ddgz_disk::{first_nonzero, Capture, CaptureView, CAPTURE_HEAD, CAPTURE_TAIL};
use ddgz_disk::{Disk, Extent, ExtentKind};
use flate2::{Decompress, FlushDecompress, Status};

/// gzip member magic, ID1 ID2 (RFC 1952, 2.3.1).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// CM = 8: deflate, the only compression method RFC 1952 defines.
const CM_DEFLATE: u8 = 8;
/// FLG bit 1: a CRC16 of the header follows it (RFC 1952, 2.3.1).
const FHCRC: u8 = 1 << 1;
/// FLG bit 2: an extra field (`XLEN` u16 LE, then `XLEN` bytes) follows.
const FEXTRA: u8 = 1 << 2;
/// FLG bit 3: a NUL-terminated original file name follows.
const FNAME: u8 = 1 << 3;
/// FLG bit 4: a NUL-terminated comment follows.
const FCOMMENT: u8 = 1 << 4;
/// FLG bits 5-7 are reserved and must be zero (RFC 1952, 2.3.1.2).
const FLG_RESERVED: u8 = 0xe0;
/// Bytes read from the compressed input at a time.
const IN_BUF: usize = 256 * 1024;
/// Bytes decoded at a time (and handed to the sinks at most at once).
const OUT_BUF: usize = 256 * 1024;
/// Extents of the source asked for at a time by [`Against`], to bound the list.
const EXTENT_WINDOW: u64 = ddgz_disk::EXTENT_WINDOW;

/// Result with this module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a stream did not verify. [`Error::is_finding`] tells a finding about the stream (or
/// its difference from the source) from a failure to read a file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The compressed input could not be read.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The stream is not a sound gzip stream.
    #[error("{reason} (member {member}, compressed offset {compressed}, uncompressed offset {uncompressed})")]
    Corrupt {
        /// Offset in the compressed input at which the problem was detected.
        compressed: u64,
        /// Offset in the decoded output (all members) at which the problem was detected.
        uncompressed: u64,
        /// 1-based number of the gzip member concerned.
        member: u64,
        /// What is wrong.
        reason: String,
    },
    /// The decoded stream differs from the source.
    #[error("the decompressed disk differs from the source at byte {offset} (0x{offset:x}; compressed offset {compressed}): {detail}")]
    Differs {
        /// First differing byte of the disk.
        offset: u64,
        /// Offset in the compressed input reached when the difference was found.
        compressed: u64,
        /// How it differs.
        detail: String,
    },
    /// The source disk could not be read.
    #[error("reading the source: {0}")]
    Source(#[from] ddgz_disk::Error),
}

impl Error {
    /// True for a finding about the stream (corrupt, truncated, differs from the source),
    /// false when a file could not be read.
    pub fn is_finding(&self) -> bool {
        matches!(self, Error::Corrupt { .. } | Error::Differs { .. })
    }
}

/// What a sound stream holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Number of gzip members (1 for ddgz and pigz output).
    pub members: u64,
    /// Bytes of compressed input.
    pub compressed: u64,
    /// Bytes decoded, over all members: the size of the disk.
    pub uncompressed: u64,
    /// CRC32 of all decoded bytes.
    pub crc32: u32,
}

/// Receives the decoded bytes, in order.
pub trait Sink {
    /// `data` are the decoded bytes at `offset` of the disk. `compressed` is the offset
    /// reached in the compressed input, for error messages.
    fn write(&mut self, offset: u64, data: &[u8], compressed: u64) -> Result<()>;
    /// The stream ended soundly after `total` decoded bytes.
    fn finish(&mut self, _total: u64, _compressed: u64) -> Result<()> {
        Ok(())
    }
}

/// The compressed input: a buffer over a reader that knows its offset in the file.
struct Input<R> {
    reader: R,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    /// Offset in the file of `buf[0]`.
    base: u64,
    eof: bool,
}

impl<R: Read> Input<R> {
    fn new(reader: R) -> Self {
        Self {
            reader,
            buf: vec![0; IN_BUF],
            pos: 0,
            end: 0,
            base: 0,
            eof: false,
        }
    }

    /// Offset in the file of the next unconsumed byte.
    fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    fn available(&self) -> &[u8] {
        &self.buf[self.pos..self.end]
    }

    fn consume(&mut self, n: usize) {
        self.pos += n;
        debug_assert!(self.pos <= self.end);
    }

    /// Reads more input when none is left. Returns false at the end of the file.
    fn fill(&mut self) -> Result<bool> {
        if self.pos < self.end {
            return Ok(true);
        }
        if self.eof {
            return Ok(false);
        }
        self.base += self.end as u64;
        self.pos = 0;
        self.end = 0;
        loop {
            match self.reader.read(&mut self.buf) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.end = n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(Error::Io {
                        what: format!("read at offset {}", self.base),
                        source,
                    })
                }
            }
        }
    }

    /// The next byte, or `None` at the end of the file.
    fn byte(&mut self) -> Result<Option<u8>> {
        if !self.fill()? {
            return Ok(None);
        }
        let b = self.buf[self.pos];
        self.pos += 1;
        Ok(Some(b))
    }
}

/// Position in the stream, for error messages.
#[derive(Debug, Clone, Copy)]
struct At {
    member: u64,
    uncompressed: u64,
}

impl At {
    fn corrupt(&self, compressed: u64, reason: impl Into<String>) -> Error {
        Error::Corrupt {
            compressed,
            uncompressed: self.uncompressed,
            member: self.member,
            reason: reason.into(),
        }
    }
}

/// Reads one member header (RFC 1952, 2.3) whose magic has been checked to be there.
fn read_header<R: Read>(input: &mut Input<R>, at: At) -> Result<()> {
    let start = input.offset();
    let mut crc = crc32fast::Hasher::new();
    let byte = |input: &mut Input<R>, crc: &mut crc32fast::Hasher, what: &str| {
        match input
        .byte()?
    {
        Some(b) => {
            crc.update(&[b]);
            Ok(b)
        }
        None => Err(at.corrupt(
            input.offset(),
            format!("the file ends inside the gzip header of the member at offset {start} (in its {what}): truncated"),
        )),
    }
    };
    let mut fixed = [0u8; 10];
    for (i, b) in fixed.iter_mut().enumerate() {
        let what = match i {
            0 | 1 => "magic",
            2 => "compression method",
            3 => "flags",
            4..=7 => "mtime",
            _ => "XFL/OS",
        };
        *b = byte(input, &mut crc, what)?;
    }
    if fixed[..2] != GZIP_MAGIC {
        return Err(at.corrupt(
            start,
            format!(
                "not a gzip member: magic {:02x} {:02x}, expected 1f 8b",
                fixed[0], fixed[1]
            ),
        ));
    }
    if fixed[2] != CM_DEFLATE {
        return Err(at.corrupt(
            start + 2,
            format!(
                "unknown compression method {} in the gzip header (only 8, deflate, exists)",
                fixed[2]
            ),
        ));
    }
    let flags = fixed[3];
    if flags & FLG_RESERVED != 0 {
        return Err(at.corrupt(
            start + 3,
            format!(
                "reserved flag bits set in the gzip header: FLG = 0x{flags:02x} (bits 5-7 must be zero)"
            ),
        ));
    }
    if flags & FEXTRA != 0 {
        let lo = byte(input, &mut crc, "FEXTRA length")?;
        let hi = byte(input, &mut crc, "FEXTRA length")?;
        let xlen = u16::from_le_bytes([lo, hi]);
        for _ in 0..xlen {
            byte(input, &mut crc, "FEXTRA field")?;
        }
    }
    if flags & FNAME != 0 {
        while byte(input, &mut crc, "file name")? != 0 {}
    }
    if flags & FCOMMENT != 0 {
        while byte(input, &mut crc, "comment")? != 0 {}
    }
    if flags & FHCRC != 0 {
        let want = (crc.clone().finalize() & 0xffff) as u16;
        let pos = input.offset();
        let lo = byte(input, &mut crc, "header CRC16")?;
        let hi = byte(input, &mut crc, "header CRC16")?;
        let got = u16::from_le_bytes([lo, hi]);
        if got != want {
            return Err(at.corrupt(
                pos,
                format!("gzip header CRC16 mismatch: stored 0x{got:04x}, computed 0x{want:04x}"),
            ));
        }
    }
    Ok(())
}

/// Decodes a whole gzip stream from `reader`, checking everything the module docs list,
/// and hands the decoded bytes to `sinks` in order. `progress` is called with the
/// compressed offset reached, now and then.
pub fn check_stream<R: Read>(
    reader: R,
    sinks: &mut [&mut dyn Sink],
    progress: &mut dyn FnMut(u64),
) -> Result<Summary> {
    let mut input = Input::new(reader);
    let mut out = vec![0u8; OUT_BUF];
    let mut inflate = Decompress::new(false);
    let mut total_crc = crc32fast::Hasher::new();
    let mut at = At {
        member: 0,
        uncompressed: 0,
    };
    loop {
        // A member starts here, or the stream ends.
        if !input.fill()? {
            if at.member == 0 {
                return Err(at.corrupt(0, "the file is empty: not a gzip stream"));
            }
            break;
        }
        let member_start = input.offset();
        if at.member > 0 {
            // Only a further member may follow: look at what is there without consuming.
            let avail = input.available();
            let looks_like_member =
                avail[0] == GZIP_MAGIC[0] && (avail.len() < 2 || avail[1] == GZIP_MAGIC[1]);
            if !looks_like_member {
                let (len, zeros) = count_rest(&mut input)?;
                let what = if zeros {
                    format!("{len} zero bytes")
                } else {
                    format!("{len} bytes of garbage")
                };
                return Err(at.corrupt(
                    member_start,
                    format!(
                        "{what} follow the last gzip member ({} member(s) end at offset {member_start})",
                        at.member
                    ),
                ));
            }
        }
        at.member += 1;
        read_header(&mut input, at)?;
        // The member's deflate stream.
        inflate.reset(false);
        let mut crc = crc32fast::Hasher::new();
        let mut len: u64 = 0;
        loop {
            if !input.fill()? {
                return Err(at.corrupt(
                    input.offset(),
                    "the file ends inside a deflate block: the stream is truncated",
                ));
            }
            let before_in = inflate.total_in();
            let before_out = inflate.total_out();
            let status = inflate
                .decompress(input.available(), &mut out, FlushDecompress::None)
                .map_err(|e| {
                    let why = e.message().unwrap_or("invalid deflate data");
                    at.corrupt(
                        input.offset() + (inflate.total_in() - before_in),
                        format!("corrupt deflate data: {why}"),
                    )
                })?;
            let used = (inflate.total_in() - before_in) as usize;
            let made = (inflate.total_out() - before_out) as usize;
            input.consume(used);
            if made > 0 {
                let data = &out[..made];
                crc.update(data);
                total_crc.update(data);
                for s in sinks.iter_mut() {
                    s.write(at.uncompressed, data, input.offset())?;
                }
                len += made as u64;
                at.uncompressed += made as u64;
            }
            progress(input.offset());
            match status {
                Status::StreamEnd => break,
                Status::Ok | Status::BufError => {
                    if used == 0 && made == 0 {
                        // The decoder makes progress whenever it has input and output
                        // room; never spin if it does not.
                        return Err(
                            at.corrupt(input.offset(), "the deflate decoder made no progress")
                        );
                    }
                }
            }
        }
        // Trailer: CRC32 and ISIZE, little-endian (RFC 1952, 2.3.1).
        let trailer_at = input.offset();
        let mut trailer = [0u8; 8];
        for b in trailer.iter_mut() {
            *b = input.byte()?.ok_or_else(|| {
                at.corrupt(
                    input.offset(),
                    format!(
                        "the file ends inside the gzip trailer at offset {trailer_at}: truncated"
                    ),
                )
            })?;
        }
        let stored_crc = u32::from_le_bytes(trailer[..4].try_into().expect("4 bytes"));
        let stored_size = u32::from_le_bytes(trailer[4..].try_into().expect("4 bytes"));
        let crc = crc.finalize();
        if stored_crc != crc {
            return Err(at.corrupt(
                trailer_at,
                format!("CRC32 mismatch: the trailer says 0x{stored_crc:08x}, the data decode to 0x{crc:08x}"),
            ));
        }
        if u64::from(stored_size) != len & 0xffff_ffff {
            return Err(at.corrupt(
                trailer_at + 4,
                format!(
                    "ISIZE mismatch: the trailer says {stored_size}, the member decodes to {len} bytes ({} mod 2^32)",
                    len & 0xffff_ffff
                ),
            ));
        }
    }
    let compressed = input.offset();
    for s in sinks.iter_mut() {
        s.finish(at.uncompressed, compressed)?;
    }
    Ok(Summary {
        members: at.member,
        compressed,
        uncompressed: at.uncompressed,
        crc32: total_crc.finalize(),
    })
}

/// Consumes the rest of the input; returns its length and whether it is all zeros.
fn count_rest<R: Read>(input: &mut Input<R>) -> Result<(u64, bool)> {
    let mut len = 0u64;
    let mut zeros = true;
    while input.fill()? {
        let avail = input.available();
        zeros &= first_nonzero(avail).is_none();
        len += avail.len() as u64;
        let n = avail.len();
        input.consume(n);
    }
    Ok((len, zeros))
}

/// What one raw-deflate chunk decodes to (see [`decode_chunk`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    /// CRC32 of the decoded bytes.
    pub crc32: u32,
    /// Number of decoded bytes.
    pub len: u64,
    /// The chunk ends with the final block (BFINAL) of the deflate stream.
    pub final_block: bool,
}

/// Decodes one raw-deflate chunk, as the parallel compressor writes it (a run of blocks
/// ending in a sync flush, or in the final block), primed with `dictionary` (the up to
/// 32 KiB of data before the chunk, empty for none), and returns the CRC32 and length of
/// what it decodes to. The compressor compares them with the source chunk's.
///
/// Fails if the data are not valid deflate, or if bytes follow the final block. A chunk
/// cut short inside a block decodes to fewer bytes than its source: the caller's length
/// comparison catches it.
pub fn decode_chunk(deflate: &[u8], dictionary: &[u8]) -> Result<Decoded> {
    let at = At {
        member: 1,
        uncompressed: 0,
    };
    let mut inflate = Decompress::new(false);
    if !dictionary.is_empty() {
        inflate
            .set_dictionary(dictionary)
            .map_err(|e| at.corrupt(0, format!("cannot prime the decoder: {e}")))?;
    }
    let mut out = vec![0u8; 64 * 1024];
    let mut crc = crc32fast::Hasher::new();
    let mut final_block = false;
    loop {
        let pos = inflate.total_in() as usize;
        let before_out = inflate.total_out();
        let status = inflate
            .decompress(&deflate[pos..], &mut out, FlushDecompress::Sync)
            .map_err(|e| {
                At {
                    member: 1,
                    uncompressed: inflate.total_out(),
                }
                .corrupt(
                    inflate.total_in(),
                    format!(
                        "corrupt deflate data in the chunk: {}",
                        e.message().unwrap_or("invalid deflate data")
                    ),
                )
            })?;
        let made = (inflate.total_out() - before_out) as usize;
        crc.update(&out[..made]);
        let used = inflate.total_in() as usize - pos;
        if status == Status::StreamEnd {
            final_block = true;
            break;
        }
        if used == 0 && made == 0 {
            break;
        }
    }
    let rest = deflate.len() as u64 - inflate.total_in();
    if final_block && rest > 0 {
        return Err(At {
            member: 1,
            uncompressed: inflate.total_out(),
        }
        .corrupt(
            inflate.total_in(),
            format!("{rest} bytes follow the final deflate block of the chunk"),
        ));
    }
    Ok(Decoded {
        crc32: crc.finalize(),
        len: inflate.total_out(),
        final_block,
    })
}

/// Compares the decoded stream with a source disk, byte for byte. Zero extents of the
/// source are compared by scanning the decoded bytes, without reading the source.
#[derive(Debug)]
pub struct Against<'a> {
    disk: &'a dyn Disk,
    /// Extents of the source not yet compared, in order.
    extents: std::collections::VecDeque<Extent>,
    /// End of the range whose extents have been asked for.
    queried: u64,
    buf: Vec<u8>,
}

impl<'a> Against<'a> {
    /// Compares against `disk`.
    pub fn new(disk: &'a dyn Disk) -> Self {
        Self {
            disk,
            extents: Default::default(),
            queried: 0,
            buf: vec![0; OUT_BUF],
        }
    }

    /// The extent containing `offset`, asking the source for more extents when needed.
    fn extent_at(&mut self, offset: u64) -> Result<Extent> {
        loop {
            while let Some(e) = self.extents.front() {
                if e.end() <= offset {
                    self.extents.pop_front();
                } else {
                    return Ok(*e);
                }
            }
            let len = EXTENT_WINDOW.min(self.disk.size() - self.queried);
            let got = self.disk.extents(self.queried, len)?;
            // A source must cover the range exactly, in order; if one does not, read the
            // whole window instead, so that this can neither loop nor skip bytes.
            let exact = !got.is_empty()
                && got[0].offset == self.queried
                && got.windows(2).all(|w| w[0].end() == w[1].offset)
                && got.iter().all(|e| e.len > 0)
                && got.last().map(Extent::end) == Some(self.queried + len);
            if exact {
                self.extents.extend(got);
            } else {
                self.extents.push_back(Extent {
                    offset: self.queried,
                    len,
                    kind: ExtentKind::Data,
                });
            }
            self.queried += len;
        }
    }
}

impl Sink for Against<'_> {
    fn write(&mut self, offset: u64, data: &[u8], compressed: u64) -> Result<()> {
        let size = self.disk.size();
        let end = offset + data.len() as u64;
        if end > size {
            return Err(Error::Differs {
                offset: offset.max(size),
                compressed,
                detail: format!("the stream decodes to more than the source's {size} bytes"),
            });
        }
        let mut pos = offset;
        while pos < end {
            let e = self.extent_at(pos)?;
            let upto = e.end().min(end);
            let piece = &data[(pos - offset) as usize..(upto - offset) as usize];
            match e.kind {
                ExtentKind::Zero => {
                    if let Some(i) = first_nonzero(piece) {
                        let at = pos + i as u64;
                        return Err(Error::Differs {
                            offset: at,
                            compressed,
                            detail: format!(
                                "decoded byte 0x{:02x}, the source reads as zero there",
                                piece[i]
                            ),
                        });
                    }
                }
                ExtentKind::Data => {
                    let src = &mut self.buf[..piece.len()];
                    self.disk.read_at(pos, src)?;
                    if src != piece {
                        let i = src.iter().zip(piece).position(|(a, b)| a != b).unwrap_or(0);
                        return Err(Error::Differs {
                            offset: pos + i as u64,
                            compressed,
                            detail: format!(
                                "decoded byte 0x{:02x}, the source has 0x{:02x}",
                                piece[i], src[i]
                            ),
                        });
                    }
                }
            }
            pos = upto;
        }
        Ok(())
    }

    fn finish(&mut self, total: u64, compressed: u64) -> Result<()> {
        let size = self.disk.size();
        if total < size {
            return Err(Error::Differs {
                offset: total,
                compressed,
                detail: format!("the stream ends after {total} bytes, the source has {size} bytes"),
            });
        }
        Ok(())
    }
}

impl Sink for Capture {
    fn write(&mut self, offset: u64, data: &[u8], _compressed: u64) -> Result<()> {
        self.keep(offset, data);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn sample() -> Vec<u8> {
        let mut d = vec![0u8; 3 << 20];
        for (i, b) in d.iter_mut().enumerate().skip(1 << 20).take(500_000) {
            *b = (i * 7 % 251) as u8;
        }
        d
    }

    fn check(gz: &[u8]) -> Result<Summary> {
        check_stream(gz, &mut [], &mut |_| {})
    }

    #[test]
    fn verify_sound_stream() {
        let d = sample();
        let s = check(&gzip(&d)).unwrap();
        assert_eq!(s.members, 1);
        assert_eq!(s.uncompressed, d.len() as u64);
        assert_eq!(s.crc32, crc32fast::hash(&d));
    }

    #[test]
    fn verify_concatenated_members() {
        let d = sample();
        let mut gz = gzip(&d[..1000]);
        gz.extend(gzip(&d[1000..]));
        gz.extend(gzip(b""));
        let s = check(&gz).unwrap();
        assert_eq!(s.members, 3);
        assert_eq!(s.crc32, crc32fast::hash(&d));
    }

    #[test]
    fn verify_header_fields() {
        let d = sample();
        let mut gz = flate2::GzBuilder::new()
            .filename("disk.raw")
            .comment("a comment")
            .extra(vec![1, 2, 3, 4])
            .mtime(7)
            .write(Vec::new(), flate2::Compression::fast());
        gz.write_all(&d).unwrap();
        let mut gz = gz.finish().unwrap();
        assert_eq!(check(&gz).unwrap().uncompressed, d.len() as u64);
        // Reserved flag bit.
        gz[3] |= 0x20;
        let e = check(&gz).unwrap_err().to_string();
        assert!(e.contains("reserved flag bits"), "{e}");
        gz[3] &= !0x20;
        gz[2] = 9;
        let e = check(&gz).unwrap_err().to_string();
        assert!(e.contains("compression method 9"), "{e}");
    }

    #[test]
    fn verify_header_crc() {
        // Header with FHCRC: 10 bytes + CRC16 of them.
        let body = gzip(b"hello");
        let mut h = body[..10].to_vec();
        h[3] |= FHCRC;
        let c = (crc32fast::hash(&h) & 0xffff) as u16;
        let mut gz = h.clone();
        gz.extend(c.to_le_bytes());
        gz.extend(&body[10..]);
        assert_eq!(check(&gz).unwrap().uncompressed, 5);
        gz[10] ^= 1;
        let e = check(&gz).unwrap_err().to_string();
        assert!(e.contains("CRC16 mismatch"), "{e}");
    }

    #[test]
    fn verify_detects_damage() {
        let d = sample();
        let gz = gzip(&d);
        // Truncation anywhere.
        for cut in [0, 1, 5, 10, 11, gz.len() / 2, gz.len() - 8, gz.len() - 1] {
            let e = check(&gz[..cut]).unwrap_err();
            assert!(e.is_finding(), "{e}");
        }
        // CRC and ISIZE.
        let mut bad = gz.clone();
        let n = bad.len();
        bad[n - 8] ^= 1;
        assert!(check(&bad)
            .unwrap_err()
            .to_string()
            .contains("CRC32 mismatch"));
        let mut bad = gz.clone();
        bad[n - 1] ^= 1;
        assert!(check(&bad)
            .unwrap_err()
            .to_string()
            .contains("ISIZE mismatch"));
        // Trailing data.
        let mut bad = gz.clone();
        bad.extend([0u8; 512]);
        let e = check(&bad).unwrap_err().to_string();
        assert!(e.contains("512 zero bytes follow"), "{e}");
        let mut bad = gz.clone();
        bad.extend(b"garbage");
        let e = check(&bad).unwrap_err().to_string();
        assert!(e.contains("7 bytes of garbage"), "{e}");
        // A bit flip in the deflate data: some error, never a panic.
        for i in (10..n - 8).step_by(97) {
            let mut bad = gz.clone();
            bad[i] ^= 0x10;
            assert!(check(&bad).is_err(), "flip at {i} went unnoticed");
        }
        assert!(check(b"").unwrap_err().to_string().contains("empty"));
    }

    #[test]
    fn verify_zero_scan() {
        let mut b = vec![0u8; 10_000];
        assert_eq!(first_nonzero(&b), None);
        for i in [0, 1, 7, 8, 9, 127, 128, 129, 4095, 9999] {
            b[i] = 1;
            assert_eq!(first_nonzero(&b), Some(i));
            if i > 0 {
                assert_eq!(first_nonzero(&b[1..]), Some(i - 1));
            }
            b[i] = 0;
        }
    }

    #[derive(Debug)]
    struct Mem(Vec<u8>, u64);
    impl Disk for Mem {
        fn size(&self) -> u64 {
            self.0.len() as u64
        }
        fn extents(&self, offset: u64, len: u64) -> ddgz_disk::Result<Vec<Extent>> {
            // Zero below `self.1`, data above.
            let mut v = Vec::new();
            let end = offset + len;
            if offset < self.1 {
                v.push(Extent {
                    offset,
                    len: self.1.min(end) - offset,
                    kind: ExtentKind::Zero,
                });
            }
            if end > self.1 {
                let s = offset.max(self.1);
                v.push(Extent {
                    offset: s,
                    len: end - s,
                    kind: ExtentKind::Data,
                });
            }
            Ok(v)
        }
        fn read_at(&self, offset: u64, buf: &mut [u8]) -> ddgz_disk::Result<()> {
            assert!(offset >= self.1, "read a zero extent at {offset}");
            buf.copy_from_slice(&self.0[offset as usize..][..buf.len()]);
            Ok(())
        }
    }

    #[test]
    fn verify_against_source() {
        let d = sample();
        let gz = gzip(&d);
        let src = Mem(d.clone(), 1 << 20);
        let mut a = Against::new(&src);
        check_stream(&gz[..], &mut [&mut a], &mut |_| {}).unwrap();
        // A byte differs in the data part.
        let mut d2 = d.clone();
        d2[2_000_000] ^= 1;
        let mut a = Against::new(&src);
        let e = check_stream(&gzip(&d2)[..], &mut [&mut a], &mut |_| {}).unwrap_err();
        assert!(
            matches!(
                e,
                Error::Differs {
                    offset: 2_000_000,
                    ..
                }
            ),
            "{e}"
        );
        // ... in the zero part (never read from the source).
        let mut d2 = d.clone();
        d2[12345] = 9;
        let mut a = Against::new(&src);
        let e = check_stream(&gzip(&d2)[..], &mut [&mut a], &mut |_| {}).unwrap_err();
        assert!(matches!(e, Error::Differs { offset: 12345, .. }), "{e}");
        // Shorter and longer.
        let mut a = Against::new(&src);
        let e = check_stream(&gzip(&d[..1000])[..], &mut [&mut a], &mut |_| {}).unwrap_err();
        assert!(matches!(e, Error::Differs { offset: 1000, .. }), "{e}");
        let mut longer = d.clone();
        longer.push(0);
        let mut a = Against::new(&src);
        let e = check_stream(&gzip(&longer)[..], &mut [&mut a], &mut |_| {}).unwrap_err();
        assert!(
            matches!(e, Error::Differs { offset, .. } if offset == d.len() as u64),
            "{e}"
        );
    }

    #[test]
    fn verify_capture_passes() {
        let d = sample();
        let gz = gzip(&d);
        let size = d.len() as u64;
        let mut cap = Capture::new(1 << 20);
        check_stream(&gz[..], &mut [&mut cap], &mut |_| {}).unwrap();
        let mut buf = [0u8; 512];
        {
            let v = cap.view(size);
            v.read_at(512, &mut buf).unwrap();
            assert_eq!(&buf[..], &d[512..1024]);
            v.read_at(size - 512, &mut buf).unwrap();
            assert_eq!(&buf[..], &d[d.len() - 512..]);
            assert!(v.misses().is_empty());
            v.read_at(1_500_000, &mut buf).unwrap();
            assert_eq!(v.misses(), vec![1_500_000..1_500_512]);
            // Zero blocks need no capture, and the extents say so.
            v.read_at(2_500_000, &mut buf).unwrap();
            assert_eq!(v.misses().len(), 1);
            let e = v.extents(0, size).unwrap();
            assert_eq!(
                e[0],
                Extent {
                    offset: 0,
                    len: 1 << 20,
                    kind: ExtentKind::Zero
                }
            );
            assert_eq!(e[1].kind, ExtentKind::Data);
            assert_eq!(e[2].kind, ExtentKind::Zero);
            assert_eq!(e.iter().map(|e| e.len).sum::<u64>(), size);
            let m = v.misses();
            assert!(cap.want(&m));
        }
        check_stream(&gz[..], &mut [&mut cap], &mut |_| {}).unwrap();
        let v = cap.view(size);
        v.read_at(1_500_000, &mut buf).unwrap();
        assert_eq!(&buf[..], &d[1_500_000..1_500_512]);
        assert!(v.misses().is_empty());
        // Over budget.
        assert!(!cap.want(std::slice::from_ref(&(0..(10 << 20)))));
    }

    #[test]
    fn verify_decode_chunk() {
        use flate2::{Compress, Compression, FlushCompress};
        let d = sample();
        let (dict, chunk) = (&d[1_000_000..1_032_768], &d[1_032_768..2_081_344]);
        let mut c = Compress::new(Compression::new(6), false);
        c.set_dictionary(dict).unwrap();
        let mut out = Vec::with_capacity(2 << 20);
        c.compress_vec(chunk, &mut out, FlushCompress::Sync)
            .unwrap();
        let got = decode_chunk(&out, dict).unwrap();
        assert_eq!(got.len, chunk.len() as u64);
        assert_eq!(got.crc32, crc32fast::hash(chunk));
        assert!(!got.final_block);
        // Without the dictionary: an error or different bytes, never the same CRC.
        match decode_chunk(&out, &[]) {
            Ok(g) => assert_ne!(g.crc32, got.crc32),
            Err(e) => assert!(e.is_finding()),
        }
        // Final block, then trailing bytes.
        let mut c = Compress::new(Compression::new(6), false);
        let mut out = Vec::with_capacity(2 << 20);
        c.compress_vec(chunk, &mut out, FlushCompress::Finish)
            .unwrap();
        let got = decode_chunk(&out, &[]).unwrap();
        assert!(got.final_block);
        assert_eq!(got.crc32, crc32fast::hash(chunk));
        out.push(0);
        assert!(decode_chunk(&out, &[]).is_err());
    }
}
