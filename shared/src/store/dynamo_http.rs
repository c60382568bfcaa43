//! The one HTTP connector of the DynamoDB store: the SDK client, the direct read
//! (`dynamo_direct.rs`) and aws-config's credential providers (`aws_env.rs`) send through the
//! same keep-alive pool (`aws_http.rs`, with the process's TLS configuration).
//!
//! Why one: a connector per way kept a pool per way, so a process under mixed load held two
//! sets of connections to the same endpoint (docs/benchmarks.md, "Cold starts: the trust store
//! read once").

use aws_smithy_runtime_api::client::http::SharedHttpConnector;

use super::dynamo::CONNECT_TIMEOUT;
use crate::aws_http::{AwsConnector, PoolSettings};

/// DynamoDB closes idle connections after about a minute; reusing one it closed costs a retry.
const POOL_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(50);

/// The store's connector: keep-alive HTTP/1.1, rustls with aws-lc-rs and the process's roots.
pub(super) fn connector() -> SharedHttpConnector {
    AwsConnector::shared(PoolSettings {
        connect_timeout: CONNECT_TIMEOUT,
        idle_timeout: POOL_IDLE_TIMEOUT,
    })
}
