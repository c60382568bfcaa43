//! RSA2 costs on the vectors: signing the oauth sign content (with a key's first signature and
//! the key's parsing, which a cold start pays), verifying the oauth answer.

#![allow(clippy::unwrap_used)] // fixed fixtures; a failure is a broken bench

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use miniapp_shared::alipay::{
    extract_signed_node, rsa2_sign, verify_signed_node, AlipayPublicKey, AppPrivateKey,
};
use serde_json::Value;

fn case(file: &str, name: &str) -> Value {
    let all: Value = serde_json::from_str(file).unwrap();
    let cases = all["cases"].as_array().unwrap();
    cases.iter().find(|c| c["name"] == name).unwrap().clone()
}

fn rsa2(c: &mut Criterion) {
    let key = include_str!("../tests/fixtures/alipay/keys/app_private_pkcs1.pem");
    let key = AppPrivateKey::parse(key, "ALIPAY_APP_PRIVATE_KEY").unwrap();
    let requests = include_str!("../tests/fixtures/alipay/request_cases.json");
    let content = case(requests, "oauth_authorization_code")["gateway_sign_content"].clone();
    let content = content.as_str().unwrap().as_bytes();
    c.bench_function("rsa2_sign", |b| {
        b.iter(|| rsa2_sign(&key, black_box(content)).unwrap())
    });

    // The cold path: what a new process pays once, at start and in its first log-in.
    let pem = include_str!("../tests/fixtures/alipay/keys/app_private_pkcs1.pem");
    c.bench_function("app_key_parse", |b| {
        b.iter(|| AppPrivateKey::parse(black_box(pem), "ALIPAY_APP_PRIVATE_KEY").unwrap())
    });
    // A key's first private operation also sets up its blinding (aws-lc does that lazily).
    c.bench_function("rsa2_sign_first", |b| {
        b.iter_batched(
            || AppPrivateKey::parse(pem, "ALIPAY_APP_PRIVATE_KEY").unwrap(),
            |fresh| rsa2_sign(&fresh, black_box(content)).unwrap(),
            BatchSize::SmallInput,
        )
    });

    let public = include_str!("../tests/fixtures/alipay/keys/gateway_public_spki.pem");
    let public = AlipayPublicKey::parse(public, "ALIPAY_PUBLIC_KEY").unwrap();
    let responses = include_str!("../tests/fixtures/alipay/response_cases.json");
    let body = case(responses, "oauth_success")["body"]
        .as_str()
        .unwrap()
        .to_owned();
    c.bench_function("response_verify", |b| {
        b.iter(|| {
            let node = extract_signed_node(black_box(&body), "alipay_system_oauth_token_response");
            verify_signed_node(&node.unwrap(), &public).unwrap()
        })
    });
}

criterion_group!(benches, rsa2);
criterion_main!(benches);
