//! Cold start: from process spawn to the first successful answer, in both modes.
//!
//! - HTTP-server mode: spawn → the "listening" log line (ready) → the answer to the first
//!   request (`POST /session` → 201, a signed `GET /db/todos` → 200, floor `GET /` → 200).
//! - Lambda mode: spawn → the first request to the Runtime API (ready: init is over; the
//!   process may connect sooner) → the function's successful response to that event, through
//!   the test Runtime API (`test_support::runtime_api`) behind a relay that timestamps the
//!   first request.
//!
//! Each sample also records the CPU time (utime + stime) the process used up to its first
//! answer, its peak RSS then, and how long it waited on the servers it calls (the store, the
//! Alipay gateway stand-in) until then, clocked by relays in front of them: the first answer
//! less that wait is the function's own part of its cold start. A Rust function's runs each
//! come just after one of the floor's in the same mode ([`Case::floor`]), so that the two are
//! compared over the same minutes of a host whose speed drifts. Each process is killed and
//! reaped before the next one starts, so that the kernel's taking down of its memory (more for
//! a function than for the floor) is not in the next one's start.

use std::time::{Duration, Instant};

use integration_tests::events::signed;
use integration_tests::functions::{login_from, Client, Login, Reply};
use serde_json::{json, Value};
use test_support::fixtures::event as fixture;
use test_support::process::Proc;
use test_support::runtime_api::{PostKind, RuntimeApi, Scripted};

use crate::procfs;
use crate::programs::{Function, Program, Runtime};
use crate::relay::Relay;
use crate::stats::{median, ms, percentile};

/// Longest wait for one cold process to answer before the harness gives up on it.
const RUN_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Mode {
    Http,
    Lambda,
}

impl Mode {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Http => "HTTP",
            Self::Lambda => "Lambda",
        }
    }
}

/// The first request a cold process gets.
#[derive(Clone)]
pub(crate) enum Call {
    /// `POST /session` with `dev-alice` → 201.
    Login,
    /// Signed `GET /db/todos` → 200.
    List(Login),
    /// `GET /` to the floor → 200.
    Floor,
    /// Signed `GET /db/todos/item-00` → 200 (warm comparisons, `crate::threads`).
    Item(Login),
}

impl Call {
    pub(crate) fn for_function(function: Function, login: Option<&Login>) -> Self {
        match (function, login) {
            (Function::Session, _) => Self::Login,
            (Function::Db, Some(login)) => Self::List(login.clone()),
            (Function::Db, None) => panic!("the db function's cold start needs a login"),
            (Function::Floor, _) => Self::Floor,
        }
    }

    fn expected(&self) -> u16 {
        match self {
            Self::Login => 201,
            Self::List(_) | Self::Floor | Self::Item(_) => 200,
        }
    }

    pub(crate) async fn http(&self, http: &reqwest::Client, port: u16) -> Reply {
        let url = format!("http://127.0.0.1:{port}");
        let client = Client::with_http(http.clone(), &url, &url);
        match self {
            Self::Login => client.login_reply("dev-alice").await,
            Self::List(login) => {
                client
                    .signed(login, "GET", &url, "/db/todos", b"", &[])
                    .await
            }
            Self::Floor => client.raw("GET", &format!("{url}/"), &[], Vec::new()).await,
            Self::Item(login) => {
                let path = crate::warm::item_path(0);
                client.signed(login, "GET", &url, &path, b"", &[]).await
            }
        }
    }

    /// The same request as an API Gateway v2 event (signed now: the date must be fresh).
    pub(crate) fn event(&self) -> Value {
        let mut list = fixture("apigw-v2-list-db-todos.json");
        list["rawQueryString"] = json!("");
        if let Some(o) = list.as_object_mut() {
            o.remove("queryStringParameters");
        }
        match self {
            Self::Login => {
                let mut e = fixture("apigw-v2-post-session.json");
                e["body"] = json!(json!({"authCode": "dev-alice"}).to_string());
                e
            }
            Self::List(login) => signed(list, login),
            Self::Floor => list,
            Self::Item(login) => {
                list["rawPath"] = json!(crate::warm::item_path(0));
                signed(list, login)
            }
        }
    }
}

/// One cold start.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sample {
    /// Spawn → "listening" (HTTP) or → first `/invocation/next` (Lambda).
    pub(crate) ready: Duration,
    /// Spawn → the first successful answer.
    pub(crate) first: Duration,
    /// The same call once more on the now warm process.
    pub(crate) warm: Duration,
    /// CPU time of the process's threads at its first answer.
    pub(crate) init_cpu_ms: Option<f64>,
    pub(crate) rss_kib: Option<u64>,
    /// Minor page faults of the process at its first answer.
    pub(crate) faults: Option<u64>,
    /// Spawn → first answer, time spent waiting on the store and the gateway.
    pub(crate) waited: Duration,
}

/// The clocks of the relays in front of the servers a function calls, summed (a function
/// calls them one after the other).
fn waited_on(relays: &[&Relay]) -> Duration {
    relays.iter().map(|r| r.waited()).sum()
}

/// HTTP mode: spawn with `PORT=0`, send the call as soon as the process says where it
/// listens, then once more on the warm process.
async fn http_once(
    program: &Program,
    call: &Call,
    http: &reqwest::Client,
    waits: &[&Relay],
) -> Sample {
    let started = Instant::now();
    let waited_before = waited_on(waits);
    let (mut proc, port) = program.launch(&[]).spawn_http().await;
    let ready = started.elapsed();
    http_call(&mut proc, call, http, port).await;
    let first = started.elapsed();
    let waited = waited_on(waits).saturating_sub(waited_before);
    let (init_cpu_ms, rss_kib) = (
        procfs::cpu_ms_exact(proc.id()),
        procfs::peak_rss_kib(proc.id()),
    );
    let faults = procfs::minor_faults(proc.id());
    let again = Instant::now();
    http_call(&mut proc, call, http, port).await;
    let warm = again.elapsed();
    proc.stop().await;
    Sample {
        ready,
        first,
        warm,
        init_cpu_ms,
        rss_kib,
        faults,
        waited,
    }
}

/// Sends `call` and fails the run unless it got the expected status.
pub(crate) async fn http_call(
    proc: &mut Proc,
    call: &Call,
    http: &reqwest::Client,
    port: u16,
) -> Reply {
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
    reply
}

/// Lambda mode: the event is queued before the spawn, so the first `/next` gets it at once;
/// then a second event for the warm process.
async fn lambda_once(program: &Program, call: &Call, waits: &[&Relay]) -> Sample {
    let mut api = RuntimeApi::start("").await;
    api.push(Scripted::event("cold-1", &call.event()));
    let relay = Relay::start(api.addr).await;
    let started = Instant::now();
    let waited_before = waited_on(waits);
    let mut proc = program
        .launch(&[("AWS_LAMBDA_RUNTIME_API", relay.addr.to_string())])
        .spawn();
    lambda_answer(&mut api, &mut proc, call, "cold-1").await;
    let first = started.elapsed();
    let waited = waited_on(waits).saturating_sub(waited_before);
    let (init_cpu_ms, rss_kib) = (
        procfs::cpu_ms_exact(proc.id()),
        procfs::peak_rss_kib(proc.id()),
    );
    let faults = procfs::minor_faults(proc.id());
    let ready = relay
        .first_request()
        .map_or(first, |t| t.duration_since(started));
    let again = Instant::now();
    api.push(Scripted::event("cold-2", &call.event()));
    lambda_answer(&mut api, &mut proc, call, "cold-2").await;
    let warm = again.elapsed();
    proc.stop().await;
    Sample {
        ready,
        first,
        warm,
        init_cpu_ms,
        rss_kib,
        faults,
        waited,
    }
}

/// Waits for the response to invocation `id` and fails the run unless it is the expected one.
pub(crate) async fn lambda_answer(api: &mut RuntimeApi, proc: &mut Proc, call: &Call, id: &str) {
    let deadline = Instant::now() + RUN_TIMEOUT;
    let post = loop {
        // The post wakes this at once; the timeout only paces the checks on the process.
        if let Ok(post) = tokio::time::timeout(Duration::from_millis(50), api.next_post()).await {
            break post;
        }
        if let Some(status) = proc.exited() {
            proc.fail(&format!("exited early ({status})"));
        }
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
pub(crate) struct Row {
    pub(crate) runtime: Runtime,
    pub(crate) function: Function,
    pub(crate) mode: Mode,
    pub(crate) store: String,
    pub(crate) samples: Vec<Sample>,
    /// The floor's starts in the same mode, one run just before each of this case's: what
    /// own / floor divides by, so that the two are measured in the same minutes of the host.
    pub(crate) floor_beside: Vec<Sample>,
}

impl Row {
    fn values(&self, f: impl Fn(&Sample) -> f64) -> Vec<f64> {
        self.samples.iter().map(f).collect()
    }

    /// Spawn → first answer in ms at percentile `p`.
    pub(crate) fn first_ms(&self, p: usize) -> f64 {
        percentile(&self.values(|s| ms(s.first)), p)
    }

    /// Spawn → first answer less the wait on the store and gateway, median over the runs.
    pub(crate) fn own_ms(&self) -> f64 {
        median(&self.values(|s| ms(s.first.saturating_sub(s.waited))))
    }

    /// The wait on the store and gateway until the first answer, median over the runs.
    pub(crate) fn waited_ms(&self) -> f64 {
        median(&self.values(|s| ms(s.waited)))
    }

    /// The floor's spawn → first answer beside this case (median), if it ran beside it.
    pub(crate) fn floor_beside_ms(&self) -> Option<f64> {
        let v: Vec<f64> = self.floor_beside.iter().map(|s| ms(s.first)).collect();
        (!v.is_empty()).then(|| median(&v))
    }

    pub(crate) fn ready_ms(&self) -> f64 {
        median(&self.values(|s| ms(s.ready)))
    }

    pub(crate) fn warm_ms(&self) -> f64 {
        median(&self.values(|s| ms(s.warm)))
    }

    pub(crate) fn init_cpu_ms(&self) -> Option<f64> {
        let v: Vec<f64> = self.samples.iter().filter_map(|s| s.init_cpu_ms).collect();
        (!v.is_empty()).then(|| median(&v))
    }

    pub(crate) fn faults(&self) -> Option<f64> {
        let v: Vec<f64> = self
            .samples
            .iter()
            .filter_map(|s| s.faults.map(|f| f as f64))
            .collect();
        (!v.is_empty()).then(|| median(&v))
    }

    pub(crate) fn rss_mib(&self) -> Option<f64> {
        let v: Vec<f64> = self
            .samples
            .iter()
            .filter_map(|s| s.rss_kib.map(|k| k as f64 / 1024.0))
            .collect();
        (!v.is_empty()).then(|| median(&v))
    }
}

/// One case's processes, and the floor's to run beside them (none for the floor itself).
pub(crate) struct Case<'a> {
    pub(crate) program: &'a Program,
    pub(crate) floor: Option<&'a Program>,
}

/// Runs one case: `warmups` unmeasured runs, then `runs` measured ones, each just after one
/// of the floor's when the case has a floor beside it.
pub(crate) async fn measure(
    case: Case<'_>,
    mode: Mode,
    store: &str,
    call: &Call,
    warmups: usize,
    runs: usize,
    waits: &[&Relay],
) -> Row {
    let program = case.program;
    eprintln!(
        "bench: cold start {} {} {} on {store}",
        program.runtime.name(),
        program.function.name(),
        mode.name()
    );
    let http = reqwest::Client::new();
    let mut samples = Vec::with_capacity(runs);
    let mut floor_beside = Vec::with_capacity(runs);
    for i in 0..warmups + runs {
        let floor = match case.floor {
            Some(floor) => Some(once(floor, mode, &Call::Floor, &http, &[]).await),
            None => None,
        };
        let sample = once(program, mode, call, &http, waits).await;
        if i >= warmups {
            samples.push(sample);
            floor_beside.extend(floor);
        }
    }
    Row {
        runtime: program.runtime,
        function: program.function,
        mode,
        store: store.to_owned(),
        samples,
        floor_beside,
    }
}

async fn once(
    program: &Program,
    mode: Mode,
    call: &Call,
    http: &reqwest::Client,
    waits: &[&Relay],
) -> Sample {
    match mode {
        Mode::Http => http_once(program, call, http, waits).await,
        Mode::Lambda => lambda_once(program, call, waits).await,
    }
}

/// Logs in through a session process (tables created if the environment says so) and returns
/// the login; the db function's cold starts and the warm runs use its credentials.
pub(crate) async fn login_through(session: &Program) -> Login {
    let http = reqwest::Client::new();
    let (mut proc, port) = session.launch(&[]).spawn_http().await;
    let reply = http_call(&mut proc, &Call::Login, &http, port).await;
    login_from(reply.json())
}

/// Reads once through a db process (so that its tables exist before the cold runs).
pub(crate) async fn read_through(db: &Program, login: &Login) {
    let http = reqwest::Client::new();
    let (mut proc, port) = db.launch(&[]).spawn_http().await;
    http_call(&mut proc, &Call::List(login.clone()), &http, port).await;
}
