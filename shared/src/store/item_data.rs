//! An item's data as stored: the compact JSON text of an object, handed to responses as is.
//!
//! Why text rather than a `Value` tree: with `arbitrary_precision` every number in a tree is a
//! heap string of its own, so 256 KiB of small numbers (`{"a":[0,0,…]}`) becomes ~10 MB of
//! nodes, and a page of such items took the process down. Reads only validate the text (no
//! tree); only a PATCH parses the one item it merges into.

use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

use super::JsonObject;

/// The data of a stored item: always the JSON text of an object.
#[derive(Debug, Clone)]
pub struct ItemData(Box<RawValue>);

/// Stored text that is not the JSON of an object.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct NotAnObject;

impl ItemData {
    /// The compact JSON text of `data`.
    pub(crate) fn from_object(data: &JsonObject) -> Self {
        // Serializing a map with string keys cannot fail; fall back to `{}` all the same.
        let raw = serde_json::value::to_raw_value(data)
            .or_else(|_| RawValue::from_string("{}".to_owned()));
        match raw {
            Ok(raw) => Self(raw),
            Err(_) => Self::empty(),
        }
    }

    /// Checks that `text` is the JSON of an object, without building it.
    pub(crate) fn from_text(text: String) -> Result<Self, NotAnObject> {
        if !text.trim_start().starts_with('{') {
            return Err(NotAnObject);
        }
        RawValue::from_string(text)
            .map(Self)
            .map_err(|_| NotAnObject)
    }

    fn empty() -> Self {
        #[allow(clippy::expect_used, reason = "a constant that is valid JSON")]
        Self(RawValue::from_string("{}".to_owned()).expect("{} is JSON"))
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    /// The data as a tree (for a merge patch, or a test); the text is valid, so this only fails
    /// on memory exhaustion-like oddities.
    pub fn to_object(&self) -> Result<JsonObject, serde_json::Error> {
        serde_json::from_str(self.as_str())
    }
}

impl PartialEq for ItemData {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<JsonObject> for ItemData {
    fn eq(&self, other: &JsonObject) -> bool {
        self.to_object().is_ok_and(|o| o == *other)
    }
}

impl Serialize for ItemData {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_exact_text_under_arbitrary_precision() {
        let text = r#"{"big":123456789012345678901234567890,"d":1.50,"e":1e+400,"s":"é\n"}"#;
        let data = ItemData::from_text(text.to_owned()).unwrap();
        assert_eq!(data.as_str(), text);
        let outer = serde_json::to_string(&serde_json::json!({"k": 1})).unwrap();
        assert_eq!(outer, r#"{"k":1}"#);
        #[derive(Serialize)]
        struct Wrap<'a> {
            data: &'a ItemData,
        }
        let wrapped = serde_json::to_string(&Wrap { data: &data }).unwrap();
        assert_eq!(wrapped, format!(r#"{{"data":{text}}}"#));
        let obj: JsonObject = serde_json::from_str(text).unwrap();
        assert_eq!(ItemData::from_object(&obj).as_str(), text);
        assert_eq!(data, obj);
    }

    #[test]
    fn refuses_what_is_not_an_object() {
        for bad in ["[1]", "1", "{", "{\"a\":1} x", ""] {
            assert_eq!(
                ItemData::from_text(bad.to_owned()).err(),
                Some(NotAnObject),
                "{bad}"
            );
        }
    }
}
