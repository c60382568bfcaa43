//! The bounds on a request's head (docs/api.md §6), checked the same way in both modes before
//! the handler sees the request, so that a URI or header section over them gets the same JSON
//! error (414 `UriTooLong`, 431 `HeadersTooLarge`) whether it came over HTTP or in an event.
//!
//! HTTP-server mode's own parser (hyper) is configured with room above these bounds (see
//! `server.rs`), so its bare 431 is reached only by a head that does not fit its read buffer.

use crate::http::{ErrorCode, Request};

/// Most bytes of the request target: the path as sent, plus `?` and the query when there is one.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Most bytes of the header section, each field counted as `name: value` plus its line end
/// (`name.len() + value.len() + 4`).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Most header fields (each value of a repeated name counts once).
pub const MAX_HEADER_FIELDS: usize = 100;

/// What a head over a bound is answered with: the code and its message.
pub(super) fn check(req: &Request) -> Option<(ErrorCode, String)> {
    let uri = req.raw_path.len()
        + if req.raw_query.is_empty() {
            0
        } else {
            1 + req.raw_query.len()
        };
    if uri > MAX_URI_BYTES {
        let msg = format!("the request URI is over {MAX_URI_BYTES} bytes");
        return Some((ErrorCode::UriTooLong, msg));
    }
    if req.headers.len() > MAX_HEADER_FIELDS {
        let msg = format!("the request has over {MAX_HEADER_FIELDS} header fields");
        return Some((ErrorCode::HeadersTooLarge, msg));
    }
    let bytes: usize = req
        .headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if bytes > MAX_HEADER_BYTES {
        let msg = format!("the request's header section is over {MAX_HEADER_BYTES} bytes");
        return Some((ErrorCode::HeadersTooLarge, msg));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http::{HeaderMap, HeaderName, HeaderValue, Method};

    fn req(path: &str, query: &str, headers: HeaderMap) -> Request {
        Request {
            method: Method::GET,
            raw_path: path.to_owned(),
            raw_query: query.to_owned(),
            headers,
            body: Bytes::new(),
            body_too_large: false,
            request_id: "rid".into(),
            source_ip: None,
        }
    }

    fn code(r: &Request) -> Option<ErrorCode> {
        check(r).map(|(c, _)| c)
    }

    #[test]
    fn uri_bound_counts_path_question_mark_and_query() {
        let path = format!("/{}", "a".repeat(MAX_URI_BYTES - 1));
        assert_eq!(code(&req(&path, "", HeaderMap::new())), None);
        let path = format!("/{}", "a".repeat(MAX_URI_BYTES - 3));
        assert_eq!(code(&req(&path, "b", HeaderMap::new())), None);
        assert_eq!(
            code(&req(&path, "bc", HeaderMap::new())),
            Some(ErrorCode::UriTooLong)
        );
    }

    #[test]
    fn header_bounds_count_bytes_and_fields() {
        let mut h = HeaderMap::new();
        // "x-big: <value>\r\n" is exactly the bound.
        let value = "v".repeat(MAX_HEADER_BYTES - "x-big".len() - 4);
        h.insert(
            "x-big",
            HeaderValue::from_str(&value).unwrap_or_else(|e| panic!("{e}")),
        );
        assert_eq!(code(&req("/", "", h.clone())), None);
        h.insert("a", HeaderValue::from_static(""));
        assert_eq!(code(&req("/", "", h)), Some(ErrorCode::HeadersTooLarge));

        let mut h = HeaderMap::new();
        for i in 0..MAX_HEADER_FIELDS {
            let name = HeaderName::from_bytes(format!("x-{i}").as_bytes())
                .unwrap_or_else(|e| panic!("{e}"));
            h.insert(name, HeaderValue::from_static("1"));
        }
        assert_eq!(code(&req("/", "", h.clone())), None);
        h.append("x-0", HeaderValue::from_static("2"));
        assert_eq!(code(&req("/", "", h)), Some(ErrorCode::HeadersTooLarge));
    }
}
