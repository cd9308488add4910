//! Placeholder replaced by the directory benchmark.
fn main() {}
