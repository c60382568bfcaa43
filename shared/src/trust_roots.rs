//! The system's trusted root certificates, read once per process for every HTTPS client (the
//! Alipay and WeChat clients, the DynamoDB connector).
//!
//! Why not each library's own loading (rustls-native-certs, through reqwest's verifier and the
//! AWS SDK's connector): it reads the CA bundle *and* every file of the certificate directory
//! (on Debian the same ~150 certificates twice) and decodes the PEM with a constant-time base64
//! decoder, which PEM files holding private keys need and ~220 KB of public certificates do not:
//! ~17M instructions, three quarters of the session function's start, once per library.
//! Here, when the system has a bundle file (Debian, Amazon Linux), that file alone is read and
//! decoded with the `base64` crate (`SSL_CERT_FILE` names another file). Where `SSL_CERT_DIR`
//! is set, or there is no bundle, the libraries load the roots themselves, as before.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use base64::Engine as _;
use rustls_pki_types::CertificateDer;

const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const END: &str = "-----END CERTIFICATE-----";

/// The trust anchors of a CA bundle.
#[derive(Debug)]
pub struct Bundle {
    der: Vec<Vec<u8>>,
}

impl Bundle {
    /// The certificates, DER-encoded.
    pub fn certificates(&self) -> &[Vec<u8>] {
        &self.der
    }

    /// The same certificates as PEM, for clients that take roots as PEM (the AWS SDK's
    /// connector, built once per store): made for the caller, not kept (~300 KB).
    pub fn pem(&self) -> Vec<u8> {
        let mut pem = Vec::new();
        for der in &self.der {
            pem_block(der, &mut pem);
        }
        pem
    }

    /// The certificates of `pem` that are usable trust anchors (a client given an unusable
    /// one would fail, where rustls-native-certs' callers skip it); `None` when none is.
    pub fn from_pem(pem: &[u8]) -> Option<Self> {
        let der: Vec<Vec<u8>> = certificates(pem)
            .into_iter()
            .filter(|d| {
                webpki::anchor_from_trusted_cert(&CertificateDer::from(d.as_slice())).is_ok()
            })
            .collect();
        if der.is_empty() {
            return None;
        }
        Some(Self { der })
    }
}

/// Appends `der` to `out` as a PEM `CERTIFICATE` block, 64 columns.
fn pem_block(der: &[u8], out: &mut Vec<u8>) {
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    out.extend_from_slice(BEGIN.as_bytes());
    out.push(b'\n');
    for line in text.as_bytes().chunks(64) {
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out.extend_from_slice(END.as_bytes());
    out.push(b'\n');
}

/// The bundle, read on first use; `None` where the libraries should load the roots themselves.
pub fn system_bundle() -> Option<&'static Bundle> {
    static BUNDLE: LazyLock<Option<Bundle>> = LazyLock::new(|| {
        let path = bundle_path(|var| std::env::var_os(var).map(PathBuf::from))?;
        read(&path)
    });
    BUNDLE.as_ref()
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

/// `builder` trusting the system's roots as read here (else as reqwest reads them itself).
#[cfg(feature = "login")]
pub fn with_system_roots(builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
    match system_bundle() {
        Some(bundle) => builder.tls_certs_only(
            bundle
                .certificates()
                .iter()
                .filter_map(|der| reqwest::Certificate::from_der(der).ok()),
        ),
        None => builder,
    }
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
        assert_eq!(bundle.certificates(), ours);
        assert_eq!(as_rustls_reads(&bundle.pem()), ours);
    }

    #[test]
    fn certificates_that_are_no_trust_anchor_are_left_out() {
        let pem = include_str!("../tests/fixtures/tls/roots.pem");
        let broken = pem.replacen("MII", "MIA", 1);
        let bundle = Bundle::from_pem(broken.as_bytes()).unwrap();
        assert_eq!(bundle.certificates().len(), 1);
    }

    #[test]
    fn reads_the_system_bundle_as_rustls_does() {
        // Every machine that runs the tests has Debian's ca-certificates (the browser tests
        // need it).
        let path = bundle_path(|_| None).expect("a system CA bundle");
        let bundle = read(&path).unwrap();
        assert!(bundle.certificates().len() > 50);
        let text = std::fs::read(path).unwrap();
        assert_eq!(bundle.certificates(), as_rustls_reads(&text));
        assert_eq!(as_rustls_reads(&bundle.pem()), as_rustls_reads(&text));
    }

    #[test]
    fn the_variables_openssl_reads_are_honoured() {
        let dir = |var: &str| (var == "SSL_CERT_DIR").then(|| PathBuf::from("/etc/ssl/certs"));
        assert_eq!(bundle_path(dir), None);
        let file = |var: &str| (var == "SSL_CERT_FILE").then(|| PathBuf::from("/tmp/roots.pem"));
        assert_eq!(bundle_path(file), Some(PathBuf::from("/tmp/roots.pem")));
    }

    #[test]
    fn text_without_certificates_is_no_bundle() {
        let crl = b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n";
        assert!(Bundle::from_pem(crl).is_none());
        assert!(Bundle::from_pem(b"").is_none());
    }
}
