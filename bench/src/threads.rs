//! Worker threads weighed (`MINIAPP_WORKER_THREADS`): the same db GET on the DynamoDB API, one
//! request at a time (as Lambda gives them), with one thread and with a pool of two workers, in
//! Lambda mode (invocations through the test Runtime API) and HTTP mode. CPU per request from
//! `/proc/<pid>/stat` over all of them; latency per request as the client saw it.

use std::time::Instant;

use test_support::runtime_api::{RuntimeApi, Scripted};

use crate::cold::{http_call, lambda_answer, Call, Mode};
use crate::procfs;
use crate::programs::Program;
use crate::stats::{median, ms, percentile};

/// Unmeasured requests first (connections, caches).
const WARMUP: usize = 20;

/// One (mode, threads) configuration.
pub(crate) struct Row {
    pub(crate) mode: Mode,
    /// `MINIAPP_WORKER_THREADS`.
    pub(crate) workers: &'static str,
    pub(crate) requests: usize,
    pub(crate) cpu_us: Option<f64>,
    pub(crate) p50_ms: f64,
    pub(crate) p90_ms: f64,
}

/// Measures `call` on `program` `n` times per configuration.
pub(crate) async fn measure(program: &Program, call: &Call, n: usize) -> Vec<Row> {
    let mut rows = Vec::new();
    for mode in [Mode::Lambda, Mode::Http] {
        for workers in ["1", "2"] {
            eprintln!("bench: worker threads {workers}, {} mode", mode.name());
            let program = program.with("MINIAPP_WORKER_THREADS", workers);
            let (cpu_us, latencies) = match mode {
                Mode::Lambda => lambda(&program, call, n).await,
                Mode::Http => http(&program, call, n).await,
            };
            let row = Row {
                mode,
                workers,
                requests: n,
                cpu_us,
                p50_ms: median(&latencies),
                p90_ms: percentile(&latencies, 90),
            };
            eprintln!(
                "bench:   CPU {} µs/request, p50 {:.2} ms",
                row.cpu_us.map_or_else(|| "?".into(), |c| format!("{c:.0}")),
                row.p50_ms
            );
            rows.push(row);
        }
    }
    rows
}

/// CPU µs per request over `n` after the warm-up, and each request's latency in ms.
async fn lambda(program: &Program, call: &Call, n: usize) -> (Option<f64>, Vec<f64>) {
    let mut api = RuntimeApi::start("").await;
    let mut proc = program
        .launch(&[("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())])
        .spawn();
    let mut latencies = Vec::with_capacity(n);
    let mut before = None;
    for i in 0..WARMUP + n {
        if i == WARMUP {
            before = procfs::cpu_ticks(proc.id());
        }
        let id = format!("warm-{i}");
        let started = Instant::now();
        api.push(Scripted::event(&id, &call.event()));
        lambda_answer(&mut api, &mut proc, call, &id).await;
        if i >= WARMUP {
            latencies.push(ms(started.elapsed()));
        }
    }
    (per_request(before, procfs::cpu_ticks(proc.id()), n), latencies)
}

async fn http(program: &Program, call: &Call, n: usize) -> (Option<f64>, Vec<f64>) {
    let client = reqwest::Client::new();
    let (mut proc, port) = program.launch(&[]).spawn_http().await;
    let mut latencies = Vec::with_capacity(n);
    let mut before = None;
    for i in 0..WARMUP + n {
        if i == WARMUP {
            before = procfs::cpu_ticks(proc.id());
        }
        let started = Instant::now();
        http_call(&mut proc, call, &client, port).await;
        if i >= WARMUP {
            latencies.push(ms(started.elapsed()));
        }
    }
    (per_request(before, procfs::cpu_ticks(proc.id()), n), latencies)
}

fn per_request(before: Option<u64>, after: Option<u64>, n: usize) -> Option<f64> {
    let (b, a) = (before?, after?);
    Some(a.saturating_sub(b) as f64 * 1e6 / procfs::ticks_per_second() as f64 / n.max(1) as f64)
}
