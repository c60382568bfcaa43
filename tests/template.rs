//! The SAM template, checked offline: `cfn-lint`, `sam validate --lint`, and samtranslator's own
//! transform compared with the contract (tests/template/check_transform.py).
//!
//! The tools come from the project's virtualenv (`scripts/ensure-venv.sh`); without them these
//! tests fail rather than pass silently.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use test_support::{venv_dir, workspace_root};

/// The virtualenv's `bin` folder.
fn venv_bin() -> PathBuf {
    venv_dir().join("bin")
}

/// The path of a venv tool; fails the test with the fix when it is not installed.
fn tool(name: &str) -> PathBuf {
    let path = venv_bin().join(name);
    assert!(
        path.is_file(),
        "{} not found: run `bash scripts/ensure-venv.sh` (or set MINIAPP_VENV to its virtualenv)",
        path.display()
    );
    path
}

/// Runs a venv tool in the repository root, offline-safe: a region but no credentials, no
/// instance-metadata lookups, no telemetry.
fn run(program: &Path, args: &[&str]) -> Output {
    let bin = venv_bin();
    let path = match std::env::var_os("PATH") {
        Some(rest) => {
            let mut dirs = vec![bin];
            dirs.extend(std::env::split_paths(&rest));
            std::env::join_paths(dirs).unwrap_or_default()
        }
        None => bin.into_os_string(),
    };
    let output = Command::new(program)
        .args(args)
        .current_dir(workspace_root())
        .env("PATH", path)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("SAM_CLI_TELEMETRY", "0")
        .output();
    match output {
        Ok(output) => output,
        Err(e) => panic!("could not run {}: {e}", program.display()),
    }
}

/// Both streams of a finished command, for failure messages.
fn describe(output: &Output) -> String {
    format!(
        "exit status {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn cfn_lint_finds_nothing() {
    let output = run(&tool("cfn-lint"), &["--", "template.yaml"]);
    // Exit 0 with no output: no error and no warning (informational findings are off by default).
    assert!(
        output.status.success() && output.stdout.is_empty(),
        "cfn-lint template.yaml: {}",
        describe(&output)
    );
}

#[test]
fn sam_validate_lint_passes() {
    let output = run(
        &tool("sam"),
        &["validate", "--lint", "--template", "template.yaml"],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("is a valid SAM Template"),
        "sam validate --lint: {}",
        describe(&output)
    );
}

#[test]
fn transformed_template_matches_the_contract() {
    let output = run(
        &tool("python"),
        &[
            "tests/template/check_transform.py",
            "template.yaml",
            "tests/template/expected.json",
        ],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains(" passed, 0 failed"),
        "tests/template/check_transform.py: {}",
        describe(&output)
    );
}
