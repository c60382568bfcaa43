//! The DynamoDB backend: two tables.
//!
//! - Sessions: partition key `pk` (S) = the session id; attributes `userId` (S), `createdAt`,
//!   `expiresAt` (N, Unix seconds), `revoked` (BOOL) and `ttl` (N, Unix seconds, the table's TTL
//!   attribute) = `expiresAt` + one day. Reads filter on `ttl` themselves, since DynamoDB deletes
//!   expired items lazily (up to days later) and emulators never. `refreshGen` (N) is the
//!   session's refresh generation (absent on records from before it existed: 0), `refreshMark`
//!   (S) a random mark of the write that set it, `createMark` (S) one of the write that created
//!   the record (so that a retried write knows its own), `unionId` (S) WeChat's `unionid` when
//!   it sent one. The table also holds the rate
//!   limiter's buckets, under keys no session id can have ([`super::rate_dynamo`]).
//! - Data: partition key `pk` (S) = `<length of user id>:<user id>/<collection>`, sort key `sk`
//!   (S) = the item id; attributes `version`, `createdAt`, `updatedAt` (N), `data` (a native
//!   map, see [`super::json_av`]) and, until the first replacing write, `createMark` (S) as for
//!   sessions. The length prefix makes the partition key unambiguous: user `a` with collection
//!   `b_c` and user `a_b` with collection `c` give `1:a/b_c` and `3:a_b/c`.
//!
//! - Also in the data table, per user: the collection registry and the account deletion marker
//!   (keys `<len>:<user>#...`, which no item partition can equal), and in the sessions table the
//!   `byUser` index (partition key `userId`, keys only): see [`super::dynamo_account`].
//!
//! Every item write is one conditional write request (after reading the deletion marker) (`attribute_not_exists`, or a condition on `version`),
//! so concurrent writers never lose an acknowledged update. Expressions always name attributes
//! through `ExpressionAttributeNames`, so no name can collide with a reserved word.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::StalledStreamProtectionConfig;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::{PutItemError, PutItemOutput};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, CancellationReason, Delete, KeySchemaElement,
    KeyType, KeysAndAttributes, Put, ReturnValue, ReturnValuesOnConditionCheckFailure,
    ScalarAttributeType, TableStatus, TimeToLiveSpecification, TimeToLiveStatus, TransactWriteItem,
};
use aws_sdk_dynamodb::Client;
use aws_smithy_runtime_api::client::http::SharedHttpConnector;
use aws_types::SdkConfig;

use super::batch::{self, BatchError, BatchOp, BatchOutcome, Write, WriteKind};
use super::cursor::{CursorKeys, ListPlan};
use super::dynamo_account::RegistryCache;
use super::dynamo_condition::{self, Expression};
use super::dynamo_direct::DirectReader;
use super::dynamo_http;
use super::dynamo_prefetch::WritableCache;
use super::filter::Filter;
use super::filter_dynamo::DynamoFilter;
use super::json_av;
use super::{
    check_data, merge_patch, Condition, Item, ItemData, JsonObject, ListQuery, NewData, Order,
    Page, PairTaken, RateTake, SessionRecord, StoreConfig, StoreError, StoreKind, MAX_FILTER_SCAN,
};
use crate::aws_http::OneConnector;
use crate::config::vars;
use crate::ids::{Collection, ItemId, SessionId, UserId, Version};
use crate::time_fmt::Timestamp;

// The calling policy of every DynamoDB call: the SDK's client and the session read sent
// without it (`dynamo_direct.rs`).
/// Attempts per request (the first and two retries) for throttling and transport errors.
pub(super) const MAX_ATTEMPTS: u32 = 3;
/// How long a patch without `If-Match` keeps retrying lost races before giving up (503 with
/// `Retry-After`): well within the operation timeout a client waits for.
const PATCH_DEADLINE: Duration = Duration::from_secs(5);
/// Unreachable servers fail fast: Lambda has a deadline, and a 503 beats a hung request.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
pub(super) const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
pub(super) const OPERATION_TIMEOUT: Duration = Duration::from_secs(8);
/// Retry backoff: exponential from the first, capped at the second.
pub(super) const INITIAL_BACKOFF: Duration = Duration::from_millis(50);
pub(super) const MAX_BACKOFF: Duration = Duration::from_millis(500);
/// How long `create_tables` waits for a new table to become active.
const TABLE_ACTIVE_WAIT: Duration = Duration::from_secs(60);

/// The DynamoDB backend; cheap to clone (the SDK client is shared).
#[derive(Debug, Clone)]
pub struct DynamoStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: Client,
    /// The session reads every request makes, without the SDK ([`super::dynamo_direct`]).
    direct: DirectReader,
    sessions_table: String,
    data_table: String,
    cursor_key: CursorKeys,
    /// Collections this process registered lately ([`super::dynamo_account`]).
    registry: RegistryCache,
    /// Users this process lately saw without a deletion marker ([`super::dynamo_prefetch`]).
    writable: WritableCache,
}

/// Sorts a failed call: availability problems (throttling, server errors, transport, after the
/// SDK's retries) are `Unavailable` (503, retry); requests DynamoDB refuses as invalid are not
/// retryable: an item over its size limit is `BackendTooLarge` (413), anything else a bug of
/// ours, `Rejected` (500).
pub(super) fn unavailable<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let detail = format!("dynamodb: {}", DisplayErrorContext(&e));
    classify(e.code(), e.message(), detail)
}

/// The store's error for a DynamoDB error `code` (the SDK's, or one read off the wire by
/// `dynamo_direct.rs`).
pub(super) fn classify(code: Option<&str>, message: Option<&str>, detail: String) -> StoreError {
    match code {
        Some("ResourceNotFoundException") => StoreError::Config(detail),
        Some("ItemCollectionSizeLimitExceededException") => StoreError::BackendTooLarge,
        Some("ValidationException") if mentions_size(message) => StoreError::BackendTooLarge,
        Some("ValidationException" | "SerializationException") => StoreError::Rejected(detail),
        _ => StoreError::Unavailable(detail),
    }
}

/// DynamoDB's item size refusals: "Item size has exceeded the maximum allowed size", "Item size
/// to update has exceeded the maximum allowed size".
fn mentions_size(message: Option<&str>) -> bool {
    message.is_some_and(|m| m.to_ascii_lowercase().contains("item size"))
}

pub(super) fn condition_failed<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.as_service_error().and_then(ProvideErrorMetadata::code)
        == Some("ConditionalCheckFailedException")
}

/// The outcome of a conditional write: a failed condition is `PreconditionFailed`, any other
/// error `Unavailable` (or `Config` for a missing table).
fn conditional<T, E, R>(result: Result<T, SdkError<E, R>>) -> Result<T, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match result {
        Err(e) if condition_failed(&e) => Err(StoreError::PreconditionFailed),
        other => other.map_err(unavailable),
    }
}

/// A random mark of one write, the same across the SDK's retries of it.
fn write_mark() -> AttributeValue {
    s(&hex::encode(crate::ids::random_bytes::<16>()))
}

/// A put of a new record (`attribute_not_exists`) carrying `mark` ([`CREATE_MARK`]) whose
/// failed condition may be its own earlier attempt: when DynamoDB applied the write but the
/// answer was lost (a reset, an attempt timeout), the SDK retries it and the retry meets the
/// record it wrote. Only that record carries this call's mark; any other is a real conflict.
fn created<R>(
    result: Result<PutItemOutput, SdkError<PutItemError, R>>,
    mark: &AttributeValue,
) -> Result<(), StoreError>
where
    R: std::fmt::Debug,
{
    let Err(e) = result else {
        return Ok(());
    };
    let own = match e.as_service_error() {
        Some(PutItemError::ConditionalCheckFailedException(f)) => f
            .item()
            .is_some_and(|old| old.get(CREATE_MARK) == Some(mark)),
        _ => return conditional(Err(e)),
    };
    if own {
        Ok(())
    } else {
        Err(StoreError::PreconditionFailed)
    }
}

pub(super) fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

pub(super) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// The data table's partition key for (user, collection): length-prefixed, so unambiguous.
pub(super) fn partition_key(user: &UserId, coll: &Collection) -> String {
    format!(
        "{}:{}/{}",
        user.as_str().len(),
        user.as_str(),
        coll.as_str()
    )
}

pub(super) fn item_key(
    user: &UserId,
    coll: &Collection,
    id: &str,
) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("pk".to_owned(), s(&partition_key(user, coll))),
        ("sk".to_owned(), s(id)),
    ])
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Unavailable(format!("dynamodb: stored {what} is unreadable"))
}

pub(super) type Attrs = HashMap<String, AttributeValue>;

fn attr_i64(attrs: &Attrs, name: &str) -> Result<i64, StoreError> {
    match attrs.get(name) {
        Some(AttributeValue::N(t)) => t.parse().map_err(|_| corrupt(name)),
        _ => Err(corrupt(name)),
    }
}

fn attr_str<'a>(attrs: &'a Attrs, name: &str) -> Result<&'a str, StoreError> {
    match attrs.get(name) {
        Some(AttributeValue::S(t)) => Ok(t),
        _ => Err(corrupt(name)),
    }
}

fn attr_version(attrs: &Attrs) -> Result<Version, StoreError> {
    match attrs.get("version") {
        Some(AttributeValue::N(t)) => t.parse().ok().and_then(Version::new),
        _ => None,
    }
    .ok_or_else(|| corrupt("version"))
}

pub(super) fn decode_item(attrs: &Attrs) -> Result<Item, StoreError> {
    let data = attrs.get("data").ok_or_else(|| corrupt("data"))?;
    Ok(Item {
        id: ItemId::parse(attr_str(attrs, "sk")?).map_err(|_| corrupt("id"))?,
        version: attr_version(attrs)?,
        created_at: Timestamp::from_unix(attr_i64(attrs, "createdAt")?),
        updated_at: Timestamp::from_unix(attr_i64(attrs, "updatedAt")?),
        data: json_av::object_text(data)
            .map_err(|e| StoreError::Unavailable(format!("dynamodb: stored data: {}", e.0)))
            .and_then(|text| ItemData::from_text(text).map_err(|_| corrupt("data")))?,
    })
}

const REFRESH_GEN: &str = "refreshGen";
const UNION_ID: &str = "unionId";
/// A random mark written with each refresh generation (see `advance_refresh`).
const REFRESH_MARK: &str = "refreshMark";
/// A random mark written with each new record, session or item (see [`created`]).
const CREATE_MARK: &str = "createMark";

/// The session read as `attrs`, unless absent or past its TTL attribute at `now`.
pub(super) fn live_session(
    id: &SessionId,
    attrs: Option<Attrs>,
    now: Timestamp,
) -> Result<Option<SessionRecord>, StoreError> {
    let Some(attrs) = attrs else {
        return Ok(None);
    };
    if attr_i64(&attrs, "ttl")? < now.unix() {
        return Ok(None);
    }
    decode_session(id, &attrs).map(Some)
}

fn decode_session(id: &SessionId, attrs: &Attrs) -> Result<SessionRecord, StoreError> {
    Ok(SessionRecord {
        session_id: id.clone(),
        user_id: UserId::parse(attr_str(attrs, "userId")?).map_err(|_| corrupt("userId"))?,
        created_at: Timestamp::from_unix(attr_i64(attrs, "createdAt")?),
        expires_at: Timestamp::from_unix(attr_i64(attrs, "expiresAt")?),
        revoked: matches!(attrs.get("revoked"), Some(AttributeValue::Bool(true))),
        refresh_generation: match attrs.get(REFRESH_GEN) {
            None => 0,
            Some(_) => {
                u64::try_from(attr_i64(attrs, REFRESH_GEN)?).map_err(|_| corrupt(REFRESH_GEN))?
            }
        },
        union_id: match attrs.get(UNION_ID) {
            None => None,
            Some(_) => Some(attr_str(attrs, UNION_ID)?.to_owned()),
        },
    })
}

/// A short random pause before retrying a lost race, growing with the attempt (capped).
pub(super) async fn contention_pause(attempt: u32) {
    let cap_ms = (5u64 << attempt.min(5)).min(150);
    let mut r = [0u8; 2];
    // Without randomness the pause is merely not jittered.
    let _ = aws_lc_rs::rand::fill(&mut r);
    let ms = 1 + u64::from(u16::from_le_bytes(r)) % cap_ms;
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

impl DynamoStore {
    /// Opens the tables named in `cfg` with a client configured from the standard AWS
    /// environment (`AWS_REGION`, `AWS_ENDPOINT_URL_DYNAMODB` / `AWS_ENDPOINT_URL`, credentials).
    pub(crate) async fn open(cfg: &StoreConfig) -> Result<Self, StoreError> {
        // `defaults` checks environment variables first, then the profile files, and only then
        // instance metadata. In Lambda the region and credentials are environment variables, so
        // the chain stops there without a network probe; credentials are resolved lazily, on the
        // first call (that is what `warm_up` pays for at init).
        let http = dynamo_http::connector();
        let sdk = crate::aws_env::sdk_config_through(http.clone()).await;
        Self::open_with(&sdk, cfg, http).await
    }

    /// Opens the tables named in `cfg` with a client built from `sdk` (endpoint, region,
    /// credentials), adding this store's retry and timeout policy. Tests use it to point at a
    /// local server without touching the process environment.
    pub async fn open_with_sdk_config(
        sdk: &SdkConfig,
        cfg: &StoreConfig,
    ) -> Result<Self, StoreError> {
        Self::open_with(sdk, cfg, dynamo_http::connector()).await
    }

    async fn open_with(
        sdk: &SdkConfig,
        cfg: &StoreConfig,
        http: SharedHttpConnector,
    ) -> Result<Self, StoreError> {
        let StoreKind::Dynamo {
            sessions_table,
            data_table,
            create_tables,
        } = &cfg.kind
        else {
            return Err(StoreError::Config(
                "not a DynamoDB store configuration".into(),
            ));
        };
        super::cursor::check_key(&cfg.cursor_key)?;
        if sdk.region().is_none() {
            return Err(StoreError::Config(format!(
                "no AWS region: set {} for the DynamoDB store",
                vars::AWS_REGION
            )));
        }
        let store = Self {
            inner: Arc::new(Inner {
                client: Client::from_conf(client_config(sdk, http.clone())),
                direct: DirectReader::new(sdk, http).await?,
                sessions_table: sessions_table.clone(),
                data_table: data_table.clone(),
                cursor_key: cfg.cursor_key.clone(),
                registry: RegistryCache::default(),
                writable: WritableCache::default(),
            }),
        };
        if *create_tables {
            store.create_tables().await?;
        }
        Ok(store)
    }

    pub(super) fn client(&self) -> &Client {
        &self.inner.client
    }

    pub(super) fn data_table(&self) -> &str {
        &self.inner.data_table
    }

    /// The cursor keys (file listings use them too: `store/files_dynamo.rs`).
    pub(super) fn cursor_keys(&self) -> &CursorKeys {
        &self.inner.cursor_key
    }

    pub(super) fn sessions_table(&self) -> &str {
        &self.inner.sessions_table
    }

    pub(super) fn registry(&self) -> &RegistryCache {
        &self.inner.registry
    }

    pub(super) fn writable(&self) -> &WritableCache {
        &self.inner.writable
    }

    pub(super) fn direct(&self) -> &DirectReader {
        &self.inner.direct
    }

    pub(crate) async fn warm_up(&self) -> Result<(), StoreError> {
        // A read of a key no session can have (session ids are 32 characters): the cheapest
        // data-plane call, and it proves the table exists. Once through the SDK (writes) and
        // once without it (every request's session read): each opens its connection now.
        let key = HashMap::from([("pk".to_owned(), s("warm-up"))]);
        let sdk = self
            .client()
            .get_item()
            .table_name(&self.inner.sessions_table)
            .set_key(Some(key.clone()))
            .send();
        let direct = self.read_sessions_directly(&key);
        let (sdk, direct) = tokio::join!(sdk, direct);
        sdk.map_err(unavailable)?;
        direct.map(|_| ())
    }

    pub(crate) async fn create_session(&self, r: &SessionRecord) -> Result<(), StoreError> {
        let mark = write_mark();
        let mut attrs = HashMap::from([
            ("pk".to_owned(), s(r.session_id.as_str())),
            ("userId".to_owned(), s(r.user_id.as_str())),
            ("createdAt".to_owned(), n(r.created_at.unix())),
            ("expiresAt".to_owned(), n(r.expires_at.unix())),
            ("revoked".to_owned(), AttributeValue::Bool(r.revoked)),
            ("ttl".to_owned(), n(r.ttl().unix())),
            (REFRESH_GEN.to_owned(), n(r.refresh_generation)),
            (CREATE_MARK.to_owned(), mark.clone()),
        ]);
        if let Some(union_id) = &r.union_id {
            attrs.insert(UNION_ID.to_owned(), s(union_id));
        }
        let result = self
            .client()
            .put_item()
            .table_name(&self.inner.sessions_table)
            .set_item(Some(attrs))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", "pk")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        created(result, &mark)
    }

    pub(crate) async fn get_session(
        &self,
        id: &SessionId,
        now: Timestamp,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let out = self
            .client()
            .get_item()
            .table_name(&self.inner.sessions_table)
            .key("pk", s(id.as_str()))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        live_session(id, out.item, now)
    }

    pub(crate) async fn advance_refresh(
        &self,
        id: &SessionId,
        from: u64,
    ) -> Result<(), StoreError> {
        // Generation 0 may also be a record written before the attribute existed.
        let condition = match from {
            0 => "attribute_exists(#pk) AND (attribute_not_exists(#g) OR #g = :from)",
            // Every name must be used: DynamoDB refuses unused ExpressionAttributeNames.
            _ => "attribute_exists(#pk) AND #g = :from",
        };
        // Marks this call's write. When its answer is lost after DynamoDB applied it, the SDK
        // retries and the retry finds the generation advanced; only this mark tells our own
        // write from a replayed request's (which must stay refused).
        let mark = write_mark();
        let next = n(from.saturating_add(1));
        let result = self
            .client()
            .update_item()
            .table_name(&self.inner.sessions_table)
            .key("pk", s(id.as_str()))
            .update_expression("SET #g = :next, #m = :mark")
            .condition_expression(condition)
            .set_expression_attribute_names(Some(HashMap::from([
                ("#g".to_owned(), REFRESH_GEN.to_owned()),
                ("#m".to_owned(), REFRESH_MARK.to_owned()),
                ("#pk".to_owned(), "pk".to_owned()),
            ])))
            .expression_attribute_values(":from", n(from))
            .expression_attribute_values(":next", next.clone())
            .expression_attribute_values(":mark", mark.clone())
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let Err(e) = result else {
            return Ok(());
        };
        match e.as_service_error() {
            Some(UpdateItemError::ConditionalCheckFailedException(f)) => {
                let own = f.item().is_some_and(|old| {
                    old.get(REFRESH_GEN) == Some(&next) && old.get(REFRESH_MARK) == Some(&mark)
                });
                if own {
                    Ok(())
                } else {
                    Err(StoreError::PreconditionFailed)
                }
            }
            _ => Err(unavailable(e)),
        }
    }

    pub(crate) async fn take_rate_tokens(
        &self,
        key: &str,
        rate: crate::ratelimit::Rate,
        now_us: u64,
        seen: Option<u64>,
        want: u32,
    ) -> Result<crate::ratelimit::bucket::Lease, StoreError> {
        let table = &self.inner.sessions_table;
        super::rate_dynamo::take(self.client(), table, key, rate, now_us, seen, want).await
    }

    pub(crate) async fn take_rate_tokens_pair(
        &self,
        first: RateTake<'_>,
        second: RateTake<'_>,
    ) -> PairTaken {
        // Boxed: each holds an SDK call's future (kilobytes; far more in debug builds), and
        // two inline overflowed a worker's stack in debug builds.
        let (a, b) = (first, second);
        let first = Box::pin(self.take_rate_tokens(a.key, a.rate, a.now_us, a.seen, a.want));
        let second = Box::pin(self.take_rate_tokens(b.key, b.rate, b.now_us, b.seen, b.want));
        tokio::join!(first, second)
    }

    pub(crate) async fn revoke_session(&self, id: &SessionId) -> Result<(), StoreError> {
        let result = self
            .client()
            .update_item()
            .table_name(&self.inner.sessions_table)
            .key("pk", s(id.as_str()))
            .update_expression("SET #r = :t")
            // Without it, revoking an unknown id would create a stray record.
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_names("#r", "revoked")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if condition_failed(&e) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    pub(crate) async fn create_item(
        &self,
        user: &UserId,
        coll: &Collection,
        id: &ItemId,
        data: NewData,
        now: Timestamp,
    ) -> Result<Item, StoreError> {
        self.before_item_write(user, Some(coll)).await?;
        let mut attrs = item_key(user, coll, id.as_str());
        attrs.insert("version".into(), n(1));
        attrs.insert("createdAt".into(), n(now.unix()));
        attrs.insert("updatedAt".into(), n(now.unix()));
        attrs.insert("data".into(), json_av::object_to_av(&data.object));
        let mark = write_mark();
        attrs.insert(CREATE_MARK.into(), mark.clone());
        let result = self
            .client()
            .put_item()
            .table_name(&self.inner.data_table)
            .set_item(Some(attrs))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", "pk")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        created(result, &mark)?;
        Ok(Item {
            id: id.clone(),
            version: Version::FIRST,
            created_at: now,
            updated_at: now,
            data: data.text,
        })
    }

    pub(crate) async fn put_item(
        &self,
        user: &UserId,
        coll: &Collection,
        id: &ItemId,
        data: NewData,
        cond: Condition,
        now: Timestamp,
    ) -> Result<(Item, bool), StoreError> {
        let expression = dynamo_condition::render(&cond, false)?;
        self.before_item_write(user, Some(coll)).await?;
        // One UpdateItem creates or replaces atomically: the version counts up from whatever is
        // there (0 when nothing), and created_at is only set when absent.
        let mut req = self
            .client()
            .update_item()
            .table_name(&self.inner.data_table)
            .set_key(Some(item_key(user, coll, id.as_str())))
            .update_expression(
                "SET #v = if_not_exists(#v, :zero) + :one, #c = if_not_exists(#c, :now), \
                 #u = :now, #d = :d",
            )
            .expression_attribute_names("#v", "version")
            .expression_attribute_names("#c", "createdAt")
            .expression_attribute_names("#u", "updatedAt")
            .expression_attribute_names("#d", "data")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", n(now.unix()))
            .expression_attribute_values(":d", json_av::object_to_av(&data.object))
            // ALL_NEW, not UPDATED_NEW: emulators leave out attributes an if_not_exists did not change.
            .return_values(ReturnValue::AllNew);
        let Expression {
            text,
            names,
            values,
        } = expression;
        if !text.is_empty() {
            req = req.condition_expression(text);
            for (placeholder, attribute) in names {
                req = req.expression_attribute_names(placeholder, attribute);
            }
            for (placeholder, value) in values {
                req = req.expression_attribute_values(placeholder, value);
            }
        }
        let out = conditional(req.send().await)?;
        let attrs = out.attributes.unwrap_or_default();
        let version = attr_version(&attrs)?;
        let item = Item {
            id: id.clone(),
            version,
            created_at: Timestamp::from_unix(attr_i64(&attrs, "createdAt")?),
            updated_at: now,
            data: data.text,
        };
        Ok((item, version == Version::FIRST))
    }

    pub(crate) async fn get_item(
        &self,
        user: &UserId,
        coll: &Collection,
        id: &ItemId,
    ) -> Result<Option<Item>, StoreError> {
        let out = self
            .client()
            .get_item()
            .table_name(&self.inner.data_table)
            .set_key(Some(item_key(user, coll, id.as_str())))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        out.item.as_ref().map(decode_item).transpose()
    }

    pub(crate) async fn patch_item(
        &self,
        user: &UserId,
        coll: &Collection,
        id: &ItemId,
        patch: serde_json::Value,
        cond: Condition,
        now: Timestamp,
    ) -> Result<Item, StoreError> {
        self.before_item_write(user, None).await?;
        let deadline = tokio::time::Instant::now() + PATCH_DEADLINE;
        let mut attempt = 0u32;
        loop {
            if attempt > 0 {
                if tokio::time::Instant::now() >= deadline {
                    return Err(StoreError::Contention(attempt));
                }
                contention_pause(attempt).await;
            }
            attempt = attempt.saturating_add(1);
            let Some(cur) = self.get_item(user, coll, id).await? else {
                return Err(cond.absent_error());
            };
            // Checked against the version the write below is conditional on: the same
            // guarantee as a condition in the write itself.
            cond.check(Some(cur.version))?;
            let current = cur.data.to_object().map_err(|_| corrupt("data"))?;
            let merged = merge_patch::apply_to_object(current, &patch);
            let item = Item {
                id: id.clone(),
                version: cur.version.next(),
                created_at: cur.created_at,
                updated_at: now,
                data: check_data(&merged)?,
            };
            match self
                .replace_if_version(user, coll, &item, &merged, cur.version)
                .await
            {
                Ok(()) => return Ok(item),
                // Lost a race: read again, and evaluate the condition on what is there now.
                Err(StoreError::PreconditionFailed) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Writes the whole merged `item` with one conditional put, if the stored version is still
    /// `expected`. A put (not an update) so that DynamoDB and its emulators size it the same:
    /// as the new item alone (an emulator counts an update as old + new).
    async fn replace_if_version(
        &self,
        user: &UserId,
        coll: &Collection,
        item: &Item,
        data: &JsonObject,
        expected: Version,
    ) -> Result<(), StoreError> {
        let mut attrs = item_key(user, coll, item.id.as_str());
        attrs.insert("version".into(), n(item.version.get()));
        attrs.insert("createdAt".into(), n(item.created_at.unix()));
        attrs.insert("updatedAt".into(), n(item.updated_at.unix()));
        attrs.insert("data".into(), json_av::object_to_av(data));
        let result = self
            .client()
            .put_item()
            .table_name(&self.inner.data_table)
            .set_item(Some(attrs))
            .condition_expression("#v = :expected")
            .expression_attribute_names("#v", "version")
            .expression_attribute_values(":expected", n(expected.get()))
            .send()
            .await;
        conditional(result).map(|_| ())
    }

    pub(crate) async fn delete_item(
        &self,
        user: &UserId,
        coll: &Collection,
        id: &ItemId,
        cond: Condition,
    ) -> Result<(), StoreError> {
        let Expression {
            text,
            names,
            values,
        } = dynamo_condition::render(&cond, true)?;
        let mut req = self
            .client()
            .delete_item()
            .table_name(&self.inner.data_table)
            .set_key(Some(item_key(user, coll, id.as_str())))
            .condition_expression(text)
            // On a failed condition, the item (if any) tells 412 from 404.
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        for (placeholder, attribute) in names {
            req = req.expression_attribute_names(placeholder, attribute);
        }
        for (placeholder, value) in values {
            req = req.expression_attribute_values(placeholder, value);
        }
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e) => match e.as_service_error() {
                Some(DeleteItemError::ConditionalCheckFailedException(f)) => {
                    if f.item().is_some_and(|item| !item.is_empty()) {
                        Err(StoreError::PreconditionFailed)
                    } else {
                        Err(cond.absent_error())
                    }
                }
                _ => Err(unavailable(e)),
            },
        }
    }

    pub(crate) async fn list_items(
        &self,
        user: &UserId,
        coll: &Collection,
        q: &ListQuery,
    ) -> Result<Page, StoreError> {
        let plan = ListPlan::new(&self.inner.cursor_key, user, coll, q)?;
        if plan.matches_nothing {
            return Ok(plan.finish(&self.inner.cursor_key, Vec::new()));
        }
        let items = self.query_items(user, coll, &plan).await?;
        Ok(plan.finish(&self.inner.cursor_key, items))
    }

    /// Items until `plan.full`, following DynamoDB's pages (a page stops at 1 MB).
    async fn query_items(
        &self,
        user: &UserId,
        coll: &Collection,
        plan: &ListPlan,
    ) -> Result<Vec<Item>, StoreError> {
        let (mut items, mut bytes) = (Vec::with_capacity(plan.fetch()), 0usize);
        // Any key works as a start position, even of an item deleted since the last page.
        let mut start = plan
            .after
            .as_ref()
            .map(|id| item_key(user, coll, id.as_str()));
        loop {
            let want = plan.fetch() - items.len();
            let mut req = self
                .client()
                .query()
                .table_name(&self.inner.data_table)
                .consistent_read(true)
                .expression_attribute_names("#pk", "pk")
                .expression_attribute_values(":pk", s(&partition_key(user, coll)))
                .scan_index_forward(plan.order == Order::Asc)
                .limit(i32::try_from(want).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take());
            req = if plan.prefix.is_empty() {
                req.key_condition_expression("#pk = :pk")
            } else {
                req.key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                    .expression_attribute_names("#sk", "sk")
                    .expression_attribute_values(":prefix", s(&plan.prefix))
            };
            let out = req.send().await.map_err(unavailable)?;
            for attrs in out.items.unwrap_or_default() {
                let item = decode_item(&attrs)?;
                bytes = bytes.saturating_add(item.data.as_str().len());
                items.push(item);
                if plan.full(items.len(), bytes) {
                    break;
                }
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() && !plan.full(items.len(), bytes) => start = Some(key),
                _ => break,
            }
        }
        items.truncate(plan.fetch());
        Ok(items)
    }

    async fn create_tables(&self) -> Result<(), StoreError> {
        let data_keys = [("pk", KeyType::Hash), ("sk", KeyType::Range)];
        self.ensure_table(&self.inner.sessions_table, &[("pk", KeyType::Hash)])
            .await?;
        self.ensure_table(&self.inner.data_table, &data_keys)
            .await?;
        self.ensure_sessions_by_user().await?;
        self.ensure_ttl(&self.inner.sessions_table, "ttl").await
    }

    /// Creates `table` (on demand, string keys) unless it exists, then waits until it is active.
    async fn ensure_table(&self, table: &str, keys: &[(&str, KeyType)]) -> Result<(), StoreError> {
        let config = |e: &dyn std::fmt::Display| StoreError::Config(format!("table {table}: {e}"));
        if self.table_status(table).await?.is_none() {
            let mut req = self
                .client()
                .create_table()
                .table_name(table)
                .billing_mode(BillingMode::PayPerRequest);
            for (name, kind) in keys {
                let schema = KeySchemaElement::builder()
                    .attribute_name(*name)
                    .key_type(kind.clone())
                    .build()
                    .map_err(|e| config(&e))?;
                let def = AttributeDefinition::builder()
                    .attribute_name(*name)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(|e| config(&e))?;
                req = req.key_schema(schema).attribute_definitions(def);
            }
            match req.send().await {
                Ok(_) => {}
                // Another process created it in the meantime.
                Err(e) if e.code() == Some("ResourceInUseException") => {}
                Err(e) => return Err(config(&DisplayErrorContext(&e))),
            }
        }
        let deadline = tokio::time::Instant::now() + TABLE_ACTIVE_WAIT;
        while self.table_status(table).await? != Some(TableStatus::Active) {
            if tokio::time::Instant::now() > deadline {
                return Err(config(&"did not become active in time"));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Ok(())
    }

    /// The table's status, `None` when it does not exist.
    pub(super) async fn table_status(
        &self,
        table: &str,
    ) -> Result<Option<TableStatus>, StoreError> {
        match self
            .client()
            .describe_table()
            .table_name(table)
            .send()
            .await
        {
            Ok(out) => Ok(out.table.and_then(|t| t.table_status)),
            Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(None),
            Err(e) => Err(StoreError::Config(format!(
                "table {table}: {}",
                DisplayErrorContext(&e)
            ))),
        }
    }

    async fn ensure_ttl(&self, table: &str, attribute: &str) -> Result<(), StoreError> {
        let config = |e: &dyn std::fmt::Display| StoreError::Config(format!("TTL of {table}: {e}"));
        let out = self
            .client()
            .describe_time_to_live()
            .table_name(table)
            .send()
            .await
            .map_err(|e| config(&DisplayErrorContext(&e)))?;
        let status = out
            .time_to_live_description
            .and_then(|d| d.time_to_live_status);
        if matches!(
            status,
            Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
        ) {
            return Ok(());
        }
        let spec = TimeToLiveSpecification::builder()
            .enabled(true)
            .attribute_name(attribute)
            .build()
            .map_err(|e| config(&e))?;
        self.client()
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(spec)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| config(&DisplayErrorContext(&e)))
    }
}

/// Filtered listings and batches (docs/api.md §4.5, §4.6).
impl DynamoStore {
    pub(crate) async fn list_items_where(
        &self,
        user: &UserId,
        coll: &Collection,
        q: &ListQuery,
        filter: &Filter,
    ) -> Result<Page, StoreError> {
        let key = &self.inner.cursor_key;
        let plan = ListPlan::filtered(key, user, coll, q, filter)?;
        if plan.matches_nothing {
            return Ok(plan.finish_filtered(key, Vec::new(), None));
        }
        let (items, scan_end) = self.query_filtered(user, coll, &plan, filter).await?;
        Ok(plan.finish_filtered(key, items, scan_end))
    }

    /// Query pages with the filter as a `FilterExpression` and `Limit` set to what is left of
    /// [`MAX_FILTER_SCAN`] (DynamoDB's `Limit` counts items read before filtering), until the
    /// plan is full, the budget is spent (then the last id read) or the range ends.
    async fn query_filtered(
        &self,
        user: &UserId,
        coll: &Collection,
        plan: &ListPlan,
        filter: &Filter,
    ) -> Result<(Vec<Item>, Option<ItemId>), StoreError> {
        let f = DynamoFilter::render(filter);
        let (mut items, mut bytes, mut scanned) = (Vec::new(), 0usize, 0usize);
        let mut start = plan
            .after
            .as_ref()
            .map(|id| item_key(user, coll, id.as_str()));
        loop {
            let left = MAX_FILTER_SCAN.saturating_sub(scanned).max(1);
            let mut names = f.names.clone();
            names.insert("#pk".into(), "pk".into());
            let mut values = f.values.clone();
            values.insert(":pk".into(), s(&partition_key(user, coll)));
            let mut req = self
                .client()
                .query()
                .table_name(&self.inner.data_table)
                .consistent_read(true)
                .scan_index_forward(plan.order == Order::Asc)
                .limit(i32::try_from(left).unwrap_or(i32::MAX))
                .filter_expression(&f.text)
                .set_exclusive_start_key(start.take());
            req = if plan.prefix.is_empty() {
                req.key_condition_expression("#pk = :pk")
            } else {
                names.insert("#sk".into(), "sk".into());
                values.insert(":prefix".into(), s(&plan.prefix));
                req.key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            };
            let out = req
                .set_expression_attribute_names(Some(names))
                .set_expression_attribute_values(Some(values))
                .send()
                .await
                .map_err(unavailable)?;
            scanned = scanned.saturating_add(usize::try_from(out.scanned_count).unwrap_or(0));
            for attrs in out.items.unwrap_or_default() {
                let item = decode_item(&attrs)?;
                bytes = bytes.saturating_add(item.data.as_str().len());
                items.push(item);
                if plan.full(items.len(), bytes) {
                    return Ok((items, None));
                }
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => {
                    if scanned >= MAX_FILTER_SCAN {
                        let last =
                            ItemId::parse(attr_str(&key, "sk")?).map_err(|_| corrupt("sk"))?;
                        return Ok((items, Some(last)));
                    }
                    start = Some(key);
                }
                _ => return Ok((items, None)),
            }
        }
    }

    /// Reads every target, plans the batch on that state (`store/batch.rs`) and writes it as
    /// one `TransactWriteItems` whose every action is conditional on the version read. A
    /// cancelled transaction (a target changed since the read, or another transaction held it)
    /// is read and planned again from scratch until [`PATCH_DEADLINE`], so the index of a 412
    /// is always that of the first operation that fails on a state that really was there.
    pub(crate) async fn write_batch(
        &self,
        user: &UserId,
        ops: &[BatchOp],
        now: Timestamp,
    ) -> Result<Vec<BatchOutcome>, BatchError> {
        self.before_batch_write(user, ops).await?;
        let deadline = tokio::time::Instant::now() + PATCH_DEADLINE;
        let mut attempt = 0u32;
        loop {
            if attempt > 0 {
                if tokio::time::Instant::now() >= deadline {
                    return Err(StoreError::Contention(attempt).into());
                }
                contention_pause(attempt).await;
            }
            attempt = attempt.saturating_add(1);
            let current = self.read_targets(user, ops).await?;
            let (writes, outcomes) = batch::plan(ops, current, now)?;
            let actions = writes
                .iter()
                .map(|w| self.transact_item(user, w))
                .collect::<Result<Vec<_>, _>>()?;
            // The same token on the SDK's retries of this call: when DynamoDB applied the
            // transaction but the answer was lost, the retry is answered as a success instead
            // of being applied again (or failing its own version conditions).
            let token = hex::encode(crate::ids::random_bytes::<16>());
            let sent = self
                .client()
                .transact_write_items()
                .set_transact_items(Some(actions))
                .client_request_token(token)
                .send()
                .await;
            match sent {
                Ok(_) => return Ok(outcomes),
                Err(e) => match cancellation(e) {
                    Cancelled::Retry => continue,
                    Cancelled::Fail(e) => return Err(e.into()),
                },
            }
        }
    }

    /// The current state of every target, in the order of `ops` (strongly consistent).
    async fn read_targets(
        &self,
        user: &UserId,
        ops: &[BatchOp],
    ) -> Result<Vec<Option<Item>>, StoreError> {
        let keys: Vec<Attrs> = ops
            .iter()
            .map(|op| {
                let (coll, id) = op.target();
                item_key(user, coll, id.as_str())
            })
            .collect();
        let mut found: HashMap<(String, String), Item> = HashMap::new();
        let mut pending = keys.clone();
        let mut rounds = 0u32;
        while !pending.is_empty() {
            if rounds > 0 {
                if rounds > MAX_ATTEMPTS * 3 {
                    return Err(StoreError::Unavailable(
                        "dynamodb: batch reads stayed unprocessed".into(),
                    ));
                }
                contention_pause(rounds).await;
            }
            rounds += 1;
            let ka = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut pending)))
                .consistent_read(true)
                .build()
                .map_err(|e| StoreError::Rejected(format!("dynamodb: {e}")))?;
            let out = self
                .client()
                .batch_get_item()
                .request_items(&self.inner.data_table, ka)
                .send()
                .await
                .map_err(unavailable)?;
            let table = &self.inner.data_table;
            for attrs in out
                .responses
                .unwrap_or_default()
                .remove(table)
                .unwrap_or_default()
            {
                let pk = attr_str(&attrs, "pk")?.to_owned();
                let sk = attr_str(&attrs, "sk")?.to_owned();
                found.insert((pk, sk), decode_item(&attrs)?);
            }
            if let Some(mut rest) = out.unprocessed_keys {
                if let Some(ka) = rest.remove(table) {
                    pending = ka.keys;
                }
            }
        }
        keys.iter()
            .map(|k| {
                Ok(found.remove(&(attr_str(k, "pk")?.to_owned(), attr_str(k, "sk")?.to_owned())))
            })
            .collect()
    }

    /// One planned write of a batch as a transaction action, pinned to the state it was
    /// planned on: the one place a batch turns into DynamoDB requests.
    fn transact_item(&self, user: &UserId, write: &Write) -> Result<TransactWriteItem, StoreError> {
        let rejected = |e: &dyn std::fmt::Display| StoreError::Rejected(format!("dynamodb: {e}"));
        let table = &self.inner.data_table;
        let put = |item: &Item, object: &JsonObject| {
            let mut attrs = item_key(user, &write.coll, item.id.as_str());
            attrs.insert("version".into(), n(item.version.get()));
            attrs.insert("createdAt".into(), n(item.created_at.unix()));
            attrs.insert("updatedAt".into(), n(item.updated_at.unix()));
            attrs.insert("data".into(), json_av::object_to_av(object));
            Put::builder().table_name(table).set_item(Some(attrs))
        };
        let action = match &write.kind {
            WriteKind::Insert { item, object } => {
                let p = put(item, object)
                    .condition_expression("attribute_not_exists(#pk)")
                    .expression_attribute_names("#pk", "pk")
                    .build()
                    .map_err(|e| rejected(&e))?;
                TransactWriteItem::builder().put(p)
            }
            WriteKind::Replace {
                item,
                object,
                expected,
            } => {
                let p = put(item, object)
                    .condition_expression("#v = :expected")
                    .expression_attribute_names("#v", "version")
                    .expression_attribute_values(":expected", n(expected.get()))
                    .build()
                    .map_err(|e| rejected(&e))?;
                TransactWriteItem::builder().put(p)
            }
            WriteKind::Delete { id, expected } => {
                let d = Delete::builder()
                    .table_name(table)
                    .set_key(Some(item_key(user, &write.coll, id.as_str())))
                    .condition_expression("#v = :expected")
                    .expression_attribute_names("#v", "version")
                    .expression_attribute_values(":expected", n(expected.get()))
                    .build()
                    .map_err(|e| rejected(&e))?;
                TransactWriteItem::builder().delete(d)
            }
        };
        Ok(action.build())
    }
}

/// What a failed `TransactWriteItems` means for the batch.
enum Cancelled {
    /// A condition failed (a target changed since it was read) or another transaction held a
    /// target: read, plan and try again.
    Retry,
    /// Anything else.
    Fail(StoreError),
}

fn cancellation<R: std::fmt::Debug>(e: SdkError<TransactWriteItemsError, R>) -> Cancelled {
    let reasons = match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(c)) => {
            c.cancellation_reasons().to_vec()
        }
        Some(TransactWriteItemsError::TransactionInProgressException(_)) => {
            return Cancelled::Retry
        }
        _ => return Cancelled::Fail(unavailable(e)),
    };
    let code = |r: &CancellationReason| r.code().unwrap_or("None").to_owned();
    if let Some(r) = reasons.iter().find(|r| {
        code(r) == "ItemCollectionSizeLimitExceeded"
            || (code(r) == "ValidationError" && mentions_size(r.message()))
    }) {
        tracing::warn!(reason = %code(r), "batch refused as too large");
        return Cancelled::Fail(StoreError::BackendTooLarge);
    }
    if reasons.iter().any(|r| code(r) == "ValidationError") {
        return Cancelled::Fail(StoreError::Rejected(format!(
            "dynamodb: {}",
            DisplayErrorContext(&e)
        )));
    }
    let retry = reasons.is_empty()
        || reasons.iter().any(|r| {
            matches!(
                code(r).as_str(),
                "ConditionalCheckFailed" | "TransactionConflict"
            )
        });
    if retry {
        Cancelled::Retry
    } else {
        Cancelled::Fail(StoreError::Unavailable(format!(
            "dynamodb: {}",
            DisplayErrorContext(&e)
        )))
    }
}

/// The SDK config plus this store's policy: few retries with short backoff, short timeouts.
fn client_config(sdk: &SdkConfig, http: SharedHttpConnector) -> aws_sdk_dynamodb::Config {
    let retry = RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(INITIAL_BACKOFF)
        .with_max_backoff(MAX_BACKOFF);
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build();
    aws_sdk_dynamodb::config::Builder::from(sdk)
        .retry_config(retry)
        .timeout_config(timeouts)
        .http_client(OneConnector::client(http))
        // A DynamoDB answer is one small body that the attempt timeout already bounds; the
        // protection's per-poll throughput bookkeeping was ~8% of a warm GET's CPU
        // (docs/benchmarks.md, "Profile").
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
        .interceptor(TraceIdHeader)
        .build()
}

/// Sends the invocation's X-Ray trace id (`crate::trace`) as `X-Amzn-Trace-Id`, which the
/// SDK's own interceptor would only take from `_X_AMZN_TRACE_ID` in the process environment
/// (that Lambda mode no longer writes). Runs after the SDK's interceptors: a header already
/// set is kept.
#[derive(Debug)]
struct TraceIdHeader;

impl Intercept for TraceIdHeader {
    fn name(&self) -> &'static str {
        "TraceIdHeader"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let headers = context.request_mut().headers_mut();
        if headers.contains_key(TRACE_ID_HEADER) {
            return Ok(());
        }
        // Trace ids arrive as an HTTP header value; anything else is dropped, not sent.
        if let Some(id) =
            crate::trace::current().filter(|id| id.bytes().all(|b| b.is_ascii_graphic()))
        {
            headers.insert(TRACE_ID_HEADER, id);
        }
        Ok(())
    }
}

pub(super) const TRACE_ID_HEADER: &str = "x-amzn-trace-id";

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::error::ErrorMetadata;
    use aws_sdk_dynamodb::operation::put_item::PutItemError;

    use super::*;

    fn service_error(code: &str, message: &str) -> SdkError<PutItemError, ()> {
        let meta = ErrorMetadata::builder().code(code).message(message).build();
        SdkError::service_error(PutItemError::generic(meta), ())
    }

    #[test]
    fn only_availability_problems_are_unavailable() {
        let size = service_error(
            "ValidationException",
            "Item size has exceeded the maximum allowed size",
        );
        assert_eq!(unavailable(size), StoreError::BackendTooLarge);
        let bad = unavailable(service_error(
            "ValidationException",
            "One or more parameter values were invalid",
        ));
        assert!(matches!(bad, StoreError::Rejected(_)), "{bad:?}");
        assert_eq!(bad.code(), crate::http::ErrorCode::InternalError);
        for retry in [
            "ProvisionedThroughputExceededException",
            "ThrottlingException",
            "InternalServerError",
        ] {
            let e = unavailable(service_error(retry, "slow down"));
            assert!(matches!(e, StoreError::Unavailable(_)), "{retry}: {e:?}");
        }
        let missing = unavailable(service_error("ResourceNotFoundException", "no table"));
        assert!(matches!(missing, StoreError::Config(_)));
    }
}
