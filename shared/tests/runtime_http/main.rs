//! HTTP-server mode end to end: the `echo_function` example runs as a real process on a port
//! the OS picks; real HTTP/1.1 requests; and the same requests through Lambda mode must give
//! byte-identical answers.

mod client;

use std::time::Duration;

use base64::Engine;
use client::{raw_until_close, request, Conn, Reply, ReqBody};
use serde_json::{json, Value};
use test_support::build::{build, Profile, Target};
use test_support::fixtures::event as fixture;
use test_support::headers;
use test_support::process::Launch;
use test_support::runtime_api::{PostKind, RuntimeApi, Scripted};

/// The `echo_function` example (built once per test process), ready to start, configured as
/// behind Function Compute (`x-fc-request-id` trusted).
fn echo() -> Launch {
    echo_untrusted().env("MINIAPP_TRUST_FC_REQUEST_ID", "true")
}

/// The `echo_function` example with the default configuration.
fn echo_untrusted() -> Launch {
    const ECHO: [Target; 1] = [Target::example("miniapp-shared", "echo_function")];
    Launch::new(build(&ECHO, Profile::of_this_test()).get("echo_function"))
}

const LIMIT: usize = 262_144;

#[tokio::test]
async fn echo_round_trip_with_generated_request_id() {
    let (_proc, port) = echo().spawn_http().await;
    let reply = request(
        port,
        "POST",
        "/db/todos?limit=2&x=%20y",
        &[("content-type", "application/json"), ("cookie", "a=1; b=2")],
        ReqBody::full(r#"{"title":"milk"}"#),
    )
    .await;
    assert_eq!(reply.status, 200);
    let echo = reply.json();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["path"], "/db/todos");
    assert_eq!(echo["query"], "limit=2&x=%20y");
    assert_eq!(echo["body"], r#"{"title":"milk"}"#);
    assert_eq!(echo["cookie"], "a=1; b=2");
    assert_eq!(echo["sourceIp"], "127.0.0.1");
    let id = echo["requestId"].as_str().unwrap_or_default();
    assert_eq!(id.len(), 36, "a generated UUID: {id}");
    assert_eq!(reply.header("x-request-id"), Some(id));
}

#[tokio::test]
async fn fc_request_id_is_the_request_id_and_a_client_one_is_not_echoed() {
    let (_proc, port) = echo().spawn_http().await;
    let reply = request(
        port,
        "GET",
        "/",
        &[("x-fc-request-id", "fc-req-42")],
        ReqBody::empty(),
    )
    .await;
    assert_eq!(reply.json()["requestId"], "fc-req-42");
    assert_eq!(reply.header("x-request-id"), Some("fc-req-42"));
    let reply = request(
        port,
        "GET",
        "/",
        &[("x-request-id", "client-chosen")],
        ReqBody::empty(),
    )
    .await;
    assert_ne!(reply.header("x-request-id"), Some("client-chosen"));
}

/// Issue 10, finding 7: without Function Compute in front, a client must not choose the id.
#[tokio::test]
async fn fc_request_id_is_ignored_unless_trusted() {
    let (_proc, port) = echo_untrusted().spawn_http().await;
    let reply = request(
        port,
        "GET",
        "/",
        &[("x-fc-request-id", "fc-req-42")],
        ReqBody::empty(),
    )
    .await;
    let id = reply.json()["requestId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_ne!(id, "fc-req-42");
    assert_eq!(id.len(), 36, "a generated UUID: {id}");
    assert_eq!(reply.header("x-request-id"), Some(id.as_str()));
}

#[tokio::test]
async fn keep_alive_reuses_the_connection() {
    let (_proc, port) = echo().spawn_http().await;
    let mut conn = Conn::open(port).await;
    for i in 0..3 {
        let path = format!("/n/{i}");
        let reply = conn
            .send("POST", &path, &[], ReqBody::full(vec![b'k'; 1000]))
            .await
            .unwrap_or_else(|e| panic!("request {i} on the same connection: {e}"));
        assert_eq!(reply.json()["path"], path);
        assert_eq!(reply.header("connection"), None);
    }
}

#[tokio::test]
async fn body_limit_with_content_length() {
    let (_proc, port) = echo().spawn_http().await;
    let mut conn = Conn::open(port).await;
    let reply = conn
        .send("PUT", "/exact", &[], ReqBody::full(vec![b'a'; LIMIT]))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["bodyLen"], LIMIT);

    let reply = conn
        .send("PUT", "/over", &[], ReqBody::full(vec![b'a'; LIMIT + 1]))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_413(&reply);
    assert!(
        conn.is_closed().await,
        "the connection must not be reused after an unread body"
    );
}

#[tokio::test]
async fn body_limit_with_chunked_encoding() {
    let (_proc, port) = echo().spawn_http().await;
    let mut conn = Conn::open(port).await;
    let reply = conn
        .send("POST", "/exact", &[], ReqBody::chunked(LIMIT, 10_000))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["bodyLen"], LIMIT);
    // Still the same connection: an accepted chunked body leaves it reusable.
    let reply = conn
        .send("POST", "/over", &[], ReqBody::chunked(LIMIT + 1, 10_000))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_413(&reply);
    assert!(conn.is_closed().await);
}

#[tokio::test]
async fn oversized_bodies_on_a_raw_socket_get_413_then_close() {
    let (_proc, port) = echo().spawn_http().await;
    // Declared too large, body sent in full: answered without reading it all, then closed.
    let head = format!(
        "POST /cl HTTP/1.1\r\nhost: t\r\ncontent-length: {}\r\n\r\n",
        LIMIT + 1
    );
    let body = vec![b'b'; LIMIT + 1];
    let out = raw_until_close(
        port,
        &[head.as_bytes(), &body, b"GET / HTTP/1.1\r\nhost: t\r\n\r\n"],
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 413"), "{out}");
    assert_eq!(
        out.matches("HTTP/1.1").count(),
        1,
        "the pipelined request must not be served: {out}"
    );

    // Chunked, one byte too many: reading stops at the limit.
    let mut chunked =
        b"POST /ch HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..4 {
        chunked.extend_from_slice(format!("{:x}\r\n", 65_536).as_bytes());
        chunked.extend(std::iter::repeat_n(b'c', 65_536));
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"1\r\nc\r\n0\r\n\r\n");
    let out = raw_until_close(port, &[&chunked]).await;
    assert!(out.starts_with("HTTP/1.1 413"), "{out}");
    assert!(
        out.to_ascii_lowercase().contains("connection: close"),
        "{out}"
    );
}

fn assert_413(reply: &Reply) {
    assert_eq!(reply.status, 413);
    let v = reply.json();
    assert_eq!(v["error"]["code"], "PayloadTooLarge");
    assert_eq!(
        reply.header("x-request-id"),
        v["error"]["requestId"].as_str()
    );
}

#[tokio::test]
async fn handler_panic_is_a_500_and_the_server_keeps_serving() {
    let (proc, port) = echo().spawn_http().await;
    let reply = request(
        port,
        "GET",
        "/panic",
        &[("x-fc-request-id", "p-1")],
        ReqBody::empty(),
    )
    .await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.json()["error"]["code"], "InternalError");
    assert_eq!(reply.json()["error"]["requestId"], "p-1");
    let reply = request(port, "GET", "/after", &[], ReqBody::empty()).await;
    assert_eq!(reply.status, 200);
    assert!(proc
        .stderr_lines()
        .iter()
        .all(|l| !l.contains("RUST_BACKTRACE")));
}

#[tokio::test]
async fn sigterm_lets_the_in_flight_request_finish_then_exits_zero() {
    let (mut proc, port) = echo().spawn_http().await;
    // A first request makes sure the connection is accepted before the slow one is sent on it.
    let mut conn = Conn::open(port).await;
    conn.send("GET", "/warm", &[], ReqBody::empty())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let slow = tokio::spawn(async move {
        let headers = [("x-fc-request-id", "slow")];
        conn.send("GET", "/sleep?ms=1500", &headers, ReqBody::empty())
            .await
    });
    // Give the request time to reach the handler, then signal.
    tokio::time::sleep(Duration::from_millis(500)).await;
    proc.signal("TERM");
    proc.wait_stdout(|l| l.contains("shutdown signal")).await;
    // No new connections once the signal arrived.
    assert!(tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err());
    let reply = slow
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("the in-flight request failed: {e}"));
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["requestId"], "slow");
    let status = proc.wait_exit().await;
    assert_eq!(status.code(), Some(0), "{status}");
}

#[tokio::test]
async fn sigint_on_an_idle_server_exits_zero() {
    let (mut proc, port) = echo().spawn_http().await;
    // An idle keep-alive connection must not hold the shutdown up.
    let mut idle = Conn::open(port).await;
    idle.send("GET", "/", &[], ReqBody::empty())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    proc.signal("INT");
    assert_eq!(proc.wait_exit().await.code(), Some(0));
}

#[tokio::test]
async fn bad_port_is_one_line_naming_the_variable_and_exit_1() {
    for var in ["PORT", "FC_SERVER_PORT", "FC_CUSTOM_LISTEN_PORT"] {
        let mut proc = echo().env(var, "http").spawn();
        let status = proc.wait_exit().await;
        assert_eq!(status.code(), Some(1), "{var}: {status}");
        // Give the collectors a moment to drain the pipe after exit.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let stderr = proc.stderr_lines();
        assert_eq!(stderr.len(), 1, "{var}: {stderr:?}");
        assert!(
            stderr[0].contains(var) && stderr[0].contains("http"),
            "{stderr:?}"
        );
        assert!(!stderr[0].contains("panicked"), "{stderr:?}");
    }
}

#[tokio::test]
async fn init_failure_is_one_line_and_exit_1() {
    let mut proc = echo().env("ECHO_FAIL_INIT", "1").spawn();
    assert_eq!(proc.wait_exit().await.code(), Some(1));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stderr = proc.stderr_lines();
    assert_eq!(stderr.len(), 1, "{stderr:?}");
    assert!(stderr[0].contains("ECHO_FAIL_INIT"), "{stderr:?}");
}

#[tokio::test]
async fn access_line_per_request_without_secrets() {
    let (mut proc, port) = echo().spawn_http().await;
    let headers = [
        ("x-fc-request-id", "acc-1"),
        (
            "authorization",
            "MINIAPP-HMAC-SHA256 Credential=STS.x, Signature=deadbeef",
        ),
        ("x-miniapp-security-token", "token-secret-value"),
    ];
    request(
        port,
        "PATCH",
        "/db/todos/x",
        &headers,
        ReqBody::full("body-secret-value"),
    )
    .await;
    let v = proc.log_of_request("acc-1").await;
    assert_eq!(v["method"], "PATCH");
    assert_eq!(v["status"], 200);
    assert_eq!(v["route"], "/echo");
    assert!(v["latency_ms"].is_u64(), "{v}");
    proc.assert_stdout_lacks(&["deadbeef", "token-secret-value", "body-secret-value"]);
}

/// One request in both forms: for the HTTP server, and as the 2.0 event API Gateway would send.
struct Case {
    method: &'static str,
    path: &'static str,
    query: &'static str,
    content_type: Option<&'static str>,
    cookies: &'static [&'static str],
    body: Vec<u8>,
}

impl Case {
    fn event(&self) -> Value {
        let mut ev = fixture("apigw-v2-post-session.json");
        ev["rawPath"] = json!(self.path);
        ev["rawQueryString"] = json!(self.query);
        ev["requestContext"]["http"]["method"] = json!(self.method);
        ev["requestContext"]["http"]["sourceIp"] = json!("127.0.0.1");
        ev["headers"] = json!({"host": "t"});
        if let Some(ct) = self.content_type {
            ev["headers"]["content-type"] = json!(ct);
        }
        if !self.cookies.is_empty() {
            ev["cookies"] = json!(self.cookies);
        }
        ev["body"] = json!(base64::engine::general_purpose::STANDARD.encode(&self.body));
        ev["isBase64Encoded"] = json!(true);
        ev
    }
}

/// The answer as a client sees it: status, headers as sorted (name, value) pairs, body bytes.
type Seen = (u16, Vec<(String, String)>, Vec<u8>);

/// Headers that belong to the connection, not the function: the HTTP server adds them, API
/// Gateway adds its own in Lambda mode.
fn seen_over_http(reply: &Reply) -> Seen {
    let headers = headers::of_http(&reply.headers);
    (reply.status.as_u16(), headers, reply.body.to_vec())
}

fn seen_over_lambda(resp: &Value) -> Seen {
    let mut headers = headers::of_lambda(resp);
    for name in headers::TRANSPORT {
        assert!(
            headers.iter().all(|(n, _)| n != name),
            "{name} in a Lambda response"
        );
    }
    for cookie in resp["cookies"].as_array().into_iter().flatten() {
        headers.push((
            "set-cookie".into(),
            cookie.as_str().unwrap_or_default().to_owned(),
        ));
    }
    headers.sort();
    let body = resp["body"].as_str().unwrap_or_default();
    let body = if resp["isBase64Encoded"] == true {
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap_or_default()
    } else {
        body.as_bytes().to_vec()
    };
    (
        resp["statusCode"]
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
            .unwrap_or(0),
        headers,
        body,
    )
}

#[tokio::test]
async fn both_modes_answer_byte_identically() {
    let cases = [
        Case {
            method: "POST",
            path: "/db/todos",
            query: "limit=2&prefix=a%2Fb",
            content_type: Some("application/json"),
            cookies: &["a=1", "b=2"],
            body: r#"{"title":"买牛奶"}"#.as_bytes().to_vec(),
        },
        Case {
            method: "GET",
            path: "/x",
            query: "setcookie=1&multi=1",
            content_type: None,
            cookies: &[],
            body: Vec::new(),
        },
        Case {
            method: "GET",
            path: "/binary",
            query: "",
            content_type: None,
            cookies: &[],
            body: Vec::new(),
        },
        Case {
            method: "PUT",
            path: "/db/todos/big",
            query: "",
            content_type: Some("application/octet-stream"),
            cookies: &[],
            body: vec![0xff; LIMIT + 1],
        },
        Case {
            method: "DELETE",
            path: "/panic",
            query: "",
            content_type: None,
            cookies: &[],
            body: Vec::new(),
        },
    ];
    let (_http, port) = echo().spawn_http().await;
    let mut api = RuntimeApi::start("").await;
    let _lambda = echo().env("AWS_LAMBDA_RUNTIME_API", api.url()).spawn();

    for (i, case) in cases.iter().enumerate() {
        let id = format!("same-{i}");
        let mut headers = vec![("x-fc-request-id", id.as_str())];
        if let Some(ct) = case.content_type {
            headers.push(("content-type", ct));
        }
        let cookie = case.cookies.join("; ");
        if !cookie.is_empty() {
            headers.push(("cookie", &cookie));
        }
        let target = if case.query.is_empty() {
            case.path.to_owned()
        } else {
            format!("{}?{}", case.path, case.query)
        };
        let reply = request(
            port,
            case.method,
            &target,
            &headers,
            ReqBody::full(case.body.clone()),
        )
        .await;

        api.push(Scripted::event(&id, &case.event()));
        let post = api.next_post().await;
        if case.path == "/panic" {
            // The one place the modes differ by design: Lambda reports an invocation error
            // (API Gateway answers 500 itself); the HTTP server answers the 500.
            assert_eq!(post.kind, PostKind::Error(id.clone()));
            assert_eq!(reply.status, 500);
            continue;
        }
        assert_eq!(post.kind, PostKind::Response(id.clone()));
        assert_eq!(
            seen_over_http(&reply),
            seen_over_lambda(&post.json()),
            "case {i}: {} {target}",
            case.method
        );
    }
}

/// A `/proc/<pid>/status` figure in kB (`VmHWM`: peak resident set, `VmRSS`: now).
fn proc_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/status: {e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// Issue 10, finding 2: 200 clients announce 256 KiB, send all but one byte and stall. They
/// used to hold ~0.5 MB each forever; now memory grows by at most 64 MB, a normal request is
/// answered meanwhile, and the read deadline closes every one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_bodies_are_bounded_then_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (proc, port) = echo()
        .env("MINIAPP_REQUEST_READ_TIMEOUT_SECS", "5")
        .spawn_http()
        .await;
    let before = proc_kb(proc.id(), "VmRSS");
    let head = format!("POST /slow HTTP/1.1\r\nhost: t\r\ncontent-length: {LIMIT}\r\n\r\n");
    let body = bytes::Bytes::from(vec![b'b'; LIMIT - 1]);
    let started = tokio::time::Instant::now();
    let senders: Vec<_> = (0..200)
        .map(|_| {
            let (head, body) = (head.clone(), body.clone());
            tokio::spawn(async move {
                let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .unwrap_or_else(|e| panic!("connect: {e}"));
                // The server may close first once the deadline passed: stop writing then.
                if s.write_all(head.as_bytes()).await.is_ok() {
                    let _ = s.write_all(&body).await;
                }
                s
            })
        })
        .collect();
    let mut stalled = Vec::new();
    for t in senders {
        stalled.push(t.await.unwrap_or_else(|e| panic!("sender: {e}")));
    }
    // Let the server read what the kernel holds for it before the peak is read.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let reply = request(port, "GET", "/meanwhile", &[], ReqBody::empty()).await;
    assert_eq!(reply.status, 200, "a normal request is answered meanwhile");
    let grown = proc_kb(proc.id(), "VmHWM").saturating_sub(before);
    eprintln!("200 stalled bodies: VmRSS before {before} kB, VmHWM grew by {grown} kB");
    assert!(grown <= 64 * 1024, "memory grew by {grown} kB");
    for mut s in stalled {
        let mut sink = Vec::new();
        let left = Duration::from_secs(60).saturating_sub(started.elapsed());
        let closed = tokio::time::timeout(left, s.read_to_end(&mut sink)).await;
        assert!(
            closed.is_ok(),
            "a stalled connection was still open after 60 s"
        );
    }
}

/// Over `MINIAPP_MAX_CONNECTIONS`, a new connection is closed at once; the open ones still work.
#[tokio::test]
async fn connections_over_the_cap_are_closed() {
    use tokio::io::AsyncReadExt;
    let (_proc, port) = echo()
        .env("MINIAPP_MAX_CONNECTIONS", "2")
        .spawn_http()
        .await;
    let mut first = Conn::open(port).await;
    let mut second = Conn::open(port).await;
    // Both are accepted (a request on each proves it) before the third arrives.
    for conn in [&mut first, &mut second] {
        let reply = conn
            .send("GET", "/", &[], ReqBody::empty())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(reply.status, 200);
    }
    let mut third = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    let mut sink = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), third.read_to_end(&mut sink)).await;
    assert!(closed.is_ok(), "the connection over the cap was kept open");
    let reply = first
        .send("GET", "/again", &[], ReqBody::empty())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(reply.status, 200);
}

/// Path, query, extra headers, then the expected status and code.
type HeadCase<'a> = (&'a str, &'a str, Vec<(String, String)>, u16, &'a str);

/// Issue 10, finding 7: a head over the bounds (URI over 8 KiB: 414; header section over
/// 16 KiB or over 100 fields: 431) is the API's JSON error with `x-request-id`, the same in both
/// modes, before the handler runs.
#[tokio::test]
async fn oversized_heads_answer_the_json_error_alike_in_both_modes() {
    let long_path = format!("/{}", "p".repeat(8 * 1024));
    let long_query = format!("q={}", "v".repeat(8 * 1024));
    let big_value = "h".repeat(16 * 1024);
    let many: Vec<(String, String)> = (0..101).map(|i| (format!("x-h{i}"), "1".into())).collect();
    let cases: Vec<HeadCase<'_>> = vec![
        (&long_path, "", vec![], 414, "UriTooLong"),
        ("/x", &long_query, vec![], 414, "UriTooLong"),
        (
            "/x",
            "",
            vec![("x-big".into(), big_value)],
            431,
            "HeadersTooLarge",
        ),
        ("/x", "", many, 431, "HeadersTooLarge"),
    ];
    let (_http, port) = echo().spawn_http().await;
    let mut api = RuntimeApi::start("").await;
    let _lambda = echo().env("AWS_LAMBDA_RUNTIME_API", api.url()).spawn();
    for (i, (path, query, extra, status, code)) in cases.into_iter().enumerate() {
        let id = format!("head-{i}");
        let mut headers = vec![("x-fc-request-id", id.as_str())];
        headers.extend(extra.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        let target = if query.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{query}")
        };
        let reply = request(port, "GET", &target, &headers, ReqBody::empty()).await;
        assert_eq!(reply.status, status, "case {i}");
        let v = reply.json();
        assert_eq!(v["error"]["code"], code, "case {i}");
        assert_eq!(v["error"]["requestId"], id.as_str(), "case {i}");
        assert_eq!(reply.header("x-request-id"), Some(id.as_str()), "case {i}");

        let mut ev = fixture("apigw-v2-get-session.json");
        ev["rawPath"] = json!(path);
        ev["rawQueryString"] = json!(query);
        ev["headers"] = json!({"host": "t"});
        for (name, value) in &headers {
            ev["headers"][*name] = json!(value);
        }
        api.push(Scripted::event(&id, &ev));
        let post = api.next_post().await;
        assert_eq!(post.kind, PostKind::Response(id.clone()));
        assert_eq!(
            seen_over_http(&reply),
            seen_over_lambda(&post.json()),
            "case {i}"
        );
    }
}

/// Heads that fit hyper's 32 KiB read buffer get the JSON 431 however many fields they have
/// (hyper's own field cap is raised above what the buffer can hold); only a head whose end has
/// not arrived when hyper has buffered 32 KiB gets hyper's bare 431, as docs/api.md §6 says
/// (hyper may read a little past 32 KiB at once, so the bare case sends 128 KiB).
#[tokio::test]
async fn only_heads_over_the_read_buffer_get_the_bare_431() {
    let (_proc, port) = echo().spawn_http().await;
    let mut head = b"GET /x HTTP/1.1\r\nhost: t\r\nconnection: close\r\n".to_vec();
    for _ in 0..6000 {
        head.extend_from_slice(b"x:1\r\n");
    }
    head.extend_from_slice(b"\r\n");
    let out = raw_until_close(port, &[&head]).await;
    assert!(out.starts_with("HTTP/1.1 431"), "{out}");
    assert!(out.contains(r#""code":"HeadersTooLarge""#), "{out}");
    assert!(out.to_ascii_lowercase().contains("x-request-id: "), "{out}");

    let mut head = b"GET /x HTTP/1.1\r\nhost: t\r\n".to_vec();
    head.extend_from_slice(format!("x-big: {}\r\n\r\n", "b".repeat(128 * 1024)).as_bytes());
    let out = raw_until_close(port, &[&head]).await;
    assert!(out.starts_with("HTTP/1.1 431"), "{out}");
    assert!(!out.to_ascii_lowercase().contains("x-request-id"), "{out}");
    assert!(out.ends_with("\r\n\r\n"), "no body: {out}");
}

/// Threads of process `pid` (its main thread included).
fn threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.flatten().count())
}

/// `MINIAPP_WORKER_THREADS` picks the runtime: `1` runs everything on the main thread, `n` a
/// pool of `n` workers beside it; unset, HTTP mode has one worker per core and Lambda mode
/// none; a bad value stops the start with one line naming it.
#[tokio::test]
async fn worker_threads_choose_the_runtime() {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    for (value, expected) in [(None, 1 + cores), (Some("1"), 1), (Some("3"), 4)] {
        let mut launch = echo();
        if let Some(v) = value {
            launch = launch.env("MINIAPP_WORKER_THREADS", v);
        }
        let (proc, port) = launch.spawn_http().await;
        let reply = request(port, "GET", "/", &[], ReqBody::empty()).await;
        assert_eq!(reply.status, 200);
        assert_eq!(threads(proc.id()), expected, "HTTP mode, {value:?}");
    }
    for (value, expected) in [(None, 1), (Some("2"), 3)] {
        let mut api = RuntimeApi::start("").await;
        api.push(Scripted::event(
            "w-1",
            &fixture("apigw-v2-get-session.json"),
        ));
        let mut launch = echo().env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string());
        if let Some(v) = value {
            launch = launch.env("MINIAPP_WORKER_THREADS", v);
        }
        let proc = launch.spawn();
        let post = api.next_post().await;
        assert_eq!(post.kind, PostKind::Response("w-1".into()));
        assert_eq!(threads(proc.id()), expected, "Lambda mode, {value:?}");
    }
    for bad in ["0", "many"] {
        let mut proc = echo().env("MINIAPP_WORKER_THREADS", bad).spawn();
        assert_eq!(proc.wait_exit().await.code(), Some(1), "{bad}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        let stderr = proc.stderr_lines();
        assert_eq!(stderr.len(), 1, "{stderr:?}");
        assert!(stderr[0].contains("MINIAPP_WORKER_THREADS"), "{stderr:?}");
    }
}
