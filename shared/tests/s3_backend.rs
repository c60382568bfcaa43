//! The S3 backend against a real S3-compatible server (`moto_server`, path-style on
//! loopback): a browser-style multipart POST through the presigned form, HEAD, a presigned GET
//! (bytes, `Content-Type`, `Content-Disposition`), a presigned PUT, DELETE.
//!
//! moto stores what a form posts without checking the policy (it verifies neither the
//! signature, the expiry, the content type nor the length range); what these tests assert for
//! those cases is what it does, and that [`S3Backend::head`] then shows the size and type the
//! caller must check before a file becomes ready. Real S3 refuses all three (403 for an
//! expired policy, 403 for a condition not met, 400 `EntityTooLarge`/`EntityTooSmall`).
//!
//! Needs `moto_server`: run `bash scripts/ensure-venv.sh` first.

#![cfg(feature = "files-s3")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::OnceLock;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::{Credentials, SharedCredentialsProvider};
use miniapp_shared::files::s3::{content_disposition, S3Backend};
use miniapp_shared::files::types::{
    FileBackendError, ObjectInfo, ObjectKey, UploadForm, UploadPolicy,
};
use reqwest::multipart::{Form, Part};
use test_support::moto::MotoServer;
use time::OffsetDateTime;

/// One moto_server for the whole test binary; it dies with the process.
fn shared_moto() -> &'static MotoServer {
    static MOTO: OnceLock<MotoServer> = OnceLock::new();
    MOTO.get_or_init(MotoServer::start)
}

fn sdk_config(endpoint: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKIDTEST",
            "secret",
            Some("session-token".into()),
            None,
            "s3-tests",
        )))
        .build()
}

/// A backend on a fresh bucket of the shared server.
async fn backend(bucket: &str) -> S3Backend {
    let sdk = sdk_config(&shared_moto().endpoint());
    let admin = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    admin.create_bucket().bucket(bucket).send().await.unwrap();
    S3Backend::from_sdk_config(&sdk, bucket.to_owned(), true).unwrap()
}

fn policy(
    key: &str,
    content_type: &str,
    max_size: u64,
    expires_at: OffsetDateTime,
) -> UploadPolicy {
    UploadPolicy {
        key: ObjectKey::new(key.to_owned()),
        content_type: content_type.to_owned(),
        max_size,
        expires_at,
    }
}

/// Posts `form` as `multipart/form-data`, the fields in order and the file last, as
/// `my.uploadFile` / `wx.uploadFile` / a browser `FormData` do; the file part carries its own
/// (client-chosen) `Content-Type`.
async fn post_form(form: &UploadForm, body: &[u8], part_type: &str) -> reqwest::Response {
    let mut multipart = Form::new();
    for (name, value) in &form.fields {
        multipart = multipart.text(name.clone(), value.clone());
    }
    let file = Part::bytes(body.to_vec())
        .file_name("upload.bin")
        .mime_str(part_type)
        .unwrap();
    multipart = multipart.part(form.file_field, file);
    reqwest::Client::new()
        .post(&form.url)
        .multipart(multipart)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn post_head_get_put_delete() {
    let s3 = backend("files-roundtrip").await;
    let now = OffsetDateTime::now_utc();
    let key = ObjectKey::new("users/aGFzaA/0193a0b4-7c1e-7cc2-9d1a-6f0e2b1c4d5e".into());
    let body: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();

    // Upload through the presigned POST form.
    let p = policy(
        key.as_str(),
        "image/png",
        body.len() as u64,
        now + Duration::from_secs(300),
    );
    let form = s3.presign_post(&p, now).await.unwrap();
    assert_eq!(
        form.url,
        format!("{}/files-roundtrip", shared_moto().endpoint())
    );
    assert!(form
        .fields
        .iter()
        .any(|(k, v)| k == "x-amz-security-token" && v == "session-token"));
    let answer = post_form(&form, &body, "application/octet-stream").await;
    assert_eq!(answer.status(), 204, "{:?}", answer.text().await);

    // The type is the form's `Content-Type` field, not the file part's.
    let info = s3.head(&key).await.unwrap();
    assert_eq!(
        info,
        Some(ObjectInfo {
            size: body.len() as u64,
            content_type: Some("image/png".into())
        })
    );

    // Download through a presigned GET: same bytes, the asked type and disposition.
    let name = "Ünïcode \"photo\".png";
    let url = s3
        .presign_get(&key, name, "image/png", Duration::from_secs(60))
        .await
        .unwrap();
    let got = reqwest::get(&url).await.unwrap();
    assert_eq!(got.status(), 200);
    let header = |n: &str| got.headers()[n].to_str().unwrap().to_owned();
    assert_eq!(header("content-type"), "image/png");
    assert_eq!(
        header("content-disposition"),
        content_disposition(name, "image/png")
    );
    assert!(header("content-disposition").starts_with("inline; filename=\"_n_code _photo_.png\"; filename*=UTF-8''%C3%9Cn%C3%AFcode%20%22photo%22.png"));
    assert_eq!(got.bytes().await.unwrap(), body);

    // Upload another through a presigned PUT, with the signed headers.
    let other = ObjectKey::new("users/aGFzaA/other".into());
    let p = policy(
        other.as_str(),
        "text/plain",
        5,
        now + Duration::from_secs(300),
    );
    let put = s3.presign_put(&p, now).await.unwrap();
    let mut request = reqwest::Client::new().put(&put.url).body("hello");
    for (name, value) in &put.headers {
        request = request.header(name, value);
    }
    let answer = request.send().await.unwrap();
    assert_eq!(answer.status(), 200, "{:?}", answer.text().await);
    let info = s3.head(&other).await.unwrap().unwrap();
    assert_eq!(
        (info.size, info.content_type.as_deref()),
        (5, Some("text/plain"))
    );

    // Delete: gone, and deleting again is not an error.
    s3.delete(&key).await.unwrap();
    s3.delete(&other).await.unwrap();
    assert_eq!(s3.head(&key).await.unwrap(), None);
    assert_eq!(s3.head(&other).await.unwrap(), None);
    s3.delete(&key).await.unwrap();
    // The old download URL finds nothing: 404, or 403 from real S3 when the role may not
    // list the bucket, and from moto whenever the URL has `response-*` parameters (its
    // answer for a missing key is then `SignatureDoesNotMatch`, boto3's URLs included).
    let gone = reqwest::get(&url).await.unwrap();
    assert!(
        matches!(gone.status().as_u16(), 403 | 404),
        "{:?}",
        gone.text().await
    );
}

#[tokio::test]
async fn what_moto_does_with_forms_that_break_the_policy() {
    let s3 = backend("files-policy").await;
    let now = OffsetDateTime::now_utc();

    // Expired an hour ago (signed two hours ago): real S3 answers 403 "Invalid according to
    // Policy: Policy expired"; moto stores it.
    let expired = ObjectKey::new("users/x/expired".into());
    let p = policy(
        expired.as_str(),
        "image/png",
        10,
        now - Duration::from_secs(3600),
    );
    let form = s3
        .presign_post(&p, now - Duration::from_secs(7200))
        .await
        .unwrap();
    let status = post_form(&form, b"12345", "image/png").await.status();
    assert_eq!(
        status, 204,
        "moto now refuses expired policies: update this test"
    );
    assert_eq!(s3.head(&expired).await.unwrap().map(|i| i.size), Some(5));

    // A `Content-Type` field other than the policy's (a client changing the form): real S3
    // answers 403; moto stores the object with the posted type, which `head` shows.
    let retyped = ObjectKey::new("users/x/retyped".into());
    let p = policy(
        retyped.as_str(),
        "image/png",
        10,
        now + Duration::from_secs(300),
    );
    let mut form = s3.presign_post(&p, now).await.unwrap();
    for (name, value) in &mut form.fields {
        if name == "Content-Type" {
            *value = "text/html".into();
        }
    }
    let status = post_form(&form, b"<html>", "text/html").await.status();
    assert_eq!(
        status, 204,
        "moto now checks policy conditions: update this test"
    );
    let info = s3.head(&retyped).await.unwrap().unwrap();
    assert_eq!(info.content_type.as_deref(), Some("text/html"));

    // Larger than the range allows: real S3 answers 400 EntityTooLarge; moto stores it, and
    // `head` shows the size the caller must refuse.
    let big = ObjectKey::new("users/x/big".into());
    let p = policy(
        big.as_str(),
        "image/png",
        10,
        now + Duration::from_secs(300),
    );
    let form = s3.presign_post(&p, now).await.unwrap();
    let status = post_form(&form, &[7u8; 11], "image/png").await.status();
    assert_eq!(
        status, 204,
        "moto now checks content-length-range: update this test"
    );
    assert_eq!(s3.head(&big).await.unwrap().map(|i| i.size), Some(11));
}

#[tokio::test]
async fn an_unreachable_store_is_unavailable() {
    // A port nobody listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sdk = sdk_config(&format!("http://127.0.0.1:{port}"));
    let s3 = S3Backend::from_sdk_config(&sdk, "b".into(), true).unwrap();
    let key = ObjectKey::new("k".into());
    assert!(matches!(
        s3.head(&key).await,
        Err(FileBackendError::Unavailable(_))
    ));
    assert!(matches!(
        s3.delete(&key).await,
        Err(FileBackendError::Unavailable(_))
    ));
    // Signing needs no network.
    let now = OffsetDateTime::now_utc();
    let p = policy("k", "image/png", 1, now + Duration::from_secs(60));
    assert!(s3.presign_post(&p, now).await.is_ok());
    assert!(s3.presign_put(&p, now).await.is_ok());
}

/// A server answering every request with `status` and an empty body, on a loopback port.
async fn answering(status: u16) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                // One request per connection, bodyless requests only (HEAD, DELETE).
                let _ = conn.read(&mut buf).await;
                let answer = format!(
                    "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
                let _ = conn.write_all(answer.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}")
}

/// S3 answers a HEAD of a missing key with 403 to a role without `s3:ListBucket` (the
/// functions' role): absent, not an error. Other failures are errors.
#[tokio::test]
async fn a_forbidden_head_is_an_absent_object() {
    let key = ObjectKey::new("users/x/missing".into());
    let forbidden = sdk_config(&answering(403).await);
    let s3 = S3Backend::from_sdk_config(&forbidden, "bkt".into(), true).unwrap();
    assert_eq!(s3.head(&key).await.unwrap(), None);
    assert!(matches!(
        s3.delete(&key).await,
        Err(FileBackendError::Unavailable(_))
    ));
    let failing = sdk_config(&answering(500).await);
    let s3 = S3Backend::from_sdk_config(&failing, "bkt".into(), true).unwrap();
    assert!(matches!(
        s3.head(&key).await,
        Err(FileBackendError::Unavailable(_))
    ));
}

/// `S3Backend::from_env` in a child process (the environment is read-only here: other test
/// threads read it): `AWS_ENDPOINT_URL_S3` wins over `AWS_ENDPOINT_URL` (a dead port) and
/// `MINIAPP_S3_FORCE_PATH_STYLE=true` makes the URLs path-style.
#[test]
fn from_env_honours_the_s3_endpoint_and_path_style() {
    // A host name, not 127.0.0.1: the SDK addresses buckets path-style on IP endpoints anyway.
    let endpoint = format!("http://localhost:{}", shared_moto().port());
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "from_env_child", "--ignored", "--nocapture"])
        .env("S3_TEST_CHILD", "1")
        .env("AWS_ENDPOINT_URL_S3", &endpoint)
        .env("AWS_ENDPOINT_URL", format!("http://{dead}"))
        .env("MINIAPP_S3_FORCE_PATH_STYLE", "true")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "AKIDENV")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("AWS_SESSION_TOKEN", "env-token")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("form url: {endpoint}/files-from-env\n")),
        "{stdout}"
    );
}

/// The child of the test above (does nothing when run on its own).
#[tokio::test]
#[ignore = "run by from_env_honours_the_s3_endpoint_and_path_style"]
async fn from_env_child() {
    if std::env::var_os("S3_TEST_CHILD").is_none() {
        return;
    }
    let admin = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(
            &aws_config::load_defaults(BehaviorVersion::latest()).await,
        )
        .force_path_style(true)
        .build(),
    );
    admin
        .create_bucket()
        .bucket("files-from-env")
        .send()
        .await
        .unwrap();
    let s3 = S3Backend::from_env("files-from-env".into()).await.unwrap();
    let now = OffsetDateTime::now_utc();
    let p = policy("users/e/1", "text/plain", 3, now + Duration::from_secs(60));
    let form = s3.presign_post(&p, now).await.unwrap();
    println!("form url: {}", form.url);
    assert!(form
        .fields
        .iter()
        .any(|(k, v)| k == "x-amz-security-token" && v == "env-token"));
    assert_eq!(post_form(&form, b"abc", "text/plain").await.status(), 204);
    assert_eq!(s3.head(&p.key).await.unwrap().map(|i| i.size), Some(3));
}

/// Policies are signed with cached credentials, fetched again within five minutes of their
/// expiry (Lambda's last hours; the provider chain may call a network service).
#[tokio::test]
async fn credentials_are_cached_until_close_to_expiry() {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    /// How many times the provider is called by two more policies after a first one (which
    /// also has the SDK's own identity cache call it once, to presign the probe that finds the
    /// bucket's URL).
    async fn calls_after_the_first(lifetime: Duration) -> u32 {
        let calls = Arc::new(AtomicU32::new(0));
        let counter = Arc::clone(&calls);
        let provider = aws_credential_types::credential_fn::provide_credentials_fn(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let expiry = std::time::SystemTime::now() + lifetime;
            async move {
                Ok(Credentials::new(
                    "AKID",
                    "secret",
                    Some(format!("t{n}")),
                    Some(expiry),
                    "count",
                ))
            }
        });
        let sdk = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(SharedCredentialsProvider::new(provider))
            .build();
        let s3 = S3Backend::from_sdk_config(&sdk, "bkt".into(), false).unwrap();
        let now = OffsetDateTime::now_utc();
        let p = policy("k", "image/png", 1, now + Duration::from_secs(60));
        s3.presign_post(&p, now).await.unwrap();
        let first = calls.load(Ordering::SeqCst);
        for _ in 0..2 {
            s3.presign_post(&p, now).await.unwrap();
        }
        calls.load(Ordering::SeqCst) - first
    }

    assert_eq!(calls_after_the_first(Duration::from_secs(3600)).await, 0);
    assert_eq!(calls_after_the_first(Duration::from_secs(120)).await, 2);
}

#[test]
fn a_region_is_required() {
    let sdk = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .build();
    assert!(matches!(
        S3Backend::from_sdk_config(&sdk, "b".into(), false),
        Err(FileBackendError::Misconfigured(_))
    ));
}
