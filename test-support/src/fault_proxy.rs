//! A loopback HTTP/1.1 proxy that injects faults between a process under test and a real
//! upstream (the Alipay gateway stand-in, moto): it forwards requests, or answers them with a
//! fault, per request; and it can be cut (every connection reset, new ones refused) and
//! restored, on the same port, like a server that stops and comes back.
//!
//! Each client connection carries one request: the proxy answers with `connection: close`, and
//! asks the upstream for the same, so a request is always one upstream connection and a fault
//! never hits a request pooled behind another. Request bodies must have a `content-length`
//! (reqwest and the AWS SDK send one); a chunked request is answered 501.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Larger heads or bodies are not what these tests send; the connection is dropped.
const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// What the proxy does with one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Forwards it and relays the upstream's answer.
    Forward,
    /// Answers with these bytes (a whole HTTP response, see [`http_response`]), then closes.
    Reply(Vec<u8>),
    /// Reads the request, then resets the connection (RST) without answering.
    Reset,
    /// Reads the request and never answers; the connection ends when the client gives up.
    Hang,
    /// Forwards it, then relays the upstream's answer with the second half of its body cut
    /// off. `keep_length`: the original `content-length` stays, so the client sees the
    /// connection end mid-body; otherwise the length is fixed, so the answer is complete HTTP
    /// whose body is truncated.
    Truncate {
        /// Keep the original `content-length`.
        keep_length: bool,
    },
    /// Forwards it (the upstream acts on it), then resets the connection instead of relaying
    /// the answer: a response lost on the way back.
    ForwardThenReset,
}

#[derive(Debug)]
struct Plan {
    upstream: SocketAddr,
    default: Fault,
    /// Faults for the next requests, in order, before the default applies again.
    next: VecDeque<(Option<String>, Fault)>,
}

impl Plan {
    /// The fault for a request whose head is `head`: the first queued one whose filter (a
    /// substring of the head, case-insensitive) matches, else the default.
    fn take(&mut self, head: &str) -> Fault {
        let lower = head.to_ascii_lowercase();
        let position = self.next.iter().position(|(filter, _)| {
            filter
                .as_ref()
                .is_none_or(|f| lower.contains(&f.to_ascii_lowercase()))
        });
        match position.and_then(|i| self.next.remove(i)) {
            Some((_, fault)) => fault,
            None => self.default.clone(),
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    forwarded: AtomicU64,
    refused: AtomicU64,
}

/// A running proxy; stops (and drops every connection) when dropped.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    plan: Arc<Mutex<Plan>>,
    counters: Arc<Counters>,
    cut: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy on a loopback port the OS picks, forwarding to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the fault proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let plan = Arc::new(Mutex::new(Plan {
            upstream,
            default: Fault::Forward,
            next: VecDeque::new(),
        }));
        let counters = Arc::new(Counters::default());
        let (cut, cut_rx) = watch::channel(false);
        let task = tokio::spawn(accept_loop(
            listener,
            Arc::clone(&plan),
            Arc::clone(&counters),
            cut_rx,
        ));
        Self {
            addr,
            plan,
            counters,
            cut,
            task,
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What every request gets unless a queued fault applies.
    pub fn set_default(&self, fault: Fault) {
        self.plan.lock().expect("plan").default = fault;
    }

    /// The next `count` requests get `fault` (after faults queued earlier).
    pub fn queue(&self, count: usize, fault: Fault) {
        let mut plan = self.plan.lock().expect("plan");
        plan.next.extend(std::iter::repeat_n((None, fault), count));
    }

    /// The next `count` requests whose head contains `filter` (case-insensitive; e.g.
    /// `DynamoDB_20120810.PutItem`) get `fault`; other requests are not counted.
    pub fn queue_matching(&self, filter: &str, count: usize, fault: Fault) {
        let mut plan = self.plan.lock().expect("plan");
        plan.next
            .extend(std::iter::repeat_n((Some(filter.to_owned()), fault), count));
    }

    /// Queued faults not yet used.
    pub fn queued(&self) -> usize {
        self.plan.lock().expect("plan").next.len()
    }

    /// Like a server that stops: every open connection is reset and new ones are reset as
    /// soon as they are accepted, until [`FaultProxy::restore`].
    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    /// Serves again, on the same port.
    pub fn restore(&self) {
        self.cut.send_replace(false);
    }

    /// Requests read so far (whatever their fate).
    pub fn requests(&self) -> u64 {
        self.counters.requests.load(Ordering::SeqCst)
    }

    /// Requests forwarded to the upstream so far.
    pub fn forwarded(&self) -> u64 {
        self.counters.forwarded.load(Ordering::SeqCst)
    }

    /// Connections reset at once because the proxy was cut.
    pub fn refused(&self) -> u64 {
        self.counters.refused.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    plan: Arc<Mutex<Plan>>,
    counters: Arc<Counters>,
    cut: watch::Receiver<bool>,
) {
    // Connections live in the set so that ending the loop (the proxy dropped) ends them all.
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                if *cut.borrow() {
                    counters.refused.fetch_add(1, Ordering::SeqCst);
                    reset(stream);
                    continue;
                }
                let (plan, counters, cut) = (Arc::clone(&plan), Arc::clone(&counters), cut.clone());
                connections.spawn(connection(stream, plan, counters, cut));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Closes with RST rather than FIN: the peer sees "connection reset".
fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

/// How serving one connection ended.
enum End {
    /// Answered (or the client left): close normally.
    Done,
    /// Reset it.
    Reset,
}

async fn connection(
    mut client: TcpStream,
    plan: Arc<Mutex<Plan>>,
    counters: Arc<Counters>,
    mut cut: watch::Receiver<bool>,
) {
    let end = tokio::select! {
        end = serve(&mut client, &plan, &counters) => end,
        _ = cut.wait_for(|c| *c) => End::Reset,
    };
    match end {
        End::Done => {
            let _ = client.shutdown().await;
        }
        End::Reset => reset(client),
    }
}

async fn serve(client: &mut TcpStream, plan: &Mutex<Plan>, counters: &Counters) -> End {
    let Some(request) = read_message(client, true).await else {
        return End::Done;
    };
    counters.requests.fetch_add(1, Ordering::SeqCst);
    if request.chunked {
        let answer = http_response(501, "Not Implemented", &[], b"chunked requests");
        let _ = client.write_all(&answer).await;
        return End::Done;
    }
    let (fault, upstream) = {
        let mut plan = plan.lock().expect("plan");
        (plan.take(&request.head), plan.upstream)
    };
    match fault {
        Fault::Reply(bytes) => {
            let _ = client.write_all(&bytes).await;
            End::Done
        }
        Fault::Reset => End::Reset,
        Fault::Hang => {
            // Until the client closes (or the proxy is cut or dropped).
            let mut sink = [0u8; 1024];
            while matches!(client.read(&mut sink).await, Ok(n) if n > 0) {}
            End::Done
        }
        Fault::Forward | Fault::Truncate { .. } | Fault::ForwardThenReset => {
            counters.forwarded.fetch_add(1, Ordering::SeqCst);
            let Some(answer) = exchange(upstream, &request).await else {
                return End::Reset;
            };
            let bytes = match fault {
                Fault::ForwardThenReset => return End::Reset,
                Fault::Truncate { keep_length } => answer.truncated(keep_length),
                _ => answer.closing(),
            };
            let _ = client.write_all(&bytes).await;
            End::Done
        }
    }
}

/// One HTTP/1.1 message: its head (start line and headers, without the blank line) and body.
#[derive(Debug)]
struct Message {
    head: String,
    body: Vec<u8>,
    chunked: bool,
}

impl Message {
    /// The head with `connection: close` instead of any connection header.
    fn closing_head(&self) -> String {
        let mut lines: Vec<&str> = self
            .head
            .split("\r\n")
            .filter(|l| {
                let name = l
                    .split(':')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                !matches!(
                    name.as_str(),
                    "connection" | "keep-alive" | "proxy-connection"
                )
            })
            .collect();
        lines.push("connection: close");
        lines.join("\r\n")
    }

    /// The whole message with `connection: close`.
    fn closing(&self) -> Vec<u8> {
        let mut bytes = format!("{}\r\n\r\n", self.closing_head()).into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }

    /// An answer with half its body; with `keep_length` the original length is announced.
    fn truncated(&self, keep_length: bool) -> Vec<u8> {
        let half = &self.body[..self.body.len() / 2];
        let head = if keep_length {
            self.closing_head()
        } else {
            let lines: Vec<String> = self
                .closing_head()
                .split("\r\n")
                .map(|l| {
                    if l.to_ascii_lowercase().starts_with("content-length:") {
                        format!("content-length: {}", half.len())
                    } else {
                        l.to_owned()
                    }
                })
                .collect();
            lines.join("\r\n")
        };
        let mut bytes = format!("{head}\r\n\r\n").into_bytes();
        bytes.extend_from_slice(half);
        bytes
    }
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.split("\r\n").skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Reads one message. A request's body is `content-length` bytes; an answer's too when it
/// says so, else everything until the upstream closes (we asked it to).
async fn read_message(stream: &mut TcpStream, is_request: bool) -> Option<Message> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 || buf.len() > MAX_MESSAGE_BYTES {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut body = buf.split_off(head_end + 4);
    let chunked = header(&head, "transfer-encoding").is_some_and(|v| v.contains("chunked"));
    let length = header(&head, "content-length").and_then(|v| v.parse::<usize>().ok());
    let wanted = match (length, is_request) {
        (Some(n), _) => Some(n.min(MAX_MESSAGE_BYTES)),
        (None, true) => Some(0),
        (None, false) => None,
    };
    if is_request && chunked {
        return Some(Message {
            head,
            body,
            chunked,
        });
    }
    while wanted.is_none_or(|n| body.len() < n) {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) if wanted.is_none() => break,
            Ok(0) | Err(_) => return None,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
        if body.len() > MAX_MESSAGE_BYTES {
            return None;
        }
    }
    Some(Message {
        head,
        body,
        chunked,
    })
}

/// Sends the request to the upstream on a new connection and reads its whole answer.
async fn exchange(upstream: SocketAddr, request: &Message) -> Option<Message> {
    let mut conn = TcpStream::connect(upstream).await.ok()?;
    conn.write_all(&request.closing()).await.ok()?;
    read_message(&mut conn, false).await
}

/// A whole HTTP/1.1 response with `content-length` and `connection: close`.
pub fn http_response(status: u16, reason: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut head = format!("HTTP/1.1 {status} {reason}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// DynamoDB's throttling errors, as it sends them (HTTP 400, JSON 1.0 error body).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Throttle {
    /// A table's provisioned throughput is exhausted.
    ProvisionedThroughputExceeded,
    /// The account or partition is throttled (on-demand tables too).
    Throttling,
}

/// The HTTP answer DynamoDB gives when it throttles a call.
pub fn dynamodb_throttling(kind: Throttle) -> Vec<u8> {
    let (type_name, message) = match kind {
        Throttle::ProvisionedThroughputExceeded => (
            "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
            "The level of configured provisioned throughput for the table was exceeded. \
             Consider increasing your provisioning level with the UpdateTable API.",
        ),
        Throttle::Throttling => (
            "com.amazon.coral.availability#ThrottlingException",
            "Throughput exceeds the current capacity for one or more global secondary indexes. \
             DynamoDB is automatically scaling your index so please try again shortly.",
        ),
    };
    let error_type = type_name.rsplit('#').next().unwrap_or(type_name);
    let body = serde_json::json!({"__type": type_name, "message": message}).to_string();
    http_response(
        400,
        "Bad Request",
        &[
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amzn-errortype", error_type),
            (
                "x-amzn-requestid",
                "FAULTPROXY0000000000000000000000000000000000000000000",
            ),
        ],
        body.as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queued_faults_apply_in_order_and_by_filter() {
        let mut plan = Plan {
            upstream: SocketAddr::from(([127, 0, 0, 1], 9)),
            default: Fault::Forward,
            next: VecDeque::from([
                (Some("PutItem".to_owned()), Fault::Reset),
                (None, Fault::Hang),
            ]),
        };
        assert_eq!(plan.take("POST / x-amz-target: GetItem"), Fault::Hang);
        assert_eq!(plan.take("POST / x-amz-target: GetItem"), Fault::Forward);
        assert_eq!(
            plan.take("POST / X-Amz-Target: DynamoDB_20120810.PutItem"),
            Fault::Reset
        );
        assert_eq!(plan.take("x"), Fault::Forward);
    }

    #[test]
    fn truncation_halves_the_body_and_may_fix_the_length() {
        let answer = Message {
            head: "HTTP/1.1 200 OK\r\ncontent-length: 10\r\nConnection: keep-alive".into(),
            body: b"0123456789".to_vec(),
            chunked: false,
        };
        let fixed = String::from_utf8(answer.truncated(false)).unwrap();
        assert!(fixed.contains("content-length: 5\r\n"), "{fixed}");
        assert!(fixed.ends_with("connection: close\r\n\r\n01234"), "{fixed}");
        assert!(!fixed.contains("keep-alive"));
        let kept = String::from_utf8(answer.truncated(true)).unwrap();
        assert!(kept.contains("content-length: 10\r\n") && kept.ends_with("01234"));
    }
}
