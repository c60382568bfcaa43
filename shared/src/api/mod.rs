//! The API's routes (docs/api.md §1.3, §3, §4): one routing table and one set of handlers,
//! behind the single [`crate::http::Handler`] boundary that both runtime modes adapt to.
//!
//! Checks run in the order of docs/api.md §2.3: route (404/405), body size (413), path and
//! query escapes (400 `InvalidQuery`, before authentication), the client address's rate limits
//! (429), authentication (401) and the user's rate limit (429), validation (400), then
//! existence and conditions (404/412).

mod account;
mod auth;
mod batch;
mod body;
mod collections;
mod conditions;
mod db;
mod error;
mod files;
mod query;
mod routes;
#[cfg(feature = "login")]
mod session;

use std::future::Future;

pub use db::DbApi;
pub use error::ApiError;
pub use routes::{api_routes, ApiRoute, FunctionKind};
#[cfg(feature = "login")]
pub use session::SessionApi;

#[cfg(fuzzing)]
pub(crate) use body::parse_object;

use crate::http::{Handler, Request, Response};
use crate::ratelimit::RateLimiter;
use auth::Routed;
use routes::Op;

/// One function's part of the API: which routes it owns and how it answers them. The checks
/// before authentication and the route template for the log are done once, in the
/// [`Handler`] impl below (`x-request-id` is the runtime's, for every response of both modes).
trait RoutedApi: Send + Sync + 'static {
    /// The function whose routes these are; the other function's are 404 here.
    const FUNCTION: FunctionKind;
    /// This function's operations.
    type Op: Send + Sync;
    /// This function's operation out of all routed ones.
    fn narrow(op: Op) -> Option<Self::Op>;
    /// This function's rate limits.
    fn limiter(&self) -> &RateLimiter;
    /// Whether the operation is a log-in (`POST /session`). It has a bucket of its own and takes
    /// its address buckets itself, beside preparing the provider's request (`SessionApi`).
    fn creates_session(_op: &Self::Op) -> bool {
        false
    }
    /// The local file backend, when this function serves its URLs (the db function).
    fn local_files(&self) -> Option<&crate::files::LocalBackend> {
        None
    }
    /// Answers a routed request.
    fn dispatch(
        &self,
        req: &Request,
        routed: &Routed<Self::Op>,
    ) -> impl Future<Output = Result<Response, ApiError>> + Send;
}

impl<T: RoutedApi> Handler for T {
    fn local_files(&self) -> Option<&crate::files::LocalBackend> {
        RoutedApi::local_files(self)
    }

    async fn call(&self, req: Request) -> Response {
        match auth::route(&req, T::FUNCTION, T::narrow) {
            Err(resp) => *resp,
            Ok(routed) => {
                // Before any signature is verified, so that a flood is cheap to refuse.
                let limited = if T::creates_session(&routed.op) {
                    Ok(())
                } else {
                    self.limiter().check_address(&req, false).await
                };
                let outcome = match limited {
                    Ok(()) => self.dispatch(&req, &routed).await,
                    Err(l) => Err(l.into()),
                };
                let mut resp = match outcome {
                    Ok(r) => r,
                    Err(e) => e.into_response(&req.request_id),
                };
                resp.log.route = Some(routed.template);
                resp
            }
        }
    }
}
