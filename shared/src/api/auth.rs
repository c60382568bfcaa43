//! The shared front half of every request: route, method, body size, query escapes, then the
//! signature and the session, in the contract's order.

use http::{HeaderValue, Method};

use super::error::ApiError;
use super::routes::{bad_escape, match_path, not_found, Route, RouteError};
use crate::credentials::TokenKeys;
use crate::http::{ErrorCode, Request, Response};
use crate::ids::{SessionId, UserId};
use crate::signing::{canonical_query_from_pairs, parse_query, verify_with_canonical_query};
use crate::signing::{ExpiryPolicy, SignedRequest};
use crate::store::{SessionRecord, Store};
use crate::time_fmt::Timestamp;

/// A request that passed the checks up to authentication.
#[derive(Debug)]
pub struct Routed {
    pub route: Route,
    /// Decoded query pairs, in the order sent.
    pub query: Vec<(String, String)>,
    canonical_query: String,
}

/// The authenticated caller, with a live, unrevoked session.
#[derive(Debug)]
pub struct Caller {
    pub session_id: SessionId,
    pub user_id: UserId,
    pub session: SessionRecord,
}

/// Route (404/405), then body size (413), then query and path escapes (400 `InvalidQuery`).
/// `serves` says which routes this function owns; the others are 404 here.
pub fn route(req: &Request, serves: fn(&Route) -> bool) -> Result<Routed, Box<Response>> {
    let rid = req.request_id.as_str();
    let fail = |e: ApiError| Box::new(e.into_response(rid));
    let (route, escapes_ok) = match match_path(&req.raw_path) {
        Ok(r) => (r, true),
        Err(RouteError::BadEscape(shape)) => (shape, false),
        Err(RouteError::NotFound) => return Err(fail(not_found())),
    };
    if !serves(&route) {
        return Err(fail(not_found()));
    }
    if !route.allowed().contains(&req.method) {
        return Err(Box::new(method_not_allowed(&route, &req.method, rid)));
    }
    if req.body_too_large {
        let msg = format!("the body is over {} bytes", crate::http::MAX_BODY_BYTES);
        return Err(fail(ApiError::new(ErrorCode::PayloadTooLarge, msg)));
    }
    if !escapes_ok {
        return Err(fail(bad_escape()));
    }
    let query = parse_query(&req.raw_query).map_err(|e| fail(e.into()))?;
    let canonical_query = canonical_query_from_pairs(&query);
    Ok(Routed {
        route,
        query,
        canonical_query,
    })
}

fn method_not_allowed(route: &Route, method: &Method, rid: &str) -> Response {
    let allow: Vec<&str> = route.allowed().iter().map(Method::as_str).collect();
    let msg = format!(
        "{method} is not allowed on {}; use {}",
        route.template(),
        allow.join(", ")
    );
    let mut resp = ApiError::new(ErrorCode::MethodNotAllowed, msg).into_response(rid);
    if let Ok(v) = HeaderValue::from_str(&allow.join(", ")) {
        resp.headers.insert(http::header::ALLOW, v);
    }
    resp
}

/// Verifies the signature (§6) and then the session: revoked → `SessionRevoked` (even when
/// also expired), expired or gone → `SessionExpired`.
pub async fn authenticate(
    req: &Request,
    routed: &Routed,
    keys: &TokenKeys,
    store: &Store,
    expiry: ExpiryPolicy,
) -> Result<Caller, ApiError> {
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
    let session = store
        .get_session(&verified.session_id, now)
        .await?
        .ok_or_else(|| {
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
    Ok(Caller {
        session_id: verified.session_id,
        user_id: verified.user_id,
        session,
    })
}
