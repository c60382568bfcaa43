//! The HTTP connector the AWS clients of the process send through (the DynamoDB store's SDK
//! client and direct read, aws-config's providers, the S3 file backend): hyper's pooled
//! HTTP/1.1 client over rustls, with the process's one TLS configuration
//! (`trust_roots::client_config`).
//!
//! Why not the SDK's own connector kind: it takes trusted roots only as PEM and decodes them
//! again per connector with rustls-pki-types' constant-time base64 (~8M instructions per cold
//! start, half of the db function's work to its first answer, on every DynamoDB cold start;
//! docs/benchmarks.md, "Cold starts: one TLS configuration"). Here the roots are parsed once
//! per process and shared with the log-in clients. What the SDK's connector does besides, and
//! the retries rely on, is kept: failures are classified the same way (a refused, reset or
//! closed connection is an I/O error the retry policy retries; a connect timeout is a timeout),
//! and the connection a failed attempt used is poisoned so that no retry reuses it.

use std::error::Error as StdError;
use std::time::Duration;

use aws_smithy_runtime_api::client::connection::{CaptureSmithyConnection, ConnectionMetadata};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::ErrorKind;
use hyper_util::client::legacy::connect::{
    capture_connection, CaptureConnection, HttpConnector as Tcp,
};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

type Https = hyper_rustls::HttpsConnector<Tcp>;

/// How the pool behaves.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolSettings {
    /// Longest wait for a TCP connection (the TLS handshake is bounded by the attempt timeout).
    pub connect_timeout: Duration,
    /// Idle connections older than this are closed rather than reused.
    pub idle_timeout: Duration,
}

/// A connector for the SDK's clients: see the module's documentation.
#[derive(Clone)]
pub(crate) struct AwsConnector {
    client: Client<Https, SdkBody>,
}

impl std::fmt::Debug for AwsConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsConnector").finish_non_exhaustive()
    }
}

impl AwsConnector {
    /// A connector trusting the process's roots.
    pub(crate) fn shared(settings: PoolSettings) -> SharedHttpConnector {
        Self::with_tls(
            settings,
            crate::trust_roots::client_config().as_ref().clone(),
        )
    }

    /// A connector with this TLS configuration (tests trust their own certificate authority).
    pub(crate) fn with_tls(
        settings: PoolSettings,
        tls: rustls::ClientConfig,
    ) -> SharedHttpConnector {
        let mut tcp = Tcp::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(settings.connect_timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(settings.idle_timeout)
            .build(https);
        SharedHttpConnector::new(Self { client })
    }
}

impl HttpConnector for AwsConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let mut request = match request.try_into_http1x() {
            Ok(request) => request,
            Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(e.into()))),
        };
        let captured = capture_connection(&mut request);
        if let Some(capture) = request.extensions().get::<CaptureSmithyConnection>() {
            capture.set_connection_retriever(move || connection_metadata(&captured));
        }
        let sent = self.client.request(request);
        HttpConnectorFuture::new(async move {
            let response = sent.await.map_err(classify)?;
            HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                .map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

/// What the SDK's orchestrator needs of the connection an attempt used: a way to poison it
/// (after a timeout or a transient error, so that the retry opens a fresh one).
fn connection_metadata(captured: &CaptureConnection) -> Option<ConnectionMetadata> {
    captured.connection_metadata().as_ref()?;
    let captured = captured.clone();
    Some(
        ConnectionMetadata::builder()
            .proxied(false)
            .poison_fn(move || {
                if let Some(c) = captured.connection_metadata().as_ref() {
                    c.poison();
                }
            })
            .build(),
    )
}

/// The SDK's reading of a failed exchange, which its retry policy acts on: connection-level
/// failures (refused, reset, closed before an answer, a connect timeout) are retryable; a
/// request the client could not send as given is the caller's.
fn classify(e: hyper_util::client::legacy::Error) -> ConnectorError {
    let timed_out = chain(&e).any(|s| {
        s.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
    });
    if timed_out {
        return ConnectorError::timeout(e.into());
    }
    if e.is_connect() {
        return ConnectorError::io(e.into());
    }
    let hyper_error = chain(&e).find_map(|s| s.downcast_ref::<hyper::Error>());
    match hyper_error {
        Some(h) if h.is_timeout() => ConnectorError::timeout(e.into()),
        Some(h) if h.is_user() => ConnectorError::user(e.into()),
        Some(h) if h.is_closed() || h.is_canceled() => ConnectorError::io(e.into()),
        Some(h) if h.is_incomplete_message() => {
            ConnectorError::other(e.into(), Some(ErrorKind::TransientError))
        }
        _ if chain(&e).any(|s| s.is::<std::io::Error>()) => ConnectorError::io(e.into()),
        _ => ConnectorError::other(e.into(), None),
    }
}

/// `e` and its sources; after an `io::Error`, its payload (which `source` skips).
fn chain<'a>(
    e: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(e), |&e| match e.downcast_ref::<std::io::Error>() {
        Some(io) => io
            .get_ref()
            .map(|inner| inner as &(dyn StdError + 'static))
            .or_else(|| e.source()),
        None => e.source(),
    })
}

/// An SDK HTTP client that answers every request for a connector with `connector`.
///
/// The SDK asks per operation with the client's timeout settings; the store and the file backend
/// set one connect timeout for all of them (the one the connector is built with) and bounds
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

#[cfg(test)]
mod tests {
    //! Against servers on loopback: a TLS one with a certificate of the throw-away authority
    //! in `tests/fixtures/tls/` (test-ca.pem; its key was not kept), and plain ones that
    //! answer, refuse or hang up.

    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use rustls::RootCertStore;
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    const CA: &[u8] = include_bytes!("../tests/fixtures/tls/test-ca.pem");
    const CERT: &[u8] = include_bytes!("../tests/fixtures/tls/server.pem");
    const KEY: &[u8] = include_bytes!("../tests/fixtures/tls/server-key.pem");

    const SETTINGS: PoolSettings = PoolSettings {
        connect_timeout: Duration::from_secs(2),
        idle_timeout: Duration::from_secs(30),
    };

    /// How a test server treats each connection.
    #[derive(Clone, Copy)]
    enum Behaviour {
        /// Answers every request on it `200 ok`, keeping it open.
        Answer,
        /// Reads the request and closes the connection without a word.
        HangUp,
    }

    /// A server on loopback; returns its port and the count of connections it accepted.
    async fn server(tls: bool, behaviour: Behaviour) -> (u16, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        let acceptor = tls.then(|| {
            let certs = CertificateDer::pem_slice_iter(CERT)
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let key = PrivateKeyDer::from_pem_slice(KEY).unwrap();
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            let config = rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(certs, key)
                .unwrap();
            tokio_rustls::TlsAcceptor::from(Arc::new(config))
        });
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                count.fetch_add(1, Ordering::SeqCst);
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    match acceptor {
                        Some(a) => {
                            if let Ok(stream) = a.accept(tcp).await {
                                serve(stream, behaviour).await;
                            }
                        }
                        None => serve(tcp, behaviour).await,
                    }
                });
            }
        });
        (port, accepted)
    }

    async fn serve(mut stream: impl AsyncRead + AsyncWrite + Unpin, behaviour: Behaviour) {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        loop {
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            buf.clear();
            match behaviour {
                Behaviour::HangUp => return,
                Behaviour::Answer => {
                    let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                    if stream.write_all(reply).await.is_err() {
                        return;
                    }
                }
            }
        }
    }

    fn trusting_the_test_ca() -> SharedHttpConnector {
        let mut roots = RootCertStore::empty();
        let ca = CertificateDer::from_pem_slice(CA).unwrap();
        roots.add(ca).unwrap();
        AwsConnector::with_tls(SETTINGS, crate::trust_roots::client_config_with(roots))
    }

    async fn get(
        connector: &SharedHttpConnector,
        url: &str,
    ) -> Result<HttpResponse, ConnectorError> {
        connector.call(HttpRequest::get(url).unwrap()).await
    }

    async fn body(response: HttpResponse) -> Vec<u8> {
        use http_body_util::BodyExt;
        let body = response.into_body();
        body.collect().await.unwrap().to_bytes().to_vec()
    }

    #[tokio::test]
    async fn speaks_tls_to_a_server_its_roots_vouch_for() {
        let (port, accepted) = server(true, Behaviour::Answer).await;
        let connector = trusting_the_test_ca();
        let url = format!("https://127.0.0.1:{port}/");
        for _ in 0..3 {
            let response = get(&connector, &url).await.unwrap();
            assert_eq!(response.status().as_u16(), 200);
            assert_eq!(body(response).await, b"ok");
        }
        // Kept alive: three requests, one connection (each answer was read to its end).
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    /// The log-in clients (reqwest) take the same configuration (`trust_roots::with_client_config`).
    #[cfg(feature = "login")]
    #[tokio::test]
    async fn reqwest_speaks_tls_with_the_same_configuration() {
        let (port, _) = server(true, Behaviour::Answer).await;
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(CA).unwrap())
            .unwrap();
        let tls = crate::trust_roots::client_config_with(roots);
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .build()
            .unwrap();
        let url = format!("https://127.0.0.1:{port}/");
        let response = client.get(&url).send().await.unwrap();
        assert_eq!(response.text().await.unwrap(), "ok");
        let system = crate::trust_roots::with_client_config(reqwest::Client::builder())
            .build()
            .unwrap();
        let e = system.get(&url).send().await.unwrap_err();
        assert!(format!("{e:?}").contains("UnknownIssuer"), "{e:?}");
    }

    #[tokio::test]
    async fn refuses_a_server_the_system_roots_do_not_vouch_for() {
        let (port, _) = server(true, Behaviour::Answer).await;
        let connector = AwsConnector::shared(SETTINGS);
        let e = get(&connector, &format!("https://127.0.0.1:{port}/"))
            .await
            .unwrap_err();
        let text = format!("{:?}", e.into_source());
        assert!(text.contains("UnknownIssuer"), "{text}");
    }

    #[tokio::test]
    async fn a_refused_connection_is_an_io_error_the_sdk_retries() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let e = get(
            &trusting_the_test_ca(),
            &format!("http://127.0.0.1:{port}/"),
        )
        .await
        .unwrap_err();
        assert!(e.is_io(), "{e:?}");
    }

    #[tokio::test]
    async fn a_hang_up_before_the_answer_is_retryable() {
        let (port, _) = server(false, Behaviour::HangUp).await;
        let e = get(
            &trusting_the_test_ca(),
            &format!("http://127.0.0.1:{port}/"),
        )
        .await
        .unwrap_err();
        let retryable = e.is_io() || e.as_other() == Some(ErrorKind::TransientError);
        assert!(retryable, "{e:?}");
    }

    #[tokio::test]
    async fn a_poisoned_connection_is_not_used_again() {
        let (port, accepted) = server(false, Behaviour::Answer).await;
        let connector = trusting_the_test_ca();
        let url = format!("http://127.0.0.1:{port}/");
        let capture = CaptureSmithyConnection::new();
        let mut request = HttpRequest::get(&url).unwrap();
        request.add_extension(capture.clone());
        let response = connector.call(request).await.unwrap();
        body(response).await;
        let connection = capture.get().expect("the connection the call used");
        // Not poisoned: reused.
        body(get(&connector, &url).await.unwrap()).await;
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        // Poisoned (as the SDK does after a timeout or a transient error): a new one.
        connection.poison();
        body(get(&connector, &url).await.unwrap()).await;
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }
}
