//! The local run history: every run and sweep appended to a SQLite
//! database, listed (`inferload history`), shown (`inferload show ID`) and
//! compared (`inferload diff A B`) later.
//!
//! The database is `inferload/history.db` under the user's data directory
//! ([`default_db_path`]), or `--db PATH` / `INFERLOAD_DB`; `--no-history`
//! skips it. Recording is a convenience: the callers print a warning when
//! it fails and the run's outcome is unchanged.
//!
//! # Schema (`PRAGMA user_version` = [`db::SCHEMA_VERSION`] = 2)
//!
//! - `runs`: one row per run or sweep. `id` (never reused), `kind`
//!   (`run`|`sweep`), `started_at` (RFC 3339, local offset), `recorded_at`,
//!   `target_url`, `model`, `load` (e.g. `concurrency 10`, `rate 20 req/s`,
//!   `sweep 1..64x2`), `interrupted`, the headline figures `requests`,
//!   `success_rate` (0–1), `request_throughput`, `output_throughput`,
//!   `ttft_p90_ms`, `e2e_p99_ms` (NULL where undefined), and `document`: the
//!   full JSON document (`--json`'s run document, or the sweep's), and
//!   `shape` ([`run_shape`]: `stages`, `multi-turn`, `trace` joined by `+`,
//!   empty for a plain load; added in version 2 — a version-1 file is
//!   migrated when next written, every row kept and its shape read from its
//!   document, and read as it is before that). For a
//!   sweep the headline figures are those of its maximum stable level
//!   (throughputs only, from the verdict, when no level matches) and
//!   `requests` counts every level.
//! - `records`: the records a run kept in memory (only when an output needed
//!   them, e.g. `--save-result` or `--plot`), as one JSONL blob per run:
//!   each line a [`crate::doc::RecordLine`], exactly as the `--records` file
//!   writes it (every field: task, model, images, timings of asynchronous
//!   jobs, captured text), read back by `export::records::parse_records`.
//!   Bounded to [`MAX_RECORDS_BYTES`]; `stored` < `total` says it was cut.
//!
//! Every stored document is one of [`crate::doc`]'s types and is read back
//! as that type: `show` and `diff` never look fields up by name.
//!
//! # Secrets
//!
//! The stored documents already print secrets as `***`. As a second line of
//! defence every text written (document, URL, records) is scrubbed of the
//! literal secrets the caller passes (the API key, sensitive header values:
//! the plan's redactor knows them; the document never holds them), and of a
//! password or a sensitive query value in the target URL, raw and
//! JSON-escaped.

mod db;
pub mod diff;
mod show;

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::doc::settings::{Arrival, Schedule};
use crate::doc::sweep::SweepMode;
use crate::doc::{RunDocument, SweepDocument};
use crate::export::RunReport;
use crate::outcome::Outcome;
use crate::record::RequestRecord;
use crate::redact::url_secrets;

use db::{Db, Headline, NewEntry, RecordsBlob};
pub use db::{HistoryError, SCHEMA_VERSION};

/// Most bytes of records kept per run (the first records that fit).
pub const MAX_RECORDS_BYTES: usize = 32 << 20;

/// `inferload/history.db` under the user's data directory: `$XDG_DATA_HOME`
/// or `~/.local/share` on Linux, `~/Library/Application Support` on macOS,
/// `%APPDATA%` on Windows.
pub fn default_db_path() -> Option<PathBuf> {
    dirs::data_dir().map(|d| d.join("inferload").join("history.db"))
}

/// Appends a finished run; returns its id. `secrets` are the literal
/// secret values of the run (API key, sensitive headers) to scrub from
/// everything stored.
pub fn record_run(db: &Path, report: &RunReport, secrets: &[String]) -> anyhow::Result<i64> {
    let doc = &report.doc;
    let secrets = run_secrets(doc, secrets);
    let document = serde_json::to_string(doc).context("cannot serialize the run")?;
    let records = records_blob(report.records(), MAX_RECORDS_BYTES).map(|mut blob| {
        if !secrets.is_empty() {
            blob.jsonl = scrub(&String::from_utf8_lossy(&blob.jsonl), &secrets).into_bytes();
        }
        blob
    });
    let entry = NewEntry {
        kind: "run",
        started_at: doc.started_at.clone().unwrap_or_default(),
        target_url: scrub(doc.target_url.as_deref().unwrap_or_default(), &secrets),
        model: scrub(doc.model.as_deref().unwrap_or_default(), &secrets),
        load: doc.schedule().map_or_else(|| "?".into(), describe_schedule),
        interrupted: doc.interrupted,
        headline: headline_of(&doc.summary),
        document: scrub(&document, &secrets),
        shape: run_shape(doc),
        records,
    };
    Ok(Db::open_for_writing(db)?.insert(&entry)?)
}

/// Appends a finished sweep; returns its id. `secrets` as for [`record_run`].
pub fn record_sweep(db: &Path, sweep: &SweepDocument, secrets: &[String]) -> anyhow::Result<i64> {
    let url = sweep.target.url.clone().unwrap_or_default();
    let mut secrets = secrets.to_vec();
    secrets.extend(url_secrets(&url));
    let entry = NewEntry {
        kind: "sweep",
        started_at: sweep.started_at.clone().unwrap_or_default(),
        target_url: scrub(&url, &secrets),
        model: scrub(sweep.target.model.as_deref().unwrap_or_default(), &secrets),
        load: describe_sweep(sweep.settings.as_ref().map(|s| &s.mode)),
        interrupted: sweep.interrupted,
        headline: sweep_headline(sweep),
        document: scrub(&serde_json::to_string(sweep)?, &secrets),
        shape: sweep
            .settings
            .as_ref()
            .map_or_else(String::new, |s| settings_shape(&s.base)),
        records: None,
    };
    Ok(Db::open_for_writing(db)?.insert(&entry)?)
}

/// What a run's load looked like beyond its schedule: `stages` (a load
/// over time), `multi-turn` (`--turns`), `trace` (a replayed trace), joined
/// by `+`; empty for a plain load.
pub fn run_shape(doc: &RunDocument) -> String {
    let turns = doc.sessions.is_some() || doc.settings.as_ref().is_some_and(|s| s.conversation.is_some());
    let trace = doc.settings.as_ref().is_some_and(is_trace);
    shape(doc.stages.is_some(), turns, trace)
}

fn settings_shape(s: &crate::doc::settings::RunSettings) -> String {
    shape(false, s.conversation.is_some(), is_trace(s))
}

fn is_trace(s: &crate::doc::settings::RunSettings) -> bool {
    matches!(s.workload.dataset, crate::doc::settings::Dataset::Trace { .. })
}

fn shape(stages: bool, turns: bool, trace: bool) -> String {
    [(stages, "stages"), (turns, "multi-turn"), (trace, "trace")]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, name)| *name)
        .collect::<Vec<_>>()
        .join("+")
}

/// The shape of a stored entry from its kind and document (rows written
/// before the history kept the shape); empty when the document is not
/// readable.
fn stored_shape(kind: &str, document: &str) -> String {
    if kind == "sweep" {
        serde_json::from_str::<SweepDocument>(document)
            .ok()
            .and_then(|d| d.settings.map(|s| settings_shape(&s.base)))
            .unwrap_or_default()
    } else {
        serde_json::from_str::<RunDocument>(document)
            .map(|d| run_shape(&d))
            .unwrap_or_default()
    }
}

fn db_path(arg: Option<&Path>) -> anyhow::Result<PathBuf> {
    arg.map(Path::to_path_buf)
        .or_else(default_db_path)
        .context("no data directory found for the history database; choose a file with --db")
}

/// Opens an existing history, or fails as an unknown `id` would.
fn open_with(path: &Path, id: i64) -> anyhow::Result<Db> {
    Db::open_for_reading(path)?.ok_or_else(|| {
        HistoryError::NoSuchRun {
            path: path.to_path_buf(),
            id,
        }
        .into()
    })
}

/// `inferload history`: the `limit` newest entries of the history at `db`
/// (default: [`default_db_path`]).
pub fn history_command(db: Option<&Path>, limit: usize) -> anyhow::Result<Outcome> {
    let path = db_path(db)?;
    let entries = match Db::open_for_reading(&path)? {
        Some(db) => db.list(limit)?,
        None => Vec::new(),
    };
    if entries.is_empty() {
        println!("No runs recorded yet in {}.", path.display());
    } else {
        print!("{}", show::list_table(&entries));
    }
    Ok(Outcome::Success)
}

/// A stored document, read as its type.
enum Stored {
    Run(Box<RunDocument>),
    Sweep(Box<SweepDocument>),
}

/// Reads entry `id`'s document as the type its kind says.
fn load(db: &Db, path: &Path, id: i64) -> anyhow::Result<(db::Entry, String, Stored)> {
    let (entry, text) = db.get(id)?;
    let unreadable = || format!("run {id} in {}: the stored document is not readable", path.display());
    let stored = if entry.kind == "sweep" {
        Stored::Sweep(Box::new(serde_json::from_str(&text).with_context(unreadable)?))
    } else {
        Stored::Run(Box::new(serde_json::from_str(&text).with_context(unreadable)?))
    };
    Ok((entry, text, stored))
}

/// `inferload show ID` (`json`: the stored document itself).
pub fn show_command(db: Option<&Path>, id: i64, json: bool) -> anyhow::Result<Outcome> {
    let path = db_path(db)?;
    let db = open_with(&path, id)?;
    let (entry, text, stored) = load(&db, &path, id)?;
    if json {
        // The document as stored, every field kept, pretty.
        let v: serde_json::Value = serde_json::from_str(&text)?;
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(Outcome::Success);
    }
    match stored {
        Stored::Sweep(doc) => print!("{}", show::sweep(&entry, &doc)),
        Stored::Run(doc) => print!("{}", show::run(&entry, &doc)),
    }
    Ok(Outcome::Success)
}

/// What `inferload diff` compares and how.
#[derive(Debug, Clone)]
pub struct DiffOptions {
    /// The history database (default: [`default_db_path`]).
    pub db: Option<PathBuf>,
    /// The baseline run's id.
    pub a: i64,
    /// The new run's id.
    pub b: i64,
    /// Relative changes within this fraction are noise.
    pub noise: f64,
    /// Fail (a [`Outcome::Regression`]) when a metric is worse by more than this fraction.
    pub fail_on_regression: Option<f64>,
}

/// `inferload diff A B`.
pub fn diff_command(o: &DiffOptions) -> anyhow::Result<Outcome> {
    let path = db_path(o.db.as_deref())?;
    let db = open_with(&path, o.a)?;
    let load_run = |id: i64| -> anyhow::Result<(db::Entry, Box<RunDocument>)> {
        let (entry, _, stored) = load(&db, &path, id)?;
        match stored {
            Stored::Run(doc) => Ok((entry, doc)),
            Stored::Sweep(_) => anyhow::bail!("{id} in {} is a {}; diff compares runs", path.display(), entry.kind),
        }
    };
    let (a, base) = load_run(o.a)?;
    let (b, new) = load_run(o.b)?;
    let rows = diff::compare(&base.summary, &new.summary, o.noise, o.fail_on_regression);
    print!("{}", show::diff_header(&a, &b, o.noise));
    print!("{}", diff::table(&rows));
    let mut regressed: Vec<String> = rows.iter().filter(|r| r.regressed).map(|r| r.name.clone()).collect();
    match (&base.stages, &new.stages) {
        (Some(x), Some(y)) => match diff::compare_stages(x, y, o.noise, o.fail_on_regression) {
            Ok(stages) => {
                print!("{}", diff::stages_table(&stages, x, y));
                for s in &stages {
                    regressed.extend(
                        s.rows
                            .iter()
                            .filter(|r| r.regressed)
                            .map(|r| format!("stage {} {}", s.stage, r.name)),
                    );
                }
            }
            Err(why) => println!("\nNote: {why}."),
        },
        (Some(_), None) | (None, Some(_)) => println!(
            "\nNote: only the {} run had stages: not compared stage by stage.",
            if base.stages.is_some() { "baseline" } else { "new" }
        ),
        (None, None) => {}
    }
    let Some(threshold) = o.fail_on_regression else {
        return Ok(Outcome::Success);
    };
    let pct = show::percent(threshold);
    if regressed.is_empty() {
        println!("No metric regressed by more than {pct}.");
        Ok(Outcome::Success)
    } else {
        println!(
            "{} metric(s) regressed by more than {pct}: {}",
            regressed.len(),
            regressed.join(", ")
        );
        Ok(Outcome::Regression)
    }
}

fn headline_of(s: &crate::stats::Summary) -> Headline {
    Headline {
        requests: i64::try_from(s.requests_total).ok(),
        success_rate: (s.requests_total > 0).then_some(s.success_rate),
        request_throughput: Some(s.request_throughput),
        output_throughput: Some(s.output_throughput),
        ttft_p90_ms: s.ttft_ms.as_ref().map(|l| l.p90),
        e2e_p99_ms: s.e2e_ms.as_ref().map(|l| l.p99),
    }
}

/// The headline of a sweep: its maximum stable level's figures (the level
/// whose throughput the verdict reports), and the requests of every level.
fn sweep_headline(sweep: &SweepDocument) -> Headline {
    let requests: u64 = sweep.levels.iter().map(|l| l.requests).sum();
    let mut h = match (sweep.stable_level(), &sweep.verdict) {
        (Some(l), _) => headline_of(&l.summary),
        (None, Some(v)) => Headline {
            request_throughput: v.request_throughput,
            output_throughput: v.output_throughput,
            ..Headline::default()
        },
        (None, None) => Headline::default(),
    };
    h.requests = i64::try_from(requests).ok();
    h
}

/// `concurrency 10`, `rate 20 req/s`, `rate 20 req/s, cap 8, constant`.
fn describe_schedule(s: &Schedule) -> String {
    match *s {
        Schedule::Closed { concurrency } => format!("concurrency {concurrency}"),
        Schedule::Users {
            users,
            spawn_rate,
            think,
        } => crate::schedule::describe_users(
            users,
            spawn_rate.unwrap_or(f64::INFINITY),
            (
                std::time::Duration::from_secs_f64(think.min_s.max(0.0)),
                std::time::Duration::from_secs_f64(think.max_s.max(0.0)),
            ),
        ),
        Schedule::Open { rate, arrival, cap } => {
            let mut out = match rate {
                Some(r) if r.is_finite() => format!("rate {} req/s", num(r)),
                _ => "rate inf".to_string(),
            };
            if let Some(c) = cap {
                out.push_str(&format!(", cap {c}"));
            }
            match arrival {
                Arrival::Poisson => {}
                Arrival::Constant => out.push_str(", constant"),
                Arrival::Gamma { shape } => out.push_str(&format!(", gamma {}", num(shape))),
                Arrival::Trace { speed } => out.push_str(&format!(", trace at {}x", num(speed))),
            }
            out
        }
    }
}

/// `sweep 1..64x2`, `sweep 1..16x2 req/s`, `find concurrency for 20 req/s`.
fn describe_sweep(mode: Option<&SweepMode>) -> String {
    let cap = |c: &Option<usize>| c.map(|c| format!(", cap {c}")).unwrap_or_default();
    match mode {
        None => "sweep".into(),
        Some(SweepMode::Concurrency { levels }) => {
            let v: Vec<f64> = levels.iter().map(|&c| c as f64).collect();
            format!("sweep {}", ladder(&v))
        }
        Some(SweepMode::Rate { rates, cap: c }) => format!("sweep {} req/s{}", ladder(rates), cap(c)),
        Some(SweepMode::FindConcurrency { rate, .. }) => format!("find concurrency for {} req/s", num(*rate)),
        Some(SweepMode::MaxRateUnderSlo { start, cap: c, .. }) => {
            format!("max rate under SLO from {} req/s{}", num(*start), cap(c))
        }
    }
}

/// A ladder in the sweep's own notation when it is one: `1..64x2`
/// (geometric), `10..100+10` (arithmetic), else the values listed.
fn ladder(v: &[f64]) -> String {
    let list = || v.iter().map(|x| num(*x)).collect::<Vec<_>>().join(",");
    if v.len() < 3 {
        return list();
    }
    let (first, last) = (v[0], v[v.len() - 1]);
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(1.0);
    let ratio = v[1] / v[0];
    if v[0] > 0.0 && ratio > 1.0 && v.windows(2).all(|w| close(w[1] / w[0], ratio)) {
        return format!("{}..{}x{}", num(first), num(last), num(ratio));
    }
    let step = v[1] - v[0];
    if step > 0.0 && v.windows(2).all(|w| close(w[1] - w[0], step)) {
        return format!("{}..{}+{}", num(first), num(last), num(step));
    }
    list()
}

/// A number with at most 3 decimals, trailing zeros trimmed.
fn num(x: f64) -> String {
    let s = format!("{x:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The records as JSONL (the records file's lines), the first ones that
/// fit in `max_bytes`; `None` when the run kept none.
fn records_blob(records: &[RequestRecord], max_bytes: usize) -> Option<RecordsBlob> {
    if records.is_empty() {
        return None;
    }
    let (jsonl, stored) = crate::export::records::to_jsonl(records, max_bytes);
    Some(RecordsBlob {
        stored,
        total: records.len(),
        jsonl,
    })
}

/// Shorter values are not scrubbed (they would blank ordinary text), as in
/// [`crate::redact::Redactor`].
const MIN_SECRET_LEN: usize = 4;

/// The literal secrets of a run: those the caller knows (API key,
/// sensitive header values), and what the URLs carry.
fn run_secrets(doc: &RunDocument, known: &[String]) -> Vec<String> {
    let mut out = known.to_vec();
    if let Some(url) = &doc.target_url {
        out.extend(url_secrets(url));
    }
    if let Some(base) = doc.settings.as_ref().and_then(|s| s.target.base_url.as_ref()) {
        out.extend(url_secrets(base));
    }
    out
}

/// Replaces every secret (raw and as JSON escapes it) with `***`.
fn scrub(text: &str, secrets: &[String]) -> String {
    let mut forms: Vec<String> = Vec::new();
    for s in secrets.iter().filter(|s| s.len() >= MIN_SECRET_LEN) {
        forms.push(s.clone());
        if let Ok(quoted) = serde_json::to_string(s) {
            forms.push(quoted[1..quoted.len() - 1].to_string());
        }
    }
    // Longest first, so a secret containing another is removed whole.
    forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    forms.dedup();
    let mut out = text.to_string();
    for f in &forms {
        if out.contains(f.as_str()) {
            out = out.replace(f.as_str(), "***");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::settings::{Arrival, HeaderSetting, MASK};
    use crate::doc::sweep::{Level, SweepSettings, SweepTarget, Verdict};
    use crate::export::testing::{closed, open, report};
    use crate::record::RequestError;

    #[test]
    fn loads_are_described_in_a_few_words() {
        let d = |schedule: Schedule| describe_schedule(&schedule);
        assert_eq!(d(closed(10)), "concurrency 10");
        assert_eq!(d(open(Some(20.0), None)), "rate 20 req/s");
        assert_eq!(
            d(Schedule::Open {
                rate: Some(2.5),
                arrival: Arrival::Constant,
                cap: Some(8)
            }),
            "rate 2.5 req/s, cap 8, constant"
        );
        assert_eq!(d(open(None, None)), "rate inf");
    }

    #[test]
    fn ladders_are_written_in_the_sweep_notation() {
        assert_eq!(ladder(&[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]), "1..64x2");
        assert_eq!(ladder(&[10.0, 20.0, 30.0, 40.0]), "10..40+10");
        assert_eq!(ladder(&[1.0, 2.0, 5.0, 10.0]), "1,2,5,10");
        assert_eq!(ladder(&[0.5, 1.0]), "0.5,1");
        let mode = SweepMode::Concurrency { levels: vec![1, 2, 4] };
        assert_eq!(describe_sweep(Some(&mode)), "sweep 1..4x2");
        let mode = SweepMode::Rate {
            rates: vec![1.0, 2.0, 5.0],
            cap: Some(16),
        };
        assert_eq!(describe_sweep(Some(&mode)), "sweep 1,2,5 req/s, cap 16");
    }

    #[test]
    fn secrets_are_scrubbed_raw_and_json_escaped() {
        let s = vec!["sk-abc\"def".to_string(), "abc".to_string()];
        let text = r#"{"k":"sk-abc\"def","raw":"sk-abc"def","short":"abc"}"#;
        assert_eq!(scrub(text, &s), r#"{"k":"***","raw":"***","short":"abc"}"#);
        let u = url_secrets("http://user:p%40ss1@host:1/v1?api_key=qwerty123&x=1");
        assert!(
            u.contains(&"p%40ss1".to_string()) && u.contains(&"p@ss1".to_string()),
            "{u:?}"
        );
        assert!(u.contains(&"qwerty123".to_string()), "{u:?}");
    }

    #[test]
    fn a_recorded_run_holds_no_key_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        // The document holds masks; the literal secrets come from the caller.
        let mut r = report(|s| {
            s.schedule = closed(2);
            s.target.api_key = Some(MASK.into());
            s.target.headers = vec![HeaderSetting {
                name: "X-Api-Key".into(),
                value: MASK.into(),
            }];
        });
        let records = r.records.as_mut().unwrap();
        records[0].error = Some(RequestError {
            class: crate::record::ErrorClass::Http(401),
            message: "bad key sk-very-secret-1".into(),
        });
        // Every field of the records file, image and job figures included.
        records[2].task = Some("draw".into());
        records[2].model = Some("m-image".into());
        records[2].images = Some(3);
        records[2].response_bytes = Some(12_345);
        records[2].submit_latency = Some(std::time::Duration::from_micros(4_321));
        records[2].queue_wait = Some(std::time::Duration::from_millis(17));
        records[3].error = Some(RequestError {
            class: crate::record::ErrorClass::Http(403),
            message: "header hdr-secret-2 refused".into(),
        });
        let secrets = ["sk-very-secret-1".to_string(), "hdr-secret-2".to_string()];
        let id = record_run(&path, &r, &secrets).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        for secret in ["sk-very-secret-1", "hdr-secret-2"] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret} leaked"
            );
        }
        let db = Db::open_for_reading(&path).unwrap().unwrap();
        let (entry, doc) = db.get(id).unwrap();
        assert_eq!(entry.load, "concurrency 2");
        assert_eq!(entry.records, Some((8, 8)));
        let doc: RunDocument = serde_json::from_str(&doc).unwrap();
        assert_eq!(doc.summary, r.doc.summary);
        assert_eq!(doc, r.doc, "the stored document reads back as written");
        // The blob is in the records-file format, read by the same reader.
        let blob = db.records(id).unwrap().unwrap();
        let back = crate::export::records::parse_records(&blob, Path::new("history")).unwrap();
        assert_eq!(back.len(), 8);
        assert_eq!(back[1].token_times, r.records()[1].token_times);
        assert_eq!(back[6].error, r.records()[6].error);
        assert_eq!(back[0].error.as_ref().unwrap().message, "bad key ***");
        assert_eq!(back[3].error.as_ref().unwrap().message, "header *** refused");
        assert_eq!(back[2], r.records()[2], "every field kept");
    }

    #[test]
    fn records_are_bounded() {
        let r = report(|s| s.schedule = closed(2));
        let all = records_blob(r.records(), usize::MAX).unwrap();
        assert_eq!((all.stored, all.total), (8, 8));
        // Room for the first two lines and a bit, not for the third.
        let ends: Vec<usize> = all
            .jsonl
            .iter()
            .enumerate()
            .filter(|(_, &b)| b == b'\n')
            .map(|(i, _)| i + 1)
            .collect();
        assert!(ends[2] > ends[1] + 5);
        let some = records_blob(r.records(), ends[1] + 5).unwrap();
        assert_eq!((some.stored, some.total), (2, 8));
        assert!(records_blob(&[], 100).is_none());
    }

    #[test]
    fn a_sweep_headline_is_its_stable_level() {
        let summary = report(|s| s.schedule = closed(2)).doc.summary;
        let level = |requests: u64, rps: f64, summary: crate::stats::Summary| Level {
            concurrency: Some(1),
            rate: None,
            achieved_rate: None,
            offered_rate: None,
            requests,
            success_rate: 1.0,
            request_throughput: rps,
            output_throughput: 0.0,
            efficiency: 0.0,
            goodput: None,
            slos: Vec::new(),
            trip: None,
            summary,
            monitor: None,
            trust: None,
            connections: None,
            sessions: None,
            confidence: None,
            repeats: Vec::new(),
        };
        let mut sweep = SweepDocument::new(
            SweepTarget {
                url: Some("http://127.0.0.1:9".into()),
                model: Some("m".into()),
                ..Default::default()
            },
            Some(SweepSettings {
                base: Default::default(),
                mode: SweepMode::Concurrency { levels: vec![1, 2] },
                arrival: crate::doc::settings::Arrival::Poisson,
                requests_per_level: None,
                duration_per_level: None,
                warmup_per_level: None,
                rules: Default::default(),
                headroom: 0.8,
                max_runs: 10,
                json: None,
                records_dir: None,
                quiet: true,
            }),
        );
        sweep.started_at = Some("2025-01-01T00:00:00+00:00".into());
        sweep.levels = vec![level(20, 5.0, summary), level(30, 4.0, Default::default())];
        sweep.verdict = Some(Verdict {
            request_throughput: Some(5.0),
            output_throughput: Some(50.0),
            ..Default::default()
        });
        let h = sweep_headline(&sweep);
        assert_eq!(h.requests, Some(50));
        assert_eq!(h.ttft_p90_ms, Some(100.0));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        assert_eq!(record_sweep(&path, &sweep, &[]).unwrap(), 1);
        let (entry, _) = Db::open_for_reading(&path).unwrap().unwrap().get(1).unwrap();
        assert_eq!((entry.kind.as_str(), entry.load.as_str()), ("sweep", "sweep 1,2"));
    }
}
