//! Processes under test: started with a controlled environment, their output collected line
//! by line, and in HTTP-server mode their port read from their own "listening" log line (they
//! start with `PORT=0` and the OS picks the port: no port is reserved and released first).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use crate::WAIT;

/// How long a process may take to say where it listens (a debug binary on a busy machine).
const LISTEN_WAIT: Duration = Duration::from_secs(30);

/// What to start: a program, its arguments and exactly the variables a test gives it.
#[derive(Debug)]
pub struct Launch {
    cmd: Command,
    program: PathBuf,
}

impl Launch {
    /// `program` with nothing of the test's environment but `PATH`, so that the developer's
    /// shell cannot change a result.
    pub fn new(program: impl AsRef<Path>) -> Self {
        let program = program.as_ref().to_path_buf();
        let mut cmd = Command::new(&program);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default());
        Self { cmd, program }
    }

    /// Adds an argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.cmd.arg(arg);
        self
    }

    /// Sets a variable.
    pub fn env(mut self, name: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.cmd.env(name, value);
        self
    }

    /// Sets variables.
    pub fn envs<K, V>(mut self, vars: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.cmd.envs(vars);
        self
    }

    /// Runs it in `dir`.
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.cmd.current_dir(dir);
        self
    }

    /// Starts it (inside a Tokio runtime: tasks read its output). It is killed when the
    /// returned [`Proc`] is dropped.
    pub fn spawn(mut self) -> Proc {
        let mut child = self
            .cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.program.display()));
        let (tx, lines) = mpsc::unbounded_channel();
        let stdout = Lines::default();
        let stderr = Lines::default();
        if let Some(out) = child.stdout.take() {
            tokio::spawn(collect(out, stdout.clone(), Some(tx)));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(collect(err, stderr.clone(), None));
        }
        Proc {
            child,
            program: self.program,
            stdout,
            stderr,
            lines,
        }
    }

    /// Starts it in HTTP-server mode with `PORT=0` and returns once its "listening" log line
    /// said which port it got.
    pub async fn spawn_http(self) -> (Proc, u16) {
        let mut proc = self.env("PORT", "0").spawn();
        let line = proc
            .wait_stdout_within(LISTEN_WAIT, |l| listening_port(l).is_some())
            .await;
        let port = line.as_deref().and_then(listening_port);
        match port {
            Some(port) => (proc, port),
            None => proc.fail("printed no \"listening\" line"),
        }
    }
}

/// The port of a JSON "listening" log line: `"message"` (ours) or `"msg"` (pino's).
pub fn listening_port(line: &str) -> Option<u16> {
    let v: Value = serde_json::from_str(line).ok()?;
    let msg = v.get("message").or_else(|| v.get("msg"))?.as_str()?;
    if msg != "listening" {
        return None;
    }
    u16::try_from(v.get("port")?.as_u64()?).ok()
}

/// Lines a process printed on one stream so far.
#[derive(Clone, Debug, Default)]
pub struct Lines(Arc<Mutex<Vec<String>>>);

impl Lines {
    /// A copy of the lines so far.
    pub fn get(&self) -> Vec<String> {
        self.0.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The lines so far, joined with newlines.
    pub fn text(&self) -> String {
        self.get().join("\n")
    }

    pub(crate) fn push(&self, line: String) {
        if let Ok(mut all) = self.0.lock() {
            all.push(line);
        }
    }
}

/// A running process with its output collected; killed on drop.
#[derive(Debug)]
pub struct Proc {
    child: Child,
    program: PathBuf,
    stdout: Lines,
    stderr: Lines,
    /// Stdout lines not yet looked at by [`Proc::wait_stdout`].
    lines: mpsc::UnboundedReceiver<String>,
}

impl Proc {
    /// The first stdout line (after those already waited for) matching `pred`; fails the
    /// test after [`WAIT`] or when stdout closes first.
    pub async fn wait_stdout(&mut self, pred: impl Fn(&str) -> bool) -> String {
        match self.wait_stdout_within(WAIT, pred).await {
            Some(line) => line,
            None => self.fail("printed no such stdout line"),
        }
    }

    async fn wait_stdout_within(
        &mut self,
        within: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Option<String> {
        let found = tokio::time::timeout(within, async {
            while let Some(line) = self.lines.recv().await {
                if pred(&line) {
                    return Some(line);
                }
            }
            None
        })
        .await;
        found.ok().flatten()
    }

    /// The first (new) JSON log line of request `id` (its `request_id`), parsed (`Null` when
    /// it is not JSON).
    pub async fn log_of_request(&mut self, id: &str) -> Value {
        let field = format!("\"request_id\":\"{id}\"");
        let line = self.wait_stdout(|l| l.contains(&field)).await;
        serde_json::from_str(&line).unwrap_or_default()
    }

    /// Fails the test if any stdout line so far holds one of `secrets`.
    pub fn assert_stdout_lacks(&self, secrets: &[&str]) {
        let lines = self.stdout_lines();
        for secret in secrets {
            assert!(
                lines.iter().all(|l| !l.contains(secret)),
                "{secret} leaked into the log"
            );
        }
    }

    /// Waits for the process to exit (at most [`WAIT`]).
    pub async fn wait_exit(&mut self) -> ExitStatus {
        match tokio::time::timeout(WAIT, self.child.wait()).await {
            Ok(Ok(status)) => status,
            other => panic!("{} did not exit: {other:?}", self.program.display()),
        }
    }

    /// Kills it and waits until it is gone: the kernel has then taken its memory down, work
    /// that would otherwise overlap whatever starts next.
    pub async fn stop(&mut self) -> ExitStatus {
        let _ = self.child.start_kill();
        self.wait_exit().await
    }

    /// Its exit status, if it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Its process id (0 once it has been waited for).
    pub fn id(&self) -> u32 {
        self.child.id().unwrap_or_default()
    }

    /// Sends a signal by name (`TERM`, `INT`) with the system's `kill`.
    pub fn signal(&self, name: &str) {
        let pid = self.child.id().expect("process already gone");
        let status = std::process::Command::new("kill")
            .args([format!("-{name}"), pid.to_string()])
            .status()
            .unwrap_or_else(|e| panic!("kill: {e}"));
        assert!(status.success(), "kill -{name} {pid} failed");
    }

    /// A copy of the stdout lines so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.get()
    }

    /// A copy of the stderr lines so far.
    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr.get()
    }

    /// Both streams so far, for failure messages.
    pub fn output(&self) -> String {
        format!(
            "--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout.text(),
            self.stderr.text()
        )
    }

    /// Kills the process and fails the test with `what` and everything it printed.
    pub fn fail(&mut self, what: &str) -> ! {
        let _ = self.child.start_kill();
        panic!("{} {what}\n{}", self.program.display(), self.output())
    }
}

async fn collect(
    stream: impl AsyncRead + Unpin,
    into: Lines,
    tx: Option<mpsc::UnboundedSender<String>>,
) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(tx) = &tx {
            let _ = tx.send(line.clone());
        }
        into.push(line);
    }
}
