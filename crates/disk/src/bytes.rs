//! Fixed-width integers at a byte offset of an on-disk structure.
//!
//! Every parser reads little- or big-endian fields out of a sector it has already
//! bounds-checked as a whole; these are the one set of helpers they share. They panic if
//! `at + N` is past the end of `b`: a caller checks the structure's length once, before
//! reading its fields, so an out-of-range field is a bug in the parser, not in the image.

macro_rules! int_at {
    ($(#[$doc:meta])* $name:ident, $t:ty, $from:ident) => {
        $(#[$doc])*
        #[inline]
        #[must_use]
        pub fn $name(b: &[u8], at: usize) -> $t {
            const N: usize = std::mem::size_of::<$t>();
            let mut a = [0u8; N];
            a.copy_from_slice(&b[at..at + N]);
            <$t>::$from(a)
        }
    };
}

int_at!(
    /// The little-endian `u16` at `b[at..at + 2]`.
    le16, u16, from_le_bytes
);
int_at!(
    /// The little-endian `u32` at `b[at..at + 4]`.
    le32, u32, from_le_bytes
);
int_at!(
    /// The little-endian `u64` at `b[at..at + 8]`.
    le64, u64, from_le_bytes
);
int_at!(
    /// The big-endian `u16` at `b[at..at + 2]`.
    be16, u16, from_be_bytes
);
int_at!(
    /// The big-endian `u32` at `b[at..at + 4]`.
    be32, u32, from_be_bytes
);
int_at!(
    /// The big-endian `u64` at `b[at..at + 8]`.
    be64, u64, from_be_bytes
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_orders_at_an_offset() {
        let b = [0xff, 1, 2, 3, 4, 5, 6, 7, 8];
        assert_eq!(le16(&b, 1), 0x0201);
        assert_eq!(be16(&b, 1), 0x0102);
        assert_eq!(le32(&b, 1), 0x0403_0201);
        assert_eq!(be32(&b, 1), 0x0102_0304);
        assert_eq!(le64(&b, 1), 0x0807_0605_0403_0201);
        assert_eq!(be64(&b, 1), 0x0102_0304_0506_0708);
    }

    #[test]
    #[should_panic]
    fn past_the_end_is_a_parser_bug() {
        let _ = le32(&[1, 2, 3], 0);
    }
}
