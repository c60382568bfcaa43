//! End to end through `miniapp dev`: the real template.yaml, the real `session` and `db`
//! binaries in Lambda mode behind the emulator, the built-in Alipay stand-in, and both stores
//! (embedded, and DynamoDB served by `moto_server`). Also the `login`/`sign`/`curl` commands,
//! with the real curl.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use http::StatusCode;
use integration_tests::binary;
use integration_tests::functions::{login_from, Client, Login, Reply};
use serde_json::{json, Value};
use test_support::dev::{Dev, DevCommand};
use test_support::moto::MotoServer;
use test_support::workspace_root;

/// A first build of the functions can take minutes on two cores.
const READY_WITHIN: Duration = Duration::from_secs(600);

/// `miniapp dev` on the repository's template; `build`: let it run cargo itself, as a person
/// would, else it runs the binaries the tests built.
fn start_dev(build: bool, env: &[(&str, &str)]) -> Dev {
    let mut dev = DevCommand::new(binary("miniapp"), workspace_root().join("template.yaml"));
    if !build {
        dev = dev.bin_dir(binary("session").parent().unwrap_or(Path::new(".")));
    }
    dev.envs(env).start(READY_WITHIN)
}

/// Ctrl-C, then the exit status must be 0.
fn stop(mut dev: Dev) {
    let status = dev.stop("INT");
    assert_eq!(
        status.code(),
        Some(0),
        "miniapp dev exit after Ctrl-C\n{}",
        dev.output()
    );
}

fn client(dev: &Dev) -> Client {
    Client::new(&dev.url, &dev.url)
}

fn text(r: &Reply) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

fn is_rfc3339_z(v: &Value) -> bool {
    let s = v.as_str().unwrap_or("");
    s.len() == 20 && s.ends_with('Z') && s.as_bytes().get(10) == Some(&b'T')
}

/// `POST /session` answers 201 in the contract's shape.
fn assert_login_shape(r: &Reply, user: &str) -> Login {
    assert_eq!(r.status, StatusCode::CREATED, "{}", text(r));
    let v = r.json();
    assert!(
        v["sessionId"].as_str().is_some_and(|s| s.len() >= 22),
        "{v}"
    );
    assert_eq!(v["userId"], user);
    assert!(is_rfc3339_z(&v["expiresAt"]), "{v}");
    let c = &v["credentials"];
    assert!(
        c["accessKeyId"]
            .as_str()
            .is_some_and(|s| s.starts_with("STS.")),
        "{v}"
    );
    assert!(
        c["accessKeySecret"].as_str().is_some_and(|s| !s.is_empty()),
        "{v}"
    );
    assert!(
        c["securityToken"].as_str().is_some_and(|s| !s.is_empty()),
        "{v}"
    );
    assert!(is_rfc3339_z(&c["expiration"]), "{v}");
    assert!(c["expiration"].as_str() <= v["expiresAt"].as_str(), "{v}");
    assert!(r.headers.contains_key("x-request-id"));
    login_from(v)
}

/// Every session route, CRUD and listing, isolation and revocation, through the emulator.
async fn scenario(dev: &Dev) {
    let c = client(dev);
    let alice = assert_login_shape(&c.login_reply("dev-alice").await, "dev-openid-alice");
    c.login_reply("dev-invalid")
        .await
        .assert_error(401, "AuthCodeInvalid");
    let carol = assert_login_shape(&c.login_reply("dev-user-carol").await, "dev-openid-carol");

    // Too many header fields reach the function, which answers the API's JSON 431 (not the
    // emulator's HTTP server with a bare one).
    let many: Vec<(String, String)> = (0..150).map(|i| (format!("x-h{i}"), "v".into())).collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    c.raw("GET", &format!("{}/session", dev.url), &many, vec![])
        .await
        .assert_error(431, "HeadersTooLarge");

    let r = c.session(&alice, "GET", "/session").await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    let v = r.json();
    assert_eq!(
        (v["sessionId"].as_str(), v["userId"].as_str()),
        (Some(alice.session_id.as_str()), Some("dev-openid-alice"))
    );
    assert!(
        is_rfc3339_z(&v["createdAt"]) && is_rfc3339_z(&v["expiresAt"]),
        "{v}"
    );

    let r = c.session(&alice, "POST", "/session/refresh").await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    let fresh = login_from(r.json());
    assert_eq!(fresh.session_id, alice.session_id);
    assert_ne!(fresh.creds.access_key_id, alice.creds.access_key_id);
    assert_eq!(
        r.json()["expiresAt"],
        alice.body["expiresAt"],
        "a refresh never extends the session"
    );

    crud(&c, &fresh).await;
    isolation(&c, &alice, &carol).await;

    c.raw("GET", &format!("{}/db/todos", dev.url), &[], Vec::new())
        .await
        .assert_error(401, "MissingAuthorization");
    c.raw("GET", &format!("{}/nowhere", dev.url), &[], Vec::new())
        .await
        .assert_error(404, "RouteNotFound");

    let r = c.session(&alice, "DELETE", "/session").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", text(&r));
    for creds in [&alice, &fresh] {
        c.session(creds, "GET", "/session")
            .await
            .assert_error(401, "SessionRevoked");
        c.db(creds, "GET", "/db/todos", None)
            .await
            .assert_error(401, "SessionRevoked");
    }
    // Carol's session is untouched.
    assert_eq!(
        c.db(&carol, "GET", "/db/todos", None).await.status,
        StatusCode::OK
    );
}

async fn crud(c: &Client, user: &Login) {
    let r = c
        .db(user, "POST", "/db/todos", Some(json!({"title": "first"})))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", text(&r));
    let item = r.json();
    assert_eq!(
        (item["version"].as_u64(), item["data"]["title"].as_str()),
        (Some(1), Some("first"))
    );
    assert_eq!(
        r.headers.get("etag").and_then(|v| v.to_str().ok()),
        Some("\"1\"")
    );
    let id = item["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(id.len(), 36, "a UUID: {item}");

    let r = c
        .db(
            user,
            "PUT",
            "/db/todos/t2",
            Some(json!({"title": "second", "done": false})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", text(&r));
    let r = c
        .db(
            user,
            "PUT",
            "/db/todos/t2",
            Some(json!({"title": "second!", "done": false})),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["version"].as_u64()),
        (StatusCode::OK, Some(2)),
        "{}",
        text(&r)
    );
    let stale = c
        .signed(
            user,
            "PUT",
            &c.db_url,
            "/db/todos/t2",
            br#"{"x":1}"#,
            &[("if-match", "\"1\"")],
        )
        .await;
    stale.assert_error(412, "PreconditionFailed");
    let r = c
        .db(
            user,
            "PATCH",
            "/db/todos/t2",
            Some(json!({"done": true, "title": null})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    assert_eq!(r.json()["data"], json!({"done": true}));
    assert_eq!(r.json()["version"], 3);

    let r = c.db(user, "GET", "/db/todos/t2", None).await;
    assert_eq!(
        (r.status, r.json()["version"].as_u64()),
        (StatusCode::OK, Some(3))
    );

    // Two items, one per page, in id order.
    let r = c.db(user, "GET", "/db/todos?limit=1", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    let first = r.json();
    assert_eq!(first["items"].as_array().map(Vec::len), Some(1), "{first}");
    let cursor = first["nextCursor"].as_str().unwrap_or_default().to_owned();
    assert!(!cursor.is_empty(), "{first}");
    let r = c
        .db(
            user,
            "GET",
            &format!("/db/todos?limit=1&cursor={cursor}"),
            None,
        )
        .await;
    let second = r.json();
    assert_eq!(
        second["items"].as_array().map(Vec::len),
        Some(1),
        "{second}"
    );
    assert_eq!(second["nextCursor"], Value::Null, "{second}");
    let mut ids = vec![
        first["items"][0]["id"].clone(),
        second["items"][0]["id"].clone(),
    ];
    let sorted = {
        let mut s = ids.clone();
        s.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        s
    };
    assert_eq!(ids, sorted);
    ids.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    let mut want = vec![json!(id), json!("t2")];
    want.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    assert_eq!(ids, want);

    let r = c.db(user, "DELETE", &format!("/db/todos/{id}"), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", text(&r));
    c.db(user, "GET", &format!("/db/todos/{id}"), None)
        .await
        .assert_error(404, "NotFound");
}

/// Alice's items are invisible and untouchable for Carol.
async fn isolation(c: &Client, alice: &Login, carol: &Login) {
    c.db(carol, "GET", "/db/todos/t2", None)
        .await
        .assert_error(404, "NotFound");
    c.db(carol, "DELETE", "/db/todos/t2", None)
        .await
        .assert_error(404, "NotFound");
    let r = c.db(carol, "GET", "/db/todos", None).await;
    assert_eq!(r.json()["items"], json!([]), "{}", text(&r));
    let r = c
        .db(carol, "PUT", "/db/todos/t2", Some(json!({"mine": "carol"})))
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "carol's own t2 is new: {}",
        text(&r)
    );
    let r = c.db(alice, "GET", "/db/todos/t2", None).await;
    assert_eq!(
        r.json()["data"],
        json!({"done": true}),
        "alice's t2 unchanged: {}",
        text(&r)
    );
}

#[tokio::test]
async fn embedded_store_and_standin_end_to_end() {
    // Let `miniapp dev` run cargo itself, as a person would.
    let dev = start_dev(true, &[]);
    let banner = dev.output();
    for part in [
        "dev-alice",
        "dev-invalid",
        "embedded",
        "data.db",
        "built-in stand-in",
    ] {
        assert!(banner.contains(part), "banner lacks {part:?}:\n{banner}");
    }
    scenario(&dev).await;
    let out = dev.output();
    assert!(
        out.contains("POST    /session") && out.contains("SessionFunction"),
        "{out}"
    );
    assert!(out.contains("DbFunction"), "{out}");
    assert!(dev.dir().join(".miniapp/data.db").is_file());
    stop(dev);
}

#[tokio::test]
async fn dynamodb_store_via_moto_end_to_end() {
    let moto = MotoServer::start();
    let endpoint = moto.endpoint();
    let dev = start_dev(false, &[("AWS_ENDPOINT_URL_DYNAMODB", &endpoint)]);
    let banner = dev.output();
    assert!(
        banner.contains(&format!("DynamoDB at {endpoint}")),
        "{banner}"
    );
    scenario(&dev).await;
    assert!(
        !dev.dir().join(".miniapp/data.db").exists(),
        "the embedded store was used"
    );
    stop(dev);
    moto.stop();
}

fn miniapp(state: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(binary("miniapp"))
        .args(args)
        .arg("--state-dir")
        .arg(state)
        .current_dir(state.parent().unwrap_or(Path::new(".")))
        .output()
        .unwrap_or_else(|e| panic!("cannot run miniapp: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn login_sign_and_curl_commands() {
    let dev = start_dev(false, &[]);
    let state: PathBuf = dev.dir().join("client/.miniapp");
    std::fs::create_dir_all(&state).unwrap_or_else(|e| panic!("{e}"));
    let (ok, out, err) = miniapp(&state, &["login", "dev-bob", "--url", &dev.url]);
    assert!(ok, "login failed: {out}{err}");
    assert!(out.contains("dev-openid-bob"), "{out}");
    let saved = std::fs::read_to_string(state.join("credentials.json")).unwrap_or_default();
    assert!(saved.contains("accessKeySecret"), "{saved}");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode =
            std::fs::metadata(state.join("credentials.json")).map(|m| m.permissions().mode());
        assert_eq!(mode.ok().map(|m| m & 0o777), Some(0o600));
    }

    let (ok, out, err) = miniapp(
        &state,
        &["curl", "PUT", "/db/notes/n1", "--data", r#"{"text":"hi"}"#],
    );
    assert!(ok, "miniapp curl PUT: {out}{err}");
    assert!(out.contains(r#""version":1"#), "{out}");

    // The documented shell form, with the real curl: curl $(miniapp sign GET ...) URL.
    let script = format!(
        "cd {dir:?} && curl -s -w ' %{{http_code}}' $({bin:?} sign GET /db/notes/n1 --state-dir .miniapp) {url}/db/notes/n1",
        dir = state.parent().unwrap_or(Path::new(".")),
        bin = binary("miniapp"),
        url = dev.url,
    );
    let out = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap_or_else(|e| panic!("sh: {e}"));
    let body = String::from_utf8_lossy(&out.stdout);
    assert!(
        body.ends_with(" 200") && body.contains(r#""text":"hi""#),
        "curl said: {body} {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (ok, out, err) = miniapp(&state, &["sign", "GET", "/db/notes", "--format", "shell"]);
    assert!(ok && out.matches("-H '").count() == 3, "{out}{err}");

    let (ok, out, err) = miniapp(&state, &["refresh"]);
    assert!(ok, "refresh: {out}{err}");
    let (ok, out, _) = miniapp(&state, &["curl", "GET", "/db/notes?limit=5"]);
    assert!(ok && out.contains("n1"), "{out}");
    let (ok, _, err) = miniapp(&state, &["curl", "GET", "/db/notes/absent"]);
    assert!(!ok, "a 404 must fail the command: {err}");
    stop(dev);
}

/// Both login providers through `miniapp dev`: the WeChat stand-in with its dev codes beside
/// the Alipay stand-in in certificate mode (`--alipay-cert-mode`).
#[tokio::test]
async fn wechat_and_alipay_certificate_mode_through_miniapp_dev() {
    let dev = DevCommand::new(binary("miniapp"), workspace_root().join("template.yaml"))
        .bin_dir(binary("session").parent().unwrap_or(Path::new(".")))
        .args(&["--alipay-cert-mode"])
        .start(READY_WITHIN);
    let banner = dev.output();
    for part in ["certificate mode", "WeChat", "dev-wx-<name>", "dev-wx-busy"] {
        assert!(banner.contains(part), "banner lacks {part:?}:\n{banner}");
    }
    let c = client(&dev);
    let alice = assert_login_shape(&c.login_reply("dev-alice").await, "dev-openid-alice");
    let erin = assert_login_shape(
        &c.wechat_login_reply("dev-wx-erin").await,
        "wechat:dev-wx-openid-erin",
    );
    let r = c
        .db(&erin, "PUT", "/db/todos/w1", Some(json!({"by": "erin"})))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", text(&r));
    let r = c.db(&alice, "GET", "/db/todos/w1", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", text(&r));
    c.wechat_login_reply("dev-wx-invalid")
        .await
        .assert_error(401, "AuthCodeInvalid");
    let busy = c.wechat_login_reply("dev-wx-busy").await;
    busy.assert_error(503, "UpstreamBusy");
    assert_eq!(busy.headers["retry-after"], "2");
    stop(dev);
}
