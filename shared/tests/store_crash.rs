//! Durability of the embedded store under `kill -9`: every write that returned before the
//! process died is in the database when it is opened again.
//!
//! The test re-executes its own binary as the writer (selected by an environment variable), so
//! no separate program has to be built: two writer processes share one database file, print
//! `ACK ...` after each write returns, and are SIGKILLed mid-stream. Then the database is
//! reopened and every acknowledged write checked.

// The writer process and the checks are the one test's body, split into functions clippy does
// not see as test code: a failed expect in them is a failed test.
#![allow(clippy::expect_used)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use miniapp_shared::ids::{Collection, ItemId, UserId};
use miniapp_shared::secret::SecretBytes;
use miniapp_shared::store::{Condition, Store, StoreConfig, StoreError, StoreKind};
use miniapp_shared::time_fmt::Timestamp;
use serde_json::json;
use test_support::fixtures::CURSOR_KEY;

/// Set in a writer process: the database file to write to.
const WRITER_DB: &str = "MINIAPP_STORE_CRASH_WRITER_DB";
/// Set in a writer process: its name, which prefixes its ids.
const WRITER_NAME: &str = "MINIAPP_STORE_CRASH_WRITER_NAME";
/// Acknowledged creates each writer must report before it is killed.
const ACKS_BEFORE_KILL: usize = 150;
/// A writer stops by itself after this long, should its parent vanish without killing it.
const WRITER_LIFETIME: Duration = Duration::from_secs(120);
const TEST_NAME: &str = "acknowledged_writes_survive_kill_9";

fn user() -> UserId {
    UserId::parse("crash-user").expect("user id")
}

fn coll() -> Collection {
    Collection::parse("writes").expect("collection")
}

fn counter_id() -> ItemId {
    ItemId::parse("counter").expect("id")
}

async fn open(path: &Path) -> Store {
    let cfg = StoreConfig {
        kind: StoreKind::Embedded(path.to_path_buf()),
        cursor_key: SecretBytes::new(CURSOR_KEY.to_vec()).into(),
    };
    Store::open(&cfg).await.expect("open embedded store")
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    if let (Some(db), Some(name)) = (std::env::var_os(WRITER_DB), std::env::var(WRITER_NAME).ok()) {
        return run_writer(Path::new(&db), &name);
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("crash.db");
    let names = ["w0", "w1"];
    let (tx, rx) = mpsc::channel();
    let mut children: Vec<Child> = names.iter().map(|n| spawn_writer(&db, n)).collect();
    let readers: Vec<_> = children
        .iter_mut()
        .zip(names)
        .map(|(child, name)| {
            let stdout = child.stdout.take().expect("piped stdout");
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if let Some(ack) = line.strip_prefix("ACK ") {
                        let _ = tx.send((name, ack.to_owned()));
                    }
                }
            })
        })
        .collect();
    drop(tx);

    let acks = collect_acks_then_kill(&rx, &mut children);
    for r in readers {
        r.join().expect("reader thread");
    }
    // Lines read after the kill were acknowledged before it: they count too.
    let acks: Vec<(&str, String)> = acks.into_iter().chain(rx.try_iter()).collect();
    verify(&db, &acks);
}

fn spawn_writer(db: &Path, name: &str) -> Child {
    let exe = std::env::current_exe().expect("own executable");
    Command::new(exe)
        .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
        .env(WRITER_DB, db)
        .env(WRITER_NAME, name)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawning a writer")
}

/// Reads acknowledgements until every writer made enough, then SIGKILLs them all.
fn collect_acks_then_kill(
    rx: &mpsc::Receiver<(&'static str, String)>,
    children: &mut [Child],
) -> Vec<(&'static str, String)> {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut acks = Vec::new();
    let mut creates: HashMap<&str, usize> = HashMap::new();
    while creates.len() < children.len() || creates.values().any(|&n| n < ACKS_BEFORE_KILL) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((name, ack)) => {
                if ack.starts_with("create ") {
                    *creates.entry(name).or_default() += 1;
                }
                acks.push((name, ack));
            }
            Err(_) => {
                kill_all(children);
                panic!("writers stalled; acknowledged creates so far: {creates:?}");
            }
        }
    }
    kill_all(children);
    acks
}

fn kill_all(children: &mut [Child]) {
    for child in children.iter_mut() {
        // `Child::kill` is SIGKILL on Unix: no destructor, no flush, no checkpoint.
        let _ = child.kill();
    }
    for child in children.iter_mut() {
        let _ = child.wait();
    }
}

/// Reopens the database and checks every acknowledged write.
fn verify(db: &Path, acks: &[(&str, String)]) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let store = open(db).await;
        let (u, c) = (user(), coll());
        let mut last_patch: HashMap<&str, (u64, u64)> = HashMap::new();
        let mut created = 0;
        for (name, ack) in acks {
            let words: Vec<&str> = ack.split(' ').collect();
            match words.as_slice() {
                ["create", id, n] => {
                    let item = store
                        .get_item(&u, &c, &ItemId::parse(id).expect("acked id"))
                        .await
                        .expect("read")
                        .unwrap_or_else(|| panic!("acknowledged create {id} is missing"));
                    assert_eq!(
                        item.data.to_object().expect("stored data parses")["n"].to_string(),
                        *n,
                        "{id}"
                    );
                    created += 1;
                }
                ["patch", n, v] => {
                    let n: u64 = n.parse().expect("n");
                    let v: u64 = v.parse().expect("version");
                    let e = last_patch.entry(name).or_default();
                    *e = (e.0.max(n), e.1.max(v));
                }
                other => panic!("unexpected ack {other:?}"),
            }
        }
        assert!(
            created >= 2 * ACKS_BEFORE_KILL,
            "only {created} creates acknowledged"
        );
        let counter = store
            .get_item(&u, &c, &counter_id())
            .await
            .expect("read")
            .expect("counter exists");
        for (name, (n, v)) in last_patch {
            assert!(
                counter.version.get() >= v,
                "acked version {v} of the counter is lost"
            );
            let stored = counter.data.to_object().expect("stored data parses")
                [format!("last_{name}").as_str()]
            .as_u64()
            .unwrap_or(0);
            assert!(
                stored >= n,
                "{name}'s acknowledged patch {n} is lost (stored {stored})"
            );
        }
    });
    let conn = rusqlite::Connection::open(db).expect("open for integrity check");
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity check");
    assert_eq!(check, "ok");
}

/// The writer process: creates items and patches a shared counter as fast as it can, printing
/// an acknowledgement after each write returns, until it is killed.
fn run_writer(db: &Path, name: &str) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let store = open(db).await;
        let (u, c, counter) = (user(), coll(), counter_id());
        let now = Timestamp::now();
        match store
            .create_item(&u, &c, &counter, Default::default(), now)
            .await
        {
            Ok(_) | Err(StoreError::PreconditionFailed) => {}
            Err(e) => panic!("creating the counter: {e}"),
        }
        let started = Instant::now();
        for n in 0u64.. {
            if started.elapsed() > WRITER_LIFETIME {
                break;
            }
            let id = format!("{name}-{n:06}");
            let data = json!({"n": n, "pad": "x".repeat(300)});
            let item_id = ItemId::parse(&id).expect("id");
            let data = data.as_object().cloned().unwrap_or_default();
            store
                .create_item(&u, &c, &item_id, data, now)
                .await
                .expect("create");
            println!("ACK create {id} {n}");
            if n % 3 == 0 {
                let patch = json!({ format!("last_{name}"): n });
                let item = store
                    .patch_item(&u, &c, &counter, patch, Condition::NONE, now)
                    .await
                    .expect("patch");
                println!("ACK patch {n} {}", item.version);
            }
        }
    });
}
