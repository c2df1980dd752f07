//! The checksum LVM2 puts on its label, its metadata area headers and its metadata text:
//! the CRC-32 of zlib (reflected polynomial 0xEDB88320) started from [`INITIAL_CRC`]
//! instead of 0xFFFFFFFF and without the final inversion (lvm2 `lib/misc/crc.c`,
//! `calc_crc`). Computed with `crc32fast`, whose state is the inverted register.

/// lvm2's `INITIAL_CRC`.
pub const INITIAL_CRC: u32 = 0xf597_a6cf;

/// Continues the LVM2 checksum `crc` over `data`.
pub fn calc_crc(crc: u32, data: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new_with_initial(!crc);
    h.update(data);
    !h.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bitwise definition from lvm2, for comparison.
    fn slow(mut crc: u32, data: &[u8]) -> u32 {
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = (crc >> 1) ^ if crc & 1 == 1 { 0xedb8_8320 } else { 0 };
            }
        }
        crc
    }

    #[test]
    fn equals_the_bitwise_definition_and_continues() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
        assert_eq!(calc_crc(INITIAL_CRC, &data), slow(INITIAL_CRC, &data));
        assert_eq!(calc_crc(INITIAL_CRC, &[]), INITIAL_CRC);
        let split = calc_crc(calc_crc(INITIAL_CRC, &data[..333]), &data[333..]);
        assert_eq!(split, slow(INITIAL_CRC, &data));
    }
}
