//! Update-sequence arrays: NTFS's torn-write check on multi-sector records (`FILE`,
//! `INDX`, `RSTR`, `RCRD`).
//!
//! The header holds, at 0x04, the array's offset (u16) and, at 0x06, its count (u16: one
//! sequence number plus one saved word per 512-byte stride). On disk, the last two bytes
//! of every stride hold the sequence number; the real bytes are in the array. Reading
//! swaps them back ([`unprotect`]); writing does the reverse ([`protect`]).

use ddgz_disk::bytes::le16;

use crate::boot::FIXUP_STRIDE;

/// Restores the last two bytes of every 512-byte stride of `buf` from its update-sequence
/// array, checking that each held the sequence number. `Err` says why, without context.
pub fn unprotect(buf: &mut [u8]) -> Result<(), String> {
    let (ofs, count) = array(buf)?;
    let usn = [buf[ofs], buf[ofs + 1]];
    for i in 1..count {
        let end = i * FIXUP_STRIDE;
        if buf[end - 2..end] != usn {
            return Err(format!(
                "update sequence mismatch at byte {} (found {:02x?}, expected {usn:02x?}): a \
                 torn or corrupt write",
                end - 2,
                &buf[end - 2..end]
            ));
        }
        let (a, b) = (buf[ofs + 2 * i], buf[ofs + 2 * i + 1]);
        buf[end - 2] = a;
        buf[end - 1] = b;
    }
    Ok(())
}

/// Saves the last two bytes of every stride into the array and writes the next sequence
/// number (never 0 or 0xFFFF) in their place: the inverse of [`unprotect`], for a writer.
pub fn protect(buf: &mut [u8]) -> Result<(), String> {
    let (ofs, count) = array(buf)?;
    let mut usn = le16(buf, ofs).wrapping_add(1);
    if usn == 0 || usn == 0xFFFF {
        usn = 1;
    }
    let usn = usn.to_le_bytes();
    buf[ofs..ofs + 2].copy_from_slice(&usn);
    for i in 1..count {
        let end = i * FIXUP_STRIDE;
        buf[ofs + 2 * i] = buf[end - 2];
        buf[ofs + 2 * i + 1] = buf[end - 1];
        buf[end - 2..end].copy_from_slice(&usn);
    }
    Ok(())
}

/// The array's offset and count, checked against the record's length.
fn array(buf: &[u8]) -> Result<(usize, usize), String> {
    if buf.len() < FIXUP_STRIDE || buf.len() % FIXUP_STRIDE != 0 {
        return Err(format!(
            "record of {} bytes is not a multiple of {FIXUP_STRIDE}",
            buf.len()
        ));
    }
    let ofs = usize::from(le16(buf, 4));
    let count = usize::from(le16(buf, 6));
    let strides = buf.len() / FIXUP_STRIDE;
    if count != strides + 1 {
        return Err(format!(
            "update sequence array has {count} entries; a {}-byte record needs {}",
            buf.len(),
            strides + 1
        ));
    }
    if ofs % 2 != 0 || ofs < 8 || ofs + 2 * count > FIXUP_STRIDE - 2 {
        return Err(format!(
            "update sequence array at byte {ofs} ({count} entries) does not fit in the first \
             stride"
        ));
    }
    Ok((ofs, count))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protect_then_unprotect_is_identity() {
        let mut b: Vec<u8> = (0..1024u32).map(|i| (i * 7) as u8).collect();
        b[4..6].copy_from_slice(&0x30u16.to_le_bytes());
        b[6..8].copy_from_slice(&3u16.to_le_bytes());
        let before = b.clone();
        protect(&mut b).unwrap();
        assert_ne!(b, before);
        unprotect(&mut b).unwrap();
        assert_eq!(b[0x36..], before[0x36..]);
        b[511] ^= 1;
        protect(&mut b).unwrap();
        b[1023] ^= 1;
        assert!(unprotect(&mut b).unwrap_err().contains("byte 1022"));
    }
}
