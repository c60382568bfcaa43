//! `miniapp dev`: reads the template, decides where the store and the Alipay gateway are
//! (refusing anything that is not on this machine unless allowed), builds the functions,
//! starts the stand-in and the emulator, prints the banner, and stops everything on a signal.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use miniapp_shared::alipay::standin::{self, StandinHandle};
use miniapp_shared::alipay::{AlipayPublicKey, AppPrivateKey, StandinConfig};
use thiserror::Error;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::app_files::AppFiles;
use crate::devenv::{DevEnvError, DevKeys, StateDir};
use crate::emulator::gateway::{self, Gateway};
use crate::emulator::pool::{FunctionSpec, Pool};
use crate::output::Output;
use crate::routes::RouteTable;
use crate::template::{Function, Pseudo, Template, TemplateError};

/// The configuration variables of CONTRACT.md §1 that `miniapp dev` passes from its own
/// environment to the functions (HTTP-mode ports excepted: the functions run in Lambda mode).
pub const CONTRACT_VARIABLES: [&str; 14] = [
    "ALIPAY_APP_ID",
    "ALIPAY_APP_PRIVATE_KEY",
    "ALIPAY_PUBLIC_KEY",
    "ALIPAY_GATEWAY_URL",
    "ALIPAY_TIMEOUT_MS",
    "MINIAPP_TOKEN_KEYS",
    "MINIAPP_CREDENTIAL_TTL_SECS",
    "MINIAPP_SESSION_TTL_SECS",
    "SESSIONS_TABLE",
    "DATA_TABLE",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL",
    "MINIAPP_STORE",
    "MINIAPP_CREATE_TABLES",
];

/// Variables of the process that the functions also get, because tools need them.
const PASS_THROUGH: [&str; 11] = [
    "PATH",
    "HOME",
    "TMPDIR",
    "LANG",
    "RUST_LOG",
    "RUST_BACKTRACE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
];

/// The stand-in's keys replace these; the user's own values would not match the stand-in.
const STANDIN_OWNED: [&str; 4] = [
    "ALIPAY_APP_ID",
    "ALIPAY_APP_PRIVATE_KEY",
    "ALIPAY_PUBLIC_KEY",
    "ALIPAY_GATEWAY_URL",
];

/// Why `miniapp dev` stopped.
#[derive(Debug, Error)]
pub enum DevError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    State(#[from] DevEnvError),
    #[error(
        "refusing to use {what} at {url:?}: it is not on this machine (loopback). A dev tool must \
         never touch production by accident; pass --allow-remote if you really mean it"
    )]
    Remote { what: &'static str, url: String },
    #[error(
        "MINIAPP_STORE=dynamodb without AWS_ENDPOINT_URL_DYNAMODB or AWS_ENDPOINT_URL would use \
         real AWS DynamoDB; set a local endpoint, or pass --allow-remote if you really mean it"
    )]
    RemoteDynamoDb,
    #[error("cannot read --env-file {path:?}: {source}")]
    EnvFile {
        path: String,
        source: std::io::Error,
    },
    #[error("--env-file {path:?} line {line}: {text:?} is not KEY=VALUE")]
    EnvFileLine {
        path: String,
        line: usize,
        text: String,
    },
    #[error("port {port} on 127.0.0.1 is already in use (another miniapp dev?); choose another with --port")]
    PortInUse { port: u16 },
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Listen { port: u16, source: std::io::Error },
    #[error("cannot run cargo to build the functions: {0}")]
    CargoSpawn(std::io::Error),
    #[error("building the functions failed ({command}); see cargo's messages above")]
    BuildFailed { command: String },
    #[error("cargo built no binary named {0:?}; is it a [[bin]] of this workspace?")]
    BinaryNotBuilt(String),
    #[error("function {function} needs binary {path:?}, which does not exist (build it, or drop --no-build)")]
    BinaryMissing { function: String, path: String },
    #[error(
        "the template has no AWS::Serverless::Function with an HttpApi event: nothing to serve"
    )]
    NothingToServe,
    #[error("development key {var} is unusable: {message}; delete .miniapp/dev-keys.json to make new ones")]
    DevKey { var: &'static str, message: String },
    #[error("cannot start the Alipay stand-in: {0}")]
    Standin(std::io::Error),
    #[error("cannot listen for signals: {0}")]
    Signals(std::io::Error),
}

impl DevError {
    /// 2 for refusals and bad input, 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Remote { .. }
            | Self::RemoteDynamoDb
            | Self::Template(_)
            | Self::EnvFileLine { .. }
            | Self::EnvFile { .. } => 2,
            _ => 1,
        }
    }
}

/// The flags of `miniapp dev`.
#[derive(Debug, Clone)]
pub struct DevOptions {
    pub port: u16,
    pub template: PathBuf,
    pub parameter_overrides: BTreeMap<String, String>,
    pub env_file: Option<PathBuf>,
    pub allow_remote: bool,
    pub no_build: bool,
    pub bin_dir: Option<PathBuf>,
    pub release: bool,
    pub max_processes: usize,
    pub quiet: bool,
    pub state_dir: PathBuf,
}

/// The variables `miniapp dev` itself sees: its environment over the `--env-file`.
pub type Env = BTreeMap<String, String>;

/// Reads a dotenv-style file: `KEY=VALUE` lines, `#` comments, optional `export ` and quotes.
pub fn read_env_file(path: &Path) -> Result<Env, DevError> {
    let text = std::fs::read_to_string(path).map_err(|source| DevError::EnvFile {
        path: path.display().to_string(),
        source,
    })?;
    let mut env = Env::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((k, v)) = line.split_once('=') else {
            return Err(DevError::EnvFileLine {
                path: path.display().to_string(),
                line: i + 1,
                text: raw.to_owned(),
            });
        };
        let v = v.trim();
        let unquoted = ['"', '\'']
            .iter()
            .find_map(|q| v.strip_prefix(*q).and_then(|s| s.strip_suffix(*q)))
            .unwrap_or(v);
        env.insert(k.trim().to_owned(), unquoted.to_owned());
    }
    Ok(env)
}

/// Where the functions keep their data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreMode {
    /// One SQLite file shared by both functions.
    Embedded(String),
    /// DynamoDB at `endpoint` (`None`: real AWS, only with --allow-remote).
    DynamoDb { endpoint: Option<String> },
}

/// Which Alipay gateway the session function talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayMode {
    /// The built-in stand-in (started later, on a loopback port).
    Standin,
    /// A gateway the user named.
    Real(String),
}

/// Chooses the store and gateway from the environment and template, refusing remote ones.
pub fn decide_modes(
    env: &Env,
    template: &Template,
    state: &StateDir,
    allow_remote: bool,
) -> Result<(StoreMode, GatewayMode), DevError> {
    let store = decide_store(env, state, allow_remote)?;
    let gateway = match explicit_gateway(env, template) {
        Some(url) => {
            check_local("the Alipay gateway", &url, allow_remote)?;
            GatewayMode::Real(url)
        }
        None => GatewayMode::Standin,
    };
    Ok((store, gateway))
}

fn non_empty<'a>(env: &'a Env, key: &str) -> Option<&'a str> {
    env.get(key)
        .map(String::as_str)
        .filter(|v| !v.trim().is_empty())
}

fn decide_store(env: &Env, state: &StateDir, allow_remote: bool) -> Result<StoreMode, DevError> {
    let endpoint =
        non_empty(env, "AWS_ENDPOINT_URL_DYNAMODB").or(non_empty(env, "AWS_ENDPOINT_URL"));
    let store = non_empty(env, "MINIAPP_STORE");
    if let Some(path) = store.and_then(|s| s.strip_prefix("embedded:")) {
        return Ok(StoreMode::Embedded(path.to_owned()));
    }
    if store == Some("dynamodb") || endpoint.is_some() {
        match endpoint {
            Some(url) => check_local("the DynamoDB endpoint", url, allow_remote)?,
            None if !allow_remote => return Err(DevError::RemoteDynamoDb),
            None => {}
        }
        return Ok(StoreMode::DynamoDb {
            endpoint: endpoint.map(str::to_owned),
        });
    }
    Ok(StoreMode::Embedded(
        state.store_path().display().to_string(),
    ))
}

/// `ALIPAY_GATEWAY_URL` from the environment, or from a parameter the user overrode.
fn explicit_gateway(env: &Env, template: &Template) -> Option<String> {
    if let Some(url) = non_empty(env, "ALIPAY_GATEWAY_URL") {
        return Some(url.to_owned());
    }
    template
        .functions
        .iter()
        .filter_map(|f| f.env.get("ALIPAY_GATEWAY_URL"))
        .find(|v| v.from_override && !v.value.is_empty())
        .map(|v| v.value.clone())
}

/// Refuses a URL whose host is not loopback, unless allowed.
pub fn check_local(what: &'static str, url: &str, allow_remote: bool) -> Result<(), DevError> {
    if allow_remote || is_loopback_url(url) {
        Ok(())
    } else {
        Err(DevError::Remote {
            what,
            url: url.to_owned(),
        })
    }
}

/// `localhost`, 127.0.0.0/8 or ::1.
pub fn is_loopback_url(url: &str) -> bool {
    let Ok(uri) = url.parse::<http::Uri>() else {
        return false;
    };
    let Some(host) = uri.host() else { return false };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// What the functions' environments are made from.
pub struct EnvInputs<'a> {
    pub own: &'a Env,
    pub store: &'a StoreMode,
    /// The stand-in's URL and keys, in stand-in mode.
    pub standin: Option<(&'a str, &'a DevKeys)>,
    pub token_keys: &'a str,
    pub region: &'a str,
}

/// The complete environment of one function's processes.
pub fn function_env(f: &Function, inputs: &EnvInputs<'_>) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = f
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.value.clone()))
        .collect();
    apply_store(&mut env, inputs.store);
    let uses_alipay = f.env.keys().any(|k| k.starts_with("ALIPAY_"));
    if let (Some((url, keys)), true) = (inputs.standin, uses_alipay) {
        env.insert("ALIPAY_APP_ID".into(), keys.app_id.clone());
        env.insert(
            "ALIPAY_APP_PRIVATE_KEY".into(),
            keys.app_private_key.clone(),
        );
        env.insert("ALIPAY_PUBLIC_KEY".into(), keys.gateway_public_key.clone());
        env.insert("ALIPAY_GATEWAY_URL".into(), url.to_owned());
    }
    if env.get("MINIAPP_TOKEN_KEYS").is_none_or(|v| v.is_empty()) {
        env.insert("MINIAPP_TOKEN_KEYS".into(), inputs.token_keys.to_owned());
    }
    for var in CONTRACT_VARIABLES.iter().chain(PASS_THROUGH.iter()) {
        let owned_by_standin = inputs.standin.is_some() && STANDIN_OWNED.contains(var);
        if let (Some(v), false) = (inputs.own.get(*var), owned_by_standin) {
            env.insert((*var).to_owned(), v.clone());
        }
    }
    apply_aws_basics(&mut env, inputs);
    env
}

fn apply_store(env: &mut BTreeMap<String, String>, store: &StoreMode) {
    match store {
        StoreMode::Embedded(path) => {
            // The tables only matter to DynamoDB; leaving them would suggest otherwise.
            for var in ["SESSIONS_TABLE", "DATA_TABLE", "MINIAPP_CREATE_TABLES"] {
                env.remove(var);
            }
            env.insert("MINIAPP_STORE".into(), format!("embedded:{path}"));
        }
        StoreMode::DynamoDb { endpoint } => {
            env.insert("MINIAPP_STORE".into(), "dynamodb".into());
            if endpoint.is_some() {
                env.insert("MINIAPP_CREATE_TABLES".into(), "true".into());
            }
        }
    }
}

/// Region, and stand-in credentials for a local DynamoDB, so the SDK never goes looking for
/// real ones (instance metadata is off the machine).
fn apply_aws_basics(env: &mut BTreeMap<String, String>, inputs: &EnvInputs<'_>) {
    env.insert("AWS_REGION".into(), inputs.region.to_owned());
    env.insert("AWS_DEFAULT_REGION".into(), inputs.region.to_owned());
    if let StoreMode::DynamoDb { endpoint: Some(_) } = inputs.store {
        env.entry("AWS_ACCESS_KEY_ID".into())
            .or_insert_with(|| "local".into());
        env.entry("AWS_SECRET_ACCESS_KEY".into())
            .or_insert_with(|| "local".into());
        env.insert("AWS_EC2_METADATA_DISABLED".into(), "true".into());
    }
}

/// Everything decided before anything starts.
struct Plan {
    template: Template,
    state: StateDir,
    env: Env,
    store: StoreMode,
    gateway: GatewayMode,
    region: String,
}

/// Everything that is running, for the banner and the shutdown.
struct Running {
    gateway: Arc<Gateway>,
    standin: Option<StandinHandle>,
}

/// Runs `miniapp dev` until `stop` resolves (Ctrl-C or SIGTERM).
pub async fn run(
    opts: DevOptions,
    own_env: Env,
    stop: impl Future<Output = ()>,
) -> Result<(), DevError> {
    let mut stop = std::pin::pin!(stop);
    let plan = plan(&opts, own_env)?;
    // Bound before the build, so that a busy port fails at once, not after minutes.
    let listener = bind(opts.port).await?;
    let binaries = tokio::select! {
        b = binaries(&opts, &plan.template) => b?,
        () = &mut stop => return Ok(()),
    };
    let output = Arc::new(Output::new(opts.quiet, Some(plan.state.log_dir())));
    let running = start(&opts, &plan, &binaries, output).await?;
    let url = match listener.local_addr() {
        Ok(addr) => format!("http://{addr}"),
        Err(source) => {
            return Err(DevError::Listen {
                port: opts.port,
                source,
            })
        }
    };
    print_banner(&opts, &plan, &running, &url);
    serve_until(listener, running, stop).await;
    Ok(())
}

/// Reads the template and the environment, and decides the modes (refusing remote ones).
fn plan(opts: &DevOptions, own_env: Env) -> Result<Plan, DevError> {
    let mut env = match &opts.env_file {
        Some(path) => read_env_file(path)?,
        None => Env::new(),
    };
    env.extend(own_env);
    let region = non_empty(&env, "AWS_REGION")
        .or(non_empty(&env, "AWS_DEFAULT_REGION"))
        .unwrap_or("us-east-1")
        .to_owned();
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
    Ok(Plan {
        template,
        state,
        env,
        store,
        gateway,
        region,
    })
}

async fn bind(port: u16) -> Result<TcpListener, DevError> {
    TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::AddrInUse => DevError::PortInUse { port },
            _ => DevError::Listen { port, source },
        })
}

/// The binary of each function: built by cargo, or found in --bin-dir.
async fn binaries(
    opts: &DevOptions,
    template: &Template,
) -> Result<HashMap<String, PathBuf>, DevError> {
    let names: Vec<String> = template
        .functions
        .iter()
        .map(|f| f.binary.clone())
        .collect();
    let found = if opts.no_build {
        let dir = opts.bin_dir.clone().unwrap_or_else(|| {
            let profile = if opts.release { "release" } else { "debug" };
            template_dir(&opts.template).join("target").join(profile)
        });
        names.iter().map(|n| (n.clone(), dir.join(n))).collect()
    } else {
        build(&names, opts.release, &template_dir(&opts.template)).await?
    };
    for f in &template.functions {
        match found.get(&f.binary) {
            Some(p) if p.is_file() => {}
            Some(p) => {
                return Err(DevError::BinaryMissing {
                    function: f.logical_id.clone(),
                    path: p.display().to_string(),
                })
            }
            None => return Err(DevError::BinaryNotBuilt(f.binary.clone())),
        }
    }
    Ok(found)
}

fn template_dir(template: &Path) -> PathBuf {
    match template.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// `cargo build --bin a --bin b`; cargo's own messages go to the terminal, the artifact paths
/// come from its JSON messages (so CARGO_TARGET_DIR and profiles need no guessing).
async fn build(
    names: &[String],
    release: bool,
    dir: &Path,
) -> Result<HashMap<String, PathBuf>, DevError> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut args = vec!["build".to_owned()];
    if release {
        args.push("--release".to_owned());
    }
    let mut unique: Vec<&String> = names.iter().collect();
    unique.sort();
    unique.dedup();
    for n in unique {
        args.push("--bin".to_owned());
        args.push(n.clone());
    }
    let command = format!("cargo {}", args.join(" "));
    eprintln!("Building the functions: {command}");
    let mut child = tokio::process::Command::new(cargo)
        .args(&args)
        .arg("--message-format=json-render-diagnostics")
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(DevError::CargoSpawn)?;
    let mut found = HashMap::new();
    if let Some(stdout) = child.stdout.take() {
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some((name, path)) = artifact(&line) {
                found.insert(name, path);
            }
        }
    }
    let status = child.wait().await.map_err(DevError::CargoSpawn)?;
    if !status.success() {
        return Err(DevError::BuildFailed { command });
    }
    Ok(found)
}

/// `(binary name, executable path)` from one cargo JSON message.
fn artifact(line: &str) -> Option<(String, PathBuf)> {
    let msg: serde_json::Value = serde_json::from_str(line).ok()?;
    if msg["reason"] != "compiler-artifact" {
        return None;
    }
    let exe = msg["executable"].as_str()?;
    let name = msg["target"]["name"].as_str()?;
    Some((name.to_owned(), PathBuf::from(exe)))
}

/// Starts the stand-in (in stand-in mode) and makes one pool per function.
async fn start(
    opts: &DevOptions,
    plan: &Plan,
    binaries: &HashMap<String, PathBuf>,
    output: Arc<Output>,
) -> Result<Running, DevError> {
    let token_keys = match non_empty(&plan.env, "MINIAPP_TOKEN_KEYS") {
        Some(k) => k.to_owned(),
        None => plan.state.token_keys()?,
    };
    let uses_alipay = plan
        .template
        .functions
        .iter()
        .any(|f| f.env.keys().any(|k| k.starts_with("ALIPAY_")));
    let (standin, keys) = match plan.gateway {
        // No function talks to Alipay: no stand-in (and no keys to generate).
        GatewayMode::Standin if !uses_alipay => (None, None),
        GatewayMode::Standin => {
            let keys = plan.state.dev_keys()?;
            (Some(start_standin(&keys).await?), Some(keys))
        }
        GatewayMode::Real(_) => (None, None),
    };
    let standin_url = standin.as_ref().map(StandinHandle::url);
    let inputs = EnvInputs {
        own: &plan.env,
        store: &plan.store,
        standin: standin_url.as_deref().zip(keys.as_ref()),
        token_keys: &token_keys,
        region: &plan.region,
    };
    let mut routes = RouteTable::default();
    let mut pools = Vec::new();
    for (i, f) in plan.template.functions.iter().enumerate() {
        routes.add(i, &f.routes);
        let spec = FunctionSpec {
            name: f.logical_id.clone(),
            binary: binaries.get(&f.binary).cloned().unwrap_or_default(),
            env: function_env(f, &inputs).into_iter().collect(),
            timeout: f.timeout,
            memory_mb: f.memory_mb,
            max_processes: opts.max_processes,
            region: plan.region.clone(),
        };
        pools.push(Arc::new(Pool::new(spec, Arc::clone(&output))));
    }
    let gateway = Arc::new(Gateway {
        routes,
        pools,
        output,
        app: AppFiles::find(&template_dir(&opts.template)),
    });
    Ok(Running { gateway, standin })
}

async fn start_standin(keys: &DevKeys) -> Result<StandinHandle, DevError> {
    let app_public_key =
        AlipayPublicKey::parse(&keys.app_public_key, "appPublicKey").map_err(|e| {
            DevError::DevKey {
                var: "appPublicKey",
                message: e.to_string(),
            }
        })?;
    let gateway_private_key = AppPrivateKey::parse(&keys.gateway_private_key, "gatewayPrivateKey")
        .map_err(|e| DevError::DevKey {
            var: "gatewayPrivateKey",
            message: e.to_string(),
        })?;
    let config = StandinConfig {
        app_id: keys.app_id.clone(),
        app_public_key,
        gateway_private_key,
        scripts: StandinConfig::dev_scripts(),
    };
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(DevError::Standin)?;
    standin::start(listener, config)
        .await
        .map_err(DevError::Standin)
}

/// Serves until `stop`, then stops the front, kills every process and the stand-in.
async fn serve_until(listener: TcpListener, running: Running, stop: impl Future<Output = ()>) {
    let (tx, rx) = watch::channel(false);
    let front = tokio::spawn(gateway::serve(listener, Arc::clone(&running.gateway), rx));
    stop.await;
    running
        .gateway
        .output
        .line("Stopping: killing function processes and the stand-in.");
    let _ = tx.send(true);
    let _ = front.await;
    for pool in &running.gateway.pools {
        pool.shutdown().await;
    }
    if let Some(standin) = running.standin {
        standin.shutdown().await;
    }
    running.gateway.output.line("Stopped.");
}

fn print_banner(opts: &DevOptions, plan: &Plan, running: &Running, url: &str) {
    let (template, store, gateway_mode) = (&plan.template, &plan.store, &plan.gateway);
    let out = &running.gateway.output;
    out.line(&format!("miniapp dev: {}", opts.template.display()));
    out.line("");
    out.line(&format!("  API         {url}"));
    if running.gateway.app.is_some() {
        out.line(&format!("  App         {url}{}/", crate::app_files::PREFIX));
    }
    for (i, f) in template.functions.iter().enumerate() {
        let keys = running.gateway.routes.keys_of(i).join(", ");
        let label = if i == 0 { "Functions" } else { "" };
        out.line(&format!(
            "  {label:<11} {} ({}, timeout {} s): {keys}",
            f.logical_id,
            f.binary,
            f.timeout.as_secs()
        ));
    }
    let store_text = match store {
        StoreMode::Embedded(path) => format!("embedded, {path}"),
        StoreMode::DynamoDb { endpoint: Some(e) } => {
            format!("DynamoDB at {e} (tables created if missing)")
        }
        StoreMode::DynamoDb { endpoint: None } => "DynamoDB on AWS (--allow-remote)".to_owned(),
    };
    out.line(&format!("  Store       {store_text}"));
    match (gateway_mode, &running.standin) {
        (GatewayMode::Real(u), _) => out.line(&format!("  Alipay      {u}")),
        (GatewayMode::Standin, Some(s)) => {
            out.line(&format!("  Alipay      built-in stand-in at {}", s.url()));
            out.line(
                "  Auth codes  dev-alice, dev-bob, dev-user-<name> (any [a-z0-9]{1,32}): sign in",
            );
            out.line("              dev-invalid: refused (401 AuthCodeInvalid)");
        }
        (GatewayMode::Standin, None) => {}
    }
    out.line(&format!(
        "  Logs        {}/<function>.log{}",
        plan.state.log_dir().display(),
        if opts.quiet { "" } else { ", and below" }
    ));
    out.line("");
    out.line("Try:");
    out.line(&format!(
        "  curl -s -X POST {url}/session -H 'content-type: application/json' -d '{{\"authCode\":\"dev-alice\"}}'"
    ));
    out.line(&format!(
        "  miniapp login dev-alice --url {url} && miniapp curl GET /db/todos"
    ));
    out.line("");
    out.line("Ctrl-C stops everything.");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::EnvValue;

    #[test]
    fn loopback_urls() {
        for ok in [
            "http://127.0.0.1:8000",
            "http://localhost:8000/",
            "http://[::1]:8000",
            "http://127.5.0.1/gateway.do",
        ] {
            assert!(is_loopback_url(ok), "{ok}");
        }
        for bad in [
            "https://openapi.alipay.com/gateway.do",
            "http://10.0.0.1:8000",
            "http://localhost.example.com",
            "not a url",
            "http://127.0.0.1.example.com",
        ] {
            assert!(!is_loopback_url(bad), "{bad}");
        }
    }

    fn template() -> Template {
        let mut env = BTreeMap::new();
        let v = |s: &str| EnvValue {
            value: s.to_owned(),
            from_override: false,
        };
        env.insert(
            "ALIPAY_GATEWAY_URL".to_owned(),
            v("https://openapi.alipay.com/gateway.do"),
        );
        env.insert("ALIPAY_APP_ID".to_owned(), v(""));
        env.insert("MINIAPP_TOKEN_KEYS".to_owned(), v(""));
        env.insert("SESSIONS_TABLE".to_owned(), v("SessionsTable"));
        env.insert("MINIAPP_STORE".to_owned(), v("dynamodb"));
        Template {
            parameters: BTreeMap::new(),
            functions: vec![Function {
                logical_id: "SessionFunction".into(),
                binary: "session".into(),
                timeout: std::time::Duration::from_secs(10),
                memory_mb: 128,
                env,
                routes: vec![],
            }],
            tables: BTreeMap::new(),
        }
    }

    fn modes(env: &[(&str, &str)], allow: bool) -> Result<(StoreMode, GatewayMode), DevError> {
        let env: Env = env
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        decide_modes(
            &env,
            &template(),
            &StateDir::existing(Path::new("/s")),
            allow,
        )
    }

    #[test]
    fn defaults_are_embedded_and_standin() -> Result<(), DevError> {
        let (store, gw) = modes(&[], false)?;
        assert_eq!(store, StoreMode::Embedded("/s/data.db".into()));
        assert_eq!(gw, GatewayMode::Standin);
        Ok(())
    }

    #[test]
    fn remote_endpoints_are_refused_unless_allowed() {
        let e = modes(
            &[(
                "AWS_ENDPOINT_URL_DYNAMODB",
                "https://dynamodb.us-east-1.amazonaws.com",
            )],
            false,
        );
        assert!(matches!(e, Err(DevError::Remote { .. })));
        assert_eq!(e.err().map(|e| e.exit_code()), Some(2));
        let e = modes(
            &[(
                "ALIPAY_GATEWAY_URL",
                "https://openapi.alipay.com/gateway.do",
            )],
            false,
        );
        assert!(matches!(e, Err(DevError::Remote { .. })));
        assert!(matches!(
            modes(&[("MINIAPP_STORE", "dynamodb")], false),
            Err(DevError::RemoteDynamoDb)
        ));
        assert!(modes(
            &[(
                "ALIPAY_GATEWAY_URL",
                "https://openapi.alipay.com/gateway.do"
            )],
            true
        )
        .is_ok());
    }

    #[test]
    fn local_dynamodb_endpoint_selects_dynamodb() -> Result<(), DevError> {
        let (store, _) = modes(&[("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")], false)?;
        assert_eq!(
            store,
            StoreMode::DynamoDb {
                endpoint: Some("http://127.0.0.1:5000".into())
            }
        );
        Ok(())
    }

    #[test]
    fn function_env_fills_dev_values_and_honours_own_environment() {
        let keys = DevKeys {
            app_id: "2021".into(),
            app_private_key: "APPPRIV".into(),
            app_public_key: "APPPUB".into(),
            gateway_private_key: "GWPRIV".into(),
            gateway_public_key: "GWPUB".into(),
        };
        let own: Env = [
            ("ALIPAY_TIMEOUT_MS", "1234"),
            ("ALIPAY_APP_ID", "mine"),
            ("UNRELATED", "x"),
        ]
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
        let store = StoreMode::Embedded("/s/data.db".into());
        let inputs = EnvInputs {
            own: &own,
            store: &store,
            standin: Some(("http://127.0.0.1:9/gateway.do", &keys)),
            token_keys: "dev1:abc",
            region: "us-east-1",
        };
        let env = function_env(&template().functions[0], &inputs);
        assert_eq!(env["ALIPAY_APP_ID"], "2021");
        assert_eq!(env["ALIPAY_PUBLIC_KEY"], "GWPUB");
        assert_eq!(env["ALIPAY_APP_PRIVATE_KEY"], "APPPRIV");
        assert_eq!(env["ALIPAY_GATEWAY_URL"], "http://127.0.0.1:9/gateway.do");
        assert_eq!(env["ALIPAY_TIMEOUT_MS"], "1234");
        assert_eq!(env["MINIAPP_TOKEN_KEYS"], "dev1:abc");
        assert_eq!(env["MINIAPP_STORE"], "embedded:/s/data.db");
        assert!(!env.contains_key("SESSIONS_TABLE"));
        assert!(!env.contains_key("UNRELATED"));
    }

    #[test]
    fn env_file_parses_comments_exports_and_quotes() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join(".env");
        std::fs::write(&path, "# c\nexport A=1\nB=\"two words\"\n\nC='x=y'\n")?;
        let env = read_env_file(&path)?;
        assert_eq!(
            (env["A"].as_str(), env["B"].as_str(), env["C"].as_str()),
            ("1", "two words", "x=y")
        );
        std::fs::write(&path, "oops\n")?;
        assert!(matches!(
            read_env_file(&path),
            Err(DevError::EnvFileLine { line: 1, .. })
        ));
        Ok(())
    }
}
