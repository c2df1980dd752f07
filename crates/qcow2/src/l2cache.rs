//! A bounded cache of L2 table slices, like QEMU's L2 cache (`l2-cache-size`,
//! `l2-cache-entry-size`).
//!
//! Every request walks the L2 entries of its range, and a converter asks twice for each
//! range (its extents, then its bytes), several threads at once: without a cache each
//! walk would read the entries from the file again. Tables are cached in slices of at
//! most [`MAX_SLICE`] bytes (a whole table with clusters up to 64 KiB), keyed by their
//! offset in the file, which never changes (images are opened read-only); at most
//! [`BUDGET`] bytes of slices are kept, the least recently used going first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Largest slice read at once: a whole table with 64 KiB clusters (QEMU's default),
/// 4096–8192 entries with 2 MiB clusters, so that a small request does not read 2 MiB.
pub(crate) const MAX_SLICE: u64 = 64 << 10;

/// Bytes of slices kept per image: QEMU's former default L2 cache size. With 64 KiB
/// clusters that maps 8 GiB of guest space, far more than a converter's chunks in flight
/// span (at most 256 MiB beyond one claim per worker).
pub(crate) const BUDGET: u64 = 1 << 20;

/// Slices by file offset, with the tick of their last use.
#[derive(Default)]
struct Slices {
    map: HashMap<u64, (Arc<[u8]>, u64)>,
    tick: u64,
}

/// The cache of one image.
pub(crate) struct L2Cache {
    /// Bytes per slice: the table size, or [`MAX_SLICE`] if that is smaller.
    slice: u64,
    /// Slices kept: [`BUDGET`] / `slice`.
    capacity: usize,
    slices: Mutex<Slices>,
}

impl std::fmt::Debug for L2Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("L2Cache")
            .field("slice", &self.slice)
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl L2Cache {
    /// A cache for tables of `table_bytes` (one cluster).
    pub(crate) fn new(table_bytes: u64) -> Self {
        let slice = table_bytes.min(MAX_SLICE);
        Self {
            slice,
            capacity: (BUDGET / slice).max(1) as usize,
            slices: Mutex::new(Slices::default()),
        }
    }

    /// Bytes per slice (a multiple of the entry size: both are powers of two, the entry
    /// size at most 16 bytes and a slice at least 512).
    pub(crate) fn slice_bytes(&self) -> u64 {
        self.slice
    }

    /// The slice at file offset `at`, from the cache or from `read` (called without the
    /// lock held, so other threads are not held up by the read).
    pub(crate) fn get<E>(
        &self,
        at: u64,
        read: impl FnOnce(&mut [u8]) -> Result<(), E>,
    ) -> Result<Arc<[u8]>, E> {
        {
            let mut g = self.slices.lock().unwrap_or_else(|e| e.into_inner());
            g.tick += 1;
            let tick = g.tick;
            if let Some((s, used)) = g.map.get_mut(&at) {
                *used = tick;
                return Ok(s.clone());
            }
        }
        let mut buf = vec![0u8; self.slice as usize];
        read(&mut buf)?;
        let s: Arc<[u8]> = buf.into();
        let mut g = self.slices.lock().unwrap_or_else(|e| e.into_inner());
        g.tick += 1;
        let tick = g.tick;
        if !g.map.contains_key(&at) && g.map.len() >= self.capacity {
            // Misses cost a read; a scan of at most BUDGET / 512 entries is small beside it.
            if let Some(old) = g.map.iter().min_by_key(|(_, (_, u))| *u).map(|(k, _)| *k) {
                g.map.remove(&old);
            }
        }
        g.map.insert(at, (s.clone(), tick));
        Ok(s)
    }

    /// Slices held now (for tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.slices.lock().unwrap().map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn reads_once_and_stays_bounded() {
        let reads = Cell::new(0);
        let c = L2Cache::new(MAX_SLICE);
        let get = |at: u64| {
            c.get(at, |b| {
                reads.set(reads.get() + 1);
                b.fill(at as u8);
                Ok::<_, ()>(())
            })
            .unwrap()
        };
        assert_eq!(get(0x10000)[5], 0);
        assert_eq!(get(0x10000)[5], 0);
        assert_eq!(reads.get(), 1, "a cached slice was read again");
        let cap = BUDGET / MAX_SLICE;
        for k in 0..2 * cap {
            get((k + 2) << 16);
            // Keep the first slice in use: it must survive as the most recent.
            get(0x10000);
        }
        assert_eq!(c.len(), cap as usize);
        let before = reads.get();
        get(0x10000);
        assert_eq!(reads.get(), before, "the recently used slice was evicted");
        get(2 << 16);
        assert_eq!(reads.get(), before + 1, "the oldest slice was kept");
        // A failed read caches nothing.
        assert!(c.get(7 << 30, |_| Err::<(), _>("no")).is_err());
        assert_eq!(c.len(), cap as usize);
    }

    #[test]
    fn slices_of_big_tables_and_small_ones() {
        assert_eq!(L2Cache::new(2 << 20).slice_bytes(), MAX_SLICE);
        let small = L2Cache::new(512);
        assert_eq!(small.slice_bytes(), 512);
        assert_eq!(small.capacity, 2048);
    }
}
