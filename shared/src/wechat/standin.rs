//! A stand-in for WeChat's `GET /sns/jscode2session`: a real HTTP server on loopback that
//! speaks the protocol as WeChat does (query parameters checked, every answer HTTP 200 with a
//! JSON body sent as `text/plain`, errors as `{"errcode", "errmsg"}`). Used by tests and by
//! `miniapp dev`.
//!
//! Codes are answered from [`StandinConfig::scripts`]; in addition any code `dev-wx-<name>`
//! (name `[a-z0-9]{1,32}`) succeeds as openid `dev-wx-openid-<name>` with unionid
//! `dev-wx-unionid-<name>`. Every other code is 40029 (invalid). Codes are reusable, unlike
//! WeChat's, so a developer can log in with the same code again.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};
use tokio::net::TcpListener;

use super::client::JSCODE2SESSION_PATH;
use crate::secret::SecretString;
use crate::standin_server::{html_response, http_response, StandinServer};

/// How the stand-in answers one code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StandinAnswer {
    /// `openid` and a fresh `session_key`, with `unionid` when given.
    Success {
        /// The `openid` member.
        openid: String,
        /// The `unionid` member, if any.
        unionid: Option<String>,
    },
    /// `{"errcode": n, "errmsg": …}` with HTTP 200, as WeChat answers errors.
    Errcode(i64),
    /// HTTP 500 with an HTML body (WeChat's front end failing).
    Http500,
    /// HTTP 200 with an HTML body.
    NonJson,
    /// A normal success, sent after this delay.
    Slow(Duration),
}

/// What the stand-in knows: the app it serves and its scripted codes.
#[derive(Debug, Clone)]
pub struct StandinConfig {
    /// The only `appid` it accepts.
    pub app_id: String,
    /// The only `secret` it accepts.
    pub app_secret: SecretString,
    /// Answers by code.
    pub scripts: HashMap<String, StandinAnswer>,
}

impl StandinConfig {
    /// The codes `miniapp dev` documents besides `dev-wx-<name>`: `dev-wx-invalid` (40029),
    /// `dev-wx-used` (40163), `dev-wx-ratelimited` (45011), `dev-wx-busy` (-1) and
    /// `dev-wx-blocked` (40226, an error the backend reports as upstream).
    pub fn dev_scripts() -> HashMap<String, StandinAnswer> {
        [
            ("dev-wx-invalid", 40029),
            ("dev-wx-used", 40163),
            ("dev-wx-ratelimited", 45011),
            ("dev-wx-busy", -1),
            ("dev-wx-blocked", 40226),
        ]
        .into_iter()
        .map(|(code, errcode)| (code.to_owned(), StandinAnswer::Errcode(errcode)))
        .collect()
    }
}

/// A running stand-in; it stops when dropped or on [`StandinHandle::shutdown`].
#[derive(Debug)]
pub struct StandinHandle {
    server: StandinServer,
    accepted: Arc<AtomicU64>,
}

impl StandinHandle {
    /// `http://127.0.0.1:PORT`: the value for `WECHAT_API_URL`.
    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// How many requests carried the right `appid`, `secret` and `grant_type`.
    pub fn accepted_requests(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Stops accepting, aborts open connections and waits for the server task.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

/// Serves the protocol on `listener` (bind it to loopback) until the handle is dropped.
pub fn start(listener: TcpListener, config: StandinConfig) -> std::io::Result<StandinHandle> {
    let accepted = Arc::new(AtomicU64::new(0));
    let state = Arc::new(Wechat {
        config,
        accepted: Arc::clone(&accepted),
    });
    let server = StandinServer::start(listener, move |req| {
        let wechat = Arc::clone(&state);
        async move { wechat.handle(req).await }
    })?;
    Ok(StandinHandle { server, accepted })
}

struct Wechat {
    config: StandinConfig,
    accepted: Arc<AtomicU64>,
}

/// WeChat sends its JSON as `text/plain`; clients must not rely on the content type.
const CONTENT_TYPE: &str = "text/plain";

fn json_answer(value: &Value) -> Response<Full<Bytes>> {
    http_response(StatusCode::OK, CONTENT_TYPE, value.to_string())
}

/// WeChat's words for the errcodes this stand-in sends.
fn errmsg(errcode: i64) -> &'static str {
    match errcode {
        -1 => "system error",
        40002 => "invalid grant_type",
        40013 => "invalid appid",
        40029 => "invalid code",
        40125 => "invalid appsecret",
        40163 => "code been used",
        40226 => "code blocked",
        41002 => "appid missing",
        41004 => "appsecret missing",
        41008 => "missing code",
        43001 => "require GET method",
        45011 => "api minute-quota reach limit  mustslower  retry next minute",
        _ => "error",
    }
}

fn error_answer(errcode: i64) -> Response<Full<Bytes>> {
    // WeChat appends a request id to every errmsg.
    let errmsg = format!("{}, rid: {}", errmsg(errcode), random_hex(12));
    json_answer(&json!({"errcode": errcode, "errmsg": errmsg}))
}

fn random_hex(bytes: usize) -> String {
    let mut random = vec![0u8; bytes];
    // Failure leaves zeros: still a well-formed request id.
    let _ = aws_lc_rs::rand::fill(&mut random);
    hex::encode(random)
}

type Params = Vec<(String, String)>;

fn param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

fn dev_user(code: &str) -> Option<StandinAnswer> {
    let name = code.strip_prefix("dev-wx-")?;
    let ok = (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    ok.then(|| StandinAnswer::Success {
        openid: format!("dev-wx-openid-{name}"),
        unionid: Some(format!("dev-wx-unionid-{name}")),
    })
}

impl Wechat {
    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        if req.uri().path() != JSCODE2SESSION_PATH {
            return html_response(StatusCode::NOT_FOUND);
        }
        if req.method() != Method::GET {
            return error_answer(43001);
        }
        let params: Params = form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        match self.check_request(&params) {
            Ok(answer) => self.render(answer).await,
            Err(errcode) => error_answer(errcode),
        }
    }

    /// WeChat's checks, in its order; `Err` is the errcode to answer with.
    fn check_request(&self, params: &Params) -> Result<StandinAnswer, i64> {
        match param(params, "appid") {
            None => return Err(41002),
            Some(id) if id != self.config.app_id => return Err(40013),
            Some(_) => {}
        }
        match param(params, "secret") {
            None => return Err(41004),
            Some(s) if s != self.config.app_secret.expose() => return Err(40125),
            Some(_) => {}
        }
        if param(params, "grant_type") != Some("authorization_code") {
            return Err(40002);
        }
        self.accepted.fetch_add(1, Ordering::SeqCst);
        let code = param(params, "js_code").ok_or(41008)?;
        let scripted = self.config.scripts.get(code).cloned();
        Ok(scripted
            .or_else(|| dev_user(code))
            .unwrap_or(StandinAnswer::Errcode(40029)))
    }

    async fn render(&self, answer: StandinAnswer) -> Response<Full<Bytes>> {
        match answer {
            StandinAnswer::Success { openid, unionid } => success(&openid, unionid.as_deref()),
            StandinAnswer::Errcode(errcode) => error_answer(errcode),
            StandinAnswer::Http500 => html_response(StatusCode::INTERNAL_SERVER_ERROR),
            StandinAnswer::NonJson => html_response(StatusCode::OK),
            StandinAnswer::Slow(delay) => {
                tokio::time::sleep(delay).await;
                success("standin-slow", None)
            }
        }
    }
}

fn success(openid: &str, unionid: Option<&str>) -> Response<Full<Bytes>> {
    let mut key = [0u8; 16];
    // Failure leaves zeros: still a well-formed (if weak) key for a stand-in.
    let _ = aws_lc_rs::rand::fill(&mut key);
    let mut body = json!({"session_key": STANDARD.encode(key), "openid": openid});
    if let (Some(map), Some(unionid)) = (body.as_object_mut(), unionid) {
        map.insert("unionid".into(), unionid.into());
    }
    json_answer(&body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_codes_follow_the_pattern() {
        assert!(dev_user("dev-wx-carol42").is_some());
        assert!(dev_user("dev-wx-").is_none());
        assert!(dev_user("dev-wx-Carol").is_none());
        assert!(dev_user("dev-user-carol").is_none());
        assert!(dev_user(&format!("dev-wx-{}", "a".repeat(33))).is_none());
    }
}
