//! Conformance cases of atomic batches and filtered listings (docs/api.md §4.5, §4.6): one
//! table of filters with their expected matches, run on both backends, so they agree.

use super::*;
use miniapp_shared::store::{
    BatchOp, BatchOutcome, Filter, Page, MAX_BATCH_DATA_BYTES, MAX_FILTER_SCAN,
};

fn put(c: &str, i: &str, data: Value) -> BatchOp {
    BatchOp::Put {
        coll: coll(c),
        id: id(i),
        data: obj(data),
        cond: Condition::NONE,
    }
}

fn cond_put(c: &str, i: &str, data: Value, cond: Condition) -> BatchOp {
    BatchOp::Put {
        coll: coll(c),
        id: id(i),
        data: obj(data),
        cond,
    }
}

async fn data_of(s: &Store, u: &UserId, c: &str, i: &str) -> Option<(Value, u64)> {
    let item = s.get_item(u, &coll(c), &id(i)).await.unwrap()?;
    let v: Value = serde_json::from_str(item.data.as_str()).unwrap();
    Some((v, item.version.get()))
}

pub(crate) async fn batches_write_all_or_nothing(s: &Store) {
    let u = user("alice");
    s.put_item(
        &u,
        &coll("todos"),
        &id("b"),
        obj(json!({"n": 1})),
        Condition::NONE,
        T0,
    )
    .await
    .unwrap();
    s.put_item(
        &u,
        &coll("todos"),
        &id("c"),
        obj(json!({"n": 2})),
        Condition::NONE,
        T0,
    )
    .await
    .unwrap();
    let later = T0.plus_secs(5);
    let ops = vec![
        put("todos", "a", json!({"n": 0})),
        BatchOp::Patch {
            coll: coll("todos"),
            id: id("b"),
            patch: json!({"m": true}),
            cond: Condition::if_match(version(1)),
        },
        BatchOp::Delete {
            coll: coll("todos"),
            id: id("c"),
            cond: Condition::NONE,
        },
        BatchOp::Create {
            coll: coll("notes"),
            id: id("fresh"),
            data: obj(json!({"t": "x"})),
        },
    ];
    let out = s.write_batch(&u, &ops, later).await.unwrap();
    assert_eq!(out.len(), 4);
    match &out[1] {
        BatchOutcome::Written(item) => {
            assert_eq!(
                (item.version, item.created_at, item.updated_at),
                (version(2), T0, later)
            );
            assert_eq!(item.data, obj(json!({"m": true, "n": 1})));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(out[2], BatchOutcome::Deleted);
    assert!(matches!(&out[3], BatchOutcome::Written(i) if i.version == Version::FIRST));
    assert_eq!(
        data_of(s, &u, "todos", "a").await,
        Some((json!({"n": 0}), 1))
    );
    assert_eq!(data_of(s, &u, "todos", "c").await, None);
    assert_eq!(
        data_of(s, &u, "notes", "fresh").await,
        Some((json!({"t": "x"}), 1))
    );

    // Each way an operation can fail: nothing at all is written, and the index is the first.
    let before = || async {
        (
            data_of(s, &u, "todos", "a").await,
            data_of(s, &u, "todos", "b").await,
            data_of(s, &u, "todos", "z").await,
        )
    };
    let snapshot = before().await;
    let failing: Vec<(Vec<BatchOp>, usize, StoreError)> = vec![
        (
            vec![
                put("todos", "z", json!({})),
                cond_put(
                    "todos",
                    "a",
                    json!({"n": 9}),
                    Condition::if_match(version(7)),
                ),
                cond_put("todos", "b", json!({}), Condition::if_match(version(7))),
            ],
            1,
            StoreError::PreconditionFailed,
        ),
        (
            vec![
                put("todos", "z", json!({})),
                BatchOp::Patch {
                    coll: coll("todos"),
                    id: id("gone"),
                    patch: json!({}),
                    cond: Condition::NONE,
                },
            ],
            1,
            StoreError::NotFound,
        ),
        (
            vec![
                put("todos", "z", json!({})),
                BatchOp::Delete {
                    coll: coll("todos"),
                    id: id("gone"),
                    cond: Condition::if_match(version(1)),
                },
            ],
            1,
            StoreError::PreconditionFailed,
        ),
        (
            vec![
                put("todos", "z", json!({})),
                BatchOp::Delete {
                    coll: coll("todos"),
                    id: id("gone"),
                    cond: Condition::NONE,
                },
            ],
            1,
            StoreError::NotFound,
        ),
        (
            vec![
                BatchOp::Create {
                    coll: coll("todos"),
                    id: id("a"),
                    data: obj(json!({})),
                },
                put("todos", "z", json!({})),
            ],
            0,
            StoreError::PreconditionFailed,
        ),
        (
            vec![
                put("todos", "z", json!({})),
                cond_put("todos", "b", json!({}), Condition::create_only()),
            ],
            1,
            StoreError::PreconditionFailed,
        ),
        (
            vec![
                put("todos", "z", json!({})),
                put(
                    "todos",
                    "y",
                    json!({"big": "x".repeat(MAX_DATA_JSON_BYTES)}),
                ),
            ],
            1,
            StoreError::ItemTooLarge {
                size: MAX_DATA_JSON_BYTES + 10,
                limit: MAX_DATA_JSON_BYTES,
            },
        ),
    ];
    for (ops, index, error) in failing {
        let e = s.write_batch(&u, &ops, later).await.unwrap_err();
        assert_eq!((e.index, e.error), (Some(index), error), "{ops:?}");
        assert_eq!(before().await, snapshot, "nothing written by {ops:?}");
    }
    // Shape: empty, too many, and two operations on one item.
    assert!(s.write_batch(&u, &[], later).await.is_err());
    let many: Vec<BatchOp> = (0..26)
        .map(|i| put("t", &format!("i{i}"), json!({})))
        .collect();
    assert!(s.write_batch(&u, &many, later).await.is_err());
    let twice = vec![put("t", "x", json!({})), put("t", "x", json!({}))];
    assert_eq!(
        s.write_batch(&u, &twice, later).await.unwrap_err().index,
        Some(1)
    );
    assert_eq!(data_of(s, &u, "t", "x").await, None);
    // Batches stay within the caller's own data.
    assert_eq!(data_of(s, &user("bob"), "todos", "a").await, None);
}

/// A batch whose merged items pass what one `TransactWriteItems` may carry is refused as a
/// whole (413), before anything is written.
pub(crate) async fn batch_total_size_is_bounded(s: &Store) {
    let u = user("alice");
    let big = "x".repeat(330_000);
    let n = MAX_BATCH_DATA_BYTES / 330_000 + 1;
    for i in 0..n {
        s.put_item(
            &u,
            &coll("big"),
            &id(&format!("i{i}")),
            obj(json!({"b": big})),
            Condition::NONE,
            T0,
        )
        .await
        .unwrap();
    }
    let ops: Vec<BatchOp> = (0..n)
        .map(|i| BatchOp::Patch {
            coll: coll("big"),
            id: id(&format!("i{i}")),
            patch: json!({"more": 1}),
            cond: Condition::NONE,
        })
        .collect();
    let e = s.write_batch(&u, &ops, T0).await.unwrap_err();
    assert_eq!(e.index, None);
    assert!(
        matches!(
            e.error,
            StoreError::ItemTooLarge {
                limit: MAX_BATCH_DATA_BYTES,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.error.code(), ErrorCode::PayloadTooLarge);
    let (v, ver) = data_of(s, &u, "big", "i0").await.unwrap();
    assert_eq!((v.get("more"), ver), (None, 1));
    // One fewer fits.
    s.write_batch(&u, &ops[1..], T0).await.unwrap();
}

/// Writers race to move units between two items with version-pinned batches: every
/// acknowledged batch is in the final state, and no reader of the embedded store (whose
/// listing is one snapshot) ever sees half a batch. DynamoDB's Query is read-committed per
/// item, so there only the final state is checked.
pub(crate) async fn concurrent_batches_are_atomic(s: &Store) {
    let u = user("alice");
    let c = coll("acct");
    for i in ["a", "b"] {
        s.put_item(&u, &c, &id(i), obj(json!({"n": 50})), Condition::NONE, T0)
            .await
            .unwrap();
    }
    let snapshot_reads = matches!(s, Store::Embedded(_));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (s, u, c, stop) = (s.clone(), u.clone(), c.clone(), stop.clone());
        tokio::spawn(async move {
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let q = ListQuery {
                    prefix: None,
                    order: Order::Asc,
                    limit: 10,
                    cursor: None,
                };
                let page = s.list_items(&u, &c, &q).await.unwrap();
                let total: u64 = page
                    .items
                    .iter()
                    .map(|i| i.data.to_object().unwrap()["n"].as_u64().unwrap())
                    .sum();
                if snapshot_reads {
                    assert_eq!(total, 100, "a partial batch was visible");
                }
                reads += 1;
            }
            reads
        })
    };
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let (s, u, c) = (s.clone(), u.clone(), c.clone());
            tokio::spawn(async move {
                let mut done = 0u64;
                for _ in 0..3 {
                    loop {
                        let a = s.get_item(&u, &c, &id("a")).await.unwrap().unwrap();
                        let b = s.get_item(&u, &c, &id("b")).await.unwrap().unwrap();
                        let n = |i: &miniapp_shared::store::Item| {
                            i.data.to_object().unwrap()["n"].as_u64().unwrap()
                        };
                        let (from, to) = if t % 2 == 0 { (&a, &b) } else { (&b, &a) };
                        let ops = vec![
                            BatchOp::Put {
                                coll: c.clone(),
                                id: from.id.clone(),
                                data: obj(json!({"n": n(from) - 1})),
                                cond: Condition::if_match(from.version),
                            },
                            BatchOp::Put {
                                coll: c.clone(),
                                id: to.id.clone(),
                                data: obj(json!({"n": n(to) + 1})),
                                cond: Condition::if_match(to.version),
                            },
                        ];
                        match s.write_batch(&u, &ops, T0).await {
                            Ok(_) => {
                                done += 1;
                                break;
                            }
                            Err(e) if e.error == StoreError::PreconditionFailed => continue,
                            Err(e) if matches!(e.error, StoreError::Contention(_)) => continue,
                            Err(e) => panic!("{e:?}"),
                        }
                    }
                }
                done
            })
        })
        .collect();
    let mut acknowledged = 0;
    for t in tasks {
        acknowledged += t.await.unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reader.await.unwrap() > 0);
    assert_eq!(acknowledged, 24);
    let (a, va) = data_of(s, &u, "acct", "a").await.unwrap();
    let (b, vb) = data_of(s, &u, "acct", "b").await.unwrap();
    // Even tasks move a→b, odd ones b→a, 12 each: back where they started.
    assert_eq!((a["n"].as_u64(), b["n"].as_u64()), (Some(50), Some(50)));
    // Every acknowledged batch wrote both items once.
    assert_eq!((va, vb), (25, 25));
}

async fn filter_ids(s: &Store, u: &UserId, c: &Collection, expr: &str) -> Vec<String> {
    let f = Filter::parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
    let q = ListQuery {
        prefix: None,
        order: Order::Asc,
        limit: 100,
        cursor: None,
    };
    let page = s.list_items_where(u, c, &q, &f).await.unwrap();
    assert_eq!(page.next_cursor, None, "{expr}");
    page.items
        .iter()
        .map(|i| i.id.as_str().to_owned())
        .collect()
}

/// One table of filters and the ids they match, the same on both backends: types never mix,
/// numbers compare numerically (only canonical ones, as DynamoDB keeps them), strings by bytes,
/// and whatever a value holds (quotes, `)`, `OR 1=1`, `#name`, `:value`) is only data.
pub(crate) async fn filters_agree_on_one_table(s: &Store) {
    let (u, c) = (user("alice"), coll("f"));
    let rows = [
        (
            "a",
            r#"{"done": false, "n": 1, "s": "apple", "tag": "x", "nested": {"k": 2}}"#,
        ),
        (
            "b",
            r#"{"done": true, "n": 2.5, "s": "banana", "tag": null}"#,
        ),
        ("c", r#"{"done": "false", "n": "3", "s": "Cherry"}"#),
        (
            "d",
            r#"{"n": 10, "s": "é", "nested": {"k": "2"}, "arr": [1, 2]}"#,
        ),
        (
            "e",
            r#"{"n": 1.0, "m": 1e2, "s": "it's \"quoted\"", "neg": -0.5}"#,
        ),
        (
            "f",
            r##"{"n": -3, "s": "", "q": ") OR 1=1 --", "h": "#name", "v": ":value"}"##,
        ),
        ("g", r#"{}"#),
        (
            "h",
            r#"{"nested": {"k": {"deep": true}}, "n": 100000000000000}"#,
        ),
    ];
    for (i, text) in rows {
        let data: JsonObject = serde_json::from_str(text).unwrap();
        s.put_item(&u, &c, &id(i), data, Condition::NONE, T0)
            .await
            .unwrap();
    }
    // Someone else's items never match.
    s.put_item(
        &user("bob"),
        &c,
        &id("a"),
        obj(json!({"done": false})),
        Condition::NONE,
        T0,
    )
    .await
    .unwrap();
    let table: &[(&str, &[&str])] = &[
        ("done == false", &["a"]),
        ("done != false", &["b", "c"]),
        ("done == \"false\"", &["c"]),
        ("done == 0", &[]),
        ("done exists true", &["a", "b", "c"]),
        ("done exists false", &["d", "e", "f", "g", "h"]),
        ("n == 1", &["a"]),
        ("n != 1", &["b", "c", "d", "e", "f", "h"]),
        ("n > 1", &["b", "d", "h"]),
        ("n <= 1", &["a", "f"]),
        ("n >= -3", &["a", "b", "d", "f", "h"]),
        ("n < 2.5", &["a", "f"]),
        ("n == 100000000000000", &["h"]),
        ("m == 100", &[]),
        ("neg < 0", &["e"]),
        ("s > \"b\"", &["b", "d", "e"]),
        ("s < \"b\"", &["a", "c", "f"]),
        ("s == \"\"", &["f"]),
        ("s == \"it's \\\"quoted\\\"\"", &["e"]),
        ("s >= \"é\"", &["d"]),
        ("tag == null", &["b"]),
        ("tag != null", &["a"]),
        ("tag in [\"x\",null]", &["a", "b"]),
        ("n in [1, 2.5, \"3\"]", &["a", "b", "c"]),
        ("nested.k == 2", &["a"]),
        ("nested.k == \"2\"", &["d"]),
        ("nested.k.deep == true", &["h"]),
        ("nested.k exists true", &["a", "d", "h"]),
        ("nested.k.deep.x exists true", &[]),
        ("arr == 1", &[]),
        ("arr != 1", &["d"]),
        ("q == \") OR 1=1 --\"", &["f"]),
        ("h == \"#name\"", &["f"]),
        ("v == \":value\"", &["f"]),
        ("s == \"x' OR '1'='1\"", &[]),
        ("s == \"\\\") OR 1=1 --\"", &[]),
        ("done == false AND n == 1", &["a"]),
        ("done == false AND n == 2", &[]),
        ("n > 1 AND n < 100", &["b", "d"]),
        ("missing == null", &[]),
        ("missing != 1", &[]),
    ];
    let mut wrong = Vec::new();
    for (expr, want) in table {
        let got = filter_ids(s, &u, &c, expr).await;
        if got != *want {
            wrong.push(format!("{expr}: got {got:?}, want {want:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Injection attempts in paths and syntax never reach a backend.
    for bad in [
        "done == false OR 1 == 1",
        "done == false) OR (1 == 1",
        "#done == false",
        ":v == 1",
        "$.done == false",
        "data.done' == 1",
        "a.\"b\" == 1",
        "a[0] == 1",
        "done == false; DROP TABLE items",
    ] {
        assert!(Filter::parse(bad).is_err(), "{bad}");
    }
}

/// A filter that matches little cannot make a request read without bound: each page reads at
/// most MAX_FILTER_SCAN items, may come back short or empty with a cursor, and walking the
/// cursors finds every match once. The cursor binds the filter.
pub(crate) async fn filtered_pages_read_a_bounded_number_of_items(s: &Store) {
    let (u, c) = (user("alice"), coll("scan"));
    let total = MAX_FILTER_SCAN + 50;
    let hits = [5, 150, MAX_FILTER_SCAN + 5, total - 1];
    for i in 0..total {
        let data = obj(json!({"hit": hits.contains(&i)}));
        s.put_item(&u, &c, &id(&format!("i{i:03}")), data, Condition::NONE, T0)
            .await
            .unwrap();
    }
    let f = Filter::parse("hit == true").unwrap();
    let q = |limit, cursor| ListQuery {
        prefix: None,
        order: Order::Asc,
        limit,
        cursor,
    };
    let page: Page = s.list_items_where(&u, &c, &q(10, None), &f).await.unwrap();
    let ids = |p: &Page| {
        p.items
            .iter()
            .map(|i| i.id.as_str().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(&page),
        ["i005", "i150"],
        "the first page stops at the scan budget"
    );
    let cur = page
        .next_cursor
        .clone()
        .expect("a cursor after a spent budget");
    let page2 = s
        .list_items_where(&u, &c, &q(10, Some(cur.clone())), &f)
        .await
        .unwrap();
    let want2 = [
        format!("i{:03}", MAX_FILTER_SCAN + 5),
        format!("i{:03}", total - 1),
    ];
    assert_eq!(ids(&page2), want2);
    assert_eq!(page2.next_cursor, None);
    // An empty page with a cursor: nothing matches in the first budget.
    let none = Filter::parse("hit == true AND hit == false").unwrap();
    let empty = s
        .list_items_where(&u, &c, &q(10, None), &none)
        .await
        .unwrap();
    assert!(empty.items.is_empty());
    let cur_none = empty.next_cursor.expect("an empty page still moves on");
    let end = s
        .list_items_where(&u, &c, &q(10, Some(cur_none)), &none)
        .await
        .unwrap();
    assert_eq!((end.items.len(), end.next_cursor), (0, None));
    // Limit 1, walked to the end: every match once, in order; then descending.
    for order in [Order::Asc, Order::Desc] {
        let (mut seen, mut cursor) = (Vec::new(), None);
        loop {
            let q = ListQuery {
                prefix: None,
                order,
                limit: 1,
                cursor,
            };
            let p = s.list_items_where(&u, &c, &q, &f).await.unwrap();
            assert!(p.items.len() <= 1);
            seen.extend(ids(&p));
            match p.next_cursor {
                Some(n) => cursor = Some(n),
                None => break,
            }
        }
        let mut want: Vec<String> = hits.iter().map(|i| format!("i{i:03}")).collect();
        if order == Order::Desc {
            want.reverse();
        }
        assert_eq!(seen, want, "{order:?}");
    }
    // With a prefix: only that range is read.
    let pq = ListQuery {
        prefix: Some("i1".into()),
        order: Order::Asc,
        limit: 10,
        cursor: None,
    };
    let p = s.list_items_where(&u, &c, &pq, &f).await.unwrap();
    assert_eq!(ids(&p), ["i150"]);
    // The cursor binds the filter: the same filter spelled differently is the same filter;
    // another filter, or no filter, refuses it.
    let same = Filter::parse("hit  ==  true").unwrap();
    assert!(s
        .list_items_where(&u, &c, &q(10, Some(cur.clone())), &same)
        .await
        .is_ok());
    let other = Filter::parse("hit == false").unwrap();
    let e = s
        .list_items_where(&u, &c, &q(10, Some(cur.clone())), &other)
        .await;
    assert!(matches!(e, Err(StoreError::InvalidCursor(_))), "{e:?}");
    let e = s.list_items(&u, &c, &q(10, Some(cur))).await;
    assert!(matches!(e, Err(StoreError::InvalidCursor(_))), "{e:?}");
    let plain = s
        .list_items(&u, &c, &q(2, None))
        .await
        .unwrap()
        .next_cursor
        .unwrap();
    let e = s.list_items_where(&u, &c, &q(2, Some(plain)), &f).await;
    assert!(matches!(e, Err(StoreError::InvalidCursor(_))), "{e:?}");
}

/// A batch registers the collections it creates items in (so `GET /db` and account deletion
/// see them on DynamoDB too), and is refused as a whole while the user's account is deleted.
pub(crate) async fn batches_register_collections_and_respect_deletion(s: &Store) {
    let u = user("erin");
    let ops = vec![
        put("books", "a", json!({"n": 1})),
        BatchOp::Create {
            coll: coll("films"),
            id: id("b"),
            data: obj(json!({"n": 2})),
        },
    ];
    s.write_batch(&u, &ops, T0).await.unwrap();
    let names: Vec<String> = s
        .list_collections(&u, None)
        .await
        .unwrap()
        .collections
        .iter()
        .map(|c| format!("{}={}", c.name.as_str(), c.count))
        .collect();
    assert_eq!(names, ["books=1", "films=1"]);
    s.begin_account_deletion(&u, T0).await.unwrap();
    let err = s
        .write_batch(&u, &[put("books", "c", json!({}))], T0)
        .await
        .unwrap_err();
    assert_eq!(err.error, StoreError::AccountDeleting);
    assert_eq!(data_of(s, &u, "books", "c").await, None);
}
