//! Synthetic ESXi disks: the GPT layouts of ESXi 6.7 and 7.0/8.0 (including the 32 GiB
//! image packer-maas builds), FAT filesystems with plausible content where ESXi has them,
//! and VMFS5 / VMFS6 / VMFS6-L headers (or blank volumes, as the installer leaves them).
//!
//! Images are sparse raw files: the file is `set_len` to the disk size and only the GPT,
//! the FAT metadata and files, and the VMFS headers are written. FAT filesystems are made
//! with `mkfs.fat --offset` and filled with mtools (`mmd`/`mcopy -i IMG@@OFFSET`), as ESXi's
//! own are readable by both. The builders return the partitions so a caller can fill them
//! with more content.
//!
//! Layout facts: `../shared/domain/ESXI.md`.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;
use std::process::Command;

use ddgz_disk::Patch;

use crate::gpt::{self, guid, seeded_guid, types, Gpt, Part, SECTOR};

/// Which ESXi release's layout to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// 6.7 (the 6.x layout: 1, 5, 6, 7, 8, 9, 2, 3).
    V6_7,
    /// 7.0 (1, 5, 6, 7 = OSDATA, optional 8 = datastore).
    V7_0,
    /// 8.0 (same layout as 7.0).
    V8_0,
}

/// What a VMFS partition holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Volume {
    /// All zero (ESXi formats it at first boot; packer-maas stops before).
    Blank,
    /// VMFS5 headers (LVM 5, FS version 14).
    Vmfs5,
    /// VMFS6 headers (LVM 6, FS version 24).
    Vmfs6,
    /// VMFS6-L headers (LVM 6, VMFS-L magic): OSDATA.
    Vmfs6L,
}

/// How to build an ESXi disk.
#[derive(Debug, Clone)]
pub struct Options {
    /// Release whose layout to follow.
    pub version: Version,
    /// Disk size in bytes (a multiple of 512; at least ~9 GiB for 6.7, ~9 GiB for 7/8).
    pub disk_size: u64,
    /// 7.0/8.0: size of OSDATA in sectors; `None` = to the end of the disk (no datastore).
    pub osdata_sectors: Option<u64>,
    /// 7.0/8.0: add datastore1 (partition 8) after OSDATA (needs `osdata_sectors`).
    pub datastore: bool,
    /// What OSDATA (7.0/8.0 partition 7) holds.
    pub osdata: Volume,
    /// What the datastore (6.7 partition 3, 7.0/8.0 partition 8) holds.
    pub datastore_volume: Volume,
    /// Make the FAT filesystems (false leaves every partition blank).
    pub fat: bool,
    /// Seed for GUIDs, UUIDs and file content.
    pub seed: u64,
    /// The `build=` value of the bootbank's `boot.cfg` [default: [`default_build`] of the
    /// version]; ESXi writes `8.0.3-0.0.24022510`, `8.0.3-24022510`, `6.7.0-8169922`.
    pub build: Option<String>,
    /// Put packer-maas-style `curtin/curtin-hooks` and `curtin/scripts.tar.xz`
    /// ([`maas_scripts`]) into partition 1, as its post-processor does.
    pub curtin: bool,
}

impl Options {
    /// The image packer-maas builds: ESXi 8.0 on a 32 GiB disk with `systemMediaSize=min`:
    /// OSDATA from LBA 16986112 to 67108830, no datastore, VMFS volumes blank.
    pub fn packer_maas() -> Self {
        Self {
            version: Version::V8_0,
            disk_size: 32 << 30,
            osdata_sectors: None,
            datastore: false,
            osdata: Volume::Blank,
            datastore_volume: Volume::Blank,
            fat: true,
            seed: 1,
            build: None,
            curtin: false,
        }
    }

    /// ESXi 6.7 on a disk of `disk_size` bytes, datastore blank.
    pub fn esxi67(disk_size: u64) -> Self {
        Self {
            version: Version::V6_7,
            disk_size,
            ..Self::packer_maas()
        }
    }
}

/// A built disk: its GPT (partitions with their LBAs).
#[derive(Debug, Clone)]
pub struct Built {
    /// The table written.
    pub gpt: Gpt,
}

impl Built {
    /// Partition `n`.
    pub fn part(&self, n: u32) -> Option<&Part> {
        self.gpt.parts.iter().find(|p| p.number == n)
    }
    /// Byte range of partition `n`.
    pub fn range(&self, n: u32) -> Option<std::ops::Range<u64>> {
        self.part(n).map(Part::range)
    }
}

/// The partitions of `opts`' layout on its disk.
pub fn layout(opts: &Options) -> Gpt {
    let disk_sectors = opts.disk_size / SECTOR;
    let mut g = Gpt {
        disk_sectors,
        disk_guid: seeded_guid(opts.seed, 0),
        parts: Vec::new(),
    };
    let last = g.last_usable_lba();
    let seed = opts.seed;
    let mut add = |number: u32, first: u64, last: u64, t: &str, name: &str| {
        g.parts.push(Part {
            number,
            first_lba: first,
            last_lba: last,
            type_guid: guid(t),
            unique_guid: seeded_guid(seed, u64::from(number)),
            name: name.into(),
        })
    };
    match opts.version {
        Version::V6_7 => {
            add(1, 64, 8191, types::EFI_SYSTEM, "");
            add(5, 8224, 520191, types::BASIC_DATA, "");
            add(6, 520224, 1032191, types::BASIC_DATA, "");
            add(7, 1032224, 1257471, types::VMKDIAGNOSTIC, "");
            add(8, 1257504, 1843199, types::BASIC_DATA, "");
            add(9, 1843200, 7086079, types::VMKDIAGNOSTIC, "");
            add(2, 7086080, 15472639, types::BASIC_DATA, "");
            add(3, 15472640, last, types::VMFS, "");
        }
        Version::V7_0 | Version::V8_0 => {
            add(1, 64, 204863, types::EFI_SYSTEM, "BOOT");
            add(5, 208896, 8595455, types::BASIC_DATA, "BOOTBANK1");
            add(6, 8597504, 16984063, types::BASIC_DATA, "BOOTBANK2");
            let os_last = match opts.osdata_sectors {
                Some(n) => 16986112 + n - 1,
                None => last,
            };
            add(7, 16986112, os_last, types::VMFSL, "OSDATA");
            if opts.datastore {
                // 1 MiB aligned, as partedUtil does.
                let first = (os_last + 1).div_ceil(2048) * 2048;
                add(8, first, last, types::VMFS, "datastore1");
            }
        }
    }
    // Partition entries are stored in number order.
    g.parts.sort_by_key(|p| p.number);
    g
}

/// Builds the disk described by `opts` at `path` (created or truncated).
pub fn build(path: &Path, opts: &Options) -> io::Result<Built> {
    let g = layout(opts);
    let disk_sectors = opts.disk_size / SECTOR;
    if let Some(p) = g
        .parts
        .iter()
        .find(|p| p.is_empty() || p.last_lba + 34 > disk_sectors)
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "a {} byte disk is too small for this ESXi layout (partition {} would end at LBA {})",
                opts.disk_size, p.number, p.last_lba
            ),
        ));
    }
    build_with(path, opts, g)
}

/// Like [`build`], with a partition table of the caller's (e.g. [`layout`] edited to make a
/// broken variant). Partitions missing from `g` are skipped; FAT and VMFS go where the
/// numbers say.
pub fn build_with(path: &Path, opts: &Options, g: Gpt) -> io::Result<Built> {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    f.set_len(opts.disk_size)?;
    g.write(&f)?;
    let built = Built { gpt: g };
    if opts.fat {
        make_fats(path, &built, opts)?;
    }
    let (ds, os) = match opts.version {
        Version::V6_7 => (3, None),
        _ => (8, Some(7)),
    };
    if let (Some(os), Some(p)) = (os, built.part(7).cloned()) {
        write_volume(&f, &p, opts.osdata, "OSDATA", opts.seed, os)?;
    }
    if let Some(p) = built.part(ds).cloned() {
        write_volume(&f, &p, opts.datastore_volume, "datastore1", opts.seed, ds)?;
    }
    f.sync_all()?;
    Ok(built)
}

/// Builds the packer-maas 32 GiB image ([`Options::packer_maas`]) at `path`.
pub fn packer_maas(path: &Path, seed: u64) -> io::Result<Built> {
    build(
        path,
        &Options {
            seed,
            ..Options::packer_maas()
        },
    )
}

fn write_volume(f: &File, p: &Part, v: Volume, label: &str, seed: u64, n: u32) -> io::Result<()> {
    if v == Volume::Blank {
        return Ok(());
    }
    let label = if v == Volume::Vmfs6L {
        format!(
            "OSDATA-{}",
            vmfs_uuid_text(&vmfs_uuid(seed, 100 + u64::from(n)))
        )
    } else {
        label.to_string()
    };
    let patches = vmfs_headers(v, p.len(), &label, seed ^ u64::from(n));
    for mut patch in patches {
        patch.offset += p.start();
        gpt::write_patches(f, &[patch])?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// FAT

fn run(cmd: &mut Command) -> io::Result<()> {
    let out = cmd
        .env("MTOOLS_SKIP_CHECK", "1")
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("{:?}: {e}", cmd.get_program())))?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "{:?} {:?} failed: {}",
            cmd.get_program(),
            cmd.get_args().collect::<Vec<_>>(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Formats partition `p` of the image at `path` as FAT with `mkfs.fat --offset`.
pub fn mkfs_fat(
    path: &Path,
    p: &Part,
    fat_bits: u8,
    label: &str,
    extra: &[&str],
) -> io::Result<()> {
    let mut c = Command::new("mkfs.fat");
    c.arg("-F")
        .arg(fat_bits.to_string())
        .arg("-n")
        .arg(label)
        .arg("-i")
        .arg(format!("{:08X}", 0x5EED_0000u32 ^ p.first_lba as u32))
        .arg(format!("--offset={}", p.first_lba))
        .args(extra)
        .arg(path)
        .arg((p.len() / 1024).to_string());
    run(&mut c)
}

/// `path@@offset` for mtools.
fn mimg(path: &Path, p: &Part) -> String {
    format!("{}@@{}", path.display(), p.start())
}

/// Creates directory `dir` (e.g. `::/EFI`) in partition `p` with `mmd`.
pub fn mmd(path: &Path, p: &Part, dir: &str) -> io::Result<()> {
    run(Command::new("mmd").arg("-i").arg(mimg(path, p)).arg(dir))
}

/// Copies `data` as file `dest` (e.g. `::/boot.cfg`) into partition `p` with `mcopy`.
pub fn mcopy(path: &Path, p: &Part, dest: &str, data: &[u8]) -> io::Result<()> {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = std::env::temp_dir().join(format!("ddgz-synth-{}-{n}", std::process::id()));
    std::fs::write(&tmp, data)?;
    let r = run(Command::new("mcopy")
        .arg("-o")
        .arg("-i")
        .arg(mimg(path, p))
        .arg(&tmp)
        .arg(dest));
    let _ = std::fs::remove_file(&tmp);
    r
}

/// Deterministic incompressible-ish bytes (stand-ins for compressed ESXi modules).
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 16);
    let mut n = 0;
    while out.len() < len {
        out.extend_from_slice(&seeded_guid(seed, n));
        n += 1;
    }
    out.truncate(len);
    out
}

/// The `build=` value of a patched install of `version` (`X.Y.Z-0.U.BUILD`).
pub fn default_build(version: Version) -> &'static str {
    match version {
        Version::V6_7 => "6.7.0-3.73.14320388",
        Version::V7_0 => "7.0.3-0.95.23794027",
        Version::V8_0 => "8.0.3-0.35.24280767",
    }
}

/// The `boot.cfg` of a bootbank, with `build=` [`default_build`].
pub fn boot_cfg(version: Version) -> String {
    boot_cfg_with(version, default_build(version))
}

/// The `boot.cfg` of a bootbank of `version`, with `build=BUILD`.
pub fn boot_cfg_with(version: Version, build: &str) -> String {
    let modules = match version {
        Version::V6_7 => "b.b00 --- jumpstrt.gz --- useropts.gz --- k.b00 --- s.v00 --- imgdb.tgz --- state.tgz",
        Version::V7_0 | Version::V8_0 => "b.b00 --- jumpstrt.gz --- useropts.gz --- bmod.tgz --- s.v00 --- esxupdt.v00 --- imgdb.tgz --- state.tgz",
    };
    format!(
        "bootstate=0\ntitle=Loading VMware ESXi\ntimeout=5\nprefix=\nkernel=b.b00\nkernelopt=autoPartition=FALSE\nmodules={modules}\nbuild={build}\nupdated=1\n"
    )
}

fn make_fats(path: &Path, b: &Built, opts: &Options) -> io::Result<()> {
    let v6 = opts.version == Version::V6_7;
    if let Some(p1) = b.part(1) {
        if v6 {
            mkfs_fat(path, p1, 16, "ESXI", &["-s", "1"])?;
        } else {
            mkfs_fat(path, p1, 16, "BOOT", &[])?;
        }
        mmd(path, p1, "::/EFI")?;
        mmd(path, p1, "::/EFI/BOOT")?;
        mmd(path, p1, "::/EFI/VMware")?;
        let files = [
            ("::/EFI/BOOT/BOOTX64.EFI", 180),
            ("::/EFI/VMware/mboot64.efi", 180),
            ("::/EFI/VMware/safeboot64.efi", 60),
        ];
        for (i, (name, kib)) in files.iter().enumerate() {
            mcopy(
                path,
                p1,
                name,
                &noise(opts.seed ^ (11 + i as u64), kib * 1024),
            )?;
        }
    }
    if let (true, Some(p1)) = (opts.curtin, b.part(1)) {
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp =
            std::env::temp_dir().join(format!("ddgz-synth-curtin-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp)?;
        let made = maas_scripts(&tmp, &MaasScripts::default());
        let r = made.and_then(|(curtin, tarball)| {
            mmd(path, p1, "::/curtin")?;
            for (src, dest) in [
                (curtin.join("curtin-hooks"), "::/curtin/curtin-hooks"),
                (tarball, "::/curtin/scripts.tar.xz"),
            ] {
                mcopy(path, p1, dest, &std::fs::read(src)?)?;
            }
            Ok(())
        });
        let _ = std::fs::remove_dir_all(&tmp);
        r?;
    }
    if let Some(p5) = b.part(5) {
        mkfs_fat(path, p5, 16, if v6 { "BOOTBANK" } else { "BOOTBANK1" }, &[])?;
        let build = opts.build.as_deref().unwrap_or(default_build(opts.version));
        mcopy(
            path,
            p5,
            "::/boot.cfg",
            boot_cfg_with(opts.version, build).as_bytes(),
        )?;
        let files = [
            ("b.b00", 640),
            ("jumpstrt.gz", 4),
            ("useropts.gz", 1),
            ("s.v00", 1024),
            ("imgdb.tgz", 96),
            ("state.tgz", 24),
        ];
        for (i, (name, kib)) in files.iter().enumerate() {
            let data = noise(opts.seed ^ (20 + i as u64), kib * 1024);
            mcopy(path, p5, &format!("::/{name}"), &data)?;
        }
    }
    if let Some(p6) = b.part(6) {
        mkfs_fat(
            path,
            p6,
            16,
            if v6 { "ALTBOOTBANK" } else { "BOOTBANK2" },
            &[],
        )?;
    }
    if v6 {
        if let Some(p8) = b.part(8) {
            mkfs_fat(path, p8, 16, "LOCKER", &[])?;
            mmd(path, p8, "::/packages")?;
            mmd(path, p8, "::/packages/vmtoolsRepo")?;
            mcopy(
                path,
                p8,
                "::/packages/vmtoolsRepo/index.xml",
                b"<vmtools/>\n",
            )?;
        }
        if let Some(p2) = b.part(2) {
            mkfs_fat(path, p2, 32, "SCRATCH", &[])?;
            mmd(path, p2, "::/log")?;
            let log = b"2019-01-01T00:00:00.000Z cpu0:1)Boot complete\n";
            mcopy(path, p2, "::/log/vmkernel.log", log)?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// MAAS hooks and scripts

/// What [`maas_scripts`] leaves out, to make broken variants.
#[derive(Debug, Clone, Default)]
pub struct MaasScripts {
    /// Tar the scripts without the `maas/` directory (at the archive's top level).
    pub no_maas_dir: bool,
    /// Names under `maas/` to leave out (a script like `netplan-esxi`, or a vendored
    /// package like `yaml`).
    pub omit: Vec<String>,
    /// Bytes of incompressible filler in `maas/filler.bin` (to fill a partition).
    pub filler: usize,
}

/// The scripts packer-maas's `%firstboot` runs from `/altbootbank/maas/`.
pub const MAAS_SCRIPTS: [&str; 5] = [
    "maas-md-get",
    "netplan-esxi",
    "storage-esxi",
    "vendor-data-esxi",
    "vcenter",
];
/// The Python packages its Makefile vendors into `maas/` (as `pip install --target` lays
/// them out: a package directory, or one module for ipaddr).
pub const MAAS_PACKAGES: [&str; 4] = ["yaml", "oauthlib", "requests", "ipaddr"];

/// Writes `dir/curtin/curtin-hooks` and `dir/scripts.tar.xz` shaped like packer-maas's
/// (placeholder content: a shebang and a comment per script; package `__init__.py` files),
/// the tarball made as its Makefile does, with GNU tar and xz (`tar cJf … -C DIR .`).
/// Returns the `curtin` directory and the tarball.
pub fn maas_scripts(
    dir: &Path,
    what: &MaasScripts,
) -> io::Result<(std::path::PathBuf, std::path::PathBuf)> {
    let curtin = dir.join("curtin");
    std::fs::create_dir_all(&curtin)?;
    std::fs::write(
        curtin.join("curtin-hooks"),
        "#!/usr/bin/env python3\n# synthetic stand-in for packer-maas's curtin-hooks: unpacks\n\
         # scripts.tar.xz into partition 6 and writes maas/curtin.cfg\n",
    )?;
    let tree = dir.join("altbootbank");
    let maas = if what.no_maas_dir {
        tree.clone()
    } else {
        tree.join("maas")
    };
    std::fs::create_dir_all(&maas)?;
    let keep = |n: &str| !what.omit.iter().any(|o| o == n);
    for s in MAAS_SCRIPTS.iter().filter(|s| keep(s)) {
        std::fs::write(
            maas.join(s),
            format!("#!/usr/bin/env python3\n# synthetic stand-in for packer-maas's {s}\n"),
        )?;
    }
    for p in MAAS_PACKAGES.iter().filter(|p| keep(p)) {
        if *p == "ipaddr" {
            std::fs::write(maas.join("ipaddr.py"), "# vendored ipaddr\n")?;
        } else {
            std::fs::create_dir_all(maas.join(p))?;
            std::fs::write(
                maas.join(p).join("__init__.py"),
                format!("# vendored {p}\n"),
            )?;
        }
    }
    if what.filler > 0 {
        std::fs::write(maas.join("filler.bin"), noise(99, what.filler))?;
    }
    let tarball = dir.join("scripts.tar.xz");
    run(Command::new("tar")
        .arg("cJf")
        .arg(&tarball)
        .args(["--owner=0", "--group=0", "-C"])
        .arg(&tree)
        .arg("."))?;
    Ok((curtin, tarball))
}

// ---------------------------------------------------------------------------------------
// VMFS

/// Offset of the LVM header in a VMFS partition.
pub const LVM_HEADER: u64 = 0x10_0000;
/// Offset of the filesystem descriptor (LV offset 0x200000 after 16 MiB of LVM metadata).
pub const FS_DESCRIPTOR: u64 = 0x130_0000;
/// LVM segment size.
pub const SEGMENT: u64 = 256 << 20;

/// A VMFS UUID: time-like first word, random middle, VMware MAC (00:0c:29:…) at the end.
pub fn vmfs_uuid(seed: u64, n: u64) -> [u8; 16] {
    let mut u = seeded_guid(seed, 1000 + n);
    let t = 0x5F00_0000u32 ^ (u32::from_le_bytes([u[0], u[1], u[2], u[3]]) & 0x00FF_FFFF);
    u[0..4].copy_from_slice(&t.to_le_bytes());
    u[10..13].copy_from_slice(&[0x00, 0x0c, 0x29]);
    u
}

/// vmfs-tools' text form `%08x-%08x-%04x-%012x`.
pub fn vmfs_uuid_text(u: &[u8; 16]) -> String {
    let a = u32::from_le_bytes([u[0], u[1], u[2], u[3]]);
    let b = u32::from_le_bytes([u[4], u[5], u[6], u[7]]);
    let c = u16::from_le_bytes([u[8], u[9]]);
    let tail: String = u[10..].iter().map(|x| format!("{x:02x}")).collect();
    format!("{a:08x}-{b:08x}-{c:04x}-{tail}")
}

/// The header sectors of a VMFS volume of kind `v` in a partition of `part_len` bytes,
/// offsets relative to the partition: LVM header, volume descriptor, filesystem descriptor.
/// Only headers: readers stop at the FDC, which a header-only volume lacks.
pub fn vmfs_headers(v: Volume, part_len: u64, label: &str, seed: u64) -> Vec<Patch> {
    let (lvm_major, vd_off, fs_magic, fs_major, fs_minor): (u32, u64, u32, u32, u8) = match v {
        Volume::Blank => return Vec::new(),
        Volume::Vmfs5 => (5, 0x200, 0x2FAB_F15E, 14, 81),
        Volume::Vmfs6 => (6, 0x1000, 0x2FAB_F15E, 24, 82),
        Volume::Vmfs6L => (6, 0x1000, 0x2FAB_F15F, 24, 82),
    };
    let device_uuid = vmfs_uuid(seed, 1);
    let lv_uuid = vmfs_uuid(seed, 2);
    let fs_uuid = vmfs_uuid(seed, 3);
    let segments = part_len.saturating_sub(LVM_HEADER + 0x100_0000) / SEGMENT;
    let ctime = u32::from_le_bytes(fs_uuid[0..4].try_into().expect("4"));

    // LVM device header and volume descriptor share one patch.
    let mut lvm = vec![0u8; (vd_off + 512) as usize];
    lvm[0..4].copy_from_slice(&0xC001_D00Du32.to_le_bytes());
    lvm[4..8].copy_from_slice(&lvm_major.to_le_bytes());
    lvm[8..12].copy_from_slice(&0x0000_0000u32.to_le_bytes());
    lvm[0x12..0x12 + 28].copy_from_slice(b"VMware  Virtual disk    1.0 ");
    lvm[0x5E..0x66].copy_from_slice(&(part_len & !0xFF).to_le_bytes());
    lvm[0x66..0x6A].copy_from_slice(&1u32.to_le_bytes());
    lvm[0x6A..0x6E].copy_from_slice(&1u32.to_le_bytes());
    lvm[0x7A..0x82].copy_from_slice(&0x110_0000u64.to_le_bytes());
    lvm[0x82..0x92].copy_from_slice(&device_uuid);
    if lvm_major == 6 {
        lvm[0xCA..0xCE].copy_from_slice(&0x1000u32.to_le_bytes());
        let flags: u32 = if v == Volume::Vmfs6L { 1 } else { 0 };
        lvm[0xD2..0xD6].copy_from_slice(&flags.to_le_bytes());
    }
    let vd = &mut lvm[vd_off as usize..];
    vd[0..8].copy_from_slice(&(segments * SEGMENT).to_le_bytes());
    vd[8..16].copy_from_slice(&(segments + 1).to_le_bytes());
    let text = vmfs_uuid_text(&lv_uuid);
    vd[0x14..0x14 + text.len()].copy_from_slice(text.as_bytes());
    vd[0x54..0x64].copy_from_slice(&lv_uuid);
    vd[0x74..0x78].copy_from_slice(&(segments as u32).to_le_bytes());
    vd[0x78..0x7C].copy_from_slice(&0u32.to_le_bytes());
    vd[0x80..0x84].copy_from_slice(&(segments.saturating_sub(1) as u32).to_le_bytes());
    vd[0x90..0x94].copy_from_slice(&1u32.to_le_bytes());

    let mut fs = vec![0u8; 512];
    fs[0..4].copy_from_slice(&fs_magic.to_le_bytes());
    fs[4..8].copy_from_slice(&fs_major.to_le_bytes());
    fs[8] = fs_minor;
    fs[9..25].copy_from_slice(&fs_uuid);
    let mode: u32 = if v == Volume::Vmfs6L { 0x802 } else { 0x2 };
    fs[0x19..0x1D].copy_from_slice(&mode.to_le_bytes());
    let l = label.as_bytes();
    fs[0x1D..0x1D + l.len().min(127)].copy_from_slice(&l[..l.len().min(127)]);
    fs[0x9D..0xA1].copy_from_slice(&512u32.to_le_bytes());
    fs[0xA1..0xA9].copy_from_slice(&(1u64 << 20).to_le_bytes());
    fs[0xA9..0xAD].copy_from_slice(&ctime.to_le_bytes());
    fs[0xB1..0xC1].copy_from_slice(&lv_uuid);
    fs[0xD1..0xD5].copy_from_slice(&0x1_0000u32.to_le_bytes());
    fs[0xD5..0xD9].copy_from_slice(&0x20u32.to_le_bytes());
    fs[0xD9..0xDD].copy_from_slice(&0x1_0000u32.to_le_bytes());

    vec![
        Patch {
            offset: LVM_HEADER,
            data: lvm,
        },
        Patch {
            offset: FS_DESCRIPTOR,
            data: fs,
        },
    ]
}

/// Offset (from the partition start) of the LV UUID in the filesystem descriptor: flip a
/// byte there to make the volume inconsistent.
pub const FS_LV_UUID: u64 = FS_DESCRIPTOR + 0xB1;

#[cfg(test)]
mod size_tests {
    use super::*;

    #[test]
    fn a_disk_too_small_for_the_layout_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let e = build(&dir.path().join("small.raw"), &Options::esxi67(6 << 30)).unwrap_err();
        assert!(e.to_string().contains("too small"), "{e}");
    }
}
