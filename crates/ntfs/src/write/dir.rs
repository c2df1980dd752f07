//! The directories the writer adds into: each loaded once into a [`DirIndex`] (refused
//! when compressed, encrypted or spread over several records), and written back at the
//! end — changed index nodes, then the record with its new root, allocation, bitmap and
//! times.

use super::encode::{self, Sizes, I30};
use super::error::{self, WriteError, WriteResult};
use super::tree::{Alloc, DirIndex};
use super::{
    rebuild, DirInfo, Security, Writer, ATTR_COMPRESSED, ATTR_ENCRYPTED, SECURITY_DESCRIPTOR,
};
use crate::attr::{self, kind, Value};
use crate::file::StreamData;

impl<'a, 'd> Writer<'a, 'd> {
    /// The index of directory `n`, loaded once.
    pub(super) fn dir(&mut self, n: u64) -> WriteResult<&mut DirIndex> {
        if !self.dirs.contains_key(&n) {
            let ix = self.load_dir(n)?;
            self.dirs.insert(n, ix);
        }
        Ok(self.dirs.get_mut(&n).expect("inserted"))
    }

    pub(super) fn load_dir(&mut self, n: u64) -> WriteResult<DirIndex> {
        let cs = self.cs();
        let f = self.vol.file(n)?;
        let what = || format!("directory MFT record {n}");
        if !f.is_directory() {
            return Err(error::corrupt(format!("{}: not a directory", what())));
        }
        if f.attributes
            .iter()
            .any(|(r, a)| *r != n || a.type_code == kind::ATTRIBUTE_LIST)
        {
            return Err(WriteError::Unsupported(format!(
                "{}: its attributes are spread over several MFT records ($ATTRIBUTE_LIST)",
                what()
            )));
        }
        // The reader must accept the index as it is.
        self.vol.read_dir(&f)?;
        let si = f.standard_information()?;
        let ir_attr = f
            .attributes
            .iter()
            .map(|(_, a)| a)
            .find(|a| a.type_code == kind::INDEX_ROOT && a.name == I30)
            .ok_or_else(|| error::corrupt(format!("{}: no $INDEX_ROOT", what())))?;
        if si.file_attributes & (ATTR_COMPRESSED | ATTR_ENCRYPTED) != 0
            || ir_attr.flags & (attr::FLAG_COMPRESSED | attr::FLAG_ENCRYPTED) != 0
        {
            return Err(WriteError::Unsupported(format!(
                "{} is compressed or encrypted (file attributes {:#x}); files added there would \
                 have to be too",
                what(),
                si.file_attributes
            )));
        }
        let security = Security {
            id: si.security_id,
            descriptor: if si.security_id != 0 {
                None
            } else {
                Some(
                    f.attributes
                        .iter()
                        .find_map(|(_, a)| match &a.value {
                            Value::Resident(v) if a.type_code == SECURITY_DESCRIPTOR => {
                                Some(v.clone())
                            }
                            _ => None,
                        })
                        .unwrap_or_else(encode::default_security_descriptor),
                )
            },
        };
        self.info.insert(
            n,
            DirInfo {
                reference: f.reference.to_u64(),
                security,
                stamp: 0,
            },
        );
        let ir_value = ir_attr.resident()?.to_vec();
        let rec = self.vol.record(n)?;
        let ia = f.stream(kind::INDEX_ALLOCATION, &I30, cs as u32)?;
        let alloc = match &ia {
            None => None,
            Some(s) => {
                let inst = f
                    .attributes
                    .iter()
                    .find(|(_, a)| a.type_code == kind::INDEX_ALLOCATION && a.name == I30)
                    .map(|(_, a)| a.instance);
                match &s.data {
                    StreamData::NonResident {
                        runs,
                        allocated_size,
                        data_size,
                        ..
                    } => Some(Alloc {
                        runs: runs.clone(),
                        allocated: *allocated_size,
                        data: *data_size,
                        instance: inst,
                    }),
                    StreamData::Resident(_) => {
                        return Err(error::corrupt(format!(
                            "{}: $INDEX_ALLOCATION is resident",
                            what()
                        )))
                    }
                }
            }
        };
        let bitmap = match f
            .attributes
            .iter()
            .map(|(_, a)| a)
            .find(|a| a.type_code == kind::BITMAP && a.name == I30)
        {
            None => None,
            Some(a) => match &a.value {
                Value::Resident(v) => Some((v.clone(), Some(a.instance))),
                Value::NonResident(_) => {
                    return Err(WriteError::Unsupported(format!(
                        "{}: its index $BITMAP is non-resident",
                        what()
                    )))
                }
            },
        };
        let index_attrs: usize = f
            .attributes
            .iter()
            .map(|(_, a)| a)
            .filter(|a| {
                a.name == I30
                    && matches!(
                        a.type_code,
                        kind::INDEX_ROOT | kind::INDEX_ALLOCATION | kind::BITMAP
                    )
            })
            .map(|a| a.length as usize)
            .sum();
        let room = self
            .rs
            .saturating_sub((rec.bytes_in_use as usize).saturating_sub(index_attrs));
        let irs = ddgz_disk::bytes::le32(&ir_value, 8) as u64;
        let vcn_size = if irs >= cs { cs } else { 512 };
        let vol = &self.vol;
        let mut read_node = |vcn: u64| -> WriteResult<Vec<u8>> {
            let s = ia.as_ref().ok_or_else(|| {
                error::corrupt(format!("MFT record {n}: children but no $INDEX_ALLOCATION"))
            })?;
            let mut b = vec![0u8; irs as usize];
            let off = vcn
                .checked_mul(vcn_size)
                .ok_or_else(|| error::corrupt("VCN overflows"))?;
            if vol.read_at(s, off, &mut b)? != b.len() {
                return Err(error::corrupt(format!(
                    "MFT record {n}: node at VCN {vcn} past the allocation"
                )));
            }
            crate::fixup::unprotect(&mut b)
                .map_err(|m| error::corrupt(format!("MFT record {n} VCN {vcn}: {m}")))?;
            Ok(b)
        };
        DirIndex::load(n, &ir_value, alloc, bitmap, cs, room, &mut read_node)
    }

    /// Rewrites directory `d`: its changed nodes, and its record (root, allocation,
    /// bitmap, times).
    pub(super) fn flush_dir(&mut self, d: u64) -> WriteResult<()> {
        let stamp = self.info.get(&d).map_or(0, |i| i.stamp);
        let ix = &self.dirs[&d];
        if ix.dirty.is_empty() && !ix.record_dirty && stamp == 0 {
            return Ok(());
        }
        if let Some(a) = &ix.alloc {
            let runs = a.runs.clone();
            for (off, mut b) in ix.dirty_nodes() {
                crate::fixup::protect(&mut b).map_err(error::corrupt)?;
                self.write_runs(&runs, off, &b, "$INDEX_ALLOCATION")?;
            }
        }
        let ix = &self.dirs[&d];
        let r = self.vol.record(d)?;
        let attrs = r.attributes(self.vol.boot().total_clusters)?;
        let mut next = r.next_instance;
        let mut out: Vec<(u32, Vec<u16>, Vec<u8>)> = Vec::new();
        let mut have_alloc = false;
        let mut have_bitmap = false;
        for a in &attrs {
            let raw = r.bytes[a.offset..a.offset + a.length as usize].to_vec();
            let bytes = match (a.type_code, a.name == I30) {
                (kind::STANDARD_INFORMATION, _) => {
                    let mut raw = raw;
                    let vo = usize::from(ddgz_disk::bytes::le16(&raw, 0x14));
                    for field in [0x08, 0x10, 0x18] {
                        if vo + field + 8 <= raw.len() {
                            let old = ddgz_disk::bytes::le64(&raw, vo + field);
                            encode::put64(&mut raw, vo + field, old.max(stamp));
                        }
                    }
                    raw
                }
                (kind::INDEX_ROOT, true) => {
                    encode::resident(kind::INDEX_ROOT, &I30, a.instance, false, &ix.root_value())
                }
                (kind::INDEX_ALLOCATION, true) => {
                    have_alloc = true;
                    alloc_attr(ix, a.instance, a.flags)
                }
                (kind::BITMAP, true) => {
                    have_bitmap = true;
                    let v = ix.bitmap.as_ref().map(|b| b.0.clone()).unwrap_or_default();
                    encode::resident(kind::BITMAP, &I30, a.instance, false, &v)
                }
                _ => raw,
            };
            out.push((a.type_code, a.name.clone(), bytes));
        }
        if !have_alloc && ix.alloc.is_some() {
            out.push((
                kind::INDEX_ALLOCATION,
                I30.to_vec(),
                alloc_attr(ix, next, 0),
            ));
            next += 1;
        }
        if !have_bitmap {
            if let Some((v, _)) = &ix.bitmap {
                out.push((
                    kind::BITMAP,
                    I30.to_vec(),
                    encode::resident(kind::BITMAP, &I30, next, false, v),
                ));
                next += 1;
            }
        }
        out.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        let list: Vec<Vec<u8>> = out.into_iter().map(|x| x.2).collect();
        let b = rebuild(&r, &list, next, self.rs).ok_or_else(|| {
            WriteError::Unsupported(format!(
                "directory MFT record {d}: its index root no longer fits in the record"
            ))
        })?;
        self.write_record(d, b)
    }
}

/// The `$INDEX_ALLOCATION` attribute of `ix`.
fn alloc_attr(ix: &DirIndex, instance: u16, flags: u16) -> Vec<u8> {
    let a = ix.alloc.as_ref().expect("called with an allocation");
    encode::non_resident(
        kind::INDEX_ALLOCATION,
        &I30,
        a.instance.unwrap_or(instance),
        flags,
        &a.runs,
        Sizes {
            allocated: a.allocated,
            data: a.data,
            initialized: a.data,
        },
    )
}
