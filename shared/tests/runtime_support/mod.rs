//! Support for the runtime's integration tests: builds and spawns the `echo_function` example
//! as a real process, a test Runtime API server, and a small HTTP/1.1 client.
//!
//! Each test crate uses a different part of it, hence the `dead_code` allowance.
#![allow(dead_code)]

pub mod client;
pub mod runtime_api;

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// How long a test waits for anything before it fails.
pub const WAIT: Duration = Duration::from_secs(20);

/// Variables the tests control; cleared so the developer's shell cannot change a result.
const CONTROLLED_VARS: [&str; 8] = [
    "AWS_LAMBDA_RUNTIME_API",
    "FC_CUSTOM_LISTEN_PORT",
    "FC_SERVER_PORT",
    "PORT",
    "RUST_LOG",
    "_X_AMZN_TRACE_ID",
    "ECHO_FAIL_INIT",
    "RUST_BACKTRACE",
];

/// Builds the example once per test binary (with the same profile and target directory as the
/// test itself) and returns its path.
pub fn echo_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().unwrap_or_else(|e| panic!("current_exe: {e}"));
        // target/<profile>/deps/<test> → target/<profile>
        let profile_dir = exe
            .parent()
            .and_then(|deps| deps.parent())
            .unwrap_or_else(|| panic!("unexpected test path {}", exe.display()))
            .to_path_buf();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let mut cmd = std::process::Command::new(cargo);
        cmd.current_dir(env!("CARGO_MANIFEST_DIR")).args([
            "build",
            "--quiet",
            "-p",
            "miniapp-shared",
            "--example",
            "echo_function",
        ]);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd
            .status()
            .unwrap_or_else(|e| panic!("running cargo build: {e}"));
        assert!(
            status.success(),
            "cargo build --example echo_function failed: {status}"
        );
        let bin = profile_dir.join("examples").join("echo_function");
        assert!(bin.exists(), "{} was not built", bin.display());
        bin
    })
    .clone()
}

/// A running echo function with its output collected line by line.
pub struct Proc {
    child: Child,
    /// Every stdout line so far (the JSON log).
    pub stdout: Arc<Mutex<Vec<String>>>,
    /// Every stderr line so far.
    pub stderr: Arc<Mutex<Vec<String>>>,
    lines: mpsc::UnboundedReceiver<String>,
}

impl Proc {
    /// Spawns the echo function with exactly these controlled variables set.
    pub fn spawn(envs: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(echo_binary());
        for var in CONTROLLED_VARS {
            cmd.env_remove(var);
        }
        cmd.envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn echo_function: {e}"));
        let (tx, lines) = mpsc::unbounded_channel();
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        if let Some(out) = child.stdout.take() {
            tokio::spawn(collect(out, Arc::clone(&stdout), Some(tx)));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(collect(err, Arc::clone(&stderr), None));
        }
        Self {
            child,
            stdout,
            stderr,
            lines,
        }
    }

    /// Spawns in HTTP-server mode on a port the OS picks and returns once it listens.
    pub async fn spawn_http(envs: &[(&str, &str)]) -> (Self, u16) {
        let mut all = vec![("PORT", "0")];
        all.extend_from_slice(envs);
        let mut proc = Self::spawn(&all);
        let line = proc.wait_stdout(|l| l.contains("\"listening\"")).await;
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        let port = v["port"].as_u64().and_then(|p| u16::try_from(p).ok());
        (proc, port.unwrap_or_else(|| panic!("no port in {line}")))
    }

    /// The first (new) stdout line matching `pred`.
    pub async fn wait_stdout(&mut self, pred: impl Fn(&str) -> bool) -> String {
        let found = tokio::time::timeout(WAIT, async {
            while let Some(line) = self.lines.recv().await {
                if pred(&line) {
                    return Some(line);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(line)) => line,
            _ => panic!("no such stdout line; stderr: {:?}", self.stderr_lines()),
        }
    }

    /// Waits for the process to exit.
    pub async fn wait_exit(&mut self) -> ExitStatus {
        match tokio::time::timeout(WAIT, self.child.wait()).await {
            Ok(Ok(status)) => status,
            other => panic!("process did not exit: {other:?}"),
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends a signal by name (`TERM`, `INT`) with the system's `kill`.
    pub fn signal(&self, name: &str) {
        let pid = self
            .child
            .id()
            .unwrap_or_else(|| panic!("process already gone"));
        let status = std::process::Command::new("kill")
            .args([format!("-{name}"), pid.to_string()])
            .status()
            .unwrap_or_else(|e| panic!("kill: {e}"));
        assert!(status.success());
    }

    /// A copy of the stderr lines so far.
    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// A copy of the stdout lines so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

async fn collect(
    stream: impl AsyncRead + Unpin,
    into: Arc<Mutex<Vec<String>>>,
    tx: Option<mpsc::UnboundedSender<String>>,
) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(tx) = &tx {
            let _ = tx.send(line.clone());
        }
        if let Ok(mut all) = into.lock() {
            all.push(line);
        }
    }
}

/// Reads a fixture event file.
pub fn fixture(name: &str) -> serde_json::Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/events")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every fixture file name, sorted.
pub fn fixture_names() -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/events");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    names
}
