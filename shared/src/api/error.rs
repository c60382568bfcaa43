//! The one mapping from every layer's errors to the contract's codes, at the HTTP edge.

#[cfg(feature = "login")]
use crate::alipay::AlipayError;
use crate::http::{ErrorCode, Response};
use crate::ids::IdError;
#[cfg(feature = "login")]
use crate::login::LoginError;
use crate::signing::{AuthError, QueryError};
use crate::store::StoreError;
#[cfg(feature = "login")]
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
    /// The operation of a batch (`POST /db`) that failed, counted from 0: sent as the error
    /// body's `index`.
    pub index: Option<usize>,
}

impl ApiError {
    /// An error answer with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after_secs: None,
            index: None,
        }
    }

    /// The same error, about the batch operation at `index`.
    pub fn at(self, index: usize) -> Self {
        Self {
            index: Some(index),
            ..self
        }
    }

    /// The contract's error response.
    pub fn into_response(self, request_id: &str) -> Response {
        let mut response = Response::error(self.code, &self.message, request_id);
        if let Some(index) = self.index {
            let body = serde_json::json!({"error": {
                "code": self.code.as_str(),
                "message": self.message,
                "requestId": request_id,
                "index": index,
            }});
            response.body = body.to_string().into();
        }
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
            StoreError::Rejected(detail) => {
                tracing::error!(error = %detail, "storage refused the request");
                "internal error".to_owned()
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

#[cfg(feature = "login")]
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

#[cfg(feature = "login")]
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
            ..Self::new(code, wechat_client_message(&e))
        }
    }
}

/// What the client is told: fixed text and WeChat's `errcode`, never WeChat's own `errmsg`
/// (unsigned text from upstream), which stays in the log line above.
#[cfg(feature = "login")]
fn wechat_client_message(e: &WechatError) -> String {
    match e {
        WechatError::Upstream {
            errcode: Some(errcode),
            ..
        } => format!("WeChat refused the log-in (errcode {errcode})"),
        WechatError::Upstream { errcode: None, .. } | WechatError::Config(_) => {
            "WeChat's answer could not be used".to_owned()
        }
        other => other.to_string(),
    }
}

#[cfg(feature = "login")]
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
        // The gateway's own text (`msg`, unsigned on error answers) stays in our logs: the
        // client gets a fixed message per code.
        Self::new(code, alipay_message(&e))
    }
}

#[cfg(feature = "login")]
fn alipay_message(e: &AlipayError) -> &'static str {
    match e {
        AlipayError::AuthCodeInvalid => {
            "Alipay refused the auth code as invalid, used or expired; get a new one"
        }
        AlipayError::SignatureInvalid => "Alipay's answer failed signature verification",
        AlipayError::Timeout => "Alipay did not answer in time; retry shortly",
        AlipayError::CertSnMismatch { .. } => "Alipay's answer failed signature verification",
        AlipayError::Upstream { .. } | AlipayError::Config(_) => {
            "Alipay could not complete the log-in; retry shortly"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_split_availability_from_refusals() {
        let r = ApiError::from(StoreError::Contention(40)).into_response("r1");
        assert_eq!(r.status, http::StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            r.headers
                .get(http::header::RETRY_AFTER)
                .map(|v| v.as_bytes()),
            Some(&b"1"[..])
        );
        let api = ApiError::from(StoreError::Rejected("ValidationException: table t".into()));
        assert_eq!(api.code, ErrorCode::InternalError);
        assert!(!api.message.contains("table t"), "{}", api.message);
        let r = api.into_response("r2");
        assert!(r.headers.get(http::header::RETRY_AFTER).is_none());
        assert_eq!(
            ApiError::from(StoreError::BackendTooLarge).code,
            ErrorCode::PayloadTooLarge
        );
    }

    #[test]
    fn gateway_text_never_reaches_the_client() {
        let e = AlipayError::Upstream {
            code: Some("40004".into()),
            sub_code: Some("isv.attacker".into()),
            message: "<script>visit evil.example</script>".into(),
        };
        let api = ApiError::from(e);
        assert_eq!(api.code, ErrorCode::UpstreamError);
        for leaked in ["script", "evil", "40004", "isv.attacker"] {
            assert!(!api.message.contains(leaked), "{}", api.message);
        }
    }
}
