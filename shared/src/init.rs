//! Start-up of each function: read configuration once, parse keys, open the store and build
//! clients, warm connections — everything a request must not pay for.

use thiserror::Error;

#[cfg(feature = "login")]
use crate::alipay::{AlipayClient, AlipayError};
use crate::api::DbApi;
#[cfg(feature = "login")]
use crate::api::SessionApi;
use crate::config::{CommonConfig, ConfigError, EnvSource};
#[cfg(feature = "login")]
use crate::config::{ProvidersConfig, SessionConfig};
use crate::files::{FileBackendError, Files, FilesConfig};
#[cfg(feature = "login")]
use crate::login::Providers;
use crate::store::{Store, StoreError};
#[cfg(feature = "login")]
use crate::wechat::{WechatClient, WechatError};

/// Why a function could not start; Display is the one line reported.
#[derive(Debug, Error)]
pub enum InitError {
    /// The configuration is missing or malformed.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The store could not be opened.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The Alipay client could not be built.
    #[cfg(feature = "login")]
    #[error("alipay client: {0}")]
    Alipay(#[from] AlipayError),
    /// The file backend could not be set up.
    #[error("files: {0}")]
    Files(#[from] FileBackendError),
    /// The WeChat client could not be built.
    #[cfg(feature = "login")]
    #[error("wechat client: {0}")]
    Wechat(#[from] WechatError),
}

/// What the log's user-hash key is derived from the token keys with.
const LOG_HASH_KEY_LABEL: &[u8] = b"miniapp-log-user-hash-v1";

/// Installs the log's user-hash key, opens the store and pays its connection set-up now. A store that is down at start is not
/// fatal: requests answer `StorageUnavailable` until it returns.
async fn open_store(config: &CommonConfig) -> Result<Store, InitError> {
    crate::ids::set_log_hash_key(&config.token_keys.derive_key(LOG_HASH_KEY_LABEL));
    let store = Store::open(&config.store).await?;
    if let Err(e) = store.warm_up().await {
        tracing::warn!(error = %e, "store warm-up failed; continuing");
    }
    Ok(store)
}

/// aws-lc seeds its random generator on first use, from the kernel's getrandom (the build
/// turns its CPU-jitter source off: `.cargo/config.toml`, docs/benchmarks.md): pay that first
/// seeding during init, not in the first login.
#[cfg(feature = "login")]
fn seed_random_generator() {
    let mut byte = [0u8; 1];
    if aws_lc_rs::rand::fill(&mut byte).is_err() {
        tracing::warn!("the system random number generator is not available yet");
    }
}

/// Builds the session function's handler from the environment.
///
/// The login providers are set up on a thread of their own while the store opens and warms its
/// connections (on DynamoDB a network round trip): aws-lc checks an RSA key as it parses it
/// (~2.6M instructions for a 2048-bit app key) and the clients build their TLS set-up, work
/// that otherwise delayed the store's first call. Errors keep their order: the providers'
/// variables, then the common ones, then the store.
#[cfg(feature = "login")]
pub async fn session_api(env: &dyn EnvSource) -> Result<SessionApi, InitError> {
    seed_random_generator();
    let snapshot = ProvidersConfig::snapshot(env);
    let providers = tokio::task::spawn_blocking(move || login_providers(&snapshot));
    let store = async {
        let common = CommonConfig::from_env(env)?;
        let store = open_store(&common).await?;
        Ok::<_, InitError>((common, store))
    };
    let (providers, store) = tokio::join!(providers, store);
    let (providers_config, providers) = match providers {
        Ok(set_up) => set_up?,
        // A panic there is the start-up's own, as when this ran inline.
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    };
    let (common, store) = store?;
    Ok(SessionApi::new(
        SessionConfig::new(common, providers_config),
        store,
        providers,
    ))
}

/// The providers' configuration and their clients.
#[cfg(feature = "login")]
fn login_providers(env: &dyn EnvSource) -> Result<(ProvidersConfig, Providers), InitError> {
    let config = ProvidersConfig::from_env(env)?;
    let alipay = config.alipay.clone().map(AlipayClient::new).transpose()?;
    let wechat = config.wechat.clone().map(WechatClient::new).transpose()?;
    Ok((config, Providers::new(alipay, wechat)))
}

/// Builds the db function's handler from the environment.
pub async fn db_api(env: &dyn EnvSource) -> Result<DbApi, InitError> {
    let config = CommonConfig::from_env(env)?;
    let files_config = FilesConfig::from_env(env, &config.store.kind)?;
    let files = Files::open(files_config, &config.token_keys).await?;
    let store = open_store(&config).await?;
    Ok(DbApi::new(config, store, files))
}
