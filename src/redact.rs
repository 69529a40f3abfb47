//! Keeps secrets (API keys, auth header values, credentials in a URL) out
//! of every output.
//!
//! A [`Secret`] prints as `***` in `Debug`, `Display` and serde output, so it
//! cannot leak through settings dumps. A [`Redactor`] scrubs the literal
//! secret values from free text — error messages from servers often echo the
//! key ("Incorrect API key provided: sk-...") — before that text is recorded.
//! A server echoes the credential, not the header it came in, so a header
//! value is scrubbed in every form it may come back in
//! ([`credential_forms`]: `Bearer sk-…` also as `sk-…`, a Basic credential
//! also decoded). [`redact_url`] makes a URL fit to print.

use std::fmt;

use serde::{Serialize, Serializer};

/// A value that must never be shown.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The real value, for building the request only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

/// Names (of headers, URL query parameters, cookies) whose values are
/// credentials: `Authorization`, `Cookie`, `x-api-key`, `api_key`,
/// `access_token`, `client_secret`, `password`, a signature (`sig`) …
pub fn is_sensitive_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n == "sig"
        || n.contains("cookie")
        || n.contains("key")
        || n.contains("token")
        || n.contains("secret")
        || n.contains("auth")
        || n.contains("passw")
        || n.contains("credential")
        || n.contains("signature")
        || n.contains("session")
}

/// Cookie values shorter than this are kept: a session id or a token is
/// never this short, while `theme=dark` must not blank the word "dark".
const MIN_COOKIE_SECRET_LEN: usize = 8;

/// Every form in which a server may echo the value of a sensitive header:
/// the value whole; the credential after its scheme (`Bearer sk-…` →
/// `sk-…`: OpenAI's 401 says "Incorrect API key provided: sk-…"); a Basic
/// credential decoded (`user:password`, and the password); each long
/// enough value of a `Cookie`.
pub fn credential_forms(name: &str, value: &str) -> Vec<String> {
    use base64::Engine as _;
    let value = value.trim();
    let mut out = vec![value.to_string()];
    if let Some((scheme, credential)) = value.split_once(' ') {
        let credential = credential.trim();
        // A scheme is one word of letters (`Bearer`, `Basic`, `Token`, `ApiKey`).
        if !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphabetic()) {
            out.push(credential.to_string());
            if scheme.eq_ignore_ascii_case("basic") {
                if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(credential) {
                    let decoded = String::from_utf8_lossy(&bytes).into_owned();
                    if let Some((_, password)) = decoded.split_once(':') {
                        out.push(password.to_string());
                    }
                    out.push(decoded);
                }
            }
        }
    }
    if name.to_ascii_lowercase().contains("cookie") {
        out.extend(
            value
                .split(';')
                .filter_map(|pair| pair.split_once('='))
                .map(|(_, v)| v.trim().trim_matches('"').to_string())
                .filter(|v| v.len() >= MIN_COOKIE_SECRET_LEN),
        );
    }
    out
}

/// The secrets a URL carries: a password, and the values of query
/// parameters named like credentials (`api_key=`, `token=`), both as
/// written and percent-decoded.
pub fn url_secrets(url: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(u) = url::Url::parse(url) {
        if let Some(p) = u.password() {
            out.push(p.to_string());
            out.push(percent_decode(p));
        }
    }
    if let Some((_, query)) = url.split_once('?') {
        out.extend(query_secrets(query.split('#').next().unwrap_or_default()));
    }
    out
}

/// The values of credential-named parameters of a query string (`a=1&key=…`),
/// as written and percent-decoded.
pub fn query_secrets(query: &str) -> Vec<String> {
    let mut out = Vec::new();
    for pair in query.split('&') {
        if let Some((k, v)) = pair.split_once('=') {
            if is_sensitive_header(&percent_decode(k)) && !v.is_empty() {
                out.push(v.to_string());
                out.push(percent_decode(v));
            }
        }
    }
    out
}

/// A URL fit to print: a user and password become `***@`, the values of
/// credential-named query parameters `***`. Works on text that does not
/// parse as a URL too (the URL in an error message may be malformed).
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => ("", url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rfind('@') {
        Some(i) => format!("***@{}", &authority[i + 1..]),
        None => authority.to_string(),
    };
    let (path, query) = match tail.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (tail, None),
    };
    let mut out = format!("{scheme}{authority}{path}");
    if let Some(q) = query {
        let (q, fragment) = match q.split_once('#') {
            Some((q, f)) => (q, Some(f)),
            None => (q, None),
        };
        out.push('?');
        out.push_str(&redact_query(q));
        if let Some(f) = fragment {
            out.push('#');
            out.push_str(f);
        }
    }
    out
}

/// A query string with the values of credential-named parameters as `***`.
pub fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if is_sensitive_header(&percent_decode(k)) && !v.is_empty() => format!("{k}=***"),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-decoding of a URL component (`+` kept as is).
fn percent_decode(s: &str) -> String {
    let escaped = format!("x={}", s.replace('+', "%2B"));
    url::form_urlencoded::parse(escaped.as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Replaces every known secret value in a text with `***`.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<Secret>,
}

impl Redactor {
    pub fn new(secrets: impl IntoIterator<Item = Secret>) -> Self {
        // Very short values would blank out ordinary words; keys are long.
        let mut secrets: Vec<Secret> = secrets.into_iter().filter(|s| s.0.len() >= 4).collect();
        // Longest first, so a key that contains another is removed whole.
        secrets.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        secrets.dedup();
        Self { secrets }
    }

    /// The secret values themselves, for scrubbing stored text (the
    /// history) of them; never for printing.
    pub fn secrets(&self) -> Vec<String> {
        self.secrets.iter().map(|s| s.0.clone()).collect()
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(&s.0) {
                out = out.replace(&s.0, "***");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("sk-live-123456");
        assert_eq!(format!("{s} {s:?}"), "*** ***");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"***\"");
    }

    #[test]
    fn redactor_scrubs_echoed_keys() {
        let r = Redactor::new([Secret::new("sk-live-123456"), Secret::new("ab")]);
        assert_eq!(
            r.redact("Incorrect API key provided: sk-live-123456."),
            "Incorrect API key provided: ***."
        );
        assert_eq!(r.redact("about"), "about");
    }

    #[test]
    fn sensitive_headers_by_name() {
        assert!(is_sensitive_header("Authorization"));
        assert!(is_sensitive_header("X-Api-Key"));
        assert!(!is_sensitive_header("X-Request-Id"));
        for name in [
            "api-key",
            "Cookie",
            "access_token",
            "client_secret",
            "password",
            "sig",
            "X-Auth",
        ] {
            assert!(is_sensitive_header(name), "{name}");
        }
        for name in ["api-version", "model", "signal"] {
            assert!(!is_sensitive_header(name), "{name}");
        }
    }

    #[test]
    fn a_bearer_token_is_scrubbed_without_its_scheme() {
        let forms = credential_forms("Authorization", "Bearer sk-live-123456");
        assert_eq!(forms, ["Bearer sk-live-123456", "sk-live-123456"]);
        let r = Redactor::new(forms.into_iter().map(Secret::new));
        assert_eq!(
            r.redact("Incorrect API key provided: sk-live-123456. (Bearer sk-live-123456)"),
            "Incorrect API key provided: ***. (***)"
        );
        // A bare key has no scheme to strip.
        assert_eq!(credential_forms("x-api-key", "k-123456"), ["k-123456"]);
        // Only a word of letters is a scheme.
        assert_eq!(credential_forms("x-api-key", "ab-1 cd-2"), ["ab-1 cd-2"]);
    }

    #[test]
    fn a_basic_credential_is_scrubbed_decoded_too() {
        // base64("user:pa55word")
        let forms = credential_forms("Authorization", "Basic dXNlcjpwYTU1d29yZA==");
        for form in ["dXNlcjpwYTU1d29yZA==", "user:pa55word", "pa55word"] {
            assert!(forms.iter().any(|f| f == form), "{form} in {forms:?}");
        }
        let r = Redactor::new(forms.into_iter().map(Secret::new));
        assert_eq!(r.redact("bad login user:pa55word"), "bad login ***");
    }

    #[test]
    fn long_cookie_values_are_secrets_short_ones_are_not() {
        let forms = credential_forms("Cookie", "theme=dark; session=\"s3ss10n-abcdef\"");
        assert!(forms.iter().any(|f| f == "s3ss10n-abcdef"), "{forms:?}");
        assert!(!forms.iter().any(|f| f == "dark"), "{forms:?}");
    }

    #[test]
    fn url_credentials_are_found_and_masked() {
        let url = "http://user:p%40ss1@host:1/v1?api_key=qwerty123&api-version=2024&access%5Ftoken=t%2Bk9999#frag";
        let secrets = url_secrets(url);
        for s in ["p%40ss1", "p@ss1", "qwerty123", "t%2Bk9999", "t+k9999"] {
            assert!(secrets.iter().any(|x| x == s), "{s} in {secrets:?}");
        }
        assert!(!secrets.iter().any(|x| x == "2024"), "{secrets:?}");
        assert_eq!(
            redact_url(url),
            "http://***@host:1/v1?api_key=***&api-version=2024&access%5Ftoken=***#frag"
        );
        assert_eq!(redact_url("host:8000/v1?key=abc"), "host:8000/v1?key=***");
        assert_eq!(redact_url("http://h/x"), "http://h/x");
        assert_eq!(redact_url("ftp://u:pw@h:notaport/"), "ftp://***@h:notaport/");
    }
}
