//! Cost of the per-request security work: issuing credentials (`POST /session`) and
//! verifying a signed request (every call), headers parsed and query canonicalised included.

use std::hint::black_box;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use criterion::{criterion_group, criterion_main, Criterion};
use http::HeaderMap;
use miniapp_shared::credentials::{issue, TokenKeys};
use miniapp_shared::ids::{SessionId, UserId};
use miniapp_shared::signing::{
    sign_request, verify_request, ClientCredentials, ExpiryPolicy, SignedRequest,
};
use miniapp_shared::time_fmt::Timestamp;

const NOW: Timestamp = Timestamp::from_unix(1_795_617_400);

fn bench_keys() -> TokenKeys {
    let list = format!(
        "k2:{},k1:{}",
        STANDARD.encode([2u8; 32]),
        STANDARD.encode([1u8; 32])
    );
    TokenKeys::parse(&list).unwrap_or_else(|e| panic!("bench keys: {e}"))
}

fn bench_ids() -> (SessionId, UserId) {
    let user = UserId::parse("2088102122524333").unwrap_or_else(|e| panic!("{e}"));
    (SessionId::generate(), user)
}

fn credential_issue(c: &mut Criterion) {
    let keys = bench_keys();
    let (session, user) = bench_ids();
    c.bench_function("credential_issue", |b| {
        b.iter(|| issue(black_box(&keys), &session, &user, NOW.plus_secs(3600)))
    });
}

fn request_verify(c: &mut Criterion) {
    let keys = bench_keys();
    let (session, user) = bench_ids();
    let creds = ClientCredentials::from(&issue(&keys, &session, &user, NOW.plus_secs(3600)));
    let body_200 = [b'x'; 200];
    for (name, body) in [
        ("request_verify/get_empty_body", &[][..]),
        ("request_verify/body_200B", &body_200[..]),
    ] {
        let query = "limit=20&prefix=a";
        let signed = sign_request(&creds, "GET", "/db/todos", query, body, NOW)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut headers = HeaderMap::new();
        signed
            .insert_into(&mut headers)
            .unwrap_or_else(|e| panic!("{e}"));
        let req = SignedRequest {
            method: "GET",
            raw_path: "/db/todos",
            raw_query: query,
            headers: &headers,
            body,
        };
        c.bench_function(name, |b| {
            b.iter(|| {
                let caller = verify_request(black_box(&req), &keys, NOW, ExpiryPolicy::Enforce);
                assert!(caller.is_ok());
            })
        });
    }
}

criterion_group!(benches, credential_issue, request_verify);
criterion_main!(benches);
