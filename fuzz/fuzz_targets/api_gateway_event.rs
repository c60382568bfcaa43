//! The API Gateway HTTP API (payload format 2.0) / Function URL event decoder
//! (`runtime::event::parse_request`). Raw payloads must decode or be refused, never panic; an
//! event built from fuzzed fields must decode to exactly those fields.
#![no_main]

use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::{HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use miniapp_shared::http::MAX_BODY_BYTES;
use miniapp_shared::runtime::event::parse_request;
use serde_json::json;

#[derive(Arbitrary, Debug)]
struct Fields {
    method: String,
    raw_path: String,
    raw_query: String,
    headers: BTreeMap<String, String>,
    cookies: Option<Vec<String>>,
    body: Option<Vec<u8>>,
    base64: bool,
    source_ip: Option<String>,
}

#[derive(Arbitrary, Debug)]
enum Input<'a> {
    Raw(&'a [u8]),
    Built(Fields),
}

fn built(f: Fields) {
    let body_text = match (&f.body, f.base64) {
        (Some(b), true) => Some(STANDARD.encode(b)),
        (Some(b), false) => match std::str::from_utf8(b) {
            Ok(s) => Some(s.to_owned()),
            Err(_) => return,
        },
        (None, _) => None,
    };
    let event = json!({
        "version": "2.0",
        "rawPath": f.raw_path,
        "rawQueryString": f.raw_query,
        "headers": f.headers,
        "cookies": f.cookies,
        "requestContext": {
            "http": { "method": f.method, "sourceIp": f.source_ip },
            "requestId": "fuzz",
        },
        "body": body_text,
        "isBase64Encoded": f.base64,
    });
    let payload = serde_json::to_vec(&event).unwrap();
    let result = parse_request(&payload, "req-1");
    let method_ok = http::Method::from_bytes(f.method.as_bytes()).is_ok();
    let Ok(req) = result else {
        assert!(!method_ok, "a well-formed event was refused: {result:?}");
        return;
    };
    assert!(method_ok);
    assert_eq!(req.method.as_str(), f.method);
    assert_eq!(req.raw_path, f.raw_path);
    assert_eq!(req.raw_query, f.raw_query);
    assert_eq!(req.request_id, "req-1");
    let body = f.body.unwrap_or_default();
    if body.len() > MAX_BODY_BYTES {
        assert!(req.body_too_large && req.body.is_empty());
    } else {
        assert!(!req.body_too_large);
        assert_eq!(&req.body[..], &body[..]);
    }
    for (name, value) in &f.headers {
        if let (Ok(n), Ok(_)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            // Names differing only in case collapse into one, but none is lost.
            assert!(req.headers.contains_key(&n), "{name:?} lost");
        }
    }
}

fuzz_target!(|input: Input<'_>| match input {
    Input::Raw(payload) => {
        if let Ok(req) = parse_request(payload, "req-1") {
            assert!(req.body.len() <= MAX_BODY_BYTES);
        }
    }
    Input::Built(fields) => built(fields),
});
