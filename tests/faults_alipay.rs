//! Alipay's gateway failing in every way a network and a server can, seen end to end through
//! the session function's process: the contract's codes (docs/api.md §2.2), no session stored,
//! nothing secret in the process's output.
//!
//! The process talks to the real gateway stand-in through a fault proxy
//! (`test_support::fault_proxy`) that forwards, or answers a request with a fault: no answer,
//! a reset, 5xx, garbage, truncated JSON, unsigned and wrongly signed answers. The store is the
//! embedded one, read directly afterwards to count session records.

// Test-only code outside #[test] fns, where clippy cannot see it: a failed expect is a failed
// test.
#![allow(clippy::expect_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use integration_tests::functions::{
    function_env, Client, HttpFunction, Reply, StoreMode, APP_ID, TOKEN_KEYS,
};
use miniapp_shared::alipay::standin::{self, StandinAnswer, StandinConfig, StandinHandle};
use miniapp_shared::alipay::{rsa2_sign, AlipayPublicKey, AppPrivateKey};
use tempfile::TempDir;
use test_support::fault_proxy::{http_response, Fault, FaultProxy};
use test_support::fixtures;

/// The session function's `ALIPAY_TIMEOUT_MS` here.
const TIMEOUT_MS: u64 = 1000;
/// Marks text that must not travel from an (unverified) gateway answer to the client.
const MARKER: &str = "FAULT-MARKER-7c1d";

fn key(file: &str) -> String {
    fixtures::alipay(&format!("keys/{file}")).trim().to_owned()
}

/// A code unique to this run, so that finding it anywhere is meaningful.
fn code(case: &str, run: &str) -> String {
    format!("{case}{run}")
}

/// The gateway stand-in, with the scripted answers the cases forward to.
async fn gateway(run: &str) -> StandinHandle {
    let scripts = HashMap::from([
        (code("unsigned", run), StandinAnswer::UnsignedSuccess),
        (code("tampered", run), StandinAnswer::TamperedSuccess),
        (code("http500", run), StandinAnswer::Http500),
        (code("html", run), StandinAnswer::NonJson),
        (
            code("slow", run),
            StandinAnswer::Slow(Duration::from_millis(3 * TIMEOUT_MS)),
        ),
        (
            code("business", run),
            StandinAnswer::OtherError {
                code: "40004".into(),
                sub_code: "isv.user-frozen".into(),
            },
        ),
    ]);
    let config = StandinConfig {
        app_id: APP_ID.into(),
        app_public_key: AlipayPublicKey::parse(&key("app_public_spki.b64"), "app").expect("key"),
        gateway_private_key: AppPrivateKey::parse(&key("gateway_private_pkcs1.pem"), "gw")
            .expect("key"),
        scripts,
        cert_sns: None,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    standin::start(listener, config).await.expect("stand-in")
}

/// Session records in the embedded store's file.
fn sessions(db: &Path) -> i64 {
    let conn = rusqlite::Connection::open(db).expect("open the store's file");
    conn.query_row("SELECT COUNT(*) FROM sessions", [], |row| row.get(0))
        .expect("count sessions")
}

/// A 200 JSON answer with this body.
fn json_200(body: &str) -> Fault {
    let headers = [("content-type", "application/json;charset=utf-8")];
    Fault::Reply(http_response(200, "OK", &headers, body.as_bytes()))
}

/// A success node that looks real, signed with the app's key instead of the gateway's.
fn signed_by_the_wrong_key() -> Fault {
    let node = r#"{"access_token":"authusrBwrongkey","auth_start":"2026-01-01 00:00:00","expires_in":1296000,"open_id":"fault-wrong-key","re_expires_in":2592000,"refresh_token":"authusrRwrongkey"}"#;
    let app_key = AppPrivateKey::parse(&key("app_private_pkcs1.pem"), "app").expect("key");
    let sign = rsa2_sign(&app_key, node.as_bytes()).expect("sign");
    json_200(&format!(
        r#"{{"alipay_system_oauth_token_response":{node},"sign":"{sign}"}}"#
    ))
}

/// One fault: what the proxy does, the code sent, the answer the contract asks for.
struct Case {
    name: &'static str,
    fault: Fault,
    code: String,
    status: u16,
    error: &'static str,
}

fn cases(run: &str) -> Vec<Case> {
    let case = |name, fault, code: String, status, error| Case {
        name,
        fault,
        code,
        status,
        error,
    };
    let upstream = |name, fault, code| case(name, fault, code, 502, "UpstreamError");
    let unsigned_error = format!(
        r#"{{"error_response":{{"code":"40002","msg":"{MARKER}","sub_code":"isv.{MARKER}","sub_msg":"{MARKER}"}}}}"#
    );
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let html = [("content-type", "text/html")];
    vec![
        case(
            "no answer",
            Fault::Hang,
            code("hang", run),
            504,
            "UpstreamTimeout",
        ),
        case(
            "answer after the timeout",
            Fault::Forward,
            code("slow", run),
            504,
            "UpstreamTimeout",
        ),
        upstream(
            "reset before an answer",
            Fault::Reset,
            code("dev-user-reset", run),
        ),
        upstream(
            "answer lost after the gateway acted",
            Fault::ForwardThenReset,
            code("dev-user-lost", run),
        ),
        upstream(
            "HTTP 500 with an HTML page",
            Fault::Forward,
            code("http500", run),
        ),
        upstream(
            "HTTP 502 from a load balancer",
            Fault::Reply(http_response(
                502,
                "Bad Gateway",
                &html,
                b"<h1>502 Bad Gateway</h1>",
            )),
            code("lb502", run),
        ),
        upstream(
            "HTTP 503 with Retry-After",
            Fault::Reply(http_response(
                503,
                "Service Unavailable",
                &[("retry-after", "5")],
                b"",
            )),
            code("lb503", run),
        ),
        upstream(
            "a redirect",
            Fault::Reply(http_response(
                302,
                "Found",
                &[("location", "http://127.0.0.1:9/gateway.do")],
                b"",
            )),
            code("redirect", run),
        ),
        upstream("an HTML page with 200", Fault::Forward, code("html", run)),
        upstream(
            "binary garbage",
            Fault::Reply(http_response(
                200,
                "OK",
                &[("content-type", "application/json")],
                &garbage,
            )),
            code("garbage", run),
        ),
        upstream(
            "JSON of another shape",
            json_200(r#"{"result":[1,2,3]}"#),
            code("shape", run),
        ),
        upstream("an empty body", json_200(""), code("empty", run)),
        upstream(
            "truncated JSON (complete HTTP)",
            Fault::Truncate { keep_length: false },
            code("dev-user-truncated", run),
        ),
        upstream(
            "truncated JSON (the connection ends mid-body)",
            Fault::Truncate { keep_length: true },
            code("dev-user-cutoff", run),
        ),
        upstream(
            "an answer over 256 KiB",
            json_200(&format!("{{\"pad\":\"{}\"}}", "x".repeat(300 * 1024))),
            code("huge", run),
        ),
        upstream(
            "an unsigned error with its own text",
            json_200(&unsigned_error),
            code("unsigned-error", run),
        ),
        upstream(
            "a signed business error",
            Fault::Forward,
            code("business", run),
        ),
        case(
            "an unsigned success",
            Fault::Forward,
            code("unsigned", run),
            502,
            "UpstreamSignatureInvalid",
        ),
        case(
            "a success altered after signing",
            Fault::Forward,
            code("tampered", run),
            502,
            "UpstreamSignatureInvalid",
        ),
        case(
            "a success signed by another key",
            signed_by_the_wrong_key(),
            code("wrong-key", run),
            502,
            "UpstreamSignatureInvalid",
        ),
        case(
            "a success with a garbage signature",
            json_200(
                r#"{"alipay_system_oauth_token_response":{"access_token":"authusrBgarbage","open_id":"fault-garbage-sign"},"sign":"AAAA"}"#,
            ),
            code("bad-sign", run),
            502,
            "UpstreamSignatureInvalid",
        ),
    ]
}

struct Rig {
    proxy: FaultProxy,
    session: HttpFunction,
    client: Client,
    db: PathBuf,
    _gateway: StandinHandle,
    _dir: TempDir,
}

async fn rig(run: &str) -> Rig {
    let dir = tempfile::tempdir().expect("tempdir");
    let gateway = gateway(run).await;
    let proxy = FaultProxy::start(gateway.addr()).await;
    let db = dir.path().join("data.db");
    let mut env = function_env(
        &format!("{}/gateway.do", proxy.url()),
        &StoreMode::Embedded(db.clone()),
    );
    env.retain(|(k, _)| k != "ALIPAY_TIMEOUT_MS");
    env.push(("ALIPAY_TIMEOUT_MS".into(), TIMEOUT_MS.to_string()));
    env.push(("MINIAPP_RATE_LIMITS".into(), "off".into()));
    // The most the process ever logs, its dependencies' debug lines included: none may hold a
    // secret either.
    env.push(("RUST_LOG".into(), "debug".into()));
    let session = HttpFunction::spawn("session", &env).await;
    let client = Client::new(&session.url, &session.url);
    Rig {
        proxy,
        session,
        client,
        db,
        _gateway: gateway,
        _dir: dir,
    }
}

/// Text that must appear nowhere in the process's output: key material and the tokens.
fn secrets() -> Vec<String> {
    let mut secrets = Vec::new();
    // Every 24-character stretch of the app's private key body (as configured).
    let app_key: String = key("app_private_pkcs8.b64").split_whitespace().collect();
    let chars: Vec<char> = app_key.chars().collect();
    secrets.extend(
        chars
            .chunks(24)
            .filter(|c| c.len() == 24)
            .map(|c| c.iter().collect()),
    );
    for entry in TOKEN_KEYS.split(',') {
        let (_, material) = entry.split_once(':').expect("kid:key");
        secrets.push(material.to_owned());
    }
    // The stand-in's access and refresh tokens all start so.
    secrets.push("authusr".into());
    secrets
}

fn assert_lacks(what: &str, text: &str, needles: &[String]) {
    for needle in needles {
        assert!(!text.contains(needle.as_str()), "{what} holds {needle:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_faults_answer_the_contracts_codes_and_store_nothing() {
    let run = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
    let rig = rig(&run).await;
    let before = sessions(&rig.db);
    let mut codes = Vec::new();
    let mut failures = Vec::new();
    for case in cases(&run) {
        rig.proxy.set_default(case.fault.clone());
        let started = Instant::now();
        let reply: Reply = rig.client.login_reply(&case.code).await;
        let took = started.elapsed();
        rig.proxy.set_default(Fault::Forward);
        println!(
            "{:<48} {} {:<26} {:>5} ms",
            case.name,
            reply.status.as_u16(),
            reply.code(),
            took.as_millis()
        );
        if (reply.status.as_u16(), reply.code().as_str()) != (case.status, case.error) {
            failures.push(format!(
                "{}: {} {}",
                case.name,
                reply.status,
                String::from_utf8_lossy(&reply.body)
            ));
            continue;
        }
        reply.assert_error(case.status, case.error);
        let body = String::from_utf8_lossy(&reply.body).into_owned();
        assert_lacks(
            case.name,
            &body,
            &[case.code.clone(), MARKER.into(), "authusr".into()],
        );
        if case.status == 504 {
            let limit = Duration::from_millis(TIMEOUT_MS);
            assert!(took >= limit && took < limit * 3, "{}: {took:?}", case.name);
        }
        assert_eq!(
            sessions(&rig.db),
            before,
            "{}: a session was stored",
            case.name
        );
        codes.push(case.code);
    }
    assert!(
        failures.is_empty(),
        "answers off the contract:\n{}",
        failures.join("\n")
    );

    // The same process still logs in (and the count sees it).
    let ok = rig.client.login(&code("dev-user-after", &run)).await;
    assert_eq!(sessions(&rig.db), before + 1);
    assert!(rig.proxy.requests() > codes.len() as u64);

    tokio::time::sleep(Duration::from_millis(200)).await;
    let output = rig.session.output();
    let failed_lines = output.matches("\"status\":50").count();
    assert!(
        failed_lines >= codes.len(),
        "one log line per failed login:\n{output}"
    );
    assert_lacks("the session function's output", &output, &codes);
    assert_lacks("the session function's output", &output, &secrets());
    assert_lacks(
        "the session function's output",
        &output,
        &[
            ok.creds.access_key_secret.expose().to_owned(),
            ok.creds.security_token.expose().to_owned(),
        ],
    );
}
