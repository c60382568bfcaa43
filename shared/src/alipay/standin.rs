//! A stand-in for Alipay's `gateway.do`: a real HTTP server on loopback that speaks the
//! protocol both ways (verifies the app's RSA2 request signature, signs its answers with its
//! own key exactly like Alipay). Used by tests and by `miniapp dev`.
//!
//! Auth codes are answered from [`StandinConfig::scripts`]; in addition any code
//! `dev-user-<name>` (name `[a-z0-9]{1,32}`) succeeds as `dev-openid-<name>`. Codes are
//! reusable. Refresh tokens it issued for a success can be exchanged again.
//!
//! In certificate mode ([`StandinConfig::cert_sns`]) every request must carry the app's
//! `app_cert_sn` and `alipay_root_cert_sn` (checked before the signature, as the gateway finds
//! the app's certificate by them), and every signed answer carries `alipay_cert_sn`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Value};
use tokio::net::TcpListener;

use super::cert::AlipayCertificates;
use super::client::OAUTH_TOKEN_METHOD;
use super::keys::{generate_rsa2048_keypair, AlipayPublicKey, AppPrivateKey, GatewayPrivateKey};
use super::sign::{
    beijing_timestamp, parse_beijing_timestamp, rsa2_sign, rsa2_verify, sign_content,
};
use crate::standin_server::{html_response, http_response, StandinServer};
use crate::time_fmt::Timestamp;

const NODE: &str = "alipay_system_oauth_token_response";
/// The gateway refuses requests whose timestamp is further than this from its clock.
const TIMESTAMP_WINDOW_SECS: i64 = 15 * 60;
const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// Bounds the remembered refresh tokens of a long `miniapp dev` session.
const MAX_REFRESH_TOKENS: usize = 10_000;

/// How the stand-in answers one auth code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StandinAnswer {
    /// A signed success with these ids; `expires_in` sent as a JSON string when asked.
    Success {
        /// `open_id` member, if any.
        open_id: Option<String>,
        /// `user_id` member, if any.
        user_id: Option<String>,
        /// Send `expires_in`/`re_expires_in` as strings, as some apps receive them.
        expires_in_as_string: bool,
    },
    /// Signed `error_response` 40002 `isv.code-invalid`.
    InvalidCode,
    /// Signed `error_response` with this code and sub_code.
    OtherError {
        /// Alipay's `code`, e.g. `40004`.
        code: String,
        /// Alipay's `sub_code`.
        sub_code: String,
    },
    /// A success whose node was changed after signing.
    TamperedSuccess,
    /// A success without `sign`.
    UnsignedSuccess,
    /// A success signed with a key that is not the gateway's.
    WrongKeySuccess,
    /// HTTP 500 with an HTML body.
    Http500,
    /// HTTP 200 with an HTML body.
    NonJson,
    /// A normal success, sent after this delay.
    Slow(Duration),
    /// Certificate mode: a correctly signed success naming another Alipay certificate (as
    /// after Alipay rotated its certificate).
    RotatedCertSuccess,
}

/// Certificate mode (公钥证书模式): the SNs requests must carry and the one answers carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandinCertSns {
    /// The `app_cert_sn` every request must carry.
    pub app_cert_sn: String,
    /// The `alipay_root_cert_sn` every request must carry.
    pub alipay_root_cert_sn: String,
    /// The `alipay_cert_sn` of every signed answer.
    pub alipay_cert_sn: String,
}

impl From<&AlipayCertificates> for StandinCertSns {
    fn from(certs: &AlipayCertificates) -> Self {
        Self {
            app_cert_sn: certs.app_cert_sn().to_owned(),
            alipay_root_cert_sn: certs.alipay_root_cert_sn().to_owned(),
            alipay_cert_sn: certs.alipay_cert_sn().to_owned(),
        }
    }
}

/// What the stand-in knows: the app it serves, both keys, and its scripted codes.
#[derive(Debug, Clone)]
pub struct StandinConfig {
    /// The only app id it accepts.
    pub app_id: String,
    /// The app's public key: requests must verify under it.
    pub app_public_key: AlipayPublicKey,
    /// The stand-in's own key ("Alipay's"): it signs answers.
    pub gateway_private_key: GatewayPrivateKey,
    /// Answers by auth code.
    pub scripts: HashMap<String, StandinAnswer>,
    /// `Some` in certificate mode, `None` in public-key mode.
    pub cert_sns: Option<StandinCertSns>,
}

impl StandinConfig {
    /// The codes `miniapp dev` documents: `dev-alice`, `dev-bob`, `dev-invalid`.
    pub fn dev_scripts() -> HashMap<String, StandinAnswer> {
        let success = |open_id: &str, user_id: Option<&str>| StandinAnswer::Success {
            open_id: Some(open_id.to_owned()),
            user_id: user_id.map(str::to_owned),
            expires_in_as_string: false,
        };
        HashMap::from([
            (
                "dev-alice".to_owned(),
                success("dev-openid-alice", Some("2088000000000001")),
            ),
            ("dev-bob".to_owned(), success("dev-openid-bob", None)),
            ("dev-invalid".to_owned(), StandinAnswer::InvalidCode),
        ])
    }
}

/// A running stand-in; it stops when dropped or on [`StandinHandle::shutdown`].
#[derive(Debug)]
pub struct StandinHandle {
    server: StandinServer,
    verified: Arc<AtomicU64>,
}

impl StandinHandle {
    /// `http://127.0.0.1:PORT/gateway.do`.
    pub fn url(&self) -> String {
        format!("http://{}/gateway.do", self.server.addr())
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// How many requests carried a signature that verified under the app's public key.
    pub fn verified_requests(&self) -> u64 {
        self.verified.load(Ordering::SeqCst)
    }

    /// Stops accepting, aborts open connections and waits for the server task.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

/// Serves the gateway protocol on `listener` (bind it to loopback) until the handle is
/// dropped. Fails only if the listener has no local address or, when a script asks for
/// [`StandinAnswer::WrongKeySuccess`], that extra key cannot be generated.
pub async fn start(listener: TcpListener, config: StandinConfig) -> std::io::Result<StandinHandle> {
    let wants_wrong_key = config
        .scripts
        .values()
        .any(|a| *a == StandinAnswer::WrongKeySuccess);
    // Made before serving so that the first answer is not slowed past a client's timeout.
    let wrong_key = if wants_wrong_key {
        Some(make_wrong_key().await?)
    } else {
        None
    };
    let verified = Arc::new(AtomicU64::new(0));
    let state = Arc::new(Gateway {
        config,
        verified: Arc::clone(&verified),
        refresh_tokens: Mutex::new(HashMap::new()),
        wrong_key,
        issued: AtomicU64::new(0),
    });
    let server = StandinServer::start(listener, move |req| {
        let gateway = Arc::clone(&state);
        async move { gateway.handle(req).await }
    })?;
    Ok(StandinHandle { server, verified })
}

/// A key that is not the gateway's, for [`StandinAnswer::WrongKeySuccess`].
async fn make_wrong_key() -> std::io::Result<AppPrivateKey> {
    let made = tokio::task::spawn_blocking(generate_rsa2048_keypair).await;
    let (private, _) = made
        .map_err(std::io::Error::other)?
        .map_err(std::io::Error::other)?;
    AppPrivateKey::parse(&private, "stand-in wrong key").map_err(std::io::Error::other)
}

struct Gateway {
    config: StandinConfig,
    verified: Arc<AtomicU64>,
    refresh_tokens: Mutex<HashMap<String, StandinAnswer>>,
    /// Only made when a script asks for it: RSA key generation takes a moment.
    wrong_key: Option<AppPrivateKey>,
    issued: AtomicU64,
}

type Params = Vec<(String, String)>;

/// An `error_response` the gateway sends instead of a grant.
struct Refusal {
    code: &'static str,
    sub_code: &'static str,
    sub_msg: String,
    signed: bool,
}

impl Refusal {
    fn new(code: &'static str, sub_code: &'static str, sub_msg: &str) -> Self {
        let sub_msg = sub_msg.to_owned();
        Self {
            code,
            sub_code,
            sub_msg,
            signed: true,
        }
    }
}

fn param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn json_response(body: String) -> Response<Full<Bytes>> {
    http_response(StatusCode::OK, "application/json;charset=utf-8", body)
}

/// Alipay escapes `/` as `\/` in its JSON; doing the same keeps verification byte-exact.
/// Outside strings JSON has no `/`, so this only touches string contents.
fn alipay_json(value: &Value) -> String {
    value.to_string().replace('/', "\\/")
}

fn error_node(code: &str, sub_code: &str, sub_msg: &str) -> String {
    let msg = match code {
        "40001" => "Missing Required Arguments",
        "40002" => "Invalid Arguments",
        "40004" => "Business Failed",
        "20000" => "Service Currently Unavailable",
        _ => "Error",
    };
    alipay_json(&json!({"code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg}))
}

fn dev_user(code: &str) -> Option<StandinAnswer> {
    let name = code.strip_prefix("dev-user-")?;
    let ok = (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    ok.then(|| StandinAnswer::Success {
        open_id: Some(format!("dev-openid-{name}")),
        user_id: None,
        expires_in_as_string: false,
    })
}

impl Gateway {
    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        if req.uri().path() != "/gateway.do" {
            return html_response(StatusCode::NOT_FOUND);
        }
        let query = req.uri().query().unwrap_or("").to_owned();
        let body = match Limited::new(req.into_body(), MAX_REQUEST_BYTES)
            .collect()
            .await
        {
            Ok(collected) => collected.to_bytes(),
            Err(_) => return html_response(StatusCode::PAYLOAD_TOO_LARGE),
        };
        let params: Params = form_urlencoded::parse(query.as_bytes())
            .chain(form_urlencoded::parse(&body))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        match self.check_request(&params) {
            Ok(answer) => self.render(answer).await,
            Err(refusal) => self.refuse(refusal),
        }
    }

    /// The gateway's checks, in its order.
    fn check_request(&self, params: &Params) -> Result<StandinAnswer, Refusal> {
        if param(params, "method") != Some(OAUTH_TOKEN_METHOD) {
            return Err(Refusal::new(
                "40002",
                "isv.invalid-method",
                "不存在的方法名",
            ));
        }
        if param(params, "app_id") != Some(self.config.app_id.as_str()) {
            // The real gateway cannot pick a key for an unknown app, so this one is unsigned.
            let unsigned = Refusal::new("40002", "isv.invalid-app-id", "无效的AppID参数");
            return Err(Refusal {
                signed: false,
                ..unsigned
            });
        }
        if param(params, "sign_type") != Some("RSA2") {
            return Err(Refusal::new(
                "40002",
                "isv.invalid-signature-type",
                "签名类型无效",
            ));
        }
        self.check_cert_sns(params)?;
        self.check_signature(params)?;
        self.verified.fetch_add(1, Ordering::SeqCst);
        if !timestamp_is_fresh(param(params, "timestamp")) {
            return Err(Refusal::new(
                "40002",
                "isv.invalid-timestamp",
                "非法的时间戳参数",
            ));
        }
        self.grant(params)
    }

    /// Certificate mode: the gateway finds the app's certificate by `app_cert_sn`, and checks
    /// that the app trusts the current root bundle.
    fn check_cert_sns(&self, params: &Params) -> Result<(), Refusal> {
        let Some(sns) = &self.config.cert_sns else {
            return Ok(());
        };
        if param(params, "app_cert_sn") != Some(sns.app_cert_sn.as_str()) {
            return Err(Refusal::new(
                "40002",
                "isv.invalid-app-cert-sn",
                "应用公钥证书序列号app_cert_sn无效",
            ));
        }
        if param(params, "alipay_root_cert_sn") != Some(sns.alipay_root_cert_sn.as_str()) {
            return Err(Refusal::new(
                "40002",
                "isv.invalid-alipay-root-cert-sn",
                "支付宝根证书序列号alipay_root_cert_sn无效",
            ));
        }
        Ok(())
    }

    fn check_signature(&self, params: &Params) -> Result<(), Refusal> {
        let content = sign_content(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let sign = param(params, "sign").unwrap_or("");
        rsa2_verify(&self.config.app_public_key, content.as_bytes(), sign).map_err(|_| {
            // Like the real gateway: quote the sign content it rebuilt, HTML-escaped.
            let msg = format!(
                "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为：{}",
                content.replace('&', "&amp;")
            );
            Refusal::new("40002", "isv.invalid-signature", &msg)
        })
    }

    /// Which answer the grant deserves: scripted code, `dev-user-*`, or a refresh token.
    fn grant(&self, params: &Params) -> Result<StandinAnswer, Refusal> {
        match param(params, "grant_type") {
            Some("authorization_code") => {
                let code = param(params, "code")
                    .ok_or_else(|| Refusal::new("40001", "isv.missing-code", "缺少授权码code"))?;
                let scripted = self.config.scripts.get(code).cloned();
                Ok(scripted
                    .or_else(|| dev_user(code))
                    .unwrap_or(StandinAnswer::InvalidCode))
            }
            Some("refresh_token") => {
                let token = param(params, "refresh_token").unwrap_or("");
                let known = self
                    .refresh_tokens
                    .lock()
                    .ok()
                    .and_then(|m| m.get(token).cloned());
                known.ok_or_else(|| {
                    Refusal::new(
                        "40002",
                        "isv.refresh-token-invalid",
                        "刷新令牌refresh_token无效",
                    )
                })
            }
            _ => Err(Refusal::new(
                "40002",
                "isv.grant-type-invalid",
                "不支持的grant_type",
            )),
        }
    }

    fn refuse(&self, refusal: Refusal) -> Response<Full<Bytes>> {
        if refusal.signed {
            self.signed_error(refusal.code, refusal.sub_code, &refusal.sub_msg)
        } else {
            let node = error_node(refusal.code, refusal.sub_code, &refusal.sub_msg);
            json_response(format!("{{\"error_response\":{node}}}"))
        }
    }

    async fn render(&self, answer: StandinAnswer) -> Response<Full<Bytes>> {
        match answer {
            StandinAnswer::Success { .. } => {
                let node = self.success_node(&answer, true);
                self.signed_body(NODE, &node, &self.config.gateway_private_key)
            }
            StandinAnswer::InvalidCode => {
                self.signed_error("40002", "isv.code-invalid", "授权码code无效")
            }
            StandinAnswer::OtherError { code, sub_code } => {
                self.signed_error(&code, &sub_code, "业务处理失败")
            }
            StandinAnswer::TamperedSuccess => self.tampered_success(),
            StandinAnswer::UnsignedSuccess => {
                let node = self.success_node(&scripted_success("standin-unsigned"), false);
                json_response(format!("{{\"{NODE}\":{node}}}"))
            }
            StandinAnswer::WrongKeySuccess => self.wrong_key_success(),
            StandinAnswer::RotatedCertSuccess => {
                let node = self.success_node(&scripted_success("standin-rotated"), false);
                let key = &self.config.gateway_private_key;
                self.signed_body_as(NODE, &node, key, Some("00000000000000000000000000000000"))
            }
            StandinAnswer::Http500 => html_response(StatusCode::INTERNAL_SERVER_ERROR),
            StandinAnswer::NonJson => html_response(StatusCode::OK),
            StandinAnswer::Slow(delay) => {
                tokio::time::sleep(delay).await;
                let node = self.success_node(&scripted_success("standin-slow"), false);
                self.signed_body(NODE, &node, &self.config.gateway_private_key)
            }
        }
    }

    /// The success node's text; with `remember`, its refresh token can be used later.
    fn success_node(&self, answer: &StandinAnswer, remember: bool) -> String {
        let StandinAnswer::Success {
            open_id,
            user_id,
            expires_in_as_string,
        } = answer
        else {
            return "{}".to_owned();
        };
        let (access, refresh) = (self.token("authusrB"), self.token("authusrR"));
        let (expires, re_expires): (Value, Value) = if *expires_in_as_string {
            ("1296000".into(), "2592000".into())
        } else {
            (1_296_000.into(), 2_592_000.into())
        };
        let mut node = json!({
            "access_token": access,
            "auth_start": beijing_timestamp(Timestamp::now()),
            "expires_in": expires,
            "re_expires_in": re_expires,
            "refresh_token": refresh,
        });
        if let Some(map) = node.as_object_mut() {
            for (name, value) in [("open_id", open_id), ("user_id", user_id)] {
                if let Some(v) = value {
                    map.insert(name.into(), v.as_str().into());
                }
            }
        }
        if remember {
            self.remember_refresh(refresh, answer.clone());
        }
        alipay_json(&node)
    }

    fn remember_refresh(&self, token: String, answer: StandinAnswer) {
        if let Ok(mut tokens) = self.refresh_tokens.lock() {
            if tokens.len() >= MAX_REFRESH_TOKENS {
                tokens.clear();
            }
            tokens.insert(token, answer);
        }
    }

    /// Unique, unguessable-enough tokens for a stand-in: random bits plus a counter.
    fn token(&self, prefix: &str) -> String {
        let mut random = [0u8; 12];
        // Failure leaves zeros; the counter alone still keeps tokens unique.
        let _ = aws_lc_rs::rand::fill(&mut random);
        let n = self.issued.fetch_add(1, Ordering::Relaxed);
        format!("{prefix}{}{n:x}", hex::encode(random))
    }

    fn signed_body(&self, name: &str, node: &str, key: &AppPrivateKey) -> Response<Full<Bytes>> {
        let cert_sn = self
            .config
            .cert_sns
            .as_ref()
            .map(|s| s.alipay_cert_sn.as_str());
        self.signed_body_as(name, node, key, cert_sn)
    }

    /// `{"<name>":<node>,"alipay_cert_sn":"…","sign":"…"}`, Alipay's member order; the SN only
    /// in certificate mode.
    fn signed_body_as(
        &self,
        name: &str,
        node: &str,
        key: &AppPrivateKey,
        cert_sn: Option<&str>,
    ) -> Response<Full<Bytes>> {
        match rsa2_sign(key, node.as_bytes()) {
            Ok(sign) => json_response(envelope(name, node, cert_sn, &sign)),
            Err(_) => html_response(StatusCode::INTERNAL_SERVER_ERROR),
        }
    }

    fn signed_error(&self, code: &str, sub_code: &str, sub_msg: &str) -> Response<Full<Bytes>> {
        let node = error_node(code, sub_code, sub_msg);
        self.signed_body("error_response", &node, &self.config.gateway_private_key)
    }

    fn tampered_success(&self) -> Response<Full<Bytes>> {
        let node = self.success_node(&scripted_success("standin-tampered"), false);
        match rsa2_sign(&self.config.gateway_private_key, node.as_bytes()) {
            Ok(sign) => {
                let altered = node.replace("standin-tampered", "standin-tamperex");
                let cert_sn = self
                    .config
                    .cert_sns
                    .as_ref()
                    .map(|s| s.alipay_cert_sn.as_str());
                json_response(envelope(NODE, &altered, cert_sn, &sign))
            }
            Err(_) => html_response(StatusCode::INTERNAL_SERVER_ERROR),
        }
    }

    fn wrong_key_success(&self) -> Response<Full<Bytes>> {
        let node = self.success_node(&scripted_success("standin-wrong-key"), false);
        match &self.wrong_key {
            Some(key) => self.signed_body(NODE, &node, key),
            None => html_response(StatusCode::INTERNAL_SERVER_ERROR),
        }
    }
}

fn envelope(name: &str, node: &str, cert_sn: Option<&str>, sign: &str) -> String {
    match cert_sn {
        Some(sn) => {
            format!("{{\"{name}\":{node},\"alipay_cert_sn\":\"{sn}\",\"sign\":\"{sign}\"}}")
        }
        None => format!("{{\"{name}\":{node},\"sign\":\"{sign}\"}}"),
    }
}

fn scripted_success(open_id: &str) -> StandinAnswer {
    StandinAnswer::Success {
        open_id: Some(open_id.to_owned()),
        user_id: None,
        expires_in_as_string: false,
    }
}

fn timestamp_is_fresh(value: Option<&str>) -> bool {
    value
        .and_then(parse_beijing_timestamp)
        .is_some_and(|sent| (Timestamp::now().unix() - sent.unix()).abs() <= TIMESTAMP_WINDOW_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_user_codes_follow_the_pattern() {
        assert!(dev_user("dev-user-carol42").is_some());
        assert!(dev_user("dev-user-").is_none());
        assert!(dev_user("dev-user-Carol").is_none());
        assert!(dev_user(&format!("dev-user-{}", "a".repeat(33))).is_none());
    }

    #[test]
    fn timestamps_outside_fifteen_minutes_are_refused() {
        let now = Timestamp::now();
        assert!(timestamp_is_fresh(Some(&beijing_timestamp(
            now.plus_secs(-14 * 60)
        ))));
        assert!(!timestamp_is_fresh(Some(&beijing_timestamp(
            now.plus_secs(16 * 60)
        ))));
        assert!(!timestamp_is_fresh(Some("2024-05-20T12:34:56")));
        assert!(!timestamp_is_fresh(None));
    }
}
