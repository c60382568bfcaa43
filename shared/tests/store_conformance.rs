//! One conformance suite for the store interface, run against both backends: the embedded
//! SQLite store (a fresh file per test) and the DynamoDB store against a real `moto_server`
//! (one server per test binary, fresh tables per test). Every case is written once, in `cases`,
//! and instantiated for each backend by `conformance!`.
//!
//! Needs `moto_server`: run `bash scripts/ensure-venv.sh` first.

// The cases are test bodies that `conformance!` turns into #[test] fns, which clippy cannot see:
// a failed unwrap or expect in them is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use miniapp_shared::http::ErrorCode;
use miniapp_shared::ids::{Collection, ItemId, SessionId, UserId, Version};
use miniapp_shared::secret::SecretBytes;
use miniapp_shared::store::{
    Alongside, Condition, DynamoStore, JsonObject, ListQuery, Order, SessionRecord, Store,
    StoreConfig, StoreError, StoreKind, Tags, MAX_DATA_DYNAMO_BYTES, MAX_DATA_JSON_BYTES,
    SESSION_TTL_GRACE_SECS,
};
use miniapp_shared::time_fmt::Timestamp;
use serde_json::{json, Value};
use test_support::fixtures::CURSOR_KEY;
use test_support::moto::MotoServer;

/// A fixed "now" for the tests (2026-11-25T14:36:40Z).
const T0: Timestamp = Timestamp::from_unix(1_795_617_400);

fn user(s: &str) -> UserId {
    UserId::parse(s).expect("test user id")
}

fn coll(s: &str) -> Collection {
    Collection::parse(s).expect("test collection")
}

fn id(s: &str) -> ItemId {
    ItemId::parse(s).expect("test item id")
}

fn obj(v: Value) -> JsonObject {
    match v {
        Value::Object(o) => o,
        other => panic!("not an object: {other}"),
    }
}

fn version(v: u64) -> Version {
    Version::new(v).expect("test version")
}

/// A store plus whatever must outlive it.
struct Backend {
    store: Store,
    _dir: Option<tempfile::TempDir>,
}

impl Backend {
    async fn embedded() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let cfg = StoreConfig {
            kind: StoreKind::Embedded(dir.path().join("nested/data.db")),
            cursor_key: SecretBytes::new(CURSOR_KEY.to_vec()).into(),
        };
        let store = Store::open(&cfg).await.expect("open embedded store");
        Self {
            store,
            _dir: Some(dir),
        }
    }

    async fn dynamo(case: &str) -> Self {
        let tag = format!("{case}-{}", unique_tag());
        let store = dynamo_store(&shared_moto().endpoint(), &tag).await;
        Self { store, _dir: None }
    }
}

/// DynamoDB: bucket items live in the sessions table, keyed apart from sessions, with the
/// table's TTL attribute set so they expire.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamo_rate_buckets_carry_the_ttl_attribute() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use miniapp_shared::ratelimit::Rate;
    let tag = format!("ttl-{}", unique_tag());
    let endpoint = shared_moto().endpoint();
    let store = dynamo_store(&endpoint, &tag).await;
    let now_us = 1_795_617_400 * 1_000_000;
    let rate = Rate::new(1, 60, 5).unwrap();
    store
        .take_rate_token("rate#login#192.0.2.9", rate, now_us, None)
        .await
        .unwrap();
    let client = aws_sdk_dynamodb::Client::new(&local_sdk_config(&endpoint).await);
    let item = client
        .get_item()
        .table_name(format!("sessions-{tag}"))
        .key("pk", AttributeValue::S("rate#login#192.0.2.9".into()))
        .send()
        .await
        .unwrap()
        .item
        .expect("the bucket item");
    let number = |name: &str| match item.get(name) {
        Some(AttributeValue::N(n)) => n.parse::<u64>().unwrap(),
        other => panic!("{name}: {other:?}"),
    };
    // One token a minute: the state moved one minute on.
    assert_eq!(number("tat"), now_us + 60_000_000);
    // Five tokens of a minute: surely full again 5 minutes on; expires a minute after that.
    let ttl = number("ttl");
    assert!(
        (1_795_617_400 + 300..=1_795_617_400 + 362).contains(&ttl),
        "{ttl}"
    );
}

/// One moto_server for the whole test binary; it dies with the process (see
/// `test_support::moto`).
fn shared_moto() -> &'static MotoServer {
    static MOTO: OnceLock<MotoServer> = OnceLock::new();
    MOTO.get_or_init(MotoServer::start)
}

/// An SDK configuration for a local server, set explicitly (not through the process
/// environment) so that parallel tests cannot disturb each other and nothing probes instance
/// metadata.
async fn local_sdk_config(endpoint: &str) -> SdkConfig {
    sdk_config_with_secret(endpoint, "test").await
}

/// The same with the tests' access key and `secret` (the test server knows `test`).
async fn sdk_config_with_secret(endpoint: &str, secret: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", secret, None, None, "store-tests"))
        .load()
        .await
}

/// A short random tag, so that the tables of parallel tests never meet.
fn unique_tag() -> String {
    let mut bytes = [0u8; 6];
    aws_lc_rs::rand::fill(&mut bytes).expect("random");
    hex::encode(bytes)
}

/// The tables of `tag`, created at open or not.
fn dynamo_config(tag: &str, create_tables: bool) -> StoreConfig {
    StoreConfig {
        kind: StoreKind::Dynamo {
            sessions_table: format!("sessions-{tag}"),
            data_table: format!("data-{tag}"),
            create_tables,
        },
        cursor_key: SecretBytes::new(CURSOR_KEY.to_vec()).into(),
    }
}

async fn dynamo_store(endpoint: &str, tag: &str) -> Store {
    let sdk = local_sdk_config(endpoint).await;
    let cfg = dynamo_config(tag, true);
    let store = DynamoStore::open_with_sdk_config(&sdk, &cfg)
        .await
        .expect("open DynamoDB store");
    Store::Dynamo(store)
}

/// Instantiates every case for both backends.
macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let backend = super::Backend::embedded().await;
                    super::cases::$case(&backend.store).await;
                }
            )*
        }
        mod dynamo {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let backend = super::Backend::dynamo(stringify!($case)).await;
                    super::cases::$case(&backend.store).await;
                }
            )*
        }
    };
}

conformance!(
    warm_up_answers,
    crud_and_versions,
    put_conditions,
    patch_semantics_and_conditions,
    delete_conditions,
    rfc_conditions_on_put,
    rfc_conditions_on_patch_and_delete,
    isolation_between_users_and_collections,
    pagination_walks_every_item_once,
    next_cursor_is_null_exactly_at_the_end,
    prefixes_that_match_nothing,
    cursors_are_bound_to_their_query,
    concurrent_patches_lose_nothing,
    concurrent_conditional_writes_are_atomic,
    awkward_json_round_trips,
    size_limit_is_enforced_before_the_backend,
    sessions_expire_by_ttl,
    sessions_revocation,
    refresh_generation_advances_once,
    sessions_keep_the_union_id,
    big_items_patch_like_small_ones,
    rate_buckets_take_refill_and_refuse,
    rate_leases_take_from_the_upper_half_only,
    rate_leases_are_atomic_under_concurrency,
    rate_pairs_take_from_both_buckets,
    rate_buckets_are_atomic_under_concurrency,
    // Batches and filters (store_conformance/batch_filter.rs).
    batches_write_all_or_nothing,
    batch_total_size_is_bounded,
    concurrent_batches_are_atomic,
    filters_agree_on_one_table,
    filtered_pages_read_a_bounded_number_of_items,
    batches_register_collections_and_respect_deletion,
    collections_are_counted_per_user,
    collections_page_and_cursor,
    account_deletion_removes_one_user_entirely,
    account_deletion_marker_is_idempotent,
    file_records_round_trip,
    file_records_are_apart_from_items_and_users,
    // Sessions read with what follows (store_conformance/session_reads.rs).
    sessions_are_read_with_what_follows,
    writes_after_a_session_read_respect_deletion,
);

#[path = "store_conformance/batch_filter.rs"]
mod batch_filter;
#[path = "store_conformance/session_reads.rs"]
mod session_reads;

mod cases {
    pub(crate) use super::account_cases::*;
    pub(crate) use super::batch_filter::*;
    pub(crate) use super::session_reads::*;
    use super::*;

    fn file(name: &str, size: u64) -> miniapp_shared::store::FileRecord {
        miniapp_shared::store::FileRecord {
            id: miniapp_shared::store::FileId::generate(),
            name: name.into(),
            content_type: "image/png".into(),
            size,
            status: miniapp_shared::store::FileStatus::Pending,
            created_at: T0,
        }
    }

    pub(super) async fn file_records_round_trip(store: &Store) {
        use miniapp_shared::store::{FileStatus, FileUsage};
        let u = user("u1");
        let recs: Vec<_> = (0..3).map(|i| file(&format!("{i}.png"), 10 + i)).collect();
        for r in &recs {
            store.create_file(&u, r).await.unwrap();
        }
        assert_eq!(
            store.get_file(&u, &recs[0].id).await.unwrap().as_ref(),
            Some(&recs[0])
        );
        store.mark_file_ready(&u, &recs[1].id).await.unwrap();
        let got = store.get_file(&u, &recs[1].id).await.unwrap().unwrap();
        assert_eq!(got.status, FileStatus::Ready);
        assert_eq!(
            store.file_usage(&u).await.unwrap(),
            FileUsage {
                files: 3,
                bytes: 33
            }
        );
        let first = store.list_files(&u, 2, None).await.unwrap();
        assert_eq!(first.files.len(), 2);
        let rest = store
            .list_files(&u, 2, first.next_cursor.as_deref())
            .await
            .unwrap();
        assert_eq!((rest.files.len(), rest.next_cursor), (1, None));
        assert_eq!(rest.files[0].id, recs[2].id);
        store.delete_file(&u, &recs[0].id).await.unwrap();
        assert_eq!(
            store.delete_file(&u, &recs[0].id).await,
            Err(StoreError::NotFound)
        );
        assert_eq!(
            store.mark_file_ready(&u, &recs[0].id).await,
            Err(StoreError::NotFound)
        );
        assert_eq!(store.get_file(&u, &recs[0].id).await.unwrap(), None);
        assert_eq!(
            store.file_usage(&u).await.unwrap(),
            FileUsage {
                files: 2,
                bytes: 23
            }
        );
    }

    pub(super) async fn file_records_are_apart_from_items_and_users(store: &Store) {
        let (a, b) = (user("a"), user("b"));
        let r = file("x.png", 5);
        store.create_file(&a, &r).await.unwrap();
        assert_eq!(store.get_file(&b, &r.id).await.unwrap(), None);
        assert_eq!(
            store.delete_file(&b, &r.id).await,
            Err(StoreError::NotFound)
        );
        assert!(store
            .list_files(&b, 10, None)
            .await
            .unwrap()
            .files
            .is_empty());
        // No collection lists them, and items do not count as files.
        for c in ["files", "_files", "a-files"] {
            let page = store
                .list_items(
                    &a,
                    &coll(c),
                    &ListQuery {
                        prefix: None,
                        order: Order::Asc,
                        limit: 10,
                        cursor: None,
                    },
                )
                .await
                .unwrap();
            assert!(page.items.is_empty(), "{c}");
        }
        store
            .create_item(&a, &coll("files"), &id(r.id.as_str()), obj(json!({})), T0)
            .await
            .unwrap();
        assert_eq!(store.file_usage(&a).await.unwrap().files, 1);
        // A collection listing's cursor does not open a file listing.
        for i in 0..3 {
            store
                .create_item(
                    &a,
                    &coll("files"),
                    &id(&format!("i{i}")),
                    obj(json!({})),
                    T0,
                )
                .await
                .unwrap();
        }
        let page = store
            .list_items(
                &a,
                &coll("files"),
                &ListQuery {
                    prefix: None,
                    order: Order::Asc,
                    limit: 1,
                    cursor: None,
                },
            )
            .await
            .unwrap();
        let err = store.list_files(&a, 1, page.next_cursor.as_deref()).await;
        assert!(matches!(err, Err(StoreError::InvalidCursor(_))), "{err:?}");
    }
    use miniapp_shared::ratelimit::{Outcome, Rate};
    use miniapp_shared::store::RateTake;

    const NOW_US: u64 = 1_795_617_400 * 1_000_000;

    pub(crate) async fn rate_buckets_take_refill_and_refuse(s: &Store) {
        // Three tokens, one back every 10 s.
        let rate = Rate::new(1, 10, 3).unwrap();
        let key = "rate#user#alice";
        for hint in [None, Some(0), None] {
            let got = s.take_rate_token(key, rate, NOW_US, hint).await.unwrap();
            assert!(matches!(got, Outcome::Allowed { .. }), "{got:?}");
        }
        // Empty: refused with the wait until the first token is back, whatever the hint says.
        for hint in [None, Some(0), Some(NOW_US)] {
            let got = s.take_rate_token(key, rate, NOW_US, hint).await.unwrap();
            match got {
                Outcome::Limited { wait_us, .. } => assert_eq!(wait_us, 10_000_000),
                other => panic!("{other:?}"),
            }
        }
        // Another key is its own bucket.
        let other = s.take_rate_token("rate#addr#192.0.2.1", rate, NOW_US, None);
        assert!(matches!(other.await.unwrap(), Outcome::Allowed { .. }));
        // 10 s later one token is back, and one only.
        let later = NOW_US + 10_000_000;
        let got = s.take_rate_token(key, rate, later, None).await.unwrap();
        assert!(matches!(got, Outcome::Allowed { .. }), "{got:?}");
        let got = s.take_rate_token(key, rate, later, None).await.unwrap();
        assert!(matches!(got, Outcome::Limited { .. }), "{got:?}");
        // A day later the bucket is full again (its stored state may have expired meanwhile).
        let day = NOW_US + 86_400_000_000;
        for _ in 0..3 {
            let got = s.take_rate_token(key, rate, day, None).await.unwrap();
            assert!(matches!(got, Outcome::Allowed { .. }), "{got:?}");
        }
        // Bucket items do not disturb sessions in the same table.
        assert!(s.get_session(&session_id(), T0).await.unwrap().is_none());
    }

    fn session_id() -> SessionId {
        SessionId::parse("abcdefghijklmnopqrstuvwxyz012345").unwrap()
    }

    pub(crate) async fn rate_buckets_are_atomic_under_concurrency(s: &Store) {
        let rate = Rate::new(1, 60, 10).unwrap();
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let s = s.clone();
                tokio::spawn(async move {
                    s.take_rate_token("rate#user#bob", rate, NOW_US, None)
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut allowed = 0;
        for t in tasks {
            if matches!(t.await.unwrap(), Outcome::Allowed { .. }) {
                allowed += 1;
            }
        }
        assert_eq!(
            allowed, 10,
            "exactly the burst, however the takes interleave"
        );
    }

    /// A lease (several tokens in one write) takes only what the bucket holds above half its
    /// burst; below that, one token at a time, down to the last; then refused like a take.
    pub(crate) async fn rate_leases_take_from_the_upper_half_only(s: &Store) {
        let rate = Rate::new(1, 60, 40).unwrap();
        let key = "rate#user#carol";
        let lease = |seen, want| s.take_rate_tokens(key, rate, NOW_US, seen, want);
        let first = lease(None, 16).await.unwrap();
        assert_eq!(first.tokens, 16, "{first:?}");
        let Outcome::Allowed { tat_us } = first.outcome else {
            panic!("{first:?}")
        };
        assert_eq!(tat_us, NOW_US + 16 * rate.interval_us);
        // 24 left, 4 above the reserve of 20; a stale view (a full bucket) changes nothing.
        let second = lease(Some(0), 16).await.unwrap();
        assert_eq!(second.tokens, 4, "{second:?}");
        for taken in 0..20 {
            let one = lease(Some(0), 16).await.unwrap();
            assert_eq!(one.tokens, 1, "token {taken} of the reserve: {one:?}");
        }
        let refused = lease(Some(tat_us), 16).await.unwrap();
        assert_eq!(refused.tokens, 0, "{refused:?}");
        match refused.outcome {
            Outcome::Limited { wait_us, .. } => assert_eq!(wait_us, rate.interval_us),
            other => panic!("{other:?}"),
        }
    }

    /// A pair of takes (a log-in's address and log-in buckets) takes from each bucket as two
    /// takes would, and answers each on its own: one bucket may refuse while the other allows.
    pub(crate) async fn rate_pairs_take_from_both_buckets(s: &Store) {
        let (address, login) = ("rate#addr#198.51.100.7", "rate#login#198.51.100.7");
        let (wide, narrow) = (Rate::new(1, 60, 3).unwrap(), Rate::new(1, 60, 2).unwrap());
        let take = |key, rate| RateTake {
            key,
            rate,
            now_us: NOW_US,
            seen: None,
            want: 1,
        };
        let pair = || s.take_rate_tokens_pair(take(address, wide), take(login, narrow));
        for n in 1..=2 {
            let (a, l) = pair().await;
            let (a, l) = (a.unwrap().outcome, l.unwrap().outcome);
            assert!(matches!(a, Outcome::Allowed { .. }), "pair {n}: {a:?}");
            assert!(matches!(l, Outcome::Allowed { .. }), "pair {n}: {l:?}");
        }
        // The log-in bucket's 2 are spent, the address bucket holds a third.
        let (a, l) = pair().await;
        let (a, l) = (a.unwrap(), l.unwrap());
        assert!(matches!(a.outcome, Outcome::Allowed { .. }), "{a:?}");
        assert_eq!(a.tokens, 1);
        assert!(matches!(l.outcome, Outcome::Limited { .. }), "{l:?}");
        assert_eq!(l.tokens, 0);
        // A single take sees what the pairs took.
        let after = s
            .take_rate_token(address, wide, NOW_US, None)
            .await
            .unwrap();
        assert!(matches!(after, Outcome::Limited { .. }), "{after:?}");
    }

    /// Concurrent leases never take more than the bucket holds, however they interleave.
    pub(crate) async fn rate_leases_are_atomic_under_concurrency(s: &Store) {
        let rate = Rate::new(1, 60, 24).unwrap();
        let tasks: Vec<_> = (0..24)
            .map(|_| {
                let s = s.clone();
                tokio::spawn(async move {
                    s.take_rate_tokens("rate#user#dave", rate, NOW_US, None, 8)
                        .await
                        .unwrap()
                        .tokens
                })
            })
            .collect();
        let mut taken = 0;
        for t in tasks {
            taken += t.await.unwrap();
        }
        // 24 leases of up to 8 ask for 192: the bucket's 24 are all taken (8, 4, then one at a
        // time below the reserve of 12), and no more.
        assert_eq!(taken, 24);
    }

    pub(crate) async fn warm_up_answers(s: &Store) {
        s.warm_up().await.expect("warm up");
        s.warm_up().await.expect("warm up twice");
    }

    pub(crate) async fn crud_and_versions(s: &Store) {
        let (u, c, i) = (user("alice"), coll("todos"), id("first"));
        assert_eq!(s.get_item(&u, &c, &i).await.unwrap(), None);

        let created = s
            .create_item(&u, &c, &i, obj(json!({"title": "a"})), T0)
            .await
            .unwrap();
        assert_eq!(created.version, Version::FIRST);
        assert_eq!((created.created_at, created.updated_at), (T0, T0));
        assert_eq!(s.get_item(&u, &c, &i).await.unwrap(), Some(created.clone()));

        let again = s.create_item(&u, &c, &i, obj(json!({})), T0).await;
        assert_eq!(again, Err(StoreError::PreconditionFailed));

        let later = T0.plus_secs(60);
        let data = obj(json!({"title": "b"}));
        let (replaced, was_created) = s
            .put_item(&u, &c, &i, data.clone(), Condition::NONE, later)
            .await
            .unwrap();
        assert!(!was_created);
        assert_eq!(replaced.version, version(2));
        assert_eq!(replaced.created_at, T0, "created_at is kept on replace");
        assert_eq!(replaced.updated_at, later);
        assert_eq!(replaced.data, data);
        assert_eq!(s.get_item(&u, &c, &i).await.unwrap(), Some(replaced));

        let (fresh, was_created) = s
            .put_item(
                &u,
                &c,
                &id("second"),
                obj(json!({})),
                Condition::NONE,
                later,
            )
            .await
            .unwrap();
        assert!(was_created);
        assert_eq!(fresh.version, Version::FIRST);
        assert_eq!(fresh.created_at, later);

        s.delete_item(&u, &c, &i, Condition::NONE).await.unwrap();
        assert_eq!(s.get_item(&u, &c, &i).await.unwrap(), None);
        assert_eq!(
            s.delete_item(&u, &c, &i, Condition::NONE).await,
            Err(StoreError::NotFound)
        );

        // A deleted item starts again at version 1.
        let reborn = s
            .create_item(&u, &c, &i, obj(json!({})), later)
            .await
            .unwrap();
        assert_eq!(reborn.version, Version::FIRST);
    }

    pub(crate) async fn put_conditions(s: &Store) {
        let (u, c, i) = (user("alice"), coll("todos"), id("x"));
        let put = |cond| s.put_item(&u, &c, &i, obj(json!({"v": 1})), cond, T0);

        assert_eq!(
            put(Condition::if_match(Version::FIRST)).await,
            Err(StoreError::PreconditionFailed),
            "If-Match on an absent item is 412"
        );
        assert_eq!(s.get_item(&u, &c, &i).await.unwrap(), None);

        let (item, created) = put(Condition::create_only()).await.unwrap();
        assert!(created);
        assert_eq!(item.version, Version::FIRST);
        assert_eq!(
            put(Condition::create_only()).await,
            Err(StoreError::PreconditionFailed)
        );
        assert_eq!(
            put(Condition::if_match(version(2))).await,
            Err(StoreError::PreconditionFailed)
        );
        let (item, created) = put(Condition::if_match(Version::FIRST)).await.unwrap();
        assert!(!created);
        assert_eq!(item.version, version(2));
        let (item, _) = put(Condition::if_match(version(2))).await.unwrap();
        assert_eq!(item.version, version(3));
        assert_eq!(
            put(Condition::if_match(version(2))).await,
            Err(StoreError::PreconditionFailed),
            "a stale version never matches again"
        );
        assert_eq!(
            put(Condition::if_match(version(u64::MAX))).await,
            Err(StoreError::PreconditionFailed)
        );
        let stored = s.get_item(&u, &c, &i).await.unwrap().unwrap();
        assert_eq!(stored.version, version(3));
    }

    pub(crate) async fn patch_semantics_and_conditions(s: &Store) {
        let (u, c, i) = (user("alice"), coll("notes"), id("p"));
        let (u, c, i) = (&u, &c, &i);
        let patch = |p: Value, m: Option<Version>| async move {
            let cond = m.map_or(Condition::NONE, Condition::if_match);
            s.patch_item(u, c, i, p, cond, T0.plus_secs(5)).await
        };
        assert_eq!(
            patch(json!({"a": 1}), None).await,
            Err(StoreError::NotFound)
        );
        assert_eq!(
            patch(json!({"a": 1}), Some(Version::FIRST)).await,
            Err(StoreError::PreconditionFailed)
        );

        let start = json!({"title": "t", "tags": ["x"], "meta": {"a": 1, "b": 2}, "gone": true});
        s.create_item(u, c, i, obj(start), T0).await.unwrap();
        let item = patch(
            json!({"meta": {"b": null, "c": 3}, "gone": null, "tags": ["y"]}),
            None,
        )
        .await
        .unwrap();
        assert_eq!(
            Value::Object(item.data.to_object().unwrap()),
            json!({"title": "t", "tags": ["y"], "meta": {"a": 1, "c": 3}})
        );
        assert_eq!(item.version, version(2));
        assert_eq!(item.created_at, T0);
        assert_eq!(item.updated_at, T0.plus_secs(5));
        assert_eq!(s.get_item(u, c, i).await.unwrap(), Some(item));

        assert_eq!(
            patch(json!({"a": 1}), Some(Version::FIRST)).await,
            Err(StoreError::PreconditionFailed)
        );
        let item = patch(json!({"a": 1}), Some(version(2))).await.unwrap();
        assert_eq!(item.version, version(3));
        let item = patch(json!({}), None).await.unwrap();
        assert_eq!(item.version, version(4), "an empty patch is still a write");

        let bad = patch(json!([1]), None).await;
        assert!(matches!(bad, Err(StoreError::InvalidPatch(_))), "{bad:?}");
        assert_eq!(bad.unwrap_err().code(), ErrorCode::InvalidRequest);
    }

    pub(crate) async fn delete_conditions(s: &Store) {
        let (u, c, i) = (user("alice"), coll("todos"), id("d"));
        assert_eq!(
            s.delete_item(&u, &c, &i, Condition::if_match(Version::FIRST))
                .await,
            Err(StoreError::PreconditionFailed)
        );
        s.create_item(&u, &c, &i, obj(json!({})), T0).await.unwrap();
        assert_eq!(
            s.delete_item(&u, &c, &i, Condition::if_match(version(2)))
                .await,
            Err(StoreError::PreconditionFailed)
        );
        assert!(s.get_item(&u, &c, &i).await.unwrap().is_some());
        s.delete_item(&u, &c, &i, Condition::if_match(Version::FIRST))
            .await
            .unwrap();
        assert_eq!(s.get_item(&u, &c, &i).await.unwrap(), None);
    }

    fn one_of(ns: &[u64]) -> Option<Tags> {
        Some(Tags::OneOf(ns.iter().map(|n| version(*n)).collect()))
    }

    fn cond(if_match: Option<Tags>, if_none_match: Option<Tags>) -> Condition {
        Condition {
            if_match,
            if_none_match,
        }
    }

    pub(crate) async fn rfc_conditions_on_put(s: &Store) {
        let (u, c, i) = (user("alice"), coll("rfc"), id("x"));
        let put = |cond| s.put_item(&u, &c, &i, obj(json!({"v": 1})), cond, T0);
        let version_now = || async { s.get_item(&u, &c, &i).await.unwrap().map(|x| x.version) };
        let failed = Err(StoreError::PreconditionFailed);

        assert_eq!(
            put(cond(Some(Tags::Any), None)).await,
            failed,
            "* on nothing"
        );
        assert_eq!(put(cond(one_of(&[]), None)).await, failed);
        assert_eq!(version_now().await, None);
        // If-None-Match with tags holds on an absent item: created.
        let (item, created) = put(cond(None, one_of(&[1]))).await.unwrap();
        assert_eq!((item.version, created), (version(1), true));

        let (item, created) = put(cond(Some(Tags::Any), None)).await.unwrap();
        assert_eq!((item.version, created), (version(2), false), "* on an item");
        assert_eq!(put(cond(one_of(&[1, 3]), None)).await, failed);
        assert_eq!(
            put(cond(one_of(&[]), None)).await,
            failed,
            "names no version"
        );
        let (item, _) = put(cond(one_of(&[1, 2, 5]), None)).await.unwrap();
        assert_eq!(item.version, version(3), "any listed tag matches");
        assert_eq!(put(cond(None, one_of(&[2, 3]))).await, failed);
        assert_eq!(put(cond(None, Some(Tags::Any))).await, failed);
        let (item, _) = put(cond(None, one_of(&[1, 2]))).await.unwrap();
        assert_eq!(item.version, version(4));
        let (item, _) = put(cond(None, one_of(&[]))).await.unwrap();
        assert_eq!(
            item.version,
            version(5),
            "an empty If-None-Match list holds"
        );
        // Both at once: both must hold.
        assert_eq!(put(cond(Some(Tags::Any), one_of(&[5]))).await, failed);
        assert_eq!(put(cond(one_of(&[5]), Some(Tags::Any))).await, failed);
        assert_eq!(put(cond(one_of(&[4]), one_of(&[1]))).await, failed);
        let (item, _) = put(cond(one_of(&[5]), one_of(&[4]))).await.unwrap();
        assert_eq!(item.version, version(6));
        // More versions than one DynamoDB IN takes.
        let many = Some(Tags::OneOf((1..=150).rev().map(version).rev().collect()));
        let (item, _) = put(cond(many.clone(), None)).await.unwrap();
        assert_eq!(item.version, version(7));
        assert_eq!(put(cond(None, many)).await, failed);
        assert_eq!(version_now().await, Some(version(7)));
    }

    pub(crate) async fn rfc_conditions_on_patch_and_delete(s: &Store) {
        let (u, c, i) = (user("alice"), coll("rfc"), id("p"));
        let (u, c, i) = (&u, &c, &i);
        let body = json!({"n": 1});
        let patch = |cond| s.patch_item(u, c, i, body.clone(), cond, T0);
        let delete = |cond| s.delete_item(u, c, i, cond);
        let failed = Some(StoreError::PreconditionFailed);
        let not_found = Some(StoreError::NotFound);

        // Absent: If-Match fails (412); If-None-Match holds, so the answer is 404.
        assert_eq!(patch(cond(Some(Tags::Any), None)).await.err(), failed);
        assert_eq!(patch(cond(one_of(&[]), None)).await.err(), failed);
        assert_eq!(patch(cond(None, Some(Tags::Any))).await.err(), not_found);
        assert_eq!(patch(cond(None, one_of(&[1]))).await.err(), not_found);
        assert_eq!(delete(cond(Some(Tags::Any), None)).await.err(), failed);
        assert_eq!(delete(cond(one_of(&[]), None)).await.err(), failed);
        assert_eq!(delete(cond(None, Some(Tags::Any))).await.err(), not_found);
        assert_eq!(delete(cond(None, one_of(&[1]))).await.err(), not_found);

        s.create_item(u, c, i, obj(json!({})), T0).await.unwrap();
        assert_eq!(patch(cond(None, Some(Tags::Any))).await.err(), failed);
        assert_eq!(patch(cond(None, one_of(&[1]))).await.err(), failed);
        assert_eq!(patch(cond(one_of(&[2, 3]), None)).await.err(), failed);
        let item = patch(cond(Some(Tags::Any), None)).await.unwrap();
        assert_eq!(item.version, version(2));
        let item = patch(cond(one_of(&[1, 2]), one_of(&[1]))).await.unwrap();
        assert_eq!(item.version, version(3));
        let item = patch(cond(None, one_of(&[1, 2]))).await.unwrap();
        assert_eq!(item.version, version(4));

        assert_eq!(delete(cond(None, Some(Tags::Any))).await.err(), failed);
        assert_eq!(delete(cond(None, one_of(&[4]))).await.err(), failed);
        assert_eq!(delete(cond(one_of(&[1, 3]), None)).await.err(), failed);
        assert_eq!(
            delete(cond(Some(Tags::Any), one_of(&[4]))).await.err(),
            failed
        );
        assert_eq!(
            s.get_item(u, c, i).await.unwrap().map(|x| x.version),
            Some(version(4))
        );
        delete(cond(one_of(&[3, 4]), one_of(&[3]))).await.unwrap();
        assert_eq!(s.get_item(u, c, i).await.unwrap(), None);

        s.create_item(u, c, i, obj(json!({})), T0).await.unwrap();
        delete(cond(Some(Tags::Any), None)).await.unwrap();
        assert_eq!(s.get_item(u, c, i).await.unwrap(), None);
    }

    pub(crate) async fn isolation_between_users_and_collections(s: &Store) {
        // Pairs whose keys would meet if user and collection were simply concatenated.
        let owners = [
            (user("a"), coll("b_c")),
            (user("a_b"), coll("c")),
            (user("a"), coll("b")),
            (user("a/b"), coll("c")),
            (user("1:a"), coll("b")),
            (user("a#b"), coll("c")),
            (user("A"), coll("b_c")),
        ];
        let i = id("same-id");
        for (n, (u, c)) in owners.iter().enumerate() {
            s.create_item(u, c, &i, obj(json!({"owner": n})), T0)
                .await
                .unwrap();
        }
        let q = ListQuery {
            prefix: None,
            order: Order::Asc,
            limit: 100,
            cursor: None,
        };
        for (n, (u, c)) in owners.iter().enumerate() {
            let got = s.get_item(u, c, &i).await.unwrap().unwrap();
            assert_eq!(
                got.data.to_object().unwrap()["owner"],
                json!(n),
                "{u:?}/{c}"
            );
            let page = s.list_items(u, c, &q).await.unwrap();
            assert_eq!(page.items, vec![got], "{u:?}/{c} sees only its own item");
        }

        // Writes by one owner never reach another's item.
        let (u0, c0) = &owners[0];
        let (u1, c1) = &owners[1];
        s.put_item(u1, c1, &i, obj(json!({"owner": "1b"})), Condition::NONE, T0)
            .await
            .unwrap();
        s.patch_item(u1, c1, &i, json!({"x": 1}), Condition::NONE, T0)
            .await
            .unwrap();
        s.delete_item(u1, c1, &i, Condition::NONE).await.unwrap();
        assert_eq!(
            s.delete_item(u1, c1, &i, Condition::NONE).await,
            Err(StoreError::NotFound)
        );
        assert_eq!(
            s.patch_item(u1, c1, &i, json!({"x": 1}), Condition::NONE, T0)
                .await,
            Err(StoreError::NotFound)
        );
        let untouched = s.get_item(u0, c0, &i).await.unwrap().unwrap();
        assert_eq!(untouched.version, Version::FIRST);
        assert_eq!(untouched.data.to_object().unwrap()["owner"], json!(0));

        // Another user's items never show up in a listing, even with many of them.
        for k in 0..5 {
            let other = id(&format!("other-{k}"));
            s.create_item(u1, c1, &other, obj(json!({})), T0)
                .await
                .unwrap();
        }
        let page = s.list_items(u0, c0, &q).await.unwrap();
        assert_eq!(page.items.len(), 1);
        assert_eq!(page.next_cursor, None);
    }

    /// 95 ids over a few prefixes, in an order that differs from insertion order.
    fn pagination_ids() -> Vec<String> {
        let prefixes = ["a", "B", "_", "a-", "a.", "a_", "Z9", "0"];
        (0..95)
            .map(|n| format!("{}{:02}", prefixes[(n * 5) % prefixes.len()], 94 - n))
            .collect()
    }

    async fn walk(
        s: &Store,
        u: &UserId,
        c: &Collection,
        prefix: Option<&str>,
        order: Order,
        limit_of_page: impl Fn(usize) -> u32,
    ) -> Vec<String> {
        let mut seen = Vec::new();
        let mut cursor = None;
        for page_no in 0.. {
            assert!(page_no < 500, "pagination does not end");
            let limit = limit_of_page(page_no);
            let q = ListQuery {
                prefix: prefix.map(str::to_owned),
                order,
                limit,
                cursor: cursor.take(),
            };
            let page = s.list_items(u, c, &q).await.unwrap();
            assert!(page.items.len() <= limit as usize);
            seen.extend(page.items.iter().map(|it| it.id.as_str().to_owned()));
            match page.next_cursor {
                Some(next) => {
                    assert!(!page.items.is_empty(), "a cursor after an empty page");
                    cursor = Some(next);
                }
                None => break,
            }
        }
        seen
    }

    pub(crate) async fn pagination_walks_every_item_once(s: &Store) {
        let (u, c) = (user("pager"), coll("items"));
        let ids = pagination_ids();
        for (n, i) in ids.iter().enumerate() {
            s.create_item(&u, &c, &id(i), obj(json!({"n": n})), T0)
                .await
                .unwrap();
        }
        // Noise: the same ids for another user and in another collection.
        s.create_item(&user("pager2"), &c, &id(&ids[0]), obj(json!({})), T0)
            .await
            .unwrap();
        s.create_item(&u, &coll("items2"), &id(&ids[1]), obj(json!({})), T0)
            .await
            .unwrap();

        for prefix in [None, Some("a"), Some("a-"), Some("B"), Some("0"), Some("_")] {
            let mut want: Vec<String> = ids
                .iter()
                .filter(|i| prefix.is_none_or(|p| i.starts_with(p)))
                .cloned()
                .collect();
            want.sort(); // byte order
            assert!(!want.is_empty());
            let asc = walk(s, &u, &c, prefix, Order::Asc, |_| 7).await;
            assert_eq!(asc, want, "asc, prefix {prefix:?}");
            // The limit may change from page to page.
            let varying = walk(s, &u, &c, prefix, Order::Asc, |p| (p % 13) as u32 + 1).await;
            assert_eq!(varying, want, "asc, varying limit, prefix {prefix:?}");
            want.reverse();
            let desc = walk(s, &u, &c, prefix, Order::Desc, |_| 7).await;
            assert_eq!(desc, want, "desc, prefix {prefix:?}");
            let varying = walk(s, &u, &c, prefix, Order::Desc, |p| (p % 5) as u32 * 9 + 1).await;
            assert_eq!(varying, want, "desc, varying limit, prefix {prefix:?}");
        }

        // Pages carry the items themselves, not just ids.
        let q = ListQuery {
            prefix: Some(ids[3].clone()),
            order: Order::Asc,
            limit: 1,
            cursor: None,
        };
        let page = s.list_items(&u, &c, &q).await.unwrap();
        assert_eq!(page.items[0].data, obj(json!({"n": 3})));
        assert_eq!(page.items[0].version, Version::FIRST);
    }

    pub(crate) async fn next_cursor_is_null_exactly_at_the_end(s: &Store) {
        let (u, c) = (user("ender"), coll("items"));
        let empty = ListQuery {
            prefix: None,
            order: Order::Asc,
            limit: 20,
            cursor: None,
        };
        let page = s.list_items(&u, &c, &empty).await.unwrap();
        assert!(page.items.is_empty());
        assert_eq!(page.next_cursor, None);

        for n in 0..14 {
            s.create_item(&u, &c, &id(&format!("i{n:02}")), obj(json!({})), T0)
                .await
                .unwrap();
        }
        for order in [Order::Asc, Order::Desc] {
            let q = |limit, cursor| ListQuery {
                prefix: None,
                order,
                limit,
                cursor,
            };
            let whole = s.list_items(&u, &c, &q(14, None)).await.unwrap();
            assert_eq!(whole.items.len(), 14);
            assert_eq!(
                whole.next_cursor, None,
                "exactly `limit` items and nothing after"
            );

            let first = s.list_items(&u, &c, &q(7, None)).await.unwrap();
            assert_eq!(first.items.len(), 7);
            let second = s
                .list_items(&u, &c, &q(7, first.next_cursor))
                .await
                .unwrap();
            assert_eq!(second.items.len(), 7);
            assert_eq!(second.next_cursor, None);

            let first = s.list_items(&u, &c, &q(13, None)).await.unwrap();
            assert!(first.next_cursor.is_some());
            let second = s
                .list_items(&u, &c, &q(13, first.next_cursor))
                .await
                .unwrap();
            assert_eq!(second.items.len(), 1);
            assert_eq!(second.next_cursor, None);
        }

        // A cursor stays usable when the item it points at is deleted.
        let q = |cursor| ListQuery {
            prefix: None,
            order: Order::Asc,
            limit: 5,
            cursor,
        };
        let first = s.list_items(&u, &c, &q(None)).await.unwrap();
        s.delete_item(&u, &c, &id("i04"), Condition::NONE)
            .await
            .unwrap();
        let second = s.list_items(&u, &c, &q(first.next_cursor)).await.unwrap();
        assert_eq!(second.items[0].id.as_str(), "i05");
    }

    pub(crate) async fn prefixes_that_match_nothing(s: &Store) {
        let (u, c) = (user("prefixer"), coll("items"));
        s.create_item(&u, &c, &id("abc"), obj(json!({})), T0)
            .await
            .unwrap();
        let long = "a".repeat(200);
        for prefix in ["zzz", "abcd", "a/b", "a b", "ä", long.as_str(), "abc\u{0}"] {
            for order in [Order::Asc, Order::Desc] {
                let q = ListQuery {
                    prefix: Some(prefix.to_owned()),
                    order,
                    limit: 10,
                    cursor: None,
                };
                let page = s.list_items(&u, &c, &q).await.unwrap();
                assert!(page.items.is_empty(), "prefix {prefix:?}");
                assert_eq!(page.next_cursor, None);
            }
        }
        let q = ListQuery {
            prefix: Some("abc".into()),
            order: Order::Asc,
            limit: 10,
            cursor: None,
        };
        assert_eq!(s.list_items(&u, &c, &q).await.unwrap().items.len(), 1);
    }

    pub(crate) async fn cursors_are_bound_to_their_query(s: &Store) {
        let (u, c) = (user("a"), coll("b_c"));
        for n in 0..6 {
            s.create_item(&u, &c, &id(&format!("a{n}")), obj(json!({})), T0)
                .await
                .unwrap();
        }
        let base = ListQuery {
            prefix: Some("a".into()),
            order: Order::Asc,
            limit: 2,
            cursor: None,
        };
        let cursor = s
            .list_items(&u, &c, &base)
            .await
            .unwrap()
            .next_cursor
            .unwrap();
        let with = |cursor: &str| ListQuery {
            cursor: Some(cursor.to_owned()),
            ..base.clone()
        };

        // The same query with another limit is fine.
        let q = ListQuery {
            limit: 3,
            ..with(&cursor)
        };
        let page = s.list_items(&u, &c, &q).await.unwrap();
        assert_eq!(page.items[0].id.as_str(), "a2");

        let mut tampered: Vec<char> = cursor.chars().collect();
        let mid = tampered.len() / 2;
        tampered[mid] = if tampered[mid] == 'A' { 'B' } else { 'A' };
        let tampered: String = tampered.into_iter().collect();
        let truncated = &cursor[..cursor.len() - 2];
        let extended = format!("{cursor}AA");
        let other_query = |q: ListQuery| (u.clone(), c.clone(), q);
        let attempts = [
            other_query(with(&tampered)),
            other_query(with(truncated)),
            other_query(with(&extended)),
            other_query(with("garbage")),
            other_query(with("%%%")),
            other_query(ListQuery {
                prefix: Some("a1".into()),
                ..with(&cursor)
            }),
            other_query(ListQuery {
                prefix: None,
                ..with(&cursor)
            }),
            other_query(ListQuery {
                order: Order::Desc,
                ..with(&cursor)
            }),
            (user("a_b"), coll("c"), with(&cursor)),
            (user("b"), c.clone(), with(&cursor)),
            (u.clone(), coll("b"), with(&cursor)),
        ];
        for (au, ac, q) in attempts {
            let r = s.list_items(&au, &ac, &q).await;
            match r {
                Err(e @ StoreError::InvalidCursor(_)) => {
                    assert_eq!(e.code(), ErrorCode::InvalidQuery)
                }
                other => panic!("{au:?}/{ac} {q:?}: expected InvalidCursor, got {other:?}"),
            }
        }
    }

    pub(crate) async fn concurrent_patches_lose_nothing(s: &Store) {
        let (u, c, i) = (user("racer"), coll("counters"), id("patched"));
        s.create_item(&u, &c, &i, obj(json!({})), T0).await.unwrap();
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(20));
        let tasks: Vec<_> = (0..20)
            .map(|k| {
                let (s, u, c, i) = (s.clone(), u.clone(), c.clone(), i.clone());
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    let patch = json!({ format!("k{k}"): k });
                    s.patch_item(&u, &c, &i, patch, Condition::NONE, T0).await
                })
            })
            .collect();
        let mut successes = 0;
        for t in tasks {
            match t.await.expect("task") {
                Ok(_) => successes += 1,
                Err(e) => panic!("a patch without If-Match failed: {e}"),
            }
        }
        let item = s.get_item(&u, &c, &i).await.unwrap().unwrap();
        assert_eq!(successes, 20);
        assert_eq!(
            item.data.to_object().unwrap().len(),
            successes,
            "every acknowledged patch is there"
        );
        assert_eq!(item.version, version(successes as u64 + 1));
    }

    /// Every writer reads the counter and writes counter + 1 under `If-Match`: the final counter
    /// equals the number of acknowledged writes, whatever the interleaving.
    pub(crate) async fn concurrent_conditional_writes_are_atomic(s: &Store) {
        let (u, c) = (user("racer"), coll("counters"));
        for (name, use_patch) in [("put", false), ("patch", true)] {
            let i = id(name);
            s.create_item(&u, &c, &i, obj(json!({"counter": 0})), T0)
                .await
                .unwrap();
            let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(20));
            let tasks: Vec<_> = (0..20)
                .map(|_| {
                    let (s, u, c, i) = (s.clone(), u.clone(), c.clone(), i.clone());
                    let barrier = barrier.clone();
                    tokio::spawn(async move {
                        barrier.wait().await;
                        let cur = s.get_item(&u, &c, &i).await?.expect("item exists");
                        let next = cur.data.to_object().unwrap()["counter"]
                            .as_u64()
                            .expect("counter")
                            + 1;
                        let data = json!({ "counter": next });
                        if use_patch {
                            s.patch_item(&u, &c, &i, data, Condition::if_match(cur.version), T0)
                                .await
                        } else {
                            let cond = Condition::if_match(cur.version);
                            s.put_item(&u, &c, &i, obj(data), cond, T0)
                                .await
                                .map(|r| r.0)
                        }
                    })
                })
                .collect();
            let mut successes = 0u64;
            for t in tasks {
                match t.await.expect("task") {
                    Ok(_) => successes += 1,
                    Err(StoreError::PreconditionFailed) => {}
                    Err(e) => panic!("{name}: unexpected error {e}"),
                }
            }
            let item = s.get_item(&u, &c, &i).await.unwrap().unwrap();
            assert!(successes >= 1);
            assert_eq!(
                item.data.to_object().unwrap()["counter"],
                json!(successes),
                "{name}"
            );
            assert_eq!(item.version, version(successes + 1), "{name}");
        }
    }

    const AWKWARD: &str = r##"{
        "big": 123456789012345678901234567890,
        "bigger": -123456789012345678901234567890123456789012345,
        "huge": 1e400, "tiny": 1E-400, "dec": 0.1, "negzero": -0.0, "zero": 0, "one": 1.0,
        "trail": 1.50, "exp": 1e+2, "neg": -17, "pi": 3.141592653589793238462643383279502884197,
        "uni": "日本語 — ünïcödé", "emoji": "😀👍🏽🇨🇳", "empty": "", "nul": null,
        "t": true, "f": false, "esc": "quote \" backslash \\ newline \n nul \u0000 tab \t",
        "nested": {"a": [1, [2, [3, {"b": []}]]], "o": {}}, "arr": [null, "", 0, {}, [], -0.0],
        "name": 1, "size": 2, "ttl": 3, "data": {"data": 4}, "version": "v", "pk": "p", "sk": "s",
        "#a": 5, ":v": 6, "": {"": ""}, "a.b": {"c.d": 7}, "a b": 8, "[0]": 9, "$": 10
    }"##;

    fn awkward() -> JsonObject {
        let mut data: JsonObject = serde_json::from_str(AWKWARD).expect("AWKWARD parses");
        // 61 nested arrays under the data object: 62 levels, deeper than DynamoDB's 32.
        let deep = format!("{}1{}", "[".repeat(61), "]".repeat(61));
        data.insert(
            "deep".into(),
            serde_json::from_str(&deep).expect("deep parses"),
        );
        data
    }

    fn text(data: &impl serde::Serialize) -> String {
        serde_json::to_string(data).expect("serializes")
    }

    pub(crate) async fn awkward_json_round_trips(s: &Store) {
        let (u, c) = (user("json"), coll("docs"));
        let data = awkward();
        // (serde_json itself spells 1e400 as 1e+400 once parsed; the store keeps what it gets.)
        for exact in [
            "1e+400",
            "-0.0",
            "1.50",
            "1.0",
            "3.141592653589793238462643383279502884197",
        ] {
            assert!(text(&data).contains(exact), "{exact}");
        }

        let created = s
            .create_item(&u, &c, &id("a"), data.clone(), T0)
            .await
            .unwrap();
        assert_eq!(text(&created.data), text(&data));
        let got = s.get_item(&u, &c, &id("a")).await.unwrap().unwrap();
        assert_eq!(text(&got.data), text(&data), "get");
        assert_eq!(got.data, data);

        let (put, _) = s
            .put_item(&u, &c, &id("b"), data.clone(), Condition::NONE, T0)
            .await
            .unwrap();
        assert_eq!(text(&put.data), text(&data));
        let q = ListQuery {
            prefix: None,
            order: Order::Asc,
            limit: 10,
            cursor: None,
        };
        for listed in s.list_items(&u, &c, &q).await.unwrap().items {
            assert_eq!(text(&listed.data), text(&data), "list");
        }

        let patch: Value = serde_json::from_str(r#"{"added": 2.50, "nested": {"o": {"x": 1e-5}}}"#)
            .expect("patch parses");
        let patched = s
            .patch_item(&u, &c, &id("a"), patch.clone(), Condition::NONE, T0)
            .await
            .unwrap();
        let mut want = data.clone();
        merge(&mut want, &patch);
        assert_eq!(text(&patched.data), text(&want));
        let got = s.get_item(&u, &c, &id("a")).await.unwrap().unwrap();
        assert_eq!(text(&got.data), text(&want), "after patch");
        assert!(text(&got.data).contains(r#""added":2.50"#));
    }

    fn merge(target: &mut JsonObject, patch: &Value) {
        let mut t = Value::Object(std::mem::take(target));
        miniapp_shared::store::merge_patch::apply(&mut t, patch);
        *target = obj(t);
    }

    /// A patch of an item near the limit writes the merged item once, sized as itself: accepted
    /// on both backends (an update would count old + new on the DynamoDB emulator and fail).
    pub(crate) async fn big_items_patch_like_small_ones(s: &Store) {
        let (u, c, i) = (user("big"), coll("blobs"), id("p"));
        let big = obj(json!({"s": "x".repeat(262_144), "n": 0}));
        s.create_item(&u, &c, &i, big, T0).await.unwrap();
        for k in 1..=3 {
            let patch = json!({"n": k, "t": "y".repeat(1000 * k)});
            let item = s.patch_item(&u, &c, &i, patch, Condition::NONE, T0).await;
            let item = item.unwrap_or_else(|e| panic!("patch {k}: {e}"));
            assert_eq!(item.version, version(k as u64 + 1));
        }
        let got = s.get_item(&u, &c, &i).await.unwrap().unwrap();
        assert_eq!(got.data.to_object().unwrap()["n"], json!(3));
        assert_eq!(
            got.data.to_object().unwrap()["s"].as_str().map(str::len),
            Some(262_144)
        );
    }

    pub(crate) async fn size_limit_is_enforced_before_the_backend(s: &Store) {
        let (u, c) = (user("big"), coll("blobs"));
        let too_long = obj(json!({"s": "x".repeat(MAX_DATA_JSON_BYTES)}));
        let r = s.create_item(&u, &c, &id("a"), too_long.clone(), T0).await;
        assert!(
            matches!(
                r,
                Err(StoreError::ItemTooLarge {
                    limit: MAX_DATA_JSON_BYTES,
                    ..
                })
            ),
            "{r:?}"
        );
        assert_eq!(r.unwrap_err().code(), ErrorCode::PayloadTooLarge);
        let r = s
            .put_item(&u, &c, &id("a"), too_long, Condition::NONE, T0)
            .await;
        assert!(matches!(r, Err(StoreError::ItemTooLarge { .. })));
        assert_eq!(s.get_item(&u, &c, &id("a")).await.unwrap(), None);

        // Small as JSON, too big as DynamoDB counts it (per-element overhead): refused alike.
        let many = obj(json!({"n": vec![1; 140_000]}));
        assert!(text(&many).len() < MAX_DATA_JSON_BYTES);
        let r = s.create_item(&u, &c, &id("b"), many, T0).await;
        assert!(
            matches!(
                r,
                Err(StoreError::ItemTooLarge {
                    limit: MAX_DATA_DYNAMO_BYTES,
                    ..
                })
            ),
            "{r:?}"
        );

        // Just under the limits is stored and read back.
        let fits = obj(json!({"s": "y".repeat(300_000)}));
        s.create_item(&u, &c, &id("c"), fits.clone(), T0)
            .await
            .unwrap();
        assert_eq!(
            s.get_item(&u, &c, &id("c")).await.unwrap().unwrap().data,
            fits
        );

        // A patch that would grow the item past the limit is refused and changes nothing.
        let patch = json!({"t": "z".repeat(100_000)});
        let r = s
            .patch_item(&u, &c, &id("c"), patch, Condition::NONE, T0)
            .await;
        assert!(matches!(r, Err(StoreError::ItemTooLarge { .. })), "{r:?}");
        let after = s.get_item(&u, &c, &id("c")).await.unwrap().unwrap();
        assert_eq!(after.version, Version::FIRST);
    }

    fn session(user_id: &str, created: Timestamp, lifetime: i64) -> SessionRecord {
        SessionRecord {
            session_id: SessionId::generate(),
            user_id: user(user_id),
            created_at: created,
            expires_at: created.plus_secs(lifetime),
            revoked: false,
            refresh_generation: 0,
            union_id: None,
        }
    }

    /// WeChat's unionid is kept with the session when sent, and absent otherwise.
    pub(crate) async fn sessions_keep_the_union_id(s: &Store) {
        let now = Timestamp::now();
        let mut with = session("wechat:o-1", now, 600);
        with.union_id = Some("u-union-1".into());
        let without = session("alipay-2", now, 600);
        for r in [&with, &without] {
            s.create_session(r).await.unwrap();
            let got = s.get_session(&r.session_id, now).await.unwrap().unwrap();
            assert_eq!(got.union_id, r.union_id);
            assert_eq!(got.user_id, r.user_id);
        }
    }

    pub(crate) async fn refresh_generation_advances_once(s: &Store) {
        let rec = session("alice", T0, 3600);
        s.create_session(&rec).await.unwrap();
        let read = |s: &Store, id: SessionId| {
            let s = s.clone();
            async move { s.get_session(&id, T0).await.unwrap().unwrap() }
        };
        assert_eq!(read(s, rec.session_id.clone()).await.refresh_generation, 0);
        s.advance_refresh(&rec.session_id, 0).await.unwrap();
        // The same generation again (a replayed refresh) loses.
        assert_eq!(
            s.advance_refresh(&rec.session_id, 0).await,
            Err(StoreError::PreconditionFailed)
        );
        assert_eq!(
            s.advance_refresh(&rec.session_id, 5).await,
            Err(StoreError::PreconditionFailed)
        );
        s.advance_refresh(&rec.session_id, 1).await.unwrap();
        let got = read(s, rec.session_id.clone()).await;
        assert_eq!(got.refresh_generation, 2);
        assert_eq!((got.user_id, got.expires_at), (rec.user_id, rec.expires_at));
        // Racing advances from one generation: exactly one wins.
        let tries = (0..6).map(|_| {
            let (s, id) = (s.clone(), rec.session_id.clone());
            tokio::spawn(async move { s.advance_refresh(&id, 2).await })
        });
        let mut won = 0;
        for t in tries.collect::<Vec<_>>() {
            match t.await.unwrap() {
                Ok(()) => won += 1,
                Err(e) => assert_eq!(e, StoreError::PreconditionFailed),
            }
        }
        assert_eq!(won, 1);
        // An unknown session never gets a record.
        let unknown = SessionId::generate();
        assert_eq!(
            s.advance_refresh(&unknown, 0).await,
            Err(StoreError::PreconditionFailed)
        );
        assert_eq!(s.get_session(&unknown, T0).await.unwrap(), None);
    }

    pub(crate) async fn sessions_expire_by_ttl(s: &Store) {
        let rec = session("alice", T0, 3600);
        s.create_session(&rec).await.unwrap();
        assert_eq!(
            s.get_session(&rec.session_id, T0).await.unwrap(),
            Some(rec.clone())
        );
        assert_eq!(
            s.create_session(&rec).await,
            Err(StoreError::PreconditionFailed)
        );

        // Expired but within the grace day: still there, so the API can say SessionExpired.
        let after_expiry = rec.expires_at.plus_secs(10);
        assert_eq!(
            s.get_session(&rec.session_id, after_expiry).await.unwrap(),
            Some(rec.clone())
        );
        let ttl = rec.expires_at.plus_secs(SESSION_TTL_GRACE_SECS);
        assert_eq!(rec.ttl(), ttl);
        assert!(s.get_session(&rec.session_id, ttl).await.unwrap().is_some());
        assert_eq!(
            s.get_session(&rec.session_id, ttl.plus_secs(1))
                .await
                .unwrap(),
            None
        );

        // A record written long after its TTL passed reads as absent.
        let old = session("bob", T0.plus_secs(-10 * 86_400), 3600);
        s.create_session(&old).await.unwrap();
        assert_eq!(s.get_session(&old.session_id, T0).await.unwrap(), None);
        assert_eq!(
            s.get_session(&SessionId::generate(), T0).await.unwrap(),
            None
        );
    }

    pub(crate) async fn sessions_revocation(s: &Store) {
        let rec = session("alice", T0, 3600);
        let other = session("alice", T0, 3600);
        s.create_session(&rec).await.unwrap();
        s.create_session(&other).await.unwrap();
        s.revoke_session(&rec.session_id).await.unwrap();
        s.revoke_session(&rec.session_id).await.unwrap();
        let got = s.get_session(&rec.session_id, T0).await.unwrap().unwrap();
        assert!(got.revoked);
        assert_eq!(got.expires_at, rec.expires_at);
        assert!(
            !s.get_session(&other.session_id, T0)
                .await
                .unwrap()
                .unwrap()
                .revoked
        );

        // Revoking an unknown session is a no-op and leaves no stray record behind.
        let unknown = SessionId::generate();
        s.revoke_session(&unknown).await.unwrap();
        assert_eq!(s.get_session(&unknown, T0).await.unwrap(), None);
    }
}

/// Two processes on the same tables: one read "not deleting" with a session; the other begins
/// the account's deletion. The first one's writes are refused once its check is older than
/// `WRITABLE_CHECK_TTL` (1 s), well inside the deletion's settle time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamo_a_remembered_account_check_expires() {
    let endpoint = shared_moto().endpoint();
    let tag = format!("check-{}", unique_tag());
    let (a, b) = (
        dynamo_store(&endpoint, &tag).await,
        dynamo_store(&endpoint, &tag).await,
    );
    let alice = SessionRecord {
        session_id: SessionId::generate(),
        user_id: user("alice"),
        created_at: T0,
        expires_at: T0.plus_secs(3600),
        revoked: false,
        refresh_generation: 0,
        union_id: None,
    };
    a.create_session(&alice).await.unwrap();
    let read = a
        .get_session_with(
            &alice.session_id,
            &alice.user_id,
            T0,
            miniapp_shared::store::Alongside::AccountState,
        )
        .await
        .unwrap();
    assert!(read.session.is_some());
    b.begin_account_deletion(&alice.user_id, T0).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let write = a
        .put_item(
            &alice.user_id,
            &coll("todos"),
            &id("late"),
            obj(json!({})),
            Condition::NONE,
            T0,
        )
        .await;
    assert_eq!(write.unwrap_err(), StoreError::AccountDeleting);
    assert_eq!(
        a.check_writable(&alice.user_id).await,
        Err(StoreError::AccountDeleting)
    );
}

/// The Lambda build configures the SDK from environment variables alone
/// (`miniapp_shared::aws_env::from_env`): region, key pair and a per-service endpoint are
/// enough for every call, through the SDK and without it (signatures checked by the server).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamo_store_configured_from_environment_variables_alone() {
    let endpoint = shared_moto().endpoint();
    let tag = format!("env-{}", unique_tag());
    let vars = std::collections::HashMap::from([
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
        ("AWS_ENDPOINT_URL_DYNAMODB", endpoint),
        // Another service's override is not DynamoDB's.
        ("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9".to_owned()),
    ]);
    let sdk = miniapp_shared::aws_env::from_env(&|name: &str| vars.get(name).cloned());
    let cfg = dynamo_config(&tag, true);
    let store = Store::Dynamo(DynamoStore::open_with_sdk_config(&sdk, &cfg).await.unwrap());
    store.warm_up().await.unwrap();
    cases::sessions_are_read_with_what_follows(&store).await;
}

/// The test server recomputes every DynamoDB request's SigV4 signature with botocore
/// (`scripts/moto_serial.py`), so every case above also checks the store's signing: the SDK's,
/// and the session read it signs itself. Here the check is shown to bite on both: a wrong secret
/// is refused as DynamoDB refuses it, the right one is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamo_requests_are_refused_with_a_wrong_signature() {
    let endpoint = shared_moto().endpoint();
    let tag = format!("sigv4-{}", unique_tag());
    let good = dynamo_store(&endpoint, &tag).await;
    let sdk = sdk_config_with_secret(&endpoint, "not-the-secret").await;
    let cfg = dynamo_config(&tag, false);
    let bad = Store::Dynamo(DynamoStore::open_with_sdk_config(&sdk, &cfg).await.unwrap());
    let session = SessionId::generate();
    let (u, c, i) = (user("alice"), coll("todos"), id("x"));
    let along = || Alongside::Item { coll: &c, id: &i };

    let direct = bad.get_session_with(&session, &u, T0, along()).await;
    assert!(
        matches!(&direct, Err(StoreError::Unavailable(m)) if m.contains("InvalidSignatureException")),
        "{direct:?}"
    );
    let through_sdk = bad.create_item(&u, &c, &i, obj(json!({})), T0).await;
    assert!(
        matches!(&through_sdk, Err(StoreError::Unavailable(m)) if m.contains("signature")),
        "{through_sdk:?}"
    );
    let read = good
        .get_session_with(&session, &u, T0, along())
        .await
        .unwrap();
    assert!(read.session.is_none() && read.item == Some(None));
}

/// The DynamoDB server goes away: calls fail fast with `Unavailable` (no panic, no hang), and
/// the same store works again once a server is back on the same port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamo_outage_is_unavailable_then_resumes() {
    let server = MotoServer::start();
    let (endpoint, port) = (server.endpoint(), server.port());
    let tag = format!("outage-{}", unique_tag());
    let s = dynamo_store(&endpoint, &tag).await;
    let (u, c, i) = (user("alice"), coll("todos"), id("x"));
    s.create_item(&u, &c, &i, obj(json!({})), T0).await.unwrap();

    server.stop();
    let q = ListQuery {
        prefix: None,
        order: Order::Asc,
        limit: 10,
        cursor: None,
    };
    let started = Instant::now();
    let results = [
        s.get_item(&u, &c, &i).await.map(|_| ()),
        s.put_item(&u, &c, &i, obj(json!({})), Condition::NONE, T0)
            .await
            .map(|_| ()),
        s.patch_item(&u, &c, &i, json!({}), Condition::NONE, T0)
            .await
            .map(|_| ()),
        s.delete_item(&u, &c, &i, Condition::NONE).await,
        s.list_items(&u, &c, &q).await.map(|_| ()),
        s.get_session(&SessionId::generate(), T0).await.map(|_| ()),
        s.get_session_with(
            &SessionId::generate(),
            &u,
            T0,
            miniapp_shared::store::Alongside::Item { coll: &c, id: &i },
        )
        .await
        .map(|_| ()),
        s.warm_up().await,
    ];
    let elapsed = started.elapsed();
    for r in results {
        match r {
            Err(e @ StoreError::Unavailable(_)) => {
                assert_eq!(e.code(), ErrorCode::StorageUnavailable)
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }
    assert!(
        elapsed < Duration::from_secs(20),
        "7 failed calls took {elapsed:?}"
    );

    let server = MotoServer::start_on(port);
    // moto keeps nothing across a restart: make the tables again (another store, same tables).
    let _again = dynamo_store(&server.endpoint(), &tag).await;
    let (item, created) = s
        .put_item(&u, &c, &i, obj(json!({"back": true})), Condition::NONE, T0)
        .await
        .expect("the store works again once the server is back");
    assert!(created);
    assert_eq!(s.get_item(&u, &c, &i).await.unwrap(), Some(item));
}

/// Another process holds the SQLite write lock past the busy timeout: writes fail with
/// `Unavailable` (reads go on, thanks to WAL), and work again once the lock is released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_locked_database_is_unavailable_then_resumes() {
    let backend = Backend::embedded().await;
    let s = &backend.store;
    let Store::Embedded(embedded) = s else {
        panic!("embedded backend expected")
    };
    let (u, c, i) = (user("alice"), coll("todos"), id("x"));
    s.create_item(&u, &c, &i, obj(json!({})), T0).await.unwrap();

    let locker = rusqlite::Connection::open(embedded.path()).expect("second connection");
    locker
        .execute_batch("BEGIN EXCLUSIVE")
        .expect("take the write lock");
    let started = Instant::now();
    let r = s
        .put_item(&u, &c, &i, obj(json!({})), Condition::NONE, T0)
        .await;
    let elapsed = started.elapsed();
    assert!(matches!(r, Err(StoreError::Unavailable(_))), "{r:?}");
    assert!(elapsed < Duration::from_secs(10), "waited {elapsed:?}");
    assert!(
        s.get_item(&u, &c, &i).await.unwrap().is_some(),
        "reads go on"
    );

    locker.execute_batch("COMMIT").expect("release the lock");
    let (item, _) = s
        .put_item(&u, &c, &i, obj(json!({})), Condition::NONE, T0)
        .await
        .expect("writes work again");
    assert_eq!(item.version, version(2));
}

/// `GET /db` and `DELETE /account` at the store: collections with exact counts, and the
/// deletion primitives (marker, bulk item deletion, registry, sessions by user).
mod account_cases {
    use super::*;
    use miniapp_shared::store::{CollectionCount, MAX_COLLECTIONS_PAGE};

    fn session(user_id: &str) -> SessionRecord {
        SessionRecord {
            session_id: SessionId::generate(),
            user_id: user(user_id),
            created_at: T0,
            expires_at: T0.plus_secs(3600),
            revoked: false,
            refresh_generation: 0,
            union_id: None,
        }
    }

    fn counts(list: &[(&str, u64)]) -> Vec<CollectionCount> {
        list.iter()
            .map(|(name, count)| CollectionCount {
                name: coll(name),
                count: *count,
            })
            .collect()
    }

    async fn fill(s: &Store, who: &str, collection: &str, n: usize) {
        for i in 0..n {
            let data = obj(json!({"i": i}));
            s.create_item(
                &user(who),
                &coll(collection),
                &id(&format!("{collection}-{i:04}")),
                data,
                T0,
            )
            .await
            .unwrap();
        }
    }

    pub(crate) async fn collections_are_counted_per_user(s: &Store) {
        let (alice, bob) = (user("alice"), user("alice/notes"));
        assert!(s
            .list_collections(&alice, None)
            .await
            .unwrap()
            .collections
            .is_empty());
        fill(s, "alice", "todos", 3).await;
        fill(s, "alice", "notes", 1).await;
        // A put that creates counts too, and a user whose id looks like a key of alice's.
        let (todo, _) = s
            .put_item(
                &alice,
                &coll("Z_last"),
                &id("x"),
                obj(json!({})),
                Condition::default(),
                T0,
            )
            .await
            .unwrap();
        assert_eq!(todo.version, version(1));
        fill(s, "alice/notes", "todos", 2).await;
        let page = s.list_collections(&alice, None).await.unwrap();
        // Byte order: upper case before lower case.
        assert_eq!(
            page.collections,
            counts(&[("Z_last", 1), ("notes", 1), ("todos", 3)])
        );
        assert_eq!(page.next_cursor, None);
        let page = s.list_collections(&bob, None).await.unwrap();
        assert_eq!(page.collections, counts(&[("todos", 2)]));
        // A collection whose last item went is no longer listed.
        s.delete_item(
            &alice,
            &coll("notes"),
            &id("notes-0000"),
            Condition::default(),
        )
        .await
        .unwrap();
        let page = s.list_collections(&alice, None).await.unwrap();
        assert_eq!(page.collections, counts(&[("Z_last", 1), ("todos", 3)]));
        // The registry hook is idempotent and lists nothing by itself.
        s.register_collection(&alice, &coll("empty")).await.unwrap();
        s.register_collection(&alice, &coll("empty")).await.unwrap();
        let page = s.list_collections(&alice, None).await.unwrap();
        assert_eq!(page.collections, counts(&[("Z_last", 1), ("todos", 3)]));
    }

    pub(crate) async fn collections_page_and_cursor(s: &Store) {
        let carol = user("carol");
        let total = MAX_COLLECTIONS_PAGE + 3;
        for i in 0..total {
            let c = coll(&format!("c{i:03}"));
            s.create_item(&carol, &c, &id("only"), obj(json!({})), T0)
                .await
                .unwrap();
        }
        let first = s.list_collections(&carol, None).await.unwrap();
        // A full page, unless DynamoDB's counting budget ended it sooner.
        assert!(first.collections.len() <= MAX_COLLECTIONS_PAGE);
        assert_eq!(first.collections[0].name.as_str(), "c000");
        let cursor = first.next_cursor.expect("a cursor after a full page");
        let mut seen: Vec<String> = first
            .collections
            .iter()
            .map(|c| c.name.to_string())
            .collect();
        let mut next = Some(cursor);
        while let Some(c) = next {
            let page = s.list_collections(&carol, Some(&c)).await.unwrap();
            seen.extend(page.collections.iter().map(|c| c.name.to_string()));
            next = page.next_cursor;
        }
        let want: Vec<String> = (0..total).map(|i| format!("c{i:03}")).collect();
        assert_eq!(seen, want);
        for bad in ["garbage!", "eyJ4IjoxfQ"] {
            let got = s.list_collections(&carol, Some(bad)).await;
            let err = got.unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidQuery, "{bad}: {err:?}");
        }
    }

    pub(crate) async fn account_deletion_removes_one_user_entirely(s: &Store) {
        let (alice, bob) = (user("alice"), user("bob"));
        fill(s, "alice", "todos", 23).await;
        fill(s, "alice", "notes", 4).await;
        fill(s, "bob", "todos", 2).await;
        let (a1, a2, b1) = (session("alice"), session("alice"), session("bob"));
        for rec in [&a1, &a2, &b1] {
            s.create_session(rec).await.unwrap();
        }

        let started = s.begin_account_deletion(&alice, T0).await.unwrap();
        assert_eq!(started, T0);
        // Alice's writes are refused from now on; reads and bob's writes are not.
        let refused = [
            s.create_item(&alice, &coll("todos"), &id("new"), obj(json!({})), T0)
                .await
                .map(|_| ()),
            s.put_item(
                &alice,
                &coll("other"),
                &id("new"),
                obj(json!({})),
                Condition::default(),
                T0,
            )
            .await
            .map(|_| ()),
            s.patch_item(
                &alice,
                &coll("todos"),
                &id("todos-0000"),
                json!({"a": 1}),
                Condition::default(),
                T0,
            )
            .await
            .map(|_| ()),
            s.check_writable(&alice).await,
        ];
        for got in refused {
            assert_eq!(got, Err(StoreError::AccountDeleting));
        }
        assert_eq!(
            StoreError::AccountDeleting.code(),
            ErrorCode::AccountDeleting
        );
        assert!(s
            .get_item(&alice, &coll("todos"), &id("todos-0000"))
            .await
            .unwrap()
            .is_some());
        s.check_writable(&bob).await.unwrap();
        s.create_item(&bob, &coll("todos"), &id("during"), obj(json!({})), T0)
            .await
            .unwrap();

        // Rounds of at most 10 until none is left; each round deletes something.
        let mut deleted = 0;
        loop {
            let n = s.delete_user_items(&alice, 10).await.unwrap();
            assert!(n <= 10 + 25, "{n}");
            if n == 0 {
                break;
            }
            deleted += n;
        }
        assert_eq!(deleted, 27);
        assert_eq!(s.delete_user_items(&alice, 10).await.unwrap(), 0);
        assert!(s
            .list_collections(&alice, None)
            .await
            .unwrap()
            .collections
            .is_empty());
        s.delete_collection_registry(&alice).await.unwrap();

        // Every session of alice's but the one kept is revoked; bob's are not.
        assert_eq!(
            s.revoke_user_sessions(&alice, Some(&a1.session_id))
                .await
                .unwrap(),
            1
        );
        let state = |rec: SessionRecord| async move {
            s.get_session(&rec.session_id, T0)
                .await
                .unwrap()
                .unwrap()
                .revoked
        };
        assert!(!state(a1.clone()).await);
        assert!(state(a2.clone()).await);
        assert!(!state(b1.clone()).await);
        s.revoke_user_sessions(&alice, None).await.unwrap();
        assert!(state(a1.clone()).await);

        s.finish_account_deletion(&alice).await.unwrap();
        s.finish_account_deletion(&alice).await.unwrap();
        // Bob lost nothing.
        let page = s.list_collections(&bob, None).await.unwrap();
        assert_eq!(page.collections, counts(&[("todos", 3)]));
        // Alice starts again from an empty account.
        s.check_writable(&alice).await.unwrap();
        assert!(s
            .list_collections(&alice, None)
            .await
            .unwrap()
            .collections
            .is_empty());
        s.create_item(&alice, &coll("todos"), &id("fresh"), obj(json!({})), T0)
            .await
            .unwrap();
        let page = s.list_collections(&alice, None).await.unwrap();
        assert_eq!(page.collections, counts(&[("todos", 1)]));
    }

    pub(crate) async fn account_deletion_marker_is_idempotent(s: &Store) {
        let dave = user("dave");
        assert_eq!(s.begin_account_deletion(&dave, T0).await.unwrap(), T0);
        // A second start (a retry, another device) keeps the first start time.
        let later = T0.plus_secs(30);
        assert_eq!(s.begin_account_deletion(&dave, later).await.unwrap(), T0);
        // Nothing to delete is not an error.
        assert_eq!(s.delete_user_items(&dave, 5).await.unwrap(), 0);
        s.delete_collection_registry(&dave).await.unwrap();
        assert_eq!(s.revoke_user_sessions(&dave, None).await.unwrap(), 0);
        s.finish_account_deletion(&dave).await.unwrap();
        assert_eq!(s.begin_account_deletion(&dave, later).await.unwrap(), later);
    }
}
