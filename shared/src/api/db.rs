//! The db function: per-user items (docs/api.md §4). The user always comes from the verified
//! credential; no part of the request can name another user's data.

use std::sync::Arc;

use http::{HeaderValue, StatusCode};
use serde::Serialize;
use serde_json::Value;

use super::auth::{authenticate, Caller, Routed};
use super::body::parse_object;
use super::conditions;
use super::error::ApiError;
use super::routes::{DbOp, FunctionKind, Op};
use super::RoutedApi;
use crate::config::CommonConfig;
use crate::credentials::TokenKeys;
use crate::files::Files;
use crate::http::{ErrorCode, Request, Response};
use crate::ids::{Collection, ItemId};
use crate::ratelimit::RateLimiter;
use crate::signing::ExpiryPolicy;
use crate::store::{Alongside, Item, ItemData, ListQuery, Order, Store, MAX_LIST_LIMIT};
use crate::time_fmt::Timestamp;

const DEFAULT_LIMIT: u32 = 20;

struct State {
    token_keys: TokenKeys,
    store: Store,
    limiter: RateLimiter,
    files: Files,
}

/// The db function's handler; cheap to clone.
#[derive(Clone)]
pub struct DbApi(Arc<State>);

impl DbApi {
    /// Builds the handler from parsed configuration, an opened store and the file backend.
    pub fn new(config: CommonConfig, store: Store, files: Files) -> Self {
        Self(Arc::new(State {
            token_keys: config.token_keys,
            limiter: RateLimiter::new(config.rate_limits, store.clone()),
            store,
            files,
        }))
    }

    /// The store (for the other modules of the db function).
    pub(super) fn store(&self) -> &Store {
        &self.0.store
    }

    async fn create(
        &self,
        req: &Request,
        caller: &Caller,
        coll: &Collection,
    ) -> Result<Response, ApiError> {
        let data = parse_object(&req.body)?;
        let id = ItemId::generate();
        let item = self
            .0
            .store
            .create_item(&caller.user_id, coll, &id, data, Timestamp::now())
            .await?;
        let mut resp = item_response(StatusCode::CREATED, &item)?;
        let location = format!("/db/{}/{}", coll, item.id);
        if let Ok(v) = HeaderValue::from_str(&location) {
            resp.headers.insert(http::header::LOCATION, v);
        }
        Ok(resp)
    }

    async fn list(
        &self,
        query: &[(String, String)],
        caller: &Caller,
        coll: &Collection,
    ) -> Result<Response, ApiError> {
        let filter = super::query::where_filter(query)?;
        let query = list_query(query)?;
        let store = &self.0.store;
        let page = match &filter {
            None => store.list_items(&caller.user_id, coll, &query).await?,
            Some(f) => {
                store
                    .list_items_where(&caller.user_id, coll, &query, f)
                    .await?
            }
        };
        let body = PageBody {
            items: page.items.iter().map(ItemBody::of).collect(),
            next_cursor: page.next_cursor.as_deref(),
        };
        json_response(StatusCode::OK, &body)
    }

    /// RFC 9110 §13.2.2 on a read: an absent item is 404 whatever the conditions (§13.2.1),
    /// then If-Match (412), then If-None-Match (304 when a tag matches).
    /// `read`: the item as read with the session, if it was.
    async fn get(
        &self,
        req: &Request,
        caller: &Caller,
        coll: &Collection,
        id: &ItemId,
        read: Option<Option<Item>>,
    ) -> Result<Response, ApiError> {
        let cond = conditions::parse(&req.headers)?;
        let item = match read {
            Some(item) => item,
            None => self.0.store.get_item(&caller.user_id, coll, id).await?,
        };
        let item = item
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no item {id} in {coll}")))?;
        if !cond.if_match_holds(Some(item.version)) {
            return Err(ApiError::new(
                ErrorCode::PreconditionFailed,
                format!(
                    "If-Match names no current version of {id} (it is at {})",
                    item.version
                ),
            ));
        }
        if !cond.if_none_match_holds(Some(item.version)) {
            let mut resp = Response::new(StatusCode::NOT_MODIFIED);
            resp.headers.insert(http::header::ETAG, etag(&item));
            return Ok(resp);
        }
        item_response(StatusCode::OK, &item)
    }

    async fn put(
        &self,
        req: &Request,
        caller: &Caller,
        coll: &Collection,
        id: &ItemId,
    ) -> Result<Response, ApiError> {
        let cond = conditions::parse(&req.headers)?;
        let data = parse_object(&req.body)?;
        let (item, created) = self
            .0
            .store
            .put_item(&caller.user_id, coll, id, data, cond, Timestamp::now())
            .await?;
        let status = if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        item_response(status, &item)
    }

    async fn patch(
        &self,
        req: &Request,
        caller: &Caller,
        coll: &Collection,
        id: &ItemId,
    ) -> Result<Response, ApiError> {
        let cond = conditions::parse(&req.headers)?;
        let patch = Value::Object(parse_object(&req.body)?);
        let item = self
            .0
            .store
            .patch_item(&caller.user_id, coll, id, patch, cond, Timestamp::now())
            .await?;
        item_response(StatusCode::OK, &item)
    }

    async fn delete(
        &self,
        req: &Request,
        caller: &Caller,
        coll: &Collection,
        id: &ItemId,
    ) -> Result<Response, ApiError> {
        let cond = conditions::parse(&req.headers)?;
        self.0
            .store
            .delete_item(&caller.user_id, coll, id, cond)
            .await?;
        Ok(Response::new(StatusCode::NO_CONTENT))
    }
}

/// Validates an item's path segments: the collection first, then the id.
fn item_key(collection: &str, id: &str) -> Result<(Collection, ItemId), ApiError> {
    Ok((Collection::parse(collection)?, ItemId::parse(id)?))
}

/// An item as the API shows it. The data goes out as its stored text, never rebuilt as a tree;
/// members in name order, as the contract's examples and the earlier `Value` output had them.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ItemBody<'a> {
    created_at: String,
    data: &'a ItemData,
    id: &'a str,
    updated_at: String,
    version: u64,
}

/// `"<version>"`, strong.
fn etag(item: &Item) -> HeaderValue {
    // Digits and quotes only: always a valid header value.
    HeaderValue::from_str(&format!("\"{}\"", item.version))
        .unwrap_or_else(|_| HeaderValue::from_static("\"\""))
}

impl<'a> ItemBody<'a> {
    pub(super) fn of(item: &'a Item) -> Self {
        Self {
            created_at: item.created_at.rfc3339(),
            data: &item.data,
            id: item.id.as_str(),
            updated_at: item.updated_at.rfc3339(),
            version: item.version.get(),
        }
    }
}

/// A listing page as the API shows it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PageBody<'a> {
    items: Vec<ItemBody<'a>>,
    next_cursor: Option<&'a str>,
}

/// Serializes `body` once, straight into the response's bytes.
pub(super) fn json_response(
    status: StatusCode,
    body: &impl Serialize,
) -> Result<Response, ApiError> {
    let bytes = serde_json::to_vec(body).map_err(|e| {
        tracing::error!(error = %e, "cannot serialize a response");
        ApiError::new(ErrorCode::InternalError, "internal error")
    })?;
    let mut resp = Response::new(status);
    resp.body = bytes.into();
    resp.headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

fn item_response(status: StatusCode, item: &Item) -> Result<Response, ApiError> {
    let mut resp = json_response(status, &ItemBody::of(item))?;
    resp.headers.insert(http::header::ETAG, etag(item));
    Ok(resp)
}

pub(super) fn invalid_query(msg: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidQuery, msg)
}

/// The known list parameters; each at most once, an empty value counts as absent.
pub(super) fn single<'a>(
    pairs: &'a [(String, String)],
    key: &str,
) -> Result<Option<&'a str>, ApiError> {
    let mut found = pairs.iter().filter(|(k, _)| k == key);
    let first = found.next();
    if found.next().is_some() {
        return Err(invalid_query(format!("{key} is given more than once")));
    }
    Ok(first.map(|(_, v)| v.as_str()).filter(|v| !v.is_empty()))
}

fn list_query(pairs: &[(String, String)]) -> Result<ListQuery, ApiError> {
    let limit = match single(pairs, "limit")? {
        None => DEFAULT_LIMIT,
        // Digits only: `parse` alone would also take a sign (`+5`).
        Some(v) => Some(v)
            .filter(|v| v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse::<u32>().ok())
            .filter(|n| (1..=MAX_LIST_LIMIT).contains(n))
            .ok_or_else(|| {
                invalid_query(format!(
                    "limit must be a whole number from 1 to {MAX_LIST_LIMIT}, got {v:?}"
                ))
            })?,
    };
    let order = match single(pairs, "order")? {
        None | Some("asc") => Order::Asc,
        Some("desc") => Order::Desc,
        Some(v) => {
            return Err(invalid_query(format!(
                "order must be asc or desc, got {v:?}"
            )))
        }
    };
    Ok(ListQuery {
        prefix: single(pairs, "prefix")?.map(str::to_owned),
        order,
        limit,
        cursor: single(pairs, "cursor")?.map(str::to_owned),
    })
}

impl RoutedApi for DbApi {
    const FUNCTION: FunctionKind = FunctionKind::Db;
    type Op = DbOp;

    fn narrow(op: Op) -> Option<DbOp> {
        match op {
            Op::Db(op) => Some(op),
            Op::Session(_) => None,
        }
    }

    fn limiter(&self) -> &RateLimiter {
        &self.0.limiter
    }

    fn local_files(&self) -> Option<&crate::files::LocalBackend> {
        match self.0.files.backend() {
            crate::files::FileBackend::Local(local) => Some(local),
            #[cfg(feature = "files-s3")]
            crate::files::FileBackend::S3(_) => None,
        }
    }

    async fn dispatch(&self, req: &Request, routed: &Routed<DbOp>) -> Result<Response, ApiError> {
        let s = &self.0;
        // A GET's item and a write's account check are read with the session. A key that does
        // not parse reads nothing more: its error comes after authentication, as always.
        let get_key = match &routed.op {
            DbOp::Get { collection, id } => item_key(collection, id).ok(),
            _ => None,
        };
        let alongside = match (&routed.op, &get_key) {
            (DbOp::Get { .. }, Some((coll, id))) => Alongside::Item { coll, id },
            (DbOp::Create { .. } | DbOp::Put { .. } | DbOp::Patch { .. } | DbOp::Batch, _) => {
                Alongside::AccountState
            }
            _ => Alongside::Nothing,
        };
        let (caller, read) = authenticate(
            req,
            routed,
            &s.token_keys,
            &s.store,
            &s.limiter,
            ExpiryPolicy::Enforce,
            alongside,
        )
        .await?;
        let mut resp = match &routed.op {
            DbOp::Create { collection } => {
                self.create(req, &caller, &Collection::parse(collection)?)
                    .await
            }
            DbOp::List { collection } => {
                self.list(&routed.query, &caller, &Collection::parse(collection)?)
                    .await
            }
            DbOp::Get { collection, id } => {
                let (coll, id) = item_key(collection, id)?;
                self.get(req, &caller, &coll, &id, read).await
            }
            DbOp::Put { collection, id } => {
                let (coll, id) = item_key(collection, id)?;
                self.put(req, &caller, &coll, &id).await
            }
            DbOp::Patch { collection, id } => {
                let (coll, id) = item_key(collection, id)?;
                self.patch(req, &caller, &coll, &id).await
            }
            DbOp::Delete { collection, id } => {
                let (coll, id) = item_key(collection, id)?;
                self.delete(req, &caller, &coll, &id).await
            }
            DbOp::Batch => self.batch(req, &caller).await,
            DbOp::Collections => super::collections::list(&s.store, &routed.query, &caller).await,
            DbOp::DeleteAccount => super::account::delete(&s.store, &s.files, &caller).await,
            DbOp::File(op) => {
                super::files::dispatch(&s.files, &s.store, req, &routed.query, &caller, op).await
            }
        }?;
        resp.log.user_hash = Some(caller.user_id.log_hash());
        Ok(resp)
    }
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
    fn list_query_rules() {
        let q = list_query(&pairs(&[
            ("limit", "5"),
            ("order", "desc"),
            ("cursor", ""),
            ("x", "1"),
            ("x", "2"),
        ]))
        .unwrap();
        assert_eq!((q.limit, q.order, q.cursor), (5, Order::Desc, None));
        for bad in [
            ("limit", "0"),
            ("limit", "101"),
            ("limit", "abc"),
            ("limit", "+5"),
            ("order", "up"),
        ] {
            assert_eq!(
                list_query(&pairs(&[bad])).unwrap_err().code,
                ErrorCode::InvalidQuery
            );
        }
        let twice = pairs(&[("limit", "1"), ("limit", "2")]);
        assert_eq!(
            list_query(&twice).unwrap_err().code,
            ErrorCode::InvalidQuery
        );
        assert_eq!(list_query(&[]).unwrap().limit, DEFAULT_LIMIT);
    }
}
