//! Both ways the store calls DynamoDB (the SDK's client, and the session read it sends itself,
//! `store/dynamo_direct.rs`) send the invocation's trace id (`miniapp_shared::trace`) as
//! `X-Amzn-Trace-Id`, without Lambda mode writing `_X_AMZN_TRACE_ID` into the process
//! environment. A loopback server stands in for DynamoDB and records the header.

// The stand-in server is test code outside a #[test] fn, where clippy cannot see it: a failed
// unwrap in it is a failed test.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::config::Credentials;
use miniapp_shared::secret::SecretBytes;
use miniapp_shared::store::{DynamoStore, Store, StoreConfig, StoreKind};
use test_support::fixtures::CURSOR_KEY;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

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
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(&url)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "trace-test"))
        .load()
        .await;
    let cfg = StoreConfig {
        kind: StoreKind::Dynamo {
            sessions_table: "sessions".into(),
            data_table: "data".into(),
            create_tables: false,
        },
        cursor_key: SecretBytes::new(CURSOR_KEY.to_vec()).into(),
    };
    let store = Store::Dynamo(DynamoStore::open_with_sdk_config(&sdk, &cfg).await.unwrap());
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
