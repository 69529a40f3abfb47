//! The user's files: a file that cannot be read is named with its OS
//! cause once.

use std::path::Path;

use crate::args;
use crate::common::*;

fn s(p: &Path) -> String {
    p.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_dataset_is_named_with_its_os_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.jsonl");
    let cause = std::fs::read(&path).unwrap_err().to_string();
    let out = run_async(args!["run", "--dataset", s(&path), "-n", 1, "--no-history"]).await;
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert_eq!(
        out.stderr.trim_end(),
        format!("error: cannot read dataset {}: {cause}", path.display())
    );
}
