//! Walking a disk's extents in bounded windows.
//!
//! [`Disk::extents`](crate::Disk::extents) returns a list for the range it is asked about,
//! and a hostile image can make that list as long as the disk has clusters (a 4 TiB qcow2
//! of alternating allocated and free 64 KiB clusters has 64 Mi runs, 1.5 GiB of
//! `Extent`s). Anything that looks at a whole disk or a whole partition walks it here,
//! [`EXTENT_WINDOW`] at a time, so memory is bounded by the window, not by the disk.

use std::ops::ControlFlow;

use crate::{Disk, Extent, ExtentKind, Result};

/// The largest range asked of [`Disk::extents`] at once when walking: 256 MiB, so a list
/// holds at most 512 Ki runs (512-byte clusters, 12 MiB) whatever the disk's size.
pub const EXTENT_WINDOW: u64 = 256 << 20;

/// Calls `f` with each extent of `[offset, offset + len)`, in order, asking `disk` for a
/// bounded list at a time ([`Disk::extents_from`]: at most [`EXTENT_WINDOW`] bytes, or a
/// bounded number of runs for a format that maps them). A run that crosses the end of a
/// list is passed as two extents. Stops at the first `Break` and returns its value.
pub fn walk_extents<D: Disk + ?Sized, B>(
    disk: &D,
    offset: u64,
    len: u64,
    mut f: impl FnMut(&Extent) -> ControlFlow<B>,
) -> Result<Option<B>> {
    crate::check_range(disk.size(), offset, len)?;
    let end = offset + len;
    let mut pos = offset;
    while pos < end {
        let list = disk.extents_from(pos, end - pos)?;
        // A list must make progress and stay inside the range asked for.
        let next = list.last().map_or(pos, Extent::end);
        if next <= pos || next > end || list[0].offset != pos {
            return Err(crate::Error::Extents(format!(
                "a disk answered extents of 0x{pos:x}..0x{end:x} with a list ending at \
                 0x{next:x}"
            )));
        }
        for e in &list {
            if let ControlFlow::Break(b) = f(e) {
                return Ok(Some(b));
            }
        }
        pos = next;
    }
    Ok(None)
}

/// The sum of the `Data` extents of `[offset, offset + len)`, walked in windows.
pub fn data_bytes_in<D: Disk + ?Sized>(disk: &D, offset: u64, len: u64) -> Result<u64> {
    let mut sum = 0u64;
    walk_extents(disk, offset, len, |e| {
        if e.kind == ExtentKind::Data {
            sum += e.len;
        }
        ControlFlow::<()>::Continue(())
    })?;
    Ok(sum)
}

/// The first `Data` extent of `[offset, offset + len)`, if any: `None` means the whole
/// range is known to be zeros.
pub fn first_data<D: Disk + ?Sized>(disk: &D, offset: u64, len: u64) -> Result<Option<Extent>> {
    walk_extents(disk, offset, len, |e| {
        if e.kind == ExtentKind::Data {
            ControlFlow::Break(*e)
        } else {
            ControlFlow::Continue(())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A disk of `size` bytes whose extents alternate Data and Zero every `run` bytes,
    /// counting how many bytes it was asked about at most at once.
    #[derive(Debug)]
    struct Striped {
        size: u64,
        run: u64,
        widest: std::sync::atomic::AtomicU64,
    }

    impl Disk for Striped {
        fn size(&self) -> u64 {
            self.size
        }
        fn extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>> {
            crate::check_range(self.size, offset, len)?;
            self.widest
                .fetch_max(len, std::sync::atomic::Ordering::Relaxed);
            let mut out = Vec::new();
            let mut pos = offset;
            while pos < offset + len {
                let stripe = pos / self.run;
                let next = ((stripe + 1) * self.run).min(offset + len);
                let kind = if stripe % 2 == 0 {
                    ExtentKind::Data
                } else {
                    ExtentKind::Zero
                };
                crate::push_merged(
                    &mut out,
                    Extent {
                        offset: pos,
                        len: next - pos,
                        kind,
                    },
                );
                pos = next;
            }
            Ok(out)
        }
        fn read_at(&self, _offset: u64, _buf: &mut [u8]) -> Result<()> {
            unreachable!("walking never reads")
        }
    }

    #[test]
    fn counts_data_in_windows_and_stops_early() {
        let d = Striped {
            size: 3 * EXTENT_WINDOW + 4096,
            run: 1 << 20,
            widest: 0.into(),
        };
        // Stripes of 1 MiB: Data, Zero, Data, …; the last stripe (4096 B) is Data.
        let full_pairs = d.size / (2 << 20);
        assert_eq!(d.allocated_bytes().unwrap(), full_pairs * (1 << 20) + 4096);
        assert_eq!(
            d.widest.load(std::sync::atomic::Ordering::Relaxed),
            EXTENT_WINDOW
        );
        assert_eq!(data_bytes_in(&d, 1 << 20, 1 << 20).unwrap(), 0);
        assert_eq!(
            first_data(&d, 1 << 20, 3 << 20).unwrap().map(|e| e.offset),
            Some(2 << 20)
        );
        assert_eq!(first_data(&d, 1 << 20, 1 << 20).unwrap(), None);
        assert!(walk_extents(&d, 0, d.size + 1, |_| ControlFlow::<()>::Continue(())).is_err());
    }
}
