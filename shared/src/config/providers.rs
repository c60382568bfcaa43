//! The login providers' variables: Alipay (public-key or certificate mode) and WeChat. A
//! deployment configures either or both; what is set decides, and a half-configured provider
//! is an error naming the missing variable.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{invalid, required, vars, ConfigError, EnvSource, DEFAULT_GATEWAY_URL};
use crate::alipay::{
    AlipayCertificates, AlipayConfig, AlipayPublicKey, AlipayVerification, AppPrivateKey,
    CertError, CertificateTexts,
};
use crate::secret::SecretString;
use crate::wechat::{WechatConfig, DEFAULT_API_URL};

/// The variables whose presence enables Alipay (the gateway URL and timeout have defaults,
/// so a template may always set them).
const ALIPAY_ENABLING: [&str; 6] = [
    vars::ALIPAY_APP_ID,
    vars::ALIPAY_APP_PRIVATE_KEY,
    vars::ALIPAY_PUBLIC_KEY,
    vars::ALIPAY_APP_CERT,
    vars::ALIPAY_PUBLIC_CERT,
    vars::ALIPAY_ROOT_CERT,
];

/// The variables whose presence enables WeChat.
const WECHAT_ENABLING: [&str; 2] = [vars::WECHAT_APP_ID, vars::WECHAT_APP_SECRET];

/// Every variable [`alipay`] and [`wechat`] read: what a snapshot for another thread must hold
/// (`config::tests::the_providers_snapshot_holds_every_variable_they_read` checks it).
pub(super) fn vars() -> impl Iterator<Item = &'static str> {
    const WITH_DEFAULTS: [&str; 5] = [
        vars::ALIPAY_GATEWAY_URL,
        vars::ALIPAY_TIMEOUT_MS,
        vars::WECHAT_API_URL,
        vars::WECHAT_TIMEOUT_MS,
        // Packaged certificate paths are relative to it.
        vars::LAMBDA_TASK_ROOT,
    ];
    ALIPAY_ENABLING
        .into_iter()
        .chain(WECHAT_ENABLING)
        .chain(WITH_DEFAULTS)
}

const BOTH_MODES: &str = "set either ALIPAY_PUBLIC_KEY (public-key mode) or ALIPAY_APP_CERT, \
     ALIPAY_PUBLIC_CERT and ALIPAY_ROOT_CERT (certificate mode), not both";
const NO_MODE: &str = "Alipay needs ALIPAY_PUBLIC_KEY (public-key mode) or ALIPAY_APP_CERT, \
     ALIPAY_PUBLIC_CERT and ALIPAY_ROOT_CERT (certificate mode); none of them is set";

fn any_set(env: &dyn EnvSource, names: &[&str]) -> bool {
    names.iter().any(|name| env.get(name).is_some())
}

/// Alipay's configuration, or `None` when no Alipay variable is set.
pub(super) fn alipay(env: &dyn EnvSource) -> Result<Option<AlipayConfig>, ConfigError> {
    if !any_set(env, &ALIPAY_ENABLING) {
        return Ok(None);
    }
    let app_id = required(env, vars::ALIPAY_APP_ID)?;
    let private = required(env, vars::ALIPAY_APP_PRIVATE_KEY)?;
    let app_private_key = AppPrivateKey::parse(&private, vars::ALIPAY_APP_PRIVATE_KEY)
        .map_err(|e| invalid(vars::ALIPAY_APP_PRIVATE_KEY, e.to_string()))?;
    Ok(Some(AlipayConfig {
        app_id,
        app_private_key,
        verification: alipay_verification(env)?,
        gateway_url: upstream_url(env, vars::ALIPAY_GATEWAY_URL, DEFAULT_GATEWAY_URL)?,
        timeout: timeout(env, vars::ALIPAY_TIMEOUT_MS)?,
    }))
}

/// Public-key mode with `ALIPAY_PUBLIC_KEY`, certificate mode with the three certificates
/// (their SNs computed here, once); both or neither is an error naming the variables.
fn alipay_verification(env: &dyn EnvSource) -> Result<AlipayVerification, ConfigError> {
    let key = env.get(vars::ALIPAY_PUBLIC_KEY);
    let cert_mode = any_set(env, &vars::ALIPAY_CERTS);
    match (key, cert_mode) {
        (Some(_), true) => Err(ConfigError::Conflict(BOTH_MODES)),
        (None, false) => Err(ConfigError::Conflict(NO_MODE)),
        (Some(key), false) => AlipayPublicKey::parse(&key, vars::ALIPAY_PUBLIC_KEY)
            .map(AlipayVerification::PublicKey)
            .map_err(|e| invalid(vars::ALIPAY_PUBLIC_KEY, e.to_string())),
        (None, true) => {
            let app = cert_text(env, vars::ALIPAY_APP_CERT)?;
            let alipay = cert_text(env, vars::ALIPAY_PUBLIC_CERT)?;
            let root = cert_text(env, vars::ALIPAY_ROOT_CERT)?;
            let certs = AlipayCertificates::from_pem(CertificateTexts {
                app_cert: (&app, vars::ALIPAY_APP_CERT),
                alipay_cert: (&alipay, vars::ALIPAY_PUBLIC_CERT),
                root_cert: (&root, vars::ALIPAY_ROOT_CERT),
            })
            .map_err(cert_error)?;
            Ok(AlipayVerification::Certificates(certs))
        }
    }
}

/// A certificate variable's PEM text; a value that is not PEM is the path of a file holding
/// it, because the three certificates (about 8 KB) exceed the 4 KB that Lambda and Function
/// Compute allow for all environment variables together. A relative path is read from the
/// deployment package (`LAMBDA_TASK_ROOT`) when there is one: `make build-SessionFunction`
/// packages `alipay-certs/*.crt` there (docs/api.md §7).
fn cert_text(env: &dyn EnvSource, var: &'static str) -> Result<String, ConfigError> {
    let value = required(env, var)?;
    if value.contains("-----BEGIN") {
        return Ok(value);
    }
    let path = cert_path(env, value.trim());
    std::fs::read_to_string(&path).map_err(|e| {
        invalid(
            var,
            format!("is neither PEM text nor a readable file {path:?} ({e})"),
        )
    })
}

fn cert_path(env: &dyn EnvSource, value: &str) -> PathBuf {
    let path = Path::new(value);
    match env.get(vars::LAMBDA_TASK_ROOT) {
        Some(root) if path.is_relative() => Path::new(root.trim()).join(path),
        _ => path.to_path_buf(),
    }
}

fn cert_error(e: CertError) -> ConfigError {
    let CertError::Malformed { var, reason } = e;
    let var = vars::ALIPAY_CERTS
        .into_iter()
        .find(|name| *name == var)
        .unwrap_or(vars::ALIPAY_PUBLIC_CERT);
    invalid(var, reason)
}

/// WeChat's configuration, or `None` when neither its app id nor its secret is set.
pub(super) fn wechat(env: &dyn EnvSource) -> Result<Option<WechatConfig>, ConfigError> {
    if !any_set(env, &WECHAT_ENABLING) {
        return Ok(None);
    }
    Ok(Some(WechatConfig {
        app_id: required(env, vars::WECHAT_APP_ID)?.trim().to_owned(),
        app_secret: SecretString::new(required(env, vars::WECHAT_APP_SECRET)?.trim().to_owned()),
        api_url: upstream_url(env, vars::WECHAT_API_URL, DEFAULT_API_URL)?,
        timeout: timeout(env, vars::WECHAT_TIMEOUT_MS)?,
    }))
}

/// An upstream's URL: `https`, or plain `http` to a loopback address only (the stand-ins of
/// tests and `miniapp dev`). WeChat's answers are not signed, so over plain HTTP anyone on the
/// path could log in as any WeChat user.
fn upstream_url(
    env: &dyn EnvSource,
    var: &'static str,
    default: &str,
) -> Result<String, ConfigError> {
    let value = env.get(var).unwrap_or_else(|| default.to_owned());
    let url = reqwest::Url::parse(value.trim())
        .map_err(|e| invalid(var, format!("is not a URL ({e})")))?;
    let host = url.host_str().unwrap_or_default();
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => Ok(value.trim().to_owned()),
        "http" if loopback => Ok(value.trim().to_owned()),
        _ => Err(invalid(
            var,
            "must be an https URL (plain http only to a loopback address)".to_owned(),
        )),
    }
}

/// A call's timeout in milliseconds, 1..=120000, default 5000.
fn timeout(env: &dyn EnvSource, var: &'static str) -> Result<Duration, ConfigError> {
    let ms = match env.get(var) {
        None => 5000,
        Some(v) => match v.trim().parse::<u64>() {
            Ok(n) if (1..=120_000).contains(&n) => n,
            _ => {
                return Err(invalid(
                    var,
                    format!("{v:?} is not a number of milliseconds between 1 and 120000"),
                ))
            }
        },
    };
    Ok(Duration::from_millis(ms))
}
