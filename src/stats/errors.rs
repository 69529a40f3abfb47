//! The failures of a summary in one line: the main error classes with
//! their counts and one example message, for the places that must say why
//! requests failed in a sentence (a run where nothing succeeded, a sweep
//! level that failed).

use super::Summary;

/// `"6 failed: http_500 ×6 (\"simulated failure\")"`; the `most` largest
/// classes, then how many other classes there were. Empty without failures.
pub fn digest(s: &Summary, most: usize) -> String {
    if s.failed == 0 {
        return String::new();
    }
    let mut parts: Vec<String> = s
        .errors
        .iter()
        .take(most)
        .map(|e| {
            let example = crate::api::cut(&e.example, 120);
            if example.is_empty() {
                format!("{} ×{}", e.class, e.count)
            } else {
                format!("{} ×{} (\"{example}\")", e.class, e.count)
            }
        })
        .collect();
    if s.errors.len() > most {
        parts.push(format!("{} more class(es)", s.errors.len() - most));
    }
    format!("{} failed: {}", s.failed, parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::ErrorClass;
    use crate::stats::ErrorGroup;

    #[test]
    fn the_digest_names_the_main_classes_with_an_example() {
        let mut s = Summary::default();
        assert_eq!(digest(&s, 2), "");
        s.failed = 9;
        s.errors = vec![
            ErrorGroup {
                class: ErrorClass::Http(500),
                count: 6,
                example: "HTTP 500: boom".into(),
            },
            ErrorGroup {
                class: ErrorClass::Timeout,
                count: 2,
                example: String::new(),
            },
            ErrorGroup {
                class: ErrorClass::Connect,
                count: 1,
                example: "refused".into(),
            },
        ];
        assert_eq!(
            digest(&s, 2),
            "9 failed: http_500 ×6 (\"HTTP 500: boom\"), timeout ×2, 1 more class(es)"
        );
    }
}
