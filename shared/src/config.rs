//! Configuration (CONTRACT.md §1), read once at start into typed values.
//!
//! A missing or malformed variable is one clear error naming it; key material is never echoed.

use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;

use crate::alipay::{AlipayConfig, AlipayPublicKey, AppPrivateKey};
use crate::credentials::TokenKeys;
use crate::store::{StoreConfig, StoreKind};

/// The contract's default gateway.
pub const DEFAULT_GATEWAY_URL: &str = "https://openapi.alipay.com/gateway.do";
/// Where the embedded store lives when nothing else is configured.
pub const DEFAULT_EMBEDDED_PATH: &str = ".miniapp/data.db";

/// What is wrong with the configuration; Display is the one line printed at start.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("configuration: {0} is required but not set")]
    Missing(&'static str),
    #[error("configuration: {var} is invalid: {reason}")]
    Invalid { var: &'static str, reason: String },
}

fn invalid(var: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        var,
        reason: reason.into(),
    }
}

/// Reads variables: the process environment in production, a map in tests.
pub trait Env {
    /// The variable's value; empty values count as unset.
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.trim().is_empty())
    }
}

impl<F: Fn(&str) -> Option<String>> Env for F {
    fn get(&self, name: &str) -> Option<String> {
        self(name).filter(|v| !v.trim().is_empty())
    }
}

fn required(env: &dyn Env, var: &'static str) -> Result<String, ConfigError> {
    env.get(var).ok_or(ConfigError::Missing(var))
}

fn positive_secs(env: &dyn Env, var: &'static str, default: u64) -> Result<u64, ConfigError> {
    match env.get(var) {
        None => Ok(default),
        Some(v) => match v.trim().parse::<u64>() {
            // Above ten years is a typo, and keeps every timestamp sum far from overflow.
            Ok(n) if (1..=315_360_000).contains(&n) => Ok(n),
            _ => Err(invalid(
                var,
                format!("{v:?} is not a whole number of seconds between 1 and 315360000"),
            )),
        },
    }
}

/// What both functions need.
#[derive(Debug)]
pub struct CommonConfig {
    /// `MINIAPP_TOKEN_KEYS`.
    pub token_keys: TokenKeys,
    /// `MINIAPP_CREDENTIAL_TTL_SECS`.
    pub credential_ttl_secs: u64,
    /// `MINIAPP_SESSION_TTL_SECS`.
    pub session_ttl_secs: u64,
    /// `MINIAPP_STORE` and the table variables.
    pub store: StoreConfig,
}

impl CommonConfig {
    /// Reads the variables of both functions.
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let token_keys = TokenKeys::parse(&required(env, "MINIAPP_TOKEN_KEYS")?)
            .map_err(|e| invalid("MINIAPP_TOKEN_KEYS", e.to_string()))?;
        let store = StoreConfig {
            kind: store_kind(env)?,
            // Cursors are signed with a key derived from the token key, so no extra secret is
            // needed; rotating the signing key only makes open listings start over.
            cursor_key: token_keys.derive_key(b"miniapp-cursor-v1"),
        };
        Ok(Self {
            token_keys,
            credential_ttl_secs: positive_secs(env, "MINIAPP_CREDENTIAL_TTL_SECS", 3600)?,
            session_ttl_secs: positive_secs(env, "MINIAPP_SESSION_TTL_SECS", 604_800)?,
            store,
        })
    }
}

fn store_kind(env: &dyn Env) -> Result<StoreKind, ConfigError> {
    let tables_set = env.get("SESSIONS_TABLE").is_some();
    let store = env.get("MINIAPP_STORE");
    match store.as_deref().map(str::trim) {
        Some("dynamodb") => dynamo_kind(env),
        Some(v) if v.starts_with("embedded:") => {
            let path = &v["embedded:".len()..];
            if path.is_empty() {
                return Err(invalid(
                    "MINIAPP_STORE",
                    "embedded: needs a file path, e.g. embedded:.miniapp/data.db",
                ));
            }
            Ok(StoreKind::Embedded(PathBuf::from(path)))
        }
        Some(v) => Err(invalid(
            "MINIAPP_STORE",
            format!("{v:?} is neither \"dynamodb\" nor \"embedded:<path>\""),
        )),
        None if tables_set => dynamo_kind(env),
        None => Ok(StoreKind::Embedded(PathBuf::from(DEFAULT_EMBEDDED_PATH))),
    }
}

fn dynamo_kind(env: &dyn Env) -> Result<StoreKind, ConfigError> {
    let create_tables = match env.get("MINIAPP_CREATE_TABLES").as_deref().map(str::trim) {
        None | Some("false") => false,
        Some("true") => true,
        Some(v) => {
            return Err(invalid(
                "MINIAPP_CREATE_TABLES",
                format!("{v:?} is neither true nor false"),
            ))
        }
    };
    Ok(StoreKind::Dynamo {
        sessions_table: required(env, "SESSIONS_TABLE")?,
        data_table: required(env, "DATA_TABLE")?,
        create_tables,
    })
}

/// What the session function needs on top of [`CommonConfig`].
#[derive(Debug)]
pub struct SessionConfig {
    pub common: CommonConfig,
    pub alipay: AlipayConfig,
}

impl SessionConfig {
    /// Reads the session function's variables.
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let app_id = required(env, "ALIPAY_APP_ID")?;
        let private = required(env, "ALIPAY_APP_PRIVATE_KEY")?;
        let app_private_key = AppPrivateKey::parse(&private, "ALIPAY_APP_PRIVATE_KEY")
            .map_err(|e| invalid("ALIPAY_APP_PRIVATE_KEY", e.to_string()))?;
        let public = required(env, "ALIPAY_PUBLIC_KEY")?;
        let alipay_public_key = AlipayPublicKey::parse(&public, "ALIPAY_PUBLIC_KEY")
            .map_err(|e| invalid("ALIPAY_PUBLIC_KEY", e.to_string()))?;
        let gateway_url = env
            .get("ALIPAY_GATEWAY_URL")
            .unwrap_or_else(|| DEFAULT_GATEWAY_URL.to_owned());
        let timeout_ms = match env.get("ALIPAY_TIMEOUT_MS") {
            None => 5000,
            Some(v) => match v.trim().parse::<u64>() {
                Ok(n) if (1..=120_000).contains(&n) => n,
                _ => {
                    return Err(invalid(
                        "ALIPAY_TIMEOUT_MS",
                        format!("{v:?} is not a number of milliseconds between 1 and 120000"),
                    ))
                }
            },
        };
        Ok(Self {
            common: CommonConfig::from_env(env)?,
            alipay: AlipayConfig {
                app_id,
                app_private_key,
                alipay_public_key,
                gateway_url,
                timeout: Duration::from_millis(timeout_ms),
            },
        })
    }
}
