//! Run lists ("mapping pairs"): where the clusters of a non-resident attribute lie.
//!
//! Each run is a header byte (low nibble: bytes of the length, high nibble: bytes of the
//! LCN delta), the length (unsigned), then the delta from the previous run's LCN (signed);
//! a delta of no bytes is a sparse run (a hole). A header byte of 0 ends the list.

use crate::error::{corrupt, Result};

/// One run of an attribute: `len` clusters from virtual cluster `vcn`, stored from
/// logical cluster `lcn`, or a hole (`lcn: None`, reading as zeros).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    /// First virtual cluster (cluster index inside the attribute).
    pub vcn: u64,
    /// First logical cluster on the volume; `None` for a sparse run.
    pub lcn: Option<u64>,
    /// Clusters.
    pub len: u64,
}

/// Decodes a mapping-pairs array whose first run starts at `lowest_vcn`, checking each
/// real run against the volume's `total_clusters` and the count of runs against
/// `max_runs`. Errors say which run and the bad value, without the attribute's name.
pub fn decode(b: &[u8], lowest_vcn: u64, total_clusters: u64, max_runs: usize) -> Result<Vec<Run>> {
    let mut runs = Vec::new();
    let mut at = 0usize;
    let mut vcn = lowest_vcn;
    let mut lcn: i64 = 0;
    loop {
        let Some(&h) = b.get(at) else {
            return Err(corrupt(format!(
                "run list has no terminator within its {} bytes",
                b.len()
            )));
        };
        if h == 0 {
            return Ok(runs);
        }
        let (nl, no) = (usize::from(h & 0xF), usize::from(h >> 4));
        if nl == 0 || nl > 8 || no > 8 {
            return Err(corrupt(format!(
                "run {} at byte {at}: header byte {h:#04x} (length bytes {nl}, offset bytes {no})",
                runs.len()
            )));
        }
        let field = b.get(at + 1..at + 1 + nl + no).ok_or_else(|| {
            corrupt(format!(
                "run {} at byte {at} runs past the end of the run list ({} bytes)",
                runs.len(),
                b.len()
            ))
        })?;
        let len = signed(&field[..nl]);
        if len <= 0 {
            return Err(corrupt(format!(
                "run {} at byte {at}: length {len} clusters",
                runs.len()
            )));
        }
        let len = len as u64;
        let run_lcn = if no == 0 {
            None
        } else {
            lcn = lcn.checked_add(signed(&field[nl..])).ok_or_else(|| {
                corrupt(format!(
                    "run {} at byte {at}: cluster overflows",
                    runs.len()
                ))
            })?;
            let end = (lcn as u64).checked_add(len);
            if lcn < 0 || end.is_none_or(|e| e > total_clusters) {
                return Err(corrupt(format!(
                    "run {} at byte {at}: clusters {lcn}..+{len} lie outside the volume ({} \
                     clusters)",
                    runs.len(),
                    total_clusters
                )));
            }
            Some(lcn as u64)
        };
        if runs.len() >= max_runs {
            return Err(crate::Error::Limit(format!(
                "more than {max_runs} runs in one attribute"
            )));
        }
        runs.push(Run {
            vcn,
            lcn: run_lcn,
            len,
        });
        vcn = vcn
            .checked_add(len)
            .filter(|v| *v < 1 << 62)
            .ok_or_else(|| corrupt(format!("run {} at byte {at}: VCN overflows", runs.len())))?;
        at += 1 + nl + no;
    }
}

/// Encodes runs (contiguous, from their first VCN) as a mapping-pairs array with its
/// terminator: the inverse of [`decode`], for a writer.
pub fn encode(runs: &[Run]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut prev: i64 = 0;
    for r in runs {
        let len = minimal(r.len as i64);
        let delta = r.lcn.map(|l| {
            let d = minimal(l as i64 - prev);
            prev = l as i64;
            d
        });
        let no = delta.as_ref().map_or(0, Vec::len);
        out.push((no as u8) << 4 | len.len() as u8);
        out.extend_from_slice(&len);
        if let Some(d) = delta {
            out.extend_from_slice(&d);
        }
    }
    out.push(0);
    out
}

/// The shortest little-endian two's-complement bytes of `v`.
fn minimal(v: i64) -> Vec<u8> {
    let b = v.to_le_bytes();
    let mut n = 8;
    while n > 1 {
        let top = b[n - 1];
        let next_sign = b[n - 2] & 0x80;
        if (top == 0 && next_sign == 0) || (top == 0xFF && next_sign != 0) {
            n -= 1;
        } else {
            break;
        }
    }
    b[..n].to_vec()
}

/// A little-endian two's-complement integer of 1..=8 bytes.
fn signed(b: &[u8]) -> i64 {
    let mut v = [if b.last().is_some_and(|x| x & 0x80 != 0) {
        0xFF
    } else {
        0
    }; 8];
    v[..b.len()].copy_from_slice(b);
    i64::from_le_bytes(v)
}

/// Checks that the real runs of one attribute do not share a cluster.
pub fn check_disjoint(runs: &[Run]) -> Result<()> {
    let mut real: Vec<(u64, u64, u64)> = runs
        .iter()
        .filter_map(|r| r.lcn.map(|l| (l, l + r.len, r.vcn)))
        .collect();
    real.sort_unstable();
    for w in real.windows(2) {
        if w[1].0 < w[0].1 {
            return Err(corrupt(format!(
                "runs at VCN {} and VCN {} overlap (clusters {}..{} and {}..{})",
                w[0].2, w[1].2, w[0].0, w[0].1, w[1].0, w[1].1
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_holes_and_backward_deltas() {
        let runs = vec![
            Run {
                vcn: 0,
                lcn: Some(1000),
                len: 16,
            },
            Run {
                vcn: 16,
                lcn: None,
                len: 300,
            },
            Run {
                vcn: 316,
                lcn: Some(40),
                len: 1,
            },
            Run {
                vcn: 317,
                lcn: Some(70_000),
                len: 129,
            },
        ];
        let enc = encode(&runs);
        assert_eq!(decode(&enc, 0, 1 << 20, 16).unwrap(), runs);
        check_disjoint(&runs).unwrap();
    }

    #[test]
    fn hostile_runs_are_named() {
        // 1 cluster at LCN -56.
        let e = decode(&[0x11, 1, 0xC8, 0], 0, 100, 16)
            .unwrap_err()
            .to_string();
        assert!(e.contains("outside the volume"), "{e}");
        // 5 clusters at LCN 256 on a volume of 100 clusters.
        let e = decode(&[0x21, 5, 0x00, 0x01, 0], 0, 100, 16)
            .unwrap_err()
            .to_string();
        assert!(e.contains("outside the volume"), "{e}");
        let e = decode(&[0x11, 5], 0, 100, 16).unwrap_err().to_string();
        assert!(e.contains("past the end"), "{e}");
        let e = decode(&[0x01, 5], 0, 100, 16).unwrap_err().to_string();
        assert!(e.contains("terminator"), "{e}");
        let overlap = [
            Run {
                vcn: 0,
                lcn: Some(10),
                len: 5,
            },
            Run {
                vcn: 5,
                lcn: Some(12),
                len: 5,
            },
        ];
        assert!(check_disjoint(&overlap)
            .unwrap_err()
            .to_string()
            .contains("overlap"));
    }
}
