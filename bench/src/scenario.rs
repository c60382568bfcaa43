//! The run: the gateway stand-in, the store servers, and for each implementation and store
//! its cold starts, its warm load and its connection counts, in that order.

use std::path::Path;

use integration_tests::functions::{function_env, start_gateway, Client, Login, StoreMode};
use test_support::moto::MotoServer;
use test_support::process::Proc;

use crate::cold::{self, Call, Mode};
use crate::procfs;
use crate::programs::{with_var, Binaries, Function, Program, Runtime};
use crate::relay::{url_addr, url_via, Relay};
use crate::settings::{Series, Settings};
use crate::warm::{self, item_body, item_path, Op, Point};

/// The plots' series, in colour order.
pub(crate) const SERIES: [&str; 4] = [
    "Rust · embedded (SQLite)",
    "Rust · DynamoDB API (moto)",
    "Node.js · DynamoDB API (moto)",
    "floor (Rust, no store)",
];

/// Everything measured.
#[derive(Default)]
pub(crate) struct Results {
    pub(crate) cold: Vec<cold::Row>,
    pub(crate) warm: Vec<Point>,
    pub(crate) rss: Vec<RssRow>,
    pub(crate) conns: Vec<ConnRow>,
    /// One thread or a pool of workers, Rust on the DynamoDB API.
    pub(crate) threads: Vec<crate::threads::Row>,
    /// Instructions per warm request and to the first answer (callgrind).
    pub(crate) instructions: Vec<crate::instructions::Row>,
    /// Commands as run, for the report.
    pub(crate) commands: Vec<String>,
}

/// Peak memory of a long-running process after all its load.
pub(crate) struct RssRow {
    pub(crate) series: usize,
    pub(crate) function: Function,
    pub(crate) peak_mib: f64,
    /// Resident memory at the end, anonymous and file-backed (MiB): what the peak is made of.
    pub(crate) end_split_mib: Option<(f64, f64)>,
}

/// Connections a function opened per request, from a separate short pass.
pub(crate) struct ConnRow {
    pub(crate) series: usize,
    pub(crate) what: String,
    pub(crate) requests: usize,
    pub(crate) store: Option<f64>,
    /// DynamoDB API calls per request.
    pub(crate) store_calls: Option<f64>,
    pub(crate) gateway: Option<f64>,
}

/// What a function process is started with: its program for a given environment.
type MakeProgram<'a> = dyn Fn(Function, &[(String, String)]) -> Program + 'a;

/// One implementation on one store.
struct Group<'a> {
    series: usize,
    runtime: Runtime,
    store: &'static str,
    env: Vec<(String, String)>,
    /// The DynamoDB endpoint, for the connection pass.
    endpoint: Option<String>,
    gateway_url: String,
    make: &'a MakeProgram<'a>,
    /// The floor, run beside each cold start of this group's (Rust groups).
    floor: Option<&'a Program>,
}

fn dynamo(moto: &MotoServer, prefix: &str) -> StoreMode {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    StoreMode::Dynamo {
        endpoint: moto.endpoint(),
        sessions_table: format!("{prefix}-sessions-{suffix}"),
        data_table: format!("{prefix}-data-{suffix}"),
    }
}

/// `lean` runs the Rust functions on the DynamoDB API (the deployed configuration); `bins`
/// the embedded store (which the lean build leaves out) and the floor.
pub(crate) async fn run(
    settings: &Settings,
    bins: &Binaries,
    lean: &Binaries,
    tmp: &Path,
) -> Results {
    let mut results = Results::default();
    let gateway = start_gateway().await;
    let moto = MotoServer::start_keepalive();
    results.commands.push(format!(
        "store server: {} (started by the harness on a loopback port)",
        moto_shown()
    ));
    let gw = gateway.url();
    let rust = |f: Function, env: &[(String, String)]| Program::rust(bins, f, env);
    let rust_lean = |f: Function, env: &[(String, String)]| Program::rust(lean, f, env);
    let floor_program = floor_program(bins);
    let wanted = |s: Series| settings.series.contains(&s);
    if wanted(Series::Floor) {
        floor(settings, bins, tmp, &mut results).await;
    }
    let embedded = Group {
        series: 0,
        runtime: Runtime::Rust,
        store: "embedded",
        env: function_env(&gw, &StoreMode::Embedded(tmp.join("data.db"))),
        endpoint: None,
        gateway_url: gw.clone(),
        make: &rust,
        floor: Some(&floor_program),
    };
    if wanted(Series::Embedded) {
        group(settings, &embedded, tmp, &mut results).await;
    }
    let moto_rust = Group {
        series: 1,
        runtime: Runtime::Rust,
        store: "moto",
        env: function_env(&gw, &dynamo(&moto, "rust")),
        endpoint: Some(moto.endpoint()),
        gateway_url: gw.clone(),
        make: &rust_lean,
        floor: Some(&floor_program),
    };
    if wanted(Series::Moto) {
        group(settings, &moto_rust, tmp, &mut results).await;
    }
    if let Some(peer) = &settings.node_peer {
        let node = |f: Function, env: &[(String, String)]| Program::node(f, env, peer);
        let moto_node = Group {
            series: 2,
            runtime: Runtime::Node,
            store: "moto",
            env: function_env(&gw, &dynamo(&moto, "node")),
            endpoint: Some(moto.endpoint()),
            gateway_url: gw.clone(),
            make: &node,
            floor: None,
        };
        group(settings, &moto_node, tmp, &mut results).await;
        results.commands.push(format!(
            "(cd {} && MINIAPP_FUNCTIONS=<session|db> HOST=127.0.0.1 TZ=Asia/Shanghai PORT=0 node src/server.js)   # or AWS_LAMBDA_RUNTIME_API=... for Lambda mode",
            peer.display()
        ));
    }
    results
}

fn moto_shown() -> String {
    "$VENV/bin/python bench/moto_keepalive.py -H 127.0.0.1 -p 0".into()
}

/// The floor's process, as every cold start of it runs.
fn floor_program(bins: &Binaries) -> Program {
    Program::rust(bins, Function::Floor, &[("RUST_LOG".into(), "info".into())])
}

/// The floor: cold starts in both modes, then warm `GET /`.
async fn floor(settings: &Settings, bins: &Binaries, tmp: &Path, results: &mut Results) {
    let program = floor_program(bins);
    let modes = if settings.cold {
        &[Mode::Http, Mode::Lambda][..]
    } else {
        &[]
    };
    for &mode in modes {
        results.cold.push(
            cold::measure(
                cold::Case {
                    program: &program,
                    floor: None,
                },
                mode,
                "none",
                &Call::Floor,
                settings.cold_warmups,
                settings.cold_runs,
                &[],
            )
            .await,
        );
    }
    if !settings.load {
        return;
    }
    let program = program.with("RUST_LOG", "info,access=warn");
    if counting_instructions(settings) {
        let rows = crate::instructions::measure(
            &program,
            "floor",
            &Call::Floor,
            settings.instruction_requests,
            &callgrind_dir(),
        )
        .await;
        results.instructions.extend(rows);
    }
    let (proc, port) = program.launch(&[]).spawn_http().await;
    let url = format!("http://127.0.0.1:{port}");
    for &conns in &settings.conns {
        results.warm.push(point(
            settings,
            3,
            Op::Floor,
            conns,
            None,
            &url,
            &proc,
            tmp,
            &mut results.commands,
        ));
    }
    results.rss.push(RssRow {
        series: 3,
        function: Function::Floor,
        peak_mib: peak_mib(&proc),
        end_split_mib: end_split_mib(&proc),
    });
}

/// Whether instructions are counted: asked for, and valgrind is here.
fn counting_instructions(settings: &Settings) -> bool {
    if !settings.instructions {
        return false;
    }
    let here = crate::instructions::valgrind_installed();
    if !here {
        eprintln!(
            "bench: valgrind is not installed: no instruction counts (apt-get install valgrind)"
        );
    }
    here
}

/// Where the callgrind output files go (large: never beside the published report).
fn callgrind_dir() -> std::path::PathBuf {
    test_support::workspace_root().join("target/bench/callgrind")
}

/// A function's environment pointed at relays in front of the gateway stand-in and (on the
/// DynamoDB API) the store server.
struct Relayed {
    env: Vec<(String, String)>,
    gateway: Relay,
    store: Option<Relay>,
}

impl Relayed {
    /// `None` when the gateway URL has no `host:port` to relay to.
    async fn start(g: &Group<'_>, env: &[(String, String)]) -> Option<Self> {
        let gateway = Relay::start(url_addr(&g.gateway_url)?).await;
        let mut env = with_var(
            env,
            "ALIPAY_GATEWAY_URL",
            &url_via(&g.gateway_url, gateway.addr),
        );
        let mut store = None;
        if let Some((endpoint, addr)) = g.endpoint.as_deref().and_then(|e| Some((e, url_addr(e)?)))
        {
            let relay = Relay::start(addr).await;
            env = with_var(
                &env,
                "AWS_ENDPOINT_URL_DYNAMODB",
                &url_via(endpoint, relay.addr),
            );
            store = Some(relay);
        }
        Some(Self {
            env,
            gateway,
            store,
        })
    }
}

/// Cold starts of both functions in both modes, with relays in front of the store server and
/// the gateway stand-in that clock how long each process waited on them.
async fn cold_starts(
    settings: &Settings,
    g: &Group<'_>,
    env: &[(String, String)],
    store: &str,
    login: &Login,
    results: &mut Results,
) {
    let Some(relayed) = Relayed::start(g, env).await else {
        return;
    };
    let relays: Vec<&Relay> = std::iter::once(&relayed.gateway)
        .chain(relayed.store.as_ref())
        .collect();
    let env = &relayed.env;
    for function in [Function::Session, Function::Db] {
        let call = Call::for_function(function, Some(login));
        for mode in [Mode::Http, Mode::Lambda] {
            let program = (g.make)(function, env);
            results.cold.push(
                cold::measure(
                    cold::Case {
                        program: &program,
                        floor: g.floor,
                    },
                    mode,
                    store,
                    &call,
                    settings.cold_warmups,
                    settings.cold_runs,
                    &relays,
                )
                .await,
            );
        }
    }
}

fn peak_mib(proc: &Proc) -> f64 {
    procfs::peak_rss_kib(proc.id()).map_or(0.0, |k| k as f64 / 1024.0)
}

fn end_split_mib(proc: &Proc) -> Option<(f64, f64)> {
    procfs::rss_split_kib(proc.id()).map(|(a, f)| (a as f64 / 1024.0, f as f64 / 1024.0))
}

/// Cold starts, warm load and connection counts of one implementation on one store.
async fn group(settings: &Settings, g: &Group<'_>, tmp: &Path, results: &mut Results) {
    // Tables are created once here; every later process starts as a deployed one does.
    let setup = with_var(&g.env, "MINIAPP_CREATE_TABLES", "true");
    let login = cold::login_through(&(g.make)(Function::Session, &setup)).await;
    cold::read_through(&(g.make)(Function::Db, &setup), &login).await;
    // Rate limits stay on (each cold process pays its limiter write, as deployed), but the
    // log-in limit per address and the per-user limit get room for every cold process of the
    // run: each one leases tokens it does not live to spend, so 44 log-ins (or reads by one
    // user) in a few seconds exceed the default bursts of 50 (100).
    let mut cold_env = with_var(&g.env, "MINIAPP_CREATE_TABLES", "false");
    for (var, rate) in [
        ("MINIAPP_RATE_SESSION_CREATE", "1000/1:1000"),
        ("MINIAPP_RATE_USER", "1000/1:1000"),
    ] {
        cold_env = with_var(&cold_env, var, rate);
    }
    let store = match g.endpoint {
        Some(_) => "DynamoDB API (moto)",
        None => "embedded",
    };
    if settings.cold {
        cold_starts(settings, g, &cold_env, store, &login, results).await;
    }
    if !settings.load {
        return;
    }
    // Load: no rate limits (one client address and one user would be refused at once with
    // the defaults) and no access log (the Node.js implementation logs none by default).
    let load_env = with_var(
        &with_var(&cold_env, "MINIAPP_RATE_LIMITS", "off"),
        "RUST_LOG",
        "info,access=warn",
    );
    let session = (g.make)(Function::Session, &load_env);
    let db = (g.make)(Function::Db, &load_env);
    let (session_proc, session_port) = session.launch(&[]).spawn_http().await;
    let (db_proc, db_port) = db.launch(&[]).spawn_http().await;
    let session_url = format!("http://127.0.0.1:{session_port}");
    let db_url = format!("http://127.0.0.1:{db_port}");
    let client = Client::new(&session_url, &db_url);
    let login = client.login("dev-alice").await;
    seed(&client, &login).await;
    eprintln!("bench: warm load {} on {}", g.runtime.name(), g.store);
    for &op in &settings.db_ops {
        for &conns in &settings.conns {
            let p = point(
                settings,
                g.series,
                op,
                conns,
                Some(&login),
                &db_url,
                &db_proc,
                tmp,
                &mut results.commands,
            );
            results.warm.push(p);
        }
    }
    let login_conns = if settings.login_load {
        &settings.conns[..]
    } else {
        &[]
    };
    for &conns in login_conns {
        let p = point(
            settings,
            g.series,
            Op::Login,
            conns,
            None,
            &session_url,
            &session_proc,
            tmp,
            &mut results.commands,
        );
        results.warm.push(p);
    }
    for (function, proc) in [(Function::Session, &session_proc), (Function::Db, &db_proc)] {
        results.rss.push(RssRow {
            series: g.series,
            function,
            peak_mib: peak_mib(proc),
            end_split_mib: end_split_mib(proc),
        });
    }
    drop((session_proc, db_proc));
    if settings.threads_requests > 0 && g.runtime == Runtime::Rust && g.endpoint.is_some() {
        let db = (g.make)(Function::Db, &load_env);
        let call = Call::Item(login.clone());
        results.threads = crate::threads::measure(&db, &call, settings.threads_requests).await;
    }
    if counting_instructions(settings) && g.runtime == Runtime::Rust {
        let db = (g.make)(Function::Db, &load_env);
        let name = format!("db-{}", g.store);
        let rows = crate::instructions::measure(
            &db,
            &name,
            &Call::Item(login.clone()),
            settings.instruction_requests,
            &callgrind_dir(),
        )
        .await;
        results.instructions.extend(rows);
        let session = (g.make)(Function::Session, &load_env);
        let name = format!("session-{}", g.store);
        let rows = crate::instructions::measure(
            &session,
            &name,
            &Call::Login,
            settings.instruction_requests,
            &callgrind_dir(),
        )
        .await;
        results.instructions.extend(rows);
    }
    connections(g, &load_env, &login, results).await;
}

/// Stores the items the load reads, replaces and lists.
async fn seed(client: &Client, login: &Login) {
    for i in 0..warm::ITEMS {
        let body = serde_json::from_str(&item_body(i)).ok();
        let reply = client.db(login, "PUT", &item_path(i), body).await;
        assert!(
            reply.status.is_success(),
            "seeding {}: {} {}",
            item_path(i),
            reply.status,
            String::from_utf8_lossy(&reply.body)
        );
    }
}

/// The warm runs of one point.
#[allow(clippy::too_many_arguments)]
fn point(
    settings: &Settings,
    series: usize,
    op: Op,
    conns: usize,
    login: Option<&Login>,
    url: &str,
    proc: &Proc,
    tmp: &Path,
    commands: &mut Vec<String>,
) -> Point {
    eprintln!(
        "bench: {} · {} · {conns} connections",
        SERIES[series],
        op.name()
    );
    if settings.warmup_run {
        let w = warm::WrkSettings {
            seconds: 1,
            ..settings.wrk.clone()
        };
        warm::run(&w, op, conns, login, url, proc.id(), tmp);
    }
    if commands.iter().all(|c| !c.starts_with("wrk ")) {
        let args = warm::wrk_args(&settings.wrk, conns, &tmp.join("bench.lua"), url);
        commands.push(format!("wrk {}", args.join(" ")));
    }
    let recording = settings.perf.as_deref().map(|dir| {
        let name = format!("{series}-{}-{conns}", op.name()).replace([' ', '/', '(', ')'], "_");
        crate::perf::PerfRecord::start(proc.id(), &dir.join(format!("{name}.perf.data")))
    });
    let runs: Vec<warm::Run> = (0..settings.reps)
        .map(|_| warm::run(&settings.wrk, op, conns, login, url, proc.id(), tmp))
        .collect();
    drop(recording);
    for r in &runs {
        eprintln!(
            "bench:   {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, CPU {} µs/request, {} errors",
            r.rps,
            r.p50_ms,
            r.p99_ms,
            r.cpu_us.map_or_else(|| "?".into(), |c| format!("{c:.0}")),
            r.errors
        );
    }
    Point {
        series: SERIES[series].to_owned(),
        op,
        conns,
        runs,
    }
}

/// Connections opened per request (function → store, function → gateway), counted by
/// relays in front of both, on fresh processes, after the timed runs.
async fn connections(
    g: &Group<'_>,
    env: &[(String, String)],
    login: &Login,
    results: &mut Results,
) {
    eprintln!(
        "bench: connections per request, {} on {}",
        g.runtime.name(),
        g.store
    );
    let Some(Relayed {
        env,
        gateway: gateway_relay,
        store: store_relay,
    }) = Relayed::start(g, env).await
    else {
        return;
    };
    let store = || store_relay.as_ref().map(Relay::connections);
    let calls = || store_relay.as_ref().map(Relay::calls);
    let per = |after: Option<usize>, before: Option<usize>, n: usize| match (after, before) {
        (Some(a), Some(b)) => Some((a - b) as f64 / n as f64),
        _ => None,
    };
    let (_session, session_port) = (g.make)(Function::Session, &env)
        .launch(&[])
        .spawn_http()
        .await;
    let (_db, db_port) = (g.make)(Function::Db, &env).launch(&[]).spawn_http().await;
    let client = Client::new(
        &format!("http://127.0.0.1:{session_port}"),
        &format!("http://127.0.0.1:{db_port}"),
    );
    // First use opens what a process keeps: not counted.
    client.login("dev-alice").await;
    for i in 0..3 {
        client.db(login, "GET", &item_path(i), None).await;
    }
    const N: usize = 20;
    let (s0, c0, g0) = (store(), calls(), gateway_relay.connections());
    for _ in 0..N {
        client.login("dev-alice").await;
    }
    results.conns.push(ConnRow {
        series: g.series,
        what: "POST /session, one after another".into(),
        requests: N,
        store: per(store(), s0, N),
        store_calls: per(calls(), c0, N),
        gateway: Some((gateway_relay.connections() - g0) as f64 / N as f64),
    });
    for (what, method) in [("db GET", "GET"), ("db PUT", "PUT")] {
        let (s0, c0) = (store(), calls());
        for i in 0..N {
            let body = (method == "PUT").then(|| serde_json::json!({"n": i}));
            let reply = client.db(login, method, &item_path(i % 16), body).await;
            assert!(reply.status.is_success(), "{what}: {}", reply.status);
        }
        results.conns.push(ConnRow {
            series: g.series,
            what: format!("{what}, one after another"),
            requests: N,
            store: per(store(), s0, N),
            store_calls: per(calls(), c0, N),
            gateway: None,
        });
    }
    let (s0, c0) = (store(), calls());
    let tasks: Vec<_> = (0..64)
        .map(|t| {
            let (client, login) = (client.clone(), login.clone());
            tokio::spawn(async move {
                for i in 0..4 {
                    client
                        .db(&login, "GET", &item_path((t + i) % 16), None)
                        .await;
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    results.conns.push(ConnRow {
        series: g.series,
        what: "db GET, 64 at a time".into(),
        requests: 256,
        store: per(store(), s0, 256),
        store_calls: per(calls(), c0, 256),
        gateway: None,
    });
    for c in results.conns.iter().filter(|c| c.series == g.series) {
        let shown = |v: Option<f64>| v.map_or_else(|| "–".into(), |v| format!("{v:.2}"));
        eprintln!(
            "bench:   {}: {} store connections, {} DynamoDB calls per request",
            c.what,
            shown(c.store),
            shown(c.store_calls)
        );
    }
}
