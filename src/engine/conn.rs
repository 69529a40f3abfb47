//! Opening one connection to a target: TCP (no Nagle delay), TLS when the
//! URL says `https`, then either an HTTP/1.1 connection of the engine's own
//! ([`super::h1`]) or — when ALPN picked `h2` — an HTTP/2 handshake through
//! hyper's connection API, with that connection's driver on its own task
//! (many requests share it).

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

pub(super) use super::h1::H1Conn;

/// Where a connection goes: scheme, host and port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct OriginKey {
    pub https: bool,
    pub host: Box<str>,
    pub port: u16,
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
        let stream = Box::pin(tls.connect(name, tcp)).await.map_err(|e| {
            let cause = root_cause(&e);
            match super::preflight::certificate_hint(&cause) {
                Some(hint) => ConnectError(hint),
                None => ConnectError(format!("TLS handshake failed: {cause}")),
            }
        })?;
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
    if h2 {
        let (sender, conn) = http2::Builder::new(TokioExecutor::new())
            .handshake(TokioIo::new(stream))
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
    Ok(Opened::H1(H1Conn::new(stream, origin.clone(), epoch)))
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
pub(super) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
