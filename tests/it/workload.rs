//! Integration tests: workload.
