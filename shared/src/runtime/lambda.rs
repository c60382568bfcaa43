//! Lambda mode: the Runtime API loop (`/next` → handler → `/response` or `/error`), one
//! invocation at a time on a current-thread runtime, over one keep-alive connection.

use std::convert::Infallible;
use std::fmt::Display;
use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::json;
use thiserror::Error;
use tokio::net::TcpStream;

use super::limits::LimitError;
use super::workers::Workers;
use super::{event, handle, report_startup_failure, HandlerPanicked};
use crate::http::Handler;
use crate::percent;

const API_VERSION: &str = "/2018-06-01/runtime";
/// Attempts of one Runtime API call before the process gives up (Lambda restarts it).
const MAX_ATTEMPTS: u32 = 5;
/// First retry delay; doubled on each further attempt.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// Pause after a `204` from `/next` so that an emulator with nothing queued is not hammered.
const EMPTY_POLL_BACKOFF: Duration = Duration::from_millis(20);

/// What can stop the Lambda loop.
#[derive(Debug, Error)]
pub enum LambdaError {
    /// `AWS_LAMBDA_RUNTIME_API` is not `host:port` or `http://host:port/base`.
    #[error("AWS_LAMBDA_RUNTIME_API {value:?} is not usable: {reason}")]
    BadEndpoint {
        /// The variable's value.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The Runtime API could not be reached or kept failing.
    #[error("Runtime API {path} failed after {attempts} attempts: {last}")]
    Unreachable {
        /// The Runtime API path called.
        path: String,
        /// How many attempts were made.
        attempts: u32,
        /// The last attempt's failure.
        last: String,
    },
    /// The Runtime API refused a call in a way retrying cannot fix.
    #[error("Runtime API {path} answered {status}")]
    Refused {
        /// The Runtime API path called.
        path: String,
        /// The status it answered.
        status: StatusCode,
    },
    /// The tokio runtime could not be built.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    /// `MINIAPP_WORKER_THREADS` does not parse.
    #[error(transparent)]
    Workers(#[from] LimitError),
}

/// Where the Runtime API is: `host:port` plus an optional base path (emulators such as
/// cargo-lambda serve it under a prefix, e.g. `http://127.0.0.1:9000/.rt`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `host:port`, also sent as `Host`.
    pub authority: String,
    /// Empty, or a path starting with `/` and without a trailing `/`.
    pub base_path: String,
}

impl Endpoint {
    /// Parses the value of `AWS_LAMBDA_RUNTIME_API`: bare `host:port` or an `http://` URL.
    pub fn parse(value: &str) -> Result<Self, LambdaError> {
        let bad = |reason| LambdaError::BadEndpoint {
            value: value.to_owned(),
            reason,
        };
        let trimmed = value.trim();
        let rest = match trimmed.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some(_) => return Err(bad("only http:// is supported")),
            None => trimmed,
        };
        let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
        if authority.is_empty() || authority.contains(['@', '?', '#', ' ']) {
            return Err(bad("expected host:port"));
        }
        let has_port = authority.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())
        });
        let authority = if has_port {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        Ok(Self {
            authority,
            base_path: path.trim_end_matches('/').to_owned(),
        })
    }

    fn path(&self, suffix: &str) -> String {
        format!("{}{API_VERSION}{suffix}", self.base_path)
    }
}

/// Runs Lambda mode to the end (init failure or a Runtime API that is gone).
pub(super) fn run<H, F, Fut, E>(function_name: &'static str, endpoint: &str, init: F) -> ExitCode
where
    H: Handler,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<H, E>>,
    E: Display,
{
    // One invocation at a time: a current-thread runtime is all Lambda mode needs (measured in
    // docs/benchmarks.md, "Worker threads").
    let started = Endpoint::parse(endpoint).and_then(|endpoint| {
        let workers = Workers::from_lookup(super::server::env_var, Workers::One)?;
        let rt = workers.build().map_err(LambdaError::Runtime)?;
        Ok((endpoint, rt))
    });
    let (endpoint, rt) = match started {
        Ok(ok) => ok,
        Err(e) => {
            report_startup_failure(function_name, &e);
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        let mut client = RuntimeClient::new(endpoint);
        // The runtime's thread opens the connection to the Runtime API while init waits (for
        // the providers' thread, or on the network), so the first `/next` does not. Nothing is
        // asked of the API before init is over.
        let (built, ()) = tokio::join!(init(), client.connect_early());
        let Some(handler) = handler_or_report(&mut client, function_name, built).await else {
            return ExitCode::FAILURE;
        };
        let Err(e) = serve(&mut client, &handler, function_name).await;
        tracing::error!(error = %e, "leaving the Runtime API loop");
        ExitCode::FAILURE
    })
}

/// The handler `init` built, or `None` after reporting its error to stderr and to
/// `/runtime/init/error` (Lambda then shows it as the reason the function could not start).
async fn handler_or_report<H, E: Display>(
    client: &mut RuntimeClient,
    function_name: &'static str,
    built: Result<H, E>,
) -> Option<Arc<H>> {
    match built {
        Ok(h) => Some(Arc::new(h)),
        Err(e) => {
            report_startup_failure(function_name, &e);
            let message = format!("{function_name}: {e}");
            if let Err(post) = client.post_init_error(&message).await {
                tracing::error!(error = %post, "could not report the init error");
            }
            None
        }
    }
}

/// The loop proper; returns only when the Runtime API fails for good.
async fn serve<H: Handler>(
    client: &mut RuntimeClient,
    handler: &Arc<H>,
    function_name: &'static str,
) -> Result<Infallible, LambdaError> {
    loop {
        let Some(invocation) = client.next_invocation().await? else {
            tokio::time::sleep(EMPTY_POLL_BACKOFF).await;
            continue;
        };
        tracing::debug!(request_id = %invocation.request_id, deadline_ms = invocation.deadline_ms, "invocation");
        // The handler sees the trace id of its own invocation only (`crate::trace`), as
        // Lambda's runtimes do, without writing the process environment.
        let trace_id = invocation.trace_id.clone();
        let outcome =
            crate::trace::scope(trace_id, process(handler, function_name, &invocation)).await;
        client.post_outcome(&invocation.request_id, outcome).await?;
    }
}

/// One invocation as `/next` delivered it.
#[derive(Debug)]
struct Invocation {
    request_id: String,
    trace_id: Option<String>,
    /// Absent or unparsable deadlines are tolerated: Lambda enforces the timeout itself.
    deadline_ms: Option<u64>,
    payload: Bytes,
}

/// A failed invocation as reported to `/error`.
#[derive(Debug)]
struct InvocationError {
    error_type: &'static str,
    message: String,
}

async fn process<H: Handler>(
    handler: &Arc<H>,
    function_name: &'static str,
    invocation: &Invocation,
) -> Result<event::HttpEventResponse, InvocationError> {
    let request = event::parse_request(&invocation.payload, &invocation.request_id).map_err(|e| {
        tracing::warn!(request_id = %invocation.request_id, error_type = e.error_type(), error = %e, "invocation refused");
        InvocationError {
            error_type: e.error_type(),
            message: e.to_string(),
        }
    })?;
    match handle(handler, function_name, request).await {
        Ok(resp) => Ok(event::to_event_response(&resp)),
        Err(HandlerPanicked) => Err(InvocationError {
            error_type: "Runtime.HandlerPanic",
            message: "the handler panicked; details are in the function's log".to_owned(),
        }),
    }
}

/// A Runtime API answer, body read in full.
struct ApiResponse {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

/// The Runtime API client: one HTTP/1.1 keep-alive connection, reopened only when it broke.
struct RuntimeClient {
    endpoint: Endpoint,
    conn: Option<SendRequest<Full<Bytes>>>,
}

impl RuntimeClient {
    fn new(endpoint: Endpoint) -> Self {
        Self {
            endpoint,
            conn: None,
        }
    }

    /// Opens the connection ahead of the first call. A failure is only logged: that call
    /// connects again, with its retries.
    async fn connect_early(&mut self) {
        if let Err(e) = self.connection().await {
            tracing::debug!(error = %e, "could not connect to the Runtime API yet");
        }
    }

    async fn next_invocation(&mut self) -> Result<Option<Invocation>, LambdaError> {
        let path = self.endpoint.path("/invocation/next");
        let resp = self
            .call(Method::GET, &path, Vec::new(), Bytes::new())
            .await?;
        match resp.status {
            StatusCode::NO_CONTENT => Ok(None),
            s if s.is_success() => Ok(parse_invocation(resp)),
            status => Err(LambdaError::Refused { path, status }),
        }
    }

    async fn post_outcome(
        &mut self,
        request_id: &str,
        outcome: Result<event::HttpEventResponse, InvocationError>,
    ) -> Result<(), LambdaError> {
        // The request id becomes one path segment: all but unreserved characters escaped.
        let id = percent::encode(request_id).to_string();
        let (path, headers, body) = match outcome {
            Ok(resp) => (
                self.endpoint.path(&format!("/invocation/{id}/response")),
                Vec::new(),
                json_bytes(&resp),
            ),
            Err(e) => (
                self.endpoint.path(&format!("/invocation/{id}/error")),
                vec![(
                    "lambda-runtime-function-error-type",
                    e.error_type.to_owned(),
                )],
                json_bytes(&json!({"errorMessage": e.message, "errorType": e.error_type})),
            ),
        };
        self.post(path, headers, body).await
    }

    async fn post_init_error(&mut self, message: &str) -> Result<(), LambdaError> {
        let error_type = "Runtime.InitError";
        let path = self.endpoint.path("/init/error");
        let headers = vec![("lambda-runtime-function-error-type", error_type.to_owned())];
        let body = json_bytes(&json!({"errorMessage": message, "errorType": error_type}));
        self.post(path, headers, body).await
    }

    /// A refused post (e.g. 413 for an oversized response) fails that invocation only: log it
    /// and go on; a Runtime API that is gone is an error.
    async fn post(
        &mut self,
        path: String,
        headers: Vec<(&'static str, String)>,
        body: Bytes,
    ) -> Result<(), LambdaError> {
        let resp = self.call(Method::POST, &path, headers, body).await?;
        if !resp.status.is_success() {
            tracing::warn!(%path, status = resp.status.as_u16(), "Runtime API refused a post");
        }
        Ok(())
    }

    /// One call with retries: transport errors and 5xx are retried with exponential backoff on
    /// a fresh connection; after [`MAX_ATTEMPTS`] the process should exit.
    async fn call(
        &mut self,
        method: Method,
        path: &str,
        headers: Vec<(&'static str, String)>,
        body: Bytes,
    ) -> Result<ApiResponse, LambdaError> {
        let mut last = String::new();
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(FIRST_BACKOFF * 2u32.pow(attempt - 1)).await;
            }
            match self.call_once(&method, path, &headers, body.clone()).await {
                Ok(resp) if resp.status.is_server_error() => {
                    last = format!("status {}", resp.status);
                }
                Ok(resp) => return Ok(resp),
                Err(e) => {
                    self.conn = None;
                    last = e;
                }
            }
            tracing::warn!(%path, attempt = attempt + 1, error = %last, "Runtime API call failed");
        }
        Err(LambdaError::Unreachable {
            path: path.to_owned(),
            attempts: MAX_ATTEMPTS,
            last,
        })
    }

    async fn call_once(
        &mut self,
        method: &Method,
        path: &str,
        headers: &[(&'static str, String)],
        body: Bytes,
    ) -> Result<ApiResponse, String> {
        let mut builder = http::Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, &self.endpoint.authority);
        if !body.is_empty() {
            builder = builder.header(http::header::CONTENT_TYPE, "application/json");
        }
        for (name, value) in headers {
            builder = builder.header(*name, value);
        }
        let request = builder.body(Full::new(body)).map_err(|e| e.to_string())?;
        let sender = self.connection().await?;
        sender.ready().await.map_err(|e| e.to_string())?;
        let resp = sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        let (parts, incoming) = resp.into_parts();
        let body = incoming
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok(ApiResponse {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    /// The open connection, or a new one when there is none (first call, or it broke).
    async fn connection(&mut self) -> Result<&mut SendRequest<Full<Bytes>>, String> {
        if self.conn.as_ref().is_some_and(SendRequest::is_closed) {
            self.conn = None;
        }
        if self.conn.is_none() {
            let stream = TcpStream::connect(self.endpoint.authority.as_str())
                .await
                .map_err(|e| format!("connect {}: {e}", self.endpoint.authority))?;
            let _ = stream.set_nodelay(true);
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "Runtime API connection closed");
                }
            });
            self.conn = Some(sender);
        }
        self.conn.as_mut().ok_or_else(|| "no connection".to_owned())
    }
}

/// `value` as JSON bytes, written straight from the value (the response object has string keys
/// only, so this cannot fail; an empty object stands in if it ever did).
fn json_bytes(value: &impl serde::Serialize) -> Bytes {
    serde_json::to_vec(value).map_or_else(|_| Bytes::from_static(b"{}"), Bytes::from)
}

/// Reads the invocation headers; an answer without a request id cannot be replied to, so it
/// is logged and skipped.
fn parse_invocation(resp: ApiResponse) -> Option<Invocation> {
    let header = |name: &str| {
        resp.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let Some(request_id) = header("lambda-runtime-aws-request-id") else {
        tracing::error!(
            "Runtime API sent an invocation without Lambda-Runtime-Aws-Request-Id; skipped"
        );
        return None;
    };
    Some(Invocation {
        trace_id: header("lambda-runtime-trace-id"),
        deadline_ms: header("lambda-runtime-deadline-ms").and_then(|v| v.parse().ok()),
        request_id,
        payload: resp.body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: &str) -> Option<Endpoint> {
        Endpoint::parse(v).ok()
    }

    #[test]
    fn endpoint_forms() {
        let bare = parse("127.0.0.1:9001").unwrap_or_else(|| panic!("bare"));
        assert_eq!(bare.authority, "127.0.0.1:9001");
        assert_eq!(
            bare.path("/invocation/next"),
            "/2018-06-01/runtime/invocation/next"
        );

        let url = parse("http://127.0.0.1:9000/.rt/session/").unwrap_or_else(|| panic!("url"));
        assert_eq!(url.authority, "127.0.0.1:9000");
        assert_eq!(
            url.path("/init/error"),
            "/.rt/session/2018-06-01/runtime/init/error"
        );

        assert_eq!(
            parse("http://localhost").map(|e| e.authority),
            Some("localhost:80".into())
        );
        assert_eq!(
            parse("[::1]:9001").map(|e| e.authority),
            Some("[::1]:9001".into())
        );
        assert!(parse("https://example.test:443").is_none());
        assert!(parse("http:///x").is_none());
    }
}
