//! The Alipay vectors in `tests/fixtures/alipay` (made with the official SDKs, see its README)
//! against our keys, sign content, RSA2, wire encoding and response verification.

use miniapp_shared::alipay::{
    beijing_timestamp, extract_signed_node, parse_beijing_timestamp, response_node_name, rsa2_sign,
    rsa2_verify, sign_content, signed_wire_request, verify_signed_node, AlipayPublicKey,
    AppPrivateKey, KeyError, NodeKind, ResponseError,
};
use miniapp_shared::time_fmt::Timestamp;
use serde_json::Value;
use test_support::fixtures::alipay as fixture;

fn cases(file: &str) -> Vec<Value> {
    let all: Value = serde_json::from_str(&fixture(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    let cases = all["cases"].as_array();
    cases
        .cloned()
        .unwrap_or_else(|| panic!("{file} has no cases"))
}

fn text<'a>(case: &'a Value, field: &str) -> &'a str {
    case[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} in {}", case["name"]))
}

/// `params_in_sdk_order` as pairs, `sign` included (it is last).
fn params(case: &Value) -> Vec<(String, String)> {
    let bad = || -> ! { panic!("params_in_sdk_order in {}", case["name"]) };
    let pairs = case["params_in_sdk_order"]
        .as_array()
        .unwrap_or_else(|| bad());
    let pair = |p: &Value| match (p[0].as_str(), p[1].as_str()) {
        (Some(k), Some(v)) => (k.to_owned(), v.to_owned()),
        _ => bad(),
    };
    pairs.iter().map(pair).collect()
}

fn borrowed(params: &[(String, String)]) -> Vec<(&str, &str)> {
    params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// What a correct client must send: differs from the SDK's only in `empty_value`.
fn gateway_signature(case: &Value) -> &str {
    case["gateway_signature"]
        .as_str()
        .unwrap_or_else(|| text(case, "signature"))
}

fn private(prefix: &str, form: &str) -> AppPrivateKey {
    let name = format!("keys/{prefix}_private_{form}");
    AppPrivateKey::parse(&fixture(&name), "ALIPAY_APP_PRIVATE_KEY")
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn public(prefix: &str, form: &str) -> AlipayPublicKey {
    let name = format!("keys/{prefix}_public_{form}");
    AlipayPublicKey::parse(&fixture(&name), "ALIPAY_PUBLIC_KEY")
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

const PRIVATE_FORMS: [&str; 4] = ["pkcs1.pem", "pkcs8.pem", "pkcs1.b64", "pkcs8.b64"];
const PUBLIC_FORMS: [&str; 3] = ["spki.pem", "spki.b64", "pkcs1.pem"];

#[test]
fn every_request_case_reproduces_the_gateway_sign_content() {
    for case in cases("request_cases.json") {
        let params = params(&case);
        let content = sign_content(borrowed(&params));
        assert_eq!(
            content,
            text(&case, "gateway_sign_content"),
            "{}",
            case["name"]
        );
    }
}

#[test]
fn every_request_case_reproduces_the_signature_with_every_key_form() {
    let requests = cases("request_cases.json");
    for form in PRIVATE_FORMS {
        let key = private("app", form);
        for case in &requests {
            let name = format!("{} with {form}", case["name"]);
            let ours = rsa2_sign(&key, text(case, "gateway_sign_content").as_bytes()).unwrap();
            assert_eq!(ours, gateway_signature(case), "{name}");
            // Over the SDK's own content (empty values kept) we match the SDK too.
            let sdk = rsa2_sign(&key, text(case, "sign_content").as_bytes()).unwrap();
            assert_eq!(sdk, text(case, "signature"), "{name}");
        }
    }
}

#[test]
fn request_signatures_verify_with_every_public_key_form() {
    for form in PUBLIC_FORMS {
        let key = public("app", form);
        for case in cases("request_cases.json") {
            let content = text(&case, "gateway_sign_content").as_bytes();
            assert_eq!(rsa2_verify(&key, content, gateway_signature(&case)), Ok(()));
            let mut altered = content.to_vec();
            altered[0] ^= 1;
            assert!(rsa2_verify(&key, &altered, gateway_signature(&case)).is_err());
        }
    }
}

#[test]
fn every_response_case_verifies_exactly_as_recorded() {
    let key = public("gateway", "spki.pem");
    for case in cases("response_cases.json") {
        let name = case["name"].to_string();
        let body = text(&case, "body");
        let node = extract_signed_node(body, &response_node_name(text(&case, "method"))).unwrap();
        assert_eq!(node.content, text(&case, "signed_content"), "{name}");
        assert_eq!(
            node.offset as u64,
            case["signed_content_offset"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(node.sign.as_deref(), case["signature"].as_str(), "{name}");
        let kind = if text(&case, "signed_node") == "error_response" {
            NodeKind::Error
        } else {
            NodeKind::Method
        };
        assert_eq!(node.kind, kind, "{name}");
        let verdict = verify_signed_node(&node, &key);
        match case["must_verify"].as_bool() {
            Some(true) => assert_eq!(verdict, Ok(()), "{name}"),
            Some(false) => assert!(verdict.is_err(), "{name}"),
            None => assert_eq!(verdict, Err(ResponseError::Unsigned), "{name}"),
        }
    }
}

#[test]
fn unescaping_slashes_breaks_the_signature() {
    let key = public("gateway", "spki.pem");
    let flagged: Vec<Value> = cases("response_cases.json")
        .into_iter()
        .filter(|c| c.get("unescaped_content_verifies").is_some())
        .collect();
    assert!(!flagged.is_empty());
    for case in flagged {
        let raw = text(&case, "signed_content");
        let unescaped = raw.replace("\\/", "/");
        assert_ne!(raw, unescaped);
        let verdict = rsa2_verify(&key, unescaped.as_bytes(), text(&case, "signature"));
        assert_eq!(
            verdict.is_ok(),
            case["unescaped_content_verifies"].as_bool().unwrap()
        );
        assert_eq!(
            rsa2_verify(&key, raw.as_bytes(), text(&case, "signature")),
            Ok(())
        );
    }
}

#[test]
fn every_key_form_loads_and_forms_agree() {
    for prefix in ["app", "gateway"] {
        let signatures: Vec<String> = PRIVATE_FORMS
            .iter()
            .map(|form| rsa2_sign(&private(prefix, form), b"same key").unwrap())
            .collect();
        assert!(signatures.windows(2).all(|w| w[0] == w[1]), "{prefix}");
        for form in PUBLIC_FORMS {
            assert_eq!(
                rsa2_verify(&public(prefix, form), b"same key", &signatures[0]),
                Ok(())
            );
        }
    }
}

fn assert_names_var(result: Result<(), KeyError>, var: &str, key_text: &str) {
    let Err(error) = result else {
        panic!("a malformed key for {var} was accepted")
    };
    let message = error.to_string();
    assert!(message.starts_with(&format!("{var}: ")), "{message}");
    // No run of the key's base64 leaks into the message.
    let body: String = key_text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    for chunk in body.as_bytes().chunks(12).filter(|c| c.len() == 12) {
        assert!(
            !message.contains(&*String::from_utf8_lossy(chunk)),
            "{message}"
        );
    }
}

#[test]
fn malformed_keys_give_errors_naming_the_variable() {
    let private_pem = fixture("keys/app_private_pkcs8.pem");
    let public_pem = fixture("keys/app_public_spki.pem");
    let truncated = private_pem.replace("-----END PRIVATE KEY-----", "");
    let corrupted = private_pem.replacen("MII", "MIA", 1);
    let encrypted = private_pem.replace("PRIVATE KEY", "ENCRYPTED PRIVATE KEY");
    let short_b64 = fixture("keys/app_private_pkcs8.b64")[..400].to_owned();
    let var = "ALIPAY_APP_PRIVATE_KEY";
    for bad in [
        "",
        "   ",
        "not base64 at all!",
        "QUJD",
        &truncated,
        &corrupted,
        &encrypted,
        &short_b64,
        &public_pem,
    ] {
        assert_names_var(AppPrivateKey::parse(bad, var).map(drop), var, bad);
    }
    let var = "ALIPAY_PUBLIC_KEY";
    let cert = public_pem.replace("PUBLIC KEY", "CERTIFICATE");
    let short_public = fixture("keys/app_public_spki.b64")[..200].to_owned();
    for bad in [
        "",
        "%%%",
        "QUJD",
        &cert,
        &short_public,
        &private_pem,
        &fixture("keys/app_private_pkcs8.b64"),
    ] {
        assert_names_var(AlipayPublicKey::parse(bad, var).map(drop), var, bad);
    }
}

#[test]
fn wire_encoding_matches_the_vectors() {
    let key = private("app", "pkcs1.pem");
    let mut oauth_cases = 0;
    for case in cases("request_cases.json") {
        let params = params(&case);
        let unsigned: Vec<(&str, &str)> = borrowed(&params[..params.len() - 1]);
        let wire = signed_wire_request(&unsigned, &key).unwrap();
        if case["name"] == "empty_value" {
            // We do not send empty parameters, so the gateway's content is what we signed.
            assert!(!wire.query.contains("app_auth_token"), "{}", wire.query);
            let sign = form_urlencoded::parse(wire.query.as_bytes()).find(|(k, _)| k == "sign");
            assert_eq!(sign.unwrap().1, gateway_signature(&case));
            continue;
        }
        oauth_cases += usize::from(text(&case, "method") == "alipay.system.oauth.token");
        assert_eq!(
            wire.query,
            text(&case["wire_post"], "query"),
            "{}",
            case["name"]
        );
        assert_eq!(
            wire.form_body.expose(),
            text(&case["wire_post"], "form_body"),
            "{}",
            case["name"]
        );
    }
    assert!(oauth_cases >= 3);
}

#[test]
fn beijing_timestamp_on_a_fixed_instant() {
    // 2024-05-20 04:34:56 UTC, the vectors' `timestamp_used` in Beijing time.
    let instant = Timestamp::from_unix(1_716_179_696);
    assert_eq!(beijing_timestamp(instant), "2024-05-20 12:34:56");
    assert_eq!(
        parse_beijing_timestamp("2024-05-20 12:34:56"),
        Some(instant)
    );
    // New year's eve 16:00 UTC is already the next year in Beijing.
    assert_eq!(
        beijing_timestamp(Timestamp::from_unix(1_735_660_800)),
        "2025-01-01 00:00:00"
    );
}
