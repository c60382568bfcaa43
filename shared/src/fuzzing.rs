//! Entry points for the `cargo fuzz` targets in `fuzz/`: the crate-private pieces they drive,
//! under names that say what they are. Compiled only with `--cfg fuzzing` (which `cargo fuzz`
//! sets), so normal builds neither have nor export any of this.

use crate::credentials::TokenKeys;
use crate::ids::{Collection, ItemId, UserId, Version};
use crate::secret::SecretBytes;
use crate::store::{CursorKeys, Item, ItemData, JsonObject, ListQuery, Order, StoreError};
use crate::time_fmt::Timestamp;

/// A token that carries `payload` as its plain payload, sealed and MACed under the signing key:
/// what only the server can make, so that the payload decoder behind the MAC can be fuzzed.
pub fn token_with_payload(keys: &TokenKeys, payload: &[u8]) -> String {
    crate::credentials::token_with_payload(keys, payload)
}

/// What a listing's cursor check decided: where to resume, whether the prefix matches nothing,
/// and the id range the backends would scan.
#[derive(Debug)]
pub struct CursorPlan {
    /// The id the cursor names.
    pub after: Option<ItemId>,
    /// The prefix holds a byte no id may hold.
    pub matches_nothing: bool,
    /// `[lo, hi)` of the prefix, when it can match.
    pub range: Option<(String, String)>,
}

/// Checks `q.cursor` against the query as a listing does.
pub fn open_cursor(
    keys: &CursorKeys,
    user: &UserId,
    coll: &Collection,
    q: &ListQuery,
) -> Result<CursorPlan, StoreError> {
    let plan = crate::store::ListPlan::new(keys, user, coll, q)?;
    let range = (!plan.matches_nothing).then(|| plan.prefix_range());
    Ok(CursorPlan {
        after: plan.after.clone(),
        matches_nothing: plan.matches_nothing,
        range,
    })
}

/// The `nextCursor` a page ending at `last` hands out (a one-item page with more to follow).
pub fn seal_cursor(
    keys: &CursorKeys,
    user: &UserId,
    coll: &Collection,
    prefix: Option<String>,
    order: Order,
    last: &ItemId,
) -> Option<String> {
    let q = ListQuery {
        prefix,
        order,
        limit: 1,
        cursor: None,
    };
    let plan = crate::store::ListPlan::new(keys, user, coll, &q).ok()?;
    let item = |id: &ItemId| Item {
        id: id.clone(),
        version: Version::FIRST,
        created_at: Timestamp::from_unix(0),
        updated_at: Timestamp::from_unix(0),
        data: ItemData::from_object(&JsonObject::new()),
    };
    plan.finish(keys, vec![item(last), item(last)]).next_cursor
}

/// A cursor key from raw bytes.
pub fn cursor_keys(signing: Vec<u8>, also_verify: Vec<Vec<u8>>) -> CursorKeys {
    CursorKeys::new(
        SecretBytes::new(signing),
        also_verify.into_iter().map(SecretBytes::new).collect(),
    )
}

/// A request body parsed as the db API parses an item's data (`InvalidJson`, depth limit, ...);
/// the error as its contract code.
pub fn parse_body_object(body: &[u8]) -> Result<JsonObject, crate::http::ErrorCode> {
    crate::api::parse_object(body).map_err(|e| e.code)
}

/// The size and value-count limits every write applies; the stored text on success.
pub fn check_item_data(data: &JsonObject) -> Result<ItemData, StoreError> {
    crate::store::check_data(data)
}

/// Stored text accepted back as item data only if it is the JSON of an object.
pub fn item_data_from_text(text: String) -> Option<ItemData> {
    ItemData::from_text(text).ok()
}

/// The data's compact JSON text after a trip through DynamoDB attributes.
pub fn dynamo_round_trip(data: &JsonObject) -> Result<String, String> {
    let av = crate::store::object_to_av(data);
    crate::store::object_text(&av).map_err(|e| e.0)
}

/// The data's size as the DynamoDB limit counts it.
pub fn dynamo_size(data: &JsonObject) -> usize {
    crate::store::object_size(data)
}
