//! Finding lines and dotted keys in a scenario file's text, so an error
//! can say `mix.toml:7: load.concurrency: …`.
//!
//! The TOML parser's spans locate syntax and type errors; errors found
//! later (a value the plan refuses, a dataset that does not exist) only
//! know their key, so the key is looked up in the text here. This is a
//! line scanner, not a TOML parser: it reads `[table]` and `[[array]]`
//! headers and `key = value` lines, which is what scenario files hold.

/// The 1-based line of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].bytes().filter(|b| *b == b'\n').count() + 1
}

/// The dotted key at a line: the nearest table header above it and the key
/// on the line (`load.concurrency`, `task[2].weight`).
pub fn key_at(text: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let this = lines.get(line.checked_sub(1)?)?.trim();
    let key = this
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_string());
    let mut section: Option<String> = None;
    let mut arrays: std::collections::HashMap<String, usize> = Default::default();
    for l in &lines[..line] {
        let l = l.trim();
        if let Some(name) = l
            .strip_prefix("[[")
            .and_then(|r| r.split_once("]]"))
            .map(|(n, _)| n.trim())
        {
            let n = arrays.entry(name.to_string()).or_insert(0);
            *n += 1;
            section = Some(format!("{name}[{n}]"));
        } else if let Some(name) = l
            .strip_prefix('[')
            .and_then(|r| r.split_once(']'))
            .map(|(n, _)| n.trim())
        {
            section = Some(name.to_string());
        }
    }
    match (section, key) {
        (Some(s), Some(k)) => Some(format!("{s}.{k}")),
        (None, Some(k)) => Some(k),
        (Some(s), None) => Some(s),
        (None, None) => None,
    }
}

/// The line of `key` in table `section` (the `nth` of an array of tables;
/// `""` for the top level); the table's header line when the key is not
/// written in it.
pub fn line_of_key(text: &str, section: &str, nth: Option<usize>, key: &str) -> Option<usize> {
    let mut inside = section.is_empty();
    let mut seen = 0usize;
    let mut header_line = None;
    for (i, l) in text.lines().enumerate() {
        let t = l.trim();
        if t.starts_with('[') {
            let name = t.trim_start_matches('[').split(']').next().unwrap_or("").trim();
            inside = name == section
                && match nth {
                    Some(n) => {
                        seen += 1;
                        seen == n + 1
                    }
                    None => true,
                };
            if inside {
                header_line = Some(i + 1);
            }
            continue;
        }
        if inside {
            if let Some((k, _)) = t.split_once('=') {
                if k.trim().trim_matches('"') == key {
                    return Some(i + 1);
                }
            }
        }
    }
    header_line
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "[load]\nconcurrency = 4\n[[task]]\nweight = 1\n[[task]]\nmodel = \"b\"\nweight = 2\n";

    #[test]
    fn keys_and_lines_round_trip() {
        assert_eq!(key_at(TEXT, 2).as_deref(), Some("load.concurrency"));
        assert_eq!(key_at(TEXT, 7).as_deref(), Some("task[2].weight"));
        assert_eq!(line_of_key(TEXT, "task", Some(1), "weight"), Some(7));
        assert_eq!(
            line_of_key(TEXT, "task", Some(0), "model"),
            Some(3),
            "the header when unwritten"
        );
        assert_eq!(line_of_key(TEXT, "load", None, "concurrency"), Some(2));
        assert_eq!(line_of(TEXT, TEXT.find("weight = 2").unwrap()), 7);
    }
}
