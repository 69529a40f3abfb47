//! The live dashboard, driven in a real terminal: the built binary runs in a
//! detached tmux session (its own server socket in a temporary directory)
//! while the test reads the screen with `capture-pane` and types keys with
//! `send-keys`. Needs `tmux` on the PATH (installed by `scripts/test`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output as ProcOutput, Stdio};
use std::time::{Duration, Instant};

use crate::args;
use crate::common::*;

/// A tmux server of our own, killed when the test ends, pass or fail.
struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    /// Starts `shell` in a detached 120×40 session.
    fn start(dir: &Path, shell: &str) -> Self {
        let tmux = Self {
            socket: dir.join("tmux.sock"),
        };
        let out = tmux.run(&["new-session", "-d", "-x", "120", "-y", "40", shell]);
        assert!(
            out.status.success(),
            "tmux new-session failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        tmux
    }

    fn run(&self, args: &[&str]) -> ProcOutput {
        Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("-f")
            .arg("/dev/null")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("tmux is required for the dashboard tests (apt-get install -y tmux)")
    }

    /// The visible screen and the scrollback above it.
    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-S", "-300"]).stdout).into_owned()
    }

    fn keys(&self, keys: &str) {
        self.run(&["send-keys", keys]);
    }

    /// Polls the screen until `ok` holds, for at most `limit`.
    fn wait_for(&self, what: &str, limit: Duration, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if ok(&screen) {
                return screen;
            }
            assert!(
                start.elapsed() < limit,
                "no {what} within {limit:?}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

/// The shell line tmux runs: the binary, then its exit status and whether
/// the terminal is back in cooked mode (raw mode clears `icanon`).
fn shell_line(args: &[String]) -> String {
    let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    format!(
        "env -u OPENAI_API_KEY '{}' {}; echo inferload-exit=$?; \
         if stty -a | grep -q -- -icanon; then echo tty=raw; else echo tty=cooked; fi; sleep 600",
        env!("CARGO_BIN_EXE_inferload"),
        quoted.join(" ")
    )
}

/// The count on the dashboard's `finished` line.
fn finished(screen: &str) -> u64 {
    screen
        .lines()
        .find_map(|l| l.split("finished").nth(1)?.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// `q` stops a long run from the dashboard as Ctrl-C would: the terminal is
/// restored, the summary printed, the JSON written with `interrupted`, and
/// the exit status is 130.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn q_stops_the_run_and_every_output_is_written() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(20), Duration::from_millis(5))).await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let line = shell_line(&args![
        "run",
        "--url",
        sim.url(),
        "--tui",
        "-n",
        100000,
        "-c",
        8,
        "--output-len",
        20,
        "--json",
        json.display(),
        "--no-history"
    ]);
    let dir_path = dir.path().to_path_buf();
    let (screen, done) = tokio::task::spawn_blocking(move || {
        let tmux = Tmux::start(&dir_path, &line);
        let live = tmux.wait_for("dashboard with finished requests", Duration::from_secs(30), |s| {
            s.contains("inferload · live")
                && s.contains("Throughput")
                && s.contains("Latency so far")
                && s.contains("Errors by class")
                && finished(s) > 0
        });
        assert!(live.contains("/100000 requests"), "{live}");
        assert!(live.contains("ETA"), "{live}");
        tmux.keys("q");
        let done = tmux.wait_for("exit after q", Duration::from_secs(30), |s| s.contains("tty="));
        (live, done)
    })
    .await
    .unwrap();
    sim.shutdown().await;
    eprintln!("the dashboard before `q`:\n{screen}");
    assert!(done.contains("inferload-exit=130"), "{done}");
    assert!(
        done.contains("tty=cooked"),
        "the terminal was left in raw mode:\n{done}"
    );
    assert!(done.contains("Interrupted from the dashboard"), "{done}");
    assert!(
        done.contains("Serving Benchmark Result"),
        "no summary after the dashboard:\n{done}"
    );
    assert!(
        !done.contains("inferload · live"),
        "the dashboard stayed on screen:\n{done}"
    );
    let doc = read_json(&json);
    assert_eq!(doc["interrupted"], true, "{doc}");
}

/// Ctrl-C is a key in raw mode: the first stops sending and says so on the
/// dashboard, the second cancels the requests in flight at once instead of
/// waiting out the grace period.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_twice_cancels_what_is_in_flight() {
    // Every request takes 20 ms + 400 × 50 ms = 20 s: all still in flight.
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(20), Duration::from_millis(50))).await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let line = shell_line(&args![
        "run",
        "--url",
        sim.url(),
        "--tui",
        "-n",
        1000,
        "-c",
        4,
        "--output-len",
        400,
        "--ignore-eos",
        "--grace",
        "10m",
        "--json",
        json.display(),
        "--no-history"
    ]);
    let dir_path = dir.path().to_path_buf();
    let done = tokio::task::spawn_blocking(move || {
        let tmux = Tmux::start(&dir_path, &line);
        tmux.wait_for("four requests in flight", Duration::from_secs(30), |s| {
            s.lines().any(|l| l.contains("in flight") && l.contains(" 4 "))
        });
        tmux.keys("C-c");
        tmux.wait_for("the stopping notice", Duration::from_secs(10), |s| {
            s.contains("Stopping: no new requests; waiting up to 10m")
                || s.contains("Stopping: no new requests; waiting up to 600s")
        });
        tmux.keys("C-c");
        tmux.wait_for("exit after the second Ctrl-C", Duration::from_secs(15), |s| {
            s.contains("tty=")
        })
    })
    .await
    .unwrap();
    sim.shutdown().await;
    assert!(done.contains("inferload-exit=130"), "{done}");
    assert!(done.contains("tty=cooked"), "{done}");
    assert!(done.contains("requests in flight were cancelled"), "{done}");
    assert!(
        done.contains("4 request(s) were still running when the run stopped"),
        "{done}"
    );
    assert_eq!(read_json(&json)["interrupted"], true);
}

/// With stdout piped, `--tui` draws nothing: no escape sequence anywhere,
/// and the run ends as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tui_draws_nothing_when_stdout_is_not_a_terminal() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(5), Duration::from_millis(1))).await;
    let out = run_async(args![
        "run",
        "--url",
        sim.url(),
        "--tui",
        "-n",
        20,
        "-c",
        4,
        "--output-len",
        8,
        "--no-history"
    ])
    .await;
    sim.shutdown().await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(
        !out.all().contains('\u{1b}'),
        "escape codes in the output:\n{:?}",
        out.all()
    );
    assert!(!out.all().contains("inferload · live"), "{}", out.all());
    assert!(out.stdout.contains("Serving Benchmark Result"), "{}", out.stdout);
}
