//! A loopback TCP relay that counts the connections made through it and notes when the first
//! request came: in front of the Runtime API (when a function's init is over: it may connect
//! earlier, but asks for its first event only then) and, in the short
//! pass after the timed runs, in front of the store and the gateway (connections per request).
//! It also counts the DynamoDB API calls sent through it: each carries an `X-Amz-Target`
//! header naming its operation (both SDKs send it). And it clocks how long its clients waited
//! on the server behind it (cold starts: the store's and the gateway's share of the time).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// A running relay; stopped on drop.
pub(crate) struct Relay {
    pub(crate) addr: SocketAddr,
    first_request: Arc<OnceLock<Instant>>,
    connections: Arc<AtomicUsize>,
    calls: Arc<AtomicUsize>,
    clock: Arc<WaitClock>,
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
        let first_request = Arc::new(OnceLock::new());
        let connections = Arc::new(AtomicUsize::new(0));
        let calls = Arc::new(AtomicUsize::new(0));
        let clock = Arc::new(WaitClock::default());
        let (seen, count, counted_calls, waits) = (
            Arc::clone(&first_request),
            Arc::clone(&connections),
            Arc::clone(&calls),
            Arc::clone(&clock),
        );
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let calls = Arc::clone(&counted_calls);
                let clock = Arc::clone(&waits);
                let seen = Arc::clone(&seen);
                tokio::spawn(async move {
                    if let Ok(outbound) = tokio::net::TcpStream::connect(target).await {
                        // Without it, Nagle's algorithm holds a request's second piece for the
                        // peer's delayed ACK (40 ms): the relay must not add waits it clocks.
                        let _ = inbound.set_nodelay(true);
                        let _ = outbound.set_nodelay(true);
                        pump(inbound, outbound, calls, clock, seen).await;
                    }
                });
            }
        });
        Self {
            addr,
            first_request,
            connections,
            calls,
            clock,
            task,
        }
    }

    /// How long, so far, at least one request through the relay had been sent and not yet
    /// answered (from its first byte out to the first byte of the answer back): the time the
    /// clients spent waiting on the server.
    pub(crate) fn waited(&self) -> Duration {
        self.clock.total(Instant::now())
    }

    /// DynamoDB API calls relayed so far.
    pub(crate) fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// When the first byte of the first request came, if one did.
    pub(crate) fn first_request(&self) -> Option<Instant> {
        self.first_request.get().copied()
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

/// The union of the intervals during which some connection had a request out and no answer
/// yet; requests on several connections at once count once.
#[derive(Default)]
struct WaitClock {
    state: Mutex<WaitState>,
}

#[derive(Default)]
struct WaitState {
    outstanding: usize,
    since: Option<Instant>,
    total: Duration,
}

impl WaitClock {
    fn begin(&self, now: Instant) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if s.outstanding == 0 {
            s.since = Some(now);
        }
        s.outstanding += 1;
    }

    fn end(&self, now: Instant) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.outstanding = s.outstanding.saturating_sub(1);
        if s.outstanding == 0 {
            if let Some(since) = s.since.take() {
                s.total += now.saturating_duration_since(since);
            }
        }
    }

    fn total(&self, now: Instant) -> Duration {
        let s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.total
            + s.since
                .map_or(Duration::ZERO, |t| now.saturating_duration_since(t))
    }
}

/// One connection's side of the clock: waiting from the first byte of a request out until the
/// first byte of the answer back.
struct Waiting {
    clock: Arc<WaitClock>,
    on: AtomicBool,
}

impl Waiting {
    fn sent(&self) {
        if !self.on.swap(true, Ordering::SeqCst) {
            self.clock.begin(Instant::now());
        }
    }

    fn answered(&self) {
        if self.on.swap(false, Ordering::SeqCst) {
            self.clock.end(Instant::now());
        }
    }
}

/// Relays both ways until either side closes, counting call headers on the way out, clocking
/// the waits and noting when the first request began (`first_request`, shared by the relay's
/// connections).
async fn pump(
    inbound: tokio::net::TcpStream,
    outbound: tokio::net::TcpStream,
    calls: Arc<AtomicUsize>,
    clock: Arc<WaitClock>,
    first_request: Arc<OnceLock<Instant>>,
) {
    let (in_read, in_write) = inbound.into_split();
    let (out_read, out_write) = outbound.into_split();
    let waiting = Waiting {
        clock,
        on: AtomicBool::new(false),
    };
    let mut counter = CallCounter::default();
    tokio::join!(
        copy_seeing(in_read, out_write, |chunk| {
            let _ = first_request.set(Instant::now());
            waiting.sent();
            calls.fetch_add(counter.feed(chunk), Ordering::SeqCst);
        }),
        copy_seeing(out_read, in_write, |_| waiting.answered()),
    );
    // A request the server never answered stops counting when its connection ends.
    waiting.answered();
}

/// Copies `from` to `to` until either side closes, showing each chunk to `seen` first.
async fn copy_seeing(
    mut from: impl tokio::io::AsyncRead + Unpin,
    mut to: impl tokio::io::AsyncWrite + Unpin,
    mut seen: impl FnMut(&[u8]),
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 {
            break;
        }
        seen(&buf[..n]);
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
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
    fn overlapping_waits_count_once() {
        let clock = WaitClock::default();
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        clock.begin(at(0));
        clock.begin(at(5));
        clock.end(at(10));
        assert_eq!(
            clock.total(at(12)),
            Duration::from_millis(12),
            "still one out"
        );
        clock.end(at(20));
        clock.begin(at(30));
        clock.end(at(31));
        assert_eq!(clock.total(at(100)), Duration::from_millis(21));
    }

    #[tokio::test]
    async fn clocks_the_wait_for_an_answer() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let server = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let target = server.local_addr().unwrap_or_else(|e| panic!("{e}"));
        tokio::spawn(async move {
            if let Ok((mut s, _)) = server.accept().await {
                let mut buf = [0u8; 4];
                let _ = s.read_exact(&mut buf).await;
                tokio::time::sleep(Duration::from_millis(60)).await;
                let _ = s.write_all(b"pong").await;
                // Idle afterwards: that is not waiting.
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        let relay = Relay::start(target).await;
        let mut c = tokio::net::TcpStream::connect(relay.addr)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        c.write_all(b"ping").await.unwrap_or_else(|e| panic!("{e}"));
        let mut buf = [0u8; 4];
        c.read_exact(&mut buf)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        tokio::time::sleep(Duration::from_millis(100)).await;
        let waited = relay.waited();
        assert!(
            waited >= Duration::from_millis(60) && waited < Duration::from_millis(150),
            "{waited:?}"
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
