//! inferload: load-test generative-AI inference endpoints and find how much
//! load a deployment serves within its latency targets.
//!
//! The data flow follows the design: command-line arguments ([`cli`]) become
//! one validated [`plan::RunPlan`]; the [`engine`] sends the [`workload`] on
//! the [`schedule`] through an [`api`] adapter and emits [`engine::Event`]s;
//! consumers turn the finished [`record::RequestRecord`]s into records files,
//! progress ([`ui`]), the [`stats::Summary`] and the [`export`]ers' outputs.
//! The embedded simulator ([`sim`]) is a real HTTP server used when no target
//! is given and by the tests.
//!
//! `main.rs` only builds the runtime and calls [`app::main`].

pub mod api;
pub mod app;
pub mod cli;
pub mod compare;
pub mod doc;
pub mod engine;
pub mod export;
pub mod files;
pub mod harness;
pub mod history;
pub mod limits;
pub mod live;
pub mod merge;
pub mod monitor;
pub mod outcome;
pub mod plan;
pub mod record;
pub mod redact;
pub mod report;
pub mod run;
pub mod scenario;
pub mod schedule;
pub mod server;
pub mod sim;
pub mod slo;
pub mod stats;
pub mod sweep;
pub mod ui;
pub mod units;
pub mod url;
pub mod workload;
