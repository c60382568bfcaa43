//! The server's check of a signed request, in the contract's order.

use aws_lc_rs::hmac;
use http::HeaderMap;
use thiserror::Error;

use super::query::{canonical_query, QueryError};
use super::{
    format_date, parse_date, string_to_sign, ALGORITHM, AUTHORIZATION_HEADER, DATE_HEADER,
    MAX_CLOCK_SKEW_SECS, SECURITY_TOKEN_HEADER,
};
use crate::credentials::{verify_token, TokenError, TokenKeys};
use crate::http::ErrorCode;
use crate::ids::{SessionId, UserId};
use crate::time_fmt::Timestamp;

/// Whether expired credentials are refused (everywhere but `POST /session/refresh`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryPolicy {
    /// Expired credentials are `CredentialsExpired`.
    Enforce,
    /// Expired credentials pass this check; only `POST /session/refresh` uses it.
    AllowExpired,
}

/// A request as the verifier sees it.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    /// The method as sent (`GET`, ...).
    pub method: &'a str,
    /// The path as sent, still percent-encoded.
    pub raw_path: &'a str,
    /// The query as sent, without `?`.
    pub raw_query: &'a str,
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// The raw body.
    pub body: &'a [u8],
}

/// The authenticated caller. Session revocation and expiry are the caller's next check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCaller {
    /// The session the credentials belong to.
    pub session_id: SessionId,
    /// Whose data the request may touch.
    pub user_id: UserId,
    /// The access key id that signed.
    pub access_key_id: String,
    /// When the credentials expire.
    pub expiration: Timestamp,
}

/// Why a request was not authenticated, one variant per contract code. Messages are safe to
/// return to the client: they never quote a secret, token or signature.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum AuthError {
    /// `InvalidQuery`: only from [`verify_request`], which checks the query first (the
    /// contract puts it before authentication).
    #[error(transparent)]
    InvalidQuery(#[from] QueryError),
    /// `MissingAuthorization`: the named signing header is absent.
    #[error("the request has no {0} header")]
    MissingAuthorization(&'static str),
    /// `InvalidAuthorization`: `Authorization` or the date header does not parse.
    #[error("{0}")]
    InvalidAuthorization(&'static str),
    /// `InvalidSecurityToken`: not ours, altered, retired key, or another access key id.
    #[error(transparent)]
    InvalidSecurityToken(#[from] TokenError),
    /// `CredentialsExpired`: now ≥ expiration (not checked under [`ExpiryPolicy::AllowExpired`]).
    #[error("the credentials expired at {0}; refresh them with POST /session/refresh")]
    CredentialsExpired(Timestamp),
    /// `RequestExpired`: the date is more than [`MAX_CLOCK_SKEW_SECS`] from the server clock.
    #[error("x-miniapp-date {date} is more than 300 seconds from the server time {now}")]
    RequestExpired {
        /// The request's date header.
        date: String,
        /// The server's time, in the same form.
        now: String,
    },
    /// `SignatureDoesNotMatch`: the HMAC differs (compared in constant time).
    #[error("the request signature does not match; check the string to sign and the secret")]
    SignatureDoesNotMatch,
}

impl AuthError {
    /// The contract's error code for this failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidQuery(_) => ErrorCode::InvalidQuery,
            Self::MissingAuthorization(_) => ErrorCode::MissingAuthorization,
            Self::InvalidAuthorization(_) => ErrorCode::InvalidAuthorization,
            Self::InvalidSecurityToken(_) => ErrorCode::InvalidSecurityToken,
            Self::CredentialsExpired(_) => ErrorCode::CredentialsExpired,
            Self::RequestExpired { .. } => ErrorCode::RequestExpired,
            Self::SignatureDoesNotMatch => ErrorCode::SignatureDoesNotMatch,
        }
    }
}

/// Verifies a signed request: the canonical query first (`InvalidQuery`), then the checks of
/// [`verify_with_canonical_query`].
pub fn verify_request(
    req: &SignedRequest<'_>,
    keys: &TokenKeys,
    now: Timestamp,
    expiry: ExpiryPolicy,
) -> Result<VerifiedCaller, AuthError> {
    let canonical = canonical_query(req.raw_query)?;
    verify_with_canonical_query(req, &canonical, keys, now, expiry)
}

/// Verifies a signed request whose canonical query the caller already computed (`req.raw_query`
/// is ignored). Checks, in order: headers present, headers parse, token, credential expiry,
/// clock skew, signature.
pub fn verify_with_canonical_query(
    req: &SignedRequest<'_>,
    canonical_query: &str,
    keys: &TokenKeys,
    now: Timestamp,
    expiry: ExpiryPolicy,
) -> Result<VerifiedCaller, AuthError> {
    let raw = RawAuthHeaders::read(req.headers)?;
    let auth = parse_authorization(raw.authorization?)?;
    let date = raw.date?;
    let date_ts = parse_date(date).ok_or(AuthError::InvalidAuthorization(
        "x-miniapp-date must be YYYYMMDDTHHMMSSZ naming a real UTC instant",
    ))?;
    let token = verify_token(keys, raw.token?, auth.credential)?;
    if expiry == ExpiryPolicy::Enforce && now >= token.expiration {
        return Err(AuthError::CredentialsExpired(token.expiration));
    }
    // abs_diff: no overflow whatever the clocks say.
    if date_ts.unix().abs_diff(now.unix()) > MAX_CLOCK_SKEW_SECS {
        return Err(AuthError::RequestExpired {
            date: date.to_owned(),
            now: format_date(now),
        });
    }
    let sts = string_to_sign(date, req.method, req.raw_path, canonical_query, req.body);
    let key = hmac::Key::new(hmac::HMAC_SHA256, token.secret.expose().as_bytes());
    // Constant time: aws-lc compares the tags without early exit.
    hmac::verify(&key, sts.as_bytes(), &auth.signature)
        .map_err(|_| AuthError::SignatureDoesNotMatch)?;
    Ok(VerifiedCaller {
        session_id: token.session_id,
        user_id: token.user_id,
        access_key_id: token.access_key_id,
        expiration: token.expiration,
    })
}

/// The three header values, known present; each is unusable if repeated or not visible ASCII.
/// Kept as results so that the caller reports them in the contract's order.
struct RawAuthHeaders<'a> {
    authorization: Result<&'a str, AuthError>,
    date: Result<&'a str, AuthError>,
    token: Result<&'a str, AuthError>,
}

impl<'a> RawAuthHeaders<'a> {
    fn read(headers: &'a HeaderMap) -> Result<Self, AuthError> {
        let names = [AUTHORIZATION_HEADER, DATE_HEADER, SECURITY_TOKEN_HEADER];
        // All presence checks come before any parsing: a missing header outranks a bad one.
        if let Some(missing) = names.into_iter().find(|n| !headers.contains_key(*n)) {
            return Err(AuthError::MissingAuthorization(missing));
        }
        let [authorization, date, token] = names.map(|n| single(headers, n));
        Ok(Self {
            authorization,
            date,
            // An unreadable token is one we did not issue.
            token: token.map_err(|_| TokenError::Malformed("repeated or not visible ASCII").into()),
        })
    }
}

fn single<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<&'a str, AuthError> {
    let mut values = headers.get_all(name).iter();
    let bad = AuthError::InvalidAuthorization("a signing header is repeated or not visible ASCII");
    match (values.next(), values.next()) {
        (Some(v), None) => v.to_str().map_err(|_| bad),
        _ => Err(bad),
    }
}

/// The parsed `Authorization` header.
struct Authorization<'a> {
    credential: &'a str,
    signature: [u8; 32],
}

fn parse_authorization(value: &str) -> Result<Authorization<'_>, AuthError> {
    let bad = || {
        AuthError::InvalidAuthorization(
            "Authorization must be 'MINIAPP-HMAC-SHA256 Credential=<accessKeyId>, Signature=<64 hex>'",
        )
    };
    let rest = value
        .strip_prefix(ALGORITHM)
        .and_then(|r| r.strip_prefix(' '))
        .ok_or_else(bad)?;
    let (cred, sig) = rest.split_once(',').ok_or_else(bad)?;
    let credential = cred.strip_prefix("Credential=").ok_or_else(bad)?;
    let sig = sig
        .trim_start_matches(' ')
        .strip_prefix("Signature=")
        .ok_or_else(bad)?;
    if credential.is_empty() || credential.contains(' ') {
        return Err(bad());
    }
    let mut signature = [0u8; 32];
    // `hex` accepts either case and insists on exactly 64 digits for 32 bytes.
    hex::decode_to_slice(sig, &mut signature)
        .map_err(|_| AuthError::InvalidAuthorization("Signature must be exactly 64 hex digits"))?;
    Ok(Authorization {
        credential,
        signature,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_parsing() {
        let sig = "ab".repeat(32);
        let good = [
            format!("MINIAPP-HMAC-SHA256 Credential=STS.x, Signature={sig}"),
            format!("MINIAPP-HMAC-SHA256 Credential=STS.x,Signature={sig}"),
            format!(
                "MINIAPP-HMAC-SHA256 Credential=STS.x,   Signature={}",
                sig.to_uppercase()
            ),
        ];
        for h in &good {
            let a = parse_authorization(h).map(|a| (a.credential, a.signature));
            assert_eq!(a.ok(), Some(("STS.x", [0xab; 32])), "{h}");
        }
        let bad = [
            format!("MINIAPP-HMAC-SHA256  Credential=STS.x, Signature={sig}"),
            format!("miniapp-hmac-sha256 Credential=STS.x, Signature={sig}"),
            format!("AWS4-HMAC-SHA256 Credential=STS.x, Signature={sig}"),
            format!("MINIAPP-HMAC-SHA256 Credential=, Signature={sig}"),
            format!("MINIAPP-HMAC-SHA256 Credential=STS.x Signature={sig}"),
            format!("MINIAPP-HMAC-SHA256 Signature={sig}, Credential=STS.x"),
            format!(
                "MINIAPP-HMAC-SHA256 Credential=STS.x, Signature={}",
                &sig[1..]
            ),
            format!("MINIAPP-HMAC-SHA256 Credential=STS.x, Signature={sig}0"),
            format!(
                "MINIAPP-HMAC-SHA256 Credential=STS.x, Signature={}g",
                &sig[1..]
            ),
            format!("MINIAPP-HMAC-SHA256 Credential=STS.x, Signature={sig} "),
            "MINIAPP-HMAC-SHA256".to_owned(),
        ];
        for h in &bad {
            let got = parse_authorization(h).map(|_| ()).map_err(|e| e.code());
            assert_eq!(got, Err(ErrorCode::InvalidAuthorization), "{h}");
        }
    }

    #[test]
    fn error_codes_map_to_the_contract() {
        let cases = [
            (
                AuthError::MissingAuthorization("authorization"),
                ErrorCode::MissingAuthorization,
            ),
            (
                AuthError::InvalidAuthorization("x"),
                ErrorCode::InvalidAuthorization,
            ),
            (
                AuthError::InvalidSecurityToken(TokenError::BadMac),
                ErrorCode::InvalidSecurityToken,
            ),
            (
                AuthError::CredentialsExpired(Timestamp::from_unix(0)),
                ErrorCode::CredentialsExpired,
            ),
            (
                AuthError::RequestExpired {
                    date: String::new(),
                    now: String::new(),
                },
                ErrorCode::RequestExpired,
            ),
            (
                AuthError::SignatureDoesNotMatch,
                ErrorCode::SignatureDoesNotMatch,
            ),
            (
                AuthError::InvalidQuery(QueryError::NotUtf8("%ff".into())),
                ErrorCode::InvalidQuery,
            ),
        ];
        for (e, code) in cases {
            assert_eq!(e.code(), code, "{e}");
        }
    }
}
