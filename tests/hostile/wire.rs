//! HTTP-server mode over a raw socket: the request framed byte by byte as the row says (so it
//! can be malformed), one connection per request, the answer read until the server closes.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::table::Built;
use crate::Answer;

/// How long one answer may take.
const ANSWER_WAIT: Duration = Duration::from_secs(20);

/// The request's bytes: head (with `host` and `connection: close` added unless the row set
/// them, and framing unless the row frames itself), then the body, chunked if asked.
fn frame(b: &Built) -> Vec<u8> {
    let mut out = b.method.clone();
    out.push(b' ');
    out.extend_from_slice(&b.path);
    if !b.query.is_empty() {
        out.push(b'?');
        out.extend_from_slice(&b.query);
    }
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let has = |name: &str| {
        b.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
    };
    if !has("host") {
        out.extend_from_slice(b"host: 127.0.0.1\r\n");
    }
    if !has("connection") {
        out.extend_from_slice(b"connection: close\r\n");
    }
    for (name, value) in &b.headers {
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    if !b.raw_framing {
        if b.chunked.is_some() {
            out.extend_from_slice(b"transfer-encoding: chunked\r\n");
        } else {
            out.extend_from_slice(format!("content-length: {}\r\n", b.body.len()).as_bytes());
        }
    }
    out.extend_from_slice(b"\r\n");
    match b.chunked.filter(|_| !b.raw_framing) {
        Some(size) => {
            for chunk in b.body.chunks(size.max(1)) {
                out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                out.extend_from_slice(chunk);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
        }
        None => out.extend_from_slice(&b.body),
    }
    out
}

/// Sends `b` to `127.0.0.1:port` and reads the answer.
pub(crate) async fn send(port: u16, b: &Built) -> Result<Answer, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let bytes = frame(b);
    // The server may answer and close before it has read everything: what it sent counts.
    let _ = stream.write_all(&bytes).await;
    let mut raw = Vec::new();
    let read = tokio::time::timeout(ANSWER_WAIT, async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    if read.is_err() {
        return Err(format!(
            "the connection stayed open; got so far: {}",
            String::from_utf8_lossy(&raw)
        ));
    }
    parse(&raw)
}

/// Parses one HTTP/1.1 response.
fn parse(raw: &[u8]) -> Result<Answer, String> {
    let text = String::from_utf8_lossy(raw);
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no complete answer: {text:?}"))?;
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    if let Some(len) = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        body.truncate(len);
    }
    Ok(Answer {
        status,
        headers,
        body,
    })
}
