//! The HTTP client and the headers every request carries.
//!
//! One `reqwest::Client` per run: its connection pool keeps one keep-alive
//! connection per in-flight request, so after the first round no request
//! pays for a TCP handshake. TLS is verified (rustls, the system's roots)
//! unless `--insecure`. The `Authorization` value is marked sensitive so
//! the HTTP stack never logs it.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};

use crate::plan::Target;

/// Builds the run's client, pooling up to `pool` idle connections.
pub fn build_client(target: &Target, pool: usize) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(target.timeout)
        .connect_timeout(target.timeout.min(Duration::from_secs(10)))
        .pool_max_idle_per_host(pool.max(1))
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .danger_accept_invalid_certs(target.insecure)
        .user_agent(concat!("inferload/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Headers of every request: JSON, auth, then the user's `--header`s.
pub fn request_headers(target: &Target) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(ACCEPT, HeaderValue::from_static("application/json, text/event-stream"));
    if let Some(key) = &target.api_key {
        // The plan checked that the key forms a valid header value.
        if let Ok(mut v) = HeaderValue::from_str(&format!("Bearer {}", key.expose())) {
            v.set_sensitive(true);
            headers.insert(AUTHORIZATION, v);
        }
    }
    for h in &target.headers {
        if let (Ok(name), Ok(mut value)) = (
            HeaderName::from_bytes(h.name.as_bytes()),
            HeaderValue::from_str(h.value.expose()),
        ) {
            value.set_sensitive(matches!(h.value, crate::plan::HeaderValue::Secret(_)));
            headers.insert(name, value);
        }
    }
    headers
}
