//! The integration tests: one binary, every server on 127.0.0.1:0.

mod apis;
mod architecture;
mod capacity;
mod common;
mod connections;
mod deploy;
mod documents;
mod exports;
mod files;
mod history;
mod monitor;
mod outage;
mod percentiles;
mod prefix;
mod replies;
mod report;
mod run;
mod scenarios;
mod secrets;
mod sessions;
mod shards;
mod sim;
mod stages;
mod trace;
mod tui;
mod workload;
