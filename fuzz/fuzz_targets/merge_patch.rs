//! JSON Merge Patch (RFC 7396, `store::merge_patch`). Input: target and patch JSON, split at the
//! first 0xff byte. Laws checked: a non-object patch replaces the target; an object patch gives
//! an object where each patched member is removed (`null`), replaced (non-object) or merged
//! (object) and every other member of an object target is kept; applying the same patch twice
//! changes nothing more (idempotence); `apply_to_object` agrees with `apply`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use miniapp_fuzz::split2;
use miniapp_shared::store::merge_patch::{apply, apply_to_object, kind_name};
use serde_json::Value;

fn check_law(target: &Value, patch: &Value, result: &Value) {
    let Value::Object(p) = patch else {
        assert_eq!(result, patch);
        return;
    };
    let Value::Object(r) = result else {
        panic!("an object patch gave {}", kind_name(result));
    };
    for (name, value) in p {
        match value {
            Value::Null => assert!(!r.contains_key(name)),
            Value::Object(_) => {
                let before = target.get(name).cloned().unwrap_or(Value::Null);
                let merged = r.get(name).unwrap_or(&Value::Null);
                check_law(&before, value, merged);
            }
            other => assert_eq!(r.get(name), Some(other)),
        }
    }
    if let Value::Object(t) = target {
        for (name, value) in t {
            if !p.contains_key(name) {
                assert_eq!(r.get(name), Some(value));
            }
        }
    }
    for name in r.keys() {
        let from_target = target.as_object().is_some_and(|t| t.contains_key(name));
        assert!(
            from_target || p.contains_key(name),
            "{name:?} came from nowhere"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let (t, p) = split2(data);
    let (Ok(target), Ok(patch)) = (
        serde_json::from_slice::<Value>(t),
        serde_json::from_slice::<Value>(p),
    ) else {
        return;
    };
    let mut once = target.clone();
    apply(&mut once, &patch);
    check_law(&target, &patch, &once);
    let mut twice = once.clone();
    apply(&mut twice, &patch);
    assert_eq!(once, twice, "merge patch is not idempotent");
    if let (Value::Object(t), Value::Object(_)) = (&target, &patch) {
        let as_object = apply_to_object(t.clone(), &patch);
        assert_eq!(Value::Object(as_object), once);
    }
});
