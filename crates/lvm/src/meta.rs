//! What the metadata text says about a volume group, checked: its physical volumes,
//! its logical volumes and their segments (lvm2 `lib/format_text/import_vsn1.c`).
//!
//! Sizes in the text are in 512-byte sectors (`extent_size`, `pe_start`, `stripe_size`),
//! segment positions in extents. Nothing here trusts the text: counts are compared with
//! what is really there, segments must tile their LV, areas must lie inside their PV's
//! extents and no two areas may share an extent; every product is checked.

use crate::error::{corrupt, Result};
use crate::pv::SECTOR;
use crate::text::{Section, Value};

/// Most stripes in a segment (lvm2's `MAX_STRIPES`).
pub const MAX_STRIPES: u64 = 128;

/// A physical volume as the metadata lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PvMeta {
    /// The metadata's name for it (`pv0`, …).
    pub name: String,
    /// Its uuid without dashes (as in the PV header).
    pub uuid: String,
    /// First byte of the first extent.
    pub pe_start: u64,
    /// Number of extents.
    pub pe_count: u64,
}

/// How a segment maps its extents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SegmentKind {
    /// `striped` (linear is one stripe): chunks of `stripe_size` bytes dealt round-robin
    /// over the areas, each area `(index of the PV, first extent)`.
    Striped {
        /// Bytes per chunk (the whole per-stripe width for one stripe).
        stripe_size: u64,
        /// Per stripe: the index of its PV in [`VgMeta::pvs`] and its first physical extent.
        areas: Vec<(usize, u64)>,
    },
    /// `zero`: reads as zeros.
    Zero,
    /// Anything else (thin, snapshot, mirror, raid, cache, …), kept by name.
    Unsupported {
        /// The segment type.
        segtype: String,
        /// What it is.
        detail: String,
        /// For an old-style `snapshot`: the LVs named as its `cow_store` and `origin`.
        snapshot: Option<(String, String)>,
    },
}

/// One segment of a logical volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// First logical extent.
    pub start_extent: u64,
    /// Number of logical extents.
    pub extent_count: u64,
    /// How they are mapped.
    pub kind: SegmentKind,
}

/// A logical volume as the metadata lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LvMeta {
    /// Its name in the VG.
    pub name: String,
    /// Its uuid as lvm2 prints it.
    pub id: String,
    /// Whether `lvs` shows it (hidden sub-volumes of pools and mirrors are not).
    pub visible: bool,
    /// Its segments, in order, tiling `[0, extents)`.
    pub segments: Vec<Segment>,
    /// Logical extents in all.
    pub extents: u64,
    /// Size in bytes.
    pub size: u64,
    /// Set when this LV is the copy-on-write store of a snapshot: then it holds
    /// exceptions, not a filesystem, and reading it as one would be wrong.
    pub snapshot_of: Option<String>,
}

/// A volume group's metadata, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VgMeta {
    /// Its name.
    pub name: String,
    /// Its uuid as lvm2 prints it.
    pub id: String,
    /// The metadata's sequence number: each change writes a higher one.
    pub seqno: u64,
    /// Bytes per extent.
    pub extent_size: u64,
    /// Its physical volumes.
    pub pvs: Vec<PvMeta>,
    /// Its logical volumes.
    pub lvs: Vec<LvMeta>,
}

fn int(s: &Section, key: &str, ctx: &str) -> Result<u64> {
    match s.value(key) {
        Some(Value::Int(v)) => {
            u64::try_from(*v).map_err(|_| corrupt(format!("{ctx}: {key} = {v} is negative")))
        }
        Some(_) => Err(corrupt(format!("{ctx}: {key} is not an integer"))),
        None => Err(corrupt(format!("{ctx}: no {key}"))),
    }
}

fn string(s: &Section, key: &str, ctx: &str) -> Result<String> {
    match s.value(key) {
        Some(Value::Str(v)) => {
            String::from_utf8(v.clone()).map_err(|_| corrupt(format!("{ctx}: {key} is not UTF-8")))
        }
        Some(_) => Err(corrupt(format!("{ctx}: {key} is not a string"))),
        None => Err(corrupt(format!("{ctx}: no {key}"))),
    }
}

fn flags<'a>(s: &'a Section, key: &str) -> Vec<&'a [u8]> {
    match s.value(key) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| match v {
                Value::Str(s) => Some(s.as_slice()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Sectors (from the text) to bytes, checked.
fn bytes(sectors: u64, what: &str, ctx: &str) -> Result<u64> {
    sectors
        .checked_mul(SECTOR)
        .ok_or_else(|| corrupt(format!("{ctx}: {what} of {sectors} sectors overflows")))
}

/// The volume group section of a metadata text (the one top-level section) and its
/// `seqno`, without checking the rest: enough to pick the newest copy.
pub fn vg_section(top: &Section) -> Result<(&str, &Section)> {
    match top.value("contents") {
        Some(Value::Str(s)) if s == b"Text Format Volume Group" => {}
        _ => return Err(corrupt("contents is not \"Text Format Volume Group\"")),
    }
    match top.value("version") {
        Some(Value::Int(1)) => {}
        _ => return Err(corrupt("version is not 1")),
    }
    let mut secs = top.sections();
    match (secs.next(), secs.next()) {
        (Some(vg), None) => Ok(vg),
        (None, _) => Err(corrupt("no volume group section")),
        (Some(_), Some(_)) => Err(corrupt("more than one volume group section")),
    }
}

/// Checks a volume group section and builds its model.
pub fn parse_vg(name: &str, vg: &Section) -> Result<VgMeta> {
    let ctx = format!("volume group {name}");
    let id = string(vg, "id", &ctx)?;
    let seqno = int(vg, "seqno", &ctx)?;
    match vg.value("format") {
        None => {}
        Some(Value::Str(f)) if f == b"lvm2" => {}
        Some(_) => return Err(corrupt(format!("{ctx}: format is not \"lvm2\""))),
    }
    let es = int(vg, "extent_size", &ctx)?;
    if es == 0 {
        return Err(corrupt(format!("{ctx}: extent_size is 0")));
    }
    let extent_size = bytes(es, "extent_size", &ctx)?;

    let mut pvs = Vec::new();
    let pv_sec = vg
        .section("physical_volumes")
        .ok_or_else(|| corrupt(format!("{ctx}: no physical_volumes section")))?;
    for (pv_name, s) in pv_sec.sections() {
        let pctx = format!("{ctx}, physical volume {pv_name}");
        let uuid: String = string(s, "id", &pctx)?
            .chars()
            .filter(|&c| c != '-')
            .collect();
        if uuid.len() != 32 {
            return Err(corrupt(format!(
                "{pctx}: id is not 32 characters without dashes"
            )));
        }
        if pvs.iter().any(|p: &PvMeta| p.uuid == uuid) {
            return Err(corrupt(format!("{pctx}: uuid {uuid} is listed twice")));
        }
        let pe_start = bytes(int(s, "pe_start", &pctx)?, "pe_start", &pctx)?;
        let pe_count = int(s, "pe_count", &pctx)?;
        pe_count
            .checked_mul(extent_size)
            .and_then(|b| b.checked_add(pe_start))
            .ok_or_else(|| corrupt(format!("{pctx}: {pe_count} extents overflow")))?;
        pvs.push(PvMeta {
            name: pv_name.to_owned(),
            uuid,
            pe_start,
            pe_count,
        });
    }

    let mut lvs = Vec::new();
    if let Some(lv_sec) = vg.section("logical_volumes") {
        for (lv_name, s) in lv_sec.sections() {
            lvs.push(parse_lv(name, lv_name, s, &pvs, extent_size)?);
        }
    }
    mark_snapshots(name, &mut lvs)?;
    check_overlaps(name, &pvs, &lvs)?;
    Ok(VgMeta {
        name: name.to_owned(),
        id,
        seqno,
        extent_size,
        pvs,
        lvs,
    })
}

fn parse_lv(vg: &str, name: &str, s: &Section, pvs: &[PvMeta], es: u64) -> Result<LvMeta> {
    let ctx = format!("logical volume {vg}/{name}");
    let id = string(s, "id", &ctx)?;
    let visible = flags(s, "status").contains(&b"VISIBLE".as_slice());
    let declared = int(s, "segment_count", &ctx)?;
    let mut segments = Vec::new();
    for (seg_name, seg) in s.sections() {
        let sctx = format!("{ctx}, {seg_name}");
        segments.push(parse_segment(&sctx, seg, pvs, es)?);
    }
    if segments.len() as u64 != declared {
        return Err(corrupt(format!(
            "{ctx}: segment_count = {declared} but {} segments are there",
            segments.len()
        )));
    }
    segments.sort_by_key(|s| s.start_extent);
    let mut extents = 0u64;
    for seg in &segments {
        if seg.start_extent != extents {
            return Err(corrupt(format!(
                "{ctx}: a segment starts at extent {} where {} was expected (segments must \
                 tile the volume without gaps or overlaps)",
                seg.start_extent, extents
            )));
        }
        extents = extents
            .checked_add(seg.extent_count)
            .ok_or_else(|| corrupt(format!("{ctx}: extent counts overflow")))?;
    }
    let size = extents
        .checked_mul(es)
        .ok_or_else(|| corrupt(format!("{ctx}: {extents} extents overflow")))?;
    Ok(LvMeta {
        name: name.to_owned(),
        id,
        visible,
        segments,
        extents,
        size,
        snapshot_of: None,
    })
}

/// What each segment type lvm2 knows is, for the message naming it unsupported.
fn describe(segtype: &str) -> &'static str {
    match segtype {
        "thin" => "a thin volume: its blocks live in a thin pool's B-trees",
        "thin-pool" => "a thin pool: data and metadata of thin volumes",
        "snapshot" => "an old-style snapshot: origin plus copy-on-write exceptions",
        "mirror" => "a mirror: copies in sub-volumes",
        s if s.starts_with("raid") => "a RAID volume: data and parity in sub-volumes",
        "cache" | "cache-pool" | "writecache" => "a cache: data split between two devices",
        "vdo" | "vdo-pool" => "a VDO volume: deduplicated, compressed blocks",
        "integrity" => "a dm-integrity volume",
        "error" => "a segment that fails every read",
        _ => "not a segment type this reader maps",
    }
}

fn parse_segment(ctx: &str, s: &Section, pvs: &[PvMeta], es: u64) -> Result<Segment> {
    let start_extent = int(s, "start_extent", ctx)?;
    let extent_count = int(s, "extent_count", ctx)?;
    if extent_count == 0 {
        return Err(corrupt(format!("{ctx}: extent_count is 0")));
    }
    let segtype = string(s, "type", ctx)?;
    let kind = match segtype.as_str() {
        "striped" | "linear" => striped(ctx, s, pvs, extent_count, es)?,
        "zero" => SegmentKind::Zero,
        other => SegmentKind::Unsupported {
            segtype: other.to_owned(),
            detail: describe(other).to_owned(),
            snapshot: if other == "snapshot" {
                Some((string(s, "cow_store", ctx)?, string(s, "origin", ctx)?))
            } else {
                None
            },
        },
    };
    Ok(Segment {
        start_extent,
        extent_count,
        kind,
    })
}

fn striped(
    ctx: &str,
    s: &Section,
    pvs: &[PvMeta],
    extent_count: u64,
    es: u64,
) -> Result<SegmentKind> {
    let n = int(s, "stripe_count", ctx)?;
    if !(1..=MAX_STRIPES).contains(&n) {
        return Err(corrupt(format!(
            "{ctx}: stripe_count = {n}, not in 1..={MAX_STRIPES}"
        )));
    }
    let Some(Value::Array(list)) = s.value("stripes") else {
        return Err(corrupt(format!("{ctx}: no stripes array")));
    };
    if list.len() as u64 != 2 * n {
        return Err(corrupt(format!(
            "{ctx}: stripe_count = {n} but the stripes array has {} entries, not {}",
            list.len(),
            2 * n
        )));
    }
    if extent_count % n != 0 {
        return Err(corrupt(format!(
            "{ctx}: {extent_count} extents do not divide into {n} stripes"
        )));
    }
    let per_stripe = extent_count / n;
    let width = per_stripe
        .checked_mul(es)
        .ok_or_else(|| corrupt(format!("{ctx}: {per_stripe} extents per stripe overflow")))?;
    let mut areas = Vec::new();
    for pair in list.chunks_exact(2) {
        let (Value::Str(name), Value::Int(pe)) = (&pair[0], &pair[1]) else {
            return Err(corrupt(format!(
                "{ctx}: a stripes entry is not a \"name\", extent pair"
            )));
        };
        let name = String::from_utf8_lossy(name);
        let Some(pv) = pvs.iter().position(|p| p.name == name) else {
            // Striped over another LV (a stacked volume) or over nothing known.
            return Ok(SegmentKind::Unsupported {
                segtype: "striped".into(),
                detail: format!(
                    "a stripe on {name:?}, which is not a physical volume of the group \
                     (stacked on another volume)"
                ),
                snapshot: None,
            });
        };
        let pe = u64::try_from(*pe)
            .map_err(|_| corrupt(format!("{ctx}: stripe on {name} at extent {pe}")))?;
        let end = pe.checked_add(per_stripe);
        if end.is_none_or(|e| e > pvs[pv].pe_count) {
            return Err(corrupt(format!(
                "{ctx}: extents {pe}..+{per_stripe} on {name} lie past its {} extents",
                pvs[pv].pe_count
            )));
        }
        areas.push((pv, pe));
    }
    let stripe_size = if n == 1 {
        width // one stripe: the whole width is one chunk
    } else {
        let ss = bytes(int(s, "stripe_size", ctx)?, "stripe_size", ctx)?;
        if ss == 0 || width % ss != 0 {
            return Err(corrupt(format!(
                "{ctx}: stripe_size of {ss} bytes does not divide the {width}-byte stripes"
            )));
        }
        ss
    };
    Ok(SegmentKind::Striped { stripe_size, areas })
}

/// Marks the copy-on-write store of every old-style snapshot: it holds exceptions, not
/// the snapshot's content, so reading it as a volume would be wrong.
fn mark_snapshots(vg: &str, lvs: &mut [LvMeta]) -> Result<()> {
    let mut marks = Vec::new();
    for lv in lvs.iter() {
        for seg in &lv.segments {
            if let SegmentKind::Unsupported {
                snapshot: Some((cow, origin)),
                ..
            } = &seg.kind
            {
                marks.push((cow.clone(), origin.clone()));
            }
        }
    }
    for (cow, origin) in marks {
        let Some(lv) = lvs.iter_mut().find(|l| l.name == cow) else {
            return Err(corrupt(format!(
                "volume group {vg}: a snapshot's cow_store {cow} is not a logical volume"
            )));
        };
        lv.snapshot_of = Some(origin);
    }
    Ok(())
}

/// Refuses metadata in which two areas share a physical extent.
fn check_overlaps(vg: &str, pvs: &[PvMeta], lvs: &[LvMeta]) -> Result<()> {
    let mut used: Vec<(usize, u64, u64, &str)> = Vec::new();
    for lv in lvs {
        for seg in &lv.segments {
            if let SegmentKind::Striped { areas, .. } = &seg.kind {
                let per = seg.extent_count / areas.len() as u64;
                for &(pv, pe) in areas {
                    used.push((pv, pe, pe + per, &lv.name));
                }
            }
        }
    }
    used.sort_unstable();
    for w in used.windows(2) {
        let ((pa, _, ea, la), (pb, sb, _, lb)) = (w[0], w[1]);
        if pa == pb && sb < ea {
            return Err(corrupt(format!(
                "volume group {vg}: {vg}/{la} and {vg}/{lb} both map extent {sb} of {}",
                pvs[pa].name
            )));
        }
    }
    Ok(())
}
