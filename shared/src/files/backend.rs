//! The file backends behind one enum (no trait objects), like the stores.

#[cfg(feature = "files-s3")]
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use super::local::LocalBackend;
#[cfg(feature = "files-s3")]
use super::s3::S3Backend;
use super::types::{
    FileBackendError, ObjectInfo, ObjectKey, PresignedPut, UploadForm, UploadPolicy,
};

/// Where objects are kept.
#[derive(Debug, Clone)]
pub enum FileBackend {
    /// Files on this machine, served by the function itself.
    Local(LocalBackend),
    /// An S3 bucket (or any S3-compatible store: `AWS_ENDPOINT_URL_S3`).
    #[cfg(feature = "files-s3")]
    S3(Arc<S3Backend>),
}

/// Calls the same method on whichever backend this is.
macro_rules! dispatch_backend {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match $self {
            FileBackend::Local(b) => b.$method($($arg),*).await,
            #[cfg(feature = "files-s3")]
            FileBackend::S3(b) => b.$method($($arg),*).await,
        }
    };
}

impl FileBackend {
    /// A presigned multipart POST for exactly this key, type and size range.
    pub async fn presign_post(
        &self,
        p: &UploadPolicy,
        now: OffsetDateTime,
    ) -> Result<UploadForm, FileBackendError> {
        dispatch_backend!(self.presign_post(p, now))
    }

    /// A presigned PUT for exactly this key and type.
    pub async fn presign_put(
        &self,
        p: &UploadPolicy,
        now: OffsetDateTime,
    ) -> Result<PresignedPut, FileBackendError> {
        dispatch_backend!(self.presign_put(p, now))
    }

    /// A presigned GET valid for `ttl`; `download_name` must already be sanitised.
    pub async fn presign_get(
        &self,
        key: &ObjectKey,
        download_name: &str,
        content_type: &str,
        ttl: Duration,
    ) -> Result<String, FileBackendError> {
        dispatch_backend!(self.presign_get(key, download_name, content_type, ttl))
    }

    /// The object's size and type, `None` when absent.
    pub async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectInfo>, FileBackendError> {
        dispatch_backend!(self.head(key))
    }

    /// Removes the object (absent: fine).
    pub async fn delete(&self, key: &ObjectKey) -> Result<(), FileBackendError> {
        dispatch_backend!(self.delete(key))
    }
}
