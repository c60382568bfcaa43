//! S3's browser-based upload: a presigned POST policy signed with AWS Signature Version 4
//! ("Browser-based uploads using POST (AWS Signature Version 4)" in the S3 documentation).
//!
//! The SDK presigns GET and PUT but not POST. The policy is a JSON document, base64-encoded;
//! its SigV4 signature uses the policy text itself as the string to sign. The document is
//! written exactly as boto3's `generate_presigned_post` writes it (Python's `json.dumps`:
//! `", "` and `": "` separators, non-ASCII escaped, conditions in boto3's order), so the policy,
//! the signature and every field equal boto3's byte for byte (shared/tests/fixtures/s3/).
//!
//! The conditions pin the exact `Content-Type`, a `content-length-range` of 1 to `max_size`
//! bytes (an empty file is refused: nothing to store), the bucket, the exact key and the
//! signing fields (algorithm, credential, date and, when the credentials have one, the session
//! token), until `expires_at`.

use std::io;

use aws_lc_rs::hmac;
use base64::Engine as _;
use serde::ser::{SerializeMap, SerializeTuple};
use serde::{Serialize, Serializer};
use time::OffsetDateTime;

use super::types::{UploadForm, UploadPolicy};
use crate::time_fmt::Timestamp;

/// The form field that carries the file (S3 requires it to come last).
pub const FILE_FIELD: &str = "file";

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const SERVICE: &str = "s3";

/// The credentials a policy is signed with.
#[derive(Clone, Copy)]
pub struct SigningCredentials<'a> {
    /// The access key id.
    pub access_key_id: &'a str,
    /// The secret access key.
    pub secret_access_key: &'a str,
    /// The session token of temporary credentials (Lambda's have one).
    pub session_token: Option<&'a str>,
}

impl std::fmt::Debug for SigningCredentials<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningCredentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// Where the form goes: the bucket, its region and the URL that receives the POST.
#[derive(Clone, Copy, Debug)]
pub struct PostTarget<'a> {
    /// The region the signature is scoped to.
    pub region: &'a str,
    /// The bucket.
    pub bucket: &'a str,
    /// The bucket's URL (virtual-hosted or path-style), where the form is posted.
    pub url: &'a str,
}

/// Signs `policy` for `target` at `now`: the form to post, fields in the order boto3 gives them
/// (`Content-Type`, `key`, the signing fields, `policy`, `x-amz-signature`).
pub fn presign_post(
    credentials: &SigningCredentials<'_>,
    target: &PostTarget<'_>,
    policy: &UploadPolicy,
    now: OffsetDateTime,
) -> UploadForm {
    let date = Timestamp::from_unix(now.unix_timestamp()).iso8601_basic();
    let credential = format!(
        "{}/{}/{}/{SERVICE}/aws4_request",
        credentials.access_key_id,
        &date[..8],
        target.region
    );
    let mut fields = vec![
        ("Content-Type", policy.content_type.as_str()),
        ("key", policy.key.as_str()),
        ("x-amz-algorithm", ALGORITHM),
        ("x-amz-credential", credential.as_str()),
        ("x-amz-date", date.as_str()),
    ];
    if let Some(token) = credentials.session_token {
        fields.push(("x-amz-security-token", token));
    }
    let document = policy_document(target.bucket, policy, &fields);
    let encoded = base64::engine::general_purpose::STANDARD.encode(document);
    let signature = sign(
        credentials.secret_access_key,
        &date[..8],
        target.region,
        &encoded,
    );
    let mut fields: Vec<(String, String)> = fields
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    fields.push(("policy".to_owned(), encoded));
    fields.push(("x-amz-signature".to_owned(), signature));
    UploadForm {
        url: target.url.to_owned(),
        fields,
        file_field: FILE_FIELD,
    }
}

/// The policy document's bytes. `fields` are the form's fields before `policy`: the first
/// (`Content-Type`) is pinned with the length range ahead of the bucket, the rest after it.
fn policy_document(bucket: &str, policy: &UploadPolicy, fields: &[(&str, &str)]) -> Vec<u8> {
    let mut conditions = Vec::with_capacity(fields.len() + 2);
    conditions.push(Condition::Equals("Content-Type", &policy.content_type));
    conditions.push(Condition::LengthRange(1, policy.max_size));
    conditions.push(Condition::Equals("bucket", bucket));
    conditions.extend(fields[1..].iter().map(|&(k, v)| Condition::Equals(k, v)));
    let document = Document {
        expiration: Timestamp::from_unix(policy.expires_at.unix_timestamp()).rfc3339(),
        conditions,
    };
    let mut out = Vec::with_capacity(512);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PythonJson);
    // Strings and integers only: serialising into a Vec cannot fail.
    let _ = document.serialize(&mut ser);
    out
}

/// The SigV4 signature of `string_to_sign` (the base64 policy) for the day `yyyymmdd`.
fn sign(secret: &str, yyyymmdd: &str, region: &str, string_to_sign: &str) -> String {
    let step = |key: &[u8], data: &str| {
        hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes())
    };
    let k_date = step(format!("AWS4{secret}").as_bytes(), yyyymmdd);
    let k_region = step(k_date.as_ref(), region);
    let k_service = step(k_region.as_ref(), SERVICE);
    let k_signing = step(k_service.as_ref(), "aws4_request");
    hex::encode(step(k_signing.as_ref(), string_to_sign))
}

/// The policy; field order is the document's.
#[derive(Serialize)]
struct Document<'a> {
    expiration: String,
    conditions: Vec<Condition<'a>>,
}

/// One policy condition.
enum Condition<'a> {
    /// `{"<field>": "<value>"}`: the field must equal the value exactly.
    Equals(&'a str, &'a str),
    /// `["content-length-range", min, max]`.
    LengthRange(u64, u64),
}

impl Serialize for Condition<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            Self::Equals(k, v) => {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry(k, v)?;
                map.end()
            }
            Self::LengthRange(min, max) => {
                let mut t = s.serialize_tuple(3)?;
                t.serialize_element("content-length-range")?;
                t.serialize_element(&min)?;
                t.serialize_element(&max)?;
                t.end()
            }
        }
    }
}

/// JSON as Python's `json.dumps` writes it by default: `", "` between elements, `": "` after
/// keys, and every character outside printable ASCII escaped as `\uXXXX` (UTF-16, lower-case
/// hex). serde_json already escapes `"`, `\` and control characters the way Python does.
struct PythonJson;

impl serde_json::ser::Formatter for PythonJson {
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.begin_array_value(w, first)
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut units = [0u16; 2];
        for c in fragment.chars() {
            if (' '..='~').contains(&c) {
                w.write_all(&[c as u8])?;
            } else {
                for unit in c.encode_utf16(&mut units) {
                    write!(w, "\\u{unit:04x}")?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::types::ObjectKey;

    fn policy(content_type: &str, key: &str) -> UploadPolicy {
        UploadPolicy {
            key: ObjectKey::new(key.to_owned()),
            content_type: content_type.to_owned(),
            max_size: 5,
            expires_at: OffsetDateTime::from_unix_timestamp(1_796_184_906).unwrap(),
        }
    }

    #[test]
    fn the_document_is_written_as_python_writes_it() {
        let fields = [("Content-Type", "text/plain"), ("key", "k\u{7f}é😀\"\\\n")];
        let doc = policy_document("b", &policy("text/plain", "k"), &fields);
        assert_eq!(
            String::from_utf8(doc).unwrap(),
            r#"{"expiration": "2026-12-02T04:15:06Z", "conditions": [{"Content-Type": "text/plain"}, ["content-length-range", 1, 5], {"bucket": "b"}, {"key": "k\u007f\u00e9\ud83d\ude00\"\\\n"}]}"#
        );
    }
}
