//! Splits a `text/event-stream` body into the payloads of its `data:` fields.
//!
//! Written by hand rather than taken from an SSE crate because the engine
//! needs the network-arrival time of every event: the body is fed here one
//! network chunk at a time, right after the chunk's timestamp is taken, and
//! every complete event in it is handed back at once (the chunk is copied
//! once into a small reusable buffer; no per-event allocation unless an event
//! has several `data:` lines). Only what inference servers send is handled:
//! `data:` lines (multi-line data joined with `\n`), comments and other fields
//! ignored, events ended by a blank line, `\n` or `\r\n` line ends.

use bytes::{Bytes, BytesMut};

/// Incremental SSE decoder; feed network chunks, get complete event payloads.
#[derive(Debug, Default)]
pub struct SseDecoder {
    /// Bytes of an event not yet terminated by a blank line.
    pending: BytesMut,
}

impl SseDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one network chunk; calls `on_data` with each complete event's
    /// data payload, in order. Events with no `data:` field are skipped.
    pub fn feed(&mut self, chunk: &[u8], mut on_data: impl FnMut(&[u8])) {
        self.pending.extend_from_slice(chunk);
        loop {
            let Some((end, sep_len)) = find_event_end(&self.pending) else {
                return;
            };
            let event = self.pending.split_to(end + sep_len).freeze();
            emit_data(&event[..end], &mut on_data);
        }
    }

    /// The end of the body: an unterminated final event still counts, as
    /// browsers' EventSource does not, but servers that omit the last blank
    /// line exist; returns whether anything was left over.
    pub fn finish(&mut self, mut on_data: impl FnMut(&[u8])) -> bool {
        if self.pending.iter().all(|b| b.is_ascii_whitespace()) {
            return false;
        }
        let event: Bytes = std::mem::take(&mut self.pending).freeze();
        emit_data(&event, &mut on_data);
        true
    }
}

/// Position of the blank line ending the first event, and its length.
fn find_event_end(buf: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while let Some(p) = memchr_nl(&buf[i..]) {
        let nl = i + p;
        // "\n\n" or "\n\r\n" ends an event.
        match buf.get(nl + 1) {
            Some(b'\n') => return Some((nl, 2)),
            Some(b'\r') if buf.get(nl + 2) == Some(&b'\n') => return Some((nl, 3)),
            _ => i = nl + 1,
        }
    }
    None
}

fn memchr_nl(buf: &[u8]) -> Option<usize> {
    buf.iter().position(|&b| b == b'\n')
}

fn emit_data(event: &[u8], on_data: &mut impl FnMut(&[u8])) {
    let mut joined: Option<Vec<u8>> = None;
    let mut single: Option<&[u8]> = None;
    for line in event.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(value) = line.strip_prefix(b"data:") else {
            continue;
        };
        let value = value.strip_prefix(b" ").unwrap_or(value);
        match (&mut joined, single) {
            (None, None) => single = Some(value),
            (None, Some(first)) => {
                let mut v = first.to_vec();
                v.push(b'\n');
                v.extend_from_slice(value);
                joined = Some(v);
            }
            (Some(v), _) => {
                v.push(b'\n');
                v.extend_from_slice(value);
            }
        }
    }
    match (joined, single) {
        (Some(v), _) => on_data(&v),
        (None, Some(s)) => on_data(s),
        (None, None) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(chunks: &[&[u8]]) -> Vec<String> {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        for c in chunks {
            d.feed(c, |p| out.push(String::from_utf8_lossy(p).into_owned()));
        }
        d.finish(|p| out.push(String::from_utf8_lossy(p).into_owned()));
        out
    }

    #[test]
    fn events_split_across_and_within_chunks() {
        let got = decode(&[b"data: {\"a\":1}\n\ndata: {\"b\"", b":2}\n", b"\ndata: [DONE]\n\n"]);
        assert_eq!(got, vec!["{\"a\":1}", "{\"b\":2}", "[DONE]"]);
    }

    #[test]
    fn crlf_comments_and_multiline_data() {
        let got = decode(&[b": ping\r\n\r\nevent: x\r\ndata: one\r\ndata: two\r\n\r\n"]);
        assert_eq!(got, vec!["one\ntwo"]);
    }

    #[test]
    fn unterminated_last_event_is_kept() {
        assert_eq!(decode(&[b"data: tail"]), vec!["tail"]);
        assert!(decode(&[b"\n\n"]).is_empty());
    }

    #[test]
    fn data_without_space_after_colon() {
        assert_eq!(decode(&[b"data:x\n\n"]), vec!["x"]);
    }
}
