//! The engine's HTTP client: its configuration ([`ClientConfig`]), the
//! headers every request carries, and [`Client::send`], the one way a
//! request leaves — for run, sweep and compare alike.
//!
//! Connections are owned, as oha owns them: each in-flight request holds a
//! [`Slot`] with its own HTTP/1.1 connection, read in the request's own
//! task ([`super::h1`]), so it knows when the server closed that connection
//! and opens a new one itself. Closed-loop workers and users keep their slot from request to
//! request; an open-loop request borrows an idle one from the client and
//! gives it back, so connections outlive phases (warm-up, sweep levels).
//!
//! Servers that close connections: before a kept connection is reused the
//! client checks, by one read that does not wait, that it is still open. Some servers (llama.cpp's
//! `llama-server`) close after a reply without saying `Connection: close`,
//! and the close can arrive just after the next request went out on the
//! connection. A request that fails like that, on a reused connection,
//! before one byte of its reply was read, never reached the server: it is
//! sent once more on a fresh connection and is no failure (a *stale
//! retry*). Once a target has closed three kept connections right after
//! their replies, and more often than a reuse worked, the client stops
//! reusing connections to it, so such retries stay rare. A connection idle
//! close to the server's announced `Keep-Alive: timeout` is not reused
//! either. After any byte of a reply there is never a retry.
//!
//! HTTP/2: a TLS target that picks `h2` in ALPN gets a few multiplexed
//! connections instead ([`H2_STREAMS_PER_CONN`] streams each), through
//! hyper's HTTP/2 connection API. Only the first request to an `https`
//! target opens a connection to learn which; the others wait for it.
//!
//! Time limits: `timeout` bounds a whole exchange, from [`Client::send`]
//! to the end of the reply's body (one timer per request, not per chunk);
//! `connect_timeout` bounds TCP connect plus the TLS handshake. An optional
//! connection ramp (`connect_rate`) spaces new connections for targets that
//! refuse accept storms.
//!
//! The target checks before a run (`preflight`) and the monitor's scrapes
//! use a plain `reqwest` client built from the same configuration
//! ([`Client::probe`]): they are not measured.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Body as _, Incoming};
use hyper::header::{
    HeaderMap, HeaderName, HeaderValue, ACCEPT, ACCEPT_ENCODING, AUTHORIZATION, CONTENT_TYPE, USER_AGENT,
};
use hyper::{Method, Request, StatusCode, Uri};
use thiserror::Error;
use tokio::time::Sleep;
use tokio_rustls::TlsConnector;

use super::conn::{self, H1Conn, H2Conn, Opened, OriginKey};
use super::connections::{ConnectionStats, Counters};
use super::h1;

/// Makes ring the process's rustls crypto provider unless one is already
/// installed (by an embedding program, or by an earlier client). reqwest is
/// built without a provider of its own (its default, aws-lc-rs, is a large C
/// build) and panics at `build()` when none is installed, so any other code
/// that builds a `reqwest::Client` (tests included) calls this first.
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another thread installing one is fine: either
        // provider serves.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// Streams one HTTP/2 connection carries before another is opened.
pub const H2_STREAMS_PER_CONN: usize = 100;

/// A kept connection found closed within this long after its reply ended
/// was closed by the server because of that reply (not for idleness).
const CLOSED_AFTER_REPLY: Duration = Duration::from_secs(1);

/// Kept connections are not reused this close to the server's announced
/// keep-alive timeout: the server may be closing them at that moment.
const KEEP_ALIVE_MARGIN: Duration = Duration::from_millis(500);

/// Kept connections per slot (one per origin a slot's requests went to).
const ORIGINS_PER_SLOT: usize = 4;

/// How the engine talks HTTP: everything it needs from the run's settings.
#[derive(Clone)]
pub struct ClientConfig {
    /// Bound on one exchange: sending, waiting and reading the whole reply.
    pub timeout: Duration,
    /// Bound on opening a connection (TCP and TLS).
    pub connect_timeout: Duration,
    /// Accept any TLS certificate.
    pub insecure: bool,
    /// Headers of every request after the JSON ones, in order; a later one
    /// replaces an earlier one of the same name.
    pub headers: Vec<HeaderSpec>,
    pub user_agent: String,
    /// Open at most this many connections per second (`None`: as needed).
    pub connect_rate: Option<f64>,
}

impl ClientConfig {
    /// The defaults around a request timeout: connections within the
    /// timeout or 10 s, whichever is shorter; TLS verified; no extra header.
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            connect_timeout: timeout.min(Duration::from_secs(10)),
            insecure: false,
            headers: Vec::new(),
            user_agent: concat!("inferload/", env!("CARGO_PKG_VERSION")).to_string(),
            connect_rate: None,
        }
    }
}

// By hand, so a sensitive header's value never reaches a log.
impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("insecure", &self.insecure)
            .field("headers", &self.headers)
            .field("user_agent", &self.user_agent)
            .field("connect_rate", &self.connect_rate)
            .finish()
    }
}

/// One header of every request. A sensitive value (a key, a token) is
/// marked so the HTTP stack never logs it, and never printed here.
#[derive(Clone)]
pub struct HeaderSpec {
    pub name: String,
    pub value: String,
    pub sensitive: bool,
}

impl HeaderSpec {
    /// `Authorization: Bearer KEY`, sensitive.
    pub fn bearer(key: &str) -> Self {
        Self {
            name: AUTHORIZATION.as_str().to_string(),
            value: format!("Bearer {key}"),
            sensitive: true,
        }
    }
}

impl std::fmt::Debug for HeaderSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let value = if self.sensitive { "***" } else { self.value.as_str() };
        write!(f, "{}: {value}", self.name)
    }
}

#[derive(Debug, Error)]
pub enum ClientError {
    /// The cause is part of the message, not a source: `{:#}` would name
    /// it twice.
    #[error("{0}")]
    Probe(reqwest::Error),
    #[error("the connection ramp must be a positive number of connections per second, not {0}")]
    ConnectRate(f64),
}

/// Builds the run's client, keeping up to `pool` idle slots between
/// requests and phases.
pub fn build_client(config: &ClientConfig, pool: usize) -> Result<Client, ClientError> {
    let ramp = match config.connect_rate {
        Some(r) if !(r.is_finite() && r > 0.0) => return Err(ClientError::ConnectRate(r)),
        Some(r) => Some(Ramp {
            interval: Duration::from_secs_f64(1.0 / r),
            next: Mutex::new(Instant::now()),
        }),
        None => None,
    };
    install_crypto_provider();
    let probe = reqwest::Client::builder()
        .timeout(config.timeout)
        .connect_timeout(config.connect_timeout)
        .tcp_nodelay(true)
        .tls_danger_accept_invalid_certs(config.insecure)
        .user_agent(config.user_agent.clone())
        .build()
        .map_err(ClientError::Probe)?;
    Ok(Client {
        inner: Arc::new(Inner {
            timeout: config.timeout,
            connect_timeout: config.connect_timeout,
            insecure: config.insecure,
            tls: OnceLock::new(),
            origins: Mutex::new(HashMap::new()),
            idle: Mutex::new(Vec::new()),
            pool: pool.max(1),
            counters: Counters::default(),
            epoch: AtomicU64::new(0),
            ramp,
            probe,
        }),
    })
}

/// Headers of every request: JSON, uncompressed replies, the user agent,
/// then the configured headers (auth and the user's `--header`s, which may
/// replace any of these).
///
/// `Accept-Encoding: identity`: the engine reads bodies as the network
/// delivers them and does not decompress (a compressed reply is refused by
/// name, see `request.rs`), so it asks servers and proxies not to compress.
pub fn request_headers(config: &ClientConfig) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(ACCEPT, HeaderValue::from_static("application/json, text/event-stream"));
    headers.insert(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
    if let Ok(ua) = HeaderValue::from_str(&config.user_agent) {
        headers.insert(USER_AGENT, ua);
    }
    for h in &config.headers {
        // The plan checked that names and values form valid headers.
        if let (Ok(name), Ok(mut value)) = (
            HeaderName::from_bytes(h.name.as_bytes()),
            HeaderValue::from_str(&h.value),
        ) {
            value.set_sensitive(h.sensitive);
            headers.insert(name, value);
        }
    }
    headers
}

/// The engine's HTTP client (cheap to clone: one shared state).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    timeout: Duration,
    connect_timeout: Duration,
    insecure: bool,
    /// Built at the first `https` connection (reading the system's roots).
    tls: OnceLock<Result<TlsConnector, String>>,
    origins: Mutex<HashMap<OriginKey, Arc<Origin>>>,
    /// Slots between requests, most recently used last.
    idle: Mutex<Vec<Slot>>,
    pool: usize,
    counters: Counters,
    /// The phase number, to count connections kept from an earlier phase.
    epoch: AtomicU64,
    ramp: Option<Ramp>,
    probe: reqwest::Client,
}

/// What the client knows about one origin (scheme, host, port).
struct Origin {
    key: Arc<OriginKey>,
    /// ALPN picked `h2`: requests go over `h2`'s shared connections.
    is_h2: AtomicBool,
    /// The protocol is known (always, for `http`; after the first TLS
    /// handshake, for `https`).
    known: AtomicBool,
    /// Held by the one request that learns the protocol, so a burst of
    /// first requests to an HTTP/2 target does not open one connection each.
    discovery: tokio::sync::Mutex<()>,
    h2: tokio::sync::Mutex<Vec<H2Conn>>,
    /// Kept connections the server closed right after a reply.
    closed_after_reply: AtomicU64,
    /// Requests a kept connection carried successfully.
    reused_ok: AtomicU64,
    /// The server closes connections after replies: do not reuse them.
    no_reuse: AtomicBool,
}

impl Origin {
    fn closed_after_reply(&self, counters: &Counters) {
        counters.closed_by_server();
        let closed = self.closed_after_reply.fetch_add(1, Ordering::Relaxed) + 1;
        if closed >= 3 && closed > self.reused_ok.load(Ordering::Relaxed) {
            self.no_reuse.store(true, Ordering::Relaxed);
        }
    }
}

/// Spaces new connections `interval` apart.
struct Ramp {
    interval: Duration,
    next: Mutex<Instant>,
}

impl Ramp {
    /// Waits for this connection's turn; true if it had to wait.
    async fn wait(&self) -> bool {
        let now = Instant::now();
        let at = {
            let mut next = self.next.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let at = (*next).max(now);
            *next = at + self.interval;
            at
        };
        if at > now {
            tokio::time::sleep_until(at.into()).await;
            true
        } else {
            false
        }
    }
}

/// The connections one in-flight request holds: at most one HTTP/1
/// connection per origin it talked to.
#[derive(Default)]
pub struct Slot {
    conns: Vec<H1Conn>,
}

impl Slot {
    /// Keeps `conn` (replacing any other to its origin) and returns its index.
    fn put(&mut self, conn: H1Conn) -> usize {
        self.conns.retain(|c| c.origin != conn.origin);
        if self.conns.len() >= ORIGINS_PER_SLOT {
            self.conns.remove(0);
        }
        self.conns.push(conn);
        self.conns.len() - 1
    }
}

/// A request to send. The body is kept as `Bytes` so a stale retry can send
/// it again without copying.
pub struct Outgoing<'a> {
    pub method: Method,
    pub url: &'a str,
    pub headers: &'a HeaderMap,
    pub body: Bytes,
}

/// A reply's head, and its body to read.
pub struct Exchange<'s> {
    pub response: Response<'s>,
    /// When the request really left, if not when [`Client::send`] was
    /// called: after a connection ramp's wait, or the resend after a stale
    /// connection (the failed attempt never reached the server).
    pub sent_at: Option<Instant>,
}

/// Why an exchange failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportErrorKind {
    /// No connection could be opened (DNS, refused, TLS, connect timeout).
    Connect,
    /// `timeout` passed before the reply's end.
    Timeout,
    /// Sending the request or reading the reply's head failed.
    Request,
    /// Reading the reply's body failed.
    Body,
}

/// A failed exchange: its kind and a one-line cause (not yet redacted).
#[derive(Debug, Clone, Error)]
#[error("{message}")]
pub struct TransportError {
    pub kind: TransportErrorKind,
    pub message: String,
}

impl TransportError {
    fn new(kind: TransportErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    fn timeout() -> Self {
        Self::new(TransportErrorKind::Timeout, "timed out")
    }
}

impl Client {
    /// The bound on one exchange.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// The unmeasured client for target checks and scrapes.
    pub fn probe(&self) -> &reqwest::Client {
        &self.inner.probe
    }

    /// An idle slot (its connections kept), or an empty one.
    pub fn checkout(&self) -> Slot {
        self.inner
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop()
            .unwrap_or_default()
    }

    /// Gives a slot back for later requests (dropped, closing its
    /// connections, when `pool` slots are already idle).
    pub fn checkin(&self, slot: Slot) {
        if slot.conns.is_empty() {
            return;
        }
        let mut idle = self
            .inner
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if idle.len() < self.inner.pool {
            idle.push(slot);
        }
    }

    /// Starts a phase: its connection figures count from zero.
    pub fn begin_phase(&self) {
        self.inner.epoch.fetch_add(1, Ordering::Relaxed);
        self.inner.counters.reset();
    }

    /// The connection figures since [`Client::begin_phase`].
    pub fn connection_stats(&self) -> ConnectionStats {
        let stopped = self
            .inner
            .origins
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .any(|o| o.no_reuse.load(Ordering::Relaxed));
        self.inner.counters.snapshot(stopped)
    }

    /// Sends a request on `slot`'s connection (opening one as needed) and
    /// returns the reply's head; see the module docs for reuse and retries.
    /// The reply's body is read through the slot's connection, so the slot
    /// stays borrowed until the reply is dropped.
    pub async fn send<'s>(&self, slot: &'s mut Slot, req: Outgoing<'_>) -> Result<Exchange<'s>, TransportError> {
        let mut deadline = Box::pin(tokio::time::sleep(self.inner.timeout));
        let uri: Uri = req
            .url
            .parse()
            .map_err(|e| TransportError::new(TransportErrorKind::Request, format!("invalid URL `{}`: {e}", req.url)))?;
        let origin = self.origin(&uri)?;
        self.inner.counters.request();
        let (reply, sent_at) = {
            let exchange = self.exchange(slot, &origin, &uri, &req);
            tokio::select! {
                biased;
                r = exchange => r?,
                _ = deadline.as_mut() => return Err(TransportError::timeout()),
            }
        };
        let response = match reply {
            Reply::H1 { index, head } => Response {
                status: StatusCode::from_u16(head.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                content_type: head.content_type,
                content_encoding: head.content_encoding,
                deadline,
                body: Body::H1 {
                    conn: &mut slot.conns[index],
                    framing: head.framing,
                },
            },
            Reply::H2 { head, guard } => {
                let (parts, body) = head.into_parts();
                Response {
                    status: parts.status,
                    content_type: parts
                        .headers
                        .get(hyper::header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .map(Box::from),
                    content_encoding: parts
                        .headers
                        .get(hyper::header::CONTENT_ENCODING)
                        .map(|v| Box::from(String::from_utf8_lossy(v.as_bytes()).trim())),
                    deadline,
                    body: Body::H2 {
                        body,
                        done: false,
                        _guard: guard,
                    },
                }
            }
        };
        Ok(Exchange { response, sent_at })
    }

    fn origin(&self, uri: &Uri) -> Result<Arc<Origin>, TransportError> {
        let invalid =
            |why: &str| TransportError::new(TransportErrorKind::Request, format!("invalid URL `{uri}`: {why}"));
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(invalid("the scheme must be http or https")),
        };
        let authority = uri.authority().ok_or_else(|| invalid("no host"))?;
        let host = authority.host().trim_start_matches('[').trim_end_matches(']');
        let key = OriginKey {
            https,
            host: host.into(),
            port: authority.port_u16().unwrap_or(if https { 443 } else { 80 }),
        };
        let mut origins = self
            .inner
            .origins
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(o) = origins.get(&key) {
            return Ok(o.clone());
        }
        let origin = Arc::new(Origin {
            key: Arc::new(key.clone()),
            is_h2: AtomicBool::new(false),
            known: AtomicBool::new(!https),
            discovery: tokio::sync::Mutex::new(()),
            h2: tokio::sync::Mutex::new(Vec::new()),
            closed_after_reply: AtomicU64::new(0),
            reused_ok: AtomicU64::new(0),
            no_reuse: AtomicBool::new(false),
        });
        origins.insert(key, origin.clone());
        Ok(origin)
    }

    /// Sends and waits for the head: HTTP/1 on the slot's connection, or
    /// HTTP/2 on a shared one; also when the request really left, if not
    /// at the call (see [`Exchange::sent_at`]).
    async fn exchange(
        &self,
        slot: &mut Slot,
        origin: &Arc<Origin>,
        uri: &Uri,
        req: &Outgoing<'_>,
    ) -> Result<(Reply, Option<Instant>), TransportError> {
        let counters = &self.inner.counters;
        let mut sent_at = None;
        let mut first = None;
        if !origin.known.load(Ordering::Acquire) {
            let _learning = origin.discovery.lock().await;
            if !origin.known.load(Ordering::Acquire) {
                counters.request_on_new_connection();
                let (opened, waited) = Box::pin(self.connect(origin)).await?;
                sent_at = waited;
                match opened {
                    Opened::H1(c) => first = Some(c),
                    Opened::H2(c) => self.adopt_h2(origin, c).await,
                }
                origin.known.store(true, Ordering::Release);
            }
        }
        if origin.is_h2.load(Ordering::Acquire) {
            return Box::pin(self.send_h2(origin, uri, req, sent_at)).await;
        }
        let mut index = match first {
            Some(c) => slot.put(c),
            None => match self.reusable(slot, origin) {
                Some(i) => i,
                None => {
                    counters.request_on_new_connection();
                    let (opened, waited) = Box::pin(self.connect(origin)).await?;
                    sent_at = waited;
                    match opened {
                        Opened::H1(c) => slot.put(c),
                        Opened::H2(c) => {
                            self.adopt_h2(origin, c).await;
                            return Box::pin(self.send_h2(origin, uri, req, sent_at)).await;
                        }
                    }
                }
            },
        };
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        // The authority without any `user:password@`.
        let host = uri
            .authority()
            .map_or("", |a| a.as_str().rsplit('@').next().unwrap_or_default());
        loop {
            let conn = &mut slot.conns[index];
            let reused = conn.served > 0;
            let request = h1::Request {
                method: req.method.as_str(),
                path,
                host,
                headers: req.headers,
                body: &req.body,
            };
            match conn.send(request).await {
                Ok(head) => {
                    if reused {
                        origin.reused_ok.fetch_add(1, Ordering::Relaxed);
                    }
                    return Ok((Reply::H1 { index, head }, sent_at));
                }
                Err(h1::SendError::Stale(why)) if reused => {
                    // The kept connection was closed under this request
                    // before one byte of a reply: the request never reached
                    // the server. Sent again, once, on a new connection.
                    drop(slot.conns.swap_remove(index));
                    let _ = why;
                    counters.stale_retry();
                    origin.closed_after_reply(counters);
                    counters.request_on_new_connection();
                    let resent = Instant::now();
                    let (opened, waited) = Box::pin(self.connect(origin)).await?;
                    sent_at = Some(waited.unwrap_or(resent));
                    index = match opened {
                        Opened::H1(c) => slot.put(c),
                        Opened::H2(c) => {
                            self.adopt_h2(origin, c).await;
                            return Box::pin(self.send_h2(origin, uri, req, sent_at)).await;
                        }
                    };
                }
                Err(h1::SendError::Stale(why) | h1::SendError::Failed(why)) => {
                    drop(slot.conns.swap_remove(index));
                    return Err(TransportError::new(TransportErrorKind::Request, why));
                }
            }
        }
    }

    /// The index of the slot's kept connection to `origin`, if it can be
    /// reused; one that cannot is dropped.
    fn reusable(&self, slot: &mut Slot, origin: &Origin) -> Option<usize> {
        let i = slot.conns.iter().position(|c| *c.origin == *origin.key)?;
        let conn = &mut slot.conns[i];
        let idle = conn.reply_ended.map(|t| t.elapsed());
        let usable = conn.reusable()
            && !origin.no_reuse.load(Ordering::Relaxed)
            && !matches!((idle, conn.keep_alive), (Some(idle), Some(limit)) if idle + KEEP_ALIVE_MARGIN >= limit);
        if !usable {
            drop(slot.conns.swap_remove(i));
            return None;
        }
        if !conn.still_open() {
            if idle.is_some_and(|d| d < CLOSED_AFTER_REPLY) {
                origin.closed_after_reply(&self.inner.counters);
            }
            drop(slot.conns.swap_remove(i));
            return None;
        }
        let epoch = self.inner.epoch.load(Ordering::Relaxed);
        if conn.epoch != epoch {
            conn.epoch = epoch;
            self.inner.counters.carried_over();
        }
        Some(i)
    }

    /// Opens a connection, after the ramp's wait if there is one; also
    /// returns when the wait ended, if it waited.
    async fn connect(&self, origin: &Origin) -> Result<(Opened, Option<Instant>), TransportError> {
        let waited = match &self.inner.ramp {
            Some(r) => r.wait().await.then(Instant::now),
            None => None,
        };
        let tls = if origin.key.https {
            let tls = self
                .inner
                .tls
                .get_or_init(|| super::tls::connector(self.inner.insecure));
            Some(
                tls.as_ref()
                    .map_err(|e| TransportError::new(TransportErrorKind::Connect, e.clone()))?,
            )
        } else {
            None
        };
        let started = Instant::now();
        let epoch = self.inner.epoch.load(Ordering::Relaxed);
        match conn::open(&origin.key, tls, self.inner.connect_timeout, epoch).await {
            Ok(opened) => {
                let h2 = matches!(opened, Opened::H2(_));
                self.inner.counters.opened(started.elapsed(), h2);
                Ok((opened, waited))
            }
            Err(e) => {
                self.inner.counters.connect_failed();
                Err(TransportError::new(TransportErrorKind::Connect, e.0))
            }
        }
    }

    /// The origin speaks HTTP/2: keep `conn` among its shared connections.
    async fn adopt_h2(&self, origin: &Origin, conn: H2Conn) {
        origin.h2.lock().await.push(conn);
        origin.is_h2.store(true, Ordering::Release);
    }

    /// A shared HTTP/2 connection with room for a stream, opening one when
    /// all are full. True if it was opened for this request.
    async fn h2_conn(&self, origin: &Origin) -> Result<(H2Conn, Option<Instant>, bool), TransportError> {
        let mut conns = origin.h2.lock().await;
        conns.retain(|c| !c.sender.is_closed());
        let open = conns
            .iter()
            .filter(|c| c.active.load(Ordering::Relaxed) < H2_STREAMS_PER_CONN)
            .min_by_key(|c| c.active.load(Ordering::Relaxed));
        if let Some(c) = open {
            let epoch = self.inner.epoch.load(Ordering::Relaxed);
            if c.epoch.swap(epoch, Ordering::Relaxed) != epoch {
                self.inner.counters.carried_over();
            }
            return Ok((c.clone(), None, false));
        }
        // Opened under the lock: a burst of requests opens the few
        // connections it needs, not one each.
        let (opened, waited) = Box::pin(self.connect(origin)).await?;
        match opened {
            Opened::H2(c) => {
                conns.push(c.clone());
                Ok((c, waited, true))
            }
            Opened::H1(_) => Err(TransportError::new(
                TransportErrorKind::Connect,
                "the server no longer offers HTTP/2 (ALPN)",
            )),
        }
    }

    async fn send_h2(
        &self,
        origin: &Arc<Origin>,
        uri: &Uri,
        req: &Outgoing<'_>,
        mut sent_at: Option<Instant>,
    ) -> Result<(Reply, Option<Instant>), TransportError> {
        let counters = &self.inner.counters;
        let mut retried = false;
        loop {
            let (mut conn, waited, fresh) = self.h2_conn(origin).await?;
            if fresh && !retried {
                counters.request_on_new_connection();
            }
            sent_at = waited.or(sent_at);
            let reused = conn.served.fetch_add(1, Ordering::Relaxed) > 0;
            let guard = StreamGuard::new(conn.active.clone());
            let mut request = Request::new(Full::new(req.body.clone()));
            *request.method_mut() = req.method.clone();
            *request.uri_mut() = uri.clone();
            *request.headers_mut() = req.headers.clone();
            let result = match conn.sender.ready().await {
                Ok(()) => conn.sender.send_request(request).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(head) => return Ok((Reply::H2 { head, guard }, sent_at)),
                // A kept connection the server was closing (GOAWAY) or had
                // closed: the request was not taken. Once, elsewhere.
                Err(e) if reused && !retried && (e.is_canceled() || conn.sender.is_closed()) => {
                    retried = true;
                    counters.stale_retry();
                    counters.closed_by_server();
                    sent_at = Some(Instant::now());
                }
                Err(e) => return Err(TransportError::new(TransportErrorKind::Request, conn::root_cause(&e))),
            }
        }
    }
}

/// A reply's head: on the slot's connection at `index` (HTTP/1), or on a
/// shared HTTP/2 connection.
enum Reply {
    H1 {
        index: usize,
        head: h1::Head,
    },
    H2 {
        head: hyper::Response<Incoming>,
        guard: StreamGuard,
    },
}

/// Holds one stream of an HTTP/2 connection until the reply is done.
struct StreamGuard(Arc<AtomicUsize>);

impl StreamGuard {
    fn new(active: Arc<AtomicUsize>) -> Self {
        active.fetch_add(1, Ordering::Relaxed);
        Self(active)
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A reply: its status, its content type, and its body read piece by piece.
pub struct Response<'s> {
    status: StatusCode,
    content_type: Option<Box<str>>,
    content_encoding: Option<Box<str>>,
    /// The exchange's time limit, started at [`Client::send`].
    deadline: Pin<Box<Sleep>>,
    body: Body<'s>,
}

enum Body<'s> {
    /// Read from the slot's own connection, in the request's task.
    H1 { conn: &'s mut H1Conn, framing: h1::Framing },
    H2 {
        body: Incoming,
        done: bool,
        _guard: StreamGuard,
    },
}

impl Response<'_> {
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The reply's `Content-Type`, if it has one.
    pub fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }

    /// The reply's `Content-Encoding`, if it has one.
    pub fn content_encoding(&self) -> Option<&str> {
        self.content_encoding.as_deref()
    }

    /// The next piece of the body as the network delivered it, `None` at
    /// its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, TransportError> {
        let deadline = &mut self.deadline;
        match &mut self.body {
            Body::H1 { conn, framing } => {
                let piece = std::future::poll_fn(|cx| {
                    if let Poll::Ready(r) = conn.poll_data(cx, framing) {
                        return Poll::Ready(Some(r));
                    }
                    deadline.as_mut().poll(cx).map(|()| None)
                })
                .await;
                match piece {
                    None => Err(TransportError::timeout()),
                    Some(Ok(data)) => Ok(data),
                    Some(Err(why)) => Err(TransportError::new(TransportErrorKind::Body, why)),
                }
            }
            Body::H2 { body, done, .. } => loop {
                if *done {
                    return Ok(None);
                }
                let frame = std::future::poll_fn(|cx| {
                    if let Poll::Ready(f) = Pin::new(&mut *body).poll_frame(cx) {
                        return Poll::Ready(Some(f));
                    }
                    deadline.as_mut().poll(cx).map(|()| None)
                })
                .await;
                match frame {
                    None => return Err(TransportError::timeout()),
                    Some(None) => *done = true,
                    Some(Some(Ok(frame))) => {
                        // Trailers carry no content.
                        if let Ok(data) = frame.into_data() {
                            if !data.is_empty() {
                                return Ok(Some(data));
                            }
                        }
                    }
                    Some(Some(Err(e))) => {
                        return Err(TransportError::new(TransportErrorKind::Body, conn::root_cause(&e)));
                    }
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_headers_are_marked_and_never_printed() {
        let mut c = ClientConfig::new(Duration::from_secs(5));
        c.headers.push(HeaderSpec::bearer("sk-secret"));
        c.headers.push(HeaderSpec {
            name: "x-team".into(),
            value: "blue".into(),
            sensitive: false,
        });
        let h = request_headers(&c);
        assert!(h[AUTHORIZATION].is_sensitive());
        assert_eq!(h[AUTHORIZATION], "Bearer sk-secret");
        assert!(!h["x-team"].is_sensitive());
        assert!(h[USER_AGENT].to_str().unwrap().starts_with("inferload/"));
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("sk-secret") && shown.contains("x-team: blue"),
            "{shown}"
        );
        assert_eq!(h[ACCEPT_ENCODING], "identity", "no compressed replies unless asked");
        c.headers.push(HeaderSpec {
            name: "accept-encoding".into(),
            value: "gzip".into(),
            sensitive: false,
        });
        assert_eq!(request_headers(&c)[ACCEPT_ENCODING], "gzip", "the user's header wins");
    }

    #[test]
    fn a_bad_connect_rate_is_refused() {
        let mut c = ClientConfig::new(Duration::from_secs(5));
        c.connect_rate = Some(0.0);
        assert!(matches!(build_client(&c, 1), Err(ClientError::ConnectRate(_))));
    }
}
