//! The DynamoDB store's collections and account deletion (see [`super::account`]).
//!
//! Data keys are one partition per (user, collection) (`<len>:<user>/<collection>`), so a
//! user's collections cannot be found from the items alone. Two more partitions per user, in
//! the data table, under keys no item partition can equal (after the length-prefixed user id
//! comes `#`, where an item partition has `/`):
//! - the collection registry, `<len>:<user>#collections`, one marker item per collection (sort
//!   key = its name), put (`attribute_not_exists`) before the first item write of that
//!   collection by this process in [`REGISTRY_CACHE_TTL`]; a failed put fails the write before
//!   anything is written, so every item's collection is registered. A marker whose collection
//!   is empty is harmless: listings skip it, deletion removes it.
//! - the deletion marker, `<len>:<user>#account` / `deletion`, with `startedAt` (N): while it
//!   exists, creates, puts and patches of the user are refused (`AccountDeleting`). Each such
//!   write reads it first (strongly consistent: the price of refusing writes during a deletion
//!   on a store without multi-item conditions), in the same `BatchGetItem` as the request's
//!   session ([`super::dynamo_prefetch`]), or by itself; a "not deleting" read stands for
//!   [`super::dynamo_prefetch::WRITABLE_CHECK_TTL`] in this process.
//!
//! A write that read "no marker" just before the marker was put (or within the check's
//! TTL before) may still land a moment later, and a process may still hold a registry cache
//! entry from before. Hence
//! [`DELETION_SETTLE`]: items are deleted only once that long has passed since the marker, by
//! when every such write has ended (the function's timeout, 10 s) and every cache entry from
//! before it has expired.
//!
//! Sessions are found by user through the `byUser` global secondary index of the sessions
//! table (partition key `userId`, keys only).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, DeleteRequest, GlobalSecondaryIndexUpdate, IndexStatus,
    KeySchemaElement, KeyType, Projection, ProjectionType, ScalarAttributeType, Select,
    WriteRequest,
};
use aws_sdk_dynamodb::Client;

use super::account::{
    CollectionCount, CollectionsCursor, CollectionsPage, COUNT_TIME_BUDGET, MAX_COLLECTIONS_PAGE,
    MAX_COUNT_PAGES,
};
use super::dynamo::{
    condition_failed, contention_pause, n, partition_key, s, unavailable, DynamoStore,
};
use super::{BatchOp, StoreError};
use crate::ids::{Collection, SessionId, UserId};
use crate::time_fmt::Timestamp;

/// How long this process trusts that a collection it registered is still registered. Only an
/// account deletion removes registry markers, and it waits [`DELETION_SETTLE`] (longer) before
/// it does, so an entry never outlives the marker it remembers.
pub(super) const REGISTRY_CACHE_TTL: Duration = Duration::from_secs(10);

/// Most (user, collection) pairs the registry cache holds; past it, it starts over.
const REGISTRY_CACHE_MAX: usize = 4_096;

/// How long after the deletion marker its items are deleted: longer than a request of the db
/// function may last (its timeout, 10 s in template.yaml) plus
/// [`super::dynamo_prefetch::WRITABLE_CHECK_TTL`], and than [`REGISTRY_CACHE_TTL`].
pub(crate) const DELETION_SETTLE: Duration = Duration::from_secs(15);

/// The sessions table's index of sessions by user.
pub(super) const SESSIONS_BY_USER: &str = "byUser";

/// Most write requests in one `BatchWriteItem` (DynamoDB's limit).
const BATCH_WRITE_MAX: usize = 25;
/// Batches of one deletion round sent at once.
const BATCH_CONCURRENCY: usize = 4;
/// Rounds of `UnprocessedItems` retried before giving up (`Unavailable`, retry later).
const BATCH_ATTEMPTS: u32 = 8;
/// How long `create_tables` waits for the sessions index to become active.
const INDEX_ACTIVE_WAIT: Duration = Duration::from_secs(60);

const DELETION_SK: &str = "deletion";

fn registry_pk(user: &UserId) -> String {
    format!("{}:{}#collections", user.as_str().len(), user.as_str())
}

pub(super) fn marker_key(user: &UserId) -> HashMap<String, AttributeValue> {
    let pk = format!("{}:{}#account", user.as_str().len(), user.as_str());
    HashMap::from([("pk".to_owned(), s(&pk)), ("sk".to_owned(), s(DELETION_SK))])
}

fn key(pk: &str, sk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

fn sk_of(attrs: &HashMap<String, AttributeValue>) -> Option<&str> {
    match attrs.get("sk") {
        Some(AttributeValue::S(v)) => Some(v),
        _ => None,
    }
}

/// The (user, collection) pairs this process registered, with when (the instant before the
/// write checked the deletion marker).
#[derive(Debug, Default)]
pub(super) struct RegistryCache {
    seen: Mutex<HashMap<(String, String), Instant>>,
}

impl RegistryCache {
    fn fresh(&self, user: &UserId, coll: &Collection) -> bool {
        let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (user.as_str().to_owned(), coll.as_str().to_owned());
        seen.get(&key)
            .is_some_and(|at| at.elapsed() < REGISTRY_CACHE_TTL)
    }

    fn remember(&self, user: &UserId, coll: &Collection, at: Instant) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.len() >= REGISTRY_CACHE_MAX {
            seen.clear();
        }
        seen.insert((user.as_str().to_owned(), coll.as_str().to_owned()), at);
    }

    fn forget_user(&self, user: &UserId) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.retain(|(u, _), _| u != user.as_str());
    }
}

/// How far a count got within the answer's budget.
enum Counted {
    /// The collection's exact count.
    Done(u64),
    /// Out of budget after this item id, with this many counted.
    Partial(String, u64),
}

/// The budget of one collections answer.
struct CountBudget {
    pages: usize,
    deadline: Instant,
}

impl CountBudget {
    fn spent(&self) -> bool {
        // At least one page per answer, so that every answer makes progress.
        self.pages > 0 && (self.pages >= MAX_COUNT_PAGES || Instant::now() >= self.deadline)
    }
}

impl DynamoStore {
    /// What every item write does first: refuse during an account deletion, then (for writes
    /// that may create an item) register the collection unless this process did lately.
    pub(super) async fn before_item_write(
        &self,
        user: &UserId,
        coll: Option<&Collection>,
    ) -> Result<(), StoreError> {
        let checked_at = Instant::now();
        self.check_writable(user).await?;
        match coll {
            Some(coll) => self.register_at(user, coll, checked_at).await,
            None => Ok(()),
        }
    }

    /// What a batch does first: as [`Self::before_item_write`], once for the batch, registering
    /// each collection it may create an item in (creates and puts; a patch needs an item).
    pub(super) async fn before_batch_write(
        &self,
        user: &UserId,
        ops: &[BatchOp],
    ) -> Result<(), StoreError> {
        let checked_at = Instant::now();
        self.check_writable(user).await?;
        let mut registered: Vec<&Collection> = Vec::new();
        for op in ops {
            if let BatchOp::Create { coll, .. } | BatchOp::Put { coll, .. } = op {
                if !registered.contains(&coll) {
                    self.register_at(user, coll, checked_at).await?;
                    registered.push(coll);
                }
            }
        }
        Ok(())
    }

    pub(crate) async fn register_collection(
        &self,
        user: &UserId,
        coll: &Collection,
    ) -> Result<(), StoreError> {
        self.register_at(user, coll, Instant::now()).await
    }

    async fn register_at(
        &self,
        user: &UserId,
        coll: &Collection,
        at: Instant,
    ) -> Result<(), StoreError> {
        if self.registry().fresh(user, coll) {
            return Ok(());
        }
        let result = self
            .client()
            .put_item()
            .table_name(self.data_table())
            .set_item(Some(key(&registry_pk(user), coll.as_str())))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", "pk")
            .send()
            .await;
        match result {
            Ok(_) => {}
            // Registered before: what this put wanted.
            Err(e) if condition_failed(&e) => {}
            Err(e) => return Err(unavailable(e)),
        }
        self.registry().remember(user, coll, at);
        Ok(())
    }

    pub(crate) async fn check_writable(&self, user: &UserId) -> Result<(), StoreError> {
        if self.writable().fresh(user) {
            return Ok(());
        }
        let read_at = Instant::now();
        let out = self
            .client()
            .get_item()
            .table_name(self.data_table())
            .set_key(Some(marker_key(user)))
            .projection_expression("#pk")
            .expression_attribute_names("#pk", "pk")
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        match out.item {
            Some(item) if !item.is_empty() => Err(StoreError::AccountDeleting),
            _ => {
                self.writable().remember(user, read_at);
                Ok(())
            }
        }
    }

    pub(crate) async fn list_collections(
        &self,
        user: &UserId,
        cursor: Option<CollectionsCursor>,
    ) -> Result<CollectionsPage, StoreError> {
        let mut budget = CountBudget {
            pages: 0,
            deadline: Instant::now() + COUNT_TIME_BUDGET,
        };
        let mut page = CollectionsPage::default();
        let mut after = None;
        if let Some(cursor) = cursor {
            match cursor {
                CollectionsCursor::After(name) => after = Some(name),
                CollectionsCursor::Partial(name, last, counted) => {
                    let coll = Collection::parse(&name)
                        .map_err(|_| StoreError::InvalidCursor("bad collection".into()))?;
                    let got = self
                        .count(user, &coll, Some(last), counted, &mut budget)
                        .await?;
                    if !take_count(&mut page, coll, got) {
                        return Ok(page);
                    }
                    after = Some(name);
                }
            }
        }
        loop {
            let (names, more) = self.registry_page(user, after.as_deref()).await?;
            for name in names {
                if budget.spent() {
                    page.next_cursor = after.map(|a| CollectionsCursor::After(a).encode());
                    return Ok(page);
                }
                let coll = Collection::parse(&name).map_err(|_| corrupt("collection"))?;
                let got = self.count(user, &coll, None, 0, &mut budget).await?;
                if !take_count(&mut page, coll, got) {
                    return Ok(page);
                }
                if page.collections.len() >= MAX_COLLECTIONS_PAGE {
                    page.next_cursor = Some(CollectionsCursor::After(name).encode());
                    return Ok(page);
                }
                after = Some(name);
            }
            if !more {
                return Ok(page);
            }
        }
    }

    /// Up to a page of registered collection names after `after`, and whether more may follow.
    async fn registry_page(
        &self,
        user: &UserId,
        after: Option<&str>,
    ) -> Result<(Vec<String>, bool), StoreError> {
        let pk = registry_pk(user);
        let out = self
            .client()
            .query()
            .table_name(self.data_table())
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_values(":pk", s(&pk))
            .consistent_read(true)
            .limit(i32::try_from(MAX_COLLECTIONS_PAGE).unwrap_or(i32::MAX))
            .set_exclusive_start_key(after.map(|a| key(&pk, a)))
            .send()
            .await
            .map_err(unavailable)?;
        let names = out
            .items
            .unwrap_or_default()
            .iter()
            .filter_map(|attrs| sk_of(attrs).map(str::to_owned))
            .collect();
        let more = out.last_evaluated_key.is_some_and(|k| !k.is_empty());
        Ok((names, more))
    }

    /// Counts the collection's items after `after` (`Select=COUNT`, strongly consistent), on
    /// top of `counted`, until done or out of budget.
    async fn count(
        &self,
        user: &UserId,
        coll: &Collection,
        mut after: Option<String>,
        mut counted: u64,
        budget: &mut CountBudget,
    ) -> Result<Counted, StoreError> {
        let pk = partition_key(user, coll);
        loop {
            if budget.spent() {
                if let Some(last) = after {
                    return Ok(Counted::Partial(last, counted));
                }
            }
            let out = self
                .client()
                .query()
                .table_name(self.data_table())
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", "pk")
                .expression_attribute_values(":pk", s(&pk))
                .select(Select::Count)
                .consistent_read(true)
                .set_exclusive_start_key(after.as_deref().map(|a| key(&pk, a)))
                .send()
                .await
                .map_err(unavailable)?;
            budget.pages += 1;
            counted = counted.saturating_add(u64::try_from(out.count).unwrap_or(0));
            match out.last_evaluated_key.as_ref().and_then(sk_of) {
                Some(last) => after = Some(last.to_owned()),
                None => return Ok(Counted::Done(counted)),
            }
        }
    }

    pub(crate) async fn begin_account_deletion(
        &self,
        user: &UserId,
        now: Timestamp,
    ) -> Result<Timestamp, StoreError> {
        self.writable().forget(user);
        let mut item = marker_key(user);
        item.insert("startedAt".into(), n(now.unix()));
        let result = self
            .client()
            .put_item()
            .table_name(self.data_table())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", "pk")
            .send()
            .await;
        match result {
            Ok(_) => return Ok(now),
            Err(e) if condition_failed(&e) => {}
            Err(e) => return Err(unavailable(e)),
        }
        let out = self
            .client()
            .get_item()
            .table_name(self.data_table())
            .set_key(Some(marker_key(user)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        match out.item.as_ref().and_then(|i| i.get("startedAt")) {
            Some(AttributeValue::N(t)) => t
                .parse()
                .map(Timestamp::from_unix)
                .map_err(|_| corrupt("startedAt")),
            // Finished between the put and the read: a new deletion starts.
            _ => Box::pin(self.begin_account_deletion(user, now)).await,
        }
    }

    pub(crate) async fn delete_user_items(
        &self,
        user: &UserId,
        max: usize,
    ) -> Result<u64, StoreError> {
        let mut deleted = 0u64;
        let mut left = max.max(1);
        loop {
            let (names, _) = self.registry_page(user, None).await?;
            if names.is_empty() {
                return Ok(deleted);
            }
            for name in names {
                let coll = Collection::parse(&name).map_err(|_| corrupt("collection"))?;
                let n = self.delete_some_items(user, &coll, left).await?;
                if n == 0 {
                    // Empty, and no write can fill it again (the marker refuses them): its
                    // registry marker goes now, so later rounds never look at it again.
                    self.delete_keys(vec![key(&registry_pk(user), &name)])
                        .await?;
                    continue;
                }
                deleted = deleted.saturating_add(n as u64);
                left = left.saturating_sub(n);
                if left == 0 {
                    return Ok(deleted);
                }
            }
        }
    }

    /// Deletes up to `max` items of one collection (a query page of keys, then batches);
    /// returns how many, 0 when it is empty.
    async fn delete_some_items(
        &self,
        user: &UserId,
        coll: &Collection,
        max: usize,
    ) -> Result<usize, StoreError> {
        let pk = partition_key(user, coll);
        let limit = max.min(BATCH_WRITE_MAX * BATCH_CONCURRENCY);
        let out = self
            .client()
            .query()
            .table_name(self.data_table())
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_names("#sk", "sk")
            .expression_attribute_values(":pk", s(&pk))
            .projection_expression("#pk, #sk")
            .consistent_read(true)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(unavailable)?;
        let keys: Vec<_> = out
            .items
            .unwrap_or_default()
            .iter()
            .filter_map(|attrs| sk_of(attrs).map(|sk| key(&pk, sk)))
            .collect();
        let count = keys.len();
        self.delete_keys(keys).await?;
        Ok(count)
    }

    /// Deletes the items with these keys from the data table: `BatchWriteItem` batches, a few
    /// at once, each retried on its `UnprocessedItems`.
    async fn delete_keys(
        &self,
        keys: Vec<HashMap<String, AttributeValue>>,
    ) -> Result<(), StoreError> {
        let mut tasks = tokio::task::JoinSet::new();
        let mut batches = keys.chunks(BATCH_WRITE_MAX).map(<[_]>::to_vec);
        loop {
            while tasks.len() < BATCH_CONCURRENCY {
                let Some(batch) = batches.next() else { break };
                let (client, table) = (self.client().clone(), self.data_table().to_owned());
                tasks.spawn(async move { batch_delete(&client, &table, batch).await });
            }
            match tasks.join_next().await {
                None => return Ok(()),
                Some(Ok(Ok(()))) => {}
                Some(Ok(Err(e))) => return Err(e),
                Some(Err(e)) => {
                    return Err(StoreError::Unavailable(format!("dynamodb batch task: {e}")))
                }
            }
        }
    }

    pub(crate) async fn delete_collection_registry(&self, user: &UserId) -> Result<(), StoreError> {
        self.registry().forget_user(user);
        let pk = registry_pk(user);
        loop {
            let (names, _) = self.registry_page(user, None).await?;
            if names.is_empty() {
                return Ok(());
            }
            let keys = names.iter().map(|name| key(&pk, name)).collect();
            self.delete_keys(keys).await?;
        }
    }

    pub(crate) async fn revoke_user_sessions(
        &self,
        user: &UserId,
        keep: Option<&SessionId>,
    ) -> Result<u64, StoreError> {
        let mut revoked = 0u64;
        let mut start = None;
        loop {
            let out = self
                .client()
                .query()
                .table_name(self.sessions_table())
                .index_name(SESSIONS_BY_USER)
                .key_condition_expression("#u = :u")
                .expression_attribute_names("#u", "userId")
                .expression_attribute_values(":u", s(user.as_str()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            for attrs in out.items.unwrap_or_default() {
                let Some(AttributeValue::S(pk)) = attrs.get("pk") else {
                    continue;
                };
                let Ok(id) = SessionId::parse(pk) else {
                    continue;
                };
                if Some(&id) != keep {
                    self.revoke_session(&id).await?;
                    revoked += 1;
                }
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(revoked),
            }
        }
    }

    pub(crate) async fn finish_account_deletion(&self, user: &UserId) -> Result<(), StoreError> {
        self.client()
            .delete_item()
            .table_name(self.data_table())
            .set_key(Some(marker_key(user)))
            .send()
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    /// `MINIAPP_CREATE_TABLES`: adds the sessions table's `byUser` index when it lacks it (a
    /// table made before it existed, too), then waits until the index is active.
    pub(super) async fn ensure_sessions_by_user(&self) -> Result<(), StoreError> {
        let table = self.sessions_table().to_owned();
        let config = |e: &dyn std::fmt::Display| {
            StoreError::Config(format!("index {SESSIONS_BY_USER} of {table}: {e}"))
        };
        let deadline = Instant::now() + INDEX_ACTIVE_WAIT;
        let mut created = false;
        loop {
            match self.index_status(&table).await? {
                Some(IndexStatus::Active) => return Ok(()),
                None if !created => {
                    created = true;
                    // Two processes starting together both try: the loser's error is fine as
                    // long as the index is there now.
                    if let Err(e) = self.create_sessions_by_user(&table).await {
                        if self.index_status(&table).await?.is_none() {
                            return Err(e);
                        }
                    }
                }
                _ if Instant::now() > deadline => {
                    return Err(config(&"did not become active in time"))
                }
                _ => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
    }

    async fn index_status(&self, table: &str) -> Result<Option<IndexStatus>, StoreError> {
        let out = self
            .client()
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(unavailable)?;
        let index = out
            .table
            .and_then(|t| t.global_secondary_indexes)
            .unwrap_or_default()
            .into_iter()
            .find(|i| i.index_name() == Some(SESSIONS_BY_USER));
        // Emulators may leave the status out: an index that is there is usable there.
        Ok(index.map(|i| i.index_status.unwrap_or(IndexStatus::Active)))
    }

    async fn create_sessions_by_user(&self, table: &str) -> Result<(), StoreError> {
        let config = |e: &dyn std::fmt::Display| {
            StoreError::Config(format!("index {SESSIONS_BY_USER} of {table}: {e}"))
        };
        let schema = KeySchemaElement::builder()
            .attribute_name("userId")
            .key_type(KeyType::Hash)
            .build()
            .map_err(|e| config(&e))?;
        let def = AttributeDefinition::builder()
            .attribute_name("userId")
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| config(&e))?;
        let index = aws_sdk_dynamodb::types::CreateGlobalSecondaryIndexAction::builder()
            .index_name(SESSIONS_BY_USER)
            .key_schema(schema)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::KeysOnly)
                    .build(),
            )
            .build()
            .map_err(|e| config(&e))?;
        let result = self
            .client()
            .update_table()
            .table_name(table)
            .attribute_definitions(def)
            .global_secondary_index_updates(
                GlobalSecondaryIndexUpdate::builder().create(index).build(),
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Another process is creating it.
            Err(e)
                if matches!(
                    aws_sdk_dynamodb::error::ProvideErrorMetadata::code(&e),
                    Some("ResourceInUseException" | "LimitExceededException")
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(config(&aws_sdk_dynamodb::error::DisplayErrorContext(&e))),
        }
    }
}

/// Adds a finished count (when not zero) to the page; a partial one ends the page with its
/// cursor instead (`false`).
fn take_count(page: &mut CollectionsPage, coll: Collection, got: Counted) -> bool {
    match got {
        Counted::Done(0) => true,
        Counted::Done(count) => {
            page.collections.push(CollectionCount { name: coll, count });
            true
        }
        Counted::Partial(last, counted) => {
            let cursor = CollectionsCursor::Partial(coll.as_str().to_owned(), last, counted);
            page.next_cursor = Some(cursor.encode());
            false
        }
    }
}

/// One `BatchWriteItem` of deletes, retrying what DynamoDB leaves unprocessed (throttling).
async fn batch_delete(
    client: &Client,
    table: &str,
    keys: Vec<HashMap<String, AttributeValue>>,
) -> Result<(), StoreError> {
    let mut pending = Vec::with_capacity(keys.len());
    for k in keys {
        let delete = DeleteRequest::builder()
            .set_key(Some(k))
            .build()
            .map_err(|e| StoreError::Rejected(format!("dynamodb: {e}")))?;
        pending.push(WriteRequest::builder().delete_request(delete).build());
    }
    for attempt in 0..BATCH_ATTEMPTS {
        if pending.is_empty() {
            return Ok(());
        }
        if attempt > 0 {
            contention_pause(attempt).await;
        }
        let out = client
            .batch_write_item()
            .request_items(table, std::mem::take(&mut pending))
            .send()
            .await
            .map_err(unavailable)?;
        pending = out
            .unprocessed_items
            .and_then(|mut m| m.remove(table))
            .unwrap_or_default();
    }
    if pending.is_empty() {
        Ok(())
    } else {
        Err(StoreError::Unavailable(
            "dynamodb: deletes left unprocessed after retries".into(),
        ))
    }
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Unavailable(format!("dynamodb: stored {what} is unreadable"))
}
