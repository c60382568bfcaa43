//! Abuse limits (docs/api.md §2.2, §2.3): token buckets per client address (every route, and a
//! stricter one for `POST /session`) and per authenticated user (every signed route), answered
//! with 429 `TooManyRequests` and `Retry-After`.
//!
//! The buckets live in the store ([`crate::store::Store::take_rate_token`]), updated with
//! conditional writes, so every instance of a function (and both functions) share them. The
//! in-process view of each bucket is only a fast path for refusals: a bucket's stored state only
//! ever grows, so a bucket this process last saw empty is at least as empty in the store, and
//! the request is refused without a round trip. Every allowed request is a store write, so no
//! instance ever allows more than the shared state does (no slack).
//!
//! When the store cannot be reached the limiter fails open: the request goes on (it needs the
//! store anyway and will answer 503 if it is really down) and a warning is logged at most every
//! [`WARN_EVERY`]. A take that has not finished within [`TAKE_BUDGET`] counts as a failure, and
//! after a failure the limiter leaves the store alone for [`PAUSE_AFTER_FAILURE`] (still
//! refusing buckets it saw empty), so that a store outage does not also make every request wait
//! out the limiter's timeouts before its own.

mod address;
pub mod bucket;
pub mod config;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use address::client_address;
pub use bucket::{Outcome, Rate};
pub use config::{parse_rate, RateLimitConfig};

use crate::api::ApiError;
use crate::http::{ErrorCode, Request};
use crate::ids::UserId;
use crate::store::{Store, StoreError};

/// Buckets remembered in-process; past it, those that no longer limit are forgotten.
const LOCAL_ENTRIES: usize = 10_000;
/// Least time between two "limiter store unavailable" warnings.
const WARN_EVERY: Duration = Duration::from_secs(10);
/// Longest a take may wait for the store (DynamoDB answers in milliseconds; its own timeouts
/// and retries would take up to 8 s).
const TAKE_BUDGET: Duration = Duration::from_secs(2);
/// How long the limiter does not ask the store after a failed take.
const PAUSE_AFTER_FAILURE: Duration = Duration::from_secs(5);

/// The kinds of bucket; each has its own key space in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    User,
    Address,
    SessionCreate,
}

impl Kind {
    /// The store key's prefix. Every key holds a `#`, which no session id does (32 characters
    /// of `[A-Za-z0-9_-]`), so bucket items can share the sessions table.
    fn prefix(self) -> &'static str {
        match self {
            Self::User => "rate#user#",
            Self::Address => "rate#addr#",
            Self::SessionCreate => "rate#login#",
        }
    }

    fn message(self) -> &'static str {
        match self {
            Self::User => "too many requests for this user; retry after the Retry-After seconds",
            Self::Address => {
                "too many requests from this address; retry after the Retry-After seconds"
            }
            Self::SessionCreate => {
                "too many log-ins from this address; retry after the Retry-After seconds"
            }
        }
    }
}

/// A request over a limit: what the 429 says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limited {
    kind: Kind,
    /// `Retry-After`, whole seconds.
    pub retry_after_secs: u64,
}

impl From<Limited> for ApiError {
    fn from(l: Limited) -> Self {
        Self {
            retry_after_secs: Some(l.retry_after_secs),
            ..Self::new(ErrorCode::TooManyRequests, l.kind.message())
        }
    }
}

/// The limiter of one function; cheap to clone. Off: every check passes.
#[derive(Clone)]
pub struct RateLimiter(Option<Arc<Inner>>);

struct Inner {
    config: RateLimitConfig,
    store: Store,
    /// Last TAT seen per store key.
    local: Mutex<HashMap<String, u64>>,
    /// When (µs) the last fail-open warning was logged.
    warned_at: AtomicU64,
    /// Until when (µs) takes do not ask the store, after a failure.
    paused_until: AtomicU64,
}

impl RateLimiter {
    /// The limits of `config` on `store` (no limits when `config.enabled` is false).
    pub fn new(config: RateLimitConfig, store: Store) -> Self {
        Self(config.enabled.then(|| {
            Arc::new(Inner {
                config,
                store,
                local: Mutex::new(HashMap::new()),
                warned_at: AtomicU64::new(0),
                paused_until: AtomicU64::new(0),
            })
        }))
    }

    /// The per-address bucket, and for `POST /session` (`session_create`) the log-in bucket.
    /// A request without a known address is not limited by address.
    pub async fn check_address(&self, req: &Request, session_create: bool) -> Result<(), Limited> {
        let Some(inner) = &self.0 else {
            return Ok(());
        };
        let Some(addr) = client_address(req, inner.config.trust_forwarded_for) else {
            return Ok(());
        };
        inner
            .take(Kind::Address, &addr, inner.config.address)
            .await?;
        if session_create {
            let rate = inner.config.session_create;
            inner.take(Kind::SessionCreate, &addr, rate).await?;
        }
        Ok(())
    }

    /// The per-user bucket of an authenticated caller.
    pub async fn check_user(&self, user: &UserId) -> Result<(), Limited> {
        match &self.0 {
            None => Ok(()),
            Some(inner) => {
                let rate = inner.config.user;
                inner.take(Kind::User, user.as_str(), rate).await
            }
        }
    }
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

impl Inner {
    async fn take(&self, kind: Kind, name: &str, rate: Rate) -> Result<(), Limited> {
        let key = format!("{}{name}", kind.prefix());
        let now = now_us();
        let seen = self.seen(&key);
        if let Some(tat) = seen {
            // The stored state is at least this far along: refusing needs no round trip.
            if let Outcome::Limited { wait_us, .. } = bucket::decide(tat, now, rate) {
                return Err(limited(kind, wait_us));
            }
        }
        if now < self.paused_until.load(Ordering::Relaxed) {
            return Ok(());
        }
        let take = self.store.take_rate_token(&key, rate, now, seen);
        let taken = tokio::time::timeout(TAKE_BUDGET, take)
            .await
            .unwrap_or_else(|_| Err(StoreError::Unavailable("no answer in time".into())));
        match taken {
            Ok(outcome) => {
                let (Outcome::Allowed { tat_us } | Outcome::Limited { tat_us, .. }) = outcome;
                self.remember(key, tat_us, now);
                match outcome {
                    Outcome::Allowed { .. } => Ok(()),
                    Outcome::Limited { wait_us, .. } => Err(limited(kind, wait_us)),
                }
            }
            Err(e) => {
                let pause = u64::try_from(PAUSE_AFTER_FAILURE.as_micros()).unwrap_or(u64::MAX);
                self.paused_until
                    .store(now.saturating_add(pause), Ordering::Relaxed);
                self.warn_fail_open(now, &e);
                Ok(())
            }
        }
    }

    fn seen(&self, key: &str) -> Option<u64> {
        let local = self.local.lock().unwrap_or_else(PoisonError::into_inner);
        local.get(key).copied()
    }

    fn remember(&self, key: String, tat: u64, now: u64) {
        let mut local = self.local.lock().unwrap_or_else(PoisonError::into_inner);
        if local.len() >= LOCAL_ENTRIES && !local.contains_key(&key) {
            // Buckets that are full again tell the fast path nothing.
            local.retain(|_, t| *t > now);
            if local.len() >= LOCAL_ENTRIES {
                local.clear();
            }
        }
        let entry = local.entry(key).or_insert(0);
        *entry = (*entry).max(tat);
    }

    fn warn_fail_open(&self, now: u64, e: &StoreError) {
        let last = self.warned_at.load(Ordering::Relaxed);
        let every = u64::try_from(WARN_EVERY.as_micros()).unwrap_or(u64::MAX);
        if now.saturating_sub(last) >= every
            && self
                .warned_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(error = %e, "rate limiter: the store is unavailable; allowing requests (fail open)");
        }
    }
}

fn limited(kind: Kind, wait_us: u64) -> Limited {
    Limited {
        kind,
        retry_after_secs: bucket::retry_after_secs(wait_us),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::SecretBytes;
    use crate::store::{StoreConfig, StoreKind};

    fn config(user: Rate) -> RateLimitConfig {
        let generous = Rate::new(1000, 1, 1000).unwrap();
        RateLimitConfig {
            enabled: true,
            user,
            address: generous,
            session_create: generous,
            trust_forwarded_for: false,
        }
    }

    #[tokio::test]
    async fn fails_open_when_the_store_fails_but_still_refuses_what_it_saw_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.db");
        let cfg = StoreConfig {
            kind: StoreKind::Embedded(path.clone()),
            cursor_key: SecretBytes::new(vec![7; 32]).into(),
        };
        let store = Store::open(&cfg).await.unwrap();
        let limiter = RateLimiter::new(config(Rate::new(1, 60, 2).unwrap()), store);
        let alice = UserId::parse("alice").unwrap();
        limiter.check_user(&alice).await.unwrap();
        limiter.check_user(&alice).await.unwrap();
        let refused = limiter.check_user(&alice).await.unwrap_err();
        assert!((30..=60).contains(&refused.retry_after_secs), "{refused:?}");
        // The limiter's table is gone: every take fails.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("DROP TABLE rate_limits").unwrap();
        // A bucket this process saw empty is still refused, without the store.
        assert!(limiter.check_user(&alice).await.is_err());
        // Others are let through (fail open), again and again.
        let bob = UserId::parse("bob").unwrap();
        for _ in 0..5 {
            limiter.check_user(&bob).await.unwrap();
        }
    }

    #[tokio::test]
    async fn off_allows_everything() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = StoreConfig {
            kind: StoreKind::Embedded(dir.path().join("data.db")),
            cursor_key: SecretBytes::new(vec![7; 32]).into(),
        };
        let store = Store::open(&cfg).await.unwrap();
        let mut off = config(Rate::new(1, 60, 1).unwrap());
        off.enabled = false;
        let limiter = RateLimiter::new(off, store);
        let alice = UserId::parse("alice").unwrap();
        for _ in 0..5 {
            limiter.check_user(&alice).await.unwrap();
        }
    }
}
