//! The Alipay answer extractor (`alipay::response::extract_signed_node`, a hand-written JSON
//! scanner) and the RSA2 verifier over what it extracts. Oracles: whatever node it extracts,
//! when the body is also valid JSON, is byte-for-byte the member serde_json sees; a signature
//! made over the extracted bytes verifies, and the answer's own `sign` is checked without
//! panicking.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use miniapp_shared::alipay::keys::{AlipayPublicKey, AppPrivateKey};
use miniapp_shared::alipay::response::{
    extract_signed_node, response_node_name, verify_signed_node, NodeKind, ResponseError,
};
use miniapp_shared::alipay::sign::rsa2_sign;
use serde_json::Value;

const METHOD: &str = "alipay.system.oauth.token";

fn keys() -> &'static (AppPrivateKey, AlipayPublicKey) {
    static KEYS: OnceLock<(AppPrivateKey, AlipayPublicKey)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let pem = include_str!("../../shared/tests/fixtures/alipay/keys/gateway_private_pkcs8.pem");
        let private = AppPrivateKey::parse(pem, "fixture").unwrap();
        let public = private.public_key().unwrap();
        (private, public)
    })
}

fuzz_target!(|body: &str| {
    let node_name = response_node_name(METHOD);
    let Ok(node) = extract_signed_node(body, &node_name) else {
        return;
    };
    assert!(node.content.starts_with('{') && node.content.ends_with('}'));
    assert_eq!(
        &body[node.offset..node.offset + node.content.len()],
        node.content
    );
    let (private, public) = keys();
    let own = verify_signed_node(&node, public);
    if node.sign.is_none() {
        assert_eq!(own, Err(ResponseError::Unsigned));
    }
    // Differential: serde_json reads the same member (duplicates were refused above).
    if let Ok(Value::Object(members)) = serde_json::from_str::<Value>(body) {
        let name = match node.kind {
            NodeKind::Method => node_name.as_str(),
            NodeKind::Error => "error_response",
        };
        let content: Value = match serde_json::from_str(node.content) {
            Ok(v) => v,
            Err(e) => panic!("the extracted node is not the JSON serde_json read: {e}"),
        };
        assert_eq!(members.get(name), Some(&content));
        let sign = members.get("sign").and_then(Value::as_str);
        assert_eq!(node.sign.as_deref(), sign);
        // Signing costs a millisecond: only for bodies that are fully valid JSON.
        let mut resigned = node.clone();
        resigned.sign = Some(rsa2_sign(private, node.content.as_bytes()).unwrap());
        assert_eq!(verify_signed_node(&resigned, public), Ok(()));
    }
});
