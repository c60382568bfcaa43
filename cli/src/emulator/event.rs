//! API Gateway HTTP API payload format 2.0: the event a request becomes, and the response a
//! function answers with (the full form, or the "simple" form of a bare JSON value).
//!
//! Both are the runtime's own types ([`HttpEvent`], [`HttpEventResponse`]), so the emulator
//! and the functions cannot disagree on the shape. The event's fields that those types keep
//! in `other` (route key, parameters, request context details) come from typed structs here.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use miniapp_shared::runtime::event::{HttpContext, HttpEvent, HttpEventResponse, RequestContext};
use miniapp_shared::time_fmt;
use serde::Serialize;
use serde_json::{Map, Value};
use thiserror::Error;
use time::OffsetDateTime;

use super::routes::{decode_or_raw, RouteMatch};
use crate::template::LOCAL_ACCOUNT_ID;

/// The `apiId` of every event (there is one local API).
pub const LOCAL_API_ID: &str = "local";

/// Why a function's answer is not a usable response.
#[derive(Debug, Error)]
pub enum FunctionResponseError {
    #[error("the function's response is not JSON: {0}")]
    NotJson(serde_json::Error),
    #[error("the function's response is not a payload format 2.0 response object: {0}")]
    NotAResponse(serde_json::Error),
    #[error("the function's response has statusCode {0}, not an HTTP status")]
    BadStatus(String),
    #[error("the function's response has header {name:?} with a value HTTP cannot carry")]
    BadHeader { name: String },
    #[error("the function's response body is marked isBase64Encoded but is not base64: {0}")]
    BadBase64(base64::DecodeError),
}

/// What the gateway knows about a request, besides the route.
#[derive(Debug, Clone)]
pub struct RequestFacts<'a> {
    pub method: &'a str,
    /// The path as sent, percent-encoded.
    pub raw_path: &'a str,
    /// The query string as sent, without `?`.
    pub raw_query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub peer: SocketAddr,
    pub request_id: &'a str,
    pub received: OffsetDateTime,
    /// `HTTP/1.1`.
    pub protocol: &'a str,
}

/// The top-level event fields [`HttpEvent`] keeps in `other`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RouteFields {
    route_key: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    query_string_parameters: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    path_parameters: BTreeMap<String, String>,
}

/// The `requestContext` fields [`RequestContext`] keeps in `other`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ContextFields<'a> {
    account_id: &'a str,
    api_id: &'a str,
    domain_name: &'a str,
    domain_prefix: &'a str,
    route_key: &'a str,
    stage: &'a str,
    time: String,
    time_epoch: i64,
}

/// The `requestContext.http` fields [`HttpContext`] keeps in `other`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HttpFields<'a> {
    path: String,
    protocol: &'a str,
    user_agent: &'a str,
}

/// Builds the 2.0 event for a matched request.
pub fn build_event(req: &RequestFacts<'_>, route: &RouteMatch) -> HttpEvent {
    let (headers, cookies) = event_headers(req);
    let (body, is_base64_encoded) = event_body(req.body);
    let route_fields = RouteFields {
        route_key: route.route_key.clone(),
        query_string_parameters: query_parameters(req.raw_query),
        path_parameters: route.path_parameters.clone(),
    };
    HttpEvent {
        version: Some("2.0".to_owned()),
        raw_path: req.raw_path.to_owned(),
        raw_query_string: req.raw_query.to_owned(),
        cookies: (!cookies.is_empty()).then_some(cookies),
        headers,
        request_context: request_context(req, route),
        body,
        is_base64_encoded,
        other: fields_of(&route_fields),
    }
}

/// The event as the bytes a function reads.
pub fn event_payload(event: &HttpEvent) -> Result<Bytes, serde_json::Error> {
    serde_json::to_vec(event).map(Bytes::from)
}

/// A struct's fields as a JSON object, for the `other` maps of the runtime's event types.
/// The structs here have string keys only, so serializing them cannot fail.
fn fields_of(fields: &impl Serialize) -> Map<String, Value> {
    match serde_json::to_value(fields) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// Text goes as is; bytes that are not UTF-8 go base64, as API Gateway does. No body: absent.
fn event_body(body: &[u8]) -> (Option<String>, bool) {
    if body.is_empty() {
        return (None, false);
    }
    match std::str::from_utf8(body) {
        Ok(text) => (Some(text.to_owned()), false),
        Err(_) => (Some(STANDARD.encode(body)), true),
    }
}

/// Lower-case headers, repeated ones joined by `,`; the `cookie` header moves to `cookies`.
/// API Gateway's `x-forwarded-*` headers are added.
fn event_headers(req: &RequestFacts<'_>) -> (BTreeMap<String, String>, Vec<String>) {
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut cookies = Vec::new();
    for (name, value) in req.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == http::header::COOKIE {
            cookies.extend(split_cookies(&value));
        } else {
            headers
                .entry(name.as_str().to_owned())
                .or_default()
                .push(value);
        }
    }
    add_forwarded(&mut headers, req);
    let joined = headers.into_iter().map(|(k, v)| (k, v.join(","))).collect();
    (joined, cookies)
}

fn split_cookies(header: &str) -> impl Iterator<Item = String> + '_ {
    header
        .split(';')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
}

/// `x-forwarded-for` (the client's address appended), `-proto` and `-port`.
fn add_forwarded(headers: &mut BTreeMap<String, Vec<String>>, req: &RequestFacts<'_>) {
    let forwarded = headers.entry("x-forwarded-for".to_owned()).or_default();
    forwarded.push(req.peer.ip().to_string());
    let forwarded = forwarded.join(", ");
    headers.insert("x-forwarded-for".to_owned(), vec![forwarded]);
    headers.insert("x-forwarded-proto".to_owned(), vec!["http".to_owned()]);
    let local_port = req
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.rsplit_once(':'))
        .map_or_else(|| req.peer.port().to_string(), |(_, p)| p.to_owned());
    headers.insert("x-forwarded-port".to_owned(), vec![local_port]);
}

/// `queryStringParameters`: decoded, repeated keys joined by `,` (API Gateway's rule).
fn query_parameters(raw: &str) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for piece in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = piece.split_once('=').unwrap_or((piece, ""));
        let k = decode_or_raw(k);
        let v = decode_or_raw(v);
        out.entry(k)
            .and_modify(|old| {
                old.push(',');
                old.push_str(&v);
            })
            .or_insert(v);
    }
    out
}

fn header_text<'a>(req: &RequestFacts<'a>, name: http::header::HeaderName) -> Option<&'a str> {
    req.headers.get(name).and_then(|h| h.to_str().ok())
}

fn request_context(req: &RequestFacts<'_>, route: &RouteMatch) -> RequestContext {
    let host = header_text(req, http::header::HOST).unwrap_or("localhost");
    let domain = host.rsplit_once(':').map_or(host, |(h, _)| h);
    let context = ContextFields {
        account_id: LOCAL_ACCOUNT_ID,
        api_id: LOCAL_API_ID,
        domain_name: domain,
        domain_prefix: domain.split('.').next().unwrap_or(domain),
        route_key: &route.route_key,
        stage: "$default",
        time: time_fmt::api_gateway_time(req.received),
        time_epoch: time_fmt::api_gateway_time_epoch(req.received),
    };
    let http = HttpFields {
        path: decode_or_raw(req.raw_path),
        protocol: req.protocol,
        user_agent: header_text(req, http::header::USER_AGENT).unwrap_or(""),
    };
    RequestContext {
        http: HttpContext {
            method: req.method.to_owned(),
            source_ip: Some(req.peer.ip().to_string()),
            other: fields_of(&http),
        },
        request_id: Some(req.request_id.to_owned()),
        other: fields_of(&context),
    }
}

/// A response to send back to the client.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Turns a function's 2.0 answer into an HTTP response: an object with `statusCode` is the
/// full form, anything else the simple form.
pub fn parse_response(payload: &[u8]) -> Result<HttpResponse, FunctionResponseError> {
    let value: Value = serde_json::from_slice(payload).map_err(FunctionResponseError::NotJson)?;
    let is_full = value
        .as_object()
        .is_some_and(|obj| obj.contains_key("statusCode"));
    if !is_full {
        return Ok(simple_response(payload));
    }
    let full: HttpEventResponse =
        serde_json::from_value(value).map_err(FunctionResponseError::NotAResponse)?;
    full_response(full)
}

/// A value without `statusCode`: 200 with the value as a JSON body.
fn simple_response(payload: &[u8]) -> HttpResponse {
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    HttpResponse {
        status: StatusCode::OK,
        headers,
        body: Bytes::copy_from_slice(payload),
    }
}

fn full_response(r: HttpEventResponse) -> Result<HttpResponse, FunctionResponseError> {
    let status = StatusCode::from_u16(r.status_code)
        .map_err(|_| FunctionResponseError::BadStatus(r.status_code.to_string()))?;
    let mut headers = HeaderMap::new();
    for (name, value) in &r.headers {
        append_header(&mut headers, name, value)?;
    }
    for cookie in &r.cookies {
        append_header(&mut headers, "set-cookie", cookie)?;
    }
    let body = if r.is_base64_encoded {
        Bytes::from(
            STANDARD
                .decode(&r.body)
                .map_err(FunctionResponseError::BadBase64)?,
        )
    } else {
        Bytes::from(r.body)
    };
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

fn append_header(
    headers: &mut HeaderMap,
    name: &str,
    value: &str,
) -> Result<(), FunctionResponseError> {
    let bad = || FunctionResponseError::BadHeader {
        name: name.to_owned(),
    };
    let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad())?;
    let value = HeaderValue::from_str(value).map_err(|_| bad())?;
    headers.append(name, value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The event as the function reads it.
    fn event_json(req: &RequestFacts<'_>, route: &RouteMatch) -> Value {
        let payload = event_payload(&build_event(req, route)).unwrap();
        serde_json::from_slice(&payload).unwrap()
    }

    fn facts<'a>(headers: &'a HeaderMap, body: &'a [u8]) -> RequestFacts<'a> {
        RequestFacts {
            method: "POST",
            raw_path: "/db/todos/a%20b",
            raw_query: "limit=5&tag=x&tag=y&empty=&plus=a+b",
            headers,
            body,
            peer: SocketAddr::from(([127, 0, 0, 1], 50000)),
            request_id: "rid-1",
            received: OffsetDateTime::from_unix_timestamp(1_795_617_400)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH),
            protocol: "HTTP/1.1",
        }
    }

    fn route() -> RouteMatch {
        RouteMatch {
            function: 0,
            route_key: "ANY /db/{proxy+}".into(),
            path_parameters: [("proxy".to_owned(), "todos/a b".to_owned())].into(),
        }
    }

    #[test]
    fn event_has_the_2_0_shape() {
        let mut h = HeaderMap::new();
        h.insert("Host", HeaderValue::from_static("127.0.0.1:3000"));
        h.insert("User-Agent", HeaderValue::from_static("curl/8"));
        h.append("X-Multi", HeaderValue::from_static("1"));
        h.append("X-Multi", HeaderValue::from_static("2"));
        h.insert("Cookie", HeaderValue::from_static("a=1; b=2"));
        let e = event_json(&facts(&h, br#"{"x":1}"#), &route());
        assert_eq!(e["version"], "2.0");
        assert_eq!(e["routeKey"], "ANY /db/{proxy+}");
        assert_eq!(e["rawPath"], "/db/todos/a%20b");
        assert_eq!(e["rawQueryString"], "limit=5&tag=x&tag=y&empty=&plus=a+b");
        assert_eq!(e["headers"]["x-multi"], "1,2");
        assert_eq!(e["headers"]["user-agent"], "curl/8");
        assert_eq!(e["headers"]["x-forwarded-for"], "127.0.0.1");
        assert_eq!(e["headers"]["x-forwarded-port"], "3000");
        assert!(e["headers"].get("cookie").is_none());
        assert_eq!(e["cookies"], json!(["a=1", "b=2"]));
        assert_eq!(e["queryStringParameters"]["tag"], "x,y");
        assert_eq!(e["queryStringParameters"]["empty"], "");
        assert_eq!(e["queryStringParameters"]["plus"], "a+b");
        assert_eq!(e["pathParameters"]["proxy"], "todos/a b");
        assert_eq!(e["body"], r#"{"x":1}"#);
        assert_eq!(e["isBase64Encoded"], false);
        let ctx = &e["requestContext"];
        assert_eq!(ctx["http"]["method"], "POST");
        assert_eq!(ctx["http"]["path"], "/db/todos/a b");
        assert_eq!(ctx["http"]["sourceIp"], "127.0.0.1");
        assert_eq!(ctx["http"]["protocol"], "HTTP/1.1");
        assert_eq!(ctx["http"]["userAgent"], "curl/8");
        assert_eq!(ctx["domainName"], "127.0.0.1");
        assert_eq!(ctx["stage"], "$default");
        assert_eq!(ctx["requestId"], "rid-1");
        assert_eq!(ctx["time"], "25/Nov/2026:14:36:40 +0000");
        assert_eq!(ctx["timeEpoch"], 1_795_617_400_000_i64);
    }

    #[test]
    fn binary_bodies_go_base64_and_empty_ones_are_absent() {
        let h = HeaderMap::new();
        let e = event_json(&facts(&h, &[0xff, 0x00]), &route());
        assert_eq!(
            (e["body"].as_str(), e["isBase64Encoded"].as_bool()),
            (Some("/wA="), Some(true))
        );
        let e = event_json(&facts(&h, b""), &route());
        assert!(e.get("body").is_none());
        assert!(e.get("cookies").is_none());
    }

    #[test]
    fn full_response_with_cookies_and_base64() -> Result<(), FunctionResponseError> {
        let r = parse_response(
            br#"{"statusCode":201,"headers":{"x-request-id":"r","etag":"\"1\""},
                "cookies":["a=1","b=2"],"body":"aGk=","isBase64Encoded":true}"#,
        )?;
        assert_eq!(r.status, StatusCode::CREATED);
        assert_eq!(r.headers["etag"], "\"1\"");
        assert_eq!(r.headers.get_all("set-cookie").iter().count(), 2);
        assert_eq!(&r.body[..], b"hi");
        Ok(())
    }

    #[test]
    fn simple_response_is_a_200_json_body() -> Result<(), FunctionResponseError> {
        let r = parse_response(br#"{"hello":"world"}"#)?;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.headers["content-type"], "application/json");
        assert_eq!(&r.body[..], br#"{"hello":"world"}"#);
        Ok(())
    }

    #[test]
    fn malformed_responses_are_errors() {
        assert!(matches!(
            parse_response(b"nope"),
            Err(FunctionResponseError::NotJson(_))
        ));
        assert!(matches!(
            parse_response(br#"{"statusCode":99}"#),
            Err(FunctionResponseError::BadStatus(_))
        ));
        assert!(matches!(
            parse_response(br#"{"statusCode":200,"headers":{"bad name":"x"}}"#),
            Err(FunctionResponseError::BadHeader { .. })
        ));
    }

    #[test]
    fn responses_of_the_wrong_shape_are_errors() {
        for payload in [
            &br#"{"statusCode":"soon"}"#[..],
            br#"{"statusCode":200,"headers":["x"]}"#,
            br#"{"statusCode":200,"body":"%%","isBase64Encoded":true}"#,
        ] {
            assert!(
                matches!(
                    parse_response(payload),
                    Err(FunctionResponseError::NotAResponse(_)
                        | FunctionResponseError::BadBase64(_))
                ),
                "{}",
                String::from_utf8_lossy(payload)
            );
        }
    }

    #[test]
    fn the_runtime_reads_the_event_the_emulator_builds() {
        let mut h = HeaderMap::new();
        h.insert("Cookie", HeaderValue::from_static("a=1; b=2"));
        let payload = event_payload(&build_event(&facts(&h, &[0xff]), &route())).unwrap();
        let req = miniapp_shared::runtime::event::parse_request(&payload, "rid-1").unwrap();
        assert_eq!(req.method, http::Method::POST);
        assert_eq!(req.raw_path, "/db/todos/a%20b");
        assert_eq!(req.raw_query, "limit=5&tag=x&tag=y&empty=&plus=a+b");
        assert_eq!(req.headers[http::header::COOKIE], "a=1; b=2");
        assert_eq!(&req.body[..], &[0xff]);
    }
}
