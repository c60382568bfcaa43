//! The one mapping from every layer's errors to the contract's codes, at the HTTP edge.

use crate::alipay::AlipayError;
use crate::http::{ErrorCode, Response};
use crate::ids::IdError;
use crate::signing::{AuthError, QueryError};
use crate::store::StoreError;

/// An error answer: a contract code and a message safe to show the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The contract's code (it fixes the status).
    pub code: ErrorCode,
    /// What went wrong, for the client.
    pub message: String,
}

impl ApiError {
    /// An error answer with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// The contract's error response.
    pub fn into_response(self, request_id: &str) -> Response {
        Response::error(self.code, &self.message, request_id)
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

impl From<AlipayError> for ApiError {
    fn from(e: AlipayError) -> Self {
        let code = match &e {
            AlipayError::AuthCodeInvalid => ErrorCode::AuthCodeInvalid,
            AlipayError::SignatureInvalid => ErrorCode::UpstreamSignatureInvalid,
            AlipayError::Timeout => ErrorCode::UpstreamTimeout,
            AlipayError::Upstream { .. } | AlipayError::Config(_) => ErrorCode::UpstreamError,
        };
        if code != ErrorCode::AuthCodeInvalid {
            tracing::warn!(error = %e, "alipay exchange failed");
        }
        Self::new(code, e.to_string())
    }
}
