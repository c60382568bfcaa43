//! The one mapping from every layer's errors to the contract's codes, at the HTTP edge.

use crate::alipay::AlipayError;
use crate::http::{ErrorCode, Response};
use crate::ids::IdError;
use crate::login::LoginError;
use crate::signing::{AuthError, QueryError};
use crate::store::StoreError;
use crate::wechat::WechatError;

/// An error answer: a contract code and a message safe to show the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The contract's code (it fixes the status).
    pub code: ErrorCode,
    /// What went wrong, for the client.
    pub message: String,
    /// Seconds for `Retry-After`, when the client should come back later.
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    /// An error answer with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    /// The contract's error response.
    pub fn into_response(self, request_id: &str) -> Response {
        let mut response = Response::error(self.code, &self.message, request_id);
        if let Some(secs) = self.retry_after_secs {
            response
                .headers
                .insert(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
        }
        response
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        Self::new(e.code(), e.to_string())
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        Self::new(e.code(), e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let message = match &e {
            // The backend's own words may name tables or hosts: keep them in our logs only.
            StoreError::Unavailable(detail) | StoreError::Config(detail) => {
                tracing::warn!(error = %detail, "storage unavailable");
                "storage is temporarily unavailable; retry shortly".to_owned()
            }
            other => other.to_string(),
        };
        Self::new(e.code(), message)
    }
}

impl From<IdError> for ApiError {
    fn from(e: IdError) -> Self {
        let code = match e {
            IdError::Collection(_) => ErrorCode::InvalidCollection,
            IdError::Item(_) => ErrorCode::InvalidId,
            IdError::User(_) | IdError::Session(_) => ErrorCode::InvalidRequest,
        };
        Self::new(code, e.to_string())
    }
}

impl From<LoginError> for ApiError {
    fn from(e: LoginError) -> Self {
        match e {
            LoginError::NotConfigured(_) => {
                Self::new(ErrorCode::ProviderNotConfigured, e.to_string())
            }
            LoginError::Alipay(e) => e.into(),
            LoginError::Wechat(e) => e.into(),
        }
    }
}

impl From<WechatError> for ApiError {
    fn from(e: WechatError) -> Self {
        let (code, retry_after_secs) = match &e {
            WechatError::AuthCodeInvalid => (ErrorCode::AuthCodeInvalid, None),
            WechatError::Busy {
                retry_after_secs, ..
            } => (ErrorCode::UpstreamBusy, Some(*retry_after_secs)),
            WechatError::Timeout => (ErrorCode::UpstreamTimeout, None),
            WechatError::Upstream { .. } | WechatError::Config(_) => {
                (ErrorCode::UpstreamError, None)
            }
        };
        if code != ErrorCode::AuthCodeInvalid {
            tracing::warn!(error = %e, "wechat exchange failed");
        }
        Self {
            retry_after_secs,
            ..Self::new(code, e.to_string())
        }
    }
}

impl From<AlipayError> for ApiError {
    fn from(e: AlipayError) -> Self {
        let code = match &e {
            AlipayError::AuthCodeInvalid => ErrorCode::AuthCodeInvalid,
            AlipayError::SignatureInvalid | AlipayError::CertSnMismatch { .. } => {
                ErrorCode::UpstreamSignatureInvalid
            }
            AlipayError::Timeout => ErrorCode::UpstreamTimeout,
            AlipayError::Upstream { .. } | AlipayError::Config(_) => ErrorCode::UpstreamError,
        };
        if code != ErrorCode::AuthCodeInvalid {
            // A certificate mismatch names both SNs here, for the operator.
            tracing::warn!(error = %e, "alipay exchange failed");
        }
        let message = match e {
            AlipayError::CertSnMismatch { .. } => AlipayError::SignatureInvalid.to_string(),
            other => other.to_string(),
        };
        Self::new(code, message)
    }
}
