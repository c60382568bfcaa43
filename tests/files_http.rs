//! Files end to end through the db function in HTTP-server mode, on both stores (the local file
//! backend in both): `POST /files`, the upload to the URL it signs (served by the function
//! itself, streamed), `GET /files/{id}`, the download, listing, deletion, isolation, limits
//! and their error codes.

#![allow(clippy::expect_used)]

use integration_tests::functions::{
    function_env, start_gateway, Client, HttpFunction, Login, Reply, StoreMode,
};
use miniapp_shared::alipay::StandinHandle;
use serde_json::{json, Value};
use tempfile::TempDir;

/// A 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

struct World {
    client: Client,
    db: HttpFunction,
    _session: HttpFunction,
    _gateway: StandinHandle,
    dir: TempDir,
}

#[derive(Clone, Copy, Debug)]
enum Mode {
    Embedded,
    Dynamo,
}

async fn world(mode: Mode, extra: &[(&str, &str)]) -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let gateway = start_gateway().await;
    let store = match mode {
        Mode::Embedded => StoreMode::Embedded(dir.path().join("data.db")),
        Mode::Dynamo => StoreMode::fresh_dynamo(),
    };
    let mut env = function_env(&gateway.url(), &store);
    env.push((
        "MINIAPP_FILES_DIR".into(),
        dir.path().join("files").display().to_string(),
    ));
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let session = HttpFunction::spawn("session", &env).await;
    let db = HttpFunction::spawn("db", &env).await;
    World {
        client: Client::new(&session.url, &db.url),
        db,
        _session: session,
        _gateway: gateway,
        dir,
    }
}

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

both_stores!(upload_read_list_delete, limits_and_isolation);

/// The upload's absolute URL (the function signs relative links when no public URL is set).
fn absolute(w: &World, url: &str) -> String {
    if url.starts_with('/') {
        format!("{}{url}", w.db.url)
    } else {
        url.to_owned()
    }
}

async fn announce(w: &World, who: &Login, name: &str, ctype: &str, size: usize) -> Reply {
    w.client
        .db(
            who,
            "POST",
            "/files",
            Some(json!({"name": name, "contentType": ctype, "size": size})),
        )
        .await
}

/// Sends the form `POST /files` answered, with the file last.
async fn upload(w: &World, created: &Value, bytes: &[u8]) -> reqwest::Response {
    let upload = &created["upload"];
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in upload["fields"].as_object().expect("fields") {
        form = form.text(k.clone(), v.as_str().expect("text field").to_owned());
    }
    let file_field = upload["fileField"].as_str().expect("fileField").to_owned();
    form = form.part(
        file_field,
        reqwest::multipart::Part::bytes(bytes.to_vec()).file_name("x.png"),
    );
    reqwest::Client::new()
        .post(absolute(w, upload["url"].as_str().expect("url")))
        .multipart(form)
        .send()
        .await
        .expect("upload")
}

async fn upload_read_list_delete(mode: Mode) {
    let w = world(mode, &[]).await;
    let alice = w.client.login("dev-alice").await;
    let created = announce(&w, &alice, "Holiday photo.png", "image/png", PNG.len()).await;
    assert_eq!(created.status, 201, "{:?}", created.json());
    let c = created.json();
    let id = c["id"].as_str().expect("id").to_owned();
    assert_eq!(c["upload"]["method"], "POST");
    assert_eq!(c["put"]["method"], "PUT");
    assert!(c["expiresAt"].as_str().expect("expiresAt").ends_with('Z'));
    let pending = w
        .client
        .db(&alice, "GET", &format!("/files/{id}"), None)
        .await;
    assert_eq!(pending.json()["status"], "pending");
    assert!(pending.json().get("url").is_none());

    // A large body goes through: the upload is streamed, not held to the API's body limit.
    let resp = upload(&w, &c, PNG).await;
    assert_eq!(
        resp.status(),
        204,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    let ready = w
        .client
        .db(&alice, "GET", &format!("/files/{id}"), None)
        .await;
    let r = ready.json();
    assert_eq!(
        (r["status"].as_str(), r["size"].as_u64()),
        (Some("ready"), Some(PNG.len() as u64))
    );
    assert_eq!(r["name"], "Holiday photo.png");
    assert_eq!(r["contentType"], "image/png");
    let got = reqwest::get(absolute(&w, r["url"].as_str().expect("url")))
        .await
        .expect("download");
    assert_eq!(got.status(), 200);
    assert_eq!(got.headers()["content-type"], "image/png");
    assert_eq!(got.bytes().await.expect("bytes").as_ref(), PNG);
    // The object is on disk under the user's opaque prefix.
    let key = c["upload"]["fields"]["key"].as_str().expect("key");
    assert!(
        key.starts_with("users/") && key.ends_with(&id) && !key.contains("alice"),
        "{key}"
    );
    assert!(w.dir.path().join("files").join(key).exists());

    let list = w.client.db(&alice, "GET", "/files?limit=10", None).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.json()["items"][0]["id"], id.as_str());
    assert_eq!(list.json()["nextCursor"], Value::Null);

    let del = w
        .client
        .db(&alice, "DELETE", &format!("/files/{id}"), None)
        .await;
    assert_eq!(del.status, 204);
    assert!(!w.dir.path().join("files").join(key).exists());
    w.client
        .db(&alice, "GET", &format!("/files/{id}"), None)
        .await
        .assert_error(404, "NotFound");
    let gone = reqwest::get(absolute(&w, r["url"].as_str().expect("url")))
        .await
        .expect("download");
    assert_eq!(gone.status(), 404);
}

async fn limits_and_isolation(mode: Mode) {
    let w = world(
        mode,
        &[
            ("MINIAPP_FILES_QUOTA_COUNT", "2"),
            ("MINIAPP_FILES_MAX_BYTES", "1000"),
        ],
    )
    .await;
    let (alice, bob) = (
        w.client.login("dev-alice").await,
        w.client.login("dev-bob").await,
    );
    announce(&w, &alice, "a.png", "image/png", 1001)
        .await
        .assert_error(413, "FileTooLarge");
    announce(&w, &alice, "a.html", "text/html", 10)
        .await
        .assert_error(415, "UnsupportedFileType");
    let bad = w
        .client
        .db(&alice, "POST", "/files", Some(json!({"name": "a"})))
        .await;
    bad.assert_error(400, "InvalidRequest");
    let c = announce(&w, &alice, "a.png", "image/png", PNG.len())
        .await
        .json();
    let id = c["id"].as_str().expect("id").to_owned();
    announce(&w, &alice, "b.png", "image/png", 10).await;
    announce(&w, &alice, "c.png", "image/png", 10)
        .await
        .assert_error(403, "FileQuotaExceeded");
    // Oversize uploads are refused in S3's words.
    let resp = upload(&w, &c, &[0u8; 200]).await;
    assert_eq!(resp.status(), 400);
    assert!(resp
        .text()
        .await
        .expect("body")
        .contains("<Code>EntityTooLarge</Code>"));
    upload(&w, &c, PNG).await;
    // Bob sees nothing of Alice's.
    w.client
        .db(&bob, "GET", &format!("/files/{id}"), None)
        .await
        .assert_error(404, "NotFound");
    w.client
        .db(&bob, "DELETE", &format!("/files/{id}"), None)
        .await
        .assert_error(404, "NotFound");
    assert_eq!(
        w.client.db(&bob, "GET", "/files", None).await.json()["items"],
        json!([])
    );
    assert_eq!(
        w.client
            .db(&alice, "GET", &format!("/files/{id}"), None)
            .await
            .json()["status"],
        "ready"
    );
    // Ids are UUIDs; the upload path is the file backend's, not a file id.
    w.client
        .db(&alice, "GET", "/files/not-a-uuid", None)
        .await
        .assert_error(400, "InvalidId");
    // Only the upload's POST is the file backend's: other methods are the API's.
    w.client
        .db(&alice, "GET", "/files/_upload", None)
        .await
        .assert_error(400, "InvalidId");
    w.client
        .db(&alice, "DELETE", "/files/_upload", None)
        .await
        .assert_error(400, "InvalidId");
    let plain = w
        .client
        .raw(
            "POST",
            &format!("{}/files/_upload", w.db.url),
            &[],
            b"x".to_vec(),
        )
        .await;
    assert_eq!(plain.status, 412, "not multipart: S3's PreconditionFailed");
    assert!(String::from_utf8_lossy(&plain.body).contains("<Code>PreconditionFailed</Code>"));
    // The API's routes need a signature.
    let unsigned = w
        .client
        .raw("POST", &format!("{}/files", w.db.url), &[], b"{}".to_vec())
        .await;
    unsigned.assert_error(401, "MissingAuthorization");
    w.client
        .db(&alice, "GET", "/files?limit=0", None)
        .await
        .assert_error(400, "InvalidQuery");
}

both_stores!(account_deletion_removes_files);

/// `DELETE /account` (docs/api.md §4.8) deletes the caller's files, objects and records, and
/// nobody else's.
async fn account_deletion_removes_files(mode: Mode) {
    let w = world(mode, &[]).await;
    let (alice, bob) = (
        w.client.login("dev-alice").await,
        w.client.login("dev-bob").await,
    );
    let mut keys = Vec::new();
    for who in [&alice, &alice, &bob] {
        let c = announce(&w, who, "p.png", "image/png", PNG.len())
            .await
            .json();
        assert_eq!(upload(&w, &c, PNG).await.status(), 204);
        keys.push(
            c["upload"]["fields"]["key"]
                .as_str()
                .expect("key")
                .to_owned(),
        );
    }
    // One announced and never uploaded: its record goes too.
    assert_eq!(
        announce(&w, &alice, "q.png", "image/png", 10).await.status,
        201
    );
    let on_disk = |key: &str| w.dir.path().join("files").join(key).exists();
    assert!(keys.iter().all(|k| on_disk(k)));
    // Each call works at most 5 s (DynamoDB first waits 15 s for writes in flight).
    let mut done = false;
    for _ in 0..12 {
        let r = w.client.db(&alice, "DELETE", "/account", None).await;
        assert!(r.status == 200 || r.status == 202, "{:?}", r.json());
        if r.status == 200 {
            done = true;
            break;
        }
    }
    assert!(done, "the deletion finished");
    assert!(
        !on_disk(&keys[0]) && !on_disk(&keys[1]),
        "alice's objects are gone"
    );
    assert!(on_disk(&keys[2]), "bob's object is kept");
    let again = w.client.login("dev-alice").await;
    let list = w.client.db(&again, "GET", "/files", None).await;
    assert_eq!(
        list.json()["items"],
        json!([]),
        "no record of alice's is left"
    );
    let bobs = w.client.db(&bob, "GET", "/files", None).await;
    assert_eq!(bobs.json()["items"].as_array().map(Vec::len), Some(1));
}
