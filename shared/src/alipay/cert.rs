//! Alipay's public-key-certificate mode (公钥证书模式): the certificate serial numbers (SNs)
//! that travel with every request and answer, and Alipay's public key read from its
//! certificate.
//!
//! The SN rule (Alipay's SDKs, and `tests/fixtures/alipay/certs/README.md`): MD5, lowercase
//! hex, of the issuer's distinguished name written as `SHORTNAME=value` pairs in the reverse of
//! the certificate's order joined by `,`, immediately followed by the serial number in decimal.
//! The root SN joins with `_` the SNs of the RSA-signed certificates of Alipay's root bundle,
//! in file order; the others (SM2, EC) are skipped.
//!
//! Certificates are parsed with `x509-cert`; nothing here checks validity periods or chains:
//! the SNs only name the certificates the app was configured with.

use std::borrow::Cow;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use md5::{Digest, Md5};
use thiserror::Error;
use x509_cert::der::asn1::{Any, Ia5String};
use x509_cert::der::oid::db::{rfc4519, rfc5912};
use x509_cert::der::oid::ObjectIdentifier;
use x509_cert::der::{Encode, Tag, Tagged};
use x509_cert::ext::pkix::name::DirectoryString;
use x509_cert::name::Name;
use x509_cert::Certificate;

use super::keys::AlipayPublicKey;

/// Why the certificates could not be used.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CertError {
    /// The value of `var` is not what it must be; `reason` never quotes it.
    #[error("{var}: {reason}")]
    Malformed {
        /// The environment variable (or other source) that held the certificate(s).
        var: String,
        /// What is wrong with it.
        reason: String,
    },
}

fn malformed(var: &str, reason: impl Into<String>) -> CertError {
    CertError::Malformed {
        var: var.to_owned(),
        reason: reason.into(),
    }
}

/// What certificate mode needs, computed once at start from the three certificates. The SNs
/// are public (they travel with every request).
#[derive(Clone, Debug)]
pub struct AlipayCertificates {
    app_cert_sn: String,
    alipay_root_cert_sn: String,
    alipay_cert_sn: String,
    alipay_public_key: AlipayPublicKey,
}

/// The PEM text of the three certificates and the variables they came from (for errors).
#[derive(Debug, Clone, Copy)]
pub struct CertificateTexts<'a> {
    /// The app's certificate (`appCertPublicKey_<app id>.crt`).
    pub app_cert: (&'a str, &'a str),
    /// Alipay's certificate chain, leaf first (`alipayCertPublicKey_RSA2.crt`).
    pub alipay_cert: (&'a str, &'a str),
    /// Alipay's root bundle (`alipayRootCert.crt`).
    pub root_cert: (&'a str, &'a str),
}

impl AlipayCertificates {
    /// Parses the three certificates (PEM text, as Alipay's console downloads them) and
    /// computes the SNs and Alipay's public key.
    pub fn from_pem(texts: CertificateTexts<'_>) -> Result<Self, CertError> {
        let (app_text, app_var) = texts.app_cert;
        let (alipay_text, alipay_var) = texts.alipay_cert;
        let (root_text, root_var) = texts.root_cert;
        let app = first_cert(app_text, app_var)?;
        let alipay = first_cert(alipay_text, alipay_var)?;
        Ok(Self {
            app_cert_sn: cert_sn(&app, app_var)?,
            alipay_root_cert_sn: root_cert_sn(&load_chain(root_text, root_var)?, root_var)?,
            alipay_cert_sn: cert_sn(&alipay, alipay_var)?,
            alipay_public_key: public_key(&alipay, alipay_var)?,
        })
    }

    /// `app_cert_sn`, sent with every request.
    pub fn app_cert_sn(&self) -> &str {
        &self.app_cert_sn
    }

    /// `alipay_root_cert_sn`, sent with every request.
    pub fn alipay_root_cert_sn(&self) -> &str {
        &self.alipay_root_cert_sn
    }

    /// The SN an answer's `alipay_cert_sn` must equal.
    pub fn alipay_cert_sn(&self) -> &str {
        &self.alipay_cert_sn
    }

    /// The public key inside Alipay's certificate: it verifies answers.
    pub fn alipay_public_key(&self) -> &AlipayPublicKey {
        &self.alipay_public_key
    }
}

/// The certificates of a PEM text, in file order. Tolerates the literal `\n` sequences of
/// one-line environment variables and CRLF line ends.
pub fn load_chain(text: &str, var: &str) -> Result<Vec<Certificate>, CertError> {
    let text = text
        .replace("\\r", "")
        .replace("\\n", "\n")
        .replace('\r', "");
    let text = text.trim();
    if text.is_empty() {
        return Err(malformed(var, "is empty"));
    }
    if !text.starts_with("-----BEGIN CERTIFICATE-----") {
        return Err(malformed(
            var,
            "is not PEM text starting with -----BEGIN CERTIFICATE-----",
        ));
    }
    let certs = Certificate::load_pem_chain(text.as_bytes())
        .map_err(|e| malformed(var, format!("is not a readable PEM certificate ({e})")))?;
    if certs.is_empty() {
        return Err(malformed(var, "holds no certificate"));
    }
    Ok(certs)
}

fn first_cert(text: &str, var: &str) -> Result<Certificate, CertError> {
    let mut certs = load_chain(text, var)?;
    Ok(certs.swap_remove(0))
}

/// The SN of one certificate: MD5 of the reversed issuer DN and the decimal serial.
pub fn cert_sn(cert: &Certificate, var: &str) -> Result<String, CertError> {
    let tbs = cert.tbs_certificate();
    let issuer = issuer_text(tbs.issuer(), var)?;
    let serial = decimal(tbs.serial_number().as_bytes());
    Ok(hex::encode(Md5::digest(format!("{issuer}{serial}"))))
}

/// The root SN: the SNs of the RSA-signed certificates, in order, joined by `_`.
pub fn root_cert_sn(certs: &[Certificate], var: &str) -> Result<String, CertError> {
    let mut sns = Vec::new();
    for cert in certs.iter().filter(|c| is_rsa_signed(c)) {
        sns.push(cert_sn(cert, var)?);
    }
    if sns.is_empty() {
        return Err(malformed(var, "holds no RSA-signed root certificate"));
    }
    Ok(sns.join("_"))
}

/// Signature algorithms of the RSA family sit directly under PKCS #1 (1.2.840.113549.1.1.x).
fn is_rsa_signed(cert: &Certificate) -> bool {
    cert.signature_algorithm().oid.parent() == Some(rfc5912::PKCS_1)
}

/// `CN=…,OU=…,O=…,C=…`: the issuer's attributes in the reverse of the certificate's order.
fn issuer_text(name: &Name, var: &str) -> Result<String, CertError> {
    let attributes: Vec<_> = name.iter_rdn().flat_map(|rdn| rdn.iter()).collect();
    let mut parts = Vec::with_capacity(attributes.len());
    for atv in attributes.into_iter().rev() {
        let value = attribute_value(&atv.value)
            .ok_or_else(|| malformed(var, "has an issuer name attribute that is not text"))?;
        parts.push(format!("{}={value}", short_name(&atv.oid)));
    }
    Ok(parts.join(","))
}

/// The short names Alipay's SDKs print; any other attribute is written as its dotted OID.
fn short_name(oid: &ObjectIdentifier) -> Cow<'static, str> {
    const NAMES: [(ObjectIdentifier, &str); 6] = [
        (rfc4519::CN, "CN"),
        (rfc4519::OU, "OU"),
        (rfc4519::O, "O"),
        (rfc4519::L, "L"),
        (rfc4519::ST, "ST"),
        (rfc4519::C, "C"),
    ];
    match NAMES.iter().find(|(known, _)| known == oid) {
        Some((_, name)) => Cow::Borrowed(name),
        None => Cow::Owned(oid.to_string()),
    }
}

fn attribute_value(value: &Any) -> Option<String> {
    if value.tag() == Tag::Ia5String {
        return value
            .decode_as::<Ia5String>()
            .ok()
            .map(|s| s.as_str().to_owned());
    }
    DirectoryString::try_from(value)
        .ok()
        .map(|s| s.value().into_owned())
}

/// The serial's magnitude in decimal (DER integer bytes, big-endian), any length.
fn decimal(bytes: &[u8]) -> String {
    let mut number: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
    let mut digits = Vec::new();
    while !number.is_empty() {
        // Long division by 10, most significant byte first.
        let mut rest = 0u16;
        for byte in &mut number {
            let acc = (rest << 8) | u16::from(*byte);
            *byte = u8::try_from(acc / 10).unwrap_or(u8::MAX);
            rest = acc % 10;
        }
        digits.push(b'0' + u8::try_from(rest).unwrap_or(0));
        let zeros = number.iter().take_while(|b| **b == 0).count();
        number.drain(..zeros);
    }
    if digits.is_empty() {
        return "0".to_owned();
    }
    digits.iter().rev().map(|d| char::from(*d)).collect()
}

/// The subject public key of Alipay's certificate, as the key that verifies answers.
fn public_key(cert: &Certificate, var: &str) -> Result<AlipayPublicKey, CertError> {
    let spki = cert
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|_| malformed(var, "has an unreadable public key"))?;
    AlipayPublicKey::parse(&STANDARD.encode(spki), var).map_err(|e| malformed(var, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP_CERT: &str =
        include_str!("../../tests/fixtures/alipay/certs/appCertPublicKey_2021000000000001.crt");
    const ALIPAY_CERT: &str =
        include_str!("../../tests/fixtures/alipay/certs/alipayCertPublicKey_RSA2.crt");
    const ROOT_CERT: &str = include_str!("../../tests/fixtures/alipay/certs/alipayRootCert.crt");
    const CASES: &str = include_str!("../../tests/fixtures/alipay/certs/cert_cases.json");
    const APP_KEY: &str = include_str!("../../tests/fixtures/alipay/keys/app_private_pkcs1.pem");
    const GATEWAY_SPKI: &str =
        include_str!("../../tests/fixtures/alipay/keys/gateway_public_spki.b64");

    fn cases() -> serde_json::Value {
        serde_json::from_str(CASES).unwrap()
    }

    fn certificates() -> AlipayCertificates {
        AlipayCertificates::from_pem(CertificateTexts {
            app_cert: (APP_CERT, "ALIPAY_APP_CERT"),
            alipay_cert: (ALIPAY_CERT, "ALIPAY_PUBLIC_CERT"),
            root_cert: (ROOT_CERT, "ALIPAY_ROOT_CERT"),
        })
        .unwrap()
    }

    #[test]
    fn the_three_sns_match_the_official_sdk() {
        let (certs, cases) = (certificates(), cases());
        assert_eq!(certs.app_cert_sn(), cases["app_cert_sn"]);
        assert_eq!(certs.alipay_cert_sn(), cases["alipay_cert_sn"]);
        assert_eq!(certs.alipay_root_cert_sn(), cases["alipay_root_cert_sn"]);
    }

    #[test]
    fn the_root_sn_skips_the_ec_root_in_the_middle() {
        let roots = load_chain(ROOT_CERT, "R").unwrap();
        assert_eq!(roots.len(), 3);
        let rsa: Vec<bool> = roots.iter().map(is_rsa_signed).collect();
        assert_eq!(rsa, [true, false, true]);
        let each: Vec<String> = roots.iter().map(|c| cert_sn(c, "R").unwrap()).collect();
        assert_eq!(
            root_cert_sn(&roots, "R").unwrap(),
            format!("{}_{}", each[0], each[2])
        );
    }

    #[test]
    fn the_issuer_is_written_in_reverse_order() {
        let app = first_cert(APP_CERT, "A").unwrap();
        assert_eq!(
            issuer_text(app.tbs_certificate().issuer(), "A").unwrap(),
            "CN=Ant Financial Certification Authority Class 2 R1 Test,\
             OU=Certification Authority Test,O=Ant Financial Test,C=CN"
        );
    }

    #[test]
    fn the_public_key_is_read_from_the_first_certificate_of_the_chain() {
        let cases = cases();
        let alipay = first_cert(ALIPAY_CERT, "P").unwrap();
        let spki = alipay
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .unwrap();
        assert_eq!(
            STANDARD.encode(spki),
            cases["alipay_public_key_from_cert_b64"]
        );
        assert_eq!(cases["alipay_public_key_matches_gateway_key"], true);
        assert_eq!(
            GATEWAY_SPKI.trim(),
            cases["alipay_public_key_from_cert_b64"]
        );
    }

    #[test]
    fn one_line_env_values_with_literal_newlines_are_read() {
        let one_line = ROOT_CERT.replace("\r\n", "\n").replace('\n', "\\n");
        assert_eq!(load_chain(&one_line, "R").unwrap().len(), 3);
    }

    #[test]
    fn the_certificate_mode_request_signs_like_the_sdk() {
        use crate::alipay::sign::{rsa2_sign, sign_content};
        let (certs, case) = (certificates(), cases()["request_case"].clone());
        let params: Vec<(String, String)> = case["params_in_sdk_order"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p[0].as_str().unwrap().to_owned(),
                    p[1].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let param = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(param("app_cert_sn"), Some(certs.app_cert_sn()));
        assert_eq!(
            param("alipay_root_cert_sn"),
            Some(certs.alipay_root_cert_sn())
        );
        let content = sign_content(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        assert_eq!(content, case["sign_content"].as_str().unwrap());
        let key = crate::alipay::AppPrivateKey::parse(APP_KEY, "K").unwrap();
        let signature = rsa2_sign(&key, content.as_bytes()).unwrap();
        assert_eq!(signature, case["signature"].as_str().unwrap());
        assert_eq!(param("sign"), Some(signature.as_str()));
        // The SDK's query carries the same parameters, the signature among them.
        let query = case["sdk_output_query"].as_str().unwrap();
        let sent: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(sent, params);
    }

    #[test]
    fn the_signed_answer_verifies_with_the_key_from_the_certificate() {
        use crate::alipay::response::{extract_signed_node, verify_signed_node};
        let (certs, cases) = (certificates(), cases());
        for (name, sn_matches) in [
            ("response_case", true),
            ("response_case_wrong_cert_sn", false),
        ] {
            let case = &cases[name];
            let body = case["body"].as_str().unwrap();
            let node = extract_signed_node(body, "alipay_system_oauth_token_response").unwrap();
            // The signature covers the node only, so both bodies verify; the SN decides.
            assert_eq!(
                verify_signed_node(&node, certs.alipay_public_key()),
                Ok(()),
                "{name}"
            );
            let answer: serde_json::Value = serde_json::from_str(body).unwrap();
            let sn_ok = answer["alipay_cert_sn"] == certs.alipay_cert_sn();
            assert_eq!(sn_ok, sn_matches, "{name}");
            assert_eq!(case["must_verify"], sn_matches, "{name}");
        }
    }

    #[test]
    fn decimal_serials_of_any_length() {
        assert_eq!(decimal(&[]), "0");
        assert_eq!(decimal(&[0]), "0");
        assert_eq!(decimal(&[0x00, 0xff]), "255");
        assert_eq!(decimal(&[0x01, 0x00]), "256");
        assert_eq!(decimal(&[0x3b, 0x9a, 0xca, 0x00]), "1000000000");
        // 2^160 - 1: a 20-byte serial, the longest RFC 5280 allows.
        assert_eq!(
            decimal(&[0xff; 20]),
            "1461501637330902918203684832716283019655932542975"
        );
    }

    #[test]
    fn text_that_is_not_a_certificate_names_the_variable() {
        for text in [
            "",
            "   ",
            "MIIBIjANBg",
            "-----BEGIN PUBLIC KEY-----\nAA==\n-----END PUBLIC KEY-----",
        ] {
            let err = load_chain(text, "ALIPAY_ROOT_CERT").unwrap_err();
            assert!(err.to_string().starts_with("ALIPAY_ROOT_CERT: "), "{err}");
        }
        let broken = "-----BEGIN CERTIFICATE-----\nMIIBnotacert\n-----END CERTIFICATE-----";
        let err = load_chain(broken, "ALIPAY_APP_CERT").unwrap_err();
        assert!(!err.to_string().contains("MIIBnotacert"), "{err}");
    }
}
