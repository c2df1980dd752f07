//! Where the Linux root is: the partitions of the image (the whole disk when it has no
//! table) and the LVM logical volumes on them, the one ext2/3/4 or XFS filesystem holding
//! `/etc/os-release` (or the partition or `VG/LV` asked for), and a bls_boot (XBOOTLDR)
//! partition whose content goes under `boot/`.

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use ddgz_image::Disk;

use crate::volume::{with_tree, OpenError, VolFs};
use crate::{Error, ErrorKind, Result};

/// GPT type of an XBOOTLDR partition (parted's `bls_boot` flag).
const XBOOTLDR_GUID: &str = "BC13C2FF-59E6-4262-A352-B275FD6F7172";
/// MBR type of an XBOOTLDR partition.
const XBOOTLDR_MBR: u8 = 0xEA;

/// A partition: its number, byte range, whether it is XBOOTLDR, whether its type is LVM.
pub(crate) struct Part {
    pub number: u32,
    pub range: Range<u64>,
    pub bls_boot: bool,
    pub lvm: bool,
}

/// The partitions; the whole disk as partition 0 when there is no partition table.
pub(crate) fn partitions(disk: &dyn Disk) -> Vec<Part> {
    let parts = ddgz_layout::partitions(disk).unwrap_or_default();
    if parts.is_empty() {
        return vec![Part {
            number: 0,
            range: 0..disk.size(),
            bls_boot: false,
            lvm: false,
        }];
    }
    let xbootldr = ddgz_layout::Guid::parse(XBOOTLDR_GUID);
    let lvm_guid = ddgz_layout::Guid::parse(ddgz_lvm::scan::GPT_LINUX_LVM);
    parts
        .iter()
        .filter_map(|p| {
            let range = ddgz_layout::range_in_disk(p, disk.size()).ok()?;
            let (bls_boot, lvm) = match &p.kind {
                ddgz_layout::PartitionType::Gpt(g) => (Some(*g) == xbootldr, Some(*g) == lvm_guid),
                ddgz_layout::PartitionType::Mbr(t) => {
                    (*t == XBOOTLDR_MBR, *t == ddgz_lvm::scan::MBR_LINUX_LVM)
                }
            };
            Some(Part {
                number: p.number,
                range,
                bls_boot,
                lvm,
            })
        })
        .collect()
}

/// Where the root (or /boot) is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Place {
    /// A partition's number (0: the whole disk).
    Partition(u32),
    /// An LVM logical volume, `VG/LV`.
    Lv(String),
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Partition(n) => write!(f, "partition {n}"),
            Self::Lv(name) => write!(f, "logical volume {name}"),
        }
    }
}

/// Opens the filesystem of `range`.
pub(crate) fn open(
    disk: &Arc<dyn Disk>,
    range: &Range<u64>,
) -> std::result::Result<VolFs, OpenError> {
    VolFs::open(disk, range)
}

fn input_err(e: OpenError) -> Error {
    match e {
        OpenError::Ext(e) => Error::wrap(ErrorKind::Input, e),
        OpenError::Xfs(e) => Error::wrap(ErrorKind::Input, e),
        OpenError::Unknown => Error::new(ErrorKind::Input, "neither ext2/3/4 nor XFS"),
    }
}

/// The volume groups on the partitions (none when there is no PV or they cannot be put
/// together: the reason goes to `notes`).
fn lvm_scan(
    disk: &Arc<dyn Disk>,
    parts: &[Part],
    notes: &mut Vec<String>,
) -> Option<ddgz_lvm::Found<Arc<dyn Disk>>> {
    let candidates = parts.iter().map(|p| ddgz_lvm::Candidate {
        number: p.number,
        range: p.range.clone(),
        lvm_type: p.lvm,
    });
    match ddgz_lvm::scan(disk.clone(), candidates) {
        Ok(found) => {
            for (n, e) in &found.refused {
                notes.push(format!("{n}: {}", chain(e)));
            }
            Some(found)
        }
        Err(e) => {
            notes.push(format!("LVM: {}", chain(&e)));
            None
        }
    }
}

/// Opens logical volume `name` as a disk.
fn open_lv(
    found: &ddgz_lvm::Found<Arc<dyn Disk>>,
    name: &str,
) -> ddgz_lvm::Result<(Arc<dyn Disk>, Range<u64>)> {
    let lv = found.open(name)?;
    let size = lv.size();
    Ok((Arc::new(lv), 0..size))
}

/// The root filesystem: partition `want`, logical volume `want_lv` (`VG/LV`), or the one
/// ext/XFS filesystem holding /etc/os-release among the partitions and the logical
/// volumes of the volume groups on them.
pub(crate) fn find_root(
    disk: &Arc<dyn Disk>,
    parts: &[Part],
    want: Option<u32>,
    want_lv: Option<&str>,
    input: &Path,
) -> Result<(Place, VolFs)> {
    if let Some(name) = want_lv {
        let mut notes = Vec::new();
        let ctx = || format!("{}: logical volume {name}", input.display());
        let found = lvm_scan(disk, parts, &mut notes);
        let names = found.as_ref().map(|f| f.names()).unwrap_or_default();
        let Some(found) = found.filter(|_| names.iter().any(|n| n == name)) else {
            if ddgz_lvm::split_name(name).is_none() {
                return Err(Error::new(
                    ErrorKind::Usage,
                    format!("--root {name}: not a VG/LV name"),
                ));
            }
            let mut known = names.join(", ");
            if known.is_empty() {
                known = "none".into();
            }
            if !notes.is_empty() {
                known = format!("{known}; {}", notes.join("; "));
            }
            return Err(Error::new(
                ErrorKind::Usage,
                format!(
                    "{}: no logical volume {name} (found: {known})",
                    input.display()
                ),
            ));
        };
        let (lv, range) =
            open_lv(&found, name).map_err(|e| Error::wrap(ErrorKind::Input, e).context(ctx()))?;
        let fs = open(&lv, &range).map_err(|e| input_err(e).context(ctx()))?;
        return Ok((Place::Lv(name.to_string()), fs));
    }
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
        return Ok((Place::Partition(n), fs));
    }
    let mut found = Vec::new();
    let mut notes = Vec::new();
    let mut look = |place: Place,
                    r: std::result::Result<VolFs, OpenError>,
                    notes: &mut Vec<String>| {
        let n = match &place {
            Place::Partition(n) => n.to_string(),
            Place::Lv(name) => name.clone(),
        };
        match r {
            Ok(fs) => {
                let kind = fs.kind();
                match with_tree!(&fs, t => t.lookup(b"/etc/os-release", true).map(|i| i.is_some()).map_err(|e| chain(&e)))
                {
                    Ok(true) => found.push((place, fs)),
                    Ok(false) => notes.push(format!("{n}: {kind}, no /etc/os-release")),
                    Err(e) => notes.push(format!("{n}: {kind}, {e}")),
                }
            }
            Err(OpenError::Unknown) => notes.push(format!("{n}: not ext2/3/4 or XFS")),
            Err(e) => notes.push(format!("{n}: {}", chain(&*e.into_error()))),
        }
    };
    for p in parts {
        look(Place::Partition(p.number), open(disk, &p.range), &mut notes);
    }
    if let Some(lvm) = lvm_scan(disk, parts, &mut notes) {
        for name in lvm.names() {
            match open_lv(&lvm, &name) {
                Ok((lv, range)) => look(Place::Lv(name), open(&lv, &range), &mut notes),
                Err(e) => notes.push(format!("{name}: {}", chain(&e))),
            }
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(Error::new(
            ErrorKind::Input,
            format!(
                "{}: no ext2/3/4 or XFS filesystem holds /etc/os-release ({}); name the root \
                 with --partition N or --root VG/LV",
                input.display(),
                notes.join("; ")
            ),
        )),
        _ => {
            let list = |lv: bool| -> Vec<String> {
                let places = found.iter().filter_map(|f| match &f.0 {
                    Place::Partition(n) if !lv => Some(n.to_string()),
                    Place::Lv(name) if lv => Some(name.clone()),
                    _ => None,
                });
                places.collect()
            };
            let mut places = Vec::new();
            for (lv, one, many) in [
                (false, "partition", "partitions"),
                (true, "logical volume", "logical volumes"),
            ] {
                let l = list(lv);
                match l.len() {
                    0 => {}
                    1 => places.push(format!("{one} {}", l[0])),
                    _ => places.push(format!("{many} {}", l.join(", "))),
                }
            }
            Err(Error::new(
                ErrorKind::Usage,
                format!(
                    "{}: {} all hold /etc/os-release; choose the root with --partition N or \
                     --root VG/LV",
                    input.display(),
                    places.join(" and ")
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
pub(crate) fn os_release(fs: &VolFs) -> String {
    with_tree!(fs, t => match t.lookup(b"/etc/os-release", true) {
        Ok(Some(i)) => {
            String::from_utf8_lossy(&t.read_small(&i, 1 << 20).unwrap_or_default()).into_owned()
        }
        _ => String::new(),
    })
}
