//! The one rule by which a URL on the target is built: the `--url`'s base,
//! then the API path, then the `--url`'s query (`http://h/v1?api-version=1`
//! sends to `http://h/v1/chat/completions?api-version=1`). Every place that
//! reaches the target — requests, the preflight, the `/metrics` scrape —
//! builds its URL here, so a query the service needs is never lost.

/// `base` + `path`, then `query` (without its `?`) after the path; joined
/// with `&` when the path already has a query.
pub fn join_url(base: &str, path: &str, query: Option<&str>) -> String {
    let mut url = format!("{base}{path}");
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(q);
    }
    url
}
