//! Kickstart media: a small disk image with an MBR and one FAT32 partition at 1 MiB
//! holding a few files at its root — what the packer-maas Makefile builds with dd, parted,
//! mformat and mcopy for the ESXi installer's `ks=usb:/KS.CFG`.
//!
//! The volume is formatted by `fatfs::format_volume` (FAT32), then the files are added by
//! the same code as `convert --add` (so long names and timestamps work the same). The
//! image is written into a file the caller opened (ddgz's atomic output file: this crate
//! knows nothing of output paths, temporaries or renames).

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use ddgz_disk::RawDisk;

use crate::spec::{base_name, check_name};
use crate::volume::eq_ignore_case;
use crate::{add_files, AddSpec, Error, Result};

/// First byte of the partition: 1 MiB (sector 2048), as parted and every modern tool align.
pub const KS_PARTITION_START: u64 = 1 << 20;
/// The smallest image: FAT32 needs at least 65525 clusters (FAT spec section 3.5), and
/// `fatfs` uses 512-byte clusters up to 260 MiB, so 32 MiB of clusters plus the FATs,
/// reserved sectors and the 1 MiB gap before the partition.
pub const KS_MIN_SIZE: u64 = 34 << 20;
/// MBR partition type: FAT32 with LBA addressing.
const MBR_TYPE_FAT32_LBA: u8 = 0x0C;
const SECTOR: u64 = 512;

/// How to build the medium.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct KsOptions {
    /// Size of the whole image in bytes: a multiple of 512, at least [`KS_MIN_SIZE`].
    pub size: u64,
    /// Volume label, up to 11 characters (stored upper case).
    pub label: String,
}

impl KsOptions {
    /// A medium of `size` bytes whose volume is labelled `label`.
    pub fn new(size: u64, label: impl Into<String>) -> Self {
        Self {
            size,
            label: label.into(),
        }
    }
}

/// Writes the kickstart medium holding `files` at the root of its FAT32 partition into
/// `out`, an empty file open for reading and writing (`name` names it in errors), and
/// fsyncs it.
pub fn ks_media(files: &[PathBuf], out: &File, name: &Path, opts: &KsOptions) -> Result<()> {
    let bad_size = |reason: String| Error::BadOption {
        option: "--size".into(),
        value: format!("{} bytes", opts.size),
        reason,
    };
    if opts.size % SECTOR != 0 || opts.size < KS_MIN_SIZE {
        return Err(bad_size(format!(
            "must be a multiple of 512 and at least {KS_MIN_SIZE} bytes ({} MiB: FAT32 needs 65525 clusters)",
            KS_MIN_SIZE >> 20
        )));
    }
    if opts.size / SECTOR > u32::MAX as u64 {
        return Err(bad_size("an MBR addresses at most 2 TiB".into()));
    }
    let label = volume_label(&opts.label).map_err(|reason| Error::BadOption {
        option: "--label".into(),
        value: opts.label.clone(),
        reason,
    })?;
    // Files: regular, nameable, distinct.
    let mut specs: Vec<AddSpec> = Vec::new();
    for f in files {
        let meta = fs::metadata(f).map_err(|e| Error::Source {
            path: f.clone(),
            what: if e.kind() == io::ErrorKind::NotFound {
                "no such file".into()
            } else {
                format!("cannot read it: {e}")
            },
            source: Some(e),
        })?;
        if !meta.is_file() {
            return Err(Error::Source {
                path: f.clone(),
                what: "not a regular file (ks-media puts files at the root; use convert --add for trees)".into(),
                source: None,
            });
        }
        let name = base_name(f).ok_or_else(|| Error::Source {
            path: f.clone(),
            what: "has no usable file name".into(),
            source: None,
        })?;
        check_name(&name).map_err(|reason| Error::BadName {
            path: f.clone(),
            name: name.clone(),
            reason,
        })?;
        if let Some(o) = specs.iter().find(|s| eq_ignore_case(&s.dest, &name)) {
            return Err(Error::Source {
                path: f.clone(),
                what: format!("same name as {} (FAT ignores case)", o.src.display()),
                source: None,
            });
        }
        specs.push(AddSpec {
            partition: 1,
            src: f.clone(),
            dest: name,
        });
    }
    let werr = |what: &str, e: io::Error| Error::Output {
        path: name.into(),
        what: what.into(),
        source: Some(e),
    };
    out.set_len(opts.size)
        .map_err(|e| werr("set its size", e))?;
    out.write_all_at(&mbr(opts.size, &label), 0)
        .map_err(|e| werr("write the MBR", e))?;
    let part_len = opts.size - KS_PARTITION_START;
    let fmt = fatfs::FormatVolumeOptions::new()
        .fat_type(fatfs::FatType::Fat32)
        .volume_label(label)
        .volume_id(volume_id(&specs, opts.size));
    fatfs::format_volume(
        Slice {
            file: out,
            start: KS_PARTITION_START,
            len: part_len,
            pos: 0,
        },
        fmt,
    )
    .map_err(|e| werr("format the FAT32 volume", e))?;
    init_fsinfo(out, part_len).map_err(|e| werr("initialise the FSInfo sector", e))?;
    // Add the files through the copy-on-write path, then write the patches in place.
    let disk = RawDisk::from_file(
        name,
        out.try_clone().map_err(|e| werr("reopen", e))?,
        opts.size,
    )
    .map_err(|e| werr("reopen", io::Error::other(e)))?;
    let patches = add_files(&disk, KS_PARTITION_START..opts.size, &specs, false)?;
    for p in patches {
        out.write_all_at(&p.data, p.offset)
            .map_err(|e| werr("write the files", e))?;
    }
    out.sync_all().map_err(|e| werr("sync", e))
}

/// `format_volume` leaves the FSInfo free-cluster count "unknown" (0xFFFFFFFF), which
/// `fsck.fat` reports. A fresh volume has every cluster free but the root directory's
/// (cluster 2): record that, and cluster 3 as the next free one, so that `fatfs` keeps
/// both exact while adding the files. FSInfo layout: FAT spec 1.03, section 5 (free count
/// at 0x1E8, next free at 0x1EC).
fn init_fsinfo(file: &File, part_len: u64) -> io::Result<()> {
    let mut boot = [0u8; 512];
    file.read_exact_at(&mut boot, KS_PARTITION_START)?;
    let geo = crate::bpb::Geometry::parse(&boot, part_len)
        .map_err(|r| io::Error::other(format!("the new volume does not parse: {r}")))?;
    let fsinfo = u16::from_le_bytes([boot[0x30], boot[0x31]]) as u64;
    let bps = u16::from_le_bytes([boot[0x0B], boot[0x0C]]) as u64;
    let at = KS_PARTITION_START + fsinfo * bps;
    file.write_all_at(&(geo.clusters - 1).to_le_bytes(), at + 0x1E8)?;
    file.write_all_at(&3u32.to_le_bytes(), at + 0x1EC)
}

/// The 11-byte, space-padded, upper-case label; the characters FAT allows in 8.3 names.
fn volume_label(s: &str) -> std::result::Result<[u8; 11], String> {
    if s.is_empty() || s.len() > 11 {
        return Err("must be 1 to 11 characters".into());
    }
    let mut out = [b' '; 11];
    for (i, c) in s.chars().enumerate() {
        let c = c.to_ascii_uppercase();
        if !(c.is_ascii_alphanumeric() || "!#$%&'()-@^_`{}~ ".contains(c)) {
            return Err(format!(
                "the character {c:?} is not allowed in a volume label"
            ));
        }
        out[i] = c as u8;
    }
    Ok(out)
}

/// A volume serial derived from the content, so equal inputs give equal images
/// (FNV-1a over names, sizes and the image size).
fn volume_id(specs: &[AddSpec], size: u64) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    let mut eat = |b: &[u8]| {
        for &x in b {
            h = (h ^ x as u32).wrapping_mul(0x0100_0193);
        }
    };
    eat(&size.to_le_bytes());
    for s in specs {
        eat(s.dest.as_bytes());
        eat(&fs::metadata(&s.src)
            .map(|m| m.len())
            .unwrap_or(0)
            .to_le_bytes());
    }
    h
}

/// The MBR: one FAT32 (LBA) partition from sector 2048 to the end (layout: the "Master
/// Boot Record" partition table at 0x1BE, 16-byte entries, signature 55 AA at 0x1FE).
fn mbr(size: u64, label: &[u8; 11]) -> [u8; 512] {
    let mut m = [0u8; 512];
    // Disk signature at 0x1B8: derived from the label and size, stable across runs.
    let sig = label
        .iter()
        .chain(size.to_le_bytes().iter())
        .fold(0x6464_677a_u32, |h, &b| h.rotate_left(5) ^ b as u32);
    m[0x1B8..0x1BC].copy_from_slice(&sig.to_le_bytes());
    let first = (KS_PARTITION_START / SECTOR) as u32;
    let count = (size / SECTOR) as u32 - first;
    let e = &mut m[0x1BE..0x1CE];
    e[0] = 0x00; // not active
    e[1..4].copy_from_slice(&chs(first));
    e[4] = MBR_TYPE_FAT32_LBA;
    e[5..8].copy_from_slice(&chs(first + count - 1));
    e[8..12].copy_from_slice(&first.to_le_bytes());
    e[12..16].copy_from_slice(&count.to_le_bytes());
    m[0x1FE] = 0x55;
    m[0x1FF] = 0xAA;
    m
}

/// CHS address of an LBA with the usual 255 heads × 63 sectors geometry; past cylinder 1023
/// the conventional 1023/254/63.
fn chs(lba: u32) -> [u8; 3] {
    let c = lba / (255 * 63);
    if c > 1023 {
        return [0xFE, 0xFF, 0xFF];
    }
    let h = (lba / 63) % 255;
    let s = lba % 63 + 1;
    [h as u8, (s as u8) | ((c >> 2) as u8 & 0xC0), c as u8]
}

/// `[start, start + len)` of a file as a stream, for `format_volume`.
struct Slice<'f> {
    file: &'f File,
    start: u64,
    len: u64,
    pos: u64,
}

impl Read for Slice<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.len.saturating_sub(self.pos).min(buf.len() as u64) as usize;
        if n == 0 {
            return Ok(0);
        }
        self.file
            .read_exact_at(&mut buf[..n], self.start + self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Write for Slice<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.len.saturating_sub(self.pos).min(buf.len() as u64) as usize;
        if n == 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "past the end of the partition",
            ));
        }
        self.file.write_all_at(&buf[..n], self.start + self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for Slice<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let new = match to {
            SeekFrom::Start(o) => Some(o),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos =
            new.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before start"))?;
        Ok(self.pos)
    }
}
