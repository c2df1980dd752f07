//! The raw output (`convert -o disk.raw`): the disk as it is, with holes. Zero extents
//! (unallocated clusters, zeroed free space) are never read, data is read in pieces and
//! written through [`SparseWriter`], which leaves every all-zero block a hole; the length
//! is set at the end. For a build step that wants a plain disk (packer-maas's Windows
//! VHDX flow), not for MAAS, which takes compressed images.

use std::fs::File;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};

use ddgz_disk::{walk_extents, ExtentKind};
use ddgz_image::Disk;
use ddgz_output::SparseWriter;

use crate::{Error, ErrorKind, Progress, Result};

/// Bytes read and written at a time.
const PIECE: u64 = 4 << 20;

/// What writing the raw disk did.
pub(crate) struct Written {
    /// Guest bytes (the file's length).
    pub size: u64,
    /// Bytes really written (the rest are holes).
    pub data: u64,
}

/// Writes `disk` into the empty `file` with holes.
pub(crate) fn write(
    disk: &dyn Disk,
    file: &File,
    cancel: Option<&AtomicBool>,
    progress: &mut dyn FnMut(Progress),
) -> Result<Written> {
    let size = disk.size();
    let mut w = SparseWriter::new(file);
    let mut buf = vec![0u8; PIECE as usize];
    let mut data_bytes = 0u64;
    let stopped = walk_extents(disk, 0, size, |e| {
        if e.kind == ExtentKind::Zero {
            return ControlFlow::Continue(());
        }
        let mut pos = e.offset;
        while pos < e.end() {
            if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                return ControlFlow::Break(Error::new(ErrorKind::Cancelled, "interrupted"));
            }
            // Pieces end on PIECE boundaries of the disk, so holes stay block-aligned.
            let stop = ((pos / PIECE + 1) * PIECE).min(e.end());
            let b = &mut buf[..(stop - pos) as usize];
            if let Err(err) = disk.read_at(pos, b) {
                return ControlFlow::Break(
                    Error::wrap(ErrorKind::Input, err)
                        .context(format!("reading guest bytes 0x{pos:x}..0x{stop:x}")),
                );
            }
            if let Err(err) = w.write_at(pos, b) {
                return ControlFlow::Break(
                    Error::wrap(ErrorKind::Output, err).context("writing the raw disk"),
                );
            }
            data_bytes += stop - pos;
            let mut p = Progress::default();
            (p.guest_bytes, p.data_bytes) = (stop, data_bytes);
            progress(p);
            pos = stop;
        }
        ControlFlow::Continue(())
    })
    .map_err(|e| Error::wrap(ErrorKind::Input, e).context("reading the disk's extents"))?;
    if let Some(e) = stopped {
        return Err(e);
    }
    let data = w
        .finish(size)
        .map_err(|e| Error::wrap(ErrorKind::Output, e).context("setting the raw disk's length"))?;
    Ok(Written { size, data })
}
