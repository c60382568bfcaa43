//! Instructions counted by callgrind (`valgrind --tool=callgrind`): the user-space work of a
//! warm request and of a start up to the first answer. CPU time on this VM moves ±10–20% from
//! run to run and it has no hardware counters; an instruction count is the same for the same
//! binary and inputs whatever else the machine does, so a change of a few percent shows.
//! The kernel's part (loopback TCP, exec, page faults) is not in it.
//!
//! Two processes per mode: one answers the first request and is stopped; the other answers it
//! and `requests` more. The difference of their totals over `requests` is one warm request;
//! the first total is the start up to the first answer (and the stop). Each run leaves its
//! `callgrind.out` file for `callgrind_annotate` (symbols with `--profiling`).

use std::path::{Path, PathBuf};
use std::process::Command;

use test_support::process::Proc;
use test_support::runtime_api::{RuntimeApi, Scripted};

use crate::cold::{http_call, lambda_answer, Call, Mode};
use crate::programs::Program;

/// One program's counts in one mode.
pub(crate) struct Row {
    pub(crate) what: String,
    pub(crate) mode: Mode,
    /// Start → first answer → stop.
    pub(crate) first: u64,
    /// One warm request.
    pub(crate) per_request: f64,
}

/// Whether valgrind runs here.
pub(crate) fn valgrind_installed() -> bool {
    Command::new("valgrind").arg("--version").output().is_ok()
}

/// Counts `call` on `program` in both modes; the output files go to `dir/<name>-<mode>-<n>.out`.
pub(crate) async fn measure(
    program: &Program,
    name: &str,
    call: &Call,
    requests: usize,
    dir: &Path,
) -> Vec<Row> {
    let requests = requests.max(1);
    let _ = std::fs::create_dir_all(dir);
    let mut rows = Vec::new();
    for mode in [Mode::Lambda, Mode::Http] {
        let file = |n: usize| dir.join(format!("{name}-{}-{n}.out", mode.name().to_lowercase()));
        let first = counted_run(program, mode, call, 0, &file(0)).await;
        let longer = counted_run(program, mode, call, requests, &file(requests)).await;
        let (Some(first), Some(longer)) = (first, longer) else {
            eprintln!("bench:   {name} {} mode: no callgrind totals", mode.name());
            continue;
        };
        let per_request = longer.saturating_sub(first) as f64 / requests as f64;
        eprintln!(
            "bench:   {name} {} mode: {first} instructions to the first answer, {per_request:.0} per warm request",
            mode.name()
        );
        rows.push(Row {
            what: name.to_owned(),
            mode,
            first,
            per_request,
        });
    }
    rows
}

/// The same program run under callgrind, writing to `out`.
fn under_callgrind(program: &Program, out: &Path) -> Program {
    let mut args = vec![
        "--tool=callgrind".to_owned(),
        format!("--callgrind-out-file={}", out.display()),
        program.command.display().to_string(),
    ];
    args.extend(program.args.iter().cloned());
    Program {
        command: PathBuf::from("valgrind"),
        args,
        ..program.clone()
    }
}

/// Starts `program` under callgrind, sends `call` once and then `warm` more times, stops it
/// (SIGTERM) and returns the instructions it executed.
async fn counted_run(
    program: &Program,
    mode: Mode,
    call: &Call,
    warm: usize,
    out: &Path,
) -> Option<u64> {
    let _ = std::fs::remove_file(out);
    let program = under_callgrind(program, out);
    let mut proc = match mode {
        Mode::Lambda => {
            let mut api = RuntimeApi::start("").await;
            let mut proc = program
                .launch(&[("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())])
                .spawn();
            for i in 0..=warm {
                let id = format!("counted-{i}");
                api.push(Scripted::event(&id, &call.event()));
                lambda_answer(&mut api, &mut proc, call, &id).await;
            }
            proc
        }
        Mode::Http => {
            let (mut proc, port) = program.launch(&[]).spawn_http().await;
            let client = reqwest::Client::new();
            for _ in 0..=warm {
                http_call(&mut proc, call, &client, port).await;
            }
            proc
        }
    };
    stop(&mut proc).await;
    totals(&std::fs::read_to_string(out).ok()?)
}

/// SIGTERM, and the wait for callgrind to write its file.
async fn stop(proc: &mut Proc) {
    proc.signal("TERM");
    proc.wait_exit().await;
}

/// The `totals:` (or `summary:`) line of a callgrind output file: instructions (`Ir`).
fn totals(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| {
            l.strip_prefix("totals:")
                .or_else(|| l.strip_prefix("summary:"))
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_totals_line() {
        let text = "version: 1\nevents: Ir\nfn=(1) main\n3 10\nsummary: 123456\ntotals: 123456\n";
        assert_eq!(totals(text), Some(123_456));
        assert_eq!(totals("events: Ir\n"), None);
    }
}
