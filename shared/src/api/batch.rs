//! `POST /db`: an atomic batch of writes over the caller's collections (docs/api.md §4.6).
//!
//! Why `POST /db` and not `POST /db/_batch`: `_batch` is a valid collection name (contract
//! §5, `^[A-Za-z0-9_-]{1,64}$`), so that path already means "create an item in `_batch`";
//! `/db` itself takes no other POST.
//!
//! Body: `{"operations": [op, ...]}` with 1 to [`MAX_BATCH_OPS`] operations, each one of
//! `{"op": "create", "collection", "data"}`,
//! `{"op": "put", "collection", "id", "data", "ifMatch"?, "ifNoneMatch"?}`,
//! `{"op": "patch", "collection", "id", "patch", "ifMatch"?, "ifNoneMatch"?}`,
//! `{"op": "delete", "collection", "id", "ifMatch"?, "ifNoneMatch"?}`; conditions are the
//! header values of docs/api.md §4.3 as strings. An error about one operation carries its
//! `index` in the error body.

use std::collections::HashSet;

use http::header::{IF_MATCH, IF_NONE_MATCH};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde::Serialize;
use serde_json::{Map, Value};

use super::auth::Caller;
use super::body::parse_json;
use super::conditions;
use super::db::{json_response, DbApi, ItemBody};
use super::error::ApiError;
use crate::http::{ErrorCode, Request, Response};
use crate::ids::{Collection, ItemId};
use crate::store::{BatchError, BatchOp, BatchOutcome, Condition, StoreError, MAX_BATCH_OPS};
use crate::time_fmt::Timestamp;

impl DbApi {
    pub(super) async fn batch(&self, req: &Request, caller: &Caller) -> Result<Response, ApiError> {
        let ops = parse_batch(&req.body)?;
        let outcomes = self
            .store()
            .write_batch(&caller.user_id, &ops, Timestamp::now())
            .await
            .map_err(batch_error)?;
        let results = ops
            .iter()
            .zip(&outcomes)
            .map(|(op, outcome)| ResultBody::of(op, outcome))
            .collect();
        json_response(StatusCode::OK, &BatchBody { results })
    }
}

/// The answer: one result per operation, in order.
#[derive(Serialize)]
struct BatchBody<'a> {
    results: Vec<ResultBody<'a>>,
}

/// `{"op", "collection", "id", "item"}`, or `"deleted": true` in place of the item.
#[derive(Serialize)]
struct ResultBody<'a> {
    op: &'static str,
    collection: &'a str,
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    item: Option<ItemBody<'a>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    deleted: bool,
}

impl<'a> ResultBody<'a> {
    fn of(op: &'a BatchOp, outcome: &'a BatchOutcome) -> Self {
        let (coll, id) = op.target();
        let name = match op {
            BatchOp::Create { .. } => "create",
            BatchOp::Put { .. } => "put",
            BatchOp::Patch { .. } => "patch",
            BatchOp::Delete { .. } => "delete",
        };
        let item = match outcome {
            BatchOutcome::Written(item) => Some(ItemBody::of(item)),
            BatchOutcome::Deleted => None,
        };
        Self {
            op: name,
            collection: coll.as_str(),
            id: id.as_str(),
            deleted: item.is_none(),
            item,
        }
    }
}

fn batch_error(e: BatchError) -> ApiError {
    if let (None, StoreError::ItemTooLarge { size, limit }) = (e.index, &e.error) {
        return ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("the batch writes {size} bytes of data in all, over the limit of {limit}"),
        );
    }
    let api = ApiError::from(e.error);
    match e.index {
        Some(i) => api.at(i),
        None => api,
    }
}

fn invalid(msg: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidRequest, msg)
}

/// The body as validated operations: shape, names, ids, data and conditions, and no two
/// operations on one item (DynamoDB refuses that in one transaction, and its meaning would
/// depend on order).
pub(super) fn parse_batch(body: &[u8]) -> Result<Vec<BatchOp>, ApiError> {
    let Value::Object(mut top) = parse_json(body)? else {
        return Err(invalid(
            "the body must be a JSON object {\"operations\": [...]}",
        ));
    };
    let ops = match top.remove("operations") {
        Some(Value::Array(ops)) => ops,
        _ => return Err(invalid("the body needs \"operations\": an array")),
    };
    if let Some(other) = top.keys().next() {
        return Err(invalid(format!("unknown member {other:?} in the body")));
    }
    if ops.is_empty() || ops.len() > MAX_BATCH_OPS {
        return Err(invalid(format!(
            "a batch holds 1 to {MAX_BATCH_OPS} operations, got {}",
            ops.len()
        )));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(ops.len());
    for (i, op) in ops.into_iter().enumerate() {
        let op = parse_op(op).map_err(|e| e.at(i))?;
        let (coll, id) = op.target();
        if !seen.insert((coll.clone(), id.clone())) {
            return Err(invalid(format!(
                "operations[{i}] targets {coll}/{id}, as an earlier operation does; one \
                 operation per item"
            ))
            .at(i));
        }
        out.push(op);
    }
    Ok(out)
}

fn parse_op(op: Value) -> Result<BatchOp, ApiError> {
    let Value::Object(mut m) = op else {
        return Err(invalid("an operation must be a JSON object"));
    };
    let kind = match m.remove("op") {
        Some(Value::String(k)) => k,
        _ => {
            return Err(invalid(
                "an operation needs \"op\": create, put, patch or delete",
            ))
        }
    };
    let allowed: &[&str] = match kind.as_str() {
        "create" => &["collection", "data"],
        "put" => &["collection", "id", "data", "ifMatch", "ifNoneMatch"],
        "patch" => &["collection", "id", "patch", "ifMatch", "ifNoneMatch"],
        "delete" => &["collection", "id", "ifMatch", "ifNoneMatch"],
        other => {
            return Err(invalid(format!(
                "unknown op {other:?}; use create, put, patch or delete"
            )))
        }
    };
    if let Some(k) = m.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(invalid(format!("{kind} takes no member {k:?}")));
    }
    let coll = Collection::parse(&string(&mut m, "collection")?)?;
    let op = match kind.as_str() {
        "create" => BatchOp::Create {
            coll,
            id: ItemId::generate(),
            data: object(&mut m, "data")?,
        },
        "put" => BatchOp::Put {
            id: ItemId::parse(&string(&mut m, "id")?)?,
            data: object(&mut m, "data")?,
            cond: condition(&m)?,
            coll,
        },
        "patch" => BatchOp::Patch {
            id: ItemId::parse(&string(&mut m, "id")?)?,
            patch: Value::Object(object(&mut m, "patch")?),
            cond: condition(&m)?,
            coll,
        },
        _ => BatchOp::Delete {
            id: ItemId::parse(&string(&mut m, "id")?)?,
            cond: condition(&m)?,
            coll,
        },
    };
    Ok(op)
}

fn string(m: &mut Map<String, Value>, key: &str) -> Result<String, ApiError> {
    match m.remove(key) {
        Some(Value::String(s)) => Ok(s),
        _ => Err(invalid(format!("the operation needs {key:?}: a string"))),
    }
}

fn object(m: &mut Map<String, Value>, key: &str) -> Result<Map<String, Value>, ApiError> {
    match m.remove(key) {
        Some(Value::Object(o)) => Ok(o),
        _ => Err(invalid(format!(
            "the operation needs {key:?}: a JSON object"
        ))),
    }
}

/// `ifMatch` / `ifNoneMatch`, parsed exactly as the headers are (`api/conditions.rs`).
fn condition(m: &Map<String, Value>) -> Result<Condition, ApiError> {
    let mut headers = HeaderMap::new();
    for (key, name) in [("ifMatch", IF_MATCH), ("ifNoneMatch", IF_NONE_MATCH)] {
        add_header(&mut headers, m, key, name)?;
    }
    conditions::parse(&headers)
}

fn add_header(
    headers: &mut HeaderMap,
    m: &Map<String, Value>,
    key: &str,
    name: HeaderName,
) -> Result<(), ApiError> {
    match m.get(key) {
        None => Ok(()),
        Some(Value::String(s)) => {
            let value = HeaderValue::from_str(s)
                .map_err(|_| invalid(format!("{key} is malformed (not a header value)")))?;
            headers.insert(name, value);
            Ok(())
        }
        Some(_) => Err(invalid(format!(
            "{key} must be a string such as \"\\\"3\\\"\" or \"*\""
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<Vec<BatchOp>, ApiError> {
        parse_batch(v.to_string().as_bytes())
    }

    #[test]
    fn parses_each_op() {
        let ops = parse(json!({"operations": [
            {"op": "create", "collection": "a", "data": {"x": 1}},
            {"op": "put", "collection": "a", "id": "p", "data": {}, "ifNoneMatch": "*"},
            {"op": "patch", "collection": "a", "id": "q", "patch": {"x": null}, "ifMatch": "\"2\""},
            {"op": "delete", "collection": "b", "id": "p"},
        ]}))
        .unwrap();
        assert_eq!(ops.len(), 4);
        assert!(matches!(&ops[1], BatchOp::Put { cond, .. } if *cond == Condition::create_only()));
        let v2 = crate::ids::Version::new(2).unwrap();
        assert!(matches!(&ops[2], BatchOp::Patch { cond, .. } if *cond == Condition::if_match(v2)));
    }

    #[test]
    fn refusals_name_the_operation() {
        let cases = [
            (json!([]), None, ErrorCode::InvalidRequest),
            (json!({"operations": []}), None, ErrorCode::InvalidRequest),
            (json!({"operations": {}}), None, ErrorCode::InvalidRequest),
            (
                json!({"operations": [{"op": "delete", "collection": "a", "id": "x"}], "x": 1}),
                None,
                ErrorCode::InvalidRequest,
            ),
            (
                json!({"operations": [{"op": "delete", "collection": "a", "id": "x"},
                                      {"op": "put", "collection": "a", "id": "x", "data": {}}]}),
                Some(1),
                ErrorCode::InvalidRequest,
            ),
            (
                json!({"operations": [{"op": "delete", "collection": "a/b", "id": "x"}]}),
                Some(0),
                ErrorCode::InvalidCollection,
            ),
            (
                json!({"operations": [{"op": "delete", "collection": "a", "id": "x"},
                                      {"op": "delete", "collection": "a", "id": "../y"}]}),
                Some(1),
                ErrorCode::InvalidId,
            ),
            (
                json!({"operations": [{"op": "create", "collection": "a", "id": "x", "data": {}}]}),
                Some(0),
                ErrorCode::InvalidRequest,
            ),
            (
                json!({"operations": [{"op": "put", "collection": "a", "id": "x", "data": []}]}),
                Some(0),
                ErrorCode::InvalidRequest,
            ),
            (
                json!({"operations": [{"op": "delete", "collection": "a", "id": "x", "ifMatch": "3"}]}),
                Some(0),
                ErrorCode::InvalidRequest,
            ),
            (
                json!({"operations": [{"op": "delete", "collection": "a", "id": "x", "ifMatch": 3}]}),
                Some(0),
                ErrorCode::InvalidRequest,
            ),
            (
                json!({"operations": [{"op": "upsert", "collection": "a", "id": "x"}]}),
                Some(0),
                ErrorCode::InvalidRequest,
            ),
        ];
        for (body, index, code) in cases {
            let e = parse(body.clone()).unwrap_err();
            assert_eq!((e.index, e.code), (index, code), "{body}");
        }
        let many: Vec<Value> = (0..=MAX_BATCH_OPS)
            .map(|i| json!({"op": "delete", "collection": "a", "id": format!("i{i}")}))
            .collect();
        let e = parse(json!({ "operations": many })).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        assert_eq!(parse_batch(b"{").unwrap_err().code, ErrorCode::InvalidJson);
    }
}
