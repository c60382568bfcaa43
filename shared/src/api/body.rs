//! Request bodies: JSON with a nesting limit, and the contract's 400s for each way it can fail.

use serde_json::Value;

use super::error::ApiError;
use crate::http::ErrorCode;
use crate::store::merge_patch::kind_name;
use crate::store::JsonObject;

/// Deepest accepted nesting; the outermost object or array is level 1.
pub(crate) const MAX_DEPTH: usize = 64;

/// Parses a body that must be JSON (`InvalidJson` when empty, malformed or too deep).
pub(crate) fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(
            ErrorCode::InvalidJson,
            "the body is empty; send a JSON object",
        ));
    }
    // serde_json refuses nesting past 128 itself, so this never recurses deeper than that.
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidJson,
            format!("the body is not valid JSON: {e}"),
        )
    })?;
    if depth(&value) > MAX_DEPTH {
        return Err(ApiError::new(
            ErrorCode::InvalidJson,
            format!("the body nests deeper than {MAX_DEPTH} levels"),
        ));
    }
    Ok(value)
}

/// Parses a body that must be a JSON object (`InvalidRequest` for other valid JSON).
pub(crate) fn parse_object(body: &[u8]) -> Result<JsonObject, ApiError> {
    match parse_json(body)? {
        Value::Object(map) => Ok(map),
        other => Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("the body must be a JSON object, not {}", kind_name(&other)),
        )),
    }
}

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(levels: usize) -> String {
        format!("{}{}", "[".repeat(levels), "]".repeat(levels))
    }

    #[test]
    fn depth_limit_is_64() {
        assert!(parse_json(nested(64).as_bytes()).is_ok());
        let e = parse_json(nested(65).as_bytes()).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidJson);
        let e = parse_json(nested(5000).as_bytes()).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidJson);
    }

    #[test]
    fn shapes() {
        assert_eq!(parse_json(b"").unwrap_err().code, ErrorCode::InvalidJson);
        assert_eq!(parse_json(b"{").unwrap_err().code, ErrorCode::InvalidJson);
        assert_eq!(
            parse_object(b"[1]").unwrap_err().code,
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            parse_object(b"\"x\"").unwrap_err().code,
            ErrorCode::InvalidRequest
        );
        assert!(parse_object(br#"{"a":{"b":[1]}}"#).is_ok());
    }
}
