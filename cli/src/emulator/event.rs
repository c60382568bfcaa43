//! API Gateway HTTP API payload format 2.0: the event a request becomes, and the response a
//! function answers with (the full form, or the "simple" form of a bare JSON value).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde_json::{json, Map, Value};
use thiserror::Error;
use time::OffsetDateTime;

use super::routes::RouteMatch;
use crate::template::LOCAL_ACCOUNT_ID;

/// The `apiId` of every event (there is one local API).
pub const LOCAL_API_ID: &str = "local";

/// Why a function's answer is not a usable response.
#[derive(Debug, Error)]
pub enum EventError {
    #[error("the function's response is not JSON: {0}")]
    NotJson(serde_json::Error),
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

/// Builds the 2.0 event for a matched request.
pub fn build_event(req: &RequestFacts<'_>, route: &RouteMatch) -> Value {
    let (headers, cookies) = event_headers(req);
    let mut event = json!({
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": req.raw_path,
        "rawQueryString": req.raw_query,
        "headers": headers,
        "requestContext": request_context(req, route),
        "isBase64Encoded": false,
    });
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    let query = query_parameters(req.raw_query);
    if !query.is_empty() {
        event["queryStringParameters"] = json!(query);
    }
    if !route.path_parameters.is_empty() {
        event["pathParameters"] = json!(route.path_parameters);
    }
    if !req.body.is_empty() {
        // Text goes as is; bytes that are not UTF-8 go base64, as API Gateway does.
        match std::str::from_utf8(req.body) {
            Ok(text) => event["body"] = json!(text),
            Err(_) => {
                event["body"] = json!(STANDARD.encode(req.body));
                event["isBase64Encoded"] = json!(true);
            }
        }
    }
    event
}

/// Lower-case headers, repeated ones joined by `,`; the `cookie` header moves to `cookies`.
/// API Gateway's `x-forwarded-*` headers are added.
fn event_headers(req: &RequestFacts<'_>) -> (Map<String, Value>, Vec<String>) {
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut cookies = Vec::new();
    for (name, value) in req.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == http::header::COOKIE {
            cookies.extend(
                value
                    .split(';')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned),
            );
        } else {
            headers
                .entry(name.as_str().to_owned())
                .or_default()
                .push(value);
        }
    }
    let ip = req.peer.ip().to_string();
    let forwarded = headers.entry("x-forwarded-for".to_owned()).or_default();
    forwarded.push(ip);
    let forwarded = forwarded.join(", ");
    headers.insert("x-forwarded-for".to_owned(), vec![forwarded]);
    headers.insert("x-forwarded-proto".to_owned(), vec!["http".to_owned()]);
    let port = req.peer.port();
    let local_port = req
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.rsplit_once(':'))
        .map_or_else(|| port.to_string(), |(_, p)| p.to_owned());
    headers.insert("x-forwarded-port".to_owned(), vec![local_port]);
    let map = headers
        .into_iter()
        .map(|(k, v)| (k, Value::String(v.join(","))))
        .collect();
    (map, cookies)
}

/// `queryStringParameters`: decoded, repeated keys joined by `,` (API Gateway's rule).
fn query_parameters(raw: &str) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for piece in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = piece.split_once('=').unwrap_or((piece, ""));
        let k = decode(k);
        let v = decode(v);
        out.entry(k)
            .and_modify(|old| {
                old.push(',');
                old.push_str(&v);
            })
            .or_insert(v);
    }
    out
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

fn request_context(req: &RequestFacts<'_>, route: &RouteMatch) -> Value {
    let host = req
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let domain = host.rsplit_once(':').map_or(host, |(h, _)| h);
    let user_agent = req
        .headers
        .get(http::header::USER_AGENT)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    json!({
        "accountId": LOCAL_ACCOUNT_ID,
        "apiId": LOCAL_API_ID,
        "domainName": domain,
        "domainPrefix": domain.split('.').next().unwrap_or(domain),
        "http": {
            "method": req.method,
            "path": decode(req.raw_path),
            "protocol": req.protocol,
            "sourceIp": req.peer.ip().to_string(),
            "userAgent": user_agent,
        },
        "requestId": req.request_id,
        "routeKey": route.route_key,
        "stage": "$default",
        "time": clf_time(req.received),
        "timeEpoch": i64::try_from(req.received.unix_timestamp_nanos() / 1_000_000).unwrap_or(0),
    })
}

/// `25/Nov/2026:14:36:40 +0000`, the format of `requestContext.time`.
fn clf_time(t: OffsetDateTime) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS[usize::from(u8::from(t.month())) - 1];
    format!(
        "{:02}/{month}/{:04}:{:02}:{:02}:{:02} +0000",
        t.day(),
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// A response to send back to the client.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Turns a function's 2.0 answer into an HTTP response.
pub fn parse_response(payload: &[u8]) -> Result<HttpResponse, EventError> {
    let value: Value = serde_json::from_slice(payload).map_err(EventError::NotJson)?;
    match value.as_object() {
        Some(obj) if obj.contains_key("statusCode") => full_response(obj),
        _ => Ok(simple_response(payload)),
    }
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

fn full_response(obj: &Map<String, Value>) -> Result<HttpResponse, EventError> {
    let status = status_of(&obj["statusCode"])?;
    let mut headers = HeaderMap::new();
    if let Some(Value::Object(h)) = obj.get("headers") {
        for (name, value) in h {
            append_header(&mut headers, name, &scalar(value))?;
        }
    }
    if let Some(Value::Object(h)) = obj.get("multiValueHeaders") {
        for (name, values) in h {
            for value in values.as_array().into_iter().flatten() {
                append_header(&mut headers, name, &scalar(value))?;
            }
        }
    }
    if let Some(Value::Array(cookies)) = obj.get("cookies") {
        for cookie in cookies {
            append_header(&mut headers, "set-cookie", &scalar(cookie))?;
        }
    }
    let body = match obj.get("body") {
        None | Some(Value::Null) => Bytes::new(),
        Some(b) => {
            let text = scalar(b);
            if obj.get("isBase64Encoded") == Some(&Value::Bool(true)) {
                Bytes::from(STANDARD.decode(text).map_err(EventError::BadBase64)?)
            } else {
                Bytes::from(text)
            }
        }
    };
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

fn status_of(v: &Value) -> Result<StatusCode, EventError> {
    let code = v
        .as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()));
    code.and_then(|c| u16::try_from(c).ok())
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or_else(|| EventError::BadStatus(v.to_string()))
}

/// Strings as they are, other scalars as their JSON text.
fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn append_header(headers: &mut HeaderMap, name: &str, value: &str) -> Result<(), EventError> {
    let bad = || EventError::BadHeader {
        name: name.to_owned(),
    };
    let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad())?;
    let value = HeaderValue::from_str(value).map_err(|_| bad())?;
    headers.append(name, value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let e = build_event(&facts(&h, br#"{"x":1}"#), &route());
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
        let e = build_event(&facts(&h, &[0xff, 0x00]), &route());
        assert_eq!(
            (e["body"].as_str(), e["isBase64Encoded"].as_bool()),
            (Some("/wA="), Some(true))
        );
        let e = build_event(&facts(&h, b""), &route());
        assert!(e.get("body").is_none());
        assert!(e.get("cookies").is_none());
    }

    #[test]
    fn full_response_with_cookies_and_base64() -> Result<(), EventError> {
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
    fn simple_response_is_a_200_json_body() -> Result<(), EventError> {
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
            Err(EventError::NotJson(_))
        ));
        assert!(matches!(
            parse_response(br#"{"statusCode":99}"#),
            Err(EventError::BadStatus(_))
        ));
        assert!(matches!(
            parse_response(br#"{"statusCode":200,"headers":{"bad name":"x"}}"#),
            Err(EventError::BadHeader { .. })
        ));
    }
}
