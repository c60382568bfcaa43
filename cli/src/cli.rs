//! The command line (clap derive) and what each command does with its flags.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use miniapp_shared::time_fmt::Timestamp;
use thiserror::Error;

use crate::dev::{self, DevError, DevOptions};
use crate::sign::{self, ClientSignError, Target};
use crate::state_dir::StateDir;
use crate::template::{parse_overrides, TemplateError};

/// Run the miniapp functions on this machine, and talk to them with signed requests.
#[derive(Debug, Parser)]
#[command(name = "miniapp", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the template's functions on this machine behind an emulated API Gateway and Lambda.
    Dev(DevArgs),
    /// Sign in with an auth code (POST /session) and save the credentials.
    Login(LoginArgs),
    /// Get fresh credentials for the saved session (POST /session/refresh) and save them.
    Refresh(StateArgs),
    /// Print the three signing headers of a request, for curl.
    Sign(SignArgs),
    /// Sign and send a request, and print the answer.
    Curl(CurlArgs),
}

/// Flags of `miniapp dev`.
#[derive(Debug, Args)]
pub struct DevArgs {
    /// Port on 127.0.0.1 (0: any free port; the banner shows which).
    #[arg(long, default_value_t = 3000)]
    pub port: u16,
    /// The SAM template.
    #[arg(long, default_value = "template.yaml")]
    pub template: PathBuf,
    /// Template parameters, KEY=VALUE (or @FILE of KEY=VALUE lines).
    #[arg(long, num_args = 1.., value_name = "KEY=VALUE")]
    pub parameter_overrides: Vec<String>,
    /// A file of VAR=VALUE lines, read as if set in the environment (which wins).
    #[arg(long, value_name = "PATH")]
    pub env_file: Option<PathBuf>,
    /// Allow a gateway URL or DynamoDB endpoint that is not on this machine.
    #[arg(long)]
    pub allow_remote: bool,
    /// Run the Alipay stand-in in certificate mode (公钥证书模式), with synthetic test
    /// certificates: the session function gets ALIPAY_APP_CERT, ALIPAY_PUBLIC_CERT and
    /// ALIPAY_ROOT_CERT instead of ALIPAY_PUBLIC_KEY.
    #[arg(long)]
    pub alipay_cert_mode: bool,
    /// Do not run cargo: take the binaries from --bin-dir (default target/debug).
    #[arg(long)]
    pub no_build: bool,
    /// Where the function binaries are (implies --no-build).
    #[arg(long, value_name = "DIR")]
    pub bin_dir: Option<PathBuf>,
    /// Build (or take) release binaries instead of debug ones.
    #[arg(long)]
    pub release: bool,
    /// Most processes per function, for concurrent requests.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub max_processes: u16,
    /// Keep function logs out of the terminal (they still go to .miniapp/logs/).
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub state: StateArgs,
}

/// Where the state folder is.
#[derive(Debug, Args)]
pub struct StateArgs {
    /// The state folder (keys, store, logs, credentials).
    #[arg(long, default_value = ".miniapp", value_name = "DIR")]
    pub state_dir: PathBuf,
}

/// Flags of `miniapp login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The auth code (with `miniapp dev`: dev-alice, dev-bob, dev-user-NAME).
    pub auth_code: String,
    /// The API's base URL.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    pub url: String,
    #[command(flatten)]
    pub state: StateArgs,
}

/// How `miniapp sign` prints the headers.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SignFormat {
    /// `-H @.miniapp/signed-headers`: one word for `curl $(miniapp sign ...) URL`.
    Curl,
    /// Three single-quoted `-H '...'` arguments, to copy or `eval`.
    Shell,
    /// `Name: value` lines.
    Headers,
}

/// Flags of `miniapp sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// HTTP method.
    pub method: String,
    /// Path and query exactly as sent, e.g. /db/todos?limit=5.
    pub path: String,
    /// The body: text, @FILE, or @- for stdin (send the same bytes: curl --data-binary).
    #[arg(long, short = 'd', value_name = "BODY")]
    pub data: Option<String>,
    /// How to print the headers.
    #[arg(long, value_enum, default_value_t = SignFormat::Curl)]
    pub format: SignFormat,
    #[command(flatten)]
    pub state: StateArgs,
}

/// Flags of `miniapp curl`.
#[derive(Debug, Args)]
pub struct CurlArgs {
    /// HTTP method.
    pub method: String,
    /// Path and query, e.g. /db/todos?limit=5.
    pub path: String,
    /// The body: text, @FILE, or @- for stdin.
    #[arg(long, short = 'd', value_name = "BODY")]
    pub data: Option<String>,
    /// Print the status line and headers too.
    #[arg(long, short = 'i')]
    pub include: bool,
    /// Base URL (default: the one `miniapp login` used).
    #[arg(long)]
    pub url: Option<String>,
    #[command(flatten)]
    pub state: StateArgs,
}

/// Why a command failed.
#[derive(Debug, Error)]
pub enum CliError {
    #[error(transparent)]
    Dev(#[from] DevError),
    #[error(transparent)]
    Sign(#[from] ClientSignError),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("cannot read parameter file {path:?}: {source}")]
    ParameterFile {
        path: String,
        source: std::io::Error,
    },
    #[error("the request answered {0}")]
    HttpStatus(u16),
}

impl CliError {
    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Dev(e) => e.exit_code(),
            Self::Template(_) | Self::ParameterFile { .. } => 2,
            Self::Sign(ClientSignError::BadPath(_) | ClientSignError::BadMethod(_)) => 2,
            _ => 1,
        }
    }
}

/// Runs a parsed command; `stop` resolves on Ctrl-C or SIGTERM.
pub async fn run(cli: Cli, stop: impl Future<Output = ()>) -> Result<(), CliError> {
    match cli.command {
        Command::Dev(args) => run_dev(args, stop).await,
        Command::Login(args) => {
            let state = StateDir::open(&args.state.state_dir).map_err(ClientSignError::from)?;
            let s = sign::login(&state, &args.url, &args.auth_code).await?;
            println!(
                "Signed in as {} (session {}, until {}); credentials expire {}. Saved to {}.",
                s.user_id,
                s.session_id,
                s.expires_at,
                s.credentials.expiration,
                state.credentials_path().display()
            );
            Ok(())
        }
        Command::Refresh(args) => {
            let state = StateDir::existing(&args.state_dir);
            let s = sign::refresh(&state).await?;
            println!(
                "Fresh credentials for {}; they expire {}.",
                s.user_id, s.credentials.expiration
            );
            Ok(())
        }
        Command::Sign(args) => run_sign(&args),
        Command::Curl(args) => run_curl(&args).await,
    }
}

async fn run_dev(args: DevArgs, stop: impl Future<Output = ()>) -> Result<(), CliError> {
    let opts = DevOptions {
        port: args.port,
        template: args.template,
        parameter_overrides: overrides(&args.parameter_overrides)?,
        env_file: args.env_file,
        allow_remote: args.allow_remote,
        alipay_cert_mode: args.alipay_cert_mode,
        no_build: args.no_build || args.bin_dir.is_some(),
        bin_dir: args.bin_dir,
        release: args.release,
        max_processes: usize::from(args.max_processes),
        quiet: args.quiet,
        state_dir: args.state.state_dir,
    };
    let env = std::env::vars().collect();
    dev::run(opts, env, stop).await?;
    Ok(())
}

/// `K=V` arguments, with `@FILE` arguments expanded to the file's `K=V` lines.
fn overrides(args: &[String]) -> Result<BTreeMap<String, String>, CliError> {
    let mut pairs = Vec::new();
    for arg in args {
        match arg.strip_prefix('@') {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| CliError::ParameterFile {
                        path: path.to_owned(),
                        source,
                    })?;
                pairs.extend(
                    text.lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty() && !l.starts_with('#'))
                        .map(str::to_owned),
                );
            }
            None => pairs.push(arg.clone()),
        }
    }
    Ok(parse_overrides(pairs.iter().map(String::as_str))?)
}

fn run_sign(args: &SignArgs) -> Result<(), CliError> {
    let state = StateDir::existing(&args.state.state_dir);
    let saved = sign::load_session(&state)?;
    let target = Target::parse(&args.method, &args.path, args.data.as_deref())?;
    let headers = sign::sign(&saved.credentials, &target, Timestamp::now())?;
    let text = match args.format {
        SignFormat::Curl => sign::curl_file_arg(&state, &headers)?,
        SignFormat::Shell => sign::shell_args(&headers),
        SignFormat::Headers => sign::header_lines(&headers).trim_end().to_owned(),
    };
    println!("{text}");
    Ok(())
}

async fn run_curl(args: &CurlArgs) -> Result<(), CliError> {
    let state = StateDir::existing(&args.state.state_dir);
    let target = Target::parse(&args.method, &args.path, args.data.as_deref())?;
    let (status, text) = sign::curl(&state, &target, args.url.as_deref(), args.include).await?;
    println!("{text}");
    if status >= 400 {
        return Err(CliError::HttpStatus(status));
    }
    Ok(())
}
