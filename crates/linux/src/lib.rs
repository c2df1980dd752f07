//! The Linux dd profile: for an image that is neither ESXi nor Windows and holds a Linux
//! root (the ext2/3/4 or XFS filesystem holding `/etc/os-release`, on a partition or an LVM
//! logical volume), what curtin needs to deploy it as a dd image (LINUX.md, MAAS.md):
//!
//! 1. after `zcat | dd`, curtin activates LVM and mounts each partition and logical volume
//!    looking for `curtin/`; the one holding it becomes the target, and without one the
//!    deployment fails ("Did not find any filesystem … that contained one of curtin");
//! 2. it runs `curtin/curtin-hooks` from there when present (it must be executable),
//!    else its built-in hooks;
//! 3. the deployed machine mounts `/` as `/etc/fstab` says: an entry naming another
//!    filesystem (a UUID of the build VM's disk) leaves it in emergency mode;
//! 4. MAAS configures the machine through cloud-init.
//!
//! A crate of its own rather than a module of `ddgz-tarball` (which finds roots for
//! `ddgz tar`): `ddgz-tarball` depends on `ddgz-layout`, and the layout checks call this
//! profile, so the ~40 lines of root discovery are here again, reading only what the
//! checks need (`/etc/os-release`, `/etc/fstab`, `curtin/`, cloud-init's files) and
//! never whole files beyond [`MAX_TEXT`].
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod codes;

use ddgz_content::{Content, PartitionReport};
use ddgz_disk::Disk;
use ddgz_findings::Finding;
use ddgz_fs::Tree;
use ddgz_partitions::PartitionType;
use serde::Serialize;

pub use codes::CODES;

/// Most bytes read of `/etc/fstab` or `/etc/os-release`.
pub const MAX_TEXT: u64 = 1 << 20;
/// The hook curtin runs.
pub const HOOKS: &str = "curtin/curtin-hooks";
/// Files whose presence says cloud-init is installed.
pub const CLOUD_INIT: [&str; 3] = [
    "/etc/cloud/cloud.cfg",
    "/usr/bin/cloud-init",
    "/usr/local/bin/cloud-init",
];

/// The root found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Root {
    /// The partition holding it (when not in a logical volume).
    pub partition: Option<u32>,
    /// The logical volume holding it, `VG/LV`.
    pub lv: Option<String>,
    /// `ext` or `xfs`.
    pub filesystem: &'static str,
    /// The filesystem UUID, `xxxxxxxx-xxxx-…`.
    pub uuid: String,
    /// The filesystem label (may be empty).
    pub label: String,
    /// `PRETTY_NAME` of `/etc/os-release`.
    pub os: Option<String>,
    /// The GPT unique partition GUID of its partition (`PARTUUID=`).
    #[serde(skip)]
    pub partuuid: Option<String>,
    /// `LVM-<VG uuid><LV uuid>` without dashes, as udev's `dm-uuid-` link names it.
    #[serde(skip)]
    pub dm_uuid: Option<String>,
}

impl Root {
    /// "partition 2" or "logical volume vg/root".
    pub fn place(&self) -> String {
        match (&self.lv, self.partition) {
            (Some(lv), _) => format!("logical volume {lv}"),
            (None, Some(n)) => format!("partition {n}"),
            (None, None) => "the disk".into(),
        }
    }
}

/// What one filesystem holds, as far as the checks go.
struct Seen {
    root: Root,
    fstab: Option<Result<String, String>>,
    /// `curtin/` at the top: None (absent), Some(mode of curtin-hooks, if any).
    curtin: Option<Option<u16>>,
    cloud_init: bool,
}

fn text<T: Tree>(t: &T, path: &str) -> Option<Result<String, String>> {
    match t.lookup(path.as_bytes(), true) {
        Ok(Some(i)) => Some(
            t.read_small(&i, MAX_TEXT)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .map_err(|e| e.to_string()),
        ),
        Ok(None) => None,
        Err(e) => Some(Err(e.to_string())),
    }
}

fn uuid_string(u: &[u8; 16]) -> String {
    let h: String = u.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn look<T: Tree>(t: &T, mut root: Root) -> Option<Seen> {
    let os = match text(t, "/etc/os-release") {
        Some(Ok(s)) => s,
        _ => return None,
    };
    root.os = os.lines().find_map(|l| {
        let v = l.strip_prefix("PRETTY_NAME=")?;
        Some(v.trim().trim_matches('"').to_string())
    });
    let curtin = match t.lookup(b"/curtin", true) {
        Ok(Some(i)) if t.stat(&i).kind == Some(ddgz_fs::FileType::Directory) => {
            Some(match t.lookup(b"/curtin/curtin-hooks", true) {
                Ok(Some(h)) => Some(t.stat(&h).perm),
                _ => None,
            })
        }
        _ => None,
    };
    let cloud_init = CLOUD_INIT
        .iter()
        .any(|p| matches!(t.lookup(p.as_bytes(), true), Ok(Some(_))));
    Some(Seen {
        fstab: text(t, "/etc/fstab"),
        root,
        curtin,
        cloud_init,
    })
}

/// Opens ext or XFS in `base..base+len` of `disk` and looks at it if it is a root.
fn examine<D: Disk + Clone>(
    disk: D,
    base: u64,
    len: u64,
    partition: Option<u32>,
    lv: Option<String>,
) -> Option<Seen> {
    let root = |filesystem, uuid, label: &[u8]| Root {
        partition,
        lv: lv.clone(),
        filesystem,
        uuid,
        label: String::from_utf8_lossy(label).into_owned(),
        os: None,
        partuuid: None,
        dm_uuid: None,
    };
    if let Ok(fs) = ddgz_ext4::Fs::open(disk.clone(), base, len) {
        // s_uuid, at byte 0x68 of the superblock (byte 1024).
        let mut u = [0u8; 16];
        disk.read_at(base.checked_add(1024 + 0x68)?, &mut u).ok()?;
        let label = fs.superblock().label.clone();
        return look(&fs, root("ext", uuid_string(&u), &label));
    }
    if let Ok(fs) = ddgz_xfs::Fs::open(disk, base, len) {
        let sb = fs.superblock();
        let r = root("xfs", uuid_string(&sb.uuid), &sb.label.clone());
        return look(&fs, r);
    }
    None
}

/// Whether `p` holds `curtin/` at its top (FAT partitions, which curtin mounts too).
fn fat_has_curtin(disk: &dyn Disk, p: &PartitionReport) -> bool {
    let Ok(r) = ddgz_partitions::range_in_disk(&p.partition, disk.size()) else {
        return false;
    };
    matches!(
        ddgz_fat::read_small(disk, r, p.partition.number, "curtin", 0),
        Ok(ddgz_fat::Small::Dir)
    )
}

/// Every root among the partitions and logical volumes of `disk`, and the places holding
/// `curtin/` that are not roots.
fn roots(disk: &dyn Disk, parts: &[PartitionReport]) -> (Vec<Seen>, Vec<String>) {
    let mut seen = Vec::new();
    let mut curtin_elsewhere = Vec::new();
    let lvm_guid = ddgz_partitions::Guid::parse(ddgz_lvm::scan::GPT_LINUX_LVM);
    let mut candidates = Vec::new();
    for p in parts {
        let n = p.partition.number;
        let Ok(r) = ddgz_partitions::range_in_disk(&p.partition, disk.size()) else {
            continue;
        };
        if let Content::Fat(_) = p.content {
            if fat_has_curtin(disk, p) {
                curtin_elsewhere.push(format!("partition {n} (FAT)"));
            }
            continue;
        }
        let lvm_type = match &p.partition.kind {
            PartitionType::Gpt(g) => Some(*g) == lvm_guid,
            PartitionType::Mbr(t) => *t == ddgz_lvm::scan::MBR_LINUX_LVM,
        };
        candidates.push(ddgz_lvm::Candidate {
            number: n,
            range: r.clone(),
            lvm_type,
        });
        if let Some(mut s) = examine(disk, r.start, r.end - r.start, Some(n), None) {
            s.root.partuuid = p.partition.guid.map(|g| g.to_string());
            seen.push(s);
        }
    }
    if let Ok(found) = ddgz_lvm::scan(disk, candidates) {
        for vg in &found.groups {
            let m = vg.metadata();
            for l in m
                .lvs
                .iter()
                .filter(|l| l.visible && l.snapshot_of.is_none())
            {
                let name = format!("{}/{}", m.name, l.name);
                let Ok(lv) = found.open(&name) else { continue };
                let len = lv.size();
                if let Some(mut s) = examine(&lv, 0, len, None, Some(name)) {
                    s.root.dm_uuid = Some(format!(
                        "LVM-{}{}",
                        m.id.replace('-', ""),
                        l.id.replace('-', "")
                    ));
                    seen.push(s);
                }
            }
        }
    }
    (seen, curtin_elsewhere)
}

/// What [`check`] found.
#[derive(Debug, Default)]
pub struct Checked {
    /// The root, when there is exactly one.
    pub root: Option<Root>,
    /// How many roots were found.
    pub roots: usize,
    /// MAAS readiness findings.
    pub readiness: Vec<Finding>,
}

/// `/dev/mapper` form of `VG/LV` (dashes in names doubled).
fn mapper(lv: &str) -> Option<String> {
    let (vg, l) = lv.split_once('/')?;
    Some(format!(
        "/dev/mapper/{}-{}",
        vg.replace('-', "--"),
        l.replace('-', "--")
    ))
}

/// How fstab's `spec` relates to `root`.
enum Names {
    /// It names the root.
    Root,
    /// It names another filesystem (a UUID, label, GUID or LV that is not the root's).
    Other,
    /// A kernel device name (`/dev/sda1`, `/dev/vda2`): it depends on the target machine.
    Device,
    /// A form ddgz cannot check (`/dev/disk/by-path/…`, `PARTLABEL=`, …).
    Unchecked,
}

fn names(spec: &str, r: &Root) -> Names {
    let eq =
        |a: &str, b: Option<&str>| b.is_some_and(|b| !b.is_empty() && a.eq_ignore_ascii_case(b));
    let unquote = |v: &str| v.trim_matches('"').to_string();
    let label = (!r.label.is_empty()).then_some(r.label.as_str());
    let lv = r.lv.as_deref();
    let mapper_name = lv.and_then(mapper);
    let checks: [(&str, Option<&str>); 9] = [
        ("UUID=", Some(r.uuid.as_str())),
        ("/dev/disk/by-uuid/", Some(r.uuid.as_str())),
        ("LABEL=", label),
        ("/dev/disk/by-label/", label),
        ("PARTUUID=", r.partuuid.as_deref()),
        ("/dev/disk/by-partuuid/", r.partuuid.as_deref()),
        ("/dev/disk/by-id/dm-uuid-", r.dm_uuid.as_deref()),
        (
            "/dev/disk/by-id/dm-name-",
            mapper_name
                .as_deref()
                .and_then(|m| m.strip_prefix("/dev/mapper/")),
        ),
        (
            "/dev/mapper/",
            mapper_name
                .as_deref()
                .and_then(|m| m.strip_prefix("/dev/mapper/")),
        ),
    ];
    for (prefix, want) in checks {
        if let Some(v) = spec.strip_prefix(prefix) {
            // Labels compare exactly; UUIDs and GUIDs in any case.
            let same = if prefix.contains("label") || prefix == "LABEL=" {
                want.is_some_and(|w| unquote(v) == w)
            } else {
                eq(&unquote(v), want)
            };
            return if same { Names::Root } else { Names::Other };
        }
    }
    if let Some(l) = lv {
        if spec == format!("/dev/{l}") {
            return Names::Root;
        }
    }
    let dev = spec.strip_prefix("/dev/").unwrap_or("");
    if ["sd", "vd", "hd", "xvd", "nvme", "mmcblk"]
        .iter()
        .any(|p| dev.starts_with(p))
    {
        return Names::Device;
    }
    if !dev.is_empty() && dev.matches('/').count() == 1 && !dev.starts_with("disk/") {
        // /dev/VG/LV of another logical volume.
        return Names::Other;
    }
    Names::Unchecked
}

/// The Linux dd profile's findings for `disk`.
pub fn check(disk: &dyn Disk, parts: &[PartitionReport]) -> Checked {
    let mut c = Checked::default();
    let (mut seen, elsewhere) = roots(disk, parts);
    c.roots = seen.len();
    let s = match seen.len() {
        0 => {
            c.readiness.push(Finding::error(
                "linux-no-root",
                None,
                "no ext2/3/4 or XFS filesystem (partition or logical volume) holds \
                 /etc/os-release",
            ));
            return c;
        }
        1 => seen.remove(0),
        _ => {
            let places: Vec<String> = seen.iter().map(|s| s.root.place()).collect();
            c.readiness.push(Finding::warning(
                "linux-several-roots",
                None,
                format!(
                    "{} all hold /etc/os-release: the readiness checks need one root",
                    places.join(", ")
                ),
            ));
            return c;
        }
    };
    let r = &s.root;
    let p = r.partition;
    let place = r.place();
    match s.curtin {
        None => c.readiness.push(Finding::error(
            "linux-no-curtin",
            p,
            format!(
                "no curtin/ at the top of the root ({place}){}: after writing a dd image curtin \
                 mounts each partition and logical volume looking for curtin/, and fails the \
                 deployment without it (packer-maas's ubuntu-lvm writes /curtin from inside \
                 the guest); a dd image for other uses can ignore this with --allow \
                 linux-no-curtin",
                if elsewhere.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; {} holds one, and curtin would take it for the root",
                        elsewhere.join(", ")
                    )
                }
            ),
        )),
        Some(None) => c.readiness.push(Finding::info(
            "linux-builtin-hooks",
            p,
            format!(
                "curtin/ on {place} has no curtin-hooks: curtin runs its built-in hooks, which \
                 configure Ubuntu and (partly) RHEL-family systems"
            ),
        )),
        Some(Some(mode)) if mode & 0o111 == 0 => c.readiness.push(Finding::error(
            "linux-hooks-not-executable",
            p,
            format!(
                "{HOOKS} on {place} has mode {mode:04o}: curtin executes it and fails with \
                 permission denied; chmod +x it"
            ),
        )),
        Some(Some(_)) => {}
    }
    match &s.fstab {
        None => c.readiness.push(Finding::warning(
            "linux-fstab-no-root",
            p,
            format!("no /etc/fstab on {place}: nothing remounts / read-write as configured"),
        )),
        Some(Err(e)) => c.readiness.push(Finding::error(
            "linux-root-unreadable",
            p,
            format!("/etc/fstab on {place} cannot be read: {e}"),
        )),
        Some(Ok(text)) => {
            let entry = text
                .lines()
                .map(|l| l.split_whitespace().collect::<Vec<_>>())
                .find(|f| f.len() >= 2 && !f[0].starts_with('#') && f[1] == "/");
            let id = format!(
                "UUID={}{}{}",
                r.uuid,
                if r.label.is_empty() {
                    String::new()
                } else {
                    format!(", LABEL={}", r.label)
                },
                r.lv.as_deref()
                    .and_then(mapper)
                    .map(|m| format!(", {m}"))
                    .unwrap_or_default()
            );
            match entry {
                None => c.readiness.push(Finding::warning(
                    "linux-fstab-no-root",
                    p,
                    format!("/etc/fstab on {place} has no entry for / (the root is {id})"),
                )),
                Some(f) => match names(f[0], r) {
                    Names::Root => {}
                    Names::Device => c.readiness.push(Finding::warning(
                        "linux-fstab-root-device",
                        p,
                        format!(
                            "/etc/fstab mounts / from {}, a kernel device name that depends on \
                             the target machine's disks; name the root {id}",
                            f[0]
                        ),
                    )),
                    Names::Unchecked => c.readiness.push(Finding::info(
                        "linux-fstab-root-unchecked",
                        p,
                        format!(
                            "/etc/fstab mounts / from {}, a form ddgz does not check; the root \
                             is {id}",
                            f[0]
                        ),
                    )),
                    Names::Other => c.readiness.push(Finding::error(
                        "linux-fstab-root-mismatch",
                        p,
                        format!(
                            "/etc/fstab mounts / from {}, but the root ({place}) is {id}: the \
                             deployed machine will not find it and stops in emergency mode",
                            f[0]
                        ),
                    )),
                },
            }
        }
    }
    if !s.cloud_init {
        c.readiness.push(Finding::warning(
            "linux-no-cloud-init",
            p,
            format!(
                "no cloud-init on {place} ({}): MAAS configures the deployed machine and learns \
                 that the deployment ended through it",
                CLOUD_INIT.join(", ")
            ),
        ));
    }
    if c.readiness.is_empty() {
        c.readiness.push(Finding::info(
            "linux-ready",
            p,
            format!("curtin/ on {place}, /etc/fstab names the root, cloud-init installed"),
        ));
    }
    c.root = Some(s.root);
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lv_root() -> Root {
        Root {
            partition: None,
            lv: Some("ubuntu-vg/ubuntu-lv".into()),
            filesystem: "ext",
            uuid: "0a1b2c3d-0000-4000-8000-000000000001".into(),
            label: "root".into(),
            os: None,
            partuuid: None,
            dm_uuid: Some("LVM-AAAABBBBccccDDDDeeee".into()),
        }
    }

    #[test]
    fn fstab_specs_are_matched_to_the_root() {
        let r = lv_root();
        for ok in [
            "UUID=0A1B2C3D-0000-4000-8000-000000000001",
            "UUID=\"0a1b2c3d-0000-4000-8000-000000000001\"",
            "/dev/disk/by-uuid/0a1b2c3d-0000-4000-8000-000000000001",
            "LABEL=root",
            "/dev/mapper/ubuntu--vg-ubuntu--lv",
            "/dev/ubuntu-vg/ubuntu-lv",
            "/dev/disk/by-id/dm-name-ubuntu--vg-ubuntu--lv",
            "/dev/disk/by-id/dm-uuid-LVM-AAAABBBBccccDDDDeeee",
        ] {
            assert!(matches!(names(ok, &r), Names::Root), "{ok}");
        }
        for other in [
            "UUID=11111111-0000-4000-8000-000000000001",
            "LABEL=ROOT",
            "/dev/mapper/vg-root",
            "/dev/rl/root",
            "/dev/disk/by-id/dm-uuid-LVM-other",
            "PARTUUID=1234",
        ] {
            assert!(matches!(names(other, &r), Names::Other), "{other}");
        }
        assert!(matches!(names("/dev/sda2", &r), Names::Device));
        assert!(matches!(names("/dev/nvme0n1p2", &r), Names::Device));
        assert!(matches!(
            names("/dev/disk/by-path/pci-0", &r),
            Names::Unchecked
        ));
        assert!(matches!(names("PARTLABEL=root", &r), Names::Unchecked));
    }
}
