//! CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as every VHDX checksum uses
//! ([MS-VHDX] 2.2.2): over the structure with its checksum field zeroed, initial value
//! and final XOR 0xFFFFFFFF. Table-driven; it runs over headers, tables and log entries
//! only, never over disk data.

const fn table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82f6_3b78
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static TABLE: [u32; 256] = table();

/// CRC-32C of `data` with the 4 bytes at `field` counted as zero (`None`: no field).
pub(crate) fn crc32c(data: &[u8], field: Option<usize>) -> u32 {
    let mut c = !0u32;
    for (i, &b) in data.iter().enumerate() {
        let b = match field {
            Some(f) if (f..f + 4).contains(&i) => 0,
            _ => b,
        };
        c = TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

/// Whether the little-endian checksum stored at `field` of `data` is its CRC-32C.
pub(crate) fn valid(data: &[u8], field: usize) -> bool {
    let stored = u32::from_le_bytes(data[field..field + 4].try_into().expect("4 bytes"));
    crc32c(data, Some(field)) == stored
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_value() {
        // The CRC-32C check value (RFC 3720 B.4 / the Rocksoft catalogue).
        assert_eq!(super::crc32c(b"123456789", None), 0xe306_9283);
        assert_eq!(super::crc32c(&[0u8; 32], None), 0x8a91_36aa);
    }
}
