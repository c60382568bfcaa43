//! Support for the end-to-end tests that needs `miniapp-shared`: the binaries under test, the
//! Alipay gateway stand-in, the stored events re-signed, and a client that signs requests the
//! way a Mini Program does. The rest (building, launching, moto, the Runtime API server,
//! `miniapp dev`) is in the `test-support` crate.

// Test-only code: a failed expect is a failed test, with its message as the report.
#![allow(clippy::expect_used)]

pub mod events;
pub mod functions;
pub mod lambda;
pub mod soak;

use std::path::PathBuf;

use test_support::build::{build, Profile, Target};

/// The binaries the end-to-end tests run, built together.
const BINARIES: [Target; 3] = [
    Target::bin("session", "session"),
    Target::bin("db", "db"),
    Target::bin("miniapp", "miniapp"),
];

/// The path of `session`, `db` or `miniapp`, built once per test process in the test's own
/// profile.
pub fn binary(name: &str) -> PathBuf {
    build(&BINARIES, Profile::of_this_test()).get(name)
}

/// The path of `session` or `db` built with `profile` (the cold-start bench measures release
/// binaries).
pub fn function_binary(name: &str, profile: Profile) -> PathBuf {
    build(&BINARIES[..2], profile).get(name)
}
