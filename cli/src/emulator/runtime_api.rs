//! An emulated Lambda Runtime API for ONE function process: `GET .../invocation/next` hands
//! out the next event, `POST .../invocation/{id}/response|error` and `POST .../init/error`
//! report back. One server per process keeps every answer attributable to its process.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Lambda's limit on a synchronous response payload.
pub const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;
const PREFIX: &str = "/2018-06-01/runtime/";

/// Why the Runtime API could not start.
#[derive(Debug, Error)]
pub enum RuntimeApiError {
    #[error("cannot listen on 127.0.0.1 for the Runtime API: {0}")]
    Bind(std::io::Error),
    #[error("the function process stopped asking for invocations")]
    Closed,
}

/// How a function finished an invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `POST .../response`: the payload.
    Response(Bytes),
    /// `POST .../error`: the error document and `Lambda-Runtime-Function-Error-Type`.
    Error {
        error_type: Option<String>,
        body: Bytes,
    },
}

/// One event waiting for the function to pick it up.
#[derive(Debug)]
pub struct Invocation {
    pub request_id: String,
    pub payload: Bytes,
    /// The function's time budget; the deadline header counts from pick-up.
    pub timeout: Duration,
    pub function_arn: String,
    /// Told when the function takes the event (`/next` answered).
    pub picked: oneshot::Sender<()>,
    /// Told how the invocation ended.
    pub done: oneshot::Sender<Outcome>,
}

/// What the server tasks share.
struct Shared {
    queue: tokio::sync::Mutex<mpsc::Receiver<Invocation>>,
    in_flight: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    init_error: Mutex<Option<String>>,
}

/// A running Runtime API server; stops when dropped.
pub struct RuntimeApi {
    addr: SocketAddr,
    sender: mpsc::Sender<Invocation>,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl RuntimeApi {
    /// Starts a server on an OS-assigned loopback port.
    pub async fn start() -> Result<Self, RuntimeApiError> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(RuntimeApiError::Bind)?;
        let addr = listener.local_addr().map_err(RuntimeApiError::Bind)?;
        let (sender, receiver) = mpsc::channel(1);
        let shared = Arc::new(Shared {
            queue: tokio::sync::Mutex::new(receiver),
            in_flight: Mutex::new(HashMap::new()),
            init_error: Mutex::new(None),
        });
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        Ok(Self {
            addr,
            sender,
            shared,
            task,
        })
    }

    /// The value of `AWS_LAMBDA_RUNTIME_API`: `127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Queues an event for the function's next `/next`.
    pub async fn submit(&self, invocation: Invocation) -> Result<(), RuntimeApiError> {
        self.sender
            .send(invocation)
            .await
            .map_err(|_| RuntimeApiError::Closed)
    }

    /// The `errorMessage` the function posted to `/init/error`, if it did.
    pub fn init_error(&self) -> Option<String> {
        self.shared.init_error.lock().ok().and_then(|e| e.clone())
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of descriptors, say: wait a little rather than spin.
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        let shared = Arc::clone(&shared);
        connections.spawn(async move {
            let service = service_fn(move |req| handle(req, Arc::clone(&shared)));
            // A function that drops its connection mid-request is the pool's concern (it sees
            // the process exit), not an error here.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
        // Reap finished connection tasks so the set does not grow without bound.
        while connections.try_join_next().is_some() {}
    }
}

type Reply = Response<Full<Bytes>>;

async fn handle(req: Request<Incoming>, shared: Arc<Shared>) -> Result<Reply, Infallible> {
    let path = req.uri().path().to_owned();
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return Ok(error_reply(StatusCode::NOT_FOUND, "UnknownPath", &path));
    };
    let reply = match (req.method().clone(), rest) {
        (Method::GET, "invocation/next") => next(&shared).await,
        (Method::POST, "init/error") => init_error(req, &shared).await,
        (Method::POST, rest) => match rest.strip_prefix("invocation/") {
            Some(tail) => report(req, tail, &shared).await,
            None => error_reply(StatusCode::NOT_FOUND, "UnknownPath", &path),
        },
        _ => error_reply(StatusCode::NOT_FOUND, "UnknownPath", &path),
    };
    Ok(reply)
}

/// Long-polls for the next event and hands it out with the Lambda headers.
async fn next(shared: &Shared) -> Reply {
    let invocation = shared.queue.lock().await.recv().await;
    let Some(inv) = invocation else {
        return error_reply(StatusCode::GONE, "ShuttingDown", "no more invocations");
    };
    let deadline = SystemTime::now() + inv.timeout;
    let deadline_ms = deadline
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    if let Ok(mut map) = shared.in_flight.lock() {
        map.insert(inv.request_id.clone(), inv.done);
    }
    // The invoker may have given up (timeout at pick-up); it then learns nothing new.
    let _ = inv.picked.send(());
    let hex: String = inv
        .request_id
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(24)
        .collect();
    let trace = format!("Root=1-{:08x}-{hex:0>24};Sampled=0", deadline_ms / 1000);
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .header("lambda-runtime-aws-request-id", &inv.request_id)
        .header("lambda-runtime-deadline-ms", deadline_ms.to_string())
        .header("lambda-runtime-invoked-function-arn", &inv.function_arn)
        .header("lambda-runtime-trace-id", trace)
        .body(Full::new(inv.payload))
        .unwrap_or_else(|_| error_reply(StatusCode::INTERNAL_SERVER_ERROR, "Internal", "headers"))
}

/// `invocation/{id}/response` or `invocation/{id}/error`.
async fn report(req: Request<Incoming>, tail: &str, shared: &Shared) -> Reply {
    let Some((id, kind)) = tail.split_once('/') else {
        return error_reply(StatusCode::NOT_FOUND, "UnknownPath", tail);
    };
    if kind != "response" && kind != "error" {
        return error_reply(StatusCode::NOT_FOUND, "UnknownPath", tail);
    }
    let error_type = req
        .headers()
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let outcome = match (read_body(req).await, kind) {
        (Ok(body), "response") => Outcome::Response(body),
        (Ok(body), _) => Outcome::Error { error_type, body },
        (Err(_), _) => return too_large(id, shared),
    };
    match take_waiter(shared, id) {
        Some(done) => {
            // A waiter gone (timed out) already answered its client.
            let _ = done.send(outcome);
            accepted()
        }
        None => error_reply(StatusCode::BAD_REQUEST, "InvalidRequestID", id),
    }
}

/// A response over the limit: as Lambda does, the invocation fails, and the function is told
/// why.
fn too_large(id: &str, shared: &Shared) -> Reply {
    let message = format!("response payload over {MAX_RESPONSE_BYTES} bytes");
    let doc = json!({"errorType": "Function.ResponseSizeTooLarge", "errorMessage": message});
    if let Some(done) = take_waiter(shared, id) {
        let _ = done.send(Outcome::Error {
            error_type: Some("Function.ResponseSizeTooLarge".to_owned()),
            body: Bytes::from(doc.to_string()),
        });
    }
    error_reply(
        StatusCode::PAYLOAD_TOO_LARGE,
        "RequestEntityTooLarge",
        &message,
    )
}

/// The invoker waiting for invocation `id`, removed from the in-flight table.
fn take_waiter(shared: &Shared, id: &str) -> Option<oneshot::Sender<Outcome>> {
    shared.in_flight.lock().ok().and_then(|mut m| m.remove(id))
}

/// `202 {"status":"OK"}`, the Runtime API's acknowledgement.
fn accepted() -> Reply {
    Response::builder()
        .status(StatusCode::ACCEPTED)
        .body(Full::new(Bytes::from_static(br#"{"status":"OK"}"#)))
        .unwrap_or_else(|_| error_reply(StatusCode::INTERNAL_SERVER_ERROR, "Internal", ""))
}

async fn init_error(req: Request<Incoming>, shared: &Shared) -> Reply {
    let body = read_body(req).await.unwrap_or_default();
    let message = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            v.get("errorMessage")
                .and_then(|m| m.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
    if let Ok(mut slot) = shared.init_error.lock() {
        *slot = Some(message);
    }
    accepted()
}

async fn read_body(req: Request<Incoming>) -> Result<Bytes, StatusCode> {
    Limited::new(req.into_body(), MAX_RESPONSE_BYTES)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|_| StatusCode::PAYLOAD_TOO_LARGE)
}

/// The Runtime API's own error shape.
fn error_reply(status: StatusCode, error_type: &str, message: &str) -> Reply {
    let body = json!({"errorType": error_type, "errorMessage": message}).to_string();
    let mut reply = Response::new(Full::new(Bytes::from(body)));
    *reply.status_mut() = status;
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "/2018-06-01/runtime";

    fn invocation(
        id: &str,
    ) -> (
        Invocation,
        oneshot::Receiver<()>,
        oneshot::Receiver<Outcome>,
    ) {
        let (picked, picked_rx) = oneshot::channel();
        let (done, done_rx) = oneshot::channel();
        let inv = Invocation {
            request_id: id.to_owned(),
            payload: Bytes::from_static(br#"{"version":"2.0"}"#),
            timeout: Duration::from_secs(3),
            function_arn: "arn:aws:lambda:us-east-1:123456789012:function:F".to_owned(),
            picked,
            done,
        };
        (inv, picked_rx, done_rx)
    }

    #[tokio::test]
    async fn next_hands_out_the_event_with_lambda_headers_and_takes_the_response(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let api = RuntimeApi::start().await?;
        let base = format!("http://{}{BASE}", api.address());
        let (inv, picked, done) = invocation("8f2c1a4e-0000-4000-8000-000000000001");
        api.submit(inv).await?;
        let http = reqwest::Client::new();
        let next = http.get(format!("{base}/invocation/next")).send().await?;
        picked.await?;
        let h = next.headers().clone();
        assert_eq!(
            h["lambda-runtime-aws-request-id"],
            "8f2c1a4e-0000-4000-8000-000000000001"
        );
        assert!(h["lambda-runtime-invoked-function-arn"]
            .to_str()?
            .ends_with(":function:F"));
        assert!(h["lambda-runtime-trace-id"]
            .to_str()?
            .starts_with("Root=1-"));
        let deadline: u128 = h["lambda-runtime-deadline-ms"].to_str()?.parse()?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis();
        assert!(
            deadline > now + 2_000 && deadline <= now + 3_000,
            "{deadline} vs {now}"
        );
        assert_eq!(&next.bytes().await?[..], br#"{"version":"2.0"}"#);
        let url = format!("{base}/invocation/8f2c1a4e-0000-4000-8000-000000000001/response");
        let posted = http.post(url).body("{\"statusCode\":200}").send().await?;
        assert_eq!(posted.status(), 202);
        assert_eq!(
            done.await?,
            Outcome::Response(Bytes::from_static(b"{\"statusCode\":200}"))
        );
        Ok(())
    }

    #[tokio::test]
    async fn errors_unknown_ids_and_init_errors() -> Result<(), Box<dyn std::error::Error>> {
        let api = RuntimeApi::start().await?;
        let base = format!("http://{}{BASE}", api.address());
        let http = reqwest::Client::new();
        let (inv, _picked, done) = invocation("id-2");
        api.submit(inv).await?;
        http.get(format!("{base}/invocation/next")).send().await?;
        let posted = http
            .post(format!("{base}/invocation/id-2/error"))
            .header("lambda-runtime-function-error-type", "Runtime.HandlerPanic")
            .body(r#"{"errorType":"Runtime.HandlerPanic","errorMessage":"boom"}"#)
            .send()
            .await?;
        assert_eq!(posted.status(), 202);
        match done.await? {
            Outcome::Error { error_type, body } => {
                assert_eq!(error_type.as_deref(), Some("Runtime.HandlerPanic"));
                assert!(String::from_utf8_lossy(&body).contains("boom"));
            }
            other => panic!("expected an error outcome, got {other:?}"),
        }
        let unknown = http
            .post(format!("{base}/invocation/nope/response"))
            .body("{}")
            .send()
            .await?;
        assert_eq!(unknown.status(), 400);
        let init = http
            .post(format!("{base}/init/error"))
            .body(r#"{"errorType":"Config","errorMessage":"ALIPAY_APP_ID is empty"}"#)
            .send()
            .await?;
        assert_eq!(init.status(), 202);
        assert_eq!(api.init_error().as_deref(), Some("ALIPAY_APP_ID is empty"));
        Ok(())
    }
}
