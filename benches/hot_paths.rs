//! criterion benches of the hot paths (being written).
fn main() {}
