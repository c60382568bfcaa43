//! A loopback TCP relay that counts the connections made through it and notes when the first
//! one came: in front of the Runtime API (when a function's init is over) and, in the short
//! pass after the timed runs, in front of the store and the gateway (connections per request).
//! It also counts the DynamoDB API calls sent through it: each carries an `X-Amz-Target`
//! header naming its operation (both SDKs send it).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// A running relay; stopped on drop.
pub(crate) struct Relay {
    pub(crate) addr: SocketAddr,
    first_connect: Arc<OnceLock<Instant>>,
    connections: Arc<AtomicUsize>,
    calls: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

/// The header line that starts each DynamoDB API call, lower-cased.
const CALL_HEADER: &[u8] = b"\r\nx-amz-target:";

impl Relay {
    pub(crate) async fn start(target: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind relay: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("relay address: {e}"));
        let first_connect = Arc::new(OnceLock::new());
        let connections = Arc::new(AtomicUsize::new(0));
        let calls = Arc::new(AtomicUsize::new(0));
        let (seen, count, counted_calls) = (
            Arc::clone(&first_connect),
            Arc::clone(&connections),
            Arc::clone(&calls),
        );
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let _ = seen.set(Instant::now());
                count.fetch_add(1, Ordering::SeqCst);
                let calls = Arc::clone(&counted_calls);
                tokio::spawn(async move {
                    if let Ok(outbound) = tokio::net::TcpStream::connect(target).await {
                        pump(inbound, outbound, calls).await;
                    }
                });
            }
        });
        Self {
            addr,
            first_connect,
            connections,
            calls,
            task,
        }
    }

    /// DynamoDB API calls relayed so far.
    pub(crate) fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// When the first connection came, if one did.
    pub(crate) fn first_connect(&self) -> Option<Instant> {
        self.first_connect.get().copied()
    }

    /// Connections accepted so far.
    pub(crate) fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Relays both ways until either side closes, counting call headers on the way out.
async fn pump(
    inbound: tokio::net::TcpStream,
    outbound: tokio::net::TcpStream,
    calls: Arc<AtomicUsize>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut in_read, mut in_write) = inbound.into_split();
    let (mut out_read, mut out_write) = outbound.into_split();
    let upstream = async move {
        let mut counter = CallCounter::default();
        let mut buf = vec![0u8; 16 * 1024];
        while let Ok(n) = in_read.read(&mut buf).await {
            if n == 0 || out_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
            calls.fetch_add(counter.feed(&buf[..n]), Ordering::SeqCst);
        }
        let _ = out_write.shutdown().await;
    };
    let downstream = async move {
        let _ = tokio::io::copy(&mut out_read, &mut in_write).await;
        let _ = in_write.shutdown().await;
    };
    tokio::join!(upstream, downstream);
}

/// Counts [`CALL_HEADER`] in a byte stream read in pieces (a header may straddle two reads).
#[derive(Default)]
struct CallCounter {
    tail: Vec<u8>,
}

impl CallCounter {
    fn feed(&mut self, bytes: &[u8]) -> usize {
        let mut window = std::mem::take(&mut self.tail);
        window.extend(bytes.iter().map(u8::to_ascii_lowercase));
        let found = window
            .windows(CALL_HEADER.len())
            .filter(|w| *w == CALL_HEADER)
            .count();
        let keep = window.len().min(CALL_HEADER.len() - 1);
        self.tail = window.split_off(window.len() - keep);
        found
    }
}

/// The `host:port` of an `http://host:port/...` URL.
pub(crate) fn url_addr(url: &str) -> Option<SocketAddr> {
    let rest = url.split_once("://")?.1;
    let hostport = rest.split('/').next()?;
    hostport.parse().ok()
}

/// `url` with its `host:port` replaced by `addr`.
pub(crate) fn url_via(url: &str, addr: SocketAddr) -> String {
    match url_addr(url) {
        Some(old) => url.replacen(&old.to_string(), &addr.to_string(), 1),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_call_headers_split_across_reads() {
        let stream = b"POST / HTTP/1.1\r\nX-Amz-Target: DynamoDB_20120810.GetItem\r\n\r\n{}\
                       POST / HTTP/1.1\r\nhost: x\r\nx-amz-target: DynamoDB_20120810.PutItem\r\n\r\n";
        for cut in 0..stream.len() {
            let mut c = CallCounter::default();
            let n = c.feed(&stream[..cut]) + c.feed(&stream[cut..]);
            assert_eq!(n, 2, "cut at {cut}");
        }
        let mut c = CallCounter::default();
        assert_eq!(
            c.feed(b"GET / HTTP/1.1\r\nx-amz-targets: no\r\n"),
            0,
            "another header"
        );
    }

    #[test]
    fn rewrites_the_address() {
        let url = "http://127.0.0.1:4567/gateway.do";
        assert_eq!(url_addr(url), "127.0.0.1:4567".parse().ok());
        let to: SocketAddr = "127.0.0.1:9".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(url_via(url, to), "http://127.0.0.1:9/gateway.do");
    }
}
