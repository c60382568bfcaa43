//! The token exchange: `alipay.system.oauth.token`, RSA2-signed, answer verified before use.

use std::time::Duration;

use serde_json::{Map, Value};
use thiserror::Error;

use super::cert::AlipayCertificates;
use super::keys::{AlipayPublicKey, AppPrivateKey};
use super::response::{extract_signed_node, verify_signed_node, NodeKind, ResponseError};
use super::sign::{beijing_timestamp, signed_wire_request, WireRequest};
use crate::config::vars;
use crate::ids::UserId;
use crate::secret::SecretString;
use crate::time_fmt::Timestamp;

/// The OpenAPI method that trades an auth code (or refresh token) for an identity.
pub const OAUTH_TOKEN_METHOD: &str = "alipay.system.oauth.token";
const OAUTH_TOKEN_NODE: &str = "alipay_system_oauth_token_response";
const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded;charset=UTF-8";
/// Token answers are well under 2 KiB; anything far larger is not the gateway talking.
const MAX_ANSWER_BYTES: usize = 256 * 1024;
/// The longest auth code (or refresh token) accepted, in bytes: real ones are 32 hex digits
/// (refresh tokens about 40 characters), so anything far longer is refused without a call.
pub const MAX_AUTH_CODE_BYTES: usize = 256;
/// Alipay's `msg` is copied into errors; keep log lines bounded.
const MAX_MESSAGE_CHARS: usize = 200;

/// Why an exchange failed. Messages never contain the code or tokens.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum AlipayError {
    /// The client could not be built from its configuration.
    #[error("{0}")]
    Config(String),
    /// The auth code (or refresh token) is invalid, used or expired.
    #[error("Alipay refused the auth code or refresh token as invalid, used or expired")]
    AuthCodeInvalid,
    /// Any other failure of the gateway: an error answer, HTTP error, or unusable body.
    #[error("Alipay upstream error (code {}, sub_code {}): {message}",
        .code.as_deref().unwrap_or("-"), .sub_code.as_deref().unwrap_or("-"))]
    Upstream {
        /// Alipay's `code`, when it sent one.
        code: Option<String>,
        /// Alipay's `sub_code`, when it sent one.
        sub_code: Option<String>,
        /// What went wrong (Alipay's `msg`, or our description).
        message: String,
    },
    /// A success (or signed error) whose signature is missing or does not verify.
    #[error("Alipay's answer failed signature verification")]
    SignatureInvalid,
    /// Certificate mode: the answer names another Alipay certificate than the configured one
    /// (Alipay has rotated its certificate: download the new one).
    #[error("Alipay's answer carries alipay_cert_sn {received}, not the configured certificate's {configured}; has Alipay rotated its certificate?")]
    CertSnMismatch {
        /// The answer's `alipay_cert_sn`.
        received: String,
        /// The SN of `ALIPAY_PUBLIC_CERT`.
        configured: String,
    },
    /// No complete answer within the configured timeout.
    #[error("Alipay did not answer in time")]
    Timeout,
}

fn upstream(message: impl Into<String>) -> AlipayError {
    AlipayError::Upstream {
        code: None,
        sub_code: None,
        message: message.into(),
    }
}

/// Who the user is, from a verified answer.
#[derive(Debug, Clone)]
pub struct AlipayIdentity {
    /// `open_id` when Alipay sent one, else `user_id`.
    pub user_id: UserId,
    /// The access token (redacted in `Debug`).
    pub access_token: SecretString,
    /// The refresh token, when sent (redacted in `Debug`).
    pub refresh_token: Option<SecretString>,
    /// Lifetime of the access token in seconds (Alipay sends a number or a string).
    pub expires_in: Option<u64>,
}

/// A signed `alipay.system.oauth.token` request, not sent yet. Its form body carries the code
/// (a secret: redacted in `Debug`).
#[derive(Debug)]
pub struct SignedExchange(WireRequest);

/// What the client needs, read once from the environment by the caller.
#[derive(Debug, Clone)]
pub struct AlipayConfig {
    /// `ALIPAY_APP_ID`.
    pub app_id: String,
    /// `ALIPAY_APP_PRIVATE_KEY`, parsed.
    pub app_private_key: AppPrivateKey,
    /// How answers are verified: `ALIPAY_PUBLIC_KEY`, or the certificates.
    pub verification: AlipayVerification,
    /// `ALIPAY_GATEWAY_URL`.
    pub gateway_url: String,
    /// `ALIPAY_TIMEOUT_MS`: the limit of one whole gateway call.
    pub timeout: Duration,
}

/// Public-key mode or certificate mode (公钥模式 / 公钥证书模式).
#[derive(Debug, Clone)]
pub enum AlipayVerification {
    /// Answers are verified with Alipay's public key as configured.
    PublicKey(AlipayPublicKey),
    /// Requests carry `app_cert_sn` and `alipay_root_cert_sn`; answers must carry the
    /// configured `alipay_cert_sn` and are verified with the key of Alipay's certificate.
    Certificates(AlipayCertificates),
}

impl AlipayVerification {
    fn key(&self) -> &AlipayPublicKey {
        match self {
            Self::PublicKey(key) => key,
            Self::Certificates(certs) => certs.alipay_public_key(),
        }
    }

    /// The parameters certificate mode adds to every request (inside the sign content).
    fn request_params(&self) -> Vec<(&'static str, &str)> {
        match self {
            Self::PublicKey(_) => Vec::new(),
            Self::Certificates(certs) => vec![
                ("app_cert_sn", certs.app_cert_sn()),
                ("alipay_root_cert_sn", certs.alipay_root_cert_sn()),
            ],
        }
    }

    /// Certificate mode: refuses an answer naming another Alipay certificate. Like Alipay's
    /// SDKs, an answer without `alipay_cert_sn` is verified with the configured key.
    fn check_cert_sn(&self, received: Option<&str>) -> Result<(), AlipayError> {
        match (self, received) {
            (Self::Certificates(certs), Some(sn)) if sn != certs.alipay_cert_sn() => {
                Err(AlipayError::CertSnMismatch {
                    received: sn.chars().take(MAX_MESSAGE_CHARS).collect(),
                    configured: certs.alipay_cert_sn().to_owned(),
                })
            }
            _ => Ok(()),
        }
    }
}

/// The gateway client: built once, shared by reference.
#[derive(Debug)]
pub struct AlipayClient {
    app_id: String,
    app_key: AppPrivateKey,
    verification: AlipayVerification,
    gateway: reqwest::Url,
    http: reqwest::Client,
}

impl AlipayClient {
    /// Validates the configuration and builds the one HTTP client.
    pub fn new(config: AlipayConfig) -> Result<Self, AlipayError> {
        if config.app_id.trim().is_empty() {
            return Err(AlipayError::Config(format!(
                "{}: is empty",
                vars::ALIPAY_APP_ID
            )));
        }
        let gateway = parse_gateway_url(&config.gateway_url)?;
        crate::trust_roots::read_roots_if_https(&gateway);
        let http = crate::trust_roots::with_client_config(reqwest::Client::builder())
            .timeout(config.timeout)
            // A redirect would carry the signed request elsewhere; the gateway never sends one.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|_| AlipayError::Config("cannot build the HTTP client for Alipay".into()))?;
        Ok(Self {
            app_id: config.app_id,
            app_key: config.app_private_key,
            verification: config.verification,
            gateway,
            http,
        })
    }

    /// Exchanges a Mini Program auth code (`grant_type=authorization_code`).
    pub async fn exchange_auth_code(&self, code: &str) -> Result<AlipayIdentity, AlipayError> {
        let request = self.sign_auth_code_exchange(code)?;
        self.send(request).await
    }

    /// Exchanges a refresh token (`grant_type=refresh_token`).
    pub async fn refresh(&self, refresh_token: &str) -> Result<AlipayIdentity, AlipayError> {
        let request = self.sign_oauth_token("refresh_token", "refresh_token", refresh_token)?;
        self.send(request).await
    }

    /// The signed exchange of an auth code, to [`send`](Self::send) later. Signing is the
    /// exchange's CPU work (an RSA-2048 signature, ~0.3 ms); apart from the sending, a caller
    /// can do it beside other waits.
    pub fn sign_auth_code_exchange(&self, code: &str) -> Result<SignedExchange, AlipayError> {
        self.sign_oauth_token("authorization_code", "code", code)
    }

    /// Sends a signed exchange and verifies the answer.
    pub async fn send(&self, request: SignedExchange) -> Result<AlipayIdentity, AlipayError> {
        let body = self.post(request.0).await?;
        interpret_answer(&body, &self.verification)
    }

    fn sign_oauth_token(
        &self,
        grant_type: &str,
        field: &str,
        value: &str,
    ) -> Result<SignedExchange, AlipayError> {
        if value.is_empty() || value.len() > MAX_AUTH_CODE_BYTES {
            return Err(AlipayError::AuthCodeInvalid);
        }
        let timestamp = beijing_timestamp(Timestamp::now());
        let mut params = vec![
            ("method", OAUTH_TOKEN_METHOD),
            ("app_id", self.app_id.as_str()),
            ("charset", "utf-8"),
            ("version", "1.0"),
            ("sign_type", "RSA2"),
            ("timestamp", timestamp.as_str()),
            ("grant_type", grant_type),
            (field, value),
        ];
        params.extend(self.verification.request_params());
        let wire = signed_wire_request(&params, &self.app_key)
            .map_err(|_| upstream("could not sign the request"))?;
        Ok(SignedExchange(wire))
    }

    async fn post(&self, wire: WireRequest) -> Result<String, AlipayError> {
        let mut url = self.gateway.clone();
        let query = match self.gateway.query() {
            Some(q) if !q.is_empty() => format!("{q}&{}", wire.query),
            _ => wire.query,
        };
        url.set_query(Some(&query));
        let response = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, FORM_CONTENT_TYPE)
            .body(wire.form_body.expose().to_owned())
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status();
        if !status.is_success() {
            return Err(upstream(format!(
                "the gateway answered HTTP {}",
                status.as_u16()
            )));
        }
        read_body(response).await
    }
}

fn parse_gateway_url(text: &str) -> Result<reqwest::Url, AlipayError> {
    let bad = |why: &str| AlipayError::Config(format!("{}: {why}", vars::ALIPAY_GATEWAY_URL));
    let url = reqwest::Url::parse(text.trim()).map_err(|_| bad("is not a valid URL"))?;
    match url.scheme() {
        "http" | "https" if url.host().is_some() => Ok(url),
        _ => Err(bad("must be an http or https URL with a host")),
    }
}

/// Reads at most [`MAX_ANSWER_BYTES`]; the client's timeout also bounds this.
async fn read_body(mut response: reqwest::Response) -> Result<String, AlipayError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(upstream("the gateway's answer is too large"));
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|_| upstream("the gateway's answer is not UTF-8"))
}

fn transport_error(e: reqwest::Error) -> AlipayError {
    // reqwest's own text quotes the URL (with the signed query); describe the kind only.
    if e.is_timeout() {
        AlipayError::Timeout
    } else if e.is_connect() {
        upstream("could not connect to the gateway")
    } else {
        upstream("the request to the gateway failed")
    }
}

/// Turns a gateway body into an identity or an error: verify first, then parse.
fn interpret_answer(
    body: &str,
    verification: &AlipayVerification,
) -> Result<AlipayIdentity, AlipayError> {
    let node = extract_signed_node(body, OAUTH_TOKEN_NODE).map_err(|e| match e {
        ResponseError::NoNode => upstream("the gateway's answer has no response node"),
        _ => upstream("the gateway's answer is not a well-formed JSON object"),
    })?;
    match (node.kind, node.sign.is_some()) {
        // The real gateway leaves some errors unsigned (e.g. an unknown app id): report them,
        // but never let an unverified body decide more than "this failed".
        (NodeKind::Error, false) => Err(upstream_from(&parse_node(node.content)?)),
        _ => {
            // Alipay's SDKs compare the SN before verifying: a rotated certificate says so.
            verification.check_cert_sn(node.cert_sn.as_deref())?;
            verify_signed_node(&node, verification.key())
                .map_err(|_| AlipayError::SignatureInvalid)?;
            let fields = parse_node(node.content)?;
            match node.kind {
                NodeKind::Error => Err(classify_error(&fields)),
                NodeKind::Method => identity_from(&fields),
            }
        }
    }
}

fn parse_node(content: &str) -> Result<Map<String, Value>, AlipayError> {
    serde_json::from_str(content).map_err(|_| upstream("the response node is not valid JSON"))
}

/// A text field that Alipay may send as a string or a number.
fn text_field(fields: &Map<String, Value>, name: &str) -> Option<String> {
    match fields.get(name)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn identity_from(fields: &Map<String, Value>) -> Result<AlipayIdentity, AlipayError> {
    // Some APIs report errors inside the method node with a code other than 10000.
    if text_field(fields, "code").is_some_and(|c| c != "10000") {
        return Err(classify_error(fields));
    }
    let access_token = text_field(fields, "access_token")
        .ok_or_else(|| upstream("the answer has no access_token"))?;
    let id = text_field(fields, "open_id")
        .or_else(|| text_field(fields, "user_id"))
        .ok_or_else(|| upstream("the answer has neither open_id nor user_id"))?;
    let user_id = UserId::parse(&id).map_err(|_| upstream("the answer's user id is malformed"))?;
    Ok(AlipayIdentity {
        user_id,
        access_token: SecretString::new(access_token),
        refresh_token: text_field(fields, "refresh_token").map(SecretString::new),
        expires_in: text_field(fields, "expires_in").and_then(|s| s.parse().ok()),
    })
}

/// `isv.code-invalid` and its kin (expired, used), and invalid or expired refresh tokens.
fn is_invalid_grant(sub_code: &str) -> bool {
    sub_code.starts_with("isv.code-") || sub_code.starts_with("isv.refresh-token-")
}

fn classify_error(fields: &Map<String, Value>) -> AlipayError {
    match text_field(fields, "sub_code") {
        Some(sub) if is_invalid_grant(&sub) => AlipayError::AuthCodeInvalid,
        _ => upstream_from(fields),
    }
}

/// Keeps `code`, `sub_code` and `msg`; drops `sub_msg`, which can echo the request (the
/// invalid-signature one quotes the whole sign content, auth code included).
fn upstream_from(fields: &Map<String, Value>) -> AlipayError {
    let bounded = |s: String| s.chars().take(MAX_MESSAGE_CHARS).collect::<String>();
    AlipayError::Upstream {
        code: text_field(fields, "code").map(bounded),
        sub_code: text_field(fields, "sub_code").map(bounded),
        message: text_field(fields, "msg")
            .map(bounded)
            .unwrap_or_else(|| "the gateway answered with an error".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_and_code_errors_count_as_invalid_grants() {
        for sub in [
            "isv.code-invalid",
            "isv.code-expired",
            "isv.code-used",
            "isv.refresh-token-invalid",
        ] {
            assert!(is_invalid_grant(sub), "{sub}");
        }
        assert!(!is_invalid_grant("isv.invalid-signature"));
    }

    #[test]
    fn upstream_errors_do_not_carry_sub_msg() {
        let fields: Map<String, Value> = serde_json::from_str(
            r#"{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-signature","sub_msg":"code=SECRET"}"#,
        )
        .unwrap();
        let err = classify_error(&fields);
        assert!(!format!("{err} {err:?}").contains("SECRET"));
    }

    fn gateway_key() -> AlipayVerification {
        let pem = include_str!("../../tests/fixtures/alipay/keys/gateway_public_spki.pem");
        AlipayVerification::PublicKey(AlipayPublicKey::parse(pem, "ALIPAY_PUBLIC_KEY").unwrap())
    }

    fn certificate_mode() -> AlipayVerification {
        use crate::alipay::cert::CertificateTexts;
        let dir = |name: &str| {
            format!(
                "{}/tests/fixtures/alipay/certs/{name}",
                env!("CARGO_MANIFEST_DIR")
            )
        };
        let read = |name: &str| std::fs::read_to_string(dir(name)).unwrap();
        let (app, alipay, root) = (
            read("appCertPublicKey_2021000000000001.crt"),
            read("alipayCertPublicKey_RSA2.crt"),
            read("alipayRootCert.crt"),
        );
        let certs = AlipayCertificates::from_pem(CertificateTexts {
            app_cert: (&app, "ALIPAY_APP_CERT"),
            alipay_cert: (&alipay, "ALIPAY_PUBLIC_CERT"),
            root_cert: (&root, "ALIPAY_ROOT_CERT"),
        })
        .unwrap();
        AlipayVerification::Certificates(certs)
    }

    #[test]
    fn certificate_mode_adds_the_sns_and_checks_the_answers_sn() {
        let cert_mode = certificate_mode();
        let params = cert_mode.request_params();
        assert_eq!(
            params[0],
            ("app_cert_sn", "b1742dca6bb58591593d312ef021570e")
        );
        assert_eq!(params[1].0, "alipay_root_cert_sn");
        assert!(gateway_key().request_params().is_empty());
        let cases: Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/alipay/certs/cert_cases.json"
        ))
        .unwrap();
        let good = cases["response_case"]["body"].as_str().unwrap();
        let identity = interpret_answer(good, &cert_mode).unwrap();
        assert_eq!(
            identity.user_id.as_str(),
            "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5"
        );
        let rotated = cases["response_case_wrong_cert_sn"]["body"]
            .as_str()
            .unwrap();
        let err = interpret_answer(rotated, &cert_mode).unwrap_err();
        assert_eq!(
            err,
            AlipayError::CertSnMismatch {
                received: "00000000000000000000000000000000".into(),
                configured: "5d638403648a25c837b8db5dba0e9845".into()
            }
        );
        assert!(err.to_string().contains("00000000000000000000000000000000"));
        // Public-key mode ignores the SN, as Alipay's SDKs do.
        assert!(interpret_answer(rotated, &gateway_key()).is_ok());
    }

    #[test]
    fn recorded_oauth_answers_get_the_right_outcome() {
        let all: Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/alipay/response_cases.json"
        ))
        .unwrap();
        let oauth = all["cases"].as_array().unwrap().iter();
        for case in oauth.filter(|c| c["method"] == OAUTH_TOKEN_METHOD) {
            let outcome = interpret_answer(case["body"].as_str().unwrap(), &gateway_key());
            let name = &case["name"];
            match (case["must_verify"].as_bool(), case["signed_node"].as_str()) {
                (Some(true), Some(OAUTH_TOKEN_NODE)) => assert!(outcome.is_ok(), "{name}"),
                (Some(false), _) => {
                    assert_eq!(outcome.err(), Some(AlipayError::SignatureInvalid), "{name}")
                }
                _ if case["body"].as_str().unwrap().contains("isv.code-invalid") => {
                    assert_eq!(outcome.err(), Some(AlipayError::AuthCodeInvalid), "{name}")
                }
                _ => assert!(
                    matches!(outcome, Err(AlipayError::Upstream { .. })),
                    "{name}"
                ),
            }
        }
    }

    #[test]
    fn unsigned_errors_never_decide_more_than_upstream() {
        let body = r#"{"error_response":{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.code-invalid"}}"#;
        let outcome = interpret_answer(body, &gateway_key());
        assert!(
            matches!(outcome, Err(AlipayError::Upstream { sub_code: Some(s), .. }) if s == "isv.code-invalid")
        );
    }

    #[test]
    fn gateway_url_must_be_http() {
        assert!(parse_gateway_url("ftp://x/gateway.do").is_err());
        assert!(parse_gateway_url("not a url").is_err());
        assert!(parse_gateway_url("http://127.0.0.1:1/gateway.do").is_ok());
    }
}
