//! Splits a `text/event-stream` body into the payloads of its `data:` fields.
//!
//! Written by hand rather than taken from an SSE crate because the engine
//! needs the network-arrival time of every event: the body is fed here one
//! network chunk at a time, right after the chunk's timestamp is taken, and
//! every complete event in it is handed back at once. Events complete
//! within the chunk are read in place; only the bytes of an event not yet
//! ended are copied, into a small reusable buffer (no per-event allocation
//! unless an event has several `data:` lines). Only what inference servers send is handled:
//! `data:` lines (multi-line data joined with `\n`), comments and other fields
//! ignored, events ended by a blank line, `\n` or `\r\n` line ends.
//!
//! The work is linear in the size of the body however it is cut into
//! chunks: the search for an event's end resumes where the previous chunk's
//! search stopped (less the two bytes a separator split across chunks may
//! have begun with), so an event spread over many chunks is not rescanned
//! from its start on each one.

use bytes::{Buf, Bytes, BytesMut};

/// Incremental SSE decoder; feed network chunks, get complete event payloads.
#[derive(Debug, Default)]
pub struct SseDecoder {
    /// Bytes of an event not yet terminated by a blank line.
    pending: BytesMut,
    /// No event separator starts before this offset of `pending`: earlier
    /// chunks' searches covered those bytes.
    search_from: usize,
    /// Bytes looked at while searching for event ends, so a test can check
    /// that the work stays linear (a count, not a clock).
    #[cfg(test)]
    examined: usize,
}

impl SseDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one network chunk; calls `on_data` with each complete event's
    /// data payload, in order. Events with no `data:` field are skipped.
    pub fn feed(&mut self, chunk: &[u8], mut on_data: impl FnMut(&[u8])) {
        if self.pending.is_empty() {
            // The usual case (an inference server writes whole events, one
            // or more per network chunk): the events are read in the chunk
            // itself, and only an unfinished one is kept.
            let mut start = 0;
            loop {
                let (found, searched_to) = find_event_end(&chunk[start..], 0);
                #[cfg(test)]
                {
                    self.examined += searched_to;
                }
                let Some((end, sep_len)) = found else {
                    self.pending.extend_from_slice(&chunk[start..]);
                    self.search_from = searched_to.saturating_sub(2);
                    return;
                };
                emit_data(&chunk[start..start + end], &mut on_data);
                start += end + sep_len;
            }
        }
        self.pending.extend_from_slice(chunk);
        loop {
            let (found, searched_to) = find_event_end(&self.pending, self.search_from);
            #[cfg(test)]
            {
                self.examined += searched_to - self.search_from;
            }
            let Some((end, sep_len)) = found else {
                // A separator may have begun in the last two bytes ("\n",
                // "\n\r") and end in the next chunk: look at them again.
                self.search_from = searched_to.saturating_sub(2);
                return;
            };
            emit_data(&self.pending[..end], &mut on_data);
            self.pending.advance(end + sep_len);
            self.search_from = 0;
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
        self.search_from = 0;
        emit_data(&event, &mut on_data);
        true
    }
}

/// The blank line ending the first event at or after `from` (its position
/// and length), and how far the search looked.
fn find_event_end(buf: &[u8], from: usize) -> (Option<(usize, usize)>, usize) {
    let mut i = from.min(buf.len());
    while let Some(p) = memchr_nl(&buf[i..]) {
        let nl = i + p;
        // "\n\n" or "\n\r\n" ends an event.
        match buf.get(nl + 1) {
            Some(b'\n') => return (Some((nl, 2)), nl + 2),
            Some(b'\r') if buf.get(nl + 2) == Some(&b'\n') => return (Some((nl, 3)), nl + 3),
            _ => i = nl + 1,
        }
    }
    (None, buf.len())
}

fn memchr_nl(buf: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', buf)
}

fn emit_data(event: &[u8], on_data: &mut impl FnMut(&[u8])) {
    // The usual event: one `data:` line.
    if let Some(value) = event.strip_prefix(b"data:") {
        if memchr_nl(value).is_none() {
            let value = value.strip_suffix(b"\r").unwrap_or(value);
            on_data(value.strip_prefix(b" ").unwrap_or(value));
            return;
        }
    }
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

    /// Regression: the search for an event's end restarted at the start of
    /// the pending buffer on every chunk, so the work grew with the square
    /// of an event's size (one 32 MB event cost about 11 s of CPU). The
    /// bytes examined must stay within the body's size plus a constant per
    /// chunk.
    #[test]
    fn a_large_event_in_small_chunks_is_examined_once() {
        let payload = vec![b'x'; 4 << 20];
        let mut body = b"data: ".to_vec();
        body.extend_from_slice(&payload);
        body.extend_from_slice(b"\r\n\r\ndata: [DONE]\n\n");
        let mut d = SseDecoder::new();
        let mut got: Vec<usize> = Vec::new();
        for chunk in body.chunks(4096) {
            d.feed(chunk, |p| got.push(p.len()));
        }
        assert_eq!(got, vec![payload.len(), 6]);
        // Each byte once, plus the two bytes looked at again per chunk.
        let chunks = body.len().div_ceil(4096);
        assert!(
            d.examined <= body.len() + 2 * chunks,
            "{} bytes examined for a {}-byte body in {chunks} chunks",
            d.examined,
            body.len()
        );
    }

    #[test]
    fn separators_split_across_chunks_end_the_event_on_arrival() {
        for sep in [&b"\n\n"[..], b"\r\n\r\n", b"\n\r\n"] {
            for cut in 0..=sep.len() {
                let mut d = SseDecoder::new();
                let mut got = Vec::new();
                d.feed(b"data: a", |p| got.push(p.to_vec()));
                d.feed(&sep[..cut], |p| got.push(p.to_vec()));
                assert_eq!(got.is_empty(), cut < sep.len(), "{sep:?} cut at {cut}");
                d.feed(&sep[cut..], |p| got.push(p.to_vec()));
                assert_eq!(got, vec![b"a".to_vec()], "{sep:?} cut at {cut}");
            }
        }
    }

    #[test]
    fn data_without_space_after_colon() {
        assert_eq!(decode(&[b"data:x\n\n"]), vec!["x"]);
    }
}
