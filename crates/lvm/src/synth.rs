//! Physical volumes built in memory, checksums and all: for tests and for fuzzing the
//! metadata text behind valid checksums. The layout is lvm2's default: label in sector
//! 1, one metadata area from byte 4096 to 1 MiB, extents from 1 MiB.

use crate::crc::{calc_crc, INITIAL_CRC};
use crate::pv::MDA_HEADER_SIZE;

/// Offset of the metadata area.
pub const MDA_OFFSET: u64 = 4096;
/// Size of the metadata area.
pub const MDA_SIZE: u64 = (1 << 20) - MDA_OFFSET;
/// First byte of the data area (`pe_start` = 2048 sectors).
pub const PE_START: u64 = 1 << 20;

/// A PV of `size` bytes (at least 1 MiB) with uuid `uuid` whose metadata area holds
/// `text` (NUL-terminated, cut to fit) at the start of its buffer.
pub fn pv_with_text(uuid: &[u8; 32], text: &[u8], size: u64) -> Vec<u8> {
    pv_with_text_at(uuid, text, size, MDA_HEADER_SIZE)
}

/// As [`pv_with_text`], the text at `at` bytes into the metadata area (wrapping to
/// just after the header when it runs past the area's end).
pub fn pv_with_text_at(uuid: &[u8; 32], text: &[u8], size: u64, at: u64) -> Vec<u8> {
    let mut d = vec![0u8; size.max(PE_START) as usize];
    // Label in sector 1.
    let l = 512;
    d[l..l + 8].copy_from_slice(b"LABELONE");
    d[l + 8..l + 16].copy_from_slice(&1u64.to_le_bytes());
    d[l + 20..l + 24].copy_from_slice(&32u32.to_le_bytes());
    d[l + 24..l + 32].copy_from_slice(b"LVM2 001");
    let h = l + 32;
    d[h..h + 32].copy_from_slice(uuid);
    d[h + 32..h + 40].copy_from_slice(&size.to_le_bytes());
    d[h + 40..h + 48].copy_from_slice(&PE_START.to_le_bytes());
    // data area size 0 (to the end), terminator, then the metadata area.
    d[h + 72..h + 80].copy_from_slice(&MDA_OFFSET.to_le_bytes());
    d[h + 80..h + 88].copy_from_slice(&MDA_SIZE.to_le_bytes());
    let crc = calc_crc(INITIAL_CRC, &d[l + 20..l + 512]);
    d[l + 16..l + 20].copy_from_slice(&crc.to_le_bytes());

    let ring = (MDA_SIZE - MDA_HEADER_SIZE) as usize;
    let mut t = text[..text.len().min(ring - 1)].to_vec();
    t.push(0);
    let at = at.clamp(MDA_HEADER_SIZE, MDA_SIZE - 1);
    let m = MDA_OFFSET as usize;
    for (i, &b) in t.iter().enumerate() {
        let mut o = at as usize + i;
        if o >= MDA_SIZE as usize {
            o -= ring;
        }
        d[m + o] = b;
    }
    d[m + 4..m + 20].copy_from_slice(b" LVM2 x[5A%r0N*>");
    d[m + 20..m + 24].copy_from_slice(&1u32.to_le_bytes());
    d[m + 24..m + 32].copy_from_slice(&MDA_OFFSET.to_le_bytes());
    d[m + 32..m + 40].copy_from_slice(&MDA_SIZE.to_le_bytes());
    d[m + 40..m + 48].copy_from_slice(&at.to_le_bytes());
    d[m + 48..m + 56].copy_from_slice(&(t.len() as u64).to_le_bytes());
    d[m + 56..m + 60].copy_from_slice(&calc_crc(INITIAL_CRC, &t).to_le_bytes());
    let crc = calc_crc(INITIAL_CRC, &d[m + 4..m + 512]);
    d[m..m + 4].copy_from_slice(&crc.to_le_bytes());
    d
}
