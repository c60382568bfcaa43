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
//! - data is limited to [`MAX_DATA_JSON_BYTES`] of serialized JSON, [`MAX_DATA_DYNAMO_BYTES`]
//!   as DynamoDB counts it and [`MAX_DATA_NODES`] JSON values, checked before any backend is
//!   called, so both backends refuse the same items;
//! - data is read back as its JSON text ([`ItemData`]), never as a tree, and a listing page
//!   stops at [`MAX_PAGE_DATA_BYTES`] of it, so a response stays small whatever is stored;
//! - a session stays readable until its TTL attribute `ttl` = `expires_at` +
//!   [`SESSION_TTL_GRACE_SECS`]: for that day the API can still answer `SessionExpired` rather
//!   than treating the caller as unknown; past it, reads treat it as absent even if the record
//!   is still there (DynamoDB deletes expired items lazily, emulators never).

// Before the modules: `store/files.rs` dispatches its methods with it too.
/// Calls the same method on whichever backend this is.
macro_rules! dispatch {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match $self {
            #[cfg(feature = "embedded")]
            Store::Embedded(s) => s.$method($($arg),*).await,
            Store::Dynamo(s) => s.$method($($arg),*).await,
        }
    };
}

mod account;
mod batch;
mod condition;
mod cursor;
mod dynamo;
mod dynamo_account;
mod dynamo_condition;
mod dynamo_direct;
mod dynamo_http;
mod dynamo_prefetch;
mod dynamo_sigv4;
mod dynamo_wire;
#[cfg(feature = "embedded")]
mod embedded;
#[cfg(feature = "embedded")]
mod embedded_account;
mod files;
mod files_dynamo;
#[cfg(feature = "embedded")]
mod files_embedded;
mod filter;
mod filter_dynamo;
#[cfg(feature = "embedded")]
mod filter_sql;
mod item_data;
mod json_av;
pub mod merge_patch;
mod rate_dynamo;
#[cfg(feature = "embedded")]
mod rate_embedded;

use std::path::PathBuf;

use thiserror::Error;

use crate::http::ErrorCode;
use crate::ids::{Collection, ItemId, SessionId, UserId, Version};
use crate::time_fmt::Timestamp;

pub use account::{
    CollectionCount, CollectionsPage, COUNT_TIME_BUDGET, MAX_COLLECTIONS_PAGE, MAX_COUNT_PAGES,
};
pub use batch::{BatchError, BatchOp, BatchOutcome, MAX_BATCH_DATA_BYTES, MAX_BATCH_OPS};
pub use condition::{Condition, Tags};
pub use cursor::CursorKeys;
#[cfg(fuzzing)]
pub(crate) use cursor::ListPlan;
pub use dynamo::DynamoStore;
#[cfg(feature = "aws-config")]
#[cfg(feature = "embedded")]
pub use embedded::EmbeddedStore;
pub use files::{FileId, FilePage, FileRecord, FileStatus, FileUsage};
pub use filter::{
    Filter, FilterError, MAX_FILTER_BYTES, MAX_IN_VALUES, MAX_NUMBER_DIGITS, MAX_PATH_DEPTH,
    MAX_SEGMENT_LEN, MAX_TERMS,
};
pub use item_data::ItemData;
#[cfg(fuzzing)]
pub(crate) use json_av::{object_size, object_text, object_to_av};

/// An item's data: a JSON object (numbers keep their exact text: `arbitrary_precision`).
pub type JsonObject = serde_json::Map<String, serde_json::Value>;

/// How long a session record outlives its `expires_at` before reads treat it as absent.
pub const SESSION_TTL_GRACE_SECS: i64 = 86_400;

/// Largest accepted data, as serialized JSON (compact) in bytes.
pub const MAX_DATA_JSON_BYTES: usize = 350_000;

/// Largest accepted data as DynamoDB sizes it (attribute names + values), leaving room under
/// DynamoDB's 400 KB item limit for the key and metadata attributes.
pub const MAX_DATA_DYNAMO_BYTES: usize = 400_000;

/// Most JSON values (objects, arrays and scalars, the data object itself included) in an item's
/// data. The densest body within the 256 KiB body limit (`{"":[0,0,…]}`) holds 131 071, so it
/// only stops a PATCH from merging items into bigger trees than any one body can send.
pub const MAX_DATA_NODES: usize = 131_072;

/// Largest page a listing returns.
pub const MAX_LIST_LIMIT: u32 = 100;

/// Most bytes of item data (stored JSON text) in one listing page: a page ends early, with a
/// `nextCursor`, rather than pass it (it always holds at least one item). With ids and metadata
/// a page stays far below Lambda's 6 MB response limit, and so does the memory to build it.
pub const MAX_PAGE_DATA_BYTES: usize = 1 << 20;

/// Most stored items a filtered listing reads per request (in id order, from its cursor): a
/// filter that matches little returns a short or empty page with a `nextCursor` rather than
/// read on without bound.
pub const MAX_FILTER_SCAN: usize = 200;

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
    /// The user's data, as its JSON text.
    pub data: ItemData,
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
    /// How many refreshes the session has had: only credentials issued at this generation may
    /// refresh (once), which makes a replayed refresh request useless. 0 at log-in.
    pub refresh_generation: u64,
    /// WeChat's `unionid`, when WeChat sent one (the user across the developer's apps).
    pub union_id: Option<String>,
}

impl SessionRecord {
    /// The TTL attribute: past this instant the record is treated as absent.
    pub fn ttl(&self) -> Timestamp {
        self.expires_at.plus_secs(SESSION_TTL_GRACE_SECS)
    }
}

/// What a request reads along with its session ([`Store::get_session_with`]).
#[derive(Clone, Copy, Debug)]
pub enum Alongside<'a> {
    /// The session only.
    Nothing,
    /// The item a GET answers with.
    Item {
        /// Its collection.
        coll: &'a Collection,
        /// Its id.
        id: &'a ItemId,
    },
    /// Whether the account is being deleted, which a write checks next.
    AccountState,
}

/// What [`Store::get_session_with`] read.
#[derive(Debug)]
pub struct SessionRead {
    /// As [`Store::get_session`] answers.
    pub session: Option<SessionRecord>,
    /// With [`Alongside::Item`]: the item (`Some(None)` when absent).
    pub item: Option<Option<Item>>,
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
    /// HMAC keys of list cursors (at least 16 bytes each): the first signs, all verify.
    pub cursor_key: CursorKeys,
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
    /// The backend refused the item as over its own size limit (not retryable).
    #[error("the item is over the storage backend's size limit")]
    BackendTooLarge,
    /// The backend refused the request as invalid: a bug of ours, and retrying cannot help.
    #[error("storage refused the request: {0}")]
    Rejected(String),
    /// Concurrent writers kept winning the race for one item until the deadline: retry later.
    #[error("gave up after {0} rounds of concurrent writes to the same item")]
    Contention(u32),
    /// The data holds more JSON values than [`MAX_DATA_NODES`].
    #[error("item data has more than {limit} JSON values")]
    TooManyValues {
        /// That limit.
        limit: usize,
    },
    /// The backend failed or could not be reached (after bounded retries).
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The store's configuration is unusable (bad path, short cursor key, missing table).
    #[error("storage misconfigured: {0}")]
    Config(String),
    /// The user's account is being deleted (`DELETE /account`): writes are refused until it is.
    #[error("this account is being deleted; writes are refused until the deletion completes")]
    AccountDeleting,
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
            Self::ItemTooLarge { .. } | Self::BackendTooLarge | Self::TooManyValues { .. } => {
                ErrorCode::PayloadTooLarge
            }
            Self::Rejected(_) => ErrorCode::InternalError,
            Self::AccountDeleting => ErrorCode::AccountDeleting,
            // Availability only: a 503 tells the client to retry.
            Self::Unavailable(_) | Self::Config(_) | Self::Contention(_) => {
                ErrorCode::StorageUnavailable
            }
        }
    }
}

/// Data about to be written: the tree (DynamoDB stores it as native attributes) and the text
/// it was checked as (what the embedded store keeps, and what the answer shows).
pub(crate) struct NewData {
    pub(crate) object: JsonObject,
    pub(crate) text: ItemData,
}

/// Refuses data over any size limit, so both backends accept exactly the same items; gives
/// back the text to store.
pub(crate) fn check_data(data: &JsonObject) -> Result<ItemData, StoreError> {
    let text = ItemData::from_object(data);
    let json = text.as_str().len();
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
    if !within_nodes(data, MAX_DATA_NODES) {
        return Err(StoreError::TooManyValues {
            limit: MAX_DATA_NODES,
        });
    }
    Ok(text)
}

/// True when the object, counted as one value with everything inside it, has at most `limit`
/// values (stops counting as soon as it is over).
fn within_nodes(data: &JsonObject, limit: usize) -> bool {
    let mut left = limit.saturating_sub(1);
    let mut stack: Vec<&serde_json::Value> = data.values().collect();
    while let Some(v) = stack.pop() {
        let Some(rest) = left.checked_sub(1) else {
            return false;
        };
        left = rest;
        match v {
            serde_json::Value::Array(a) => stack.extend(a),
            serde_json::Value::Object(o) => stack.extend(o.values()),
            _ => {}
        }
    }
    true
}

/// One bucket's take for [`Store::take_rate_tokens_pair`]: the arguments of
/// [`Store::take_rate_tokens`].
#[derive(Debug, Clone, Copy)]
pub struct RateTake<'a> {
    /// The bucket's store key.
    pub key: &'a str,
    /// Its shape.
    pub rate: crate::ratelimit::Rate,
    /// Now, in Unix microseconds.
    pub now_us: u64,
    /// The state this process last saw of it (a lower bound), if any.
    pub seen: Option<u64>,
    /// Tokens wanted (a lease); at least one is taken when the bucket holds any.
    pub want: u32,
}

/// What [`Store::take_rate_tokens_pair`] answers: each take's own outcome, in order.
pub type PairTaken = (
    Result<crate::ratelimit::bucket::Lease, StoreError>,
    Result<crate::ratelimit::bucket::Lease, StoreError>,
);

/// The store: enum dispatch over the two backends (no trait objects on the request path).
#[derive(Debug, Clone)]
pub enum Store {
    /// SQLite (only in builds with the `embedded` feature).
    #[cfg(feature = "embedded")]
    Embedded(EmbeddedStore),
    /// DynamoDB.
    Dynamo(DynamoStore),
}

impl Store {
    /// Opens the configured backend (creating the SQLite file, or the tables when asked).
    pub async fn open(cfg: &StoreConfig) -> Result<Store, StoreError> {
        cursor::check_key(&cfg.cursor_key)?;
        match &cfg.kind {
            #[cfg(feature = "embedded")]
            StoreKind::Embedded(path) => Ok(Store::Embedded(EmbeddedStore::open(
                path,
                cfg.cursor_key.clone(),
            )?)),
            // A lean (DynamoDB-only) build: say so instead of failing obscurely.
            #[cfg(not(feature = "embedded"))]
            StoreKind::Embedded(path) => Err(StoreError::Config(format!(
                "the embedded store ({}) is not in this build (built without the `embedded` \
                 feature); use DynamoDB ({}=dynamodb)",
                path.display(),
                crate::config::vars::MINIAPP_STORE
            ))),
            StoreKind::Dynamo { .. } => Ok(Store::Dynamo(DynamoStore::open(cfg).await?)),
        }
    }

    /// Whether this store's calls run on tokio's blocking pool (the embedded store's SQLite), so
    /// that a task keeping its own thread busy meanwhile does not hold them up. A DynamoDB call
    /// needs its task's runtime to write the request and read the answer.
    pub fn calls_run_on_blocking_pool(&self) -> bool {
        match self {
            #[cfg(feature = "embedded")]
            Store::Embedded(_) => true,
            Store::Dynamo(_) => false,
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

    /// [`Self::get_session`] and, in the same read where the backend can (one `BatchGetItem` on
    /// DynamoDB), what the request needs next for `user`, the user its credentials name.
    // Without the embedded store, DynamoDB is the only kind.
    #[cfg_attr(not(feature = "embedded"), allow(irrefutable_let_patterns))]
    pub async fn get_session_with(
        &self,
        id: &SessionId,
        user: &UserId,
        now: Timestamp,
        alongside: Alongside<'_>,
    ) -> Result<SessionRead, StoreError> {
        if let Store::Dynamo(s) = self {
            if let Some(read) = s.get_session_batched(id, user, now, alongside).await? {
                return Ok(read);
            }
        }
        // One by one: SQLite (local reads cost little, and it checks the deletion marker in
        // each write's own transaction), or DynamoDB when the batch was throttled.
        let session = self.get_session(id, now).await?;
        let item = match alongside {
            Alongside::Item { coll, id } => Some(self.get_item(user, coll, id).await?),
            // A write reads the marker itself.
            Alongside::Nothing | Alongside::AccountState => None,
        };
        Ok(SessionRead { session, item })
    }

    /// Advances the session's refresh generation from `from` to `from + 1`, atomically (a
    /// conditional write): `PreconditionFailed` when it is no longer at `from` (another refresh
    /// from the same credentials won) or the session is absent.
    pub async fn advance_refresh(&self, id: &SessionId, from: u64) -> Result<(), StoreError> {
        dispatch!(self.advance_refresh(id, from))
    }

    /// Marks the session revoked; idempotent, and a no-op for an absent session. The record stays
    /// until its TTL so that requests keep getting `SessionRevoked`.
    pub async fn revoke_session(&self, id: &SessionId) -> Result<(), StoreError> {
        dispatch!(self.revoke_session(id))
    }

    /// Takes one token from the shared rate-limit bucket `key` at `now_us` (Unix
    /// microseconds), atomically (a conditional write, or a transaction): allowed with the
    /// bucket's new state, or refused with the state seen and the wait. `seen` is the state
    /// this process last saw of the bucket (a lower bound), a hint that saves a round trip.
    /// Bucket keys hold a `#`, so they never meet a session id. See [`crate::ratelimit`].
    pub async fn take_rate_token(
        &self,
        key: &str,
        rate: crate::ratelimit::Rate,
        now_us: u64,
        seen: Option<u64>,
    ) -> Result<crate::ratelimit::Outcome, StoreError> {
        let lease = self.take_rate_tokens(key, rate, now_us, seen, 1).await?;
        Ok(lease.outcome)
    }

    /// Like [`Self::take_rate_token`], but takes up to `want` tokens at once for this process to
    /// spend itself (a lease, [`crate::ratelimit`]): as many as the bucket holds above its
    /// reserve ([`crate::ratelimit::bucket::lease_reserve`]), and at least one when it holds
    /// any; [`crate::ratelimit::bucket::Lease::tokens`] says how many.
    pub async fn take_rate_tokens(
        &self,
        key: &str,
        rate: crate::ratelimit::Rate,
        now_us: u64,
        seen: Option<u64>,
        want: u32,
    ) -> Result<crate::ratelimit::bucket::Lease, StoreError> {
        dispatch!(self.take_rate_tokens(key, rate, now_us, seen, want))
    }

    /// Two takes at once, each as [`Self::take_rate_tokens`] and each atomic on its own (one
    /// may be taken while the other fails): a log-in's address and log-in buckets. DynamoDB has
    /// both writes out together; the embedded store makes both in one call of its blocking pool
    /// rather than two calls that queue for its one limiter connection.
    pub async fn take_rate_tokens_pair(
        &self,
        first: RateTake<'_>,
        second: RateTake<'_>,
    ) -> PairTaken {
        dispatch!(self.take_rate_tokens_pair(first, second))
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
        let text = check_data(&data)?;
        let data = NewData { object: data, text };
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
        let text = check_data(&data)?;
        let data = NewData { object: data, text };
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
        patch: serde_json::Value,
        cond: Condition,
        now: Timestamp,
    ) -> Result<Item, StoreError> {
        if !patch.is_object() {
            return Err(StoreError::InvalidPatch(merge_patch::kind_name(&patch)));
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

    /// One page of the user's items in `coll`, by id: up to `q.limit` items and at most
    /// [`MAX_PAGE_DATA_BYTES`] of data (but always one item when any is left).
    pub async fn list_items(
        &self,
        user: &UserId,
        coll: &Collection,
        q: &ListQuery,
    ) -> Result<Page, StoreError> {
        dispatch!(self.list_items(user, coll, q))
    }

    /// As [`Self::list_items`], keeping only the items `filter` matches: reads at most
    /// [`MAX_FILTER_SCAN`] stored items, so a page may be short or empty and still have a
    /// `nextCursor` (which binds the filter as well).
    pub async fn list_items_where(
        &self,
        user: &UserId,
        coll: &Collection,
        q: &ListQuery,
        filter: &Filter,
    ) -> Result<Page, StoreError> {
        dispatch!(self.list_items_where(user, coll, q, filter))
    }

    /// Performs every operation or none (see `store/batch.rs`): the outcomes in order, or the
    /// first operation that cannot happen (`index`) with why. Lost races with concurrent
    /// writers are retried a bounded number of times (then `Contention`).
    pub async fn write_batch(
        &self,
        user: &UserId,
        ops: &[BatchOp],
        now: Timestamp,
    ) -> Result<Vec<BatchOutcome>, BatchError> {
        batch::check(ops)?;
        dispatch!(self.write_batch(user, ops, now))
    }
}

/// Collections (`GET /db`) and account deletion (`DELETE /account`): see [`account`].
impl Store {
    /// One page of the user's collections with at least one item, by name, with exact counts;
    /// `cursor` is the previous page's `next_cursor`.
    pub async fn list_collections(
        &self,
        user: &UserId,
        cursor: Option<&str>,
    ) -> Result<CollectionsPage, StoreError> {
        let cursor = cursor.map(account::CollectionsCursor::decode).transpose()?;
        dispatch!(self.list_collections(user, cursor))
    }

    /// Records that `coll` of `user` may hold items (DynamoDB's collection registry; SQLite
    /// needs none). Every write that can create an item calls it first, so that no item exists
    /// outside the registry (listing and account deletion rely on it); a failure fails that
    /// write, before anything is written. Cheap when this process registered it lately.
    pub async fn register_collection(
        &self,
        user: &UserId,
        coll: &Collection,
    ) -> Result<(), StoreError> {
        dispatch!(self.register_collection(user, coll))
    }

    /// `AccountDeleting` while the user's account deletion is under way. Item writes check it
    /// themselves (SQLite inside their transaction); this is for writes of other shapes.
    pub async fn check_writable(&self, user: &UserId) -> Result<(), StoreError> {
        dispatch!(self.check_writable(user))
    }

    /// Starts the user's account deletion (a marker refusing writes from now on) unless it has
    /// started already; returns when it started.
    pub async fn begin_account_deletion(
        &self,
        user: &UserId,
        now: Timestamp,
    ) -> Result<Timestamp, StoreError> {
        dispatch!(self.begin_account_deletion(user, now))
    }

    /// How long after a deletion's start its items may be deleted: until then, writes that
    /// checked for the marker just before it existed may still land (DynamoDB; SQLite checks
    /// inside the write's transaction and needs no wait).
    pub fn deletion_settle(&self) -> std::time::Duration {
        match self {
            #[cfg(feature = "embedded")]
            Store::Embedded(_) => account::NO_SETTLE,
            Store::Dynamo(_) => dynamo_account::DELETION_SETTLE,
        }
    }

    /// Deletes up to about `max` of the user's items, any collections; the number deleted, 0
    /// exactly when the user has none left.
    pub async fn delete_user_items(&self, user: &UserId, max: usize) -> Result<u64, StoreError> {
        dispatch!(self.delete_user_items(user, max))
    }

    /// Deletes the user's collection registry (DynamoDB; nothing to do on SQLite).
    pub async fn delete_collection_registry(&self, user: &UserId) -> Result<(), StoreError> {
        dispatch!(self.delete_collection_registry(user))
    }

    /// Revokes every session of the user except `keep`; returns how many it revoked. Revoked
    /// records stay until their TTL, so that those devices get `SessionRevoked`.
    pub async fn revoke_user_sessions(
        &self,
        user: &UserId,
        keep: Option<&SessionId>,
    ) -> Result<u64, StoreError> {
        dispatch!(self.revoke_user_sessions(user, keep))
    }

    /// Ends the user's account deletion (removes the marker): writes are accepted again, for a
    /// fresh, empty account.
    pub async fn finish_account_deletion(&self, user: &UserId) -> Result<(), StoreError> {
        dispatch!(self.finish_account_deletion(user))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(text: &str) -> JsonObject {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn node_limit_counts_every_value() {
        assert!(within_nodes(&obj("{}"), 1));
        assert!(!within_nodes(&obj(r#"{"a":1}"#), 1));
        assert!(within_nodes(&obj(r#"{"a":[1,{"b":null}]}"#), 5));
        assert!(!within_nodes(&obj(r#"{"a":[1,{"b":null}]}"#), 4));
        // The densest body within the body limit fits.
        let zeros = vec!["0"; 131_069].join(",");
        let body = format!(r#"{{"":[{zeros}]}}"#);
        assert!(body.len() <= crate::http::MAX_BODY_BYTES, "{}", body.len());
        assert!(check_data(&obj(&body)).is_ok());
        let over = format!(r#"{{"":[{zeros}],"b":[0,0]}}"#);
        assert_eq!(
            check_data(&obj(&over)).err(),
            Some(StoreError::TooManyValues {
                limit: MAX_DATA_NODES
            })
        );
    }
}
