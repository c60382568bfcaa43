//! The JSON limits on an item's data: the body parser (`InvalidJson` for bad or too deep JSON,
//! 64 levels), the size and value-count checks every write applies (`ItemTooLarge`,
//! `TooManyValues`), and the raw text the item is stored and served as (`ItemData`, and the
//! DynamoDB attribute encoding it round-trips through). Oracles: a model of depth and value
//! count; stored text parses back to the data; the DynamoDB round trip gives the same text.
//! The first byte may ask to amplify the data (an array of copies of it), so that the limits
//! of 131 072 values and 350 000 bytes are reached with small inputs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use miniapp_shared::fuzzing::{
    check_item_data, dynamo_round_trip, dynamo_size, item_data_from_text, parse_body_object,
};
use miniapp_shared::http::ErrorCode;
use miniapp_shared::store::{
    JsonObject, StoreError, MAX_DATA_DYNAMO_BYTES, MAX_DATA_JSON_BYTES, MAX_DATA_NODES,
};
use serde_json::Value;

const MAX_DEPTH: usize = 64;

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn count(v: &Value) -> usize {
    1 + match v {
        Value::Array(a) => a.iter().map(count).sum(),
        Value::Object(o) => o.values().map(count).sum(),
        _ => 0,
    }
}

fn limits(data: &JsonObject) {
    let json = serde_json::to_string(data).unwrap();
    let values = count(&Value::Object(data.clone()));
    let dynamo = dynamo_size(data);
    let result = check_item_data(data);
    match &result {
        Ok(text) => {
            assert!(json.len() <= MAX_DATA_JSON_BYTES);
            assert!(dynamo <= MAX_DATA_DYNAMO_BYTES);
            assert!(values <= MAX_DATA_NODES, "{values} values passed");
            assert_eq!(text.as_str(), json);
            let back: JsonObject = serde_json::from_str(text.as_str()).unwrap();
            assert_eq!(&back, data);
            assert!(item_data_from_text(text.as_str().to_owned()).is_some());
        }
        Err(StoreError::ItemTooLarge { size, limit }) => {
            assert!(size > limit);
            assert!(json.len() > MAX_DATA_JSON_BYTES || dynamo > MAX_DATA_DYNAMO_BYTES);
        }
        Err(StoreError::TooManyValues { .. }) => {
            assert!(values > MAX_DATA_NODES, "{values} values refused");
        }
        Err(e) => panic!("unexpected {e:?}"),
    }
    if json.len() <= MAX_DATA_JSON_BYTES {
        match dynamo_round_trip(data) {
            Ok(text) => assert_eq!(text, json, "the DynamoDB round trip changed the data"),
            Err(e) => panic!("the DynamoDB round trip failed: {e}"),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    // Stored text is only accepted back if it is an object's JSON.
    if let Ok(text) = std::str::from_utf8(body) {
        if item_data_from_text(text.to_owned()).is_some() {
            assert!(matches!(
                serde_json::from_str::<Value>(text),
                Ok(Value::Object(_))
            ));
        }
    }
    let parsed = parse_body_object(body);
    let reference = serde_json::from_slice::<Value>(body);
    let object = match (parsed, reference) {
        (Ok(object), Ok(Value::Object(r))) => {
            assert!(depth(&Value::Object(r.clone())) <= MAX_DEPTH);
            assert_eq!(object, r);
            object
        }
        (Ok(_), other) => panic!("accepted, but serde_json read {other:?}"),
        (Err(code), Ok(v)) => {
            match code {
                ErrorCode::InvalidJson => assert!(depth(&v) > MAX_DEPTH),
                ErrorCode::InvalidRequest => assert!(!v.is_object()),
                other => panic!("unexpected code {other:?}"),
            }
            return;
        }
        (Err(code), Err(_)) => {
            assert_eq!(code, ErrorCode::InvalidJson);
            return;
        }
    };
    if mode < 0xf0 {
        limits(&object);
    } else {
        // Amplify: {"a": [data, data, ...]} with 2^(mode & 15) copies.
        // At most ~2 MB of text, to keep executions fast.
        let one = serde_json::to_string(&object).unwrap().len() + 1;
        let copies = (1usize << (mode & 15)).min(2_000_000 / one);
        let mut big = JsonObject::new();
        big.insert(
            "a".into(),
            Value::Array(vec![Value::Object(object); copies]),
        );
        limits(&big);
    }
});
