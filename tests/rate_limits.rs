//! Abuse limits (issue 10, item 4): per-user and per-address token buckets kept in the store,
//! answered with 429 `TooManyRequests` and `Retry-After`. Both functions as real processes, in
//! HTTP-server mode and in Lambda mode (a Runtime API server), on the embedded store and on the
//! DynamoDB-compatible test server (moto). The rates are tiny so the tests stay short.

// A failed expect in a test is a failed test.
#![allow(clippy::expect_used)]

use std::time::Duration;

use integration_tests::binary;
use integration_tests::events::signed;
use integration_tests::functions::{
    function_env, login_from, start_gateway, Client, HttpFunction, Login, Reply, StoreMode,
};
use integration_tests::lambda::LambdaFunction;
use miniapp_shared::alipay::StandinHandle;
use serde_json::{json, Value};
use tempfile::TempDir;
use test_support::dev::DevCommand;
use test_support::fixtures::event as fixture;
use test_support::workspace_root;

#[derive(Clone, Copy, Debug)]
enum Mode {
    Embedded,
    Dynamo,
}

/// A gateway stand-in, a store of `mode` and the functions' environment with `extra` on top.
struct Setup {
    env: Vec<(String, String)>,
    _gateway: StandinHandle,
    _dir: TempDir,
}

async fn setup(mode: Mode, extra: &[(&str, &str)]) -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let gateway = start_gateway().await;
    let store = match mode {
        Mode::Embedded => StoreMode::Embedded(dir.path().join("data.db")),
        Mode::Dynamo => StoreMode::fresh_dynamo(),
    };
    let mut env = function_env(&gateway.url(), &store);
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Setup {
        env,
        _gateway: gateway,
        _dir: dir,
    }
}

/// Both functions in HTTP-server mode.
struct Http {
    client: Client,
    _session: HttpFunction,
    db: HttpFunction,
    setup: Setup,
}

async fn http(mode: Mode, extra: &[(&str, &str)]) -> Http {
    let setup = setup(mode, extra).await;
    let session = HttpFunction::spawn("session", &setup.env).await;
    let db = HttpFunction::spawn("db", &setup.env).await;
    Http {
        client: Client::new(&session.url, &db.url),
        _session: session,
        db,
        setup,
    }
}

/// Runs a scenario against both stores.
macro_rules! both_stores {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn embedded() { super::$name(super::Mode::Embedded).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn dynamo() { super::$name(super::Mode::Dynamo).await }
        }
    )*};
}

both_stores!(
    user_limit_then_recovery,
    session_create_limit_per_address,
    address_limit_comes_before_the_signature,
    forwarded_for_behind_function_compute,
    processes_share_the_buckets,
    limits_off_never_refuse,
    lambda_mode_limits,
);

/// The `Retry-After` of a 429 `TooManyRequests`, checked to be whole seconds in `range`.
fn assert_limited(r: &Reply, range: std::ops::RangeInclusive<u64>) -> u64 {
    r.assert_error(429, "TooManyRequests");
    let secs: u64 = r
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in whole seconds");
    assert!(range.contains(&secs), "Retry-After {secs} not in {range:?}");
    secs
}

/// A user's bucket of 3 that earns a token back every 2 s: the 4th quick request is refused,
/// on either function (both share the user's bucket), and after `Retry-After` one succeeds.
async fn user_limit_then_recovery(mode: Mode) {
    let w = http(mode, &[("MINIAPP_RATE_USER", "1/2:3")]).await;
    let c = &w.client;
    let alice = c.login("dev-alice").await;
    for _ in 0..3 {
        assert_eq!(c.db(&alice, "GET", "/db/todos", None).await.status, 200);
    }
    let r = c.db(&alice, "GET", "/db/todos", None).await;
    let wait = assert_limited(&r, 1..=2);
    // The session function counts into the same bucket.
    assert_limited(&c.session(&alice, "GET", "/session").await, 1..=2);
    // Another user is not affected.
    let bob = c.login("dev-bob").await;
    assert_eq!(c.db(&bob, "GET", "/db/todos", None).await.status, 200);
    tokio::time::sleep(Duration::from_secs(wait)).await;
    assert_eq!(c.db(&alice, "GET", "/db/todos", None).await.status, 200);
    let logs = w.db.logs();
    assert!(
        logs.contains("TooManyRequests"),
        "the access log has the code"
    );
    assert!(
        !logs.contains("fail open"),
        "the store answered every take: {logs}"
    );
}

/// Two log-ins a minute per address: the third is refused before the gateway is asked, and
/// signed requests from the same address still pass.
async fn session_create_limit_per_address(mode: Mode) {
    let w = http(mode, &[("MINIAPP_RATE_SESSION_CREATE", "1/60:2")]).await;
    let c = &w.client;
    let alice = c.login("dev-alice").await;
    c.login("dev-bob").await;
    let r = c.login_reply("dev-alice").await;
    assert_limited(&r, 30..=60);
    // Even a body that would be refused is refused by the limit first.
    assert_limited(&c.login_reply("").await, 30..=60);
    assert_eq!(c.db(&alice, "GET", "/db/todos", None).await.status, 200);
}

/// Per address, every route: unsigned requests are refused with 429 once the address's bucket
/// is empty, before their signature is looked at.
async fn address_limit_comes_before_the_signature(mode: Mode) {
    let w = http(mode, &[("MINIAPP_RATE_ADDRESS", "1/60:3")]).await;
    let c = &w.client;
    let url = format!("{}/db/todos", c.db_url);
    for _ in 0..3 {
        c.raw("GET", &url, &[], Vec::new())
            .await
            .assert_error(401, "MissingAuthorization");
    }
    assert_limited(&c.raw("GET", &url, &[], Vec::new()).await, 30..=60);
    // Checks before it still answer first (route, escapes) and cost no token.
    c.raw("GET", &format!("{}/nowhere", c.db_url), &[], Vec::new())
        .await
        .assert_error(404, "RouteNotFound");
}

/// Behind Function Compute (`MINIAPP_TRUST_FC_FORWARDED_FOR=true`) the client address is the
/// first entry of `x-forwarded-for`, not the socket peer (the front end).
async fn forwarded_for_behind_function_compute(mode: Mode) {
    let w = http(
        mode,
        &[
            ("MINIAPP_RATE_ADDRESS", "1/60:2"),
            ("MINIAPP_TRUST_FC_FORWARDED_FOR", "true"),
        ],
    )
    .await;
    let c = &w.client;
    let url = format!("{}/db/todos", c.db_url);
    let from = |xff: &'static str| {
        let url = url.clone();
        async move {
            c.raw("GET", &url, &[("x-forwarded-for", xff)], Vec::new())
                .await
        }
    };
    for _ in 0..2 {
        from("203.0.113.1, 127.0.0.1")
            .await
            .assert_error(401, "MissingAuthorization");
    }
    assert_limited(&from("203.0.113.1").await, 30..=60);
    // Another client behind the same front end (the same peer) has its own bucket.
    from("203.0.113.2")
        .await
        .assert_error(401, "MissingAuthorization");
}

/// Two db processes on one store: a user's 4 tokens are shared, so the 5th request is refused
/// whichever process gets it (each alone would have allowed 4).
async fn processes_share_the_buckets(mode: Mode) {
    let w = http(mode, &[("MINIAPP_RATE_USER", "1/60:4")]).await;
    let other = HttpFunction::spawn("db", &w.setup.env).await;
    let c = &w.client;
    let alice = c.login("dev-alice").await;
    let via_other = Client::new(&c.session_url, &other.url);
    for i in 0..4 {
        let client = if i % 2 == 0 { c } else { &via_other };
        let r = client.db(&alice, "GET", "/db/todos", None).await;
        assert_eq!(r.status, 200, "request {i}");
    }
    assert_limited(&c.db(&alice, "GET", "/db/todos", None).await, 10..=60);
    assert_limited(
        &via_other.db(&alice, "GET", "/db/todos", None).await,
        10..=60,
    );
}

/// `MINIAPP_RATE_LIMITS=off`: the tiniest rates never refuse.
async fn limits_off_never_refuse(mode: Mode) {
    let tiny = "1/60:1";
    let w = http(
        mode,
        &[
            ("MINIAPP_RATE_LIMITS", "off"),
            ("MINIAPP_RATE_USER", tiny),
            ("MINIAPP_RATE_ADDRESS", tiny),
            ("MINIAPP_RATE_SESSION_CREATE", tiny),
        ],
    )
    .await;
    let c = &w.client;
    let alice = c.login("dev-alice").await;
    c.login("dev-alice").await;
    for _ in 0..5 {
        assert_eq!(c.db(&alice, "GET", "/db/todos", None).await.status, 200);
    }
    let url = format!("{}/db/todos", c.db_url);
    let r = c.raw("GET", &url, &[], Vec::new()).await;
    r.assert_error(401, "MissingAuthorization");
}

fn status(resp: &Value) -> u64 {
    resp["statusCode"].as_u64().unwrap_or_default()
}

fn body_json(resp: &Value) -> Value {
    serde_json::from_str(resp["body"].as_str().unwrap_or_default()).unwrap_or(Value::Null)
}

/// The 429 of a Lambda response: its code and `Retry-After`.
fn lambda_limited(resp: &Value, range: std::ops::RangeInclusive<u64>) -> u64 {
    assert_eq!(status(resp), 429, "{resp}");
    assert_eq!(body_json(resp)["error"]["code"], json!("TooManyRequests"));
    let secs: u64 = resp["headers"]["retry-after"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!(range.contains(&secs), "Retry-After {secs} not in {range:?}");
    secs
}

fn login_event(source_ip: &str) -> Value {
    let mut e = fixture("apigw-v2-post-session.json");
    e["body"] = json!(json!({"authCode": "dev-alice"}).to_string());
    e["requestContext"]["http"]["sourceIp"] = json!(source_ip);
    e
}

fn list_event(who: &Login) -> Value {
    signed(fixture("apigw-v2-list-db-todos.json"), who)
}

/// Lambda mode: the address is the event's `sourceIp`; the user's bucket refuses and recovers.
async fn lambda_mode_limits(mode: Mode) {
    let s = setup(
        mode,
        &[
            ("MINIAPP_RATE_USER", "1/2:2"),
            ("MINIAPP_RATE_SESSION_CREATE", "1/60:1"),
        ],
    )
    .await;
    let mut session = LambdaFunction::spawn("session", &s.env).await;
    let mut db = LambdaFunction::spawn("db", &s.env).await;
    let r = session.invoke(&login_event("198.51.100.1")).await.1;
    assert_eq!(status(&r), 201, "{r}");
    let alice = login_from(body_json(&r));
    lambda_limited(
        &session.invoke(&login_event("198.51.100.1")).await.1,
        30..=60,
    );
    // Another address has its own bucket.
    let r = session.invoke(&login_event("198.51.100.2")).await.1;
    assert_eq!(status(&r), 201, "{r}");

    for _ in 0..2 {
        let r = db.invoke(&list_event(&alice)).await.1;
        assert_eq!(status(&r), 200, "{r}");
    }
    let wait = lambda_limited(&db.invoke(&list_event(&alice)).await.1, 1..=2);
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let r = db.invoke(&list_event(&alice)).await.1;
    assert_eq!(status(&r), 200, "{r}");
}

/// `miniapp dev` passes the `MINIAPP_RATE_*` variables of its environment on to the functions,
/// which apply them (its own defaults are generous, docs/api.md §8).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn miniapp_dev_passes_the_rate_variables_on() {
    let functions = binary("session");
    let mut dev = DevCommand::new(binary("miniapp"), workspace_root().join("template.yaml"))
        .bin_dir(functions.parent().expect("the binaries' folder"))
        .envs(&[("MINIAPP_RATE_SESSION_CREATE", "1/60:1")])
        .start(Duration::from_secs(600));
    let c = Client::new(&dev.url, &dev.url);
    let alice = c.login("dev-alice").await;
    assert_limited(&c.login_reply("dev-bob").await, 30..=60);
    assert_eq!(c.db(&alice, "GET", "/db/todos", None).await.status, 200);
    let status = dev.stop("INT");
    assert_eq!(status.code(), Some(0), "{}", dev.output());
}
