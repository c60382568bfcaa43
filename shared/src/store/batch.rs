//! Atomic batches of writes (docs/api.md §4.6): the part both backends share. Each backend
//! reads the current state of every target (SQLite inside one `BEGIN IMMEDIATE` transaction,
//! DynamoDB with consistent reads), [`plan`]s the batch against it here, in one place, then
//! writes every planned [`Write`] at once (SQLite in that transaction, DynamoDB as one
//! `TransactWriteItems` whose every action is pinned to the version that was read). So the
//! conditions, the first failing index, the resulting items and the size limits are the same
//! on both backends by construction.

use std::collections::HashSet;

use serde_json::Value;

use super::{check_data, json_av, merge_patch, Condition, Item, ItemData, JsonObject, StoreError};
use crate::ids::{Collection, ItemId, Version};
use crate::time_fmt::Timestamp;

/// Most operations in one batch (DynamoDB's `TransactWriteItems` takes 100 actions).
pub const MAX_BATCH_OPS: usize = 25;

/// Most data written by one batch, summed over its items as DynamoDB sizes them
/// ([`json_av::object_size`]): `TransactWriteItems` takes at most 4 MB in all, and this leaves
/// room for keys and metadata attributes.
pub const MAX_BATCH_DATA_BYTES: usize = 3_800_000;

/// One operation of a batch, its input already validated.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchOp {
    /// Create `id` (fails when it exists).
    Create {
        /// The collection.
        coll: Collection,
        /// The item.
        id: ItemId,
        /// The new data.
        data: JsonObject,
    },
    /// Create or replace `id` if `cond` holds.
    Put {
        /// The collection.
        coll: Collection,
        /// The item.
        id: ItemId,
        /// The new data.
        data: JsonObject,
        /// `ifMatch` / `ifNoneMatch`.
        cond: Condition,
    },
    /// Merge-patch `id` (RFC 7396; `patch` is an object) if it exists and `cond` holds.
    Patch {
        /// The collection.
        coll: Collection,
        /// The item.
        id: ItemId,
        /// The merge patch (an object).
        patch: Value,
        /// `ifMatch` / `ifNoneMatch`.
        cond: Condition,
    },
    /// Delete `id` if it exists and `cond` holds.
    Delete {
        /// The collection.
        coll: Collection,
        /// The item.
        id: ItemId,
        /// `ifMatch` / `ifNoneMatch`.
        cond: Condition,
    },
}

impl BatchOp {
    /// The operation's target.
    pub fn target(&self) -> (&Collection, &ItemId) {
        match self {
            Self::Create { coll, id, .. }
            | Self::Put { coll, id, .. }
            | Self::Patch { coll, id, .. }
            | Self::Delete { coll, id, .. } => (coll, id),
        }
    }
}

/// What one operation did.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchOutcome {
    /// The item as written.
    Written(Item),
    /// The item was deleted.
    Deleted,
}

/// Why a batch wrote nothing: the operation at `index` failed (`None`: the batch as a whole).
#[derive(Debug, PartialEq, Eq)]
pub struct BatchError {
    /// The failing operation, counted from 0.
    pub index: Option<usize>,
    /// What failed.
    pub error: StoreError,
}

impl BatchError {
    pub(crate) fn at(index: usize, error: StoreError) -> Self {
        Self {
            index: Some(index),
            error,
        }
    }

    pub(crate) fn whole(error: StoreError) -> Self {
        Self { index: None, error }
    }
}

impl From<StoreError> for BatchError {
    fn from(error: StoreError) -> Self {
        Self::whole(error)
    }
}

/// One write a backend performs, pinned to the state it was planned on.
#[derive(Debug)]
pub(crate) struct Write {
    pub(crate) coll: Collection,
    pub(crate) kind: WriteKind,
}

#[derive(Debug)]
pub(crate) enum WriteKind {
    /// A new item (nothing was there).
    Insert { item: Item, object: JsonObject },
    /// A new version of the item that was at `expected`.
    Replace {
        item: Item,
        object: JsonObject,
        expected: Version,
    },
    /// Remove the item that was at `expected`.
    Delete { id: ItemId, expected: Version },
}

/// Checks the shape of a batch: 1..=[`MAX_BATCH_OPS`] operations, no two on one item, and
/// every create's and put's data within the item limits.
pub(crate) fn check(ops: &[BatchOp]) -> Result<(), BatchError> {
    if ops.is_empty() || ops.len() > MAX_BATCH_OPS {
        return Err(BatchError::whole(StoreError::Rejected(format!(
            "a batch holds 1 to {MAX_BATCH_OPS} operations"
        ))));
    }
    let mut seen = HashSet::new();
    for (i, op) in ops.iter().enumerate() {
        if !seen.insert(op.target()) {
            return Err(BatchError::at(
                i,
                StoreError::Rejected("two operations on one item".into()),
            ));
        }
        if let BatchOp::Create { data, .. } | BatchOp::Put { data, .. } = op {
            check_data(data).map_err(|e| BatchError::at(i, e))?;
        }
        if let BatchOp::Patch { patch, .. } = op {
            if !patch.is_object() {
                let kind = merge_patch::kind_name(patch);
                return Err(BatchError::at(i, StoreError::InvalidPatch(kind)));
            }
        }
    }
    Ok(())
}

/// Plans every operation against the state read (`current[i]`: the target of `ops[i]`), in
/// order: the first that cannot happen fails the batch with its index.
pub(crate) fn plan(
    ops: &[BatchOp],
    current: Vec<Option<Item>>,
    now: Timestamp,
) -> Result<(Vec<Write>, Vec<BatchOutcome>), BatchError> {
    let (mut writes, mut outcomes, mut total) = (Vec::new(), Vec::new(), 0usize);
    for (i, (op, cur)) in ops.iter().zip(current).enumerate() {
        let (write, outcome) = plan_one(op, cur, now).map_err(|e| BatchError::at(i, e))?;
        if let WriteKind::Insert { object, .. } | WriteKind::Replace { object, .. } = &write.kind {
            total = total.saturating_add(json_av::object_size(object));
        }
        writes.push(write);
        outcomes.push(outcome);
    }
    if total > MAX_BATCH_DATA_BYTES {
        return Err(BatchError::whole(StoreError::ItemTooLarge {
            size: total,
            limit: MAX_BATCH_DATA_BYTES,
        }));
    }
    Ok((writes, outcomes))
}

fn new_version(id: &ItemId, cur: Option<&Item>, data: ItemData, now: Timestamp) -> Item {
    Item {
        id: id.clone(),
        version: cur.map_or(Version::FIRST, |c| c.version.next()),
        created_at: cur.map_or(now, |c| c.created_at),
        updated_at: now,
        data,
    }
}

fn plan_one(
    op: &BatchOp,
    cur: Option<Item>,
    now: Timestamp,
) -> Result<(Write, BatchOutcome), StoreError> {
    let version = cur.as_ref().map(|c| c.version);
    let (coll, kind) = match op {
        BatchOp::Create { coll, id, data } => {
            if cur.is_some() {
                return Err(StoreError::PreconditionFailed);
            }
            let item = new_version(id, None, check_data(data)?, now);
            (coll, upsert(item, data.clone(), None))
        }
        BatchOp::Put {
            coll,
            id,
            data,
            cond,
        } => {
            cond.check(version)?;
            let item = new_version(id, cur.as_ref(), check_data(data)?, now);
            (coll, upsert(item, data.clone(), version))
        }
        BatchOp::Patch {
            coll,
            id,
            patch,
            cond,
        } => {
            let Some(cur) = cur else {
                return Err(cond.absent_error());
            };
            cond.check(version)?;
            let current = cur
                .data
                .to_object()
                .map_err(|_| StoreError::Unavailable("stored data is unreadable".into()))?;
            let merged = merge_patch::apply_to_object(current, patch);
            let item = new_version(id, Some(&cur), check_data(&merged)?, now);
            (coll, upsert(item, merged, version))
        }
        BatchOp::Delete { coll, id, cond } => {
            let Some(expected) = version else {
                return Err(cond.absent_error());
            };
            cond.check(version)?;
            let kind = WriteKind::Delete {
                id: id.clone(),
                expected,
            };
            let write = Write {
                coll: coll.clone(),
                kind,
            };
            return Ok((write, BatchOutcome::Deleted));
        }
    };
    let outcome = match &kind {
        WriteKind::Insert { item, .. } | WriteKind::Replace { item, .. } => {
            BatchOutcome::Written(item.clone())
        }
        WriteKind::Delete { .. } => BatchOutcome::Deleted,
    };
    let write = Write {
        coll: coll.clone(),
        kind,
    };
    Ok((write, outcome))
}

fn upsert(item: Item, object: JsonObject, expected: Option<Version>) -> WriteKind {
    match expected {
        None => WriteKind::Insert { item, object },
        Some(expected) => WriteKind::Replace {
            item,
            object,
            expected,
        },
    }
}
