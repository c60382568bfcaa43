//! A function for the emulator's tests, on the real runtime (`miniapp_shared::runtime::run`):
//! it echoes what it received, as JSON, with its process id so tests can tell processes apart.
//!
//! - `/crash` exits the process (status 3) in the middle of the invocation;
//! - `/panic` panics (the runtime reports it to `/invocation/{id}/error`);
//! - `/sleep?ms=N` waits N milliseconds first;
//! - `/env?name=VAR` answers the variable's value (null when unset);
//! - `/cookies` answers two `Set-Cookie` headers.

use std::process::ExitCode;

use http::{HeaderValue, StatusCode};
use miniapp_shared::http::{Handler, Request, Response};
use serde_json::json;

/// The handler; stateless.
struct DevFunction;

impl Handler for DevFunction {
    async fn call(&self, req: Request) -> Response {
        let tail = req.raw_path.rsplit('/').next().unwrap_or("");
        match tail {
            "crash" => std::process::exit(3),
            "panic" => panic!("dev_function asked to panic"),
            "sleep" => {
                let ms = query(&req.raw_query, "ms")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            }
            "env" => {
                let name = query(&req.raw_query, "name").unwrap_or_default();
                let value = std::env::var(&name).ok();
                return Response::json(StatusCode::OK, &json!({ "name": name, "value": value }));
            }
            _ => {}
        }
        echo(&req, tail == "cookies")
    }
}

/// The first value of a query parameter, undecoded.
fn query(raw: &str, key: &str) -> Option<String> {
    raw.split('&')
        .find_map(|p| p.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        .map(str::to_owned)
}

fn echo(req: &Request, cookies: bool) -> Response {
    let header = |n: &str| {
        req.headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let body = json!({
        "pid": std::process::id(),
        "method": req.method.as_str(),
        "path": req.raw_path,
        "query": req.raw_query,
        "body": String::from_utf8_lossy(&req.body),
        "requestId": req.request_id,
        "sourceIp": req.source_ip.map(|ip| ip.to_string()),
        "cookie": header("cookie"),
        "userAgent": header("user-agent"),
    });
    let mut resp = Response::json(StatusCode::OK, &body);
    if cookies {
        resp.headers
            .append("set-cookie", HeaderValue::from_static("a=1; Path=/"));
        resp.headers
            .append("set-cookie", HeaderValue::from_static("b=2; Path=/"));
    }
    resp
}

/// `DEV_FUNCTION_FAIL_INIT=1` makes init fail, as a misconfigured function does.
#[derive(Debug, thiserror::Error)]
#[error("DEV_FUNCTION_FAIL_INIT is set: refusing to start")]
struct InitError;

fn main() -> ExitCode {
    miniapp_shared::runtime::run(
        "dev_function",
        miniapp_shared::runtime::Load::Computes,
        || async {
            if std::env::var("DEV_FUNCTION_FAIL_INIT").is_ok_and(|v| v == "1") {
                return Err(InitError);
            }
            Ok(DevFunction)
        },
    )
}
