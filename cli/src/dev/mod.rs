//! `miniapp dev`: reads the template, decides where the store, the Alipay gateway and WeChat are
//! (refusing anything that is not on this machine unless allowed), builds the functions,
//! starts the stand-in and the emulator, prints the banner, and stops everything on a signal.
//!
//! One concern per module: [`env_file`] (the variables `miniapp dev` sees), [`policy`] (store
//! and gateway choice, the loopback rule), [`function_env`] (each function's environment),
//! [`build`] (cargo, or binaries found on disk), [`start`] (stand-in, pools, shutdown) and
//! [`banner`] (what is printed once everything runs).

mod banner;
mod build;
mod env_file;
mod error;
mod function_env;
mod policy;
mod start;

#[cfg(test)]
mod fixtures;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use miniapp_shared::config::vars;
use tokio::net::TcpListener;

pub use env_file::EnvVars;
pub use error::DevError;

use crate::emulator::output::Output;
use crate::state_dir::StateDir;
use crate::template::{Pseudo, Template};
use env_file::{non_empty, read_env_file};
use policy::{decide_modes, decide_wechat, DevStore, GatewayMode};

/// The flags of `miniapp dev`.
#[derive(Debug, Clone)]
pub struct DevOptions {
    pub port: u16,
    pub template: PathBuf,
    pub parameter_overrides: BTreeMap<String, String>,
    pub env_file: Option<PathBuf>,
    pub allow_remote: bool,
    /// The Alipay stand-in runs in certificate mode (synthetic certificates).
    pub alipay_cert_mode: bool,
    pub no_build: bool,
    pub bin_dir: Option<PathBuf>,
    pub release: bool,
    pub max_processes: usize,
    pub quiet: bool,
    pub state_dir: PathBuf,
}

/// Everything decided before anything starts.
struct Plan {
    template: Template,
    state: StateDir,
    env: EnvVars,
    store: DevStore,
    gateway: GatewayMode,
    /// Where WeChat's `jscode2session` is: the stand-in, or `WECHAT_API_URL`.
    wechat: GatewayMode,
    region: String,
}

/// Runs `miniapp dev` until `stop` resolves (Ctrl-C or SIGTERM).
pub async fn run(
    opts: DevOptions,
    own_env: EnvVars,
    stop: impl Future<Output = ()>,
) -> Result<(), DevError> {
    ensure_supported_os()?;
    let mut stop = std::pin::pin!(stop);
    let plan = plan(&opts, own_env)?;
    // Bound before the build, so that a busy port fails at once, not after minutes.
    let listener = bind(opts.port).await?;
    let binaries = tokio::select! {
        b = build::binaries(&opts, &plan.template) => b?,
        () = &mut stop => return Ok(()),
    };
    let output = Arc::new(Output::new(opts.quiet, Some(plan.state.log_dir())));
    let url = local_url(&listener, opts.port)?;
    let running = start::start(&opts, &plan, &binaries, output, &url).await?;
    banner::print_banner(&opts, &plan, &running, &url);
    start::serve_until(listener, running, stop).await;
    Ok(())
}

/// The emulator relies on Unix process and file-permission semantics (signals, 0600 files).
#[cfg(unix)]
fn ensure_supported_os() -> Result<(), DevError> {
    Ok(())
}

/// The emulator relies on Unix process and file-permission semantics (signals, 0600 files).
#[cfg(not(unix))]
fn ensure_supported_os() -> Result<(), DevError> {
    Err(DevError::UnsupportedOs)
}

/// Reads the template and the environment, and decides the modes (refusing remote ones).
fn plan(opts: &DevOptions, own_env: EnvVars) -> Result<Plan, DevError> {
    let mut env = match &opts.env_file {
        Some(path) => read_env_file(path)?,
        None => EnvVars::new(),
    };
    env.extend(own_env);
    let region = region_of(&env);
    let pseudo = Pseudo {
        region: region.clone(),
        ..Pseudo::default()
    };
    let template = Template::load(&opts.template, &opts.parameter_overrides, &pseudo)?;
    if template.functions.iter().all(|f| f.routes.is_empty()) {
        return Err(DevError::NothingToServe);
    }
    let state = StateDir::open(&opts.state_dir)?;
    let (store, gateway) = decide_modes(&env, &template, &state, opts.allow_remote)?;
    let wechat = decide_wechat(&env, &template, opts.allow_remote)?;
    Ok(Plan {
        template,
        state,
        env,
        store,
        gateway,
        wechat,
        region,
    })
}

/// `AWS_REGION`, else `AWS_DEFAULT_REGION`, else `us-east-1`.
fn region_of(env: &EnvVars) -> String {
    non_empty(env, vars::AWS_REGION)
        .or(non_empty(env, vars::AWS_DEFAULT_REGION))
        .unwrap_or("us-east-1")
        .to_owned()
}

async fn bind(port: u16) -> Result<TcpListener, DevError> {
    TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::AddrInUse => DevError::PortInUse { port },
            _ => DevError::Listen { port, source },
        })
}

/// `http://127.0.0.1:PORT` with the port the OS gave.
fn local_url(listener: &TcpListener, port: u16) -> Result<String, DevError> {
    listener
        .local_addr()
        .map(|addr| format!("http://{addr}"))
        .map_err(|source| DevError::Listen { port, source })
}
