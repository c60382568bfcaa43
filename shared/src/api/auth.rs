//! The shared front half of every request: route, method, body size, query escapes, then the
//! signature and the session, in the contract's order.

use http::{HeaderValue, Method};

use super::error::ApiError;
use super::routes::{bad_escape, not_found, resolve, FunctionKind, MethodMatch, Op};
use crate::credentials::TokenKeys;
use crate::http::{ErrorCode, Request, Response};
use crate::ids::{SessionId, UserId};
use crate::ratelimit::RateLimiter;
use crate::signing::{canonical_query_from_pairs, parse_query, verify_with_canonical_query};
use crate::signing::{ExpiryPolicy, SignedRequest};
use crate::store::{Alongside, Item, SessionRecord, Store};
use crate::time_fmt::Timestamp;

/// A request that passed the checks up to authentication, with its function's operation.
#[derive(Debug)]
pub(crate) struct Routed<O> {
    /// What the request asks for.
    pub(crate) op: O,
    /// The route's path template, for the access log.
    pub(crate) template: &'static str,
    /// Decoded query pairs, in the order sent.
    pub(crate) query: Vec<(String, String)>,
    canonical_query: String,
}

/// The authenticated caller, with a live, unrevoked session.
#[derive(Debug)]
// Without the session function's API (no `login` feature) only the user id is read.
#[cfg_attr(not(feature = "login"), allow(dead_code))]
pub(crate) struct Caller {
    pub(crate) session_id: SessionId,
    pub(crate) user_id: UserId,
    pub(crate) session: SessionRecord,
    /// When the presented credentials expire (past it under `ExpiryPolicy::AllowExpired`).
    pub(crate) expiration: Timestamp,
    /// The refresh generation the presented credentials were issued at.
    pub(crate) generation: u64,
}

/// Route (404/405), then body size (413), then path and query escapes (400 `InvalidQuery`).
/// Routes of the other function are 404 here; `narrow` picks this function's operation.
pub(crate) fn route<O>(
    req: &Request,
    function: FunctionKind,
    narrow: fn(Op) -> Option<O>,
) -> Result<Routed<O>, Box<Response>> {
    let rid = req.request_id.as_str();
    let fail = |e: ApiError| Box::new(e.into_response(rid));
    let Some(matched) = resolve(&req.raw_path, &req.method).filter(|m| m.function == function)
    else {
        return Err(fail(not_found()));
    };
    let op = match matched.method {
        MethodMatch::Allowed(op) => op,
        MethodMatch::NotAllowed(allow) => {
            let resp = method_not_allowed(matched.template, &allow, &req.method, rid);
            return Err(Box::new(resp));
        }
    };
    if req.body_too_large {
        let msg = format!("the body is over {} bytes", crate::http::MAX_BODY_BYTES);
        return Err(fail(ApiError::new(ErrorCode::PayloadTooLarge, msg)));
    }
    let op = op.map_err(|_| fail(bad_escape()))?;
    let query = parse_query(&req.raw_query).map_err(|e| fail(e.into()))?;
    let canonical_query = canonical_query_from_pairs(&query);
    Ok(Routed {
        // `function` matched, so the operation is this function's.
        op: narrow(op).ok_or_else(|| fail(not_found()))?,
        template: matched.template,
        query,
        canonical_query,
    })
}

fn method_not_allowed(
    template: &str,
    allow: &[&'static Method],
    method: &Method,
    rid: &str,
) -> Response {
    let allow: Vec<&str> = allow.iter().map(|m| m.as_str()).collect();
    let msg = format!(
        "{method} is not allowed on {template}; use {}",
        allow.join(", ")
    );
    let mut resp = ApiError::new(ErrorCode::MethodNotAllowed, msg).into_response(rid);
    if let Ok(v) = HeaderValue::from_str(&allow.join(", ")) {
        resp.headers.insert(http::header::ALLOW, v);
    }
    resp
}

/// Verifies the signature (docs/api.md §5.5) and then the session: revoked → `SessionRevoked` (even when
/// also expired), expired or gone → `SessionExpired`; then takes from the user's rate-limit
/// bucket (429 `TooManyRequests`). Reads `alongside` with the session
/// ([`Store::get_session_with`]); the item it read, if asked, is only handed out once the
/// caller is authenticated.
pub(crate) async fn authenticate<O>(
    req: &Request,
    routed: &Routed<O>,
    keys: &TokenKeys,
    store: &Store,
    limiter: &RateLimiter,
    expiry: ExpiryPolicy,
    alongside: Alongside<'_>,
) -> Result<(Caller, Option<Option<Item>>), ApiError> {
    let now = Timestamp::now();
    let signed = SignedRequest {
        method: req.method.as_str(),
        raw_path: &req.raw_path,
        raw_query: &req.raw_query,
        headers: &req.headers,
        body: &req.body,
    };
    let verified =
        verify_with_canonical_query(&signed, &routed.canonical_query, keys, now, expiry)?;
    let read = store
        .get_session_with(&verified.session_id, &verified.user_id, now, alongside)
        .await?;
    let session = read.session.ok_or_else(|| {
        ApiError::new(
            ErrorCode::SessionExpired,
            "the session has expired; log in again",
        )
    })?;
    if session.revoked {
        return Err(ApiError::new(
            ErrorCode::SessionRevoked,
            "the session was ended; log in again",
        ));
    }
    if now >= session.expires_at {
        return Err(ApiError::new(
            ErrorCode::SessionExpired,
            "the session has expired; log in again",
        ));
    }
    if session.user_id != verified.user_id {
        // Cannot happen with tokens we issued; refuse rather than trust either side.
        return Err(ApiError::new(
            ErrorCode::InvalidSecurityToken,
            "the token does not match its session",
        ));
    }
    limiter.check_user(&verified.user_id).await?;
    let caller = Caller {
        session_id: verified.session_id,
        user_id: verified.user_id,
        session,
        expiration: verified.expiration,
        generation: verified.generation,
    };
    Ok((caller, read.item))
}
