//! The settings a sweep measures one after another: the server's
//! (`--server-param NAME=V1,V2`, filling `{NAME}` in `--server-cmd`, the
//! server restarted for each) and the workload's (`--bench-param
//! KEY=V1,V2`, KEY any run option, as vLLM's `bench sweep serve` takes
//! bench parameters). Every combination is one setting, measured with the
//! whole load ladder.
//!
//! A bench parameter's value becomes a [`RunOptions`] layer, the same kind
//! a scenario file's table, a compare strategy or a task makes, put over
//! what the user typed; the plan is then resolved as any other, so any run
//! option works and a bad key or value fails with the option named.

use crate::doc::server::Param;
use crate::plan::RunOptions;

/// The option tables a key is looked up in, in order.
const TABLES: [&str; 6] = ["target", "load", "workload", "objectives", "output", "monitor"];

/// A bad `--bench-param`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BenchParamError {
    #[error("--bench-param `{0}` must look like KEY=V1,V2 (e.g. random-prefix-len=0,1024)")]
    Syntax(String),
    #[error("--bench-param {0}: a value is empty")]
    EmptyValue(String),
    #[error("--bench-param {0} is given twice")]
    Twice(String),
    #[error("--bench-param {0}: not a run option (use a `run` flag's name, e.g. random-prefix-len, turns, input-len, output-len)")]
    UnknownKey(String),
    #[error("--bench-param {key}={value}: {cause}")]
    Value { key: String, value: String, cause: String },
}

/// One `--bench-param`: the key as given and its values.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchParam {
    pub key: String,
    pub values: Vec<String>,
}

/// Parses every `--bench-param` and checks each value makes a layer.
pub fn parse_bench_params(args: &[String]) -> Result<Vec<BenchParam>, BenchParamError> {
    let mut out: Vec<BenchParam> = Vec::new();
    for a in args {
        let (key, values) = a.split_once('=').ok_or_else(|| BenchParamError::Syntax(a.clone()))?;
        let key = key.trim().trim_start_matches("--").to_string();
        if key.is_empty() {
            return Err(BenchParamError::Syntax(a.clone()));
        }
        let values: Vec<String> = values.split(',').map(|v| v.trim().to_string()).collect();
        if values.iter().any(String::is_empty) {
            return Err(BenchParamError::EmptyValue(key));
        }
        if out.iter().any(|p| p.key == key) {
            return Err(BenchParamError::Twice(key));
        }
        for v in &values {
            layer(&key, v)?;
        }
        out.push(BenchParam { key, values });
    }
    Ok(out)
}

/// The options layer saying `key = value` (`random-prefix-len` is
/// `workload.random_prefix_len`): the value is read as a number or a
/// boolean when it is one, else as text, and as a one-item list where the
/// option is a list.
pub fn layer(key: &str, value: &str) -> Result<RunOptions, BenchParamError> {
    let field = key.replace('-', "_");
    let scalar = if let Ok(i) = value.parse::<i64>() {
        serde_json::json!(i)
    } else if let Ok(f) = value.parse::<f64>() {
        serde_json::json!(f)
    } else if let Ok(b) = value.parse::<bool>() {
        serde_json::json!(b)
    } else {
        serde_json::json!(value)
    };
    for table in TABLES {
        let try_one = |v: serde_json::Value| {
            serde_json::from_value::<RunOptions>(serde_json::json!({ table: { field.clone(): v } }))
        };
        match try_one(scalar.clone()) {
            Ok(o) => return Ok(o),
            Err(e) if e.to_string().contains("unknown field") => continue,
            Err(e) => {
                // A list option (`slo`, `metadata`) takes the value as one item;
                // a text option takes a number as its text.
                if let Ok(o) = try_one(serde_json::json!([scalar.clone()])) {
                    return Ok(o);
                }
                if let Ok(o) = try_one(serde_json::json!(value)) {
                    return Ok(o);
                }
                return Err(BenchParamError::Value {
                    key: key.to_string(),
                    value: value.to_string(),
                    cause: e.to_string(),
                });
            }
        }
    }
    Err(BenchParamError::UnknownKey(key.to_string()))
}

/// One setting: its name-value pairs (server ones first) and the label
/// `seqs=16, random-prefix-len=1024`.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    pub server: Vec<(String, String)>,
    pub bench: Vec<(String, String)>,
}

impl Setting {
    pub fn label(&self) -> String {
        let all: Vec<String> = self
            .server
            .iter()
            .chain(&self.bench)
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if all.is_empty() {
            "default".into()
        } else {
            all.join(", ")
        }
    }

    pub fn params(&self) -> Vec<Param> {
        let p = |kind: &str| {
            let kind = kind.to_string();
            move |(name, value): &(String, String)| Param {
                name: name.clone(),
                value: value.clone(),
                kind: kind.clone(),
            }
        };
        self.server
            .iter()
            .map(p("server"))
            .chain(self.bench.iter().map(p("bench")))
            .collect()
    }

    /// The bench parameters as one options layer.
    pub fn bench_layer(&self) -> Result<RunOptions, BenchParamError> {
        let mut o = RunOptions::default();
        for (k, v) in &self.bench {
            o.merge(layer(k, v)?);
        }
        Ok(o)
    }
}

/// Every combination: server settings × bench settings (the server
/// varying slowest, so it restarts as rarely as the order allows).
pub fn combine(server: &[Vec<(String, String)>], bench: &[BenchParam]) -> Vec<Setting> {
    let mut benches = vec![Vec::new()];
    for p in bench {
        benches = benches
            .into_iter()
            .flat_map(|prefix: Vec<(String, String)>| {
                p.values.iter().map(move |v| {
                    let mut s = prefix.clone();
                    s.push((p.key.clone(), v.clone()));
                    s
                })
            })
            .collect();
    }
    let servers: Vec<Vec<(String, String)>> = if server.is_empty() {
        vec![Vec::new()]
    } else {
        server.to_vec()
    };
    servers
        .iter()
        .flat_map(|s| {
            benches.iter().map(move |b| Setting {
                server: s.clone(),
                bench: b.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bench_param_is_any_run_option() {
        let o = layer("random-prefix-len", "1024").unwrap();
        assert_eq!(o.workload.random_prefix_len, Some(1024));
        let o = layer("output-len", "32").unwrap();
        assert!(o.sets("workload.output_len"));
        let o = layer("turns", "4").unwrap();
        assert!(o.sets("load.turns"));
        let o = layer("slo", "ttft_p90<500ms").unwrap();
        assert!(o.sets("objectives.slo"));
    }

    #[test]
    fn bad_bench_params_name_the_key_and_value() {
        assert_eq!(
            parse_bench_params(&["random-prefix-len".into()]),
            Err(BenchParamError::Syntax("random-prefix-len".into()))
        );
        assert_eq!(
            parse_bench_params(&["no-such-option=1".into()]),
            Err(BenchParamError::UnknownKey("no-such-option".into()))
        );
        let e = parse_bench_params(&["random-prefix-len=12,lots".into()]).unwrap_err();
        assert!(
            e.to_string().starts_with("--bench-param random-prefix-len=lots: "),
            "{e}"
        );
        assert_eq!(
            parse_bench_params(&["turns=1".into(), "turns=2".into()]),
            Err(BenchParamError::Twice("turns".into()))
        );
        assert_eq!(
            parse_bench_params(&["turns=1,".into()]),
            Err(BenchParamError::EmptyValue("turns".into()))
        );
    }

    #[test]
    fn settings_combine_server_and_bench_values() {
        let bench = parse_bench_params(&["random-prefix-len=0,1024".into()]).unwrap();
        let server = vec![
            vec![("seqs".to_string(), "4".to_string())],
            vec![("seqs".to_string(), "16".to_string())],
        ];
        let all = combine(&server, &bench);
        assert_eq!(all.len(), 4);
        assert_eq!(all[1].label(), "seqs=4, random-prefix-len=1024");
        assert_eq!(all[1].params()[0].kind, "server");
        assert_eq!(all[1].params()[1].kind, "bench");
        assert_eq!(all[3].bench_layer().unwrap().workload.random_prefix_len, Some(1024));
        assert_eq!(combine(&[], &[]).len(), 1);
        assert_eq!(combine(&[], &[])[0].label(), "default");
    }
}
