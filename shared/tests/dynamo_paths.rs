//! Both ways the store calls DynamoDB (the SDK's client for writes, and the session read it sends
//! itself, `store/dynamo_direct.rs`):
//! - send the invocation's trace id (`miniapp_shared::trace`) as `X-Amzn-Trace-Id`, without
//!   Lambda mode writing `_X_AMZN_TRACE_ID` into the process environment (a loopback server
//!   stands in for DynamoDB and records the header);
//! - share one pool of keep-alive connections: calls made one after another reuse one
//!   connection, whichever way they go (real moto on keep-alive connections, behind a relay
//!   that counts them).

// The stand-in server and the relay are test code outside a #[test] fn, where clippy cannot
// see it: a failed unwrap in it is a failed test.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::config::Credentials;
use miniapp_shared::ids::{SessionId, UserId};
use miniapp_shared::secret::SecretBytes;
use miniapp_shared::store::{Alongside, DynamoStore, SessionRecord, Store, StoreConfig, StoreKind};
use miniapp_shared::time_fmt::Timestamp;
use test_support::fixtures::CURSOR_KEY;
use test_support::moto::MotoServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A store on tables `sessions` and `data` at the DynamoDB endpoint `url`, with the tests' key.
async fn store_at(url: &str, create_tables: bool) -> Store {
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(url)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "dynamo-paths"))
        .load()
        .await;
    let cfg = StoreConfig {
        kind: StoreKind::Dynamo {
            sessions_table: "sessions".into(),
            data_table: "data".into(),
            create_tables,
        },
        cursor_key: SecretBytes::new(CURSOR_KEY.to_vec()).into(),
    };
    Store::Dynamo(DynamoStore::open_with_sdk_config(&sdk, &cfg).await.unwrap())
}

/// Answers every request with an empty DynamoDB JSON object; records each trace header seen.
async fn recording_server() -> (String, Arc<Mutex<Vec<Option<String>>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
                let trace = head
                    .lines()
                    .find_map(|l| l.strip_prefix("x-amzn-trace-id:"))
                    .map(|v| v.trim().to_owned());
                log.lock().unwrap().push(trace);
                let reply = "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\n\
                             content-length: 2\r\nconnection: close\r\n\r\n{}";
                let _ = conn.write_all(reply.as_bytes()).await;
            });
        }
    });
    (url, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trace_id_travels_without_the_environment() {
    assert!(std::env::var_os("_X_AMZN_TRACE_ID").is_none());
    let (url, seen) = recording_server().await;
    let store = store_at(&url, false).await;
    let id = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    miniapp_shared::trace::scope(Some(id.to_owned()), store.warm_up())
        .await
        .unwrap();
    store.warm_up().await.unwrap();
    let seen = seen.lock().unwrap().clone();
    // A warm-up reads once through the SDK and once directly.
    let traced = Some(id.to_ascii_lowercase());
    assert_eq!(seen, [traced.clone(), traced, None, None], "{seen:?}");
    assert!(std::env::var_os("_X_AMZN_TRACE_ID").is_none());
}

/// A relay to `upstream` on a loopback port; counts the connections it accepts.
async fn counting_relay(upstream: SocketAddr) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut server = TcpStream::connect(upstream).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            });
        }
    });
    (url, accepted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_calls_and_direct_reads_share_one_connection() {
    let moto = MotoServer::start_keepalive();
    let (url, accepted) = counting_relay(SocketAddr::from(([127, 0, 0, 1], moto.port()))).await;
    let store = store_at(&url, true).await;
    // hyper puts a connection back in its pool from the connection's own task, just after the
    // answer was read: a call made at once may open another. Pausing after each call keeps that
    // race out of the count.
    let settle = || tokio::time::sleep(Duration::from_millis(100));
    settle().await;
    // Creating the tables (through the SDK) left connections in the pool.
    let opened = accepted.load(Ordering::SeqCst);
    assert!(opened >= 1);
    let now = Timestamp::now();
    let user = UserId::parse("alipay:2088000000000001").unwrap();
    for _ in 0..3 {
        let record = SessionRecord {
            session_id: SessionId::generate(),
            user_id: user.clone(),
            created_at: now,
            expires_at: now.plus_secs(3600),
            revoked: false,
            refresh_generation: 0,
            union_id: None,
        };
        // A write through the SDK, then the direct read of what it wrote.
        store.create_session(&record).await.unwrap();
        settle().await;
        let read = store
            .get_session_with(&record.session_id, &user, now, Alongside::Nothing)
            .await
            .unwrap();
        assert_eq!(read.session, Some(record));
        settle().await;
    }
    // Three writes and three reads, one at a time, on the connections the SDK opened: no new
    // one. (With a pool per way, the direct reads opened their own.)
    assert_eq!(accepted.load(Ordering::SeqCst), opened);
}
