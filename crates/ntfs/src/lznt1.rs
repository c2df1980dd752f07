//! LZNT1: the compression of NTFS compressed files.
//!
//! A compression unit (16 clusters) holds chunks, each decompressing to at most 4096
//! bytes. A chunk starts with a u16 header: bits 0..12 are its length minus 3 (header
//! included), bit 15 says whether it is compressed; a header of 0 ends the unit. A
//! compressed chunk is groups of a flag byte and 8 tokens: a clear bit is a literal byte,
//! a set bit a u16 back reference whose split between offset and length bits depends on
//! how far into the chunk the output is.

use ddgz_disk::bytes::le16;

/// Bytes a chunk decompresses to at most.
pub const CHUNK: usize = 4096;

/// Decompresses `src` (one compression unit's stored bytes) into `dst` (its logical
/// size); bytes past the last chunk are left as they are (zeros from the caller). `Err`
/// says where the stream is bad.
pub fn decompress(src: &[u8], dst: &mut [u8]) -> Result<(), String> {
    let mut s = 0usize;
    let mut d = 0usize;
    while s + 2 <= src.len() && d < dst.len() {
        let h = le16(src, s);
        if h == 0 {
            break;
        }
        let len = usize::from(h & 0x0FFF) + 1;
        let body = src.get(s + 2..s + 2 + len).ok_or_else(|| {
            format!(
                "chunk at byte {s} of {len} bytes runs past the unit's {} bytes",
                src.len()
            )
        })?;
        let out_end = (d + CHUNK).min(dst.len());
        if h & 0x8000 == 0 {
            let n = len.min(out_end - d);
            dst[d..d + n].copy_from_slice(&body[..n]);
            d += CHUNK;
        } else {
            chunk(body, &mut dst[d..out_end]).map_err(|m| format!("chunk at byte {s}: {m}"))?;
            d += CHUNK;
        }
        s += 2 + len;
    }
    Ok(())
}

/// Decompresses one compressed chunk into `out` (at most 4096 bytes).
fn chunk(src: &[u8], out: &mut [u8]) -> Result<(), String> {
    let mut s = 0;
    let mut d = 0;
    while s < src.len() {
        let flags = src[s];
        s += 1;
        for bit in 0..8 {
            if s >= src.len() {
                return Ok(());
            }
            if flags >> bit & 1 == 0 {
                if d >= out.len() {
                    return Ok(());
                }
                out[d] = src[s];
                d += 1;
                s += 1;
            } else {
                if s + 2 > src.len() {
                    return Err(format!("back reference at byte {s} is truncated"));
                }
                let token = le16(src, s);
                s += 2;
                if d == 0 {
                    return Err("back reference before any literal".into());
                }
                let mut len_bits = 12u32;
                let mut p = d - 1;
                while p >= 0x10 {
                    len_bits -= 1;
                    p >>= 1;
                }
                let len = usize::from(token & ((1u16 << len_bits) - 1)) + 3;
                let back = usize::from(token >> len_bits) + 1;
                if back > d {
                    return Err(format!(
                        "back reference {back} bytes behind output position {d}"
                    ));
                }
                for _ in 0..len {
                    if d >= out.len() {
                        return Ok(());
                    }
                    out[d] = out[d - back];
                    d += 1;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_and_back_reference() {
        // "abcabcabc": 3 literals then a reference 3 back of length 6.
        // At d = 3: len_bits 12, token = (back-1) << 12 | (len-3) = 2 << 12 | 3.
        let token: u16 = (2 << 12) | 3;
        let body = [
            0b0000_1000,
            b'a',
            b'b',
            b'c',
            token as u8,
            (token >> 8) as u8,
        ];
        let h: u16 = 0x8000 | 0x3000 | (body.len() as u16 - 1);
        let mut src = h.to_le_bytes().to_vec();
        src.extend_from_slice(&body);
        let mut out = [0u8; 9];
        decompress(&src, &mut out).unwrap();
        assert_eq!(&out, b"abcabcabc");
    }

    #[test]
    fn hostile_reference_is_an_error() {
        let body = [0b0000_0001, 0xFF, 0xFF];
        let h: u16 = 0x8000 | (body.len() as u16 - 1);
        let mut src = h.to_le_bytes().to_vec();
        src.extend_from_slice(&body);
        let mut out = [0u8; 64];
        assert!(decompress(&src, &mut out).is_err());
    }
}
