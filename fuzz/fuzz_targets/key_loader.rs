//! The key and certificate loaders: RSA private keys (PKCS#1/PKCS#8, PEM or bare base64),
//! Alipay's public key (SPKI/PKCS#1, PEM or bare base64), and certificate mode's PEM chains,
//! SNs and public key. The first byte picks how the rest is presented: as text, or as DER
//! wrapped in a PEM block (with one of the labels the loaders look at) or bare base64, so the
//! fuzzer reaches the DER parsers without having to find base64 itself. Oracle: a private key
//! that loads signs, and its public key verifies the signature.
#![no_main]

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use miniapp_shared::alipay::cert::{cert_sn, load_chain, root_cert_sn};
use miniapp_shared::alipay::keys::{AlipayPublicKey, AppPrivateKey};
use miniapp_shared::alipay::sign::{rsa2_sign, rsa2_verify};
use miniapp_shared::alipay::{AlipayCertificates, CertificateTexts};

const LABELS: [&str; 6] = [
    "RSA PRIVATE KEY",
    "PRIVATE KEY",
    "PUBLIC KEY",
    "RSA PUBLIC KEY",
    "CERTIFICATE",
    "ENCRYPTED PRIVATE KEY",
];

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

fn keys(text: &str) {
    if let Ok(private) = AppPrivateKey::parse(text, "FUZZ") {
        let public = match private.public_key() {
            Ok(p) => p,
            Err(e) => panic!("a loaded private key has no public key: {e}"),
        };
        let sig = match rsa2_sign(&private, b"content") {
            Ok(s) => s,
            Err(e) => panic!("a loaded private key cannot sign: {e}"),
        };
        assert!(rsa2_verify(&public, b"content", &sig).is_ok());
    }
    let _ = AlipayPublicKey::parse(text, "FUZZ");
}

fn certificates(text: &str) {
    if let Ok(chain) = load_chain(text, "FUZZ") {
        for cert in &chain {
            if let Ok(sn) = cert_sn(cert, "FUZZ") {
                assert_eq!(sn.len(), 32);
            }
        }
        let _ = root_cert_sn(&chain, "FUZZ");
    }
    let texts = CertificateTexts {
        app_cert: (text, "A"),
        alipay_cert: (text, "B"),
        root_cert: (text, "C"),
    };
    let _ = AlipayCertificates::from_pem(texts);
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        // Text as given: PEM layout, `\n` escapes, labels, base64 leniency.
        0 => {
            if let Ok(text) = std::str::from_utf8(rest) {
                keys(text);
                certificates(text);
            }
        }
        // DER in a PEM block.
        1 => {
            let label = LABELS[usize::from(mode / 4) % LABELS.len()];
            let text = pem(label, rest);
            keys(&text);
            certificates(&text);
        }
        // Bare base64 DER.
        2 => keys(&STANDARD.encode(rest)),
        // Two certificates' DER as a chain: a two-byte length, the first, then the second.
        _ => {
            let Some((len, rest)) = rest.split_first_chunk::<2>() else {
                return;
            };
            let (a, b) = rest.split_at(usize::from(u16::from_be_bytes(*len)).min(rest.len()));
            let text = format!("{}{}", pem("CERTIFICATE", a), pem("CERTIFICATE", b));
            certificates(&text);
        }
    }
});
