//! The local run history: every run and sweep appended to a SQLite
//! database, listed (`inferload history`), shown (`inferload show ID`) and
//! compared (`inferload diff A B`) later.
//!
//! The database is `inferload/history.db` under the user's data directory
//! ([`default_db_path`]), or `--db PATH` / `INFERLOAD_DB`; `--no-history`
//! skips it. Recording is a convenience: the callers print a warning when
//! it fails and the run's outcome is unchanged.
//!
//! # Schema (`PRAGMA user_version` = [`db::SCHEMA_VERSION`] = 1)
//!
//! - `runs`: one row per run or sweep. `id` (never reused), `kind`
//!   (`run`|`sweep`), `started_at` (RFC 3339, local offset), `recorded_at`,
//!   `target_url`, `model`, `load` (e.g. `concurrency 10`, `rate 20 req/s`,
//!   `sweep 1..64x2`), `interrupted`, the headline figures `requests`,
//!   `success_rate` (0–1), `request_throughput`, `output_throughput`,
//!   `ttft_p90_ms`, `e2e_p99_ms` (NULL where undefined), and `document`: the
//!   full JSON document (`--json`'s run document, or the sweep's). For a
//!   sweep the headline figures are those of its maximum stable level
//!   (throughputs only, from the verdict, when no level matches) and
//!   `requests` counts every level.
//! - `records`: the records a run kept in memory (only when an output needed
//!   them, e.g. `--save-result` or `--plot`), as one JSONL blob per run:
//!   the raw fields of the `--records` line format (no derived `*_ms`
//!   fields, no generated text), so `export::records::read_records` reads
//!   it back. Bounded to [`MAX_RECORDS_BYTES`]; `stored` < `total` says it
//!   was cut.
//!
//! # Secrets
//!
//! The stored documents already print secrets as `***`. As a second line of
//! defence every text written (document, URL, records) is scrubbed of the
//! literal API key, of sensitive header values, and of a password or a
//! sensitive query value in the target URL, raw and JSON-escaped.

mod db;
pub mod diff;
mod show;

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;

use crate::app::Exit;
use crate::cli::{DiffCmdArgs, HistoryCmdArgs, ShowCmdArgs};
use crate::export::json::RunDocument;
use crate::export::RunReport;
use crate::plan::HeaderValue;
use crate::record::{RequestError, RequestRecord};
use crate::schedule::{Arrival, ScheduleSpec};
use crate::stats::Summary;

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

/// Appends a finished run; returns its id.
pub fn record_run(db: &Path, report: &RunReport) -> anyhow::Result<i64> {
    let secrets = run_secrets(report);
    let document = serde_json::to_string(&RunDocument::of(report)).context("cannot serialize the run")?;
    let records = records_blob(&report.records, MAX_RECORDS_BYTES).map(|mut blob| {
        if !secrets.is_empty() {
            blob.jsonl = scrub(&String::from_utf8_lossy(&blob.jsonl), &secrets).into_bytes();
        }
        blob
    });
    let entry = NewEntry {
        kind: "run",
        started_at: report.started_at.to_rfc3339(),
        target_url: scrub(&report.target_url, &secrets),
        model: scrub(&report.model, &secrets),
        load: describe_schedule(&report.plan.schedule),
        interrupted: report.interrupted,
        headline: headline_of(&report.summary),
        document: scrub(&document, &secrets),
        records,
    };
    Ok(Db::open_for_writing(db)?.insert(&entry)?)
}

/// Appends a finished sweep (its `--json` document); returns its id.
pub fn record_sweep(db: &Path, sweep: &serde_json::Value) -> anyhow::Result<i64> {
    let text = |p: &str| {
        sweep
            .pointer(p)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    let url = text("/target/url");
    let secrets = url_secrets(&url);
    let entry = NewEntry {
        kind: "sweep",
        started_at: text("/started_at"),
        target_url: scrub(&url, &secrets),
        model: scrub(&text("/target/model"), &secrets),
        load: describe_sweep(sweep.pointer("/settings/mode")),
        interrupted: sweep["interrupted"].as_bool().unwrap_or(false),
        headline: sweep_headline(sweep),
        document: scrub(&serde_json::to_string(sweep)?, &secrets),
        records: None,
    };
    Ok(Db::open_for_writing(db)?.insert(&entry)?)
}

fn db_path(arg: &Option<PathBuf>) -> anyhow::Result<PathBuf> {
    arg.clone()
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

/// `inferload history`.
pub fn history_cli(args: &HistoryCmdArgs) -> anyhow::Result<Exit> {
    let path = db_path(&args.db)?;
    let entries = match Db::open_for_reading(&path)? {
        Some(db) => db.list(args.limit)?,
        None => Vec::new(),
    };
    if entries.is_empty() {
        println!("No runs recorded yet in {}.", path.display());
    } else {
        print!("{}", show::list_table(&entries));
    }
    Ok(Exit::Success)
}

/// `inferload show ID`.
pub fn show_cli(args: &ShowCmdArgs) -> anyhow::Result<Exit> {
    let path = db_path(&args.db)?;
    let db = open_with(&path, args.id)?;
    let (entry, document) = db.get(args.id)?;
    let doc: serde_json::Value = serde_json::from_str(&document)
        .with_context(|| format!("run {} in {}: the stored document is not JSON", args.id, path.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else if entry.kind == "sweep" {
        print!("{}", show::sweep(&entry, &doc));
    } else {
        print!("{}", show::run(&entry, &doc)?);
    }
    Ok(Exit::Success)
}

/// `inferload diff A B`.
pub fn diff_cli(args: &DiffCmdArgs) -> anyhow::Result<Exit> {
    let path = db_path(&args.db)?;
    let db = open_with(&path, args.a)?;
    let load = |id: i64| -> anyhow::Result<(db::Entry, Summary)> {
        let (entry, document) = db.get(id)?;
        anyhow::ensure!(
            entry.kind == "run",
            "{id} in {} is a {}; diff compares runs",
            path.display(),
            entry.kind
        );
        let doc: serde_json::Value = serde_json::from_str(&document)
            .with_context(|| format!("run {id} in {}: the stored document is not JSON", path.display()))?;
        Ok((entry, summary_of(&doc, id)?))
    };
    let (a, base) = load(args.a)?;
    let (b, new) = load(args.b)?;
    let rows = diff::compare(&base, &new, args.noise, args.fail_on_regression);
    print!("{}", show::diff_header(&a, &b, args.noise));
    print!("{}", diff::table(&rows));
    let regressed: Vec<&str> = rows.iter().filter(|r| r.regressed).map(|r| r.name.as_str()).collect();
    let Some(threshold) = args.fail_on_regression else {
        return Ok(Exit::Success);
    };
    let pct = show::percent(threshold);
    if regressed.is_empty() {
        println!("No metric regressed by more than {pct}.");
        Ok(Exit::Success)
    } else {
        println!(
            "{} metric(s) regressed by more than {pct}: {}",
            regressed.len(),
            regressed.join(", ")
        );
        Ok(Exit::Regression)
    }
}

/// The `summary` of a stored run document.
fn summary_of(doc: &serde_json::Value, id: i64) -> anyhow::Result<Summary> {
    serde_json::from_value(doc.get("summary").cloned().unwrap_or_default())
        .with_context(|| format!("run {id}: the stored document has no readable summary"))
}

fn headline_of(s: &Summary) -> Headline {
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
fn sweep_headline(sweep: &serde_json::Value) -> Headline {
    let levels = sweep["levels"].as_array().map(Vec::as_slice).unwrap_or_default();
    let requests: i64 = levels.iter().filter_map(|l| l["requests"].as_i64()).sum();
    let verdict_rps = sweep.pointer("/verdict/request_throughput").and_then(|v| v.as_f64());
    let best = verdict_rps.and_then(|rps| {
        levels
            .iter()
            .find(|l| l["request_throughput"].as_f64() == Some(rps))
            .and_then(|l| serde_json::from_value::<Summary>(l["summary"].clone()).ok())
    });
    let mut h = match best {
        Some(s) => headline_of(&s),
        None => Headline {
            request_throughput: verdict_rps,
            output_throughput: sweep.pointer("/verdict/output_throughput").and_then(|v| v.as_f64()),
            ..Headline::default()
        },
    };
    h.requests = Some(requests);
    h
}

/// `concurrency 10`, `rate 20 req/s`, `rate 20 req/s, cap 8, constant`.
fn describe_schedule(s: &ScheduleSpec) -> String {
    match *s {
        ScheduleSpec::Closed { concurrency } => format!("concurrency {concurrency}"),
        ScheduleSpec::Users {
            users,
            spawn_rate,
            think,
        } => crate::schedule::describe_users(users, spawn_rate, think),
        ScheduleSpec::Open { rate, arrival, cap } => {
            let mut out = if rate.is_infinite() {
                "rate inf".to_string()
            } else {
                format!("rate {} req/s", num(rate))
            };
            if let Some(c) = cap {
                out.push_str(&format!(", cap {c}"));
            }
            match arrival {
                Arrival::Poisson => {}
                Arrival::Constant => out.push_str(", constant"),
                Arrival::Gamma { shape } => out.push_str(&format!(", gamma {}", num(shape))),
            }
            out
        }
    }
}

/// `sweep 1..64x2`, `sweep 1..16x2 req/s`, `find concurrency for 20 req/s`.
fn describe_sweep(mode: Option<&serde_json::Value>) -> String {
    let Some(mode) = mode else {
        return "sweep".into();
    };
    let values = |key: &str| -> Vec<f64> {
        mode[key]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_f64()).collect())
            .unwrap_or_default()
    };
    let cap = mode["cap"].as_u64().map(|c| format!(", cap {c}")).unwrap_or_default();
    let rate = |key: &str| mode[key].as_f64().map(num).unwrap_or_else(|| "?".into());
    match mode["kind"].as_str().unwrap_or_default() {
        "concurrency" => format!("sweep {}", ladder(&values("levels"))),
        "rate" => format!("sweep {} req/s{cap}", ladder(&values("rates"))),
        "find_concurrency" => format!("find concurrency for {} req/s", rate("rate")),
        "max_rate_under_slo" => format!("max rate under SLO from {} req/s{cap}", rate("start")),
        _ => "sweep".into(),
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

/// One record as stored: the raw fields of a `--records` line.
#[derive(Serialize)]
struct RecordLine<'a> {
    index: u64,
    scheduled_at: f64,
    sent_at: f64,
    finished_at: Option<f64>,
    ended_at: f64,
    token_times: Vec<f64>,
    input_tokens: u64,
    output_tokens: u64,
    tokens_estimated: bool,
    streamed: bool,
    status: Option<u16>,
    error: Option<&'a RequestError>,
}

impl<'a> RecordLine<'a> {
    fn of(r: &'a RequestRecord) -> Self {
        Self {
            index: r.index,
            scheduled_at: r.scheduled_at.as_secs_f64(),
            sent_at: r.sent_at.as_secs_f64(),
            finished_at: r.finished_at.map(|d| d.as_secs_f64()),
            ended_at: r.ended_at.as_secs_f64(),
            token_times: r.token_times.iter().map(|d| d.as_secs_f64()).collect(),
            input_tokens: r.input_tokens,
            output_tokens: r.output_tokens,
            tokens_estimated: r.tokens_estimated,
            streamed: r.streamed,
            status: r.status,
            error: r.error.as_ref(),
        }
    }
}

/// The records as JSONL, the first ones that fit in `max_bytes`; `None`
/// when the run kept none.
fn records_blob(records: &[RequestRecord], max_bytes: usize) -> Option<RecordsBlob> {
    if records.is_empty() {
        return None;
    }
    let mut jsonl = Vec::new();
    let mut stored = 0;
    for r in records {
        let Ok(mut line) = serde_json::to_vec(&RecordLine::of(r)) else {
            continue;
        };
        line.push(b'\n');
        if jsonl.len() + line.len() > max_bytes {
            break;
        }
        jsonl.extend_from_slice(&line);
        stored += 1;
    }
    Some(RecordsBlob {
        stored,
        total: records.len(),
        jsonl,
    })
}

/// Shorter values are not scrubbed (they would blank ordinary text), as in
/// [`crate::redact::Redactor`].
const MIN_SECRET_LEN: usize = 4;

/// The literal secrets of a run: API key, sensitive header values, and
/// what the URL carries.
fn run_secrets(report: &RunReport) -> Vec<String> {
    let target = &report.plan.target;
    let mut out: Vec<String> = target.api_key.iter().map(|k| k.expose().to_string()).collect();
    out.extend(target.headers.iter().filter_map(|h| match &h.value {
        HeaderValue::Secret(s) => Some(s.expose().to_string()),
        HeaderValue::Plain(_) => None,
    }));
    out.extend(url_secrets(&report.target_url));
    if let Some(base) = &target.base_url {
        out.extend(url_secrets(base));
    }
    out
}

/// A password in a URL, and values of query parameters named like secrets
/// (`api_key=`, `token=`), both as written and decoded.
fn url_secrets(url: &str) -> Vec<String> {
    let Ok(u) = url::Url::parse(url) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(p) = u.password() {
        out.push(p.to_string());
        out.push(percent_decode(p));
    }
    for (k, v) in u.query_pairs() {
        if crate::redact::is_sensitive_header(&k) {
            out.push(v.into_owned());
        }
    }
    if let Some(q) = u.query() {
        for pair in q.split('&') {
            if let Some((k, v)) = pair.split_once('=') {
                if crate::redact::is_sensitive_header(k) {
                    out.push(v.to_string());
                }
            }
        }
    }
    out
}

/// Percent-decoding of a URL component (`+` kept as is).
fn percent_decode(s: &str) -> String {
    let escaped = format!("x={}", s.replace('+', "%2B"));
    url::form_urlencoded::parse(escaped.as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
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
    use crate::export::testing::report;

    #[test]
    fn loads_are_described_in_a_few_words() {
        let d = |args: &[&str]| describe_schedule(&report(args).plan.schedule);
        assert_eq!(d(&["-c", "10"]), "concurrency 10");
        assert_eq!(d(&["--rate", "20"]), "rate 20 req/s");
        assert_eq!(
            d(&["--rate", "2.5", "-c", "8", "--arrival", "constant"]),
            "rate 2.5 req/s, cap 8, constant"
        );
        assert_eq!(d(&["--rate", "inf"]), "rate inf");
    }

    #[test]
    fn ladders_are_written_in_the_sweep_notation() {
        assert_eq!(ladder(&[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]), "1..64x2");
        assert_eq!(ladder(&[10.0, 20.0, 30.0, 40.0]), "10..40+10");
        assert_eq!(ladder(&[1.0, 2.0, 5.0, 10.0]), "1,2,5,10");
        assert_eq!(ladder(&[0.5, 1.0]), "0.5,1");
        let mode = serde_json::json!({"kind": "concurrency", "levels": [1, 2, 4]});
        assert_eq!(describe_sweep(Some(&mode)), "sweep 1..4x2");
        let mode = serde_json::json!({"kind": "rate", "rates": [1.0, 2.0, 5.0], "cap": 16});
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
        let mut r = report(&[
            "-c",
            "2",
            "--api-key",
            "sk-very-secret-1",
            "--header",
            "X-Api-Key: hdr-secret-2",
        ]);
        r.records[0].error = Some(RequestError {
            class: crate::record::ErrorClass::Http(401),
            message: "bad key sk-very-secret-1".into(),
        });
        let id = record_run(&path, &r).unwrap();
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
        let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
        assert_eq!(summary_of(&doc, id).unwrap(), r.summary);
        // The blob is in the records-file format.
        let file = dir.path().join("rec.jsonl");
        std::fs::write(&file, db.records(id).unwrap().unwrap()).unwrap();
        let back = crate::export::records::read_records(&file).unwrap();
        assert_eq!(back.len(), 8);
        assert_eq!(back[1].token_times, r.records[1].token_times);
        assert_eq!(back[6].error, r.records[6].error);
        assert_eq!(back[0].error.as_ref().unwrap().message, "bad key ***");
    }

    #[test]
    fn records_are_bounded() {
        let r = report(&["-c", "2"]);
        let all = records_blob(&r.records, usize::MAX).unwrap();
        assert_eq!((all.stored, all.total), (8, 8));
        let line = all.jsonl.iter().position(|&b| b == b'\n').unwrap() + 1;
        let some = records_blob(&r.records, line * 2 + 5).unwrap();
        assert_eq!((some.stored, some.total), (2, 8));
        assert!(records_blob(&[], 100).is_none());
    }

    #[test]
    fn a_sweep_headline_is_its_stable_level() {
        let summary = serde_json::to_value(report(&["-c", "2"]).summary).unwrap();
        let sweep = serde_json::json!({
            "started_at": "2025-01-01T00:00:00+00:00",
            "interrupted": false,
            "target": {"url": "http://127.0.0.1:9", "model": "m"},
            "settings": {"mode": {"kind": "concurrency", "levels": [1, 2]}},
            "levels": [
                {"requests": 20, "request_throughput": 5.0, "summary": summary},
                {"requests": 30, "request_throughput": 4.0, "summary": {}},
            ],
            "verdict": {"request_throughput": 5.0, "output_throughput": 50.0},
        });
        let h = sweep_headline(&sweep);
        assert_eq!(h.requests, Some(50));
        assert_eq!(h.ttft_p90_ms, Some(100.0));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        assert_eq!(record_sweep(&path, &sweep).unwrap(), 1);
        let (entry, _) = Db::open_for_reading(&path).unwrap().unwrap().get(1).unwrap();
        assert_eq!((entry.kind.as_str(), entry.load.as_str()), ("sweep", "sweep 1,2"));
    }
}
