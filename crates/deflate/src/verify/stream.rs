//! The gzip stream checker: every member's header, deflate blocks and trailer, and
//! nothing but members after the last one (see the parent module).

use std::io::{self, Read};

use flate2::{Decompress, FlushDecompress, Status};

use super::{first_nonzero, At, Error, Result, Sink, Summary, OUT_BUF};

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

/// The xz stream header magic (xz file format 2.1.1.1).
const XZ_MAGIC: [u8; 6] = [0xFD, b'7', b'z', b'X', b'Z', 0x00];

/// Decodes a whole gzip stream (or an xz file: [`super::check_xz_stream`]) from `reader`, checking everything the module docs list,
/// and hands the decoded bytes to `sinks` in order. `progress` is called with the
/// compressed offset reached, now and then.
pub fn check_stream<R: Read>(
    reader: R,
    sinks: &mut [&mut dyn Sink],
    progress: &mut dyn FnMut(u64),
) -> Result<Summary> {
    // An xz file (MAAS ddxz) goes to its own checker: the same sinks, lzma-rust2's decoder.
    let mut reader = reader;
    let mut head = [0u8; XZ_MAGIC.len()];
    let mut got = 0;
    while got < head.len() {
        match reader.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(source) => {
                return Err(Error::Io {
                    what: "reading the compressed input".into(),
                    source,
                })
            }
        }
    }
    let reader = std::io::Cursor::new(head[..got].to_vec()).chain(reader);
    if head[..got] == XZ_MAGIC {
        return super::check_xz_stream(reader, sinks, progress);
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_util::{gzip, sample};
    use std::io::Write;

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
}
