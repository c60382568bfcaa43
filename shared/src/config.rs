//! Configuration (docs/api.md §7), read once at start into typed values; the variables' names
//! are in [`vars`], the store-choice rule shared with `miniapp dev` is [`store_choice`].
//!
//! A missing or malformed variable is one clear error naming it; key material is never echoed.

#[cfg(feature = "login")]
mod providers;
pub mod vars;

use std::path::PathBuf;

use thiserror::Error;

#[cfg(feature = "login")]
use crate::alipay::AlipayConfig;
use crate::credentials::TokenKeys;
use crate::ratelimit::RateLimitConfig;
use crate::store::{StoreConfig, StoreKind};
#[cfg(feature = "login")]
use crate::wechat::WechatConfig;

/// What cursor keys are derived from the token keys with.
const CURSOR_KEY_LABEL: &[u8] = b"miniapp-cursor-v1";

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
    /// Variables that are set together wrongly (e.g. both Alipay modes, or neither).
    #[error("configuration: {0}")]
    Conflict(&'static str),
}

#[cfg(feature = "login")]
const NO_PROVIDER: &str = "no login provider is configured: set ALIPAY_APP_ID, \
     ALIPAY_APP_PRIVATE_KEY and ALIPAY_PUBLIC_KEY (or ALIPAY_APP_CERT, ALIPAY_PUBLIC_CERT and \
     ALIPAY_ROOT_CERT) for Alipay, or WECHAT_APP_ID and WECHAT_APP_SECRET for WeChat";

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

/// An environment of these variables only, for tests.
#[cfg(test)]
pub(crate) fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: std::collections::HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name: &str| map.get(name).cloned()
}

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
    /// `MINIAPP_REFRESH_GRACE_SECS`: how long after their expiration credentials may still
    /// refresh.
    pub refresh_grace_secs: u64,
    /// The store [`store_choice`] selects, with its variables.
    pub store: StoreConfig,
    /// The rate limits (`MINIAPP_RATE_*`).
    pub rate_limits: RateLimitConfig,
}

impl CommonConfig {
    /// Reads the variables of both functions.
    pub fn from_env(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        let token_keys = TokenKeys::parse(&required(env, vars::MINIAPP_TOKEN_KEYS)?)
            .map_err(|e| invalid(vars::MINIAPP_TOKEN_KEYS, e.to_string()))?;
        let store = StoreConfig {
            kind: store_kind(env)?,
            // Cursors are signed with a key derived from the signing token key, so no extra
            // secret is needed, and verified under the keys derived from every listed one, so a
            // key rotation does not break open listings.
            cursor_key: token_keys.derive_keys(CURSOR_KEY_LABEL),
        };
        Ok(Self {
            token_keys,
            credential_ttl_secs: positive_secs(env, vars::MINIAPP_CREDENTIAL_TTL_SECS, 3600)?,
            session_ttl_secs: positive_secs(env, vars::MINIAPP_SESSION_TTL_SECS, 604_800)?,
            refresh_grace_secs: positive_secs(env, vars::MINIAPP_REFRESH_GRACE_SECS, 86_400)?,
            store,
            rate_limits: RateLimitConfig::from_env(env)?,
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

/// What the session function needs on top of [`CommonConfig`]: at least one login provider.
#[cfg(feature = "login")]
#[derive(Debug)]
pub struct SessionConfig {
    /// What both functions need.
    pub common: CommonConfig,
    /// The Alipay client's configuration, when Alipay log-in is configured.
    pub alipay: Option<AlipayConfig>,
    /// The WeChat client's configuration, when WeChat log-in is configured.
    pub wechat: Option<WechatConfig>,
}

#[cfg(feature = "login")]
impl SessionConfig {
    /// Reads the session function's variables.
    pub fn from_env(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        let providers = ProvidersConfig::from_env(env)?;
        Ok(Self::new(CommonConfig::from_env(env)?, providers))
    }

    /// The two halves, read apart (the start-up reads the providers' on another thread).
    pub fn new(common: CommonConfig, providers: ProvidersConfig) -> Self {
        Self {
            common,
            alipay: providers.alipay,
            wechat: providers.wechat,
        }
    }
}

/// The login providers' configuration: at least one of them.
#[cfg(feature = "login")]
#[derive(Debug)]
pub struct ProvidersConfig {
    /// Alipay's, when Alipay log-in is configured.
    pub alipay: Option<AlipayConfig>,
    /// WeChat's, when WeChat log-in is configured.
    pub wechat: Option<WechatConfig>,
}

#[cfg(feature = "login")]
impl ProvidersConfig {
    /// Reads the providers' variables (parsing Alipay's keys and certificates).
    pub fn from_env(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        let alipay = providers::alipay(env)?;
        let wechat = providers::wechat(env)?;
        if alipay.is_none() && wechat.is_none() {
            return Err(ConfigError::Conflict(NO_PROVIDER));
        }
        Ok(Self { alipay, wechat })
    }

    /// The variables [`Self::from_env`] reads, copied out of `env`: for reading them on another
    /// thread (an `EnvSource` need not be `Send`).
    pub fn snapshot(env: &dyn EnvSource) -> impl EnvSource + Send + 'static {
        let values: std::collections::HashMap<&'static str, String> = providers::vars()
            .filter_map(|name| env.get(name).map(|value| (name, value)))
            .collect();
        move |name: &str| values.get(name).cloned()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const KEYS: &str = "k1:Zmlyc3Qta2V5LW9mLWF0LWxlYXN0LTMyLWJ5dGVzLWxvbmchISE=";

    use super::env_of as env;

    #[test]
    fn defaults() {
        let c = CommonConfig::from_env(&env(&[("MINIAPP_TOKEN_KEYS", KEYS)])).unwrap();
        assert_eq!((c.credential_ttl_secs, c.session_ttl_secs), (3600, 604_800));
        assert_eq!(c.refresh_grace_secs, 86_400);
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
                &[
                    ("MINIAPP_TOKEN_KEYS", KEYS),
                    ("MINIAPP_REFRESH_GRACE_SECS", "-1"),
                ],
                "MINIAPP_REFRESH_GRACE_SECS",
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
        let alipay = c.alipay.unwrap();
        assert_eq!(alipay.gateway_url, DEFAULT_GATEWAY_URL);
        assert_eq!(alipay.timeout, Duration::from_millis(5000));
        assert!(matches!(
            alipay.verification,
            crate::alipay::AlipayVerification::PublicKey(_)
        ));
        assert!(c.wechat.is_none());
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

    const APP_CERT: &str =
        include_str!("../tests/fixtures/alipay/certs/appCertPublicKey_2021000000000001.crt");
    const ALIPAY_CERT: &str =
        include_str!("../tests/fixtures/alipay/certs/alipayCertPublicKey_RSA2.crt");
    const ROOT_CERT: &str = include_str!("../tests/fixtures/alipay/certs/alipayRootCert.crt");
    const APP_KEY: &str = include_str!("../tests/fixtures/alipay/keys/app_private_pkcs8.pem");
    const GATEWAY_KEY: &str = include_str!("../tests/fixtures/alipay/keys/gateway_public_spki.pem");

    fn cert_mode() -> Vec<(&'static str, &'static str)> {
        vec![
            ("MINIAPP_TOKEN_KEYS", KEYS),
            ("ALIPAY_APP_ID", "2021000000000001"),
            ("ALIPAY_APP_PRIVATE_KEY", APP_KEY),
            ("ALIPAY_APP_CERT", APP_CERT),
            ("ALIPAY_PUBLIC_CERT", ALIPAY_CERT),
            ("ALIPAY_ROOT_CERT", ROOT_CERT),
        ]
    }

    /// The start-up reads the providers' variables on another thread, from a snapshot: a
    /// variable they read that the snapshot left out would be silently unset there.
    #[test]
    fn the_providers_snapshot_holds_every_variable_they_read() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("root.crt"), ROOT_CERT).unwrap();
        let task_root = root.path().display().to_string();
        let mut cert_paths = cert_mode();
        cert_paths.retain(|(k, _)| *k != "ALIPAY_ROOT_CERT");
        cert_paths.extend([
            ("ALIPAY_ROOT_CERT", "root.crt"),
            ("LAMBDA_TASK_ROOT", &task_root),
        ]);
        let mut key_mode = vec![
            ("ALIPAY_APP_ID", "2021000000000001"),
            ("ALIPAY_APP_PRIVATE_KEY", APP_KEY),
            ("ALIPAY_PUBLIC_KEY", GATEWAY_KEY),
            ("ALIPAY_GATEWAY_URL", "http://127.0.0.1:9/gateway.do"),
            ("ALIPAY_TIMEOUT_MS", "700"),
        ];
        key_mode.extend([
            ("WECHAT_APP_ID", "wx0123456789abcdef"),
            ("WECHAT_APP_SECRET", "0123456789abcdef0123456789abcdef"),
            ("WECHAT_API_URL", "http://127.0.0.1:9"),
            ("WECHAT_TIMEOUT_MS", "800"),
        ]);
        for pairs in [cert_mode(), cert_paths, key_mode] {
            let inner = env(&pairs);
            let asked = std::cell::RefCell::new(std::collections::BTreeSet::new());
            let recording = |name: &str| {
                asked.borrow_mut().insert(name.to_owned());
                inner(name)
            };
            let direct = format!("{:?}", ProvidersConfig::from_env(&recording).unwrap());
            for name in asked.borrow().iter() {
                assert!(providers::vars().any(|v| v == name), "{name} is read");
            }
            let snapshot = ProvidersConfig::snapshot(&inner);
            let via_snapshot = format!("{:?}", ProvidersConfig::from_env(&snapshot).unwrap());
            assert_eq!(direct, via_snapshot);
        }
    }

    #[test]
    fn alipay_certificate_mode_computes_the_sns_at_start() {
        let c = SessionConfig::from_env(&env(&cert_mode())).unwrap();
        match c.alipay.unwrap().verification {
            crate::alipay::AlipayVerification::Certificates(certs) => {
                assert_eq!(certs.app_cert_sn(), "b1742dca6bb58591593d312ef021570e");
                assert_eq!(certs.alipay_cert_sn(), "5d638403648a25c837b8db5dba0e9845");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn alipay_modes_both_neither_or_half_are_errors_naming_the_variables() {
        let mut both = cert_mode();
        both.push(("ALIPAY_PUBLIC_KEY", GATEWAY_KEY));
        let neither: Vec<_> = cert_mode()
            .into_iter()
            .filter(|(k, _)| !k.ends_with("_CERT"))
            .collect();
        for pairs in [both, neither] {
            let err = SessionConfig::from_env(&env(&pairs))
                .unwrap_err()
                .to_string();
            for var in [
                "ALIPAY_PUBLIC_KEY",
                "ALIPAY_APP_CERT",
                "ALIPAY_PUBLIC_CERT",
                "ALIPAY_ROOT_CERT",
            ] {
                assert!(err.contains(var), "{err} names {var}");
            }
        }
        let half: Vec<_> = cert_mode()
            .into_iter()
            .filter(|(k, _)| *k != "ALIPAY_ROOT_CERT")
            .collect();
        assert_eq!(
            SessionConfig::from_env(&env(&half)).unwrap_err(),
            ConfigError::Missing("ALIPAY_ROOT_CERT")
        );
        let mut broken = cert_mode();
        broken.retain(|(k, _)| *k != "ALIPAY_PUBLIC_CERT");
        broken.push(("ALIPAY_PUBLIC_CERT", GATEWAY_KEY));
        let err = SessionConfig::from_env(&env(&broken))
            .unwrap_err()
            .to_string();
        assert!(err.contains("ALIPAY_PUBLIC_CERT"), "{err}");
    }

    #[test]
    fn certificates_may_be_given_as_file_paths() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("alipayRootCert.crt");
        std::fs::write(&root, ROOT_CERT).unwrap();
        let root_path = root.display().to_string();
        let mut pairs = cert_mode();
        pairs.retain(|(k, _)| *k != "ALIPAY_ROOT_CERT");
        pairs.push(("ALIPAY_ROOT_CERT", &root_path));
        assert!(SessionConfig::from_env(&env(&pairs))
            .unwrap()
            .alipay
            .is_some());
        let missing = dir.path().join("absent.crt").display().to_string();
        pairs.retain(|(k, _)| *k != "ALIPAY_ROOT_CERT");
        pairs.push(("ALIPAY_ROOT_CERT", &missing));
        let err = SessionConfig::from_env(&env(&pairs))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ALIPAY_ROOT_CERT") && err.contains("absent.crt"),
            "{err}"
        );
    }

    /// The template's packaged layout: `alipay-certs/<file>` relative to the package root
    /// that Lambda names in `LAMBDA_TASK_ROOT`, whatever the working directory.
    #[test]
    fn relative_certificate_paths_are_read_from_the_task_root() {
        let root = tempfile::tempdir().unwrap();
        let certs = root.path().join("alipay-certs");
        std::fs::create_dir(&certs).unwrap();
        for (name, text) in [
            ("app.crt", APP_CERT),
            ("alipay.crt", ALIPAY_CERT),
            ("root.crt", ROOT_CERT),
        ] {
            std::fs::write(certs.join(name), text).unwrap();
        }
        let task_root = root.path().display().to_string();
        let mut pairs = cert_mode();
        pairs.retain(|(k, _)| !k.ends_with("_CERT"));
        pairs.extend([
            ("ALIPAY_APP_CERT", "alipay-certs/app.crt"),
            ("ALIPAY_PUBLIC_CERT", "alipay-certs/alipay.crt"),
            ("ALIPAY_ROOT_CERT", "alipay-certs/root.crt"),
        ]);
        let without_root = SessionConfig::from_env(&env(&pairs))
            .unwrap_err()
            .to_string();
        assert!(
            without_root.contains("alipay-certs/app.crt"),
            "{without_root}"
        );
        pairs.push(("LAMBDA_TASK_ROOT", &task_root));
        let c = SessionConfig::from_env(&env(&pairs)).unwrap();
        match c.alipay.unwrap().verification {
            crate::alipay::AlipayVerification::Certificates(certs) => {
                assert_eq!(certs.app_cert_sn(), "b1742dca6bb58591593d312ef021570e");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn upstreams_need_https_except_on_loopback() {
        let mut pairs = cert_mode();
        for (url, ok) in [
            ("https://openapi.example/gateway.do", true),
            ("http://127.0.0.1:8080/gateway.do", true),
            ("http://[::1]:8080/gateway.do", true),
            ("http://localhost:9/x", true),
            ("http://openapi.example/gateway.do", false),
            ("http://10.0.0.1/gateway.do", false),
            ("ftp://127.0.0.1/x", false),
            ("not a url", false),
        ] {
            pairs.retain(|(k, _)| *k != "ALIPAY_GATEWAY_URL");
            pairs.push(("ALIPAY_GATEWAY_URL", url));
            let r = SessionConfig::from_env(&env(&pairs));
            assert_eq!(r.is_ok(), ok, "{url}: {r:?}");
            if let Err(e) = r {
                assert!(e.to_string().contains("ALIPAY_GATEWAY_URL"), "{e}");
            }
        }
        let wechat = [
            ("MINIAPP_TOKEN_KEYS", KEYS),
            ("WECHAT_APP_ID", "wx0123456789abcdef"),
            ("WECHAT_APP_SECRET", "s3cr3t-app-secret"),
            ("WECHAT_API_URL", "http://api.weixin.example"),
        ];
        let e = SessionConfig::from_env(&env(&wechat)).unwrap_err();
        assert!(e.to_string().contains("WECHAT_API_URL"), "{e}");
    }

    #[test]
    fn wechat_alone_both_providers_or_none() {
        let wechat = [
            ("MINIAPP_TOKEN_KEYS", KEYS),
            ("WECHAT_APP_ID", "wx0123456789abcdef"),
            ("WECHAT_APP_SECRET", "s3cr3t-app-secret"),
            // Defaults a template sets do not enable Alipay.
            ("ALIPAY_GATEWAY_URL", DEFAULT_GATEWAY_URL),
        ];
        let c = SessionConfig::from_env(&env(&wechat)).unwrap();
        assert!(c.alipay.is_none());
        let w = c.wechat.unwrap();
        assert_eq!(w.api_url, crate::wechat::DEFAULT_API_URL);
        assert_eq!(w.timeout, Duration::from_millis(5000));
        assert!(
            !format!("{w:?}").contains("s3cr3t"),
            "the secret never prints"
        );
        let mut both = cert_mode();
        both.extend_from_slice(&wechat[1..3]);
        let c = SessionConfig::from_env(&env(&both)).unwrap();
        assert!(c.alipay.is_some() && c.wechat.is_some());
        let no_secret = [("MINIAPP_TOKEN_KEYS", KEYS), ("WECHAT_APP_ID", "wx1")];
        assert_eq!(
            SessionConfig::from_env(&env(&no_secret)).unwrap_err(),
            ConfigError::Missing("WECHAT_APP_SECRET")
        );
        let bad_timeout = [
            ("MINIAPP_TOKEN_KEYS", KEYS),
            ("WECHAT_APP_ID", "wx1"),
            ("WECHAT_APP_SECRET", "s"),
            ("WECHAT_TIMEOUT_MS", "0"),
        ];
        let err = SessionConfig::from_env(&env(&bad_timeout)).unwrap_err();
        assert!(err.to_string().contains("WECHAT_TIMEOUT_MS"), "{err}");
        let none = [("MINIAPP_TOKEN_KEYS", KEYS)];
        let err = SessionConfig::from_env(&env(&none))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ALIPAY_APP_ID") && err.contains("WECHAT_APP_ID"),
            "{err}"
        );
    }
}
