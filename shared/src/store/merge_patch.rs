//! JSON Merge Patch (RFC 7396): what `PATCH /db/{collection}/{id}` applies to an item's data.

use serde_json::Value;

use super::JsonObject;

/// Applies `patch` to `target` as RFC 7396 section 2 defines: an object patch merges member by
/// member (`null` removes a member), anything else replaces the target whole.
pub fn apply(target: &mut Value, patch: &Value) {
    let Value::Object(members) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(JsonObject::new());
    }
    if let Value::Object(t) = target {
        for (name, value) in members {
            if value.is_null() {
                t.remove(name);
            } else {
                apply(t.entry(name.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

/// Applies an object patch to an item's data (the caller has checked that `patch` is an object,
/// so the result is an object too).
pub fn apply_to_object(data: JsonObject, patch: &Value) -> JsonObject {
    let mut target = Value::Object(data);
    apply(&mut target, patch);
    match target {
        Value::Object(o) => o,
        _ => JsonObject::new(),
    }
}

/// The JSON type of a value, for error messages.
pub fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The examples of RFC 7396 appendix A.
    #[test]
    fn rfc_7396_appendix_a() {
        let cases = [
            (json!({"a":"b"}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"b"}), json!({"b":"c"}), json!({"a":"b","b":"c"})),
            (json!({"a":"b"}), json!({"a":null}), json!({})),
            (
                json!({"a":"b","b":"c"}),
                json!({"a":null}),
                json!({"b":"c"}),
            ),
            (json!({"a":["b"]}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"c"}), json!({"a":["b"]}), json!({"a":["b"]})),
            (
                json!({"a":{"b":"c"}}),
                json!({"a":{"b":"d","c":null}}),
                json!({"a":{"b":"d"}}),
            ),
            (json!({"a":[{"b":"c"}]}), json!({"a":[1]}), json!({"a":[1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a":"b"}), json!(["c"]), json!(["c"])),
            (json!({"a":"foo"}), json!(null), json!(null)),
            (json!({"a":"foo"}), json!("bar"), json!("bar")),
            (json!({"e":null}), json!({"a":1}), json!({"e":null,"a":1})),
            (json!([1, 2]), json!({"a":"b","c":null}), json!({"a":"b"})),
            (
                json!({}),
                json!({"a":{"bb":{"ccc":null}}}),
                json!({"a":{"bb":{}}}),
            ),
        ];
        for (mut target, patch, want) in cases {
            apply(&mut target, &patch);
            assert_eq!(target, want, "patch {patch}");
        }
    }

    #[test]
    fn object_helper_keeps_exact_numbers() {
        let data: JsonObject = serde_json::from_str(r#"{"n": 1.50, "m": 1}"#).unwrap();
        let patch: Value =
            serde_json::from_str(r#"{"m": 123456789012345678901234567890}"#).unwrap();
        let out = apply_to_object(data, &patch);
        assert_eq!(
            serde_json::to_string(&out).unwrap(),
            r#"{"m":123456789012345678901234567890,"n":1.50}"#
        );
    }
}
