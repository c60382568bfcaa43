//! The DynamoDB store keeps one pool of keep-alive connections for both ways it calls
//! DynamoDB (the SDK's client for writes, and the session read it sends itself,
//! `store/dynamo_direct.rs`): calls made one after another reuse one connection, whichever
//! way they go. Real moto on keep-alive connections, behind a relay that counts them.

// The relay is test code outside a #[test] fn, where clippy cannot see it: a failed unwrap in
// it is a failed test.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::config::Credentials;
use miniapp_shared::ids::{SessionId, UserId};
use miniapp_shared::secret::SecretBytes;
use miniapp_shared::store::{Alongside, DynamoStore, SessionRecord, Store, StoreConfig, StoreKind};
use miniapp_shared::time_fmt::Timestamp;
use test_support::fixtures::CURSOR_KEY;
use test_support::moto::MotoServer;
use tokio::net::{TcpListener, TcpStream};

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
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(&url)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "pool-test"))
        .load()
        .await;
    let cfg = StoreConfig {
        kind: StoreKind::Dynamo {
            sessions_table: "sessions".into(),
            data_table: "data".into(),
            create_tables: true,
        },
        cursor_key: SecretBytes::new(CURSOR_KEY.to_vec()).into(),
    };
    let store = Store::Dynamo(DynamoStore::open_with_sdk_config(&sdk, &cfg).await.unwrap());
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
        let read = store
            .get_session_with(&record.session_id, &user, now, Alongside::Nothing)
            .await
            .unwrap();
        assert_eq!(read.session, Some(record));
    }
    // Table creation, three writes and three reads, one at a time: one connection. (Two pools
    // made two: one per way.)
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}
