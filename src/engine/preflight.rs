//! The check made before any load is sent: is the target reachable, does it
//! accept our credentials, and which model do we benchmark?
//!
//! It asks `GET /v1/models` once. A dead server, a refused key or a model
//! the server does not serve fails the run here, with one line naming the
//! cause, instead of as a hundred identical request errors.
//!
//! [`check_target`] picks the check by API: the OpenAI APIs (images
//! included) list models as above; TGI describes itself at `GET /info`
//! (`model_id`), and a `--model` given is taken as a label; a plain `http`
//! API has no model list, so only reachability is checked (`GET` on the
//! URL's origin: any HTTP answer will do) and the model is `--model`, else
//! the API's name.
//!
//! Each attempt is limited by the request `--timeout`. With
//! `--ready-check-timeout-sec N` ([`Readiness::wait`]) a server that is not
//! up yet (unreachable, or answering 5xx while it loads) is asked again
//! every half second until it answers or N seconds have passed, as vLLM's
//! ready check waits for a starting server.

use std::time::Duration;

use reqwest::header::HeaderMap;
use serde::Deserialize;
use thiserror::Error;

use crate::api::error_message;
use crate::redact::Redactor;

#[derive(Debug, Error)]
pub enum PreflightError {
    #[error("cannot reach {url}: {cause}")]
    Unreachable { url: String, cause: String },
    #[error("{url} refused the credentials (HTTP {status}: {message}); check --api-key or OPENAI_API_KEY")]
    Unauthorized { url: String, status: u16, message: String },
    #[error("model `{model}` is not served by {url} (it serves: {available})")]
    UnknownModel {
        model: String,
        url: String,
        available: String,
    },
    #[error("no --model given and {url} lists no model; give --model")]
    NoModel { url: String },
    #[error("{url} answered HTTP {status}: {message}")]
    Status { url: String, status: u16, message: String },
}

/// How long the check may take: each attempt's limit, and how long to keep
/// trying while the server is not ready.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Readiness {
    pub attempt_limit: Duration,
    /// `None` or zero: one attempt.
    pub wait: Option<Duration>,
}

impl Default for Readiness {
    fn default() -> Self {
        Self {
            attempt_limit: Duration::from_secs(15),
            wait: None,
        }
    }
}

impl Readiness {
    /// Attempts limited by `attempt_limit` (the request timeout), repeated
    /// for up to `wait` while the server is not ready.
    pub fn new(attempt_limit: Duration, wait: Option<Duration>) -> Self {
        Self { attempt_limit, wait }
    }
}

/// Time between readiness attempts.
const READY_RETRY: Duration = Duration::from_millis(500);

impl PreflightError {
    /// A server that is not up yet: worth asking again while waiting.
    fn not_ready(&self) -> bool {
        match self {
            Self::Unreachable { .. } => true,
            Self::Status { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

#[derive(Deserialize)]
struct ModelList {
    #[serde(default)]
    data: Vec<ModelEntry>,
}

#[derive(Deserialize)]
struct ModelEntry {
    id: String,
}

/// Checks the target and returns the model to benchmark.
pub async fn preflight(
    client: &reqwest::Client,
    base_url: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    model: Option<&str>,
    redactor: &Redactor,
    limit: Duration,
) -> Result<String, PreflightError> {
    let url = crate::url::join_url(base_url, "/v1/models", query);
    let resp = client
        .get(&url)
        .headers(headers.clone())
        .timeout(limit)
        .send()
        .await
        .map_err(|e| PreflightError::Unreachable {
            url: base_url.to_string(),
            cause: redactor.redact(&root_cause(&e)),
        })?;
    let status = resp.status().as_u16();
    let body = resp.bytes().await.unwrap_or_default();
    match status {
        401 | 403 => {
            return Err(PreflightError::Unauthorized {
                url: base_url.to_string(),
                status,
                message: redactor.redact(&error_message(&body)),
            })
        }
        // A server without a model list (4xx) is fine when the model is
        // given; a failing one (5xx) would fail every request too.
        s if (400..500).contains(&s) && model.is_some() => return Ok(model.unwrap_or_default().to_string()),
        s if !(200..300).contains(&s) => {
            return Err(PreflightError::Status {
                url: url.clone(),
                status: s,
                message: redactor.redact(&error_message(&body)),
            });
        }
        _ => {}
    }
    let listed: Vec<String> = serde_json::from_slice::<ModelList>(&body)
        .map(|l| l.data.into_iter().map(|m| m.id).collect())
        .unwrap_or_default();
    match model {
        Some(m) if listed.is_empty() || listed.iter().any(|l| l == m) => Ok(m.to_string()),
        Some(m) => Err(PreflightError::UnknownModel {
            model: m.to_string(),
            url: base_url.to_string(),
            available: listed.join(", "),
        }),
        None => listed.into_iter().next().ok_or(PreflightError::NoModel {
            url: base_url.to_string(),
        }),
    }
}

/// Checks the target the way its API allows and returns the model (or
/// label) to benchmark; see the module docs. While the server is not ready
/// it is asked again until `readiness.wait` has passed.
#[allow(clippy::too_many_arguments)]
pub async fn check_target(
    client: &reqwest::Client,
    api: crate::api::ApiKind,
    base_url: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    model: Option<&str>,
    redactor: &Redactor,
    readiness: Readiness,
) -> Result<String, PreflightError> {
    let deadline = readiness.wait.map(|w| tokio::time::Instant::now() + w);
    loop {
        let limit = match deadline {
            Some(d) => readiness
                .attempt_limit
                .min(d.saturating_duration_since(tokio::time::Instant::now()))
                .max(Duration::from_millis(100)),
            None => readiness.attempt_limit,
        };
        match check_once(client, api, base_url, query, headers, model, redactor, limit).await {
            Err(e) if e.not_ready() && deadline.is_some_and(|d| tokio::time::Instant::now() + READY_RETRY < d) => {
                tokio::time::sleep(READY_RETRY).await;
            }
            other => return other,
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn check_once(
    client: &reqwest::Client,
    api: crate::api::ApiKind,
    base_url: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    model: Option<&str>,
    redactor: &Redactor,
    limit: Duration,
) -> Result<String, PreflightError> {
    use crate::api::ApiKind;
    match api {
        ApiKind::OpenaiChat | ApiKind::OpenaiCompletions | ApiKind::OpenaiImages => {
            preflight(client, base_url, query, headers, model, redactor, limit).await
        }
        ApiKind::Tgi => {
            let info = crate::url::join_url(base_url, "/info", query);
            let (status, body) = probe(client, &info, base_url, headers, redactor, limit).await?;
            let served = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("model_id").and_then(|m| m.as_str()).map(str::to_string));
            match (model, served) {
                (Some(m), _) => Ok(m.to_string()),
                (None, Some(m)) if (200..300).contains(&status) => Ok(m),
                (None, _) => Ok("tgi".to_string()),
            }
        }
        ApiKind::Http | ApiKind::HttpAsync => {
            let origin = url::Url::parse(base_url)
                .map(|u| u.origin().ascii_serialization())
                .unwrap_or_else(|_| base_url.to_string());
            probe(
                client,
                &crate::url::join_url(&origin, "/", query),
                base_url,
                headers,
                redactor,
                limit,
            )
            .await?;
            Ok(model.map_or_else(|| api.name().to_string(), str::to_string))
        }
    }
}

/// `GET url`: the status and body of any HTTP answer; unreachable and
/// refused credentials (401, 403) fail.
async fn probe(
    client: &reqwest::Client,
    url: &str,
    base_url: &str,
    headers: &HeaderMap,
    redactor: &Redactor,
    limit: Duration,
) -> Result<(u16, bytes::Bytes), PreflightError> {
    let resp = client
        .get(url)
        .headers(headers.clone())
        .timeout(limit)
        .send()
        .await
        .map_err(|e| PreflightError::Unreachable {
            url: base_url.to_string(),
            cause: redactor.redact(&root_cause(&e)),
        })?;
    let status = resp.status().as_u16();
    let body = resp.bytes().await.unwrap_or_default();
    if matches!(status, 401 | 403) {
        return Err(PreflightError::Unauthorized {
            url: base_url.to_string(),
            status,
            message: redactor.redact(&error_message(&body)),
        });
    }
    Ok((status, body))
}

/// The innermost cause of a client error ("Connection refused (os error 111)").
pub fn root_cause(e: &reqwest::Error) -> String {
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg = s.to_string();
        source = s.source();
    }
    if e.is_timeout() {
        msg = "timed out".into();
    }
    certificate_hint(&msg).unwrap_or(msg)
}

/// A refused TLS certificate in one line a user can act on, instead of the
/// TLS library's variant name ("Other(OtherError(CaUsedAsEndEntity))").
pub fn certificate_hint(cause: &str) -> Option<String> {
    const SKIP: &str = "--insecure skips the check";
    let why = if ["UnknownIssuer", "CaUsedAsEndEntity", "SelfSigned"]
        .iter()
        .any(|k| cause.contains(k))
    {
        "the server's TLS certificate is self-signed or from an unknown authority"
    } else if cause.contains("NotValidForName") {
        "the server's TLS certificate is for another name"
    } else if cause.contains("Expired") {
        "the server's TLS certificate has expired"
    } else if cause.contains("invalid peer certificate") {
        "the server's TLS certificate was refused"
    } else {
        return None;
    };
    Some(format!("{why} ({}); {SKIP}", cause.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_failures_say_why_and_how_to_skip_the_check() {
        let h = certificate_hint("invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))").unwrap();
        assert!(h.starts_with("the server's TLS certificate is self-signed"), "{h}");
        assert!(h.ends_with("--insecure skips the check"), "{h}");
        let h = certificate_hint("invalid peer certificate: NotValidForName").unwrap();
        assert!(h.contains("for another name"), "{h}");
        assert!(certificate_hint("invalid peer certificate: UnknownIssuer")
            .unwrap()
            .contains("self-signed"));
        assert!(certificate_hint("Connection refused (os error 111)").is_none());
    }
}
