//! What a file backend takes and gives: object keys, upload policies, forms and URLs.
//!
//! The `s3` branch's copy; the files branch builds the keys and the records around them.

use time::OffsetDateTime;

/// An object's key in the bucket, e.g. `users/<opaque user hash>/<file id>`: always built by
/// the server from the verified user and a generated id, never taken from input.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ObjectKey(String);

impl ObjectKey {
    /// Wraps a key the caller built.
    pub fn new(key: String) -> Self {
        Self(key)
    }

    /// The key as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What one upload may put: exactly this key and content type, 1 to `max_size` bytes, until
/// `expires_at`.
#[derive(Clone, Debug)]
pub struct UploadPolicy {
    /// The one key the upload may write.
    pub key: ObjectKey,
    /// The exact `Content-Type` the upload must declare.
    pub content_type: String,
    /// The largest body accepted, in bytes.
    pub max_size: u64,
    /// When the policy stops being accepted.
    pub expires_at: OffsetDateTime,
}

/// A `multipart/form-data` POST upload: send `fields` in order, then the file as `file_field`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadForm {
    /// Where to POST the form.
    pub url: String,
    /// The form fields, in the order they must precede the file.
    pub fields: Vec<(String, String)>,
    /// The name of the file's form field (last in the form).
    pub file_field: &'static str,
}

/// A presigned PUT: send the body to `url` with exactly these headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PresignedPut {
    /// The presigned URL.
    pub url: String,
    /// Headers that were signed and must be sent as they are.
    pub headers: Vec<(String, String)>,
}

/// What the store knows of a stored object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Its size in bytes.
    pub size: u64,
    /// Its `Content-Type`, if the store kept one.
    pub content_type: Option<String>,
}

/// Why a file backend could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum FileBackendError {
    /// No such object.
    #[error("no such object")]
    NotFound,
    /// The storage service failed or could not be reached (worth a retry later).
    #[error("file storage unavailable: {0}")]
    Unavailable(String),
    /// The deployment's configuration cannot work (region, credentials, bucket).
    #[error("file storage misconfigured: {0}")]
    Misconfigured(String),
}
