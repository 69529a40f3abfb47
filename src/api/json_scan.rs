//! A strict, allocation-free JSON scanner for the fast path of streamed
//! events ([`super::openai`]): it walks one value at a time, hands back
//! strings in place, and skips values it is not asked about while checking
//! that they are valid JSON.
//!
//! Why: a streamed token is one small JSON event, and reading it with
//! serde_json costs about as much as everything else the client does per
//! token apart from the kernel's `recv` (docs/PERFORMANCE.md). The scanner
//! accepts only a subset of JSON, on purpose: every method answers `None`
//! on anything it does not read exactly as serde_json would — a `\u`
//! escape, a control character, invalid UTF-8, nesting deeper than
//! [`MAX_DEPTH`], a malformed number or literal — and its caller then reads
//! the event with serde_json, whose result and errors stay the reference.
//! Being stricter than serde_json is always safe; accepting what it would
//! refuse is a bug (the differential property test in `proptests.rs`
//! checks this).

use std::borrow::Cow;

/// Nesting the scanner follows inside skipped values (serde_json's own
/// limit is 128; deeper values go to it).
pub(super) const MAX_DEPTH: u32 = 32;

/// A position in a JSON text.
pub(super) struct Scan<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Scan<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, at: 0 }
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    /// The next byte that is not white space, not consumed.
    pub(super) fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.bytes.get(self.at).copied()
    }

    /// Consumes `byte`, the next one after white space.
    pub(super) fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// True at the end of the text (white space aside).
    pub(super) fn at_end(&mut self) -> bool {
        self.peek().is_none()
    }

    /// After a member or an element: true if another follows (`,`), false
    /// at the `close` of the object or array.
    pub(super) fn more(&mut self, close: u8) -> Option<bool> {
        match self.peek()? {
            b',' => {
                self.at += 1;
                Some(true)
            }
            b if b == close => {
                self.at += 1;
                Some(false)
            }
            _ => None,
        }
    }

    /// Opens an object or array (`open` is `{` or `[`): false if it is
    /// empty (and then already closed).
    pub(super) fn open(&mut self, open: u8) -> Option<bool> {
        self.eat(open)?;
        let close = if open == b'{' { b'}' } else { b']' };
        if self.peek()? == close {
            self.at += 1;
            return Some(false);
        }
        Some(true)
    }

    /// A member's name (decoded, as serde matches names) and its colon.
    pub(super) fn key(&mut self) -> Option<Cow<'a, str>> {
        let key = self.string()?;
        self.eat(b':')?;
        Some(key)
    }

    /// `null`, consumed: true; false (nothing consumed) for anything else.
    pub(super) fn null(&mut self) -> bool {
        self.skip_ws();
        if self.bytes[self.at..].starts_with(b"null") {
            self.at += 4;
            return true;
        }
        false
    }

    /// A string: borrowed when it has no escape, decoded when its escapes
    /// are the simple ones; `None` for a `\u` escape, a control character
    /// or invalid UTF-8.
    pub(super) fn string(&mut self) -> Option<Cow<'a, str>> {
        self.eat(b'"')?;
        let start = self.at;
        let rest = &self.bytes[start..];
        let end = memchr::memchr2(b'"', b'\\', rest)?;
        if rest[end] == b'"' {
            let s = plain(&rest[..end])?;
            self.at = start + end + 1;
            return Some(Cow::Borrowed(s));
        }
        let mut out = Vec::with_capacity(rest.len().min(end + 16));
        let mut i = 0;
        loop {
            let next = i + memchr::memchr2(b'"', b'\\', &rest[i..])?;
            if rest[i..next].iter().any(|b| *b < 0x20) {
                return None;
            }
            out.extend_from_slice(&rest[i..next]);
            if rest[next] == b'"' {
                self.at = start + next + 1;
                return String::from_utf8(out).ok().map(Cow::Owned);
            }
            out.push(match rest.get(next + 1)? {
                b'"' => b'"',
                b'\\' => b'\\',
                b'/' => b'/',
                b'b' => 0x08,
                b'f' => 0x0c,
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                _ => return None,
            });
            i = next + 2;
        }
    }

    /// Skips one value of any kind, checking that it is valid JSON.
    pub(super) fn skip(&mut self, depth: u32) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'"' => self.string().map(drop),
            open @ (b'{' | b'[') => {
                let close = if open == b'{' { b'}' } else { b']' };
                if !self.open(open)? {
                    return Some(());
                }
                loop {
                    if open == b'{' {
                        self.string()?;
                        self.eat(b':')?;
                    }
                    self.skip(depth + 1)?;
                    if !self.more(close)? {
                        return Some(());
                    }
                }
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.null().then_some(()),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.bytes[self.at..].starts_with(word).then(|| self.at += word.len())
    }

    /// A number as JSON writes them: `-? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?`.
    fn number(&mut self) -> Option<()> {
        let b = self.bytes;
        let mut i = self.at;
        let digits = |i: &mut usize| {
            let from = *i;
            while b.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
            *i > from
        };
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match b.get(i)? {
            b'0' => i += 1,
            b'1'..=b'9' => {
                digits(&mut i);
            }
            _ => return None,
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            if !digits(&mut i) {
                return None;
            }
        }
        if let Some(b'e' | b'E') = b.get(i) {
            i += 1;
            if let Some(b'+' | b'-') = b.get(i) {
                i += 1;
            }
            if !digits(&mut i) {
                return None;
            }
        }
        // A number runs into what follows only through a delimiter.
        if b.get(i)
            .is_some_and(|c| !matches!(c, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t'))
        {
            return None;
        }
        self.at = i;
        Some(())
    }
}

/// A string's bytes between its quotes, without escapes: valid UTF-8 and
/// no control character.
fn plain(bytes: &[u8]) -> Option<&str> {
    if bytes.iter().any(|b| *b < 0x20) {
        return None;
    }
    std::str::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skips(text: &str) -> bool {
        let mut s = Scan::new(text.as_bytes());
        s.skip(0).is_some() && s.at_end()
    }

    #[test]
    fn valid_values_are_skipped_and_invalid_ones_refused() {
        for ok in [
            "0",
            "-0.5e+10",
            "12",
            "true",
            "null",
            r#""a\"b\\c\n""#,
            r#"{"a":[1,{"b":null}],"c":"d"}"#,
            " [ ] ",
            "{ }",
        ] {
            assert!(skips(ok), "{ok}");
        }
        for bad in [
            "01",
            "-",
            "1.",
            "1e",
            ".5",
            "+1",
            "tru",
            "nul",
            r#""\u0041""#,
            "\"a\u{1}\"",
            "[1,]",
            r#"{"a"}"#,
            "{,}",
            "[1 2]",
            "1x",
        ] {
            assert!(!skips(bad), "{bad}");
        }
        let deep = format!("{}{}", "[".repeat(40), "]".repeat(40));
        assert!(!skips(&deep), "deeper than the scanner follows");
    }

    #[test]
    fn strings_come_back_in_place_or_decoded() {
        let mut s = Scan::new(br#""plain" "a\"b\nc\/""#);
        assert!(matches!(s.string(), Some(Cow::Borrowed("plain"))));
        assert_eq!(s.string().as_deref(), Some("a\"b\nc/"));
        assert!(Scan::new(b"\"\xff\"").string().is_none(), "invalid UTF-8");
    }
}
