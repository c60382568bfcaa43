//! The S3 backend against boto3, byte for byte: presigned POST forms (our policy signer) and
//! presigned GET/PUT URLs (aws-sdk-s3), for fixed credentials, regions, endpoints, keys and
//! time. The vectors are made by fixtures/s3/make_vectors.py (see there for how boto3's clock
//! is frozen).

#![cfg(feature = "files-s3")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::{Credentials, SharedCredentialsProvider};
use miniapp_shared::files::post_policy::{self, PostTarget, SigningCredentials};
use miniapp_shared::files::s3::{content_disposition, S3Backend};
use miniapp_shared::files::types::{ObjectKey, UploadPolicy};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

const VECTORS: &str = include_str!("fixtures/s3/vectors.json");

struct Vectors {
    all: Value,
    now: OffsetDateTime,
}

fn vectors() -> Vectors {
    let all: Value = serde_json::from_str(VECTORS).unwrap();
    let now = OffsetDateTime::parse(all["now"].as_str().unwrap(), &Rfc3339).unwrap();
    Vectors { all, now }
}

impl Vectors {
    fn cases(&self, kind: &str) -> &[Value] {
        let cases = self.all[kind].as_array().unwrap();
        assert!(cases.len() >= 32, "{kind}: {} cases", cases.len());
        cases
    }

    fn credentials(&self, case: &Value) -> (String, String, Option<String>) {
        let c = &self.all["credentials"][case["credentials"].as_str().unwrap()];
        (
            c["access_key_id"].as_str().unwrap().to_owned(),
            c["secret_access_key"].as_str().unwrap().to_owned(),
            c["session_token"].as_str().map(str::to_owned),
        )
    }

    fn bucket(&self) -> String {
        self.all["bucket"].as_str().unwrap().to_owned()
    }

    fn backend(&self, case: &Value) -> S3Backend {
        let (id, secret, token) = self.credentials(case);
        let mut sdk = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(case["region"].as_str().unwrap().to_owned()))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                id, secret, token, None, "vectors",
            )));
        if let Some(endpoint) = case["endpoint"].as_str() {
            sdk = sdk.endpoint_url(endpoint);
        }
        let force_path_style = case["force_path_style"].as_bool().unwrap();
        S3Backend::from_sdk_config(&sdk.build(), self.bucket(), force_path_style).unwrap()
    }
}

fn str_of<'a>(case: &'a Value, field: &str) -> &'a str {
    case[field].as_str().unwrap()
}

fn fields_of(case: &Value) -> Vec<(String, String)> {
    case["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| {
            (
                pair[0].as_str().unwrap().into(),
                pair[1].as_str().unwrap().into(),
            )
        })
        .collect()
}

fn upload_policy(case: &Value, now: OffsetDateTime) -> UploadPolicy {
    UploadPolicy {
        key: ObjectKey::new(str_of(case, "key").to_owned()),
        content_type: str_of(case, "content_type").to_owned(),
        max_size: case["max_size"].as_u64().unwrap(),
        expires_at: now + Duration::from_secs(case["expires_in"].as_u64().unwrap()),
    }
}

/// The pure signer, given boto3's URL: every field, in boto3's order, equal (so the policy
/// document's bytes and the signature are boto3's).
#[test]
fn post_forms_equal_boto3s() {
    let v = vectors();
    let bucket = v.bucket();
    for case in v.cases("post") {
        let (id, secret, token) = v.credentials(case);
        let creds = SigningCredentials {
            access_key_id: &id,
            secret_access_key: &secret,
            session_token: token.as_deref(),
        };
        let target = PostTarget {
            region: str_of(case, "region"),
            bucket: &bucket,
            url: str_of(case, "url"),
        };
        let form = post_policy::presign_post(&creds, &target, &upload_policy(case, v.now), v.now);
        assert_eq!(form.fields, fields_of(case), "{case}");
        assert_eq!(form.url, str_of(case, "url"));
        assert_eq!(form.file_field, "file");
    }
}

/// Through the backend: the form's URL is the SDK's endpoint for the bucket, which equals
/// boto3's for AWS (regional), path-style and virtual-hosted custom endpoints.
#[tokio::test]
async fn backend_post_forms_equal_boto3s() {
    let v = vectors();
    for case in v.cases("post") {
        let form = v
            .backend(case)
            .presign_post(&upload_policy(case, v.now), v.now)
            .await
            .unwrap();
        assert_eq!(form.url, str_of(case, "url"), "{case}");
        assert_eq!(form.fields, fields_of(case), "{case}");
    }
}

#[test]
fn dispositions_equal_the_generators() {
    let v = vectors();
    for case in v.cases("get") {
        assert_eq!(
            content_disposition(str_of(case, "download_name"), str_of(case, "content_type")),
            str_of(case, "disposition")
        );
    }
}

#[tokio::test]
async fn presigned_gets_equal_boto3s() {
    let v = vectors();
    for case in v.cases("get") {
        let url = v
            .backend(case)
            .presign_get_at(
                &ObjectKey::new(str_of(case, "key").to_owned()),
                str_of(case, "download_name"),
                str_of(case, "content_type"),
                Duration::from_secs(case["ttl"].as_u64().unwrap()),
                v.now,
            )
            .await
            .unwrap();
        assert_same_url(&url, case);
    }
}

#[tokio::test]
async fn presigned_puts_equal_boto3s() {
    let v = vectors();
    for case in v.cases("put") {
        let p = UploadPolicy {
            key: ObjectKey::new(str_of(case, "key").to_owned()),
            content_type: str_of(case, "content_type").to_owned(),
            max_size: 1,
            expires_at: v.now + Duration::from_secs(case["ttl"].as_u64().unwrap()),
        };
        let put = v.backend(case).presign_put(&p, v.now).await.unwrap();
        assert_same_url(&put.url, case);
        assert_eq!(
            put.headers,
            vec![(
                "content-type".to_owned(),
                str_of(case, "content_type").to_owned()
            )]
        );
    }
}

/// Two differences from boto3, both shown here exactly:
/// - aws-sdk-s3 adds `x-id=<Operation>` first in every query (its operation marker; S3
///   ignores it); being signed like any parameter, it changes the signature. So our URL is
///   compared with boto3's (pure-Python signer's) URL for the same request with that parameter,
///   and, without it and apart from the signature, with the URL boto3 makes unaided.
/// - With a session token, the SDK appends `X-Amz-Security-Token` after `X-Amz-Signature`
///   (boto3: just before it). The token is signed either way (the signatures are equal, and
///   the canonical query is sorted), so the parameter is moved back before comparing.
fn assert_same_url(ours: &str, case: &Value) {
    let ours = &token_before_signature(ours);
    let boto3 = str_of(case, "url_x_id_python");
    assert_eq!(ours, boto3, "\n ours: {ours}\nboto3: {boto3}");
    let unaided = str_of(case, "url_python");
    let (base, query) = ours.split_once('?').unwrap();
    let rest = query.split_once('&').unwrap().1;
    assert!(query.starts_with("x-id="), "{ours}");
    let unsigned = |url: &str| url.split("&X-Amz-Signature=").next().unwrap().to_owned();
    assert_eq!(unsigned(&format!("{base}?{rest}")), unsigned(unaided));
}

/// `…&X-Amz-Signature=S&X-Amz-Security-Token=T` (the SDK's order) as
/// `…&X-Amz-Security-Token=T&X-Amz-Signature=S` (boto3's).
fn token_before_signature(url: &str) -> String {
    let Some((head, token)) = url.split_once("&X-Amz-Security-Token=") else {
        return url.to_owned();
    };
    assert!(!token.contains('&'), "the token is last: {url}");
    let (head, signature) = head.split_once("&X-Amz-Signature=").unwrap();
    format!("{head}&X-Amz-Security-Token={token}&X-Amz-Signature={signature}")
}
