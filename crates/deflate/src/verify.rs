//! Verification of gzip streams (being written).
