//! The HTTP client and the headers every request carries.
//!
//! One `reqwest::Client` per run: its connection pool keeps one keep-alive
//! connection per in-flight request, so after the first round no request
//! pays for a TCP handshake. TLS is verified (rustls with the ring
//! provider, certificates checked by the platform's verifier against the
//! system's roots) unless `--insecure`. The `Authorization` value is marked
//! sensitive so the HTTP stack never logs it.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};

use crate::plan::Target;

/// Builds the run's client, pooling up to `pool` idle connections.
pub fn build_client(target: &Target, pool: usize) -> Result<reqwest::Client, reqwest::Error> {
    install_crypto_provider();
    reqwest::Client::builder()
        .timeout(target.timeout)
        .connect_timeout(target.timeout.min(Duration::from_secs(10)))
        .pool_max_idle_per_host(pool.max(1))
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .tls_danger_accept_invalid_certs(target.insecure)
        .user_agent(concat!("inferload/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Makes ring the process's rustls crypto provider unless one is already
/// installed (by an embedding program, or by an earlier client). reqwest is
/// built without a provider of its own (its default, aws-lc-rs, is a large C
/// build) and panics at `build()` when none is installed, so any other code
/// that builds a `reqwest::Client` (tests included) calls this first.
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another thread installing one is fine: either
        // provider serves.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
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
