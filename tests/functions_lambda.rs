//! The two functions as real processes in Lambda mode, driven through a Runtime API server
//! with the API Gateway v2 events stored under `shared/tests/fixtures/events/`.

use integration_tests::events::signed;
use integration_tests::functions::{
    function_env, login_from, start_cert_gateway, start_gateway, start_wechat,
    use_certificate_mode, wechat_env, Client, HttpFunction, StoreMode,
};
use integration_tests::lambda::LambdaFunction;
use serde_json::{json, Value};
use test_support::fixtures::event as fixture;
use test_support::headers;
use test_support::runtime_api::{PostKind, Scripted};

fn body_json(resp: &Value) -> Value {
    let text = resp["body"].as_str().unwrap_or_default();
    serde_json::from_str(text).unwrap_or(Value::Null)
}

fn status(resp: &Value) -> u64 {
    resp["statusCode"].as_u64().unwrap_or_default()
}

/// `GET /db/todos/milk` (the stored GET event, re-pathed) with extra headers; unsigned.
fn get_milk(extra: &[(&str, &str)]) -> Value {
    let mut e = fixture("apigw-v2-get-db-todo.json");
    e["rawPath"] = json!("/db/todos/milk");
    e["requestContext"]["http"]["path"] = json!("/db/todos/milk");
    for (k, v) in extra {
        e["headers"][*k] = json!(v);
    }
    e
}

async fn scenario(store: StoreMode) {
    let gateway = start_gateway().await;
    let env = function_env(&gateway.url(), &store);
    let mut session = LambdaFunction::spawn_at("session", &env, "/base/path").await;
    let mut db = LambdaFunction::spawn_at("db", &env, "/base/path").await;

    let mut login = fixture("apigw-v2-post-session.json");
    login["body"] = json!(json!({"authCode": "dev-alice"}).to_string());
    let (id, resp) = session.invoke(&login).await;
    assert_eq!(status(&resp), 201, "{resp}");
    assert_eq!(
        resp["headers"]["x-request-id"],
        json!(id),
        "the request id is the Lambda request id"
    );
    assert_eq!(resp["isBase64Encoded"], json!(false));
    assert!(resp["cookies"].is_array());
    let alice = login_from(body_json(&resp));
    assert_eq!(alice.user_id, "dev-openid-alice");

    for name in [
        "apigw-v2-get-session.json",
        "apigw-v2-get-session-cookies.json",
    ] {
        let (_, r) = session.invoke(&signed(fixture(name), &alice)).await;
        assert_eq!(
            body_json(&r)["sessionId"],
            json!(alice.session_id),
            "{name}: {r}"
        );
    }
    let (_, r) = db
        .invoke(&signed(fixture("apigw-v2-put-db-todo.json"), &alice))
        .await;
    // The stored PUT carries If-Match "3" and the item does not exist yet: 412.
    assert_eq!(
        (status(&r), body_json(&r)["error"]["code"].clone()),
        (412, json!("PreconditionFailed"))
    );
    let mut put = fixture("apigw-v2-put-db-todo.json");
    put["headers"]
        .as_object_mut()
        .unwrap_or_else(|| panic!("the stored PUT has no headers"))
        .remove("if-match");
    let (_, r) = db.invoke(&signed(put, &alice)).await;
    assert_eq!(status(&r), 201, "{r}");
    assert_eq!(r["headers"]["etag"], json!("\"1\""));
    // A GET whose If-None-Match names the current version: 304, the ETag, no body.
    let (_, r) = db
        .invoke(&signed(get_milk(&[("if-none-match", "W/\"1\"")]), &alice))
        .await;
    assert_eq!(status(&r), 304, "{r}");
    assert_eq!(r["headers"]["etag"], json!("\"1\""));
    assert_eq!(r["body"].as_str().unwrap_or_default(), "", "{r}");
    assert!(r["headers"].get("content-type").is_none(), "{r}");
    let (_, r) = db
        .invoke(&signed(get_milk(&[("if-none-match", "\"2\"")]), &alice))
        .await;
    assert_eq!(status(&r), 200, "{r}");
    let (_, r) = db
        .invoke(&signed(fixture("apigw-v2-patch-db-todo.json"), &alice))
        .await;
    assert_eq!(
        body_json(&r)["data"],
        json!({"title": "milk", "note": "2 litres"}),
        "{r}"
    );
    let (_, r) = db
        .invoke(&signed(fixture("apigw-v2-get-db-todo.json"), &alice))
        .await;
    assert_eq!(
        (status(&r), body_json(&r)["error"]["code"].clone()),
        (404, json!("NotFound"))
    );
    let (_, r) = db
        .invoke(&signed(
            fixture("apigw-v2-post-db-todos-base64.json"),
            &alice,
        ))
        .await;
    assert_eq!(status(&r), 201, "{r}");
    let title = body_json(&r)["data"]["title"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        title.contains('🥛') || !title.is_ascii(),
        "base64 body decoded: {title}"
    );
    let (_, r) = db
        .invoke(&signed(fixture("function-url-post-db-todos.json"), &alice))
        .await;
    assert_eq!(status(&r), 201, "{r}");
    let (_, r) = db
        .invoke(&signed(fixture("apigw-v2-list-db-todos.json"), &alice))
        .await;
    assert_eq!(
        body_json(&r),
        json!({"items": [], "nextCursor": null}),
        "prefix 2026- matches nothing"
    );
    let (_, r) = db
        .invoke(&signed(fixture("apigw-v2-delete-db-todo.json"), &alice))
        .await;
    assert_eq!(
        body_json(&r)["error"]["code"],
        json!("InvalidId"),
        "a%2Fb names the id a/b"
    );
    let (_, r) = db.invoke(&fixture("apigw-v2-get-db-todo.json")).await;
    assert_eq!(
        body_json(&r)["error"]["code"],
        json!("InvalidSecurityToken"),
        "the stored token is a dummy"
    );

    let refresh = signed(fixture("apigw-v2-post-session-refresh.json"), &alice);
    let (_, r) = session.invoke(&refresh).await;
    assert_eq!(status(&r), 200, "{r}");
    let fresh = login_from(body_json(&r));
    // The same event again (a captured request replayed): refused, nothing minted.
    let (_, r) = session.invoke(&refresh).await;
    assert_eq!(
        (status(&r), body_json(&r)["error"]["code"].clone()),
        (401, json!("InvalidSecurityToken")),
        "a replayed refresh: {r}"
    );

    // Events that are not HTTP events are that invocation's error; the next one is served.
    for name in [
        "unsupported-sqs.json",
        "unsupported-s3.json",
        "unsupported-apigw-rest-v1.json",
    ] {
        db.api.push(Scripted::event("odd", &fixture(name)));
        let post = db.api.next_post().await;
        assert_eq!(post.kind, PostKind::Error("odd".into()), "{name}");
        assert_eq!(post.json()["errorType"], json!("Runtime.UnsupportedEvent"));
    }

    let (_, r) = session
        .invoke(&signed(fixture("apigw-v2-delete-session.json"), &alice))
        .await;
    assert_eq!(status(&r), 204);
    for who in [&alice, &fresh] {
        let (_, r) = db
            .invoke(&signed(fixture("apigw-v2-list-db-todos.json"), who))
            .await;
        assert_eq!(
            body_json(&r)["error"]["code"],
            json!("SessionRevoked"),
            "revocation holds on the next request"
        );
    }
    drop((session, db));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_in_lambda_mode_embedded() {
    let dir = tempfile::tempdir().expect("tempdir");
    scenario(StoreMode::Embedded(dir.path().join("data.db"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_in_lambda_mode_dynamodb() {
    let moto = test_support::moto::MotoServer::start();
    let s = uuid::Uuid::new_v4().simple().to_string();
    scenario(StoreMode::Dynamo {
        endpoint: moto.endpoint(),
        sessions_table: format!("s-{s}"),
        data_table: format!("d-{s}"),
    })
    .await;
}

/// Both login providers in Lambda mode: WeChat beside Alipay in certificate mode, the user ids
/// of each, WeChat's busy answer with `Retry-After`, and a rotated Alipay certificate refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_providers_log_in_in_lambda_mode() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gateway = start_cert_gateway().await;
    let wechat = start_wechat().await;
    let mut env = function_env(
        &gateway.url(),
        &StoreMode::Embedded(dir.path().join("data.db")),
    );
    use_certificate_mode(&mut env);
    env.extend(wechat_env(&wechat.url()));
    let mut session = LambdaFunction::spawn_at("session", &env, "/base/path").await;
    let mut db = LambdaFunction::spawn_at("db", &env, "/base/path").await;
    let login = |body: Value| {
        let mut event = fixture("apigw-v2-post-session.json");
        event["body"] = json!(body.to_string());
        event
    };

    let (_, r) = session
        .invoke(&login(
            json!({"provider": "wechat", "code": "dev-wx-carol"}),
        ))
        .await;
    assert_eq!(status(&r), 201, "{r}");
    let carol = login_from(body_json(&r));
    assert_eq!(carol.user_id, "wechat:dev-wx-openid-carol");
    let (_, r) = session
        .invoke(&login(json!({"authCode": "dev-alice"})))
        .await;
    assert_eq!(status(&r), 201, "{r}");
    let alice = login_from(body_json(&r));
    assert_eq!(alice.user_id, "dev-openid-alice");
    assert_eq!(gateway.verified_requests(), 1);

    let mut put = fixture("apigw-v2-put-db-todo.json");
    put["headers"]
        .as_object_mut()
        .unwrap_or_else(|| panic!("the stored PUT has no headers"))
        .remove("if-match");
    let (_, r) = db.invoke(&signed(put, &carol)).await;
    assert_eq!(status(&r), 201, "{r}");
    let (_, r) = db
        .invoke(&signed(fixture("apigw-v2-get-db-todo.json"), &alice))
        .await;
    assert_eq!(body_json(&r)["error"]["code"], json!("NotFound"), "{r}");

    let (_, r) = session
        .invoke(&login(
            json!({"provider": "wechat", "code": "dev-wx-ratelimited"}),
        ))
        .await;
    assert_eq!(
        (status(&r), body_json(&r)["error"]["code"].clone()),
        (503, json!("UpstreamBusy"))
    );
    assert_eq!(r["headers"]["retry-after"], json!("60"), "{r}");
    let (_, r) = session
        .invoke(&login(json!({"authCode": "code-rotated-cert"})))
        .await;
    assert_eq!(
        (status(&r), body_json(&r)["error"]["code"].clone()),
        (502, json!("UpstreamSignatureInvalid"))
    );
    drop((session, db));
}

/// Both modes answer the same request with the same status, headers and body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_modes_answer_identically() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gateway = start_gateway().await;
    let mut env = function_env(
        &gateway.url(),
        &StoreMode::Embedded(dir.path().join("data.db")),
    );
    // The same request id in both modes: HTTP mode takes it from `x-fc-request-id` when trusted.
    env.push(("MINIAPP_TRUST_FC_REQUEST_ID".into(), "true".into()));
    let http_session = HttpFunction::spawn("session", &env).await;
    let http_db = HttpFunction::spawn("db", &env).await;
    let client = Client::new(&http_session.url, &http_db.url);
    let alice = client.login("dev-alice").await;
    client
        .db(&alice, "PUT", "/db/todos/milk", Some(json!({"t": "x"})))
        .await;
    let mut db = LambdaFunction::spawn_at("db", &env, "/base/path").await;
    let cases = [
        signed(fixture("apigw-v2-get-db-todo.json"), &alice),
        signed(fixture("apigw-v2-list-db-todos.json"), &alice),
        signed(fixture("apigw-v2-delete-db-todo.json"), &alice),
        fixture("apigw-v2-get-db-todo.json"),
        {
            let mut e = signed(fixture("apigw-v2-list-db-todos.json"), &alice);
            e["rawPath"] = json!("/db/todos/milk");
            e["requestContext"]["http"]["path"] = json!("/db/todos/milk");
            e["rawQueryString"] = json!("");
            signed(e, &alice)
        },
        signed(get_milk(&[("if-none-match", "\"1\"")]), &alice),
        signed(get_milk(&[("if-match", "\"2\"")]), &alice),
    ];
    let mut statuses = Vec::new();
    for event in cases {
        let (id, lambda) = db.invoke(&event).await;
        let method = event["requestContext"]["http"]["method"]
            .as_str()
            .unwrap_or_default();
        let url = format!(
            "{}{}?{}",
            http_db.url,
            event["rawPath"].as_str().unwrap_or_default(),
            event["rawQueryString"].as_str().unwrap_or_default()
        );
        let mut headers: Vec<(String, String)> = event["headers"]
            .as_object()
            .map(|h| {
                h.iter()
                    .filter(|(k, _)| !matches!(k.as_str(), "content-length" | "host"))
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        headers.push(("x-fc-request-id".into(), id.clone()));
        let hs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let http = client.raw(method, &url, &hs, Vec::new()).await;
        assert_eq!(status(&lambda), u64::from(http.status.as_u16()), "{url}");
        statuses.push(status(&lambda));
        assert_eq!(
            lambda["body"].as_str().unwrap_or_default().as_bytes(),
            http.body.as_slice(),
            "{url}"
        );
        assert_eq!(
            headers::of_lambda(&lambda),
            headers::of_http(&http.headers),
            "{url}"
        );
    }
    assert_eq!(statuses[5..], [304, 412], "the conditional GETs");
}

/// A bad configuration is reported through `/runtime/init/error`, then the process exits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_error_is_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut env = function_env(
        "http://127.0.0.1:9/gateway.do",
        &StoreMode::Embedded(dir.path().join("d.db")),
    );
    env.retain(|(k, _)| k != "MINIAPP_TOKEN_KEYS");
    let mut f = LambdaFunction::spawn_at("db", &env, "/base/path").await;
    let post = f.api.next_post().await;
    assert_eq!(post.kind, PostKind::InitError);
    assert!(post.json()["errorMessage"]
        .as_str()
        .unwrap_or_default()
        .contains("MINIAPP_TOKEN_KEYS"));
    let status = tokio::time::timeout(std::time::Duration::from_secs(10), f.proc.wait_exit())
        .await
        .expect("exits");
    assert!(!status.success());
}

/// A stored event re-made as `method path?query` with `body`.
fn event(method: &str, path: &str, query: &str, body: Option<&Value>) -> Value {
    let mut e = fixture("apigw-v2-put-db-todo.json");
    e["routeKey"] = json!(format!("{method} {path}"));
    e["rawPath"] = json!(path);
    e["rawQueryString"] = json!(query);
    e["requestContext"]["http"]["method"] = json!(method);
    e["requestContext"]["http"]["path"] = json!(path);
    if let Some(headers) = e["headers"].as_object_mut() {
        headers.remove("if-match");
    }
    match body {
        Some(b) => e["body"] = json!(b.to_string()),
        None => {
            if let Some(event) = e.as_object_mut() {
                event.remove("body");
            }
        }
    }
    e
}

/// Atomic batches and filtered lists through Lambda events, on one store.
async fn batch_and_where(store: StoreMode) {
    let gateway = start_gateway().await;
    let env = function_env(&gateway.url(), &store);
    let mut session = LambdaFunction::spawn("session", &env).await;
    let mut db = LambdaFunction::spawn("db", &env).await;
    let mut login = fixture("apigw-v2-post-session.json");
    login["body"] = json!(json!({"authCode": "dev-alice"}).to_string());
    let (_, resp) = session.invoke(&login).await;
    let alice = login_from(body_json(&resp));
    let ops = json!({"operations": [
        {"op": "put", "collection": "todos", "id": "a", "data": {"done": true}},
        {"op": "put", "collection": "todos", "id": "b", "data": {"done": false}},
        {"op": "put", "collection": "todos", "id": "c", "data": {"done": true}},
    ]});
    let (_, r) = db
        .invoke(&signed(event("POST", "/db", "", Some(&ops)), &alice))
        .await;
    assert_eq!(status(&r), 200, "{r}");
    assert_eq!(body_json(&r)["results"][2]["item"]["version"], 1);
    let stale = json!({"operations": [
        {"op": "delete", "collection": "todos", "id": "a"},
        {"op": "delete", "collection": "todos", "id": "c", "ifMatch": "\"2\""},
    ]});
    let (_, r) = db
        .invoke(&signed(event("POST", "/db", "", Some(&stale)), &alice))
        .await;
    assert_eq!(
        (status(&r), body_json(&r)["error"]["index"].clone()),
        (412, json!(1)),
        "{r}"
    );
    let query = "where=done%20%3D%3D%20true&limit=1";
    let (_, r) = db
        .invoke(&signed(event("GET", "/db/todos", query, None), &alice))
        .await;
    assert_eq!(status(&r), 200, "{r}");
    let page = body_json(&r);
    assert_eq!(page["items"][0]["id"], "a", "nothing was deleted: {page}");
    let cursor = page["nextCursor"]
        .as_str()
        .unwrap_or_else(|| panic!("a cursor: {page}"))
        .to_owned();
    let (_, r) = db
        .invoke(&signed(
            event(
                "GET",
                "/db/todos",
                &format!("{query}&cursor={cursor}"),
                None,
            ),
            &alice,
        ))
        .await;
    assert_eq!(body_json(&r)["items"][0]["id"], "c", "{r}");
    let (_, r) = db
        .invoke(&signed(
            event("GET", "/db/todos", "where=done%20%3D%201", None),
            &alice,
        ))
        .await;
    assert_eq!(body_json(&r)["error"]["code"], "InvalidQuery", "{r}");
    drop((session, db));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_and_where_in_lambda_mode_embedded() {
    let dir = tempfile::tempdir().expect("tempdir");
    batch_and_where(StoreMode::Embedded(dir.path().join("data.db"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_and_where_in_lambda_mode_dynamodb() {
    let moto = test_support::moto::MotoServer::start();
    let s = uuid::Uuid::new_v4().simple().to_string();
    batch_and_where(StoreMode::Dynamo {
        endpoint: moto.endpoint(),
        sessions_table: format!("s-{s}"),
        data_table: format!("d-{s}"),
    })
    .await;
}

// ---- Collections (`GET /db`) and account deletion (`DELETE /account`) in Lambda mode ----

async fn lambda_login(
    session: &mut LambdaFunction,
    code: &str,
) -> integration_tests::functions::Login {
    let mut login = fixture("apigw-v2-post-session.json");
    login["body"] = json!(json!({ "authCode": code }).to_string());
    let (_, resp) = session.invoke(&login).await;
    assert_eq!(status(&resp), 201, "{resp}");
    login_from(body_json(&resp))
}

async fn account_scenario(store: StoreMode) {
    let gateway = start_gateway().await;
    let env = function_env(&gateway.url(), &store);
    let mut session = LambdaFunction::spawn("session", &env).await;
    let mut db = LambdaFunction::spawn("db", &env).await;
    let a1 = lambda_login(&mut session, "dev-alice").await;
    let a2 = lambda_login(&mut session, "dev-alice").await;
    let bob = lambda_login(&mut session, "dev-bob").await;
    for (who, path) in [
        (&a1, "/db/todos/t1"),
        (&a2, "/db/notes/n1"),
        (&bob, "/db/todos/b1"),
    ] {
        let (_, r) = db
            .invoke(&signed(event("PUT", path, "", Some(&json!({}))), who))
            .await;
        assert!(matches!(status(&r), 200 | 201), "{r}");
    }
    let (_, r) = db.invoke(&signed(event("GET", "/db", "", None), &a1)).await;
    assert_eq!(status(&r), 200, "{r}");
    assert_eq!(
        body_json(&r),
        json!({"collections": [{"name": "notes", "count": 1}, {"name": "todos", "count": 1}],
               "nextCursor": null})
    );
    let mut answers = Vec::new();
    for _ in 0..20 {
        let (_, r) = db
            .invoke(&signed(event("DELETE", "/account", "", None), &a1))
            .await;
        answers.push((status(&r), body_json(&r)["status"].clone()));
        if status(&r) != 202 {
            break;
        }
    }
    assert_eq!(
        answers.last(),
        Some(&(200, json!("deleted"))),
        "{answers:?}"
    );
    assert!(answers[..answers.len() - 1]
        .iter()
        .all(|a| *a == (202, json!("deleting"))));
    for who in [&a1, &a2] {
        let (_, r) = db.invoke(&signed(event("GET", "/db", "", None), who)).await;
        assert_eq!(
            (status(&r), body_json(&r)["error"]["code"].clone()),
            (401, json!("SessionRevoked"))
        );
    }
    let (_, r) = db
        .invoke(&signed(event("GET", "/db", "", None), &bob))
        .await;
    assert_eq!(
        body_json(&r),
        json!({"collections": [{"name": "todos", "count": 1}], "nextCursor": null})
    );
    let a3 = lambda_login(&mut session, "dev-alice").await;
    let (_, r) = db.invoke(&signed(event("GET", "/db", "", None), &a3)).await;
    assert_eq!(
        body_json(&r),
        json!({"collections": [], "nextCursor": null})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collections_and_account_deletion_in_lambda_mode_embedded() {
    let dir = tempfile::tempdir().expect("tempdir");
    account_scenario(StoreMode::Embedded(dir.path().join("data.db"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collections_and_account_deletion_in_lambda_mode_dynamodb() {
    account_scenario(StoreMode::fresh_dynamo()).await;
}
