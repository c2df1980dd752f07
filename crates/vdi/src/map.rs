//! The block map in windows: a 4 PiB disk of 256 MiB blocks has a 64 MiB map, so it is
//! read [`WINDOW`] entries at a time and at most [`KEPT`] windows are kept, the least
//! recently used going first (as the qcow2 reader's L2 cache does).

use std::sync::{Arc, Mutex};

/// Entries per window: 64 KiB of map.
pub(crate) const WINDOW: u64 = 16 << 10;

/// Windows kept: 1 MiB of map.
const KEPT: usize = 16;

/// The windows kept, most recently used last.
#[derive(Debug, Default)]
pub(crate) struct Windows {
    kept: Mutex<Vec<(u64, Arc<[u32]>)>>,
}

impl Windows {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Window `w`, if kept.
    pub(crate) fn get(&self, w: u64) -> Option<Arc<[u32]>> {
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        let i = kept.iter().position(|(k, _)| *k == w)?;
        let e = kept.remove(i);
        let win = e.1.clone();
        kept.push(e);
        Some(win)
    }

    /// Keeps window `w`, dropping the least recently used one past [`KEPT`].
    pub(crate) fn put(&self, w: u64, win: Arc<[u32]>) {
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        kept.retain(|(k, _)| *k != w);
        if kept.len() >= KEPT {
            kept.remove(0);
        }
        kept.push((w, win));
    }
}
