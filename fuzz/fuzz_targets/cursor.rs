//! List cursors (`store/cursor.rs`): the decoder that checks a client's `cursor` against the
//! listing (user, collection, prefix, order) under every listed key. Oracles: a cursor sealed
//! for a listing opens to its id for that listing, also after a key rotation, and for no other
//! listing; anything a fuzzed cursor opens to is exactly the cursor the service would issue;
//! the prefix's id range brackets the prefix.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use miniapp_shared::fuzzing::{cursor_keys, open_cursor, seal_cursor};
use miniapp_shared::ids::{Collection, ItemId, UserId};
use miniapp_shared::store::{CursorKeys, ListQuery, Order, StoreError};

const OLD: [u8; 32] = [7; 32];
const NEW: [u8; 32] = [9; 32];

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    user: &'a str,
    collection: &'a str,
    prefix: Option<&'a str>,
    desc: bool,
    limit: u32,
    cursor: Option<&'a str>,
    /// Seal a cursor for this id (if valid) and check it round-trips.
    last: &'a str,
    /// Flip this byte of the sealed cursor to check it is then refused.
    flip: Option<(u8, u8)>,
    /// A different prefix for the mismatch check.
    other_prefix: &'a str,
}

fn order(desc: bool) -> Order {
    if desc {
        Order::Desc
    } else {
        Order::Asc
    }
}

fn query(prefix: Option<&str>, desc: bool, limit: u32, cursor: Option<String>) -> ListQuery {
    ListQuery {
        prefix: prefix.map(str::to_owned),
        order: order(desc),
        limit,
        cursor,
    }
}

fn rotated() -> CursorKeys {
    cursor_keys(NEW.to_vec(), vec![OLD.to_vec()])
}

fuzz_target!(|input: Input<'_>| {
    let (Ok(user), Ok(coll)) = (
        UserId::parse(input.user),
        Collection::parse(input.collection),
    ) else {
        return;
    };
    let keys = rotated();
    // 1. A fuzzed cursor: refused, or exactly what this service would have issued.
    let q = query(
        input.prefix,
        input.desc,
        input.limit,
        input.cursor.map(str::to_owned),
    );
    match open_cursor(&keys, &user, &coll, &q) {
        Ok(plan) => {
            if let Some((lo, hi)) = &plan.range {
                assert!(lo < hi, "{lo:?} {hi:?}");
                assert_eq!(lo.as_str(), input.prefix.unwrap_or(""));
            }
            if let Some(after) = &plan.after {
                let cursor = input.cursor.unwrap_or_default();
                let ours = [NEW, OLD].map(|k| {
                    seal_cursor(
                        &cursor_keys(k.to_vec(), vec![]),
                        &user,
                        &coll,
                        q.prefix.clone(),
                        q.order,
                        after,
                    )
                });
                assert!(
                    ours.iter().any(|c| c.as_deref() == Some(cursor)),
                    "forged cursor {cursor:?}"
                );
            }
        }
        Err(StoreError::InvalidCursor(_)) => {}
        Err(e) => panic!("unexpected error {e:?}"),
    }
    // 2. Round trip, before and after a key rotation.
    let Ok(last) = ItemId::parse(input.last) else {
        return;
    };
    let prefix = input.prefix.map(str::to_owned);
    let sealed_old = seal_cursor(
        &cursor_keys(OLD.to_vec(), vec![]),
        &user,
        &coll,
        prefix.clone(),
        order(input.desc),
        &last,
    );
    let sealed = seal_cursor(
        &keys,
        &user,
        &coll,
        prefix.clone(),
        order(input.desc),
        &last,
    );
    for cursor in [sealed_old, sealed.clone()].into_iter().flatten() {
        let q = query(input.prefix, input.desc, input.limit, Some(cursor.clone()));
        match open_cursor(&keys, &user, &coll, &q) {
            Ok(plan) => assert_eq!(plan.after.as_ref(), Some(&last)),
            Err(e) => panic!("a sealed cursor was refused: {e:?}"),
        }
        // Another order, or another prefix, is another listing.
        let q = query(input.prefix, !input.desc, input.limit, Some(cursor.clone()));
        assert!(open_cursor(&keys, &user, &coll, &q).is_err());
        if input.prefix.unwrap_or("") != input.other_prefix {
            let q = query(
                Some(input.other_prefix),
                input.desc,
                input.limit,
                Some(cursor.clone()),
            );
            assert!(open_cursor(&keys, &user, &coll, &q).is_err());
        }
        // A retired key no longer opens it.
        let only_other = cursor_keys([1; 32].to_vec(), vec![]);
        let q = query(input.prefix, input.desc, input.limit, Some(cursor.clone()));
        assert!(open_cursor(&only_other, &user, &coll, &q).is_err());
        if let Some((at, mask)) = input.flip.filter(|(_, m)| *m != 0) {
            let mut bytes = cursor.into_bytes();
            let i = usize::from(at) % bytes.len();
            bytes[i] ^= mask;
            if let Ok(altered) = String::from_utf8(bytes) {
                let q = query(input.prefix, input.desc, input.limit, Some(altered.clone()));
                if let Ok(plan) = open_cursor(&keys, &user, &coll, &q) {
                    // Only the empty cursor means "no cursor"; anything else altered must fail.
                    assert!(
                        altered.is_empty() && plan.after.is_none(),
                        "{altered:?} opened"
                    );
                }
            }
        }
    }
});
