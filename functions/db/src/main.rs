//! The db function: per-user items, every request signed with session credentials. Deployed
//! as `bootstrap`; see `miniapp_shared::runtime` for the two modes.

use std::process::ExitCode;

use miniapp_shared::config::ProcessEnv;
use miniapp_shared::{init, runtime};

// Both functions allocate per request (the SDK's request and answer, JSON); see the workspace
// Cargo.toml for why mimalloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    runtime::run("db", || init::db_api(&ProcessEnv))
}
