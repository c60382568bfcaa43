//! Lambda mode: each request as the API Gateway HTTP API (payload 2.0) event that carries it,
//! through a Runtime API server to the function's process.

use std::collections::BTreeMap;

use base64::Engine;
use integration_tests::lambda::LambdaFunction;
use serde_json::{json, Value};
use test_support::runtime_api::PostKind;

use crate::table::Built;
use crate::Answer;

/// A function binary in Lambda mode behind its own Runtime API server.
pub(crate) struct LambdaFn(LambdaFunction);

impl LambdaFn {
    pub(crate) async fn spawn(name: &'static str, env: &[(String, String)]) -> Self {
        Self(LambdaFunction::spawn(name, env).await)
    }

    /// One invocation; an invocation error (the platform's 502) is an `Err`.
    pub(crate) async fn send(&mut self, b: &Built) -> Result<Answer, String> {
        let (id, post) = self.0.post(&event(b)).await;
        if post.kind != PostKind::Response(id.clone()) {
            return Err(format!(
                "invocation {id} ended as {:?}: {}",
                post.kind,
                String::from_utf8_lossy(&post.body)
            ));
        }
        Ok(answer(&post.json()))
    }
}

/// The 2.0 event API Gateway would send for `b`: header names lower case, repeated names
/// joined with `,`, framing headers gone (the body arrives whole), text as UTF-8 (bytes that
/// are not become U+FFFD), a body that is not UTF-8 as base64.
fn event(b: &Built) -> Value {
    let text = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in &b.headers {
        let name = text(name).to_ascii_lowercase();
        if matches!(
            name.as_str(),
            "transfer-encoding" | "content-length" | "connection"
        ) {
            continue;
        }
        let value = text(value);
        headers
            .entry(name)
            .and_modify(|v| {
                v.push(',');
                v.push_str(&value);
            })
            .or_insert(value);
    }
    headers
        .entry("host".into())
        .or_insert_with(|| "127.0.0.1".into());
    if !b.body.is_empty() {
        headers.insert("content-length".into(), b.body.len().to_string());
    }
    let (body, base64) = match std::str::from_utf8(&b.body) {
        Ok(t) => (t.to_owned(), false),
        Err(_) => (
            base64::engine::general_purpose::STANDARD.encode(&b.body),
            true,
        ),
    };
    let method = text(&b.method);
    let path = text(&b.path);
    let mut ev = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": text(&b.query),
        "headers": headers,
        "requestContext": {
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "hostile"
            },
            "requestId": "hostile",
            "routeKey": "$default",
            "stage": "$default"
        },
        "isBase64Encoded": base64
    });
    if !b.body.is_empty() {
        ev["body"] = json!(body);
    }
    ev
}

/// The 2.0 response object as a client would see it.
fn answer(resp: &Value) -> Answer {
    let status = resp["statusCode"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .unwrap_or(0);
    let headers = resp["headers"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.to_ascii_lowercase(),
                        v.as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let body = resp["body"].as_str().unwrap_or_default();
    let body = if resp["isBase64Encoded"] == true {
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap_or_default()
    } else {
        body.as_bytes().to_vec()
    };
    Answer {
        status,
        headers,
        body,
    }
}
