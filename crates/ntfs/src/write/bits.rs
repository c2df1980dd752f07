//! A bitmap held in memory (`$Bitmap`, `$MFT`'s `$BITMAP`, an index's `$BITMAP`): which
//! bits the writer set, so only the bytes that changed are written back, and first-fit
//! searches for free bits and runs of them.

/// Bits of one bitmap and the bytes changed.
#[derive(Debug, Clone)]
pub struct Bits {
    /// The bytes (bit `i` is bit `i % 8` of byte `i / 8`).
    pub bytes: Vec<u8>,
    /// Bits that count (the rest of the last byte, and bytes past it, are ignored).
    pub len: u64,
    /// The changed bytes, `first..end`, if any.
    pub changed: Option<(usize, usize)>,
}

impl Bits {
    /// A bitmap of `len` bits over `bytes` (shorter bytes read as set: never handed out).
    pub fn new(bytes: Vec<u8>, len: u64) -> Self {
        Self {
            bytes,
            len,
            changed: None,
        }
    }

    /// Whether bit `i` is set (bits outside the bytes count as set).
    pub fn get(&self, i: u64) -> bool {
        self.bytes
            .get((i / 8) as usize)
            .is_none_or(|b| b >> (i % 8) & 1 != 0)
    }

    /// Sets bit `i` (inside the bytes).
    pub fn set(&mut self, i: u64) {
        let at = (i / 8) as usize;
        self.bytes[at] |= 1 << (i % 8);
        self.changed = Some(match self.changed {
            None => (at, at + 1),
            Some((a, b)) => (a.min(at), b.max(at + 1)),
        });
    }

    /// Sets bits `first..first + n`.
    pub fn set_run(&mut self, first: u64, n: u64) {
        for i in first..first + n {
            self.set(i);
        }
    }

    /// Clears bits `first..first + n` (inside the bytes; others are ignored).
    pub fn clear_run(&mut self, first: u64, n: u64) {
        for i in first..first.saturating_add(n).min(self.len) {
            let at = (i / 8) as usize;
            if let Some(b) = self.bytes.get_mut(at) {
                *b &= !(1 << (i % 8));
                self.changed = Some(match self.changed {
                    None => (at, at + 1),
                    Some((a, b)) => (a.min(at), b.max(at + 1)),
                });
            }
        }
    }

    /// Free bits in `from..to` (bounded by the length).
    pub fn count_free(&self, from: u64, to: u64) -> u64 {
        let to = to.min(self.len);
        let mut free = 0;
        let mut i = from;
        while i < to {
            if i % 8 == 0 && i + 8 <= to {
                let b = self.bytes.get((i / 8) as usize).copied().unwrap_or(0xFF);
                free += u64::from(b.count_zeros());
                i += 8;
            } else {
                free += u64::from(!self.get(i));
                i += 1;
            }
        }
        free
    }

    /// The first free bit in `from..to`.
    pub fn first_free(&self, from: u64, to: u64) -> Option<u64> {
        let to = to.min(self.len);
        let mut i = from;
        while i < to {
            if i % 8 == 0 && self.bytes.get((i / 8) as usize) == Some(&0xFF) {
                i += 8;
                continue;
            }
            if !self.get(i) {
                return Some(i);
            }
            i += 1;
        }
        None
    }

    /// The free run starting at `i` (up to `max` bits).
    fn run_at(&self, i: u64, max: u64) -> u64 {
        let mut n = 0;
        while n < max && i + n < self.len && !self.get(i + n) {
            n += 1;
        }
        n
    }

    /// Finds `n` free bits, searching from `hint` to the end then from 0: one run of `n`
    /// when there is one, else the first free runs found; `None` when fewer than `n` are
    /// free. Nothing is set.
    pub fn find(&self, n: u64, hint: u64) -> Option<Vec<(u64, u64)>> {
        if n == 0 {
            return Some(Vec::new());
        }
        let hint = hint.min(self.len);
        let order = [(hint, self.len), (0, hint)];
        // One contiguous run first.
        for (from, to) in order {
            let mut i = from;
            while let Some(f) = self.first_free(i, to) {
                let r = self.run_at(f, n.min(to - f));
                if r >= n {
                    return Some(vec![(f, n)]);
                }
                i = f + r.max(1);
            }
        }
        // Else pieces, largest first is not needed: first fit from the hint.
        let mut out = Vec::new();
        let mut left = n;
        for (from, to) in order {
            let mut i = from;
            while left > 0 {
                let Some(f) = self.first_free(i, to) else {
                    break;
                };
                let r = self.run_at(f, left.min(to - f));
                out.push((f, r));
                left -= r;
                i = f + r;
            }
        }
        (left == 0).then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_runs_and_pieces() {
        // Bits 0..3 used, 3..5 free, 5 used, 6..16 free.
        let mut b = Bits::new(vec![0b0010_0111, 0], 16);
        assert_eq!(b.find(2, 0), Some(vec![(3, 2)]));
        assert_eq!(b.find(4, 0), Some(vec![(6, 4)]));
        assert_eq!(b.find(4, 12), Some(vec![(12, 4)]));
        assert_eq!(b.find(5, 13), Some(vec![(6, 5)]));
        assert_eq!(b.find(12, 0), Some(vec![(3, 2), (6, 10)]));
        assert_eq!(b.find(13, 0), None);
        b.set_run(6, 10);
        assert_eq!(b.count_free(0, 16), 2);
        assert_eq!(b.changed, Some((0, 2)));
        assert!(b.get(100));
    }
}
