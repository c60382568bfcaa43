//! The session function: log in with an Alipay auth code, issue and refresh credentials, end
//! sessions. Deployed as `bootstrap`; see `miniapp_shared::runtime` for the two modes.

use std::process::ExitCode;

use miniapp_shared::config::ProcessEnv;
use miniapp_shared::{init, runtime};

// Both functions allocate per request (the SDK's request and answer, JSON); see the workspace
// Cargo.toml for why mimalloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    runtime::run("session", || init::session_api(&ProcessEnv))
}
