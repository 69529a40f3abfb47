//! The integration tests: one binary, every server on 127.0.0.1:0.

mod capacity;
mod common;
mod exports;
mod history;
mod report;
mod run;
mod sim;
mod tui;
mod workload;
