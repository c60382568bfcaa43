//! Test data more than one crate reads.

use std::path::PathBuf;

use serde_json::Value;

use crate::workspace_root;

/// The store tests' cursor key: it only needs to be the same across calls.
pub const CURSOR_KEY: &[u8] = b"store-tests-cursor-key-0123456789";

fn events_dir() -> PathBuf {
    workspace_root().join("shared/tests/fixtures/events")
}

/// A stored event of `shared/tests/fixtures/events/`, parsed.
pub fn event(name: &str) -> Value {
    let path = events_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The name of every stored event, sorted.
pub fn event_names() -> Vec<String> {
    let dir = events_dir();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    names
}

/// A file of `shared/tests/fixtures/alipay/`: the vectors, and the synthetic keys in `keys/`.
pub fn alipay(name: &str) -> String {
    let path = workspace_root()
        .join("shared/tests/fixtures/alipay")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
