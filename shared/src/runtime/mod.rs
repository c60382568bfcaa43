//! The runtime both function binaries hand their handler to: Lambda mode (the Runtime API loop
//! over API Gateway HTTP API 2.0 / Function URL events) when `AWS_LAMBDA_RUNTIME_API` is set,
//! HTTP-server mode (Function Compute custom runtime, or any reverse proxy) otherwise.
//!
//! Both modes are thin adapters to the one [`Handler`] boundary; the work they share (request
//! id header, header normalisation, panic capture, access log) lives here, once.

pub mod event;
pub mod head;
pub mod lambda;
pub mod limits;
pub mod logging;
pub mod server;
pub mod workers;

pub use workers::Load;

use std::fmt::Display;
use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use http::header::SET_COOKIE;
use http::{HeaderMap, HeaderValue};

use crate::config::vars;
use crate::http::{ErrorCode, Handler, Request, Response};

/// The response header carrying the request id.
const REQUEST_ID_HEADER: &str = "x-request-id";

/// Entry point for a function binary: picks Lambda mode when `AWS_LAMBDA_RUNTIME_API` is set
/// (and not empty), else HTTP-server mode.
///
/// Builds the tokio runtime itself (current-thread for Lambda; for HTTP, multi-thread, or one
/// thread when `load` is [`Load::Waits`] and the store is DynamoDB; `MINIAPP_WORKER_THREADS`
/// overrides both: [`workers`]) and
/// initialises logging (JSON lines on stdout, level from `RUST_LOG`, default `info`).
///
/// `init` reads config and builds state once (parse keys, build clients, warm connections);
/// its error (a Display naming the variable) is reported: Lambda → POST /runtime/init/error
/// then exit non-zero; HTTP → one clear line on stderr and exit code 1 (no panic, no backtrace).
pub fn run<H, F, Fut, E>(function_name: &'static str, load: Load, init: F) -> ExitCode
where
    H: Handler,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<H, E>>,
    E: Display,
{
    logging::init();
    match std::env::var(vars::AWS_LAMBDA_RUNTIME_API) {
        Ok(endpoint) if !endpoint.trim().is_empty() => lambda::run(function_name, &endpoint, init),
        _ => server::run(function_name, load, init),
    }
}

/// Prints the one line an operator sees when the function cannot start (plain text on stderr,
/// no JSON and no backtrace: it is read by a person, often in a terminal).
fn report_startup_failure(function_name: &str, message: &dyn Display) {
    eprintln!("{function_name}: {message}");
}

/// The handler panicked (or its task was cancelled) instead of answering.
#[derive(Debug)]
struct HandlerPanicked;

/// Runs the handler, catching a panic so that it is reported for that request only; the
/// process keeps serving. In the request's own task, not a spawned one: a task per request
/// cost a cross-thread wake-up of an idle worker (futex calls) and its allocation.
async fn call_handler<H: Handler>(
    handler: &Arc<H>,
    req: Request,
) -> Result<Response, HandlerPanicked> {
    use futures_util::FutureExt;
    // Nothing the handler shares is left half-changed by a panic that callers could see:
    // store connections roll back on drop and locks are poison-tolerant.
    std::panic::AssertUnwindSafe(handler.call(req))
        .catch_unwind()
        .await
        .map_err(|_panic| HandlerPanicked)
}

/// The 500 both modes log (and the HTTP mode sends) when a handler panicked.
fn panic_response(request_id: &str) -> Response {
    Response::error(ErrorCode::InternalError, "internal error", request_id)
}

/// Checks the head's bounds, calls the handler with panic capture, finishes its response and
/// writes the access line.
async fn handle<H: Handler>(
    handler: &Arc<H>,
    function: &'static str,
    req: Request,
) -> Result<Response, HandlerPanicked> {
    let started = Instant::now();
    let info = logging::AccessInfo {
        function,
        request_id: req.request_id.clone(),
        method: req.method.clone(),
    };
    // A head over the bounds is answered here, the same in both modes, before any routing.
    let outcome = match head::check(&req) {
        Some((code, message)) => Ok(Response::error(code, &message, &info.request_id)),
        None => call_handler(handler, req).await,
    }
    .map(|resp| finish_response(resp, &info.request_id));
    let latency = started.elapsed();
    match &outcome {
        Ok(resp) => logging::access(&info, resp, latency),
        Err(HandlerPanicked) => logging::access(&info, &panic_response(&info.request_id), latency),
    }
    outcome
}

/// What every response gets in both modes, so that they stay byte-identical: `x-request-id`
/// (the one place it is set) when the handler did not set one, and repeated headers joined
/// into one value with `", "`
/// (a Lambda 2.0 response can hold one value per name; `set-cookie` is kept apart because
/// cookies cannot be comma-joined and both modes send them one per line).
pub fn finish_response(mut resp: Response, request_id: &str) -> Response {
    if !resp.headers.contains_key(REQUEST_ID_HEADER) {
        if let Ok(v) = HeaderValue::from_str(request_id) {
            resp.headers.insert(REQUEST_ID_HEADER, v);
        }
    }
    resp.headers = join_repeated_headers(std::mem::take(&mut resp.headers));
    resp
}

/// Joins the values of a repeated header (other than `set-cookie`) with `", "`.
fn join_repeated_headers(headers: HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(headers.len());
    for name in headers.keys() {
        let values: Vec<&HeaderValue> = headers.get_all(name).iter().collect();
        if *name == SET_COOKIE || values.len() == 1 {
            for v in values {
                out.append(name.clone(), v.clone());
            }
            continue;
        }
        let joined = values
            .iter()
            .map(|v| v.as_bytes())
            .collect::<Vec<_>>()
            .join(&b", "[..]);
        // Joining valid values with ", " keeps them valid; keep the first value if it did not.
        let value = HeaderValue::from_bytes(&joined).unwrap_or_else(|_| values[0].clone());
        out.insert(name.clone(), value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    #[test]
    fn adds_request_id_only_when_absent() {
        let r = finish_response(Response::new(StatusCode::OK), "rid-1");
        assert_eq!(r.headers["x-request-id"], "rid-1");
        let mut own = Response::new(StatusCode::OK);
        own.headers
            .insert(REQUEST_ID_HEADER, HeaderValue::from_static("own"));
        let r = finish_response(own, "rid-1");
        assert_eq!(r.headers["x-request-id"], "own");
    }

    #[test]
    fn joins_repeated_headers_but_not_cookies() {
        let mut r = Response::new(StatusCode::OK);
        r.headers.append("vary", HeaderValue::from_static("a"));
        r.headers.append("vary", HeaderValue::from_static("b"));
        r.headers
            .append(SET_COOKIE, HeaderValue::from_static("x=1"));
        r.headers
            .append(SET_COOKIE, HeaderValue::from_static("y=2"));
        let r = finish_response(r, "rid");
        assert_eq!(r.headers.get_all("vary").iter().count(), 1);
        assert_eq!(r.headers["vary"], "a, b");
        assert_eq!(r.headers.get_all(SET_COOKIE).iter().count(), 2);
    }
}
