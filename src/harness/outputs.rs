//! Writing a command's files, the same way for run, sweep and compare.
//!
//! The `--json` document is rewritten after every level or strategy
//! ([`save_progress`]), so an interrupted command keeps what it measured.
//! At the end every output asked for is attempted even when another fails,
//! so measured results are not lost to one bad path; if any fails, the
//! command's document is saved in the temporary directory instead and its
//! path printed ([`write_all`]). The history records the document last: it
//! is a convenience, and failing to record never fails the command.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::doc::settings::ReportPaths;
use crate::report::Document;

/// One file to write at the end of a command.
pub struct Output<'a> {
    pub path: PathBuf,
    /// "Results" (a document) or "Report" (a rendering of one), as printed.
    pub label: &'static str,
    write: Box<dyn FnOnce() -> anyhow::Result<()> + 'a>,
}

impl<'a> Output<'a> {
    pub fn new(path: &Path, label: &'static str, write: impl FnOnce() -> anyhow::Result<()> + 'a) -> Self {
        Self {
            path: path.to_path_buf(),
            label,
            write: Box::new(write),
        }
    }
}

/// The `--json` document.
pub fn json<'a, T: Serialize>(path: &Path, doc: &'a T) -> Output<'a> {
    let target = path.to_path_buf();
    Output::new(path, "Results", move || save(&target, doc))
}

/// Every report asked for (`--plot`, `--html`, `--csv`, `--markdown`).
pub fn reports<'a>(paths: &ReportPaths, doc: Document<'a>) -> Vec<Output<'a>> {
    crate::report::asked(paths)
        .into_iter()
        .map(|(format, path)| {
            let target = path.clone();
            Output::new(&path, "Report", move || crate::report::render(&doc, format, &target))
        })
        .collect()
}

fn save<T: Serialize>(path: &Path, doc: &T) -> anyhow::Result<()> {
    let text = serde_json::to_vec_pretty(doc)?;
    crate::files::write_atomic(path, &text).map_err(|e| anyhow::anyhow!("--json {}: {e}", path.display()))
}

/// Rewrites the `--json` document mid-command. A failure is a warning: the
/// measurement goes on and the final write reports (and rescues) it.
pub fn save_progress<T: Serialize>(path: Option<&Path>, doc: &T) {
    if let Some(path) = path {
        if let Err(e) = save(path, doc) {
            eprintln!("warning: {e:#}");
        }
    }
}

/// Writes every output, each attempted even when another fails. If any
/// fails, `doc` is saved as `inferload-KIND-….json` in the temporary
/// directory and the error names how many failed.
pub fn write_all<T: Serialize>(kind: &str, doc: &T, outputs: Vec<Output<'_>>) -> anyhow::Result<()> {
    let mut failed = 0usize;
    for o in outputs {
        match (o.write)() {
            Ok(()) => println!("{} written to {}", o.label, o.path.display()),
            Err(e) => {
                eprintln!("error: {e:#}");
                failed += 1;
            }
        }
    }
    if failed == 0 {
        return Ok(());
    }
    let rescue = std::env::temp_dir().join(format!(
        "inferload-{kind}-{}-{}.json",
        chrono::Local::now().format("%Y%m%d-%H%M%S"),
        std::process::id()
    ));
    match save(&rescue, doc) {
        Ok(()) => eprintln!("The measured results were saved to {} instead.", rescue.display()),
        Err(e) => eprintln!("error: {e:#}"),
    }
    anyhow::bail!("{failed} output file(s) could not be written (see above)")
}

/// Records the finished document in the history database, when one is
/// kept; a failure is a warning.
pub fn record_history(db: Option<&Path>, record: impl FnOnce(&Path) -> anyhow::Result<i64>) {
    if let Some(db) = db {
        match record(db) {
            Ok(id) => println!("Recorded as run {id} in {}", db.display()),
            Err(e) => eprintln!("warning: not recorded in the history: {e:#}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_output_is_attempted_and_the_document_rescued() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.json");
        let bad = dir.path().join("missing").join("bad.json");
        let doc = serde_json::json!({"measured": 42});
        let err = write_all("test", &doc, vec![json(&bad, &doc), json(&good, &doc)]).unwrap_err();
        assert!(err.to_string().contains("1 output file(s)"), "{err}");
        // The good output was written although the first one failed.
        let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&good).unwrap()).unwrap();
        assert_eq!(saved["measured"], 42);
    }

    #[test]
    fn a_progress_failure_is_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        save_progress(Some(&dir.path().join("missing/x.json")), &serde_json::json!({}));
        let path = dir.path().join("x.json");
        save_progress(Some(&path), &serde_json::json!({"n": 1}));
        assert!(path.is_file());
    }
}
