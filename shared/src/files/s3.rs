//! The S3 file backend: presigned POST forms (`post_policy`), presigned GET and PUT URLs,
//! HeadObject and DeleteObject through `aws-sdk-s3`.
//!
//! `AWS_ENDPOINT_URL_S3` (or `AWS_ENDPOINT_URL`) points it at any S3-compatible store;
//! `MINIAPP_S3_FORCE_PATH_STYLE=true` addresses buckets path-style for stores without
//! per-bucket host names (the SDK does so by itself for an endpoint that is an IP address).
//! The client is built on first use, not at start-up: a cold start that serves no file
//! request does not pay for it.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{Credentials, ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::operation::head_object::HeadObjectError;
use aws_sdk_s3::presigning::{PresignedRequest, PresigningConfig};
use aws_sdk_s3::Client;
use aws_smithy_runtime_api::client::http::SharedHttpConnector;
use aws_types::SdkConfig;
use time::OffsetDateTime;
use tokio::sync::Mutex;

pub use super::names::content_disposition;
use super::post_policy::{self, PostTarget, SigningCredentials};
use super::types::{
    FileBackendError, ObjectInfo, ObjectKey, PresignedPut, UploadForm, UploadPolicy,
};
use crate::aws_http::{AwsConnector, OneConnector, PoolSettings};
use crate::config::vars;

const MAX_ATTEMPTS: u32 = 3;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Shorter than hyper's 90 s default: reusing a connection the server closed while it sat idle
/// costs a retry.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(15);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
const OPERATION_TIMEOUT: Duration = Duration::from_secs(12);
/// Credentials this close to their expiry are fetched again before signing a policy.
const CREDENTIALS_MARGIN: Duration = Duration::from_secs(300);
/// The key of the request presigned once to learn the bucket's URL (never sent).
const PROBE_KEY: &str = "k";

/// The backend's connector (aws_http.rs: the process's TLS configuration).
fn connector() -> SharedHttpConnector {
    AwsConnector::shared(PoolSettings {
        connect_timeout: CONNECT_TIMEOUT,
        idle_timeout: POOL_IDLE_TIMEOUT,
    })
}

/// Files in one S3 bucket.
pub struct S3Backend {
    bucket: String,
    sdk: SdkConfig,
    force_path_style: bool,
    /// The backend's connection pool (aws-config's providers send through it too).
    http: SharedHttpConnector,
    client: OnceLock<Client>,
    bucket_url: OnceLock<String>,
    credentials: Mutex<Option<Credentials>>,
}

impl std::fmt::Debug for S3Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Backend")
            .field("bucket", &self.bucket)
            .field("force_path_style", &self.force_path_style)
            .finish_non_exhaustive()
    }
}

impl S3Backend {
    /// The backend for `bucket`, configured from the standard AWS environment (region,
    /// credentials, `AWS_ENDPOINT_URL_S3`) and `MINIAPP_S3_FORCE_PATH_STYLE`.
    pub async fn from_env(bucket: String) -> Result<Self, FileBackendError> {
        let force_path_style = parse_path_style(
            std::env::var(vars::MINIAPP_S3_FORCE_PATH_STYLE)
                .ok()
                .as_deref(),
        )?;
        // Environment first, then profile files; credentials are resolved on first use.
        let http = connector();
        let sdk = crate::aws_env::sdk_config_through(http.clone()).await;
        Self::with_connector(&sdk, bucket, force_path_style, http)
    }

    /// The backend for `bucket` with an SDK configuration already loaded (the DynamoDB
    /// store's, or a test's).
    pub fn from_sdk_config(
        sdk: &SdkConfig,
        bucket: String,
        force_path_style: bool,
    ) -> Result<Self, FileBackendError> {
        Self::with_connector(sdk, bucket, force_path_style, connector())
    }

    fn with_connector(
        sdk: &SdkConfig,
        bucket: String,
        force_path_style: bool,
        http: SharedHttpConnector,
    ) -> Result<Self, FileBackendError> {
        if sdk.region().is_none() {
            return Err(FileBackendError::Misconfigured(format!(
                "no AWS region: set {} for the S3 file backend",
                vars::AWS_REGION
            )));
        }
        if bucket.is_empty() {
            return Err(FileBackendError::Misconfigured("empty bucket name".into()));
        }
        Ok(Self {
            bucket,
            sdk: sdk.clone(),
            force_path_style,
            http,
            client: OnceLock::new(),
            bucket_url: OnceLock::new(),
            credentials: Mutex::new(None),
        })
    }

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// A `multipart/form-data` POST upload of `p`, signed at `now`.
    pub async fn presign_post(
        &self,
        p: &UploadPolicy,
        now: OffsetDateTime,
    ) -> Result<UploadForm, FileBackendError> {
        let url = self.bucket_url().await?;
        let creds = self.signing_credentials(now).await?;
        let target = PostTarget {
            region: self.region(),
            bucket: &self.bucket,
            url,
        };
        let signing = SigningCredentials {
            access_key_id: creds.access_key_id(),
            secret_access_key: creds.secret_access_key(),
            session_token: creds.session_token(),
        };
        Ok(post_policy::presign_post(&signing, &target, p, now))
    }

    /// A presigned PUT of `p`'s key, with its content type signed, valid from `now` until
    /// `p.expires_at`. The size is not pinned (a PUT URL cannot carry a range): the caller's
    /// `head` after the upload checks it.
    pub async fn presign_put(
        &self,
        p: &UploadPolicy,
        now: OffsetDateTime,
    ) -> Result<PresignedPut, FileBackendError> {
        let presigning = presigning_config(now, ttl_until(now, p.expires_at))?;
        let presigned = self
            .client()
            .put_object()
            .bucket(&self.bucket)
            .key(p.key.as_str())
            .content_type(&p.content_type)
            .presigned(presigning)
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(PresignedPut {
            url: presigned.uri().to_owned(),
            headers: presigned
                .headers()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        })
    }

    /// A presigned GET of `key`, valid for `ttl` from now, whose response carries
    /// `content_type` and a `Content-Disposition` naming the file `download_name`.
    pub async fn presign_get(
        &self,
        key: &ObjectKey,
        download_name: &str,
        content_type: &str,
        ttl: Duration,
    ) -> Result<String, FileBackendError> {
        self.presign_get_at(
            key,
            download_name,
            content_type,
            ttl,
            OffsetDateTime::now_utc(),
        )
        .await
    }

    /// [`Self::presign_get`] signed at `now` (fixed in tests).
    pub async fn presign_get_at(
        &self,
        key: &ObjectKey,
        download_name: &str,
        content_type: &str,
        ttl: Duration,
        now: OffsetDateTime,
    ) -> Result<String, FileBackendError> {
        let presigned = self
            .client()
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .response_content_disposition(content_disposition(download_name, content_type))
            .response_content_type(content_type)
            .presigned(presigning_config(now, ttl)?)
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(presigned.uri().to_owned())
    }

    /// The object's size and type, or `None` when there is no such object.
    ///
    /// S3 answers a HEAD of a missing key with 403, not 404, when the caller may not list the
    /// bucket (`s3:ListBucket`, which the functions' role is not given): a 403 is taken as
    /// absent too. A role that could not read its own objects would then leave files pending,
    /// while uploads (signed with the same role) already fail visibly.
    pub async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectInfo>, FileBackendError> {
        let answer = self
            .client()
            .head_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await;
        match answer {
            Ok(out) => Ok(Some(ObjectInfo {
                size: out
                    .content_length()
                    .and_then(|n| u64::try_from(n).ok())
                    .unwrap_or(0),
                content_type: out.content_type().map(str::to_owned),
            })),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), HeadObjectError::NotFound(_))
                    || e.raw().status().as_u16() == 403 =>
            {
                Ok(None)
            }
            Err(e) => Err(unavailable(&e)),
        }
    }

    /// Deletes the object; an absent object is not an error (S3 answers 204 either way).
    pub async fn delete(&self, key: &ObjectKey) -> Result<(), FileBackendError> {
        self.client()
            .delete_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| unavailable(&e))
    }

    fn region(&self) -> &str {
        // Checked present in `from_sdk_config`.
        self.sdk.region().map(|r| r.as_ref()).unwrap_or_default()
    }

    fn client(&self) -> &Client {
        self.client.get_or_init(|| {
            let retry = RetryConfig::standard()
                .with_max_attempts(MAX_ATTEMPTS)
                .with_initial_backoff(Duration::from_millis(50))
                .with_max_backoff(Duration::from_millis(500));
            let timeouts = TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build();
            let config = aws_sdk_s3::config::Builder::from(&self.sdk)
                .http_client(OneConnector::client(self.http.clone()))
                .force_path_style(self.force_path_style)
                .retry_config(retry)
                .timeout_config(timeouts)
                .build();
            Client::from_conf(config)
        })
    }

    /// The URL the SDK sends this bucket's requests to (`https://<bucket>.<host>/` or
    /// `<endpoint>/<bucket>`), where the POST form goes. The SDK does not expose its resolved
    /// endpoint, so it is read off a presigned request (signed locally, never sent): the form
    /// then goes exactly where GET and PUT go, whatever the endpoint variables and path style.
    async fn bucket_url(&self) -> Result<&str, FileBackendError> {
        if let Some(url) = self.bucket_url.get() {
            return Ok(url);
        }
        let presigned = self
            .client()
            .head_object()
            .bucket(&self.bucket)
            .key(PROBE_KEY)
            .presigned(presigning_config(
                OffsetDateTime::now_utc(),
                Duration::from_secs(1),
            )?)
            .await
            .map_err(|e| unavailable(&e))?;
        let url = bucket_url_of(&presigned).ok_or_else(|| {
            FileBackendError::Misconfigured(format!(
                "cannot tell the bucket's URL from {:?}",
                presigned.uri().split('?').next().unwrap_or_default()
            ))
        })?;
        Ok(self.bucket_url.get_or_init(|| url))
    }

    /// The credentials to sign a policy with, fetched again when close to expiry.
    async fn signing_credentials(
        &self,
        now: OffsetDateTime,
    ) -> Result<Credentials, FileBackendError> {
        let mut cached = self.credentials.lock().await;
        let fresh_until = SystemTime::from(now) + CREDENTIALS_MARGIN;
        if let Some(c) = cached.as_ref() {
            if c.expiry().is_none_or(|e| e > fresh_until) {
                return Ok(c.clone());
            }
        }
        let provider: SharedCredentialsProvider = self
            .sdk
            .credentials_provider()
            .ok_or_else(|| FileBackendError::Misconfigured("no AWS credentials provider".into()))?;
        let creds = provider
            .provide_credentials()
            .await
            .map_err(|e| FileBackendError::Unavailable(DisplayErrorContext(&e).to_string()))?;
        *cached = Some(creds.clone());
        Ok(creds)
    }
}

/// Reads `MINIAPP_S3_FORCE_PATH_STYLE`.
fn parse_path_style(value: Option<&str>) -> Result<bool, FileBackendError> {
    match value.map(str::trim) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(v) => Err(FileBackendError::Misconfigured(format!(
            "{}: {v:?} is neither true nor false",
            vars::MINIAPP_S3_FORCE_PATH_STYLE
        ))),
    }
}

/// The bucket's URL from a presigned request for [`PROBE_KEY`]: without the query and the
/// key, and, as boto3 writes them, with the root's `/` kept and a path's trailing `/` dropped.
fn bucket_url_of(presigned: &PresignedRequest) -> Option<String> {
    let base = presigned.uri().split('?').next()?.strip_suffix(PROBE_KEY)?;
    let host_and_path = base.split_once("://")?.1.trim_end_matches('/');
    if host_and_path.contains('/') {
        Some(base.trim_end_matches('/').to_owned())
    } else {
        Some(base.to_owned())
    }
}

fn presigning_config(
    start: OffsetDateTime,
    ttl: Duration,
) -> Result<PresigningConfig, FileBackendError> {
    PresigningConfig::builder()
        .start_time(SystemTime::from(start))
        .expires_in(ttl)
        .build()
        .map_err(|e| FileBackendError::Misconfigured(format!("presigning: {e}")))
}

/// Whole seconds from `now` to `expires_at`, at least one.
fn ttl_until(now: OffsetDateTime, expires_at: OffsetDateTime) -> Duration {
    let secs = (expires_at - now).whole_seconds().max(1);
    Duration::from_secs(secs.unsigned_abs())
}

fn unavailable<E, R>(e: &SdkError<E, R>) -> FileBackendError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    FileBackendError::Unavailable(DisplayErrorContext(e).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_style_is_true_false_or_unset() {
        assert!(!parse_path_style(None).unwrap());
        assert!(!parse_path_style(Some("false")).unwrap());
        assert!(parse_path_style(Some(" true ")).unwrap());
        assert!(matches!(
            parse_path_style(Some("yes")),
            Err(FileBackendError::Misconfigured(_))
        ));
    }

    #[test]
    fn disposition_is_inline_only_for_safe_media() {
        assert_eq!(
            content_disposition("a.png", "image/png"),
            "inline; filename=\"a.png\"; filename*=UTF-8''a.png"
        );
        assert!(content_disposition("a.svg", "image/svg+xml").starts_with("attachment;"));
        assert!(content_disposition("a.html", "text/html").starts_with("attachment;"));
        assert_eq!(
            content_disposition("é \"x\".pdf", "application/pdf"),
            "attachment; filename=\"_ _x_.pdf\"; filename*=UTF-8''%C3%A9%20%22x%22.pdf"
        );
    }

    #[test]
    fn ttl_is_whole_seconds_and_at_least_one() {
        let now = OffsetDateTime::from_unix_timestamp(100).unwrap();
        let later = OffsetDateTime::from_unix_timestamp(700).unwrap();
        assert_eq!(ttl_until(now, later), Duration::from_secs(600));
        assert_eq!(ttl_until(later, now), Duration::from_secs(1));
    }
}
