//! Compatibility with a Runtime API emulator nobody here wrote: cargo-lambda's
//! `watch --only-lambda-apis`. Our prebuilt binaries run in Lambda mode against it, and API
//! Gateway v2 events reach them through its HTTP invoke endpoint and its `invoke` command.
//!
//! cargo-lambda comes from the project virtualenv (`bash scripts/ensure-venv.sh`), or from
//! `$CARGO_LAMBDA`. When it is missing the test fails: a compatibility check that silently
//! passes would be worse than none.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use integration_tests::binary;
use integration_tests::events::signed;
use integration_tests::functions::{function_env, login_from, start_gateway, StoreMode};
use serde_json::{json, Value};
use tempfile::TempDir;
use test_support::fixtures::event as fixture;
use test_support::process::{Launch, Proc};
use test_support::{venv_dir, workspace_root};

/// cargo-lambda runs `cargo metadata` before it listens; the first run of cargo can be slow.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// One invocation, emulator round trip included.
const INVOKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Where cargo-lambda is: `$CARGO_LAMBDA`, else the project's virtualenv.
fn cargo_lambda_program() -> PathBuf {
    if let Some(p) = std::env::var_os("CARGO_LAMBDA") {
        return PathBuf::from(p);
    }
    venv_dir().join("bin/cargo-lambda")
}

/// A free loopback port for cargo-lambda's invoke endpoint, bound then released: cargo-lambda
/// takes `--invoke-port 0` for its default (9000), so the OS cannot pick for it. Our own
/// binaries never need this (they start on port 0 and say which port they got).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

/// Output of a child process, gathered on background threads so its pipes never fill up.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<String>>);

impl Captured {
    fn drain(&self, stream: impl Read + Send + 'static) {
        let sink = self.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if let Ok(mut text) = sink.0.lock() {
                    text.push_str(&strip_ansi(&line));
                    text.push('\n');
                }
            }
        });
    }

    fn text(&self) -> String {
        self.0.lock().map(|t| t.clone()).unwrap_or_default()
    }
}

/// Removes terminal colour sequences (`ESC [ ... letter`), which cargo-lambda may print.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            chars.by_ref().find(char::is_ascii_alphabetic);
        } else {
            out.push(c);
        }
    }
    out
}

/// A running `cargo-lambda lambda watch --only-lambda-apis`, killed on drop.
struct Emulator {
    child: Child,
    output: Captured,
    port: u16,
    /// The `AWS_LAMBDA_RUNTIME_API` value it printed (`http://127.0.0.1:PORT/.rt`).
    runtime_api: String,
    /// Holds the manifest it read; checked afterwards for build output.
    dir: TempDir,
}

impl Emulator {
    fn start() -> Self {
        let program = cargo_lambda_program();
        assert!(
            program.is_file(),
            "cargo-lambda not found at {} (run `bash scripts/ensure-venv.sh` to install it into \
             the project virtualenv, or set CARGO_LAMBDA to its path)",
            program.display()
        );
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let manifest = workspace_root().join("tests/fixtures/cargo_lambda/emulator-manifest.toml");
        std::fs::copy(&manifest, dir.path().join("Cargo.toml"))
            .unwrap_or_else(|e| panic!("copying {}: {e}", manifest.display()));
        let port = free_port();
        let mut child = Command::new(&program)
            .args([
                "lambda",
                "watch",
                "--only-lambda-apis",
                "--invoke-address",
                "127.0.0.1",
            ])
            .args(["--invoke-port", &port.to_string()])
            .current_dir(dir.path())
            // Its `cargo metadata` call must never reach a registry.
            .env("CARGO_NET_OFFLINE", "true")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
        let output = Captured::default();
        if let Some(stdout) = child.stdout.take() {
            output.drain(stdout);
        }
        if let Some(stderr) = child.stderr.take() {
            output.drain(stderr);
        }
        let mut emulator = Self {
            child,
            output,
            port,
            runtime_api: String::new(),
            dir,
        };
        emulator.runtime_api = emulator.wait_ready();
        emulator
    }

    /// Waits until it listens and has printed the Runtime API address the functions need.
    fn wait_ready(&mut self) -> String {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let printed = runtime_api_line(&self.output.text());
            if let Some(api) =
                printed.filter(|_| TcpStream::connect(("127.0.0.1", self.port)).is_ok())
            {
                return api;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "cargo-lambda exited at start ({status}):\n{}",
                    self.output.text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "cargo-lambda not ready within {START_TIMEOUT:?}:\n{}",
                self.output.text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Invokes `function` through the emulator's HTTP invoke endpoint; returns the function's
    /// response object.
    async fn invoke(&self, function: &mut LambdaProcess, event: &Value) -> Value {
        self.ensure_running(function);
        let function = &*function;
        let url = format!(
            "http://127.0.0.1:{}/2015-03-31/functions/{}/invocations",
            self.port, function.name
        );
        let sent = reqwest::Client::new()
            .post(&url)
            .body(event.to_string())
            .timeout(INVOKE_TIMEOUT)
            .send()
            .await;
        let resp = sent.unwrap_or_else(|e| self.fail(function, &format!("invoke {url}: {e}")));
        let status = resp.status();
        let body = resp
            .bytes()
            .await
            .unwrap_or_else(|e| self.fail(function, &format!("reading the answer of {url}: {e}")));
        if status != reqwest::StatusCode::OK {
            self.fail(
                function,
                &format!(
                    "invoke answered {status}: {}",
                    String::from_utf8_lossy(&body)
                ),
            );
        }
        let json = serde_json::from_slice(&body).unwrap_or_else(|e| {
            self.fail(
                function,
                &format!(
                    "answer is not JSON ({e}): {}",
                    String::from_utf8_lossy(&body)
                ),
            )
        });
        json
    }

    /// Invokes `function` with `cargo-lambda lambda invoke --data-file`; returns its response.
    async fn invoke_cli(&self, function: &mut LambdaProcess, event: &Value) -> Value {
        self.ensure_running(function);
        let function = &*function;
        let file = self
            .dir
            .path()
            .join(format!("event-{}.json", function.name));
        std::fs::write(&file, event.to_string())
            .unwrap_or_else(|e| panic!("writing {}: {e}", file.display()));
        let port = self.port.to_string();
        let run = tokio::process::Command::new(cargo_lambda_program())
            .args([
                "lambda",
                "invoke",
                function.name,
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
                &port,
            ])
            .args(["--output-format", "json", "--data-file"])
            .arg(&file)
            .current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        let out = match tokio::time::timeout(INVOKE_TIMEOUT, run).await {
            Ok(Ok(out)) => out,
            Ok(Err(e)) => self.fail(function, &format!("cannot run cargo-lambda invoke: {e}")),
            Err(_) => self.fail(
                function,
                &format!("cargo-lambda invoke took over {INVOKE_TIMEOUT:?}"),
            ),
        };
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        if !out.status.success() {
            self.fail(
                function,
                &format!(
                    "cargo-lambda invoke failed ({}):\n{stdout}\n{stderr}",
                    out.status
                ),
            );
        }
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
            self.fail(
                function,
                &format!("invoke printed no JSON ({e}):\n{stdout}\n{stderr}"),
            )
        })
    }

    /// Fails at once when the function died: the emulator would only time out waiting for it.
    fn ensure_running(&self, function: &mut LambdaProcess) {
        if let Some(status) = function.proc.exited() {
            self.fail(function, &format!("{} exited ({status})", function.name));
        }
    }

    /// Panics with everything that helps: the emulator's output and the function's log.
    fn fail(&self, function: &LambdaProcess, what: &str) -> ! {
        panic!(
            "{what}\n--- cargo-lambda output ---\n{}\n--- {} log ---\n{}",
            self.output.text(),
            function.name,
            function.logs()
        )
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of the `AWS_LAMBDA_RUNTIME_API=...` line the emulator prints at start.
fn runtime_api_line(output: &str) -> Option<String> {
    let rest = output.split("AWS_LAMBDA_RUNTIME_API=").nth(1)?;
    let value = rest.split_whitespace().next()?;
    Some(value.to_owned())
}

/// One of our binaries in Lambda mode, pointed at the emulator; killed on drop.
struct LambdaProcess {
    name: &'static str,
    proc: Proc,
}

impl LambdaProcess {
    /// The emulator serves each function under its own prefix, `<runtime api>/<name>`; the
    /// bare prefix it prints belongs to its default function `_`, which we do not use.
    fn spawn(name: &'static str, env: &[(String, String)], emulator: &Emulator) -> Self {
        let proc = Launch::new(binary(name))
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("{}/{name}", emulator.runtime_api),
            )
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "4096")
            .spawn();
        Self { name, proc }
    }

    fn logs(&self) -> String {
        self.proc.output()
    }
}

/// The stored GET, aimed at item `id`.
fn get_item(id: &str) -> Value {
    let mut event = fixture("apigw-v2-get-db-todo.json");
    let path = format!("/db/todos/{id}");
    event["rawPath"] = json!(path);
    event["requestContext"]["http"]["path"] = json!(path);
    event["pathParameters"]["id"] = json!(id);
    event
}

/// The response's `x-request-id`, checked to be the emulator's Lambda request id (a UUID; it
/// does not echo the id on its invoke endpoint, so its form is what can be checked).
fn request_id(resp: &Value) -> String {
    let id = resp["headers"]["x-request-id"].as_str().unwrap_or_default();
    assert!(
        uuid::Uuid::parse_str(id).is_ok(),
        "x-request-id {id:?} is not the emulator's request id: {resp}"
    );
    id.to_owned()
}

fn status(resp: &Value) -> u64 {
    resp["statusCode"].as_u64().unwrap_or_default()
}

fn body_json(resp: &Value) -> Value {
    serde_json::from_str(resp["body"].as_str().unwrap_or_default()).unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_functions_run_under_the_cargo_lambda_emulator() {
    let emulator = Emulator::start();
    let gateway = start_gateway().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let env = function_env(
        &gateway.url(),
        &StoreMode::Embedded(dir.path().join("data.db")),
    );
    let mut session = LambdaProcess::spawn("session", &env, &emulator);
    let mut db = LambdaProcess::spawn("db", &env, &emulator);

    let mut login = fixture("apigw-v2-post-session.json");
    login["body"] = json!(json!({"authCode": "dev-alice"}).to_string());
    let r = emulator.invoke(&mut session, &login).await;
    assert_eq!(status(&r), 201, "{r}");
    let login_id = request_id(&r);
    let alice = login_from(body_json(&r));
    assert_eq!(alice.user_id, "dev-openid-alice");
    assert!(alice.creds.access_key_id.starts_with("STS."), "{r}");

    // The stored PUT carries If-Match "3"; without it the item is created.
    let mut put = fixture("apigw-v2-put-db-todo.json");
    put["headers"]
        .as_object_mut()
        .expect("headers")
        .remove("if-match");
    let r = emulator.invoke(&mut db, &signed(put, &alice)).await;
    assert_eq!(status(&r), 201, "{r}");
    assert_eq!(r["headers"]["etag"], json!("\"1\""), "{r}");

    let r = emulator
        .invoke(&mut db, &signed(get_item("milk"), &alice))
        .await;
    assert_eq!(status(&r), 200, "{r}");
    let item = body_json(&r);
    assert_eq!(
        (item["id"].clone(), item["version"].clone()),
        (json!("milk"), json!(1)),
        "{r}"
    );
    assert_eq!(item["data"], json!({"title": "milk", "done": true}));

    // The same GET through cargo-lambda's own client, and an absent item.
    let r = emulator
        .invoke_cli(&mut db, &signed(get_item("milk"), &alice))
        .await;
    assert_eq!(
        (status(&r), body_json(&r)["data"]["title"].clone()),
        (200, json!("milk")),
        "{r}"
    );
    let r = emulator
        .invoke(
            &mut db,
            &signed(fixture("apigw-v2-get-db-todo.json"), &alice),
        )
        .await;
    assert_eq!(
        (status(&r), body_json(&r)["error"]["code"].clone()),
        (404, json!("NotFound")),
        "{r}"
    );
    assert_eq!(body_json(&r)["error"]["requestId"], json!(request_id(&r)));
    assert_ne!(request_id(&r), login_id, "each invocation has its own id");

    assert!(
        !emulator.dir.path().join("target").exists(),
        "cargo-lambda must not build anything"
    );
    drop((session, db));
}

/// The crates (and their C libraries) that a lean Lambda build of `function` links, as cargo
/// resolves them for `-p <function> --no-default-features` (the Makefile's build): normal
/// dependencies only, one name per line.
fn lean_dependencies(function: &str) -> Vec<String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(workspace_root())
        .args(["tree", "--locked", "--offline", "-p", function])
        .args(["--no-default-features", "-e", "normal", "--prefix", "none"])
        .args(["--format", "{p}"])
        .output()
        .unwrap_or_else(|e| panic!("cargo tree: {e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "cargo tree -p {function}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// `sam build` runs the Makefile, which builds each function alone without its default
/// features: the db function then links neither SQLite (the embedded store) nor reqwest (the
/// log-in clients), and neither function aws-config. The default build keeps them.
#[test]
fn the_lambda_build_leaves_out_sqlite_and_the_login_clients() {
    for (target, function) in [
        ("build-DbFunction", "db"),
        ("build-SessionFunction", "session"),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = Command::new("make")
            .current_dir(workspace_root())
            .args(["-n", "--no-print-directory", target])
            .arg(format!("ARTIFACTS_DIR={}", dir.path().display()))
            .output()
            .unwrap_or_else(|e| panic!("make: {e}"));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}");
        // Both ways of building (cargo-lambda, and the plain host build) are lean.
        let lean = format!("-p {function} --no-default-features");
        assert_eq!(
            text.matches("build --release --locked").count(),
            2,
            "{text}"
        );
        for build in [
            format!("lambda build --release --locked $lambda_arch {lean}"),
            format!("cargo build --release --locked {lean}"),
        ] {
            assert!(
                text.contains(&build),
                "make {target} must run `{build}`:\n{text}"
            );
        }
    }
    let has = |deps: &[String], name: &str| deps.iter().any(|d| d == name);
    let db = lean_dependencies("db");
    assert!(has(&db, "aws-sdk-dynamodb"), "{db:?}");
    // Nor aws-config (with the STS client it links): Lambda's environment configures the SDK.
    for absent in [
        "rusqlite",
        "libsqlite3-sys",
        "reqwest",
        "aws-config",
        "aws-sdk-sts",
    ] {
        assert!(!has(&db, absent), "the lean db build links {absent}");
    }
    let session = lean_dependencies("session");
    assert!(has(&session, "reqwest"), "{session:?}");
    // The allocator the benchmarks measured (docs/benchmarks.md, "Warm requests: mimalloc").
    for (function, deps) in [("db", &db), ("session", &session)] {
        assert!(
            has(deps, "mimalloc"),
            "the lean {function} build has no mimalloc"
        );
    }
    for absent in ["rusqlite", "libsqlite3-sys", "aws-config", "aws-sdk-sts"] {
        assert!(
            !has(&session, absent),
            "the lean session build links {absent}"
        );
    }
}
