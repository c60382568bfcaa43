//! RSA keys in every form Alipay's tools hand out, parsed once at start.
//!
//! Private keys: PKCS#1 PEM (`RSA PRIVATE KEY`), PKCS#8 PEM (`PRIVATE KEY`), or the bare
//! base64 body of either. Public keys: SPKI PEM (`PUBLIC KEY`), PKCS#1 PEM
//! (`RSA PUBLIC KEY`), or bare base64 of either. Errors name the variable and the reason and
//! never quote key material.

use std::sync::Arc;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKey};
use aws_lc_rs::signature::{KeyPair as _, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use thiserror::Error;
use zeroize::Zeroizing;

/// Why a key could not be loaded or made.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum KeyError {
    /// The value of `var` is not a usable key; `reason` never quotes the key.
    #[error("{var}: {reason}")]
    Malformed {
        /// The environment variable (or other source) that held the key.
        var: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The system could not generate an RSA key pair.
    #[error("RSA-2048 key generation failed")]
    Generate,
}

fn malformed(var: &str, reason: impl Into<String>) -> KeyError {
    KeyError::Malformed {
        var: var.to_owned(),
        reason: reason.into(),
    }
}

/// Key tools differ on padding; accept base64 bodies with or without it.
const LENIENT_B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// What a key's text turned out to be, before any DER parsing.
enum Encoded {
    /// A PEM block: its label and decoded DER body.
    Pem(String, Zeroizing<Vec<u8>>),
    /// Bare base64 of DER whose structure is not labelled.
    Bare(Zeroizing<Vec<u8>>),
}

/// Splits PEM or bare base64 into DER. Tolerates the literal `\n` sequences that one-line
/// environment variables often carry instead of real line breaks.
fn decode_text(var: &str, text: &str) -> Result<Encoded, KeyError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(malformed(var, "is empty"));
    }
    match text.find("-----BEGIN ") {
        Some(start) => decode_pem(var, &text[start..]),
        None => decode_b64(var, text).map(Encoded::Bare),
    }
}

fn decode_pem(var: &str, pem: &str) -> Result<Encoded, KeyError> {
    let after_begin = &pem["-----BEGIN ".len()..];
    let Some(label_end) = after_begin.find("-----") else {
        return Err(malformed(var, "has a malformed PEM BEGIN line"));
    };
    let label = &after_begin[..label_end];
    let body_and_rest = &after_begin[label_end + "-----".len()..];
    let end_marker = format!("-----END {label}-----");
    let Some(body_end) = body_and_rest.find(&end_marker) else {
        return Err(malformed(
            var,
            format!("has no matching END line for {label:?}"),
        ));
    };
    let body = &body_and_rest[..body_end];
    if body.contains("Proc-Type") || label.contains("ENCRYPTED") {
        return Err(malformed(var, "is an encrypted key; give it unencrypted"));
    }
    Ok(Encoded::Pem(label.to_owned(), decode_b64(var, body)?))
}

fn decode_b64(var: &str, body: &str) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    LENIENT_B64
        .decode(strip_layout(body).as_bytes())
        .map(Zeroizing::new)
        .map_err(|_| malformed(var, "is neither PEM nor valid base64"))
}

/// Drops whitespace and literal `\n`/`\r` in one pass into a buffer that is zeroed on drop
/// (sized up front, so no reallocation leaves copies of the key behind).
fn strip_layout(body: &str) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(body.len()));
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && matches!(chars.peek(), Some('n' | 'r')) {
            chars.next();
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

/// The app's RSA private key (it signs requests); the stand-in's gateway key is the same type.
/// Its `Debug` is aws-lc's, which shows the public half only.
#[derive(Clone, Debug)]
pub struct AppPrivateKey(Arc<KeyPair>);

/// The gateway stand-in's private key (it signs answers), parsed like the app's.
pub type GatewayPrivateKey = AppPrivateKey;

impl AppPrivateKey {
    /// Parses PKCS#1 or PKCS#8, PEM or bare base64; `var` names the variable in errors.
    pub fn parse(text: &str, var: &str) -> Result<Self, KeyError> {
        let pair = match decode_text(var, text)? {
            Encoded::Pem(label, der) => private_from_pem(var, &label, &der)?,
            Encoded::Bare(der) => private_from_bare(var, &der)?,
        };
        Ok(Self(Arc::new(pair)))
    }

    /// The aws-lc key pair, for signing.
    pub(crate) fn key_pair(&self) -> &KeyPair {
        &self.0
    }

    /// The matching public key, e.g. to configure the gateway stand-in.
    pub fn public_key(&self) -> Result<AlipayPublicKey, KeyError> {
        let spki = self.0.public_key().as_der().map_err(|_| {
            malformed(
                "derived public key",
                "cannot be encoded as SubjectPublicKeyInfo",
            )
        })?;
        AlipayPublicKey::parse(&STANDARD.encode(spki.as_ref()), "derived public key")
    }
}

fn private_from_pem(var: &str, label: &str, der: &[u8]) -> Result<KeyPair, KeyError> {
    let parsed = match label {
        "RSA PRIVATE KEY" => KeyPair::from_der(der),
        "PRIVATE KEY" => KeyPair::from_pkcs8(der),
        "PUBLIC KEY" | "RSA PUBLIC KEY" => {
            return Err(malformed(
                var,
                "holds a public key; a private key is needed here",
            ))
        }
        other => {
            return Err(malformed(
                var,
                format!("has PEM label {other:?}; expected RSA PRIVATE KEY or PRIVATE KEY"),
            ))
        }
    };
    parsed.map_err(|e| {
        malformed(
            var,
            format!("is not a usable RSA private key ({})", e.description_()),
        )
    })
}

fn private_from_bare(var: &str, der: &[u8]) -> Result<KeyPair, KeyError> {
    // Bare base64 carries no label: Alipay's key tool prints PKCS#8, older tools PKCS#1.
    if let Ok(pair) = KeyPair::from_pkcs8(der).or_else(|_| KeyPair::from_der(der)) {
        return Ok(pair);
    }
    if PublicKey::from_der(der).is_ok() {
        return Err(malformed(
            var,
            "holds a public key; a private key is needed here",
        ));
    }
    Err(malformed(
        var,
        "is not an RSA private key in PKCS#8 or PKCS#1 form",
    ))
}

/// Alipay's RSA public key (it verifies answers); the stand-in uses it for the app's key.
#[derive(Clone, Debug)]
pub struct AlipayPublicKey(Arc<ParsedPublicKey>);

impl AlipayPublicKey {
    /// Parses SPKI or PKCS#1, PEM or bare base64; `var` names the variable in errors.
    pub fn parse(text: &str, var: &str) -> Result<Self, KeyError> {
        let der = match decode_text(var, text)? {
            Encoded::Pem(label, der) => match label.as_str() {
                "PUBLIC KEY" | "RSA PUBLIC KEY" => der,
                "CERTIFICATE" => {
                    return Err(malformed(var, "is a certificate; give the public key"))
                }
                l if l.contains("PRIVATE KEY") => {
                    return Err(malformed(
                        var,
                        "holds a private key; give Alipay's public key",
                    ))
                }
                other => {
                    return Err(malformed(
                        var,
                        format!("has PEM label {other:?}; expected PUBLIC KEY or RSA PUBLIC KEY"),
                    ))
                }
            },
            Encoded::Bare(der) => der,
        };
        public_from_der(var, &der).map(|k| Self(Arc::new(k)))
    }

    /// The parsed key, for verification.
    pub(crate) fn parsed(&self) -> &ParsedPublicKey {
        &self.0
    }
}

fn public_from_der(var: &str, der: &[u8]) -> Result<ParsedPublicKey, KeyError> {
    // rsa::PublicKey accepts SPKI and PKCS#1 alike and tells the size; enforce it here so a
    // short key fails at start rather than on every verification.
    let Ok(public) = PublicKey::from_der(der) else {
        if KeyPair::from_pkcs8(der)
            .or_else(|_| KeyPair::from_der(der))
            .is_ok()
        {
            return Err(malformed(
                var,
                "holds a private key; give Alipay's public key",
            ));
        }
        return Err(malformed(
            var,
            "is not an RSA public key in SPKI or PKCS#1 form",
        ));
    };
    let bits = public.modulus_len() * 8;
    if !(2048..=8192).contains(&bits) {
        return Err(malformed(
            var,
            format!("is a {bits}-bit RSA key; 2048 to 8192 bits are accepted"),
        ));
    }
    ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, der).map_err(|e| {
        malformed(
            var,
            format!("is not a usable RSA public key ({})", e.description_()),
        )
    })
}

/// A fresh RSA-2048 pair for the dev stand-in: (PKCS#8 private, SPKI public), bare base64.
pub fn generate_rsa2048_keypair() -> Result<(String, String), KeyError> {
    let pair = KeyPair::generate(KeySize::Rsa2048).map_err(|_| KeyError::Generate)?;
    let private = pair.as_der().map_err(|_| KeyError::Generate)?;
    let public = pair.public_key().as_der().map_err(|_| KeyError::Generate)?;
    Ok((
        STANDARD.encode(private.as_ref()),
        STANDARD.encode(public.as_ref()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_backslash_n_in_one_line_pem_is_tolerated() {
        let (private, _) = generate_rsa2048_keypair().unwrap();
        let one_line =
            format!("-----BEGIN PRIVATE KEY-----\\n{private}\\n-----END PRIVATE KEY-----");
        assert!(AppPrivateKey::parse(&one_line, "K").is_ok());
    }

    #[test]
    fn derived_public_key_verifies_what_the_private_key_signs() {
        use crate::alipay::sign::{rsa2_sign, rsa2_verify};
        let (private, public) = generate_rsa2048_keypair().unwrap();
        let key = AppPrivateKey::parse(&private, "K").unwrap();
        let sig = rsa2_sign(&key, b"content").unwrap();
        let derived = key.public_key().unwrap();
        assert_eq!(rsa2_verify(&derived, b"content", &sig), Ok(()));
        let given = AlipayPublicKey::parse(&public, "P").unwrap();
        assert_eq!(rsa2_verify(&given, b"content", &sig), Ok(()));
    }

    #[test]
    fn errors_never_quote_the_key() {
        let err = AppPrivateKey::parse("MIIBnotakey", "ALIPAY_APP_PRIVATE_KEY").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("ALIPAY_APP_PRIVATE_KEY: "), "{text}");
        assert!(!text.contains("MIIB"), "{text}");
    }
}
