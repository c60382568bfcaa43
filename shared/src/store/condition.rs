//! The precondition of a write (RFC 9110 §13.1), as both backends evaluate it atomically with
//! the write: SQLite inside the transaction that holds the write lock, DynamoDB as the write's
//! `ConditionExpression` (see `dynamo_condition.rs`). The API parses the headers into it
//! (`api/conditions.rs`); the store never sees header text.

use crate::ids::Version;

use super::StoreError;

/// The entity tags one conditional header names, reduced to what can match an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tags {
    /// `*`: any current item.
    Any,
    /// A list of tags, as the versions they name (sorted, no duplicates). Tags that name no
    /// version (`"abc"`, `"01"`, `"0"`, and weak tags under strong comparison) are left out:
    /// they can never match, so the list may be empty.
    OneOf(Vec<Version>),
}

impl Tags {
    /// Whether the tags match the item's current state (`None`: no item).
    pub fn matches(&self, current: Option<Version>) -> bool {
        match (self, current) {
            (_, None) => false,
            (Tags::Any, Some(_)) => true,
            (Tags::OneOf(vs), Some(v)) => vs.binary_search(&v).is_ok(),
        }
    }
}

/// The conditions of one write: `If-Match` and `If-None-Match`, both of which must hold
/// (RFC 9110 §13.2.2 evaluates If-Match first; for a write either failing is 412, so the
/// order does not change the answer).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Condition {
    /// `If-Match`: the item must exist and match (strong comparison).
    pub if_match: Option<Tags>,
    /// `If-None-Match`: the item must be absent or match none of the tags (weak comparison).
    pub if_none_match: Option<Tags>,
}

impl Condition {
    /// No condition: write whatever is there.
    pub const NONE: Condition = Condition {
        if_match: None,
        if_none_match: None,
    };

    /// `If-Match: "<v>"`: only the item at exactly this version.
    pub fn if_match(v: Version) -> Self {
        Self {
            if_match: Some(Tags::OneOf(vec![v])),
            if_none_match: None,
        }
    }

    /// `If-None-Match: *`: create only.
    pub fn create_only() -> Self {
        Self {
            if_match: None,
            if_none_match: Some(Tags::Any),
        }
    }

    /// Whether the `If-Match` part holds for the item's current state.
    pub fn if_match_holds(&self, current: Option<Version>) -> bool {
        self.if_match.as_ref().is_none_or(|t| t.matches(current))
    }

    /// Whether the `If-None-Match` part holds for the item's current state.
    pub fn if_none_match_holds(&self, current: Option<Version>) -> bool {
        self.if_none_match
            .as_ref()
            .is_none_or(|t| !t.matches(current))
    }

    /// Whether a write may happen to the item in this state.
    pub fn holds(&self, current: Option<Version>) -> bool {
        self.if_match_holds(current) && self.if_none_match_holds(current)
    }

    /// `Ok` when the write may happen, else `PreconditionFailed`.
    pub(crate) fn check(&self, current: Option<Version>) -> Result<(), StoreError> {
        if self.holds(current) {
            Ok(())
        } else {
            Err(StoreError::PreconditionFailed)
        }
    }

    /// What a write that needs an existing item (PATCH, DELETE) fails with when there is none:
    /// `PreconditionFailed` when the condition does not hold for an absent item (an `If-Match`
    /// on nothing is a lost race, our choice in the contract), else `NotFound`.
    pub(crate) fn absent_error(&self) -> StoreError {
        if self.holds(None) {
            StoreError::NotFound
        } else {
            StoreError::PreconditionFailed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(n: u64) -> Version {
        Version::new(n).unwrap()
    }

    #[test]
    fn evaluation_table() {
        let one_of = |ns: &[u64]| Tags::OneOf(ns.iter().map(|n| v(*n)).collect());
        let cases = [
            // (if_match, if_none_match, current, holds)
            (None, None, None, true),
            (None, None, Some(3), true),
            (Some(Tags::Any), None, None, false),
            (Some(Tags::Any), None, Some(3), true),
            (Some(one_of(&[1, 3])), None, Some(3), true),
            (Some(one_of(&[1, 2])), None, Some(3), false),
            (Some(one_of(&[])), None, Some(3), false),
            (Some(one_of(&[3])), None, None, false),
            (None, Some(Tags::Any), None, true),
            (None, Some(Tags::Any), Some(3), false),
            (None, Some(one_of(&[3])), Some(3), false),
            (None, Some(one_of(&[2])), Some(3), true),
            (None, Some(one_of(&[3])), None, true),
            (None, Some(one_of(&[])), Some(3), true),
            (Some(Tags::Any), Some(one_of(&[2])), Some(3), true),
            (Some(Tags::Any), Some(one_of(&[3])), Some(3), false),
            (Some(one_of(&[3])), Some(Tags::Any), Some(3), false),
        ];
        for (if_match, if_none_match, current, holds) in cases {
            let c = Condition {
                if_match: if_match.clone(),
                if_none_match: if_none_match.clone(),
            };
            assert_eq!(c.holds(current.map(v)), holds, "{c:?} on {current:?}");
        }
        assert_eq!(Condition::NONE.absent_error(), StoreError::NotFound);
        assert_eq!(
            Condition::create_only().absent_error(),
            StoreError::NotFound
        );
        assert_eq!(
            Condition::if_match(v(1)).absent_error(),
            StoreError::PreconditionFailed
        );
    }
}
