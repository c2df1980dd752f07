//! `ddgz inspect` and `ddgz validate`: what is in a disk image, and whether it is fit for
//! MAAS. The work is done by `ddgz-layout`; this is argument parsing and printing.
//!
//! # `inspect --json` (schema version 1)
//!
//! One JSON object; fields are only ever added, never renamed or removed, within a schema
//! version (pinned by `tests/inspect.rs`):
//!
//! ```text
//! {
//!   "schema_version": 1,
//!   "image": {
//!     "path": "disk.qcow2", "format": "raw" | "qcow2",
//!     "virtual_size": u64, "allocated_bytes": u64,
//!     "qcow2": null | { "version": 2|3, "cluster_size": u64, "compression": "zlib"|"zstd",
//!                       "extended_l2": bool, "dirty": bool, "corrupt": bool,
//!                       "snapshots": u32, "data_file": null | path,
//!                       "backing_chain": [ { "path", "format", "virtual_size" } ] }
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
//!              | { "kind": "unreadable", "reason" }
//!   } ],
//!   "esxi": null | { "generation": "6.x"|"7.0/8.0", "variant": string, "reference_lbas": bool,
//!                    "version": null | { "version": "8.0.3", "major": u32, "minor": u32,
//!                                        "build": "24022510", "build_line": string,
//!                                        "partition": 5|6 },
//!                    "version_missing": null | string (why: "no boot.cfg found: …") },
//!   "findings": { "profile": "esxi"|"generic",
//!                 "items": [ { "severity": "error"|"warning"|"info",
//!                              "partition": u32|null, "message": string } ] }
//! }
//! ```
//!
//! `validate --json` prints `{ "schema_version": 1, "ok": bool, "profile", "items" }`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use ddgz_image::{Disk, Format, Image, OpenOptions};
use ddgz_layout::report::human;
use ddgz_layout::{Content, Findings, Profile, Report, Severity};
use serde::Serialize;

use crate::cmd::convert::FormatArg;
use crate::exit::{with_code, Code, ResultExt};

/// Version of the `--json` shapes, bumped only on an incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// Show what is in a disk image: container, partitions, filesystems, ESXi layout.
///
/// Reads headers, FAT metadata and the extent map only: fast on a 32 GiB image.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  ddgz inspect output-esxi/packer-esxi
  ddgz inspect disk.qcow2 --json | jq '.partitions[] | {number, content}'")]
pub struct InspectArgs {
    /// The image (qcow2 or raw, detected by content).
    pub image: PathBuf,

    /// Read the image as this format instead of detecting it.
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,

    /// Print one JSON object (documented shape, schema_version 1).
    #[arg(long)]
    pub json: bool,

    /// Also open a qcow2 whose corrupt bit is set.
    #[arg(short, long)]
    pub force: bool,
}

/// Check that a disk image is fit for MAAS: GPT, ESXi layout, FAT, VMFS headers.
///
/// Prints each finding (error, warning or info) with its partition. Exits 0 when there is
/// no error, 1 when there is one (or a warning, with --strict).
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  ddgz validate disk.qcow2
  ddgz validate disk.qcow2 --profile esxi --strict")]
pub struct ValidateArgs {
    /// The image (qcow2 or raw, detected by content).
    pub image: PathBuf,

    /// Read the image as this format instead of detecting it.
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,

    /// Which checks: `esxi` (layouts of ESXi 6.x / 7.0 / 8.0), `generic` (partition table
    /// and filesystems only), `auto` (esxi when the partition types say ESXi).
    #[arg(long, value_enum, default_value_t = ProfileArg::Auto)]
    pub profile: ProfileArg,

    /// Fail on warnings too.
    #[arg(long)]
    pub strict: bool,

    /// Print the findings as one JSON object.
    #[arg(long)]
    pub json: bool,

    /// Also open a qcow2 whose corrupt bit is set.
    #[arg(short, long)]
    pub force: bool,
}

/// `--profile` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProfileArg {
    Auto,
    Esxi,
    Generic,
}

impl From<ProfileArg> for Profile {
    fn from(p: ProfileArg) -> Self {
        match p {
            ProfileArg::Auto => Profile::Auto,
            ProfileArg::Esxi => Profile::Esxi,
            ProfileArg::Generic => Profile::Generic,
        }
    }
}

fn open(path: &Path, format: Option<FormatArg>, force: bool) -> anyhow::Result<Image> {
    let opts = OpenOptions {
        format: format.map(Format::from),
        force_corrupt: force,
    };
    Image::open(path, &opts).input()
}

#[derive(Debug, Serialize)]
struct BackingJson {
    path: PathBuf,
    format: &'static str,
    virtual_size: u64,
}

#[derive(Debug, Serialize)]
struct Qcow2Json {
    version: u32,
    cluster_size: u64,
    compression: String,
    extended_l2: bool,
    dirty: bool,
    corrupt: bool,
    snapshots: u32,
    data_file: Option<PathBuf>,
    backing_chain: Vec<BackingJson>,
}

#[derive(Debug, Serialize)]
struct VhdParentJson {
    path: PathBuf,
    subformat: &'static str,
    virtual_size: u64,
    found_by: String,
}

#[derive(Debug, Serialize)]
struct VhdJson {
    subformat: &'static str,
    block_size: Option<u64>,
    creator_app: String,
    size_rule: &'static str,
    footer: &'static str,
    parents: Vec<VhdParentJson>,
}

#[derive(Debug, Serialize)]
struct ImageJson {
    path: PathBuf,
    format: &'static str,
    virtual_size: u64,
    allocated_bytes: u64,
    qcow2: Option<Qcow2Json>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vhd: Option<VhdJson>,
}

#[derive(Debug, Serialize)]
struct InspectJson {
    schema_version: u32,
    image: ImageJson,
    #[serde(flatten)]
    report: Report,
}

fn image_json(path: &Path, image: &Image) -> anyhow::Result<ImageJson> {
    let allocated = ddgz_image::allocated_bytes(image)
        .with_context(|| format!("{}: reading the extent map", path.display()))
        .input()?;
    let qcow2 = image.qcow2().map(|q| {
        let i = q.info();
        Qcow2Json {
            version: i.version,
            cluster_size: i.cluster_size,
            compression: format!("{:?}", i.compression).to_lowercase(),
            extended_l2: i.extended_l2,
            dirty: i.dirty,
            corrupt: i.corrupt,
            snapshots: i.nb_snapshots,
            data_file: i.data_file.map(|d| d.path),
            backing_chain: i
                .backing_chain
                .into_iter()
                .map(|b| BackingJson {
                    path: b.path,
                    format: b.format.name(),
                    virtual_size: b.virtual_size,
                })
                .collect(),
        }
    });
    let vhd = image.vhd().map(|v| {
        let i = v.info();
        VhdJson {
            subformat: i.disk_type.name(),
            block_size: i.block_size,
            creator_app: i.creator_app,
            size_rule: match i.size_rule {
                ddgz_vhd::SizeRule::Chs => "chs",
                ddgz_vhd::SizeRule::CurrentSize => "current_size",
            },
            footer: match i.footer {
                ddgz_vhd::FooterCopy::End => "end",
                ddgz_vhd::FooterCopy::Head => "copy_at_0",
            },
            parents: i
                .parents
                .into_iter()
                .map(|p| VhdParentJson {
                    path: p.path,
                    subformat: p.disk_type.name(),
                    virtual_size: p.virtual_size,
                    found_by: p.found_by,
                })
                .collect(),
        }
    });
    Ok(ImageJson {
        path: path.into(),
        format: image.format().name(),
        virtual_size: image.size(),
        allocated_bytes: allocated,
        qcow2,
        vhd,
    })
}

pub fn run_inspect(a: InspectArgs) -> anyhow::Result<()> {
    let image = open(&a.image, a.format, a.force)?;
    let report = ddgz_layout::inspect(&image)
        .with_context(|| format!("{}: reading the partitions", a.image.display()))
        .input()?;
    let img = image_json(&a.image, &image)?;
    let mut out = std::io::stdout().lock();
    if a.json {
        let j = InspectJson {
            schema_version: SCHEMA_VERSION,
            image: img,
            report,
        };
        serde_json::to_writer_pretty(&mut out, &j)?;
        use std::io::Write;
        writeln!(out)?;
        return Ok(());
    }
    print_inspect(&mut out, &img, &report)?;
    Ok(())
}

fn print_inspect(
    out: &mut impl std::io::Write,
    img: &ImageJson,
    r: &Report,
) -> std::io::Result<()> {
    writeln!(out, "image:      {}", img.path.display())?;
    match &img.qcow2 {
        Some(q) => {
            write!(
                out,
                "container:  qcow2 v{}, {} clusters, {} compression{}{}",
                q.version,
                human(q.cluster_size),
                q.compression,
                if q.extended_l2 { ", extended L2" } else { "" },
                if q.dirty { ", dirty" } else { "" },
            )?;
            if q.corrupt {
                write!(out, ", CORRUPT bit set")?;
            }
            if q.snapshots > 0 {
                write!(out, ", {} internal snapshots", q.snapshots)?;
            }
            writeln!(out)?;
            if let Some(d) = &q.data_file {
                writeln!(out, "data file:  {}", d.display())?;
            }
            for b in &q.backing_chain {
                writeln!(
                    out,
                    "backing:    {} ({}, {})",
                    b.path.display(),
                    b.format,
                    human(b.virtual_size)
                )?;
            }
        }
        None => match &img.vhd {
            Some(v) => {
                write!(out, "container:  vhd {}", v.subformat)?;
                if let Some(b) = v.block_size {
                    write!(out, ", {} blocks", human(b))?;
                }
                let rule = match v.size_rule {
                    "chs" => "CHS geometry",
                    _ => "current_size",
                };
                writeln!(out, ", creator {:?}, size from {rule}", v.creator_app)?;
                if v.footer != "end" {
                    writeln!(
                        out,
                        "footer:     copy at offset 0 (the footer at the end is damaged)"
                    )?;
                }
                for p in &v.parents {
                    writeln!(
                        out,
                        "parent:     {} (vhd {}, {}; found by {})",
                        p.path.display(),
                        p.subformat,
                        human(p.virtual_size),
                        p.found_by
                    )?;
                }
            }
            None => writeln!(out, "container:  {}", img.format)?,
        },
    }
    writeln!(
        out,
        "size:       {} ({} bytes), {} allocated",
        human(img.virtual_size),
        img.virtual_size,
        human(img.allocated_bytes)
    )?;
    match &r.table {
        None => writeln!(out, "table:      none usable")?,
        Some(t) => {
            let src = match t.source {
                ddgz_layout::TableSource::GptPrimary => "GPT (primary header)",
                ddgz_layout::TableSource::GptBackup => {
                    "GPT (BACKUP header: the primary is damaged)"
                }
                ddgz_layout::TableSource::Mbr => "MBR",
            };
            write!(out, "table:      {src}")?;
            if let Some(g) = t.disk_guid {
                write!(out, ", disk GUID {g}")?;
            }
            if let (Some(a), Some(b)) = (t.first_usable_lba, t.last_usable_lba) {
                write!(out, ", usable LBA {a}..={b}")?;
            }
            writeln!(out)?;
        }
    }
    match &r.esxi {
        Some(l) => writeln!(
            out,
            "layout:     ESXi {}: {}{}",
            l.generation.name(),
            l.variant,
            if l.reference_lbas {
                ""
            } else {
                " (LBAs differ from the reference layout)"
            }
        )?,
        None => writeln!(out, "layout:     not ESXi")?,
    }
    if let Some(l) = &r.esxi {
        match (&l.version, &l.version_missing) {
            (Some(v), _) => writeln!(
                out,
                "release:    ESXi {} build {} (build={} in boot.cfg of partition {})",
                v.version, v.build, v.build_line, v.partition
            )?,
            (None, why) => writeln!(
                out,
                "release:    unknown: {}",
                why.as_deref().unwrap_or("no boot.cfg found")
            )?,
        }
    }
    if !r.partitions.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "{:>3}  {:>10}  {:>10}  {:>9}  {:<38}  name",
            "#", "first LBA", "last LBA", "size", "type"
        )?;
    }
    for p in &r.partitions {
        let q = &p.partition;
        let ty = match q.type_name {
            Some(n) => format!("{} {n}", q.kind),
            None => q.kind.to_string(),
        };
        let ty = if q.type_name.is_some() {
            ty
        } else {
            format!("{ty} (unknown)")
        };
        writeln!(
            out,
            "{:>3}  {:>10}  {:>10}  {:>9}  {:<38}  {}",
            q.number,
            q.first_lba,
            q.last_lba,
            human(q.size),
            shorten_type(&ty),
            q.name.as_deref().unwrap_or("")
        )?;
        writeln!(out, "     {}", describe(&p.content))?;
    }
    writeln!(out)?;
    print_findings(out, &r.findings)
}

/// `C12A7328-F81F-11D2-BA4B-00A0C93EC93B EFI System` stays; only the width is padded.
fn shorten_type(s: &str) -> String {
    s.to_string()
}

fn describe(c: &Content) -> String {
    match c {
        Content::Fat(f) if !f.root_entries.is_empty() => {
            let mut names = f
                .root_entries
                .iter()
                .take(8)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            if f.root_entries.len() > 8 {
                names.push_str(&format!(", … ({} entries)", f.root_entries.len()));
            }
            format!("{}; root: {names}", c.describe())
        }
        Content::Vmfs(v) => format!(
            "{}; LV UUID {}, device UUID {}",
            c.describe(),
            v.lv_uuid,
            v.device_uuid
        ),
        _ => c.describe(),
    }
}

fn print_findings(out: &mut impl std::io::Write, f: &Findings) -> std::io::Result<()> {
    let profile = match f.profile {
        Profile::Esxi => "esxi",
        Profile::Generic => "generic",
        Profile::Auto => "auto",
    };
    if f.items.is_empty() {
        return writeln!(out, "findings (profile {profile}): none");
    }
    writeln!(out, "findings (profile {profile}):")?;
    for i in &f.items {
        writeln!(out, "  {i}")?;
    }
    Ok(())
}

#[derive(Debug, Serialize)]
struct ValidateJson<'a> {
    schema_version: u32,
    ok: bool,
    #[serde(flatten)]
    findings: &'a Findings,
}

pub fn run_validate(a: ValidateArgs) -> anyhow::Result<()> {
    let image = open(&a.image, a.format, a.force)?;
    let findings = ddgz_layout::validate(&image, a.profile.into())
        .with_context(|| format!("{}: reading the partitions", a.image.display()))
        .input()?;
    let count = |s| findings.items.iter().filter(|i| i.severity == s).count();
    let (errors, warnings) = (count(Severity::Error), count(Severity::Warning));
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
        use std::io::Write;
        writeln!(out)?;
    } else {
        print_findings(&mut out, &findings)?;
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
