//! The two functions as real processes in HTTP-server mode, against the Alipay gateway
//! stand-in (both modes), the WeChat stand-in and both stores: every route, every error code
//! and the contract's order of checks.

// The scenarios are test bodies that `both_stores!` turns into #[test] fns, which clippy cannot
// see: a failed expect in them is a failed test.
#![allow(clippy::expect_used)]

use std::time::Duration;

use integration_tests::functions::{
    function_env, start_cert_gateway, start_gateway, start_wechat, use_certificate_mode,
    wechat_env, without_alipay, Client, HttpFunction, Login, Reply, StoreMode,
};
use miniapp_shared::alipay::StandinHandle;
use miniapp_shared::time_fmt::Timestamp;
use miniapp_shared::wechat::standin::StandinHandle as WechatStandin;
use serde_json::{json, Value};
use tempfile::TempDir;
use test_support::moto::MotoServer;

#[derive(Clone, Copy, Debug)]
enum Mode {
    Embedded,
    Dynamo,
}

struct World {
    client: Client,
    session: HttpFunction,
    db: HttpFunction,
    gateway: StandinHandle,
    _wechat: WechatStandin,
    _dir: TempDir,
}

/// Which login providers a world configures, and Alipay's mode.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Logins {
    /// Alipay in public-key mode (and WeChat too: both providers).
    AlipayKeyAndWechat,
    /// Alipay in certificate mode, against a certificate-mode gateway.
    AlipayCertificates,
    /// WeChat only.
    WechatOnly,
}

async fn world(mode: Mode, extra: &[(&str, &str)]) -> World {
    world_with(mode, Logins::AlipayKeyAndWechat, extra).await
}

async fn world_with(mode: Mode, logins: Logins, extra: &[(&str, &str)]) -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let gateway = match logins {
        Logins::AlipayCertificates => start_cert_gateway().await,
        _ => start_gateway().await,
    };
    let wechat = start_wechat().await;
    let store = match mode {
        Mode::Embedded => StoreMode::Embedded(dir.path().join("data.db")),
        Mode::Dynamo => StoreMode::fresh_dynamo(),
    };
    let mut env = function_env(&gateway.url(), &store);
    match logins {
        Logins::AlipayKeyAndWechat => env.extend(wechat_env(&wechat.url())),
        Logins::AlipayCertificates => use_certificate_mode(&mut env),
        Logins::WechatOnly => {
            without_alipay(&mut env);
            env.extend(wechat_env(&wechat.url()));
        }
    }
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let session = HttpFunction::spawn("session", &env).await;
    let db = HttpFunction::spawn("db", &env).await;
    World {
        client: Client::new(&session.url, &db.url),
        session,
        db,
        gateway,
        _wechat: wechat,
        _dir: dir,
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
    session_routes,
    login_outcomes,
    wechat_logins,
    alipay_certificate_mode,
    crud_and_conditions,
    rfc_conditions,
    listing,
    order_of_checks,
    authentication_codes,
    isolation,
    concurrent_updates,
    logs_hold_no_secrets,
    refresh_is_single_use,
    refresh_has_a_grace_limit,
    batches,
    filtered_lists,
    concurrent_batches,
);

fn rfc3339(v: &Value) -> Timestamp {
    let s = v.as_str().unwrap_or_default();
    assert!(
        s.ends_with('Z') && s.len() == 20,
        "not RFC 3339 UTC whole seconds: {s}"
    );
    Timestamp::parse_rfc3339(s).expect("parses")
}

async fn session_routes(mode: Mode) {
    let w = world(mode, &[]).await;
    let c = &w.client;
    let alice = c.login("dev-alice").await;
    assert_eq!(alice.user_id, "dev-openid-alice");
    assert!(alice.session_id.len() >= 22, "at least 128 bits");
    assert!(alice.creds.access_key_id.starts_with("STS."));
    let expires_at = rfc3339(&alice.body["expiresAt"]);
    let expiration = rfc3339(&alice.body["credentials"]["expiration"]);
    assert!(expiration <= expires_at);
    assert!(
        w.gateway.verified_requests() >= 1,
        "the gateway checked our RSA2 signature"
    );

    let r = c.session(&alice, "GET", "/session").await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(
        (v["sessionId"].as_str(), v["userId"].as_str()),
        (Some(alice.session_id.as_str()), Some("dev-openid-alice"))
    );
    assert!(rfc3339(&v["createdAt"]) <= rfc3339(&v["expiresAt"]));

    let r = c.session(&alice, "POST", "/session/refresh").await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let fresh = integration_tests::functions::login_from(r.json());
    assert_eq!(fresh.session_id, alice.session_id);
    assert_eq!(
        rfc3339(&fresh.body["expiresAt"]),
        expires_at,
        "a refresh never extends the session"
    );
    assert_ne!(fresh.creds.access_key_id, alice.creds.access_key_id);
    // Both the old and the new credentials work until their own expiration.
    assert_eq!(c.db(&alice, "GET", "/db/todos", None).await.status, 200);
    assert_eq!(c.db(&fresh, "GET", "/db/todos", None).await.status, 200);

    let r = c.session(&alice, "DELETE", "/session").await;
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    for who in [&alice, &fresh] {
        c.session(who, "GET", "/session")
            .await
            .assert_error(401, "SessionRevoked");
        c.session(who, "POST", "/session/refresh")
            .await
            .assert_error(401, "SessionRevoked");
        c.db(who, "GET", "/db/todos", None)
            .await
            .assert_error(401, "SessionRevoked");
    }
    // Another session of the same user is unaffected.
    let again = c.login("dev-alice").await;
    assert_eq!(c.db(&again, "GET", "/db/todos", None).await.status, 200);
}

/// One signed request to the session function, sent as is as often as asked.
fn replayable_refresh(who: &Login) -> Vec<(String, String)> {
    let h = miniapp_shared::signing::sign_request(
        &who.creds,
        "POST",
        "/session/refresh",
        "",
        b"",
        Timestamp::now(),
    )
    .expect("sign");
    vec![
        ("authorization".into(), h.authorization.expose().to_owned()),
        ("x-miniapp-date".into(), h.date.clone()),
        (
            "x-miniapp-security-token".into(),
            h.security_token.expose().to_owned(),
        ),
    ]
}

async fn send_refresh(c: &Client, headers: &[(String, String)]) -> Reply {
    let h: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let url = format!("{}/session/refresh", c.session_url);
    c.raw("POST", &url, &h, vec![]).await
}

/// A captured refresh request mints nothing the second time; each credentials refresh once.
async fn refresh_is_single_use(mode: Mode) {
    let w = world(mode, &[]).await;
    let c = &w.client;
    let alice = c.login("dev-alice").await;
    let captured = replayable_refresh(&alice);
    let r = send_refresh(c, &captured).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let fresh = integration_tests::functions::login_from(r.json());
    send_refresh(c, &captured)
        .await
        .assert_error(401, "InvalidSecurityToken");
    // A new signature over the same credentials is refused too.
    c.session(&alice, "POST", "/session/refresh")
        .await
        .assert_error(401, "InvalidSecurityToken");
    // The used credentials still work for everything else until their expiration (§3.3).
    assert_eq!(c.session(&alice, "GET", "/session").await.status, 200);
    assert_eq!(c.db(&alice, "GET", "/db/todos", None).await.status, 200);
    // The newest credentials refresh, once.
    let r = c.session(&fresh, "POST", "/session/refresh").await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let newest = integration_tests::functions::login_from(r.json());
    c.session(&fresh, "POST", "/session/refresh")
        .await
        .assert_error(401, "InvalidSecurityToken");
    // Racing refreshes from one credentials: exactly one wins (the write is conditional).
    let (a, b, d) = tokio::join!(
        c.session(&newest, "POST", "/session/refresh"),
        c.session(&newest, "POST", "/session/refresh"),
        c.session(&newest, "POST", "/session/refresh"),
    );
    let ok = [&a, &b, &d].iter().filter(|r| r.status == 200).count();
    assert_eq!(ok, 1, "{} {} {}", a.status, b.status, d.status);
    for r in [a, b, d].iter().filter(|r| r.status != 200) {
        r.assert_error(401, "InvalidSecurityToken");
    }
}

/// Expired credentials refresh only within MINIAPP_REFRESH_GRACE_SECS of their expiration.
async fn refresh_has_a_grace_limit(mode: Mode) {
    let w = world(
        mode,
        &[
            ("MINIAPP_CREDENTIAL_TTL_SECS", "1"),
            ("MINIAPP_REFRESH_GRACE_SECS", "2"),
        ],
    )
    .await;
    let c = &w.client;
    let a = c.login("dev-alice").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    c.db(&a, "GET", "/db/todos", None)
        .await
        .assert_error(401, "CredentialsExpired");
    let r = c.session(&a, "POST", "/session/refresh").await;
    assert_eq!(
        r.status,
        200,
        "within the grace: {}",
        String::from_utf8_lossy(&r.body)
    );
    let fresh = integration_tests::functions::login_from(r.json());
    let exp = rfc3339(&fresh.body["credentials"]["expiration"]);
    // Past expiration + grace (whole seconds): refused, and the client must log in again.
    let wait = (exp.unix() + 3 - Timestamp::now().unix()).max(0) as u64;
    tokio::time::sleep(Duration::from_millis(wait * 1000 + 100)).await;
    c.session(&fresh, "POST", "/session/refresh")
        .await
        .assert_error(401, "CredentialsExpired");
}

async fn login_outcomes(mode: Mode) {
    let w = world(mode, &[]).await;
    let c = &w.client;
    let user_only = c.login("code-user-only").await;
    assert_eq!(user_only.user_id, "2088000000000777");
    c.login_reply("dev-invalid")
        .await
        .assert_error(401, "AuthCodeInvalid");
    c.login_reply("code-upstream-error")
        .await
        .assert_error(502, "UpstreamError");
    c.login_reply("code-tampered")
        .await
        .assert_error(502, "UpstreamSignatureInvalid");
    c.login_reply("code-http500")
        .await
        .assert_error(502, "UpstreamError");
    c.login_reply("code-slow")
        .await
        .assert_error(504, "UpstreamTimeout");
    let url = format!("{}/session", w.session.url);
    c.raw("POST", &url, &[], vec![])
        .await
        .assert_error(400, "InvalidJson");
    c.raw("POST", &url, &[], b"{\"authCode\":".to_vec())
        .await
        .assert_error(400, "InvalidJson");
    c.raw("POST", &url, &[], b"[]".to_vec())
        .await
        .assert_error(400, "InvalidRequest");
    c.raw("POST", &url, &[], b"{\"authCode\":5}".to_vec())
        .await
        .assert_error(400, "InvalidRequest");
    c.raw("POST", &url, &[], b"{}".to_vec())
        .await
        .assert_error(400, "InvalidRequest");
}

/// WeChat beside Alipay: every outcome of `jscode2session`, ids that cannot collide, and a
/// user's data kept across sessions of the same provider.
async fn wechat_logins(mode: Mode) {
    let w = world(mode, &[]).await;
    let c = &w.client;
    let wx = c.wechat_login("dev-wx-alice").await;
    assert_eq!(wx.user_id, "wechat:dev-wx-openid-alice");
    let alipay = c.login("dev-alice").await;
    assert_eq!(
        alipay.user_id, "dev-openid-alice",
        "Alipay ids stay as they were"
    );
    let r = c
        .db(&wx, "PUT", "/db/notes/n1", Some(json!({"by": "wechat"})))
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    c.db(&alipay, "GET", "/db/notes/n1", None)
        .await
        .assert_error(404, "NotFound");
    let again = c.wechat_login("dev-wx-alice").await;
    assert_ne!(again.session_id, wx.session_id);
    let r = c.db(&again, "GET", "/db/notes/n1", None).await;
    assert_eq!(
        r.json()["data"],
        json!({"by": "wechat"}),
        "the data stays theirs"
    );
    let r = c.session(&again, "GET", "/session").await;
    assert_eq!(r.json()["userId"], "wechat:dev-wx-openid-alice");
    // WeChat's unionid is kept with the session; Alipay sessions have none.
    assert_eq!(r.json()["unionId"], "dev-wx-unionid-alice");
    assert_eq!(again.body["unionId"], "dev-wx-unionid-alice");
    let r = c.session(&alipay, "GET", "/session").await;
    assert!(r.json().get("unionId").is_none(), "{}", r.json());

    for code in ["dev-wx-invalid", "dev-wx-used", "not-a-dev-code"] {
        c.wechat_login_reply(code)
            .await
            .assert_error(401, "AuthCodeInvalid");
    }
    for (code, retry_after) in [("dev-wx-ratelimited", "60"), ("dev-wx-busy", "2")] {
        let r = c.wechat_login_reply(code).await;
        r.assert_error(503, "UpstreamBusy");
        assert_eq!(r.headers["retry-after"], retry_after, "{code}");
    }
    let r = c.wechat_login_reply("dev-wx-blocked").await;
    r.assert_error(502, "UpstreamError");
    assert!(
        r.json()["error"]["message"].to_string().contains("40226"),
        "errcode carried"
    );
    assert!(
        !r.json()["error"]["message"].to_string().contains("rid:"),
        "WeChat's own errmsg stays in the logs: {}",
        r.json()
    );
    for code in ["wx-http500", "wx-non-json"] {
        c.wechat_login_reply(code)
            .await
            .assert_error(502, "UpstreamError");
    }
    c.wechat_login_reply("wx-slow")
        .await
        .assert_error(504, "UpstreamTimeout");
    for body in [
        json!({"provider": "wechat"}),
        json!({"provider": "wechat", "authCode": "dev-wx-alice"}),
        json!({"provider": "wechat", "code": 5}),
        json!({"provider": "wechat", "code": ""}),
        json!({"provider": "qq", "code": "x"}),
        json!({"provider": 1, "authCode": "dev-alice"}),
    ] {
        c.login_body_reply(&body)
            .await
            .assert_error(400, "InvalidRequest");
    }
    let explicit = c
        .login_body_reply(&json!({"provider": "alipay", "authCode": "dev-bob"}))
        .await;
    assert_eq!(explicit.status, 201);
    assert_eq!(explicit.json()["userId"], "dev-openid-bob");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let logs = w.session.logs();
    for secret in [
        integration_tests::functions::WECHAT_APP_SECRET,
        "session_key",
        "dev-wx-alice",
    ] {
        assert!(!logs.contains(secret), "{secret} reached the logs");
    }
}

/// Alipay's certificate mode end to end: the SNs travel, answers verify with the key of
/// Alipay's certificate, and an answer naming another certificate is refused with its SN in
/// the log line.
async fn alipay_certificate_mode(mode: Mode) {
    let w = world_with(mode, Logins::AlipayCertificates, &[]).await;
    let c = &w.client;
    let alice = c.login("dev-alice").await;
    assert_eq!(alice.user_id, "dev-openid-alice");
    assert_eq!(
        w.gateway.verified_requests(),
        1,
        "the SNs and signature passed"
    );
    assert_eq!(
        c.db(&alice, "PUT", "/db/todos/x", Some(json!({})))
            .await
            .status,
        201
    );
    c.login_reply("dev-invalid")
        .await
        .assert_error(401, "AuthCodeInvalid");
    c.login_reply("code-tampered")
        .await
        .assert_error(502, "UpstreamSignatureInvalid");
    let r = c.login_reply("code-rotated-cert").await;
    r.assert_error(502, "UpstreamSignatureInvalid");
    let message = r.json()["error"]["message"].to_string();
    assert!(
        !message.contains("00000000"),
        "the SNs go to the log: {message}"
    );
    // WeChat is not configured in this world.
    c.wechat_login_reply("dev-wx-alice")
        .await
        .assert_error(400, "ProviderNotConfigured");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let logs = w.session.logs();
    assert!(
        logs.contains("00000000000000000000000000000000")
            && logs.contains("5d638403648a25c837b8db5dba0e9845"),
        "the log line names the answer's and the configured SN: {logs}"
    );
}

/// A WeChat-only deployment: Alipay log-ins are 400 `ProviderNotConfigured`, WeChat's work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_is_not_configured_is_400() {
    let w = world_with(Mode::Embedded, Logins::WechatOnly, &[]).await;
    let c = &w.client;
    for body in [
        json!({"authCode": "dev-alice"}),
        json!({"provider": "alipay", "authCode": "dev-alice"}),
    ] {
        let r = c.login_body_reply(&body).await;
        r.assert_error(400, "ProviderNotConfigured");
        assert!(r.json()["error"]["message"].to_string().contains("Alipay"));
    }
    // The body is validated first: a malformed one is InvalidRequest whatever the provider.
    c.login_body_reply(&json!({"authCode": 5}))
        .await
        .assert_error(400, "InvalidRequest");
    let wx = c.wechat_login("dev-wx-bob").await;
    assert_eq!(wx.user_id, "wechat:dev-wx-openid-bob");
    assert_eq!(w.gateway.verified_requests(), 0);
}

async fn crud_and_conditions(mode: Mode) {
    let w = world(mode, &[]).await;
    let c = &w.client;
    let a = c.login("dev-alice").await;
    let r = c
        .db(
            &a,
            "POST",
            "/db/todos",
            Some(json!({"title": "milk", "n": 1})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let item = r.json();
    let id = item["id"].as_str().expect("id").to_owned();
    assert_eq!(
        uuid::Uuid::parse_str(&id).map(|u| u.get_version_num()).ok(),
        Some(7)
    );
    assert_eq!(item["version"], 1);
    assert_eq!(r.headers["etag"], "\"1\"");
    assert_eq!(
        r.headers["location"].to_str().ok(),
        Some(format!("/db/todos/{id}").as_str())
    );
    assert_eq!(item["createdAt"], item["updatedAt"]);
    let path = format!("/db/todos/{id}");

    let r = c.db(&a, "GET", &path, None).await;
    assert_eq!((r.status.as_u16(), r.json()), (200, item.clone()));

    let put = |body: Value, extra: Vec<(&'static str, &'static str)>| {
        let path = path.clone();
        let a = a.clone();
        async move {
            let b = body.to_string().into_bytes();
            c.signed(&a, "PUT", &c.db_url, &path, &b, &extra).await
        }
    };
    let r = put(json!({"title": "oat milk"}), vec![("if-match", "\"1\"")]).await;
    assert_eq!(
        (r.status.as_u16(), r.json()["version"].as_u64()),
        (200, Some(2))
    );
    assert_eq!(r.json()["createdAt"], item["createdAt"]);
    put(json!({"title": "lost race"}), vec![("if-match", "\"1\"")])
        .await
        .assert_error(412, "PreconditionFailed");
    put(json!({"x": 1}), vec![("if-none-match", "*")])
        .await
        .assert_error(412, "PreconditionFailed");
    put(json!({"x": 1}), vec![("if-match", "\"0\"")])
        .await
        .assert_error(412, "PreconditionFailed");
    put(json!({"x": 1}), vec![("if-match", "abc")])
        .await
        .assert_error(400, "InvalidRequest");

    let r = c
        .db(
            &a,
            "PATCH",
            &path,
            Some(json!({"done": true, "title": null, "tags": ["a"]})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["data"], json!({"done": true, "tags": ["a"]}));
    assert_eq!(r.json()["version"], 3);
    assert_eq!(r.headers["etag"], "\"3\"");
    c.db(&a, "PATCH", &path, Some(json!([1])))
        .await
        .assert_error(400, "InvalidRequest");

    let b = b"{}".to_vec();
    c.signed(
        &a,
        "DELETE",
        &c.db_url,
        &path,
        b"",
        &[("if-match", "\"2\"")],
    )
    .await
    .assert_error(412, "PreconditionFailed");
    let r = c
        .signed(
            &a,
            "DELETE",
            &c.db_url,
            &path,
            b"",
            &[("if-match", "\"3\"")],
        )
        .await;
    assert_eq!(r.status, 204);
    c.db(&a, "GET", &path, None)
        .await
        .assert_error(404, "NotFound");
    c.db(&a, "DELETE", &path, None)
        .await
        .assert_error(404, "NotFound");
    c.db(&a, "PATCH", &path, Some(json!({"a": 1})))
        .await
        .assert_error(404, "NotFound");
    // If-Match on an absent item is 412 for PUT, PATCH and DELETE.
    for m in ["PUT", "PATCH", "DELETE"] {
        c.signed(&a, m, &c.db_url, &path, &b, &[("if-match", "\"1\"")])
            .await
            .assert_error(412, "PreconditionFailed");
    }
    let r = c
        .signed(
            &a,
            "PUT",
            &c.db_url,
            "/db/todos/my-id.1",
            &b,
            &[("if-none-match", "*")],
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.json()["id"].as_str()),
        (201, Some("my-id.1"))
    );
    let r = c
        .db(&a, "PUT", "/db/todos/my-id.1", Some(json!({"v": 2})))
        .await;
    assert_eq!(
        (r.status.as_u16(), r.json()["version"].as_u64()),
        (200, Some(2))
    );
    // JSON survives exactly: big integers, unicode, empty strings, nulls, nesting.
    let awkward = json!({"big": 123456789012345678901234567890u128, "f": 0.1, "s": "", "n": null, "u": "汉字🙂", "deep": [[{"a": []}]], "size": {"ttl": 1}});
    let r = c
        .db(&a, "PUT", "/db/todos/awkward", Some(awkward.clone()))
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        c.db(&a, "GET", "/db/todos/awkward", None).await.json()["data"],
        awkward
    );
}

/// RFC 9110 §13.1 conditional requests (CONTRACT.md §5, docs/api.md §4.3).
async fn rfc_conditions(mode: Mode) {
    let w = world(mode, &[]).await;
    let c = &w.client;
    let a = c.login("dev-alice").await;
    let path = "/db/rfc/x";
    let send =
        |method: &'static str, body: &'static [u8], headers: Vec<(&'static str, &'static str)>| {
            let a = a.clone();
            async move { c.signed(&a, method, &c.db_url, path, body, &headers).await }
        };
    let version = |r: &integration_tests::functions::Reply| {
        assert!(
            r.status.is_success(),
            "{} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        r.json()["version"].as_u64().expect("version")
    };
    let b: &'static [u8] = b"{\"v\":1}";

    // Absent: If-Match (even *) fails; If-None-Match with tags holds.
    for m in ["PUT", "PATCH", "DELETE"] {
        send(m, b, vec![("if-match", "*")])
            .await
            .assert_error(412, "PreconditionFailed");
    }
    send("PATCH", b, vec![("if-none-match", "*")])
        .await
        .assert_error(404, "NotFound");
    send("GET", b"", vec![("if-none-match", "*")])
        .await
        .assert_error(404, "NotFound");
    let r = send("PUT", b, vec![("if-none-match", "\"1\"")]).await;
    assert_eq!((r.status.as_u16(), version(&r)), (201, 1));

    // GET with If-None-Match that matches (weak comparison): 304, the ETag, no body.
    for tag in ["\"1\"", "W/\"1\"", "*", "\"7\", \"1\"", " \"abc\" ,W/\"1\""] {
        let r = send("GET", b"", vec![("if-none-match", tag)]).await;
        assert_eq!(r.status.as_u16(), 304, "{tag}");
        assert_eq!(r.headers["etag"], "\"1\"", "{tag}");
        assert!(r.body.is_empty(), "{tag}");
        assert!(!r.headers.contains_key("content-type"), "{tag}");
        // RFC 9110 §8.6: a 304's Content-Length, if any, would be the 200's; hyper sends none.
        assert!(!r.headers.contains_key("content-length"), "{tag}");
        assert!(!r.headers["x-request-id"].is_empty());
    }
    let r = send(
        "GET",
        b"",
        vec![("if-none-match", "\"5\""), ("if-none-match", "\"1\"")],
    )
    .await;
    assert_eq!(r.status.as_u16(), 304, "the header repeated is one list");
    for tag in ["\"2\"", "\"01\"", "W/\"2\""] {
        let r = send("GET", b"", vec![("if-none-match", tag)]).await;
        assert_eq!((r.status.as_u16(), version(&r)), (200, 1), "{tag}");
        assert_eq!(r.headers["etag"], "\"1\"");
    }
    // If-Match on GET: strong comparison, 412 when it fails, evaluated before If-None-Match.
    send("GET", b"", vec![("if-match", "\"2\"")])
        .await
        .assert_error(412, "PreconditionFailed");
    send("GET", b"", vec![("if-match", "W/\"1\"")])
        .await
        .assert_error(412, "PreconditionFailed");
    send(
        "GET",
        b"",
        vec![("if-match", "\"2\""), ("if-none-match", "\"1\"")],
    )
    .await
    .assert_error(412, "PreconditionFailed");
    let r = send("GET", b"", vec![("if-match", "\"1\"")]).await;
    assert_eq!(r.status.as_u16(), 200);
    let r = send(
        "GET",
        b"",
        vec![("if-match", "*"), ("if-none-match", "\"1\"")],
    )
    .await;
    assert_eq!(r.status.as_u16(), 304);
    send("GET", b"", vec![("if-none-match", "1")])
        .await
        .assert_error(400, "InvalidRequest");

    // If-Match: *, lists, the header repeated.
    let r = send("PUT", b, vec![("if-match", "*")]).await;
    assert_eq!((r.status.as_u16(), version(&r)), (200, 2));
    let r = send("PUT", b, vec![("if-match", "\"1\", \"2\"")]).await;
    assert_eq!(version(&r), 3);
    let r = send("PUT", b, vec![("if-match", "\"1\""), ("if-match", "\"3\"")]).await;
    assert_eq!(version(&r), 4);
    // Well formed but naming no current version (weak, not canonical, not a version): 412.
    for tag in [
        "W/\"4\"",
        "\"+4\"",
        "\"04\"",
        "\"abc\"",
        "\"0\"",
        "\"99999999999999999999999999\"",
        "\"\"",
        "",
    ] {
        send("PUT", b, vec![("if-match", tag)])
            .await
            .assert_error(412, "PreconditionFailed");
    }
    // Malformed: 400.
    for tag in ["4", "\"4", "\"4 \"", "*, \"4\"", "w/\"4\"", "\"4\" \"5\""] {
        send("PUT", b, vec![("if-match", tag)])
            .await
            .assert_error(400, "InvalidRequest");
    }
    send("PUT", b, vec![("if-match", "*"), ("if-match", "\"4\"")])
        .await
        .assert_error(400, "InvalidRequest");

    // If-None-Match with tags on PUT (weak comparison): 412 when one names the current version.
    for tag in ["\"4\"", "W/\"4\"", "\"1\", \"4\"", "*"] {
        send("PUT", b, vec![("if-none-match", tag)])
            .await
            .assert_error(412, "PreconditionFailed");
    }
    let r = send("PUT", b, vec![("if-none-match", "\"1\"")]).await;
    assert_eq!(version(&r), 5);
    // Both headers: both must hold (RFC 9110 §13.2.2 order).
    send(
        "PUT",
        b,
        vec![("if-match", "\"5\""), ("if-none-match", "\"5\"")],
    )
    .await
    .assert_error(412, "PreconditionFailed");
    let r = send(
        "PUT",
        b,
        vec![("if-match", "\"5\""), ("if-none-match", "\"1\"")],
    )
    .await;
    assert_eq!(version(&r), 6);

    // PATCH and DELETE evaluate If-None-Match too.
    for tag in ["*", "\"6\"", "W/\"6\""] {
        send("PATCH", b, vec![("if-none-match", tag)])
            .await
            .assert_error(412, "PreconditionFailed");
        send("DELETE", b"", vec![("if-none-match", tag)])
            .await
            .assert_error(412, "PreconditionFailed");
    }
    let r = send(
        "PATCH",
        b"{\"p\":1}",
        vec![("if-match", "*"), ("if-none-match", "\"1\"")],
    )
    .await;
    assert_eq!(version(&r), 7);
    assert_eq!(r.json()["data"], json!({"v": 1, "p": 1}));
    send("DELETE", b"", vec![("if-match", "\"6\", \"5\"")])
        .await
        .assert_error(412, "PreconditionFailed");
    let r = send("DELETE", b"", vec![("if-match", "\"6\", \"7\"")]).await;
    assert_eq!(r.status.as_u16(), 204);
    send("DELETE", b"", vec![("if-none-match", "\"7\"")])
        .await
        .assert_error(404, "NotFound");

    // Order of checks: every 400 (the headers, then the body) before 404 and 412.
    for m in ["PUT", "PATCH"] {
        send(m, b"not json", vec![("if-match", "\"0\"")])
            .await
            .assert_error(400, "InvalidJson");
        send(m, b"[1]", vec![("if-match", "*")])
            .await
            .assert_error(400, "InvalidRequest");
        send(m, b"not json", vec![("if-match", "0")])
            .await
            .assert_error(400, "InvalidRequest");
    }
    send("DELETE", b"", vec![("if-match", "0")])
        .await
        .assert_error(400, "InvalidRequest");
}

async fn listing(mode: Mode) {
    let w = world(mode, &[]).await;
    let c = &w.client;
    let a = c.login("dev-alice").await;
    for i in 0..23 {
        let r = c
            .db(
                &a,
                "PUT",
                &format!("/db/notes/item-{i:02}"),
                Some(json!({"i": i})),
            )
            .await;
        assert_eq!(r.status, 201);
    }
    c.db(&a, "PUT", "/db/notes/other", Some(json!({}))).await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut limit = 4;
    loop {
        let q = match &cursor {
            Some(cur) => format!("/db/notes?prefix=item-&order=desc&limit={limit}&cursor={cur}"),
            None => format!("/db/notes?prefix=item-&order=desc&limit={limit}"),
        };
        let r = c.db(&a, "GET", &q, None).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let v = r.json();
        let items = v["items"].as_array().expect("items");
        assert!(items.len() <= limit);
        seen.extend(
            items
                .iter()
                .map(|i| i["id"].as_str().unwrap_or_default().to_owned()),
        );
        match v["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        limit = if limit == 4 { 7 } else { 4 };
    }
    let expected: Vec<String> = (0..23).rev().map(|i| format!("item-{i:02}")).collect();
    assert_eq!(seen, expected, "no gaps, no duplicates, descending");
    let all = c
        .db(&a, "GET", "/db/notes?limit=100&cursor=", None)
        .await
        .json();
    assert_eq!(all["items"].as_array().map(Vec::len), Some(24));
    assert_eq!(all["nextCursor"], Value::Null);
    let first = c.db(&a, "GET", "/db/notes?limit=2", None).await.json();
    let cur = first["nextCursor"].as_str().expect("cursor").to_owned();
    c.db(
        &a,
        "GET",
        &format!("/db/notes?limit=2&cursor={cur}&order=desc"),
        None,
    )
    .await
    .assert_error(400, "InvalidQuery");
    c.db(&a, "GET", &format!("/db/other?limit=2&cursor={cur}"), None)
        .await
        .assert_error(400, "InvalidQuery");
    c.db(&a, "GET", "/db/notes?cursor=garbage", None)
        .await
        .assert_error(400, "InvalidQuery");
    c.db(&a, "GET", "/db/notes?limit=0", None)
        .await
        .assert_error(400, "InvalidQuery");
    c.db(&a, "GET", "/db/notes?limit=101", None)
        .await
        .assert_error(400, "InvalidQuery");
    c.db(&a, "GET", "/db/notes?limit=1&limit=2", None)
        .await
        .assert_error(400, "InvalidQuery");
    c.db(&a, "GET", "/db/notes?order=sideways", None)
        .await
        .assert_error(400, "InvalidQuery");
    let none = c
        .db(&a, "GET", "/db/notes?prefix=%2F%2F&unknown=1", None)
        .await;
    assert_eq!(
        (none.status.as_u16(), none.json()),
        (200, json!({"items": [], "nextCursor": null}))
    );
}

async fn order_of_checks(mode: Mode) {
    let w = world(mode, &[]).await;
    let c = &w.client;
    let (s, d) = (w.session.url.clone(), w.db.url.clone());
    c.raw("GET", &format!("{d}/nope"), &[], vec![])
        .await
        .assert_error(404, "RouteNotFound");
    // `/db` alone is a route (POST /db: batches; GET /db: the caller's collections): other
    // methods are 405 before authentication. `/dbx` is none, and the session function does not
    // take the db function's routes.
    let r = c.raw("PUT", &format!("{d}/db"), &[], vec![]).await;
    r.assert_error(405, "MethodNotAllowed");
    assert_eq!(
        r.headers.get("allow").and_then(|v| v.to_str().ok()),
        Some("POST, GET")
    );
    c.raw("GET", &format!("{d}/dbx"), &[], vec![])
        .await
        .assert_error(404, "RouteNotFound");
    c.raw("POST", &format!("{s}/db"), &[], vec![])
        .await
        .assert_error(404, "RouteNotFound");
    c.raw("GET", &format!("{d}/db"), &[], vec![])
        .await
        .assert_error(401, "MissingAuthorization");
    for path in ["/db", "/account"] {
        c.raw("DELETE", &format!("{s}{path}"), &[], vec![])
            .await
            .assert_error(404, "RouteNotFound");
    }
    c.raw("GET", &format!("{d}/session"), &[], vec![])
        .await
        .assert_error(404, "RouteNotFound");
    c.raw("GET", &format!("{s}/db/todos"), &[], vec![])
        .await
        .assert_error(404, "RouteNotFound");
    let r = c.raw("POST", &format!("{d}/db/todos/x"), &[], vec![]).await;
    r.assert_error(405, "MethodNotAllowed");
    assert!(r.headers.contains_key("allow"));
    c.raw("PUT", &format!("{s}/session"), &[], vec![])
        .await
        .assert_error(405, "MethodNotAllowed");
    // Unsigned requests: (method, base, path, body bytes, status, code).
    let unsigned: &[(&str, &str, &str, usize, u16, &str)] = &[
        // 413 before authentication; exactly 262144 bytes is accepted (then needs a signature).
        ("POST", &d, "/db/todos", 262_145, 413, "PayloadTooLarge"),
        (
            "POST",
            &d,
            "/db/todos",
            262_144,
            401,
            "MissingAuthorization",
        ),
        ("POST", &s, "/session", 262_145, 413, "PayloadTooLarge"),
        // Bad escapes are InvalidQuery before authentication, after the method and body size.
        ("GET", &d, "/db/todos?x=%zz", 0, 400, "InvalidQuery"),
        ("GET", &d, "/db/todos/%E0%A4", 0, 400, "InvalidQuery"),
        ("POST", &d, "/db/todos/%zz", 0, 405, "MethodNotAllowed"),
        ("POST", &d, "/db/to%zz", 262_145, 413, "PayloadTooLarge"),
        // Other validation comes after authentication.
        ("GET", &d, "/db/bad.coll", 0, 401, "MissingAuthorization"),
        (
            "GET",
            &d,
            "/db/todos?limit=0",
            0,
            401,
            "MissingAuthorization",
        ),
    ];
    for (method, base, path, len, status, code) in unsigned {
        c.raw(method, &format!("{base}{path}"), &[], vec![b' '; *len])
            .await
            .assert_error(*status, code);
    }
    let a = c.login("dev-alice").await;
    c.db(&a, "GET", "/db/bad.coll", None)
        .await
        .assert_error(400, "InvalidCollection");
    c.db(&a, "GET", "/db/bad.coll/a%2Fb", None)
        .await
        .assert_error(400, "InvalidCollection");
    c.db(&a, "GET", "/db/todos/a%2Fb", None)
        .await
        .assert_error(400, "InvalidId");
    c.db(&a, "GET", "/db/todos/x%3Fy", None)
        .await
        .assert_error(400, "InvalidId");
    c.db(&a, "GET", &format!("/db/{}", "c".repeat(65)), None)
        .await
        .assert_error(400, "InvalidCollection");
    let raw = |body: &[u8]| {
        let (a, body) = (a.clone(), body.to_vec());
        async move {
            c.signed(&a, "POST", &c.db_url, "/db/todos", &body, &[])
                .await
        }
    };
    raw(b"not json").await.assert_error(400, "InvalidJson");
    raw(b"").await.assert_error(400, "InvalidJson");
    raw(b"[]").await.assert_error(400, "InvalidRequest");
    raw(b"42").await.assert_error(400, "InvalidRequest");
    let deep = |n: usize| format!("{{\"a\":{}{}}}", "[".repeat(n - 1), "]".repeat(n - 1));
    raw(deep(65).as_bytes())
        .await
        .assert_error(400, "InvalidJson");
    assert_eq!(raw(deep(64).as_bytes()).await.status, 201);
    // Validation before existence: a bad id on an absent item is 400, not 404.
    c.db(&a, "DELETE", "/db/todos/bad%20id", None)
        .await
        .assert_error(400, "InvalidId");
    // The server's own request id: a client's x-request-id is not echoed.
    let r = c
        .raw(
            "GET",
            &format!("{d}/nope"),
            &[("x-request-id", "mine")],
            vec![],
        )
        .await;
    assert_ne!(r.headers["x-request-id"], "mine");
    let ok = c.db(&a, "GET", "/db/todos", None).await;
    assert!(!ok.headers["x-request-id"].is_empty());
}

async fn authentication_codes(mode: Mode) {
    let w = world(mode, &[]).await;
    let c = &w.client;
    let a = c.login("dev-alice").await;
    let url = format!("{}/db/todos", w.db.url);
    let now = Timestamp::now();
    let h = miniapp_shared::signing::sign_request(&a.creds, "GET", "/db/todos", "", b"", now)
        .expect("sign");
    let (auth, date, token) = (
        h.authorization.expose(),
        h.date.as_str(),
        h.security_token.expose(),
    );
    let send = |headers: Vec<(&'static str, String)>| {
        let url = url.clone();
        async move {
            let hs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            c.raw("GET", &url, &hs, vec![]).await
        }
    };
    let full = |a: &str, d: &str, t: &str| {
        vec![
            ("authorization", a.to_owned()),
            ("x-miniapp-date", d.to_owned()),
            ("x-miniapp-security-token", t.to_owned()),
        ]
    };
    assert_eq!(send(full(auth, date, token)).await.status, 200);
    send(vec![
        ("authorization", auth.into()),
        ("x-miniapp-date", date.into()),
    ])
    .await
    .assert_error(401, "MissingAuthorization");
    send(full("Bearer abc", date, token))
        .await
        .assert_error(401, "InvalidAuthorization");
    send(full(auth, "2026-11-25", token))
        .await
        .assert_error(401, "InvalidAuthorization");
    send(full(
        &auth.replace("Signature=", "Signature=zz"),
        date,
        token,
    ))
    .await
    .assert_error(401, "InvalidAuthorization");
    let mut bad_token = token.to_owned();
    bad_token.insert(10, 'x');
    send(full(auth, date, &bad_token))
        .await
        .assert_error(401, "InvalidSecurityToken");
    let other = c.login("dev-bob").await;
    send(full(auth, date, other.creds.security_token.expose()))
        .await
        .assert_error(401, "InvalidSecurityToken");
    let last = auth.chars().last().unwrap_or('0');
    let flipped = format!(
        "{}{}",
        &auth[..auth.len() - 1],
        if last == '0' { '1' } else { '0' }
    );
    send(full(&flipped, date, token))
        .await
        .assert_error(401, "SignatureDoesNotMatch");
    let old = c
        .dated(Timestamp::from_unix(now.unix() - 301))
        .signed(&a, "GET", &c.db_url, "/db/todos", b"", &[])
        .await;
    old.assert_error(401, "RequestExpired");
    let skew = c
        .dated(Timestamp::from_unix(now.unix() + 200))
        .signed(&a, "GET", &c.db_url, "/db/todos", b"", &[])
        .await;
    assert_eq!(skew.status, 200);
    // The body is signed: the same headers over another body do not verify.
    let h = miniapp_shared::signing::sign_request(&a.creds, "POST", "/db/todos", "", b"{}", now)
        .expect("sign");
    let hs = [
        ("authorization", h.authorization.expose()),
        ("x-miniapp-date", h.date.as_str()),
        ("x-miniapp-security-token", h.security_token.expose()),
    ];
    c.raw("POST", &url, &hs, b"{\"a\":1}".to_vec())
        .await
        .assert_error(401, "SignatureDoesNotMatch");
}

async fn isolation(mode: Mode) {
    let w = world(mode, &[]).await;
    let c = &w.client;
    let alice = c.login("dev-alice").await;
    let bob = c.login("dev-bob").await;
    assert_eq!(
        c.db(
            &alice,
            "PUT",
            "/db/todos/shared-id",
            Some(json!({"owner": "alice"}))
        )
        .await
        .status,
        201
    );
    for i in 0..3 {
        c.db(&alice, "PUT", &format!("/db/todos/a{i}"), Some(json!({})))
            .await;
    }
    c.db(&bob, "GET", "/db/todos/shared-id", None)
        .await
        .assert_error(404, "NotFound");
    let list = c.db(&bob, "GET", "/db/todos", None).await.json();
    assert_eq!(list, json!({"items": [], "nextCursor": null}));
    c.db(
        &bob,
        "PATCH",
        "/db/todos/shared-id",
        Some(json!({"owner": "bob"})),
    )
    .await
    .assert_error(404, "NotFound");
    c.db(&bob, "DELETE", "/db/todos/shared-id", None)
        .await
        .assert_error(404, "NotFound");
    let r = c
        .db(
            &bob,
            "PUT",
            "/db/todos/shared-id",
            Some(json!({"owner": "bob"})),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.json()["version"].as_u64()),
        (201, Some(1))
    );
    let mine = c
        .db(&alice, "GET", "/db/todos/shared-id", None)
        .await
        .json();
    assert_eq!(
        (mine["version"].as_u64(), mine["data"]["owner"].as_str()),
        (Some(1), Some("alice"))
    );
    let page = c.db(&alice, "GET", "/db/todos?limit=1", None).await.json();
    let cur = page["nextCursor"].as_str().expect("cursor").to_owned();
    c.db(
        &bob,
        "GET",
        &format!("/db/todos?limit=1&cursor={cur}"),
        None,
    )
    .await
    .assert_error(400, "InvalidQuery");
}

async fn concurrent_updates(mode: Mode) {
    // 20 writers racing on one item retry each lost race: some 400 requests of one user within
    // a second or two, far over the per-user rate limit (docs/api.md §2.4), which this test is
    // not about.
    let w = world(mode, &[("MINIAPP_RATE_LIMITS", "off")]).await;
    let c = &w.client;
    let a = c.login("dev-alice").await;
    c.db(&a, "PUT", "/db/counters/n", Some(json!({"n": 0})))
        .await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (c, a) = (c.clone(), a.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let cur = c.db(&a, "GET", "/db/counters/n", None).await.json();
                let (n, v) = (
                    cur["data"]["n"].as_u64().unwrap_or(0),
                    cur["version"].as_u64().unwrap_or(0),
                );
                let body = json!({"n": n + 1}).to_string().into_bytes();
                let etag = format!("\"{v}\"");
                let r = c
                    .signed(
                        &a,
                        "PUT",
                        &c.db_url,
                        "/db/counters/n",
                        &body,
                        &[("if-match", &etag)],
                    )
                    .await;
                match r.status.as_u16() {
                    200 => return,
                    412 => continue,
                    s => panic!("unexpected {s}: {}", String::from_utf8_lossy(&r.body)),
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let end = c.db(&a, "GET", "/db/counters/n", None).await.json();
    assert_eq!(
        (end["data"]["n"].as_u64(), end["version"].as_u64()),
        (Some(20), Some(21))
    );
}

async fn logs_hold_no_secrets(mode: Mode) {
    let w = world(mode, &[]).await;
    let c = &w.client;
    let a = c.login("dev-alice").await;
    let r = c.db(&a, "POST", "/db/todos", Some(json!({"t": "x"}))).await;
    assert_eq!(r.status, 201);
    c.db(&a, "GET", "/db/todos?limit=1", None).await;
    c.login_reply("dev-invalid").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let logs = format!("{}{}", w.session.logs(), w.db.logs());
    let h = miniapp_shared::signing::sign_request(
        &a.creds,
        "GET",
        "/db/todos",
        "",
        b"",
        Timestamp::now(),
    )
    .expect("sign");
    let signature = h
        .authorization
        .expose()
        .rsplit('=')
        .next()
        .unwrap_or_default()
        .to_owned();
    for secret in [
        a.creds.access_key_secret.expose(),
        a.creds.security_token.expose(),
        "dev-alice",
        "dev-openid-alice",
        signature.as_str(),
    ] {
        assert!(
            !logs.contains(secret),
            "a secret or identity reached the logs"
        );
    }
    let lines: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let access: Vec<&Value> = lines
        .iter()
        .filter(|l| l.to_string().contains("\"status\""))
        .collect();
    assert!(access.len() >= 4, "one JSON line per request: {logs}");
    let login_line = access
        .iter()
        .find(|l| l.to_string().contains("/session"))
        .expect("login line");
    let text = login_line.to_string();
    for field in ["request_id", "route", "status", "latency_ms"] {
        assert!(text.contains(field), "{field} missing from {text}");
    }
}

/// Short credential and session lifetimes, via the variables.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_and_session_expiry() {
    let w = world(
        Mode::Embedded,
        &[
            ("MINIAPP_CREDENTIAL_TTL_SECS", "2"),
            ("MINIAPP_SESSION_TTL_SECS", "5"),
        ],
    )
    .await;
    let c = &w.client;
    let a = c.login("dev-alice").await;
    let expires_at = rfc3339(&a.body["expiresAt"]);
    assert_eq!(c.db(&a, "GET", "/db/todos", None).await.status, 200);
    tokio::time::sleep(Duration::from_millis(3100)).await;
    c.db(&a, "GET", "/db/todos", None)
        .await
        .assert_error(401, "CredentialsExpired");
    c.session(&a, "GET", "/session")
        .await
        .assert_error(401, "CredentialsExpired");
    // Expired credentials are accepted by refresh (only) while the session lives.
    let r = c.session(&a, "POST", "/session/refresh").await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let fresh = integration_tests::functions::login_from(r.json());
    assert!(
        rfc3339(&fresh.body["credentials"]["expiration"]) <= expires_at,
        "never past the session"
    );
    assert_eq!(c.db(&fresh, "GET", "/db/todos", None).await.status, 200);
    let wait = (expires_at.unix() - Timestamp::now().unix() + 1).max(0) as u64;
    tokio::time::sleep(Duration::from_secs(wait)).await;
    c.session(&fresh, "POST", "/session/refresh")
        .await
        .assert_error(401, "SessionExpired");
    c.db(&fresh, "GET", "/db/todos", None)
        .await
        .assert_error(401, "CredentialsExpired");
}

/// A bad variable stops the function at start with one line naming it.
#[test]
fn bad_configuration_is_one_clear_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = StoreMode::Embedded(dir.path().join("d.db"));
    let mut env = function_env("http://127.0.0.1:9/gateway.do", &store);
    env.retain(|(k, _)| k != "MINIAPP_TOKEN_KEYS");
    let out = std::process::Command::new(integration_tests::binary("db"))
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("PORT", "0")
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("MINIAPP_TOKEN_KEYS"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    env.retain(|(k, _)| k != "ALIPAY_APP_PRIVATE_KEY");
    env.push(("ALIPAY_APP_PRIVATE_KEY".into(), "not a key".into()));
    env.push((
        "MINIAPP_TOKEN_KEYS".into(),
        integration_tests::functions::TOKEN_KEYS.into(),
    ));
    let out = std::process::Command::new(integration_tests::binary("session"))
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("ALIPAY_APP_PRIVATE_KEY"),
        "{err}"
    );
    // Both Alipay modes, neither, or no provider at all: one line naming the variables.
    let session_error = |env: &[(String, String)]| {
        let out = std::process::Command::new(integration_tests::binary("session"))
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("run");
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let mut good = function_env("http://127.0.0.1:9/gateway.do", &store);
    let mut both = good.clone();
    use_certificate_mode(&mut both);
    both.push((
        "ALIPAY_PUBLIC_KEY".into(),
        good.iter()
            .find(|(k, _)| k == "ALIPAY_PUBLIC_KEY")
            .map(|(_, v)| v.clone())
            .unwrap_or_default(),
    ));
    good.retain(|(k, _)| k != "ALIPAY_PUBLIC_KEY");
    for env in [both, good.clone()] {
        let err = session_error(&env);
        for var in ["ALIPAY_PUBLIC_KEY", "ALIPAY_APP_CERT", "ALIPAY_ROOT_CERT"] {
            assert!(err.contains(var), "{err}");
        }
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    without_alipay(&mut good);
    let err = session_error(&good);
    assert!(
        err.contains("ALIPAY_APP_ID") && err.contains("WECHAT_APP_ID"),
        "{err}"
    );
    good.push(("WECHAT_APP_ID".into(), "wx1".into()));
    let err = session_error(&good);
    assert!(err.contains("WECHAT_APP_SECRET"), "{err}");
}

/// DynamoDB unreachable: 503 `StorageUnavailable` in bounded time, no crash, and the same
/// processes serve again once it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_outage_is_503_then_recovers() {
    let gateway = start_gateway().await;
    let moto = MotoServer::start();
    let port = moto.port();
    let s = uuid::Uuid::new_v4().simple().to_string();
    let store = StoreMode::Dynamo {
        endpoint: moto.endpoint(),
        sessions_table: format!("s-{s}"),
        data_table: format!("d-{s}"),
    };
    let env = function_env(&gateway.url(), &store);
    let session = HttpFunction::spawn("session", &env).await;
    let db = HttpFunction::spawn("db", &env).await;
    let c = Client::new(&session.url, &db.url);
    let a = c.login("dev-alice").await;
    assert_eq!(
        c.db(&a, "PUT", "/db/todos/x", Some(json!({}))).await.status,
        201
    );

    tokio::task::spawn_blocking(move || moto.stop())
        .await
        .expect("stop");
    let started = std::time::Instant::now();
    c.db(&a, "GET", "/db/todos/x", None)
        .await
        .assert_error(503, "StorageUnavailable");
    c.login_reply("dev-alice")
        .await
        .assert_error(503, "StorageUnavailable");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "bounded retries"
    );

    // moto keeps nothing across a restart: a new process recreates the tables at its start.
    let moto = tokio::task::spawn_blocking(move || MotoServer::start_on(port))
        .await
        .expect("start");
    drop(HttpFunction::spawn("db", &env).await);
    let again = c.login("dev-alice").await;
    assert_eq!(
        c.db(&again, "PUT", "/db/todos/x", Some(json!({})))
            .await
            .status,
        201
    );
    drop(moto);
}

// ---- Atomic batches (POST /db) and filtered lists (GET /db/{collection}?where=) ----

/// `GET /db/{collection}?where=<expr>&<rest>`, the expression percent-encoded.
fn where_path(collection: &str, expr: &str, rest: &str) -> String {
    let expr = miniapp_shared::percent::encode(expr);
    if rest.is_empty() {
        format!("/db/{collection}?where={expr}")
    } else {
        format!("/db/{collection}?where={expr}&{rest}")
    }
}

fn ids_of(v: &Value) -> Vec<String> {
    v["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn batches(mode: Mode) {
    let w = world(mode, &[]).await;
    let c = &w.client;
    let a = c.login("dev-alice").await;
    let b = c.login("dev-bob").await;
    for (id, done) in [("one", false), ("two", true)] {
        let r = c
            .db(
                &a,
                "PUT",
                &format!("/db/todos/{id}"),
                Some(json!({"done": done})),
            )
            .await;
        assert_eq!(r.status, 201);
    }
    let ops = json!({"operations": [
        {"op": "create", "collection": "notes", "data": {"t": "hello"}},
        {"op": "put", "collection": "todos", "id": "three", "data": {"done": false}, "ifNoneMatch": "*"},
        {"op": "patch", "collection": "todos", "id": "one", "patch": {"done": true}, "ifMatch": "\"1\""},
        {"op": "delete", "collection": "todos", "id": "two"},
    ]});
    let r = c.db(&a, "POST", "/db", Some(ops)).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let results = r.json()["results"].clone();
    assert_eq!(results[0]["op"], "create");
    assert_eq!(results[0]["collection"], "notes");
    let note_id = results[0]["id"].as_str().expect("created id").to_owned();
    assert_eq!(results[0]["item"]["id"], json!(note_id));
    assert_eq!(results[0]["item"]["version"], 1);
    assert_eq!(results[1]["item"]["data"], json!({"done": false}));
    assert_eq!(results[2]["item"]["version"], 2);
    assert_eq!(results[2]["item"]["data"], json!({"done": true}));
    rfc3339(&results[2]["item"]["updatedAt"]);
    assert_eq!(
        results[3],
        json!({"op": "delete", "collection": "todos", "id": "two", "deleted": true})
    );
    let note = c.db(&a, "GET", &format!("/db/notes/{note_id}"), None).await;
    assert_eq!(note.json()["data"], json!({"t": "hello"}));
    c.db(&a, "GET", "/db/todos/two", None)
        .await
        .assert_error(404, "NotFound");

    // A failing condition: 412 naming the first failing operation, and nothing written.
    let failing = json!({"operations": [
        {"op": "put", "collection": "todos", "id": "four", "data": {}},
        {"op": "delete", "collection": "todos", "id": "three", "ifMatch": "\"9\""},
        {"op": "patch", "collection": "todos", "id": "one", "patch": {}, "ifMatch": "\"9\""},
    ]});
    let r = c.db(&a, "POST", "/db", Some(failing)).await;
    r.assert_error(412, "PreconditionFailed");
    assert_eq!(r.json()["error"]["index"], 1);
    c.db(&a, "GET", "/db/todos/four", None)
        .await
        .assert_error(404, "NotFound");
    let missing = json!({"operations": [
        {"op": "put", "collection": "todos", "id": "four", "data": {}},
        {"op": "patch", "collection": "todos", "id": "nope", "patch": {"x": 1}},
    ]});
    let r = c.db(&a, "POST", "/db", Some(missing)).await;
    r.assert_error(404, "NotFound");
    assert_eq!(r.json()["error"]["index"], 1);
    c.db(&a, "GET", "/db/todos/four", None)
        .await
        .assert_error(404, "NotFound");

    // Refused before the store: duplicates, bad names, shape, size.
    let cases = [
        (
            json!({"operations": [
                {"op": "delete", "collection": "todos", "id": "one"},
                {"op": "put", "collection": "todos", "id": "one", "data": {}}]}),
            "InvalidRequest",
            Some(1),
        ),
        (
            json!({"operations": [{"op": "delete", "collection": "bad/name", "id": "x"}]}),
            "InvalidCollection",
            Some(0),
        ),
        (
            json!({"operations": [{"op": "put", "collection": "todos", "id": "a b", "data": {}}]}),
            "InvalidId",
            Some(0),
        ),
        (
            json!({"operations": [{"op": "put", "collection": "todos", "id": "x", "data": {}, "ifMatch": "9"}]}),
            "InvalidRequest",
            Some(0),
        ),
        (json!({"operations": []}), "InvalidRequest", None),
        (json!({"ops": []}), "InvalidRequest", None),
    ];
    for (body, code, index) in cases {
        let r = c.db(&a, "POST", "/db", Some(body.clone())).await;
        r.assert_error(400, code);
        assert_eq!(
            r.json()["error"].get("index").and_then(Value::as_u64),
            index.map(|i| i as u64),
            "{body}"
        );
    }
    let too_many: Vec<Value> = (0..26)
        .map(|i| json!({"op": "delete", "collection": "t", "id": format!("i{i}")}))
        .collect();
    c.db(&a, "POST", "/db", Some(json!({ "operations": too_many })))
        .await
        .assert_error(400, "InvalidRequest");
    c.signed(&a, "POST", &c.db_url, "/db", b"{", &[])
        .await
        .assert_error(400, "InvalidJson");
    c.raw("POST", &format!("{}/db", w.db.url), &[], b"{}".to_vec())
        .await
        .assert_error(401, "MissingAuthorization");
    // `POST /db/_batch` is what it always was: a create in the collection `_batch`.
    let r = c
        .db(&a, "POST", "/db/_batch", Some(json!({"operations": []})))
        .await;
    assert_eq!(r.status, 201);
    // Bob's batch names the same ids and reaches only his own (absent) items.
    let r = c
        .db(
            &b,
            "POST",
            "/db",
            Some(json!({"operations": [{"op": "delete", "collection": "todos", "id": "one"}]})),
        )
        .await;
    r.assert_error(404, "NotFound");
    assert_eq!(
        c.db(&a, "GET", "/db/todos/one", None).await.json()["version"],
        2
    );
}

async fn filtered_lists(mode: Mode) {
    let w = world(mode, &[]).await;
    let c = &w.client;
    let a = c.login("dev-alice").await;
    for i in 0..12 {
        let data =
            json!({"done": i % 3 == 0, "n": i, "title": format!("t{i}"), "meta": {"p": i % 2}});
        let r = c
            .db(&a, "PUT", &format!("/db/todos/i{i:02}"), Some(data))
            .await;
        assert_eq!(r.status, 201);
    }
    let r = c
        .db(&a, "GET", &where_path("todos", "done == true", ""), None)
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(ids_of(&r.json()), ["i00", "i03", "i06", "i09"]);
    let r = c
        .db(
            &a,
            "GET",
            &where_path("todos", "n >= 4 AND meta.p == 1", "order=desc"),
            None,
        )
        .await;
    assert_eq!(ids_of(&r.json()), ["i11", "i09", "i07", "i05"]);
    let r = c
        .db(
            &a,
            "GET",
            &where_path("todos", r#"title in ["t1","t10"]"#, "prefix=i1"),
            None,
        )
        .await;
    assert_eq!(ids_of(&r.json()), ["i10"]);
    // Pages of a filtered listing, and the cursor bound to the filter.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let rest = format!("limit=2&cursor={cursor}");
        let v = c
            .db(
                &a,
                "GET",
                &where_path("todos", "done == false", &rest),
                None,
            )
            .await
            .json();
        seen.extend(ids_of(&v));
        match v["nextCursor"].as_str() {
            Some(n) => cursor = n.to_owned(),
            None => break,
        }
        let other = format!("limit=2&cursor={cursor}");
        c.db(
            &a,
            "GET",
            &where_path("todos", "done == true", &other),
            None,
        )
        .await
        .assert_error(400, "InvalidQuery");
        c.db(&a, "GET", &format!("/db/todos?{other}"), None)
            .await
            .assert_error(400, "InvalidQuery");
    }
    let want: Vec<String> = (0..12)
        .filter(|i| i % 3 != 0)
        .map(|i| format!("i{i:02}"))
        .collect();
    assert_eq!(seen, want);
    // Malformed or too complex: 400 InvalidQuery. Injection attempts are either malformed or
    // plain data that matches nothing.
    let long = ["n == 1"; 9].join(" AND ");
    for bad in [
        "done = true",
        "done == true OR 1 == 1",
        "done == true) OR (1 == 1",
        "#done == true",
        ":v == true",
        "$.done == true",
        "done == 'x'",
        "a[0] == 1",
        "done == true; DROP TABLE items",
        long.as_str(),
    ] {
        c.db(&a, "GET", &where_path("todos", bad, ""), None)
            .await
            .assert_error(400, "InvalidQuery");
    }
    for harmless in [
        r#"title == "x' OR '1'='1""#,
        r#"title == "\") OR 1=1 --""#,
        r#"title == ":v""#,
    ] {
        let r = c
            .db(&a, "GET", &where_path("todos", harmless, ""), None)
            .await;
        assert_eq!(
            (r.status.as_u16(), ids_of(&r.json()).len()),
            (200, 0),
            "{harmless}"
        );
    }
    c.db(
        &a,
        "GET",
        "/db/todos?where=a%20%3D%3D%201&where=b%20%3D%3D%202",
        None,
    )
    .await
    .assert_error(400, "InvalidQuery");
}

/// Writers race batches that move one unit from `a` to `b`, each pinned with `ifMatch`; a
/// reader lists both all along. Every 200 is in the final state; on the embedded store (whose
/// listing is one snapshot) no listing ever shows half a batch.
async fn concurrent_batches(mode: Mode) {
    let w = world(mode, &[("MINIAPP_RATE_LIMITS", "off")]).await;
    let c = &w.client;
    let a = c.login("dev-alice").await;
    c.db(&a, "PUT", "/db/acct/a", Some(json!({"n": 100}))).await;
    c.db(&a, "PUT", "/db/acct/b", Some(json!({"n": 0}))).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (c, a, stop) = (c.clone(), a.clone(), stop.clone());
        tokio::spawn(async move {
            let mut reads = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let v = c.db(&a, "GET", "/db/acct", None).await.json();
                let total: u64 = v["items"]
                    .as_array()
                    .expect("items")
                    .iter()
                    .map(|i| i["data"]["n"].as_u64().unwrap_or(0))
                    .sum();
                if matches!(mode, Mode::Embedded) {
                    assert_eq!(total, 100, "half a batch was visible: {v}");
                }
                reads += 1;
            }
            reads
        })
    };
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let (c, a) = (c.clone(), a.clone());
        tasks.push(tokio::spawn(async move {
            let mut acknowledged = 0u64;
            for _ in 0..3 {
                loop {
                    let list = c.db(&a, "GET", "/db/acct", None).await.json();
                    let items = list["items"].as_array().expect("items").clone();
                    let (from, to) = (&items[0], &items[1]);
                    let n = |i: &Value| i["data"]["n"].as_u64().unwrap_or(0);
                    let tag = |i: &Value| format!("\"{}\"", i["version"]);
                    let ops = json!({"operations": [
                        {"op": "put", "collection": "acct", "id": "a", "data": {"n": n(from) - 1}, "ifMatch": tag(from)},
                        {"op": "put", "collection": "acct", "id": "b", "data": {"n": n(to) + 1}, "ifMatch": tag(to)},
                    ]});
                    let r = c.db(&a, "POST", "/db", Some(ops)).await;
                    match r.status.as_u16() {
                        200 => {
                            acknowledged += 1;
                            break;
                        }
                        412 | 503 => continue,
                        s => panic!("unexpected {s}: {}", String::from_utf8_lossy(&r.body)),
                    }
                }
            }
            acknowledged
        }));
    }
    let mut acknowledged = 0;
    for t in tasks {
        acknowledged += t.await.expect("task");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reader.await.expect("reader") > 0);
    assert_eq!(acknowledged, 18);
    let end = c.db(&a, "GET", "/db/acct", None).await.json();
    let items = end["items"].as_array().expect("items");
    let state: Vec<(u64, u64)> = items
        .iter()
        .map(|i| {
            (
                i["data"]["n"].as_u64().unwrap_or(0),
                i["version"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        state,
        [(100 - 18, 19), (18, 19)],
        "every acknowledged batch, once"
    );
}

// ---- Collections (`GET /db`) and account deletion (`DELETE /account`) ----

both_stores!(
    collections_and_account_deletion,
    account_deletion_survives_a_kill
);

/// The user id of the `dev-alice` log-ins.
const ALICE: &str = "dev-openid-alice";

/// Calls `DELETE /account` until it answers 200 (at most `max_calls` calls, each well inside
/// the function's 10 s timeout); the 200 body and the items deleted over all calls. `during`
/// runs after each 202.
async fn delete_account(
    c: &Client,
    who: &Login,
    max_calls: usize,
    mut during: impl FnMut(&Value),
) -> (Value, u64) {
    let mut deleted = 0;
    for _ in 0..max_calls {
        let started = std::time::Instant::now();
        let r = c.db(who, "DELETE", "/account", None).await;
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "one call took {:?}",
            started.elapsed()
        );
        let body = r.json();
        deleted += body["itemsDeleted"].as_u64().unwrap_or_default();
        match r.status.as_u16() {
            202 => {
                assert_eq!(body["status"], "deleting", "{body}");
                during(&body);
            }
            200 => {
                assert_eq!(body["status"], "deleted", "{body}");
                return (body, deleted);
            }
            503 => r.assert_error(503, "StorageUnavailable"),
            other => panic!("DELETE /account answered {other}: {body}"),
        }
    }
    panic!("the deletion did not finish in {max_calls} calls");
}

async fn collections_and_account_deletion(mode: Mode) {
    let w = world(mode, &[]).await;
    let c = &w.client;
    let (a1, a2, bob) = (
        c.login("dev-alice").await,
        c.login("dev-alice").await,
        c.login("dev-bob").await,
    );
    let empty = json!({"collections": [], "nextCursor": null});
    assert_eq!(c.db(&a1, "GET", "/db", None).await.json(), empty);
    for i in 0..3 {
        let r = c.db(&a1, "POST", "/db/todos", Some(json!({"i": i}))).await;
        assert_eq!(r.status, 201);
        let r = c.db(&bob, "POST", "/db/todos", Some(json!({"i": i}))).await;
        assert_eq!(r.status, 201);
    }
    for i in 0..2 {
        let r = c
            .db(&a2, "PUT", &format!("/db/notes/n{i}"), Some(json!({})))
            .await;
        // Not 201 exactly: under load the AWS SDK may retry a PUT whose first attempt landed
        // (PUT carries no write mark, unlike POST), which then answers 200 at version 2.
        assert!(r.status.is_success(), "{}", r.json());
    }
    // Only the caller's own collections, by name, with exact counts (from any device).
    let mine = json!({"collections": [{"name": "notes", "count": 2}, {"name": "todos", "count": 3}],
                      "nextCursor": null});
    assert_eq!(c.db(&a1, "GET", "/db", None).await.json(), mine);
    assert_eq!(c.db(&a2, "GET", "/db", None).await.json(), mine);
    let bobs = json!({"collections": [{"name": "todos", "count": 3}], "nextCursor": null});
    assert_eq!(c.db(&bob, "GET", "/db", None).await.json(), bobs);
    c.db(&a1, "GET", "/db?cursor=not-a-cursor", None)
        .await
        .assert_error(400, "InvalidQuery");
    let r = c.db(&a1, "PUT", "/db", Some(json!({}))).await;
    r.assert_error(405, "MethodNotAllowed");
    assert_eq!(r.headers["allow"], "POST, GET");
    c.raw("DELETE", &format!("{}/account", w.db.url), &[], Vec::new())
        .await
        .assert_error(401, "MissingAuthorization");

    let mut pending = 0;
    let (_, deleted) = delete_account(c, &a1, 20, |_| pending += 1).await;
    assert_eq!(deleted, 5);
    if matches!(mode, Mode::Dynamo) {
        // DynamoDB waits out its settle time first (docs/api.md §4.8): 202s before the 200.
        assert!(pending >= 1, "{pending}");
    }
    // Every device of alice's is logged out, refresh included; the deleting one too.
    for who in [&a1, &a2] {
        c.db(who, "GET", "/db", None)
            .await
            .assert_error(401, "SessionRevoked");
    }
    c.session(&a2, "POST", "/session/refresh")
        .await
        .assert_error(401, "SessionRevoked");
    c.db(&a1, "DELETE", "/account", None)
        .await
        .assert_error(401, "SessionRevoked");
    // Bob lost nothing.
    assert_eq!(c.db(&bob, "GET", "/db", None).await.json(), bobs);
    // A new log-in of alice starts a fresh, empty account.
    let a3 = c.login("dev-alice").await;
    assert_eq!(a3.user_id, ALICE);
    assert_eq!(c.db(&a3, "GET", "/db", None).await.json(), empty);
    let list = c.db(&a3, "GET", "/db/todos", None).await.json();
    assert_eq!(list, json!({"items": [], "nextCursor": null}));
    c.db(&a3, "GET", "/db/notes/n0", None)
        .await
        .assert_error(404, "NotFound");
    let r = c.db(&a3, "PUT", "/db/notes/n0", Some(json!({}))).await;
    assert!(r.status.is_success(), "{}", r.json());
    let fresh = json!({"collections": [{"name": "notes", "count": 1}], "nextCursor": null});
    assert_eq!(c.db(&a3, "GET", "/db", None).await.json(), fresh);
}

/// What remains of a user in the store, read directly.
#[derive(Debug, PartialEq, Eq, Default)]
struct Remains {
    items: u64,
    /// Anything else keyed by the user in the data table (registry, deletion marker).
    other_data: u64,
    live_sessions: u64,
}

/// Reads and fills the functions' store directly, as the functions cannot.
enum Direct {
    Embedded(std::path::PathBuf),
    Dynamo {
        client: aws_sdk_dynamodb::Client,
        store: miniapp_shared::store::Store,
        sessions_table: String,
        data_table: String,
    },
}

impl Direct {
    async fn open(store: &StoreMode) -> Self {
        match store {
            StoreMode::Embedded(path) => Self::Embedded(path.clone()),
            StoreMode::Dynamo {
                endpoint,
                sessions_table,
                data_table,
            } => {
                use aws_sdk_dynamodb::config::Credentials;
                let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .endpoint_url(endpoint)
                    .region(aws_config::Region::new("us-east-1"))
                    .credentials_provider(Credentials::new("test", "test", None, None, "t"))
                    .load()
                    .await;
                let cfg = miniapp_shared::store::StoreConfig {
                    kind: miniapp_shared::store::StoreKind::Dynamo {
                        sessions_table: sessions_table.clone(),
                        data_table: data_table.clone(),
                        create_tables: false,
                    },
                    cursor_key: miniapp_shared::secret::SecretBytes::new(vec![7; 32]).into(),
                };
                let store = miniapp_shared::store::DynamoStore::open_with_sdk_config(&sdk, &cfg)
                    .await
                    .expect("open the functions' tables");
                Self::Dynamo {
                    client: aws_sdk_dynamodb::Client::new(&sdk),
                    store: miniapp_shared::store::Store::Dynamo(store),
                    sessions_table: sessions_table.clone(),
                    data_table: data_table.clone(),
                }
            }
        }
    }

    /// Writes `per` items into each of `collections` of `user`, straight into the store
    /// (SQLite: one transaction; DynamoDB: the registry hook, then batches of 25).
    async fn fill(&self, user: &str, collections: &[&str], per: usize) {
        match self {
            Self::Embedded(path) => {
                let mut db = rusqlite::Connection::open(path).expect("open");
                db.busy_timeout(Duration::from_secs(10)).expect("timeout");
                let tx = db.transaction().expect("tx");
                {
                    let mut st = tx
                        .prepare(
                            "INSERT INTO items (user_id, collection, id, version, created_at,
                             updated_at, data) VALUES (?1, ?2, ?3, 1, 0, 0, '{\"n\":1}')",
                        )
                        .expect("prepare");
                    for coll in collections {
                        for i in 0..per {
                            st.execute(rusqlite::params![user, coll, format!("i{i:06}")])
                                .expect("insert");
                        }
                    }
                }
                tx.commit().expect("commit");
            }
            Self::Dynamo {
                client,
                store,
                data_table,
                ..
            } => {
                use aws_sdk_dynamodb::types::{AttributeValue as Av, PutRequest, WriteRequest};
                let uid = miniapp_shared::ids::UserId::parse(user).expect("user");
                for coll in collections {
                    let c = miniapp_shared::ids::Collection::parse(coll).expect("coll");
                    store.register_collection(&uid, &c).await.expect("register");
                    let pk = format!("{}:{user}/{coll}", user.len());
                    let ids: Vec<String> = (0..per).map(|i| format!("i{i:06}")).collect();
                    for chunk in ids.chunks(25) {
                        let writes = chunk
                            .iter()
                            .map(|id| {
                                let item = std::collections::HashMap::from([
                                    ("pk".to_owned(), Av::S(pk.clone())),
                                    ("sk".to_owned(), Av::S(id.clone())),
                                    ("version".to_owned(), Av::N("1".into())),
                                    ("createdAt".to_owned(), Av::N("0".into())),
                                    ("updatedAt".to_owned(), Av::N("0".into())),
                                    ("data".to_owned(), Av::M(Default::default())),
                                ]);
                                let put = PutRequest::builder().set_item(Some(item)).build();
                                WriteRequest::builder()
                                    .put_request(put.expect("put"))
                                    .build()
                            })
                            .collect();
                        let out = client
                            .batch_write_item()
                            .request_items(data_table, writes)
                            .send()
                            .await
                            .expect("batch");
                        assert!(out.unprocessed_items.unwrap_or_default().is_empty());
                    }
                }
            }
        }
    }

    /// Everything of `user` left in the store.
    async fn remains(&self, user: &str) -> Remains {
        match self {
            Self::Embedded(path) => {
                let db = rusqlite::Connection::open(path).expect("open");
                db.busy_timeout(Duration::from_secs(10)).expect("timeout");
                let count = |sql: &str| -> u64 {
                    db.query_row(sql, [user], |r| r.get::<_, i64>(0))
                        .map(|n| n as u64)
                        .expect(sql)
                };
                Remains {
                    items: count("SELECT count(*) FROM items WHERE user_id = ?1"),
                    other_data: count("SELECT count(*) FROM account_deletions WHERE user_id = ?1"),
                    live_sessions: count(
                        "SELECT count(*) FROM sessions WHERE user_id = ?1 AND revoked = 0",
                    ),
                }
            }
            Self::Dynamo {
                client,
                sessions_table,
                data_table,
                ..
            } => {
                use aws_sdk_dynamodb::types::AttributeValue as Av;
                let mut r = Remains::default();
                let prefix = format!("{}:{user}", user.len());
                for item in scan(client, data_table).await {
                    match item.get("pk") {
                        Some(Av::S(pk)) if pk.starts_with(&format!("{prefix}/")) => r.items += 1,
                        Some(Av::S(pk)) if pk.starts_with(&prefix) => r.other_data += 1,
                        _ => {}
                    }
                }
                for item in scan(client, sessions_table).await {
                    let mine = item.get("userId") == Some(&Av::S(user.to_owned()));
                    if mine && item.get("revoked") != Some(&Av::Bool(true)) {
                        r.live_sessions += 1;
                    }
                }
                r
            }
        }
    }

    /// Just the user's items (cheap enough to poll).
    async fn items(&self, user: &str) -> u64 {
        match self {
            Self::Embedded(path) => {
                let db = rusqlite::Connection::open(path).expect("open");
                db.busy_timeout(Duration::from_secs(10)).expect("timeout");
                db.query_row(
                    "SELECT count(*) FROM items WHERE user_id = ?1",
                    [user],
                    |r| r.get::<_, i64>(0),
                )
                .map(|n| n as u64)
                .expect("count")
            }
            Self::Dynamo { .. } => self.remains(user).await.items,
        }
    }
}

async fn scan(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    let mut all = Vec::new();
    let mut start = None;
    loop {
        let out = client
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .expect("scan");
        all.extend(out.items.unwrap_or_default());
        match out.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => return all,
        }
    }
}

/// The issue's case: a user with many items (100 000 on SQLite; 2 000 on moto, which takes
/// tens of milliseconds per batch of 25 and would need minutes for more) is deleted across
/// repeated calls, each well inside the function's timeout, with the db function killed
/// (SIGKILL) in the middle of a call and restarted; the deletion resumes, completes and leaves
/// nothing of the user (items, registry and marker, live sessions), and nothing of bob's goes.
async fn account_deletion_survives_a_kill(mode: Mode) {
    let dir = tempfile::tempdir().expect("tempdir");
    let gateway = start_gateway().await;
    let store = match mode {
        Mode::Embedded => StoreMode::Embedded(dir.path().join("data.db")),
        Mode::Dynamo => StoreMode::fresh_dynamo(),
    };
    let env = function_env(&gateway.url(), &store);
    let session = HttpFunction::spawn("session", &env).await;
    let mut db = HttpFunction::spawn("db", &env).await;
    let mut c = Client::new(&session.url, &db.url);
    let (a1, a2, bob) = (
        c.login("dev-alice").await,
        c.login("dev-alice").await,
        c.login("dev-bob").await,
    );
    assert_eq!(
        c.db(&bob, "PUT", "/db/todos/keep", Some(json!({})))
            .await
            .status,
        201
    );
    let direct = Direct::open(&store).await;
    let (collections, per): (&[&str], usize) = match mode {
        Mode::Embedded => (&["todos", "notes", "photos", "logs"], 25_000),
        Mode::Dynamo => (&["todos", "notes"], 1_000),
    };
    direct.fill(ALICE, collections, per).await;
    let total = (collections.len() * per) as u64;
    assert_eq!(direct.items(ALICE).await, total);

    // Call after call; during the first that deletes items, kill the function mid-call.
    let mut killed = false;
    let mut calls = 0;
    loop {
        calls += 1;
        assert!(calls <= 60, "no end after {calls} calls");
        let (client, who) = (c.clone(), a1.clone());
        let call = tokio::spawn(async move { client.db(&who, "DELETE", "/account", None).await });
        if !killed {
            while !call.is_finished() {
                let left = direct.items(ALICE).await;
                if left > 0 && left < total {
                    db.kill();
                    killed = true;
                    break;
                }
                // A scan of moto's table is slow: poll it less, so as not to load it.
                let pause = if matches!(mode, Mode::Dynamo) { 100 } else { 5 };
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
            if killed {
                // The killed call has no answer (its task panics on the broken connection).
                assert!(call.await.is_err(), "the killed call answered");
                let left = direct.items(ALICE).await;
                assert!(left > 0 && left < total, "{left}");
                db = HttpFunction::spawn("db", &env).await;
                c = Client::new(&session.url, &db.url);
                // The marker survived the crash: alice's writes are still refused.
                c.db(&a2, "PUT", "/db/todos/late", Some(json!({})))
                    .await
                    .assert_error(409, "AccountDeleting");
                continue;
            }
        }
        let started = std::time::Instant::now();
        let r = call.await.expect("the call answered");
        assert!(started.elapsed() < Duration::from_secs(8));
        match r.status.as_u16() {
            202 => assert_eq!(r.json()["status"], "deleting"),
            200 => {
                assert_eq!(r.json()["status"], "deleted");
                break;
            }
            // A loaded moto may time out: 503 says call again (docs/api.md §2.2).
            503 => r.assert_error(503, "StorageUnavailable"),
            other => panic!(
                "call {calls}: {other}: {}",
                String::from_utf8_lossy(&r.body)
            ),
        }
    }
    assert!(killed, "the deletion ended before the kill could happen");
    assert_eq!(direct.remains(ALICE).await, Remains::default());
    c.db(&a2, "GET", "/db", None)
        .await
        .assert_error(401, "SessionRevoked");
    let bobs = json!({"collections": [{"name": "todos", "count": 1}], "nextCursor": null});
    assert_eq!(c.db(&bob, "GET", "/db", None).await.json(), bobs);
    let a3 = c.login("dev-alice").await;
    let empty = json!({"collections": [], "nextCursor": null});
    assert_eq!(c.db(&a3, "GET", "/db", None).await.json(), empty);
}
