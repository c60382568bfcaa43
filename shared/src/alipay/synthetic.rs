//! The synthetic certificate-mode set of `tests/fixtures/alipay` (made for tests with openssl,
//! see its README; no certificate in it was issued by Alipay): the app's and Alipay's
//! certificates, the root bundle and the two private keys that belong to them. For tests and
//! for `miniapp dev --alipay-cert-mode`; never for a deployment.

/// The app id the app certificate was made for.
pub const APP_ID: &str = "2021000000000001";
/// The app's certificate (`appCertPublicKey_2021000000000001.crt`); its key is [`APP_PRIVATE_KEY`].
pub const APP_CERT: &str =
    include_str!("../../tests/fixtures/alipay/certs/appCertPublicKey_2021000000000001.crt");
/// Alipay's certificate, leaf first; its key is [`GATEWAY_PRIVATE_KEY`].
pub const ALIPAY_CERT: &str =
    include_str!("../../tests/fixtures/alipay/certs/alipayCertPublicKey_RSA2.crt");
/// The root bundle: RSA, EC (skipped by the SN rule) and RSA roots.
pub const ROOT_CERT: &str = include_str!("../../tests/fixtures/alipay/certs/alipayRootCert.crt");
/// The private key of the app certificate (PKCS#8 PEM).
pub const APP_PRIVATE_KEY: &str =
    include_str!("../../tests/fixtures/alipay/keys/app_private_pkcs8.pem");
/// The public key of the app certificate (SPKI PEM): the stand-in verifies requests with it.
pub const APP_PUBLIC_KEY: &str =
    include_str!("../../tests/fixtures/alipay/keys/app_public_spki.pem");
/// The private key of Alipay's certificate (PKCS#8 PEM): the stand-in signs answers with it.
pub const GATEWAY_PRIVATE_KEY: &str =
    include_str!("../../tests/fixtures/alipay/keys/gateway_private_pkcs8.pem");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alipay::sign::{rsa2_sign, rsa2_verify};
    use crate::alipay::{AlipayCertificates, AlipayPublicKey, AppPrivateKey, CertificateTexts};

    #[test]
    fn the_keys_belong_to_the_certificates() {
        let certs = AlipayCertificates::from_pem(CertificateTexts {
            app_cert: (APP_CERT, "app"),
            alipay_cert: (ALIPAY_CERT, "alipay"),
            root_cert: (ROOT_CERT, "root"),
        })
        .unwrap();
        let gateway = AppPrivateKey::parse(GATEWAY_PRIVATE_KEY, "gateway").unwrap();
        let sig = rsa2_sign(&gateway, b"answer").unwrap();
        assert_eq!(
            rsa2_verify(certs.alipay_public_key(), b"answer", &sig),
            Ok(())
        );
        let app = AppPrivateKey::parse(APP_PRIVATE_KEY, "app").unwrap();
        let app_public = AlipayPublicKey::parse(APP_PUBLIC_KEY, "app public").unwrap();
        let sig = rsa2_sign(&app, b"request").unwrap();
        assert_eq!(rsa2_verify(&app_public, b"request", &sig), Ok(()));
    }
}
