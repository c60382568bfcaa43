//! The session function: `POST /session` (log in with an Alipay or WeChat code), `GET /session`,
//! `POST /session/refresh`, `DELETE /session` (docs/api.md §3).

use std::sync::Arc;

use http::StatusCode;
use serde_json::{json, Value};

use super::auth::{authenticate, Caller, Routed};
use super::body::parse_json;
use super::error::ApiError;
use super::routes::{FunctionKind, Op, SessionOp};
use super::RoutedApi;
use crate::alipay::{AlipayError, MAX_AUTH_CODE_BYTES};
use crate::config::SessionConfig;
use crate::credentials::{expiration_for, issue_at_generation, TokenKeys};
use crate::http::{ErrorCode, Request, Response};
use crate::ids::SessionId;
use crate::login::{LoginError, PreparedLogin, Provider, Providers};
use crate::overlap::{after_or_beside, Placement};
use crate::ratelimit::RateLimiter;
use crate::secret::SecretString;
use crate::signing::ExpiryPolicy;
use crate::store::{Alongside, SessionRecord, Store, StoreError};
use crate::time_fmt::Timestamp;

struct State {
    token_keys: TokenKeys,
    credential_ttl_secs: u64,
    session_ttl_secs: i64,
    refresh_grace_secs: i64,
    store: Store,
    limiter: RateLimiter,
    providers: Providers,
}

/// The session function's handler; cheap to clone.
#[derive(Clone)]
pub struct SessionApi(Arc<State>);

impl SessionApi {
    /// Builds the handler from parsed configuration and opened clients.
    pub fn new(config: SessionConfig, store: Store, providers: Providers) -> Self {
        Self(Arc::new(State {
            token_keys: config.common.token_keys,
            credential_ttl_secs: config.common.credential_ttl_secs,
            session_ttl_secs: i64::try_from(config.common.session_ttl_secs).unwrap_or(i64::MAX),
            refresh_grace_secs: i64::try_from(config.common.refresh_grace_secs).unwrap_or(i64::MAX),
            limiter: RateLimiter::new(config.common.rate_limits, store.clone()),
            store,
            providers,
        }))
    }

    /// The address buckets are taken first, as for every route. While their store round trip is
    /// out, the provider's request is prepared (Alipay's RSA signature) beside it, so a log-in
    /// waits for the store and the signature at once rather than one after the other: on the
    /// blocking pool when the round trip needs this thread (DynamoDB), inline when it runs on
    /// the pool itself (the embedded store). When the limiter answers from memory the request
    /// is signed inline too (no thread hand-off), or, if refused, not at all.
    async fn login(&self, req: &Request) -> Result<Response, ApiError> {
        let s = &self.0;
        let limits = async { Ok(s.limiter.check_address(req, true).await?) };
        let prepared = after_or_beside(limits, |placed| self.prepare_login(req, placed)).await?;
        let who = s.providers.complete(prepared).await?;
        let now = Timestamp::now();
        let record = SessionRecord {
            session_id: SessionId::generate(),
            user_id: who.user_id,
            union_id: who.union_id,
            created_at: now,
            expires_at: now.plus_secs(s.session_ttl_secs),
            revoked: false,
            refresh_generation: 0,
        };
        s.store.create_session(&record).await?;
        let mut resp = Response::json(
            StatusCode::CREATED,
            &self.session_with_credentials(&record, now, 0),
        );
        resp.log.user_hash = Some(record.user_id.log_hash());
        Ok(resp)
    }

    /// Reads the body and prepares the provider's exchange of its code.
    async fn prepare_login(
        &self,
        req: &Request,
        placed: Placement,
    ) -> Result<PreparedLogin, ApiError> {
        let s = &self.0;
        let body = parse_json(&req.body)?;
        let (provider, code) = login_code(&body)?;
        if !s.providers.serves(provider) {
            return Err(ApiError::new(
                ErrorCode::ProviderNotConfigured,
                format!("{provider} log-in is not configured on this server"),
            ));
        }
        // Inline unless the limiter's round trip needs this thread meanwhile. After a gate that
        // answered at once, or beside the embedded store's take (on the blocking pool), a hand-off
        // would only add two thread wake-ups (~0.15 ms of a cold start's first log-in).
        let inline = placed == Placement::After
            || !provider.prepares_with_cpu()
            || s.store.calls_run_on_blocking_pool();
        if inline {
            return Ok(s.providers.prepare(provider, code)?);
        }
        let state = Arc::clone(&self.0);
        let code = SecretString::new(code.to_owned());
        match tokio::task::spawn_blocking(move || state.providers.prepare(provider, code.expose()))
            .await
        {
            Ok(prepared) => Ok(prepared?),
            // A panic there is this request's own, as when signing ran inline.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // Cancelled: the runtime is shutting down. Reported as a failed signing is.
            Err(_) => Err(LoginError::Alipay(AlipayError::Upstream {
                code: None,
                sub_code: None,
                message: "could not sign the request".into(),
            })
            .into()),
        }
    }

    /// Single use per credentials: only credentials of the session's current refresh generation
    /// may refresh, and doing so advances it (a conditional write), so a replayed refresh request
    /// (or a second refresh from the same credentials) is refused. Older credentials keep
    /// working for every other request until their own expiration.
    async fn refresh(&self, caller: &Caller) -> Result<Response, ApiError> {
        let s = &self.0;
        let now = Timestamp::now();
        if now > caller.expiration.plus_secs(s.refresh_grace_secs) {
            return Err(ApiError::new(
                ErrorCode::CredentialsExpired,
                "the credentials expired too long ago to refresh; log in again",
            ));
        }
        let used = || {
            ApiError::new(
                ErrorCode::InvalidSecurityToken,
                "these credentials were already used to refresh; use the newest credentials or log in again",
            )
        };
        if caller.generation != caller.session.refresh_generation {
            return Err(used());
        }
        match s
            .store
            .advance_refresh(&caller.session_id, caller.generation)
            .await
        {
            Ok(()) => {}
            Err(StoreError::PreconditionFailed) => return Err(used()),
            Err(e) => return Err(e.into()),
        }
        let generation = caller.generation.saturating_add(1);
        let body = self.session_with_credentials(&caller.session, now, generation);
        Ok(Response::json(StatusCode::OK, &body))
    }

    fn session_with_credentials(
        &self,
        session: &SessionRecord,
        now: Timestamp,
        generation: u64,
    ) -> Value {
        let s = &self.0;
        let expiration = expiration_for(now, s.credential_ttl_secs, session.expires_at);
        let creds = issue_at_generation(
            &s.token_keys,
            &session.session_id,
            &session.user_id,
            expiration,
            generation,
        );
        let mut body = json!({
            "sessionId": session.session_id.as_str(),
            "userId": session.user_id.as_str(),
            "expiresAt": session.expires_at.rfc3339(),
            "credentials": creds.to_json(),
        });
        with_union_id(&mut body, session);
        body
    }
}

fn describe(caller: &Caller) -> Response {
    let s = &caller.session;
    let mut body = json!({
        "sessionId": s.session_id.as_str(),
        "userId": s.user_id.as_str(),
        "expiresAt": s.expires_at.rfc3339(),
        "createdAt": s.created_at.rfc3339(),
    });
    with_union_id(&mut body, s);
    Response::json(StatusCode::OK, &body)
}

/// `unionId` only when the session has one (WeChat sent `unionid`), so Alipay answers keep
/// their shape.
fn with_union_id(body: &mut Value, session: &SessionRecord) {
    if let (Some(map), Some(union_id)) = (body.as_object_mut(), &session.union_id) {
        map.insert("unionId".into(), union_id.as_str().into());
    }
}

/// The provider and code of a log-in body: `{"authCode"}` or `{"provider": "alipay",
/// "authCode"}` for Alipay (the default), `{"provider": "wechat", "code"}` for WeChat.
fn login_code(body: &Value) -> Result<(Provider, &str), ApiError> {
    let bad = |m: &str| ApiError::new(ErrorCode::InvalidRequest, m);
    let obj = body.as_object().ok_or_else(|| {
        bad("the body must be a JSON object {\"authCode\": \"...\"} (Alipay) or {\"provider\": \"wechat\", \"code\": \"...\"}")
    })?;
    let provider = match obj.get("provider") {
        None => Provider::Alipay,
        Some(v) => v
            .as_str()
            .and_then(Provider::parse)
            .ok_or_else(|| bad("provider must be \"alipay\" or \"wechat\""))?,
    };
    let (field, source) = match provider {
        Provider::Alipay => ("authCode", "my.getAuthCode"),
        Provider::Wechat => ("code", "wx.login()"),
    };
    let code = obj
        .get(field)
        .ok_or_else(|| bad(&format!("{field} is required")))?
        .as_str()
        .ok_or_else(|| bad(&format!("{field} must be a string")))?;
    let too_long = code.len() > MAX_AUTH_CODE_BYTES;
    if code.is_empty() || too_long || code.chars().any(char::is_control) {
        return Err(bad(&format!(
            "{field} must be 1 to {MAX_AUTH_CODE_BYTES} characters from {source}"
        )));
    }
    Ok((provider, code))
}

impl RoutedApi for SessionApi {
    const FUNCTION: FunctionKind = FunctionKind::Session;
    type Op = SessionOp;

    fn narrow(op: Op) -> Option<SessionOp> {
        match op {
            Op::Session(op) => Some(op),
            Op::Db(_) => None,
        }
    }

    fn limiter(&self) -> &RateLimiter {
        &self.0.limiter
    }

    fn creates_session(op: &SessionOp) -> bool {
        *op == SessionOp::Login
    }

    async fn dispatch(
        &self,
        req: &Request,
        routed: &Routed<SessionOp>,
    ) -> Result<Response, ApiError> {
        let s = &self.0;
        let signed = |expiry| async move {
            let (caller, _) = authenticate(
                req,
                routed,
                &s.token_keys,
                &s.store,
                &s.limiter,
                expiry,
                Alongside::Nothing,
            )
            .await?;
            Ok::<_, ApiError>(caller)
        };
        let (mut resp, caller) = match routed.op {
            SessionOp::Login => return self.login(req).await,
            SessionOp::Describe => {
                let caller = signed(ExpiryPolicy::Enforce).await?;
                (describe(&caller), caller)
            }
            SessionOp::Revoke => {
                let caller = signed(ExpiryPolicy::Enforce).await?;
                s.store.revoke_session(&caller.session_id).await?;
                (Response::new(StatusCode::NO_CONTENT), caller)
            }
            SessionOp::Refresh => {
                let caller = signed(ExpiryPolicy::AllowExpired).await?;
                (self.refresh(&caller).await?, caller)
            }
        };
        resp.log.user_hash = Some(caller.user_id.log_hash());
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_bodies_name_their_provider() {
        let parse = |v: Value| login_code(&v).map(|(p, c)| (p, c.to_owned()));
        assert_eq!(
            parse(json!({"authCode": "a"})).unwrap(),
            (Provider::Alipay, "a".into())
        );
        assert_eq!(
            parse(json!({"provider": "alipay", "authCode": "a"})).unwrap(),
            (Provider::Alipay, "a".into())
        );
        assert_eq!(
            parse(json!({"provider": "wechat", "code": "w"})).unwrap(),
            (Provider::Wechat, "w".into())
        );
        for bad in [
            json!({"provider": "wechat", "authCode": "w"}),
            json!({"provider": "alipay", "code": "a"}),
            json!({"provider": "WeChat", "code": "w"}),
            json!({"provider": null, "authCode": "a"}),
            json!({"provider": "wechat", "code": "x".repeat(257)}),
            json!({"provider": "wechat", "code": "a\u{7}b"}),
        ] {
            let err = parse(bad.clone()).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidRequest, "{bad}");
        }
    }
}
