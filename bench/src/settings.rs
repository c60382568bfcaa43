//! How a run was asked for: the full run (default), `--quick` (or `BENCH_QUICK=1`), or
//! `--smoke` (debug binaries, a second or so per case: proves the harness works end to end).

use std::path::PathBuf;

use clap::Parser;

use crate::warm::{Op, WrkSettings};

#[derive(Parser, Debug)]
#[command(about = "Benchmarks the functions and writes docs/benchmarks.md (see scripts/bench.sh)")]
pub(crate) struct Args {
    /// A short run to check the harness (release binaries, one short pass per case).
    #[arg(long)]
    pub(crate) quick: bool,
    /// The shortest run: debug binaries, no Node.js; for the smoke test.
    #[arg(long)]
    pub(crate) smoke: bool,
    /// Measured cold starts per case (default: 20 full, 3 quick, 1 smoke).
    #[arg(long)]
    pub(crate) runs: Option<usize>,
    /// Seconds per wrk run (default: 4 full, 2 quick, 1 smoke).
    #[arg(long)]
    pub(crate) seconds: Option<u64>,
    /// wrk runs per point; the report gives their medians (default: 3 full, 1 otherwise).
    #[arg(long)]
    pub(crate) reps: Option<usize>,
    /// A copy of the Node.js implementation with its dependencies installed (`npm ci`).
    #[arg(long, env = "BENCH_NODE_PEER")]
    pub(crate) node_peer: Option<PathBuf>,
    /// Leave the Node.js implementation out.
    #[arg(long)]
    pub(crate) no_node: bool,
    /// The Markdown file whose generated part is (re)written.
    #[arg(long)]
    pub(crate) doc: Option<PathBuf>,
    /// Where the SVG plots go (default: `benchmarks/` beside the Markdown file).
    #[arg(long)]
    pub(crate) plots: Option<PathBuf>,
    /// The README whose performance section is (re)written; `--readme none` to leave it.
    #[arg(long)]
    pub(crate) readme: Option<PathBuf>,
    /// Build with `[profile.profiling]` (release code with symbols) instead of `release`.
    #[arg(long)]
    pub(crate) profiling: bool,
    /// Only these implementations and stores (comma-separated: embedded, moto, node, floor).
    #[arg(long, value_delimiter = ',')]
    pub(crate) only: Vec<Series>,
    /// Only these warm requests (comma-separated: get, put, patch, list, login).
    #[arg(long, value_delimiter = ',')]
    pub(crate) ops: Vec<OpArg>,
    /// Only these connection counts (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub(crate) conns: Vec<usize>,
    /// Leave out the cold starts.
    #[arg(long)]
    pub(crate) no_cold: bool,
    /// Leave out the warm load (cold starts only).
    #[arg(long)]
    pub(crate) no_load: bool,
    /// Run the Rust functions on the DynamoDB API from the default build (SQLite, aws-config
    /// and the log-in clients linked) instead of the lean build a Lambda deployment runs.
    #[arg(long)]
    pub(crate) no_lean: bool,
    /// Record each measured warm point with `perf record -g` into this folder
    /// (`<series>-<op>-<conns>.perf.data`; read with `perf report -i`).
    #[arg(long)]
    pub(crate) perf: Option<PathBuf>,
    /// Count instructions per warm GET and to the first answer with callgrind (part of a full
    /// run when valgrind is installed; this asks for it in any run).
    #[arg(long)]
    pub(crate) instructions: bool,
}

/// A selectable implementation and store (`--only`).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Series {
    Embedded,
    Moto,
    Node,
    Floor,
}

/// A selectable warm request (`--ops`).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OpArg {
    Get,
    Put,
    Patch,
    List,
    Login,
}

/// Which kind of run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Full,
    Quick,
    Smoke,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Quick => "quick (harness check; not for comparison)",
            Self::Smoke => "smoke (debug binaries; not for comparison)",
        }
    }
}

/// Everything the run needs to know.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) kind: Kind,
    pub(crate) release: bool,
    pub(crate) cold_runs: usize,
    pub(crate) cold_warmups: usize,
    pub(crate) wrk: WrkSettings,
    pub(crate) reps: usize,
    /// One unmeasured wrk run (1 s) before each point's measured ones.
    pub(crate) warmup_run: bool,
    pub(crate) conns: Vec<usize>,
    pub(crate) db_ops: Vec<Op>,
    pub(crate) node_peer: Option<PathBuf>,
    pub(crate) doc: PathBuf,
    pub(crate) plots: PathBuf,
    pub(crate) readme: Option<PathBuf>,
    /// The command line as given, for the report.
    pub(crate) command: String,
    /// Whether the warm runs happen: `wrk` is needed, and only a smoke run goes without it.
    pub(crate) load: bool,
    /// Build with the profiling profile.
    pub(crate) profiling: bool,
    /// The implementations and stores to run (all when the run is not narrowed).
    pub(crate) series: Vec<Series>,
    /// Whether `POST /session` is measured warm.
    pub(crate) login_load: bool,
    pub(crate) cold: bool,
    pub(crate) perf: Option<PathBuf>,
    /// Requests per configuration of the worker-threads comparison (0: left out).
    pub(crate) threads_requests: usize,
    /// The Rust functions on the DynamoDB API are the lean builds (`--no-default-features`,
    /// what `sam build` deploys); not in a smoke run, which builds nothing twice.
    pub(crate) lean: bool,
    /// Whether instructions are counted (`crate::instructions`).
    pub(crate) instructions: bool,
    /// Warm requests of the longer counted run.
    pub(crate) instruction_requests: usize,
}

impl Settings {
    pub(crate) fn from_args(args: Args, root: &std::path::Path) -> Self {
        let kind = if args.smoke {
            Kind::Smoke
        } else if args.quick || std::env::var("BENCH_QUICK").is_ok_and(|v| v == "1") {
            Kind::Quick
        } else {
            Kind::Full
        };
        let (runs, warmups, seconds, reps) = match kind {
            Kind::Full => (20, 2, 4, 3),
            Kind::Quick => (3, 1, 2, 1),
            Kind::Smoke => (1, 0, 1, 1),
        };
        // A narrowed run (a subset, or profiling code) is for looking into something: it does
        // not replace the published report unless told where to write.
        let narrowed = args.profiling
            || !args.only.is_empty()
            || !args.ops.is_empty()
            || !args.conns.is_empty()
            || args.no_cold
            || args.no_load
            || args.perf.is_some();
        let doc = args.doc.unwrap_or_else(|| {
            if narrowed {
                root.join("target/bench/benchmarks.md")
            } else {
                root.join("docs/benchmarks.md")
            }
        });
        let plots = args.plots.unwrap_or_else(|| {
            doc.parent()
                .map_or_else(|| PathBuf::from("benchmarks"), |d| d.join("benchmarks"))
        });
        let readme = match args.readme {
            Some(p) if p.as_os_str() == "none" => None,
            Some(p) => Some(p),
            None if kind == Kind::Smoke || narrowed => None,
            None => Some(root.join("README.md")),
        };
        let default_peer = home_cache().map(|c| c.join("node-peer"));
        let node_left_out = !args.only.is_empty() && !args.only.contains(&Series::Node);
        let node_peer = if args.no_node || kind == Kind::Smoke || node_left_out {
            None
        } else {
            args.node_peer
                .or(default_peer)
                .filter(|p| p.join("node_modules").is_dir())
        };
        Self {
            kind,
            release: kind != Kind::Smoke,
            cold_runs: args.runs.unwrap_or(runs).max(1),
            cold_warmups: warmups,
            wrk: WrkSettings {
                seconds: args.seconds.unwrap_or(seconds).max(1),
                timeout_s: 10,
            },
            reps: args.reps.unwrap_or(reps).max(1),
            warmup_run: kind == Kind::Full,
            conns: if !args.conns.is_empty() {
                args.conns.clone()
            } else if kind == Kind::Smoke {
                vec![8]
            } else {
                vec![1, 64]
            },
            db_ops: Op::DB
                .into_iter()
                .filter(|op| args.ops.is_empty() || args.ops.iter().any(|a| a.op() == *op))
                .collect(),
            login_load: args.ops.is_empty() || args.ops.contains(&OpArg::Login),
            node_peer,
            doc,
            plots,
            readme,
            command: std::env::args().collect::<Vec<_>>().join(" "),
            load: !args.no_load && (kind != Kind::Smoke || wrk_installed()),
            profiling: args.profiling,
            series: if args.only.is_empty() {
                vec![Series::Embedded, Series::Moto, Series::Node, Series::Floor]
            } else {
                args.only.clone()
            },
            cold: !args.no_cold,
            threads_requests: match kind {
                _ if !(args.ops.is_empty() || args.ops.contains(&OpArg::Get)) => 0,
                Kind::Full => 400,
                Kind::Quick => 100,
                Kind::Smoke => 0,
            },
            perf: args.perf,
            lean: !args.no_lean && kind != Kind::Smoke,
            instructions: args.instructions || (kind == Kind::Full && !narrowed),
            instruction_requests: match kind {
                Kind::Full => 200,
                Kind::Quick => 50,
                Kind::Smoke => 5,
            },
        }
    }
}

impl Settings {
    /// The cargo profile the binaries are built with.
    pub(crate) fn profile_name(&self) -> &'static str {
        match (self.profiling, self.release) {
            (true, _) => "profiling",
            (false, true) => "release",
            (false, false) => "debug",
        }
    }

    /// Its `cargo build` flag.
    pub(crate) fn cargo_profile_flag(&self) -> &'static str {
        match self.profile_name() {
            "profiling" => " --profile profiling",
            "release" => " --release",
            _ => "",
        }
    }
}

impl OpArg {
    fn op(self) -> Op {
        match self {
            Self::Get => Op::Get,
            Self::Put => Op::Put,
            Self::Patch => Op::Patch,
            Self::List => Op::List,
            Self::Login => Op::Login,
        }
    }
}

/// `~/.cache/miniapp`, where scripts/bench.sh installs the Node.js implementation.
fn home_cache() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/miniapp"))
}

/// Whether `wrk` runs.
pub(crate) fn wrk_installed() -> bool {
    std::process::Command::new("wrk").arg("-v").output().is_ok()
}
