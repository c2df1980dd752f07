//! A physical volume: its label, its header and the metadata in its metadata areas
//! (lvm2 `lib/label/label.h`, `lib/format_text/layout.h`). All integers little-endian.
//!
//! ```text
//! sector 0..3, one of them:  label_header (32 bytes)
//!     0  id         "LABELONE"
//!     8  sector_xl  u64  the sector this label is in
//!    16  crc_xl     u32  checksum of bytes 20..512 of the sector
//!    20  offset_xl  u32  where pv_header starts, from the sector's start
//!    24  type       "LVM2 001"
//! pv_header at offset_xl:
//!     0  pv_uuid    32 characters, no dashes
//!    32  device_size_xl u64 bytes
//!    40  data areas:     { offset u64, size u64 }… ended by an all-zero entry
//!        metadata areas: { offset u64, size u64 }… ended by an all-zero entry
//! metadata area (at its offset, in bytes from the PV's start): mda_header (512 bytes)
//!     0  checksum_xl u32  checksum of bytes 4..512
//!     4  magic       " LVM2 x[5A%r0N*>"
//!    20  version     u32 = 1
//!    24  start       u64  the area's own offset
//!    32  size        u64  the area's size
//!    40  raw_locn[]: { offset u64 (from start), size u64, checksum u32, flags u32 }…
//!        ended by an all-zero entry; the first is the committed metadata
//! ```
//!
//! The rest of a metadata area is a circular buffer: a text that would run past the
//! area's end continues right after the 512-byte header.

use ddgz_disk::bytes::{le32, le64};
use ddgz_disk::Disk;

use crate::crc::{calc_crc, INITIAL_CRC};
use crate::error::{corrupt, Error, Result};

/// Bytes per sector in every LVM2 on-disk offset.
pub const SECTOR: u64 = 512;
/// Sectors searched for the label (lvm2 `LABEL_SCAN_SECTORS`).
pub const LABEL_SCAN_SECTORS: u64 = 4;
const LABEL_ID: &[u8; 8] = b"LABELONE";
const LABEL_TYPE: &[u8; 8] = b"LVM2 001";
/// `FMTT_MAGIC`.
const MDA_MAGIC: &[u8; 16] = b" LVM2 x[5A%r0N*>";
/// `FMTT_VERSION`.
const MDA_VERSION: u32 = 1;
/// `MDA_HEADER_SIZE`: the header in front of each metadata area's circular buffer.
pub const MDA_HEADER_SIZE: u64 = 512;
/// `RAW_LOCN_IGNORED`: the area is kept but not used (`pvchange --metadataignore`).
const RAW_LOCN_IGNORED: u32 = 0x1;
/// Most metadata areas a PV may list: lvm2 writes none, one or two
/// (`--pvmetadatacopies`); more would only multiply what a hostile header makes us read.
pub const MAX_METADATA_AREAS: usize = 2;
/// Largest metadata text read from one area: 4 MiB, four times lvm2's default area
/// size, and room for thousands of logical volumes. Bounds memory on a hostile
/// `raw_locn` size.
pub const MAX_TEXT: u64 = 4 << 20;

/// A byte range of the PV that the header points at (`disk_locn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Area {
    /// Offset in bytes from the start of the PV.
    pub offset: u64,
    /// Size in bytes (0 for the data area means "to the end of the device").
    pub size: u64,
}

/// The label and header of a physical volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// The sector holding the label (0–3).
    pub sector: u64,
    /// The PV uuid, 32 characters without the dashes lvm2 prints.
    pub uuid: String,
    /// Device size the PV was created on, in bytes.
    pub device_size: u64,
    /// Data areas (lvm2 makes one; the extents start at `pe_start` of the metadata).
    pub data_areas: Vec<Area>,
    /// Metadata areas (none, one at the start, or one at each end).
    pub metadata_areas: Vec<Area>,
}

/// One committed copy of the metadata text, checked against its checksum.
#[derive(Debug, Clone)]
pub struct MetadataCopy {
    /// Offset of the metadata area it came from, in bytes from the PV's start.
    pub area: u64,
    /// The text, up to (without) its NUL.
    pub text: Vec<u8>,
}

fn read(disk: &dyn Disk, what: &'static str, offset: u64, buf: &mut [u8]) -> Result<()> {
    disk.read_at(offset, buf).map_err(|source| Error::Read {
        what,
        offset,
        len: buf.len() as u64,
        source,
    })
}

/// Whether `disk` starts with an LVM2 label (`LABELONE` in one of its first four
/// sectors), checksum and all. Cheap: reads 2 KiB.
pub fn probe(disk: &dyn Disk) -> bool {
    read_label(disk).is_ok()
}

/// Reads and checks the label and the PV header.
pub fn read_label(disk: &dyn Disk) -> Result<Label> {
    let len = (LABEL_SCAN_SECTORS * SECTOR).min(disk.size() / SECTOR * SECTOR);
    let mut head = vec![0u8; len as usize];
    read(disk, "label sectors", 0, &mut head)?;
    let mut refused = Vec::new();
    for (i, sector) in head.chunks_exact(SECTOR as usize).enumerate() {
        if &sector[..8] != LABEL_ID {
            continue;
        }
        match label_in(i as u64, sector) {
            Ok(l) => return Ok(l),
            Err(e) => refused.push(e),
        }
    }
    match refused.len() {
        0 => Err(Error::NotLvm(format!(
            "no LABELONE in the first {} sectors",
            len / SECTOR
        ))),
        1 => Err(refused.remove(0)),
        _ => Err(corrupt(
            refused
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        )),
    }
}

fn label_in(index: u64, s: &[u8]) -> Result<Label> {
    let at = |m: String| corrupt(format!("label in sector {index}: {m}"));
    let sector = le64(s, 8);
    if sector != index {
        return Err(at(format!("says it is in sector {sector}")));
    }
    let crc = le32(s, 16);
    let want = calc_crc(INITIAL_CRC, &s[20..]);
    if crc != want {
        return Err(at(format!(
            "checksum 0x{crc:08x}, the bytes give 0x{want:08x}"
        )));
    }
    if &s[24..32] != LABEL_TYPE {
        return Err(at(format!(
            "type {:?}, not \"LVM2 001\"",
            String::from_utf8_lossy(&s[24..32])
        )));
    }
    let off = le32(s, 20) as usize;
    // uuid, size and two empty lists at least.
    if !(32..=s.len() - 72).contains(&off) {
        return Err(at(format!(
            "PV header offset {off} outside 32..={}",
            s.len() - 72
        )));
    }
    let h = &s[off..];
    let uuid = &h[..32];
    if !uuid.iter().all(|b| b.is_ascii_graphic()) {
        return Err(at("PV uuid holds non-printable bytes".into()));
    }
    let uuid = String::from_utf8_lossy(uuid).into_owned();
    let device_size = le64(h, 32);
    let mut pos = 40;
    let data_areas = areas(h, &mut pos).map_err(|m| at(format!("data areas: {m}")))?;
    let metadata_areas = areas(h, &mut pos).map_err(|m| at(format!("metadata areas: {m}")))?;
    if metadata_areas.len() > MAX_METADATA_AREAS {
        return Err(at(format!(
            "{} metadata areas, more than the {MAX_METADATA_AREAS} lvm2 writes",
            metadata_areas.len()
        )));
    }
    Ok(Label {
        sector: index,
        uuid,
        device_size,
        data_areas,
        metadata_areas,
    })
}

/// A `disk_locn` list at `h[*pos..]`, up to its all-zero terminator.
fn areas(h: &[u8], pos: &mut usize) -> std::result::Result<Vec<Area>, String> {
    let mut out = Vec::new();
    loop {
        if *pos + 16 > h.len() {
            return Err("the list runs past the label sector without its terminator".into());
        }
        let offset = le64(h, *pos);
        let size = le64(h, *pos + 8);
        *pos += 16;
        if offset == 0 {
            return Ok(out);
        }
        out.push(Area { offset, size });
    }
}

/// Reads the committed metadata text of the area at `area`: `Ok(None)` when the area
/// holds none (a PV in no VG) or is ignored.
pub fn read_metadata(disk: &dyn Disk, area: Area) -> Result<Option<MetadataCopy>> {
    let at = |m: String| corrupt(format!("metadata area at byte {}: {m}", area.offset));
    let end = area.offset.checked_add(area.size);
    if area.size < MDA_HEADER_SIZE * 2 || end.is_none_or(|e| e > disk.size()) {
        return Err(at(format!(
            "size {} is under 1 KiB or runs past the end of the PV ({} bytes)",
            area.size,
            disk.size()
        )));
    }
    let mut h = [0u8; MDA_HEADER_SIZE as usize];
    read(disk, "metadata area header", area.offset, &mut h)?;
    let crc = le32(&h, 0);
    let want = calc_crc(INITIAL_CRC, &h[4..]);
    if crc != want {
        return Err(at(format!(
            "header checksum 0x{crc:08x}, the bytes give 0x{want:08x}"
        )));
    }
    if &h[4..20] != MDA_MAGIC {
        return Err(at("no \" LVM2 x[5A%r0N*>\" magic".into()));
    }
    let version = le32(&h, 20);
    if version != MDA_VERSION {
        return Err(at(format!("version {version}, not 1")));
    }
    let start = le64(&h, 24);
    let size = le64(&h, 32);
    if start != area.offset || size != area.size {
        return Err(at(format!(
            "header says the area is {size} bytes at {start}, the PV header {} at {}",
            area.size, area.offset
        )));
    }
    let (off, len, text_crc, flags) = (le64(&h, 40), le64(&h, 48), le32(&h, 56), le32(&h, 60));
    if off == 0 || flags & RAW_LOCN_IGNORED != 0 {
        return Ok(None);
    }
    if len > MAX_TEXT {
        return Err(Error::Limit(format!(
            "metadata area at byte {}: text of {len} bytes, more than {MAX_TEXT}",
            area.offset
        )));
    }
    let ring = size - MDA_HEADER_SIZE;
    if off < MDA_HEADER_SIZE || off >= size || len == 0 || len > ring {
        return Err(at(format!(
            "text of {len} bytes at {off} does not fit the {ring}-byte buffer after the header"
        )));
    }
    // Checked above: off < size, and both parts lie inside the area.
    let first = len.min(size - off);
    let mut text = vec![0u8; len as usize];
    let (a, b) = text.split_at_mut(first as usize);
    read(disk, "metadata text", area.offset + off, a)?;
    read(disk, "metadata text", area.offset + MDA_HEADER_SIZE, b)?;
    let want = calc_crc(INITIAL_CRC, &text);
    if want != text_crc {
        return Err(at(format!(
            "text of {len} bytes at {off}: checksum 0x{text_crc:08x}, the bytes give 0x{want:08x}"
        )));
    }
    if let Some(nul) = text.iter().position(|&b| b == 0) {
        text.truncate(nul);
    }
    Ok(Some(MetadataCopy {
        area: area.offset,
        text,
    }))
}
