//! Production traces replayed as recorded: what each request of a trace
//! asked for, and when it arrived.
//!
//! Three formats:
//! - **Mooncake** (`mooncake:FILE`, JSONL): `timestamp` in milliseconds,
//!   `input_length`/`output_length` in tokens and `hash_ids`, one id per
//!   block of `block_size` prompt tokens (512 in the public traces; the last
//!   block may be partial). The prompt is synthesized: the same id always
//!   gives the same block of words (from the seed), so two requests whose
//!   lists start with the same ids share that many tokens of real prompt
//!   prefix, and a server's prefix cache sees the overlap the trace had.
//!   `input_text` may stand for the lengths;
//! - **BurstGPT** (`burstgpt:FILE`, CSV with the header `Timestamp,Model,
//!   Request tokens,Response tokens,Total tokens,Log Type`): `Timestamp` in
//!   seconds; rows with 0 response tokens (failed in the source) are
//!   skipped and counted;
//! - a **generic** JSONL trace (`trace:FILE`): `timestamp` in milliseconds
//!   plus `prompt` (or `input_text`) or `input_length`, with an optional
//!   `output_length` (or `max_tokens`) and `hash_ids`.
//!
//! Lines are put in time order (a trace's timestamps need not be monotonic,
//! but none may be negative), then cut to `--trace-window START..END` and
//! rebased so the window starts at zero. Prompts are built when asked for
//! (a public trace holds hundreds of millions of prompt tokens), as a pure
//! function of the line and the seed. Errors name the file and line.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::Serialize;
use serde_json::Value;

use super::{mix, push_words, read, Prompt, WorkloadError};

/// Prompt tokens per `hash_ids` block in the public Mooncake traces.
pub const DEFAULT_BLOCK_SIZE: u64 = 512;

/// Salts keeping block text, per-line text and the other seeded draws apart.
const BLOCK_SALT: u64 = 0x4D6F_6F6E_6361_6B65;
const LINE_SALT: u64 = 0x5472_6163_654C_696E;

/// The format of a trace file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceFormat {
    Mooncake,
    #[serde(rename = "burstgpt")]
    BurstGpt,
    /// A generic JSONL trace.
    Jsonl,
}

impl TraceFormat {
    /// The `--dataset` prefix naming the format.
    pub fn name(self) -> &'static str {
        match self {
            Self::Mooncake => "mooncake",
            Self::BurstGpt => "burstgpt",
            Self::Jsonl => "trace",
        }
    }

    /// The format a `--dataset NAME:FILE` prefix names.
    pub fn of_prefix(prefix: &str) -> Option<Self> {
        match prefix {
            "mooncake" => Some(Self::Mooncake),
            "burstgpt" => Some(Self::BurstGpt),
            "trace" => Some(Self::Jsonl),
            _ => None,
        }
    }
}

/// A slice of a trace: `start <= t < end` (no end: to the trace's end),
/// in the trace's own time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceWindow {
    pub start: Duration,
    pub end: Option<Duration>,
}

impl Serialize for TraceWindow {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("window", 2)?;
        st.serialize_field("start_s", &self.start.as_secs_f64())?;
        st.serialize_field("end_s", &self.end.map(|e| e.as_secs_f64()))?;
        st.end()
    }
}

/// Parses `--trace-window`: `60s..120s`, `60s..` (to the end) or `..2m`.
pub fn parse_window(s: &str) -> Result<TraceWindow, String> {
    let Some((a, b)) = s.split_once("..") else {
        return Err(format!("`{s}`: write START..END, e.g. 60s..120s"));
    };
    let (a, b) = (a.trim(), b.trim());
    let start = if a.is_empty() {
        Duration::ZERO
    } else {
        crate::units::parse_duration(a)?
    };
    let end = if b.is_empty() {
        None
    } else {
        Some(crate::units::parse_duration(b)?)
    };
    if end.is_some_and(|e| e <= start) {
        return Err(format!("`{s}`: the end must come after the start"));
    }
    Ok(TraceWindow { start, end })
}

/// A trace dataset: the file, its format, and how it is read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceSpec {
    pub format: TraceFormat,
    pub path: PathBuf,
    /// Prompt tokens per `hash_ids` block.
    pub block_size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<TraceWindow>,
}

/// What a request's prompt is made of.
#[derive(Debug, Clone)]
enum Input {
    /// Text given by the trace.
    Text(String),
    /// `len` synthesized tokens, in blocks from `hash_ids`, then words of
    /// the line's own (`line` seeds them).
    Synth { len: u64, hash_ids: Vec<u64>, line: u64 },
}

#[derive(Debug, Clone)]
struct Request {
    at: Duration,
    input: Input,
    output_len: Option<u64>,
}

/// A loaded trace: its requests in time order, windowed and rebased.
#[derive(Debug)]
pub struct Trace {
    requests: Vec<Request>,
    times: Arc<[Duration]>,
    block_size: u64,
    spec: TraceSpec,
    /// BurstGPT rows with 0 response tokens, left out.
    pub skipped_failed: u64,
}

/// Count and span of a trace, what a plan needs to know of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TraceShape {
    pub requests: u64,
    /// The last arrival's time (after the window's rebase).
    pub span: Duration,
}

impl Trace {
    /// Reads, checks, orders and windows the trace.
    pub fn load(spec: &TraceSpec) -> Result<Self, WorkloadError> {
        let (mut requests, skipped_failed) = match spec.format {
            TraceFormat::BurstGpt => load_burstgpt(&spec.path)?,
            TraceFormat::Mooncake | TraceFormat::Jsonl => (load_jsonl(&spec.path, spec.format)?, 0),
        };
        // Stable: lines of one timestamp keep the file's order.
        requests.sort_by_key(|r| r.at);
        if let Some(w) = spec.window {
            requests.retain(|r| r.at >= w.start && w.end.is_none_or(|e| r.at < e));
            for r in &mut requests {
                r.at -= w.start;
            }
        }
        if requests.is_empty() {
            let what = match spec.window {
                Some(_) => "has no request in the --trace-window".to_string(),
                None if skipped_failed > 0 => {
                    format!("has no request with response tokens ({skipped_failed} rows with 0 skipped)")
                }
                None => "holds no requests".to_string(),
            };
            return Err(WorkloadError::File {
                path: spec.path.clone(),
                what,
            });
        }
        let times: Arc<[Duration]> = requests.iter().map(|r| r.at).collect();
        Ok(Self {
            requests,
            times,
            block_size: spec.block_size.max(1),
            spec: spec.clone(),
            skipped_failed,
        })
    }

    pub fn shape(&self) -> TraceShape {
        TraceShape {
            requests: self.requests.len() as u64,
            span: self.times.last().copied().unwrap_or_default(),
        }
    }

    /// Every request's arrival time in order, from the trace's (or the
    /// window's) start.
    pub fn times(&self) -> Arc<[Duration]> {
        self.times.clone()
    }

    /// Request `index`'s prompt, its token count and its output length
    /// (indices past the end wrap, as file datasets do).
    pub(super) fn prompt(&self, index: u64, seed: u64) -> (Prompt, u64, Option<u64>) {
        let r = &self.requests[(index % self.requests.len() as u64) as usize];
        let (text, tokens) = match &r.input {
            Input::Text(t) => (t.clone(), super::tokens::count_tokens(t)),
            Input::Synth { len, hash_ids, line } => (synthesize(*len, hash_ids, *line, self.block_size, seed), *len),
        };
        (Prompt::Text(text), tokens, r.output_len)
    }

    /// One line for the settings block (the skipped rows said here, once).
    pub fn describe(&self) -> String {
        let shape = self.shape();
        let name = match self.spec.format {
            TraceFormat::Mooncake => "Mooncake trace",
            TraceFormat::BurstGpt => "BurstGPT trace",
            TraceFormat::Jsonl => "trace",
        };
        let mut s = format!(
            "{name} {} ({} requests over {}",
            self.spec.path.display(),
            shape.requests,
            crate::units::format_duration(shape.span)
        );
        if let Some(w) = self.spec.window {
            let end = w.end.map(crate::units::format_duration).unwrap_or_default();
            s.push_str(&format!(", window {}..{end}", crate::units::format_duration(w.start)));
        }
        if self.spec.format == TraceFormat::Mooncake {
            s.push_str(&format!(", {}-token blocks", self.block_size));
        }
        if self.skipped_failed > 0 {
            s.push_str(&format!(
                "; {} rows with 0 response tokens skipped",
                self.skipped_failed
            ));
        }
        s.push(')');
        s
    }
}

/// `len` words: the blocks of `hash_ids` in turn (the last cut short when
/// `len` ends inside it), then, should the ids cover fewer than `len`
/// tokens, words of the line's own. One word is one token
/// ([`super::tokens::count_tokens`]), so the text has exactly `len` tokens.
fn synthesize(len: u64, hash_ids: &[u64], line: u64, block_size: u64, seed: u64) -> String {
    let mut text = String::with_capacity(len as usize * 8);
    let mut left = len;
    for &id in hash_ids {
        if left == 0 {
            break;
        }
        let n = left.min(block_size);
        // A block's words come from the id alone, so the first `n` of them
        // are the same whether the block is whole or cut short.
        let mut rng = StdRng::seed_from_u64(mix(seed ^ BLOCK_SALT, id));
        push_words(&mut text, &mut rng, n);
        left -= n;
    }
    if left > 0 {
        let mut rng = StdRng::seed_from_u64(mix(seed ^ LINE_SALT, line));
        push_words(&mut text, &mut rng, left);
    }
    text
}

fn line_error(path: &Path, line: usize, what: impl Into<String>) -> WorkloadError {
    WorkloadError::Line {
        path: path.to_path_buf(),
        line,
        what: what.into(),
    }
}

/// A timestamp in `unit` (1000 for milliseconds) as a duration; zero or more.
fn timestamp(v: Option<&Value>, unit: f64) -> Result<Duration, String> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Err("missing `timestamp`".into());
    };
    match v.as_f64() {
        Some(t) if t.is_finite() && t >= 0.0 => Ok(exact(t, unit)),
        Some(t) if t < 0.0 => Err(format!("`timestamp` is negative ({t})")),
        _ => Err(format!("`timestamp` must be a number, not {v}")),
    }
}

/// `t` units of `1/unit` seconds, rounded to the nanosecond, so a trace's
/// decimal times (`2000.5` ms, `60.2` s) are exact and not off by the
/// binary fraction's last bit.
fn exact(t: f64, unit: f64) -> Duration {
    let nanos = (t * (1e9 / unit)).round();
    Duration::from_nanos(if nanos >= u64::MAX as f64 {
        u64::MAX
    } else {
        nanos as u64
    })
}

fn count(obj: &serde_json::Map<String, Value>, name: &str) -> Result<Option<u64>, String> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| format!("`{name}` must be a whole number of tokens, not {v}")),
    }
}

fn load_jsonl(path: &Path, format: TraceFormat) -> Result<Vec<Request>, WorkloadError> {
    let text = read(path)?;
    let mut requests = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let err = |what: String| line_error(path, line, what);
        let value: Value = serde_json::from_str(raw).map_err(|e| err(format!("not valid JSON: {e}")))?;
        let Value::Object(obj) = value else {
            return Err(err("each line must be a JSON object".into()));
        };
        let at = timestamp(obj.get("timestamp"), 1000.0).map_err(err)?;
        let text = match obj.get("input_text").or_else(|| obj.get("prompt")) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(err("`input_text` (or `prompt`) must be a string".into())),
        };
        let hash_ids = match obj.get("hash_ids") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(ids)) => ids
                .iter()
                .map(|v| v.as_u64().ok_or(()))
                .collect::<Result<Vec<u64>, ()>>()
                .map_err(|()| err("`hash_ids` must be a list of whole numbers".into()))?,
            Some(_) => return Err(err("`hash_ids` must be a list of whole numbers".into())),
        };
        let input = match (text, count(&obj, "input_length").map_err(err)?) {
            (Some(t), _) => Input::Text(t),
            (None, Some(0)) => return Err(err("`input_length` must be at least 1".into())),
            (None, Some(len)) => Input::Synth {
                len,
                hash_ids,
                line: line as u64,
            },
            (None, None) => {
                let fields = match format {
                    TraceFormat::Mooncake => "`input_length` (or `input_text`)",
                    _ => "`prompt`, `input_text` or `input_length`",
                };
                return Err(err(format!("missing {fields}")));
            }
        };
        let output_len = match count(&obj, "output_length").map_err(err)? {
            Some(n) => Some(n),
            None => count(&obj, "max_tokens").map_err(err)?,
        };
        if output_len == Some(0) {
            return Err(err("`output_length` must be at least 1".into()));
        }
        requests.push(Request { at, input, output_len });
    }
    Ok(requests)
}

/// BurstGPT's CSV; returns the requests and the rows skipped for 0
/// response tokens.
fn load_burstgpt(path: &Path) -> Result<(Vec<Request>, u64), WorkloadError> {
    let text = read(path)?;
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| line_error(path, 1, format!("not a CSV header: {e}")))?
        .clone();
    let column = |name: &str| {
        headers.iter().position(|h| h.eq_ignore_ascii_case(name)).ok_or_else(|| {
            line_error(
                path,
                1,
                format!(
                    "no `{name}` column: a BurstGPT file starts with `Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type`"
                ),
            )
        })
    };
    let (c_time, c_req, c_resp) = (
        column("Timestamp")?,
        column("Request tokens")?,
        column("Response tokens")?,
    );
    let mut requests = Vec::new();
    let mut skipped = 0u64;
    for (i, row) in reader.records().enumerate() {
        // Line numbers count the header; a record's own position is exact
        // when the CSV reader knows it.
        let fallback = i + 2;
        let row = row.map_err(|e| {
            let line = e.position().map_or(fallback, |p| p.line() as usize);
            line_error(path, line, format!("bad CSV row: {e}"))
        })?;
        let line = row.position().map_or(fallback, |p| p.line() as usize);
        let err = |what: String| line_error(path, line, what);
        let field = |c: usize| row.get(c).unwrap_or_default();
        let at = match field(c_time).parse::<f64>() {
            Ok(t) if t.is_finite() && t >= 0.0 => exact(t, 1.0),
            Ok(t) if t < 0.0 => return Err(err(format!("`Timestamp` is negative ({t})"))),
            _ => return Err(err(format!("`Timestamp` must be seconds, not `{}`", field(c_time)))),
        };
        let tokens = |c: usize, name: &str| {
            field(c)
                .parse::<u64>()
                .map_err(|_| err(format!("`{name}` must be a whole number, not `{}`", field(c))))
        };
        let (input, output) = (tokens(c_req, "Request tokens")?, tokens(c_resp, "Response tokens")?);
        if output == 0 {
            skipped += 1;
            continue;
        }
        requests.push(Request {
            at,
            input: Input::Synth {
                len: input,
                hash_ids: Vec::new(),
                line: line as u64,
            },
            output_len: Some(output),
        });
    }
    Ok((requests, skipped))
}

#[cfg(test)]
mod tests {
    use super::super::tokens::count_tokens;
    use super::*;

    fn spec(format: TraceFormat, path: &Path) -> TraceSpec {
        TraceSpec {
            format,
            path: path.to_path_buf(),
            block_size: DEFAULT_BLOCK_SIZE,
            window: None,
        }
    }

    fn load(format: TraceFormat, body: &str) -> Result<Trace, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.trace");
        std::fs::write(&path, body).unwrap();
        Trace::load(&spec(format, &path)).map_err(|e| e.to_string())
    }

    fn text(t: &Trace, i: u64) -> String {
        match t.prompt(i, 0).0 {
            Prompt::Text(s) => s,
            Prompt::Chat(_) => panic!("text prompt"),
        }
    }

    /// Tokens two texts share from their start.
    fn common_prefix(a: &str, b: &str) -> usize {
        a.split(' ').zip(b.split(' ')).take_while(|(x, y)| x == y).count()
    }

    #[test]
    fn shared_hash_ids_give_a_shared_prompt_prefix_of_whole_blocks() {
        let mut s = String::new();
        s.push_str("{\"timestamp\": 0, \"input_length\": 1300, \"output_length\": 10, \"hash_ids\": [7, 8, 9]}\n");
        s.push_str("{\"timestamp\": 5, \"input_length\": 1100, \"output_length\": 20, \"hash_ids\": [7, 8, 3]}\n");
        s.push_str("{\"timestamp\": 9, \"input_length\": 40, \"output_length\": 20, \"hash_ids\": [7]}\n");
        let t = load(TraceFormat::Mooncake, &s).unwrap();
        let (a, b, c) = (text(&t, 0), text(&t, 1), text(&t, 2));
        assert_eq!((count_tokens(&a), count_tokens(&b), count_tokens(&c)), (1300, 1100, 40));
        assert_eq!(t.prompt(0, 0).1, 1300);
        assert_eq!(t.prompt(1, 0).2, Some(20));
        assert_eq!(common_prefix(&a, &b), 1024, "two whole 512-token blocks");
        assert_eq!(common_prefix(&a, &c), 40, "a partial block is the block's start");
        assert_eq!(text(&t, 0), a, "the same line gives the same text");
        assert_ne!(
            match t.prompt(0, 1).0 {
                Prompt::Text(s) => s,
                Prompt::Chat(_) => unreachable!(),
            },
            a,
            "another seed gives other text"
        );
    }

    #[test]
    fn ids_covering_less_than_the_length_are_filled_with_the_lines_own_words() {
        let s = "{\"timestamp\": 0, \"input_length\": 700, \"hash_ids\": [1]}\n\
                 {\"timestamp\": 1, \"input_length\": 700, \"hash_ids\": [1]}\n\
                 {\"timestamp\": 2, \"input_text\": \"given words here\", \"output_length\": 3}\n";
        let t = load(TraceFormat::Mooncake, s).unwrap();
        let (a, b) = (text(&t, 0), text(&t, 1));
        assert_eq!(count_tokens(&a), 700);
        assert_eq!(
            common_prefix(&a, &b),
            512,
            "the blocks are shared, the rest is each line's"
        );
        assert_eq!(text(&t, 2), "given words here");
        assert_eq!(t.prompt(2, 0).1, 3);
        assert_eq!(t.prompt(0, 0).2, None, "no output length: the workload's default");
    }

    #[test]
    fn lines_are_put_in_time_order_and_windowed() {
        let s = "{\"timestamp\": 3000, \"prompt\": \"c\"}\n\
                 {\"timestamp\": 1000, \"prompt\": \"a\"}\n\
                 {\"timestamp\": 2000.5, \"prompt\": \"b\"}\n\
                 {\"timestamp\": 1000, \"prompt\": \"a2\"}\n";
        let t = load(TraceFormat::Jsonl, s).unwrap();
        let us: Vec<u128> = t.times().iter().map(Duration::as_micros).collect();
        assert_eq!(us, vec![1_000_000, 1_000_000, 2_000_500, 3_000_000]);
        assert_eq!(
            (text(&t, 0), text(&t, 1), text(&t, 3)),
            ("a".into(), "a2".into(), "c".into())
        );
        assert_eq!(
            t.shape(),
            TraceShape {
                requests: 4,
                span: Duration::from_secs(3)
            }
        );

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.jsonl");
        std::fs::write(&path, s).unwrap();
        let mut sp = spec(TraceFormat::Jsonl, &path);
        sp.window = Some(parse_window("2s..3s").unwrap());
        let t = Trace::load(&sp).unwrap();
        assert_eq!(
            t.times().to_vec(),
            vec![Duration::from_micros(500)],
            "rebased to the window"
        );
        assert_eq!(text(&t, 0), "b");
        assert!(t.describe().contains("window 2s..3s"), "{}", t.describe());
        sp.window = Some(parse_window("1s..").unwrap());
        assert_eq!(Trace::load(&sp).unwrap().shape().requests, 4);
        sp.window = Some(parse_window("10s..20s").unwrap());
        let e = Trace::load(&sp).unwrap_err().to_string();
        assert!(e.ends_with("w.jsonl: has no request in the --trace-window"), "{e}");
    }

    #[test]
    fn windows_parse() {
        let s = Duration::from_secs;
        assert_eq!(
            parse_window("60s..120s"),
            Ok(TraceWindow {
                start: s(60),
                end: Some(s(120))
            })
        );
        assert_eq!(
            parse_window("1m.."),
            Ok(TraceWindow {
                start: s(60),
                end: None
            })
        );
        assert_eq!(
            parse_window("..90s"),
            Ok(TraceWindow {
                start: s(0),
                end: Some(s(90))
            })
        );
        assert!(parse_window("60s").unwrap_err().contains("START..END"));
        assert!(parse_window("2m..1m").unwrap_err().contains("after the start"));
        assert!(parse_window("x..1m").is_err());
    }

    #[test]
    fn bad_jsonl_traces_name_file_and_line() {
        for (format, body, needle) in [
            (
                TraceFormat::Mooncake,
                "{\"timestamp\": 0, \"input_length\": 5}\n{oops\n",
                "t.trace:2: not valid JSON",
            ),
            (
                TraceFormat::Mooncake,
                "{\"input_length\": 5}\n",
                "t.trace:1: missing `timestamp`",
            ),
            (
                TraceFormat::Mooncake,
                "\n{\"timestamp\": -1, \"input_length\": 5}\n",
                "t.trace:2: `timestamp` is negative (-1)",
            ),
            (
                TraceFormat::Mooncake,
                "{\"timestamp\": \"x\", \"input_length\": 5}\n",
                "t.trace:1: `timestamp` must be a number",
            ),
            (
                TraceFormat::Mooncake,
                "{\"timestamp\": 1}\n",
                "t.trace:1: missing `input_length` (or `input_text`)",
            ),
            (
                TraceFormat::Jsonl,
                "{\"timestamp\": 1}\n",
                "t.trace:1: missing `prompt`, `input_text` or `input_length`",
            ),
            (
                TraceFormat::Mooncake,
                "{\"timestamp\": 1, \"input_length\": 0}\n",
                "`input_length` must be at least 1",
            ),
            (
                TraceFormat::Mooncake,
                "{\"timestamp\": 1, \"input_length\": 3, \"hash_ids\": [1, -2]}\n",
                "t.trace:1: `hash_ids` must be a list",
            ),
            (
                TraceFormat::Mooncake,
                "{\"timestamp\": 1, \"input_length\": 3, \"output_length\": 0}\n",
                "`output_length` must be at least 1",
            ),
            (
                TraceFormat::Mooncake,
                "[1]\n",
                "t.trace:1: each line must be a JSON object",
            ),
            (TraceFormat::Mooncake, "\n\n", "t.trace: holds no requests"),
        ] {
            let e = load(format, body).unwrap_err();
            assert!(e.contains(needle), "`{e}` lacks `{needle}`");
        }
    }

    const BURST_HEADER: &str = "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n";

    #[test]
    fn burstgpt_rows_become_requests_and_failed_rows_are_skipped_and_counted() {
        let body = format!(
            "{BURST_HEADER}5,ChatGPT,472,18,490,Conversation log\n\
             0.5,GPT-4,100,0,100,API log\n\
             1.25,ChatGPT,30,7,37,API log\n"
        );
        let t = load(TraceFormat::BurstGpt, &body).unwrap();
        assert_eq!(t.skipped_failed, 1);
        assert_eq!(
            t.times().to_vec(),
            vec![Duration::from_millis(1250), Duration::from_secs(5)]
        );
        assert_eq!((t.prompt(0, 0).1, t.prompt(0, 0).2), (30, Some(7)));
        assert_eq!(count_tokens(&text(&t, 1)), 472);
        assert!(
            t.describe()
                .contains("2 requests over 5s; 1 rows with 0 response tokens skipped"),
            "{}",
            t.describe()
        );
        let e = load(TraceFormat::BurstGpt, &format!("{BURST_HEADER}1,GPT-4,5,0,5,API log\n")).unwrap_err();
        assert!(
            e.contains("has no request with response tokens (1 rows with 0 skipped)"),
            "{e}"
        );
    }

    #[test]
    fn bad_burstgpt_rows_name_file_and_line() {
        for (body, needle) in [
            (
                format!("{BURST_HEADER}1,ChatGPT,5,5,10,API log\n-2,ChatGPT,5,5,10,API log\n"),
                "t.trace:3: `Timestamp` is negative (-2)",
            ),
            (
                format!("{BURST_HEADER}x,ChatGPT,5,5,10,API log\n"),
                "t.trace:2: `Timestamp` must be seconds, not `x`",
            ),
            (
                format!("{BURST_HEADER}1,ChatGPT,five,5,10,API log\n"),
                "t.trace:2: `Request tokens` must be a whole number, not `five`",
            ),
            (format!("{BURST_HEADER}1,ChatGPT,5\n"), "t.trace:2: bad CSV row"),
            ("Time,Tokens\n1,2\n".to_string(), "t.trace:1: no `Timestamp` column"),
        ] {
            let e = load(TraceFormat::BurstGpt, &body).unwrap_err();
            assert!(e.contains(needle), "`{e}` lacks `{needle}`");
        }
    }
}
