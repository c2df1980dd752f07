//! The Windows layout and MAAS readiness checks (WINDOWS.md):
//!
//! - the Windows partition is the one NTFS partition holding `Windows/System32`;
//! - GPT (UEFI): an EFI System partition, FAT, holding `EFI/Microsoft/Boot/bootmgfw.efi`
//!   (packer-maas's layout: 1 ESP, 2 MSR, 3 recovery, 4 Windows); MBR (BIOS): `bootmgr`
//!   on an NTFS partition (System Reserved or Windows itself);
//! - a recovery partition after Windows keeps MAAS from growing the Windows partition;
//! - curtin mounts each partition after writing the image and runs `curtin/curtin-hooks`
//!   from the first holding `curtin/`; cloudbase's windows-curtin-hooks write Cloudbase-Init's
//!   configuration into that same partition, so the hooks must be on the Windows
//!   partition, and Cloudbase-Init must be installed there;
//! - a dirty, hibernated or unreplayed volume is one ntfs-3g refuses to mount read-write
//!   (and Windows runs chkdsk on): the hooks cannot write.

use std::ops::Range;

use ddgz_content::{Content, PartitionReport};
use ddgz_disk::Disk;
use ddgz_findings::Finding;
use ddgz_ntfs::{LogState, Stream, Volume};
use ddgz_partitions::{Guid, PartitionType, Table, TableSource};
use serde::Serialize;

use crate::hive::{self, Edition};

/// The hook curtin runs.
pub const HOOKS: &str = "curtin/curtin-hooks";
/// The hook curtin runs at the end of the installation.
pub const FINALIZE: &str = "curtin/finalize";
/// The UEFI boot manager on the EFI System partition.
pub const BOOTMGFW: &str = "EFI/Microsoft/Boot/bootmgfw.efi";
/// The BIOS boot manager.
pub const BOOTMGR: &str = "bootmgr";
/// The registry hive holding the edition.
pub const SOFTWARE_HIVE: &str = "Windows/System32/config/SOFTWARE";
/// Where Cloudbase-Init installs itself (64-bit, then 32-bit).
pub const CLOUDBASE_INIT: [&str; 2] = [
    "Program Files/Cloudbase Solutions/Cloudbase-Init",
    "Program Files (x86)/Cloudbase Solutions/Cloudbase-Init",
];
/// Largest SOFTWARE hive read from (a real one is 50-150 MiB; only a few cells are read).
pub const MAX_HIVE: u64 = 1 << 30;

const ESP: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
const MSR: &str = "E3C9E316-0B5C-4DB8-817D-F92DF00215AE";
const RECOVERY: &str = "DE94BBA4-06D1-4D40-A16A-BFD50179D6AC";
/// MBR type of a Windows RE partition.
const MBR_RECOVERY: u8 = 0x27;

/// How the disk boots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Boot {
    /// GPT with an EFI System partition.
    Uefi,
    /// MBR.
    Bios,
}

/// What the profile found about the Windows on the disk (`inspect` shows it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Windows {
    /// The Windows partition.
    pub partition: u32,
    /// GPT/UEFI or MBR/BIOS.
    pub boot: Boot,
    /// The EFI System partition (GPT).
    pub esp: Option<u32>,
    /// The Microsoft reserved partition (GPT).
    pub msr: Option<u32>,
    /// Recovery partitions.
    pub recovery: Vec<u32>,
    /// Edition and build from the SOFTWARE hive.
    pub edition: Option<Edition>,
    /// Why the edition is unknown.
    pub edition_missing: Option<String>,
}

impl Windows {
    /// "Windows Server 2022 Datacenter, build 20348 (21H2)" (what is known of it).
    pub fn describe(&self) -> Option<String> {
        let e = self.edition.as_ref()?;
        let name = e
            .product_name
            .clone()
            .or_else(|| e.edition_id.clone())
            .unwrap_or_else(|| "Windows".into());
        let mut s = name;
        if let Some(b) = &e.build {
            s.push_str(&format!(", build {b}"));
        }
        if let Some(v) = &e.display_version {
            s.push_str(&format!(" ({v})"));
        }
        Some(s)
    }
}

/// Where Windows is among the partitions.
#[derive(Debug)]
pub enum Located {
    /// No NTFS partition holds `Windows/System32`: one note per partition.
    None(Vec<String>),
    /// One does.
    One(u32),
    /// Several do.
    Several(Vec<u32>),
}

fn ranges(disk: &dyn Disk, parts: &[PartitionReport]) -> Vec<(u32, Range<u64>)> {
    parts
        .iter()
        .filter(|p| matches!(&p.content, Content::Other { name } if name == "NTFS"))
        .filter_map(|p| {
            let r = ddgz_partitions::range_in_disk(&p.partition, disk.size()).ok()?;
            Some((p.partition.number, r))
        })
        .collect()
}

/// The NTFS partition(s) holding `Windows/System32`.
pub fn locate(disk: &dyn Disk, parts: &[PartitionReport]) -> Located {
    use ddgz_ntfs::find::FindError;
    let r = ranges(disk, parts);
    if r.is_empty() {
        return Located::None(vec!["no NTFS partition".into()]);
    }
    match ddgz_ntfs::find::windows_partition(disk, &r, None) {
        Ok((n, _)) => Located::One(n),
        Err(FindError::Several { numbers }) => Located::Several(numbers),
        Err(FindError::None { notes }) => Located::None(notes),
        Err(e) => Located::None(vec![e.to_string()]),
    }
}

/// A hive read through an NTFS stream.
struct HiveFile<'a, D: Disk> {
    vol: &'a Volume<D>,
    stream: Stream,
}

impl<D: Disk> hive::Source for HiveFile<'_, D> {
    fn size(&self) -> u64 {
        self.stream.len().min(MAX_HIVE)
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), String> {
        let n = self
            .vol
            .read_at(&self.stream, offset, buf)
            .map_err(|e| e.to_string())?;
        if n < buf.len() {
            return Err(format!("{n} of {} bytes read", buf.len()));
        }
        Ok(())
    }
}

/// The edition from the SOFTWARE hive of `vol`, or why not.
pub fn edition<D: Disk>(vol: &Volume<D>) -> Result<Edition, String> {
    let f = vol
        .lookup(SOFTWARE_HIVE)
        .map_err(|e| format!("{SOFTWARE_HIVE}: {e}"))?
        .ok_or_else(|| format!("no {SOFTWARE_HIVE}"))?;
    let stream = vol
        .data(&f, "")
        .map_err(|e| format!("{SOFTWARE_HIVE}: {e}"))?
        .ok_or_else(|| format!("{SOFTWARE_HIVE} has no data"))?;
    match hive::edition(HiveFile { vol, stream }) {
        Ok(Some(e)) => Ok(e),
        Ok(None) => Err(format!("{SOFTWARE_HIVE} has no {}", hive::CURRENT_VERSION)),
        Err(e) => Err(format!("{SOFTWARE_HIVE}: {e}")),
    }
}

/// What [`check`] found.
#[derive(Debug, Default)]
pub struct Checked {
    /// The Windows found (`None` when there is not exactly one Windows partition).
    pub windows: Option<Windows>,
    /// Layout findings.
    pub layout: Vec<Finding>,
    /// MAAS readiness findings.
    pub readiness: Vec<Finding>,
}

fn guid_is(kind: &PartitionType, g: &str) -> bool {
    matches!(kind, PartitionType::Gpt(k) if Some(*k) == Guid::parse(g))
}

/// Whether `path` exists on NTFS `vol` (`Some(true)` a directory).
fn ntfs_has<D: Disk>(vol: &Volume<D>, path: &str) -> Result<Option<bool>, String> {
    vol.lookup(path)
        .map(|f| f.map(|f| f.is_directory()))
        .map_err(|e| format!("{path}: {e}"))
}

/// The Windows profile's findings for `disk`.
pub fn check(disk: &dyn Disk, table: &Table, parts: &[PartitionReport]) -> Checked {
    let mut c = Checked::default();
    let n = match locate(disk, parts) {
        Located::One(n) => n,
        Located::Several(ns) => {
            c.layout.push(Finding::error(
                "windows-several",
                None,
                format!(
                    "partitions {ns:?} all hold Windows/System32: curtin configures the first \
                     partition holding curtin/, and MAAS can grow only one; keep one Windows"
                ),
            ));
            return c;
        }
        Located::None(notes) => {
            c.layout.push(Finding::error(
                "windows-not-found",
                None,
                format!(
                    "no NTFS partition holds Windows/System32 ({})",
                    notes.join("; ")
                ),
            ));
            return c;
        }
    };
    let Some(wp) = parts.iter().find(|p| p.partition.number == n) else {
        return c;
    };
    let Ok(range) = ddgz_partitions::range_in_disk(&wp.partition, disk.size()) else {
        return c;
    };
    let vol = match Volume::open(disk, range.start, range.end - range.start) {
        Ok(v) => v,
        Err(e) => {
            c.layout.push(Finding::error(
                "windows-ntfs-unreadable",
                Some(n),
                format!("NTFS: {e}"),
            ));
            return c;
        }
    };
    let gpt = table.source != TableSource::Mbr;
    let find = |g: &str| {
        parts
            .iter()
            .find(|p| guid_is(&p.partition.kind, g))
            .map(|p| p.partition.number)
    };
    let recovery: Vec<&PartitionReport> = parts
        .iter()
        .filter(|p| {
            guid_is(&p.partition.kind, RECOVERY)
                || p.partition.kind == PartitionType::Mbr(MBR_RECOVERY)
        })
        .collect();
    let mut w = Windows {
        partition: n,
        boot: if gpt { Boot::Uefi } else { Boot::Bios },
        esp: find(ESP),
        msr: find(MSR),
        recovery: recovery.iter().map(|p| p.partition.number).collect(),
        edition: None,
        edition_missing: None,
    };
    if gpt {
        let esp = parts.iter().find(|p| guid_is(&p.partition.kind, ESP));
        match esp.map(|p| (p, &p.content)) {
            Some((p, Content::Fat(_))) => {
                let en = p.partition.number;
                let found = ddgz_partitions::range_in_disk(&p.partition, disk.size())
                    .map_err(|e| e.to_string())
                    .and_then(|r| {
                        ddgz_fat::read_small(disk, r, en, BOOTMGFW, 0).map_err(|e| e.to_string())
                    });
                match found {
                    Ok(ddgz_fat::Small::File(_) | ddgz_fat::Small::TooLarge(_)) => {}
                    other => c.layout.push(Finding::error(
                        "windows-no-bootmgfw",
                        Some(en),
                        format!(
                            "{}: UEFI firmware starts Windows from {BOOTMGFW} on the EFI System \
                             partition; rebuild the image (bcdboot C:\\Windows /s S: /f UEFI)",
                            match other {
                                Err(e) => format!("{BOOTMGFW} cannot be read ({e})"),
                                _ => format!("no {BOOTMGFW}"),
                            }
                        ),
                    )),
                }
            }
            other => c.layout.push(Finding::error(
                "windows-no-esp",
                other.map(|(p, _)| p.partition.number),
                format!(
                    "{}: a GPT disk boots only through UEFI, which starts Windows from {BOOTMGFW} \
                     on a FAT EFI System partition",
                    match other {
                        None => "no EFI System partition".to_string(),
                        Some((_, content)) => {
                            format!("the EFI System partition holds {}", content.describe())
                        }
                    }
                ),
            )),
        }
    } else {
        c.layout.push(Finding::info(
            "windows-bios",
            None,
            "an MBR layout: the machine boots Windows through BIOS (legacy boot), so MAAS must \
             deploy it in legacy mode; a GPT layout with an EFI System partition boots through \
             UEFI",
        ));
        let has_bootmgr = ranges(disk, parts).into_iter().any(|(_, r)| {
            Volume::open(disk, r.start, r.end - r.start)
                .ok()
                .is_some_and(|v| matches!(v.lookup(BOOTMGR), Ok(Some(_))))
        });
        if !has_bootmgr {
            c.layout.push(Finding::error(
                "windows-no-bootmgr",
                None,
                format!(
                    "no NTFS partition has {BOOTMGR} in its root: BIOS boot starts Windows from \
                     it (System Reserved, or the Windows partition itself)"
                ),
            ));
        }
    }
    if let Some(r) = recovery
        .iter()
        .find(|r| r.partition.first_lba > wp.partition.first_lba)
    {
        c.layout.push(Finding::info(
            "windows-recovery-after",
            Some(r.partition.number),
            format!(
                "the recovery partition follows the Windows partition {n}: MAAS cannot grow \
                 Windows into the rest of the target disk (packer-maas puts recovery before \
                 Windows)"
            ),
        ));
    }
    match edition(&vol) {
        Ok(e) => w.edition = Some(e),
        Err(why) => {
            c.layout.push(Finding::info(
                "windows-edition-unknown",
                Some(n),
                format!("edition unknown: {why}"),
            ));
            w.edition_missing = Some(why);
        }
    }
    readiness(&vol, n, &mut c.readiness);
    c.windows = Some(w);
    c
}

/// The MAAS readiness findings of Windows partition `n`.
fn readiness<D: Disk>(vol: &Volume<D>, n: u32, f: &mut Vec<Finding>) {
    let p = Some(n);
    match ntfs_has(vol, HOOKS) {
        Ok(Some(false)) => {}
        other => f.push(Finding::error(
            "windows-hooks-missing",
            p,
            format!(
                "{}: after writing the image curtin mounts each partition and runs the hooks \
                 from the one holding curtin/; without them the deployment cannot be configured \
                 (copy cloudbase's windows-curtin-hooks into curtin/ on partition {n})",
                match other {
                    Err(e) => format!("{HOOKS} cannot be read ({e})"),
                    Ok(Some(true)) => format!("{HOOKS} is a directory"),
                    _ => format!("no {HOOKS}"),
                }
            ),
        )),
    }
    if !matches!(ntfs_has(vol, FINALIZE), Ok(Some(false))) {
        f.push(Finding::warning(
            "windows-finalize-missing",
            p,
            format!(
                "no {FINALIZE}: curtin runs it at the end of the installation, and cloudbase's \
                 windows-curtin-hooks ship it (with finalize.py) to finish the configuration"
            ),
        ));
    }
    match vol.facts() {
        Ok(facts) => {
            if facts.dirty {
                f.push(Finding::error(
                    "windows-volume-dirty",
                    p,
                    format!(
                        "the NTFS dirty flag is set ($Volume flags {:#06x}): Windows will run \
                         chkdsk at boot, and ntfs-3g refuses to mount it read-write for the \
                         hooks; shut Windows down cleanly (or chkdsk /f) before capturing",
                        facts.flags
                    ),
                ));
            }
            if facts.hibernated {
                f.push(Finding::error(
                    "windows-hibernated",
                    p,
                    "hiberfil.sys holds a hibernation image (hibernation or Fast Startup): \
                     ntfs-3g will not mount it read-write, and Windows resumes its own view of \
                     the disk; shut down with `shutdown /s /t 0` after `powercfg /h off`",
                ));
            }
            match facts.log {
                LogState::Clean => {}
                LogState::NeedsReplay { lsn } => f.push(Finding::error(
                    "windows-log-dirty",
                    p,
                    format!(
                        "$LogFile needs replay (LSN {lsn}): the volume was not unmounted \
                         cleanly; ntfs-3g refuses to mount it read-write for the hooks"
                    ),
                )),
                LogState::Unreadable(why) => f.push(Finding::error(
                    "windows-log-dirty",
                    p,
                    format!("$LogFile cannot be read ({why}): ntfs-3g may refuse to mount it"),
                )),
            }
        }
        Err(e) => f.push(Finding::error(
            "windows-log-dirty",
            p,
            format!("the volume's state cannot be read ({e}): ntfs-3g may refuse to mount it"),
        )),
    }
    if !CLOUDBASE_INIT
        .iter()
        .any(|d| matches!(ntfs_has(vol, d), Ok(Some(true))))
    {
        f.push(Finding::warning(
            "windows-no-cloudbase-init",
            p,
            format!(
                "no {} (nor {}): MAAS's Windows deployments configure the machine (hostname, \
                 network, users, the end of the deployment) through Cloudbase-Init, which the \
                 curtin hooks configure; install it in the guest before capturing",
                CLOUDBASE_INIT[0], CLOUDBASE_INIT[1]
            ),
        ));
    }
    if f.is_empty() {
        f.push(Finding::info(
            "windows-ready",
            p,
            format!("{HOOKS} and {FINALIZE} present, the volume clean, Cloudbase-Init installed"),
        ));
    }
}
