//! The CRC-32C check of every v5 metadata block (`xfs_verify_cksum`), over
//! [`ddgz_disk::crc32c`]. Fuzz builds (`cfg(fuzzing)`) accept every CRC.

pub use ddgz_disk::crc32c::crc32c;

/// Whether `block` carries a correct CRC-32C in its 4 bytes at `at` (false when they are
/// not inside `block`).
pub fn verify(block: &[u8], at: usize) -> bool {
    // Under `cargo fuzz` every CRC passes, so that mutations reach the structures behind.
    cfg!(fuzzing) || ddgz_disk::crc32c::valid(block, at)
}
