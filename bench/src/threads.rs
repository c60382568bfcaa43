//! Worker threads weighed (`MINIAPP_WORKER_THREADS`): the same db GET on the DynamoDB API, one
//! request at a time (as Lambda gives them), with one thread and with a pool of two workers, in
//! Lambda mode (invocations through the test Runtime API) and HTTP mode. The four processes run
//! side by side and take turns in rounds, so that the machine's noise falls on all alike. CPU per
//! request from `/proc/<pid>/stat` over all measured requests; latency as the client saw it.

use std::time::Instant;

use test_support::process::Proc;
use test_support::runtime_api::{RuntimeApi, Scripted};

use crate::cold::{http_call, lambda_answer, Call, Mode};
use crate::procfs;
use crate::programs::Program;
use crate::stats::{median, ms, percentile};

/// Unmeasured requests first (connections, caches).
const WARMUP: usize = 20;
/// Turns each configuration takes.
const ROUNDS: usize = 8;

/// One (mode, threads) configuration's result.
pub(crate) struct Row {
    pub(crate) mode: Mode,
    /// `MINIAPP_WORKER_THREADS`.
    pub(crate) workers: &'static str,
    pub(crate) requests: usize,
    pub(crate) cpu_us: Option<f64>,
    pub(crate) p50_ms: f64,
    pub(crate) p90_ms: f64,
}

/// A running configuration.
struct Subject {
    mode: Mode,
    workers: &'static str,
    proc: Proc,
    target: Target,
    ticks: Option<u64>,
    latencies: Vec<f64>,
    sent: usize,
}

enum Target {
    Lambda(RuntimeApi),
    Http(reqwest::Client, u16),
}

impl Subject {
    async fn start(program: &Program, mode: Mode, workers: &'static str) -> Self {
        let program = program.with("MINIAPP_WORKER_THREADS", workers);
        let (proc, target) = match mode {
            Mode::Lambda => {
                let api = RuntimeApi::start("").await;
                let proc = program
                    .launch(&[("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())])
                    .spawn();
                (proc, Target::Lambda(api))
            }
            Mode::Http => {
                let (proc, port) = program.launch(&[]).spawn_http().await;
                (proc, Target::Http(reqwest::Client::new(), port))
            }
        };
        Self {
            mode,
            workers,
            proc,
            target,
            ticks: Some(0),
            latencies: Vec::new(),
            sent: 0,
        }
    }

    async fn call(&mut self, call: &Call) -> f64 {
        let started = Instant::now();
        match &mut self.target {
            Target::Lambda(api) => {
                let id = format!("warm-{}", self.sent);
                api.push(Scripted::event(&id, &call.event()));
                lambda_answer(api, &mut self.proc, call, &id).await;
            }
            Target::Http(client, port) => {
                http_call(&mut self.proc, call, client, *port).await;
            }
        }
        self.sent += 1;
        ms(started.elapsed())
    }

    /// `n` measured requests, their CPU added to the total.
    async fn turn(&mut self, call: &Call, n: usize) {
        let before = procfs::cpu_ticks(self.proc.id());
        for _ in 0..n {
            let latency = self.call(call).await;
            self.latencies.push(latency);
        }
        let after = procfs::cpu_ticks(self.proc.id());
        self.ticks = match (self.ticks, before, after) {
            (Some(t), Some(b), Some(a)) => Some(t + a.saturating_sub(b)),
            _ => None,
        };
    }

    fn row(&self) -> Row {
        let n = self.latencies.len();
        Row {
            mode: self.mode,
            workers: self.workers,
            requests: n,
            cpu_us: self
                .ticks
                .map(|t| t as f64 * 1e6 / procfs::ticks_per_second() as f64 / n.max(1) as f64),
            p50_ms: median(&self.latencies),
            p90_ms: percentile(&self.latencies, 90),
        }
    }
}

/// Measures `call` on `program` about `n` times per configuration.
pub(crate) async fn measure(program: &Program, call: &Call, n: usize) -> Vec<Row> {
    eprintln!("bench: worker threads, 1 and 2, Lambda and HTTP mode, {ROUNDS} rounds");
    let mut subjects = Vec::new();
    for mode in [Mode::Lambda, Mode::Http] {
        for workers in ["1", "2"] {
            let mut s = Subject::start(program, mode, workers).await;
            for _ in 0..WARMUP {
                s.call(call).await;
            }
            subjects.push(s);
        }
    }
    let per_turn = (n / ROUNDS).max(1);
    for _ in 0..ROUNDS {
        for s in &mut subjects {
            s.turn(call, per_turn).await;
        }
    }
    let rows: Vec<Row> = subjects.iter().map(Subject::row).collect();
    for r in &rows {
        eprintln!(
            "bench:   {} mode, {} thread(s): CPU {} µs/request, p50 {:.2} ms",
            r.mode.name(),
            r.workers,
            r.cpu_us.map_or_else(|| "?".into(), |c| format!("{c:.0}")),
            r.p50_ms
        );
    }
    rows
}
