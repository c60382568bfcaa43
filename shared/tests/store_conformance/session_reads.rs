//! Conformance of [`Store::get_session_with`]: the session and what the request needs next,
//! read together (one `BatchGetItem` on DynamoDB), agree with reading them one by one.

use super::*;
use miniapp_shared::store::{Alongside, SessionRead};

fn session(user_id: &str, expires_in: i64) -> SessionRecord {
    SessionRecord {
        session_id: SessionId::generate(),
        user_id: user(user_id),
        created_at: T0,
        expires_at: T0.plus_secs(expires_in),
        revoked: false,
        refresh_generation: 0,
        union_id: None,
    }
}

async fn read(s: &Store, r: &SessionRecord, now: Timestamp, along: Alongside<'_>) -> SessionRead {
    s.get_session_with(&r.session_id, &r.user_id, now, along)
        .await
        .unwrap()
}

pub(crate) async fn sessions_are_read_with_what_follows(s: &Store) {
    let alice = session("alice", 3600);
    s.create_session(&alice).await.unwrap();
    let (todos, a, b) = (coll("todos"), id("a"), id("b"));
    s.create_item(&user("alice"), &todos, &a, obj(json!({"who": "alice"})), T0)
        .await
        .unwrap();
    // Same collection and id under another user: never what alice's read returns.
    s.create_item(&user("bob"), &todos, &a, obj(json!({"who": "bob"})), T0)
        .await
        .unwrap();
    s.create_item(&user("bob"), &todos, &b, obj(json!({"who": "bob"})), T0)
        .await
        .unwrap();

    let one_by_one = s.get_session(&alice.session_id, T0).await.unwrap();
    assert_eq!(one_by_one.as_ref(), Some(&alice));
    let item = Alongside::Item {
        coll: &todos,
        id: &a,
    };
    let got = read(s, &alice, T0, item).await;
    assert_eq!(got.session, one_by_one);
    let expected = s.get_item(&user("alice"), &todos, &a).await.unwrap();
    assert!(expected.is_some());
    assert_eq!(got.item, Some(expected));
    let absent = Alongside::Item {
        coll: &todos,
        id: &b,
    };
    let got = read(s, &alice, T0, absent).await;
    assert_eq!((got.session, got.item), (one_by_one.clone(), Some(None)));
    for along in [Alongside::Nothing, Alongside::AccountState] {
        let got = read(s, &alice, T0, along).await;
        assert_eq!(
            (got.session, got.item),
            (one_by_one.clone(), None),
            "{along:?}"
        );
    }

    // Unknown, past its TTL, revoked: as `get_session` answers.
    let unknown = session("alice", 3600);
    assert_eq!(read(s, &unknown, T0, item).await.session, None);
    let past_ttl = alice.expires_at.plus_secs(SESSION_TTL_GRACE_SECS + 1);
    assert_eq!(read(s, &alice, past_ttl, item).await.session, None);
    assert_eq!(
        s.get_session(&alice.session_id, past_ttl).await.unwrap(),
        None
    );
    s.revoke_session(&alice.session_id).await.unwrap();
    for along in [item, Alongside::AccountState] {
        let got = read(s, &alice, T0, along).await;
        assert!(got.session.unwrap().revoked, "{along:?}");
    }
}

/// A write after a session read that saw no deletion marker: refused once a deletion has begun,
/// whether the marker was there at the read or appeared later (another process), as soon as the
/// remembered check is older than its TTL.
pub(crate) async fn writes_after_a_session_read_respect_deletion(s: &Store) {
    let alice = session("alice", 3600);
    s.create_session(&alice).await.unwrap();
    let (alice_id, todos, x) = (user("alice"), coll("todos"), id("x"));
    let write = |n: i64| {
        s.put_item(
            &alice_id,
            &todos,
            &x,
            obj(json!({"n": n})),
            Condition::NONE,
            T0,
        )
    };
    let _ = read(s, &alice, T0, Alongside::AccountState).await;
    write(1).await.unwrap();
    s.begin_account_deletion(&user("alice"), T0).await.unwrap();
    let _ = read(s, &alice, T0, Alongside::AccountState).await;
    assert_eq!(write(2).await.unwrap_err(), StoreError::AccountDeleting);
    let data = s.get_item(&user("alice"), &todos, &id("x")).await.unwrap();
    assert_eq!(data.unwrap().data.as_str(), r#"{"n":1}"#);
}
