//! The contract's routes (CONTRACT.md §3–§6): one router and one set of handlers, behind the
//! single [`crate::http::Handler`] boundary that both runtime modes adapt to.
//!
//! Checks run in the contract's order: route (404/405), body size (413), query and path
//! escapes (400 `InvalidQuery`, before authentication), authentication (401), validation (400),
//! then existence and conditions (404/412).

mod auth;
mod body;
mod db;
mod error;
mod routes;
mod session;

pub use db::DbApi;
pub use error::ApiError;
pub use session::SessionApi;
