//! DynamoDB failing under the functions' processes: an outage in the middle of a write load
//! (503 `StorageUnavailable` meanwhile, recovery without a restart, no acknowledged write
//! lost), throttling retried with backoff within the deadline, and answers lost on the way back.
//!
//! The functions reach moto through a fault proxy (`test_support::fault_proxy`) on a port of
//! its own. moto keeps its data in memory, so stopping it and starting it again would empty
//! it and prove nothing about lost writes; instead the proxy is cut (every open connection
//! reset, every new one reset on accept, as a server that went away) and later restored on the
//! same port, while moto and its data live on.

// Test-only code outside #[test] fns, where clippy cannot see it: a failed expect is a failed
// test.
#![allow(clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use integration_tests::functions::{
    function_env, start_gateway, Client, HttpFunction, Login, Reply, StoreMode,
};
use miniapp_shared::alipay::StandinHandle;
use serde_json::{json, Value};
use test_support::fault_proxy::{dynamodb_throttling, Fault, FaultProxy, Throttle};
use test_support::moto::MotoServer;

/// The store's whole-operation timeout (`OPERATION_TIMEOUT` in shared/src/store/dynamo.rs):
/// the deadline within which a request must be answered, retries included.
const STORE_DEADLINE: Duration = Duration::from_secs(8);
/// Attempts per store call (`MAX_ATTEMPTS`): the first and two retries.
const STORE_ATTEMPTS: u64 = 3;

struct Rig {
    client: Client,
    alice: Login,
    proxy: FaultProxy,
    session: HttpFunction,
    db: HttpFunction,
    _moto: MotoServer,
    _gateway: StandinHandle,
}

/// Both functions on moto behind one fault proxy; alice logged in.
async fn rig() -> Rig {
    let gateway = start_gateway().await;
    let moto = tokio::task::spawn_blocking(MotoServer::start)
        .await
        .expect("moto");
    let proxy = FaultProxy::start(SocketAddr::from((Ipv4Addr::LOCALHOST, moto.port()))).await;
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let store = StoreMode::Dynamo {
        endpoint: proxy.url(),
        sessions_table: format!("s-{suffix}"),
        data_table: format!("d-{suffix}"),
    };
    let mut env = function_env(&gateway.url(), &store);
    env.push(("MINIAPP_RATE_LIMITS".into(), "off".into()));
    let session = HttpFunction::spawn("session", &env).await;
    let db = HttpFunction::spawn("db", &env).await;
    let client = Client::new(&session.url, &db.url);
    let alice = client.login("dev-alice").await;
    Rig {
        client,
        alice,
        proxy,
        session,
        db,
        _moto: moto,
        _gateway: gateway,
    }
}

fn is_running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|s| {
        !s.lines()
            .any(|l| l.starts_with("State:") && l.contains('Z'))
    })
}

/// A 503 as the contract has it: `StorageUnavailable` with `Retry-After`.
fn is_storage_unavailable(r: &Reply) -> bool {
    r.status == 503 && r.code() == "StorageUnavailable" && r.headers.contains_key("retry-after")
}

/// What one write of the load got.
#[derive(Debug, Clone)]
struct Outcome {
    id: String,
    seq: u64,
    status: u16,
    code: String,
    retry_after: bool,
    at: Instant,
}

/// A write's answer as the contract allows it during an outage: done, or 503 with Retry-After.
fn on_contract(o: &Outcome) -> bool {
    matches!(o.status, 200 | 201)
        || (o.status == 503 && o.code == "StorageUnavailable" && o.retry_after)
}

/// Writers that PUT fresh items until told to stop, recording every answer.
fn write_load(
    rig: &Rig,
    writers: u64,
    stop: &Arc<AtomicBool>,
    log: &Arc<Mutex<Vec<Outcome>>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..writers)
        .map(|w| {
            let (client, alice) = (rig.client.clone(), rig.alice.clone());
            let (stop, log) = (Arc::clone(stop), Arc::clone(log));
            tokio::spawn(async move {
                let mut seq = 0;
                while !stop.load(Ordering::SeqCst) {
                    seq += 1;
                    let id = format!("w{w}-{seq}");
                    let body = json!({"w": w, "seq": seq});
                    let path = format!("/db/load/{id}");
                    let r = client.db(&alice, "PUT", &path, Some(body)).await;
                    let outcome = Outcome {
                        id,
                        seq,
                        status: r.status.as_u16(),
                        code: r.code(),
                        retry_after: r.headers.contains_key("retry-after"),
                        at: Instant::now(),
                    };
                    log.lock().expect("log").push(outcome);
                }
            })
        })
        .collect()
}

fn acked_since(log: &Mutex<Vec<Outcome>>, since: Instant) -> usize {
    let log = log.lock().expect("log");
    log.iter()
        .filter(|o| o.at >= since && (200..300).contains(&o.status))
        .count()
}

async fn wait_for_acks(log: &Mutex<Vec<Outcome>>, since: Instant, n: usize, within: Duration) {
    let deadline = Instant::now() + within;
    while acked_since(log, since) < n {
        assert!(
            Instant::now() < deadline,
            "fewer than {n} writes acknowledged within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every item of `coll`, by id, read page by page.
async fn all_items(rig: &Rig, coll: &str) -> BTreeMap<String, Value> {
    let mut items = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/db/{coll}?limit=100&cursor={c}"),
            None => format!("/db/{coll}?limit=100"),
        };
        let r = rig.client.db(&rig.alice, "GET", &path, None).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let page = r.json();
        for item in page["items"].as_array().expect("items") {
            let id = item["id"].as_str().expect("id").to_owned();
            items.insert(id, item["data"].clone());
        }
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return items,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_mid_write_load_loses_no_acknowledged_write() {
    let rig = rig().await;
    let db_pid = rig.db.pid();
    let stop = Arc::new(AtomicBool::new(false));
    let log = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let writers = write_load(&rig, 8, &stop, &log);
    wait_for_acks(&log, started, 40, Duration::from_secs(30)).await;

    // The store goes away under the load.
    let cut_at = Instant::now();
    rig.proxy.cut();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let probe_started = Instant::now();
    let probe = rig
        .client
        .db(&rig.alice, "GET", "/db/load/w0-1", None)
        .await;
    let probe_took = probe_started.elapsed();
    probe.assert_error(503, "StorageUnavailable");
    assert_eq!(
        probe
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    assert!(
        probe_took < STORE_DEADLINE,
        "503 within the deadline: {probe_took:?}"
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(is_running(db_pid), "the db function survives the outage");

    // It comes back on the same port; the same process serves again by itself.
    let restored_at = Instant::now();
    rig.proxy.restore();
    wait_for_acks(&log, restored_at, 40, Duration::from_secs(30)).await;
    let recovered_in = {
        let log = log.lock().expect("log");
        log.iter()
            .filter(|o| o.at >= restored_at && (200..300).contains(&o.status))
            .map(|o| o.at - restored_at)
            .min()
            .expect("an acknowledged write after the restore")
    };
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.await.expect("writer");
    }
    assert!(is_running(db_pid), "the same db process, never restarted");

    let outcomes = log.lock().expect("log").clone();
    let off_contract: Vec<&Outcome> = outcomes.iter().filter(|o| !on_contract(o)).collect();
    assert!(
        off_contract.is_empty(),
        "answers off the contract: {off_contract:?}"
    );
    let acked: BTreeMap<&str, u64> = outcomes
        .iter()
        .filter(|o| (200..300).contains(&o.status))
        .map(|o| (o.id.as_str(), o.seq))
        .collect();
    let unavailable = outcomes.iter().filter(|o| o.status == 503).count();
    let during_cut = outcomes
        .iter()
        .filter(|o| o.at > cut_at && o.at < restored_at)
        .count();

    let stored = all_items(&rig, "load").await;
    let lost: Vec<&str> = acked
        .iter()
        .filter(|(id, seq)| {
            stored
                .get(**id)
                .is_none_or(|d| d["seq"].as_u64() != Some(**seq))
        })
        .map(|(id, _)| *id)
        .collect();
    let stored_ids: BTreeSet<&str> = stored.keys().map(String::as_str).collect();
    let landed_unacked = stored_ids
        .iter()
        .filter(|id| !acked.contains_key(**id))
        .count();
    println!(
        "outage under write load: {} writes, {} acknowledged (2xx), {} answered 503 \
         StorageUnavailable ({} answered during the 3 s cut; {} connections reset by the cut), \
         recovered {:?} after the restore; stored afterwards {}, of which not acknowledged {}; \
         lost = {}",
        outcomes.len(),
        acked.len(),
        unavailable,
        during_cut,
        rig.proxy.refused(),
        recovered_in,
        stored.len(),
        landed_unacked,
        lost.len()
    );
    assert!(
        unavailable > 0 && rig.proxy.refused() > 0,
        "the outage was seen"
    );
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
    assert!(
        recovered_in < Duration::from_secs(10),
        "recovery took {recovered_in:?}"
    );
    drop(rig.session);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_retried_with_backoff_within_the_deadline() {
    let rig = rig().await;
    let (c, alice) = (&rig.client, &rig.alice);
    let warm = c.db(alice, "PUT", "/db/t/warm", Some(json!({}))).await;
    assert_eq!(warm.status, 201);
    for kind in [
        Throttle::ProvisionedThroughputExceeded,
        Throttle::Throttling,
    ] {
        // A short burst: retried, and the request succeeds.
        let before = rig.proxy.requests();
        rig.proxy.queue(
            (STORE_ATTEMPTS - 1) as usize,
            Fault::Reply(dynamodb_throttling(kind)),
        );
        let started = Instant::now();
        let path = format!("/db/t/{kind:?}");
        let r = c.db(alice, "PUT", &path, Some(json!({"k": 1}))).await;
        let took = started.elapsed();
        assert_eq!(
            r.status,
            201,
            "{kind:?}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(rig.proxy.queued(), 0, "both throttled answers were met");
        let calls = rig.proxy.requests() - before;
        println!(
            "{kind:?} x{}: 201 after {calls} store calls in {took:?}",
            STORE_ATTEMPTS - 1
        );
        assert!(took < STORE_DEADLINE, "{took:?}");
        assert_eq!(c.db(alice, "GET", &path, None).await.status, 200);

        // Throttling that lasts: 503 within the deadline, after the bounded attempts.
        rig.proxy
            .set_default(Fault::Reply(dynamodb_throttling(kind)));
        let before = rig.proxy.requests();
        let started = Instant::now();
        let r = c.db(alice, "PUT", &path, Some(json!({"k": 2}))).await;
        let took = started.elapsed();
        let calls = rig.proxy.requests() - before;
        rig.proxy.set_default(Fault::Forward);
        println!(
            "{kind:?} lasting: {} {} after {calls} store calls in {took:?}",
            r.status,
            r.code()
        );
        r.assert_error(503, "StorageUnavailable");
        assert!(r.headers.contains_key("retry-after"));
        assert!(took < STORE_DEADLINE, "{took:?}");
        assert_eq!(
            calls, STORE_ATTEMPTS,
            "one store call, retried, then given up"
        );

        // And once it stops, the same process serves again.
        let r = c.db(alice, "PUT", &path, Some(json!({"k": 3}))).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
}

/// A store that accepts connections and never answers (a stalled server, a lost network):
/// 503 by the deadline, not a hung request, and service again once it answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_stops_answering_is_503_by_the_deadline() {
    let rig = rig().await;
    let (c, alice) = (&rig.client, &rig.alice);
    rig.proxy.set_default(Fault::Hang);
    let started = Instant::now();
    let r = c.db(alice, "GET", "/db/t", None).await;
    let took = started.elapsed();
    rig.proxy.set_default(Fault::Forward);
    println!(
        "a store that never answers: {} {} in {took:?}",
        r.status,
        r.code()
    );
    r.assert_error(503, "StorageUnavailable");
    // The operation timeout ends the call; allow for a loaded machine's scheduling.
    assert!(took < STORE_DEADLINE + Duration::from_secs(2), "{took:?}");
    assert_eq!(c.db(alice, "GET", "/db/t", None).await.status, 200);
}

/// An answer lost on the way back after DynamoDB applied a write: the SDK retries the write,
/// which must not turn a success into an error the client cannot explain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_whose_answer_was_lost_is_not_refused_by_its_own_retry() {
    let rig = rig().await;
    let (c, alice) = (&rig.client, &rig.alice);

    // POST creates with a fresh id (PutItem, attribute_not_exists).
    rig.proxy
        .queue_matching("DynamoDB_20120810.PutItem", 1, Fault::ForwardThenReset);
    let r = c.db(alice, "POST", "/db/lost", Some(json!({"n": 1}))).await;
    assert_eq!(rig.proxy.queued(), 0);
    println!("POST with its answer lost: {} {}", r.status, r.code());
    assert!(
        r.status == 201 || is_storage_unavailable(&r),
        "{} {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    let stored = all_items(&rig, "lost").await;
    if r.status == 201 {
        let id = r.json()["id"].as_str().expect("id").to_owned();
        assert_eq!(stored.get(&id), Some(&json!({"n": 1})));
        assert_eq!(stored.len(), 1);
    }

    // A log-in records its session the same way.
    rig.proxy
        .queue_matching("DynamoDB_20120810.PutItem", 1, Fault::ForwardThenReset);
    let r = c.login_reply("dev-bob").await;
    assert_eq!(rig.proxy.queued(), 0);
    println!(
        "POST /session with its answer lost: {} {}",
        r.status,
        r.code()
    );
    assert!(
        r.status == 201 || is_storage_unavailable(&r),
        "{} {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    if r.status == 201 {
        let bob = integration_tests::functions::login_from(r.json());
        assert_eq!(c.session(&bob, "GET", "/session").await.status, 200);
    }

    // A refresh advances the session's generation with one conditional UpdateItem.
    rig.proxy
        .queue_matching("DynamoDB_20120810.UpdateItem", 1, Fault::ForwardThenReset);
    let r = c.session(alice, "POST", "/session/refresh").await;
    assert_eq!(rig.proxy.queued(), 0);
    println!(
        "POST /session/refresh with its answer lost: {} {}",
        r.status,
        r.code()
    );
    assert!(
        r.status == 200 || is_storage_unavailable(&r),
        "{} {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    if r.status == 200 {
        // The new credentials are the session's newest: they refresh in turn; the old ones
        // stay single-use.
        let fresh = integration_tests::functions::login_from(r.json());
        assert_eq!(
            c.session(&fresh, "POST", "/session/refresh").await.status,
            200
        );
        c.session(alice, "POST", "/session/refresh")
            .await
            .assert_error(401, "InvalidSecurityToken");
    }
}
