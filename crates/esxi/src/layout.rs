//! ESXi disk layouts (ESXI.md, "Layout of ESXi 6.0 / 6.5 / 6.7" and "Layout of ESXi 7.0 /
//! 8.0") and the checks of the `esxi` profile: partition numbers, types and order, FAT where
//! the boot path needs it, `boot.cfg` in the bootbank, VMFS-L in OSDATA and VMFS in the
//! datastore, and nothing after the datastore / OSDATA so that MAAS can grow or create the
//! datastore at deploy time.

use serde::Serialize;

use ddgz_content::{Content, PartitionReport};
use ddgz_findings::Finding;
use ddgz_partitions::guid::types;
use ddgz_partitions::{Guid, PartitionType, Table, TableSource, SECTOR};
use ddgz_vmfs::Flavor;

/// ESXi generation of a layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Generation {
    /// 6.0, 6.5, 6.7: eight partitions, datastore 3 at the end.
    #[serde(rename = "6.x")]
    V6,
    /// 7.0, 8.0: BOOT, two bootbanks, OSDATA (VMFS-L), optional datastore 8.
    #[serde(rename = "7.0/8.0")]
    V7,
}

impl Generation {
    /// `6.x` or `7.0/8.0`.
    pub fn name(self) -> &'static str {
        match self {
            Generation::V6 => "6.x",
            Generation::V7 => "7.0/8.0",
        }
    }
}

/// The ESXi layout a table matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Layout {
    /// `6.x` or `7.0/8.0`.
    pub generation: Generation,
    /// The variant in words (bootbank size, packer-maas 32 GiB, datastore or not).
    pub variant: String,
    /// Whether every partition sits at the LBAs of the reference layout.
    pub reference_lbas: bool,
    /// The release, from the `build=` line of the bootbank's `boot.cfg` (else the
    /// altbootbank's).
    pub version: Option<crate::bootcfg::EsxiVersion>,
    /// Why there is no `version`, in words (e.g. "no boot.cfg found: …").
    pub version_missing: Option<String>,
}

/// What a partition of the layout must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holds {
    /// A FAT filesystem that parses.
    Fat,
    /// FAT, or blank until first boot.
    FatOrBlank,
    /// Nothing checked (coredump).
    Any,
    /// VMFS-L or blank.
    VmfsL,
    /// VMFS or blank.
    Vmfs,
}

struct Slot {
    number: u32,
    kind: Guid,
    role: &'static str,
    holds: Holds,
    required: bool,
    /// Reference first and last LBA (`None` for "to the end" or "varies").
    first: u64,
    last: Option<u64>,
}

const V6: &[Slot] = &[
    Slot {
        number: 1,
        kind: types::EFI_SYSTEM,
        role: "bootloader",
        holds: Holds::Fat,
        required: true,
        first: 64,
        last: Some(8191),
    },
    Slot {
        number: 5,
        kind: types::BASIC_DATA,
        role: "bootbank",
        holds: Holds::Fat,
        required: true,
        first: 8224,
        last: Some(520191),
    },
    Slot {
        number: 6,
        kind: types::BASIC_DATA,
        role: "altbootbank",
        holds: Holds::Fat,
        required: true,
        first: 520224,
        last: Some(1032191),
    },
    Slot {
        number: 7,
        kind: types::VMKDIAGNOSTIC,
        role: "coredump",
        holds: Holds::Any,
        required: true,
        first: 1032224,
        last: Some(1257471),
    },
    Slot {
        number: 8,
        kind: types::BASIC_DATA,
        role: "store/locker",
        holds: Holds::Fat,
        required: true,
        first: 1257504,
        last: Some(1843199),
    },
    Slot {
        number: 9,
        kind: types::VMKDIAGNOSTIC,
        role: "coredump",
        holds: Holds::Any,
        required: true,
        first: 1843200,
        last: Some(7086079),
    },
    Slot {
        number: 2,
        kind: types::BASIC_DATA,
        role: "scratch",
        holds: Holds::FatOrBlank,
        required: false,
        first: 7086080,
        last: Some(15472639),
    },
    Slot {
        number: 3,
        kind: types::VMFS,
        role: "datastore",
        holds: Holds::Vmfs,
        required: false,
        first: 15472640,
        last: None,
    },
];

const V7: &[Slot] = &[
    Slot {
        number: 1,
        kind: types::EFI_SYSTEM,
        role: "BOOT",
        holds: Holds::Fat,
        required: true,
        first: 64,
        last: Some(204863),
    },
    Slot {
        number: 5,
        kind: types::BASIC_DATA,
        role: "BOOTBANK1",
        holds: Holds::Fat,
        required: true,
        first: 208896,
        last: None,
    },
    Slot {
        number: 6,
        kind: types::BASIC_DATA,
        role: "BOOTBANK2 (altbootbank)",
        holds: Holds::Fat,
        required: true,
        first: 0,
        last: None,
    },
    Slot {
        number: 7,
        kind: types::VMFSL,
        role: "OSDATA",
        holds: Holds::VmfsL,
        required: true,
        first: 0,
        last: None,
    },
    Slot {
        number: 8,
        kind: types::VMFS,
        role: "datastore1",
        holds: Holds::Vmfs,
        required: false,
        first: 0,
        last: None,
    },
];

/// 4 GiB bootbanks (media >= 32 GB): partitions 5 and 6, and OSDATA's start.
const V7_4G: [(u64, u64); 2] = [(208896, 8595455), (8597504, 16984063)];
const V7_4G_OSDATA: u64 = 16986112;
/// The packer-maas disk: 32 GiB, OSDATA to its last usable LBA.
const PACKER_MAAS_SECTORS: u64 = 67108864;
const PACKER_MAAS_OSDATA_LAST: u64 = 67108830;

/// VMware types found only on ESXi boot disks (a VMFS datastore alone is a data disk).
fn is_vmware_system(g: &Guid) -> bool {
    [types::VMFSL, types::VMKDIAGNOSTIC].contains(g)
}

fn gpt_type(t: &Table, n: u32) -> Option<Guid> {
    t.partitions
        .iter()
        .find(|p| p.number == n)
        .and_then(|p| match p.kind {
            PartitionType::Gpt(g) => Some(g),
            PartitionType::Mbr(_) => None,
        })
}

/// Whether the type GUIDs say ESXi boot disk: VMFS-L or vmkDiagnostic, or EFI System 1 with
/// Basic Data 5 and 6.
pub fn looks_esxi(t: &Table) -> bool {
    t.partitions
        .iter()
        .any(|p| matches!(p.kind, PartitionType::Gpt(g) if is_vmware_system(&g)))
        || (gpt_type(t, 1) == Some(types::EFI_SYSTEM)
            && gpt_type(t, 5) == Some(types::BASIC_DATA)
            && gpt_type(t, 6) == Some(types::BASIC_DATA))
}

/// Which generation the table follows, if it looks like ESXi at all.
pub fn generation(t: &Table) -> Option<Generation> {
    if !looks_esxi(t) {
        return None;
    }
    let has = |n| t.partitions.iter().any(|p| p.number == n);
    if gpt_type(t, 7) == Some(types::VMFSL) {
        return Some(Generation::V7);
    }
    if gpt_type(t, 7) == Some(types::VMKDIAGNOSTIC) || has(9) || has(2) || has(3) {
        return Some(Generation::V6);
    }
    let p5 = t.partitions.iter().find(|p| p.number == 5);
    Some(match p5 {
        Some(p) if p.first_lba == 8224 => Generation::V6,
        _ => Generation::V7,
    })
}

/// Describes the layout `t` matches on a disk of `disk_size` bytes.
pub fn layout(t: &Table, disk_size: u64) -> Option<Layout> {
    let g = generation(t)?;
    let part = |n| t.partitions.iter().find(|p| p.number == n);
    let slots = if g == Generation::V6 { V6 } else { V7 };
    let mut reference = slots.iter().all(|s| match part(s.number) {
        None => !s.required,
        Some(p) => {
            (s.first == 0 || p.first_lba == s.first) && s.last.is_none_or(|l| p.last_lba == l)
        }
    });
    let variant = match g {
        Generation::V6 => match part(3) {
            Some(p) if Some(p.last_lba) == t.last_usable_lba => {
                "datastore 3 to the end of the disk".to_string()
            }
            Some(_) => "datastore 3 not reaching the end of the disk".into(),
            None => "no datastore".into(),
        },
        Generation::V7 => {
            let bb = part(5).map_or(0, |p| p.size);
            let bootbanks = match bb >> 20 {
                0 => "no bootbank".to_string(),
                m if m >= 4000 => "4 GiB bootbanks".into(),
                m if m >= 1000 => "1 GiB bootbanks".into(),
                m => format!("{m} MiB bootbanks"),
            };
            let p5 = part(5).map(|p| (p.first_lba, p.last_lba));
            let p6 = part(6).map(|p| (p.first_lba, p.last_lba));
            let p7 = part(7);
            if bb >> 20 >= 4000 {
                reference &= p5 == Some(V7_4G[0])
                    && p6 == Some(V7_4G[1])
                    && p7.is_some_and(|p| p.first_lba == V7_4G_OSDATA);
            }
            let to_end = p7.is_some_and(|p| Some(p.last_lba) == t.last_usable_lba);
            let tail = if part(8).is_some() {
                "OSDATA 7 and datastore1 8".to_string()
            } else if to_end
                && disk_size / SECTOR == PACKER_MAAS_SECTORS
                && p7.is_some_and(|p| p.last_lba == PACKER_MAAS_OSDATA_LAST)
            {
                "packer-maas 32 GiB (systemMediaSize=min): OSDATA to the end of the disk, no datastore".into()
            } else if to_end {
                "OSDATA to the end of the disk, no datastore".into()
            } else {
                "OSDATA not reaching the end of the disk, no datastore".into()
            };
            format!("{bootbanks}, {tail}")
        }
    };
    Some(Layout {
        generation: g,
        variant,
        reference_lbas: reference,
        version: None,
        version_missing: None,
    })
}

fn type_desc(k: &PartitionType) -> String {
    match k.name() {
        Some(n) => format!("{k} ({n})"),
        None => k.to_string(),
    }
}

/// The checks of the `esxi` profile.
pub fn check(t: &Table, parts: &[PartitionReport], f: &mut Vec<Finding>) {
    if t.source == TableSource::Mbr {
        f.push(Finding::error(
            "esxi-needs-gpt",
            None,
            "ESXi disks use GPT; this disk has an MBR partition table only",
        ));
        return;
    }
    let Some(g) = generation(t) else {
        f.push(Finding::error(
            "esxi-layout-unknown",
            None,
            "no ESXi layout: the partition types match neither ESXi 6.x nor 7.0/8.0",
        ));
        return;
    };
    let slots = if g == Generation::V6 { V6 } else { V7 };
    let get = |n: u32| parts.iter().find(|p| p.partition.number == n);
    let gen = g.name();

    // The datastore / OSDATA end: nothing may start after it (but 8 after 7 on 7+).
    let (anchor, allowed_after): (u32, &[u32]) = match g {
        Generation::V6 => (3, &[]),
        Generation::V7 => (7, &[8]),
    };
    let anchor_end = get(anchor).map(|p| p.partition.last_lba);
    let datastore_end = match g {
        Generation::V6 => anchor_end,
        Generation::V7 => get(8).map(|p| p.partition.last_lba),
    };

    for p in parts {
        let n = p.partition.number;
        let after = |end: Option<u64>| end.is_some_and(|e| p.partition.first_lba > e);
        if g == Generation::V7 && n != 8 && after(datastore_end) {
            f.push(Finding::error(
                "esxi-after-datastore",
                Some(n),
                "sits after the datastore (partition 8): nothing may follow it",
            ));
        } else if after(anchor_end) && !allowed_after.contains(&n) {
            let what = if g == Generation::V6 {
                "the datastore (partition 3)"
            } else {
                "OSDATA (partition 7)"
            };
            f.push(Finding::error("esxi-after-datastore", 
                Some(n),
                format!(
                    "sits after {what}: MAAS grows or creates the datastore there at deploy time; on ESXi {gen} only {} may follow",
                    if g == Generation::V6 { "nothing".to_string() } else { "datastore1 (partition 8)".into() }
                ),
            ));
        } else if !slots.iter().any(|s| s.number == n) {
            f.push(Finding::error(
                "esxi-extra-partition",
                Some(n),
                format!("is not part of the ESXi {gen} layout"),
            ));
        }
    }

    for s in slots {
        let Some(p) = get(s.number) else {
            if s.required {
                f.push(Finding::error(
                    "esxi-partition-missing",
                    Some(s.number),
                    format!(
                        "missing: the ESXi {gen} layout needs partition {} ({})",
                        s.number, s.role
                    ),
                ));
            } else {
                f.push(Finding::info(
                    "esxi-partition-absent",
                    Some(s.number),
                    format!(
                        "absent ({}): MAAS or ESXi creates it at deploy time",
                        s.role
                    ),
                ));
            }
            continue;
        };
        if p.partition.kind != PartitionType::Gpt(s.kind) {
            f.push(Finding::error(
                "esxi-partition-type",
                Some(s.number),
                format!(
                    "has type {}; the {} must be {}",
                    type_desc(&p.partition.kind),
                    s.role,
                    type_desc(&PartitionType::Gpt(s.kind))
                ),
            ));
        }
        let c = &p.content;
        let n = Some(s.number);
        match s.holds {
            Holds::Any => {}
            Holds::Fat | Holds::FatOrBlank => match c {
                Content::Fat(_) => {}
                Content::Blank if s.holds == Holds::FatOrBlank => f.push(Finding::info(
                    "esxi-fs-blank",
                    n,
                    format!("{} is blank: ESXi formats it at first boot", s.role),
                )),
                other => f.push(Finding::error(
                    "esxi-not-fat",
                    n,
                    format!(
                        "the {} must hold a FAT filesystem; it holds: {}",
                        s.role,
                        other.describe()
                    ),
                )),
            },
            Holds::VmfsL | Holds::Vmfs => {
                let want = if s.holds == Holds::VmfsL {
                    Flavor::VmfsL
                } else {
                    Flavor::Vmfs
                };
                match c {
                    Content::Vmfs(v) if v.flavor == want => {}
                    Content::Vmfs(v) => f.push(Finding::error(
                        "esxi-vmfs-flavor",
                        n,
                        format!(
                            "the {} must hold {}; it holds {} \"{}\"",
                            s.role,
                            want.name(),
                            v.flavor.name(),
                            v.label
                        ),
                    )),
                    Content::Blank => f.push(Finding::info(
                        "esxi-fs-blank",
                        n,
                        format!("{} is blank: created at first boot", s.role),
                    )),
                    Content::Invalid { what, .. } if what == "VMFS" => {} // reported already
                    other => f.push(Finding::error(
                        "esxi-not-vmfs",
                        n,
                        format!(
                            "the {} must hold {} or be blank; it holds: {}",
                            s.role,
                            want.name(),
                            other.describe()
                        ),
                    )),
                }
            }
        }
    }

    // Order on disk.
    let mut by_lba: Vec<&PartitionReport> = parts
        .iter()
        .filter(|p| slots.iter().any(|s| s.number == p.partition.number))
        .collect();
    by_lba.sort_by_key(|p| p.partition.first_lba);
    let found: Vec<u32> = by_lba.iter().map(|p| p.partition.number).collect();
    let expected: Vec<u32> = slots
        .iter()
        .map(|s| s.number)
        .filter(|n| found.contains(n))
        .collect();
    if found != expected {
        let list = |v: &[u32]| v.iter().map(u32::to_string).collect::<Vec<_>>().join(", ");
        f.push(Finding::error(
            "esxi-partition-order",
            None,
            format!(
                "partitions out of order: on disk {}; ESXi {gen} has {}",
                list(&found),
                list(&expected)
            ),
        ));
    }

    // boot.cfg in the bootbank.
    let has_cfg = |n| matches!(get(n).map(|p| &p.content), Some(Content::Fat(fat)) if fat.has_root_entry("boot.cfg"));
    if !has_cfg(5) {
        if has_cfg(6) {
            f.push(Finding::warning(
                "esxi-boot-cfg-alt",
                Some(5),
                "no boot.cfg in the bootbank; partition 6 (altbootbank) has one",
            ));
        } else if matches!(get(5).map(|p| &p.content), Some(Content::Fat(_))) {
            f.push(Finding::error(
                "esxi-no-boot-cfg",
                Some(5),
                "no boot.cfg in the bootbank (nor in the altbootbank): ESXi will not boot",
            ));
        }
    }
}
