//! JSON ⇄ DynamoDB `AttributeValue`, with exact round trips.
//!
//! Data is stored natively where DynamoDB can hold it exactly, so the console shows it plainly:
//! `null` → `NULL`, booleans → `BOOL`, strings → `S` (empty ones included), arrays → `L`,
//! objects → `M`, numbers → `N`. Three things DynamoDB cannot hold exactly are stored as `B`
//! holding the value's JSON text instead (the mapping never makes `B` otherwise, so it is
//! unambiguous):
//! - numbers that `N` would change or refuse. `N` keeps 38 significant digits and magnitudes
//!   from 1e-130 to below 1e126, and DynamoDB answers with its canonical text (`1.50` comes back
//!   as `1.5`, `1e2` as `100`, `-0` as `0`). Only plain canonical decimals within those bounds
//!   are stored as `N`; `1e400`, `-0.0` or `1.0` go to `B`;
//! - objects with a member name DynamoDB refuses (the empty name, or one over 64 KiB);
//! - arrays and objects nested deeper than [`MAX_NATIVE_DEPTH`] (DynamoDB allows 32 levels, the
//!   API 64).

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Number, Value};

use super::JsonObject;

/// Deepest container stored natively; the item's data object is level 1.
const MAX_NATIVE_DEPTH: usize = 30;
const MAX_SIGNIFICANT_DIGITS: usize = 38;
/// `N` holds positive magnitudes down to 1e-130: at most 129 zeros after the point.
const MAX_LEADING_FRACTION_ZEROS: usize = 129;
const MAX_NAME_BYTES: usize = 65_535;

/// Why stored attributes could not be turned back into JSON.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct DecodeError(pub String);

/// The data object as an attribute (`M`, or `B` when it cannot be a native map).
pub(crate) fn object_to_av(data: &JsonObject) -> AttributeValue {
    encode_object(data, 1)
}

/// The data object's compact JSON text, written straight from its attribute: no `Value` tree
/// (see `item_data.rs`). Map members come out sorted by name, as `serde_json` writes a map.
pub(crate) fn object_text(av: &AttributeValue) -> Result<String, DecodeError> {
    let mut out = Vec::new();
    write_json(av, &mut out)?;
    if out.first() != Some(&b'{') {
        return Err(DecodeError("data is not an object".into()));
    }
    String::from_utf8(out).map_err(|_| DecodeError("data is not UTF-8".into()))
}

/// The data's size as DynamoDB counts it (names + values + per-element overhead), rounded up.
pub(crate) fn object_size(data: &JsonObject) -> usize {
    if !native_object(data, 1) {
        return json_bytes(&Value::Object(data.clone())).len();
    }
    3 + data
        .iter()
        .map(|(k, v)| 1 + k.len() + size(v, 2))
        .sum::<usize>()
}

fn size(v: &Value, depth: usize) -> usize {
    match v {
        Value::Null | Value::Bool(_) => 1,
        Value::String(s) => s.len(),
        Value::Number(n) => {
            let text = n.to_string();
            if native_number(&text) {
                // One byte per two significant digits plus one (every digit counted: rounds up).
                text.bytes().filter(u8::is_ascii_digit).count() / 2 + 2
            } else {
                text.len()
            }
        }
        Value::Array(items) if depth <= MAX_NATIVE_DEPTH => {
            3 + items.iter().map(|e| 1 + size(e, depth + 1)).sum::<usize>()
        }
        Value::Object(o) if native_object(o, depth) => {
            3 + o
                .iter()
                .map(|(k, v)| 1 + k.len() + size(v, depth + 1))
                .sum::<usize>()
        }
        _ => json_bytes(v).len(),
    }
}

fn encode(v: &Value, depth: usize) -> AttributeValue {
    match v {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Number(n) => {
            let text = n.to_string();
            if native_number(&text) {
                AttributeValue::N(text)
            } else {
                AttributeValue::B(Blob::new(text.into_bytes()))
            }
        }
        Value::Array(items) if depth <= MAX_NATIVE_DEPTH => {
            AttributeValue::L(items.iter().map(|e| encode(e, depth + 1)).collect())
        }
        Value::Object(o) => encode_object(o, depth),
        Value::Array(_) => as_json_blob(v),
    }
}

fn encode_object(o: &JsonObject, depth: usize) -> AttributeValue {
    if !native_object(o, depth) {
        return as_json_blob(&Value::Object(o.clone()));
    }
    let members: HashMap<String, AttributeValue> = o
        .iter()
        .map(|(k, v)| (k.clone(), encode(v, depth + 1)))
        .collect();
    AttributeValue::M(members)
}

fn as_json_blob(v: &Value) -> AttributeValue {
    AttributeValue::B(Blob::new(json_bytes(v)))
}

fn json_bytes(v: &Value) -> Vec<u8> {
    // Serializing a `Value` cannot fail: its map keys are strings.
    serde_json::to_vec(v).unwrap_or_else(|_| b"null".to_vec())
}

fn native_object(o: &JsonObject, depth: usize) -> bool {
    depth <= MAX_NATIVE_DEPTH && o.keys().all(|k| !k.is_empty() && k.len() <= MAX_NAME_BYTES)
}

/// True when `N` holds `text` and gives back exactly `text`: a canonical plain decimal
/// (`-?(0|[1-9][0-9]*)(\.[0-9]*[1-9])?`, not `-0`) within DynamoDB's precision and range.
pub(crate) fn native_number(text: &str) -> bool {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (int, frac) = match unsigned.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (unsigned, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let int_ok = digits(int) && (int == "0" || !int.starts_with('0'));
    let frac_ok = frac.is_none_or(|f| digits(f) && !f.ends_with('0'));
    if !int_ok || !frac_ok {
        return false;
    }
    let frac = frac.unwrap_or("");
    let is_zero = int == "0" && frac.is_empty();
    if is_zero {
        return unsigned.len() == text.len();
    }
    let all_digits = format!("{int}{frac}");
    let significant = all_digits.trim_start_matches('0').len();
    let leading_zeros = if int == "0" {
        frac.len() - frac.trim_start_matches('0').len()
    } else {
        0
    };
    significant <= MAX_SIGNIFICANT_DIGITS && leading_zeros <= MAX_LEADING_FRACTION_ZEROS
}

fn write_json(av: &AttributeValue, out: &mut Vec<u8>) -> Result<(), DecodeError> {
    match av {
        AttributeValue::Null(_) => out.extend_from_slice(b"null"),
        AttributeValue::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        AttributeValue::S(s) => write_str(s, out)?,
        AttributeValue::N(text) if native_number(text) => out.extend_from_slice(text.as_bytes()),
        AttributeValue::N(text) => {
            // Not as written (another writer, or DynamoDB's own spelling): let serde_json say it.
            let n = text
                .parse::<Number>()
                .map_err(|e| DecodeError(format!("number {text:?}: {e}")))?;
            out.extend_from_slice(n.to_string().as_bytes());
        }
        AttributeValue::B(blob) => {
            // One JSON value, exactly (a fragment such as `1,2` must not pass).
            let raw: &serde_json::value::RawValue = std::str::from_utf8(blob.as_ref())
                .ok()
                .and_then(|t| serde_json::from_str(t).ok())
                .ok_or_else(|| DecodeError("binary attribute is not JSON".into()))?;
            out.extend_from_slice(raw.get().trim().as_bytes());
        }
        AttributeValue::L(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json(item, out)?;
            }
            out.push(b']');
        }
        AttributeValue::M(members) => {
            let mut names: Vec<&String> = members.keys().collect();
            names.sort_unstable();
            out.push(b'{');
            for (i, name) in names.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(name, out)?;
                out.push(b':');
                write_json(&members[name], out)?;
            }
            out.push(b'}');
        }
        other => return Err(DecodeError(format!("unexpected attribute type {other:?}"))),
    }
    Ok(())
}

fn write_str(s: &str, out: &mut Vec<u8>) -> Result<(), DecodeError> {
    serde_json::to_writer(out, s).map_err(|e| DecodeError(format!("string: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) {
        let data: JsonObject = serde_json::from_str(text).unwrap();
        let back = object_text(&object_to_av(&data)).unwrap();
        assert_eq!(back, serde_json::to_string(&data).unwrap());
    }

    #[test]
    fn numbers_native_only_when_exact() {
        for n in [
            "0",
            "1",
            "-1",
            "0.1",
            "-0.5",
            "123456789012345678901234567890",
            "10",
            "1.25",
        ] {
            assert!(native_number(n), "{n}");
        }
        for n in [
            "-0", "-0.0", "1.0", "1e2", "1E2", "01", "1.", ".5", "1e400", "0.10",
        ] {
            assert!(!native_number(n), "{n}");
        }
        assert!(native_number(&"9".repeat(38)));
        assert!(!native_number(&"9".repeat(39)));
        assert!(native_number(&format!("0.{}1", "0".repeat(129))));
        assert!(!native_number(&format!("0.{}1", "0".repeat(130))));
    }

    #[test]
    fn awkward_values_round_trip() {
        round_trip(r#"{"a":1e400,"b":-0.0,"c":0.1,"d":123456789012345678901234567890,"e":1.50}"#);
        round_trip(r#"{"":1,"x":{"":{"y":[]}},"z":{},"w":[[],[{}]],"s":"","n":null,"t":true}"#);
        round_trip(r##"{"name":"日本語 😀","#a":":v","a.b":[null,false,"\u0000"]}"##);
        let deep = format!("{}1{}", "[".repeat(60), "]".repeat(60));
        round_trip(&format!(r#"{{"deep":{deep}}}"#));
    }

    #[test]
    fn blobs_mark_what_n_cannot_hold() {
        let data: JsonObject = serde_json::from_str(r#"{"a":1e400,"b":2}"#).unwrap();
        let AttributeValue::M(m) = object_to_av(&data) else {
            panic!("not a map")
        };
        assert!(matches!(m.get("a"), Some(AttributeValue::B(_))));
        assert_eq!(m.get("b"), Some(&AttributeValue::N("2".into())));
    }

    #[test]
    fn sizes_grow_with_content() {
        let small: JsonObject = serde_json::from_str(r#"{"a":"x"}"#).unwrap();
        let big: JsonObject =
            serde_json::from_str(&format!(r#"{{"a":"{}"}}"#, "x".repeat(1000))).unwrap();
        assert!(object_size(&small) < 20);
        assert!(object_size(&big) > 1000);
    }
}
