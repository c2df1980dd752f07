//! `ddgz inspect`'s report: the container's facts as JSON, and the whole report as text
//! (image, table, ESXi layout, partitions with their content; the findings follow).

use std::path::{Path, PathBuf};

use anyhow::Context;
use ddgz_image::Container;
use ddgz_layout::{Content, Report};
use serde::Serialize;

use crate::cli::human;
use crate::exit::ResultExt;

#[derive(Debug, Serialize)]
pub(super) struct BackingJson {
    path: PathBuf,
    format: &'static str,
    subformat: Option<String>,
    virtual_size: u64,
    details: serde_json::Map<String, serde_json::Value>,
    #[serde(skip)]
    ordered: Vec<(&'static str, String)>,
}

/// What the container format says about itself (`ddgz_image::Facts`), for any format.
#[derive(Debug, Serialize)]
pub(super) struct ContainerJson {
    subformat: Option<String>,
    allocation_unit: Option<&'static str>,
    allocation_unit_size: Option<u64>,
    details: serde_json::Map<String, serde_json::Value>,
    backing_chain: Vec<BackingJson>,
    /// The details in the format's order, for the human form.
    #[serde(skip)]
    ordered: Vec<(&'static str, String)>,
}
#[derive(Debug, Serialize)]
pub(super) struct ImageJson {
    path: PathBuf,
    format: &'static str,
    virtual_size: u64,
    allocated_bytes: u64,
    container: ContainerJson,
    /// Every other file the image named and had read (extents, backing, data, parents).
    named_files: Vec<PathBuf>,
}

fn details_json(d: &[(&'static str, String)]) -> serde_json::Map<String, serde_json::Value> {
    d.iter()
        .map(|(k, v)| (k.to_string(), v.clone().into()))
        .collect()
}

pub(super) fn image_json(
    path: &Path,
    image: &dyn Container,
    named: &[PathBuf],
) -> anyhow::Result<ImageJson> {
    let allocated = ddgz_image::allocated_bytes(image)
        .with_context(|| format!("{}: reading the extent map", path.display()))
        .input()?;
    let f = image.facts();
    let container = ContainerJson {
        subformat: f.subformat.clone(),
        allocation_unit: f.allocation_unit.map(|u| u.0),
        allocation_unit_size: f.allocation_unit.map(|u| u.1),
        details: details_json(&f.details),
        backing_chain: f
            .chain()
            .map(|b| BackingJson {
                path: b.path.clone(),
                format: b.format,
                subformat: b.subformat.clone(),
                virtual_size: b.virtual_size,
                details: details_json(&b.details),
                ordered: b.details.clone(),
            })
            .collect(),
        ordered: f.details.clone(),
    };
    Ok(ImageJson {
        path: path.into(),
        format: f.format,
        virtual_size: image.size(),
        allocated_bytes: allocated,
        container,
        named_files: named.to_vec(),
    })
}

pub(super) fn print_inspect(
    out: &mut impl std::io::Write,
    img: &ImageJson,
    r: &Report,
    fs: &super::volumes::FsReport,
) -> std::io::Result<()> {
    writeln!(out, "image:      {}", img.path.display())?;
    let c = &img.container;
    write!(out, "container:  {}", img.format)?;
    if let Some(v) = &c.subformat {
        write!(out, " {v}")?;
    }
    if let (Some(unit), Some(size)) = (c.allocation_unit, c.allocation_unit_size) {
        write!(out, ", {} {unit}s", human(size))?;
    }
    for (k, v) in &c.ordered {
        write!(out, ", {k} {v}")?;
    }
    writeln!(out)?;
    for b in &c.backing_chain {
        write!(out, "backing:    {} ({}", b.path.display(), b.format)?;
        if let Some(v) = &b.subformat {
            write!(out, " {v}")?;
        }
        write!(out, ", {}", human(b.virtual_size))?;
        for (k, v) in &b.ordered {
            write!(out, ", {k} {v}")?;
        }
        writeln!(out, ")")?;
    }
    for n in &img.named_files {
        writeln!(out, "reads:      {}", n.display())?;
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
    if let Some(w) = &r.windows {
        let boot = match w.boot {
            ddgz_windows::Boot::Uefi => "UEFI",
            ddgz_windows::Boot::Bios => "BIOS",
        };
        match w.describe() {
            Some(d) => writeln!(
                out,
                "Windows:    {}, partition {}, {boot}",
                ddgz_image::escape(d.as_bytes()),
                w.partition
            )?,
            None => writeln!(
                out,
                "Windows:    partition {}, {boot}; edition unknown: {}",
                w.partition,
                ddgz_image::escape(
                    w.edition_missing
                        .as_deref()
                        .unwrap_or("no SOFTWARE hive")
                        .as_bytes()
                )
            )?,
        }
    }
    if let Some(l) = &r.linux {
        writeln!(
            out,
            "Linux root: {} on {} ({}, UUID {}{})",
            ddgz_image::escape(l.os.as_deref().unwrap_or("Linux").as_bytes()),
            l.place(),
            l.filesystem,
            l.uuid,
            if l.label.is_empty() {
                String::new()
            } else {
                format!(", label {}", ddgz_image::escape(l.label.as_bytes()))
            }
        )?;
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
        if let Some(l) = fs.partition_line(q.number) {
            writeln!(out, "     {l}")?;
        }
    }
    fs.print(out)
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
