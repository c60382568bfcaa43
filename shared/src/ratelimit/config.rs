//! The rate-limit variables (docs/api.md §7), read once at start.

use super::bucket::Rate;
use crate::config::{vars, ConfigError, EnvSource};

/// Default of [`vars::MINIAPP_RATE_USER`]: 10 requests a second, bursts of 100.
pub const DEFAULT_USER: &str = "10/1:100";
/// Default of [`vars::MINIAPP_RATE_ADDRESS`]: 100 requests a second, bursts of 1000 (many
/// users may share one address behind carrier-grade NAT).
pub const DEFAULT_ADDRESS: &str = "100/1:1000";
/// Default of [`vars::MINIAPP_RATE_SESSION_CREATE`]: 5 log-ins a second, bursts of 50.
pub const DEFAULT_SESSION_CREATE: &str = "5/1:50";

/// Largest number of requests, seconds or burst a rate may name.
const MAX_NUMBER: u32 = 1_000_000;

/// Which limits apply, and how a client's address is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// False when `MINIAPP_RATE_LIMITS=off`: no limit applies.
    pub enabled: bool,
    /// Per authenticated user, every signed route.
    pub user: Rate,
    /// Per client address, every route.
    pub address: Rate,
    /// Per client address, `POST /session` only (on top of `address`).
    pub session_create: Rate,
    /// HTTP-server mode behind Function Compute: the client address is the first entry of
    /// `x-forwarded-for` (the socket peer is Function Compute's front end).
    pub trust_forwarded_for: bool,
}

impl RateLimitConfig {
    /// Reads the variables; a malformed one is an error naming it.
    pub fn from_env(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        let enabled = match env.get(vars::MINIAPP_RATE_LIMITS).as_deref().map(str::trim) {
            None | Some("on") => true,
            Some("off") => false,
            Some(v) => {
                return Err(invalid(
                    vars::MINIAPP_RATE_LIMITS,
                    format!("{v:?} is neither on nor off"),
                ))
            }
        };
        // Lambda mode's address comes from the event, never from a header.
        let lambda = env.get(vars::AWS_LAMBDA_RUNTIME_API).is_some();
        let trust_forwarded_for = match env
            .get(vars::MINIAPP_TRUST_FC_FORWARDED_FOR)
            .as_deref()
            .map(str::trim)
        {
            None | Some("false") => false,
            Some("true") => !lambda,
            Some(v) => {
                return Err(invalid(
                    vars::MINIAPP_TRUST_FC_FORWARDED_FOR,
                    format!("{v:?} is neither true nor false"),
                ))
            }
        };
        Ok(Self {
            enabled,
            user: rate(env, vars::MINIAPP_RATE_USER, DEFAULT_USER)?,
            address: rate(env, vars::MINIAPP_RATE_ADDRESS, DEFAULT_ADDRESS)?,
            session_create: rate(
                env,
                vars::MINIAPP_RATE_SESSION_CREATE,
                DEFAULT_SESSION_CREATE,
            )?,
            trust_forwarded_for,
        })
    }
}

fn invalid(var: &'static str, reason: String) -> ConfigError {
    ConfigError::Invalid { var, reason }
}

fn rate(env: &dyn EnvSource, var: &'static str, default: &str) -> Result<Rate, ConfigError> {
    let value = env.get(var);
    let text = value.as_deref().unwrap_or(default).trim();
    parse_rate(text).ok_or_else(|| {
        invalid(
            var,
            format!(
                "{text:?} is not <requests>/<seconds> or <requests>/<seconds>:<burst> \
                 with whole numbers from 1 to {MAX_NUMBER}, e.g. {default}"
            ),
        )
    })
}

/// `<requests>/<seconds>` (a burst of `<requests>`) or `<requests>/<seconds>:<burst>`.
pub fn parse_rate(text: &str) -> Option<Rate> {
    let (rate, burst) = match text.split_once(':') {
        Some((rate, burst)) => (rate, Some(burst)),
        None => (text, None),
    };
    let (requests, seconds) = rate.split_once('/')?;
    let number = |s: &str| {
        let s = s.trim();
        // `parse` takes a leading `+`; a rate does not.
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_NUMBER).contains(n))
    };
    let requests = number(requests)?;
    let burst = match burst {
        Some(b) => number(b)?,
        None => requests,
    };
    Rate::new(requests, number(seconds)?, burst)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<RateLimitConfig, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        RateLimitConfig::from_env(&move |k: &str| map.get(k).cloned())
    }

    #[test]
    fn rates_parse() {
        assert_eq!(parse_rate("10/1:100"), Rate::new(10, 1, 100));
        assert_eq!(parse_rate("600/60"), Rate::new(600, 60, 600));
        assert_eq!(parse_rate(" 3 / 2 : 4 "), Rate::new(3, 2, 4));
        for bad in [
            "",
            "10",
            "10/",
            "/1",
            "0/1",
            "1/0",
            "1/1:0",
            "1/1:",
            "-1/1",
            "+1/1",
            "1.5/1",
            "1/1:2:3",
            "2000000/1",
            "ten/1",
            "1//1",
        ] {
            assert_eq!(parse_rate(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn defaults_and_switches() {
        let c = config(&[]).unwrap();
        assert!(c.enabled && !c.trust_forwarded_for);
        assert_eq!(c.user, Rate::new(10, 1, 100).unwrap());
        assert_eq!(c.address, Rate::new(100, 1, 1000).unwrap());
        assert_eq!(c.session_create, Rate::new(5, 1, 50).unwrap());
        assert!(!config(&[("MINIAPP_RATE_LIMITS", "off")]).unwrap().enabled);
        assert!(config(&[("MINIAPP_RATE_LIMITS", "on")]).unwrap().enabled);
        let fc = [("MINIAPP_TRUST_FC_FORWARDED_FOR", "true")];
        assert!(config(&fc).unwrap().trust_forwarded_for);
        let lambda = [fc[0], ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")];
        assert!(
            !config(&lambda).unwrap().trust_forwarded_for,
            "Lambda mode never reads the header"
        );
    }

    #[test]
    fn each_bad_variable_is_named() {
        for (var, bad) in [
            ("MINIAPP_RATE_LIMITS", "false"),
            ("MINIAPP_RATE_USER", "10"),
            ("MINIAPP_RATE_ADDRESS", "0/1"),
            ("MINIAPP_RATE_SESSION_CREATE", "5/1:x"),
            ("MINIAPP_TRUST_FC_FORWARDED_FOR", "yes"),
        ] {
            let err = config(&[(var, bad)]).unwrap_err().to_string();
            assert!(err.contains(var), "{err} names {var}");
        }
    }
}
