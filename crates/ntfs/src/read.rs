//! Reading a stream's bytes: resident values, runs with holes, the uninitialized tail
//! (zeros), and LZNT1 compression units.

use ddgz_disk::Disk;

use crate::attr;
use crate::error::{corrupt, Error, Result};
use crate::file::{Stream, StreamData};
use crate::runs::Run;
use crate::Volume;

/// Largest compression unit decompressed at once.
const MAX_UNIT: u64 = 1 << 20;

impl<D: Disk> Volume<D> {
    /// Fills `buf` from byte `offset` of `s`; returns how many bytes the stream had there
    /// (fewer than `buf.len()` at its end; the rest of `buf` is left alone).
    pub fn read_at(&self, s: &Stream, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let n = s.len().saturating_sub(offset).min(buf.len() as u64) as usize;
        if n == 0 {
            return Ok(0);
        }
        let buf = &mut buf[..n];
        match &s.data {
            StreamData::Resident(v) => {
                buf.copy_from_slice(&v[offset as usize..offset as usize + n]);
            }
            StreamData::NonResident {
                runs,
                initialized_size,
                compression_unit,
                ..
            } => {
                if s.flags & attr::FLAG_ENCRYPTED != 0 {
                    return Err(Error::Unsupported(format!(
                        "{} is encrypted (EFS)",
                        s.describe()
                    )));
                }
                let init = (*initialized_size).saturating_sub(offset).min(n as u64) as usize;
                if s.flags & attr::FLAG_COMPRESSED != 0 && *compression_unit != 0 {
                    self.read_compressed(s, runs, *compression_unit, offset, &mut buf[..init])?;
                } else {
                    self.read_runs(s, runs, offset, &mut buf[..init])?;
                }
                buf[init..].fill(0);
            }
        }
        Ok(n)
    }

    /// Reads `buf` at byte `offset` through `runs` (holes read as zeros).
    fn read_runs(&self, s: &Stream, runs: &[Run], offset: u64, buf: &mut [u8]) -> Result<()> {
        let cs = u64::from(self.boot().cluster_size);
        let mut done = 0usize;
        while done < buf.len() {
            let pos = offset + done as u64;
            let vcn = pos / cs;
            let i = runs.partition_point(|r| r.vcn + r.len <= vcn);
            let r = runs.get(i).filter(|r| r.vcn <= vcn).ok_or_else(|| {
                corrupt(format!(
                    "{}: no run maps VCN {vcn} (byte {pos})",
                    s.describe()
                ))
            })?;
            let run_end = (r.vcn + r.len).saturating_mul(cs);
            let n = (run_end - pos).min((buf.len() - done) as u64) as usize;
            let out = &mut buf[done..done + n];
            match r.lcn {
                None => out.fill(0),
                Some(lcn) => self.read_raw((lcn + (vcn - r.vcn)) * cs + pos % cs, out)?,
            }
            done += n;
        }
        Ok(())
    }

    /// Reads `buf` at byte `offset` of a compressed stream, one compression unit at a time.
    fn read_compressed(
        &self,
        s: &Stream,
        runs: &[Run],
        cu: u8,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<()> {
        let cs = u64::from(self.boot().cluster_size);
        let unit_clusters = 1u64.checked_shl(cu.into()).unwrap_or(u64::MAX);
        let unit = unit_clusters.saturating_mul(cs);
        if cs > 4096 || unit > MAX_UNIT {
            return Err(Error::Unsupported(format!(
                "{}: compression units of {unit_clusters} clusters of {cs} bytes",
                s.describe()
            )));
        }
        let mut done = 0usize;
        let mut plain = vec![0u8; unit as usize];
        while done < buf.len() {
            let pos = offset + done as u64;
            let u = pos / unit;
            let first = u * unit_clusters;
            // Clusters of this unit that are stored (the rest are holes).
            let mut stored = 0u64;
            let mut vcn = first;
            while vcn < first + unit_clusters {
                let i = runs.partition_point(|r| r.vcn + r.len <= vcn);
                let Some(r) = runs.get(i).filter(|r| r.vcn <= vcn) else {
                    break;
                };
                let n = (r.vcn + r.len).min(first + unit_clusters) - vcn;
                if r.lcn.is_some() {
                    stored += n;
                }
                vcn += n;
            }
            if stored == unit_clusters {
                self.read_runs(s, runs, u * unit, &mut plain)?;
            } else {
                plain.fill(0);
                if stored > 0 {
                    let mut packed = vec![0u8; (stored * cs) as usize];
                    self.read_runs(s, runs, u * unit, &mut packed)?;
                    crate::lznt1::decompress(&packed, &mut plain).map_err(|m| {
                        corrupt(format!("{}: compression unit {u}: {m}", s.describe()))
                    })?;
                }
            }
            let within_unit = (pos - u * unit) as usize;
            let n = (plain.len() - within_unit).min(buf.len() - done);
            buf[done..done + n].copy_from_slice(&plain[within_unit..within_unit + n]);
            done += n;
        }
        Ok(())
    }

    /// The bytes of `s` as `(offset, bytes)` pieces of at most `piece` bytes, in order,
    /// with bounded memory whatever the stream's size.
    pub fn for_each_piece<E: From<Error>>(
        &self,
        s: &Stream,
        piece: usize,
        mut f: impl FnMut(u64, &[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        let piece = piece.clamp(4096, 16 << 20) as u64;
        let len = s.len();
        let mut buf = vec![0u8; piece.min(len) as usize];
        let mut at = 0u64;
        while at < len {
            let n = self.read_at(s, at, &mut buf)?;
            f(at, &buf[..n])?;
            at += n as u64;
        }
        Ok(())
    }
}
