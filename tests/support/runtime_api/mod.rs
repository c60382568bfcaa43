//! The runtime tests' Lambda Runtime API server, shared rather than copied.

/// How long a test waits for a post before failing.
pub const WAIT: std::time::Duration = std::time::Duration::from_secs(20);

#[path = "../../../shared/tests/runtime_support/runtime_api.rs"]
mod server;
pub use server::*;
