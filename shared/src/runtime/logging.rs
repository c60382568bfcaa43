//! JSON log lines on stdout (one object per line, what Lambda and Function Compute collect),
//! and the one access line per request that both modes write.
//!
//! The access line carries facts only: never headers, bodies, tokens or signatures.

use std::time::Duration;

use http::Method;
use tracing_subscriber::filter::{LevelFilter, Targets};

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::vars;
use crate::http::Response;

/// Installs the JSON subscriber: level from `RUST_LOG`, `info` when unset or unparsable.
/// `RUST_LOG` takes a level and `target=level` pairs (`info,access=warn`): a `Targets` filter,
/// not `EnvFilter`, whose span and field directives nobody here uses and whose regex engine was
/// a quarter of a megabyte of every binary.
///
/// A second call (tests that run twice in one process) keeps the first subscriber.
pub fn init() {
    let filter = log_filter(std::env::var(vars::RUST_LOG).ok().as_deref());
    let _already_set = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_ansi(false)
        .with_writer(std::io::stdout)
        .finish()
        .with(filter)
        .try_init();
    install_panic_hook();
}

/// The filter `RUST_LOG` asks for; `info` when it is unset or does not parse.
fn log_filter(rust_log: Option<&str>) -> Targets {
    rust_log
        .and_then(|v| v.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO))
}

/// Replaces the default panic printout (plain text on stderr, with a backtrace hint) by one
/// JSON error line, so a handler panic shows up in the same log stream as everything else.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "non-string panic payload".to_owned());
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        tracing::error!(%location, panic = %payload, "handler panicked");
    }));
}

/// What the access line needs to know about the request (taken before the handler consumes it).
#[derive(Debug, Clone)]
pub struct AccessInfo {
    /// The function's name, as given to [`crate::runtime::run`].
    pub function: &'static str,
    /// The request id the handler saw.
    pub request_id: String,
    /// The request method.
    pub method: Method,
}

/// Writes the single access line for a handled request.
pub fn access(info: &AccessInfo, response: &Response, latency: Duration) {
    let log = &response.log;
    tracing::info!(
        target: "access",
        function = info.function,
        request_id = %info.request_id,
        method = %info.method,
        route = log.route.unwrap_or("unmatched"),
        status = response.status.as_u16(),
        latency_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
        user = log.user_hash.as_deref(),
        error = log.error_code,
        "request"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn rust_log_levels_and_targets() {
        let f = log_filter(Some("info,access=warn"));
        assert!(f.would_enable("miniapp_shared::api", &Level::INFO));
        assert!(!f.would_enable("access", &Level::INFO));
        assert!(f.would_enable("access", &Level::WARN));
        assert!(!f.would_enable("miniapp_shared::api", &Level::DEBUG));
        let debug = log_filter(Some("debug"));
        assert!(debug.would_enable("aws_smithy_runtime", &Level::DEBUG));
        for unset_or_bad in [None, Some("loud=very,,=")] {
            let f = log_filter(unset_or_bad);
            assert!(f.would_enable("x", &Level::INFO), "{unset_or_bad:?}");
            assert!(!f.would_enable("x", &Level::DEBUG), "{unset_or_bad:?}");
        }
    }
}
