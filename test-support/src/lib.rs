//! What the workspace's tests share, written once: building the binaries under test and
//! finding them ([`build`]), launching processes with a controlled environment
//! ([`process`]), a DynamoDB-compatible server ([`moto`]), a fault-injecting HTTP proxy
//! ([`fault_proxy`]), a Lambda Runtime API server ([`runtime_api`]) and the `miniapp dev`
//! harness ([`dev`]).
//!
//! A dev-dependency only, and free of `miniapp-shared` (see Cargo.toml).

// Test-only code: a failed unwrap or expect is a failed test, with the panic message as its
// report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod build;
pub mod dev;
pub mod fault_proxy;
pub mod fixtures;
pub mod headers;
pub mod moto;
pub mod process;
pub mod runtime_api;

use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a test waits for anything (a line, a post, an exit) before it fails.
pub const WAIT: Duration = Duration::from_secs(20);

/// The workspace root: the nearest folder holding `Cargo.lock` above the package cargo is
/// testing (`CARGO_MANIFEST_DIR` at run time), else above this crate as compiled. Run time
/// first, because a compiled test-support can be reused from a target directory shared by
/// several checkouts (CI's cache, worktrees): its compile-time path would name another
/// checkout, whose binaries the tests would then build and run.
pub fn workspace_root() -> PathBuf {
    let compiled = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .and_then(|dir| lock_file_root(&dir))
        .or_else(|| lock_file_root(compiled))
        .unwrap_or_else(|| compiled.parent().unwrap_or(compiled).to_path_buf())
}

fn lock_file_root(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").is_file())
        .map(Path::to_path_buf)
}

/// The project virtualenv holding the Python tools the tests drive:
/// `${MINIAPP_VENV:-$HOME/.cache/miniapp/venv}`, as `scripts/ensure-venv.sh` makes it.
pub fn venv_dir() -> PathBuf {
    match std::env::var_os("MINIAPP_VENV").filter(|v| !v.is_empty()) {
        Some(venv) => PathBuf::from(venv),
        None => {
            let home = std::env::var_os("HOME").unwrap_or_default();
            PathBuf::from(home).join(".cache/miniapp/venv")
        }
    }
}
