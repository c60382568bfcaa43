//! The real client against the real stand-in on a loopback port: the app key signs requests,
//! the gateway key signs answers, the client verifies them with the gateway's public key.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use miniapp_shared::alipay::standin::{self, StandinAnswer, StandinConfig, StandinHandle};
use miniapp_shared::alipay::{
    beijing_timestamp, extract_signed_node, signed_wire_request, verify_signed_node, AlipayClient,
    AlipayConfig, AlipayError, AlipayIdentity, AlipayPublicKey, AlipayVerification, AppPrivateKey,
};
use miniapp_shared::time_fmt::Timestamp;
use test_support::fixtures;

const APP_ID: &str = "2021000000000001";

fn key_text(name: &str) -> String {
    fixtures::alipay(&format!("keys/{name}"))
}

fn private(name: &str) -> AppPrivateKey {
    AppPrivateKey::parse(&key_text(name), "ALIPAY_APP_PRIVATE_KEY")
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn public(name: &str) -> AlipayPublicKey {
    AlipayPublicKey::parse(&key_text(name), "ALIPAY_PUBLIC_KEY")
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn success(open_id: Option<&str>, user_id: Option<&str>, as_string: bool) -> StandinAnswer {
    StandinAnswer::Success {
        open_id: open_id.map(str::to_owned),
        user_id: user_id.map(str::to_owned),
        expires_in_as_string: as_string,
    }
}

fn scripts() -> HashMap<String, StandinAnswer> {
    let other = StandinAnswer::OtherError {
        code: "40004".into(),
        sub_code: "isv.user-frozen".into(),
    };
    HashMap::from([
        (
            "openid-only".into(),
            success(Some("074aOpenId"), None, false),
        ),
        (
            "userid-only".into(),
            success(None, Some("2088102150477652"), false),
        ),
        (
            "both".into(),
            success(Some("074aBoth"), Some("2088000000000009"), false),
        ),
        (
            "string-expiry".into(),
            success(Some("074aString"), None, true),
        ),
        ("invalid".into(), StandinAnswer::InvalidCode),
        ("other".into(), other),
        ("tampered".into(), StandinAnswer::TamperedSuccess),
        ("unsigned".into(), StandinAnswer::UnsignedSuccess),
        ("http500".into(), StandinAnswer::Http500),
        ("non-json".into(), StandinAnswer::NonJson),
        ("slow".into(), StandinAnswer::Slow(Duration::from_secs(3))),
    ])
}

async fn start_standin(scripts: HashMap<String, StandinAnswer>) -> StandinHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let config = StandinConfig {
        app_id: APP_ID.into(),
        app_public_key: public("app_public_spki.pem"),
        gateway_private_key: private("gateway_private_pkcs1.pem"),
        scripts,
        cert_sns: None,
    };
    standin::start(listener, config)
        .await
        .unwrap_or_else(|e| panic!("the stand-in does not start: {e}"))
}

/// Generous, so that a loaded machine does not fail the tests that are not about timing.
const TIMEOUT: Duration = Duration::from_secs(5);

fn client_with(
    gateway: &StandinHandle,
    app_key: AppPrivateKey,
    alipay_key: AlipayPublicKey,
    timeout: Duration,
) -> AlipayClient {
    AlipayClient::new(AlipayConfig {
        app_id: APP_ID.into(),
        app_private_key: app_key,
        verification: AlipayVerification::PublicKey(alipay_key),
        gateway_url: gateway.url(),
        timeout,
    })
    .unwrap_or_else(|e| panic!("client: {e}"))
}

fn client(gateway: &StandinHandle) -> AlipayClient {
    let (key, alipay) = (
        private("app_private_pkcs8.b64"),
        public("gateway_public_spki.b64"),
    );
    client_with(gateway, key, alipay, TIMEOUT)
}

async fn exchange(code: &str) -> (Result<AlipayIdentity, AlipayError>, u64) {
    let mut scripts = scripts();
    // Only this answer needs a freshly generated key, which takes a moment to make.
    if code == "wrong-key" {
        scripts.insert(code.into(), StandinAnswer::WrongKeySuccess);
    }
    let gateway = start_standin(scripts).await;
    let result = client(&gateway).exchange_auth_code(code).await;
    (result, gateway.verified_requests())
}

#[tokio::test]
async fn success_with_open_id_only() {
    let (result, verified) = exchange("openid-only").await;
    let identity = result.unwrap();
    assert_eq!(identity.user_id.as_str(), "074aOpenId");
    assert_eq!(identity.expires_in, Some(1_296_000));
    assert!(identity.access_token.expose().starts_with("authusrB"));
    assert!(identity.refresh_token.is_some());
    assert_eq!(verified, 1, "the stand-in verified our request signature");
}

#[tokio::test]
async fn success_with_user_id_only() {
    let identity = exchange("userid-only").await.0.unwrap();
    assert_eq!(identity.user_id.as_str(), "2088102150477652");
}

#[tokio::test]
async fn success_with_both_ids_prefers_open_id() {
    let identity = exchange("both").await.0.unwrap();
    assert_eq!(identity.user_id.as_str(), "074aBoth");
}

#[tokio::test]
async fn success_with_expires_in_as_string() {
    let identity = exchange("string-expiry").await.0.unwrap();
    assert_eq!(identity.expires_in, Some(1_296_000));
}

#[tokio::test]
async fn invalid_or_unknown_code_is_auth_code_invalid() {
    for code in ["invalid", "never-scripted"] {
        let (result, verified) = exchange(code).await;
        assert_eq!(result.unwrap_err(), AlipayError::AuthCodeInvalid, "{code}");
        assert_eq!(verified, 1);
    }
}

#[tokio::test]
async fn other_error_keeps_code_and_sub_code() {
    match exchange("other").await.0.unwrap_err() {
        AlipayError::Upstream { code, sub_code, .. } => {
            assert_eq!(code.as_deref(), Some("40004"));
            assert_eq!(sub_code.as_deref(), Some("isv.user-frozen"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn bad_signatures_are_signature_invalid() {
    for code in ["tampered", "unsigned", "wrong-key"] {
        let (result, verified) = exchange(code).await;
        assert_eq!(result.unwrap_err(), AlipayError::SignatureInvalid, "{code}");
        assert_eq!(verified, 1);
    }
}

#[tokio::test]
async fn verifying_with_the_wrong_alipay_key_fails() {
    let gateway = start_standin(scripts()).await;
    let wrong = client_with(
        &gateway,
        private("app_private_pkcs1.pem"),
        public("app_public_spki.pem"),
        TIMEOUT,
    );
    assert_eq!(
        wrong.exchange_auth_code("both").await.unwrap_err(),
        AlipayError::SignatureInvalid
    );
    // A signed error under the wrong key is not trusted either.
    assert_eq!(
        wrong.exchange_auth_code("invalid").await.unwrap_err(),
        AlipayError::SignatureInvalid
    );
}

#[tokio::test]
async fn http_500_and_non_json_are_upstream() {
    for code in ["http500", "non-json"] {
        let result = exchange(code).await.0;
        assert!(
            matches!(result, Err(AlipayError::Upstream { code: None, .. })),
            "{code}: {result:?}"
        );
    }
}

#[tokio::test]
async fn slow_gateway_times_out() {
    let gateway = start_standin(scripts()).await;
    let (key, alipay) = (
        private("app_private_pkcs8.pem"),
        public("gateway_public_spki.pem"),
    );
    let client = client_with(&gateway, key, alipay, Duration::from_millis(300));
    let started = Instant::now();
    let result = client.exchange_auth_code("slow").await;
    assert_eq!(result.unwrap_err(), AlipayError::Timeout);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn unreachable_gateway_is_upstream() {
    let gateway = start_standin(scripts()).await;
    let client = client(&gateway);
    gateway.shutdown().await;
    let result = client.exchange_auth_code("both").await;
    assert!(
        matches!(result, Err(AlipayError::Upstream { .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn wrong_app_private_key_is_rejected_by_the_gateway() {
    let gateway = start_standin(scripts()).await;
    let client = client_with(
        &gateway,
        private("gateway_private_pkcs8.pem"),
        public("gateway_public_spki.pem"),
        TIMEOUT,
    );
    let err = client.exchange_auth_code("openid-only").await.unwrap_err();
    match &err {
        AlipayError::Upstream { code, sub_code, .. } => {
            assert_eq!(code.as_deref(), Some("40002"));
            assert_eq!(sub_code.as_deref(), Some("isv.invalid-signature"));
        }
        other => panic!("{other:?}"),
    }
    // The gateway's sub_msg quotes the sign content; the code must not reach our error.
    assert!(!format!("{err} {err:?}").contains("openid-only"));
    assert_eq!(gateway.verified_requests(), 0);
}

#[tokio::test]
async fn unknown_app_id_gets_the_unsigned_error_as_upstream() {
    let gateway = start_standin(scripts()).await;
    let client = AlipayClient::new(AlipayConfig {
        app_id: "2021000000009999".into(),
        app_private_key: private("app_private_pkcs1.b64"),
        verification: AlipayVerification::PublicKey(public("gateway_public_pkcs1.pem")),
        gateway_url: gateway.url(),
        timeout: TIMEOUT,
    })
    .unwrap();
    match client.exchange_auth_code("both").await.unwrap_err() {
        AlipayError::Upstream { sub_code, .. } => {
            assert_eq!(sub_code.as_deref(), Some("isv.invalid-app-id"))
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn refresh_token_round_trip() {
    let gateway = start_standin(scripts()).await;
    let client = client(&gateway);
    let first = client.exchange_auth_code("both").await.unwrap();
    let refresh = first.refresh_token.unwrap();
    let again = client.refresh(refresh.expose()).await.unwrap();
    assert_eq!(again.user_id, first.user_id);
    assert_ne!(again.access_token.expose(), first.access_token.expose());
    assert_eq!(
        client.refresh("authusrRnot-issued").await.unwrap_err(),
        AlipayError::AuthCodeInvalid
    );
    assert_eq!(gateway.verified_requests(), 3);
}

#[tokio::test]
async fn dev_scripts_and_dev_user_codes() {
    let gateway = start_standin(StandinConfig::dev_scripts()).await;
    let client = client(&gateway);
    for _ in 0..2 {
        let alice = client.exchange_auth_code("dev-alice").await.unwrap();
        assert_eq!(alice.user_id.as_str(), "dev-openid-alice");
    }
    let bob = client.exchange_auth_code("dev-bob").await.unwrap();
    assert_eq!(bob.user_id.as_str(), "dev-openid-bob");
    let zed = client.exchange_auth_code("dev-user-zed42").await.unwrap();
    assert_eq!(zed.user_id.as_str(), "dev-openid-zed42");
    for code in ["dev-invalid", "dev-user-Zed", "dev-user-"] {
        assert_eq!(
            client.exchange_auth_code(code).await.unwrap_err(),
            AlipayError::AuthCodeInvalid
        );
    }
}

#[tokio::test]
async fn tokens_never_print() {
    let identity = exchange("both").await.0.unwrap();
    let printed = format!("{identity:?}");
    assert!(
        !printed.contains(identity.access_token.expose()),
        "{printed}"
    );
    let refresh = identity.refresh_token.as_ref().unwrap();
    assert!(!printed.contains(refresh.expose()), "{printed}");
}

/// Posts a hand-made signed request, verifies the stand-in's signed answer, returns its text.
async fn raw_exchange(gateway: &StandinHandle, method: &str, timestamp: Timestamp) -> String {
    let ts = beijing_timestamp(timestamp);
    let params = [
        ("method", method),
        ("app_id", APP_ID),
        ("charset", "utf-8"),
        ("version", "1.0"),
        ("sign_type", "RSA2"),
        ("timestamp", ts.as_str()),
        ("grant_type", "authorization_code"),
        ("code", "both"),
    ];
    let wire = signed_wire_request(&params, &private("app_private_pkcs1.pem"))
        .unwrap_or_else(|e| panic!("signing: {e}"));
    let body = reqwest::Client::new()
        .post(format!("{}?{}", gateway.url(), wire.query))
        .header(
            "content-type",
            "application/x-www-form-urlencoded;charset=UTF-8",
        )
        .body(wire.form_body.expose().to_owned())
        .send()
        .await
        .unwrap_or_else(|e| panic!("posting to the stand-in: {e}"))
        .text()
        .await
        .unwrap_or_else(|e| panic!("reading the answer: {e}"));
    let node = extract_signed_node(&body, "alipay_system_oauth_token_response")
        .unwrap_or_else(|e| panic!("{e}: {body}"));
    verify_signed_node(&node, &public("gateway_public_spki.pem"))
        .unwrap_or_else(|e| panic!("the answer does not verify: {e}"));
    node.content.to_owned()
}

#[tokio::test]
async fn standin_checks_method_and_beijing_timestamp() {
    let gateway = start_standin(scripts()).await;
    let method = "alipay.system.oauth.token";
    let fresh = raw_exchange(&gateway, method, Timestamp::now()).await;
    assert!(fresh.contains("\"open_id\":\"074aBoth\""), "{fresh}");
    // UTC sent as if it were Beijing time is 8 hours off.
    let utc_as_beijing =
        raw_exchange(&gateway, method, Timestamp::now().plus_secs(-8 * 3600)).await;
    assert!(
        utc_as_beijing.contains("isv.invalid-timestamp"),
        "{utc_as_beijing}"
    );
    let stale = raw_exchange(&gateway, method, Timestamp::now().plus_secs(-16 * 60)).await;
    assert!(stale.contains("isv.invalid-timestamp"), "{stale}");
    let other = raw_exchange(&gateway, "alipay.user.info.share", Timestamp::now()).await;
    assert!(other.contains("isv.invalid-method"), "{other}");
    assert_eq!(gateway.verified_requests(), 3);
}

/// Certificate mode both ways: the synthetic certificates, whose keys are the fixture keys.
mod certificate_mode {
    use super::*;
    use miniapp_shared::alipay::{synthetic, AlipayCertificates, CertificateTexts, StandinCertSns};

    fn certificates() -> AlipayCertificates {
        AlipayCertificates::from_pem(CertificateTexts {
            app_cert: (synthetic::APP_CERT, "ALIPAY_APP_CERT"),
            alipay_cert: (synthetic::ALIPAY_CERT, "ALIPAY_PUBLIC_CERT"),
            root_cert: (synthetic::ROOT_CERT, "ALIPAY_ROOT_CERT"),
        })
        .unwrap_or_else(|e| panic!("the synthetic certificates: {e}"))
    }

    async fn cert_standin() -> StandinHandle {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let mut scripts = scripts();
        scripts.insert("rotated".into(), StandinAnswer::RotatedCertSuccess);
        let config = StandinConfig {
            app_id: synthetic::APP_ID.into(),
            app_public_key: AlipayPublicKey::parse(synthetic::APP_PUBLIC_KEY, "app")
                .unwrap_or_else(|e| panic!("{e}")),
            gateway_private_key: AppPrivateKey::parse(synthetic::GATEWAY_PRIVATE_KEY, "gw")
                .unwrap_or_else(|e| panic!("{e}")),
            scripts,
            cert_sns: Some(StandinCertSns::from(&certificates())),
        };
        standin::start(listener, config)
            .await
            .unwrap_or_else(|e| panic!("the stand-in does not start: {e}"))
    }

    fn cert_client(gateway: &StandinHandle, verification: AlipayVerification) -> AlipayClient {
        AlipayClient::new(AlipayConfig {
            app_id: synthetic::APP_ID.into(),
            app_private_key: AppPrivateKey::parse(synthetic::APP_PRIVATE_KEY, "app")
                .unwrap_or_else(|e| panic!("{e}")),
            verification,
            gateway_url: gateway.url(),
            timeout: TIMEOUT,
        })
        .unwrap_or_else(|e| panic!("client: {e}"))
    }

    #[tokio::test]
    async fn a_login_carries_the_sns_and_verifies_with_the_certificates_key() {
        let gateway = cert_standin().await;
        let client = cert_client(&gateway, AlipayVerification::Certificates(certificates()));
        let id = client.exchange_auth_code("openid-only").await.unwrap();
        assert_eq!(id.user_id.as_str(), "074aOpenId");
        assert_eq!(gateway.verified_requests(), 1);
        let err = client.exchange_auth_code("invalid").await.unwrap_err();
        assert_eq!(err, AlipayError::AuthCodeInvalid);
        let err = client.exchange_auth_code("tampered").await.unwrap_err();
        assert_eq!(err, AlipayError::SignatureInvalid);
    }

    #[tokio::test]
    async fn an_answer_naming_another_alipay_certificate_is_refused() {
        let gateway = cert_standin().await;
        let client = cert_client(&gateway, AlipayVerification::Certificates(certificates()));
        match client.exchange_auth_code("rotated").await.unwrap_err() {
            AlipayError::CertSnMismatch {
                received,
                configured,
            } => {
                assert_eq!(received, "00000000000000000000000000000000");
                assert_eq!(configured, certificates().alipay_cert_sn());
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_public_key_mode_client_is_refused_by_a_certificate_mode_gateway() {
        let gateway = cert_standin().await;
        let key = certificates().alipay_public_key().clone();
        let client = cert_client(&gateway, AlipayVerification::PublicKey(key));
        match client.exchange_auth_code("openid-only").await.unwrap_err() {
            AlipayError::Upstream { sub_code, .. } => {
                assert_eq!(sub_code.as_deref(), Some("isv.invalid-app-cert-sn"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(gateway.verified_requests(), 0);
    }
}
