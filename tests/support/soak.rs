//! A bounded soak: both functions in HTTP-server mode on the embedded store, loopback only,
//! under `connections` workers of mixed signed traffic for a fixed time, with each process's
//! RSS sampled every second. Used by `examples/soak.rs` (`scripts/soak.sh`, the full run) and
//! by `soak.rs` (a few seconds, so that the code cannot rot).
//!
//! Each worker logs in on its own session (users shared between workers), owns one collection
//! and one connection per function, and loops: PUT an item, GET it, PATCH it, list the
//! collection, DELETE the item every other round; every `refresh_every` rounds it refreshes
//! its credentials and goes on with the new ones. Every answer must be the one the contract
//! gives for that request; anything else counts as an error.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::task::JoinHandle;

use crate::functions::{
    function_env, login_from, start_gateway, Client, HttpFunction, Login, Reply, StoreMode,
};

/// What to run.
#[derive(Debug, Clone)]
pub struct SoakConfig {
    /// How long the load runs.
    pub duration: Duration,
    /// Concurrent workers, each with one connection per function.
    pub connections: usize,
    /// Distinct users the workers log in as.
    pub users: usize,
    /// A worker refreshes its credentials every this many rounds.
    pub refresh_every: u64,
}

/// One request's kind, for the counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    /// `PUT /db/{c}/{id}`
    Put,
    /// `GET /db/{c}/{id}`
    Get,
    /// `PATCH /db/{c}/{id}`
    Patch,
    /// `GET /db/{c}?limit=10`
    List,
    /// `DELETE /db/{c}/{id}`
    Delete,
    /// `POST /session/refresh`
    Refresh,
}

const OPS: [Op; 6] = [
    Op::Put,
    Op::Get,
    Op::Patch,
    Op::List,
    Op::Delete,
    Op::Refresh,
];

/// What one worker saw.
#[derive(Debug, Default)]
struct Tally {
    /// Latency of every request, in microseconds.
    latencies_us: Vec<u64>,
    counts: [u64; OPS.len()],
    errors: u64,
    samples: Vec<String>,
}

impl Tally {
    fn record(&mut self, op: Op, took: Duration, ok: bool, reply: &Reply) {
        self.latencies_us
            .push(u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
        if let Some(i) = OPS.iter().position(|o| *o == op) {
            self.counts[i] += 1;
        }
        if !ok {
            self.errors += 1;
            if self.samples.len() < 5 {
                self.samples.push(format!(
                    "{op:?}: {} {}",
                    reply.status,
                    String::from_utf8_lossy(&reply.body)
                ));
            }
        }
    }
}

/// RSS samples of one process: (seconds since the load started, kB).
#[derive(Debug, Clone, Default)]
pub struct RssSeries {
    /// The samples, one a second.
    pub samples: Vec<(f64, u64)>,
}

impl RssSeries {
    /// The first sample (taken before the load), in kB.
    pub fn start(&self) -> u64 {
        self.samples.first().map_or(0, |s| s.1)
    }
    /// The highest sample, in kB.
    pub fn peak(&self) -> u64 {
        self.samples.iter().map(|s| s.1).max().unwrap_or(0)
    }
    /// The last sample, in kB.
    pub fn end(&self) -> u64 {
        self.samples.last().map_or(0, |s| s.1)
    }
    /// The median of the samples taken in `[from, to)` seconds, in kB.
    pub fn median_between(&self, from: f64, to: f64) -> Option<u64> {
        let mut window: Vec<u64> = self
            .samples
            .iter()
            .filter(|(t, _)| *t >= from && *t < to)
            .map(|s| s.1)
            .collect();
        window.sort_unstable();
        window.get(window.len() / 2).copied()
    }
}

/// What a soak measured.
#[derive(Debug)]
pub struct SoakReport {
    /// The configuration it ran with.
    pub config: SoakConfig,
    /// Requests answered during the load.
    pub requests: u64,
    /// Answers other than the expected one (or no answer).
    pub errors: u64,
    /// A few of the errors, for the report.
    pub error_samples: Vec<String>,
    /// How long the load actually ran.
    pub elapsed: Duration,
    /// Requests per kind, in the order of [`Op`].
    pub counts: Vec<(Op, u64)>,
    /// Latency percentiles in milliseconds: p50, p99, max.
    pub latency_ms: (f64, f64, f64),
    /// The db function's RSS.
    pub db_rss: RssSeries,
    /// The session function's RSS.
    pub session_rss: RssSeries,
}

/// The flatness test of the soak: the median RSS of the last 10 s within `margin` (a fraction)
/// of the median over seconds 10-20. `None` when the run is too short to say.
pub fn rss_is_flat(series: &RssSeries, run_secs: f64, margin: f64) -> Option<bool> {
    if run_secs < 30.0 {
        return None;
    }
    let early = series.median_between(10.0, 20.0)? as f64;
    let late = series.median_between(run_secs - 10.0, run_secs + 1.0)? as f64;
    Some((late - early).abs() <= early * margin)
}

/// The margin [`SoakReport::markdown`] and the soak example judge RSS flatness by.
pub const RSS_MARGIN: f64 = 0.10;

impl SoakReport {
    /// Requests per second over the run.
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    /// Both processes' RSS flat (see [`rss_is_flat`]); `None` for a short run.
    pub fn rss_flat(&self) -> Option<bool> {
        let secs = self.elapsed.as_secs_f64();
        let db = rss_is_flat(&self.db_rss, secs, RSS_MARGIN)?;
        let session = rss_is_flat(&self.session_rss, secs, RSS_MARGIN)?;
        Some(db && session)
    }

    /// The figures as Markdown.
    pub fn markdown(&self) -> String {
        let (p50, p99, max) = self.latency_ms;
        let mb = |kb: u64| kb as f64 / 1024.0;
        let secs = self.elapsed.as_secs_f64();
        let mut out = format!(
            "| figure | value |\n| --- | --- |\n\
             | duration | {secs:.1} s |\n\
             | connections (workers) | {} |\n\
             | users | {} |\n\
             | requests | {} |\n\
             | requests per second | {:.0} |\n\
             | latency p50 / p99 / max | {p50:.1} / {p99:.1} / {max:.1} ms |\n\
             | errors | {} |\n",
            self.config.connections,
            self.config.users,
            self.requests,
            self.rps(),
            self.errors,
        );
        let counts: Vec<String> = self
            .counts
            .iter()
            .map(|(op, n)| format!("{op:?} {n}"))
            .collect();
        out.push_str(&format!("| requests by kind | {} |\n", counts.join(", ")));
        for (name, rss) in [("db", &self.db_rss), ("session", &self.session_rss)] {
            let window = |from, to| {
                rss.median_between(from, to)
                    .map_or_else(|| "-".to_owned(), |kb| format!("{:.1}", mb(kb)))
            };
            out.push_str(&format!(
                "| {name} RSS start / peak / end | {:.1} / {:.1} / {:.1} MB |\n\
                 | {name} RSS median 10-20 s / last 10 s | {} / {} MB |\n",
                mb(rss.start()),
                mb(rss.peak()),
                mb(rss.end()),
                window(10.0, 20.0),
                window(secs - 10.0, secs + 1.0),
            ));
        }
        let flat = match self.rss_flat() {
            Some(true) => format!("yes (within {:.0}%)", RSS_MARGIN * 100.0),
            Some(false) => format!("NO (beyond {:.0}%)", RSS_MARGIN * 100.0),
            None => "run too short to judge".to_owned(),
        };
        out.push_str(&format!("| RSS flat | {flat} |\n"));
        for sample in &self.error_samples {
            out.push_str(&format!("\nerror: {sample}"));
        }
        out
    }
}

/// VmRSS of a process in kB (0 once it is gone).
pub fn vm_rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status.lines().find_map(|l| {
                l.strip_prefix("VmRSS:")
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            })
        })
        .unwrap_or(0)
}

/// Samples both processes every second until `stop` is set.
fn sample_rss(
    pids: [u32; 2],
    started: Instant,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> JoinHandle<[RssSeries; 2]> {
    tokio::spawn(async move {
        let mut series = [RssSeries::default(), RssSeries::default()];
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            tick.tick().await;
            let t = started.elapsed().as_secs_f64();
            for (s, pid) in series.iter_mut().zip(pids) {
                s.samples.push((t, vm_rss_kb(pid)));
            }
        }
        series
    })
}

/// Runs the soak: starts the gateway stand-in and both functions, loads them, stops them.
pub async fn run(config: SoakConfig) -> SoakReport {
    let dir = tempfile::tempdir().expect("tempdir");
    let gateway = start_gateway().await;
    let store = StoreMode::Embedded(dir.path().join("soak.db"));
    let mut env = function_env(&gateway.url(), &store);
    env.push(("MINIAPP_RATE_LIMITS".into(), "off".into()));
    let session = HttpFunction::spawn("session", &env).await;
    let db = HttpFunction::spawn("db", &env).await;

    let mut logins = Vec::new();
    for w in 0..config.connections {
        let client = worker_client(&session.url, &db.url);
        let login = client
            .login(&format!("dev-user-soak{}", w % config.users))
            .await;
        logins.push((client, login));
    }

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let started = Instant::now();
    let sampler = sample_rss([db.pid(), session.pid()], started, Arc::clone(&stop));
    let deadline = started + config.duration;
    let tally = Arc::new(Mutex::new(Tally::default()));
    let workers: Vec<JoinHandle<()>> = logins
        .into_iter()
        .enumerate()
        .map(|(w, (client, login))| {
            let tally = Arc::clone(&tally);
            let refresh_every = config.refresh_every;
            tokio::spawn(async move {
                let mine = worker(w, client, login, deadline, refresh_every).await;
                merge(&tally, mine);
            })
        })
        .collect();
    for w in workers {
        w.await.expect("worker");
    }
    let elapsed = started.elapsed();
    // One more sample after the load, then stop sampling.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let [db_rss, session_rss] = sampler.await.expect("sampler");

    let mut tally = std::mem::take(&mut *tally.lock().expect("tally"));
    tally.latencies_us.sort_unstable();
    let pct = |p: f64| {
        let n = tally.latencies_us.len();
        if n == 0 {
            return 0.0;
        }
        let rank = ((p * n as f64).ceil() as usize).clamp(1, n) - 1;
        tally.latencies_us[rank] as f64 / 1000.0
    };
    let latency_ms = (pct(0.50), pct(0.99), pct(1.0));
    drop((session, db, gateway));
    SoakReport {
        requests: tally.latencies_us.len() as u64,
        errors: tally.errors,
        error_samples: tally.samples,
        elapsed,
        counts: OPS.iter().copied().zip(tally.counts).collect(),
        latency_ms,
        db_rss,
        session_rss,
        config,
    }
}

/// One connection per function: one idle connection kept per host, one request at a time.
fn worker_client(session_url: &str, db_url: &str) -> Client {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("reqwest client");
    Client::with_http(http, session_url, db_url)
}

fn merge(into: &Mutex<Tally>, from: Tally) {
    let mut t = into.lock().expect("tally");
    t.latencies_us.extend(from.latencies_us);
    for (a, b) in t.counts.iter_mut().zip(from.counts) {
        *a += b;
    }
    t.errors += from.errors;
    for s in from.samples {
        if t.samples.len() < 10 {
            t.samples.push(s);
        }
    }
}

/// A request of a round: its kind, method, path, body and the statuses that answer it right.
type Step = (
    Op,
    &'static str,
    String,
    Option<serde_json::Value>,
    &'static [u16],
);

/// One worker's loop until `deadline`.
async fn worker(
    w: usize,
    c: Client,
    mut login: Login,
    deadline: Instant,
    refresh_every: u64,
) -> Tally {
    let mut tally = Tally::default();
    let coll = format!("c{w}");
    let mut round: u64 = 0;
    while Instant::now() < deadline {
        round += 1;
        let item = format!("/db/{coll}/i{}", round % 16);
        let body = json!({"w": w, "round": round, "text": "soak"});
        let steps: [Step; 4] = [
            (Op::Put, "PUT", item.clone(), Some(body), &[200, 201]),
            (Op::Get, "GET", item.clone(), None, &[200]),
            (
                Op::Patch,
                "PATCH",
                item.clone(),
                Some(json!({"patched": round})),
                &[200],
            ),
            (
                Op::List,
                "GET",
                format!("/db/{coll}?limit=10"),
                None,
                &[200],
            ),
        ];
        for (op, method, path, body, ok) in steps {
            let started = Instant::now();
            let r = c.db(&login, method, &path, body).await;
            tally.record(op, started.elapsed(), ok.contains(&r.status.as_u16()), &r);
        }
        if round % 2 == 1 {
            let started = Instant::now();
            let r = c.db(&login, "DELETE", &item, None).await;
            tally.record(Op::Delete, started.elapsed(), r.status == 204, &r);
        }
        if round % refresh_every == 0 {
            let started = Instant::now();
            let r = c.session(&login, "POST", "/session/refresh").await;
            let ok = r.status == 200;
            tally.record(Op::Refresh, started.elapsed(), ok, &r);
            if ok {
                login = login_from(r.json());
            }
        }
    }
    tally
}
