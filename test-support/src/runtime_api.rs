//! A real Lambda Runtime API on loopback (hyper), serving scripted invocations one by one and
//! recording everything the function posts back.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Mutex};

use crate::WAIT;

/// What the next `GET /next` answers.
#[derive(Debug, Clone)]
pub enum Scripted {
    /// An invocation: request id, payload, extra headers (trace id, deadline).
    Event {
        id: String,
        payload: Vec<u8>,
        headers: Vec<(String, String)>,
    },
    /// `204 No Content` (nothing to do; poll again).
    NoContent,
    /// A bare error status, e.g. a transient 500.
    Status(StatusCode),
}

impl Scripted {
    /// An invocation with the usual headers and a deadline a minute away.
    pub fn event(id: &str, payload: &serde_json::Value) -> Self {
        Self::Event {
            id: id.to_owned(),
            payload: payload.to_string().into_bytes(),
            headers: vec![("lambda-runtime-deadline-ms".into(), deadline_in_a_minute())],
        }
    }

    /// The same, with a `Lambda-Runtime-Trace-Id`.
    pub fn traced(id: &str, payload: &serde_json::Value, trace: &str) -> Self {
        let mut s = Self::event(id, payload);
        if let Self::Event { headers, .. } = &mut s {
            headers.push(("lambda-runtime-trace-id".into(), trace.into()));
        }
        s
    }
}

fn deadline_in_a_minute() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    (now + 60_000).to_string()
}

/// Which endpoint a post went to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostKind {
    /// `/invocation/{id}/response`.
    Response(String),
    /// `/invocation/{id}/error`.
    Error(String),
    /// `/init/error`.
    InitError,
    /// Anything else (a wrong path fails the test with a clear message).
    Unexpected(String),
}

/// One recorded post.
#[derive(Debug, Clone)]
pub struct Posted {
    pub kind: PostKind,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Posted {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("post body is not JSON ({e}): {:?}", self.body))
    }
}

struct State {
    base: String,
    queue: Mutex<mpsc::UnboundedReceiver<Scripted>>,
    posts: mpsc::UnboundedSender<Posted>,
    polls: AtomicUsize,
    connections: AtomicUsize,
}

/// The running test Runtime API.
pub struct RuntimeApi {
    pub addr: SocketAddr,
    base: String,
    queue: mpsc::UnboundedSender<Scripted>,
    posts: mpsc::UnboundedReceiver<Posted>,
    state: Arc<State>,
}

impl RuntimeApi {
    /// Starts on a free loopback port, serving under `base` (`""` or e.g. `/some/base`).
    pub async fn start(base: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("local_addr: {e}"));
        let (queue, queue_rx) = mpsc::unbounded_channel();
        let (posts_tx, posts) = mpsc::unbounded_channel();
        let state = Arc::new(State {
            base: base.to_owned(),
            queue: Mutex::new(queue_rx),
            posts: posts_tx,
            polls: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
        });
        tokio::spawn(accept_loop(listener, Arc::clone(&state)));
        Self {
            addr,
            base: base.to_owned(),
            queue,
            posts,
            state,
        }
    }

    /// `http://127.0.0.1:PORT/base`, the form emulators use.
    pub fn url(&self) -> String {
        format!("http://{}{}", self.addr, self.base)
    }

    /// `127.0.0.1:PORT`, the form real Lambda uses.
    pub fn bare(&self) -> String {
        self.addr.to_string()
    }

    /// Queues what the next `/next` answers.
    pub fn push(&self, s: Scripted) {
        let _ = self.queue.send(s);
    }

    /// How many times `/next` was called so far.
    pub fn polls(&self) -> usize {
        self.state.polls.load(Ordering::SeqCst)
    }

    /// How many TCP connections the function opened so far.
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// The next post, or a test failure after [`WAIT`].
    pub async fn next_post(&mut self) -> Posted {
        match tokio::time::timeout(WAIT, self.posts.recv()).await {
            Ok(Some(p)) => p,
            _ => panic!("the function posted nothing within {WAIT:?}"),
        }
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<State>) {
    while let Ok((stream, _)) = listener.accept().await {
        state.connections.fetch_add(1, Ordering::SeqCst);
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let state = Arc::clone(&state);
                async move { Ok::<_, Infallible>(route(&state, req).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

async fn route(state: &State, req: hyper::Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let Some(rest) = path
        .strip_prefix(state.base.as_str())
        .and_then(|p| p.strip_prefix("/2018-06-01/runtime"))
    else {
        return record(state, PostKind::Unexpected(path), req).await;
    };
    let rest = rest.to_owned();
    match (req.method(), rest.as_str()) {
        (&Method::GET, "/invocation/next") => next(state).await,
        (&Method::POST, "/init/error") => record(state, PostKind::InitError, req).await,
        (&Method::POST, r) => {
            let kind = match r
                .strip_prefix("/invocation/")
                .and_then(|r| r.rsplit_once('/'))
            {
                Some((id, "response")) => PostKind::Response(id.to_owned()),
                Some((id, "error")) => PostKind::Error(id.to_owned()),
                _ => PostKind::Unexpected(path),
            };
            record(state, kind, req).await
        }
        _ => record(state, PostKind::Unexpected(path), req).await,
    }
}

async fn next(state: &State) -> Response<Full<Bytes>> {
    state.polls.fetch_add(1, Ordering::SeqCst);
    // One poller at a time, as with real Lambda; waits (long poll) until the test queues more.
    let scripted = state.queue.lock().await.recv().await;
    let mut resp = Response::new(Full::new(Bytes::new()));
    match scripted {
        Some(Scripted::Event {
            id,
            payload,
            headers,
        }) => {
            *resp.body_mut() = Full::new(Bytes::from(payload));
            let h = resp.headers_mut();
            h.insert("lambda-runtime-aws-request-id", header_value(&id));
            h.insert(
                "lambda-runtime-invoked-function-arn",
                header_value("arn:aws:lambda:us-east-1:123456789012:function:echo"),
            );
            h.insert("content-type", header_value("application/json"));
            for (name, value) in headers {
                if let Ok(name) = http::HeaderName::from_bytes(name.as_bytes()) {
                    h.insert(name, header_value(&value));
                }
            }
        }
        Some(Scripted::NoContent) => *resp.status_mut() = StatusCode::NO_CONTENT,
        Some(Scripted::Status(s)) => *resp.status_mut() = s,
        None => *resp.status_mut() = StatusCode::GONE,
    }
    resp
}

fn header_value(v: &str) -> http::HeaderValue {
    http::HeaderValue::from_str(v).unwrap_or_else(|e| panic!("header {v:?}: {e}"))
}

async fn record(
    state: &State,
    kind: PostKind,
    req: hyper::Request<Incoming>,
) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let status = if matches!(kind, PostKind::Unexpected(_)) {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::ACCEPTED
    };
    let _ = state.posts.send(Posted {
        kind,
        headers: parts.headers,
        body,
    });
    let mut resp = Response::new(Full::new(Bytes::from_static(br#"{"status":"OK"}"#)));
    *resp.status_mut() = status;
    resp
}
