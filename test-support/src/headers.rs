//! Response headers of both modes (HTTP server and Lambda) as lists that compare equal when
//! the two modes answered alike.

use http::HeaderMap;
use serde_json::Value;

/// Headers only the HTTP transport writes: a Lambda response never carries them.
pub const TRANSPORT: [&str; 4] = ["date", "content-length", "connection", "transfer-encoding"];

/// An HTTP response's headers, sorted, without the [`TRANSPORT`] ones.
pub fn of_http(headers: &HeaderMap) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = headers
        .iter()
        .filter(|(n, _)| !TRANSPORT.contains(&n.as_str()))
        .map(|(n, v)| {
            (
                n.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    pairs.sort();
    pairs
}

/// The `headers` of a Lambda (payload 2.0) response object, sorted.
pub fn of_lambda(response: &Value) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = response["headers"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    pairs.sort();
    pairs
}
