//! Cold start of the two functions: from process spawn to the first successful answer.
//!
//! - HTTP-server mode: spawn → the "listening" log line (ready) → the answer to the first
//!   request (`POST /session` → 201, or a signed `GET /db/todos` → 200).
//! - Lambda mode: spawn → the first connection to the Runtime API (ready: init is over) → the
//!   function's successful response to that event, through the test Runtime API.
//!
//! Both stores (embedded SQLite, DynamoDB on moto) with the release binaries, and the Node.js
//! peer on the same moto server when `COLD_START_NODE_PEER` names an installed copy of it.
//!
//! ```sh
//! cargo bench -p integration-tests --bench cold_start                    # Rust only
//! COLD_START_NODE_PEER=/tmp/node-peer cargo bench -p integration-tests --bench cold_start
//! ```
//!
//! `COLD_START_RUNS` (default 30) sets the measured runs per case; `NODE` the node binary.
//! Without `--bench` (`cargo test --benches`) it is a smoke run: one run per case, debug
//! binaries, no Node.js. Results go to stdout as Markdown; progress goes to stderr.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use integration_tests::events::signed;
use integration_tests::functions::{
    function_env, login_from, start_gateway, Client, Login, Reply, StoreMode,
};
use integration_tests::{binary, function_binary};
use serde_json::{json, Value};
use test_support::build::Profile;
use test_support::fixtures::event as fixture;
use test_support::moto::MotoServer;
use test_support::process::{Launch, Proc};
use test_support::runtime_api::{PostKind, RuntimeApi, Scripted};

/// Longest wait for one cold process to answer before the bench gives up on it.
const RUN_TIMEOUT: Duration = Duration::from_secs(30);
/// Unmeasured runs before each case: the page cache holds the binary and its libraries.
const WARMUP_RUNS: usize = 2;

/// What a function process is started with: its program for a given environment.
type MakeProgram<'a> = dyn Fn(Function, &[(String, String)]) -> Program + 'a;

/// How the bench was asked to run.
struct Settings {
    runs: usize,
    warmups: usize,
    /// Release binaries (`cargo bench`) or debug ones (smoke run).
    release: bool,
    node_peer: Option<PathBuf>,
}

impl Settings {
    fn from_env() -> Self {
        // `cargo bench` passes `--bench`; `cargo test --benches` does not.
        let full = std::env::args().any(|a| a == "--bench");
        let runs = std::env::var("COLD_START_RUNS")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&n| n > 0);
        Self {
            runs: if full { runs.unwrap_or(30) } else { 1 },
            warmups: if full { WARMUP_RUNS } else { 0 },
            release: full,
            node_peer: std::env::var_os("COLD_START_NODE_PEER")
                .filter(|_| full)
                .map(PathBuf::from),
        }
    }
}

fn main() {
    let settings = Settings::from_env();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("tokio runtime: {e}"));
    let load_before = load_average();
    let rows = rt.block_on(bench(&settings));
    print_report(&settings, &rows);
    // Other work on the machine shows up in every number: say how busy it was.
    println!(
        "\nLoad average (1, 5, 15 min) before: {load_before}; after: {}",
        load_average()
    );
}

fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Function {
    Session,
    Db,
}

impl Function {
    fn name(self) -> &'static str {
        match self {
            Self::Session => "session",
            Self::Db => "db",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Http,
    Lambda,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Self::Http => "HTTP",
            Self::Lambda => "Lambda",
        }
    }
}

/// A command that starts one function process.
#[derive(Clone)]
struct Program {
    runtime: &'static str,
    command: PathBuf,
    args: Vec<String>,
    cwd: Option<PathBuf>,
    env: Vec<(String, String)>,
}

impl Program {
    fn rust(function: Function, env: &[(String, String)], release: bool) -> Self {
        let command = if release {
            function_binary(function.name(), Profile::Release)
        } else {
            binary(function.name())
        };
        Self {
            runtime: "Rust",
            command,
            args: Vec::new(),
            cwd: None,
            env: env.to_vec(),
        }
    }

    /// The peer serves one function per process, as our binaries do, on loopback only.
    fn node(function: Function, env: &[(String, String)], peer: &std::path::Path) -> Self {
        let mut env = env.to_vec();
        env.extend([
            ("MINIAPP_FUNCTIONS".to_owned(), function.name().to_owned()),
            ("HOST".to_owned(), "127.0.0.1".to_owned()),
            // alipay-sdk stamps local time and the gateway reads it as Beijing time.
            ("TZ".to_owned(), "Asia/Shanghai".to_owned()),
        ]);
        let node = std::env::var_os("NODE").map_or_else(|| PathBuf::from("node"), PathBuf::from);
        Self {
            runtime: "Node.js",
            command: node,
            args: vec!["src/server.js".into()],
            cwd: Some(peer.to_owned()),
            env,
        }
    }

    /// The launch, with nothing of our own environment but `PATH`.
    fn launch(&self, extra: &[(&str, String)]) -> Launch {
        let mut launch = Launch::new(&self.command)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .envs(extra.iter().map(|(k, v)| (k, v)));
        for arg in &self.args {
            launch = launch.arg(arg);
        }
        match &self.cwd {
            Some(dir) => launch.current_dir(dir),
            None => launch,
        }
    }
}

/// `env` with `name` set to `value` (replacing any earlier value).
fn with_var(env: &[(String, String)], name: &str, value: &str) -> Vec<(String, String)> {
    let mut env: Vec<_> = env.iter().filter(|(k, _)| k != name).cloned().collect();
    env.push((name.to_owned(), value.to_owned()));
    env
}

/// Peak resident set size (`VmHWM`) of a process so far, in KiB.
fn peak_rss_kib(proc: &Proc) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", proc.id())).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Fails the run unless the process still runs (used while waiting for it).
fn check_alive(proc: &mut Proc) {
    if let Some(status) = proc.exited() {
        proc.fail(&format!("exited early ({status})"));
    }
}

/// The first request a cold process gets.
#[derive(Clone)]
enum Call {
    /// `POST /session` with `dev-alice` → 201.
    Login,
    /// Signed `GET /db/todos` → 200.
    List(Login),
}

impl Call {
    fn for_function(function: Function, login: &Login) -> Self {
        match function {
            Function::Session => Self::Login,
            Function::Db => Self::List(login.clone()),
        }
    }

    fn expected(&self) -> u16 {
        match self {
            Self::Login => 201,
            Self::List(_) => 200,
        }
    }

    async fn http(&self, http: &reqwest::Client, port: u16) -> Reply {
        let url = format!("http://127.0.0.1:{port}");
        let client = Client::with_http(http.clone(), &url, &url);
        match self {
            Self::Login => client.login_reply("dev-alice").await,
            Self::List(login) => {
                client
                    .signed(login, "GET", &url, "/db/todos", b"", &[])
                    .await
            }
        }
    }

    /// The same request as an API Gateway v2 event (signed now: the date must be fresh).
    fn event(&self) -> Value {
        match self {
            Self::Login => {
                let mut e = fixture("apigw-v2-post-session.json");
                e["body"] = json!(json!({"authCode": "dev-alice"}).to_string());
                e
            }
            Self::List(login) => {
                let mut e = fixture("apigw-v2-list-db-todos.json");
                e["rawQueryString"] = json!("");
                if let Some(o) = e.as_object_mut() {
                    o.remove("queryStringParameters");
                }
                signed(e, login)
            }
        }
    }
}

/// One cold start.
#[derive(Clone, Copy, Debug)]
struct Sample {
    /// Spawn → "listening" (HTTP) or → first `/invocation/next` (Lambda).
    ready: Duration,
    /// Spawn → the first successful answer.
    first: Duration,
    /// The same call once more on the now warm process: what the cold start adds is
    /// `first - ready - warm`.
    warm: Duration,
    rss_kib: Option<u64>,
}

/// HTTP mode: spawn with `PORT=0`, send the call as soon as the process says where it
/// listens, then once more on the warm process.
async fn http_once(program: &Program, call: &Call, http: &reqwest::Client) -> Sample {
    let started = Instant::now();
    let (mut proc, port) = program.launch(&[]).spawn_http().await;
    let ready = started.elapsed();
    http_call(&mut proc, call, http, port).await;
    let first = started.elapsed();
    let rss_kib = peak_rss_kib(&proc);
    let again = Instant::now();
    http_call(&mut proc, call, http, port).await;
    Sample {
        ready,
        first,
        warm: again.elapsed(),
        rss_kib,
    }
}

/// Sends `call` and fails the run unless it got the expected status.
async fn http_call(proc: &mut Proc, call: &Call, http: &reqwest::Client, port: u16) {
    let reply = match tokio::time::timeout(RUN_TIMEOUT, call.http(http, port)).await {
        Ok(reply) => reply,
        Err(_) => proc.fail("did not answer in time"),
    };
    if reply.status.as_u16() != call.expected() {
        proc.fail(&format!(
            "answered {}: {}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        ));
    }
}

/// A loopback relay in front of the test Runtime API that notes when the function first
/// connects, i.e. when its init is over and it polls `/next`: the Runtime API counts polls
/// but does not time them. The extra hop costs both runtimes the same.
struct Relay {
    addr: std::net::SocketAddr,
    first_connect: Arc<OnceLock<Instant>>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn start(target: std::net::SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind relay: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("relay address: {e}"));
        let first_connect = Arc::new(OnceLock::new());
        let seen = Arc::clone(&first_connect);
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let _ = seen.set(Instant::now());
                tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Self {
            addr,
            first_connect,
            task,
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Lambda mode: the event is queued before the spawn, so the first `/next` gets it at once;
/// then a second event for the warm process.
async fn lambda_once(program: &Program, call: &Call) -> Sample {
    let mut api = RuntimeApi::start("").await;
    api.push(Scripted::event("cold-1", &call.event()));
    let relay = Relay::start(api.addr).await;
    let started = Instant::now();
    let mut proc = program
        .launch(&[("AWS_LAMBDA_RUNTIME_API", relay.addr.to_string())])
        .spawn();
    lambda_answer(&mut api, &mut proc, call, "cold-1").await;
    let first = started.elapsed();
    let rss_kib = peak_rss_kib(&proc);
    let ready = relay
        .first_connect
        .get()
        .map_or(first, |t| t.duration_since(started));
    let again = Instant::now();
    api.push(Scripted::event("cold-2", &call.event()));
    lambda_answer(&mut api, &mut proc, call, "cold-2").await;
    Sample {
        ready,
        first,
        warm: again.elapsed(),
        rss_kib,
    }
}

/// Waits for the response to invocation `id` and fails the run unless it is the expected one.
async fn lambda_answer(api: &mut RuntimeApi, proc: &mut Proc, call: &Call, id: &str) {
    let deadline = Instant::now() + RUN_TIMEOUT;
    let post = loop {
        // The post wakes this at once; the timeout only paces the checks on the process.
        if let Ok(post) = tokio::time::timeout(Duration::from_millis(50), api.next_post()).await {
            break post;
        }
        check_alive(proc);
        if Instant::now() > deadline {
            proc.fail(&format!("posted no response to {id} in time"));
        }
    };
    let status = post.json()["statusCode"].as_u64().unwrap_or_default();
    if post.kind != PostKind::Response(id.into()) || status != u64::from(call.expected()) {
        proc.fail(&format!(
            "posted {:?}: {}",
            post.kind,
            String::from_utf8_lossy(&post.body)
        ));
    }
}

/// One measured configuration and its samples.
struct Row {
    runtime: &'static str,
    function: Function,
    mode: Mode,
    store: &'static str,
    samples: Vec<Sample>,
}

async fn measure(
    settings: &Settings,
    program: &Program,
    function: Function,
    mode: Mode,
    store: &'static str,
    call: &Call,
) -> Row {
    eprintln!(
        "cold_start: {} {} {} on {store}",
        program.runtime,
        function.name(),
        mode.name()
    );
    let http = reqwest::Client::new();
    let mut samples = Vec::with_capacity(settings.runs);
    for i in 0..settings.warmups + settings.runs {
        let sample = match mode {
            Mode::Http => http_once(program, call, &http).await,
            Mode::Lambda => lambda_once(program, call).await,
        };
        if i >= settings.warmups {
            samples.push(sample);
        }
    }
    Row {
        runtime: program.runtime,
        function,
        mode,
        store,
        samples,
    }
}

/// Logs in through a warm session process and reads once through a warm db process, with
/// table creation on; returns the login whose credentials the cold db processes get.
async fn warm_up(session: &Program, db: &Program) -> Login {
    let http = reqwest::Client::new();
    let login = {
        let (mut proc, port) = session.launch(&[]).spawn_http().await;
        let reply = Call::Login.http(&http, port).await;
        if reply.status.as_u16() != 201 {
            proc.fail(&format!(
                "warm login answered {}: {}",
                reply.status,
                String::from_utf8_lossy(&reply.body)
            ));
        }
        login_from(reply.json())
    };
    let (mut proc, port) = db.launch(&[]).spawn_http().await;
    let reply = Call::List(login.clone()).http(&http, port).await;
    if reply.status.as_u16() != 200 {
        proc.fail(&format!(
            "warm read answered {}: {}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        ));
    }
    login
}

/// Every case of one runtime on one store. `make` builds a program from an environment.
async fn run_store(
    settings: &Settings,
    store: &'static str,
    env: &[(String, String)],
    make: &MakeProgram<'_>,
) -> Vec<Row> {
    let warm_env = with_var(env, "MINIAPP_CREATE_TABLES", "true");
    // Cold processes start as deployed ones do: the tables exist, nobody creates them.
    let cold_env = with_var(env, "MINIAPP_CREATE_TABLES", "false");
    let login = warm_up(
        &make(Function::Session, &warm_env),
        &make(Function::Db, &warm_env),
    )
    .await;
    let mut rows = Vec::new();
    for function in [Function::Session, Function::Db] {
        let call = Call::for_function(function, &login);
        for mode in [Mode::Http, Mode::Lambda] {
            rows.push(
                measure(
                    settings,
                    &make(function, &cold_env),
                    function,
                    mode,
                    store,
                    &call,
                )
                .await,
            );
        }
    }
    rows
}

fn dynamo(moto: &MotoServer, prefix: &str) -> StoreMode {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    StoreMode::Dynamo {
        endpoint: moto.endpoint(),
        sessions_table: format!("{prefix}-sessions-{suffix}"),
        data_table: format!("{prefix}-data-{suffix}"),
    }
}

async fn bench(settings: &Settings) -> Vec<Row> {
    let gateway = start_gateway().await;
    let moto = MotoServer::start();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let release = settings.release;
    let rust = move |f: Function, env: &[(String, String)]| Program::rust(f, env, release);
    let embedded = function_env(
        &gateway.url(),
        &StoreMode::Embedded(dir.path().join("data.db")),
    );
    let mut rows = run_store(settings, "embedded", &embedded, &rust).await;
    let moto_env = function_env(&gateway.url(), &dynamo(&moto, "rust"));
    rows.extend(run_store(settings, "DynamoDB (moto)", &moto_env, &rust).await);
    if let Some(peer) = &settings.node_peer {
        let node = |f: Function, env: &[(String, String)]| Program::node(f, env, peer);
        let node_env = function_env(&gateway.url(), &dynamo(&moto, "node"));
        rows.extend(run_store(settings, "DynamoDB (moto)", &node_env, &node).await);
    }
    rows
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[Duration], p: usize) -> Duration {
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted.get(rank - 1).copied().unwrap_or_default()
}

fn sorted(values: impl Iterator<Item = Duration>) -> Vec<Duration> {
    let mut v: Vec<Duration> = values.collect();
    v.sort();
    v
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn median_rss(samples: &[Sample]) -> Option<u64> {
    let mut v: Vec<u64> = samples.iter().filter_map(|s| s.rss_kib).collect();
    v.sort_unstable();
    v.get(v.len().checked_sub(1)? / 2).copied()
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(
        || "n/a".to_owned(),
        |k| format!("{:.1} MiB", k as f64 / 1024.0),
    )
}

impl Row {
    fn first_sorted(&self) -> Vec<Duration> {
        sorted(self.samples.iter().map(|s| s.first))
    }

    fn median(&self) -> Duration {
        percentile(&self.first_sorted(), 50)
    }

    fn markdown(&self) -> String {
        let first = self.first_sorted();
        let ready = sorted(self.samples.iter().map(|s| s.ready));
        let warm = sorted(self.samples.iter().map(|s| s.warm));
        format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            self.runtime,
            self.function.name(),
            self.mode.name(),
            self.store,
            self.samples.len(),
            ms(percentile(&ready, 50)),
            ms(percentile(&first, 50)),
            ms(percentile(&first, 90)),
            ms(first.first().copied().unwrap_or_default()),
            ms(percentile(&warm, 50)),
            mib(median_rss(&self.samples)),
        )
    }
}

fn print_report(settings: &Settings, rows: &[Row]) {
    let build = if settings.release {
        "release"
    } else {
        "debug (smoke run)"
    };
    println!(
        "## Cold start ({build} binaries, {} runs per case after {} warm-up runs)\n",
        settings.runs, settings.warmups
    );
    println!("| runtime | function | mode | store | runs | ready (median) | first answer: median | p90 | min | warm answer (median) | peak RSS (median) |");
    println!("| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for row in rows {
        println!("{}", row.markdown());
    }
    print_comparison(rows);
    print_sizes(settings);
}

/// Node.js against Rust on the same store server, case by case.
fn print_comparison(rows: &[Row]) {
    let node: Vec<&Row> = rows.iter().filter(|r| r.runtime == "Node.js").collect();
    if node.is_empty() {
        return;
    }
    println!("\n## Node.js peer vs Rust, same moto server (medians of spawn → first answer)\n");
    println!(
        "| function | mode | Rust | Node.js | Node.js / Rust | Rust peak RSS | Node.js peak RSS |"
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
    for n in node {
        let same = |r: &&Row| {
            r.runtime == "Rust"
                && r.store == n.store
                && r.function == n.function
                && r.mode == n.mode
        };
        let Some(r) = rows.iter().find(same) else {
            continue;
        };
        let ratio = n.median().as_secs_f64() / r.median().as_secs_f64().max(f64::MIN_POSITIVE);
        println!(
            "| {} | {} | {} | {} | {ratio:.1}× | {} | {} |",
            n.function.name(),
            n.mode.name(),
            ms(r.median()),
            ms(n.median()),
            mib(median_rss(&r.samples)),
            mib(median_rss(&n.samples)),
        );
    }
}

fn print_sizes(settings: &Settings) {
    if !settings.release {
        return;
    }
    println!("\n## Binary sizes (release profile: thin LTO, stripped)\n");
    println!("| binary | bytes | MiB |");
    println!("| --- | ---: | ---: |");
    for name in ["session", "db"] {
        let len = std::fs::metadata(function_binary(name, Profile::Release))
            .map(|m| m.len())
            .unwrap_or_default();
        println!("| {name} | {len} | {:.1} |", len as f64 / (1024.0 * 1024.0));
    }
}
