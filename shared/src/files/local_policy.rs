//! The local backend's signed URLs: an upload policy (the same shape as S3's POST policy: a
//! base64 JSON document with an expiration and conditions on the key, the content type and the
//! length) signed with HMAC-SHA256, and signed download links. The key is derived from the
//! token keys, so nothing else needs configuring.

use aws_lc_rs::hmac;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::types::UploadPolicy;
use crate::secret::SecretBytes;

/// The upload form's signature field (the policy itself is the `policy` field).
pub const SIGNATURE_FIELD: &str = "x-miniapp-signature";

/// Signs and checks the local backend's policies and links.
#[derive(Clone)]
pub(crate) struct Signer {
    key: hmac::Key,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(..)")
    }
}

/// What a verified policy allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Allowed {
    pub(crate) key: String,
    pub(crate) content_type: String,
    pub(crate) max_size: u64,
}

/// Why a policy or link is refused: S3's code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

pub(crate) fn denied(message: impl Into<String>) -> Refusal {
    Refusal {
        code: "AccessDenied",
        message: message.into(),
    }
}

impl Signer {
    pub(crate) fn new(secret: &SecretBytes) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret.expose()),
        }
    }

    fn sign(&self, text: &str) -> String {
        hex::encode(hmac::sign(&self.key, text.as_bytes()).as_ref())
    }

    fn verify(&self, text: &str, signature: &str) -> bool {
        hex::decode(signature)
            .is_ok_and(|mac| hmac::verify(&self.key, text.as_bytes(), &mac).is_ok())
    }

    /// The base64 policy document and its signature.
    pub(crate) fn policy(&self, p: &UploadPolicy) -> (String, String) {
        let expiration = p
            .expires_at
            .replace_nanosecond(0)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_default();
        let doc = json!({
            "expiration": expiration,
            "conditions": [
                {"key": p.key.as_str()},
                {"Content-Type": p.content_type},
                ["content-length-range", 0, p.max_size],
            ],
        });
        let encoded = STANDARD.encode(doc.to_string());
        let signature = self.sign(&encoded);
        (encoded, signature)
    }

    /// Checks a policy's signature and expiry; gives back what it allows.
    pub(crate) fn open_policy(
        &self,
        policy: &str,
        signature: &str,
        now: OffsetDateTime,
    ) -> Result<Allowed, Refusal> {
        if !self.verify(policy, signature) {
            return Err(Refusal {
                code: "SignatureDoesNotMatch",
                message:
                    "The request signature we calculated does not match the signature you provided."
                        .into(),
            });
        }
        let doc: Value = STANDARD
            .decode(policy)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| denied("Invalid Policy: Invalid JSON."))?;
        let expires = doc["expiration"]
            .as_str()
            .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
            .ok_or_else(|| denied("Invalid Policy: Invalid 'expiration' value."))?;
        if now >= expires {
            return Err(denied("Invalid according to Policy: Policy expired."));
        }
        let conditions = doc["conditions"].as_array().cloned().unwrap_or_default();
        let field = |name: &str| {
            conditions
                .iter()
                .find_map(|c| c.get(name).and_then(Value::as_str).map(str::to_owned))
        };
        let max_size = conditions
            .iter()
            .find_map(|c| match c.as_array().map(Vec::as_slice) {
                Some([Value::String(n), _, max]) if n == "content-length-range" => max.as_u64(),
                _ => None,
            });
        match (field("key"), field("Content-Type"), max_size) {
            (Some(key), Some(content_type), Some(max_size)) => Ok(Allowed {
                key,
                content_type,
                max_size,
            }),
            _ => Err(denied("Invalid Policy: missing conditions.")),
        }
    }

    /// The signature of a download link.
    pub(crate) fn link(&self, key: &str, expires: i64, content_type: &str, name: &str) -> String {
        self.sign(&format!("GET\n{key}\n{expires}\n{content_type}\n{name}"))
    }

    /// Checks a download link.
    pub(crate) fn open_link(
        &self,
        key: &str,
        expires: i64,
        content_type: &str,
        name: &str,
        signature: &str,
        now: OffsetDateTime,
    ) -> Result<(), Refusal> {
        let text = format!("GET\n{key}\n{expires}\n{content_type}\n{name}");
        if !self.verify(&text, signature) {
            return Err(Refusal {
                code: "SignatureDoesNotMatch",
                message:
                    "The request signature we calculated does not match the signature you provided."
                        .into(),
            });
        }
        if now.unix_timestamp() >= expires {
            return Err(denied("Request has expired"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::types::ObjectKey;

    fn policy(expires_at: OffsetDateTime) -> UploadPolicy {
        UploadPolicy {
            key: ObjectKey::new("users/a/b".into()),
            content_type: "image/png".into(),
            max_size: 10,
            expires_at,
        }
    }

    #[test]
    fn policies_round_trip_and_refuse_tampering_and_age() {
        let s = Signer::new(&SecretBytes::new(vec![3; 32]));
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let (doc, sig) = s.policy(&policy(now + time::Duration::minutes(5)));
        let ok = s.open_policy(&doc, &sig, now).unwrap();
        assert_eq!(
            (ok.key.as_str(), ok.content_type.as_str(), ok.max_size),
            ("users/a/b", "image/png", 10)
        );
        let later = now + time::Duration::minutes(5);
        assert_eq!(
            s.open_policy(&doc, &sig, later).unwrap_err().code,
            "AccessDenied"
        );
        let mut forged = STANDARD.decode(&doc).unwrap();
        let text = String::from_utf8(forged.clone())
            .unwrap()
            .replace("10]", "99]");
        forged = text.into_bytes();
        let forged = STANDARD.encode(forged);
        assert_eq!(
            s.open_policy(&forged, &sig, now).unwrap_err().code,
            "SignatureDoesNotMatch"
        );
        let other = Signer::new(&SecretBytes::new(vec![4; 32]));
        assert!(other.open_policy(&doc, &sig, now).is_err());
    }

    #[test]
    fn links_bind_every_part() {
        let s = Signer::new(&SecretBytes::new(vec![3; 32]));
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let exp = now.unix_timestamp() + 60;
        let sig = s.link("k", exp, "image/png", "a.png");
        assert!(s
            .open_link("k", exp, "image/png", "a.png", &sig, now)
            .is_ok());
        assert!(s
            .open_link("k2", exp, "image/png", "a.png", &sig, now)
            .is_err());
        assert!(s
            .open_link("k", exp, "text/html", "a.png", &sig, now)
            .is_err());
        assert!(s
            .open_link("k", exp + 1, "image/png", "a.png", &sig, now)
            .is_err());
        let late = now + time::Duration::seconds(60);
        assert_eq!(
            s.open_link("k", exp, "image/png", "a.png", &sig, late)
                .unwrap_err()
                .message,
            "Request has expired"
        );
    }
}
