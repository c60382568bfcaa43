//! The bounded soak (see `integration_tests::soak`): both functions in HTTP-server mode on the
//! embedded store, `connections` workers of mixed signed traffic for `seconds`, RSS sampled
//! every second. Prints the figures as Markdown; exits non-zero on any error or when RSS is
//! not flat.
//!
//! ```sh
//! scripts/soak.sh [seconds] [connections]     # default 60 s, 64 connections, release build
//! ```

use std::process::ExitCode;
use std::time::Duration;

use integration_tests::soak::{self, SoakConfig};

fn arg(n: usize, default: u64) -> Result<u64, String> {
    match std::env::args().nth(n) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .ok()
            .filter(|&x| x > 0)
            .ok_or_else(|| format!("argument {n} must be a positive number, not {v:?}")),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let (seconds, connections) = match (arg(1, 60), arg(2, 64)) {
        (Ok(s), Ok(c)) => (s, c),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("usage: soak [seconds] [connections]: {e}");
            return ExitCode::from(2);
        }
    };
    let config = SoakConfig {
        duration: Duration::from_secs(seconds),
        connections: usize::try_from(connections).unwrap_or(usize::MAX),
        users: 8,
        refresh_every: 50,
    };
    eprintln!("soak: {seconds} s at {connections} connections ...");
    let report = soak::run(config).await;
    println!("{}", report.markdown());
    for (name, series) in [("db", &report.db_rss), ("session", &report.session_rss)] {
        let kb: Vec<String> = series
            .samples
            .iter()
            .map(|(_, kb)| kb.to_string())
            .collect();
        eprintln!("{name} VmRSS kB per second: {}", kb.join(" "));
    }
    if report.errors == 0 && report.rss_flat() != Some(false) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
