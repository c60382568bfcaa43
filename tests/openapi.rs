//! `openapi.yaml` kept true: it describes exactly the routes the router serves and exactly the
//! error codes the server can answer, each under the status the server gives it.

use std::collections::{BTreeMap, BTreeSet};

use miniapp_shared::api::api_routes;
use miniapp_shared::http::ErrorCode;
use serde_norway::Value;
use test_support::workspace_root as repo_root;

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

fn document() -> Value {
    let path = repo_root().join("openapi.yaml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("openapi.yaml is not YAML: {e}"))
}

fn map(v: &Value) -> impl Iterator<Item = (&str, &Value)> {
    v.as_mapping()
        .into_iter()
        .flat_map(|m| m.iter())
        .filter_map(|(k, v)| k.as_str().map(|k| (k, v)))
}

/// Every operation of the document as (path, method) → its `responses` node.
fn operations(doc: &Value) -> BTreeMap<(String, String), &Value> {
    let mut ops = BTreeMap::new();
    for (path, item) in map(&doc["paths"]) {
        for (method, op) in map(item) {
            if METHODS.contains(&method) {
                ops.insert((path.to_owned(), method.to_owned()), &op["responses"]);
            }
        }
    }
    ops
}

/// A response node with its `$ref` (to `#/components/responses/...`) followed.
fn resolve<'a>(doc: &'a Value, response: &'a Value) -> &'a Value {
    match response.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r
                .strip_prefix("#/components/responses/")
                .unwrap_or_else(|| panic!("unexpected $ref {r}"));
            &doc["components"]["responses"][name]
        }
        None => response,
    }
}

fn code_named(name: &str) -> Option<ErrorCode> {
    ErrorCode::ALL.into_iter().find(|c| c.as_str() == name)
}

#[test]
fn every_route_the_router_serves_and_no_other() {
    let doc = document();
    let documented: BTreeSet<(String, String)> = operations(&doc).into_keys().collect();
    let served: BTreeSet<(String, String)> = api_routes()
        .map(|r| {
            (
                r.template.to_owned(),
                r.method.as_str().to_ascii_lowercase(),
            )
        })
        .collect();
    assert_eq!(documented, served);
}

#[test]
fn the_error_schema_lists_exactly_the_error_codes() {
    let doc = document();
    let listed: Vec<&str> = doc["components"]["schemas"]["Error"]["properties"]["error"]
        ["properties"]["code"]["enum"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let unique: BTreeSet<&str> = listed.iter().copied().collect();
    assert_eq!(unique.len(), listed.len(), "a code is listed twice");
    let all: BTreeSet<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(unique, all);
}

/// Every code named in a response's `x-error-codes` exists and has that response's status, and
/// every code the server has is named under some operation.
#[test]
fn each_operation_names_its_error_codes_under_their_status() {
    let doc = document();
    let mut named = BTreeSet::new();
    for ((path, method), responses) in operations(&doc) {
        for (status, response) in map(responses) {
            let response = resolve(&doc, response);
            for (name, _) in map(&response["x-error-codes"]) {
                let code = code_named(name)
                    .unwrap_or_else(|| panic!("{method} {path}: unknown error code {name}"));
                assert_eq!(
                    code.status().as_str(),
                    status,
                    "{method} {path}: {name} is documented under the wrong status"
                );
                named.insert(name.to_owned());
            }
        }
    }
    // 404 RouteNotFound and 405 MethodNotAllowed belong to no operation: they are the answers
    // to paths and methods the API does not have, documented in components.responses.
    for (name, response) in map(&doc["components"]["responses"]) {
        if matches!(name, "RouteNotFound" | "MethodNotAllowed") {
            for (code, _) in map(&response["x-error-codes"]) {
                named.insert(code.to_owned());
            }
        }
    }
    let all: BTreeSet<String> = ErrorCode::ALL
        .iter()
        .map(|c| c.as_str().to_owned())
        .collect();
    let missing: Vec<_> = all.difference(&named).collect();
    assert!(missing.is_empty(), "codes no operation names: {missing:?}");
}
