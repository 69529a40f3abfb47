//! The user's files: outputs that cannot be written, or that name the same
//! file as another output or as an input, are refused before any load is
//! sent (the simulator counts no connection), with one line naming both
//! flags; the inputs are never overwritten; a file that cannot be read is
//! named with its OS cause once.

use std::path::Path;

use crate::args;
use crate::common::*;

fn ms(n: u64) -> std::time::Duration {
    std::time::Duration::from_millis(n)
}

/// Runs `inferload` with `a` against a fresh simulator, expecting a refusal
/// before any traffic: returns the one error line.
async fn refused(a: Vec<String>) -> String {
    let sim = start_sim(SimConfig::fixed(ms(2), ms(1))).await;
    let mut a = a;
    a.splice(1..1, args!["--url", sim.url()]);
    if a[0] != "compare" {
        // A comparison never records; the others must not record a refusal.
        a.push("--no-history".into());
    }
    let out = run_async(a).await;
    let stats = sim.stats();
    sim.shutdown().await;
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert_eq!(
        (stats.connections_accepted, stats.requests_total),
        (0, 0),
        "no load before the refusal:\n{}",
        out.all()
    );
    let lines: Vec<&str> = out.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line:\n{}", out.stderr);
    assert!(lines[0].starts_with("error: "), "{}", out.stderr);
    lines[0].to_string()
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_outputs_naming_one_file_are_refused_before_any_load() {
    let dir = tempfile::tempdir().unwrap();
    let x = dir.path().join("x.json");
    let line = refused(args!["run", "-n", 3, "--json", s(&x), "--records", s(&x)]).await;
    assert!(line.contains("--json") && line.contains("--records"), "{line}");
    assert!(!x.exists(), "nothing written");

    // The same file under another spelling.
    let other = dir.path().join(".").join("x.json");
    let line = refused(args!["run", "-n", 3, "--json", s(&x), "--markdown", s(&other)]).await;
    assert!(line.contains("--json") && line.contains("--markdown"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_output_naming_an_input_is_refused_and_the_input_kept() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = dir.path().join("mine.jsonl");
    let content = "{\"prompt\": \"hello\"}\n{\"prompt\": \"again\"}\n";
    std::fs::write(&dataset, content).unwrap();
    let line = refused(args![
        "run",
        "-n",
        3,
        "--dataset",
        s(&dataset),
        "--records",
        s(&dataset)
    ])
    .await;
    assert!(line.contains("--records") && line.contains("--dataset"), "{line}");
    assert_eq!(
        std::fs::read_to_string(&dataset).unwrap(),
        content,
        "the dataset is intact"
    );

    let template = dir.path().join("body.json");
    std::fs::write(&template, "{\"prompt\": {{ prompt | tojson }}}").unwrap();
    let line = refused(args![
        "run",
        "--api",
        "http",
        "-n",
        3,
        "--body-template",
        format!("@{}", s(&template)),
        "--html",
        s(&template)
    ])
    .await;
    assert!(line.contains("--html") && line.contains("--body-template"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_output_in_a_missing_directory_is_refused_before_any_load() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing").join("r.html");
    let line = refused(args!["run", "-n", 3, "--html", s(&missing)]).await;
    assert!(line.contains("--html") && line.contains("does not exist"), "{line}");

    // A directory where a file is to be written.
    let line = refused(args!["run", "-n", 3, "--csv", s(dir.path())]).await;
    assert!(line.contains("--csv") && line.contains("is a directory"), "{line}");

    // The sweep's own outputs, and a comparison's reports.
    let line = refused(args!["sweep", "--concurrency", "1,2", "--json", s(&missing)]).await;
    assert!(line.contains("--json") && line.contains("does not exist"), "{line}");
    let x = dir.path().join("x.json");
    let line = refused(args!["sweep", "--concurrency", "1,2", "--json", s(&x), "--html", s(&x)]).await;
    assert!(line.contains("--json") && line.contains("--html"), "{line}");
    let line = refused(args!["compare", "a=", "b=", "--markdown", s(&missing)]).await;
    assert!(line.contains("--markdown") && line.contains("does not exist"), "{line}");
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
