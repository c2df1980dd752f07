//! Where the Linux root is: the partitions of the image (the whole disk when it has no
//! table), the one ext2/3/4 filesystem holding `/etc/os-release` (or the one asked for),
//! and a bls_boot (XBOOTLDR) partition whose content goes under `boot/`.

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use ddgz_ext4::Fs;
use ddgz_image::Disk;

use crate::{Error, ErrorKind, Result};

/// A filesystem in a partition of the image.
pub(crate) type PartFs = Fs<Arc<dyn Disk>>;

/// GPT type of an XBOOTLDR partition (parted's `bls_boot` flag).
const XBOOTLDR_GUID: &str = "BC13C2FF-59E6-4262-A352-B275FD6F7172";
/// MBR type of an XBOOTLDR partition.
const XBOOTLDR_MBR: u8 = 0xEA;

/// A partition: its number, byte range, and whether it is XBOOTLDR.
pub(crate) struct Part {
    pub number: u32,
    pub range: Range<u64>,
    pub bls_boot: bool,
}

/// The partitions; the whole disk as partition 0 when there is no partition table.
pub(crate) fn partitions(disk: &dyn Disk) -> Vec<Part> {
    let parts = ddgz_layout::partitions(disk).unwrap_or_default();
    if parts.is_empty() {
        return vec![Part {
            number: 0,
            range: 0..disk.size(),
            bls_boot: false,
        }];
    }
    let xbootldr = ddgz_layout::Guid::parse(XBOOTLDR_GUID);
    parts
        .iter()
        .filter_map(|p| {
            let range = ddgz_layout::range_in_disk(p, disk.size()).ok()?;
            let bls_boot = match &p.kind {
                ddgz_layout::PartitionType::Gpt(g) => Some(*g) == xbootldr,
                ddgz_layout::PartitionType::Mbr(t) => *t == XBOOTLDR_MBR,
            };
            Some(Part {
                number: p.number,
                range,
                bls_boot,
            })
        })
        .collect()
}

/// Opens the ext filesystem of `range`.
pub(crate) fn open(disk: &Arc<dyn Disk>, range: &Range<u64>) -> ddgz_ext4::Result<PartFs> {
    Fs::open(disk.clone(), range.start, range.end - range.start)
}

fn input_err(e: ddgz_ext4::Error) -> Error {
    Error::wrap(ErrorKind::Input, e)
}

/// The root filesystem: partition `want`, or the one ext partition holding
/// /etc/os-release.
pub(crate) fn find_root(
    disk: &Arc<dyn Disk>,
    parts: &[Part],
    want: Option<u32>,
    input: &Path,
) -> Result<(u32, PartFs)> {
    if let Some(n) = want {
        let Some(p) = parts.iter().find(|p| p.number == n) else {
            let numbers: Vec<String> = parts.iter().map(|p| p.number.to_string()).collect();
            return Err(Error::new(
                ErrorKind::Usage,
                format!(
                    "{}: no partition {n} (partitions: {})",
                    input.display(),
                    numbers.join(", ")
                ),
            ));
        };
        let fs = open(disk, &p.range)
            .map_err(|e| input_err(e).context(format!("{}: partition {n}", input.display())))?;
        return Ok((n, fs));
    }
    let mut found = Vec::new();
    let mut notes = Vec::new();
    for p in parts {
        let n = p.number;
        match open(disk, &p.range) {
            Ok(fs) => match fs.lookup(b"/etc/os-release", true) {
                Ok(Some(_)) => found.push((n, fs)),
                Ok(None) => notes.push(format!("{n}: ext, no /etc/os-release")),
                Err(e) => notes.push(format!("{n}: ext, {}", chain(&e))),
            },
            Err(ddgz_ext4::Error::NotExt(_)) => notes.push(format!("{n}: not ext2/3/4")),
            Err(e) => notes.push(format!("{n}: {}", chain(&e))),
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(Error::new(
            ErrorKind::Input,
            format!(
                "{}: no ext2/3/4 partition holds /etc/os-release ({}); name the root with \
                 --partition N",
                input.display(),
                notes.join("; ")
            ),
        )),
        _ => {
            let numbers: Vec<String> = found.iter().map(|f| f.0.to_string()).collect();
            Err(Error::new(
                ErrorKind::Usage,
                format!(
                    "{}: partitions {} all hold /etc/os-release; choose the root with \
                     --partition N",
                    input.display(),
                    numbers.join(", ")
                ),
            ))
        }
    }
}

/// An error and its causes on one line, `a: b: c` (as the command line prints them).
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s
}

/// The text of the root's /etc/os-release (empty if there is none or it cannot be read).
pub(crate) fn os_release(fs: &PartFs) -> String {
    match fs.lookup(b"/etc/os-release", true) {
        Ok(Some(i)) => {
            String::from_utf8_lossy(&fs.read_small(&i, 1 << 20).unwrap_or_default()).into_owned()
        }
        _ => String::new(),
    }
}
