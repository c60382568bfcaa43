//! DynamoDB's JSON wire format (`{"S": "text"}`, `{"M": {...}}`, ...) for the one call that
//! [`super::dynamo_direct`] makes itself: the keys it sends and the items it reads back, as the
//! SDK's `AttributeValue`, so the rest of the store handles them exactly as the SDK's answers.

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use super::dynamo::Attrs;
use crate::json_members::Members;

/// One attribute value as DynamoDB's JSON spells it: serde's externally tagged enums are
/// exactly that shape. Binary values travel as base64 text.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub(super) enum Wire {
    S(String),
    N(String),
    B(String),
    #[serde(rename = "BOOL")]
    Bool(bool),
    #[serde(rename = "NULL")]
    Null(bool),
    M(Pairs),
    L(Vec<Wire>),
    SS(Vec<String>),
    NS(Vec<String>),
    BS(Vec<String>),
}

/// The wire format could not carry a value (an SDK variant added later), or an answer held
/// something DynamoDB does not send (binary that is not base64).
#[derive(Debug, thiserror::Error)]
#[error("dynamodb wire format: {0}")]
pub(super) struct WireError(pub(super) String);

impl Wire {
    pub(super) fn from_value(v: &AttributeValue) -> Result<Self, WireError> {
        Ok(match v {
            AttributeValue::S(s) => Wire::S(s.clone()),
            AttributeValue::N(n) => Wire::N(n.clone()),
            AttributeValue::B(b) => Wire::B(STANDARD.encode(b.as_ref())),
            AttributeValue::Bool(b) => Wire::Bool(*b),
            AttributeValue::Null(b) => Wire::Null(*b),
            AttributeValue::M(m) => Wire::M(from_attrs(m)?),
            AttributeValue::L(l) => {
                Wire::L(l.iter().map(Wire::from_value).collect::<Result<_, _>>()?)
            }
            AttributeValue::Ss(ss) => Wire::SS(ss.clone()),
            AttributeValue::Ns(ns) => Wire::NS(ns.clone()),
            AttributeValue::Bs(bs) => {
                Wire::BS(bs.iter().map(|b| STANDARD.encode(b.as_ref())).collect())
            }
            other => return Err(WireError(format!("no wire form for {other:?}"))),
        })
    }

    pub(super) fn into_value(self) -> Result<AttributeValue, WireError> {
        Ok(match self {
            Wire::S(s) => AttributeValue::S(s),
            Wire::N(n) => AttributeValue::N(n),
            Wire::B(b) => AttributeValue::B(blob(&b)?),
            Wire::Bool(b) => AttributeValue::Bool(b),
            Wire::Null(b) => AttributeValue::Null(b),
            Wire::M(m) => AttributeValue::M(into_attrs(m)?),
            Wire::L(l) => AttributeValue::L(
                l.into_iter()
                    .map(Wire::into_value)
                    .collect::<Result<_, _>>()?,
            ),
            Wire::SS(ss) => AttributeValue::Ss(ss),
            Wire::NS(ns) => AttributeValue::Ns(ns),
            Wire::BS(bs) => {
                AttributeValue::Bs(bs.iter().map(|b| blob(b)).collect::<Result<_, _>>()?)
            }
        })
    }
}

fn blob(b64: &str) -> Result<Blob, WireError> {
    STANDARD
        .decode(b64)
        .map(Blob::new)
        .map_err(|e| WireError(format!("binary value: {e}")))
}

/// An object of attribute values as the wire carries it: read without hashing, since the SDK's
/// map it ends in ([`into_attrs`]) hashes each name once, at its final size (a `HashMap` here
/// hashed every name twice and grew one insert at a time, ~12k instructions of a warm GET).
pub(super) type Pairs = Members<String, Wire>;

/// An item or key as the wire carries it.
pub(super) type WireItem = Pairs;

pub(super) fn from_attrs(attrs: &Attrs) -> Result<WireItem, WireError> {
    attrs
        .iter()
        .map(|(k, v)| Ok((k.clone(), Wire::from_value(v)?)))
        .collect::<Result<_, _>>()
        .map(Members)
}

/// The SDK's map of the members; a name that came twice keeps its last value, as a map would.
pub(super) fn into_attrs(item: WireItem) -> Result<Attrs, WireError> {
    let mut attrs = Attrs::with_capacity(item.0.len());
    for (name, value) in item.0 {
        attrs.insert(name, value.into_value()?);
    }
    Ok(attrs)
}

/// `BatchGetItem`'s request body: every key of a table read with `ConsistentRead`.
#[derive(Debug, Serialize)]
pub(super) struct BatchGetInput<'a> {
    #[serde(rename = "RequestItems")]
    pub(super) request_items: HashMap<&'a str, KeysToGet>,
}

#[derive(Debug, Serialize)]
pub(super) struct KeysToGet {
    #[serde(rename = "Keys")]
    pub(super) keys: Vec<WireItem>,
    #[serde(rename = "ConsistentRead")]
    pub(super) consistent_read: bool,
}

/// `BatchGetItem`'s answer. Only whether `UnprocessedKeys` is empty matters: a throttled read
/// is done again one key at a time.
#[derive(Debug, Deserialize)]
pub(super) struct BatchGetOutput {
    #[serde(rename = "Responses", default)]
    pub(super) responses: HashMap<String, Vec<WireItem>>,
    #[serde(rename = "UnprocessedKeys", default)]
    pub(super) unprocessed_keys: HashMap<String, IgnoredAny>,
}

/// An error answer: `{"__type": "com.amazonaws.dynamodb.v20120810#Code", "message": "..."}`
/// (some errors spell it `Message`).
#[derive(Debug, Deserialize)]
pub(super) struct ErrorBody {
    #[serde(rename = "__type", default)]
    kind: String,
    #[serde(default, alias = "Message")]
    message: String,
}

impl ErrorBody {
    /// The error code without its namespace: `ProvisionedThroughputExceededException`.
    pub(super) fn code(&self) -> &str {
        self.kind.rsplit('#').next().unwrap_or_default()
    }

    pub(super) fn message(&self) -> &str {
        &self.message
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_kind() -> AttributeValue {
        AttributeValue::M(HashMap::from([
            ("s".to_owned(), AttributeValue::S("tëxt \"quoted\"".into())),
            ("empty".to_owned(), AttributeValue::S(String::new())),
            ("n".to_owned(), AttributeValue::N("-12.5e3".into())),
            (
                "b".to_owned(),
                AttributeValue::B(Blob::new(vec![0, 255, 7])),
            ),
            ("t".to_owned(), AttributeValue::Bool(true)),
            ("null".to_owned(), AttributeValue::Null(true)),
            (
                "l".to_owned(),
                AttributeValue::L(vec![
                    AttributeValue::N("1".into()),
                    AttributeValue::L(vec![]),
                ]),
            ),
            (
                "ss".to_owned(),
                AttributeValue::Ss(vec!["a".into(), "b".into()]),
            ),
            (
                "ns".to_owned(),
                AttributeValue::Ns(vec!["1".into(), "2.5".into()]),
            ),
            (
                "bs".to_owned(),
                AttributeValue::Bs(vec![Blob::new(b"x".to_vec()), Blob::new(vec![])]),
            ),
        ]))
    }

    #[test]
    fn values_round_trip_through_the_wire_text() {
        let value = every_kind();
        let text = serde_json::to_string(&Wire::from_value(&value).unwrap()).unwrap();
        let back: Wire = serde_json::from_str(&text).unwrap();
        assert_eq!(back.into_value().unwrap(), value);
    }

    #[test]
    fn the_wire_text_is_dynamodbs() {
        let key = HashMap::from([("pk".to_owned(), AttributeValue::S("abc".into()))]);
        let text = serde_json::to_string(&from_attrs(&key).unwrap()).unwrap();
        assert_eq!(text, r#"{"pk":{"S":"abc"}}"#);
        let answer = r#"{"Responses":{"t":[{"pk":{"S":"abc"},"n":{"N":"7"},"ok":{"BOOL":false},
            "gone":{"NULL":true},"raw":{"B":"AP8H"},"m":{"M":{"l":{"L":[{"SS":["x"]}]}}}}]},
            "UnprocessedKeys":{}}"#;
        let mut out: BatchGetOutput = serde_json::from_str(answer).unwrap();
        assert!(out.unprocessed_keys.is_empty());
        let item = into_attrs(out.responses.remove("t").unwrap().remove(0)).unwrap();
        assert_eq!(item["n"], AttributeValue::N("7".into()));
        assert_eq!(item["ok"], AttributeValue::Bool(false));
        assert_eq!(item["gone"], AttributeValue::Null(true));
        assert_eq!(item["raw"], AttributeValue::B(Blob::new(vec![0, 255, 7])));
        assert_eq!(
            item["m"],
            AttributeValue::M(HashMap::from([(
                "l".to_owned(),
                AttributeValue::L(vec![AttributeValue::Ss(vec!["x".into()])])
            )]))
        );
    }

    #[test]
    fn a_member_named_twice_keeps_its_last_value() {
        let item: WireItem = serde_json::from_str(r#"{"n":{"N":"1"},"n":{"N":"2"}}"#).unwrap();
        let attrs = into_attrs(item).unwrap();
        assert_eq!(attrs.len(), 1);
        assert_eq!(attrs["n"], AttributeValue::N("2".into()));
    }

    #[test]
    fn unprocessed_keys_and_errors_are_read() {
        let out: BatchGetOutput = serde_json::from_str(
            r#"{"Responses":{},"UnprocessedKeys":{"t":{"Keys":[{"pk":{"S":"a"}}]}}}"#,
        )
        .unwrap();
        assert!(!out.unprocessed_keys.is_empty());
        let e: ErrorBody = serde_json::from_str(
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"no table"}"#,
        )
        .unwrap();
        assert_eq!(e.code(), "ResourceNotFoundException");
        assert_eq!(e.message(), "no table");
        let e: ErrorBody =
            serde_json::from_str(r#"{"__type":"ThrottlingException","Message":"slow down"}"#)
                .unwrap();
        assert_eq!(e.code(), "ThrottlingException");
        assert_eq!(e.message(), "slow down");
    }

    #[test]
    fn binary_that_is_not_base64_is_refused() {
        let bad: Wire = serde_json::from_str(r#"{"B":"not base64!"}"#).unwrap();
        assert!(bad.into_value().is_err());
        assert!(serde_json::from_str::<Wire>(r#"{"X":"1"}"#).is_err());
    }
}
