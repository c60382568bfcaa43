//! HTTP-server mode's bounds on what clients can make the process hold (docs/api.md §6), read
//! from the environment once at start.

use std::time::Duration;

use thiserror::Error;

use crate::config::vars;

/// Default of [`vars::MINIAPP_REQUEST_READ_TIMEOUT_SECS`].
pub const DEFAULT_REQUEST_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Default of [`vars::MINIAPP_MAX_CONNECTIONS`]: with bodies of at most 256 KiB read into
/// buffers that grow as bytes arrive, stalled clients hold well under 300 KiB each.
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;

/// A limit variable that does not parse.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{var}={value:?}: {why}")]
pub struct LimitError {
    /// The variable.
    pub var: &'static str,
    /// Its value.
    pub value: String,
    /// What it should be.
    pub why: &'static str,
}

/// The bounds one server applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// How long a client has to send a request's body once its head arrived.
    pub request_read_timeout: Duration,
    /// Most connections open at once; one request at a time each, so also the in-flight cap.
    pub max_connections: usize,
    /// Whether `x-fc-request-id` may become the request id.
    pub trust_fc_request_id: bool,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            request_read_timeout: DEFAULT_REQUEST_READ_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            trust_fc_request_id: false,
        }
    }
}

impl ServerLimits {
    /// The limits from `lookup` (unset or empty: the default).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, LimitError> {
        let get = |var: &'static str| {
            lookup(var)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .map(|v| (var, v))
        };
        let mut limits = Self::default();
        if let Some((var, v)) = get(vars::MINIAPP_REQUEST_READ_TIMEOUT_SECS) {
            let secs = positive(var, &v)?;
            limits.request_read_timeout = Duration::from_secs(secs);
        }
        if let Some((var, v)) = get(vars::MINIAPP_MAX_CONNECTIONS) {
            limits.max_connections = usize::try_from(positive(var, &v)?).unwrap_or(usize::MAX);
        }
        if let Some((var, v)) = get(vars::MINIAPP_TRUST_FC_REQUEST_ID) {
            limits.trust_fc_request_id = match v.as_str() {
                "true" => true,
                "false" => false,
                _ => {
                    return Err(LimitError {
                        var,
                        value: v,
                        why: "must be true or false",
                    })
                }
            };
        }
        Ok(limits)
    }
}

fn positive(var: &'static str, v: &str) -> Result<u64, LimitError> {
    v.parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| LimitError {
            var,
            value: v.to_owned(),
            why: "must be a whole number above 0",
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(vars: &[(&str, &str)]) -> Result<ServerLimits, LimitError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        ServerLimits::from_lookup(|name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn defaults_and_overrides() {
        assert_eq!(limits(&[]), Ok(ServerLimits::default()));
        let l = limits(&[
            ("MINIAPP_REQUEST_READ_TIMEOUT_SECS", "2"),
            ("MINIAPP_MAX_CONNECTIONS", " 10 "),
            ("MINIAPP_TRUST_FC_REQUEST_ID", "true"),
        ])
        .unwrap();
        assert_eq!(l.request_read_timeout, Duration::from_secs(2));
        assert_eq!(l.max_connections, 10);
        assert!(l.trust_fc_request_id);
        for bad in [
            ("MINIAPP_REQUEST_READ_TIMEOUT_SECS", "0"),
            ("MINIAPP_MAX_CONNECTIONS", "-1"),
            ("MINIAPP_TRUST_FC_REQUEST_ID", "yes"),
        ] {
            let e = limits(&[bad]).unwrap_err();
            assert_eq!(e.var, bad.0);
        }
    }
}
