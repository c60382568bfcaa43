//! The benchmark harness behind `bash scripts/bench.sh`: builds the binaries, measures cold
//! starts (both modes, both stores, the floor and the Node.js implementation), warm load with
//! `wrk`, CPU and memory per request and connections per request, and writes the plots and
//! the generated part of docs/benchmarks.md (and the README's figures).
//!
//! ```sh
//! bash scripts/bench.sh                 # full run (about 15 minutes)
//! bash scripts/bench.sh --quick         # or BENCH_QUICK=1: a short check of the harness
//! cargo run -p bench -- --smoke --doc /tmp/b/benchmarks.md   # debug binaries, seconds
//! ```

mod cold;
mod cost;
mod instructions;
mod perf;
mod plot;
mod procfs;
mod programs;
mod relay;
mod report;
mod scenario;
mod settings;
mod stats;
mod threads;
mod warm;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use test_support::build::{build, build_lean, Profile, Target};
use test_support::{venv_dir, workspace_root};

use crate::programs::Binaries;
use crate::settings::{Args, Settings};

const TARGETS: [Target; 3] = [
    Target::bin("session", "session"),
    Target::bin("db", "db"),
    Target::bin("bench", "floor"),
];

fn main() -> ExitCode {
    let root = workspace_root();
    let settings = Settings::from_args(Args::parse(), &root);
    if !settings.load {
        eprintln!("bench: no warm runs (--no-load, or a smoke run without wrk)");
    } else if !settings::wrk_installed() {
        eprintln!("bench: wrk is not installed (apt-get install wrk; scripts/bench.sh does it)");
        return ExitCode::FAILURE;
    }
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let started = Instant::now();
    let load_before = procfs::load_average();
    let loads = procfs::LoadSampler::start();
    let profile = if settings.profiling {
        Profile::Profiling
    } else if settings.release {
        Profile::Release
    } else {
        Profile::Debug
    };
    eprintln!(
        "bench: {} run; building ({profile:?})",
        settings.kind.name()
    );
    let built = build(&TARGETS, profile);
    let bins = Binaries {
        session: built.get("session"),
        db: built.get("db"),
        floor: built.get("floor"),
    };
    let lean_bins = if settings.lean {
        eprintln!("bench: building the lean (Lambda) builds");
        let lean = build_lean(&TARGETS[..2], profile);
        Binaries {
            session: lean.get("session"),
            db: lean.get("db"),
            floor: bins.floor.clone(),
        }
    } else {
        bins.clone()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("tokio runtime: {e}"));
    let results = rt.block_on(scenario::run(&settings, &bins, &lean_bins, tmp.path()));
    let ctx = report::Context {
        date: today(),
        machine: procfs::Machine::read(),
        versions: versions(&root, &settings),
        load_before,
        load_after: procfs::load_average(),
        load_samples: loads.samples(),
        sizes: sizes(&bins, &lean_bins, &settings),
        build_command: build_command(&settings),
        elapsed_s: started.elapsed().as_secs_f64(),
    };
    match report::write(&settings, &ctx, &results) {
        Ok(paths) => {
            for p in paths {
                eprintln!("bench: wrote {}", p.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn today() -> String {
    let now = time::OffsetDateTime::now_utc();
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    now.format(&fmt).unwrap_or_default()
}

fn first_line(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned()
                + &String::from_utf8_lossy(&o.stderr);
            text.lines().next().unwrap_or_default().trim().to_owned()
        })
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| "not found".into())
}

fn versions(root: &Path, settings: &Settings) -> Vec<(String, String)> {
    let python = venv_dir().join("bin/python");
    let py = python.display().to_string();
    let git = root.display().to_string();
    let dirty = procfs::command_line(
        "git",
        &["-C", &git, "status", "--porcelain", "--untracked-files=no"],
    )
    .map_or("", |_| " (with uncommitted changes)");
    let mut v = vec![
        (
            "commit".into(),
            first_line("git", &["-C", &git, "rev-parse", "--short", "HEAD"]) + dirty,
        ),
        ("rustc".into(), first_line("rustc", &["-V"])),
        ("cargo".into(), first_line("cargo", &["-V"])),
        ("wrk".into(), first_line("wrk", &["-v"])),
        (
            "moto / werkzeug".into(),
            first_line(
                &py,
                &[
                    "-c",
                    "import importlib.metadata as m; print(m.version('moto'), '/', m.version('werkzeug'))",
                ],
            ),
        ),
    ];
    if settings.node_peer.is_some() {
        let node = programs::node_command().display().to_string();
        v.push(("Node.js".into(), first_line(&node, &["--version"])));
        v.push((
            "Node.js implementation".into(),
            "shared/peers/node-peer as it is (dependencies from its package-lock.json, `npm ci`)"
                .into(),
        ));
    }
    v
}

/// The cargo commands the binaries came from, for the report.
fn build_command(settings: &Settings) -> String {
    let flag = settings.cargo_profile_flag();
    let mut text =
        format!("cargo build{flag} -p session --bin session -p db --bin db -p bench --bin floor");
    if settings.lean {
        for function in ["db", "session"] {
            text.push_str(&format!(
                "\ncargo build{flag} --no-default-features --target-dir $CARGO_TARGET_DIR/lean \
                 -p {function} --bin {function}   # the lean build, on the DynamoDB API"
            ));
        }
    }
    text
}

fn sizes(bins: &Binaries, lean: &Binaries, settings: &Settings) -> Vec<(String, u64)> {
    let profile = settings.profile_name();
    let size = |p: &PathBuf| std::fs::metadata(p).map(|m| m.len()).unwrap_or_default();
    let mut v = vec![
        (format!("`session` ({profile})"), size(&bins.session)),
        (format!("`db` ({profile})"), size(&bins.db)),
        (format!("`floor` ({profile})"), size(&bins.floor)),
    ];
    if settings.lean {
        v.extend([
            (
                format!("`session` ({profile}, lean: `--no-default-features`)"),
                size(&lean.session),
            ),
            (
                format!("`db` ({profile}, lean: `--no-default-features`)"),
                size(&lean.db),
            ),
        ]);
    }
    if let Some(peer) = &settings.node_peer {
        v.push((
            "Node.js implementation: `src/` + `node_modules` (dev dependencies included)".into(),
            dir_size(peer),
        ));
    }
    v
}

fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or_default(),
            _ => 0,
        })
        .sum()
}
