//! The HTTP front: takes requests on loopback, routes them as API Gateway would, turns each
//! into an HTTP API 2.0 event for the function's pool, and turns the answer back into HTTP.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;
use time::OffsetDateTime;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::event::{
    build_event, event_payload, parse_response, FunctionResponseError, HttpResponse, RequestFacts,
};
use super::output::{Output, RequestLine};
use super::pool::{InvokeError, Pool};
use super::routes::{NoRoute, RouteMatch, RouteTable};

/// Lambda's limit on a synchronous invocation payload: bigger requests never reach a function.
pub const MAX_REQUEST_BYTES: usize = 6 * 1024 * 1024;

/// Everything a request needs: the routes, one pool per function, the output.
pub struct Gateway {
    pub routes: RouteTable,
    /// Indexed like the template's functions.
    pub pools: Vec<Arc<Pool>>,
    pub output: Arc<Output>,
    /// The example web app under `/app` (`None`: not beside this template).
    pub app: Option<crate::app_files::AppFiles>,
    /// The local file backend whose upload and download URLs the front serves itself (they
    /// are authorized by their signed policy, not routed to a function).
    pub files: Option<miniapp_shared::files::LocalBackend>,
}

/// Serves `listener` until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => break,
        };
        let Ok((stream, peer)) = accepted else {
            // Out of descriptors, say: wait a little rather than spin.
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        let gateway = Arc::clone(&gateway);
        connections.spawn(async move {
            let service = service_fn(move |req| handle(req, peer, Arc::clone(&gateway)));
            // A client that goes away mid-request is not an error of the emulator.
            let _ = hyper::server::conn::http1::Builder::new()
                .max_headers(MAX_HEAD_FIELDS)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
        while connections.try_join_next().is_some() {}
    }
    connections.shutdown().await;
}

/// hyper's cap on header fields, far above the functions' own (100, docs/api.md §6): a head
/// with too many fields reaches the function, which answers the API's JSON 431, as it does
/// deployed, instead of hyper's bare one.
const MAX_HEAD_FIELDS: usize = 8192;

/// An emulator-made answer: its status, code, message and a note for the request line.
struct Failure {
    status: StatusCode,
    code: &'static str,
    message: String,
    note: &'static str,
}

async fn handle(
    req: Request<Incoming>,
    peer: SocketAddr,
    gateway: Arc<Gateway>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let method = req.method().as_str().to_owned();
    let target = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().to_owned(), |pq| pq.as_str().to_owned());
    let (outcome, function, cold) = dispatch(req, peer, &gateway, &request_id).await;
    let (resp, note) = match outcome {
        Ok(r) => (r, None),
        Err(f) => (failure_response(&f, &request_id), Some(f.note)),
    };
    gateway.output.request(&RequestLine {
        method: &method,
        target: &target,
        status: resp.status.as_u16(),
        function: function.as_deref().unwrap_or("-"),
        elapsed: started.elapsed(),
        cold,
        note,
    });
    Ok(into_hyper(resp))
}

/// Routes, reads, invokes: the function's name and temperature come back for the log line.
async fn dispatch(
    req: Request<Incoming>,
    peer: SocketAddr,
    gateway: &Gateway,
    request_id: &str,
) -> (Result<HttpResponse, Failure>, Option<String>, Option<bool>) {
    if let Some(app) = &gateway.app {
        if let Some(resp) = app.answer(req.method(), req.uri().path()).await {
            return (Ok(resp), None, None);
        }
    }
    if let Some(files) = &gateway.files {
        if miniapp_shared::files::LocalBackend::owns(req.method(), req.uri().path()) {
            let resp = files.serve(req).await;
            return (
                Ok(from_file_response(resp).await),
                Some("files".into()),
                None,
            );
        }
    }
    let (route, pool) = match route_to_pool(gateway, &req) {
        Ok(found) => found,
        Err(f) => return (Err(f), None, None),
    };
    let name = Some(pool.name().to_owned());
    let event = match read_event(req, peer, &route, request_id).await {
        Ok(e) => e,
        Err(f) => return (Err(f), name, None),
    };
    let invoked = pool.invoke(request_id, event).await;
    let result = invoked
        .result
        .map_err(|e| invoke_failure(e, pool.name()))
        .and_then(|payload| parse_response(&payload).map_err(|e| bad_response(&e, pool.name())));
    (result, name, Some(invoked.cold))
}

/// The matching route and the pool of its function.
fn route_to_pool<'g>(
    gateway: &'g Gateway,
    req: &Request<Incoming>,
) -> Result<(RouteMatch, &'g Arc<Pool>), Failure> {
    let (method, path) = (req.method().as_str(), req.uri().path());
    let route = gateway
        .routes
        .find(method, path)
        .map_err(|no| no_route(no, method, path))?;
    match gateway.pools.get(route.function) {
        Some(pool) => Ok((route, pool)),
        None => Err(no_route(NoRoute::NotFound, "", path)),
    }
}

fn bad_response(e: &FunctionResponseError, function: &str) -> Failure {
    Failure {
        status: StatusCode::BAD_GATEWAY,
        code: "InvalidFunctionResponse",
        message: format!("{function}: {e}"),
        note: "bad response",
    }
}

/// Reads the body (up to Lambda's limit) and builds the serialized event.
async fn read_event(
    req: Request<Incoming>,
    peer: SocketAddr,
    route: &RouteMatch,
    request_id: &str,
) -> Result<Bytes, Failure> {
    let (parts, body) = req.into_parts();
    let body = read_body(body).await?;
    let protocol = format!("{:?}", parts.version);
    let facts = RequestFacts {
        method: parts.method.as_str(),
        raw_path: parts.uri.path(),
        raw_query: parts.uri.query().unwrap_or(""),
        headers: &parts.headers,
        body: &body,
        peer,
        request_id,
        received: OffsetDateTime::now_utc(),
        protocol: &protocol,
    };
    event_payload(&build_event(&facts, route)).map_err(|e| Failure {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        code: "EventNotEncodable",
        message: format!("the emulator could not encode the event: {e}"),
        note: "emulator error",
    })
}

/// The body, up to Lambda's payload limit.
async fn read_body(body: Incoming) -> Result<Bytes, Failure> {
    Limited::new(body, MAX_REQUEST_BYTES)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|_| Failure {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            code: "PayloadTooLarge",
            message: format!(
                "request body over {MAX_REQUEST_BYTES} bytes (Lambda's payload limit)"
            ),
            note: "too large",
        })
}

fn no_route(no: NoRoute, method: &str, path: &str) -> Failure {
    match no {
        NoRoute::NotFound => Failure {
            status: StatusCode::NOT_FOUND,
            code: "RouteNotFound",
            message: format!("no route of the template matches {path:?}"),
            note: "no route",
        },
        NoRoute::MethodNotAllowed(allowed) => Failure {
            status: StatusCode::METHOD_NOT_ALLOWED,
            code: "MethodNotAllowed",
            message: format!(
                "{method} is not allowed on {path:?} (allowed: {})",
                allowed.join(", ")
            ),
            note: "no route",
        },
    }
}

fn invoke_failure(e: InvokeError, function: &str) -> Failure {
    let message = format!("{function}: {e}");
    match e {
        InvokeError::Timeout(_) | InvokeError::InitTimeout(_) => Failure {
            status: StatusCode::GATEWAY_TIMEOUT,
            code: "FunctionTimeout",
            message,
            note: "timeout, process replaced",
        },
        InvokeError::Function { error_type, body } => Failure {
            status: StatusCode::BAD_GATEWAY,
            code: "FunctionError",
            message: function_error_message(function, error_type.as_deref(), &body),
            note: "function error",
        },
        InvokeError::Crashed { .. } => Failure {
            status: StatusCode::BAD_GATEWAY,
            code: "FunctionCrashed",
            message,
            note: "crashed, process replaced",
        },
        InvokeError::Spawn { .. } | InvokeError::RuntimeApi(_) => Failure {
            status: StatusCode::BAD_GATEWAY,
            code: "FunctionStartFailed",
            message,
            note: "could not start",
        },
    }
}

/// `errorType: errorMessage` from the function's error document.
fn function_error_message(function: &str, error_type: Option<&str>, body: &[u8]) -> String {
    let doc: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let kind = doc["errorType"].as_str().or(error_type).unwrap_or("Error");
    let text = doc["errorMessage"].as_str().unwrap_or("(no errorMessage)");
    format!("{function} reported {kind}: {text}")
}

/// The contract's error shape, with `x-request-id`.
fn failure_response(f: &Failure, request_id: &str) -> HttpResponse {
    let body = json!({"error": {"code": f.code, "message": f.message, "requestId": request_id}});
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert("x-request-id", v);
    }
    HttpResponse {
        status: f.status,
        headers,
        body: Bytes::from(body.to_string()),
    }
}

/// The response as hyper sends it; framing headers are hyper's to set, not the function's.
fn into_hyper(mut r: HttpResponse) -> Response<Full<Bytes>> {
    for framing in ["content-length", "transfer-encoding", "connection"] {
        r.headers.remove(framing);
    }
    let mut resp = Response::new(Full::new(r.body));
    *resp.status_mut() = r.status;
    *resp.headers_mut() = r.headers;
    resp
}

/// The local file backend's answer in the front's own form.
async fn from_file_response(resp: miniapp_shared::files::FileResponse) -> HttpResponse {
    let (parts, body) = resp.into_parts();
    // A `Full` body is one ready chunk: collecting it cannot fail or wait.
    let body = body
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes)
        .unwrap_or_default();
    HttpResponse {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}
