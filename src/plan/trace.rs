//! A trace replay's plan: the trace dataset (`mooncake:`, `burstgpt:`,
//! `trace:FILE`, its block size and window) and the schedule it implies —
//! an open loop at the trace's own times (`--trace-speed` scales them),
//! as many requests as the trace (or window) holds, or the first
//! `--requests N`. The trace is read here, so a bad file is refused with
//! its line before any traffic, and the plan knows its count and rate.

use std::path::PathBuf;
use std::time::Duration;

use super::{bad_at, LoadOptions, PlanError, Stop, WorkloadOptions};
use crate::schedule::{Arrival, ScheduleSpec};
use crate::workload::trace::{parse_window, Trace, TraceFormat, TraceSpec, DEFAULT_BLOCK_SIZE};
use crate::workload::{DatasetSpec, WorkloadSpec};

/// `--dataset NAME:FILE` (or `--dataset NAME --dataset-path FILE`), NAME
/// a trace format ([`TraceFormat::of_prefix`]).
pub(super) fn dataset(name: &str, path: Option<PathBuf>, a: &WorkloadOptions) -> Result<DatasetSpec, PlanError> {
    let format = TraceFormat::of_prefix(name)
        .ok_or_else(|| bad_at("workload.dataset", format!("--dataset {name}: not a trace format")))?;
    let Some(path) = path.filter(|p| !p.as_os_str().is_empty()) else {
        return Err(bad_at(
            "workload.dataset",
            format!("--dataset {name} needs a file: --dataset {name}:FILE"),
        ));
    };
    let block_size = a.trace_block_size.unwrap_or(DEFAULT_BLOCK_SIZE);
    if block_size == 0 {
        return Err(bad_at(
            "workload.trace_block_size",
            "--trace-block-size must be at least 1",
        ));
    }
    let window = a
        .trace_window
        .as_deref()
        .map(parse_window)
        .transpose()
        .map_err(|e| bad_at("workload.trace_window", format!("--trace-window {e}")))?;
    Ok(DatasetSpec::Trace(TraceSpec {
        format,
        path,
        block_size,
        window,
    }))
}

/// The trace options given without a trace dataset.
pub(super) fn check_workload(a: &WorkloadOptions, dataset: &DatasetSpec) -> Result<(), PlanError> {
    if matches!(dataset, DatasetSpec::Trace(_)) {
        return Ok(());
    }
    for (set, flag, key) in [
        (
            a.trace_block_size.is_some(),
            "--trace-block-size",
            "workload.trace_block_size",
        ),
        (a.trace_window.is_some(), "--trace-window", "workload.trace_window"),
    ] {
        if set {
            return Err(bad_at(key, not_a_trace(flag)));
        }
    }
    Ok(())
}

fn not_a_trace(flag: &str) -> String {
    format!("{flag} applies to a trace dataset (--dataset mooncake:FILE, burstgpt:FILE or trace:FILE)")
}

/// A weighted task mix picks each request's task by its index; a trace
/// sets each request's time, so the two do not combine.
pub(super) fn not_in_a_mix() -> PlanError {
    bad_at(
        "workload.dataset",
        "a trace replays its own requests at its own times; it cannot be one task of a mix",
    )
}

/// The schedule and stop of a trace replay, in place of the load options'
/// own; the load options that choose another schedule are refused.
pub(super) fn apply(
    l: &LoadOptions,
    w: &WorkloadSpec,
    warmup: u64,
    schedule: &mut ScheduleSpec,
    stop: &mut Stop,
) -> Result<(), PlanError> {
    let DatasetSpec::Trace(spec) = &w.dataset else {
        if l.trace_speed.is_some() {
            return Err(bad_at("load.trace_speed", not_a_trace("--trace-speed")));
        }
        return Ok(());
    };
    let refused = [
        (l.rate.is_some(), "load.rate", "--rate"),
        (l.users.is_some(), "load.users", "--users"),
        (l.arrival.is_some(), "load.arrival", "--arrival"),
        (l.burstiness.is_some(), "load.burstiness", "--burstiness"),
    ];
    if let Some((_, key, flag)) = refused.iter().find(|(set, ..)| *set) {
        return Err(bad_at(
            key,
            format!(
                "{flag} does not apply to a trace replay: requests are sent at the trace's own times (--trace-speed scales them)"
            ),
        ));
    }
    let speed = l.trace_speed.unwrap_or(1.0);
    if speed.is_nan() || speed <= 0.0 {
        return Err(bad_at("load.trace_speed", "--trace-speed must be above 0"));
    }
    let trace = Trace::load(spec).map_err(|e| bad_at("workload.dataset", e.to_string()))?;
    let times = trace.times();
    let total = times.len() as u64;
    if warmup >= total {
        return Err(bad_at(
            "load.warmup",
            format!("--warmup {warmup} leaves none of the trace's {total} requests to measure"),
        ));
    }
    // The warm-up sends the trace's first requests; the measured phase the
    // rest (or the first `--requests` of the rest).
    let left = total - warmup;
    let requests = l.requests.map_or(left, |n| n.min(left));
    // As the replay sends them (`schedule::trace`): from the trace's zero,
    // or after a warm-up from the first measured request.
    let first = if warmup == 0 {
        Duration::ZERO
    } else {
        times[warmup as usize]
    };
    let last = times[(warmup + requests - 1) as usize];
    let span = crate::schedule::trace::scaled(last - first, speed);
    *schedule = ScheduleSpec::Open {
        rate: mean_rate(requests, span),
        arrival: Arrival::Trace { speed },
        cap: l.concurrency,
    };
    stop.requests = Some(requests);
    Ok(())
}

/// The replay's mean rate: its requests over its span (all at once: `inf`).
fn mean_rate(requests: u64, span: Duration) -> f64 {
    if span.is_zero() {
        f64::INFINITY
    } else {
        requests as f64 / span.as_secs_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{RunOptions, RunPlan};
    use super::*;

    fn trace_file(dir: &tempfile::TempDir) -> PathBuf {
        let path = dir.path().join("mc.jsonl");
        let lines: String = (0..5)
            .map(|i| {
                format!(
                    "{{\"timestamp\": {}, \"input_length\": 10, \"output_length\": 2}}\n",
                    i * 1000
                )
            })
            .collect();
        std::fs::write(&path, lines).unwrap();
        path
    }

    fn plan(path: &std::path::Path, f: impl FnOnce(&mut RunOptions)) -> Result<RunPlan, PlanError> {
        let mut o = RunOptions::default();
        o.workload.dataset = Some(format!("mooncake:{}", path.display()));
        f(&mut o);
        RunPlan::resolve(&o)
    }

    #[test]
    fn a_trace_sets_an_open_loop_at_its_own_times_and_its_count() {
        let dir = tempfile::tempdir().unwrap();
        let path = trace_file(&dir);
        let p = plan(&path, |_| {}).unwrap();
        assert_eq!(
            p.schedule,
            ScheduleSpec::Open {
                rate: 5.0 / 4.0,
                arrival: Arrival::Trace { speed: 1.0 },
                cap: None
            }
        );
        assert_eq!(p.stop.requests, Some(5), "the trace's lines, not the default 100");
        assert!(p.workload.ignore_eos, "the trace's output lengths are kept");
        let DatasetSpec::Trace(t) = &p.workload.dataset else {
            panic!("a trace dataset")
        };
        assert_eq!((t.format, t.block_size, t.window), (TraceFormat::Mooncake, 512, None));

        let p = plan(&path, |o| {
            o.load.trace_speed = Some(2.0);
            o.load.requests = Some(3);
            o.load.concurrency = Some(4);
        })
        .unwrap();
        assert_eq!(
            p.schedule,
            ScheduleSpec::Open {
                rate: 3.0,
                arrival: Arrival::Trace { speed: 2.0 },
                cap: Some(4)
            },
            "3 requests over 2s of trace at double speed"
        );
        assert_eq!(p.stop.requests, Some(3));
        let p = plan(&path, |o| o.load.warmup = Some(2)).unwrap();
        assert_eq!(p.stop.requests, Some(3), "the warm-up sends the first two");
        assert!(
            p.read_paths().iter().any(|(_, r)| r == &path),
            "the trace is an input no output may overwrite"
        );
        let p = plan(&path, |o| {
            o.workload.dataset = Some("trace".into());
            o.workload.dataset_path = Some(path.clone());
            o.workload.trace_window = Some("1s..3s".into());
            o.workload.trace_block_size = Some(64);
        })
        .unwrap();
        let DatasetSpec::Trace(t) = &p.workload.dataset else {
            panic!("a trace dataset")
        };
        assert_eq!((t.format, t.block_size), (TraceFormat::Jsonl, 64));
        assert_eq!(p.stop.requests, Some(2), "the window's lines");
    }

    #[test]
    fn every_trace_error_names_its_option() {
        let dir = tempfile::tempdir().unwrap();
        let path = trace_file(&dir);
        let err = |f: fn(&mut RunOptions)| plan(&path, f).expect_err("refused");
        let bad_file = dir.path().join("bad.jsonl");
        std::fs::write(
            &bad_file,
            "{\"timestamp\": 0, \"input_length\": 3}\n{\"input_length\": 3}\n",
        )
        .unwrap();
        let cases: Vec<(PlanError, &str, &str)> = vec![
            (
                err(|o| o.load.rate = Some(2.0)),
                "--rate does not apply to a trace replay",
                "load.rate",
            ),
            (err(|o| o.load.users = Some(2)), "--users does not apply", "load.users"),
            (
                err(|o| o.load.arrival = Some(crate::schedule::ArrivalKind::Constant)),
                "--arrival does not apply",
                "load.arrival",
            ),
            (
                err(|o| o.load.trace_speed = Some(0.0)),
                "--trace-speed must be above 0",
                "load.trace_speed",
            ),
            (
                err(|o| o.load.warmup = Some(5)),
                "--warmup 5 leaves none of the trace's 5",
                "load.warmup",
            ),
            (
                err(|o| o.workload.trace_block_size = Some(0)),
                "--trace-block-size must be at least 1",
                "workload.trace_block_size",
            ),
            (
                err(|o| o.workload.trace_window = Some("2m..1m".into())),
                "--trace-window `2m..1m`: the end must come after the start",
                "workload.trace_window",
            ),
            (
                err(|o| o.workload.trace_window = Some("1h..2h".into())),
                "has no request in the --trace-window",
                "workload.dataset",
            ),
            (
                err(|o| o.workload.dataset = Some("burstgpt".into())),
                "--dataset burstgpt needs a file: --dataset burstgpt:FILE",
                "workload.dataset",
            ),
        ];
        let mut cases = cases;
        cases.push((
            plan(&path, |o| {
                o.workload.dataset = None;
                o.load.trace_speed = Some(2.0)
            })
            .unwrap_err(),
            "--trace-speed applies to a trace dataset",
            "load.trace_speed",
        ));
        cases.push((
            plan(&path, |o| {
                o.workload.dataset = None;
                o.workload.trace_window = Some("1s..2s".into())
            })
            .unwrap_err(),
            "--trace-window applies to a trace dataset",
            "workload.trace_window",
        ));
        cases.push((
            plan(&bad_file, |_| {}).unwrap_err(),
            "bad.jsonl:2: missing `timestamp`",
            "workload.dataset",
        ));
        for (e, text, key) in cases {
            assert!(e.message.contains(text), "`{e}` should contain `{text}`");
            assert_eq!(e.key, Some(key), "{e}");
        }
    }
}
