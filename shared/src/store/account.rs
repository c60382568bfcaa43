//! What both backends share for a user's collections (`GET /db`) and for deleting a user's
//! whole account (`DELETE /account`): the answer types, the collections cursor, and the limits.
//!
//! Collections are the ones with at least one item, sorted by name, with exact counts, computed
//! when asked (never kept beside the items): SQLite counts with one `GROUP BY` over the items'
//! primary key; DynamoDB keeps a registry of the user's collection names (one marker item per
//! (user, collection), written before the first item) and counts each with `Select=COUNT`
//! queries, within [`MAX_COUNT_PAGES`] pages and [`COUNT_TIME_BUDGET`] per answer.
//!
//! An account deletion is a per-user marker (refusing writes with `AccountDeleting` from the
//! moment it exists) followed by idempotent steps, so any call may stop anywhere (a deadline,
//! a crash) and the next one resumes: see `crate::api` (`account.rs`) for the steps.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::ids::{Collection, ItemId};

/// Most collections in one `GET /db` answer.
pub const MAX_COLLECTIONS_PAGE: usize = 100;

/// DynamoDB: most `Select=COUNT` query pages (each reads up to 1 MB; a small collection is one
/// page) one answer reads; past it the answer ends with a cursor that carries the count so far.
pub const MAX_COUNT_PAGES: usize = 200;

/// DynamoDB: how long one answer keeps counting before it ends with a cursor.
pub const COUNT_TIME_BUDGET: Duration = Duration::from_secs(3);

/// A collection of the caller's and how many items it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionCount {
    /// The collection's name.
    pub name: Collection,
    /// Its items, counted exactly.
    pub count: u64,
}

/// One page of the caller's collections.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CollectionsPage {
    /// Collections with at least one item, by name (byte order).
    pub collections: Vec<CollectionCount>,
    /// Where the next page starts; `None` exactly when nothing follows.
    pub next_cursor: Option<String>,
}

/// Where a collections listing resumes. Not signed: it names only the caller's own collections
/// and item ids (a forged one can only make the caller's own counts wrong), and the user comes
/// from the credentials, never from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum CollectionsCursor {
    /// Resume after this collection.
    #[serde(rename = "a")]
    After(String),
    /// Resume counting this collection after this item id with this many counted, then go on
    /// after it (DynamoDB, when a count ran out of budget).
    #[serde(rename = "p")]
    Partial(String, String, u64),
}

impl CollectionsCursor {
    /// The cursor's text: base64url of its JSON.
    pub(crate) fn encode(&self) -> String {
        // Serializing a plain enum of strings and a number cannot fail.
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Parses and checks a cursor: names and ids must be valid ones.
    pub(crate) fn decode(text: &str) -> Result<Self, StoreError> {
        let bad = || StoreError::InvalidCursor("not a collections cursor".into());
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
        let cursor: Self = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        let valid = match &cursor {
            Self::After(c) => Collection::parse(c).is_ok(),
            Self::Partial(c, id, _) => Collection::parse(c).is_ok() && ItemId::parse(id).is_ok(),
        };
        valid.then_some(cursor).ok_or_else(bad)
    }

    /// The collection the listing continues from, and whether that one is itself still due.
    #[cfg(feature = "embedded")]
    pub(crate) fn start(&self) -> (&str, bool) {
        match self {
            Self::After(c) => (c, false),
            Self::Partial(c, _, _) => (c, true),
        }
    }
}

/// The settle time of an account deletion whose backend needs none (SQLite checks the marker
/// inside each write's own transaction).
#[cfg(feature = "embedded")]
pub(crate) const NO_SETTLE: Duration = Duration::ZERO;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        for c in [
            CollectionsCursor::After("todos".into()),
            CollectionsCursor::Partial("notes".into(), "a.b-c".into(), 12),
        ] {
            assert_eq!(CollectionsCursor::decode(&c.encode()), Ok(c));
        }
        let bad = [
            "",
            "!!",
            &URL_SAFE_NO_PAD.encode(br#"{"a":"no/slash"}"#),
            &URL_SAFE_NO_PAD.encode(br#"{"p":["ok","..",1]}"#),
            &URL_SAFE_NO_PAD.encode(br#"{"x":1}"#),
        ];
        for text in bad {
            assert!(
                matches!(
                    CollectionsCursor::decode(text),
                    Err(StoreError::InvalidCursor(_))
                ),
                "{text}"
            );
        }
    }
}
