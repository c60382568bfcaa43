//! A real DynamoDB-compatible server for tests: `moto_server` on a loopback port.
//!
//! It runs under a small `sh` wrapper that kills it as soon as its standard input closes: when
//! the handle is dropped, and also when the test process dies without running destructors
//! (a server kept in a `static`, a panic that aborts), since the kernel closes the pipe then.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{venv_dir, workspace_root};

const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `moto_server`, stopped on drop.
pub struct MotoServer {
    wrapper: Child,
    stdin: Option<ChildStdin>,
    port: u16,
}

/// Which moto server runs.
#[derive(Clone, Copy)]
enum Flavor {
    /// `$MOTO_SERVER` if set, else `scripts/moto_serial.py`: moto with one request at a time
    /// (`moto_server` itself lets two conditional writes to one item race, which real DynamoDB
    /// never does); every connection carries one request.
    Serial,
    /// `bench/moto_keepalive.py`: the same, on HTTP/1.1 keep-alive connections, as DynamoDB
    /// keeps them.
    KeepAlive,
}

/// The program and arguments that run `flavor` (the project virtualenv's Python).
fn moto_command(flavor: Flavor) -> (PathBuf, Vec<PathBuf>) {
    let script = match flavor {
        Flavor::Serial => {
            if let Some(p) = std::env::var_os("MOTO_SERVER") {
                return (PathBuf::from(p), Vec::new());
            }
            "scripts/moto_serial.py"
        }
        Flavor::KeepAlive => "bench/moto_keepalive.py",
    };
    (
        venv_dir().join("bin/python"),
        vec![workspace_root().join(script)],
    )
}

impl MotoServer {
    /// Starts a server on a port the OS picks.
    pub fn start() -> Self {
        Self::start_on(0)
    }

    /// Starts a server on `port` (0: the OS picks one; the server prints which).
    pub fn start_on(port: u16) -> Self {
        Self::start_flavor(port, Flavor::Serial)
    }

    /// Starts a server that keeps connections open (HTTP/1.1 keep-alive), on a port the OS
    /// picks.
    pub fn start_keepalive() -> Self {
        Self::start_flavor(0, Flavor::KeepAlive)
    }

    fn start_flavor(port: u16, flavor: Flavor) -> Self {
        let (program, args) = moto_command(flavor);
        assert!(
            program.is_file() && args.iter().all(|a| a.is_file()),
            "moto not found at {} (set MOTO_SERVER, or run `bash scripts/ensure-venv.sh` \
             to install it)",
            program.display()
        );
        // `read` returns when our end of the pipe closes, for whatever reason; then the server
        // is stopped and waited for.
        let script = r#"port="$1"; shift; "$0" "$@" -H 127.0.0.1 -p "$port" & pid=$!; read -r _; kill "$pid"; wait "$pid""#;
        let mut wrapper = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(&program)
            .arg(port.to_string())
            .args(&args)
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning sh for moto_server");
        let stdin = wrapper.stdin.take();
        let stderr = wrapper.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let announced = watch_stderr(stderr, Arc::clone(&log));
        let port = match announced.recv_timeout(START_TIMEOUT) {
            Ok(p) if port == 0 || p == port => p,
            Ok(p) => panic!("moto_server announced port {p}, expected {port}"),
            Err(_) => panic!(
                "moto_server did not start within {START_TIMEOUT:?}; its last lines:\n{}",
                Vec::from(log.lock().expect("log").clone()).join("\n")
            ),
        };
        let server = Self {
            wrapper,
            stdin,
            port,
        };
        server.wait_until_answering();
        server
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its endpoint URL.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn wait_until_answering(&self) {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server never answered on {addr}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server and waits until it has exited (its port is then free again).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"stop\n");
        }
        let _ = self.wrapper.wait();
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Reads the server's log on a thread (so that it never blocks on a full pipe), keeps its last
/// lines for error messages, and reports the port from its `Running on http://127.0.0.1:<port>`
/// line.
fn watch_stderr(
    stderr: std::process::ChildStderr,
    log: Arc<Mutex<VecDeque<String>>>,
) -> mpsc::Receiver<u16> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let marker = "Running on http://127.0.0.1:";
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Ok(mut log) = log.lock() {
                if log.len() == 40 {
                    log.pop_front();
                }
                log.push_back(line.clone());
            }
            if let Some(rest) = line.split(marker).nth(1) {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                if let Ok(p) = digits.parse() {
                    let _ = tx.send(p);
                }
            }
        }
    });
    rx
}
