//! The local run history: every run and sweep appended to a SQLite
//! database, listed, shown and compared later. (Interface stub.)

use std::path::{Path, PathBuf};

use crate::app::Exit;
use crate::cli::{DiffCmdArgs, HistoryCmdArgs, ShowCmdArgs};
use crate::export::RunReport;

/// `inferload/history.db` under the user's data directory.
pub fn default_db_path() -> Option<PathBuf> {
    None
}

/// Appends a finished run; returns its id.
pub fn record_run(_db: &Path, _report: &RunReport) -> anyhow::Result<i64> {
    anyhow::bail!("the history is not available yet")
}

/// Appends a finished sweep (its `--json` document); returns its id.
pub fn record_sweep(_db: &Path, _sweep: &serde_json::Value) -> anyhow::Result<i64> {
    anyhow::bail!("the history is not available yet")
}

/// `inferload history`.
pub fn history_cli(_args: &HistoryCmdArgs) -> anyhow::Result<Exit> {
    anyhow::bail!("inferload history is not available yet")
}

/// `inferload show ID`.
pub fn show_cli(_args: &ShowCmdArgs) -> anyhow::Result<Exit> {
    anyhow::bail!("inferload show is not available yet")
}

/// `inferload diff A B`.
pub fn diff_cli(_args: &DiffCmdArgs) -> anyhow::Result<Exit> {
    anyhow::bail!("inferload diff is not available yet")
}
