/// What a run of guest bytes holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExtentKind {
    /// Known to read as zeros without reading anything.
    Zero,
    /// Must be read; may still turn out to be zeros.
    Data,
}

/// A run of guest bytes `[offset, offset + len)` of one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Extent {
    /// First guest byte.
    pub offset: u64,
    /// Length in bytes (never 0 in a list returned by a `Disk`).
    pub len: u64,
    /// What it holds.
    pub kind: ExtentKind,
}

impl Extent {
    /// One past the last byte.
    pub fn end(&self) -> u64 {
        self.offset + self.len
    }
}

/// Appends `e` to `out`, merging it with the last run when they touch and have one kind.
pub fn push_merged(out: &mut Vec<Extent>, e: Extent) {
    if e.len == 0 {
        return;
    }
    if let Some(last) = out.last_mut() {
        if last.kind == e.kind && last.end() == e.offset {
            last.len += e.len;
            return;
        }
    }
    out.push(e);
}
