//! Rate-limit buckets in DynamoDB: items of the sessions table, key `pk` = `rate#<kind>#<name>`
//! (never a session id: those have no `#`), attributes `tat` (N, the bucket's state in Unix
//! microseconds, see [`crate::ratelimit::bucket`]) and `ttl` (N, Unix seconds, when the bucket
//! is surely full again: the table's TTL deletes it).
//!
//! A take (of one token, or a lease of several: [`crate::ratelimit`]) is one conditional
//! `UpdateItem` in the common case, without a read, chosen by what this process last saw of the
//! bucket:
//! - idle (full) bucket: `SET tat = :next` if `tat` is absent or before now;
//! - busy bucket: `SET tat = tat + :interval` (times the tokens taken) if `tat` is between now
//!   and the last state that still has those tokens (and, for a lease of several, the bucket's
//!   reserve after them): the increment is atomic, so concurrent takes all count.
//!
//! A failed condition returns the item as it is (`ReturnValuesOnConditionCheckFailure`), from
//! which the bucket is either seen empty (refused) or the other write is tried. Values only ever
//! travel as expression attribute values, never in expression text.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;

use super::StoreError;
use crate::ratelimit::bucket::{self, Lease, Outcome, Rate};

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

/// Up to `want` tokens (at least one) from the bucket `key` at `now_us` ([`bucket::lease`]);
/// `seen` is the state this process last saw (a lower bound of the stored one).
pub(super) async fn take(
    client: &Client,
    table: &str,
    key: &str,
    rate: Rate,
    now_us: u64,
    seen: Option<u64>,
    want: u32,
) -> Result<Lease, StoreError> {
    let mut known = seen;
    for _ in 0..MAX_ROUNDS {
        // What the state as known allows; an unknown bucket is tried as full.
        let planned = bucket::lease(known.unwrap_or(0), now_us, rate, want);
        if let Outcome::Limited { .. } = planned.outcome {
            return Ok(planned);
        }
        let busy = known.is_some_and(|tat| tat >= now_us);
        match write(client, table, key, rate, now_us, busy, planned.tokens).await {
            Ok(tat_us) => {
                return Ok(Lease {
                    outcome: Outcome::Allowed { tat_us },
                    tokens: planned.tokens,
                })
            }
            Err(Missed::State(state)) => known = state,
            Err(Missed::Failed(e)) => return Err(e),
        }
    }
    Err(StoreError::Contention(MAX_ROUNDS))
}

/// One conditional write of `tokens` tokens; for more than one, the bucket keeps its
/// [`bucket::lease_reserve`] after them.
async fn write(
    client: &Client,
    table: &str,
    key: &str,
    rate: Rate,
    now_us: u64,
    busy: bool,
    tokens: u32,
) -> Result<u64, Missed> {
    let step = rate.interval_us.saturating_mul(u64::from(tokens));
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
        // The last state from which these tokens (and the reserve of a lease) still fit
        // under the ceiling.
        let reserve = if tokens > 1 {
            bucket::lease_reserve(rate)
        } else {
            0
        };
        let keep = rate.interval_us.saturating_mul(u64::from(reserve));
        let last = now_us
            .saturating_add(rate.capacity_us())
            .saturating_sub(step)
            .saturating_sub(keep);
        req.update_expression("SET #tat = #tat + :interval, #ttl = :ttl")
            .condition_expression(BUSY)
            .expression_attribute_values(":interval", n(step))
            .expression_attribute_values(":last", n(last))
    } else {
        req.update_expression("SET #tat = :next, #ttl = :ttl")
            .condition_expression(IDLE)
            .expression_attribute_values(":next", n(now_us.saturating_add(step)))
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
