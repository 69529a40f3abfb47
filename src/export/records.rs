//! The records file (`--records FILE.jsonl`): one JSON line per finished
//! request, written and flushed as each finishes, so a crash or a Ctrl-C
//! keeps every request measured so far.
//!
//! Each line is one [`RecordLine`] (its fields and units are documented
//! there); the history stores the same lines and reads them back with
//! [`parse_records`]. Requests still running when the run stopped appear
//! with error class `unfinished` and count as failed, as in the summary.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::doc::RecordLine;
use crate::record::RequestRecord;

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
            cause: source,
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
        self.write_in_stage(rec, None)
    }

    /// Writes a record of a load over time with its 1-based `stage`.
    pub fn write_in_stage(&mut self, rec: &RequestRecord, stage: Option<usize>) -> Result<(), ExportError> {
        let io = |source| ExportError::Io {
            path: self.path.clone(),
            cause: source,
        };
        let mut line = RecordLine::of(rec);
        line.stage = stage;
        let mut line = serde_json::to_vec(&line).map_err(|e| io(e.into()))?;
        line.push(b'\n');
        self.out.write_all(&line).map_err(io)?;
        self.out.flush().map_err(io)
    }
}

/// Reads a records file back. Blank lines are skipped; any other line
/// that is not a record fails with the file and line number.
pub fn read_records(path: &Path) -> Result<Vec<RequestRecord>, ExportError> {
    let file = File::open(path).map_err(|source| ExportError::Io {
        path: path.to_path_buf(),
        cause: source,
    })?;
    parse_lines(BufReader::new(file), path)
}

/// Reads records from JSONL text (as the history stores them); `source`
/// names it in errors.
pub fn parse_records(text: &[u8], source: &Path) -> Result<Vec<RequestRecord>, ExportError> {
    parse_lines(text, source)
}

fn parse_lines(reader: impl BufRead, path: &Path) -> Result<Vec<RequestRecord>, ExportError> {
    let mut out = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let bad = |message: String| ExportError::Parse {
            path: path.to_path_buf(),
            line: i + 1,
            message,
        };
        let line = line.map_err(|e| bad(e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed: RecordLine = serde_json::from_str(&line).map_err(|e| bad(e.to_string()))?;
        out.push(parsed.into_record().map_err(bad)?);
    }
    Ok(out)
}

/// The records as JSONL, the first ones that fit in `max_bytes`, and how
/// many that is; each line exactly as the records file writes it.
pub fn to_jsonl(records: &[RequestRecord], max_bytes: usize) -> (Vec<u8>, usize) {
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
    (jsonl, stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_error_names_the_path_and_the_os_cause_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("r.jsonl");
        let Err(e) = RecordsWriter::create(&path) else {
            panic!("created in a missing directory");
        };
        let text = format!("{:#}", anyhow::Error::from(e));
        assert_eq!(text.matches("os error 2").count(), 1, "{text}");
        assert_eq!(text.matches("r.jsonl").count(), 1, "{text}");
    }
    use crate::record::{ErrorClass, RequestError};
    use crate::stats::SummaryBuilder;
    use std::time::Duration;

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
                    class: ErrorClass::Unfinished,
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
                output_kinds: crate::record::OutputKinds {
                    content: i % 3 != 0,
                    reasoning: i % 4 == 0,
                    tool_calls: i % 9 == 0,
                },
                tokens_estimated: i == 5 || i % 13 == 4,
                // Not saved: read back as their defaults.
                sent_input_tokens: 0,
                output_from_usage: false,
                usage_invalid: i % 13 == 4,
                streamed,
                stream_ignored: !streamed && i % 2 == 0,
                status: Some(if i % 10 == 3 { 500 } else { 200 }),
                error,
                text: (i < 2).then(|| format!("text \"{i}\"\nwith a newline")),
                task: (i % 4 == 1).then(|| "chat".to_string()),
                model: (i % 4 == 1).then(|| "m-a".to_string()),
                images: (i % 5 == 2).then_some(i % 3 + 1),
                response_bytes: (i % 5 == 2).then_some(1000 + i),
                submit_latency: (i % 5 == 2).then(|| ns(4_000_001 + i)),
                queue_wait: (i % 5 == 2).then(|| ns(i * 1_000_003)),
                session: (i % 3 == 2).then(|| crate::record::SessionTurn {
                    session: i / 3,
                    turn: (i % 4) as u32 + 1,
                    turns: 4,
                }),
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
        let good = serde_json::to_string(&RecordLine::of(&sample()[1])).unwrap();
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
