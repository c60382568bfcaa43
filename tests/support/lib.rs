//! Support for the end-to-end tests: build and spawn the real binaries, start the Alipay
//! gateway stand-in and a DynamoDB-compatible server on loopback, and sign requests.

pub mod dev_banner;
pub mod events;
pub mod functions;
/// The store tests' `moto_server` wrapper, shared rather than copied.
#[path = "../../shared/tests/support/moto.rs"]
pub mod moto;

pub mod runtime_api;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The workspace root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// Where cargo puts its output for this workspace.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| {
            if p.is_absolute() {
                p
            } else {
                repo_root().join(p)
            }
        })
        .unwrap_or_else(|| repo_root().join("target"))
}

/// Builds the three binaries once per test process (debug profile) and returns the path of one.
/// Integration tests of another package get no `CARGO_BIN_EXE_*`, so they build explicitly.
pub fn binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(repo_root())
            .args([
                "build", "--quiet", "--bin", "session", "--bin", "db", "--bin", "miniapp",
            ])
            .status()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("cargo build failed: {status}"))
        }
    });
    if let Err(e) = built {
        panic!("{e}");
    }
    target_dir().join("debug").join(name)
}

/// The test keys of `shared/tests/fixtures/alipay/keys` (synthetic, see its README).
pub fn key(file: &str) -> String {
    let path = repo_root()
        .join("shared/tests/fixtures/alipay/keys")
        .join(file);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        .trim()
        .to_owned()
}
