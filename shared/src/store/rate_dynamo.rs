//! Rate-limit buckets in DynamoDB: items of the sessions table, key `pk` = `rate#<kind>#<name>`
//! (never a session id: those have no `#`), attributes `tat` (N, the bucket's state in Unix
//! microseconds, see [`crate::ratelimit::bucket`]) and `ttl` (N, Unix seconds, when the bucket
//! is surely full again: the table's TTL deletes it).
//!
//! A take is one conditional `UpdateItem` in the common case, without a read, chosen by what
//! this process last saw of the bucket:
//! - idle (full) bucket: `SET tat = :next` if `tat` is absent or before now;
//! - busy bucket: `SET tat = tat + :interval` if `tat` is between now and the last state that
//!   still has a token: the increment is atomic, so concurrent takes all count.
//!
//! A failed condition returns the item as it is (`ReturnValuesOnConditionCheckFailure`), from
//! which the bucket is either seen empty (refused) or the other write is tried. Values only ever
//! travel as expression attribute values, never in expression text.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;

use super::StoreError;
use crate::ratelimit::bucket::{self, Outcome, Rate};

/// Rounds of lost races before the take gives up (`Contention`: the limiter fails open).
const MAX_ROUNDS: u32 = 4;

const IDLE: &str = "attribute_not_exists(#tat) OR #tat < :now";
const BUSY: &str = "#tat BETWEEN :now AND :last";

/// What a conditional write found when its condition failed.
enum Missed {
    /// The bucket's stored state (`None`: no item).
    State(Option<u64>),
    Failed(StoreError),
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn tat_of(item: Option<&HashMap<String, AttributeValue>>) -> Result<Option<u64>, StoreError> {
    match item.and_then(|i| i.get("tat")) {
        None => Ok(None),
        Some(AttributeValue::N(t)) => t.parse().map(Some).map_err(|_| corrupt()),
        Some(_) => Err(corrupt()),
    }
}

fn corrupt() -> StoreError {
    StoreError::Unavailable("dynamodb: stored rate-limit state is unreadable".into())
}

/// One request's token from the bucket `key` at `now_us`; `seen` is the state this process
/// last saw (a lower bound of the stored one).
pub(super) async fn take(
    client: &Client,
    table: &str,
    key: &str,
    rate: Rate,
    now_us: u64,
    seen: Option<u64>,
) -> Result<Outcome, StoreError> {
    let mut known = seen;
    for _ in 0..MAX_ROUNDS {
        if let Some(tat) = known {
            if let limited @ Outcome::Limited { .. } = bucket::decide(tat, now_us, rate) {
                return Ok(limited);
            }
        }
        let busy = known.is_some_and(|tat| tat >= now_us);
        match write(client, table, key, rate, now_us, busy).await {
            Ok(tat_us) => return Ok(Outcome::Allowed { tat_us }),
            Err(Missed::State(state)) => known = state,
            Err(Missed::Failed(e)) => return Err(e),
        }
    }
    Err(StoreError::Contention(MAX_ROUNDS))
}

async fn write(
    client: &Client,
    table: &str,
    key: &str,
    rate: Rate,
    now_us: u64,
    busy: bool,
) -> Result<u64, Missed> {
    let mut req = client
        .update_item()
        .table_name(table)
        .key("pk", AttributeValue::S(key.to_owned()))
        .expression_attribute_names("#tat", "tat")
        .expression_attribute_names("#ttl", "ttl")
        .expression_attribute_values(":now", n(now_us))
        .expression_attribute_values(":ttl", n(rate.expires_at_secs(now_us)))
        .return_values(ReturnValue::UpdatedNew)
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
    req = if busy {
        // The last state from which one more token still fits under the ceiling.
        let last = now_us.saturating_add(rate.capacity_us()) - rate.interval_us;
        req.update_expression("SET #tat = #tat + :interval, #ttl = :ttl")
            .condition_expression(BUSY)
            .expression_attribute_values(":interval", n(rate.interval_us))
            .expression_attribute_values(":last", n(last))
    } else {
        req.update_expression("SET #tat = :next, #ttl = :ttl")
            .condition_expression(IDLE)
            .expression_attribute_values(":next", n(now_us.saturating_add(rate.interval_us)))
    };
    let e = match req.send().await {
        Ok(out) => {
            return tat_of(out.attributes())
                .and_then(|t| t.ok_or_else(corrupt))
                .map_err(Missed::Failed)
        }
        Err(e) => e,
    };
    if let Some(UpdateItemError::ConditionalCheckFailedException(f)) = e.as_service_error() {
        return Err(match tat_of(f.item()) {
            Ok(state) => Missed::State(state),
            Err(e) => Missed::Failed(e),
        });
    }
    Err(Missed::Failed(super::dynamo::unavailable(e)))
}
