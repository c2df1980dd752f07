//! CRC-64/XZ (ECMA-182, reflected), the xz check: a byte table for data, and the CRC of
//! `n` zero bytes in O(log n) (GF(2) polynomial arithmetic, as zlib's `crc32_combine`), so
//! a block of gigabytes of zeros gets its check without touching a byte.

/// The reflected polynomial of CRC-64/XZ.
const POLY: u64 = 0xC96C_5795_D787_0F42;

const TABLE: [u64; 256] = {
    let mut t = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u64;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ POLY } else { c >> 1 };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// CRC-64/XZ of `data`.
pub fn crc64(data: &[u8]) -> u64 {
    !data.iter().fold(!0u64, |c, &b| {
        TABLE[((c ^ b as u64) & 0xff) as usize] ^ (c >> 8)
    })
}

/// `a * b mod P` for polynomials in reflected order (bit 63 is x^0).
fn mul_mod(a: u64, mut b: u64) -> u64 {
    let mut m = 1u64 << 63;
    let mut p = 0u64;
    while m != 0 {
        if a & m != 0 {
            p ^= b;
        }
        m >>= 1;
        b = if b & 1 != 0 { (b >> 1) ^ POLY } else { b >> 1 };
    }
    p
}

/// `x^(8 n) mod P`: the operator that appends `n` zero bytes to a CRC register.
fn x_pow_8n(mut n: u64) -> u64 {
    let mut p = 1u64 << 63; // x^0
    let mut sq = 1u64 << 55; // x^8
    while n != 0 {
        if n & 1 != 0 {
            p = mul_mod(sq, p);
        }
        sq = mul_mod(sq, sq);
        n >>= 1;
    }
    p
}

/// CRC-64/XZ of `a ‖ b` from the CRCs of `a` and `b` and the length of `b`.
pub fn combine(crc_a: u64, crc_b: u64, len_b: u64) -> u64 {
    mul_mod(x_pow_8n(len_b), crc_a) ^ crc_b
}

/// CRC-64/XZ of `n` zero bytes, without reading them.
pub fn zeros(n: u64) -> u64 {
    // The register starts at !0; n zero bytes move it by x^(8n); the output is inverted.
    // Same as combine(crc(nothing)=0, ...) with the all-ones init: !(M^n · !0) where the
    // xor-out of the empty message cancels.
    !mul_mod(x_pow_8n(n), !0u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value() {
        // The catalogue's check value of CRC-64/XZ.
        assert_eq!(crc64(b"123456789"), 0x995D_C9BB_DF19_39FA);
        assert_eq!(crc64(b""), 0);
    }

    #[test]
    fn zeros_and_combine_match_the_bytes() {
        for n in [0u64, 1, 2, 3, 7, 8, 255, 4096, 100_003, 1 << 20] {
            assert_eq!(zeros(n), crc64(&vec![0u8; n as usize]), "{n}");
        }
        let a = b"hello, ";
        let b = b"world and more bytes";
        let mut ab = a.to_vec();
        ab.extend_from_slice(b);
        assert_eq!(combine(crc64(a), crc64(b), b.len() as u64), crc64(&ab));
        assert_eq!(combine(crc64(a), zeros(1000), 1000), {
            let mut v = a.to_vec();
            v.resize(a.len() + 1000, 0);
            crc64(&v)
        });
    }
}
