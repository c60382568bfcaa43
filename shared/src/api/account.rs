//! `DELETE /account` (docs/api.md §4.8): deletes everything of the caller's, resumably.
//!
//! Each call works for at most [`CALL_BUDGET`] (well inside the function's 10 s timeout) and
//! answers 202 `{"status": "deleting", ...}` while work remains, 200 `{"status": "deleted"}`
//! once done; the client calls again until then. Every step is idempotent and the steps run in
//! this order, so a call that stops anywhere (its budget, a crash) is resumed by the next:
//! 1. the deletion marker (from now on the user's writes are refused, 409 `AccountDeleting`);
//! 2. the store's settle time ([`Store::deletion_settle`]: DynamoDB only);
//! 3. every item of every collection, in rounds of [`ITEMS_PER_ROUND`];
//! 4. the user's files ([`DeletionStep::Files`]);
//! 5. the collection registry;
//! 6. every other session of the user (revoked: their next request is 401 `SessionRevoked`);
//! 7. the marker goes (a later log-in starts a fresh, empty account), then the caller's own
//!    session is revoked. In that order: a crash between the two leaves the caller able to call
//!    again (which runs a deletion of nothing), never a marker no one can finish.

use std::time::Duration;

use http::StatusCode;
use serde::Serialize;
use tokio::time::Instant;

use super::auth::Caller;
use super::db::json_response;
use super::error::ApiError;
use crate::files::Files;
use crate::http::Response;
use crate::ids::UserId;
use crate::store::Store;
use crate::time_fmt::Timestamp;

/// How long one call keeps working before it answers 202.
pub(crate) const CALL_BUDGET: Duration = Duration::from_secs(5);

/// Items deleted per store call: small enough that a round ends soon after the budget.
const ITEMS_PER_ROUND: usize = 500;
/// Files (an object and a record each) deleted per round of the files step.
const FILES_PER_ROUND: u32 = 50;

/// The step a deletion is at, as the 202 answer names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum DeletionStep {
    /// Waiting out the store's settle time.
    Settling,
    /// Deleting items.
    Items,
    /// Deleting the user's files.
    Files,
}

/// The answer's body.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Progress {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    step: Option<DeletionStep>,
    /// Items this call deleted.
    items_deleted: u64,
}

/// The files step: objects and records, a page at a time until none remain (true) or the
/// call's time is up (false: the next call goes on).
async fn delete_files(
    store: &Store,
    files: &Files,
    user: &UserId,
    deadline: Instant,
) -> Result<bool, ApiError> {
    while Instant::now() < deadline {
        if files.delete_all(store, user, FILES_PER_ROUND).await?.done {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Answers `DELETE /account`.
pub(super) async fn delete(
    store: &Store,
    files: &Files,
    caller: &Caller,
) -> Result<Response, ApiError> {
    let deadline = Instant::now() + CALL_BUDGET;
    let user = &caller.user_id;
    let started = store.begin_account_deletion(user, Timestamp::now()).await?;
    let mut deleted = 0u64;
    let pending = |step, deleted| {
        let body = Progress {
            status: "deleting",
            step: Some(step),
            items_deleted: deleted,
        };
        json_response(StatusCode::ACCEPTED, &body)
    };
    if !settle(store, started, deadline).await {
        return pending(DeletionStep::Settling, deleted);
    }
    loop {
        if Instant::now() >= deadline {
            return pending(DeletionStep::Items, deleted);
        }
        let n = store.delete_user_items(user, ITEMS_PER_ROUND).await?;
        if n == 0 {
            break;
        }
        deleted = deleted.saturating_add(n);
    }
    if !delete_files(store, files, user, deadline).await? {
        return pending(DeletionStep::Files, deleted);
    }
    store.delete_collection_registry(user).await?;
    store
        .revoke_user_sessions(user, Some(&caller.session_id))
        .await?;
    store.finish_account_deletion(user).await?;
    store.revoke_session(&caller.session_id).await?;
    tracing::info!(items = deleted, "account deleted");
    let body = Progress {
        status: "deleted",
        step: None,
        items_deleted: deleted,
    };
    json_response(StatusCode::OK, &body)
}

/// Waits (within the call's budget) until the store's settle time since `started` has passed;
/// whether it has.
async fn settle(store: &Store, started: Timestamp, deadline: Instant) -> bool {
    let settle = i64::try_from(store.deletion_settle().as_secs()).unwrap_or(i64::MAX);
    let left = started.plus_secs(settle).unix() - Timestamp::now().unix();
    if left <= 0 {
        return true;
    }
    let wait = Duration::from_secs(left.unsigned_abs());
    let now = Instant::now();
    if now + wait > deadline {
        tokio::time::sleep_until(deadline).await;
        return false;
    }
    tokio::time::sleep(wait).await;
    true
}
