//! SigV4 for the direct reader's one request shape: `POST` of JSON 1.0 to the endpoint's root
//! with `X-Amz-Target`, signed with the day's signing key, kept, and SHA-256 and HMAC from
//! aws-lc.
//!
//! Why not aws-sigv4's `sign` for it: that derives the signing key (four HMACs) again for every
//! request and hashes with a portable SHA-256, ~157k instructions of the ~386k a warm GET on
//! the DynamoDB API costs in user space (callgrind, docs/benchmarks.md, "Instructions"). The key
//! derivation itself stays aws-sigv4's (`generate_signing_key`), once per day and secret; the
//! canonical request is the one aws-sigv4 makes for these headers, checked against its output
//! in the tests below. Endpoints with a path other than `/` are signed by aws-sigv4 in full.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_lc_rs::{digest, hmac};
use aws_sigv4::sign::v4::generate_signing_key;

use crate::time_fmt::Timestamp;

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const SERVICE: &str = "dynamodb";

/// The headers a signature adds to a request.
#[derive(PartialEq, Eq)]
pub(super) struct Signed {
    pub(super) amz_date: String,
    pub(super) security_token: Option<String>,
    pub(super) authorization: String,
}

impl std::fmt::Debug for Signed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The session token is a credential: never printed.
        f.debug_struct("Signed")
            .field("amz_date", &self.amz_date)
            .field("authorization", &self.authorization)
            .finish_non_exhaustive()
    }
}

/// Signs requests to one endpoint host in one region, keeping the day's key.
#[derive(Debug)]
pub(super) struct FastSigner {
    region: String,
    host: String,
    target: &'static str,
    content_type: &'static str,
    day_key: Mutex<Option<Arc<DayKey>>>,
}

/// A signing key and what it was derived from.
struct DayKey {
    date: String,
    secret: String,
    key: hmac::Key,
}

impl std::fmt::Debug for DayKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DayKey")
            .field("date", &self.date)
            .finish_non_exhaustive()
    }
}

impl FastSigner {
    /// `None` when the endpoint's path is not `/`: its canonical form then needs aws-sigv4's
    /// normalisation and encoding.
    pub(super) fn for_endpoint(
        path: &str,
        host: &str,
        region: &str,
        target: &'static str,
        content_type: &'static str,
    ) -> Option<Self> {
        (path == "/").then(|| Self {
            region: region.to_owned(),
            host: host.to_owned(),
            target,
            content_type,
            day_key: Mutex::new(None),
        })
    }

    /// The SigV4 headers for `body` sent at `at` with `credentials`.
    pub(super) fn sign(&self, credentials: &Credentials, at: SystemTime, body: &[u8]) -> Signed {
        let secs = at
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let amz_date =
            Timestamp::from_unix(i64::try_from(secs).unwrap_or(i64::MAX)).iso8601_basic();
        let date = &amz_date[..8];
        let token = credentials.session_token();
        let signed_headers = if token.is_some() {
            "content-type;host;x-amz-date;x-amz-security-token;x-amz-target"
        } else {
            "content-type;host;x-amz-date;x-amz-target"
        };
        let mut canonical = format!(
            "POST\n/\n\ncontent-type:{}\nhost:{}\nx-amz-date:{amz_date}\n",
            self.content_type, self.host
        );
        if let Some(token) = token {
            canonical.push_str("x-amz-security-token:");
            canonical.push_str(token.trim());
            canonical.push('\n');
        }
        canonical.push_str("x-amz-target:");
        canonical.push_str(self.target);
        canonical.push_str("\n\n");
        canonical.push_str(signed_headers);
        canonical.push('\n');
        canonical.push_str(&sha256_hex(body));
        let scope = format!("{date}/{}/{SERVICE}/aws4_request", self.region);
        let string_to_sign = format!(
            "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
            sha256_hex(canonical.as_bytes())
        );
        let key = self.day_key(date, credentials.secret_access_key(), at);
        let signature = hex::encode(hmac::sign(&key.key, string_to_sign.as_bytes()));
        Signed {
            authorization: format!(
                "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
                credentials.access_key_id()
            ),
            security_token: token.map(ToOwned::to_owned),
            amz_date,
        }
    }

    /// The signing key for `date` and `secret`, derived once per day (and per rotation).
    fn day_key(&self, date: &str, secret: &str, at: SystemTime) -> Arc<DayKey> {
        let mut kept = self.day_key.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(key) = kept
            .as_ref()
            .filter(|k| k.date == date && k.secret == secret)
        {
            return Arc::clone(key);
        }
        let derived = generate_signing_key(secret, at, &self.region, SERVICE);
        let key = Arc::new(DayKey {
            date: date.to_owned(),
            secret: secret.to_owned(),
            key: hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()),
        });
        *kept = Some(Arc::clone(&key));
        key
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, bytes))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    use aws_sigv4::sign::v4;
    use aws_smithy_runtime_api::client::identity::Identity;

    use super::*;

    const TARGET: &str = "DynamoDB_20120810.BatchGetItem";
    const JSON: &str = "application/x-amz-json-1.0";

    /// aws-sigv4's headers for the same request, as the direct reader used to sign it.
    fn reference(
        credentials: &Credentials,
        at: SystemTime,
        host: &str,
        body: &[u8],
        region: &str,
    ) -> Signed {
        let identity = Identity::from(credentials.clone());
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name(SERVICE)
            .time(at)
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let uri = format!("http://{host}/");
        let headers = [
            ("host", host),
            ("content-type", JSON),
            ("x-amz-target", TARGET),
        ];
        let signable =
            SignableRequest::new("POST", &uri, headers.into_iter(), SignableBody::Bytes(body))
                .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let (headers, _) = instructions.into_parts();
        let value = |name: &str| {
            headers
                .iter()
                .find(|h| h.name() == name)
                .map(|h| h.value().to_owned())
        };
        Signed {
            amz_date: value("x-amz-date").unwrap(),
            security_token: value("x-amz-security-token"),
            authorization: value("authorization").unwrap(),
        }
    }

    fn keys(id: &str, secret: &str, token: Option<String>) -> Credentials {
        Credentials::new(id, secret, token, None, "test")
    }

    fn signer(host: &str, region: &str) -> FastSigner {
        FastSigner::for_endpoint("/", host, region, TARGET, JSON).unwrap()
    }

    #[test]
    fn signs_as_aws_sigv4_does_with_and_without_a_session_token() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_000_123);
        let body = br#"{"RequestItems":{"t":{"Keys":[{"pk":{"S":"s#1"}}],"ConsistentRead":true}}}"#;
        for (credentials, host, region) in [
            (
                keys(
                    "AKIDEXAMPLE",
                    "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                    None,
                ),
                "dynamodb.us-east-1.amazonaws.com",
                "us-east-1",
            ),
            (
                keys(
                    "ASIAEXAMPLE",
                    "secret/with+chars",
                    Some("FwoGZXIvYXdzE//token+with/slashes==".to_owned()),
                ),
                "127.0.0.1:5055",
                "cn-north-1",
            ),
        ] {
            let fast = signer(host, region);
            let ours = fast.sign(&credentials, at, body);
            assert_eq!(
                ours,
                reference(&credentials, at, host, body, region),
                "{host}"
            );
            // The kept key signs the next request of the day the same way.
            let later = at + Duration::from_secs(60);
            assert_eq!(
                fast.sign(&credentials, later, b"{}"),
                reference(&credentials, later, host, b"{}", region)
            );
        }
    }

    #[test]
    fn a_new_day_or_a_rotated_secret_gets_a_new_key() {
        let fast = signer("127.0.0.1:5055", "us-east-1");
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_083_190); // 23:59:50
        let old = keys("AKID", "old-secret", None);
        let new = keys("AKID", "new-secret", None);
        let next_day = at + Duration::from_secs(20);
        for (credentials, when) in [(&old, at), (&old, next_day), (&new, next_day), (&old, at)] {
            assert_eq!(
                fast.sign(credentials, when, b"{}"),
                reference(credentials, when, "127.0.0.1:5055", b"{}", "us-east-1")
            );
        }
    }

    #[test]
    fn only_the_root_path_is_signed_here() {
        assert!(FastSigner::for_endpoint("/prefix/", "h", "r", TARGET, JSON).is_none());
        assert!(FastSigner::for_endpoint("/", "h", "r", TARGET, JSON).is_some());
    }
}
