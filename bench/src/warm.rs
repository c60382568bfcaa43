//! Warm load: `wrk` against a running function process, with pre-signed requests, and the
//! process's CPU time and peak memory around each run.
//!
//! wrk's Lua has no HMAC, so each run gets a script holding a pool of requests signed just
//! before it starts (one per item id); they stay valid for the whole run (the API accepts a
//! signed date within 300 s, and a run lasts seconds). The same bytes are sent many times, which
//! the API allows: only `POST /session/refresh` refuses a replay, and it is not measured here.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use integration_tests::functions::Login;
use miniapp_shared::signing::sign_request;
use miniapp_shared::time_fmt::Timestamp;
use serde::Deserialize;

use crate::procfs;
use crate::stats::median;

/// Items the GET, PUT and PATCH pools cycle through, and the list pages over.
pub(crate) const ITEMS: usize = 25;
/// Ids in the request pools (the first `POOL` items).
const POOL: usize = 16;

/// One kind of request under load.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Op {
    Get,
    Put,
    Patch,
    List,
    Login,
    Floor,
}

impl Op {
    pub(crate) const DB: [Op; 4] = [Op::Get, Op::Put, Op::Patch, Op::List];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Get => "db GET",
            Self::Put => "db PUT",
            Self::Patch => "db PATCH",
            Self::List => "db list(20)",
            Self::Login => "POST /session",
            Self::Floor => "floor GET",
        }
    }

    /// The request as sent (for the report).
    pub(crate) fn shown(self) -> &'static str {
        match self {
            Self::Get => "GET /db/todos/item-NN (16 ids in turn), signed",
            Self::Put => "PUT /db/todos/item-NN, 40-byte JSON body, signed",
            Self::Patch => "PATCH /db/todos/item-NN, body {\"done\":true}, signed",
            Self::List => "GET /db/todos?limit=20, signed (25 items stored)",
            Self::Login => "POST /session {\"authCode\":\"dev-alice\"} (RSA-signed exchange with the gateway stand-in)",
            Self::Floor => "GET / (answers 200 ok)",
        }
    }
}

/// The body a PUT stores under item `i`.
pub(crate) fn item_body(i: usize) -> String {
    format!("{{\"title\":\"bench item {i:02}\",\"done\":false,\"n\":{i}}}")
}

pub(crate) fn item_path(i: usize) -> String {
    format!("/db/todos/item-{i:02}")
}

/// One request of a pool: method, path with query, headers, body.
struct PoolRequest {
    method: &'static str,
    path: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
}

fn signed(login: &Login, method: &'static str, path: &str, body: &str) -> PoolRequest {
    let (p, q) = path.split_once('?').unwrap_or((path, ""));
    let h = sign_request(
        &login.creds,
        method,
        p,
        q,
        body.as_bytes(),
        Timestamp::now(),
    )
    .unwrap_or_else(|e| panic!("signing a bench request: {e}"));
    PoolRequest {
        method,
        path: path.to_owned(),
        headers: vec![
            ("authorization".into(), h.authorization.expose().to_owned()),
            ("x-miniapp-date".into(), h.date.clone()),
            (
                "x-miniapp-security-token".into(),
                h.security_token.expose().to_owned(),
            ),
        ],
        body: (!body.is_empty()).then(|| body.to_owned()),
    }
}

fn pool(op: Op, login: Option<&Login>) -> Vec<PoolRequest> {
    let login = || login.unwrap_or_else(|| panic!("{} needs a login", op.name()));
    match op {
        Op::Get => (0..POOL)
            .map(|i| signed(login(), "GET", &item_path(i), ""))
            .collect(),
        Op::Put => (0..POOL)
            .map(|i| signed(login(), "PUT", &item_path(i), &item_body(i)))
            .collect(),
        Op::Patch => (0..POOL)
            .map(|i| signed(login(), "PATCH", &item_path(i), "{\"done\":true}"))
            .collect(),
        Op::List => vec![signed(login(), "GET", "/db/todos?limit=20", "")],
        Op::Login => vec![PoolRequest {
            method: "POST",
            path: "/session".into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: Some("{\"authCode\":\"dev-alice\"}".into()),
        }],
        Op::Floor => vec![PoolRequest {
            method: "GET",
            path: "/".into(),
            headers: Vec::new(),
            body: None,
        }],
    }
}

/// A Lua string literal.
fn lua_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c if c.is_ascii_graphic() || c == ' ' => out.push(c),
            c => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    let _ = write!(out, "\\{b:03}");
                }
            }
        }
    }
    out.push('"');
    out
}

/// The wrk script: the pool, a request function cycling through it, and a `done` that prints
/// one JSON line of results.
fn script(op: Op, login: Option<&Login>, host: &str) -> String {
    let mut lua = String::from("local pool = {\n");
    for mut r in pool(op, login) {
        // wrk adds `Host` only to requests it formats after its `init`; these are formatted
        // when the script loads, and an HTTP/1.1 request without it is refused by Node.js.
        r.headers.push(("Host".into(), host.to_owned()));
        let headers: Vec<String> = r
            .headers
            .iter()
            .map(|(k, v)| format!("[{}] = {}", lua_str(k), lua_str(v)))
            .collect();
        let body = r.body.as_deref().map_or_else(|| "nil".to_owned(), lua_str);
        let _ = writeln!(
            lua,
            "  wrk.format({}, {}, {{{}}}, {}),",
            lua_str(r.method),
            lua_str(&r.path),
            headers.join(", "),
            body
        );
    }
    lua.push_str(
        r#"}
local n = 0
function request()
  n = n % #pool + 1
  return pool[n]
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
"#,
    );
    lua
}

/// What wrk's `done` printed.
#[derive(Deserialize, Debug, Clone, Copy)]
struct WrkSummary {
    requests: u64,
    duration_us: u64,
    connect: u64,
    read: u64,
    write: u64,
    status: u64,
    timeout: u64,
    p50_us: u64,
    p90_us: u64,
    p99_us: u64,
}

/// One timed wrk run and the function process's cost during it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Run {
    pub(crate) requests: u64,
    pub(crate) rps: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    /// Answers that were not 2xx/3xx, plus socket errors and timeouts.
    pub(crate) errors: u64,
    /// (utime + stime delta) / requests, µs.
    pub(crate) cpu_us: Option<f64>,
    /// Context switches of the process's threads / requests: (voluntary, involuntary).
    pub(crate) switches: Option<(f64, f64)>,
}

/// How wrk is run.
#[derive(Clone, Debug)]
pub(crate) struct WrkSettings {
    pub(crate) seconds: u64,
    /// wrk's per-request timeout, seconds.
    pub(crate) timeout_s: u64,
}

/// The wrk command line for `conns` connections (threads: at most 2, the machine's cores).
pub(crate) fn wrk_args(w: &WrkSettings, conns: usize, script: &Path, url: &str) -> Vec<String> {
    vec![
        "-t".into(),
        conns.clamp(1, 2).to_string(),
        "-c".into(),
        conns.to_string(),
        "-d".into(),
        format!("{}s", w.seconds),
        "--timeout".into(),
        format!("{}s", w.timeout_s),
        "-s".into(),
        script.display().to_string(),
        url.into(),
    ]
}

/// Runs wrk once against `url` with a freshly signed pool, measuring process `pid`.
pub(crate) fn run(
    w: &WrkSettings,
    op: Op,
    conns: usize,
    login: Option<&Login>,
    url: &str,
    pid: u32,
    dir: &Path,
) -> Run {
    let path = dir.join("bench.lua");
    let host = url.trim_start_matches("http://").trim_end_matches('/');
    std::fs::write(&path, script(op, login, host))
        .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    let before = procfs::cpu_ticks(pid);
    let switches_before = procfs::context_switches(pid);
    let out = Command::new("wrk")
        .args(wrk_args(w, conns, &path, url))
        .output()
        .unwrap_or_else(|e| panic!("cannot run wrk ({e}): install it (apt-get install wrk)"));
    let after = procfs::cpu_ticks(pid);
    let switches_after = procfs::context_switches(pid);
    let text = String::from_utf8_lossy(&out.stdout);
    let summary: WrkSummary = text
        .lines()
        .find_map(|l| l.strip_prefix("BENCH_JSON "))
        .and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_else(|| {
            panic!(
                "wrk printed no summary ({}):\n{text}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let s = summary;
    let cpu_us = match (before, after) {
        (Some(b), Some(a)) if s.requests > 0 => Some(
            (a.saturating_sub(b)) as f64 * 1e6
                / procfs::ticks_per_second() as f64
                / s.requests as f64,
        ),
        _ => None,
    };
    let switches = match (switches_before, switches_after) {
        (Some((vb, nb)), Some((va, na))) if s.requests > 0 => {
            let per = |a: u64, b: u64| a.saturating_sub(b) as f64 / s.requests as f64;
            Some((per(va, vb), per(na, nb)))
        }
        _ => None,
    };
    Run {
        requests: s.requests,
        rps: s.requests as f64 / (s.duration_us.max(1) as f64 / 1e6),
        p50_ms: s.p50_us as f64 / 1000.0,
        p90_ms: s.p90_us as f64 / 1000.0,
        p99_ms: s.p99_us as f64 / 1000.0,
        errors: s.connect + s.read + s.write + s.status + s.timeout,
        cpu_us,
        switches,
    }
}

/// All runs of one (implementation, store, request, connections) point.
#[derive(Debug, Clone)]
pub(crate) struct Point {
    /// "Rust" / "Node.js" / "floor", with the store: the plots' series.
    pub(crate) series: String,
    pub(crate) op: Op,
    pub(crate) conns: usize,
    pub(crate) runs: Vec<Run>,
}

impl Point {
    fn values(&self, f: impl Fn(&Run) -> f64) -> Vec<f64> {
        self.runs.iter().map(f).collect()
    }
    pub(crate) fn rps(&self) -> f64 {
        median(&self.values(|r| r.rps))
    }
    pub(crate) fn p50(&self) -> f64 {
        median(&self.values(|r| r.p50_ms))
    }
    pub(crate) fn p90(&self) -> f64 {
        median(&self.values(|r| r.p90_ms))
    }
    pub(crate) fn p99(&self) -> f64 {
        median(&self.values(|r| r.p99_ms))
    }
    pub(crate) fn cpu_us(&self) -> Option<f64> {
        let v: Vec<f64> = self.runs.iter().filter_map(|r| r.cpu_us).collect();
        (!v.is_empty()).then(|| median(&v))
    }
    /// Median voluntary and involuntary context switches per request.
    pub(crate) fn switches(&self) -> Option<(f64, f64)> {
        let v: Vec<(f64, f64)> = self.runs.iter().filter_map(|r| r.switches).collect();
        (!v.is_empty()).then(|| {
            let vol: Vec<f64> = v.iter().map(|s| s.0).collect();
            let invol: Vec<f64> = v.iter().map(|s| s.1).collect();
            (median(&vol), median(&invol))
        })
    }
    pub(crate) fn errors(&self) -> u64 {
        self.runs.iter().map(|r| r.errors).sum()
    }
    pub(crate) fn requests(&self) -> u64 {
        self.runs.iter().map(|r| r.requests).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lua_strings_are_escaped() {
        assert_eq!(lua_str(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(lua_str("x\ny"), "\"x\\010y\"");
    }

    #[test]
    fn unsigned_scripts_have_a_pool_and_a_summary() {
        let s = script(Op::Login, None, "127.0.0.1:9");
        assert!(s.contains(r#"["Host"] = "127.0.0.1:9""#), "{s}");
        assert!(s.contains(r#"wrk.format("POST", "/session""#), "{s}");
        assert!(s.contains("BENCH_JSON"));
    }
}
