//! Files through the db function in Lambda mode (API Gateway v2 events on its Runtime API), on
//! both stores. The upload and download URLs are served, as `miniapp dev`'s front serves them, by
//! the local backend that `files::local_backend_from_env` opens from the function's own
//! environment: the function signs, the front verifies, with nothing shared but configuration.

#![allow(clippy::expect_used)]

use integration_tests::events::signed;
use integration_tests::functions::{function_env, login_from, start_gateway, StoreMode};
use integration_tests::lambda::LambdaFunction;
use miniapp_shared::files::{local_backend_from_env, LocalBackend};
use serde_json::{json, Value};
use test_support::fixtures::event as fixture;

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n not really a picture, but bytes";

fn status(resp: &Value) -> u64 {
    resp["statusCode"].as_u64().unwrap_or_default()
}

fn body_json(resp: &Value) -> Value {
    serde_json::from_str(resp["body"].as_str().unwrap_or_default()).unwrap_or(Value::Null)
}

/// A v2 event for `method path` with a JSON body (unsigned; `signed` signs it).
fn event(method: &str, path: &str, body: Option<Value>) -> Value {
    let mut e = fixture("apigw-v2-put-db-todo.json");
    e["rawPath"] = json!(path);
    e["rawQueryString"] = json!("");
    e["requestContext"]["http"]["path"] = json!(path);
    e["requestContext"]["http"]["method"] = json!(method);
    e["routeKey"] = json!(format!("ANY {path}"));
    e["isBase64Encoded"] = json!(false);
    match body {
        Some(b) => e["body"] = json!(b.to_string()),
        None => {
            e.as_object_mut().expect("object").remove("body");
        }
    }
    e
}

/// The front: serves the local backend's URLs on a loopback port.
async fn serve_front(local: LocalBackend, listener: tokio::net::TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let local = local.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let local = local.clone();
                async move { Ok::<_, std::convert::Infallible>(local.serve(req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                .await;
        });
    }
}

async fn scenario(store: StoreMode, dir: &tempfile::TempDir) {
    let gateway = start_gateway().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let front = format!("http://{}", listener.local_addr().expect("addr"));
    let mut env = function_env(&gateway.url(), &store);
    env.push((
        "MINIAPP_FILES_DIR".into(),
        dir.path().join("files").display().to_string(),
    ));
    env.push(("MINIAPP_FILES_PUBLIC_URL".into(), front.clone()));
    let lookup = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let local = local_backend_from_env(&lookup)
        .expect("config")
        .expect("a local backend");
    tokio::spawn(serve_front(local, listener));
    let mut session = LambdaFunction::spawn("session", &env).await;
    let mut db = LambdaFunction::spawn("db", &env).await;

    let mut login = fixture("apigw-v2-post-session.json");
    login["body"] = json!(json!({"authCode": "dev-alice"}).to_string());
    let (_, resp) = session.invoke(&login).await;
    let alice = login_from(body_json(&resp));

    let announce = json!({"name": "a.png", "contentType": "image/png", "size": PNG.len()});
    let (_, created) = db
        .invoke(&signed(event("POST", "/files", Some(announce)), &alice))
        .await;
    assert_eq!(status(&created), 201, "{created}");
    let c = body_json(&created);
    let id = c["id"].as_str().expect("id").to_owned();
    let upload_url = c["upload"]["url"].as_str().expect("url");
    assert_eq!(upload_url, format!("{front}/files/_upload"));

    let mut form = reqwest::multipart::Form::new();
    for (k, v) in c["upload"]["fields"].as_object().expect("fields") {
        form = form.text(k.clone(), v.as_str().expect("text").to_owned());
    }
    form = form.part("file", reqwest::multipart::Part::bytes(PNG.to_vec()));
    let up = reqwest::Client::new()
        .post(upload_url)
        .multipart(form)
        .send()
        .await
        .expect("upload");
    assert_eq!(up.status(), 204);

    let (_, got) = db
        .invoke(&signed(event("GET", &format!("/files/{id}"), None), &alice))
        .await;
    assert_eq!(status(&got), 200, "{got}");
    let file = body_json(&got);
    assert_eq!(file["status"], "ready");
    let bytes = reqwest::get(file["url"].as_str().expect("url"))
        .await
        .expect("get")
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(bytes.as_ref(), PNG);

    let (_, list) = db
        .invoke(&signed(event("GET", "/files", None), &alice))
        .await;
    assert_eq!(body_json(&list)["items"][0]["id"], id.as_str());
    let (_, del) = db
        .invoke(&signed(
            event("DELETE", &format!("/files/{id}"), None),
            &alice,
        ))
        .await;
    assert_eq!(status(&del), 204);
    let (_, gone) = db
        .invoke(&signed(event("GET", &format!("/files/{id}"), None), &alice))
        .await;
    assert_eq!(
        (status(&gone), body_json(&gone)["error"]["code"].clone()),
        (404, json!("NotFound"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_in_lambda_mode_embedded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = StoreMode::Embedded(dir.path().join("data.db"));
    scenario(store, &dir).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_in_lambda_mode_dynamodb() {
    let dir = tempfile::tempdir().expect("tempdir");
    scenario(StoreMode::fresh_dynamo(), &dir).await;
}
