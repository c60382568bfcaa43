//! Where the functions keep their data and which Alipay gateway and WeChat API they talk to, decided from the
//! environment and the template; anything not on this machine is refused unless allowed.

use std::net::IpAddr;

use miniapp_shared::config::{dynamodb_endpoint, store_choice, vars, StoreChoice};

use super::env_file::{non_empty, EnvVars};
use super::DevError;
use crate::state_dir::StateDir;
use crate::template::Template;

/// Where the functions keep their data under `miniapp dev`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum DevStore {
    /// One SQLite file shared by both functions.
    Embedded(String),
    /// DynamoDB at `endpoint` (`None`: real AWS, only with --allow-remote).
    DynamoDb { endpoint: Option<String> },
}

/// Which Alipay gateway the session function talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum GatewayMode {
    /// The built-in stand-in (started later, on a loopback port).
    Standin,
    /// A gateway the user named.
    Real(String),
}

/// Chooses the store and gateway from the environment and template, refusing remote ones.
pub(super) fn decide_modes(
    env: &EnvVars,
    template: &Template,
    state: &StateDir,
    allow_remote: bool,
) -> Result<(DevStore, GatewayMode), DevError> {
    let store = decide_store(env, state, allow_remote)?;
    let gateway = match explicit_url(env, template, vars::ALIPAY_GATEWAY_URL) {
        Some(url) => {
            check_local("the Alipay gateway", &url, allow_remote)?;
            GatewayMode::Real(url)
        }
        None => GatewayMode::Standin,
    };
    Ok((store, gateway))
}

/// Where WeChat's API is: `WECHAT_API_URL` when given (loopback unless allowed), else the
/// built-in stand-in.
pub(super) fn decide_wechat(
    env: &EnvVars,
    template: &Template,
    allow_remote: bool,
) -> Result<GatewayMode, DevError> {
    match explicit_url(env, template, vars::WECHAT_API_URL) {
        Some(url) => {
            check_local("the WeChat API", &url, allow_remote)?;
            Ok(GatewayMode::Real(url))
        }
        None => Ok(GatewayMode::Standin),
    }
}

/// The shared store rule ([`store_choice`], as the functions apply it), with the default file
/// in the state folder and remote DynamoDB refused unless allowed.
fn decide_store(env: &EnvVars, state: &StateDir, allow_remote: bool) -> Result<DevStore, DevError> {
    let lookup = |name: &str| env.get(name).cloned();
    match store_choice(&lookup)? {
        StoreChoice::Embedded(path) => Ok(DevStore::Embedded(path.display().to_string())),
        StoreChoice::EmbeddedDefault => {
            Ok(DevStore::Embedded(state.store_path().display().to_string()))
        }
        StoreChoice::DynamoDb => {
            let endpoint = dynamodb_endpoint(&lookup);
            match &endpoint {
                Some(url) => check_local("the DynamoDB endpoint", url, allow_remote)?,
                None if !allow_remote => return Err(DevError::RemoteDynamoDb),
                None => {}
            }
            Ok(DevStore::DynamoDb { endpoint })
        }
    }
}

/// `var` (a gateway or API URL) from the environment, or from a parameter the user overrode.
fn explicit_url(env: &EnvVars, template: &Template, var: &str) -> Option<String> {
    if let Some(url) = non_empty(env, var) {
        return Some(url.to_owned());
    }
    template
        .functions
        .iter()
        .filter_map(|f| f.env.get(var))
        .find(|v| v.from_override && !v.value.is_empty())
        .map(|v| v.value.clone())
}

/// Refuses a URL whose host is not loopback, unless allowed.
fn check_local(what: &'static str, url: &str, allow_remote: bool) -> Result<(), DevError> {
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
fn is_loopback_url(url: &str) -> bool {
    let Ok(uri) = url.parse::<http::Uri>() else {
        return false;
    };
    let Some(host) = uri.host() else { return false };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::dev::fixtures::template;

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

    fn modes(env: &[(&str, &str)], allow: bool) -> Result<(DevStore, GatewayMode), DevError> {
        let env: EnvVars = env
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
        assert_eq!(store, DevStore::Embedded("/s/data.db".into()));
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
            DevStore::DynamoDb {
                endpoint: Some("http://127.0.0.1:5000".into())
            }
        );
        Ok(())
    }

    #[test]
    fn the_shared_store_rule_applies() {
        assert!(matches!(
            modes(&[("SESSIONS_TABLE", "Sessions")], false),
            Err(DevError::RemoteDynamoDb)
        ));
        let e = modes(&[("MINIAPP_STORE", "postgres")], false);
        assert!(matches!(e, Err(DevError::Config(_))), "{e:?}");
        assert_eq!(e.err().map(|e| e.exit_code()), Some(2));
        assert!(matches!(
            modes(&[("MINIAPP_STORE", "embedded:/tmp/x.db")], false),
            Ok((DevStore::Embedded(p), _)) if p == "/tmp/x.db"
        ));
    }
}
