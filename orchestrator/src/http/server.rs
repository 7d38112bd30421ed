//! The HTTP server: hyper's HTTP/1 connections under the limits a public service needs.
//!
//! - **Header timeout** (`--header-timeout`, 10 s): a request's headers must be complete within
//!   this from the connection's opening, or from the first byte of a later request.
//! - **Request timeout** (`--request-timeout`, 30 s): from complete headers to the response,
//!   reading the body included; past it the client gets 408.
//! - **Idle timeout** (`--idle-timeout`, 60 s): how long a kept-alive connection may wait for the
//!   first byte of its next request.
//! - **Write timeout** (`--write-timeout`, 30 s): how long a response being written may make no
//!   progress (the client reads nothing); then the connection is closed. So a client that
//!   pipelines requests, or asks for a large document, and never reads holds its connection
//!   for this long at most.
//! - **Connection limit** (`--max-connections`, 1024): at the limit, a new connection takes the
//!   place of a connection past one of its deadlines, else of the open connection that has
//!   waited longest without a request in flight (one still sending its headers, or idle); only
//!   when every connection is serving a request does it wait for one to finish (or to pass its
//!   write timeout). So clients that open connections and never finish a request
//!   cannot keep `/healthz` or anyone else out, and the process stays within its file
//!   descriptors (when `accept` fails for lack of them, the same eviction makes room).
//!
//! The error responses hyper writes itself (400 for an unparsable request, 414, 431) get the
//! API's JSON error body on their way out.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use axum::Router;
use axum::response::{IntoResponse, Response};
use hyper::body::{Frame, Incoming, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::{AbortHandle, JoinSet};
use tower::ServiceExt;

/// Limits of the HTTP server (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    pub header_timeout: Duration,
    pub request_timeout: Duration,
    pub idle_timeout: Duration,
    pub write_timeout: Duration,
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(30),
            max_connections: 1024,
        }
    }
}

/// How long connections get to finish their requests once the server stops.
const DRAIN: Duration = Duration::from_secs(5);

/// What the server knows of one connection, in milliseconds since the server started.
#[derive(Debug)]
struct Activity {
    epoch: Instant,
    /// Requests between their complete headers and the end of their response.
    in_flight: AtomicUsize,
    /// When the connection began to wait for its next request (opening or last response).
    waiting_since: AtomicU64,
    /// When the first byte of the request being read arrived (0: none yet). The opening
    /// counts as the first byte of the first request, so the header timeout runs from it.
    first_byte: AtomicU64,
    /// Since when a write has been waiting for the client to read (0: no write waiting): the
    /// last time a write made progress, if one has been pending since.
    write_stalled: AtomicU64,
}

impl Activity {
    fn new(epoch: Instant) -> Self {
        let now = millis(epoch);
        Activity {
            epoch,
            in_flight: AtomicUsize::new(0),
            waiting_since: AtomicU64::new(now),
            first_byte: AtomicU64::new(now),
            write_stalled: AtomicU64::new(0),
        }
    }

    /// When the connection is to be closed: past the write timeout of a write that makes no
    /// progress, and, without a request in flight, past the header or idle timeout; `None`
    /// while a request is in flight and its response (if any yet) is being read.
    fn deadline(&self, limits: &HttpLimits) -> Option<u64> {
        let write = match self.write_stalled.load(Ordering::Acquire) {
            0 => None,
            since => Some(since + as_millis(limits.write_timeout)),
        };
        let wait =
            (self.in_flight.load(Ordering::Acquire) == 0).then(|| match self.first_byte.load(Ordering::Acquire) {
                0 => self.waiting_since.load(Ordering::Acquire) + as_millis(limits.idle_timeout),
                first => first + as_millis(limits.header_timeout),
            });
        match (write, wait) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Notes the outcome of a write to the socket: progress, or a wait for the client to read.
    fn wrote(&self, pending: bool) {
        if pending {
            let now = millis(self.epoch);
            let _ = self
                .write_stalled
                .compare_exchange(0, now, Ordering::AcqRel, Ordering::Acquire);
        } else {
            self.write_stalled.store(0, Ordering::Release);
        }
    }

    /// Since when it has waited without a request in flight (the eviction order).
    fn waiting(&self) -> Option<u64> {
        (self.in_flight.load(Ordering::Acquire) == 0).then(|| self.waiting_since.load(Ordering::Acquire))
    }
}

fn millis(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX).max(1)
}

fn as_millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX / 2)
}

/// A request in flight on a connection, from its complete headers to the end of its response
/// body.
struct Busy(Arc<Activity>);

impl Busy {
    fn start(activity: Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        Busy(activity)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let now = millis(self.0.epoch);
        self.0.waiting_since.store(now, Ordering::Release);
        self.0.first_byte.store(0, Ordering::Release);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The open connections, by the order they were accepted.
#[derive(Default)]
struct Registry {
    open: Mutex<std::collections::HashMap<u64, (Arc<Activity>, AbortHandle)>>,
}

impl Registry {
    fn remove(&self, id: u64) {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
    }

    /// Closes connections whose deadline has passed.
    fn close_expired(&self, limits: &HttpLimits, now: u64) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.retain(|_, (activity, abort)| {
            let expired = activity.deadline(limits).is_some_and(|d| d <= now);
            if expired {
                abort.abort();
            }
            !expired
        });
    }

    /// Closes a connection past its deadline, else the one that has waited longest without a
    /// request in flight; whether there was one.
    fn evict_one(&self, limits: &HttpLimits, now: u64) -> bool {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let expired = open
            .iter()
            .filter_map(|(id, (activity, _))| activity.deadline(limits).filter(|d| *d <= now).map(|d| (d, *id)))
            .min();
        let oldest = || {
            open.iter()
                .filter_map(|(id, (activity, _))| activity.waiting().map(|since| (since, *id)))
                .min()
        };
        let chosen = expired.or_else(oldest);
        match chosen.and_then(|(_, id)| open.remove(&id)) {
            Some((_, abort)) => {
                abort.abort();
                true
            }
            None => false,
        }
    }
}

/// Serves `router` on `listener` under `limits` until `stop` turns true; then lets open
/// requests finish (for at most 5 s) and closes every connection.
pub async fn serve(listener: TcpListener, router: Router, limits: HttpLimits, mut stop: watch::Receiver<bool>) {
    let epoch = Instant::now();
    let registry = Arc::new(Registry::default());
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut connections = JoinSet::new();
    let reaper = tokio::spawn(reap(registry.clone(), limits, epoch));
    let mut next_id = 0u64;
    loop {
        while connections.try_join_next().is_some() {}
        let accepted = tokio::select! {
            _ = stopped(&mut stop) => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Out of file descriptors, most likely: make room and try again.
                tracing::warn!(error = %e, "cannot accept a connection");
                registry.evict_one(&limits, millis(epoch));
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let permit = tokio::select! {
            _ = stopped(&mut stop) => break,
            permit = slot(&slots, &registry, &limits, epoch) => permit,
        };
        next_id += 1;
        let connection = Connection {
            id: next_id,
            peer,
            activity: Arc::new(Activity::new(epoch)),
            registry: registry.clone(),
            router: router.clone(),
            limits,
            stop: stop.clone(),
        };
        // The registry is locked while the task is spawned, so the task cannot deregister
        // before it is registered.
        let mut open = registry.open.lock().unwrap_or_else(|e| e.into_inner());
        let activity = connection.activity.clone();
        let abort = connections.spawn(connection.run(stream, permit));
        open.insert(next_id, (activity, abort));
    }
    drop(listener);
    reaper.abort();
    if tokio::time::timeout(DRAIN, async { while connections.join_next().await.is_some() {} })
        .await
        .is_err()
    {
        connections.shutdown().await;
    }
}

/// A connection slot: at once if one is free, else by evicting a connection past its deadline
/// or the one that has waited longest without a request, else when a connection ends.
async fn slot(
    slots: &Arc<Semaphore>,
    registry: &Registry,
    limits: &HttpLimits,
    epoch: Instant,
) -> OwnedSemaphorePermit {
    loop {
        if let Ok(permit) = slots.clone().try_acquire_owned() {
            return permit;
        }
        registry.evict_one(limits, millis(epoch));
        // An evicted connection gives its slot back when its task is dropped, within a moment.
        if let Ok(Ok(permit)) = tokio::time::timeout(Duration::from_millis(50), slots.clone().acquire_owned()).await {
            return permit;
        }
    }
}

/// Closes expired connections, several times per shortest timeout.
async fn reap(registry: Arc<Registry>, limits: HttpLimits, epoch: Instant) {
    let shortest = limits.header_timeout.min(limits.idle_timeout).min(limits.write_timeout);
    let tick = (shortest / 10).clamp(Duration::from_millis(10), Duration::from_secs(1));
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        registry.close_expired(&limits, millis(epoch));
    }
}

/// Returns once `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

/// One accepted connection and what it needs to serve itself.
struct Connection {
    id: u64,
    /// The client's address, given to handlers as `ConnectInfo` (failed logins are counted
    /// per client).
    peer: std::net::SocketAddr,
    activity: Arc<Activity>,
    registry: Arc<Registry>,
    router: Router,
    limits: HttpLimits,
    stop: watch::Receiver<bool>,
}

impl Connection {
    async fn run(mut self, stream: TcpStream, _permit: OwnedSemaphorePermit) {
        let _registered = Deregister(self.registry.clone(), self.id);
        let _ = stream.set_nodelay(true);
        let io = hyper_util::rt::TokioIo::new(Watched {
            io: stream,
            activity: self.activity.clone(),
            rewrite: None,
        });
        let service = ConnectionService {
            router: self.router.clone(),
            peer: self.peer,
            activity: self.activity.clone(),
            request_timeout: self.limits.request_timeout,
        };
        let connection = hyper::server::conn::http1::Builder::new()
            .header_read_timeout(None)
            .serve_connection(io, service);
        tokio::pin!(connection);
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended");
                }
            }
            _ = stopped(&mut self.stop) => {
                connection.as_mut().graceful_shutdown();
                let _ = connection.await;
            }
        }
    }
}

/// Removes a connection from the registry when its task ends.
struct Deregister(Arc<Registry>, u64);

impl Drop for Deregister {
    fn drop(&mut self) {
        self.0.remove(self.1);
    }
}

/// Calls the router for one request, under the request timeout, and keeps the connection
/// marked busy until the response body has been sent.
#[derive(Clone)]
struct ConnectionService {
    router: Router,
    peer: std::net::SocketAddr,
    activity: Arc<Activity>,
    request_timeout: Duration,
}

impl hyper::service::Service<hyper::Request<Incoming>> for ConnectionService {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, request: hyper::Request<Incoming>) -> Self::Future {
        let busy = Busy::start(self.activity.clone());
        let (router, timeout, peer) = (self.router.clone(), self.request_timeout, self.peer);
        Box::pin(async move {
            let mut request = request.map(axum::body::Body::new);
            request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
            let response = match tokio::time::timeout(timeout, router.oneshot(request)).await {
                Ok(Ok(response)) => response,
                Ok(Err(never)) => match never {},
                Err(_) => crate::http::error::ApiError::RequestTimeout(timeout).into_response(),
            };
            Ok(response.map(|inner| axum::body::Body::new(BusyBody { inner, _busy: busy })))
        })
    }
}

/// A response body that holds its request's [`Busy`] until it is dropped.
struct BusyBody {
    inner: axum::body::Body,
    _busy: Busy,
}

impl hyper::body::Body for BusyBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The socket, watched: the first byte of a request starts its header timeout, a write that
/// waits for the client to read starts the write timeout, and the bodiless error responses
/// hyper writes on its own get the API's JSON error body.
struct Watched {
    io: TcpStream,
    activity: Arc<Activity>,
    /// A rewritten response being written, how much of it is written, and how many bytes of
    /// hyper's it stands for.
    rewrite: Option<(Vec<u8>, usize, usize)>,
}

impl AsyncRead for Watched {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.io).poll_read(cx, buf);
        if buf.filled().len() > before && this.activity.in_flight.load(Ordering::Acquire) == 0 {
            let now = millis(this.activity.epoch);
            let _ = this
                .activity
                .first_byte
                .compare_exchange(0, now, Ordering::AcqRel, Ordering::Acquire);
        }
        result
    }
}

impl AsyncWrite for Watched {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.rewrite.is_none()
            && this.activity.in_flight.load(Ordering::Acquire) == 0
            && let Some(replacement) = with_json_body(buf)
        {
            this.rewrite = Some((replacement, 0, buf.len()));
        }
        if let Some((bytes, written, stands_for)) = &mut this.rewrite {
            while *written < bytes.len() {
                let n = ready!(write_watched(&mut this.io, &this.activity, cx, &bytes[*written..]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                *written += n;
            }
            let n = *stands_for;
            this.rewrite = None;
            return Poll::Ready(Ok(n));
        }
        write_watched(&mut this.io, &this.activity, cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// Writes to the socket, noting on `activity` whether the write had to wait for the client.
fn write_watched(io: &mut TcpStream, activity: &Activity, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
    let result = Pin::new(io).poll_write(cx, buf);
    activity.wrote(result.is_pending());
    result
}

/// hyper's own answer to a request it could not parse (`HTTP/1.1 400`, `414` or `431` with
/// `content-length: 0` and no content type), with the API's JSON error body and the security
/// headers every response carries; `None` for anything else.
fn with_json_body(written: &[u8]) -> Option<Vec<u8>> {
    let head_end = written.windows(4).position(|w| w == b"\r\n\r\n")?;
    if head_end + 4 != written.len() {
        return None;
    }
    let head = std::str::from_utf8(&written[..head_end]).ok()?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()?;
    if !matches!(status, 400 | 414 | 431) {
        return None;
    }
    let headers: Vec<&str> = lines.collect();
    let lower = |h: &&str| h.to_ascii_lowercase();
    if !headers.iter().map(lower).any(|h| h == "content-length: 0")
        || headers.iter().map(lower).any(|h| h.starts_with("content-type:"))
    {
        return None;
    }
    let status = axum::http::StatusCode::from_u16(status).ok()?;
    let body = serde_json::to_string(&crate::http::error::status_body(status)).ok()?;
    let mut out = format!(
        "HTTP/1.1 {} {}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    for header in headers.iter().filter(|h| !lower(h).starts_with("content-length:")) {
        out.push_str(header);
        out.push_str("\r\n");
    }
    for (name, value) in crate::http::guard::SECURITY_HEADERS {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!(
        "content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    ));
    Some(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypers_bodiless_errors_get_a_json_body_and_other_writes_pass() {
        let written = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let out = String::from_utf8(with_json_body(written).unwrap()).unwrap();
        assert!(
            out.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\ndate: x\r\n"),
            "{out}"
        );
        assert!(out.contains("content-type: application/json\r\n"), "{out}");
        let body: serde_json::Value = serde_json::from_str(out.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        assert_eq!(body["error"]["code"], "request_header_fields_too_large", "{out}");
        assert!(out.contains("x-content-type-options: nosniff\r\n"), "{out}");
        assert_eq!(with_json_body(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"), None);
        assert_eq!(
            with_json_body(b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"),
            None
        );
    }
}
