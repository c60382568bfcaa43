//! Starting what `miniapp dev` runs (the Alipay and WeChat stand-ins when needed, one process
//! pool per function behind the gateway) and stopping it all again.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use miniapp_shared::alipay::standin::{self, StandinHandle};
use miniapp_shared::alipay::{
    synthetic, AlipayCertificates, AlipayPublicKey, AppPrivateKey, CertificateTexts,
    StandinCertSns, StandinConfig,
};
use miniapp_shared::config::vars;
use miniapp_shared::secret::SecretString;
use miniapp_shared::wechat::standin as wechat_standin;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::build::template_dir;
use super::env_file::non_empty;
use super::function_env::FilesDefaults;
use super::function_env::{
    function_env, uses_alipay, uses_wechat, AlipayStandin, EnvInputs, DEV_WECHAT_APP_ID,
    DEV_WECHAT_APP_SECRET,
};
use super::policy::GatewayMode;
use super::{DevError, DevOptions, Plan};
use crate::app_files::AppFiles;
use crate::emulator::gateway::{self, Gateway};
use crate::emulator::output::Output;
use crate::emulator::pool::{FunctionSpec, Pool};
use crate::emulator::routes::RouteTable;
use crate::state_dir::DevKeys;

/// Everything that is running, for the banner and the shutdown.
pub(super) struct Running {
    pub(super) gateway: Arc<Gateway>,
    pub(super) standin: Option<StandinHandle>,
    /// The WeChat stand-in, when some function logs in with WeChat through it.
    pub(super) wechat: Option<wechat_standin::StandinHandle>,
}

/// Starts the stand-in (in stand-in mode) and makes one pool per function.
pub(super) async fn start(
    opts: &DevOptions,
    plan: &Plan,
    binaries: &HashMap<String, PathBuf>,
    output: Arc<Output>,
    url: &str,
) -> Result<Running, DevError> {
    let token_keys = match non_empty(&plan.env, vars::MINIAPP_TOKEN_KEYS) {
        Some(k) => k.to_owned(),
        None => plan.state.token_keys()?,
    };
    let (standin, keys) = standin_for(opts, plan).await?;
    let wechat = wechat_for(plan).await?;
    let standin_url = standin.as_ref().map(StandinHandle::url);
    let wechat_url = wechat.as_ref().map(wechat_standin::StandinHandle::url);
    let files_dir = plan.state.root().join("files").display().to_string();
    let inputs = EnvInputs {
        own: &plan.env,
        store: &plan.store,
        standin: standin_url
            .as_deref()
            .zip(keys.as_ref())
            .map(|(url, keys)| AlipayStandin {
                url,
                keys,
                certificates: opts.alipay_cert_mode,
            }),
        wechat: wechat_url.as_deref(),
        token_keys: &token_keys,
        region: &plan.region,
        files: FilesDefaults {
            dir: &files_dir,
            public_url: url,
        },
    };
    let gateway = Arc::new(gateway_for(opts, plan, binaries, &inputs, output));
    Ok(Running {
        gateway,
        standin,
        wechat,
    })
}

/// The running stand-in and its keys, when in stand-in mode and some function uses Alipay
/// (otherwise there is nothing to start and no keys to generate).
async fn standin_for(
    opts: &DevOptions,
    plan: &Plan,
) -> Result<(Option<StandinHandle>, Option<DevKeys>), DevError> {
    let needed = plan.template.functions.iter().any(uses_alipay);
    match plan.gateway {
        GatewayMode::Standin if needed => {
            let (keys, cert_sns) = if opts.alipay_cert_mode {
                (synthetic_keys(), Some(synthetic_cert_sns()?))
            } else {
                (plan.state.dev_keys()?, None)
            };
            Ok((Some(start_standin(&keys, cert_sns).await?), Some(keys)))
        }
        GatewayMode::Standin | GatewayMode::Real(_) => Ok((None, None)),
    }
}

/// Certificate mode's keys: those of the synthetic certificates (the certificates carry the
/// public keys, so the generated development keys cannot be used).
fn synthetic_keys() -> DevKeys {
    DevKeys {
        app_id: synthetic::APP_ID.to_owned(),
        app_private_key: synthetic::APP_PRIVATE_KEY.to_owned(),
        app_public_key: synthetic::APP_PUBLIC_KEY.to_owned(),
        gateway_private_key: synthetic::GATEWAY_PRIVATE_KEY.to_owned(),
        gateway_public_key: String::new(),
    }
}

fn synthetic_cert_sns() -> Result<StandinCertSns, DevError> {
    let certs = AlipayCertificates::from_pem(CertificateTexts {
        app_cert: (synthetic::APP_CERT, "appCert"),
        alipay_cert: (synthetic::ALIPAY_CERT, "alipayCert"),
        root_cert: (synthetic::ROOT_CERT, "rootCert"),
    })
    .map_err(|e| dev_key_error("synthetic certificates", &e))?;
    Ok(StandinCertSns::from(&certs))
}

/// The running WeChat stand-in, when in stand-in mode and some function logs in with WeChat.
async fn wechat_for(plan: &Plan) -> Result<Option<wechat_standin::StandinHandle>, DevError> {
    let needed = plan.template.functions.iter().any(uses_wechat);
    if plan.wechat != GatewayMode::Standin || !needed {
        return Ok(None);
    }
    let config = wechat_standin::StandinConfig {
        app_id: DEV_WECHAT_APP_ID.to_owned(),
        app_secret: SecretString::new(DEV_WECHAT_APP_SECRET.to_owned()),
        scripts: wechat_standin::StandinConfig::dev_scripts(),
    };
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(DevError::WechatStandin)?;
    wechat_standin::start(listener, config)
        .map(Some)
        .map_err(DevError::WechatStandin)
}

/// The route table and one pool per function (no process starts before its first request).
fn gateway_for(
    opts: &DevOptions,
    plan: &Plan,
    binaries: &HashMap<String, PathBuf>,
    inputs: &EnvInputs<'_>,
    output: Arc<Output>,
) -> Gateway {
    let mut routes = RouteTable::default();
    let mut pools = Vec::new();
    for (i, f) in plan.template.functions.iter().enumerate() {
        routes.add(i, &f.routes);
        let spec = FunctionSpec {
            name: f.logical_id.clone(),
            binary: binaries.get(&f.binary).cloned().unwrap_or_default(),
            env: function_env(f, inputs).into_iter().collect(),
            timeout: f.timeout,
            memory_mb: f.memory_mb,
            max_processes: opts.max_processes,
            region: plan.region.clone(),
        };
        pools.push(Arc::new(Pool::new(spec, Arc::clone(&output))));
    }
    let files = local_files(plan, inputs, &output);
    Gateway {
        routes,
        pools,
        output,
        app: AppFiles::find(&template_dir(&opts.template)),
        files,
    }
}

/// The local file backend, as the functions open it from their environment, so that the
/// front serves its upload and download URLs (they stream large bodies, which the functions'
/// event path cannot carry). `None` when the functions use S3 or have no usable configuration
/// (the functions then report it themselves).
fn local_files(
    plan: &Plan,
    inputs: &EnvInputs<'_>,
    output: &Output,
) -> Option<miniapp_shared::files::LocalBackend> {
    let f = plan.template.functions.first()?;
    let env = function_env(f, inputs);
    let lookup = |name: &str| env.get(name).cloned();
    match miniapp_shared::files::local_backend_from_env(&lookup) {
        Ok(local) => local,
        Err(e) => {
            output.line(&format!("Files: no local file backend ({e})."));
            None
        }
    }
}

async fn start_standin(
    keys: &DevKeys,
    cert_sns: Option<StandinCertSns>,
) -> Result<StandinHandle, DevError> {
    let config = StandinConfig {
        app_id: keys.app_id.clone(),
        app_public_key: AlipayPublicKey::parse(&keys.app_public_key, "appPublicKey")
            .map_err(|e| dev_key_error("appPublicKey", &e))?,
        gateway_private_key: AppPrivateKey::parse(&keys.gateway_private_key, "gatewayPrivateKey")
            .map_err(|e| dev_key_error("gatewayPrivateKey", &e))?,
        scripts: StandinConfig::dev_scripts(),
        cert_sns,
    };
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(DevError::Standin)?;
    standin::start(listener, config)
        .await
        .map_err(DevError::Standin)
}

fn dev_key_error(var: &'static str, e: &impl std::fmt::Display) -> DevError {
    DevError::DevKey {
        var,
        message: e.to_string(),
    }
}

/// Serves until `stop`, then stops the front, kills every process and the stand-in.
pub(super) async fn serve_until(
    listener: TcpListener,
    running: Running,
    stop: impl Future<Output = ()>,
) {
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
    if let Some(wechat) = running.wechat {
        wechat.shutdown().await;
    }
    running.gateway.output.line("Stopped.");
}
