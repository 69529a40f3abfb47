//! Keeps secrets (API keys, auth header values) out of every output.
//!
//! A [`Secret`] prints as `***` in `Debug`, `Display` and serde output, so it
//! cannot leak through settings dumps. A [`Redactor`] scrubs the literal
//! secret values from free text — error messages from servers often echo the
//! key ("Incorrect API key provided: sk-...") — before that text is recorded.

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

/// Header names whose values are secrets.
pub fn is_sensitive_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n == "authorization"
        || n == "proxy-authorization"
        || n == "cookie"
        || n.contains("key")
        || n.contains("token")
        || n.contains("secret")
        || n.contains("auth")
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
        secrets.sort_by_key(|s| std::cmp::Reverse(s.0.len()));
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
    }
}
