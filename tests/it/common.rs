//! Shared helpers: start the simulator on 127.0.0.1:0, run the built binary
//! with a hard time bound, read its JSON outputs.

#![allow(dead_code)]

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use inferload::sim::{self, SimConfig, SimHandle};

/// A reqwest client builder for tests that talk HTTP to the simulator
/// themselves (reqwest has no TLS provider until inferload installs one).
pub fn http_client() -> reqwest::ClientBuilder {
    inferload::engine::client::install_crypto_provider();
    reqwest::Client::builder()
}

/// What a finished `inferload` process printed.
#[derive(Debug)]
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// The history database of every binary a test spawns (unless it passes
/// `--db`): one per test process under Cargo's scratch directory, so no
/// test records into the user's own history.
pub fn test_db() -> &'static Path {
    static DB: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    DB.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("it-history-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("history.db")
    })
}

pub fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_inferload"));
    // Tests choose their own key; never inherit one.
    cmd.env_remove("OPENAI_API_KEY");
    // Nor a Hugging Face cache, token or hub: a test's tokenizer is a file
    // it made, and no test downloads.
    cmd.env("HF_HUB_OFFLINE", "1");
    cmd.env(
        "HF_HUB_CACHE",
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("it-empty-hf-cache"),
    );
    cmd.env_remove("HF_TOKEN");
    cmd.env_remove("HF_ENDPOINT");
    cmd.env_remove("HF_HOME");
    cmd.env("INFERLOAD_DB", test_db());
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

/// Spawns the binary with `args`.
pub fn spawn(args: &[&str]) -> Child {
    bin().args(args).spawn().expect("spawn inferload")
}

/// Waits for a child for at most `limit`, killing it past that.
pub fn wait(mut child: Child, limit: Duration) -> Output {
    let start = Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status.code();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("inferload did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut s) = child.stdout.take() {
        let _ = s.read_to_string(&mut stdout);
    }
    if let Some(mut s) = child.stderr.take() {
        let _ = s.read_to_string(&mut stderr);
    }
    Output { code, stdout, stderr }
}

/// Runs the binary to completion (at most 60 s).
pub fn run(args: &[&str]) -> Output {
    wait(spawn(args), Duration::from_secs(60))
}

/// Runs the binary off the async runtime, so an in-process simulator keeps
/// serving while the test waits.
pub async fn run_async(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&args)
    })
    .await
    .expect("join")
}

pub async fn start_sim(config: SimConfig) -> SimHandle {
    sim::start(config).await.expect("start simulator")
}

pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// Builds an argument vector from string-likes.
#[macro_export]
macro_rules! args {
    ($($a:expr),* $(,)?) => { vec![$($a.to_string()),*] };
}

/// Interrupts a running `inferload` with SIGINT (Ctrl-C) once `ready`
/// holds — polled every 20 ms for at most 30 s — and waits for it to end.
/// Runs off the async runtime, so an in-process simulator keeps serving.
pub async fn interrupt_when(child: Child, ready: impl Fn() -> bool + Send + 'static) -> Output {
    signal_when(child, libc::SIGINT, ready).await
}

/// Sends `signal` to a running `inferload` once `ready` holds, as
/// [`interrupt_when`] does with SIGINT.
pub async fn signal_when(child: Child, signal: i32, ready: impl Fn() -> bool + Send + 'static) -> Output {
    tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        while !ready() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the run never got ready to interrupt"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe { libc::kill(child.id() as i32, signal) };
        wait(child, Duration::from_secs(30))
    })
    .await
    .expect("join")
}

/// Lines in a file so far (0 while it does not exist).
pub fn lines_in(path: &Path) -> usize {
    std::fs::read_to_string(path).map(|t| t.lines().count()).unwrap_or(0)
}

/// Errors of a run document against the committed schema (formats too).
pub fn schema_errors(doc: &serde_json::Value) -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/schema/run.schema.json");
    let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the committed schema compiles");
    validator
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}
