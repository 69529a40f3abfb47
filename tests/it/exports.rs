//! Integration tests: exports.
