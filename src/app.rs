//! The command-line edge (stub).
pub fn main() -> i32 { 0 }
