//! Lambda mode end to end: the `echo_function` example runs as a real process against a test
//! Runtime API server on loopback, which serves the fixture events and records the posts.

use base64::Engine;
use serde_json::{json, Value};
use test_support::build::{build, Profile, Target};
use test_support::fixtures::{event as fixture, event_names as fixture_names};
use test_support::process::{Launch, Proc};
use test_support::runtime_api::{PostKind, Posted, RuntimeApi, Scripted};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The `echo_function` example (built once per test process) polling `endpoint`.
fn spawn_against(endpoint: &str, extra: &[(&str, &str)]) -> Proc {
    const ECHO: [Target; 1] = [Target::example("miniapp-shared", "echo_function")];
    Launch::new(build(&ECHO, Profile::of_this_test()).get("echo_function"))
        .env("AWS_LAMBDA_RUNTIME_API", endpoint)
        .envs(extra.iter().copied())
        .spawn()
}

/// A small HTTP event for `method path?query` with an optional text body.
fn http_event(method: &str, path: &str, query: &str, body: Option<&str>) -> Value {
    let mut ev = fixture("apigw-v2-get-session.json");
    ev["rawPath"] = json!(path);
    ev["rawQueryString"] = json!(query);
    ev["requestContext"]["http"]["method"] = json!(method);
    if let Some(body) = body {
        ev["body"] = json!(body);
        ev["headers"]["content-type"] = json!("text/plain");
    }
    ev
}

/// A value cut short for assertion messages (bodies can be 256 KiB).
fn short(v: &Value) -> String {
    v.to_string().chars().take(400).collect()
}

/// Asserts a post is the 2.0 response to invocation `id` and returns it.
fn response_of(post: &Posted, id: &str) -> Value {
    let start = String::from_utf8_lossy(&post.body[..post.body.len().min(300)]).into_owned();
    assert_eq!(
        post.kind,
        PostKind::Response(id.to_owned()),
        "body starts: {start}"
    );
    let resp = post.json();
    for field in [
        "statusCode",
        "headers",
        "cookies",
        "body",
        "isBase64Encoded",
    ] {
        assert!(
            resp.get(field).is_some(),
            "response lacks {field}: {}",
            short(&resp)
        );
    }
    assert_eq!(resp["headers"]["x-request-id"], id, "{}", short(&resp));
    resp
}

/// The echoed JSON inside a 2.0 response.
fn echoed(resp: &Value) -> Value {
    assert_eq!(resp["isBase64Encoded"], false, "{}", short(resp));
    serde_json::from_str(resp["body"].as_str().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {}", short(resp)))
}

fn expected_body(ev: &Value) -> Vec<u8> {
    let body = ev["body"].as_str().unwrap_or_default();
    if ev["isBase64Encoded"] == true {
        B64.decode(body)
            .unwrap_or_else(|e| panic!("fixture body: {e}"))
    } else {
        body.as_bytes().to_vec()
    }
}

fn expected_cookie(ev: &Value) -> Value {
    match ev["cookies"].as_array() {
        Some(c) if !c.is_empty() => {
            let parts: Vec<&str> = c.iter().filter_map(Value::as_str).collect();
            json!(parts.join("; "))
        }
        _ => ev["headers"]["cookie"].clone(),
    }
}

#[tokio::test]
async fn every_fixture_event_is_answered() {
    let mut api = RuntimeApi::start("").await;
    let _proc = spawn_against(&api.url(), &[]);
    let names = fixture_names();
    assert!(names.len() >= 14, "{names:?}");
    for (i, name) in names.iter().enumerate() {
        api.push(Scripted::event(&format!("req-{i}"), &fixture(name)));
    }
    for (i, name) in names.iter().enumerate() {
        let id = format!("req-{i}");
        let post = api.next_post().await;
        let ev = fixture(name);
        if name.starts_with("unsupported-") {
            assert_eq!(post.kind, PostKind::Error(id.clone()), "{name}");
            assert_eq!(
                post.headers["lambda-runtime-function-error-type"], "Runtime.UnsupportedEvent",
                "{name}"
            );
            let err = post.json();
            assert_eq!(err["errorType"], "Runtime.UnsupportedEvent", "{name}");
            assert!(
                err["errorMessage"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("HTTP API"),
                "{err}"
            );
            continue;
        }
        let resp = response_of(&post, &id);
        assert_eq!(resp["statusCode"], 200, "{name}: {}", short(&resp));
        assert_eq!(
            resp["headers"]["content-type"], "application/json",
            "{name}"
        );
        assert_eq!(resp["cookies"], json!([]), "{name}");
        let echo = echoed(&resp);
        assert_eq!(
            echo["method"], ev["requestContext"]["http"]["method"],
            "{name}"
        );
        assert_eq!(echo["path"], ev["rawPath"], "{name}");
        assert_eq!(echo["query"], ev["rawQueryString"], "{name}");
        assert_eq!(echo["bodyBase64"], B64.encode(expected_body(&ev)), "{name}");
        assert_eq!(
            echo["requestId"], id,
            "{name}: the Lambda request id, not API Gateway's"
        );
        assert_eq!(
            echo["sourceIp"], ev["requestContext"]["http"]["sourceIp"],
            "{name}"
        );
        assert_eq!(echo["cookie"], expected_cookie(&ev), "{name}");
        assert_eq!(echo["contentType"], ev["headers"]["content-type"], "{name}");
    }
    assert_eq!(
        api.connections(),
        1,
        "one keep-alive connection to the Runtime API"
    );
}

#[tokio::test]
async fn base64_body_and_cookies_reach_the_handler() {
    let mut api = RuntimeApi::start("").await;
    let _proc = spawn_against(&api.url(), &[]);
    api.push(Scripted::event(
        "b64",
        &fixture("apigw-v2-post-db-todos-base64.json"),
    ));
    api.push(Scripted::event(
        "cookies",
        &fixture("apigw-v2-get-session-cookies.json"),
    ));

    let echo = echoed(&response_of(&api.next_post().await, "b64"));
    let body: Value =
        serde_json::from_str(echo["body"].as_str().unwrap_or_default()).unwrap_or_default();
    assert_eq!(body["title"], "买牛奶 🥛");

    let echo = echoed(&response_of(&api.next_post().await, "cookies"));
    assert_eq!(
        echo["cookie"],
        "theme=dark; lang=zh-CN; sid=\"quoted value\""
    );
}

#[tokio::test]
async fn response_encoding_cookies_and_repeated_headers() {
    let mut api = RuntimeApi::start("").await;
    let _proc = spawn_against(&api.url(), &[]);
    api.push(Scripted::event(
        "bin",
        &http_event("GET", "/binary", "", None),
    ));
    api.push(Scripted::event(
        "ck",
        &http_event("GET", "/x", "setcookie=1&multi=1", None),
    ));

    let resp = response_of(&api.next_post().await, "bin");
    assert_eq!(resp["isBase64Encoded"], true);
    assert_eq!(resp["body"], B64.encode([0x00, 0x9f, 0x92, 0x96, 0xff]));

    let resp = response_of(&api.next_post().await, "ck");
    assert_eq!(
        resp["cookies"],
        json!(["a=1; Path=/; HttpOnly", "b=2; Path=/"])
    );
    assert!(
        resp["headers"].get("set-cookie").is_none(),
        "{}",
        short(&resp)
    );
    assert_eq!(resp["headers"]["x-echo-multi"], "one, two");
}

#[tokio::test]
async fn body_limit_is_exact() {
    let mut api = RuntimeApi::start("").await;
    let _proc = spawn_against(&api.url(), &[]);
    for (id, len) in [("at-limit", 262_144), ("over-limit", 262_145)] {
        let mut ev = http_event("POST", "/upload", "", None);
        ev["body"] = json!(B64.encode(vec![b'z'; len]));
        ev["isBase64Encoded"] = json!(true);
        api.push(Scripted::event(id, &ev));
    }
    let resp = response_of(&api.next_post().await, "at-limit");
    assert_eq!(resp["statusCode"], 200);
    assert_eq!(echoed(&resp)["bodyLen"], 262_144);
    let resp = response_of(&api.next_post().await, "over-limit");
    assert_eq!(resp["statusCode"], 413);
    assert_eq!(echoed(&resp)["error"]["code"], "PayloadTooLarge");
}

#[tokio::test]
async fn panic_is_that_invocations_error_and_the_next_one_succeeds() {
    let mut api = RuntimeApi::start("").await;
    let mut proc = spawn_against(&api.url(), &[]);
    api.push(Scripted::event(
        "boom",
        &http_event("GET", "/panic", "", None),
    ));
    api.push(Scripted::event(
        "after",
        &http_event("GET", "/fine", "", None),
    ));

    let post = api.next_post().await;
    assert_eq!(post.kind, PostKind::Error("boom".into()));
    assert_eq!(
        post.headers["lambda-runtime-function-error-type"],
        "Runtime.HandlerPanic"
    );
    let err = post.json();
    assert_eq!(err["errorType"], "Runtime.HandlerPanic");
    // The panic message stays in the log; the error report carries no handler text.
    assert!(
        !err["errorMessage"]
            .as_str()
            .unwrap_or_default()
            .contains("echo asked"),
        "{err}"
    );

    let resp = response_of(&api.next_post().await, "after");
    assert_eq!(echoed(&resp)["path"], "/fine");
    assert!(proc.is_running());
    let log = proc.wait_stdout(|l| l.contains("handler panicked")).await;
    assert!(log.contains("echo asked to panic"), "{log}");
}

#[tokio::test]
async fn init_failure_is_reported_and_the_process_exits_non_zero() {
    let mut api = RuntimeApi::start("").await;
    let mut proc = spawn_against(&api.url(), &[("ECHO_FAIL_INIT", "1")]);
    let post = api.next_post().await;
    assert_eq!(post.kind, PostKind::InitError);
    assert_eq!(
        post.headers["lambda-runtime-function-error-type"],
        "Runtime.InitError"
    );
    let err = post.json();
    assert_eq!(err["errorType"], "Runtime.InitError");
    assert!(
        err["errorMessage"]
            .as_str()
            .unwrap_or_default()
            .contains("ECHO_FAIL_INIT"),
        "{err}"
    );
    let status = proc.wait_exit().await;
    assert!(!status.success(), "{status}");
    assert_eq!(
        api.polls(),
        0,
        "no invocation is fetched after a failed init"
    );
}

#[tokio::test]
async fn no_content_and_transient_errors_are_polled_through() {
    let mut api = RuntimeApi::start("").await;
    let _proc = spawn_against(&api.url(), &[]);
    api.push(Scripted::NoContent);
    api.push(Scripted::NoContent);
    api.push(Scripted::Status(http::StatusCode::INTERNAL_SERVER_ERROR));
    api.push(Scripted::event(
        "late",
        &http_event("GET", "/late", "", None),
    ));
    let resp = response_of(&api.next_post().await, "late");
    assert_eq!(echoed(&resp)["path"], "/late");
    assert!(api.polls() >= 4, "polls: {}", api.polls());
}

#[tokio::test]
async fn endpoint_forms_bare_and_with_base_path() {
    for base in ["", "/some/base", "/.rt/echo"] {
        let mut api = RuntimeApi::start(base).await;
        let endpoint = if base.is_empty() {
            api.bare()
        } else {
            api.url()
        };
        let _proc = spawn_against(&endpoint, &[]);
        api.push(Scripted::event(
            "form",
            &http_event("GET", "/form", "", None),
        ));
        let resp = response_of(&api.next_post().await, "form");
        assert_eq!(echoed(&resp)["path"], "/form", "endpoint {endpoint}");
    }
}

#[tokio::test]
async fn trace_id_is_per_invocation_and_odd_deadlines_are_tolerated() {
    let mut api = RuntimeApi::start("").await;
    let _proc = spawn_against(&api.url(), &[]);
    let trace = "Root=1-6745a1b8-3f1c2d4e5a6b7c8d9e0f1a2b;Parent=53995c3f42cd8ad8;Sampled=1";
    api.push(Scripted::traced(
        "t1",
        &http_event("GET", "/t", "", None),
        trace,
    ));
    api.push(Scripted::Event {
        id: "t2".into(),
        payload: http_event("GET", "/t", "", None).to_string().into_bytes(),
        headers: vec![("lambda-runtime-deadline-ms".into(), "soon".into())],
    });
    api.push(Scripted::Event {
        id: "t3".into(),
        payload: http_event("GET", "/t", "", None).to_string().into_bytes(),
        headers: vec![],
    });
    assert_eq!(
        echoed(&response_of(&api.next_post().await, "t1"))["traceId"],
        trace
    );
    assert_eq!(
        echoed(&response_of(&api.next_post().await, "t2"))["traceId"],
        Value::Null
    );
    assert_eq!(
        echoed(&response_of(&api.next_post().await, "t3"))["traceId"],
        Value::Null
    );
}

#[tokio::test]
async fn unreachable_runtime_api_exits_non_zero() {
    // Bind then drop: a loopback port that nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut proc = spawn_against(&format!("127.0.0.1:{port}"), &[]);
    let status = proc.wait_exit().await;
    assert!(!status.success(), "{status}");
}

#[tokio::test]
async fn access_line_per_invocation_without_secrets() {
    let mut api = RuntimeApi::start("").await;
    let mut proc = spawn_against(&api.url(), &[]);
    let ev = fixture("apigw-v2-put-db-todo.json");
    api.push(Scripted::event("logged", &ev));
    response_of(&api.next_post().await, "logged");
    let v = proc.log_of_request("logged").await;
    assert_eq!(v["method"], "PUT");
    assert_eq!(v["status"], 200);
    assert_eq!(v["route"], "/echo");
    assert!(v["latency_ms"].is_u64(), "{v}");
    proc.assert_stdout_lacks(&["Signature=", "fixture-token-not-real", "milk"]);
}
