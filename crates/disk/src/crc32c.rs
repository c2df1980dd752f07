//! CRC-32C (Castagnoli, reflected polynomial 0x82F63B78, initial value and final XOR all
//! ones), the metadata checksum of VHDX ([MS-VHDX] 2.2.2) and of XFS v5 blocks. Both
//! store it little-endian inside the structure it covers, computed with its own four
//! bytes as zeros. Table-driven: it runs over headers, tables and metadata blocks only,
//! never over disk data.

/// The 256-entry table, built at compile time.
const TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82F6_3B78
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

fn update(mut crc: u32, data: &[u8]) -> u32 {
    for &b in data {
        crc = TABLE[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    crc
}

/// CRC-32C of `data`.
pub fn crc32c(data: &[u8]) -> u32 {
    !update(!0, data)
}

/// CRC-32C of `data` with its 4 bytes at `field` counted as zero, as a structure's own
/// checksum is computed. A `field` not wholly inside `data` zeroes nothing.
pub fn crc32c_zeroed(data: &[u8], field: usize) -> u32 {
    match field.checked_add(4).filter(|&end| end <= data.len()) {
        Some(end) => {
            let crc = update(!0, &data[..field]);
            !update(update(crc, &[0; 4]), &data[end..])
        }
        None => crc32c(data),
    }
}

/// Whether the little-endian checksum stored at `field` of `data` is its CRC-32C
/// ([`crc32c_zeroed`]); false when `field` is not wholly inside `data`.
pub fn valid(data: &[u8], field: usize) -> bool {
    let Some(stored) = field
        .checked_add(4)
        .and_then(|end| data.get(field..end))
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
    else {
        return false;
    };
    crc32c_zeroed(data, field) == u32::from_le_bytes(stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // RFC 3720 B.4 test vectors (also the Rocksoft catalogue's check value).
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(&[0xffu8; 32]), 0x62A8_AB43);
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        let mut b = b"xxxx123456789".to_vec();
        let c = crc32c(&[b"\0\0\0\0".as_slice(), b"123456789"].concat());
        assert_eq!(crc32c_zeroed(&b, 0), c);
        b[..4].copy_from_slice(&c.to_le_bytes());
        assert!(valid(&b, 0));
        b[5] ^= 1;
        assert!(!valid(&b, 0));
        assert!(!valid(&b, 10));
        assert!(!valid(&b, usize::MAX));
    }
}
