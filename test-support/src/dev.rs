//! `miniapp dev` under test: started on port 0 in a temporary state folder, its banner followed
//! for the API URL, every line it prints kept for assertions and failure messages, and the
//! process killed when the handle is dropped (a failed test must not leak it).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::process::Lines;

/// Variables that would point `miniapp dev` at remote services or other keys: removed, so that
/// the developer's shell cannot change a result (a test sets what it needs).
const CLEARED_VARS: [&str; 5] = [
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "ALIPAY_GATEWAY_URL",
    "MINIAPP_STORE",
    "MINIAPP_TOKEN_KEYS",
];

/// How long `miniapp dev` may take to exit after SIGINT or SIGTERM.
const STOP_WAIT: Duration = Duration::from_secs(15);

/// How to run `miniapp dev`: the `miniapp` binary, a template, and what a test adds.
#[derive(Clone, Debug)]
pub struct DevCommand {
    miniapp: PathBuf,
    template: PathBuf,
    bin_dir: Option<PathBuf>,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl DevCommand {
    /// `miniapp dev --template <template>`; without [`DevCommand::bin_dir`] it runs cargo
    /// itself to build the functions, as a person would.
    pub fn new(miniapp: impl Into<PathBuf>, template: impl Into<PathBuf>) -> Self {
        Self {
            miniapp: miniapp.into(),
            template: template.into(),
            bin_dir: None,
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    /// `--bin-dir`: where the prebuilt function binaries are.
    pub fn bin_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.bin_dir = Some(dir.into());
        self
    }

    /// Extra arguments (`--port` among them replaces the default `--port 0`).
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| (*a).to_owned()));
        self
    }

    /// Extra variables.
    pub fn envs(mut self, env: &[(&str, &str)]) -> Self {
        self.env
            .extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        self
    }

    /// The command, run in `state` with its state folder `state/.miniapp`.
    fn command(&self, state: &Path) -> Command {
        let mut cmd = Command::new(&self.miniapp);
        cmd.arg("dev");
        if !self.args.iter().any(|a| a == "--port") {
            cmd.args(["--port", "0"]);
        }
        cmd.arg("--template").arg(&self.template);
        if let Some(dir) = &self.bin_dir {
            cmd.arg("--bin-dir").arg(dir);
        }
        cmd.arg("--state-dir")
            .arg(state.join(".miniapp"))
            .args(&self.args)
            .current_dir(state)
            .stdin(Stdio::null());
        for var in CLEARED_VARS {
            cmd.env_remove(var);
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// Runs it to the end in a fresh state folder (for start-up errors).
    pub fn run_to_end(&self) -> Output {
        let state = tempfile::tempdir().expect("tempdir");
        self.command(state.path())
            .stdout(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.miniapp.display()))
    }

    /// Starts it in a fresh state folder and returns once its banner is printed, at most
    /// `ready_within` later (a first build of the functions can take minutes).
    pub fn start(&self, ready_within: Duration) -> Dev {
        let state = tempfile::tempdir().expect("tempdir");
        let mut child = self
            .command(state.path())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.miniapp.display()));
        let out = child.stdout.take().expect("piped stdout");
        let (banner, stdout) = follow(out);
        let Ok(url) = banner.recv_timeout(ready_within) else {
            let _ = child.kill();
            panic!(
                "miniapp dev printed no API line within {ready_within:?}; exit: {:?}\n{}",
                child.wait(),
                stdout.text()
            );
        };
        Dev {
            child,
            url,
            stdout,
            state,
        }
    }
}

/// A running `miniapp dev`; killed when dropped.
#[derive(Debug)]
pub struct Dev {
    child: Child,
    /// The API URL of its banner.
    pub url: String,
    stdout: Lines,
    state: TempDir,
}

impl Dev {
    /// Everything it printed on stdout so far.
    pub fn output(&self) -> String {
        self.stdout.text()
    }

    /// The folder it runs in; its state folder is `.miniapp` inside.
    pub fn dir(&self) -> &Path {
        self.state.path()
    }

    /// Its process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (`INT` or `TERM`) and returns the exit status; fails the test unless
    /// it exits within 15 s.
    pub fn stop(&mut self, signal: &str) -> ExitStatus {
        let sent = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .map(|s| s.success());
        assert_eq!(sent.ok(), Some(true), "kill -{signal} failed");
        let deadline = Instant::now() + STOP_WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for miniapp dev") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "miniapp dev still running {STOP_WAIT:?} after SIG{signal}"
            );
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Follows `out` on a thread, keeping every line; the receiver gets the `API` URL once the
/// banner's last line ("Ctrl-C stops ...") has been read.
fn follow(out: ChildStdout) -> (mpsc::Receiver<String>, Lines) {
    let stdout = Lines::default();
    let (tx, rx) = mpsc::channel();
    let lines = stdout.clone();
    thread::spawn(move || {
        let mut url = String::new();
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Some(u) = line.trim().strip_prefix("API") {
                url = u.trim().to_owned();
            }
            let banner_done = line.starts_with("Ctrl-C stops");
            lines.push(line);
            if banner_done {
                let _ = tx.send(url.clone());
            }
        }
    });
    (rx, stdout)
}
