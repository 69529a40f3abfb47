//! The records file (`--records FILE.jsonl`): one JSON line per finished
//! request, written and flushed as each finishes, so a crash or a Ctrl-C
//! keeps every request measured so far.
//!
//! A line carries the raw timestamps of the [`RequestRecord`] as seconds
//! since the run clock's zero (the start of the measured phase), as f64 with
//! serde_json's shortest round-trip form: under ~10⁶ s (11 days) that holds
//! every nanosecond, and [`read_records`] rounds back to the exact
//! nanosecond. Derived figures (`ttft_ms`, `tpot_ms`, `e2e_ms`,
//! `queue_delay_ms`) are written for readers' convenience and ignored when
//! reading: a summary is always recomputed from the raw fields.
//!
//! Line fields, in order: `index`, `scheduled_at`, `sent_at`,
//! `first_token_at`, `finished_at`, `ended_at` (seconds; null where none),
//! `token_times` (seconds), `ttft_ms`, `tpot_ms`, `e2e_ms`, `queue_delay_ms`,
//! `input_tokens`, `output_tokens`, `tokens_estimated`, `streamed`,
//! `status`, `error` (`{class, message}` or null) and `text` (only when the
//! text was captured); then, only when present: `images` and
//! `response_bytes` (image APIs), `submit_latency` and `queue_wait`
//! (seconds, `http-async`). Files without them still read. Cancelled requests appear with error class
//! `cancelled`; summaries leave them out.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};

use crate::record::{RequestError, RequestRecord};

use super::ExportError;

/// Appends records to a JSONL file, one flushed line per request.
pub struct RecordsWriter {
    path: PathBuf,
    out: BufWriter<File>,
}

impl RecordsWriter {
    /// Creates (or truncates) the file. Its directory must exist.
    pub fn create(path: &Path) -> Result<Self, ExportError> {
        let file = File::create(path).map_err(|source| ExportError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            out: BufWriter::new(file),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one record as a line and flushes it to the file.
    pub fn write(&mut self, rec: &RequestRecord) -> Result<(), ExportError> {
        let io = |source| ExportError::Io {
            path: self.path.clone(),
            source,
        };
        let mut line = serde_json::to_vec(&LineOut::of(rec)).map_err(|e| io(e.into()))?;
        line.push(b'\n');
        self.out.write_all(&line).map_err(io)?;
        self.out.flush().map_err(io)
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn ser_times<S: Serializer>(times: &&[Duration], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(times.iter().map(|d| d.as_secs_f64()))
}

/// One line as written.
#[derive(Serialize)]
struct LineOut<'a> {
    index: u64,
    scheduled_at: f64,
    sent_at: f64,
    first_token_at: Option<f64>,
    finished_at: Option<f64>,
    ended_at: f64,
    #[serde(serialize_with = "ser_times")]
    token_times: &'a [Duration],
    ttft_ms: Option<f64>,
    tpot_ms: Option<f64>,
    e2e_ms: Option<f64>,
    queue_delay_ms: f64,
    input_tokens: u64,
    output_tokens: u64,
    tokens_estimated: bool,
    streamed: bool,
    status: Option<u16>,
    error: Option<&'a RequestError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    task: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    images: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    submit_latency: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    queue_wait: Option<f64>,
}

impl<'a> LineOut<'a> {
    fn of(r: &'a RequestRecord) -> Self {
        Self {
            index: r.index,
            scheduled_at: secs(r.scheduled_at),
            sent_at: secs(r.sent_at),
            first_token_at: r.first_token_at().map(secs),
            finished_at: r.finished_at.map(secs),
            ended_at: secs(r.ended_at),
            token_times: &r.token_times,
            ttft_ms: r.ttft().map(millis),
            tpot_ms: r.tpot().map(millis),
            e2e_ms: r.e2e().map(millis),
            queue_delay_ms: millis(r.queue_delay()),
            input_tokens: r.input_tokens,
            output_tokens: r.output_tokens,
            tokens_estimated: r.tokens_estimated,
            streamed: r.streamed,
            status: r.status,
            error: r.error.as_ref(),
            text: r.text.as_deref(),
            task: r.task.as_deref(),
            model: r.model.as_deref(),
            images: r.images,
            response_bytes: r.response_bytes,
            submit_latency: r.submit_latency.map(secs),
            queue_wait: r.queue_wait.map(secs),
        }
    }
}

/// One line as read: the raw fields; derived ones are ignored.
#[derive(Deserialize)]
struct LineIn {
    index: u64,
    scheduled_at: f64,
    sent_at: f64,
    #[serde(default)]
    finished_at: Option<f64>,
    ended_at: f64,
    #[serde(default)]
    token_times: Vec<f64>,
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    tokens_estimated: bool,
    #[serde(default)]
    streamed: bool,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    error: Option<RequestError>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    task: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    images: Option<u64>,
    #[serde(default)]
    response_bytes: Option<u64>,
    #[serde(default)]
    submit_latency: Option<f64>,
    #[serde(default)]
    queue_wait: Option<f64>,
}

/// Seconds back to a duration, rounded to the nanosecond.
fn from_secs(field: &str, v: f64) -> Result<Duration, String> {
    if !(v.is_finite() && v >= 0.0) {
        return Err(format!(
            "`{field}` must be a number of seconds of zero or more, not {v}"
        ));
    }
    let ns = (v * 1e9).round();
    if ns >= u64::MAX as f64 {
        return Err(format!("`{field}` is too large: {v}"));
    }
    Ok(Duration::from_nanos(ns as u64))
}

impl LineIn {
    fn into_record(self) -> Result<RequestRecord, String> {
        let token_times = self
            .token_times
            .iter()
            .map(|&t| from_secs("token_times", t))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RequestRecord {
            index: self.index,
            scheduled_at: from_secs("scheduled_at", self.scheduled_at)?,
            sent_at: from_secs("sent_at", self.sent_at)?,
            token_times,
            finished_at: self.finished_at.map(|t| from_secs("finished_at", t)).transpose()?,
            ended_at: from_secs("ended_at", self.ended_at)?,
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            tokens_estimated: self.tokens_estimated,
            streamed: self.streamed,
            status: self.status,
            error: self.error,
            text: self.text,
            task: self.task,
            model: self.model,
            images: self.images,
            response_bytes: self.response_bytes,
            submit_latency: self
                .submit_latency
                .map(|t| from_secs("submit_latency", t))
                .transpose()?,
            queue_wait: self.queue_wait.map(|t| from_secs("queue_wait", t)).transpose()?,
        })
    }
}

/// Reads a records file back. Blank lines are skipped; any other line
/// that is not a record fails with the file and line number.
pub fn read_records(path: &Path) -> Result<Vec<RequestRecord>, ExportError> {
    let file = File::open(path).map_err(|source| ExportError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut out = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let bad = |message: String| ExportError::Parse {
            path: path.to_path_buf(),
            line: i + 1,
            message,
        };
        let line = line.map_err(|e| bad(e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed: LineIn = serde_json::from_str(&line).map_err(|e| bad(e.to_string()))?;
        out.push(parsed.into_record().map_err(bad)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::ErrorClass;
    use crate::stats::SummaryBuilder;

    fn ns(v: u64) -> Duration {
        Duration::from_nanos(v)
    }

    /// Records with awkward nanosecond timestamps, over a long run.
    fn sample() -> Vec<RequestRecord> {
        let mut recs = Vec::new();
        for i in 0..40u64 {
            let sent = 3_600_000_000_000 + i * 123_456_789 + 7;
            let times: Vec<Duration> = (0..(i % 6)).map(|k| ns(sent + 50_000_001 + k * 9_999_999)).collect();
            let streamed = i % 7 != 0;
            let finished = if streamed {
                times.last().copied().unwrap_or(ns(sent + 1_000_003))
            } else {
                ns(sent + 81_234_567)
            };
            let error = match i % 10 {
                3 => Some(RequestError {
                    class: ErrorClass::Http(500),
                    message: format!("internal error {i}"),
                }),
                8 => Some(RequestError {
                    class: ErrorClass::Cancelled,
                    message: "run stopped".into(),
                }),
                _ => None,
            };
            recs.push(RequestRecord {
                index: i,
                scheduled_at: ns(sent - i * 1_001),
                sent_at: ns(sent),
                token_times: if streamed { times } else { Vec::new() },
                finished_at: Some(finished),
                ended_at: finished + ns(333),
                input_tokens: 17 + i,
                output_tokens: i % 6 + 1,
                tokens_estimated: i == 5,
                streamed,
                status: Some(if i % 10 == 3 { 500 } else { 200 }),
                error,
                text: (i < 2).then(|| format!("text \"{i}\"\nwith a newline")),
                task: (i % 4 == 1).then(|| "chat".to_string()),
                model: (i % 4 == 1).then(|| "m-a".to_string()),
                images: (i % 5 == 2).then_some(i % 3 + 1),
                response_bytes: (i % 5 == 2).then_some(1000 + i),
                submit_latency: (i % 5 == 2).then(|| ns(4_000_001 + i)),
                queue_wait: (i % 5 == 2).then(|| ns(i * 1_000_003)),
            });
        }
        recs
    }

    #[test]
    fn records_round_trip_to_the_nanosecond_and_to_the_same_summary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("records.jsonl");
        let recs = sample();
        let mut w = RecordsWriter::create(&path).unwrap();
        for r in &recs {
            w.write(r).unwrap();
        }
        // Flushed as written: readable before the writer is dropped.
        let back = read_records(&path).unwrap();
        assert_eq!(back, recs);
        assert_eq!(
            SummaryBuilder::from_records(&back).finish(),
            SummaryBuilder::from_records(&recs).finish()
        );
        drop(w);
    }

    #[test]
    fn lines_carry_the_documented_fields() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        let mut w = RecordsWriter::create(&path).unwrap();
        let recs = sample();
        w.write(&recs[1]).unwrap();
        w.write(&recs[3]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let first = lines[0].as_object().unwrap();
        let keys: Vec<&str> = first.keys().map(String::as_str).collect();
        for k in [
            "index",
            "scheduled_at",
            "sent_at",
            "first_token_at",
            "finished_at",
            "ended_at",
            "token_times",
            "ttft_ms",
            "tpot_ms",
            "e2e_ms",
            "queue_delay_ms",
            "input_tokens",
            "output_tokens",
            "tokens_estimated",
            "streamed",
            "status",
            "error",
            "text",
        ] {
            assert!(keys.contains(&k), "missing {k} in {keys:?}");
        }
        assert!((first["ttft_ms"].as_f64().unwrap() - 50.000001).abs() < 1e-6);
        assert!(lines[1].get("text").is_none(), "text only when captured");
        assert_eq!(lines[1]["error"]["class"], "http_500");
        assert_eq!(lines[1]["ttft_ms"], serde_json::Value::Null);
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope/r.jsonl");
        let e = RecordsWriter::create(&missing).err().unwrap();
        assert!(e.to_string().contains("nope/r.jsonl"), "{e}");

        let path = dir.path().join("bad.jsonl");
        let good = serde_json::to_string(&LineOut::of(&sample()[1])).unwrap();
        std::fs::write(&path, format!("{good}\n\n{{\"index\": 1}}\n")).unwrap();
        let e = read_records(&path).unwrap_err().to_string();
        assert!(e.contains("bad.jsonl:3"), "{e}");
        std::fs::write(&path, good.replace("\"sent_at\":", "\"sent_at\":-")).unwrap();
        let e = read_records(&path).unwrap_err().to_string();
        assert!(e.contains("bad.jsonl:1") && e.contains("sent_at"), "{e}");
        let e = read_records(&dir.path().join("absent.jsonl")).unwrap_err().to_string();
        assert!(e.contains("absent.jsonl"), "{e}");
    }
}
