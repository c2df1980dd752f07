//! Address spaces and the cluster geometry derived from the header.
//!
//! A [`GuestOffset`] is a byte offset in the virtual disk; a [`HostOffset`] is a byte
//! offset in the image file (or its external data file). Keeping them apart lets the
//! compiler catch one used for the other.

/// A byte offset in the virtual disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct GuestOffset(pub u64);

/// A byte offset in the image file or its external data file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct HostOffset(pub u64);

/// Sizes derived from the header (spec, "Cluster mapping" and "Extended L2 Entries").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Geometry {
    /// log2 of the cluster size, 9..=21.
    pub cluster_bits: u32,
    /// log2 of the L2 entries per table: cluster_bits - 3, or - 4 with extended L2.
    pub l2_bits: u32,
    /// Whether L2 entries are 128 bits with 32 subclusters.
    pub extended_l2: bool,
    /// Version 3 (the standard zero flag exists).
    pub v3: bool,
    /// An external data file holds the guest clusters.
    pub data_file: bool,
}

/// Subclusters per cluster with extended L2 entries (defined by the specification).
pub(crate) const SUBCLUSTERS: u32 = 32;

impl Geometry {
    pub(crate) fn new(cluster_bits: u32, extended_l2: bool, v3: bool, data_file: bool) -> Self {
        let l2_bits = cluster_bits - if extended_l2 { 4 } else { 3 };
        Self {
            cluster_bits,
            l2_bits,
            extended_l2,
            v3,
            data_file,
        }
    }
    pub(crate) fn cluster_size(&self) -> u64 {
        1 << self.cluster_bits
    }
    /// Bytes per L2 entry: 8, or 16 with extended L2.
    pub(crate) fn l2_entry_size(&self) -> u64 {
        if self.extended_l2 {
            16
        } else {
            8
        }
    }
    /// Guest bytes one L2 table maps (log2).
    pub(crate) fn l1_span_bits(&self) -> u32 {
        self.cluster_bits + self.l2_bits
    }
    /// Bytes per subcluster (extended L2 only).
    pub(crate) fn subcluster_size(&self) -> u64 {
        self.cluster_size() / u64::from(SUBCLUSTERS)
    }
    pub(crate) fn l1_index(&self, g: GuestOffset) -> u64 {
        g.0 >> self.l1_span_bits()
    }
    pub(crate) fn l2_index(&self, g: GuestOffset) -> u64 {
        (g.0 >> self.cluster_bits) & ((1 << self.l2_bits) - 1)
    }
    /// L1 entries needed to map `size` guest bytes.
    pub(crate) fn l1_entries_for(&self, size: u64) -> u64 {
        size.div_ceil(1u64 << self.l1_span_bits())
    }
}
