//! CRC-32C (Castagnoli), the checksum of every v5 metadata block: reflected polynomial
//! 0x82F63B78, initial value and final xor all ones. XFS stores it little-endian in the
//! block, computed with its own four bytes as zeros (`xfs_verify_cksum`). Fuzz builds
//! (`cfg(fuzzing)`) accept every CRC.

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

/// Whether `block` carries a correct CRC-32C in its 4 bytes at `at` (`at + 4 <=
/// block.len()` is the caller's to check).
pub fn verify(block: &[u8], at: usize) -> bool {
    // Under `cargo fuzz` every CRC passes, so that mutations reach the structures behind.
    if cfg!(fuzzing) {
        return true;
    }
    let stored = u32::from_le_bytes([block[at], block[at + 1], block[at + 2], block[at + 3]]);
    let mut crc = update(!0, &block[..at]);
    crc = update(crc, &[0; 4]);
    crc = update(crc, &block[at + 4..]);
    !crc == stored
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // RFC 3720 B.4 test vectors.
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(&[0xffu8; 32]), 0x62A8_AB43);
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        let mut b = b"xxxx123456789".to_vec();
        let c = crc32c(&[b"\0\0\0\0".as_slice(), b"123456789"].concat());
        b[..4].copy_from_slice(&c.to_le_bytes());
        assert!(verify(&b, 0));
        b[5] ^= 1;
        assert!(!verify(&b, 0));
    }
}
