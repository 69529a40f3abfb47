//! One HTTP/1.1 connection, owned by one slot and driven by the request's
//! own task: write the request, parse the reply's head (`httparse`), then
//! hand the body over piece by piece as the network delivers it.
//!
//! Why not hyper's HTTP/1 client: it drives each connection from a second
//! task and passes every body chunk through a channel to the request's task
//! (two task wake-ups per streamed token), and it allocates about 25 KiB per
//! connection that its API cannot size (a dispatch channel, an 8 KiB write
//! buffer, an 8 KiB read buffer that stays reserved while the connection
//! waits). Here a connection that waits holds no buffer at all: each read
//! goes into a scratch array on the stack and only the bytes read are kept,
//! and each body piece is a `Bytes` split off them, without a copy.
//! docs/PERFORMANCE.md has the figures.
//!
//! What is spoken: requests with `Content-Length` bodies; replies framed by
//! `Transfer-Encoding: chunked` (extensions and trailers skipped),
//! `Content-Length`, or the end of the connection; `1xx` interim replies
//! skipped; `204`/`304` without a body. A reply says whether the connection
//! may carry another request: not after `Connection: close`, an HTTP/1.0
//! reply without `Connection: keep-alive`, a body framed by the close, or a
//! body the client did not read to its end.
//!
//! Whether a kept connection is still open is checked before it is reused
//! by one read that does not wait ([`H1Conn::still_open`]): a server's close
//! that already arrived is seen then. One that arrives while the next
//! request goes out shows as a reply that ends before its first byte
//! ([`SendError::Stale`]); the client resends such a request once.

use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use hyper::header::HeaderMap;
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};

use super::conn::{OriginKey, Stream};

/// Bytes read from the socket at most at once (on the stack, per poll).
const SCRATCH: usize = 16 * 1024;
/// The largest reply head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Headers of a reply head accepted at most.
const MAX_HEADERS: usize = 128;
/// Request bodies up to this size go out in the same write as the head.
const COALESCE_BODY: usize = 16 * 1024;

/// Where the connection is between and during exchanges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Ready for a request.
    Idle,
    /// A request was written; its reply is not wholly read.
    Busy,
    /// May not carry another request.
    Done,
}

/// An HTTP/1.1 connection (see the module docs).
pub(super) struct H1Conn {
    io: Stream,
    /// Bytes read and not yet consumed.
    buf: BytesMut,
    state: State,
    pub origin: Arc<OriginKey>,
    /// Requests written on it.
    pub served: u64,
    /// The phase that last used it (see `Client::begin_phase`).
    pub epoch: u64,
    /// The server's `Keep-Alive: timeout=N`, if it announced one.
    pub keep_alive: Option<Duration>,
    /// When the last reply's body ended.
    pub reply_ended: Option<Instant>,
    /// The reply in progress ends the connection.
    close_after_reply: bool,
}

/// A reply's head.
pub(super) struct Head {
    pub status: u16,
    pub content_type: Option<Box<str>>,
    /// `Content-Encoding`, when the reply has one: the body is then
    /// compressed, which the engine refuses (see `request.rs`).
    pub content_encoding: Option<Box<str>>,
    pub framing: Framing,
}

/// How the reply's body ends.
#[derive(Debug)]
pub(super) enum Framing {
    Length(u64),
    Chunked(Chunked),
    /// The server closes the connection at its end.
    Eof,
    /// Read to its end.
    Done,
}

/// Where a chunked body's decoder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Chunked {
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk: bytes left.
    Data(u64),
    /// Expecting the line end after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines until a blank one.
    Trailers,
}

/// Why an exchange failed before the reply's head was read.
#[derive(Debug)]
pub(super) enum SendError {
    /// The connection ended (closed or reset) before one byte of the reply
    /// arrived: on a reused connection the request never reached the server.
    Stale(String),
    /// Anything else (a byte of the reply had arrived, or a bad reply).
    Failed(String),
}

/// A request to write.
pub(super) struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub host: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a Bytes,
}

impl H1Conn {
    pub(super) fn new(io: Stream, origin: Arc<OriginKey>, epoch: u64) -> Self {
        Self {
            io,
            buf: BytesMut::new(),
            state: State::Idle,
            origin,
            served: 0,
            epoch,
            keep_alive: None,
            reply_ended: None,
            close_after_reply: false,
        }
    }

    /// Whether the connection may carry another request and the server has
    /// not closed it, checked by one read that does not wait.
    pub(super) fn still_open(&mut self) -> bool {
        if self.state != State::Idle || !self.buf.is_empty() {
            return false;
        }
        let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
        match self.poll_fill(&mut cx) {
            Poll::Pending => true,
            // Closed, reset, or bytes nobody asked for (a server's farewell
            // such as a 408): not reusable.
            Poll::Ready(_) => {
                self.state = State::Done;
                false
            }
        }
    }

    /// Whether the last reply was read to its end and allows another request.
    pub(super) fn reusable(&self) -> bool {
        self.state == State::Idle
    }

    /// Writes `req` and reads the reply's head.
    pub(super) async fn send(&mut self, req: Request<'_>) -> Result<Head, SendError> {
        if self.state != State::Idle {
            return Err(SendError::Failed("the connection is not ready for a request".into()));
        }
        self.state = State::Busy;
        self.served += 1;
        let head = request_head(&req);
        let written = if req.body.len() <= COALESCE_BODY {
            let mut all = head;
            all.extend_from_slice(req.body);
            self.io.write_all(&all).await
        } else {
            match self.io.write_all(&head).await {
                Ok(()) => self.io.write_all(req.body).await,
                Err(e) => Err(e),
            }
        };
        // A write that failed (the server closed or reset the connection)
        // still lets its reply, if any, be read: some servers answer an
        // error and close before reading the whole body.
        let write_error = written.and(self.io.flush().await).err();
        match self.read_head().await {
            Ok(head) => Ok(head),
            Err(SendError::Stale(why)) => {
                self.state = State::Done;
                Err(SendError::Stale(write_error.map_or(why, |e| e.to_string())))
            }
            Err(e) => {
                self.state = State::Done;
                Err(e)
            }
        }
    }

    async fn read_head(&mut self) -> Result<Head, SendError> {
        let mut any_byte = false;
        loop {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut parsed = httparse::Response::new(&mut headers);
            let status = parsed
                .parse(&self.buf)
                .map_err(|e| SendError::Failed(format!("invalid reply head: {e}")))?;
            if let httparse::Status::Complete(len) = status {
                let code = parsed.code.unwrap_or(0);
                let http10 = parsed.version == Some(0);
                let head = interpret(code, http10, parsed.headers);
                self.buf.advance(len);
                match head {
                    // An interim reply (100 Continue, 103 Early Hints): the
                    // real one follows.
                    None => continue,
                    Some(Err(e)) => return Err(e),
                    Some(Ok((head, close, keep_alive))) => {
                        self.keep_alive = keep_alive;
                        self.close_after_reply = close;
                        if matches!(head.framing, Framing::Done) {
                            self.body_ended();
                        }
                        return Ok(head);
                    }
                }
            }
            if self.buf.len() >= MAX_HEAD {
                return Err(SendError::Failed(format!(
                    "the reply's head is larger than {} KiB",
                    MAX_HEAD / 1024
                )));
            }
            let n = std::future::poll_fn(|cx| self.poll_fill(cx)).await;
            match n {
                Ok(0) if !any_byte => {
                    return Err(SendError::Stale("connection closed before message completed".into()))
                }
                Ok(0) => return Err(SendError::Failed("connection closed before message completed".into())),
                Ok(_) => any_byte = true,
                Err(e) if !any_byte => return Err(SendError::Stale(e.to_string())),
                Err(e) => return Err(SendError::Failed(e.to_string())),
            }
        }
    }
}

/// What a complete head says: the head, whether the connection ends with
/// this reply, and the server's keep-alive timeout; `None` for an interim
/// (1xx) reply.
#[allow(clippy::type_complexity)]
fn interpret(
    code: u16,
    http10: bool,
    headers: &[httparse::Header<'_>],
) -> Option<Result<(Head, bool, Option<Duration>), SendError>> {
    {
        if (100..200).contains(&code) && code != 101 {
            return None;
        }
        let mut content_type = None;
        let mut content_encoding = None;
        let mut length: Option<u64> = None;
        let mut chunked = false;
        let mut close = http10;
        let mut keep_alive = None;
        for h in headers {
            let value = std::str::from_utf8(h.value).unwrap_or("").trim();
            let name = h.name;
            if name.eq_ignore_ascii_case("content-type") {
                content_type = Some(Box::from(value));
            } else if name.eq_ignore_ascii_case("content-encoding") {
                content_encoding = Some(Box::from(value));
            } else if name.eq_ignore_ascii_case("content-length") {
                match value.parse::<u64>() {
                    Ok(n) if length.is_none_or(|l| l == n) => length = Some(n),
                    _ => return Some(Err(SendError::Failed(format!("invalid Content-Length `{value}`")))),
                }
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value
                    .rsplit(',')
                    .next()
                    .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
            } else if name.eq_ignore_ascii_case("connection") {
                for token in value.split(',').map(str::trim) {
                    if token.eq_ignore_ascii_case("close") {
                        close = true;
                    } else if token.eq_ignore_ascii_case("keep-alive") && http10 {
                        close = false;
                    }
                }
            } else if name.eq_ignore_ascii_case("keep-alive") {
                keep_alive = keep_alive_timeout(value);
            }
        }
        let framing = if code == 204 || code == 304 || code == 101 {
            Framing::Done
        } else if chunked {
            Framing::Chunked(Chunked::Size)
        } else if let Some(n) = length {
            if n == 0 {
                Framing::Done
            } else {
                Framing::Length(n)
            }
        } else {
            close = true;
            Framing::Eof
        };
        let head = Head {
            status: code,
            content_type,
            content_encoding,
            framing,
        };
        Some(Ok((head, close || code == 101, keep_alive)))
    }
}

impl H1Conn {
    /// The reply's body was read to its end.
    fn body_ended(&mut self) {
        self.reply_ended = Some(Instant::now());
        self.state = if self.close_after_reply {
            State::Done
        } else {
            State::Idle
        };
    }

    /// The next piece of the body as the network delivered it, `None` at
    /// its end.
    pub(super) fn poll_data(
        &mut self,
        cx: &mut Context<'_>,
        framing: &mut Framing,
    ) -> Poll<Result<Option<Bytes>, String>> {
        loop {
            match decode(&mut self.buf, framing) {
                Ok(Step::Data(data)) => return Poll::Ready(Ok(Some(data))),
                Ok(Step::End) => {
                    *framing = Framing::Done;
                    self.body_ended();
                    return Poll::Ready(Ok(None));
                }
                Ok(Step::More) => {}
                Err(e) => {
                    self.state = State::Done;
                    return Poll::Ready(Err(e));
                }
            }
            match self.poll_fill(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(0)) if matches!(framing, Framing::Eof) => {
                    *framing = Framing::Done;
                    self.body_ended();
                    return Poll::Ready(Ok(None));
                }
                Poll::Ready(Ok(0)) => {
                    self.state = State::Done;
                    return Poll::Ready(Err("connection closed before message completed".into()));
                }
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => {
                    self.state = State::Done;
                    return Poll::Ready(Err(e.to_string()));
                }
            }
        }
    }

    /// Reads what the socket has into `buf` (0 at its end). The bytes land
    /// in a scratch array on the stack first, so a connection that waits
    /// holds no buffer.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let mut scratch = [MaybeUninit::<u8>::uninit(); SCRATCH];
        let mut rb = ReadBuf::uninit(&mut scratch);
        match Pin::new(&mut self.io).poll_read(cx, &mut rb) {
            Poll::Ready(Ok(())) => {
                let filled = rb.filled();
                self.buf.extend_from_slice(filled);
                Poll::Ready(Ok(filled.len()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// What decoding found in the buffer.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    Data(Bytes),
    End,
    /// More bytes are needed.
    More,
}

/// Takes the next body piece out of `buf` according to `framing`.
fn decode(buf: &mut BytesMut, framing: &mut Framing) -> Result<Step, String> {
    match framing {
        Framing::Done => Ok(Step::End),
        Framing::Eof if buf.is_empty() => Ok(Step::More),
        Framing::Eof => Ok(Step::Data(buf.split().freeze())),
        Framing::Length(left) => {
            if buf.is_empty() {
                return Ok(Step::More);
            }
            let take = (*left).min(buf.len() as u64) as usize;
            *left -= take as u64;
            let data = buf.split_to(take).freeze();
            if *left == 0 {
                // A length-framed body ends with its last byte: no trailer.
                *framing = Framing::Done;
            }
            Ok(Step::Data(data))
        }
        Framing::Chunked(state) => decode_chunked(buf, state),
    }
}

fn decode_chunked(buf: &mut BytesMut, state: &mut Chunked) -> Result<Step, String> {
    loop {
        match *state {
            Chunked::Size => {
                let Some((len, consumed)) = next_line(buf)? else {
                    return Ok(Step::More);
                };
                let size = chunk_size(&buf[..len])?;
                buf.advance(consumed);
                *state = if size == 0 {
                    Chunked::Trailers
                } else {
                    Chunked::Data(size)
                };
            }
            Chunked::Data(left) => {
                if buf.is_empty() {
                    return Ok(Step::More);
                }
                let take = left.min(buf.len() as u64) as usize;
                let data = buf.split_to(take).freeze();
                let left = left - take as u64;
                *state = if left == 0 {
                    Chunked::DataEnd
                } else {
                    Chunked::Data(left)
                };
                return Ok(Step::Data(data));
            }
            Chunked::DataEnd => {
                let Some((len, consumed)) = next_line(buf)? else {
                    return Ok(Step::More);
                };
                if len != 0 {
                    return Err("invalid chunked body: no line end after a chunk".into());
                }
                buf.advance(consumed);
                *state = Chunked::Size;
            }
            Chunked::Trailers => {
                let Some((len, consumed)) = next_line(buf)? else {
                    return Ok(Step::More);
                };
                buf.advance(consumed);
                if len == 0 {
                    return Ok(Step::End);
                }
            }
        }
    }
}

/// The next line of `buf`: its length without its end (`\r\n` or `\n`)
/// and with it; `None` until a whole line is there. The caller consumes it
/// with `advance`, in place: no piece of the buffer is split off for a
/// framing line.
fn next_line(buf: &[u8]) -> Result<Option<(usize, usize)>, String> {
    let Some(nl) = buf.iter().position(|b| *b == b'\n') else {
        if buf.len() > 4096 {
            return Err("invalid chunked body: a line longer than 4 KiB".into());
        }
        return Ok(None);
    };
    let len = if nl > 0 && buf[nl - 1] == b'\r' { nl - 1 } else { nl };
    Ok(Some((len, nl + 1)))
}

/// A chunk-size line's size (hexadecimal, before any `;` extension).
fn chunk_size(line: &[u8]) -> Result<u64, String> {
    let digits = line.split(|b| *b == b';').next().unwrap_or(&[]);
    let digits = std::str::from_utf8(digits).map_err(|_| "invalid chunk size".to_string())?;
    u64::from_str_radix(digits.trim(), 16).map_err(|_| format!("invalid chunk size `{}`", digits.trim()))
}

/// The request line and headers, ended by the blank line.
fn request_head(req: &Request<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + req.path.len() + req.headers.len() * 48);
    out.extend_from_slice(req.method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(req.path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    out.extend_from_slice(req.host.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in req.headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !req.body.is_empty() || req.method != "GET" {
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(req.body.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// `timeout=N` of a `Keep-Alive` header, in seconds.
pub(super) fn keep_alive_timeout(value: &str) -> Option<Duration> {
    value.split(',').find_map(|part| {
        let (k, n) = part.split_once('=')?;
        (k.trim().eq_ignore_ascii_case("timeout"))
            .then(|| n.trim().parse::<u64>().ok())
            .flatten()
            .map(Duration::from_secs)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `wire` fed in pieces split at every `step` bytes; returns
    /// the body and whether it ended.
    fn decode_all(wire: &[u8], mut framing: Framing, step: usize) -> (Vec<u8>, bool) {
        let mut buf = BytesMut::new();
        let mut body = Vec::new();
        for piece in wire.chunks(step.max(1)) {
            buf.extend_from_slice(piece);
            loop {
                match decode(&mut buf, &mut framing).expect("valid body") {
                    Step::Data(d) => body.extend_from_slice(&d),
                    Step::End => return (body, true),
                    Step::More => break,
                }
            }
        }
        (body, false)
    }

    #[test]
    fn chunked_bodies_decode_whatever_the_read_boundaries() {
        let wire = b"6\r\ndata: \r\n1a;ext=1\r\n{\"choices\":[]}\n\nabcdefghij\r\n0\r\nx-trailer: 1\r\n\r\n";
        for step in [1, 2, 3, 7, 64] {
            let (body, ended) = decode_all(wire, Framing::Chunked(Chunked::Size), step);
            assert!(ended, "step {step}");
            assert_eq!(body, b"data: {\"choices\":[]}\n\nabcdefghij", "step {step}");
        }
        // Bare LF line ends too.
        let (body, ended) = decode_all(b"3\nabc\n0\n\n", Framing::Chunked(Chunked::Size), 2);
        assert!(ended);
        assert_eq!(body, b"abc");
    }

    #[test]
    fn length_and_close_framed_bodies() {
        let (body, ended) = decode_all(b"hello world", Framing::Length(5), 3);
        assert!(ended);
        assert_eq!(body, b"hello");
        let (body, ended) = decode_all(b"to the end", Framing::Eof, 4);
        assert!(!ended, "only the connection's end ends it");
        assert_eq!(body, b"to the end");
    }

    #[test]
    fn bad_chunk_sizes_are_errors() {
        let mut buf = BytesMut::from(&b"zz\r\n"[..]);
        assert!(decode(&mut buf, &mut Framing::Chunked(Chunked::Size)).is_err());
        let mut buf = BytesMut::from(&b"2\r\nabX\r\n"[..]);
        let mut f = Framing::Chunked(Chunked::Size);
        assert_eq!(decode(&mut buf, &mut f), Ok(Step::Data(Bytes::from_static(b"ab"))));
        assert!(decode(&mut buf, &mut f).is_err(), "no line end after the chunk");
    }

    #[test]
    fn the_request_head_has_host_headers_and_length() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", "application/json".parse().unwrap());
        let body = Bytes::from_static(b"{}");
        let head = request_head(&Request {
            method: "POST",
            path: "/v1/chat/completions?x=1",
            host: "127.0.0.1:8000",
            headers: &headers,
            body: &body,
        });
        assert_eq!(
            String::from_utf8(head).unwrap(),
            "POST /v1/chat/completions?x=1 HTTP/1.1\r\nhost: 127.0.0.1:8000\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n"
        );
    }

    #[test]
    fn keep_alive_timeout_is_read() {
        assert_eq!(keep_alive_timeout("timeout=5, max=100"), Some(Duration::from_secs(5)));
        assert_eq!(keep_alive_timeout("max=100"), None);
    }
}
