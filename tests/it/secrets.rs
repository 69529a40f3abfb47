//! Secrets against a hostile server: one that answers every generation
//! request with a 401 echoing the credential it received (as OpenAI's
//! "Incorrect API key provided: sk-…" does), the whole request line with
//! its query string, and any cookie. Whatever the user's key looks like —
//! a bearer token in `--header`, a Basic credential, a key in the URL's
//! query — it must appear in no console line, no output file, and not in
//! the history nor what `show` prints from it.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::json;

use crate::args;
use crate::common::*;

/// What the hostile server saw: every request's path and query.
type Seen = Arc<Mutex<Vec<String>>>;

/// The credential a request carried, as a server would echo it: the token
/// after the scheme, a Basic credential decoded, the other headers whole.
fn presented(headers: &HeaderMap) -> String {
    let mut out = Vec::new();
    if let Some(v) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
        let (scheme, token) = v.split_once(' ').unwrap_or(("", v));
        out.push(token.to_string());
        if scheme.eq_ignore_ascii_case("basic") {
            if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(token) {
                out.push(String::from_utf8_lossy(&bytes).into_owned());
            }
        }
    }
    for name in ["x-api-key", "api-key", "cookie"] {
        if let Some(v) = headers.get(name).and_then(|v| v.to_str().ok()) {
            out.push(v.to_string());
            // A cookie's value alone, as a server naming the bad session would.
            out.extend(
                v.split(';')
                    .filter_map(|c| c.split_once('='))
                    .map(|(_, v)| v.to_string()),
            );
        }
    }
    out.join(" / ")
}

/// A server that lists one model (so the run starts), unless the path
/// starts with `/strict`, and answers everything else with a 401 echoing
/// the credentials and the request's path and query.
async fn start_echoing() -> (SocketAddr, Seen) {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let app = Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
        let log = log.clone();
        async move {
            let target = uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_default();
            log.lock().unwrap().push(target.clone());
            if uri.path() == "/v1/models" {
                return Json(json!({"object": "list", "data": [{"id": "echo-model", "object": "model"}]}))
                    .into_response();
            }
            let message = format!("Incorrect API key provided: {}. Request: {target}", presented(&headers));
            let body = json!({"error": {"message": message, "type": "invalid_request_error",
                                         "code": "invalid_api_key"}});
            (StatusCode::UNAUTHORIZED, Json(body)).into_response() as Response
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, seen)
}

/// Every output a run can write, into `dir`, plus the history in `dir`.
fn every_output(dir: &Path) -> Vec<String> {
    let p = |name: &str| dir.join(name).display().to_string();
    args![
        "-n",
        6,
        "-c",
        2,
        "--output-len",
        4,
        "--show-samples",
        3,
        "--json",
        p("run.json"),
        "--records",
        p("rec.jsonl"),
        "--csv",
        p("run.csv"),
        "--markdown",
        p("run.md"),
        "--html",
        p("run.html"),
        "--save-result",
        "--result-dir",
        dir.display(),
        "--result-filename",
        "vllm.json",
        "--db",
        p("history.db")
    ]
}

/// Fails naming where any of `secrets` shows: the console of every
/// command run, and every file under `dir` (the history database too).
fn assert_nowhere(secrets: &[&str], outputs: &[&Output], dir: &Path) {
    for s in secrets {
        for out in outputs {
            assert!(!out.all().contains(s), "`{s}` on the console:\n{}", out.all());
        }
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
                "`{s}` in {}",
                path.display()
            );
        }
    }
}

/// `show` and `history` on the run just recorded in `dir/history.db`.
async fn from_the_history(dir: &Path) -> Vec<Output> {
    let db = dir.join("history.db").display().to_string();
    let mut outs = Vec::new();
    for a in [
        args!["history", "--db", db],
        args!["show", 1, "--db", db],
        args!["show", 1, "--json", "--db", db],
    ] {
        let out = run_async(a).await;
        assert_eq!(out.code, Some(0), "{}", out.all());
        outs.push(out);
    }
    outs
}

/// The run happened and met the echo: the records hold the server's 401
/// with the credential scrubbed out of it.
fn assert_echo_was_scrubbed(dir: &Path) {
    let records = std::fs::read_to_string(dir.join("rec.jsonl")).unwrap();
    assert!(
        records.contains("Incorrect API key provided: ***"),
        "the server's echo is in the records, scrubbed:\n{records}"
    );
    assert!(dir.join("run.json").is_file() && dir.join("vllm.json").is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bearer_token_in_a_header_is_scrubbed_from_every_output_when_echoed() {
    let (addr, _) = start_echoing().await;
    let dir = tempfile::tempdir().unwrap();
    let token = "sk-h2-bearer-0a1b2c3d4e5f";
    let other = "xk-h2-apikey-9f8e7d6c";
    let session = "sess-h2-cookie-55aa77";
    let mut a = args![
        "run",
        "--url",
        format!("http://{addr}"),
        "--header",
        format!("Authorization: Bearer {token}"),
        "--header",
        format!("api-key: {other}"),
        "--header",
        format!("Cookie: theme=dark; session={session}")
    ];
    a.extend(every_output(dir.path()));
    let run = run_async(a).await;
    assert_echo_was_scrubbed(dir.path());
    let mut outs = vec![run];
    outs.extend(from_the_history(dir.path()).await);
    assert_nowhere(&[token, other, session], &outs.iter().collect::<Vec<_>>(), dir.path());

    // The same key refused at the preflight: its message names no key either.
    let strict = run_async(args![
        "run",
        "--url",
        format!("http://{addr}/strict"),
        "--header",
        format!("Authorization: Bearer {token}"),
        "-n",
        2,
        "--no-history"
    ])
    .await;
    assert_ne!(strict.code, Some(0), "{}", strict.all());
    assert!(strict.stderr.contains("401"), "{}", strict.stderr);
    assert!(!strict.all().contains(token), "{}", strict.all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_basic_credential_is_scrubbed_decoded_too() {
    let (addr, _) = start_echoing().await;
    let dir = tempfile::tempdir().unwrap();
    let password = "pw-h2-basic-31415926";
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("loadtester:{password}"));
    let mut a = args![
        "run",
        "--url",
        format!("http://{addr}"),
        "--header",
        format!("Authorization: Basic {basic}")
    ];
    a.extend(every_output(dir.path()));
    let run = run_async(a).await;
    assert_echo_was_scrubbed(dir.path());
    let mut outs = vec![run];
    outs.extend(from_the_history(dir.path()).await);
    assert_nowhere(&[password, &basic], &outs.iter().collect::<Vec<_>>(), dir.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_in_the_url_is_scrubbed_from_every_output() {
    let (addr, _) = start_echoing().await;
    let dir = tempfile::tempdir().unwrap();
    let key = "qk-h2-query-271828182";
    let token = "qt-h2-token-161803398";
    let mut a = args![
        "run",
        "--url",
        format!("http://{addr}/v1?api_key={key}&api-version=2024-06-01&access_token={token}")
    ];
    a.extend(every_output(dir.path()));
    let run = run_async(a).await;
    let records = std::fs::read_to_string(dir.path().join("rec.jsonl")).unwrap();
    assert!(
        records.contains("Incorrect API key provided"),
        "{}\n{records}",
        run.all()
    );
    let mut outs = vec![run];
    outs.extend(from_the_history(dir.path()).await);
    assert_nowhere(&[key, token], &outs.iter().collect::<Vec<_>>(), dir.path());

    // Refused at the preflight: the message names neither.
    let strict = run_async(args![
        "run",
        "--url",
        format!("http://{addr}/strict?key={key}"),
        "-n",
        2,
        "--no-history"
    ])
    .await;
    assert_ne!(strict.code, Some(0), "{}", strict.all());
    assert!(!strict.all().contains(key), "{}", strict.all());
}

/// A URL with a query string: the API path goes before the query, on the
/// preflight's `/v1/models` and on every request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_in_the_url_is_kept_on_every_request() {
    let (addr, seen) = start_echoing().await;
    let out = run_async(args![
        "run",
        "--url",
        format!("http://{addr}/v1?api-version=2024-06-01"),
        "-n",
        3,
        "-c",
        1,
        "--no-history",
        "--no-monitor"
    ])
    .await;
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.len() >= 4,
        "a preflight and three requests: {seen:?}\n{}",
        out.all()
    );
    assert_eq!(seen[0], "/v1/models?api-version=2024-06-01");
    let requests: Vec<&String> = seen.iter().filter(|s| s.contains("/chat/")).collect();
    assert_eq!(requests.len(), 3, "{seen:?}");
    for r in requests {
        assert_eq!(r, "/v1/chat/completions?api-version=2024-06-01");
    }
}
