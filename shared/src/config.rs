//! Configuration (docs/api.md §7), read once at start into typed values; the variables' names
//! are in [`vars`], the store-choice rule shared with `miniapp dev` is [`store_choice`].
//!
//! A missing or malformed variable is one clear error naming it; key material is never echoed.

pub mod vars;

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
    /// The named variable is required but not set.
    #[error("configuration: {0} is required but not set")]
    Missing(&'static str),
    /// A variable's value is unusable.
    #[error("configuration: {var} is invalid: {reason}")]
    Invalid {
        /// The variable.
        var: &'static str,
        /// What is wrong with its value (never quoting key material).
        reason: String,
    },
}

fn invalid(var: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        var,
        reason: reason.into(),
    }
}

/// Reads variables: the process environment in production, a map in tests.
pub trait EnvSource {
    /// The variable's value; empty values count as unset.
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.trim().is_empty())
    }
}

impl<F: Fn(&str) -> Option<String>> EnvSource for F {
    fn get(&self, name: &str) -> Option<String> {
        self(name).filter(|v| !v.trim().is_empty())
    }
}

fn required(env: &dyn EnvSource, var: &'static str) -> Result<String, ConfigError> {
    env.get(var).ok_or(ConfigError::Missing(var))
}

fn positive_secs(env: &dyn EnvSource, var: &'static str, default: u64) -> Result<u64, ConfigError> {
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
    /// The store [`store_choice`] selects, with its variables.
    pub store: StoreConfig,
}

impl CommonConfig {
    /// Reads the variables of both functions.
    pub fn from_env(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        let token_keys = TokenKeys::parse(&required(env, vars::MINIAPP_TOKEN_KEYS)?)
            .map_err(|e| invalid(vars::MINIAPP_TOKEN_KEYS, e.to_string()))?;
        let store = StoreConfig {
            kind: store_kind(env)?,
            // Cursors are signed with a key derived from the token key, so no extra secret is
            // needed; rotating the signing key only makes open listings start over.
            cursor_key: token_keys.derive_key(b"miniapp-cursor-v1"),
        };
        Ok(Self {
            token_keys,
            credential_ttl_secs: positive_secs(env, vars::MINIAPP_CREDENTIAL_TTL_SECS, 3600)?,
            session_ttl_secs: positive_secs(env, vars::MINIAPP_SESSION_TTL_SECS, 604_800)?,
            store,
        })
    }
}

/// The store the configuration selects, before the backend's own variables are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreChoice {
    /// DynamoDB.
    DynamoDb,
    /// The embedded store at the path `MINIAPP_STORE=embedded:<path>` names.
    Embedded(PathBuf),
    /// The embedded store at its default place ([`DEFAULT_EMBEDDED_PATH`] for the functions):
    /// nothing selects a store.
    EmbeddedDefault,
}

/// The one rule choosing the store, for the functions and `miniapp dev` alike:
/// `MINIAPP_STORE` when set; else DynamoDB when `SESSIONS_TABLE` or a DynamoDB endpoint
/// ([`dynamodb_endpoint`]) is set; else the embedded store.
pub fn store_choice(env: &dyn EnvSource) -> Result<StoreChoice, ConfigError> {
    let store = env.get(vars::MINIAPP_STORE);
    match store.as_deref().map(str::trim) {
        Some("dynamodb") => Ok(StoreChoice::DynamoDb),
        Some(v) if v.starts_with("embedded:") => {
            let path = &v["embedded:".len()..];
            if path.is_empty() {
                return Err(invalid(
                    vars::MINIAPP_STORE,
                    "embedded: needs a file path, e.g. embedded:.miniapp/data.db",
                ));
            }
            Ok(StoreChoice::Embedded(PathBuf::from(path)))
        }
        Some(v) => Err(invalid(
            vars::MINIAPP_STORE,
            format!("{v:?} is neither \"dynamodb\" nor \"embedded:<path>\""),
        )),
        None if env.get(vars::SESSIONS_TABLE).is_some() || dynamodb_endpoint(env).is_some() => {
            Ok(StoreChoice::DynamoDb)
        }
        None => Ok(StoreChoice::EmbeddedDefault),
    }
}

/// The DynamoDB endpoint the AWS SDK uses when one is set: `AWS_ENDPOINT_URL_DYNAMODB`, else
/// `AWS_ENDPOINT_URL`.
pub fn dynamodb_endpoint(env: &dyn EnvSource) -> Option<String> {
    env.get(vars::AWS_ENDPOINT_URL_DYNAMODB)
        .or_else(|| env.get(vars::AWS_ENDPOINT_URL))
}

fn store_kind(env: &dyn EnvSource) -> Result<StoreKind, ConfigError> {
    match store_choice(env)? {
        StoreChoice::DynamoDb => dynamo_kind(env),
        StoreChoice::Embedded(path) => Ok(StoreKind::Embedded(path)),
        StoreChoice::EmbeddedDefault => {
            Ok(StoreKind::Embedded(PathBuf::from(DEFAULT_EMBEDDED_PATH)))
        }
    }
}

fn dynamo_kind(env: &dyn EnvSource) -> Result<StoreKind, ConfigError> {
    let create_tables = match env
        .get(vars::MINIAPP_CREATE_TABLES)
        .as_deref()
        .map(str::trim)
    {
        None | Some("false") => false,
        Some("true") => true,
        Some(v) => {
            return Err(invalid(
                vars::MINIAPP_CREATE_TABLES,
                format!("{v:?} is neither true nor false"),
            ))
        }
    };
    // Without a region the SDK would ask instance metadata for one: a network probe at every
    // cold start outside AWS (Lambda always sets AWS_REGION).
    if env.get(vars::AWS_REGION).is_none() && env.get(vars::AWS_DEFAULT_REGION).is_none() {
        return Err(ConfigError::Missing(vars::AWS_REGION));
    }
    Ok(StoreKind::Dynamo {
        sessions_table: required(env, vars::SESSIONS_TABLE)?,
        data_table: required(env, vars::DATA_TABLE)?,
        create_tables,
    })
}

/// What the session function needs on top of [`CommonConfig`].
#[derive(Debug)]
pub struct SessionConfig {
    /// What both functions need.
    pub common: CommonConfig,
    /// The Alipay client's configuration.
    pub alipay: AlipayConfig,
}

impl SessionConfig {
    /// Reads the session function's variables.
    pub fn from_env(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        let app_id = required(env, vars::ALIPAY_APP_ID)?;
        let private = required(env, vars::ALIPAY_APP_PRIVATE_KEY)?;
        let app_private_key = AppPrivateKey::parse(&private, vars::ALIPAY_APP_PRIVATE_KEY)
            .map_err(|e| invalid(vars::ALIPAY_APP_PRIVATE_KEY, e.to_string()))?;
        let public = required(env, vars::ALIPAY_PUBLIC_KEY)?;
        let alipay_public_key = AlipayPublicKey::parse(&public, vars::ALIPAY_PUBLIC_KEY)
            .map_err(|e| invalid(vars::ALIPAY_PUBLIC_KEY, e.to_string()))?;
        let gateway_url = env
            .get(vars::ALIPAY_GATEWAY_URL)
            .unwrap_or_else(|| DEFAULT_GATEWAY_URL.to_owned());
        let timeout_ms = match env.get(vars::ALIPAY_TIMEOUT_MS) {
            None => 5000,
            Some(v) => match v.trim().parse::<u64>() {
                Ok(n) if (1..=120_000).contains(&n) => n,
                _ => {
                    return Err(invalid(
                        vars::ALIPAY_TIMEOUT_MS,
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const KEYS: &str = "k1:Zmlyc3Qta2V5LW9mLWF0LWxlYXN0LTMyLWJ5dGVzLWxvbmchISE=";

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k: &str| map.get(k).cloned()
    }

    #[test]
    fn defaults() {
        let c = CommonConfig::from_env(&env(&[("MINIAPP_TOKEN_KEYS", KEYS)])).unwrap();
        assert_eq!((c.credential_ttl_secs, c.session_ttl_secs), (3600, 604_800));
        assert_eq!(
            c.store.kind,
            StoreKind::Embedded(DEFAULT_EMBEDDED_PATH.into())
        );
    }

    #[test]
    fn dynamodb_when_tables_are_set() {
        let e = env(&[
            ("MINIAPP_TOKEN_KEYS", KEYS),
            ("SESSIONS_TABLE", "s"),
            ("DATA_TABLE", "d"),
            ("AWS_REGION", "us-east-1"),
            ("MINIAPP_CREATE_TABLES", "true"),
        ]);
        let c = CommonConfig::from_env(&e).unwrap();
        let want = StoreKind::Dynamo {
            sessions_table: "s".into(),
            data_table: "d".into(),
            create_tables: true,
        };
        assert_eq!(c.store.kind, want);
    }

    #[test]
    fn one_rule_chooses_the_store() {
        let choice = |pairs: &[(&str, &str)]| store_choice(&env(pairs));
        assert_eq!(choice(&[]), Ok(StoreChoice::EmbeddedDefault));
        assert_eq!(
            choice(&[("SESSIONS_TABLE", "s")]),
            Ok(StoreChoice::DynamoDb)
        );
        let endpoint = ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:5000");
        assert_eq!(choice(&[endpoint]), Ok(StoreChoice::DynamoDb));
        assert_eq!(
            choice(&[("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")]),
            Ok(StoreChoice::DynamoDb)
        );
        assert_eq!(
            choice(&[endpoint, ("MINIAPP_STORE", "embedded:/x/d.db")]),
            Ok(StoreChoice::Embedded("/x/d.db".into()))
        );
        assert_eq!(
            choice(&[("MINIAPP_STORE", " dynamodb ")]),
            Ok(StoreChoice::DynamoDb)
        );
        assert_eq!(
            dynamodb_endpoint(&env(&[endpoint, ("AWS_ENDPOINT_URL", "http://other")])).as_deref(),
            Some("http://127.0.0.1:5000")
        );
    }

    #[test]
    fn each_bad_variable_is_named() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[], "MINIAPP_TOKEN_KEYS"),
            (
                &[("MINIAPP_TOKEN_KEYS", "k1:c2hvcnQ=")],
                "MINIAPP_TOKEN_KEYS",
            ),
            (
                &[
                    ("MINIAPP_TOKEN_KEYS", KEYS),
                    ("MINIAPP_CREDENTIAL_TTL_SECS", "0"),
                ],
                "MINIAPP_CREDENTIAL_TTL_SECS",
            ),
            (
                &[
                    ("MINIAPP_TOKEN_KEYS", KEYS),
                    ("MINIAPP_SESSION_TTL_SECS", "1h"),
                ],
                "MINIAPP_SESSION_TTL_SECS",
            ),
            (
                &[("MINIAPP_TOKEN_KEYS", KEYS), ("MINIAPP_STORE", "redis")],
                "MINIAPP_STORE",
            ),
            (
                &[("MINIAPP_TOKEN_KEYS", KEYS), ("MINIAPP_STORE", "embedded:")],
                "MINIAPP_STORE",
            ),
            (
                &[
                    ("MINIAPP_TOKEN_KEYS", KEYS),
                    ("MINIAPP_STORE", "dynamodb"),
                    ("AWS_REGION", "x"),
                ],
                "SESSIONS_TABLE",
            ),
            (
                &[
                    ("MINIAPP_TOKEN_KEYS", KEYS),
                    ("SESSIONS_TABLE", "s"),
                    ("DATA_TABLE", "d"),
                ],
                "AWS_REGION",
            ),
            (
                &[
                    ("MINIAPP_TOKEN_KEYS", KEYS),
                    ("SESSIONS_TABLE", "s"),
                    ("DATA_TABLE", "d"),
                    ("AWS_REGION", "x"),
                    ("MINIAPP_CREATE_TABLES", "yes"),
                ],
                "MINIAPP_CREATE_TABLES",
            ),
        ];
        for (pairs, var) in cases {
            let err = CommonConfig::from_env(&env(pairs)).unwrap_err().to_string();
            assert!(err.contains(var), "{err} should name {var}");
        }
    }

    #[test]
    fn session_variables() {
        let key =
            std::fs::read_to_string("tests/fixtures/alipay/keys/app_private_pkcs8.b64").unwrap();
        let public =
            std::fs::read_to_string("tests/fixtures/alipay/keys/gateway_public_spki.b64").unwrap();
        let base = [
            ("MINIAPP_TOKEN_KEYS", KEYS),
            ("ALIPAY_APP_ID", "2021000000000001"),
            ("ALIPAY_APP_PRIVATE_KEY", key.trim()),
            ("ALIPAY_PUBLIC_KEY", public.trim()),
        ];
        let c = SessionConfig::from_env(&env(&base)).unwrap();
        assert_eq!(c.alipay.gateway_url, DEFAULT_GATEWAY_URL);
        assert_eq!(c.alipay.timeout, Duration::from_millis(5000));
        for (var, bad) in [
            ("ALIPAY_APP_PRIVATE_KEY", "not a key"),
            ("ALIPAY_PUBLIC_KEY", "MIIB"),
            ("ALIPAY_TIMEOUT_MS", "0"),
        ] {
            let mut pairs: Vec<(&str, &str)> =
                base.iter().copied().filter(|(k, _)| *k != var).collect();
            pairs.push((var, bad));
            let err = SessionConfig::from_env(&env(&pairs))
                .unwrap_err()
                .to_string();
            assert!(err.contains(var), "{err}");
            assert!(!err.contains(key.trim()), "key material never echoed");
        }
        let without: Vec<(&str, &str)> = base
            .iter()
            .copied()
            .filter(|(k, _)| *k != "ALIPAY_APP_ID")
            .collect();
        assert_eq!(
            SessionConfig::from_env(&env(&without)).unwrap_err(),
            ConfigError::Missing("ALIPAY_APP_ID")
        );
    }
}
