//! What a MAAS deployment of an ESXi image needs beyond a bootable layout, as packer-maas's
//! `vmware-esxi` template provides it (ESXI.md, "What MAAS deployment needs"):
//!
//! 1. curtin writes the disk, mounts each partition and runs `curtin/curtin-hooks` from the
//!    first one holding `curtin/`: packer-maas puts it in **partition 1** (FAT).
//! 2. The hook mounts **partition 6** (altbootbank, FAT), unpacks `curtin/scripts.tar.xz`
//!    there and writes `maas/curtin.cfg` beside the scripts.
//! 3. At first boot the kickstart's `%firstboot` runs `/altbootbank/maas/*`: `netplan-esxi`
//!    and `storage-esxi` apply MAAS's network and storage configuration, `maas-md-get`
//!    fetches metadata and signals the end of the deployment, `vendor-data-esxi` and
//!    `vcenter` are optional extras. They import Python packages ESXi lacks, which
//!    packer-maas vendors into `maas/` with `pip install --target maas`.
//!
//! Missing any of the first three, the deployment hangs until MAAS times out, or ends with
//! a host MAAS never configured: errors. What only optional scripts need: warnings.

use std::collections::BTreeSet;
use std::io::Read;

use ddgz_disk::Disk;

use ddgz_content::{Content, PartitionReport};
use ddgz_disk::size::human;
use ddgz_fat::Small;
use ddgz_findings::Finding;

/// Where curtin finds the hooks.
pub const HOOKS_PARTITION: u32 = 1;
/// Where the hook unpacks the scripts (altbootbank).
pub const SCRIPTS_PARTITION: u32 = 6;
/// The hook, in [`HOOKS_PARTITION`].
pub const HOOKS: &str = "curtin/curtin-hooks";
/// The scripts tarball, in [`HOOKS_PARTITION`].
pub const TARBALL: &str = "curtin/scripts.tar.xz";
/// The `--add` that puts packer-maas's `curtin/` directory in place.
pub const ADD_HOOKS: &str = "--add curtin";
/// The `--add` that puts the tarball in place.
pub const ADD_TARBALL: &str = "--add scripts.tar.xz:curtin/";

/// The scripts `%firstboot` runs whose absence breaks the deployment.
pub const REQUIRED_SCRIPTS: [&str; 3] = ["maas-md-get", "netplan-esxi", "storage-esxi"];
/// The scripts `%firstboot` runs for optional features.
pub const OPTIONAL_SCRIPTS: [&str; 2] = ["vendor-data-esxi", "vcenter"];
/// The vendored packages (import name, pip name, the scripts importing it).
pub const PACKAGES: [(&str, &str, &[&str]); 4] = [
    (
        "yaml",
        "PyYAML",
        &[
            "maas-md-get",
            "netplan-esxi",
            "storage-esxi",
            "vendor-data-esxi",
            "vcenter",
        ],
    ),
    ("oauthlib", "oauthlib", &["maas-md-get"]),
    ("ipaddr", "ipaddr", &["netplan-esxi"]),
    ("requests", "requests", &["vcenter"]),
];

/// Largest tarball read (packer-maas's is about 1 MiB).
pub const MAX_TARBALL: u64 = 64 << 20;
/// Most bytes unpacked from it, and most entries listed: bounds a hostile archive.
pub const MAX_UNPACKED: u64 = 1 << 30;
/// Most entries listed.
pub const MAX_ENTRIES: usize = 100_000;
/// Memory the xz decoder may use (xz -9 needs 65 MiB).
const XZ_MEM_LIMIT_KIB: u32 = 256 * 1024;
/// Room the hook needs besides the tarball's content: `maas/curtin.cfg`.
const CURTIN_CFG_ROOM: u64 = 64 << 10;

/// What the tarball holds, as far as the checks go.
#[derive(Debug, Default)]
struct Listing {
    /// Paths, `./` stripped, directories with a trailing `/` removed.
    names: BTreeSet<String>,
    /// (size, is directory) per entry.
    entries: Vec<(u64, bool)>,
}

impl Listing {
    fn has(&self, path: &str) -> bool {
        self.names.contains(path)
    }
    fn has_package(&self, name: &str) -> bool {
        self.has(&format!("maas/{name}/__init__.py")) || self.has(&format!("maas/{name}.py"))
    }
    /// Bytes the entries take in a FAT with clusters of `cluster`: each file and each
    /// directory rounded up to whole clusters (a directory takes at least one).
    fn fat_bytes(&self, cluster: u64) -> u64 {
        let cluster = cluster.max(512);
        self.entries
            .iter()
            .map(|&(size, dir)| {
                if dir {
                    cluster
                } else {
                    size.div_ceil(cluster).saturating_mul(cluster)
                }
            })
            .fold(0u64, u64::saturating_add)
    }
    fn unpacked(&self) -> u64 {
        self.entries
            .iter()
            .map(|e| e.0)
            .fold(0, u64::saturating_add)
    }
}

/// A reader that fails past `limit` bytes.
struct Limited<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Err(std::io::Error::other(format!(
                "unpacks to more than {} bytes",
                MAX_UNPACKED
            )));
        }
        let n = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..n])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// Lists an xz-compressed tar archive held in memory.
fn list_tarball(xz: &[u8]) -> Result<Listing, String> {
    if !xz.starts_with(b"\xFD7zXZ\0") {
        return Err("it is not xz-compressed (no xz magic FD 37 7A 58 5A 00 at its start)".into());
    }
    let dec = lzma_rust2::XzReader::new_mem_limit(xz, true, XZ_MEM_LIMIT_KIB);
    let mut ar = tar::Archive::new(Limited {
        inner: dec,
        left: MAX_UNPACKED,
    });
    let mut l = Listing::default();
    let entries = ar.entries().map_err(|e| e.to_string())?;
    for e in entries {
        let e = e.map_err(|e| format!("not a readable tar archive: {e}"))?;
        if l.entries.len() >= MAX_ENTRIES {
            return Err(format!("more than {MAX_ENTRIES} entries"));
        }
        let path = e.path().map_err(|e| e.to_string())?;
        let path = path.to_string_lossy();
        let name = path
            .trim_start_matches("./")
            .trim_end_matches('/')
            .to_string();
        let dir = e.header().entry_type().is_dir();
        l.entries.push((if dir { 0 } else { e.size() }, dir));
        if !name.is_empty() && name != "." {
            l.names.insert(name);
        }
    }
    Ok(l)
}

/// The readiness findings of an image of the ESXi profile.
pub fn check(disk: &dyn Disk, parts: &[PartitionReport]) -> Vec<Finding> {
    let mut f = Vec::new();
    let get = |n: u32| parts.iter().find(|p| p.partition.number == n);
    let p6 = get(SCRIPTS_PARTITION).and_then(|p| match &p.content {
        Content::Fat(fat) => Some(fat),
        _ => None,
    });
    if p6.is_none() {
        f.push(Finding::error(
            "maas-altbootbank-missing",
            Some(SCRIPTS_PARTITION),
            format!(
                "{}: curtin-hooks unpacks the MAAS scripts into partition {SCRIPTS_PARTITION} \
                 (altbootbank) and %firstboot runs them from /altbootbank/maas; no --add can \
                 fix the layout: rebuild the image with the ESXi installer",
                match get(SCRIPTS_PARTITION) {
                    None => "missing".to_string(),
                    Some(p) => format!("holds {}, not FAT", p.content.describe()),
                }
            ),
        ));
    }
    let p1 = get(HOOKS_PARTITION);
    let range = match p1.map(|p| {
        (
            &p.content,
            ddgz_partitions::range_in_disk(&p.partition, disk.size()),
        )
    }) {
        Some((Content::Fat(_), Ok(r))) => r,
        other => {
            f.push(Finding::error(
                "maas-no-hooks-partition",
                Some(HOOKS_PARTITION),
                format!(
                    "{}: curtin looks for {HOOKS} there (packer-maas puts it on the first \
                     partition, FAT); {ADD_HOOKS} needs a FAT partition 1",
                    match other {
                        None => "missing".to_string(),
                        Some((c, _)) => format!("holds {}, not FAT", c.describe()),
                    }
                ),
            ));
            return f;
        }
    };
    let read = |path: &str, max: u64| {
        ddgz_fat::read_small(disk, range.clone(), HOOKS_PARTITION, path, max)
            .map_err(|e| e.to_string())
    };
    let p = Some(HOOKS_PARTITION);
    match read(HOOKS, 1 << 20) {
        Ok(Small::File(b)) if b.starts_with(b"#!") => {}
        Ok(Small::File(b)) => f.push(Finding::warning(
            "maas-hooks-not-script",
            p,
            format!(
                "{HOOKS} ({} bytes) does not start with #!: curtin executes it, and the kernel \
                 needs an interpreter line (packer-maas's starts with #!/usr/bin/env python3)",
                b.len()
            ),
        )),
        Ok(Small::TooLarge(_)) => {} // a compiled hook: nothing to say
        Ok(Small::Missing | Small::Dir) => f.push(Finding::error(
            "maas-hooks-missing",
            p,
            format!(
                "no {HOOKS}: curtin will not configure ESXi and the deployment hangs until MAAS \
                 times out; add packer-maas's curtin/ directory with {ADD_HOOKS}"
            ),
        )),
        Err(e) => f.push(Finding::error(
            "maas-hooks-missing",
            p,
            format!("{HOOKS} cannot be read ({e}); add it again with {ADD_HOOKS} --replace"),
        )),
    }
    let xz = match read(TARBALL, MAX_TARBALL) {
        Ok(Small::File(b)) => b,
        Ok(Small::TooLarge(size)) => {
            f.push(Finding::error(
                "maas-scripts-unreadable",
                p,
                format!(
                    "{TARBALL} has {size} bytes, more than the {} checked (packer-maas's is \
                     about 1 MiB)",
                    human(MAX_TARBALL)
                ),
            ));
            return f;
        }
        Ok(Small::Missing | Small::Dir) | Err(_) => {
            f.push(Finding::error(
                "maas-scripts-missing",
                p,
                format!(
                    "no {TARBALL}: curtin-hooks unpacks the MAAS scripts from it into partition \
                     {SCRIPTS_PARTITION}, and fails without it; build it with packer-maas's \
                     Makefile (make scripts.tar.xz) and add it with {ADD_TARBALL}"
                ),
            ));
            return f;
        }
    };
    let listing = match list_tarball(&xz) {
        Ok(l) => l,
        Err(why) => {
            f.push(Finding::error(
                "maas-scripts-unreadable",
                p,
                format!(
                    "{TARBALL}: {why}; curtin-hooks unpacks it with tar xJf: build it with `tar \
                     cJf scripts.tar.xz -C DIR maas` and add it with {ADD_TARBALL} --replace"
                ),
            ));
            return f;
        }
    };
    if !listing.has("maas") && !listing.names.iter().any(|n| n.starts_with("maas/")) {
        let top: BTreeSet<&str> = listing
            .names
            .iter()
            .map(|n| n.split('/').next().unwrap_or(n))
            .collect();
        f.push(Finding::error(
            "maas-scripts-no-maas-dir",
            p,
            format!(
                "{TARBALL} has no maas/ directory (it holds: {}): curtin-hooks writes \
                 maas/curtin.cfg and %firstboot runs /altbootbank/maas/*; build it with \
                 packer-maas's Makefile, which tars maas/ with its vendored packages, and add \
                 it with {ADD_TARBALL} --replace",
                if top.is_empty() {
                    "nothing".to_string()
                } else {
                    top.into_iter().take(8).collect::<Vec<_>>().join(", ")
                }
            ),
        ));
    } else {
        let missing = |names: &[&str]| -> Vec<String> {
            names
                .iter()
                .filter(|s| !listing.has(&format!("maas/{s}")))
                .map(|s| s.to_string())
                .collect()
        };
        let req = missing(&REQUIRED_SCRIPTS);
        if !req.is_empty() {
            f.push(Finding::error(
                "maas-script-missing",
                p,
                format!(
                    "{TARBALL} lacks maas/{}: %firstboot runs it to apply MAAS's network and \
                     storage configuration and to report the deployment; add packer-maas's \
                     maas/ scripts to the tarball and add it again with {ADD_TARBALL} --replace",
                    req.join(", maas/")
                ),
            ));
        }
        let opt = missing(&OPTIONAL_SCRIPTS);
        if !opt.is_empty() {
            f.push(Finding::warning(
                "maas-script-optional-missing",
                p,
                format!(
                    "{TARBALL} lacks maas/{} (vendor data, vCenter registration): %firstboot \
                     calls it; add it to the tarball, or drop its call from KS.CFG",
                    opt.join(", maas/")
                ),
            ));
        }
        for (import, pip, users) in PACKAGES {
            if listing.has_package(import) {
                continue;
            }
            let required = users.iter().any(|u| REQUIRED_SCRIPTS.contains(u));
            let (code, sev) = if required {
                ("maas-package-missing", "error")
            } else {
                ("maas-package-optional-missing", "warning")
            };
            let msg = format!(
                "{TARBALL} lacks the Python package {import} (pip {pip}) in maas/: ESXi's Python \
                 has none, and maas/{} import{} it; vendor it as packer-maas's Makefile does \
                 (pip install -r requirements.txt --target maas) and add the tarball again with \
                 {ADD_TARBALL} --replace",
                users.join(", maas/"),
                if users.len() == 1 { "s" } else { "" }
            );
            f.push(if sev == "error" {
                Finding::error(code, p, msg)
            } else {
                Finding::warning(code, p, msg)
            });
        }
    }
    if let Some(fat6) = p6 {
        let need = listing
            .fat_bytes(u64::from(fat6.cluster_size))
            .saturating_add(CURTIN_CFG_ROOM);
        if need > fat6.free_bytes {
            f.push(Finding::error(
                "maas-altbootbank-full",
                Some(SCRIPTS_PARTITION),
                format!(
                    "{} free; unpacking {TARBALL} ({} entries, {} of data) and writing \
                     maas/curtin.cfg takes about {} in its {}-byte clusters: curtin-hooks fails \
                     there; make the tarball smaller",
                    human(fat6.free_bytes),
                    listing.entries.len(),
                    human(listing.unpacked()),
                    human(need),
                    fat6.cluster_size
                ),
            ));
        } else if !f
            .iter()
            .any(|x| x.severity == ddgz_findings::Severity::Error)
        {
            f.push(Finding::info(
                "maas-ready",
                None,
                format!(
                    "{HOOKS} and {TARBALL} in partition {HOOKS_PARTITION} ({} entries, {} \
                     unpacked); partition {SCRIPTS_PARTITION} has {} free for them",
                    listing.entries.len(),
                    human(listing.unpacked()),
                    human(fat6.free_bytes)
                ),
            ));
        }
    }
    f
}
