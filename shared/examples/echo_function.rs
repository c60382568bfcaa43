//! A tiny function on the runtime, for the runtime's integration tests: answers every request
//! with what it received, as JSON.
//!
//! - `/panic` panics; `/sleep?ms=N` waits N milliseconds first; `/binary` answers raw bytes;
//! - `?setcookie=1` adds two `Set-Cookie` headers, `?multi=1` a header set twice;
//! - a body over the limit gets 413 `PayloadTooLarge`;
//! - `ECHO_FAIL_INIT=1` makes init fail with a configuration error naming the variable.

use std::process::ExitCode;

use base64::Engine;
use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use miniapp_shared::http::{ErrorCode, Handler, Request, Response};
use serde_json::json;

/// The echo handler; it holds no state.
struct Echo;

impl Handler for Echo {
    async fn call(&self, req: Request) -> Response {
        if req.body_too_large {
            return Response::error(
                ErrorCode::PayloadTooLarge,
                "request body over 262144 bytes",
                &req.request_id,
            );
        }
        match req.raw_path.as_str() {
            "/panic" => panic!("echo asked to panic"),
            "/sleep" => {
                tokio::time::sleep(std::time::Duration::from_millis(query_ms(&req.raw_query))).await
            }
            "/binary" => return binary(),
            _ => {}
        }
        echo(&req)
    }
}

/// The `ms` query parameter, 0 when absent or not a number.
fn query_ms(query: &str) -> u64 {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("ms="))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn header(req: &Request, name: &str) -> Option<String> {
    req.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn echo(req: &Request) -> Response {
    let body = json!({
        "method": req.method.as_str(),
        "path": req.raw_path,
        "query": req.raw_query,
        "body": String::from_utf8_lossy(&req.body),
        "bodyBase64": base64::engine::general_purpose::STANDARD.encode(&req.body),
        "bodyLen": req.body.len(),
        "requestId": req.request_id,
        "sourceIp": req.source_ip.map(|ip| ip.to_string()),
        "cookie": header(req, "cookie"),
        "contentType": header(req, "content-type"),
        // The runtime carries the trace id as a task-local, never in the environment.
        "traceId": miniapp_shared::trace::current(),
        "envTraceId": std::env::var("_X_AMZN_TRACE_ID").ok(),
    });
    let mut resp = Response::json(StatusCode::OK, &body);
    resp.headers
        .insert("cache-control", HeaderValue::from_static("no-store"));
    let pairs: Vec<&str> = req.raw_query.split('&').collect();
    if pairs.contains(&"setcookie=1") {
        resp.headers.append(
            "set-cookie",
            HeaderValue::from_static("a=1; Path=/; HttpOnly"),
        );
        resp.headers
            .append("set-cookie", HeaderValue::from_static("b=2; Path=/"));
    }
    if pairs.contains(&"multi=1") {
        resp.headers
            .append("x-echo-multi", HeaderValue::from_static("one"));
        resp.headers
            .append("x-echo-multi", HeaderValue::from_static("two"));
    }
    resp.log.route = Some("/echo");
    resp
}

fn binary() -> Response {
    let mut resp = Response::new(StatusCode::OK);
    resp.body = Bytes::from_static(&[0x00, 0x9f, 0x92, 0x96, 0xff]);
    resp.headers.insert(
        "content-type",
        HeaderValue::from_static("application/octet-stream"),
    );
    resp
}

/// The configuration error `ECHO_FAIL_INIT=1` produces, shaped like the real functions' ones.
#[derive(Debug, thiserror::Error)]
#[error("ECHO_FAIL_INIT is set to 1: refusing to start (configuration error for tests)")]
struct EchoConfigError;

fn main() -> ExitCode {
    miniapp_shared::runtime::run("echo", miniapp_shared::runtime::Load::Computes, || async {
        if std::env::var("ECHO_FAIL_INIT").is_ok_and(|v| v == "1") {
            return Err(EchoConfigError);
        }
        Ok(Echo)
    })
}
