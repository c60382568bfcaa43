//! The real WeChat client against the real stand-in on a loopback port: every outcome of
//! `jscode2session`, and the stand-in's own protocol (checked query, HTTP 200 errors,
//! `text/plain`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use miniapp_shared::secret::SecretString;
use miniapp_shared::wechat::standin::{self, StandinAnswer, StandinConfig, StandinHandle};
use miniapp_shared::wechat::{WechatClient, WechatConfig, WechatError};
use serde_json::Value;

const APP_ID: &str = "wx0123456789abcdef";
const SECRET: &str = "0123456789abcdef0123456789abcdef";

fn scripts() -> HashMap<String, StandinAnswer> {
    let mut scripts = StandinConfig::dev_scripts();
    scripts.extend([
        (
            "no-unionid".to_owned(),
            StandinAnswer::Success {
                openid: "oNoUnion".into(),
                unionid: None,
            },
        ),
        ("http500".to_owned(), StandinAnswer::Http500),
        ("non-json".to_owned(), StandinAnswer::NonJson),
        (
            "slow".to_owned(),
            StandinAnswer::Slow(Duration::from_secs(3)),
        ),
    ]);
    scripts
}

async fn start_standin() -> StandinHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let config = StandinConfig {
        app_id: APP_ID.into(),
        app_secret: SecretString::new(SECRET.into()),
        scripts: scripts(),
    };
    standin::start(listener, config).unwrap_or_else(|e| panic!("the stand-in: {e}"))
}

fn client_with(url: &str, app_id: &str, secret: &str, timeout: Duration) -> WechatClient {
    WechatClient::new(WechatConfig {
        app_id: app_id.into(),
        app_secret: SecretString::new(secret.into()),
        api_url: url.into(),
        timeout,
    })
    .unwrap_or_else(|e| panic!("client: {e}"))
}

fn client(standin: &StandinHandle) -> WechatClient {
    client_with(&standin.url(), APP_ID, SECRET, Duration::from_secs(5))
}

#[tokio::test]
async fn dev_codes_log_in_with_openid_and_unionid() {
    let standin = start_standin().await;
    let id = client(&standin)
        .exchange_code("dev-wx-alice")
        .await
        .unwrap();
    assert_eq!(id.openid, "dev-wx-openid-alice");
    assert_eq!(id.unionid.as_deref(), Some("dev-wx-unionid-alice"));
    // A fresh 16-byte key, as WeChat sends, that never shows in Debug.
    let key = id.session_key.expose().to_owned();
    assert_eq!(key.len(), 24);
    assert!(!format!("{id:?}").contains(&key));
    let again = client(&standin)
        .exchange_code("dev-wx-alice")
        .await
        .unwrap();
    assert_eq!(again.openid, id.openid);
    assert_ne!(again.session_key.expose(), key);
    let plain = client(&standin).exchange_code("no-unionid").await.unwrap();
    assert_eq!((plain.openid.as_str(), plain.unionid), ("oNoUnion", None));
    assert_eq!(standin.accepted_requests(), 3);
}

#[tokio::test]
async fn invalid_and_used_codes_are_auth_code_invalid() {
    let standin = start_standin().await;
    let client = client(&standin);
    for code in [
        "dev-wx-invalid",
        "dev-wx-used",
        "unknown-code",
        "dev-wx-Upper",
    ] {
        let outcome = client.exchange_code(code).await;
        assert_eq!(outcome.unwrap_err(), WechatError::AuthCodeInvalid, "{code}");
    }
}

#[tokio::test]
async fn rate_limited_and_busy_ask_to_retry_later() {
    let standin = start_standin().await;
    let client = client(&standin);
    let busy = |errcode, retry_after_secs| WechatError::Busy {
        errcode,
        retry_after_secs,
    };
    let limited = client.exchange_code("dev-wx-ratelimited").await;
    assert_eq!(limited.unwrap_err(), busy(45011, 60));
    assert_eq!(
        client.exchange_code("dev-wx-busy").await.unwrap_err(),
        busy(-1, 2)
    );
}

#[tokio::test]
async fn other_errcodes_and_bad_answers_are_upstream_errors() {
    let standin = start_standin().await;
    let client = client(&standin);
    match client.exchange_code("dev-wx-blocked").await.unwrap_err() {
        WechatError::Upstream { errcode, message } => {
            assert_eq!(errcode, Some(40226));
            assert!(message.starts_with("code blocked, rid: "), "{message}");
        }
        other => panic!("{other:?}"),
    }
    for code in ["http500", "non-json"] {
        let outcome = client.exchange_code(code).await.unwrap_err();
        assert!(
            matches!(outcome, WechatError::Upstream { errcode: None, .. }),
            "{code}: {outcome:?}"
        );
    }
}

#[tokio::test]
async fn a_wrong_app_id_or_secret_is_refused_by_the_standin() {
    let standin = start_standin().await;
    let timeout = Duration::from_secs(5);
    let wrong_id = client_with(&standin.url(), "wx-other", SECRET, timeout);
    let wrong_secret = client_with(&standin.url(), APP_ID, "not-the-secret", timeout);
    for (client, want) in [(wrong_id, 40013), (wrong_secret, 40125)] {
        let err = client.exchange_code("dev-wx-alice").await.unwrap_err();
        assert!(
            matches!(&err, WechatError::Upstream { errcode: Some(c), .. } if *c == want),
            "{err:?}"
        );
        assert!(!format!("{err} {err:?}").contains(SECRET));
    }
    assert_eq!(standin.accepted_requests(), 0);
}

#[tokio::test]
async fn a_slow_answer_is_a_timeout_within_the_limit() {
    let standin = start_standin().await;
    let client = client_with(&standin.url(), APP_ID, SECRET, Duration::from_millis(300));
    let started = Instant::now();
    let outcome = client.exchange_code("slow").await;
    assert_eq!(outcome.unwrap_err(), WechatError::Timeout);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn an_unreachable_api_is_an_upstream_error() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let client = client_with(&url, APP_ID, SECRET, Duration::from_secs(2));
    let err = client.exchange_code("dev-wx-alice").await.unwrap_err();
    assert!(
        matches!(&err, WechatError::Upstream { errcode: None, .. }),
        "{err:?}"
    );
    assert!(!format!("{err} {err:?}").contains(SECRET));
}

#[tokio::test]
async fn empty_huge_or_control_codes_are_refused_without_a_call() {
    let standin = start_standin().await;
    let client = client(&standin);
    for code in [String::new(), "x".repeat(257), "dev-wx-a\nb".into()] {
        let outcome = client.exchange_code(&code).await;
        assert_eq!(outcome.unwrap_err(), WechatError::AuthCodeInvalid);
    }
    assert_eq!(standin.accepted_requests(), 0);
}

/// The stand-in itself, driven with a plain HTTP client: what WeChat does on the wire.
#[tokio::test]
async fn the_standin_speaks_wechats_protocol() {
    let standin = start_standin().await;
    let http = reqwest::Client::new();
    let get = |query: String| {
        let url = format!("{}/sns/jscode2session?{query}", standin.url());
        let http = http.clone();
        async move {
            let response = http.get(url).send().await.unwrap();
            let status = response.status().as_u16();
            let content_type = response.headers()["content-type"]
                .to_str()
                .unwrap()
                .to_owned();
            let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
            (status, content_type, body)
        }
    };
    let full = |code: &str| {
        format!("appid={APP_ID}&secret={SECRET}&js_code={code}&grant_type=authorization_code")
    };
    let (status, content_type, body) = get(full("dev-wx-bob")).await;
    assert_eq!((status, content_type.as_str()), (200, "text/plain"));
    assert_eq!(body["openid"], "dev-wx-openid-bob");
    let cases = [
        (
            format!("secret={SECRET}&js_code=c&grant_type=authorization_code"),
            41002,
        ),
        (
            format!("appid={APP_ID}&js_code=c&grant_type=authorization_code"),
            41004,
        ),
        (
            format!("appid={APP_ID}&secret={SECRET}&grant_type=authorization_code"),
            41008,
        ),
        (
            format!("appid={APP_ID}&secret={SECRET}&js_code=c&grant_type=client_credential"),
            40002,
        ),
        (full("dev-wx-invalid"), 40029),
    ];
    for (query, errcode) in cases {
        let (status, content_type, body) = get(query.clone()).await;
        assert_eq!(
            (status, content_type.as_str()),
            (200, "text/plain"),
            "{query}"
        );
        assert_eq!(body["errcode"], errcode, "{query}");
        assert!(
            body["errmsg"].as_str().unwrap().contains("rid: "),
            "{query}"
        );
    }
    let post = http
        .post(format!(
            "{}/sns/jscode2session?{}",
            standin.url(),
            full("dev-wx-bob")
        ))
        .send()
        .await
        .unwrap();
    let body: Value = serde_json::from_str(&post.text().await.unwrap()).unwrap();
    assert_eq!(body["errcode"], 43001);
    let missing = http
        .get(format!("{}/other", standin.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status().as_u16(), 404);
    standin.shutdown().await;
}
