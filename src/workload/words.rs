//! The built-in word list (stub).
pub const WORDS: &[&str] = &["the", "model", "serves"];
