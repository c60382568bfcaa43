//! The one HTTP connector of the DynamoDB store: the SDK client, the direct read
//! (`dynamo_direct.rs`) and aws-config's credential providers (`aws_env.rs`) send through the
//! same keep-alive pool and the same TLS set-up, with the roots `trust_roots.rs` reads.
//!
//! Why one: each connector of the SDK's kind parses the system's roots into its own root store
//! when it is built (the SDK client built its own on its first call, inside a cold start's first
//! answer) and keeps its own pool, so a process under mixed load held two sets of connections to
//! the same endpoint (docs/benchmarks.md, "Cold starts: the trust store read once").

use aws_sdk_dynamodb::config::RuntimeComponents;
use aws_smithy_async::rt::sleep::TokioSleep;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_http_client::Connector;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};

use super::dynamo::CONNECT_TIMEOUT;

/// DynamoDB closes idle connections after about a minute; reusing one it closed costs a retry.
const POOL_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(50);

/// The store's connector: keep-alive HTTP/1.1, rustls with aws-lc-rs and the system's roots.
pub(super) fn connector() -> SharedHttpConnector {
    SharedHttpConnector::new(
        Connector::builder()
            .connector_settings(
                HttpConnectorSettings::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .build(),
            )
            .sleep_impl(TokioSleep::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
            .tls_context(crate::aws_env::tls_context())
            .build(),
    )
}

/// An SDK HTTP client that answers every request for a connector with `connector`.
///
/// The SDK asks per operation with the client's timeout settings; the store sets one connect
/// timeout for all of them ([`CONNECT_TIMEOUT`], the one `connector` is built with) and bounds
/// attempts in the orchestrator, so one connector serves every operation as built.
#[derive(Debug, Clone)]
pub(crate) struct OneConnector(SharedHttpConnector);

impl OneConnector {
    pub(crate) fn client(connector: SharedHttpConnector) -> SharedHttpClient {
        SharedHttpClient::new(Self(connector))
    }
}

impl HttpClient for OneConnector {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.clone()
    }
}
