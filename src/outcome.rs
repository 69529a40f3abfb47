//! What a command ended with, as the library reports it to the edge.
//!
//! Commands return an [`Outcome`] rather than an exit status: only `app`
//! maps it to one (the table is in the README), so the library never
//! decides how the process ends and tests can assert the outcome itself.

/// How a command that ran to its end (no setup or usage error) finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything asked for was done and nothing failed a check.
    Success,
    /// Ctrl-C stopped the command early; every output was still written
    /// with what had been measured.
    Interrupted,
    /// The measurement finished but at least one objective (`--slo`)
    /// failed, or no sweep level met them.
    ObjectivesFailed,
    /// `diff --fail-on-regression`: a metric got worse by more than the
    /// threshold.
    Regression,
    /// Not a single request succeeded, so there is nothing to report on.
    NothingSucceeded,
}
