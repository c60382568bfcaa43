//! The types both file backends share (the S3 backend's `s3.rs` and the local one's `local.rs`
//! speak only these).

use thiserror::Error;

/// Where an object lives: `users/<opaque user hash>/<file id>`. Made only from the verified
/// user (a keyed hash) and a server-generated id ([`super::keys::object_key`]), never from input.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectKey(String);

impl ObjectKey {
    /// Wraps a key the server made ([`super::keys::object_key`]; tests make their own).
    pub fn new(key: String) -> Self {
        Self(key)
    }

    /// The key's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a presigned upload may carry: exactly this key and content type, at most `max_size`
/// bytes, before `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadPolicy {
    /// The one key the upload may write.
    pub key: ObjectKey,
    /// The exact `Content-Type` the upload must declare.
    pub content_type: String,
    /// The largest accepted object, in bytes (the declared size).
    pub max_size: u64,
    /// When the policy stops being accepted.
    pub expires_at: time::OffsetDateTime,
}

/// A presigned multipart/form-data POST: send `fields` in order, then the file as `file_field`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadForm {
    /// Where to POST.
    pub url: String,
    /// The form fields, in the order they must be sent (before the file).
    pub fields: Vec<(String, String)>,
    /// The file's field name: `file`.
    pub file_field: &'static str,
}

/// A presigned PUT: the body is the file, with these headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedPut {
    /// Where to PUT.
    pub url: String,
    /// Headers the request must carry (the signature covers them).
    pub headers: Vec<(String, String)>,
}

/// What a HEAD of an object tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Its size in bytes.
    pub size: u64,
    /// Its stored content type, when the backend keeps one.
    pub content_type: Option<String>,
}

/// Why a backend call failed.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FileBackendError {
    /// No such object.
    #[error("no such object")]
    NotFound,
    /// The backend failed or could not be reached: retry later.
    #[error("file storage unavailable: {0}")]
    Unavailable(String),
    /// The backend's configuration is unusable.
    #[error("file storage misconfigured: {0}")]
    Misconfigured(String),
}
