//! HTTP-server mode: plain HTTP/1.1 on `0.0.0.0:$PORT` (Function Compute's custom-runtime
//! contract, or behind any reverse proxy), keep-alive, body limit enforced while reading,
//! graceful shutdown on SIGTERM/SIGINT.
//!
//! What a client that never authenticates can make the process hold is bounded
//! ([`ServerLimits`]): body buffers grow only as bytes arrive, a body must arrive within the
//! read deadline or the connection is closed, and connections over the cap are closed at once.

use std::fmt::Display;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_LENGTH, EXPECT};
use http::{HeaderMap, HeaderValue};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use thiserror::Error;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore, SemaphorePermit};

use super::limits::{LimitError, ServerLimits};
use super::workers::{Load, Workers};
use super::{
    finish_response, handle, logging, panic_response, report_startup_failure, HandlerPanicked,
};
use crate::config::{vars, ProcessEnv};
use crate::http::{generate_request_id, ErrorCode, Handler, Request, Response, MAX_BODY_BYTES};

/// The port when none of [`vars::PORTS`] is set.
pub const DEFAULT_PORT: u16 = 9000;
/// The header carrying Function Compute's request id.
pub const FC_REQUEST_ID: &str = "x-fc-request-id";
/// How long in-flight requests may take to finish after SIGTERM before the process exits anyway.
const DRAIN_LIMIT: Duration = Duration::from_secs(30);
/// How long a client may take to send a request head; hyper also applies it to an idle
/// keep-alive connection, so it is longer than the usual idle timeout of a fronting proxy
/// (the proxy should close first, else it can send a request on a connection we are closing).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(120);
/// Most bytes hyper buffers per connection, so also the largest request head (start line and
/// headers; over it hyper answers its own bare 431). hyper's default (~400 KB) let each stalled
/// client hold that much on top of its body. It leaves room above the head bounds of
/// [`super::head`] (an 8 KiB URI and 16 KiB of headers fit with 7 KiB to spare), so a head
/// over those bounds but within this buffer gets the API's JSON 414/431.
const READ_BUFFER_BYTES: usize = 32 * 1024;
/// hyper's cap on header fields, above [`super::head::MAX_HEADER_FIELDS`]: as many as the
/// shortest field line (`a:` and CRLF, 4 bytes) can fill the read buffer, so that hyper's own
/// count limit is never what refuses a head that fits the buffer. hyper sizes its parse
/// scratch space by it (uninitialised, freed after each parse).
const MAX_HEAD_FIELDS: usize = READ_BUFFER_BYTES / 4;
/// Most bytes of request bodies held at once (being received, or received and not yet
/// answered; the buffers' allocated size, growth included), over all connections. A read that would pass it waits (the data stays in the
/// kernel's socket buffers) until other requests are answered or their read deadline closes
/// them; so clients that stall mid-body cannot make the process hold more than this, however
/// many connect.
const BODY_BUDGET_BYTES: usize = 32 << 20;
/// Most bytes of request bodies being handled at once. A handler turns a JSON body into trees
/// (`serde_json::Value`, then the store's own form) of up to ~25 times its size for dense JSON,
/// and may hold them until the store answers: 24 merge patches of 262 kB at once took the db
/// process to ~210 MB. The others wait their turn as bytes, in order of arrival. One body of
/// the largest size, or many small ones (it must hold [`MAX_BODY_BYTES`]).
const WORK_BUDGET_BYTES: usize = MAX_BODY_BYTES;
/// After a 413, up to this much of the rest of the body is read and dropped so that the client,
/// still sending, reads the answer instead of a connection reset; then the connection closes.
const LINGER_BYTES: usize = 1 << 20;
/// Longest upload or download of the local file backend's URLs (a file of the 20 MiB default
/// limit at ~35 KB/s).
const FILE_TRANSFER_LIMIT: Duration = Duration::from_secs(600);
/// Upper bound on that lingering read.
const LINGER_TIME: Duration = Duration::from_secs(2);

/// What can stop HTTP-server mode.
#[derive(Debug, Error)]
pub enum ServerError {
    /// A port variable holds something other than a port number.
    #[error("{var}={value:?} is not a port number (0-65535)")]
    BadPort {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
    },
    /// The port could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why binding failed.
        source: std::io::Error,
    },
    /// Signal handlers could not be installed.
    #[error("cannot install the SIGTERM/SIGINT handlers: {0}")]
    Signal(std::io::Error),
    /// A limit variable does not parse.
    #[error(transparent)]
    Limit(#[from] LimitError),
    /// The tokio runtime could not be built.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

/// The listen port from the first of [`vars::PORTS`] that `lookup` finds non-empty (Function
/// Compute sets one of the first two).
pub fn listen_port(lookup: impl Fn(&str) -> Option<String>) -> Result<u16, ServerError> {
    for var in vars::PORTS {
        let Some(value) = lookup(var).filter(|v| !v.trim().is_empty()) else {
            continue;
        };
        return value
            .trim()
            .parse()
            .map_err(|_| ServerError::BadPort { var, value });
    }
    Ok(DEFAULT_PORT)
}

/// Reads a variable of the process environment; one that is set but not Unicode reads as its
/// lossy text, so that it is reported as invalid rather than ignored.
pub(super) fn env_var(var: &str) -> Option<String> {
    std::env::var_os(var).map(|v| v.to_string_lossy().into_owned())
}

/// Runs HTTP-server mode until SIGTERM/SIGINT (exit 0) or a startup failure (exit 1).
pub(super) fn run<H, F, Fut, E>(function_name: &'static str, load: Load, init: F) -> ExitCode
where
    H: Handler,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<H, E>>,
    E: Display,
{
    let started = listen_port(env_var).and_then(|port| {
        let limits = ServerLimits::from_lookup(env_var)?;
        let workers = Workers::from_lookup(env_var, Workers::http_default(load, &ProcessEnv))?;
        let rt = workers.build().map_err(ServerError::Runtime)?;
        Ok((port, limits, rt))
    });
    let (port, limits, rt) = match started {
        Ok(ok) => ok,
        Err(e) => {
            report_startup_failure(function_name, &e);
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        let handler = match init().await {
            Ok(h) => Arc::new(h),
            Err(e) => {
                report_startup_failure(function_name, &e);
                return ExitCode::FAILURE;
            }
        };
        match serve(handler, function_name, port, limits).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                report_startup_failure(function_name, &e);
                ExitCode::FAILURE
            }
        }
    })
}

/// Accepts connections until a shutdown signal, then lets in-flight requests finish.
async fn serve<H: Handler>(
    handler: Arc<H>,
    function: &'static str,
    port: u16,
    limits: ServerLimits,
) -> Result<(), ServerError> {
    // Signals first: a SIGTERM that arrives right after "listening" must already be ours.
    let shutdown = shutdown_signal()?;
    let addr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })?;
    let local = listener.local_addr().unwrap_or(addr);
    tracing::info!(function, addr = %local, port = local.port(), "listening");

    // `closing` tells connections to finish; `done` closes once every connection task ended.
    let (closing_tx, closing_rx) = watch::channel(false);
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let budgets = Arc::new(BodyBudgets {
        held: Semaphore::new(BODY_BUDGET_BYTES),
        working: Semaphore::new(WORK_BUDGET_BYTES),
    });
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    // Over the cap: closed at once (the client sees the connection end and
                    // may retry), so stalled clients cannot pile up without bound.
                    let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                        tracing::warn!(max = limits.max_connections, "connection cap reached; closing a new connection");
                        drop(stream);
                        continue;
                    };
                    let conn = Connection {
                        handler: Arc::clone(&handler),
                        function,
                        peer,
                        limits,
                        budgets: Arc::clone(&budgets),
                    };
                    tokio::spawn(conn.serve(stream, closing_rx.clone(), (done_tx.clone(), slot)));
                }
                Err(e) => {
                    // Usually out of file descriptors: pause instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(listener);
    tracing::info!("shutdown signal: no new connections, finishing in-flight requests");
    let _ = closing_tx.send(true);
    drop(done_tx);
    if tokio::time::timeout(DRAIN_LIMIT, done_rx.recv())
        .await
        .is_err()
    {
        tracing::warn!("in-flight requests still running after the drain limit; exiting");
    }
    Ok(())
}

/// Resolves on the first SIGTERM or SIGINT.
fn shutdown_signal() -> Result<impl Future<Output = ()>, ServerError> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).map_err(ServerError::Signal)?;
        let mut int = signal(SignalKind::interrupt()).map_err(ServerError::Signal)?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {},
                _ = int.recv() => {},
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

/// One accepted connection and what its requests need.
struct Connection<H> {
    handler: Arc<H>,
    function: &'static str,
    peer: SocketAddr,
    limits: ServerLimits,
    budgets: Arc<BodyBudgets>,
}

/// The bounds on request bodies in memory, in bytes (one permit per byte).
struct BodyBudgets {
    /// Received or being received: [`BODY_BUDGET_BYTES`].
    held: Semaphore,
    /// Being handled: [`WORK_BUDGET_BYTES`].
    working: Semaphore,
}

/// The client did not send its whole request within the read deadline: hyper closes the
/// connection without an answer (a client that stalls would not read one).
#[derive(Debug, Error)]
#[error("the request was not received within the read deadline")]
struct ReadTimedOut;

impl<H: Handler> Connection<H> {
    /// Serves the connection's requests; on shutdown, finishes the current one and closes.
    /// `_done` is dropped when this ends, which is how the server knows all connections ended
    /// (and frees the connection's slot).
    async fn serve(
        self,
        stream: TcpStream,
        mut closing: watch::Receiver<bool>,
        _done: (mpsc::Sender<()>, OwnedSemaphorePermit),
    ) {
        let _ = stream.set_nodelay(true);
        let this = Arc::new(self);
        let service = service_fn(move |req| {
            let this = Arc::clone(&this);
            async move { this.respond(req).await }
        });
        let conn = http1::Builder::new()
            .keep_alive(true)
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .max_buf_size(READ_BUFFER_BYTES)
            .max_headers(MAX_HEAD_FIELDS)
            .serve_connection(TokioIo::new(stream), service);
        tokio::pin!(conn);
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
            }
            // The guard `wait_for` returns is not `Send`: drop it inside the block.
            _ = async { closing.wait_for(|closing| *closing).await.is_ok() } => {
                conn.as_mut().graceful_shutdown();
                let _ = conn.await;
            }
        }
    }

    /// Reads the request (within the body limit), calls the handler, builds the response.
    async fn respond(
        &self,
        req: hyper::Request<Incoming>,
    ) -> Result<hyper::Response<Full<Bytes>>, ReadTimedOut> {
        let request_id = request_id_from(req.headers(), self.limits.trust_fc_request_id);
        if let Some(files) = self.handler.local_files() {
            if crate::files::LocalBackend::owns(req.method(), req.uri().path()) {
                // Streamed to disk by the file backend, within its own size limit and deadline.
                return tokio::time::timeout(FILE_TRANSFER_LIMIT, files.serve(req))
                    .await
                    .map_err(|_| ReadTimedOut);
            }
        }
        let (parts, incoming) = req.into_parts();
        let may_linger = !parts.headers.contains_key(EXPECT);
        let read = tokio::time::timeout(
            self.limits.request_read_timeout,
            read_limited(incoming, &parts.headers, &self.budgets.held),
        )
        .await;
        let Ok(read) = read else {
            tracing::info!(request_id, "request body not received in time; closing");
            return Err(ReadTimedOut);
        };
        // `_held` keeps the body counted in the budget until the answer is built.
        let (body, _held) = match read {
            BodyRead::Complete(body, held) => (body, held),
            BodyRead::TooLarge(rest) => {
                let request = self.request(parts, Bytes::new(), true, request_id);
                let mut resp = self.dispatch(request).await;
                // The rest of the body was never read: this connection cannot carry another request.
                resp.headers_mut()
                    .insert(CONNECTION, HeaderValue::from_static("close"));
                if may_linger {
                    tokio::spawn(linger(rest));
                }
                return Ok(resp);
            }
            BodyRead::Failed => return Ok(self.unreadable_body(&parts.method, &request_id)),
        };
        let _working = self.work_permit(body.len()).await;
        let request = self.request(parts, body, false, request_id);
        Ok(self.dispatch(request).await)
    }

    /// Waits until `len` more bytes of bodies may be handled ([`WORK_BUDGET_BYTES`]). An empty
    /// body needs no permit.
    async fn work_permit(&self, len: usize) -> Option<SemaphorePermit<'_>> {
        if len == 0 {
            return None;
        }
        // A body is at most MAX_BODY_BYTES, within the budget and far below u32::MAX.
        let n = u32::try_from(len.min(WORK_BUDGET_BYTES)).unwrap_or(u32::MAX);
        // Acquiring fails only on a closed semaphore, and this one is never closed.
        self.budgets.working.acquire_many(n).await.ok()
    }

    fn request(
        &self,
        parts: http::request::Parts,
        body: Bytes,
        too_large: bool,
        request_id: String,
    ) -> Request {
        Request {
            raw_path: parts.uri.path().to_owned(),
            raw_query: parts.uri.query().unwrap_or_default().to_owned(),
            method: parts.method,
            headers: parts.headers,
            body,
            body_too_large: too_large,
            request_id,
            source_ip: Some(canonical_ip(self.peer.ip())),
        }
    }

    /// Calls the handler; a panic becomes a 500 for this request only.
    async fn dispatch(&self, request: Request) -> hyper::Response<Full<Bytes>> {
        let request_id = request.request_id.clone();
        let resp = match handle(&self.handler, self.function, request).await {
            Ok(resp) => resp,
            Err(HandlerPanicked) => finish_response(panic_response(&request_id), &request_id),
        };
        to_hyper(resp)
    }

    /// The client broke off or sent a malformed body: answer 400 and close.
    fn unreadable_body(
        &self,
        method: &http::Method,
        request_id: &str,
    ) -> hyper::Response<Full<Bytes>> {
        let resp = Response::error(
            ErrorCode::InvalidRequest,
            "the request body could not be read",
            request_id,
        );
        let resp = finish_response(resp, request_id);
        let info = logging::AccessInfo {
            function: self.function,
            request_id: request_id.to_owned(),
            method: method.clone(),
        };
        logging::access(&info, &resp, Duration::ZERO);
        let mut out = to_hyper(resp);
        out.headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
        out
    }
}

/// The request id: Function Compute's `x-fc-request-id` when it is trusted (a Function Compute
/// front end sets it; a client could otherwise choose ids that collide in the logs) and a sane
/// token, else our own.
fn request_id_from(headers: &HeaderMap, trust_fc: bool) -> String {
    if !trust_fc {
        return generate_request_id();
    }
    headers
        .get(FC_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| (1..=128).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(generate_request_id, str::to_owned)
}

/// IPv4 peers on a dual-stack socket show up as `::ffff:a.b.c.d`; report them as IPv4.
fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// How reading a request body ended.
enum BodyRead<'a> {
    /// The body, and the permits it holds in the budget it was read under.
    Complete(Bytes, Option<SemaphorePermit<'a>>),
    /// Over [`MAX_BODY_BYTES`]: reading stopped; the unread rest is handed back.
    TooLarge(Incoming),
    Failed,
}

/// Reads the body, stopping as soon as it is known to exceed [`MAX_BODY_BYTES`] (from
/// `content-length` before reading anything, or while reading a chunked body). The buffer grows
/// as bytes arrive, never from the declared length: a client that announces 256 KiB and sends
/// nothing holds nothing. A complete body comes with its share of `budget`.
async fn read_limited<'a>(
    mut body: Incoming,
    headers: &HeaderMap,
    budget: &'a Semaphore,
) -> BodyRead<'a> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return BodyRead::TooLarge(body);
    }
    // Never more than the declared length (when there is one) is allocated.
    let ceiling = declared.map_or(MAX_BODY_BYTES, |n| {
        usize::try_from(n).unwrap_or(MAX_BODY_BYTES)
    });
    let mut buf: Vec<u8> = Vec::new();
    let mut held: Option<SemaphorePermit<'a>> = None;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return BodyRead::Failed;
        };
        if let Ok(data) = frame.into_data() {
            let needed = buf.len() + data.len();
            if needed > MAX_BODY_BYTES {
                return BodyRead::TooLarge(body);
            }
            if needed > buf.capacity() {
                // The budget counts what is allocated, growth included: doubling, up to the
                // declared length, and never less than what this frame needs.
                let grown = (buf.capacity() * 2).min(ceiling).max(needed);
                // At most MAX_BODY_BYTES, far below u32::MAX.
                let n = u32::try_from(grown - buf.capacity()).unwrap_or(u32::MAX);
                let Ok(permit) = budget.acquire_many(n).await else {
                    return BodyRead::Failed;
                };
                match held.as_mut() {
                    Some(h) => h.merge(permit),
                    None => held = Some(permit),
                }
                buf.reserve_exact(grown - buf.len());
            }
            buf.extend_from_slice(&data);
        }
    }
    BodyRead::Complete(Bytes::from(buf), held)
}

/// Reads and drops a bounded amount of the unread body, then drops it (closing the connection).
async fn linger(mut rest: Incoming) {
    let deadline = tokio::time::Instant::now() + LINGER_TIME;
    let mut read = 0usize;
    while read < LINGER_BYTES {
        let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, rest.frame()).await else {
            break;
        };
        read += frame.data_ref().map_or(0, Bytes::len);
    }
}

fn to_hyper(resp: Response) -> hyper::Response<Full<Bytes>> {
    let mut out = hyper::Response::new(Full::new(resp.body));
    *out.status_mut() = resp.status;
    *out.headers_mut() = resp.headers;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(vars: &[(&str, &str)]) -> Result<u16, String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        listen_port(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn port_precedence_and_errors() {
        assert_eq!(port(&[]), Ok(9000));
        assert_eq!(port(&[("PORT", "8080")]), Ok(8080));
        assert_eq!(
            port(&[("PORT", "8080"), ("FC_SERVER_PORT", "9001")]),
            Ok(9001)
        );
        assert_eq!(
            port(&[
                ("FC_CUSTOM_LISTEN_PORT", "7000"),
                ("FC_SERVER_PORT", "9001")
            ]),
            Ok(7000)
        );
        assert_eq!(port(&[("FC_SERVER_PORT", ""), ("PORT", "81")]), Ok(81));
        let err = port(&[("PORT", "eighty")]).err().unwrap_or_default();
        assert!(err.contains("PORT=\"eighty\""), "{err}");
        assert!(port(&[("PORT", "70000")]).is_err());
    }

    #[test]
    fn request_id_source() {
        let mut h = HeaderMap::new();
        h.insert(FC_REQUEST_ID, HeaderValue::from_static("fc-123"));
        assert_eq!(request_id_from(&h, true), "fc-123");
        assert_ne!(request_id_from(&h, false), "fc-123", "untrusted by default");
        h.insert(FC_REQUEST_ID, HeaderValue::from_static("has space"));
        assert_ne!(request_id_from(&h, true), "has space");
        assert!(!request_id_from(&HeaderMap::new(), true).is_empty());
    }
}
