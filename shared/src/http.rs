//! The one request/response boundary that both runtime modes (Lambda and HTTP server) adapt
//! to, and the contract's error codes (docs/api.md §2).

use std::future::Future;
use std::net::IpAddr;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::json;

/// Largest accepted request body (exactly this many bytes is accepted).
pub const MAX_BODY_BYTES: usize = 262_144;

/// A request as both modes hand it to the handler.
#[derive(Debug, Clone)]
pub struct Request {
    /// The request method.
    pub method: Method,
    /// The path as sent, still percent-encoded (it is what the client signed).
    pub raw_path: String,
    /// The query string as sent, without `?` (empty when none).
    pub raw_query: String,
    /// Header names are lower case (http's `HeaderMap`).
    pub headers: HeaderMap,
    /// The complete body; empty when `body_too_large` is set.
    pub body: Bytes,
    /// The body was longer than [`MAX_BODY_BYTES`]; reading stopped there.
    pub body_too_large: bool,
    /// The server's own request id (Lambda request id, `x-fc-request-id`, or generated).
    pub request_id: String,
    /// The client's address, as the platform or the socket reports it.
    pub source_ip: Option<IpAddr>,
}

/// Facts about a handled request for the access log line (never secrets).
#[derive(Debug, Clone, Default)]
pub struct LogFields {
    /// The route template that matched, e.g. `/db/{collection}/{id}`.
    pub route: Option<&'static str>,
    /// [`crate::ids::UserId::log_hash`] of the authenticated caller.
    pub user_hash: Option<String>,
    /// The error code of an error response.
    pub error_code: Option<&'static str>,
}

/// A response as both modes send it.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
    /// What the access log line records (not sent).
    pub log: LogFields,
}

impl Response {
    /// An empty response with `status`.
    pub fn new(status: StatusCode) -> Self {
        Self {
            status,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            log: LogFields::default(),
        }
    }

    /// A JSON body with `content-type: application/json`.
    pub fn json(status: StatusCode, value: &serde_json::Value) -> Self {
        let mut r = Self::new(status);
        r.body = Bytes::from(value.to_string());
        r.headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        r
    }

    /// The contract's error body, `{"error": {"code", "message", "requestId"}}`.
    pub fn error(code: ErrorCode, message: &str, request_id: &str) -> Self {
        let body =
            json!({"error": {"code": code.as_str(), "message": message, "requestId": request_id}});
        let mut r = Self::json(code.status(), &body);
        if matches!(
            code,
            ErrorCode::TooManyRequests | ErrorCode::StorageUnavailable
        ) {
            r.headers
                .insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        r.log.error_code = Some(code.as_str());
        r
    }
}

/// The single boundary: both runtime adapters call this and nothing else.
pub trait Handler: Send + Sync + 'static {
    /// Answers one request.
    fn call(&self, req: Request) -> impl Future<Output = Response> + Send;

    /// The local file backend whose upload and download URLs HTTP-server mode serves before
    /// buffering the body (they stream files far over [`MAX_BODY_BYTES`]; their signed policy
    /// is their authorization). `None`: no such URLs.
    fn local_files(&self) -> Option<&crate::files::LocalBackend> {
        None
    }
}

/// Every error code of docs/api.md §2.2, each with its fixed status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 400: valid JSON of the wrong shape, a malformed conditional header, an unreadable body.
    InvalidRequest,
    /// 400: the body is empty, not JSON, or nested too deep.
    InvalidJson,
    /// 400: `{collection}` is not a valid collection name.
    InvalidCollection,
    /// 400: `{id}` is not a valid item id.
    InvalidId,
    /// 400: a bad escape in the path or query, a bad list parameter, or a bad cursor.
    InvalidQuery,
    /// 400: the log-in names a provider (Alipay, WeChat) this deployment has not configured.
    ProviderNotConfigured,
    /// 401: a signing header is absent.
    MissingAuthorization,
    /// 401: `Authorization` or the date header does not parse, or one is repeated.
    InvalidAuthorization,
    /// 401: a token this service did not issue (or issued for another key id).
    InvalidSecurityToken,
    /// 401: the credentials have expired.
    CredentialsExpired,
    /// 401: the request date is too far from the server clock.
    RequestExpired,
    /// 401: the signature is not the HMAC of the string to sign.
    SignatureDoesNotMatch,
    /// 401: the session was ended.
    SessionRevoked,
    /// 401: the session has expired or is unknown.
    SessionExpired,
    /// 401: Alipay or WeChat refused the login code.
    AuthCodeInvalid,
    /// 404: no such item.
    NotFound,
    /// 404: no route of this function has this path.
    RouteNotFound,
    /// 405: the path routes, the method does not.
    MethodNotAllowed,
    /// 409: the account is being deleted (`DELETE /account`); writes are refused until it is.
    AccountDeleting,
    /// 412: a conditional header does not hold.
    PreconditionFailed,
    /// 413: the body or the item's data is over its limit.
    PayloadTooLarge,
    /// 414: the request URI (path and query) is over its limit.
    UriTooLong,
    /// 431: the header section is over its limit (bytes or fields).
    HeadersTooLarge,
    /// 429: a rate limit is exhausted (`crate::ratelimit`); sent with `Retry-After`.
    TooManyRequests,
    /// 502: Alipay's gateway or WeChat failed or answered with an error.
    UpstreamError,
    /// 502: Alipay's answer failed signature verification.
    UpstreamSignatureInvalid,
    /// 503: the store failed or could not be reached.
    StorageUnavailable,
    /// 504: Alipay's gateway or WeChat did not answer in time.
    UpstreamTimeout,
    /// 503: WeChat is rate limiting or busy; sent with `Retry-After`.
    UpstreamBusy,
    /// 413: a declared file size is over the per-file limit (docs/api.md §9).
    FileTooLarge,
    /// 415: a declared file content type is not allowed.
    UnsupportedFileType,
    /// 403: the user's file quota (files or bytes) would be passed.
    FileQuotaExceeded,
    /// 422: the uploaded object broke its declared size or type; it and its record were deleted.
    FileRejected,
    /// Not in the contract's table: a bug of ours. Kept for completeness; handlers avoid it.
    InternalError,
}

impl ErrorCode {
    /// Every code, in the order of the table.
    pub const ALL: [ErrorCode; 34] = [
        Self::InvalidRequest,
        Self::InvalidJson,
        Self::InvalidCollection,
        Self::InvalidId,
        Self::InvalidQuery,
        Self::ProviderNotConfigured,
        Self::MissingAuthorization,
        Self::InvalidAuthorization,
        Self::InvalidSecurityToken,
        Self::CredentialsExpired,
        Self::RequestExpired,
        Self::SignatureDoesNotMatch,
        Self::SessionRevoked,
        Self::SessionExpired,
        Self::AuthCodeInvalid,
        Self::NotFound,
        Self::RouteNotFound,
        Self::MethodNotAllowed,
        Self::AccountDeleting,
        Self::PreconditionFailed,
        Self::PayloadTooLarge,
        Self::UriTooLong,
        Self::HeadersTooLarge,
        Self::TooManyRequests,
        Self::UpstreamError,
        Self::UpstreamSignatureInvalid,
        Self::StorageUnavailable,
        Self::UpstreamTimeout,
        Self::UpstreamBusy,
        Self::FileTooLarge,
        Self::UnsupportedFileType,
        Self::FileQuotaExceeded,
        Self::FileRejected,
        Self::InternalError,
    ];

    /// The code as the error body spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "InvalidRequest",
            Self::InvalidJson => "InvalidJson",
            Self::InvalidCollection => "InvalidCollection",
            Self::InvalidId => "InvalidId",
            Self::InvalidQuery => "InvalidQuery",
            Self::ProviderNotConfigured => "ProviderNotConfigured",
            Self::MissingAuthorization => "MissingAuthorization",
            Self::InvalidAuthorization => "InvalidAuthorization",
            Self::InvalidSecurityToken => "InvalidSecurityToken",
            Self::CredentialsExpired => "CredentialsExpired",
            Self::RequestExpired => "RequestExpired",
            Self::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            Self::SessionRevoked => "SessionRevoked",
            Self::SessionExpired => "SessionExpired",
            Self::AuthCodeInvalid => "AuthCodeInvalid",
            Self::NotFound => "NotFound",
            Self::RouteNotFound => "RouteNotFound",
            Self::MethodNotAllowed => "MethodNotAllowed",
            Self::AccountDeleting => "AccountDeleting",
            Self::PreconditionFailed => "PreconditionFailed",
            Self::PayloadTooLarge => "PayloadTooLarge",
            Self::UriTooLong => "UriTooLong",
            Self::HeadersTooLarge => "HeadersTooLarge",
            Self::TooManyRequests => "TooManyRequests",
            Self::UpstreamError => "UpstreamError",
            Self::UpstreamSignatureInvalid => "UpstreamSignatureInvalid",
            Self::StorageUnavailable => "StorageUnavailable",
            Self::UpstreamTimeout => "UpstreamTimeout",
            Self::UpstreamBusy => "UpstreamBusy",
            Self::FileTooLarge => "FileTooLarge",
            Self::UnsupportedFileType => "UnsupportedFileType",
            Self::FileQuotaExceeded => "FileQuotaExceeded",
            Self::FileRejected => "FileRejected",
            Self::InternalError => "InternalError",
        }
    }

    /// The HTTP status that goes with the code.
    pub fn status(self) -> StatusCode {
        match self {
            Self::InvalidRequest
            | Self::InvalidJson
            | Self::InvalidCollection
            | Self::InvalidId
            | Self::InvalidQuery
            | Self::ProviderNotConfigured => StatusCode::BAD_REQUEST,
            Self::MissingAuthorization
            | Self::InvalidAuthorization
            | Self::InvalidSecurityToken
            | Self::CredentialsExpired
            | Self::RequestExpired
            | Self::SignatureDoesNotMatch
            | Self::SessionRevoked
            | Self::SessionExpired
            | Self::AuthCodeInvalid => StatusCode::UNAUTHORIZED,
            Self::NotFound | Self::RouteNotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::AccountDeleting => StatusCode::CONFLICT,
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UriTooLong => StatusCode::URI_TOO_LONG,
            Self::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Self::UpstreamError | Self::UpstreamSignatureInvalid => StatusCode::BAD_GATEWAY,
            Self::StorageUnavailable | Self::UpstreamBusy => StatusCode::SERVICE_UNAVAILABLE,
            Self::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            Self::FileTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedFileType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::FileQuotaExceeded => StatusCode::FORBIDDEN,
            Self::FileRejected => StatusCode::UNPROCESSABLE_ENTITY,
            Self::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Generates a request id for the HTTP-server mode when the platform gave none: a UUID v4 from
/// aws-lc's generator, which is seeded once (`Uuid::new_v4` asks the kernel on every call).
pub fn generate_request_id() -> String {
    uuid::Builder::from_random_bytes(crate::ids::random_bytes())
        .into_uuid()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_request_ids_are_distinct_v4_uuids() {
        let first = generate_request_id();
        let second = generate_request_id();
        assert_ne!(first, second);
        for id in [first, second] {
            let parsed = uuid::Uuid::parse_str(&id).unwrap();
            assert_eq!(parsed.get_version_num(), 4, "{id}");
            assert_eq!(parsed.hyphenated().to_string(), id);
        }
    }

    #[test]
    fn error_body_shape() {
        let r = Response::error(ErrorCode::SignatureDoesNotMatch, "nope", "rid-1");
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
        assert_eq!(v["error"]["code"], "SignatureDoesNotMatch");
        assert_eq!(v["error"]["requestId"], "rid-1");
    }

    #[test]
    fn statuses_are_4xx_or_5xx() {
        for c in ErrorCode::ALL {
            assert!(c.status().as_u16() >= 400, "{c:?}");
        }
    }
}
