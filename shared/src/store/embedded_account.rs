//! The embedded store's collections and account deletion (see [`super::account`]).
//!
//! Collections need no registry here: one `GROUP BY` over the items' primary key (user,
//! collection, id) counts them. The deletion marker is a row of `account_deletions`, which every
//! item write reads inside its own `BEGIN IMMEDIATE` transaction ([`refuse_if_deleting`]): a
//! write either commits before the marker exists (and the deletion then finds its item) or is
//! refused, so no settle time is needed. Sessions are found by the `sessions_by_user` index.

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::account::{CollectionCount, CollectionsCursor, CollectionsPage, MAX_COLLECTIONS_PAGE};
use super::{EmbeddedStore, StoreError};
use crate::ids::{Collection, SessionId, UserId};
use crate::time_fmt::Timestamp;

/// Tables and indexes of this module, created (if missing) when the file is opened, so files
/// made before they existed gain them.
pub(super) const SCHEMA: &str = "
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (user_id);
CREATE TABLE IF NOT EXISTS account_deletions (
    user_id    TEXT PRIMARY KEY,
    started_at INTEGER NOT NULL
) WITHOUT ROWID;
";

/// Items one deletion statement removes: each is its own short transaction, so other writers
/// (other users) wait at most for one batch.
const DELETE_BATCH: usize = 5_000;

fn unavailable(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("sqlite: {e}"))
}

/// `AccountDeleting` when the user's deletion marker exists; item writes call it inside their
/// transaction, before writing.
pub(super) fn refuse_if_deleting(c: &Connection, user: &UserId) -> Result<(), StoreError> {
    let marked = c
        .prepare_cached("SELECT 1 FROM account_deletions WHERE user_id = ?1")
        .and_then(|mut st| st.query_row([user.as_str()], |_| Ok(())).optional())
        .map_err(unavailable)?;
    match marked {
        Some(()) => Err(StoreError::AccountDeleting),
        None => Ok(()),
    }
}

impl EmbeddedStore {
    pub(crate) async fn list_collections(
        &self,
        user: &UserId,
        cursor: Option<CollectionsCursor>,
    ) -> Result<CollectionsPage, StoreError> {
        let user = user.clone();
        self.with_conn(move |c| {
            // A partial count (a DynamoDB cursor) starts again at that collection: counts here
            // are one query, never partial.
            let (start, inclusive) = cursor.as_ref().map_or(("", true), |c| c.start());
            let op = if inclusive { ">=" } else { ">" };
            let sql = format!(
                "SELECT collection, COUNT(*) FROM items WHERE user_id = ?1 AND collection {op} ?2
                 GROUP BY collection ORDER BY collection LIMIT ?3"
            );
            let limit = i64::try_from(MAX_COLLECTIONS_PAGE + 1).unwrap_or(i64::MAX);
            let mut st = c.prepare_cached(&sql).map_err(unavailable)?;
            let rows = st
                .query_map(params![user.as_str(), start, limit], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
                })
                .map_err(unavailable)?;
            let mut collections = Vec::new();
            for row in rows {
                let (name, count) = row.map_err(unavailable)?;
                collections.push(CollectionCount {
                    name: Collection::parse(&name).map_err(|_| corrupt("collection"))?,
                    count: u64::try_from(count).map_err(|_| corrupt("count"))?,
                });
            }
            let next_cursor = (collections.len() > MAX_COLLECTIONS_PAGE).then(|| {
                collections.truncate(MAX_COLLECTIONS_PAGE);
                let last = collections.last().map(|c| c.name.as_str().to_owned());
                CollectionsCursor::After(last.unwrap_or_default()).encode()
            });
            Ok(CollectionsPage {
                collections,
                next_cursor,
            })
        })
        .await
    }

    pub(crate) async fn register_collection(
        &self,
        _user: &UserId,
        _coll: &Collection,
    ) -> Result<(), StoreError> {
        Ok(())
    }

    pub(crate) async fn check_writable(&self, user: &UserId) -> Result<(), StoreError> {
        let user = user.clone();
        self.with_conn(move |c| refuse_if_deleting(c, &user)).await
    }

    pub(crate) async fn begin_account_deletion(
        &self,
        user: &UserId,
        now: Timestamp,
    ) -> Result<Timestamp, StoreError> {
        let user = user.clone();
        self.with_conn(move |c| {
            c.execute(
                "INSERT INTO account_deletions (user_id, started_at) VALUES (?1, ?2)
                 ON CONFLICT (user_id) DO NOTHING",
                params![user.as_str(), now.unix()],
            )
            .map_err(unavailable)?;
            c.query_row(
                "SELECT started_at FROM account_deletions WHERE user_id = ?1",
                [user.as_str()],
                |r| r.get::<_, i64>(0),
            )
            .map(Timestamp::from_unix)
            .map_err(unavailable)
        })
        .await
    }

    pub(crate) async fn delete_user_items(
        &self,
        user: &UserId,
        max: usize,
    ) -> Result<u64, StoreError> {
        let user = user.clone();
        self.with_conn(move |c| {
            let mut deleted = 0u64;
            let mut left = max.max(1);
            while left > 0 {
                let batch = left.min(DELETE_BATCH);
                let tx = c
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(unavailable)?;
                let n = tx
                    .execute(
                        "DELETE FROM items WHERE user_id = ?1 AND (collection, id) IN
                         (SELECT collection, id FROM items WHERE user_id = ?1 LIMIT ?2)",
                        params![user.as_str(), i64::try_from(batch).unwrap_or(i64::MAX)],
                    )
                    .map_err(unavailable)?;
                tx.commit().map_err(unavailable)?;
                deleted = deleted.saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
                if n < batch {
                    break;
                }
                left -= batch;
            }
            Ok(deleted)
        })
        .await
    }

    pub(crate) async fn delete_collection_registry(
        &self,
        _user: &UserId,
    ) -> Result<(), StoreError> {
        Ok(())
    }

    pub(crate) async fn revoke_user_sessions(
        &self,
        user: &UserId,
        keep: Option<&SessionId>,
    ) -> Result<u64, StoreError> {
        let (user, keep) = (user.clone(), keep.cloned());
        self.with_conn(move |c| {
            let n = c
                .execute(
                    "UPDATE sessions SET revoked = 1
                     WHERE user_id = ?1 AND revoked = 0 AND session_id IS NOT ?2",
                    params![user.as_str(), keep.as_ref().map(SessionId::as_str)],
                )
                .map_err(unavailable)?;
            Ok(u64::try_from(n).unwrap_or(u64::MAX))
        })
        .await
    }

    pub(crate) async fn finish_account_deletion(&self, user: &UserId) -> Result<(), StoreError> {
        let user = user.clone();
        self.with_conn(move |c| {
            c.execute(
                "DELETE FROM account_deletions WHERE user_id = ?1",
                [user.as_str()],
            )
            .map(|_| ())
            .map_err(unavailable)
        })
        .await
    }
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Unavailable(format!("sqlite: stored {what} is unreadable"))
}
