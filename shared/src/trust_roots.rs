//! The system's trusted root certificates, read once per process, and the one TLS client
//! configuration built on them that every HTTPS client of the process uses (the Alipay and
//! WeChat clients, the DynamoDB and S3 connectors).
//!
//! Why not each library's own loading (rustls-native-certs, through reqwest's verifier and the
//! AWS SDK's connector): it reads the CA bundle *and* every file of the certificate directory
//! (on Debian the same ~150 certificates twice) and decodes the PEM with a constant-time base64
//! decoder, which PEM files holding private keys need and ~220 KB of public certificates do not:
//! ~17M instructions, three quarters of the session function's start, once per library.
//! Here, when the system has a bundle file (Debian, Amazon Linux), that file alone is read and
//! decoded with the `base64` crate (`SSL_CERT_FILE` names another file), and each certificate
//! is parsed into a trust anchor once. Where `SSL_CERT_DIR` is set, or there is no bundle,
//! rustls-native-certs reads them as the libraries would have. The Lambda build (without the
//! `system-roots` feature) reads nothing unless a variable names a bundle: it trusts Mozilla's
//! roots as compiled in.
//!
//! The roots are read when a TLS handshake first needs them ([`RootsOnFirstUse`]), or at start
//! when a client is set up to speak HTTPS ([`read_roots_now`]), not whenever a client is built:
//! a process that speaks plain HTTP only (`miniapp dev` with the gateway stand-in) never reads
//! the bundle, ~0.6 ms of its start.

use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use base64::Engine as _;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, TrustAnchor, UnixTime};

const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const END: &str = "-----END CERTIFICATE-----";

/// The trust anchors of a CA bundle.
#[derive(Debug)]
pub struct Bundle {
    anchors: Vec<TrustAnchor<'static>>,
}

impl Bundle {
    /// The certificates of `pem` that are usable trust anchors (rustls refuses a root store
    /// built with an unusable one, where rustls-native-certs' callers skip it); `None` when
    /// none is.
    pub fn from_pem(pem: &[u8]) -> Option<Self> {
        let anchors: Vec<TrustAnchor<'static>> = certificates(pem)
            .iter()
            .filter_map(|der| {
                let cert = CertificateDer::from(der.as_slice());
                Some(webpki::anchor_from_trusted_cert(&cert).ok()?.to_owned())
            })
            .collect();
        (!anchors.is_empty()).then_some(Self { anchors })
    }

    /// The anchors as rustls keeps them (the certificates themselves are not kept).
    pub fn into_root_store(self) -> RootCertStore {
        RootCertStore {
            roots: self.anchors,
        }
    }
}

/// The TLS configuration of every HTTPS client of the process: rustls with aws-lc-rs, TLS 1.2
/// and 1.3, the roots the process trusts ([`trusted_roots`], read on first use).
pub fn client_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: LazyLock<Arc<rustls::ClientConfig>> =
        LazyLock::new(|| Arc::new(config_verifying_with(Arc::clone(&SYSTEM_VERIFIER))));
    Arc::clone(&CONFIG)
}

/// The verifier of [`client_config`], on the roots the process trusts.
static SYSTEM_VERIFIER: LazyLock<Arc<RootsOnFirstUse>> =
    LazyLock::new(|| Arc::new(RootsOnFirstUse::new(trusted_roots, &provider())));

/// Reads the roots [`client_config`] trusts now, on this thread: for a client that will speak
/// HTTPS, start-up is the better time (it runs beside the store's opening) than its first
/// handshake.
pub fn read_roots_now() {
    SYSTEM_VERIFIER.read_now();
}

/// The same configuration trusting `roots` (tests give their own certificate authority).
pub fn client_config_with(roots: RootCertStore) -> rustls::ClientConfig {
    config_verifying_with(Arc::new(RootsOnFirstUse::new(move || roots, &provider())))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The configuration on `verifier`'s crypto provider, so the handshake and the verifier agree.
fn config_verifying_with(verifier: Arc<RootsOnFirstUse>) -> rustls::ClientConfig {
    #[allow(clippy::expect_used)] // A constant: aws-lc-rs's provider has suites for both.
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&verifier.provider))
        .with_safe_default_protocol_versions()
        .expect("aws-lc-rs supports TLS 1.2 and 1.3");
    // No ALPN here: each client offers what it speaks (hyper-rustls refuses a preset list).
    builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth()
}

/// The server verification rustls builds from a root store (webpki's path building, name and
/// signature checks: [`WebPkiServerVerifier`], which this hands every certificate to), with
/// the store made when a handshake first needs it. The handshake's own signatures are checked
/// as that verifier checks them, with the provider's algorithms; they need no roots.
#[derive(Debug)]
pub struct RootsOnFirstUse {
    provider: Arc<CryptoProvider>,
    /// `None`: no usable root, every server is refused as one of an unknown issuer.
    verifier: LazyLock<Verifier, Box<dyn FnOnce() -> Verifier + Send>>,
}

type Verifier = Option<Arc<WebPkiServerVerifier>>;

impl RootsOnFirstUse {
    fn new(
        roots: impl FnOnce() -> RootCertStore + Send + 'static,
        provider: &Arc<CryptoProvider>,
    ) -> Self {
        let for_webpki = Arc::clone(provider);
        Self {
            provider: Arc::clone(provider),
            verifier: LazyLock::new(Box::new(move || {
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots()), for_webpki)
                    .build()
                    .ok()
            })),
        }
    }

    fn algorithms(&self) -> &WebPkiSupportedAlgorithms {
        &self.provider.signature_verification_algorithms
    }

    fn read_now(&self) {
        LazyLock::force(&self.verifier);
    }
}

impl ServerCertVerifier for RootsOnFirstUse {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &*self.verifier {
            Some(webpki) => webpki.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ),
            None => Err(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, self.algorithms())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, self.algorithms())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms().supported_schemes()
    }
}

/// The roots the process trusts: the bundle file or directory the `SSL_CERT_*` variables name;
/// else, with the `system-roots` feature (default builds), the system's bundle file as read
/// here, or the system's store as rustls-native-certs reads it; without it (the Lambda build),
/// Mozilla's roots as compiled in ([`bundled_roots`]).
pub fn trusted_roots() -> RootCertStore {
    roots(
        |name| std::env::var_os(name).map(PathBuf::from),
        cfg!(feature = "system-roots"),
    )
}

/// [`trusted_roots`] with the variables read by `var`; `system_store`: whether the system's
/// store is the default.
fn roots(var: impl Fn(&str) -> Option<PathBuf>, system_store: bool) -> RootCertStore {
    let named = var("SSL_CERT_FILE").is_some() || var("SSL_CERT_DIR").is_some();
    if !named && !system_store {
        return bundled_roots();
    }
    match bundle_path(var).and_then(|p| read(&p)) {
        Some(bundle) => bundle.into_root_store(),
        None => native_roots(),
    }
}

/// Mozilla's root program as webpki-roots compiles it in: the anchors are constants, so there
/// is nothing to read or parse (reading and parsing a system bundle of ~150 certificates is
/// ~4M instructions and ~90 page faults, two thirds of the db function's cold start on
/// DynamoDB; docs/benchmarks.md). Debian's and Amazon Linux's ca-certificates packages ship
/// the same program.
fn bundled_roots() -> RootCertStore {
    RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

/// The certificate directory and file as rustls-native-certs reads them (`SSL_CERT_DIR`,
/// `SSL_CERT_FILE`, else the platform's places), unusable ones skipped.
fn native_roots() -> RootCertStore {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        tracing::warn!(
            errors = found.errors.len(),
            "no trusted root certificates found: HTTPS connections will fail"
        );
    }
    roots
}

/// The bundle file to read: `SSL_CERT_FILE`, else where OpenSSL keeps it on this system.
/// `None` when `SSL_CERT_DIR` names a directory: its certificates are read as the libraries
/// read them (file and directory both), not here.
fn bundle_path(var: impl Fn(&str) -> Option<PathBuf>) -> Option<PathBuf> {
    if var("SSL_CERT_DIR").is_some() {
        return None;
    }
    var("SSL_CERT_FILE").or_else(|| openssl_probe::probe().cert_file)
}

/// [`read_roots_now`] if `url` is HTTPS: what a client built at start to call it does then.
#[cfg(feature = "login")]
pub fn read_roots_if_https(url: &reqwest::Url) {
    if url.scheme() == "https" {
        read_roots_now();
    }
}

/// `builder` with the process's TLS configuration ([`client_config`]).
#[cfg(feature = "login")]
pub fn with_client_config(builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
    builder.tls_backend_preconfigured(client_config().as_ref().clone())
}

fn read(path: &Path) -> Option<Bundle> {
    std::fs::read(path)
        .ok()
        .and_then(|pem| Bundle::from_pem(&pem))
}

/// Every `CERTIFICATE` block of `pem`, decoded; blocks of other kinds and undecodable ones are
/// skipped, as rustls-native-certs skips them. (A bundle is ASCII; other text holds none.)
fn certificates(pem: &[u8]) -> Vec<Vec<u8>> {
    let Ok(mut rest) = std::str::from_utf8(pem) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut text = String::new();
    while let Some(start) = rest.find(BEGIN) {
        let body = &rest[start + BEGIN.len()..];
        let Some(end) = body.find(END) else {
            break;
        };
        text.clear();
        text.extend(body[..end].split_ascii_whitespace());
        if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(&text) {
            out.push(der);
        }
        rest = &body[end + END.len()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::pem::PemObject;

    /// What rustls (through rustls-pki-types) reads from the same text.
    fn as_rustls_reads(pem: &[u8]) -> Vec<Vec<u8>> {
        CertificateDer::pem_slice_iter(pem)
            .map(|c| c.unwrap().to_vec())
            .collect()
    }

    #[test]
    fn reads_what_rustls_reads() {
        let pem = include_str!("../tests/fixtures/tls/roots.pem");
        let ours = certificates(pem.as_bytes());
        assert_eq!(ours.len(), 2);
        assert_eq!(ours, as_rustls_reads(pem.as_bytes()));
        let bundle = Bundle::from_pem(pem.as_bytes()).unwrap();
        assert_eq!(
            bundle.into_root_store().roots,
            rustls_anchors(pem.as_bytes())
        );
    }

    /// The anchors rustls makes of the same text.
    fn rustls_anchors(pem: &[u8]) -> Vec<TrustAnchor<'static>> {
        let mut store = RootCertStore::empty();
        store.add_parsable_certificates(CertificateDer::pem_slice_iter(pem).map(|c| c.unwrap()));
        store.roots
    }

    #[test]
    fn certificates_that_are_no_trust_anchor_are_left_out() {
        let pem = include_str!("../tests/fixtures/tls/roots.pem");
        let broken = pem.replacen("MII", "MIA", 1);
        let bundle = Bundle::from_pem(broken.as_bytes()).unwrap();
        assert_eq!(
            bundle.into_root_store().roots,
            rustls_anchors(pem.as_bytes())[1..]
        );
    }

    #[test]
    fn reads_the_system_bundle_as_rustls_does() {
        // Every machine that runs the tests has Debian's ca-certificates (the browser tests
        // need it).
        let path = bundle_path(|_| None).expect("a system CA bundle");
        let bundle = read(&path).unwrap();
        let text = std::fs::read(path).unwrap();
        assert_eq!(certificates(&text), as_rustls_reads(&text));
        let roots = bundle.into_root_store().roots;
        assert!(roots.len() > 50);
        assert_eq!(roots, rustls_anchors(&text));
    }

    fn fixture_path() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls/roots.pem")
    }

    #[test]
    fn without_the_system_store_the_compiled_in_roots_are_trusted() {
        let roots = roots(|_| None, false).roots;
        assert_eq!(roots, bundled_roots().roots);
        assert!(roots.len() > 100, "{}", roots.len());
    }

    #[test]
    fn a_named_bundle_is_read_with_or_without_the_system_store() {
        let file = |var: &str| (var == "SSL_CERT_FILE").then(fixture_path);
        let expected = rustls_anchors(&std::fs::read(fixture_path()).unwrap());
        assert_eq!(roots(file, false).roots, expected);
        assert_eq!(roots(file, true).roots, expected);
    }

    #[test]
    fn with_the_system_store_its_bundle_is_read() {
        let text = std::fs::read(bundle_path(|_| None).expect("a system CA bundle")).unwrap();
        assert_eq!(roots(|_| None, true).roots, rustls_anchors(&text));
    }

    /// The compiled-in roots are Mozilla's program, as the system's ca-certificates ships it:
    /// most of them are the system's anchors too (the two are updated at different times), and
    /// the roots AWS's endpoints chain to (Amazon Trust Services, and the Starfield root that
    /// cross-signs them) are in both.
    #[test]
    fn the_compiled_in_roots_are_the_systems_program() {
        let text = std::fs::read(bundle_path(|_| None).expect("a system CA bundle")).unwrap();
        let system = rustls_anchors(&text);
        let bundled = bundled_roots().roots;
        // Debian 12's bundle (2023-03, 144 roots) and webpki-roots 1.0.10 (120) share 95: the
        // rest are roots Mozilla removed or added between the two dates.
        let shared = system.iter().filter(|a| bundled.contains(a)).count();
        assert!(
            shared * 3 >= bundled.len() * 2,
            "{shared} of {}",
            bundled.len()
        );
        let named = |roots: &[TrustAnchor<'_>], name: &str| {
            roots.iter().any(|a| {
                a.subject
                    .as_ref()
                    .windows(name.len())
                    .any(|w| w == name.as_bytes())
            })
        };
        for name in [
            "Amazon Root CA 1",
            "Amazon Root CA 2",
            "Amazon Root CA 3",
            "Amazon Root CA 4",
            "Starfield Services Root Certificate Authority - G2",
        ] {
            assert!(named(&bundled, name), "{name} compiled in");
            assert!(named(&system, name), "{name} in the system's bundle");
        }
    }

    #[test]
    fn the_variables_openssl_reads_are_honoured() {
        let dir = |var: &str| (var == "SSL_CERT_DIR").then(|| PathBuf::from("/etc/ssl/certs"));
        assert_eq!(bundle_path(dir), None);
        let file = |var: &str| (var == "SSL_CERT_FILE").then(|| PathBuf::from("/tmp/roots.pem"));
        assert_eq!(bundle_path(file), Some(PathBuf::from("/tmp/roots.pem")));
    }

    mod on_first_use {
        use super::super::*;
        use rustls::{Connection, ServerConfig};
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::PrivateKeyDer;
        use std::sync::atomic::{AtomicUsize, Ordering};

        const CA: &[u8] = include_bytes!("../tests/fixtures/tls/test-ca.pem");
        const CERT: &[u8] = include_bytes!("../tests/fixtures/tls/server.pem");
        const KEY: &[u8] = include_bytes!("../tests/fixtures/tls/server-key.pem");
        const OTHER_ROOTS: &[u8] = include_bytes!("../tests/fixtures/tls/roots.pem");

        fn store_of(pem: &[u8]) -> RootCertStore {
            let mut store = RootCertStore::empty();
            store
                .add_parsable_certificates(CertificateDer::pem_slice_iter(pem).map(|c| c.unwrap()));
            store
        }

        /// A verifier on `pem`'s roots that counts how often it made its store.
        fn counting(pem: &'static [u8]) -> (Arc<RootsOnFirstUse>, Arc<AtomicUsize>) {
            let reads = Arc::new(AtomicUsize::new(0));
            let counted = Arc::clone(&reads);
            let verifier = RootsOnFirstUse::new(
                move || {
                    counted.fetch_add(1, Ordering::SeqCst);
                    store_of(pem)
                },
                &provider(),
            );
            (Arc::new(verifier), reads)
        }

        /// A whole TLS handshake in memory, with the test CA's server certificate, the client
        /// asking for `name`, the server speaking `versions`; the client's error if it refused
        /// the server.
        fn handshake_as(
            client: &rustls::ClientConfig,
            name: &'static str,
            versions: &[&'static rustls::SupportedProtocolVersion],
        ) -> Result<(), rustls::Error> {
            let certs = CertificateDer::pem_slice_iter(CERT)
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let key = PrivateKeyDer::from_pem_slice(KEY).unwrap();
            let server = ServerConfig::builder_with_provider(provider())
                .with_protocol_versions(versions)
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(certs, key)
                .unwrap();
            let name = ServerName::try_from(name).unwrap();
            let mut client = Connection::Client(
                rustls::ClientConnection::new(Arc::new(client.clone()), name).unwrap(),
            );
            let mut server =
                Connection::Server(rustls::ServerConnection::new(Arc::new(server)).unwrap());
            for _ in 0..10 {
                if !client.is_handshaking() && !server.is_handshaking() {
                    return Ok(());
                }
                send(&mut client, &mut server).expect("the server takes what the client sends");
                send(&mut server, &mut client)?;
            }
            panic!("the handshake did not end");
        }

        fn handshake(client: &rustls::ClientConfig) -> Result<(), rustls::Error> {
            handshake_as(client, "localhost", rustls::DEFAULT_VERSIONS)
        }

        fn send(from: &mut Connection, to: &mut Connection) -> Result<(), rustls::Error> {
            let mut bytes = Vec::new();
            while from.wants_write() {
                from.write_tls(&mut bytes).unwrap();
            }
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                to.read_tls(&mut rest).unwrap();
            }
            to.process_new_packets().map(|_| ())
        }

        #[test]
        fn the_first_handshake_reads_the_roots_once() {
            let (verifier, reads) = counting(CA);
            let config = config_verifying_with(verifier);
            assert_eq!(reads.load(Ordering::SeqCst), 0, "building reads nothing");
            handshake(&config).expect("the test CA vouches for the server");
            handshake(&config).expect("and again");
            assert_eq!(reads.load(Ordering::SeqCst), 1);
        }

        #[test]
        fn read_now_reads_them_before_any_handshake() {
            let (verifier, reads) = counting(CA);
            verifier.read_now();
            assert_eq!(reads.load(Ordering::SeqCst), 1);
            handshake(&config_verifying_with(verifier)).unwrap();
            assert_eq!(reads.load(Ordering::SeqCst), 1);
        }

        #[test]
        fn a_server_no_root_vouches_for_is_refused() {
            let unknown = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
            let (others, _) = counting(OTHER_ROOTS);
            assert_eq!(
                handshake(&config_verifying_with(others)),
                Err(unknown.clone())
            );
            let (none, _) = counting(b"");
            assert_eq!(handshake(&config_verifying_with(none)), Err(unknown));
        }

        #[test]
        fn a_certificate_for_another_name_is_refused() {
            let (verifier, _) = counting(CA);
            let config = config_verifying_with(verifier);
            let refused = handshake_as(&config, "example.com", rustls::DEFAULT_VERSIONS);
            assert!(
                matches!(
                    refused,
                    Err(rustls::Error::InvalidCertificate(
                        CertificateError::NotValidForNameContext { .. }
                    ))
                ),
                "{refused:?}"
            );
        }

        /// TLS 1.2 checks the server's handshake signature its own way.
        #[test]
        fn a_tls_1_2_server_is_verified_too() {
            let (verifier, reads) = counting(CA);
            let config = config_verifying_with(verifier);
            handshake_as(&config, "localhost", &[&rustls::version::TLS12]).unwrap();
            assert_eq!(reads.load(Ordering::SeqCst), 1);
            let (others, _) = counting(OTHER_ROOTS);
            let refused = handshake_as(
                &config_verifying_with(others),
                "localhost",
                &[&rustls::version::TLS12],
            );
            assert_eq!(
                refused,
                Err(rustls::Error::InvalidCertificate(
                    CertificateError::UnknownIssuer
                ))
            );
        }
    }

    #[test]
    fn text_without_certificates_is_no_bundle() {
        let crl = b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n";
        assert!(Bundle::from_pem(crl).is_none());
        assert!(Bundle::from_pem(b"").is_none());
    }
}
