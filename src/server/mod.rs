//! The server under test, started by inferload (`--server-cmd`): its
//! options and their checks ([`ServerPlan::resolve`]), the command filled
//! in for one setting ([`Instance`]: `{port}` and each `--server-param`),
//! the process's life ([`process`]: its own process group, its output in a
//! log file, readiness, SIGTERM then SIGKILL to the group, a guard that
//! stops it on every path), and the cold start ([`cold`]: time to ready and
//! the first request, measured apart from the run).
//!
//! Why a module of its own: `run` and `sweep` (and a sweep's every setting)
//! start servers the same way, and a server left running after inferload
//! exits holds a GPU; the one type that owns the process is the one place
//! that must get stopping right. The library never installs signal
//! handlers: a Ctrl-C reaches the waits here as the harness's
//! cancellation, and the commands stop the server on their way out.

use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;

pub mod cold;
pub mod process;

pub use cold::{cold_start, first_request, start, Started};
pub use process::{Ready, ServerProcess, StartError};

/// How long readiness is awaited by default: real models load slowly
/// (weights from disk or the network, CUDA graphs, warm-up).
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(20 * 60);

/// Between SIGTERM to the server's group and SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// The default log file's name (beside `--json`, else in the working
/// directory).
pub const DEFAULT_LOG: &str = "inferload-server.log";

/// The server flags as given (`run` and `sweep`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerOptions {
    /// `--server-cmd`: run through `sh -c`.
    pub cmd: Option<String>,
    /// `--server-log`.
    pub log: Option<PathBuf>,
    /// `--ready-url`.
    pub ready_url: Option<String>,
    /// `--ready-timeout`.
    pub ready_timeout: Option<Duration>,
    /// `--server-param NAME=V1,V2` (sweep only).
    pub params: Vec<String>,
}

/// A bad server flag: the message names it.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ServerError {
    #[error("{flag} needs --server-cmd")]
    NeedsCommand { flag: &'static str },
    #[error("--server-cmd is empty")]
    EmptyCommand,
    #[error("--server-param `{0}` must look like NAME=V1,V2 (e.g. seqs=16,32,64)")]
    ParamSyntax(String),
    #[error("--server-param `{0}`: the name may hold only letters, digits, `_` and `-`, and `port` is inferload's")]
    ParamName(String),
    #[error("--server-param {0} is given twice")]
    ParamTwice(String),
    #[error("--server-param {0}: a value is empty")]
    EmptyValue(String),
    #[error("--server-cmd uses {{{0}}} but no --server-param {0}=… gives it")]
    Unfilled(String),
    #[error("--server-param {0} is not used in --server-cmd (write {{{0}}} where its value goes)")]
    Unused(String),
    #[error("--server-cmd has an unclosed `{{`")]
    Unclosed,
    #[error("--server-cmd: say where the server listens: --url, or {{port}} in the command (inferload then picks a free port and fills it in)")]
    NoAddress,
    #[error("--ready-url `{0}` is not an http(s) URL")]
    ReadyUrl(String),
    #[error("--url `{0}` cannot take the port inferload picked for {{port}}")]
    UrlPort(String),
    #[error("cannot find a free port for {{port}}: {0}")]
    NoFreePort(String),
}

/// The server settings, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerPlan {
    /// The command with its `{placeholders}`.
    pub command: String,
    pub log: PathBuf,
    /// With `{port}` possibly; `None`: `/health`, then `/v1/models`.
    pub ready_url: Option<String>,
    pub ready_timeout: Duration,
    /// Each `--server-param`: name and values, in the order given.
    pub params: Vec<(String, Vec<String>)>,
    /// The command says `{port}`: inferload picks one per start.
    pub picks_port: bool,
}

impl ServerPlan {
    /// Checks the flags; `None` without `--server-cmd`. `has_url`: the
    /// run names its target (`--url`); `beside`: an output file the
    /// default log goes next to (`--json`).
    pub fn resolve(o: &ServerOptions, has_url: bool, beside: Option<&Path>) -> Result<Option<Self>, ServerError> {
        let Some(cmd) = &o.cmd else {
            for (flag, given) in [
                ("--server-log", o.log.is_some()),
                ("--ready-url", o.ready_url.is_some()),
                ("--ready-timeout", o.ready_timeout.is_some()),
                ("--server-param", !o.params.is_empty()),
            ] {
                if given {
                    return Err(ServerError::NeedsCommand { flag });
                }
            }
            return Ok(None);
        };
        if cmd.trim().is_empty() {
            return Err(ServerError::EmptyCommand);
        }
        let params = o.params.iter().map(|p| parse_param(p)).collect::<Result<Vec<_>, _>>()?;
        for (i, (name, _)) in params.iter().enumerate() {
            if params[..i].iter().any(|(n, _)| n == name) {
                return Err(ServerError::ParamTwice(name.clone()));
            }
        }
        let used = placeholders(cmd)?;
        for name in &used {
            if name != "port" && !params.iter().any(|(n, _)| n == name) {
                return Err(ServerError::Unfilled(name.clone()));
            }
        }
        for (name, _) in &params {
            if !used.contains(name) {
                return Err(ServerError::Unused(name.clone()));
            }
        }
        let picks_port = used.iter().any(|n| n == "port");
        if !picks_port && !has_url {
            return Err(ServerError::NoAddress);
        }
        if let Some(u) = &o.ready_url {
            let filled = u.replace("{port}", "1");
            match url::Url::parse(&filled) {
                Ok(p) if matches!(p.scheme(), "http" | "https") => {}
                _ => return Err(ServerError::ReadyUrl(u.clone())),
            }
        }
        let log = o.log.clone().unwrap_or_else(|| match beside.and_then(Path::parent) {
            Some(dir) if !dir.as_os_str().is_empty() => dir.join(DEFAULT_LOG),
            _ => PathBuf::from(DEFAULT_LOG),
        });
        Ok(Some(Self {
            command: cmd.clone(),
            log,
            ready_url: o.ready_url.clone(),
            ready_timeout: o.ready_timeout.unwrap_or(DEFAULT_READY_TIMEOUT),
            params,
            picks_port,
        }))
    }

    /// Every combination of the parameters' values (their cartesian
    /// product, the first parameter varying slowest); one empty setting
    /// without parameters.
    pub fn settings(&self) -> Vec<Vec<(String, String)>> {
        product(&self.params)
    }

    /// The command for one setting, ready to start: a free port picked
    /// for `{port}`, the values filled in, the URL to benchmark and to
    /// poll. `base_url` is the run's `--url`; `log` this start's log file.
    pub fn instance(
        &self,
        values: &[(String, String)],
        base_url: Option<&str>,
        log: PathBuf,
    ) -> Result<Instance, ServerError> {
        let port = if self.picks_port { Some(free_port()?) } else { None };
        let fill = |text: &str| {
            let mut out = text.to_string();
            if let Some(p) = port {
                out = out.replace("{port}", &p.to_string());
            }
            for (name, value) in values {
                out = out.replace(&format!("{{{name}}}"), value);
            }
            out
        };
        let url = match (base_url, port) {
            (Some(u), Some(p)) => {
                let mut parsed = url::Url::parse(u).map_err(|_| ServerError::UrlPort(u.to_string()))?;
                parsed
                    .set_port(Some(p))
                    .map_err(|()| ServerError::UrlPort(u.to_string()))?;
                parsed.as_str().trim_end_matches('/').to_string()
            }
            (Some(u), None) => u.to_string(),
            (None, Some(p)) => format!("http://127.0.0.1:{p}"),
            (None, None) => return Err(ServerError::NoAddress),
        };
        let ready_urls = match &self.ready_url {
            Some(u) => vec![fill(u)],
            None => vec![
                crate::url::join_url(&url, "/health", None),
                crate::url::join_url(&url, "/v1/models", None),
            ],
        };
        Ok(Instance {
            command: fill(&self.command),
            url,
            ready_urls,
            log,
            ready_timeout: self.ready_timeout,
        })
    }

    /// The log file of setting `index` (0-based) of `count`: the plan's
    /// own for one setting, else numbered beside it.
    pub fn log_for(&self, index: usize, count: usize) -> PathBuf {
        if count <= 1 {
            return self.log.clone();
        }
        let stem = self
            .log
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let ext = self
            .log
            .extension()
            .map(|e| format!(".{}", e.to_string_lossy()))
            .unwrap_or_default();
        self.log.with_file_name(format!("{stem}-{:02}{ext}", index + 1))
    }
}

/// One start of the server.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// The command as run.
    pub command: String,
    /// The base URL to benchmark.
    pub url: String,
    /// Polled in order until one answers.
    pub ready_urls: Vec<String>,
    pub log: PathBuf,
    pub ready_timeout: Duration,
}

fn parse_param(s: &str) -> Result<(String, Vec<String>), ServerError> {
    let (name, values) = s
        .split_once('=')
        .ok_or_else(|| ServerError::ParamSyntax(s.to_string()))?;
    let name = name.trim();
    if name.is_empty() || name == "port" || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err(ServerError::ParamName(name.to_string()));
    }
    let values: Vec<String> = values.split(',').map(|v| v.trim().to_string()).collect();
    if values.iter().any(String::is_empty) {
        return Err(ServerError::EmptyValue(name.to_string()));
    }
    Ok((name.to_string(), values))
}

/// The `{name}`s of a command, each once, in order. A `{` not followed by a
/// name and `}` (a shell's `${VAR}`, JSON) is left alone, but one opened
/// by a name and never closed is an error.
fn placeholders(cmd: &str) -> Result<Vec<String>, ServerError> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = cmd;
    while let Some(i) = rest.find('{') {
        let after = &rest[i + 1..];
        let name_len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(after.len());
        let preceded_by_dollar = rest[..i].ends_with('$');
        match after[name_len..].chars().next() {
            Some('}') if name_len > 0 && !preceded_by_dollar => {
                let name = after[..name_len].to_string();
                if !out.contains(&name) {
                    out.push(name);
                }
            }
            None if name_len > 0 && !preceded_by_dollar => return Err(ServerError::Unclosed),
            _ => {}
        }
        rest = after;
    }
    Ok(out)
}

fn product(params: &[(String, Vec<String>)]) -> Vec<Vec<(String, String)>> {
    let mut out = vec![Vec::new()];
    for (name, values) in params {
        out = out
            .into_iter()
            .flat_map(|prefix: Vec<(String, String)>| {
                values.iter().map(move |v| {
                    let mut s = prefix.clone();
                    s.push((name.clone(), v.clone()));
                    s
                })
            })
            .collect();
    }
    out
}

/// A port free on the loopback now (the server binds it a moment later).
fn free_port() -> Result<u16, ServerError> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| ServerError::NoFreePort(e.to_string()))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| ServerError::NoFreePort(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(cmd: &str, params: &[&str]) -> ServerOptions {
        ServerOptions {
            cmd: Some(cmd.into()),
            params: params.iter().map(|s| s.to_string()).collect(),
            ..ServerOptions::default()
        }
    }

    #[test]
    fn flags_without_a_command_are_named() {
        let o = ServerOptions {
            params: vec!["seqs=1".into()],
            ..ServerOptions::default()
        };
        assert_eq!(
            ServerPlan::resolve(&o, true, None),
            Err(ServerError::NeedsCommand { flag: "--server-param" })
        );
        let o = ServerOptions {
            ready_timeout: Some(Duration::from_secs(1)),
            ..ServerOptions::default()
        };
        assert_eq!(
            ServerPlan::resolve(&o, true, None).unwrap_err().to_string(),
            "--ready-timeout needs --server-cmd"
        );
        assert_eq!(ServerPlan::resolve(&ServerOptions::default(), false, None), Ok(None));
    }

    #[test]
    fn every_placeholder_is_given_and_every_param_used() {
        let e = ServerPlan::resolve(
            &opts("vllm serve m --max-num-seqs {seqs} --port {port}", &[]),
            false,
            None,
        );
        assert_eq!(e, Err(ServerError::Unfilled("seqs".into())));
        assert!(e.unwrap_err().to_string().contains("--server-param seqs="));
        let e = ServerPlan::resolve(&opts("serve --port {port}", &["seqs=1,2"]), false, None);
        assert_eq!(
            e.unwrap_err().to_string(),
            "--server-param seqs is not used in --server-cmd (write {seqs} where its value goes)"
        );
        assert_eq!(
            ServerPlan::resolve(&opts("serve {port}", &["seqs=1", "seqs=2"]), false, None),
            Err(ServerError::ParamTwice("seqs".into()))
        );
        assert_eq!(
            ServerPlan::resolve(&opts("serve {port}", &["seqs"]), false, None),
            Err(ServerError::ParamSyntax("seqs".into()))
        );
        assert_eq!(
            ServerPlan::resolve(&opts("serve {port}", &["seqs=1,,2"]), false, None),
            Err(ServerError::EmptyValue("seqs".into()))
        );
        assert_eq!(
            ServerPlan::resolve(&opts("serve {port}", &["port=1"]), false, None),
            Err(ServerError::ParamName("port".into()))
        );
        assert_eq!(
            ServerPlan::resolve(&opts("serve --port {port", &[]), false, None),
            Err(ServerError::Unclosed)
        );
        assert_eq!(
            ServerPlan::resolve(&opts("  ", &[]), true, None),
            Err(ServerError::EmptyCommand)
        );
    }

    #[test]
    fn shell_braces_are_not_placeholders() {
        let p = ServerPlan::resolve(&opts("X=${HOME} serve --port 8000 '{\"a\": 1}'", &[]), true, None)
            .unwrap()
            .unwrap();
        assert!(!p.picks_port);
    }

    #[test]
    fn the_server_must_listen_somewhere_known() {
        assert_eq!(
            ServerPlan::resolve(&opts("vllm serve m", &[]), false, None),
            Err(ServerError::NoAddress)
        );
        assert!(ServerPlan::resolve(&opts("vllm serve m", &[]), true, None)
            .unwrap()
            .is_some());
        let bad = ServerOptions {
            ready_url: Some("ftp://x".into()),
            ..opts("serve {port}", &[])
        };
        assert_eq!(
            ServerPlan::resolve(&bad, false, None),
            Err(ServerError::ReadyUrl("ftp://x".into()))
        );
    }

    #[test]
    fn settings_are_the_cartesian_product_and_fill_the_command() {
        let p = ServerPlan::resolve(
            &opts(
                "sim --port {port} --max-num-seqs {seqs} --kv {kv}",
                &["seqs=4,16", "kv=1000,2000,3000"],
            ),
            false,
            Some(Path::new("out/sweep.json")),
        )
        .unwrap()
        .unwrap();
        assert_eq!(p.log, Path::new("out").join(DEFAULT_LOG));
        let settings = p.settings();
        assert_eq!(settings.len(), 6);
        assert_eq!(
            settings[1],
            vec![("seqs".into(), "4".into()), ("kv".into(), "2000".into())]
        );
        let i = p.instance(&settings[5], None, p.log_for(5, 6)).unwrap();
        let port = i.url.rsplit(':').next().unwrap().to_string();
        assert_eq!(i.command, format!("sim --port {port} --max-num-seqs 16 --kv 3000"));
        assert_eq!(i.ready_urls[0], format!("http://127.0.0.1:{port}/health"));
        assert_eq!(i.log, Path::new("out").join("inferload-server-06.log"));
        // A --url keeps its host and path and takes the port.
        let i = p
            .instance(&settings[0], Some("http://localhost:1/base"), p.log.clone())
            .unwrap();
        assert!(
            i.url.starts_with("http://localhost:") && i.url.ends_with("/base"),
            "{}",
            i.url
        );
        assert!(!i.url.contains(":1/"));
    }
}
