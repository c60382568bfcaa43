//! `GET /sns/jscode2session`: a `wx.login()` code for the user's `openid` (and `unionid`).

use std::time::Duration;

use serde_json::{Map, Value};
use thiserror::Error;

use crate::secret::SecretString;

/// WeChat's API host, the default of `WECHAT_API_URL`.
pub const DEFAULT_API_URL: &str = "https://api.weixin.qq.com";
/// The login method's path under the API URL.
pub const JSCODE2SESSION_PATH: &str = "/sns/jscode2session";
/// Answers are a few hundred bytes; anything far larger is not WeChat talking.
const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// `wx.login()` codes are 32 characters; a huge one is refused without a call.
const MAX_CODE_BYTES: usize = 256;
/// WeChat's ids are 28 characters; anything past this is not one.
const MAX_ID_BYTES: usize = 100;
/// `errmsg` is copied into errors; keep log lines bounded.
const MAX_MESSAGE_CHARS: usize = 200;
/// 45011 is a per-user, per-minute quota: a minute later it has reset.
const RATE_LIMITED_RETRY_SECS: u64 = 60;
/// -1 is "system busy, try again later": a moment is enough.
const BUSY_RETRY_SECS: u64 = 2;

/// Why a login failed. Messages never contain the code, the secret or the session key.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum WechatError {
    /// The client could not be built from its configuration.
    #[error("{0}")]
    Config(String),
    /// The code is invalid (40029) or already used (40163).
    #[error("WeChat refused the login code as invalid or already used")]
    AuthCodeInvalid,
    /// WeChat is rate limiting (45011) or busy (-1): retry after the given seconds.
    #[error("WeChat is busy (errcode {errcode}); retry in {retry_after_secs} s")]
    Busy {
        /// WeChat's `errcode`.
        errcode: i64,
        /// How long the caller should wait (the `Retry-After` value).
        retry_after_secs: u64,
    },
    /// Any other failure: another errcode, an HTTP error, or an unusable body.
    #[error("WeChat upstream error (errcode {}): {message}",
        .errcode.map_or_else(|| "-".to_owned(), |c| c.to_string()))]
    Upstream {
        /// WeChat's `errcode`, when it sent one.
        errcode: Option<i64>,
        /// What went wrong (WeChat's `errmsg`, or our description).
        message: String,
    },
    /// No complete answer within the configured timeout.
    #[error("WeChat did not answer in time")]
    Timeout,
}

fn upstream(message: impl Into<String>) -> WechatError {
    WechatError::Upstream {
        errcode: None,
        message: message.into(),
    }
}

/// Who the user is, from WeChat's answer.
#[derive(Debug)]
pub struct WechatIdentity {
    /// The user's id within this Mini Program.
    pub openid: String,
    /// The user's id across the developer's apps, when WeChat sends it.
    pub unionid: Option<String>,
    /// The session key: it decrypts the user's data, so it is a secret (redacted in `Debug`),
    /// never logged, returned to clients or stored.
    pub session_key: SecretString,
}

/// What the client needs, read once from the environment by the caller.
#[derive(Debug, Clone)]
pub struct WechatConfig {
    /// `WECHAT_APP_ID`.
    pub app_id: String,
    /// `WECHAT_APP_SECRET`.
    pub app_secret: SecretString,
    /// `WECHAT_API_URL` (scheme and host, optionally a path prefix).
    pub api_url: String,
    /// The limit of one whole call.
    pub timeout: Duration,
}

/// The login client: built once, shared by reference.
#[derive(Debug)]
pub struct WechatClient {
    app_id: String,
    app_secret: SecretString,
    endpoint: reqwest::Url,
    http: reqwest::Client,
}

impl WechatClient {
    /// Validates the configuration and builds the one HTTP client.
    pub fn new(config: WechatConfig) -> Result<Self, WechatError> {
        if config.app_id.trim().is_empty() {
            return Err(WechatError::Config("WECHAT_APP_ID: is empty".into()));
        }
        if config.app_secret.expose().trim().is_empty() {
            return Err(WechatError::Config("WECHAT_APP_SECRET: is empty".into()));
        }
        let endpoint = endpoint_url(&config.api_url)?;
        crate::trust_roots::read_roots_if_https(&endpoint);
        let http = crate::trust_roots::with_client_config(reqwest::Client::builder())
            .timeout(config.timeout)
            // The query carries the app secret: never let a redirect carry it elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|_| WechatError::Config("cannot build the HTTP client for WeChat".into()))?;
        Ok(Self {
            app_id: config.app_id.trim().to_owned(),
            app_secret: config.app_secret,
            endpoint,
            http,
        })
    }

    /// Exchanges a `wx.login()` code for the user's identity.
    pub async fn exchange_code(&self, code: &str) -> Result<WechatIdentity, WechatError> {
        if code.is_empty() || code.len() > MAX_CODE_BYTES || code.chars().any(char::is_control) {
            return Err(WechatError::AuthCodeInvalid);
        }
        let mut url = self.endpoint.clone();
        url.query_pairs_mut()
            .append_pair("appid", &self.app_id)
            .append_pair("secret", self.app_secret.expose())
            .append_pair("js_code", code)
            .append_pair("grant_type", "authorization_code");
        let response = self.http.get(url).send().await.map_err(transport_error)?;
        let status = response.status();
        if !status.is_success() {
            return Err(upstream(format!(
                "WeChat answered HTTP {}",
                status.as_u16()
            )));
        }
        let body = read_body(response).await?;
        interpret_answer(&body, &[self.app_secret.expose(), code])
    }
}

fn endpoint_url(text: &str) -> Result<reqwest::Url, WechatError> {
    let bad = |why: &str| WechatError::Config(format!("WECHAT_API_URL: {why}"));
    let base = reqwest::Url::parse(text.trim()).map_err(|_| bad("is not a valid URL"))?;
    if !matches!(base.scheme(), "http" | "https") || base.host().is_none() {
        return Err(bad("must be an http or https URL with a host"));
    }
    if base.query().is_some() || base.fragment().is_some() {
        return Err(bad("must not carry a query or fragment"));
    }
    let path = format!("{}{JSCODE2SESSION_PATH}", base.path().trim_end_matches('/'));
    let mut url = base;
    url.set_path(&path);
    Ok(url)
}

/// Reads at most [`MAX_ANSWER_BYTES`]; the client's timeout also bounds this.
async fn read_body(mut response: reqwest::Response) -> Result<String, WechatError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(upstream("WeChat's answer is too large"));
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|_| upstream("WeChat's answer is not UTF-8"))
}

fn transport_error(e: reqwest::Error) -> WechatError {
    // reqwest's own text quotes the URL, whose query holds the secret: describe the kind only.
    if e.is_timeout() {
        WechatError::Timeout
    } else if e.is_connect() {
        upstream("could not connect to WeChat")
    } else {
        upstream("the request to WeChat failed")
    }
}

/// Turns WeChat's body (JSON, sent as `text/plain`) into an identity or an error. `secrets`
/// are cut out of any `errmsg` that is copied into an error.
fn interpret_answer(body: &str, secrets: &[&str]) -> Result<WechatIdentity, WechatError> {
    let fields: Map<String, Value> =
        serde_json::from_str(body).map_err(|_| upstream("WeChat's answer is not a JSON object"))?;
    match fields.get("errcode") {
        None => {}
        Some(Value::Number(n)) => match n.as_i64() {
            Some(0) => {}
            Some(errcode) => return Err(classify(errcode, &fields, secrets)),
            None => return Err(upstream("WeChat's errcode is not an integer")),
        },
        Some(_) => return Err(upstream("WeChat's errcode is not a number")),
    }
    identity_from(&fields)
}

fn classify(errcode: i64, fields: &Map<String, Value>, secrets: &[&str]) -> WechatError {
    match errcode {
        40029 | 40163 => WechatError::AuthCodeInvalid,
        45011 => WechatError::Busy {
            errcode,
            retry_after_secs: RATE_LIMITED_RETRY_SECS,
        },
        -1 => WechatError::Busy {
            errcode,
            retry_after_secs: BUSY_RETRY_SECS,
        },
        _ => WechatError::Upstream {
            errcode: Some(errcode),
            message: errmsg(fields, secrets),
        },
    }
}

fn errmsg(fields: &Map<String, Value>, secrets: &[&str]) -> String {
    let Some(Value::String(text)) = fields.get("errmsg") else {
        return "WeChat answered with an error".into();
    };
    let mut text = text.clone();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        text = text.replace(secret, "<redacted>");
    }
    text.chars().take(MAX_MESSAGE_CHARS).collect()
}

fn id_field(fields: &Map<String, Value>, name: &str) -> Result<Option<String>, WechatError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s))
            if (1..=MAX_ID_BYTES).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Ok(Some(s.clone()))
        }
        Some(_) => Err(upstream(format!("WeChat's {name} is malformed"))),
    }
}

fn identity_from(fields: &Map<String, Value>) -> Result<WechatIdentity, WechatError> {
    let openid = id_field(fields, "openid")?.ok_or_else(|| upstream("the answer has no openid"))?;
    let session_key = match fields.get("session_key") {
        Some(Value::String(s)) if !s.is_empty() => SecretString::new(s.clone()),
        _ => return Err(upstream("the answer has no session_key")),
    };
    Ok(WechatIdentity {
        openid,
        unionid: id_field(fields, "unionid")?,
        session_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_keeps_a_path_prefix_and_refuses_other_schemes() {
        let url = |t: &str| endpoint_url(t).map(|u| u.to_string());
        assert_eq!(
            url("https://api.weixin.qq.com").unwrap(),
            "https://api.weixin.qq.com/sns/jscode2session"
        );
        assert_eq!(
            url("http://127.0.0.1:9/prefix/").unwrap(),
            "http://127.0.0.1:9/prefix/sns/jscode2session"
        );
        for bad in ["ftp://x", "not a url", "http://h/?a=b"] {
            assert!(url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn errcodes_map_to_their_outcomes() {
        let answer = |body: &str| interpret_answer(body, &[]);
        for code in [40029, 40163] {
            let body = format!(r#"{{"errcode":{code},"errmsg":"invalid code, rid: 1"}}"#);
            assert_eq!(answer(&body).unwrap_err(), WechatError::AuthCodeInvalid);
        }
        let busy = |errcode, retry_after_secs| WechatError::Busy {
            errcode,
            retry_after_secs,
        };
        assert_eq!(
            answer(r#"{"errcode":45011,"errmsg":"api minute-quota reach limit"}"#).unwrap_err(),
            busy(45011, 60)
        );
        assert_eq!(
            answer(r#"{"errcode":-1,"errmsg":"system error"}"#).unwrap_err(),
            busy(-1, 2)
        );
        assert_eq!(
            answer(r#"{"errcode":40226,"errmsg":"code blocked"}"#).unwrap_err(),
            WechatError::Upstream {
                errcode: Some(40226),
                message: "code blocked".into()
            }
        );
    }

    #[test]
    fn success_with_or_without_unionid() {
        let body = r#"{"session_key":"c2Vzc2lvbmtleQ==","openid":"oABC","unionid":"uXYZ"}"#;
        let id = interpret_answer(body, &[]).unwrap();
        assert_eq!(
            (id.openid.as_str(), id.unionid.as_deref()),
            ("oABC", Some("uXYZ"))
        );
        let zero = r#"{"errcode":0,"errmsg":"ok","session_key":"k","openid":"oABC"}"#;
        assert_eq!(interpret_answer(zero, &[]).unwrap().unionid, None);
    }

    #[test]
    fn unusable_answers_are_upstream_errors() {
        for body in [
            "",
            "<html></html>",
            "[]",
            r#"{"openid":"o"}"#,
            r#"{"session_key":"k"}"#,
            r#"{"session_key":"k","openid":""}"#,
            r#"{"session_key":"k","openid":"has space"}"#,
            r#"{"session_key":"k","openid":"o","unionid":5}"#,
            r#"{"errcode":"40029"}"#,
            r#"{"errcode":1.5}"#,
        ] {
            assert!(
                matches!(
                    interpret_answer(body, &[]),
                    Err(WechatError::Upstream { .. })
                ),
                "{body:?}"
            );
        }
    }

    #[test]
    fn the_session_key_never_prints_and_errmsg_never_echoes_secrets() {
        let body = r#"{"session_key":"S3CR3TKEY","openid":"oABC"}"#;
        let id = interpret_answer(body, &[]).unwrap();
        assert!(!format!("{id:?}").contains("S3CR3TKEY"));
        assert_eq!(id.session_key.expose(), "S3CR3TKEY");
        let echo = r#"{"errcode":40125,"errmsg":"invalid appsecret hunter2 for code abc"}"#;
        let err = interpret_answer(echo, &["hunter2", "abc"]).unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(!text.contains("hunter2") && !text.contains("abc"), "{text}");
    }
}
