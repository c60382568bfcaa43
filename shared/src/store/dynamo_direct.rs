//! The one DynamoDB call every request makes, without the SDK's per-call machinery: a
//! strongly consistent `BatchGetItem` of the caller's session (and what the request needs next,
//! `dynamo_prefetch.rs`), signed with SigV4 (`dynamo_sigv4.rs`; aws-sigv4 for endpoints with a
//! path) and sent through the connector the SDK client uses too (`dynamo_http.rs`): one pool of
//! keep-alive connections, one TLS set-up.
//!
//! Why: the SDK spends ~250–300 µs of CPU on each call whatever the call (runtime components
//! merged per call, config-bag lookups, interceptors, endpoint rules; docs/benchmarks.md,
//! "Profile"), more than the rest of a warm GET together. The SDK still decides what it is good
//! at, once, at start-up: the endpoint (its rules engine), the region and the credentials
//! (its provider chain); this module re-reads credentials from that chain before they expire.
//! Every other call (writes, queries, transactions) stays on the SDK.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_sdk_dynamodb::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::http::{HttpConnector, SharedHttpConnector};
use aws_smithy_runtime_api::client::identity::Identity;
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_types::body::SdkBody;
use aws_types::SdkConfig;
use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST};
use http::{HeaderValue, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Limited};

use super::dynamo::{
    ATTEMPT_TIMEOUT, INITIAL_BACKOFF, MAX_ATTEMPTS, MAX_BACKOFF, OPERATION_TIMEOUT, TRACE_ID_HEADER,
};
use super::dynamo_sigv4::FastSigner;
use super::dynamo_wire::{BatchGetInput, BatchGetOutput, ErrorBody};
use super::StoreError;

/// Credentials closer than this to their expiry are read again from the provider chain.
const CREDENTIALS_REFRESH_BEFORE: Duration = Duration::from_secs(60);
/// Two items of at most 400 KB, in JSON (binary as base64, text escaped): far below this.
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;
const TARGET_BATCH_GET: &str = "DynamoDB_20120810.BatchGetItem";
const JSON_1_0: &str = "application/x-amz-json-1.0";

/// Sends `BatchGetItem` to one endpoint with one region's credentials.
#[derive(Clone)]
pub(super) struct DirectReader {
    inner: Arc<Inner>,
}

struct Inner {
    uri: Uri,
    /// `uri` as text, as the signer takes it (made once, not per request).
    uri_text: String,
    host: HeaderValue,
    region: String,
    credentials: CredentialsCache,
    /// The store's one connector (`dynamo_http.rs`), shared with the SDK client.
    http: SharedHttpConnector,
    /// `None` for an endpoint with a path: aws-sigv4 signs those in full.
    fast: Option<FastSigner>,
}

impl std::fmt::Debug for DirectReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectReader")
            .field("uri", &self.inner.uri)
            .field("region", &self.inner.region)
            .finish_non_exhaustive()
    }
}

impl DirectReader {
    /// The reader for the endpoint, region and credentials the SDK resolves from `sdk`.
    pub(super) async fn new(
        sdk: &SdkConfig,
        http: SharedHttpConnector,
    ) -> Result<Self, StoreError> {
        let region = sdk
            .region()
            .map(ToString::to_string)
            .ok_or_else(|| StoreError::Config("no AWS region for the DynamoDB store".into()))?;
        let url = resolve_endpoint(sdk, &region).await?;
        let uri = operation_uri(&url)?;
        let host = host_header(&uri)?;
        let fast = FastSigner::for_endpoint(
            uri.path(),
            host.to_str().unwrap_or_default(),
            &region,
            TARGET_BATCH_GET,
            JSON_1_0,
        );
        Ok(Self {
            inner: Arc::new(Inner {
                fast,
                uri_text: uri.to_string(),
                uri,
                host,
                region,
                credentials: CredentialsCache::new(sdk.credentials_provider()),
                http,
            }),
        })
    }

    /// `BatchGetItem` of `input`, retried like the SDK retries: throttling, server errors,
    /// lost connections and timed-out attempts, with jittered exponential backoff.
    pub(super) async fn batch_get(
        &self,
        input: &BatchGetInput<'_>,
    ) -> Result<BatchGetOutput, StoreError> {
        let body = serde_json::to_vec(input)
            .map(Bytes::from)
            .map_err(|e| StoreError::Rejected(format!("dynamodb: batch read: {e}")))?;
        let deadline = Instant::now() + OPERATION_TIMEOUT;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let failure = match tokio::time::timeout(ATTEMPT_TIMEOUT, self.attempt(&body)).await {
                Ok(Ok(out)) => return Ok(out),
                Ok(Err(failure)) => failure,
                Err(_) => Failure::retry(format!("dynamodb: no answer within {ATTEMPT_TIMEOUT:?}")),
            };
            if failure.expired_credentials {
                self.inner.credentials.forget().await;
            }
            let pause = backoff(attempt);
            if !failure.retryable || attempt >= MAX_ATTEMPTS || Instant::now() + pause >= deadline {
                return Err(failure.error);
            }
            tokio::time::sleep(pause).await;
        }
    }

    async fn attempt(&self, body: &Bytes) -> Result<BatchGetOutput, Failure> {
        let credentials = self.inner.credentials.get().await?;
        let request = self.signed_request(body, credentials)?;
        let request = HttpRequest::try_from(request)
            .map_err(|e| Failure::fatal(StoreError::Config(format!("dynamodb: request: {e}"))))?;
        let response = self
            .inner
            .http
            .call(request)
            .await
            .map_err(|e| Failure::retry(format!("dynamodb: request failed: {e}")))?;
        let status = StatusCode::from_u16(response.status().as_u16())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let answer = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| Failure::retry(format!("dynamodb: reading the answer: {e}")))?
            .to_bytes();
        if status.is_success() {
            return serde_json::from_slice(&answer).map_err(|e| {
                Failure::fatal(StoreError::Unavailable(format!(
                    "dynamodb: unreadable answer: {e}"
                )))
            });
        }
        Err(Failure::from_answer(status, &answer))
    }

    fn signed_request(
        &self,
        body: &Bytes,
        credentials: Credentials,
    ) -> Result<Request<SdkBody>, Failure> {
        let inner = &self.inner;
        let mut request = Request::post(inner.uri.clone())
            .header(HOST, inner.host.clone())
            .header(CONTENT_TYPE, JSON_1_0)
            .header("x-amz-target", TARGET_BATCH_GET)
            .body(SdkBody::from(body.clone()))
            .map_err(|e| Failure::fatal(StoreError::Config(format!("dynamodb: request: {e}"))))?;
        match &inner.fast {
            Some(fast) => {
                let signed = fast.sign(&credentials, SystemTime::now(), body);
                let headers = request.headers_mut();
                for (name, value) in [
                    ("x-amz-date", Some(signed.amz_date)),
                    ("x-amz-security-token", signed.security_token),
                    ("authorization", Some(signed.authorization)),
                ] {
                    if let Some(value) = value {
                        let value = HeaderValue::try_from(value).map_err(|e| signing_failed(&e))?;
                        headers.insert(name, value);
                    }
                }
            }
            None => self.sign_in_full(&mut request, body, credentials)?,
        }
        // Added after signing, as the SDK leaves it out of the signature: tracing only.
        if let Some(id) = crate::trace::current().and_then(|id| HeaderValue::from_str(&id).ok()) {
            request.headers_mut().insert(TRACE_ID_HEADER, id);
        }
        Ok(request)
    }

    /// aws-sigv4's signature, for an endpoint [`FastSigner`] does not cover.
    fn sign_in_full(
        &self,
        request: &mut Request<SdkBody>,
        body: &Bytes,
        credentials: Credentials,
    ) -> Result<(), Failure> {
        let inner = &self.inner;
        let identity = Identity::from(credentials);
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&inner.region)
            .name("dynamodb")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| signing_failed(&e))?
            .into();
        let headers = request
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)));
        let signable = SignableRequest::new(
            "POST",
            inner.uri_text.as_str(),
            headers,
            SignableBody::Bytes(body),
        )
        .map_err(|e| signing_failed(&e))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| signing_failed(&e))?
            .into_parts();
        instructions.apply_to_request_http1x(request);
        Ok(())
    }
}

fn signing_failed(e: &dyn std::fmt::Display) -> Failure {
    Failure::fatal(StoreError::Config(format!("dynamodb: signing: {e}")))
}

/// The endpoint the SDK would call, by its own rules: `AWS_ENDPOINT_URL_DYNAMODB`, then
/// `AWS_ENDPOINT_URL`, then the region's (FIPS and dual-stack settings included).
async fn resolve_endpoint(sdk: &SdkConfig, region: &str) -> Result<String, StoreError> {
    let configured = if sdk.get_origin("endpoint_url").is_client_config() {
        sdk.endpoint_url().map(ToOwned::to_owned)
    } else {
        sdk.service_config()
            .and_then(|conf| {
                conf.load_config(
                    aws_types::service_config::ServiceConfigKey::builder()
                        .service_id("DynamoDB")
                        .env("AWS_ENDPOINT_URL")
                        .profile("endpoint_url")
                        .build()
                        .ok()?,
                )
            })
            .or_else(|| sdk.endpoint_url().map(ToOwned::to_owned))
    };
    let params = Params::builder()
        .region(region)
        .set_use_fips(sdk.use_fips())
        .set_use_dual_stack(sdk.use_dual_stack())
        .set_endpoint(configured)
        .build()
        .map_err(|e| StoreError::Config(format!("dynamodb endpoint: {e}")))?;
    let endpoint = DefaultResolver::new()
        .resolve_endpoint(&params)
        .await
        .map_err(|e| StoreError::Config(format!("dynamodb endpoint: {e}")))?;
    Ok(endpoint.url().to_owned())
}

/// The endpoint with the operation's path, `/` (JSON protocols post every operation there).
fn operation_uri(url: &str) -> Result<Uri, StoreError> {
    let mut text = url.to_owned();
    if !text.ends_with('/') {
        text.push('/');
    }
    let uri: Uri = text
        .parse()
        .map_err(|e| StoreError::Config(format!("dynamodb endpoint {url:?}: {e}")))?;
    match uri.scheme_str() {
        Some("http" | "https") if uri.host().is_some() => Ok(uri),
        _ => Err(StoreError::Config(format!(
            "dynamodb endpoint {url:?}: not an http(s) URL"
        ))),
    }
}

/// `Host` as the signature covers it: the port only when it is not the scheme's own.
fn host_header(uri: &Uri) -> Result<HeaderValue, StoreError> {
    let host = uri.host().unwrap_or_default();
    let default_port = match uri.scheme_str() {
        Some("https") => 443,
        _ => 80,
    };
    let text = match uri.port_u16() {
        Some(port) if port != default_port => format!("{host}:{port}"),
        _ => host.to_owned(),
    };
    HeaderValue::from_str(&text).map_err(|e| StoreError::Config(format!("dynamodb host: {e}")))
}

/// Exponential from [`INITIAL_BACKOFF`], capped at [`MAX_BACKOFF`], with full jitter.
fn backoff(attempt: u32) -> Duration {
    let cap = INITIAL_BACKOFF
        .saturating_mul(1 << attempt.saturating_sub(1).min(8))
        .min(MAX_BACKOFF);
    let mut r = [0u8; 2];
    // Without randomness the pause is merely not jittered.
    let _ = aws_lc_rs::rand::fill(&mut r);
    cap.mul_f64(0.5 + f64::from(u16::from_le_bytes(r)) / f64::from(u16::MAX) / 2.0)
}

/// Why an attempt failed, and whether another may succeed.
struct Failure {
    error: StoreError,
    retryable: bool,
    expired_credentials: bool,
}

impl Failure {
    fn retry(detail: String) -> Self {
        Self {
            error: StoreError::Unavailable(detail),
            retryable: true,
            expired_credentials: false,
        }
    }

    fn fatal(error: StoreError) -> Self {
        Self {
            error,
            retryable: false,
            expired_credentials: false,
        }
    }

    /// An error answer, classified as the SDK classifies it.
    fn from_answer(status: StatusCode, answer: &[u8]) -> Self {
        let body: Option<ErrorBody> = serde_json::from_slice(answer).ok();
        let code = body.as_ref().map(ErrorBody::code).unwrap_or_default();
        let message = body.as_ref().map(ErrorBody::message).unwrap_or_default();
        let detail = format!("dynamodb: {status} {code}: {message}");
        let expired_credentials = EXPIRED_CREDENTIALS.contains(&code);
        Self {
            error: super::dynamo::classify(
                Some(code).filter(|c| !c.is_empty()),
                Some(message),
                detail,
            ),
            retryable: status.is_server_error()
                || THROTTLING.contains(&code)
                || TRANSIENT.contains(&code)
                || expired_credentials,
            expired_credentials,
        }
    }
}

/// The SDK's throttling and transient error codes (`aws-runtime`'s retry classifier).
const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];
const TRANSIENT: &[&str] = &["RequestTimeout", "RequestTimeoutException", "InternalError"];
const EXPIRED_CREDENTIALS: &[&str] = &["ExpiredToken", "ExpiredTokenException"];

/// The credentials the SDK's provider chain gives, kept until shortly before they expire.
struct CredentialsCache {
    provider: Option<SharedCredentialsProvider>,
    current: tokio::sync::Mutex<Option<Credentials>>,
}

impl CredentialsCache {
    fn new(provider: Option<SharedCredentialsProvider>) -> Self {
        Self {
            provider,
            current: tokio::sync::Mutex::new(None),
        }
    }

    async fn get(&self) -> Result<Credentials, Failure> {
        let mut current = self.current.lock().await;
        if let Some(credentials) = current.as_ref().filter(|c| usable(c, SystemTime::now())) {
            return Ok(credentials.clone());
        }
        let provider = self.provider.as_ref().ok_or_else(|| {
            Failure::fatal(StoreError::Config(
                "dynamodb: no AWS credentials provider".into(),
            ))
        })?;
        let fresh = provider
            .provide_credentials()
            .await
            .map_err(|e| Failure::retry(format!("dynamodb: credentials: {e}")))?;
        *current = Some(fresh.clone());
        Ok(fresh)
    }

    async fn forget(&self) {
        *self.current.lock().await = None;
    }
}

/// Whether `credentials` may still sign at `now` with room to spare.
fn usable(credentials: &Credentials, now: SystemTime) -> bool {
    credentials
        .expiry()
        .is_none_or(|expiry| expiry > now + CREDENTIALS_REFRESH_BEFORE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_uris_end_with_the_root_path() {
        let uri = operation_uri("http://127.0.0.1:8000").unwrap();
        assert_eq!(uri.to_string(), "http://127.0.0.1:8000/");
        assert_eq!(host_header(&uri).unwrap(), "127.0.0.1:8000");
        let uri = operation_uri("https://dynamodb.eu-west-1.amazonaws.com").unwrap();
        assert_eq!(
            host_header(&uri).unwrap(),
            "dynamodb.eu-west-1.amazonaws.com"
        );
        let uri = operation_uri("https://example.test:443/").unwrap();
        assert_eq!(host_header(&uri).unwrap(), "example.test");
        assert!(operation_uri("ftp://example.test").is_err());
        assert!(operation_uri("not a url").is_err());
    }

    #[test]
    fn answers_are_classified_as_the_sdk_does() {
        let throttled = Failure::from_answer(
            StatusCode::BAD_REQUEST,
            br#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"slow"}"#,
        );
        assert!(throttled.retryable);
        assert!(matches!(throttled.error, StoreError::Unavailable(_)));
        let missing = Failure::from_answer(
            StatusCode::BAD_REQUEST,
            br#"{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"no table"}"#,
        );
        assert!(!missing.retryable);
        assert!(matches!(missing.error, StoreError::Config(_)));
        let invalid = Failure::from_answer(
            StatusCode::BAD_REQUEST,
            br#"{"__type":"com.amazon.coral.validate#ValidationException","message":"bad key"}"#,
        );
        assert!(!invalid.retryable);
        assert!(matches!(invalid.error, StoreError::Rejected(_)));
        let expired = Failure::from_answer(
            StatusCode::BAD_REQUEST,
            br#"{"__type":"com.amazon.coral.service#ExpiredTokenException","message":"old"}"#,
        );
        assert!(expired.retryable && expired.expired_credentials);
        let down = Failure::from_answer(StatusCode::SERVICE_UNAVAILABLE, b"<html>");
        assert!(down.retryable);
        assert!(matches!(down.error, StoreError::Unavailable(_)));
    }

    #[test]
    fn credentials_are_renewed_before_they_expire() {
        let now = SystemTime::now();
        let lasting = Credentials::new("a", "s", None, None, "test");
        assert!(usable(&lasting, now));
        let soon = Credentials::new("a", "s", None, Some(now + Duration::from_secs(30)), "test");
        assert!(!usable(&soon, now));
        let later = Credentials::new("a", "s", None, Some(now + Duration::from_secs(600)), "test");
        assert!(usable(&later, now));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        for attempt in 1..10 {
            let pause = backoff(attempt);
            let cap = INITIAL_BACKOFF
                .saturating_mul(1 << (attempt - 1).min(8))
                .min(MAX_BACKOFF);
            assert!(pause <= cap && pause >= cap / 2, "{attempt}: {pause:?}");
        }
    }
}
