//! `ddgz inspect` and `ddgz validate`: what is in a disk image, and whether it is fit for
//! MAAS. The work is done by `ddgz-layout`; this is argument parsing and printing.
//!
//! # `inspect --json` (schema version 2)
//!
//! One JSON object; fields are only ever added, never renamed or removed, within a schema
//! version (pinned by `tests/inspect.rs`):
//!
//! ```text
//! {
//!   "schema_version": 2,
//!   "image": {
//!     "path": "disk.qcow2", "format": "raw" | "qcow2" | … (a `--format` name),
//!     "virtual_size": u64, "allocated_bytes": u64,
//!     "container": { "subformat": string|null (e.g. "v3"),
//!                    "allocation_unit": string|null (e.g. "cluster"),
//!                    "allocation_unit_size": u64|null,
//!                    "details": { name: string } (format-specific, e.g. "compression"),
//!                    "backing_chain": [ { "path", "format", "subformat", "virtual_size",
//!                                         "details" } ] (nearest first) },
//!     "named_files": [ path ] (every extent, backing, data or parent file it read)
//!   },
//!   "disk_size": u64,
//!   "table": null | { "source": "gpt_primary"|"gpt_backup"|"mbr", "disk_guid": GUID|null,
//!                     "first_usable_lba": u64|null, "last_usable_lba": u64|null },
//!   "partitions": [ {
//!     "number": u32, "first_lba": u64, "last_lba": u64, "size": u64 (bytes),
//!     "type": "GUID" (GPT) | "0xNN" (MBR), "type_name": string|null,
//!     "name": string|null (GPT name), "guid": GUID|null (unique partition GUID),
//!     "content": { "kind": "fat", "fat_type": "FAT12"|"FAT16"|"FAT32", "label": string|null,
//!                  "volume_id": "XXXX-XXXX", "cluster_size", "total_bytes", "free_bytes",
//!                  "root_entries": [string] }
//!              | { "kind": "vmfs", "flavor": "VMFS"|"VMFS-L", "lvm_version", "fs_version",
//!                  "fs_minor", "version_name", "label", "uuid", "block_size",
//!                  "disk_block_size", "ctime", "mode", "device_uuid", "lv_uuid", "lv_size",
//!                  "segments", "extents" }
//!              | { "kind": "blank" } | { "kind": "unknown" } | { "kind": "other", "name" }
//!              | { "kind": "invalid", "what": "FAT"|"VMFS", "reason" }
//!              | { "kind": "unreadable", "reason" },
//!     "filesystem": null | FS (what the filesystem says of itself; ddgz-volumes' Facts)
//!   } ],
//!   "filesystem": null | FS (a disk without a partition table: the whole disk's),
//!   "lvm": null | { "groups": [ { "name", "uuid", "seqno", "extent_size", "pvs": [u32]
//!                   (partition numbers), "missing_pvs": [uuid], "lvs": [ { "name": "VG/LV",
//!                   "size", "segments": ["linear"|"striped"|"zero"|lvm2's type],
//!                   "filesystem": null | FS, "error": null | string } ] } ],
//!                   "orphans": [u32], "refused": [[u32, reason]], "error": null | string },
//!   "esxi": null | { "generation": "6.x"|"7.0/8.0", "variant": string, "reference_lbas": bool,
//!                    "version": null | { "version": "8.0.3", "major": u32, "minor": u32,
//!                                        "build": "24022510", "build_line": string,
//!                                        "partition": 5|6 },
//!                    "version_missing": null | string (why: "no boot.cfg found: …") },
//!   "windows": null | { "partition": u32, "boot": "uefi"|"bios", "esp": u32|null,
//!                       "msr": u32|null, "recovery": [u32],
//!                       "edition": null | { "product_name", "edition_id", "build",
//!                                           "display_version", "installation_type"
//!                                           (each string|null) },
//!                       "edition_missing": null | string (why) },
//!   "linux": null | { "partition": u32|null, "lv": "VG/LV"|null, "filesystem": "ext"|"xfs",
//!                     "uuid": string, "label": string, "os": string|null (PRETTY_NAME) },
//!   "findings": { "profile": "esxi"|"windows"|"linux"|"generic",
//!                 "items": [ FINDING ],
//!                 "maas_readiness": { "checked": bool, "advisory": bool (its errors do
//!                                     not stop convert/verify: the linux profile),
//!                                     "items": [ FINDING ] } }
//! }
//! FINDING = { "severity": "error"|"warning"|"info"|"note", "code": string (stable, see
//!             the README), "allowed": null | "error"|"warning" (what a note was before
//!             --allow), "partition": u32|null, "message": string }
//! FS = { "kind": "ntfs", "label", "version": "3.1", "cluster_size", "sector_size",
//!        "total_clusters", "free_clusters", "serial": 16 hex digits, "flags", "dirty",
//!        "log": { "state": "clean" | "needs_replay" (+ "lsn") | "unreadable" (+ "reason") },
//!        "hibernated" }
//!    | { "kind": "ext", "label", "uuid", "block_size", "blocks", "state": "clean"|"not
//!        clean"|"errors", "needs_recovery", "replayed_transactions" }
//!    | { "kind": "xfs", "version": 4|5, "label", "uuid", "block_size", "blocks",
//!        "log": "clean"|"dirty" }
//!    | { "kind": "fat", "fat_type", "label", "volume_id", "cluster_size" }
//!    | { "kind": "unreadable", "filesystem", "reason" } | { "kind": "other", "what" }
//! ```
//!
//! `validate --json` prints `{ "schema_version": 2, "ok": bool, "profile", "items",
//! "maas_readiness" }`.
//!
//! Schema 2 replaced schema 1's `image.qcow2` object by the format-neutral
//! `image.container` (every format reports the same facts, `ddgz_image::Facts`).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use ddgz_image::{Format, OpenOptions};
use ddgz_layout::{Findings, Profile, Report, Severity};
use serde::Serialize;

use crate::cmd::input::{FormatArg, Input};
use crate::exit::{with_code, Code, ResultExt};

mod ordered;
mod show;
mod volumes;

/// Version of the `--json` shapes, bumped only on an incompatible change.
pub const SCHEMA_VERSION: u32 = 2;

/// Show what is in a disk image: container, partitions, filesystems, LVM, ESXi layout.
///
/// Reads headers, filesystem metadata and the extent map only: fast on a 32 GiB image.
/// Under each partition, what its filesystem says of itself: NTFS label, version,
/// cluster size, serial, clean/dirty, $LogFile, hibernation; ext and XFS label, UUID,
/// block size, clean state; FAT type and label. LVM volume groups are listed with each
/// logical volume's size, segment types and filesystem.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  ddgz inspect output-esxi/packer-esxi
  ddgz inspect disk.qcow2 --json | jq '.partitions[] | {number, content, filesystem}'
  ddgz inspect windows.dd.gz --json | jq '.partitions[3].filesystem | {dirty, log, hibernated}'
  ddgz inspect rocky9.qcow2 --json | jq '.lvm.groups[].lvs[] | {name, size, filesystem}'")]
pub struct InspectArgs {
    /// The image (any format ddgz reads, detected by content), or a finished .dd.gz / .dd.xz
    /// (decoded whole however far it expands, with a progress bar on a terminal; memory stays
    /// bounded: zeros are kept as a map, not bytes).
    pub image: PathBuf,

    /// Read the image as this format instead of detecting it.
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,

    /// Print one JSON object (documented shape, schema_version 2).
    #[arg(long)]
    pub json: bool,

    /// Also open a qcow2 whose corrupt bit is set.
    #[arg(short, long)]
    pub force: bool,

    #[command(flatten)]
    pub outside: crate::cli::OutsideArgs,
}

/// Check that a disk image is fit for MAAS: GPT, ESXi layout, FAT, VMFS headers.
///
/// Prints each finding (error, warning or info) with its partition. Exits 0 when there is
/// no error, 1 when there is one (or a warning, with --strict).
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  ddgz validate disk.qcow2
  ddgz validate disk.qcow2 --profile esxi --strict
  ddgz validate esxi.qcow2 --strict --allow vmfs-clone-uuid   # acknowledge a known warning

Each finding has a stable code in brackets; MAAS readiness is a section of its own: for
ESXi images curtin hooks, the maas/ scripts tarball, room in partition 6; for Windows curtin
hooks on the Windows partition, a clean volume, Cloudbase-Init; for Linux dd images curtin/,
/etc/fstab naming the root, cloud-init.")]
pub struct ValidateArgs {
    /// The image (any format ddgz reads, detected by content), or a finished .dd.gz / .dd.xz
    /// (decoded whole however far it expands, with a progress bar on a terminal; memory stays
    /// bounded: zeros are kept as a map, not bytes).
    pub image: PathBuf,

    /// Read the image as this format instead of detecting it.
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,

    /// Which checks: `esxi` (layouts of ESXi 6.x / 7.0 / 8.0), `windows` (an NTFS
    /// partition holding Windows/System32), `linux` (a Linux root on a partition or an LV,
    /// checked as a dd image), `generic` (partition table and filesystems only), `auto`
    /// (esxi when the partition types say ESXi, else windows, else linux, else generic).
    #[arg(long, value_enum, default_value_t = ProfileArg::Auto)]
    pub profile: ProfileArg,

    /// Fail on warnings too.
    #[arg(long)]
    pub strict: bool,

    #[command(flatten)]
    pub allow: AllowArgs,

    /// Print the findings as one JSON object.
    #[arg(long)]
    pub json: bool,

    /// Also open a qcow2 whose corrupt bit is set.
    #[arg(short, long)]
    pub force: bool,

    #[command(flatten)]
    pub outside: crate::cli::OutsideArgs,
}

/// `--allow CODE`, shared by `validate`, `convert` and `verify`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AllowArgs {
    /// Acknowledge findings with this code (shown in brackets, e.g. vmfs-clone-uuid): they
    /// become notes and no longer fail. Repeatable.
    #[arg(long = "allow", value_name = "CODE", value_parser = parse_code)]
    pub codes: Vec<String>,
}

/// A finding code that exists (a typo would silently allow nothing).
fn parse_code(s: &str) -> Result<String, String> {
    match ddgz_layout::codes::find(s.trim()) {
        Some(c) => Ok(c.code.to_string()),
        None => Err(format!(
            "{s:?} is not a finding code; codes: {}",
            ddgz_layout::codes::all()
                .map(|c| c.code)
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// `--profile` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProfileArg {
    Auto,
    Esxi,
    Generic,
    Windows,
    Linux,
}

impl From<ProfileArg> for Profile {
    fn from(p: ProfileArg) -> Self {
        match p {
            ProfileArg::Auto => Profile::Auto,
            ProfileArg::Esxi => Profile::Esxi,
            ProfileArg::Generic => Profile::Generic,
            ProfileArg::Windows => Profile::Windows,
            ProfileArg::Linux => Profile::Linux,
        }
    }
}

fn open(
    path: &Path,
    format: Option<FormatArg>,
    force: bool,
    outside: crate::cli::OutsideArgs,
) -> anyhow::Result<Input> {
    let mut opts = OpenOptions::default();
    opts.format = format.map(Format::from);
    opts.force_corrupt = force;
    opts.allow_outside_files = outside.allow_outside_files;
    crate::cmd::input::open(path, &opts)
}

#[derive(Debug, Serialize)]
struct InspectJson {
    schema_version: u32,
    image: show::ImageJson,
    #[serde(flatten)]
    report: Report,
}

pub fn run_inspect(a: InspectArgs) -> anyhow::Result<()> {
    let mut input = open(&a.image, a.format, a.force, a.outside)?;
    let named = input.named_files();
    let (report, img, fs) = input.run(|image| {
        let report = ddgz_layout::inspect(&image)
            .with_context(|| format!("{}: reading the partitions", a.image.display()))
            .input()?;
        let fs = volumes::gather(image, &report);
        Ok((report, show::image_json(&a.image, image, &named)?, fs))
    })?;
    let mut out = std::io::stdout().lock();
    if a.json {
        let j = InspectJson {
            schema_version: SCHEMA_VERSION,
            image: img,
            report,
        };
        let mut j = ordered::Node::of(&j)?;
        fs.add_json(&mut j)?;
        serde_json::to_writer_pretty(&mut out, &j)?;
        writeln!(out)?;
        return Ok(());
    }
    let mut out = crate::cli::Terminal(out);
    show::print_inspect(&mut out, &img, &report, &fs)?;
    writeln!(out)?;
    print_findings(&mut out, &report.findings)?;
    Ok(())
}

/// The findings as text: the layout's, then the MAAS readiness section.
pub fn print_findings(out: &mut dyn std::io::Write, f: &Findings) -> std::io::Result<()> {
    let profile = f.profile.name();
    if f.items.is_empty() {
        writeln!(out, "findings (profile {profile}): none")?;
    } else {
        writeln!(out, "findings (profile {profile}):")?;
        for i in &f.items {
            writeln!(out, "  {i}")?;
        }
    }
    let r = &f.maas_readiness;
    if !r.checked {
        writeln!(
            out,
            "MAAS readiness: not checked (profile {profile}; the checks are for ESXi, Windows \
             and Linux dd images)"
        )
    } else if r.items.is_empty() {
        writeln!(out, "MAAS readiness: none")
    } else {
        writeln!(
            out,
            "MAAS readiness ({}):",
            match f.profile {
                Profile::Windows =>
                    "curtin hooks on the Windows partition, a clean volume, \
                                     Cloudbase-Init",
                Profile::Linux =>
                    "curtin/, /etc/fstab, cloud-init; advisory: convert and \
                                   verify go on",
                _ => "curtin hooks, maas/ scripts, partition 6",
            }
        )?;
        for i in &r.items {
            writeln!(out, "  {i}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Serialize)]
struct ValidateJson<'a> {
    schema_version: u32,
    ok: bool,
    #[serde(flatten)]
    findings: &'a Findings,
}

pub fn run_validate(a: ValidateArgs) -> anyhow::Result<()> {
    let mut input = open(&a.image, a.format, a.force, a.outside)?;
    let mut findings = input.run(|image| {
        ddgz_layout::validate(&image, a.profile.into())
            .with_context(|| format!("{}: reading the partitions", a.image.display()))
            .input()
    })?;
    findings.allow(&a.allow.codes);
    let (errors, warnings) = (
        findings.count(Severity::Error),
        findings.count(Severity::Warning),
    );
    let ok = errors == 0 && !(a.strict && warnings > 0);
    let mut out = std::io::stdout().lock();
    if a.json {
        serde_json::to_writer_pretty(
            &mut out,
            &ValidateJson {
                schema_version: SCHEMA_VERSION,
                ok,
                findings: &findings,
            },
        )?;
        writeln!(out)?;
    } else {
        print_findings(&mut crate::cli::Terminal(&mut out), &findings)?;
    }
    if ok {
        return Ok(());
    }
    Err(with_code(
        Code::Failed,
        anyhow::anyhow!(
            "{}: validation failed: {errors} error{}, {warnings} warning{}{}",
            a.image.display(),
            if errors == 1 { "" } else { "s" },
            if warnings == 1 { "" } else { "s" },
            if errors == 0 { " (--strict)" } else { "" }
        ),
    ))
}
