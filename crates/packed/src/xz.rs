//! The xz container read here, its LZMA2 data by lzma-rust2's [`Lzma2Reader`].
//!
//! lzma-rust2's own `XzReader` checks each block with a byte-at-a-time CRC-64, which is
//! 80 % of the time spent on a disk of zeros (a `.dd.xz` of 12 GiB of zeros: 33 s of
//! which 27 s in the check). Here the check of a buffer of zeros is computed
//! arithmetically (`ddgz_xz::crc64::zeros`), CRC-32 by `crc32fast`, so a disk decodes at
//! the speed of LZMA2. Checked as `xz -t` checks: stream header and footer (flags, CRC-32,
//! backward size), every block header (CRC-32, reserved bits, declared sizes), block
//! padding and check, the index (records equal to the blocks read, CRC-32), stream
//! padding. Streams with another filter than LZMA2 alone, or a check other than none,
//! CRC-32 or CRC-64, are [`Unsupported`]: the caller reads those with lzma-rust2's reader.

use std::io::{self, Read};

use lzma_rust2::Lzma2Reader;

/// Largest LZMA2 dictionary decoded: 64 MiB, what `xz -9` uses (ddgz writes 2 MiB, `xz
/// -6` 8 MiB). Our limit: a hostile header may announce 4 GiB, and a bomb's output
/// touches the whole dictionary, so it is the decoder's memory.
pub(crate) const MAX_DICT: u32 = 64 << 20;

/// Decoder memory allowed per block (KiB): [`MAX_DICT`] and lzma-rust2's buffers.
pub(crate) const MEM_LIMIT_KIB: u32 = (MAX_DICT >> 10) + 1024;

const MAGIC: [u8; 6] = [0xfd, b'7', b'z', b'X', b'Z', 0];

/// The error of a stream this reader does not handle (another filter or check); its
/// message says which.
#[derive(Debug)]
pub(crate) struct Unsupported(pub String);

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unsupported {}

fn bad(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

fn unsupported(what: String) -> io::Error {
    io::Error::other(Unsupported(what))
}

/// Whether `e` is [`Unsupported`].
pub(crate) fn is_unsupported(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|i| i.is::<Unsupported>())
}

/// Counts the bytes read from `inner`, and keeps a CRC-32 of them while asked to.
struct Counted<R> {
    inner: R,
    read: u64,
    crc: Option<crc32fast::Hasher>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if let Some(c) = self.crc.as_mut() {
            c.update(&buf[..n]);
        }
        Ok(n)
    }
}

impl<R: Read> Counted<R> {
    fn fixed<const N: usize>(&mut self) -> io::Result<[u8; N]> {
        let mut b = [0u8; N];
        self.read_exact(&mut b).map_err(eof)?;
        Ok(b)
    }

    /// An xz variable-length integer (at most 9 bytes, 63 bits).
    fn varint(&mut self) -> io::Result<u64> {
        let mut v = 0u64;
        for i in 0..9 {
            let [b] = self.fixed::<1>()?;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                if b == 0 && i > 0 {
                    return Err(bad("an integer is not in its shortest form"));
                }
                return Ok(v);
            }
        }
        Err(bad("an integer is longer than 9 bytes"))
    }
}

fn eof(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        io::Error::new(
            e.kind(),
            "the file ends inside the xz stream: it is truncated",
        )
    } else {
        e
    }
}

/// A block's check as it is computed.
enum Check {
    None,
    Crc32(crc32fast::Hasher),
    /// The CRC-64 of the bytes so far.
    Crc64(u64),
}

impl Check {
    fn new(kind: u8) -> io::Result<Self> {
        match kind {
            0 => Ok(Check::None),
            1 => Ok(Check::Crc32(crc32fast::Hasher::new())),
            4 => Ok(Check::Crc64(0)),
            k => Err(unsupported(format!(
                "xz check type {k} (not none, CRC-32 or CRC-64)"
            ))),
        }
    }

    fn size(&self) -> usize {
        match self {
            Check::None => 0,
            Check::Crc32(_) => 4,
            Check::Crc64(_) => 8,
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Check::None => {}
            Check::Crc32(h) => h.update(data),
            Check::Crc64(c) => {
                *c = if ddgz_disk::first_nonzero(data).is_none() {
                    let n = data.len() as u64;
                    ddgz_xz::crc64::combine(*c, ddgz_xz::crc64::zeros(n), n)
                } else {
                    ddgz_xz::crc64::combine(*c, ddgz_xz::crc64::crc64(data), data.len() as u64)
                }
            }
        }
    }

    fn matches(self, stored: &[u8]) -> bool {
        match self {
            Check::None => true,
            Check::Crc32(h) => h.finalize().to_le_bytes() == stored,
            Check::Crc64(c) => c.to_le_bytes() == stored,
        }
    }
}

/// The block being decoded.
struct Block<R> {
    lzma: Lzma2Reader<Counted<R>>,
    header_size: u64,
    /// Where its LZMA2 data starts (compressed offset).
    data_at: u64,
    check: Check,
    out: u64,
    declared_compressed: Option<u64>,
    declared_out: Option<u64>,
}

/// Decodes an xz file (concatenated streams, stream padding) as `xzcat` does.
pub(crate) struct XzDecoder<R> {
    /// Between blocks.
    src: Option<Counted<R>>,
    block: Option<Block<R>>,
    /// The check type of the stream being read, `None` before a stream header.
    check_kind: Option<u8>,
    /// (unpadded size, uncompressed size) of the blocks of this stream.
    records: Vec<(u64, u64)>,
    done: bool,
}

impl<R: Read> XzDecoder<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self {
            src: Some(Counted {
                inner,
                read: 0,
                crc: None,
            }),
            block: None,
            check_kind: None,
            records: Vec::new(),
            done: false,
        }
    }

    fn src(&mut self) -> io::Result<&mut Counted<R>> {
        self.src
            .as_mut()
            .ok_or_else(|| bad("xz reader used after an error"))
    }

    /// Reads a stream header (its magic already read when `magic_read`).
    fn stream_header(&mut self, magic_read: bool) -> io::Result<()> {
        let s = self.src()?;
        if !magic_read && s.fixed::<6>()? != MAGIC {
            return Err(bad("not an xz stream (bad magic)"));
        }
        let flags = s.fixed::<2>()?;
        let crc = s.fixed::<4>()?;
        if crc32fast::hash(&flags).to_le_bytes() != crc {
            return Err(bad("xz stream header CRC-32 mismatch"));
        }
        if flags[0] != 0 || flags[1] > 0x0f {
            return Err(bad("xz stream flags use reserved bits"));
        }
        Check::new(flags[1])?;
        self.check_kind = Some(flags[1]);
        self.records.clear();
        Ok(())
    }

    /// Reads the next block header, or the index, footer and what follows the stream.
    /// Returns false at the end of the file.
    fn next(&mut self) -> io::Result<bool> {
        let kind = match self.check_kind {
            Some(k) => k,
            None => {
                self.stream_header(false)?;
                return Ok(true);
            }
        };
        let s = self.src()?;
        s.crc = Some(crc32fast::Hasher::new());
        let [size] = s.fixed::<1>()?;
        if size == 0 {
            return self.index_and_footer(kind);
        }
        let header_size = (u64::from(size) + 1) * 4;
        let mut h = vec![0u8; header_size as usize - 5];
        s.read_exact(&mut h).map_err(eof)?;
        let crc = s.crc.take().map(|c| c.finalize());
        let stored = s.fixed::<4>()?;
        if crc.map(u32::to_le_bytes) != Some(stored) {
            return Err(bad("xz block header CRC-32 mismatch"));
        }
        let mut hr = Counted {
            inner: &h[..],
            read: 0,
            crc: None,
        };
        let [flags] = hr.fixed::<1>()?;
        if flags & 0x3c != 0 {
            return Err(bad("xz block flags use reserved bits"));
        }
        let declared_compressed = (flags & 0x40 != 0).then(|| hr.varint()).transpose()?;
        let declared_out = (flags & 0x80 != 0).then(|| hr.varint()).transpose()?;
        let filters = (flags & 3) + 1;
        let id = hr.varint()?;
        let props = hr.varint()?;
        if filters != 1 || id != 0x21 || props != 1 {
            return Err(unsupported(format!(
                "an xz block with {filters} filter(s), the first 0x{id:x} (only LZMA2 alone \
                 is read here)"
            )));
        }
        let [d] = hr.fixed::<1>()?;
        if d > 40 {
            return Err(bad(format!("LZMA2 dictionary size byte {d} (at most 40)")));
        }
        let dict = if d == 40 {
            u32::MAX
        } else {
            (2 | (u32::from(d) & 1)) << (d / 2 + 11)
        };
        if dict > MAX_DICT {
            return Err(bad(format!(
                "an xz block needs a {} MiB LZMA2 dictionary, more than the {} MiB of xz -9 \
                 (our limit, to bound memory); unpack it with xzcat and read the raw disk",
                dict >> 20,
                MAX_DICT >> 20
            )));
        }
        if h[hr.read as usize..].iter().any(|&b| b != 0) {
            return Err(bad("xz block header padding is not zeros"));
        }
        let src = self
            .src
            .take()
            .ok_or_else(|| bad("xz reader used after an error"))?;
        let data_at = src.read;
        let lzma = Lzma2Reader::new_mem_limit(src, dict, MEM_LIMIT_KIB, None)?;
        self.block = Some(Block {
            lzma,
            header_size,
            data_at,
            check: Check::new(kind)?,
            out: 0,
            declared_compressed,
            declared_out,
        });
        Ok(true)
    }

    /// Ends the block: sizes, padding, check; records it for the index.
    fn end_block(&mut self, b: Block<R>) -> io::Result<()> {
        let mut src = b.lzma.into_inner();
        let compressed = src.read - b.data_at;
        if b.declared_compressed.is_some_and(|c| c != compressed)
            || b.declared_out.is_some_and(|o| o != b.out)
        {
            return Err(bad("an xz block's sizes differ from its header's"));
        }
        for _ in 0..(4 - compressed % 4) % 4 {
            if src.fixed::<1>()? != [0] {
                return Err(bad("xz block padding is not zeros"));
            }
        }
        let mut stored = [0u8; 8];
        let n = b.check.size();
        src.read_exact(&mut stored[..n]).map_err(eof)?;
        if !b.check.matches(&stored[..n]) {
            return Err(bad("xz block check mismatch: the data is damaged"));
        }
        let unpadded = b.header_size + compressed + n as u64;
        self.records.push((unpadded, b.out));
        self.src = Some(src);
        Ok(())
    }

    /// The index (its indicator byte read, CRC-32 running), the footer, stream padding
    /// and the next stream's header if any. Returns false at the end of the file.
    fn index_and_footer(&mut self, kind: u8) -> io::Result<bool> {
        let records = std::mem::take(&mut self.records);
        let s = self.src()?;
        let start = s.read - 1;
        let count = s.varint()?;
        if count != records.len() as u64 {
            return Err(bad(format!(
                "the xz index lists {count} blocks, the stream has {}",
                records.len()
            )));
        }
        for &(unpadded, out) in &records {
            if s.varint()? != unpadded || s.varint()? != out {
                return Err(bad("an xz index record differs from its block"));
            }
        }
        while (s.read - start) % 4 != 0 {
            if s.fixed::<1>()? != [0] {
                return Err(bad("xz index padding is not zeros"));
            }
        }
        let crc = s.crc.take().map(|c| c.finalize());
        if crc.map(u32::to_le_bytes) != Some(s.fixed::<4>()?) {
            return Err(bad("xz index CRC-32 mismatch"));
        }
        let index_size = s.read - start;
        let footer = s.fixed::<12>()?;
        if crc32fast::hash(&footer[4..10]).to_le_bytes() != footer[..4] {
            return Err(bad("xz stream footer CRC-32 mismatch"));
        }
        let backward = (u64::from(u32::from_le_bytes([
            footer[4], footer[5], footer[6], footer[7],
        ])) + 1)
            * 4;
        if backward != index_size || footer[8..10] != [0, kind] || &footer[10..] != b"YZ" {
            return Err(bad("xz stream footer does not match its header and index"));
        }
        // Stream padding (groups of four zeros), then the end or another stream.
        loop {
            let mut four = [0u8; 4];
            let mut got = 0;
            while got < 4 {
                match s.read(&mut four[got..]) {
                    Ok(0) => break,
                    Ok(n) => got += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            match got {
                0 => return Ok(false),
                4 if four == [0; 4] => continue,
                4 if four == MAGIC[..4] => {
                    if s.fixed::<2>()? != MAGIC[4..] {
                        return Err(bad("data after the xz stream is not another stream"));
                    }
                    self.stream_header(true)?;
                    return Ok(true);
                }
                _ => return Err(bad("data after the xz stream is not another stream")),
            }
        }
    }
}

impl<R: Read> Read for XzDecoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.done {
                return Ok(0);
            }
            if let Some(b) = self.block.as_mut() {
                let n = b.lzma.read(buf).map_err(eof)?;
                if n > 0 {
                    b.check.update(&buf[..n]);
                    b.out += n as u64;
                    return Ok(n);
                }
                let b = self.block.take().ok_or_else(|| bad("no block"))?;
                self.end_block(b)?;
                continue;
            }
            if !self.next()? {
                self.done = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(b: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        XzDecoder::new(b).read_to_end(&mut out)?;
        Ok(out)
    }

    /// Streams from xz-utils (the real tool): every check type it writes that is read
    /// here, concatenated streams with padding, multi-block (-T2) streams; a damaged
    /// byte anywhere is an error, never a panic.
    #[test]
    fn reads_what_xz_writes() {
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("d");
        let mut d = vec![0u8; 5 << 20];
        for (i, b) in d.iter_mut().enumerate().skip(1 << 20).take(1 << 20) {
            *b = (i * 7 % 251) as u8;
        }
        std::fs::write(&raw, &d).unwrap();
        let xz = |args: &str| {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("xz -c {args} {}", raw.display()))
                .output()
                .unwrap();
            assert!(out.status.success());
            out.stdout
        };
        for args in [
            "-0 -C crc64",
            "-1 -C crc32",
            "-0 -C none",
            "-0 -T2 --block-size=1MiB",
        ] {
            let s = xz(args);
            assert_eq!(decode(&s).unwrap(), d, "{args}");
            let mut two = s.clone();
            two.extend_from_slice(&[0; 8]);
            two.extend_from_slice(&s);
            assert_eq!(decode(&two).unwrap().len(), 2 * d.len(), "{args}");
            // Without a check, damaged LZMA2 data may decode to other bytes, as in xz.
            let checked = if args.contains("none") { 0 } else { s.len() };
            for at in (0..checked).step_by(s.len() / 37 + 1) {
                let mut bad = s.clone();
                bad[at] ^= 0x10;
                assert!(decode(&bad).is_err(), "{args}: byte {at} damaged");
            }
            assert!(decode(&s[..s.len() - 1]).is_err());
        }
        // A small two-block stream: every byte damaged in turn (each bit pattern a hostile
        // header, size, padding or index), every truncation: an error, never a panic.
        std::fs::write(&raw, &d[(1 << 20) - 3000..(1 << 20) + 3000]).unwrap();
        let s = xz("-0 -T2 --block-size=4000");
        for at in 0..s.len() {
            for flip in [0x01, 0x80, 0xff] {
                let mut bad = s.clone();
                bad[at] ^= flip;
                assert!(decode(&bad).is_err(), "byte {at} ^ {flip:#x}");
            }
        }
        for n in 0..s.len() {
            assert!(decode(&s[..n]).is_err(), "cut at {n}");
        }
        let e = decode(&xz("-0 -C sha256")).unwrap_err();
        assert!(is_unsupported(&e), "{e}");
        let e = decode(&xz("--x86 --lzma2=preset=0")).unwrap_err();
        assert!(is_unsupported(&e), "{e}");
        let e = decode(&xz("--lzma2=preset=0,dict=96MiB")).unwrap_err();
        assert!(e.to_string().contains("96 MiB LZMA2 dictionary"), "{e}");
    }
}
