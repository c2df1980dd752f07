//! A logical volume as a [`Disk`]: its segments mapped onto the disks of its PVs, zero
//! regions of a PV staying zero regions of the LV.
//!
//! A striped segment of `n` stripes deals chunks of `stripe_size` bytes round-robin:
//! chunk `c` of the segment is row `c / n` of stripe `c % n`. A linear segment is one
//! stripe whose chunk is the whole segment.

use std::sync::Arc;

use ddgz_disk::{check_range, push_merged, Disk, Extent, ExtentKind, FileId};

/// How one segment's bytes are found.
#[derive(Debug)]
pub(crate) enum Mapping<D: Disk> {
    /// Reads as zeros.
    Zero,
    /// Chunks of `stripe_size` over `(disk, first byte)` per stripe.
    Striped {
        stripe_size: u64,
        stripes: Vec<(Arc<D>, u64)>,
    },
}

/// One segment: `[start, start + len)` of the LV.
#[derive(Debug)]
pub(crate) struct Piece<D: Disk> {
    pub start: u64,
    pub len: u64,
    pub mapping: Mapping<D>,
}

/// A linear or striped logical volume, read through its PVs' disks.
#[derive(Debug)]
pub struct LogicalVolume<D: Disk> {
    name: String,
    size: u64,
    /// Tiling `[0, size)`, in order.
    pieces: Vec<Piece<D>>,
}

/// A run of the LV on one PV: `len` bytes at `pv_offset` of `disk`, LV offset `lv`.
struct Run<'a, D> {
    lv: u64,
    len: u64,
    disk: &'a D,
    stripe: usize,
    pv_offset: u64,
}

impl<D: Disk> LogicalVolume<D> {
    pub(crate) fn new(name: String, size: u64, pieces: Vec<Piece<D>>) -> Self {
        Self { name, size, pieces }
    }

    /// `VG/LV`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Index of the piece holding LV byte `at` (< size).
    fn piece_at(&self, at: u64) -> usize {
        self.pieces.partition_point(|p| p.start + p.len <= at)
    }

    /// Calls `f` for each run of `[offset, offset + len)`, in order: `None` for a zero
    /// segment, else the PV run. Stops at the first error.
    fn runs<E>(
        &self,
        offset: u64,
        len: u64,
        mut f: impl FnMut(u64, u64, Option<Run<'_, D>>) -> Result<(), E>,
    ) -> Result<(), E> {
        let end = offset + len;
        let mut pos = offset;
        let mut i = self.piece_at(pos);
        while pos < end {
            let Some(p) = self.pieces.get(i) else { break };
            let seg_end = (p.start + p.len).min(end);
            match &p.mapping {
                Mapping::Zero => {
                    f(pos, seg_end - pos, None)?;
                    pos = seg_end;
                }
                Mapping::Striped {
                    stripe_size,
                    stripes,
                } => {
                    let n = stripes.len() as u64;
                    while pos < seg_end {
                        let o = pos - p.start;
                        let chunk = o / stripe_size;
                        let within = o % stripe_size;
                        let k = (chunk % n) as usize;
                        let (disk, base) = &stripes[k];
                        let take = (stripe_size - within).min(seg_end - pos);
                        let pv_offset = base + (chunk / n) * stripe_size + within;
                        f(
                            pos,
                            take,
                            Some(Run {
                                lv: pos,
                                len: take,
                                disk,
                                stripe: k,
                                pv_offset,
                            }),
                        )?;
                        pos += take;
                    }
                }
            }
            i += 1;
        }
        Ok(())
    }
}

impl<D: Disk> Disk for LogicalVolume<D> {
    fn size(&self) -> u64 {
        self.size
    }

    fn extents(&self, offset: u64, len: u64) -> ddgz_disk::Result<Vec<Extent>> {
        check_range(self.size, offset, len)?;
        let mut out = Vec::new();
        if len == 0 {
            return Ok(out);
        }
        // Per piece and stripe, the PV's extents over the rows the range touches, asked
        // once; the runs then walk them with a cursor (a stripe's rows come in order).
        let end = offset + len;
        let mut i = self.piece_at(offset);
        while let Some(p) = self.pieces.get(i) {
            if p.start >= end {
                break;
            }
            let lo = offset.max(p.start);
            let hi = end.min(p.start + p.len);
            match &p.mapping {
                Mapping::Zero => push_merged(
                    &mut out,
                    Extent {
                        offset: lo,
                        len: hi - lo,
                        kind: ExtentKind::Zero,
                    },
                ),
                Mapping::Striped {
                    stripe_size,
                    stripes,
                } => {
                    let n = stripes.len() as u64;
                    let first_row = (lo - p.start) / stripe_size / n;
                    let last_row = (hi - 1 - p.start) / stripe_size / n;
                    let width = p.len / n;
                    let mut maps = Vec::with_capacity(stripes.len());
                    for (disk, base) in stripes {
                        let a = base + first_row * stripe_size;
                        let b = base + ((last_row + 1) * stripe_size).min(width);
                        maps.push((disk.extents(a, b - a)?, 0usize));
                    }
                    // Every stripe one run of one kind (all data, or all zeros): the
                    // range is that kind, without walking its chunks one by one.
                    let kind = maps[0].0.first().map(|e| e.kind);
                    if maps
                        .iter()
                        .all(|(m, _)| m.len() == 1 && Some(m[0].kind) == kind)
                    {
                        if let Some(kind) = kind {
                            push_merged(
                                &mut out,
                                Extent {
                                    offset: lo,
                                    len: hi - lo,
                                    kind,
                                },
                            );
                            i += 1;
                            continue;
                        }
                    }
                    self.runs(lo, hi - lo, |_, _, run| {
                        let Some(r) = run else { return Ok(()) };
                        let (ext, cur) = &mut maps[r.stripe];
                        let mut at = r.pv_offset;
                        let stop = r.pv_offset + r.len;
                        while at < stop {
                            while ext.get(*cur).is_some_and(|e| e.end() <= at) {
                                *cur += 1;
                            }
                            let Some(e) = ext.get(*cur) else {
                                // The PV disk did not cover what it was asked for.
                                return Err(ddgz_disk::Error::OutOfRange {
                                    offset: at,
                                    len: stop - at,
                                    size: r.disk.size(),
                                });
                            };
                            let take = e.end().min(stop) - at;
                            push_merged(
                                &mut out,
                                Extent {
                                    offset: r.lv + (at - r.pv_offset),
                                    len: take,
                                    kind: e.kind,
                                },
                            );
                            at += take;
                        }
                        Ok(())
                    })?;
                }
            }
            i += 1;
        }
        Ok(out)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> ddgz_disk::Result<()> {
        check_range(self.size, offset, buf.len() as u64)?;
        self.runs(offset, buf.len() as u64, |pos, len, run| {
            let at = (pos - offset) as usize;
            let dst = &mut buf[at..at + len as usize];
            match run {
                None => {
                    dst.fill(0);
                    Ok(())
                }
                Some(r) => r.disk.read_at(r.pv_offset, dst),
            }
        })
    }

    fn files(&self) -> Vec<FileId> {
        let mut out: Vec<FileId> = Vec::new();
        for p in &self.pieces {
            if let Mapping::Striped { stripes, .. } = &p.mapping {
                for (d, _) in stripes {
                    for f in d.files() {
                        if !out.contains(&f) {
                            out.push(f);
                        }
                    }
                }
            }
        }
        out
    }
}
