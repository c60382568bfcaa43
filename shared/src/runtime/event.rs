//! API Gateway HTTP API payload format 2.0 (and Function URL, same shape) events ⇄ the
//! [`Request`]/[`Response`] boundary.
//!
//! The serde types keep every field they do not model in `other`, so a real event survives a
//! round trip unchanged (checked against the fixture files in `tests/fixtures/events`).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::IpAddr;

use base64::Engine;
use bytes::Bytes;
use http::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use thiserror::Error;

use crate::http::{Request, Response, MAX_BODY_BYTES};
use crate::json_members::Members;

/// Why an invocation's payload could not become a [`Request`].
#[derive(Debug, Error)]
pub enum EventDecodeError {
    /// Not an HTTP API 2.0 / Function URL event at all (SQS, S3, REST API 1.0, ...).
    #[error("unsupported event: {0}; this function handles API Gateway HTTP API payload format 2.0 and Function URL events")]
    Unsupported(String),
    /// An HTTP event whose contents are unusable.
    #[error("invalid HTTP event: {0}")]
    Invalid(String),
}

impl EventDecodeError {
    /// The `errorType` reported to the Runtime API.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Unsupported(_) => "Runtime.UnsupportedEvent",
            Self::Invalid(_) => "Runtime.InvalidEvent",
        }
    }
}

/// An API Gateway HTTP API 2.0 or Function URL event.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpEvent {
    /// `"2.0"` for both event kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The path as the client sent it.
    pub raw_path: String,
    /// The query string without `?`.
    #[serde(default)]
    pub raw_query_string: String,
    /// The `Cookie` header, split on `"; "`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookies: Option<Vec<String>>,
    /// Lower-case names; repeated headers arrive comma-joined.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The request context; `http` is what marks an HTTP event.
    pub request_context: RequestContext,
    /// The body, base64 when `is_base64_encoded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Whether `body` is base64.
    #[serde(default)]
    pub is_base64_encoded: bool,
    /// Fields not modelled here (routeKey, pathParameters, stageVariables, ...).
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `requestContext` of an HTTP event.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestContext {
    /// The method and caller address.
    pub http: HttpContext,
    /// API Gateway's own id (the Lambda request id is what the function uses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `requestContext.http` of an HTTP event.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpContext {
    /// The request method, upper case.
    pub method: String,
    /// The client's address as API Gateway saw it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    /// Fields not modelled here (path, protocol, userAgent).
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// The 2.0 response object; always sent in full so no API Gateway inference applies.
/// Absent fields read as empty (status 0), as a function's partial answer means.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HttpEventResponse {
    /// The HTTP status.
    pub status_code: u16,
    /// One value per name (repeated headers are joined before this point).
    pub headers: BTreeMap<String, String>,
    /// One `Set-Cookie` value each.
    pub cookies: Vec<String>,
    /// The body, UTF-8 text or base64.
    pub body: String,
    /// Whether `body` is base64.
    pub is_base64_encoded: bool,
}

/// Turns an invocation payload into a [`Request`] carrying the Lambda request id.
pub fn parse_request(payload: &[u8], request_id: &str) -> Result<Request, EventDecodeError> {
    match serde_json::from_slice::<EventView<'_>>(payload) {
        Ok(event) => {
            if let Some(version) = event.version.as_ref().filter(|v| v.0 != "2.0") {
                return Err(EventDecodeError::Unsupported(format!(
                    "payload format version {:?}",
                    version.0
                )));
            }
            into_request(event, request_id)
        }
        Err(e) => Err(classify_refusal(payload, &e)),
    }
}

/// Why a payload that does not read as an HTTP event was refused: not one at all
/// (Unsupported), or one with fields of the wrong type (Invalid).
fn classify_refusal(payload: &[u8], typed: &serde_json::Error) -> EventDecodeError {
    let value: Value = match serde_json::from_slice(payload) {
        Ok(value) => value,
        Err(e) => {
            return EventDecodeError::Unsupported(format!(
                "the payload is not JSON ({})",
                shape(&e)
            ))
        }
    };
    match check_is_http_event(&value) {
        // Only the shape is reported: a serde message could quote a header value.
        Ok(()) => EventDecodeError::Invalid(format!("fields of the wrong type ({})", shape(typed))),
        Err(unsupported) => unsupported,
    }
}

/// The fields of an HTTP event the function reads, borrowed from the payload where no escape
/// is in the way; the rest is skipped unread. [`HttpEvent`] keeps every field (its `other`
/// maps, for the emulator that writes events); reading into it cost ~89k instructions per
/// invocation (callgrind, docs/benchmarks.md, "Instructions").
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventView<'a> {
    #[serde(default, borrow)]
    version: Option<Text<'a>>,
    #[serde(borrow)]
    raw_path: Text<'a>,
    #[serde(default, borrow)]
    raw_query_string: Option<Text<'a>>,
    #[serde(default, borrow)]
    cookies: Option<Vec<Text<'a>>>,
    #[serde(default, borrow)]
    headers: Members<Text<'a>, Text<'a>>,
    #[serde(borrow)]
    request_context: ContextView<'a>,
    #[serde(default, borrow)]
    body: Option<Text<'a>>,
    #[serde(default)]
    is_base64_encoded: bool,
}

#[derive(Deserialize)]
struct ContextView<'a> {
    #[serde(borrow)]
    http: HttpView<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HttpView<'a> {
    #[serde(borrow)]
    method: Text<'a>,
    #[serde(default, borrow)]
    source_ip: Option<Text<'a>>,
}

/// A JSON string, borrowed unless it had escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> serde::de::Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        d.deserialize_str(TextVisitor)
    }
}

/// Where and what kind of JSON error, without the text that serde would quote from the input.
fn shape(e: &serde_json::Error) -> String {
    format!(
        "{:?} error at line {} column {}",
        e.classify(),
        e.line(),
        e.column()
    )
}

/// Tells HTTP events from everything else Lambda can deliver, with a reason naming the miss.
fn check_is_http_event(value: &Value) -> Result<(), EventDecodeError> {
    let Some(obj) = value.as_object() else {
        return Err(EventDecodeError::Unsupported(
            "the payload is not a JSON object".into(),
        ));
    };
    if let Some(version) = obj.get("version").and_then(Value::as_str) {
        if version != "2.0" {
            return Err(EventDecodeError::Unsupported(format!(
                "payload format version {version:?}"
            )));
        }
    }
    let has_http = value.pointer("/requestContext/http/method").is_some();
    if !has_http || !obj.contains_key("rawPath") {
        return Err(EventDecodeError::Unsupported(
            "no requestContext.http.method or rawPath".into(),
        ));
    }
    Ok(())
}

fn into_request(event: EventView<'_>, request_id: &str) -> Result<Request, EventDecodeError> {
    let http = &event.request_context.http;
    let method = Method::from_bytes(http.method.0.as_bytes()).map_err(|_| {
        EventDecodeError::Invalid("requestContext.http.method is not an HTTP method".into())
    })?;
    let headers = request_headers(&event.headers.0, event.cookies.as_deref());
    let decoded = decode_body(event.body.as_ref().map(|b| &*b.0), event.is_base64_encoded)?;
    let body_too_large = decoded.len() > MAX_BODY_BYTES;
    let source_ip = http
        .source_ip
        .as_ref()
        .and_then(|s| s.0.parse::<IpAddr>().ok());
    Ok(Request {
        method,
        raw_path: event.raw_path.0.into_owned(),
        raw_query: event
            .raw_query_string
            .map(|q| q.0.into_owned())
            .unwrap_or_default(),
        headers,
        body: if body_too_large {
            Bytes::new()
        } else {
            decoded
        },
        body_too_large,
        request_id: request_id.to_owned(),
        source_ip,
    })
}

/// Builds the header map; `cookies` (split out by API Gateway) goes back into one `cookie`
/// header joined with `"; "`, as a client would have sent it. Names or values that HTTP itself
/// would have refused are skipped.
fn request_headers(raw: &[(Text<'_>, Text<'_>)], cookies: Option<&[Text<'_>]>) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(raw.len() + 1);
    for (name, value) in raw {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.0.as_bytes()),
            HeaderValue::from_bytes(value.0.as_bytes()),
        ) else {
            tracing::debug!("skipped a header that is not valid HTTP");
            continue;
        };
        headers.insert(name, value);
    }
    if let Some(cookies) = cookies.filter(|c| !c.is_empty()) {
        let joined = cookies.iter().map(|c| &*c.0).collect::<Vec<_>>().join("; ");
        if let Ok(value) = HeaderValue::from_str(&joined) {
            headers.insert(COOKIE, value);
        }
    }
    headers
}

fn decode_body(body: Option<&str>, base64: bool) -> Result<Bytes, EventDecodeError> {
    match body {
        None => Ok(Bytes::new()),
        Some(text) if base64 => base64::engine::general_purpose::STANDARD
            .decode(text)
            .map(Bytes::from)
            .map_err(|_| {
                EventDecodeError::Invalid(
                    "isBase64Encoded is true but the body is not base64".into(),
                )
            }),
        Some(text) => Ok(Bytes::copy_from_slice(text.as_bytes())),
    }
}

/// Turns a finished [`Response`] into the 2.0 response object.
pub fn to_event_response(resp: &Response) -> HttpEventResponse {
    let mut headers = BTreeMap::new();
    let mut cookies = Vec::new();
    for (name, value) in &resp.headers {
        let text = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if *name == SET_COOKIE {
            cookies.push(text);
            continue;
        }
        // Repeated names were joined by `finish_response`; join again in case they were not.
        headers
            .entry(name.as_str().to_owned())
            .and_modify(|v: &mut String| {
                v.push_str(", ");
                v.push_str(&text);
            })
            .or_insert(text);
    }
    let (body, is_base64_encoded) = encode_body(&resp.headers, &resp.body);
    HttpEventResponse {
        status_code: resp.status.as_u16(),
        headers,
        cookies,
        body,
        is_base64_encoded,
    }
}

/// Text bodies go as text (readable in logs and consoles); anything else as base64 so that
/// API Gateway passes the bytes through unchanged.
fn encode_body(headers: &HeaderMap, body: &Bytes) -> (String, bool) {
    if body.is_empty() {
        return (String::new(), false);
    }
    let textual = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(is_textual_content_type);
    match std::str::from_utf8(body) {
        Ok(text) if textual => (text.to_owned(), false),
        _ => (base64::engine::general_purpose::STANDARD.encode(body), true),
    }
}

/// Whether a content type names text: `text/*`, JSON, XML, JavaScript or form data.
pub fn is_textual_content_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence.starts_with("text/")
        || essence.ends_with("/json")
        || essence.ends_with("+json")
        || essence.ends_with("/xml")
        || essence.ends_with("+xml")
        || essence == "application/javascript"
        || essence == "application/x-www-form-urlencoded"
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    const GET: &str = r#"{"version":"2.0","rawPath":"/db/todos","rawQueryString":"limit=2",
        "cookies":["a=1","b=2"],"headers":{"content-type":"application/json"},
        "requestContext":{"http":{"method":"GET","sourceIp":"203.0.113.9"},"requestId":"x"},
        "isBase64Encoded":false}"#;

    #[test]
    fn parses_a_minimal_event() {
        let req = parse_request(GET.as_bytes(), "rid").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(req.method, Method::GET);
        assert_eq!(req.raw_path, "/db/todos");
        assert_eq!(req.raw_query, "limit=2");
        assert_eq!(req.headers[COOKIE], "a=1; b=2");
        assert_eq!(req.request_id, "rid");
        assert_eq!(req.source_ip, "203.0.113.9".parse().ok());
    }

    #[test]
    fn refuses_other_events() {
        for payload in [
            r#"{"Records":[]}"#,
            r#"[1,2]"#,
            "not json",
            r#"{"version":"1.0","rawPath":"/","requestContext":{"http":{"method":"GET"}}}"#,
        ] {
            let err = parse_request(payload.as_bytes(), "rid").err();
            assert_eq!(
                err.map(|e| e.error_type()),
                Some("Runtime.UnsupportedEvent"),
                "{payload}"
            );
        }
    }

    #[test]
    fn large_and_bad_base64_bodies() {
        let big = base64::engine::general_purpose::STANDARD.encode(vec![b'x'; MAX_BODY_BYTES + 1]);
        let ev = format!(
            r#"{{"rawPath":"/","requestContext":{{"http":{{"method":"POST"}}}},"body":"{big}","isBase64Encoded":true}}"#
        );
        let req = parse_request(ev.as_bytes(), "rid").unwrap_or_else(|e| panic!("{e}"));
        assert!(req.body_too_large && req.body.is_empty());
        let ev = r#"{"rawPath":"/","requestContext":{"http":{"method":"POST"}},"body":"%%","isBase64Encoded":true}"#;
        let err = parse_request(ev.as_bytes(), "rid").err();
        assert_eq!(err.map(|e| e.error_type()), Some("Runtime.InvalidEvent"));
    }

    #[test]
    fn response_text_binary_and_cookies() {
        let mut r = Response::json(StatusCode::CREATED, &serde_json::json!({"a": 1}));
        r.headers
            .append(SET_COOKIE, HeaderValue::from_static("s=1; Path=/"));
        let out = to_event_response(&r);
        assert_eq!(out.status_code, 201);
        assert_eq!(out.body, r#"{"a":1}"#);
        assert!(!out.is_base64_encoded);
        assert_eq!(out.cookies, vec!["s=1; Path=/".to_owned()]);
        assert!(!out.headers.contains_key("set-cookie"));

        let mut r = Response::new(StatusCode::OK);
        r.body = Bytes::from_static(&[0xff, 0x00]);
        let out = to_event_response(&r);
        assert!(out.is_base64_encoded);
        assert_eq!(out.body, "/wA=");
    }

    #[test]
    fn textual_types() {
        assert!(is_textual_content_type("application/json; charset=utf-8"));
        assert!(is_textual_content_type("application/merge-patch+json"));
        assert!(is_textual_content_type("Text/Plain"));
        assert!(!is_textual_content_type("application/octet-stream"));
        assert!(!is_textual_content_type("image/png"));
    }

    /// Every HTTP fixture survives deserialize → serialize unchanged; every other one is refused.
    #[test]
    fn fixtures_round_trip() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/events");
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let mut seen = 0;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let original: Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if name.starts_with("unsupported-") {
                let err = parse_request(text.as_bytes(), "rid").err();
                assert_eq!(
                    err.map(|e| e.error_type()),
                    Some("Runtime.UnsupportedEvent"),
                    "{name}"
                );
            } else {
                let event: HttpEvent =
                    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(serde_json::to_value(&event).ok(), Some(original), "{name}");
                assert!(parse_request(text.as_bytes(), "rid").is_ok(), "{name}");
            }
            seen += 1;
        }
        assert!(seen >= 14, "only {seen} fixtures in {}", dir.display());
    }
}
