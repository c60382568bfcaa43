//! RSA2 as Alipay's gateway checks it: the sign content, SHA256withRSA (PKCS#1 v1.5), standard
//! padded base64, the wire form of a signed request, and Beijing-time timestamps.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::RSA_PKCS1_SHA256;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use thiserror::Error;

use super::keys::{AlipayPublicKey, AppPrivateKey};
use crate::secret::SecretString;
use crate::time_fmt::Timestamp;

/// Why signing or verifying failed.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum Rsa2SignError {
    /// aws-lc refused to sign (never expected with a key that parsed).
    #[error("RSA2 signing failed")]
    Signing,
    /// The signature is not standard base64.
    #[error("the signature is not valid base64")]
    SignatureEncoding,
    /// The signature does not match the content under the key.
    #[error("the RSA2 signature does not match")]
    Mismatch,
}

/// Parameters that travel in the query string; everything else goes in the form body.
/// The gateway reads both, but this split is what the official SDKs send.
const QUERY_PARAMS: [&str; 13] = [
    "method",
    "app_id",
    "charset",
    "version",
    "sign_type",
    "timestamp",
    "format",
    "app_auth_token",
    "notify_url",
    "return_url",
    "auth_token",
    "alipay_sdk",
    "sign",
];

/// The string the gateway rebuilds and verifies: every parameter except `sign`, empty values
/// dropped, sorted by key, raw values joined as `k=v&k=v` (UTF-8).
pub fn sign_content<'a>(params: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut kept: Vec<(&str, &str)> = params
        .into_iter()
        .filter(|(k, v)| *k != "sign" && !v.is_empty())
        .collect();
    kept.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = String::with_capacity(kept.iter().map(|(k, v)| k.len() + v.len() + 2).sum());
    for (i, (k, v)) in kept.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// RSA2-signs arbitrary content: SHA256withRSA, PKCS#1 v1.5, standard padded base64.
pub fn rsa2_sign(key: &AppPrivateKey, content: &[u8]) -> Result<String, Rsa2SignError> {
    let pair = key.key_pair();
    let mut sig = vec![0u8; pair.public_modulus_len()];
    // aws-lc's PKCS#1 v1.5 signing is deterministic; the RNG argument is ignored.
    pair.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), content, &mut sig)
        .map_err(|_| Rsa2SignError::Signing)?;
    Ok(STANDARD.encode(sig))
}

/// Checks an RSA2 signature (standard base64) over `content`.
pub fn rsa2_verify(
    key: &AlipayPublicKey,
    content: &[u8],
    signature: &str,
) -> Result<(), Rsa2SignError> {
    let sig = STANDARD
        .decode(signature.trim())
        .map_err(|_| Rsa2SignError::SignatureEncoding)?;
    key.parsed()
        .verify_sig(content, &sig)
        .map_err(|_| Rsa2SignError::Mismatch)
}

/// A signed request as it goes on the wire.
#[derive(Clone, Debug)]
pub struct WireRequest {
    /// The common parameters and `sign`, form-encoded, to append after `gateway.do?`.
    pub query: String,
    /// `application/x-www-form-urlencoded` UTF-8 body with the other parameters; it carries
    /// the auth code or refresh token.
    pub form_body: SecretString,
}

/// Signs `params` (without `sign`; order kept) and splits them into query and form body.
/// Empty values are not sent at all, so what is sent is exactly what the gateway verifies.
pub fn signed_wire_request(
    params: &[(&str, &str)],
    key: &AppPrivateKey,
) -> Result<WireRequest, Rsa2SignError> {
    let sent: Vec<(&str, &str)> = params
        .iter()
        .copied()
        .filter(|(k, v)| *k != "sign" && !v.is_empty())
        .collect();
    let sign = rsa2_sign(key, sign_content(sent.iter().copied()).as_bytes())?;
    let mut query = form_urlencoded::Serializer::new(String::new());
    let mut body = form_urlencoded::Serializer::new(String::new());
    let signed = sent.iter().copied().chain([("sign", sign.as_str())]);
    for (k, v) in signed {
        let target = if QUERY_PARAMS.contains(&k) {
            &mut query
        } else {
            &mut body
        };
        target.append_pair(k, v);
    }
    Ok(WireRequest {
        query: query.finish(),
        form_body: SecretString::new(body.finish()),
    })
}

/// Alipay's `timestamp` parameter: `yyyy-MM-dd HH:mm:ss` in Beijing time.
pub fn beijing_timestamp(at: Timestamp) -> String {
    at.beijing()
}

/// Parses what [`beijing_timestamp`] writes back into an instant.
pub fn parse_beijing_timestamp(s: &str) -> Option<Timestamp> {
    Timestamp::parse_beijing(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_content_drops_sign_and_empty_values_and_sorts() {
        let params = [
            ("b", "2"),
            ("sign", "x"),
            ("a", "1"),
            ("c", ""),
            ("sign_type", "RSA2"),
        ];
        assert_eq!(sign_content(params), "a=1&b=2&sign_type=RSA2");
    }

    #[test]
    fn beijing_time_round_trips_across_midnight() {
        // 2024-05-20 16:30:00 UTC is 2024-05-21 00:30:00 in Beijing.
        let t = Timestamp::from_unix(1_716_222_600);
        assert_eq!(beijing_timestamp(t), "2024-05-21 00:30:00");
        assert_eq!(parse_beijing_timestamp("2024-05-21 00:30:00"), Some(t));
        assert_eq!(parse_beijing_timestamp("2024-05-21T00:30:00"), None);
    }
}
