//! Storage of sessions and per-user items, behind one interface with two backends:
//! [`EmbeddedStore`] (one SQLite file, for `miniapp dev` and single-host deployments) and
//! [`DynamoStore`] (two DynamoDB tables, for Lambda).
//!
//! Both backends keep the same semantics, checked by one conformance suite
//! (`shared/tests/store_conformance.rs`):
//! - every write bumps an item's version by exactly one, atomically (a conditional write on the
//!   version, never a read followed by a blind write); a new item has version 1 and a replaced
//!   item keeps its `created_at`;
//! - items are keyed by (user, collection, id) without any way for two different keys to meet,
//!   and the user always comes from the verified credential;
//! - listings are ordered by id in byte order; the cursor is opaque, HMAC-signed and bound to
//!   user, collection, prefix and order (see `store/cursor.rs`);
//! - data is limited to [`MAX_DATA_JSON_BYTES`] of serialized JSON and [`MAX_DATA_DYNAMO_BYTES`]
//!   as DynamoDB counts it, checked before any backend is called, so both backends refuse the
//!   same items;
//! - a session stays readable until its TTL attribute `ttl` = `expires_at` +
//!   [`SESSION_TTL_GRACE_SECS`]: for that day the API can still answer `SessionExpired` rather
//!   than treating the caller as unknown; past it, reads treat it as absent even if the record
//!   is still there (DynamoDB deletes expired items lazily, emulators never).

mod condition;
mod cursor;
mod dynamo;
mod dynamo_condition;
mod embedded;
mod json_av;
pub mod merge_patch;

use std::path::PathBuf;

use thiserror::Error;

use crate::http::ErrorCode;
use crate::ids::{Collection, ItemId, SessionId, UserId, Version};
use crate::secret::SecretBytes;
use crate::time_fmt::Timestamp;

pub use condition::{Condition, Tags};
pub use dynamo::DynamoStore;
pub use embedded::EmbeddedStore;

/// An item's data: a JSON object (numbers keep their exact text: `arbitrary_precision`).
pub type JsonObject = serde_json::Map<String, serde_json::Value>;

/// How long a session record outlives its `expires_at` before reads treat it as absent.
pub const SESSION_TTL_GRACE_SECS: i64 = 86_400;

/// Largest accepted data, as serialized JSON (compact) in bytes.
pub const MAX_DATA_JSON_BYTES: usize = 350_000;

/// Largest accepted data as DynamoDB sizes it (attribute names + values), leaving room under
/// DynamoDB's 400 KB item limit for the key and metadata attributes.
pub const MAX_DATA_DYNAMO_BYTES: usize = 400_000;

/// Largest page a listing returns.
pub const MAX_LIST_LIMIT: u32 = 100;

/// A stored item, as the API returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// The item's id within its collection.
    pub id: ItemId,
    /// 1 when created, +1 on every write.
    pub version: Version,
    /// When the item was first created (kept when it is replaced).
    pub created_at: Timestamp,
    /// When the item was last written.
    pub updated_at: Timestamp,
    /// The user's data.
    pub data: JsonObject,
}

/// A login session, as recorded by the session function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// The session's opaque id.
    pub session_id: SessionId,
    /// The Alipay user it belongs to.
    pub user_id: UserId,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it stops being usable (the record itself lives [`SESSION_TTL_GRACE_SECS`] longer).
    pub expires_at: Timestamp,
    /// Set by `DELETE /session`; never cleared.
    pub revoked: bool,
}

impl SessionRecord {
    /// The TTL attribute: past this instant the record is treated as absent.
    pub fn ttl(&self) -> Timestamp {
        self.expires_at.plus_secs(SESSION_TTL_GRACE_SECS)
    }
}

/// The order of a listing, by id in byte order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// Ascending ids.
    #[default]
    Asc,
    /// Descending ids.
    Desc,
}

/// A listing request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    /// Only ids starting with this (`None` or empty: all ids).
    pub prefix: Option<String>,
    /// Asc or desc by id.
    pub order: Order,
    /// Page size, 1..=[`MAX_LIST_LIMIT`] (values outside are clamped into that range).
    pub limit: u32,
    /// The `nextCursor` of the previous page, if any.
    pub cursor: Option<String>,
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The items, in the requested order.
    pub items: Vec<Item>,
    /// Where the next page starts; `None` exactly when nothing follows.
    pub next_cursor: Option<String>,
}

/// Which backend to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreKind {
    /// A SQLite database file (created with its parent folders when missing).
    Embedded(PathBuf),
    /// Two DynamoDB tables, reached through the standard AWS SDK environment.
    Dynamo {
        /// Sessions table: partition key `pk` (S), TTL attribute `ttl`.
        sessions_table: String,
        /// Data table: partition key `pk` (S), sort key `sk` (S).
        data_table: String,
        /// Create missing tables (on demand, TTL on) at open: for local servers only.
        create_tables: bool,
    },
}

/// Everything [`Store::open`] needs.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// The backend.
    pub kind: StoreKind,
    /// HMAC key signing list cursors (at least 16 bytes).
    pub cursor_key: SecretBytes,
}

/// Why a store operation failed.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum StoreError {
    /// A condition (`If-Match`, `If-None-Match`, create-if-absent) did not hold.
    #[error("the item's current state does not satisfy the request's condition")]
    PreconditionFailed,
    /// No such item.
    #[error("no such item")]
    NotFound,
    /// A cursor that is garbage, altered, or made for another user, collection or query.
    #[error("invalid cursor: {0}")]
    InvalidCursor(String),
    /// A merge patch that is not a JSON object (the data must stay an object).
    #[error("a merge patch must be a JSON object, got {0}")]
    InvalidPatch(&'static str),
    /// The data is over the size limit (checked before the backend is called).
    #[error("item data is {size} bytes, over the limit of {limit} bytes")]
    ItemTooLarge {
        /// Its size, as measured by the limit it broke.
        size: usize,
        /// That limit.
        limit: usize,
    },
    /// The backend failed or could not be reached (after bounded retries).
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The store's configuration is unusable (bad path, short cursor key, missing table).
    #[error("storage misconfigured: {0}")]
    Config(String),
}

impl StoreError {
    /// The contract's error code. `ItemTooLarge` is `PayloadTooLarge` (413): the client sent too
    /// much data, even when it got there through a patch of a small body.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::PreconditionFailed => ErrorCode::PreconditionFailed,
            Self::NotFound => ErrorCode::NotFound,
            Self::InvalidCursor(_) => ErrorCode::InvalidQuery,
            Self::InvalidPatch(_) => ErrorCode::InvalidRequest,
            Self::ItemTooLarge { .. } => ErrorCode::PayloadTooLarge,
            Self::Unavailable(_) | Self::Config(_) => ErrorCode::StorageUnavailable,
        }
    }
}

/// Refuses data over either size limit, so both backends accept exactly the same items.
pub(crate) fn check_data_size(data: &JsonObject) -> Result<(), StoreError> {
    let json = serde_json::to_vec(data)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if json > MAX_DATA_JSON_BYTES {
        return Err(StoreError::ItemTooLarge {
            size: json,
            limit: MAX_DATA_JSON_BYTES,
        });
    }
    let dynamo = json_av::object_size(data);
    if dynamo > MAX_DATA_DYNAMO_BYTES {
        return Err(StoreError::ItemTooLarge {
            size: dynamo,
            limit: MAX_DATA_DYNAMO_BYTES,
        });
    }
    Ok(())
}

/// The store: enum dispatch over the two backends (no trait objects on the request path).
#[derive(Debug, Clone)]
pub enum Store {
    /// SQLite.
    Embedded(EmbeddedStore),
    /// DynamoDB.
    Dynamo(DynamoStore),
}

/// Calls the same method on whichever backend this is.
macro_rules! dispatch {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match $self {
            Store::Embedded(s) => s.$method($($arg),*).await,
            Store::Dynamo(s) => s.$method($($arg),*).await,
        }
    };
}

impl Store {
    /// Opens the configured backend (creating the SQLite file, or the tables when asked).
    pub async fn open(cfg: &StoreConfig) -> Result<Store, StoreError> {
        cursor::check_key(&cfg.cursor_key)?;
        match &cfg.kind {
            StoreKind::Embedded(path) => Ok(Store::Embedded(
                EmbeddedStore::open(path, cfg.cursor_key.clone()).await?,
            )),
            StoreKind::Dynamo { .. } => Ok(Store::Dynamo(DynamoStore::open(cfg).await?)),
        }
    }

    /// A cheap call that opens the connection (TLS and all) before the first request needs it.
    pub async fn warm_up(&self) -> Result<(), StoreError> {
        dispatch!(self.warm_up())
    }

    /// Records a new session; an existing id → `PreconditionFailed`.
    pub async fn create_session(&self, s: &SessionRecord) -> Result<(), StoreError> {
        dispatch!(self.create_session(s))
    }

    /// The session, expired or revoked included, unless it is absent or past its TTL attribute
    /// (`expires_at` + [`SESSION_TTL_GRACE_SECS`]) at `now`.
    pub async fn get_session(
        &self,
        id: &SessionId,
        now: Timestamp,
    ) -> Result<Option<SessionRecord>, StoreError> {
        dispatch!(self.get_session(id, now))
    }

    /// Marks the session revoked; idempotent, and a no-op for an absent session. The record stays
    /// until its TTL so that requests keep getting `SessionRevoked`.
    pub async fn revoke_session(&self, id: &SessionId) -> Result<(), StoreError> {
        dispatch!(self.revoke_session(id))
    }

    /// Creates the item at version 1; an existing item → `PreconditionFailed`.
    pub async fn create_item(
        &self,
        user: &UserId,
        coll: &Collection,
        id: &ItemId,
        data: JsonObject,
        now: Timestamp,
    ) -> Result<Item, StoreError> {
        check_data_size(&data)?;
        dispatch!(self.create_item(user, coll, id, data, now))
    }

    /// Creates or replaces the item if `cond` holds (else `PreconditionFailed`); returns it and
    /// whether it was created.
    pub async fn put_item(
        &self,
        user: &UserId,
        coll: &Collection,
        id: &ItemId,
        data: JsonObject,
        cond: Condition,
        now: Timestamp,
    ) -> Result<(Item, bool), StoreError> {
        check_data_size(&data)?;
        dispatch!(self.put_item(user, coll, id, data, cond, now))
    }

    /// The item, read strongly consistently.
    pub async fn get_item(
        &self,
        user: &UserId,
        coll: &Collection,
        id: &ItemId,
    ) -> Result<Option<Item>, StoreError> {
        dispatch!(self.get_item(user, coll, id))
    }

    /// Applies an RFC 7396 merge patch if `cond` holds for the version it patches (lost races
    /// are retried a bounded number of times, the condition evaluated again each time); absent
    /// → `NotFound` (`PreconditionFailed` when `cond` needs an item: see
    /// [`Condition::holds`]).
    pub async fn patch_item(
        &self,
        user: &UserId,
        coll: &Collection,
        id: &ItemId,
        patch: &serde_json::Value,
        cond: Condition,
        now: Timestamp,
    ) -> Result<Item, StoreError> {
        if !patch.is_object() {
            return Err(StoreError::InvalidPatch(merge_patch::kind_name(patch)));
        }
        dispatch!(self.patch_item(user, coll, id, patch, cond, now))
    }

    /// Deletes the item if `cond` holds; absent → `NotFound` (`PreconditionFailed` when `cond`
    /// needs an item).
    pub async fn delete_item(
        &self,
        user: &UserId,
        coll: &Collection,
        id: &ItemId,
        cond: Condition,
    ) -> Result<(), StoreError> {
        dispatch!(self.delete_item(user, coll, id, cond))
    }

    /// One page of the user's items in `coll`, by id.
    pub async fn list_items(
        &self,
        user: &UserId,
        coll: &Collection,
        q: &ListQuery,
    ) -> Result<Page, StoreError> {
        dispatch!(self.list_items(user, coll, q))
    }
}
