//! A small HTTP/1.1 client over one hyper connection, with bodies sent either with a
//! `content-length` or chunked, plus a raw-socket helper for what a client library hides.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use test_support::WAIT;

/// A request body: one `content-length` body, or chunks sent with chunked encoding.
pub(crate) struct ReqBody {
    chunks: VecDeque<Bytes>,
    chunked: bool,
}

impl ReqBody {
    /// A body sent with `content-length`.
    pub(crate) fn full(data: impl Into<Bytes>) -> Self {
        Self {
            chunks: VecDeque::from([data.into()]),
            chunked: false,
        }
    }

    /// No body.
    pub(crate) fn empty() -> Self {
        Self::full(Bytes::new())
    }

    /// A body of `total` bytes sent as chunks of at most `chunk` bytes (no content-length).
    pub(crate) fn chunked(total: usize, chunk: usize) -> Self {
        let mut chunks = VecDeque::new();
        let mut left = total;
        while left > 0 {
            let n = left.min(chunk);
            chunks.push_back(Bytes::from(vec![b'c'; n]));
            left -= n;
        }
        Self {
            chunks,
            chunked: true,
        }
    }
}

impl Body for ReqBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(
            self.get_mut()
                .chunks
                .pop_front()
                .map(|c| Ok(Frame::data(c))),
        )
    }

    fn is_end_stream(&self) -> bool {
        !self.chunked && self.chunks.iter().all(Bytes::is_empty)
    }

    fn size_hint(&self) -> SizeHint {
        if self.chunked {
            SizeHint::default()
        } else {
            SizeHint::with_exact(self.chunks.iter().map(|c| c.len() as u64).sum())
        }
    }
}

/// A response, body read in full.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Reply {
    /// The body as JSON.
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    /// A header as text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// One keep-alive connection to the function.
pub(crate) struct Conn {
    sender: SendRequest<ReqBody>,
    port: u16,
}

impl Conn {
    /// Connects to `127.0.0.1:port`.
    pub(crate) async fn open(port: u16) -> Self {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap_or_else(|e| panic!("connect: {e}"));
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap_or_else(|e| panic!("handshake: {e}"));
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Self { sender, port }
    }

    /// Sends a request on this connection.
    pub(crate) async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: ReqBody,
    ) -> Result<Reply, hyper::Error> {
        let mut builder = http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", format!("127.0.0.1:{}", self.port));
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder
            .body(body)
            .unwrap_or_else(|e| panic!("request: {e}"));
        let fut = async {
            self.sender.ready().await?;
            let resp = self.sender.send_request(request).await?;
            let (parts, body) = resp.into_parts();
            let body = body.collect().await?.to_bytes();
            Ok(Reply {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        tokio::time::timeout(WAIT, fut)
            .await
            .unwrap_or_else(|_| panic!("no answer to {method} {path} within {WAIT:?}"))
    }

    /// Whether the server closed this connection (waits a moment for the close to arrive).
    pub(crate) async fn is_closed(&mut self) -> bool {
        matches!(
            tokio::time::timeout(std::time::Duration::from_secs(2), self.sender.ready()).await,
            Ok(Err(_))
        ) || self.sender.is_closed()
    }
}

/// Sends one request on a new connection and panics on transport errors.
pub(crate) async fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: ReqBody,
) -> Reply {
    Conn::open(port)
        .await
        .send(method, path, headers, body)
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// Writes raw bytes, then reads until the server closes the connection; returns what it sent.
/// Panics if the server keeps the connection open.
pub(crate) async fn raw_until_close(port: u16, parts: &[&[u8]]) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    for part in parts {
        // The server may answer and close before it has read everything: stop writing then.
        if stream.write_all(part).await.is_err() {
            break;
        }
    }
    let mut out = Vec::new();
    let read = tokio::time::timeout(WAIT, stream.read_to_end(&mut out)).await;
    assert!(
        read.is_ok(),
        "the server kept the connection open; got so far: {}",
        String::from_utf8_lossy(&out)
    );
    String::from_utf8_lossy(&out).into_owned()
}
