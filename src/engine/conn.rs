//! Opening one connection to a target and keeping what the client needs to
//! know about it: TCP (no Nagle delay), TLS when the URL says `https`, then
//! an HTTP/1.1 or — when ALPN picked `h2` — an HTTP/2 handshake through
//! hyper's connection API, with the connection's driver on its own task.
//!
//! Every byte read from the socket is counted ([`ConnShared::bytes_read`]):
//! that count is how the client knows, when a request on a reused
//! connection fails, that not one byte of its reply had arrived — the only
//! case in which it sends the request again.
//!
//! HTTP/1 buffers are kept small: hyper's read buffer starts at 8 KiB and
//! may grow to [`H1_MAX_BUF`] for a large header block; a streamed reply's
//! chunks are far smaller. See docs/PERFORMANCE.md for the memory per
//! stream.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// The largest HTTP/1 read buffer of a connection (hyper's minimum).
pub(super) const H1_MAX_BUF: usize = 8 * 1024;

/// Where a connection goes: scheme, host and port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct OriginKey {
    pub https: bool,
    pub host: Box<str>,
    pub port: u16,
}

/// What the client and the connection's reader share.
#[derive(Debug, Default)]
pub(super) struct ConnShared {
    /// Bytes read from the socket so far.
    pub bytes_read: AtomicU64,
    /// The last reply's body was not read to its end: the client gave up on
    /// it, so the connection is not reused (hyper closes it).
    pub abandoned: AtomicBool,
    /// When the last reply's body ended, in ns on [`since_start`]'s clock
    /// (0: none yet).
    pub reply_ended_ns: AtomicU64,
}

impl ConnShared {
    /// The reply in progress was read to its end.
    pub fn reply_ended(&self) {
        let ns = u64::try_from(since_start().as_nanos()).unwrap_or(u64::MAX);
        self.reply_ended_ns.store(ns.max(1), Ordering::Relaxed);
    }

    /// How long the connection has been idle since its last reply ended
    /// (`None` before the first one ended).
    pub fn idle(&self) -> Option<Duration> {
        match self.reply_ended_ns.load(Ordering::Relaxed) {
            0 => None,
            ns => Some(since_start().saturating_sub(Duration::from_nanos(ns))),
        }
    }
}

/// Time since the first call in this process: a cheap shared clock for
/// idle times kept in atomics.
fn since_start() -> Duration {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed()
}

/// An HTTP/1.1 connection, owned by one slot at a time.
pub(super) struct H1Conn {
    pub sender: http1::SendRequest<Full<Bytes>>,
    pub shared: Arc<ConnShared>,
    pub origin: Arc<OriginKey>,
    /// Requests sent on it.
    pub served: u64,
    /// The phase that last used it (see `Client::begin_phase`).
    pub epoch: u64,
    /// The server's `Keep-Alive: timeout=N`, if it announced one.
    pub keep_alive: Option<Duration>,
}

/// An HTTP/2 connection, shared by many requests at once.
pub(super) struct H2Conn {
    pub sender: http2::SendRequest<Full<Bytes>>,
    /// Streams open on it now.
    pub active: Arc<AtomicUsize>,
    /// Requests sent on it.
    pub served: Arc<AtomicU64>,
    pub epoch: Arc<AtomicU64>,
}

impl Clone for H2Conn {
    fn clone(&self) -> Self {
        Self {
            sender: self.sender.clone(),
            active: self.active.clone(),
            served: self.served.clone(),
            epoch: self.epoch.clone(),
        }
    }
}

/// A freshly opened connection.
pub(super) enum Opened {
    H1(H1Conn),
    H2(H2Conn),
}

/// Why a connection could not be opened (a one-line cause).
#[derive(Debug)]
pub(super) struct ConnectError(pub String);

/// Opens a connection to `origin`, within `timeout` for TCP and TLS.
pub(super) async fn open(
    origin: &Arc<OriginKey>,
    tls: Option<&TlsConnector>,
    timeout: Duration,
    epoch: u64,
) -> Result<Opened, ConnectError> {
    let connecting = async {
        let tcp = TcpStream::connect((&*origin.host, origin.port))
            .await
            .map_err(|e| ConnectError(e.to_string()))?;
        // Requests and their small replies must leave at once.
        let _ = tcp.set_nodelay(true);
        if !origin.https {
            return Ok::<_, ConnectError>((Stream::Plain(tcp), false));
        }
        let Some(tls) = tls else {
            return Err(ConnectError("TLS is not available".into()));
        };
        let name = rustls::pki_types::ServerName::try_from(origin.host.to_string())
            .map_err(|e| ConnectError(format!("invalid TLS server name `{}`: {e}", origin.host)))?;
        // Boxed: the TLS state is large and plain connections need none.
        let stream = Box::pin(tls.connect(name, tcp))
            .await
            .map_err(|e| ConnectError(format!("TLS handshake failed: {}", root_cause(&e))))?;
        let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
        Ok((Stream::Tls(Box::new(stream)), h2))
    };
    let (stream, h2) = match tokio::time::timeout(timeout, connecting).await {
        Ok(r) => r?,
        Err(_) => {
            return Err(ConnectError(format!(
                "timed out after {} (TCP connect and TLS handshake)",
                crate::units::format_duration(timeout)
            )))
        }
    };
    let shared = Arc::new(ConnShared::default());
    let io = TokioIo::new(Counted {
        inner: stream,
        shared: shared.clone(),
    });
    if h2 {
        let (sender, conn) = http2::Builder::new(TokioExecutor::new())
            .handshake(io)
            .await
            .map_err(|e| ConnectError(format!("HTTP/2 handshake failed: {}", root_cause(&e))))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        return Ok(Opened::H2(H2Conn {
            sender,
            active: Arc::new(AtomicUsize::new(0)),
            served: Arc::new(AtomicU64::new(0)),
            epoch: Arc::new(AtomicU64::new(epoch)),
        }));
    }
    let (sender, conn) = http1::Builder::new()
        .max_buf_size(H1_MAX_BUF)
        .handshake(io)
        .await
        .map_err(|e| ConnectError(format!("HTTP/1 handshake failed: {}", root_cause(&e))))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(Opened::H1(H1Conn {
        sender,
        shared,
        origin: origin.clone(),
        served: 0,
        epoch,
        keep_alive: None,
    }))
}

/// The innermost cause of an error ("Connection reset by peer (os error 104)").
pub(super) fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        msg = s.to_string();
        source = s.source();
    }
    msg
}

/// The socket, plain or TLS.
enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// A socket that counts the bytes read from it.
struct Counted {
    inner: Stream,
    shared: Arc<ConnShared>,
}

impl AsyncRead for Counted {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = match &mut this.inner {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        };
        let n = buf.filled().len() - before;
        if n > 0 {
            this.shared.bytes_read.fetch_add(n as u64, Ordering::Relaxed);
        }
        r
    }
}

impl AsyncWrite for Counted {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().inner {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().inner {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.inner {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().inner {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().inner {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
