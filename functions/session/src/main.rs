//! The session function: log in with an Alipay auth code, issue and refresh credentials, end
//! sessions. Deployed as `bootstrap`; see `miniapp_shared::runtime` for the two modes.

use std::process::ExitCode;

use miniapp_shared::config::ProcessEnv;
use miniapp_shared::{init, runtime};

fn main() -> ExitCode {
    // mimalloc, the global allocator, set up before any thread starts (functions/allocator).
    miniapp_allocator::tune();
    runtime::run("session", runtime::Load::Computes, || {
        init::session_api(&ProcessEnv)
    })
}
