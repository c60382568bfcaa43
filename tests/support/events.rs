//! The stored API Gateway v2 events of `shared/tests/fixtures/events/` (read with
//! `test_support::fixtures::event`), re-signed for a test.

use base64::Engine;
use miniapp_shared::signing::sign_request;
use miniapp_shared::time_fmt::Timestamp;
use serde_json::{json, Value};

use crate::functions::Login;

/// Re-signs an event with `login`'s credentials and the current date (the stored signature and
/// token are dummies), over its raw path, query and (decoded) body.
pub fn signed(mut event: Value, login: &Login) -> Value {
    let body = match (event["body"].as_str(), event["isBase64Encoded"].as_bool()) {
        (Some(b), Some(true)) => base64::engine::general_purpose::STANDARD
            .decode(b)
            .expect("base64 body"),
        (Some(b), _) => b.as_bytes().to_vec(),
        (None, _) => Vec::new(),
    };
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let method = text(&event["requestContext"]["http"]["method"]);
    let (path, query) = (text(&event["rawPath"]), text(&event["rawQueryString"]));
    let h = sign_request(
        &login.creds,
        &method,
        &path,
        &query,
        &body,
        Timestamp::now(),
    )
    .expect("sign");
    let headers = &mut event["headers"];
    headers["authorization"] = json!(h.authorization.expose());
    headers["x-miniapp-date"] = json!(h.date);
    headers["x-miniapp-security-token"] = json!(h.security_token.expose());
    event
}
