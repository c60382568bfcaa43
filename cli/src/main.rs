//! The `miniapp` binary: parses the command line, runs the command, maps errors to exit codes.

use std::process::ExitCode;

use clap::Parser;
use miniapp_cli::cli::{run, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let stop = match stop_signal() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: cannot listen for Ctrl-C and SIGTERM: {e}");
                return ExitCode::FAILURE;
            }
        };
        match run(cli, stop).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(e.exit_code())
            }
        }
    })
}

/// Resolves on the first SIGINT (Ctrl-C) or SIGTERM. Registered before any work, so a signal
/// during the build is not lost.
#[cfg(unix)]
fn stop_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

/// Resolves on the first Ctrl-C (there is no SIGTERM here). `miniapp dev` itself refuses to
/// run off Unix; the client commands do not need a signal at all.
#[cfg(not(unix))]
fn stop_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        // Without a Ctrl-C handler nothing can stop us early: wait forever rather than stop.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    })
}
