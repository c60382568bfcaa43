//! The emulator end to end: the real `miniapp dev` binary over `tests/fixtures/dev/echo.yaml`,
//! whose functions are the real test function `cli/examples/dev_function.rs` running on the
//! real runtime in Lambda mode. Every test starts its own emulator on an OS-chosen port.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use test_support::build::{build, Profile, Target};
use test_support::dev::{Dev, DevCommand};
use test_support::workspace_root;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const MINIAPP: &str = env!("CARGO_BIN_EXE_miniapp");

/// How long `miniapp dev` may take to print its banner (the functions are prebuilt).
const READY_WITHIN: Duration = Duration::from_secs(60);

fn fixture(name: &str) -> PathBuf {
    workspace_root().join("tests/fixtures/dev").join(name)
}

/// The folder holding the `dev_function` example, built once per test process.
fn bin_dir() -> PathBuf {
    const DEV_FUNCTION: [Target; 1] = [Target::example("miniapp", "dev_function")];
    let exe = build(&DEV_FUNCTION, Profile::of_this_test()).get("dev_function");
    exe.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// `miniapp dev` over `echo.yaml` with the prebuilt `dev_function`, and `extra` arguments.
fn dev(extra: &[&str]) -> DevCommand {
    DevCommand::new(MINIAPP, fixture("echo.yaml"))
        .bin_dir(bin_dir())
        .args(extra)
}

/// Starts [`dev`] and waits for its banner.
fn start(extra: &[&str]) -> Dev {
    dev(extra).start(READY_WITHIN)
}

async fn get(
    url: &str,
) -> Result<(u16, reqwest::header::HeaderMap, Value), Box<dyn std::error::Error>> {
    let resp = reqwest::get(url).await?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = serde_json::from_slice(&resp.bytes().await?)?;
    Ok((status, headers, body))
}

#[tokio::test]
async fn request_becomes_event_and_response_comes_back() -> TestResult {
    let dev = start(&[]);
    let client = reqwest::Client::new();
    let resp = client
        .post(format!("{}/echo/a%20b?x=1&x=2", dev.url))
        .header("cookie", "c1=1; c2=2")
        .header("user-agent", "emulator-test")
        .body(r#"{"hello":"world"}"#)
        .send()
        .await?;
    assert_eq!(resp.status(), 200);
    let request_id = resp.headers()["x-request-id"].to_str()?.to_owned();
    let body: Value = serde_json::from_slice(&resp.bytes().await?)?;
    assert_eq!(body["method"], "POST");
    assert_eq!(body["path"], "/echo/a%20b");
    assert_eq!(body["query"], "x=1&x=2");
    assert_eq!(body["body"], r#"{"hello":"world"}"#);
    assert_eq!(body["cookie"], "c1=1; c2=2");
    assert_eq!(body["userAgent"], "emulator-test");
    assert_eq!(body["sourceIp"], "127.0.0.1");
    assert_eq!(body["requestId"], request_id.as_str());

    let resp = client
        .get(format!("{}/echo/cookies", dev.url))
        .send()
        .await?;
    let cookies: Vec<_> = resp.headers().get_all("set-cookie").iter().collect();
    assert_eq!(cookies.len(), 2, "{cookies:?}");

    // Template environment: Globals, !Sub, !Ref of a table, !GetAtt, pseudo parameters.
    for (var, want) in [
        ("GREETING", "hello-dev"),
        ("STAGE", "dev"),
        ("TABLE", "items-dev"),
        (
            "TABLE_ARN",
            "arn:aws:dynamodb:us-east-1:123456789012:table/items-dev",
        ),
        ("REGION", "us-east-1"),
        ("AWS_LAMBDA_FUNCTION_NAME", "EchoFunction"),
    ] {
        let (_, _, v) = get(&format!("{}/echo/env?name={var}", dev.url)).await?;
        assert_eq!(v["value"], want, "{var}");
    }
    // The GET-only root route and the log line of each request.
    let (status, _, _) = get(&format!("{}/echo", dev.url)).await?;
    assert_eq!(status, 200);
    let out = dev.output();
    assert!(out.contains("POST    /echo/a%20b?x=1&x=2"), "{out}");
    assert!(
        out.contains("EchoFunction") && out.contains(" cold") && out.contains(" warm"),
        "{out}"
    );
    Ok(())
}

#[tokio::test]
async fn parameter_overrides_reach_the_environment() -> TestResult {
    let dev = start(&["--parameter-overrides", "Stage=test", "Greeting=hi"]);
    let (_, _, v) = get(&format!("{}/echo/env?name=GREETING", dev.url)).await?;
    assert_eq!(v["value"], "hi-test");
    let (_, _, v) = get(&format!("{}/echo/env?name=TABLE", dev.url)).await?;
    assert_eq!(v["value"], "items-test");
    Ok(())
}

#[tokio::test]
async fn concurrent_requests_run_in_parallel_processes() -> TestResult {
    let dev = start(&["--max-processes", "6"]);
    // A first batch starts the processes (cold starts are not what is measured here).
    let (_, cold_pids) = six_sleeps(&dev.url).await?;
    let started = Instant::now();
    let (elapsed, pids) = six_sleeps(&dev.url).await?;
    // One process would need 6 x 1000 ms; the pool runs them side by side. The margin is wide
    // (half of serial) so that a loaded machine does not fail it, while serial work would.
    assert!(
        elapsed < Duration::from_millis(3000),
        "6 requests took {elapsed:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(1000));
    assert!(
        pids.len() >= 4,
        "only {} processes served 6 parallel requests",
        pids.len()
    );
    assert!(
        pids.is_subset(&cold_pids),
        "warm requests started new processes: {pids:?} vs {cold_pids:?}"
    );
    Ok(())
}

/// Six parallel `GET /slow/sleep?ms=1000`: how long they took, and which processes answered.
async fn six_sleeps(
    base: &str,
) -> Result<(Duration, std::collections::BTreeSet<u64>), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let url = format!("{base}/slow/sleep?ms=1000");
        tasks.push(tokio::spawn(async move {
            get(&url).await.map_err(|e| e.to_string())
        }));
    }
    let mut pids = std::collections::BTreeSet::new();
    for t in tasks {
        let (status, _, body) = t.await??;
        assert_eq!(status, 200, "{body}");
        pids.insert(body["pid"].as_u64().unwrap_or(0));
    }
    Ok((started.elapsed(), pids))
}

#[tokio::test]
async fn pool_size_is_capped() -> TestResult {
    let dev = start(&["--max-processes", "2"]);
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let url = format!("{}/slow/sleep?ms=200", dev.url);
        tasks.push(tokio::spawn(async move {
            get(&url).await.map_err(|e| e.to_string())
        }));
    }
    let mut pids = std::collections::BTreeSet::new();
    for t in tasks {
        let (status, _, body) = t.await??;
        assert_eq!(status, 200);
        pids.insert(body["pid"].as_u64().unwrap_or(0));
    }
    assert_eq!(pids.len(), 2, "{pids:?}");
    Ok(())
}

#[tokio::test]
async fn crash_is_a_502_and_the_process_is_replaced() -> TestResult {
    let dev = start(&[]);
    let (_, _, before) = get(&format!("{}/echo/x", dev.url)).await?;
    let (status, headers, body) = get(&format!("{}/echo/crash", dev.url)).await?;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "FunctionCrashed");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("exit status: 3"),
        "{body}"
    );
    assert_eq!(
        body["error"]["requestId"],
        headers["x-request-id"].to_str()?
    );
    let (status, _, after) = get(&format!("{}/echo/x", dev.url)).await?;
    assert_eq!(status, 200);
    assert_ne!(
        before["pid"], after["pid"],
        "the crashed process answered again"
    );
    Ok(())
}

#[tokio::test]
async fn timeout_is_a_504_and_the_next_request_succeeds() -> TestResult {
    let dev = start(&[]);
    let started = Instant::now();
    let (status, _, body) = get(&format!("{}/echo/sleep?ms=4000", dev.url)).await?;
    let elapsed = started.elapsed();
    assert_eq!(status, 504, "{body}");
    assert_eq!(body["error"]["code"], "FunctionTimeout");
    // Timeout: 1 in the template (Globals): cut at one second, not at the sleep's four.
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_millis(3000),
        "{elapsed:?}"
    );
    let (status, _, _) = get(&format!("{}/echo/sleep?ms=10", dev.url)).await?;
    assert_eq!(status, 200);
    Ok(())
}

#[tokio::test]
async fn function_error_is_a_502_with_a_json_body() -> TestResult {
    let dev = start(&[]);
    let (status, _, body) = get(&format!("{}/echo/panic", dev.url)).await?;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "FunctionError");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("HandlerPanic"),
        "{body}"
    );
    // The process reported the error and lives on.
    let (status, _, _) = get(&format!("{}/echo/x", dev.url)).await?;
    assert_eq!(status, 200);
    Ok(())
}

#[tokio::test]
async fn init_failure_is_a_502_naming_the_reason() -> TestResult {
    let dev = start(&["--parameter-overrides", "FailInit=1"]);
    let (status, _, body) = get(&format!("{}/echo/x", dev.url)).await?;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "FunctionCrashed");
    let message = body["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains("DEV_FUNCTION_FAIL_INIT"), "{body}");
    Ok(())
}

#[tokio::test]
async fn unknown_route_is_404_and_wrong_method_405() -> TestResult {
    let dev = start(&[]);
    let (status, headers, body) = get(&format!("{}/nowhere", dev.url)).await?;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "RouteNotFound");
    assert_eq!(
        body["error"]["requestId"],
        headers["x-request-id"].to_str()?
    );
    let resp = reqwest::Client::new()
        .delete(format!("{}/slow/x", dev.url))
        .send()
        .await?;
    assert_eq!(resp.status(), 405);
    let body: Value = serde_json::from_slice(&resp.bytes().await?)?;
    assert_eq!(body["error"]["code"], "MethodNotAllowed");
    Ok(())
}

#[tokio::test]
async fn bodies_over_lambdas_limit_are_413() -> TestResult {
    let dev = start(&[]);
    let resp = reqwest::Client::new()
        .post(format!("{}/echo/x", dev.url))
        .body(vec![b'a'; 6 * 1024 * 1024 + 1])
        .send()
        .await?;
    assert_eq!(resp.status(), 413);
    let body: Value = serde_json::from_slice(&resp.bytes().await?)?;
    assert_eq!(body["error"]["code"], "PayloadTooLarge");
    Ok(())
}

/// Runs `miniapp dev` to completion and returns its exit code and stderr.
fn run_to_end(
    extra: &[&str],
    env: &[(&str, &str)],
) -> Result<(Option<i32>, String), Box<dyn std::error::Error>> {
    let out = dev(extra).envs(env).run_to_end();
    Ok((
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

#[test]
fn remote_endpoints_are_refused_without_allow_remote() -> TestResult {
    let cases = [
        ("AWS_ENDPOINT_URL_DYNAMODB", "https://dynamodb.example.com"),
        ("AWS_ENDPOINT_URL", "http://192.0.2.10:8000"),
        (
            "ALIPAY_GATEWAY_URL",
            "https://gateway.example.com/gateway.do",
        ),
        ("MINIAPP_STORE", "dynamodb"),
    ];
    for (var, value) in cases {
        let (code, stderr) = run_to_end(&[], &[(var, value)])?;
        assert_eq!(code, Some(2), "{var}={value}: {stderr}");
        assert!(stderr.contains("--allow-remote"), "{var}={value}: {stderr}");
    }
    Ok(())
}

#[test]
fn a_busy_port_is_a_clear_error() -> TestResult {
    let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = taken.local_addr()?.port().to_string();
    let (code, stderr) = run_to_end(&["--port", &port], &[])?;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("already in use"), "{stderr}");
    Ok(())
}

#[test]
fn a_bad_template_is_a_clear_error() -> TestResult {
    let (code, stderr) = run_to_end(&["--parameter-overrides", "NoSuchParameter=1"], &[])?;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("NoSuchParameter"), "{stderr}");
    Ok(())
}

/// Processes whose parent is `pid` (from /proc).
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|p| proc_stat(*p).is_some_and(|(_, ppid)| ppid == pid))
        .collect()
}

/// `(state, ppid)` of a process, from `/proc/<pid>/stat`.
fn proc_stat(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let mut fields = after.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

fn alive(pid: u32) -> bool {
    proc_stat(pid).is_some_and(|(state, _)| state != 'Z' && state != 'X')
}

async fn stops_cleanly_on(signal: &str) -> TestResult {
    let mut dev = start(&[]);
    // Two processes of one function, and one of the other.
    let a = format!("{}/echo/sleep?ms=300", dev.url);
    let b = format!("{}/slow/x", dev.url);
    let (r1, r2, r3) = tokio::join!(get(&a), get(&a), get(&b));
    for r in [r1, r2, r3] {
        assert_eq!(r?.0, 200);
    }
    let children = children_of(dev.id());
    assert!(
        children.len() >= 3,
        "expected at least 3 function processes, saw {children:?}"
    );
    let status = dev.stop(signal);
    assert_eq!(
        status.code(),
        Some(0),
        "exit after SIG{signal}: {status:?}\n{}",
        dev.output()
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while children.iter().any(|p| alive(*p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let left: Vec<_> = children.iter().filter(|p| alive(**p)).collect();
    assert!(left.is_empty(), "function processes left running: {left:?}");
    assert!(dev.output().contains("Stopped."), "{}", dev.output());
    Ok(())
}

#[tokio::test]
async fn ctrl_c_stops_everything_and_exits_0() -> TestResult {
    stops_cleanly_on("INT").await
}

#[tokio::test]
async fn sigterm_stops_everything_and_exits_0() -> TestResult {
    stops_cleanly_on("TERM").await
}

#[test]
fn a_build_failure_is_a_clear_error() -> TestResult {
    // No --bin-dir: `miniapp dev` builds, and the template names a binary nobody has.
    let out = DevCommand::new(MINIAPP, fixture("missing-binary.yaml")).run_to_end();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("building the functions failed"), "{stderr}");
    assert!(
        stderr.contains("no_such_binary_in_this_workspace"),
        "{stderr}"
    );
    Ok(())
}
