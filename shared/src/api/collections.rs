//! `GET /db` (docs/api.md §4.7): the caller's collections with item counts, by name. The user
//! comes from the verified credential; the only parameter is the previous page's cursor.

use http::StatusCode;
use serde::Serialize;

use super::auth::Caller;
use super::db::json_response;
use super::error::ApiError;
use crate::http::{ErrorCode, Response};
use crate::store::{CollectionCount, Store};

/// A page as the API shows it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CollectionsBody<'a> {
    collections: Vec<CollectionBody<'a>>,
    next_cursor: Option<&'a str>,
}

#[derive(Serialize)]
struct CollectionBody<'a> {
    name: &'a str,
    count: u64,
}

impl<'a> CollectionBody<'a> {
    fn of(c: &'a CollectionCount) -> Self {
        Self {
            name: c.name.as_str(),
            count: c.count,
        }
    }
}

/// The `cursor` parameter: at most once, empty counts as absent (as on item listings).
fn cursor(query: &[(String, String)]) -> Result<Option<&str>, ApiError> {
    let mut found = query.iter().filter(|(k, _)| k == "cursor");
    let first = found.next();
    if found.next().is_some() {
        return Err(ApiError::new(
            ErrorCode::InvalidQuery,
            "cursor is given more than once",
        ));
    }
    Ok(first.map(|(_, v)| v.as_str()).filter(|v| !v.is_empty()))
}

/// Answers `GET /db`.
pub(super) async fn list(
    store: &Store,
    query: &[(String, String)],
    caller: &Caller,
) -> Result<Response, ApiError> {
    let page = store
        .list_collections(&caller.user_id, cursor(query)?)
        .await?;
    let body = CollectionsBody {
        collections: page.collections.iter().map(CollectionBody::of).collect(),
        next_cursor: page.next_cursor.as_deref(),
    };
    json_response(StatusCode::OK, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn cursor_parameter_rules() {
        assert_eq!(cursor(&pairs(&[("x", "1")])).unwrap(), None);
        assert_eq!(cursor(&pairs(&[("cursor", "")])).unwrap(), None);
        assert_eq!(cursor(&pairs(&[("cursor", "abc")])).unwrap(), Some("abc"));
        let twice = pairs(&[("cursor", "a"), ("cursor", "b")]);
        assert_eq!(cursor(&twice).unwrap_err().code, ErrorCode::InvalidQuery);
    }
}
