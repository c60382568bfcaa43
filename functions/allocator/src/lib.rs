//! The allocator of the two functions: mimalloc, with its purge delay set to 10 ms.
//!
//! mimalloc v3 keeps memory that was freed for 1 s (its `purge_delay`) before it hands it back
//! to the kernel, so that a burst of requests can reuse it. A request with a large body parses
//! into several MiB of short-lived JSON values, and a run of such requests, on several threads,
//! kept up to ~70 MB resident in the debug db function of `tests/bounds_http.rs` (~35 MB at
//! 10 ms, mimalloc v2's default; docs/benchmarks.md, "Memory: tokio's blocking pool capped").
//! The delay is read from `MIMALLOC_PURGE_DELAY` before `main`, so [`tune`] sets it through
//! mimalloc's C API instead, unless that variable chose a value.
//!
//! Only the two function binaries use this crate (the CLI, the tests and the floor keep the
//! system allocator), hence a crate of its own rather than a feature of `miniapp-shared`, which
//! cargo's feature unification would turn on for them too.

use std::ffi::{c_int, c_long};

/// The process's allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The variable through which mimalloc reads the delay itself; an operator's value wins.
pub const PURGE_DELAY_VAR: &str = "MIMALLOC_PURGE_DELAY";

/// How long (ms) freed memory stays resident before it is given back.
pub const PURGE_DELAY_MS: c_long = 10;

/// `mi_option_purge_delay` in mimalloc's `mi_option_e` (include/mimalloc.h). The unit test
/// recognises it by its default, 1,000 ms, before it sets it.
const MI_OPTION_PURGE_DELAY: c_int = 15;

extern "C" {
    fn mi_option_get(option: c_int) -> c_long;
    fn mi_option_set(option: c_int, value: c_long);
}

/// Sets mimalloc's purge delay to [`PURGE_DELAY_MS`] unless [`PURGE_DELAY_VAR`] is set. Call
/// it first thing in `main`, before any thread starts.
pub fn tune() {
    if std::env::var_os(PURGE_DELAY_VAR).is_none() {
        set_option(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS);
    }
}

/// The purge delay in force (ms).
pub fn purge_delay_ms() -> c_long {
    get_option(MI_OPTION_PURGE_DELAY)
}

#[allow(unsafe_code)]
fn set_option(option: c_int, value: c_long) {
    // SAFETY: `mi_option_set` takes an option index and a value and only stores the value
    // (an index out of range is ignored). mimalloc is linked into every binary that uses this
    // crate, which is the global allocator above.
    unsafe { mi_option_set(option, value) }
}

#[allow(unsafe_code)]
fn get_option(option: c_int) -> c_long {
    // SAFETY: as for `mi_option_set`; `mi_option_get` only reads the option's value.
    unsafe { mi_option_get(option) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// mimalloc v3's default purge delay: what identifies the option index.
    const MIMALLOC_DEFAULT_MS: c_long = 1_000;

    #[test]
    fn tune_sets_mimallocs_purge_delay() {
        if std::env::var_os(PURGE_DELAY_VAR).is_some() {
            // The variable's value stands; what mimalloc read from it is in force.
            let before = purge_delay_ms();
            tune();
            assert_eq!(purge_delay_ms(), before);
            return;
        }
        assert_eq!(
            purge_delay_ms(),
            MIMALLOC_DEFAULT_MS,
            "option {MI_OPTION_PURGE_DELAY} is not mimalloc's purge delay"
        );
        tune();
        assert_eq!(purge_delay_ms(), PURGE_DELAY_MS);
    }
}
