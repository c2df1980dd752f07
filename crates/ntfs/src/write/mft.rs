//! `$MFT` itself: records handed out from its `$BITMAP` (from [`FIRST_USER_RECORD`] on),
//! the table extended (formatted records, its `$BITMAP` grown, record 0 rewritten) when
//! none is free, and `$MFTMirr` kept equal to the records it mirrors.

use std::collections::BTreeSet;

use super::encode::{self, align8, Sizes};
use super::error::{self, WriteError, WriteResult};
use ddgz_disk::Disk;

use super::{
    append_runs, find_attr, rebuild, runs_of, Op, Writer, FIRST_USER_RECORD, MFTMIRR_RECORD,
};
use crate::attr::{kind, Value};
use crate::Volume;

impl<'a, 'd> Writer<'a, 'd> {
    /// Makes sure enough MFT records are free for `ops`, extending `$MFT` if not.
    pub(super) fn reserve_records(&mut self, ops: &[Op]) -> WriteResult<()> {
        let mut paths = BTreeSet::new();
        for op in ops {
            for i in 1..=op.dest.len() {
                paths.insert(op.dest[..i].join("/").to_uppercase());
            }
        }
        let need = paths.len() as u64;
        let count = self.vol.record_count();
        let free = self.mft_bits.count_free(FIRST_USER_RECORD, count);
        if free >= need {
            return Ok(());
        }
        let per_cluster = (self.cs() / self.rs as u64).max(1);
        let target =
            (count.max(FIRST_USER_RECORD) + need - free).div_ceil(per_cluster) * per_cluster;
        self.extend_mft(target)
    }

    /// Extends `$MFT` to `target` records (formatted, free), and its `$BITMAP` to cover
    /// them; record 0 is rewritten (and mirrored).
    pub(super) fn extend_mft(&mut self, target: u64) -> WriteResult<()> {
        let rs = self.rs as u64;
        let cs = self.cs();
        let r0 = self.vol.record(0)?;
        let attrs = r0.attributes(self.vol.boot().total_clusters)?;
        if attrs.iter().any(|a| a.type_code == kind::ATTRIBUTE_LIST) {
            return Err(WriteError::NoSpace(
                "no MFT record is free, and $MFT is spread over several records (it has an \
                 $ATTRIBUTE_LIST), which this writer does not extend"
                    .into(),
            ));
        }
        let data = find_attr(&attrs, kind::DATA, &[])
            .ok_or_else(|| error::corrupt("$MFT has no $DATA"))?;
        let Value::NonResident(nr) = &data.value else {
            return Err(error::corrupt("$MFT's $DATA is resident"));
        };
        let old_count = nr.data_size / rs;
        if old_count != self.vol.record_count() {
            return Err(error::corrupt(format!(
                "$MFT's data size ({} bytes) disagrees with the {} records its runs map",
                nr.data_size,
                self.vol.record_count()
            )));
        }
        let mut runs = nr.runs.clone();
        let mut allocated = nr.allocated_size;
        let new_size = target * rs;
        if new_size > allocated {
            let n = (new_size - allocated).div_ceil(cs);
            let end = runs
                .last()
                .and_then(|r| r.lcn.map(|l| l + r.len))
                .unwrap_or(0);
            let pieces = self.clusters.alloc_near(n, end, "extending $MFT")?;
            append_runs(&mut runs, allocated / cs, &pieces);
            allocated += n * cs;
        }
        // Format the new records.
        for k in old_count..target {
            let mut b = encode::empty_record(self.rs, k);
            crate::fixup::protect(&mut b).map_err(error::corrupt)?;
            self.write_runs(&runs, k * rs, &b, "$MFT")?;
        }
        let data_attr = encode::non_resident(
            kind::DATA,
            &[],
            data.instance,
            data.flags,
            &runs,
            Sizes {
                allocated,
                data: new_size,
                initialized: new_size,
            },
        );
        // $BITMAP: one bit per record, 8-byte multiples.
        let bm = find_attr(&attrs, kind::BITMAP, &[])
            .ok_or_else(|| error::corrupt("$MFT has no $BITMAP"))?;
        let need = align8(target.div_ceil(8) as usize) as u64;
        let bm_attr = match &bm.value {
            Value::Resident(v) => {
                let mut v = v.clone();
                v.resize(need.max(v.len() as u64) as usize, 0);
                encode::resident(kind::BITMAP, &[], bm.instance, false, &v)
            }
            Value::NonResident(b) => {
                let mut bruns = b.runs.clone();
                let mut balloc = b.allocated_size;
                if need > balloc {
                    let n = (need - balloc).div_ceil(cs);
                    let pieces = self.clusters.alloc(n, "extending $MFT's $BITMAP")?;
                    append_runs(&mut bruns, balloc / cs, &pieces);
                    balloc += n * cs;
                }
                let old = b.initialized_size.min(need);
                let zeros = vec![0u8; (need - old) as usize];
                self.write_runs(&bruns, old, &zeros, "$MFT $BITMAP")?;
                let size = need.max(b.data_size);
                encode::non_resident(
                    kind::BITMAP,
                    &[],
                    bm.instance,
                    bm.flags,
                    &bruns,
                    Sizes {
                        allocated: balloc,
                        data: size,
                        initialized: size,
                    },
                )
            }
        };
        let new_attrs: Vec<Vec<u8>> = attrs
            .iter()
            .map(|a| match (a.type_code, a.name.is_empty()) {
                (kind::DATA, true) => data_attr.clone(),
                (kind::BITMAP, true) => bm_attr.clone(),
                _ => r0.bytes[a.offset..a.offset + a.length as usize].to_vec(),
            })
            .collect();
        let b = rebuild(&r0, &new_attrs, r0.next_instance, self.rs).ok_or_else(|| {
            WriteError::NoSpace("no MFT record is free, and $MFT's record 0 cannot map more".into())
        })?;
        self.write_record(0, b)?;
        // The reader's view of $MFT (its runs) is re-read.
        self.vol = Volume::open(self.cow, 0, self.cow.size())?;
        let mut bits = Self::mft_bitmap(&self.vol)?;
        // Bits this run set before are kept (none yet: reserve happens first).
        bits.len = self.vol.record_count();
        self.mft_bits = bits;
        Ok(())
    }

    /// A free MFT record, marked used: its number and the sequence number to give it.
    pub(super) fn new_record(&mut self) -> WriteResult<(u64, u16)> {
        let count = self.vol.record_count();
        let n = self
            .mft_bits
            .first_free(FIRST_USER_RECORD, count)
            .ok_or_else(|| WriteError::NoSpace("no MFT record is free".into()))?;
        let seq = match self.vol.record(n) {
            Ok(r) if r.in_use() => {
                return Err(error::corrupt(format!(
                    "MFT record {n} is marked free in $MFT's $BITMAP but is in use"
                )))
            }
            Ok(r) if r.sequence != 0 => r.sequence,
            _ => 1,
        };
        self.mft_bits.set(n);
        Ok((n, seq))
    }

    /// Copies every written record that `$MFTMirr` mirrors into it.
    pub(super) fn mirror(&mut self) -> WriteResult<()> {
        let f = self.vol.file(MFTMIRR_RECORD)?;
        let s = self
            .vol
            .data(&f, "")?
            .ok_or_else(|| error::corrupt("$MFTMirr (MFT record 1) has no $DATA"))?;
        let rs = self.rs as u64;
        let mirrored = s.len() / rs;
        let runs = runs_of(&s)?.to_vec();
        let mft = self.vol.mft().clone();
        for &n in self.written.range(..mirrored) {
            let mut b = vec![0u8; self.rs];
            self.vol.read_at(&mft, n * rs, &mut b)?;
            self.write_runs(&runs, n * rs, &b, "$MFTMirr")?;
        }
        Ok(())
    }
}
