//! List cursors, and the pagination plan both backends follow.
//!
//! A cursor is `base64url(format byte ‖ last id ‖ HMAC-SHA256(key, binding ‖ format ‖ last id))`.
//! The binding (user, collection, prefix, order and, for a filtered listing, the filter's
//! canonical text; length-prefixed so no two differ only in where one field ends) is not in the cursor but recomputed from the request, so a cursor made for
//! another user, collection or query fails the MAC exactly like an altered one. Limit and session
//! are deliberately not bound: a client may change the page size, and a cursor outlives a login.
//! The last id is not secret (it is the caller's own item), so the cursor is signed, not sealed.

use aws_lc_rs::hmac;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::filter::Filter;
use super::{Item, ListQuery, Order, Page, StoreError, MAX_LIST_LIMIT, MAX_PAGE_DATA_BYTES};
use crate::ids::{Collection, ItemId, UserId};
use crate::secret::SecretBytes;

/// Bumped if the cursor's layout ever changes, so old cursors fail cleanly.
const FORMAT: u8 = 1;
const TAG_LEN: usize = 32;
const MIN_KEY_LEN: usize = 16;
const DOMAIN: &[u8] = b"miniapp-list-cursor-v1\0";
/// Longest id the id rules allow; a longer prefix matches nothing.
const MAX_ID_LEN: usize = 128;
/// Above every byte an id may hold (ids are ASCII up to `z`): the open end of a key range.
#[cfg_attr(not(feature = "embedded"), allow(dead_code))]
pub(crate) const ABOVE_ALL_IDS: &str = "\u{7f}";

/// The cursor keys: the first signs new cursors, every one verifies, so that cursors handed out
/// before a key rotation keep working while their key is still listed.
#[derive(Debug, Clone)]
pub struct CursorKeys {
    keys: Vec<SecretBytes>,
}

impl CursorKeys {
    /// `signing` signs and verifies; `also_verify` (older keys) only verify.
    pub fn new(signing: SecretBytes, also_verify: Vec<SecretBytes>) -> Self {
        let mut keys = vec![signing];
        keys.extend(also_verify);
        Self { keys }
    }

    fn signing(&self) -> &SecretBytes {
        // `new` always puts the signing key first.
        &self.keys[0]
    }
}

impl From<SecretBytes> for CursorKeys {
    fn from(key: SecretBytes) -> Self {
        Self::new(key, Vec::new())
    }
}

/// Refuses cursor keys too short to sign anything.
pub(crate) fn check_key(keys: &CursorKeys) -> Result<(), StoreError> {
    for key in &keys.keys {
        if key.expose().len() < MIN_KEY_LEN {
            return Err(StoreError::Config(format!(
                "a cursor key has {} bytes; at least {MIN_KEY_LEN} are needed",
                key.expose().len()
            )));
        }
    }
    Ok(())
}

/// What a listing will read: the range of ids, where to resume, and how many to fetch.
#[derive(Debug)]
pub(crate) struct ListPlan {
    /// Ids must start with this ("" = any id).
    pub(crate) prefix: String,
    /// Direction of the listing.
    pub(crate) order: Order,
    /// Items to return at most.
    pub(crate) limit: usize,
    /// Resume strictly after (asc) or before (desc) this id.
    pub(crate) after: Option<ItemId>,
    /// The prefix holds a byte no id can hold: the page is empty without asking the backend.
    pub(crate) matches_nothing: bool,
    binding: Vec<u8>,
}

impl ListPlan {
    /// Checks the cursor against this exact query and works out what to read.
    pub(crate) fn new(
        key: &CursorKeys,
        user: &UserId,
        coll: &Collection,
        q: &ListQuery,
    ) -> Result<Self, StoreError> {
        Self::bound(key, user, coll, q, None)
    }

    /// As [`Self::new`], for a filtered listing: the cursor binds the filter too.
    pub(crate) fn filtered(
        key: &CursorKeys,
        user: &UserId,
        coll: &Collection,
        q: &ListQuery,
        filter: &Filter,
    ) -> Result<Self, StoreError> {
        Self::bound(key, user, coll, q, Some(&filter.to_string()))
    }

    fn bound(
        key: &CursorKeys,
        user: &UserId,
        coll: &Collection,
        q: &ListQuery,
        filter: Option<&str>,
    ) -> Result<Self, StoreError> {
        let prefix = q.prefix.clone().unwrap_or_default();
        let mut binding = binding(user, coll, &prefix, q.order);
        if let Some(filter) = filter {
            // Only filtered listings add this, so unfiltered cursors stay as they were.
            binding.push(b'w');
            binding.extend_from_slice(&(filter.len() as u32).to_be_bytes());
            binding.extend_from_slice(filter.as_bytes());
        }
        let after = match q.cursor.as_deref() {
            None | Some("") => None,
            Some(c) => Some(open(key, &binding, c)?),
        };
        let matches_nothing = prefix.len() > MAX_ID_LEN || !prefix.bytes().all(is_id_byte);
        Ok(Self {
            prefix,
            order: q.order,
            limit: q.limit.clamp(1, MAX_LIST_LIMIT) as usize,
            after,
            matches_nothing,
            binding,
        })
    }

    /// Items to ask the backend for: one more than the page, to know whether anything follows.
    pub(crate) fn fetch(&self) -> usize {
        self.limit + 1
    }

    /// The half-open id range `[lo, hi)` of the prefix, for range scans.
    #[cfg_attr(not(feature = "embedded"), allow(dead_code))]
    pub(crate) fn prefix_range(&self) -> (String, String) {
        let mut hi = self.prefix.clone().into_bytes();
        match hi.pop() {
            // Every prefix byte is an id byte (ASCII below 0x7f), so +1 stays ASCII.
            Some(last) => {
                hi.push(last + 1);
                (
                    self.prefix.clone(),
                    String::from_utf8_lossy(&hi).into_owned(),
                )
            }
            None => (String::new(), ABOVE_ALL_IDS.to_owned()),
        }
    }

    /// True once a backend has read enough: [`Self::fetch`] items, or more than
    /// [`MAX_PAGE_DATA_BYTES`] of data (`data_bytes`, the sum over the items read so far).
    pub(crate) fn full(&self, items: usize, data_bytes: usize) -> bool {
        items >= self.fetch() || data_bytes > MAX_PAGE_DATA_BYTES
    }

    /// Cuts what the backend returned (read until [`Self::full`]) into a page and its cursor:
    /// at most `limit` items whose data fits in [`MAX_PAGE_DATA_BYTES`], and at least one.
    pub(crate) fn finish(&self, key: &CursorKeys, mut items: Vec<Item>) -> Page {
        let keep = fitting(&items).min(self.limit);
        if items.len() <= keep {
            return Page {
                items,
                next_cursor: None,
            };
        }
        items.truncate(keep);
        let next_cursor = items
            .last()
            .map(|last| seal(key.signing(), &self.binding, &last.id));
        Page { items, next_cursor }
    }
}

impl ListPlan {
    /// As [`Self::finish`] for a filtered listing, whose reads stopped either when
    /// [`Self::full`] or after [`MAX_FILTER_SCAN`](super::MAX_FILTER_SCAN) stored items, the last of which is
    /// `scan_end` (`None` when the reads ran out of items first): then the page may be short or
    /// empty, and its cursor resumes after `scan_end`.
    pub(crate) fn finish_filtered(
        &self,
        key: &CursorKeys,
        items: Vec<Item>,
        scan_end: Option<ItemId>,
    ) -> Page {
        let keep = if items.is_empty() {
            0
        } else {
            fitting(&items).min(self.limit)
        };
        if items.len() > keep {
            return self.finish(key, items);
        }
        let next_cursor = scan_end.map(|last| seal(key.signing(), &self.binding, &last));
        Page { items, next_cursor }
    }
}

/// How many leading items fit in the page's data budget (one at least, if there is one).
fn fitting(items: &[Item]) -> usize {
    let mut total = 0usize;
    let fit = items
        .iter()
        .take_while(|item| {
            total = total.saturating_add(item.data.as_str().len());
            total <= MAX_PAGE_DATA_BYTES
        })
        .count();
    fit.max(1)
}

fn is_id_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-'
}

fn binding(user: &UserId, coll: &Collection, prefix: &str, order: Order) -> Vec<u8> {
    binding_of(user.as_str(), coll.as_str(), prefix, order)
}

/// The binding of a listing in `scope`: a collection's name, or a key space of its own that no
/// collection name can spell (`#files`, see `store/files.rs`).
pub(crate) fn binding_of(user: &str, scope: &str, prefix: &str, order: Order) -> Vec<u8> {
    let mut out = DOMAIN.to_vec();
    for field in [user, scope, prefix] {
        out.extend_from_slice(&(field.len() as u32).to_be_bytes());
        out.extend_from_slice(field.as_bytes());
    }
    out.push(match order {
        Order::Asc => b'a',
        Order::Desc => b'd',
    });
    out
}

fn tag(key: &SecretBytes, binding: &[u8], payload: &[u8]) -> hmac::Tag {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key.expose());
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(binding);
    ctx.update(payload);
    ctx.sign()
}

/// A cursor resuming after `last`, signed with the signing key.
pub(crate) fn seal_with(keys: &CursorKeys, binding: &[u8], last: &ItemId) -> String {
    seal(keys.signing(), binding, last)
}

fn seal(key: &SecretBytes, binding: &[u8], last: &ItemId) -> String {
    let mut bytes = vec![FORMAT];
    bytes.extend_from_slice(last.as_str().as_bytes());
    let t = tag(key, binding, &bytes);
    bytes.extend_from_slice(t.as_ref());
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn open(keys: &CursorKeys, binding: &[u8], cursor: &str) -> Result<ItemId, StoreError> {
    let invalid = |why: &str| StoreError::InvalidCursor(why.to_owned());
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| invalid("not a cursor this service issued"))?;
    if bytes.len() < 1 + TAG_LEN {
        return Err(invalid("not a cursor this service issued"));
    }
    let (payload, mac) = bytes.split_at(bytes.len() - TAG_LEN);
    let mut signed = binding.to_vec();
    signed.extend_from_slice(payload);
    // Constant-time comparison inside aws-lc; a few listed keys at most.
    let genuine = keys.keys.iter().any(|key| {
        let hkey = hmac::Key::new(hmac::HMAC_SHA256, key.expose());
        hmac::verify(&hkey, &signed, mac).is_ok()
    });
    if !genuine {
        return Err(invalid(
            "the cursor was altered, or made for another user, collection, prefix, order or \
             where expression",
        ));
    }
    match payload.split_first() {
        Some((&FORMAT, id)) => std::str::from_utf8(id)
            .ok()
            .and_then(|s| ItemId::parse(s).ok())
            .ok_or_else(|| invalid("the cursor names no valid id")),
        _ => Err(invalid("unknown cursor format")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> CursorKeys {
        SecretBytes::new(vec![7; 32]).into()
    }

    fn query(prefix: Option<&str>, order: Order, cursor: Option<String>) -> ListQuery {
        ListQuery {
            prefix: prefix.map(str::to_owned),
            order,
            limit: 10,
            cursor,
        }
    }

    fn ids() -> (UserId, Collection) {
        (
            UserId::parse("u1").unwrap(),
            Collection::parse("c").unwrap(),
        )
    }

    #[test]
    fn round_trips_and_binds_the_query() {
        let (u, c) = ids();
        let b = binding(&u, &c, "p", Order::Asc);
        let cur = seal(key().signing(), &b, &ItemId::parse("p7").unwrap());
        let plan = ListPlan::new(
            &key(),
            &u,
            &c,
            &query(Some("p"), Order::Asc, Some(cur.clone())),
        );
        assert_eq!(plan.unwrap().after.unwrap().as_str(), "p7");
        for q in [
            query(Some("q"), Order::Asc, Some(cur.clone())),
            query(Some("p"), Order::Desc, Some(cur.clone())),
            query(None, Order::Asc, Some(cur.clone())),
        ] {
            assert!(matches!(
                ListPlan::new(&key(), &u, &c, &q),
                Err(StoreError::InvalidCursor(_))
            ));
        }
        let other_key = SecretBytes::new(vec![8; 32]).into();
        let q = query(Some("p"), Order::Asc, Some(cur));
        assert!(ListPlan::new(&other_key, &u, &c, &q).is_err());
    }

    #[test]
    fn cursors_survive_a_key_rotation() {
        let (u, c) = ids();
        let (old, new) = (SecretBytes::new(vec![7; 32]), SecretBytes::new(vec![9; 32]));
        let b = binding(&u, &c, "", Order::Asc);
        let before = seal(&old, &b, &ItemId::parse("a1").unwrap());
        let q = query(None, Order::Asc, Some(before));
        // After the rotation the new key signs and the old one is still listed: accepted.
        let rotated = CursorKeys::new(new.clone(), vec![old]);
        let plan = ListPlan::new(&rotated, &u, &c, &q).unwrap();
        assert_eq!(plan.after.unwrap().as_str(), "a1");
        // New cursors are signed with the new key only.
        let items = (0..3)
            .map(|i| Item {
                id: ItemId::parse(&format!("a{i}")).unwrap(),
                version: crate::ids::Version::FIRST,
                created_at: crate::time_fmt::Timestamp::from_unix(0),
                updated_at: crate::time_fmt::Timestamp::from_unix(0),
                data: crate::store::ItemData::from_object(&Default::default()),
            })
            .collect();
        let plan = ListPlan::new(&rotated, &u, &c, &query(None, Order::Asc, None)).unwrap();
        let mut plan = plan;
        plan.limit = 2;
        let next = plan.finish(&rotated, items).next_cursor.unwrap();
        let q = query(None, Order::Asc, Some(next));
        assert!(ListPlan::new(&new.into(), &u, &c, &q).is_ok());
        // Once the old key is retired, its cursors are refused.
        let q = query(
            None,
            Order::Asc,
            Some(seal(
                &SecretBytes::new(vec![7; 32]),
                &b,
                &ItemId::parse("a1").unwrap(),
            )),
        );
        assert!(ListPlan::new(&SecretBytes::new(vec![9; 32]).into(), &u, &c, &q).is_err());
    }

    #[test]
    fn garbage_is_invalid() {
        let (u, c) = ids();
        for g in [
            "!",
            "AAAA",
            "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
        ] {
            let q = query(None, Order::Asc, Some(g.to_owned()));
            assert!(matches!(
                ListPlan::new(&key(), &u, &c, &q),
                Err(StoreError::InvalidCursor(_))
            ));
        }
    }

    #[test]
    fn prefix_ranges() {
        let (u, c) = ids();
        let plan = ListPlan::new(&key(), &u, &c, &query(Some("az"), Order::Asc, None)).unwrap();
        assert_eq!(plan.prefix_range(), ("az".to_owned(), "a{".to_owned()));
        let plan = ListPlan::new(&key(), &u, &c, &query(Some("a/"), Order::Asc, None)).unwrap();
        assert!(plan.matches_nothing);
        let plan = ListPlan::new(&key(), &u, &c, &query(None, Order::Asc, None)).unwrap();
        assert_eq!(plan.prefix_range().1, ABOVE_ALL_IDS);
    }
}
