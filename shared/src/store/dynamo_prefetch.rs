//! A request's session read together with what the request needs next, in one strongly
//! consistent `BatchGetItem` instead of a round trip each: the item a GET answers with, or the
//! deletion marker a write checks. Each SDK call was over a third of a warm request's CPU
//! (docs/benchmarks.md, "Profile"), so a GET costs one call instead of two and a write two
//! instead of three.
//!
//! A marker read here is remembered as "not deleting" for [`WRITABLE_CHECK_TTL`], so the write
//! that follows in the same request does not read it again. That stays inside what
//! [`super::dynamo_account::DELETION_SETTLE`] already allows for: a write that read "no marker"
//! just before the marker was put may land up to the function's timeout later.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::dynamo::{s, Attrs, DynamoStore};
use super::dynamo_account::marker_key;
use super::dynamo_wire::{from_attrs, into_attrs, BatchGetInput, KeysToGet, WireItem};
use super::{Alongside, SessionRead, StoreError};
use crate::ids::{SessionId, UserId};
use crate::time_fmt::Timestamp;

/// How long a "not deleting" read of the marker stands in for reading it again: long enough
/// for the request that read it, far inside the deletion's settle time.
pub(super) const WRITABLE_CHECK_TTL: Duration = Duration::from_secs(1);

/// Most users remembered; past it, it starts over.
const WRITABLE_CACHE_MAX: usize = 4_096;

/// Users this process saw without a deletion marker lately, with when.
#[derive(Debug, Default)]
pub(super) struct WritableCache {
    seen: Mutex<HashMap<String, Instant>>,
}

impl WritableCache {
    pub(super) fn fresh(&self, user: &UserId) -> bool {
        let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.get(user.as_str())
            .is_some_and(|at| at.elapsed() < WRITABLE_CHECK_TTL)
    }

    pub(super) fn remember(&self, user: &UserId, at: Instant) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.len() >= WRITABLE_CACHE_MAX {
            seen.clear();
        }
        seen.insert(user.as_str().to_owned(), at);
    }

    pub(super) fn forget(&self, user: &UserId) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.remove(user.as_str());
    }
}

impl DynamoStore {
    /// The session and `alongside` in one `BatchGetItem` (the session alone when the request
    /// needs nothing more, or a write's account check is remembered), sent by
    /// [`super::dynamo_direct`]. `None` when the batch was throttled: the caller then reads one
    /// by one through the SDK.
    pub(crate) async fn get_session_batched(
        &self,
        id: &SessionId,
        user: &UserId,
        now: Timestamp,
        alongside: Alongside<'_>,
    ) -> Result<Option<SessionRead>, StoreError> {
        let data_key = match alongside {
            Alongside::Nothing => None,
            Alongside::Item { coll, id: item } => {
                Some(super::dynamo::item_key(user, coll, item.as_str()))
            }
            Alongside::AccountState if self.writable().fresh(user) => None,
            Alongside::AccountState => Some(marker_key(user)),
        };
        let session_key = HashMap::from([("pk".to_owned(), s(id.as_str()))]);
        let read_at = Instant::now();
        let out = self
            .direct()
            .batch_get(&self.request_items(&session_key, data_key.as_ref())?)
            .await?;
        if !out.unprocessed_keys.is_empty() {
            // Throttled: read one by one (the SDK's retries are behind each call).
            return Ok(None);
        }
        let mut responses = decode_responses(out.responses)?;
        let mut take = |table: &str, key: &Attrs| -> Option<Attrs> {
            let items = responses.get_mut(table)?;
            let at = items.iter().position(|item| same_key(item, key))?;
            Some(items.swap_remove(at))
        };
        let session = take(self.sessions_table(), &session_key);
        let data = data_key
            .as_ref()
            .and_then(|key| take(self.data_table(), key));
        let session = super::dynamo::live_session(id, session, now)?;
        let item = match alongside {
            Alongside::Item { .. } => {
                Some(data.as_ref().map(super::dynamo::decode_item).transpose()?)
            }
            Alongside::Nothing | Alongside::AccountState => {
                if data_key.is_some() && data.is_none_or(|d| d.is_empty()) {
                    self.writable().remember(user, read_at);
                }
                None
            }
        };
        Ok(Some(SessionRead { session, item }))
    }

    /// A consistent read of `key` in the sessions table without the SDK (start-up uses it).
    pub(super) async fn read_sessions_directly(
        &self,
        key: &Attrs,
    ) -> Result<Option<Attrs>, StoreError> {
        let out = self
            .direct()
            .batch_get(&self.request_items(key, None)?)
            .await?;
        let mut responses = decode_responses(out.responses)?;
        Ok(responses
            .get_mut(self.sessions_table())
            .and_then(|items| items.pop()))
    }

    /// One entry per table; both keys under one when the two tables are the same.
    fn request_items<'a>(
        &'a self,
        session_key: &Attrs,
        data_key: Option<&Attrs>,
    ) -> Result<BatchGetInput<'a>, StoreError> {
        let wire = |key: &Attrs| {
            from_attrs(key).map_err(|e| StoreError::Rejected(format!("dynamodb: batch read: {e}")))
        };
        let mut request_items: HashMap<&str, KeysToGet> = HashMap::new();
        let mut add = |table: &'a str, key: WireItem| {
            request_items
                .entry(table)
                .or_insert_with(|| KeysToGet {
                    keys: Vec::with_capacity(2),
                    consistent_read: true,
                })
                .keys
                .push(key);
        };
        add(self.sessions_table(), wire(session_key)?);
        if let Some(key) = data_key {
            add(self.data_table(), wire(key)?);
        }
        Ok(BatchGetInput { request_items })
    }
}

/// The answer's items per table, as the SDK's values.
fn decode_responses(
    responses: HashMap<String, Vec<WireItem>>,
) -> Result<HashMap<String, Vec<Attrs>>, StoreError> {
    responses
        .into_iter()
        .map(|(table, items)| {
            let items = items
                .into_iter()
                .map(into_attrs)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            Ok((table, items))
        })
        .collect()
}

/// Whether `item` has every attribute of `key` with the same value.
fn same_key(item: &Attrs, key: &Attrs) -> bool {
    key.iter()
        .all(|(name, value)| item.get(name) == Some(value))
}
