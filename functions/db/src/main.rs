//! The db function: per-user items, every request signed with session credentials. Deployed
//! as `bootstrap`; see `miniapp_shared::runtime` for the two modes.

use std::process::ExitCode;

use miniapp_shared::config::ProcessEnv;
use miniapp_shared::{init, runtime};

fn main() -> ExitCode {
    // mimalloc, the global allocator, set up before any thread starts (functions/allocator).
    miniapp_allocator::tune();
    runtime::run("db", runtime::Load::Waits, || init::db_api(&ProcessEnv))
}
