//! The simulator's connections: the accept loop, one HTTP/1 connection task
//! per client, and how connections end.
//!
//! The simulator serves its axum routes through hyper's connection API
//! rather than `axum::serve` so that a reply can end its own connection.
//! That is what llama.cpp's `llama-server` does after every streamed reply:
//! its headers announce `Connection: keep-alive` and `Keep-Alive: timeout=5,
//! max=100`, then the socket is closed once the stream is over — no
//! `Connection: close`, so a client that pools connections reuses one the
//! server has already closed. [`ConnectionMode::CloseAfterStream`] plays
//! that server; [`ConnectionMode::KeepAlive`] (the default) keeps every
//! connection open as vLLM does.
//!
//! Each request carries a [`ConnHandle`] in its extensions; a handler
//! calls [`ConnHandle::close_after_reply`] and the connection's task then
//! lets hyper finish the reply in progress and close the socket. The
//! headers are already written by then, so they keep saying keep-alive.
//!
//! Shutdown: the loop stops accepting, every connection is asked to close
//! once its reply in progress is done (idle ones close at once), and the
//! loop returns when the last one has ended. Dropping the loop's task drops
//! every connection with it.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch, Notify};
use tokio::task::JoinSet;

use super::metrics::Counters;

/// How the simulator treats a connection after a reply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ConnectionMode {
    /// Connections stay open between requests (vLLM, SGLang, TGI).
    #[default]
    KeepAlive,
    /// Like llama.cpp's `llama-server`: a streamed reply announces
    /// keep-alive and the connection is then closed (module docs).
    CloseAfterStream,
}

/// The headers `llama-server` sends on a streamed reply, although it then
/// closes the connection.
pub const LLAMA_KEEP_ALIVE: &str = "timeout=5, max=100";

/// A request's way to end its own connection (in its extensions).
#[derive(Clone)]
pub struct ConnHandle {
    close: Arc<Notify>,
}

impl ConnHandle {
    /// Closes the connection once the reply in progress has been sent.
    pub fn close_after_reply(&self) {
        self.close.notify_one();
    }
}

/// Accepts and serves until `stop` fires (or its sender is dropped), then
/// closes connections gracefully and returns when all have ended.
/// Every connection accepted is counted in `counters`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    stop: oneshot::Receiver<()>,
    counters: Arc<Counters>,
) -> io::Result<()> {
    let (closing_tx, closing_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(stop);
    loop {
        let accepted_conn = tokio::select! {
            biased;
            _ = &mut stop => break,
            r = listener.accept() => r,
            // Reap ended connections so a long run stays small.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let (tcp, _peer): (_, SocketAddr) = match accepted_conn {
            Ok(c) => c,
            Err(e) if is_connection_error(&e) => continue,
            Err(_) => {
                // Out of file descriptors and the like: wait, as axum does,
                // rather than spin on the error.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Tokens are small writes that must leave at once: no Nagle delay.
        let _ = tcp.set_nodelay(true);
        counters.connection_accepted();
        connections.spawn(serve_one(tcp, app.clone(), closing_rx.clone()));
    }
    drop(listener);
    let _ = closing_tx.send(true);
    while connections.join_next().await.is_some() {}
    Ok(())
}

async fn serve_one(tcp: tokio::net::TcpStream, app: Router, mut closing: watch::Receiver<bool>) {
    let handle = ConnHandle {
        close: Arc::new(Notify::new()),
    };
    let close = handle.close.clone();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(handle.clone());
        let mut app = app.clone();
        async move {
            let resp: Result<_, Infallible> =
                tower_service::Service::call(&mut app, req.map(axum::body::Body::new)).await;
            resp
        }
    });
    let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tcp), service);
    tokio::pin!(conn);
    let mut shutting = false;
    loop {
        tokio::select! {
            _ = conn.as_mut() => break,
            _ = close.notified(), if !shutting => {
                shutting = true;
                conn.as_mut().graceful_shutdown();
            }
            r = closing.wait_for(|c| *c), if !shutting => {
                let _ = r;
                shutting = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Errors of one incoming connection (not of the listener).
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}
