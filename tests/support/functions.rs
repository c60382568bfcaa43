//! Real function processes in HTTP-server mode, the Alipay gateway stand-in (either mode) and
//! the WeChat stand-in they log in through, and a client that signs requests the way a Mini
//! Program does.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::{HeaderMap, StatusCode};
use miniapp_shared::alipay::standin::{self, StandinAnswer, StandinConfig, StandinHandle};
use miniapp_shared::alipay::{
    synthetic, AlipayCertificates, AlipayPublicKey, AppPrivateKey, CertificateTexts, StandinCertSns,
};
use miniapp_shared::secret::SecretString;
use miniapp_shared::signing::{sign_request, ClientCredentials};
use miniapp_shared::time_fmt::Timestamp;
use miniapp_shared::wechat::standin as wechat_standin;
use serde_json::Value;
use test_support::fixtures;
use test_support::moto::MotoServer;
use test_support::process::{Launch, Proc};

use crate::binary;

/// The app id the stand-in serves.
pub const APP_ID: &str = "2021000000000001";
/// A token key list with a signing key and a second, verifying one.
pub const TOKEN_KEYS: &str = "k2:c2Vjb25kLWtleS1vZi1hdC1sZWFzdC0zMi1ieXRlcy1sb25nISE=,k1:Zmlyc3Qta2V5LW9mLWF0LWxlYXN0LTMyLWJ5dGVzLWxvbmchISE=";

/// A synthetic key of `shared/tests/fixtures/alipay/keys/` (see its README).
fn key(file: &str) -> String {
    fixtures::alipay(&format!("keys/{file}")).trim().to_owned()
}

/// Scripts for the auth codes the tests use.
pub fn test_scripts() -> HashMap<String, StandinAnswer> {
    let mut s = StandinConfig::dev_scripts();
    let ok = |open: Option<&str>, user: Option<&str>| StandinAnswer::Success {
        open_id: open.map(str::to_owned),
        user_id: user.map(str::to_owned),
        expires_in_as_string: false,
    };
    s.insert("code-user-only".into(), ok(None, Some("2088000000000777")));
    s.insert(
        "code-upstream-error".into(),
        StandinAnswer::OtherError {
            code: "40004".into(),
            sub_code: "isv.some-business-failure".into(),
        },
    );
    s.insert("code-tampered".into(), StandinAnswer::TamperedSuccess);
    s.insert("code-http500".into(), StandinAnswer::Http500);
    s.insert(
        "code-slow".into(),
        StandinAnswer::Slow(Duration::from_secs(3)),
    );
    s
}

/// Starts the stand-in in public-key mode with the fixture keys on a loopback port.
pub async fn start_gateway() -> StandinHandle {
    gateway_in(None).await
}

/// Starts the stand-in in certificate mode: the synthetic certificates, whose keys are the
/// same fixture keys. `code-rotated-cert` answers naming another Alipay certificate.
pub async fn start_cert_gateway() -> StandinHandle {
    gateway_in(Some(StandinCertSns::from(&synthetic_certificates()))).await
}

/// The synthetic certificate set, parsed.
pub fn synthetic_certificates() -> AlipayCertificates {
    AlipayCertificates::from_pem(CertificateTexts {
        app_cert: (synthetic::APP_CERT, "ALIPAY_APP_CERT"),
        alipay_cert: (synthetic::ALIPAY_CERT, "ALIPAY_PUBLIC_CERT"),
        root_cert: (synthetic::ROOT_CERT, "ALIPAY_ROOT_CERT"),
    })
    .expect("the synthetic certificates parse")
}

async fn gateway_in(cert_sns: Option<StandinCertSns>) -> StandinHandle {
    let mut scripts = test_scripts();
    scripts.insert(
        "code-rotated-cert".into(),
        StandinAnswer::RotatedCertSuccess,
    );
    let config = StandinConfig {
        app_id: APP_ID.into(),
        app_public_key: AlipayPublicKey::parse(&key("app_public_spki.b64"), "test")
            .expect("app public key"),
        gateway_private_key: AppPrivateKey::parse(&key("gateway_private_pkcs1.pem"), "test")
            .expect("gateway key"),
        scripts,
        cert_sns,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    standin::start(listener, config)
        .await
        .expect("stand-in starts")
}

/// Switches an environment of [`function_env`] to Alipay's certificate mode: the three
/// certificates instead of `ALIPAY_PUBLIC_KEY` (same keys, so the same stand-in keys work).
pub fn use_certificate_mode(env: &mut Vec<(String, String)>) {
    env.retain(|(k, _)| k != "ALIPAY_PUBLIC_KEY");
    env.extend([
        ("ALIPAY_APP_CERT".into(), synthetic::APP_CERT.into()),
        ("ALIPAY_PUBLIC_CERT".into(), synthetic::ALIPAY_CERT.into()),
        ("ALIPAY_ROOT_CERT".into(), synthetic::ROOT_CERT.into()),
    ]);
}

/// The WeChat app the WeChat stand-in serves.
pub const WECHAT_APP_ID: &str = "wx0123456789abcdef";
/// Its AppSecret (a test value).
pub const WECHAT_APP_SECRET: &str = "0123456789abcdef0123456789abcdef";

/// Starts the WeChat stand-in: the dev codes (`dev-wx-<name>`, `dev-wx-invalid`, ...) and
/// `wx-slow`, `wx-http500`, `wx-non-json`.
pub async fn start_wechat() -> wechat_standin::StandinHandle {
    let mut scripts = wechat_standin::StandinConfig::dev_scripts();
    scripts.extend([
        (
            "wx-slow".to_owned(),
            wechat_standin::StandinAnswer::Slow(Duration::from_secs(3)),
        ),
        (
            "wx-http500".to_owned(),
            wechat_standin::StandinAnswer::Http500,
        ),
        (
            "wx-non-json".to_owned(),
            wechat_standin::StandinAnswer::NonJson,
        ),
    ]);
    let config = wechat_standin::StandinConfig {
        app_id: WECHAT_APP_ID.into(),
        app_secret: SecretString::new(WECHAT_APP_SECRET.into()),
        scripts,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    wechat_standin::start(listener, config).expect("the WeChat stand-in starts")
}

/// The variables that enable WeChat log-in through the stand-in at `url`.
pub fn wechat_env(url: &str) -> Vec<(String, String)> {
    vec![
        ("WECHAT_APP_ID".into(), WECHAT_APP_ID.into()),
        ("WECHAT_APP_SECRET".into(), WECHAT_APP_SECRET.into()),
        ("WECHAT_API_URL".into(), url.into()),
        ("WECHAT_TIMEOUT_MS".into(), "1500".into()),
    ]
}

/// Removes every Alipay variable: a WeChat-only deployment.
pub fn without_alipay(env: &mut Vec<(String, String)>) {
    env.retain(|(k, _)| !k.starts_with("ALIPAY_"));
}

/// Which store the functions use.
#[derive(Debug, Clone)]
pub enum StoreMode {
    /// A SQLite file both processes open.
    Embedded(PathBuf),
    /// DynamoDB at this endpoint, with these tables (created at start).
    Dynamo {
        endpoint: String,
        sessions_table: String,
        data_table: String,
    },
}

impl StoreMode {
    /// DynamoDB on the test binary's one moto server ([`shared_moto`]), in tables of its own.
    pub fn fresh_dynamo() -> Self {
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        Self::Dynamo {
            endpoint: shared_moto().endpoint(),
            sessions_table: format!("sessions-{suffix}"),
            data_table: format!("data-{suffix}"),
        }
    }
}

/// One moto server for the whole test binary, started on first use; each test makes its
/// own tables ([`StoreMode::fresh_dynamo`]).
pub fn shared_moto() -> &'static MotoServer {
    static MOTO: std::sync::OnceLock<MotoServer> = std::sync::OnceLock::new();
    MOTO.get_or_init(MotoServer::start)
}

/// The environment of both functions for a test.
pub fn function_env(gateway_url: &str, store: &StoreMode) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = vec![
        ("ALIPAY_APP_ID".into(), APP_ID.into()),
        (
            "ALIPAY_APP_PRIVATE_KEY".into(),
            key("app_private_pkcs8.b64"),
        ),
        ("ALIPAY_PUBLIC_KEY".into(), key("gateway_public_spki.b64")),
        ("ALIPAY_GATEWAY_URL".into(), gateway_url.into()),
        ("ALIPAY_TIMEOUT_MS".into(), "1500".into()),
        ("MINIAPP_TOKEN_KEYS".into(), TOKEN_KEYS.into()),
        ("RUST_LOG".into(), "info".into()),
    ];
    match store {
        StoreMode::Embedded(path) => env.push((
            "MINIAPP_STORE".into(),
            format!("embedded:{}", path.display()),
        )),
        StoreMode::Dynamo {
            endpoint,
            sessions_table,
            data_table,
        } => env.extend([
            ("MINIAPP_STORE".into(), "dynamodb".into()),
            ("AWS_ENDPOINT_URL_DYNAMODB".into(), endpoint.clone()),
            ("AWS_REGION".into(), "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID".into(), "test".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "test".into()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
            ("SESSIONS_TABLE".into(), sessions_table.clone()),
            ("DATA_TABLE".into(), data_table.clone()),
            ("MINIAPP_CREATE_TABLES".into(), "true".into()),
        ]),
    }
    env
}

/// A function binary serving HTTP on a port the OS picked; killed on drop.
pub struct HttpFunction {
    proc: Proc,
    /// `http://127.0.0.1:PORT`
    pub url: String,
}

impl HttpFunction {
    /// Starts `name` with exactly `env` and returns once it listens.
    pub async fn spawn(name: &str, env: &[(String, String)]) -> Self {
        let (proc, port) = Launch::new(binary(name))
            .envs(env.iter().map(|(k, v)| (k, v)))
            .spawn_http()
            .await;
        Self {
            proc,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Starts `name` with exactly `env` in the working directory `dir`.
    pub async fn spawn_in(name: &str, env: &[(String, String)], dir: &Path) -> Self {
        let (proc, port) = Launch::new(binary(name))
            .envs(env.iter().map(|(k, v)| (k, v)))
            .current_dir(dir)
            .spawn_http()
            .await;
        Self {
            proc,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// The process id (to read its memory figures from `/proc`).
    pub fn pid(&self) -> u32 {
        self.proc.id()
    }

    /// Kills the process at once (`SIGKILL`: no shutdown, as a crash).
    pub fn kill(&self) {
        self.proc.signal("KILL");
    }

    /// Both its output streams so far (stdout, then stderr), for checks and failure messages.
    pub fn output(&self) -> String {
        self.proc.output()
    }

    /// Everything the function logged so far (its stdout, the JSON log lines), each line
    /// ended by a newline as in a log file.
    pub fn logs(&self) -> String {
        self.proc
            .stdout_lines()
            .iter()
            .map(|l| format!("{l}\n"))
            .collect()
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    /// `error.code` of an error body.
    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    }
    /// Asserts the status and the error code, and that `x-request-id` equals `error.requestId`.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status.as_u16(), self.code().as_str()),
            (status, code),
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        let rid = self
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert!(!rid.is_empty());
        assert_eq!(self.json()["error"]["requestId"], rid);
    }
}

/// A logged-in user: the session and the credentials `POST /session` returned.
#[derive(Debug, Clone)]
pub struct Login {
    pub session_id: String,
    pub user_id: String,
    pub creds: ClientCredentials,
    pub body: Value,
}

/// Talks to the two functions.
#[derive(Clone)]
pub struct Client {
    pub http: reqwest::Client,
    pub session_url: String,
    pub db_url: String,
    /// The date signed requests carry; `None`: the current time.
    date: Option<Timestamp>,
}

impl Client {
    pub fn new(session_url: &str, db_url: &str) -> Self {
        Self::with_http(reqwest::Client::new(), session_url, db_url)
    }

    /// A client on an existing connection pool.
    pub fn with_http(http: reqwest::Client, session_url: &str, db_url: &str) -> Self {
        Self {
            http,
            session_url: session_url.into(),
            db_url: db_url.into(),
            date: None,
        }
    }

    /// The same client, signing its requests as if sent at `date`.
    pub fn dated(&self, date: Timestamp) -> Self {
        Self {
            date: Some(date),
            ..self.clone()
        }
    }

    /// Sends a request as given (no signing).
    pub async fn raw(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut rb = self.http.request(method, url).body(body);
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        let resp = rb.send().await.expect("request");
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.expect("body").to_vec();
        Reply {
            status,
            headers,
            body,
        }
    }

    /// `POST /session` with this auth code.
    pub async fn login_reply(&self, code: &str) -> Reply {
        self.login_body_reply(&serde_json::json!({ "authCode": code }))
            .await
    }

    /// `POST /session` with a WeChat code.
    pub async fn wechat_login_reply(&self, code: &str) -> Reply {
        self.login_body_reply(&serde_json::json!({ "provider": "wechat", "code": code }))
            .await
    }

    /// Logs in with a WeChat code and panics unless it worked.
    pub async fn wechat_login(&self, code: &str) -> Login {
        created_login(self.wechat_login_reply(code).await)
    }

    /// `POST /session` with this JSON body.
    pub async fn login_body_reply(&self, body: &Value) -> Reply {
        let body = body.to_string().into_bytes();
        self.raw(
            "POST",
            &format!("{}/session", self.session_url),
            &[("content-type", "application/json")],
            body,
        )
        .await
    }

    /// Logs in and panics unless it worked.
    pub async fn login(&self, code: &str) -> Login {
        created_login(self.login_reply(code).await)
    }

    /// A request signed with `login`'s credentials; `path_and_query` as sent.
    pub async fn signed(
        &self,
        login: &Login,
        method: &str,
        base: &str,
        path_and_query: &str,
        body: &[u8],
        extra: &[(&str, &str)],
    ) -> Reply {
        let at = self.date.unwrap_or_else(Timestamp::now);
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let h = sign_request(&login.creds, method, path, query, body, at).expect("sign");
        let mut headers: Vec<(&str, &str)> = vec![
            ("authorization", h.authorization.expose()),
            ("x-miniapp-date", &h.date),
            ("x-miniapp-security-token", h.security_token.expose()),
        ];
        headers.extend_from_slice(extra);
        self.raw(
            method,
            &format!("{base}{path_and_query}"),
            &headers,
            body.to_vec(),
        )
        .await
    }

    /// A signed request to the db function.
    pub async fn db(
        &self,
        login: &Login,
        method: &str,
        path_and_query: &str,
        body: Option<Value>,
    ) -> Reply {
        let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        self.signed(login, method, &self.db_url, path_and_query, &body, &[])
            .await
    }

    /// A signed request to the session function.
    pub async fn session(&self, login: &Login, method: &str, path: &str) -> Reply {
        self.signed(login, method, &self.session_url, path, b"", &[])
            .await
    }
}

/// The login of a `POST /session` answer; panics unless it was 201.
fn created_login(r: Reply) -> Login {
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "login: {}",
        String::from_utf8_lossy(&r.body)
    );
    login_from(r.json())
}

/// Reads `POST /session` (or refresh) JSON into a [`Login`].
pub fn login_from(v: Value) -> Login {
    let c = &v["credentials"];
    let s = |x: &Value| x.as_str().unwrap_or_default().to_owned();
    Login {
        session_id: s(&v["sessionId"]),
        user_id: s(&v["userId"]),
        creds: ClientCredentials {
            access_key_id: s(&c["accessKeyId"]),
            access_key_secret: SecretString::new(s(&c["accessKeySecret"])),
            security_token: s(&c["securityToken"]).into(),
        },
        body: v,
    }
}
