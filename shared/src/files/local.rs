//! The local backend: objects as files under a folder (beside the embedded store's file, or
//! `miniapp dev`'s state folder), uploaded and downloaded through URLs this process serves
//! itself ([`LocalBackend::serve`], `files/local_serve.rs`) with the same shape as S3's: a
//! multipart POST with a signed policy, a signed PUT, a signed GET. A client cannot tell them
//! apart, and refusals come back as S3's XML errors.
//!
//! The URLs live under `/files/_upload` and `/files/_download/`: the API's `/files/{id}` takes
//! only UUIDs, and `_upload` / `_download` are not UUIDs, so no API route ever shadows them or
//! is shadowed. They carry no request signature: the signed policy in the URL or form is the
//! authorization, as with S3.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use super::local_policy::{Signer, SIGNATURE_FIELD};
use super::types::{
    FileBackendError, ObjectInfo, ObjectKey, PresignedPut, UploadForm, UploadPolicy,
};
use crate::secret::SecretBytes;

/// The upload URL's path (POST: multipart form; PUT: `/files/_upload/<key>`).
pub const UPLOAD_PATH: &str = "/files/_upload";
/// The download URLs' path prefix: `/files/_download/<key>`.
pub const DOWNLOAD_PATH: &str = "/files/_download/";
/// Where uploads are written before they are complete (then renamed into place).
pub(crate) const STAGING_DIR: &str = ".staging";
/// The sidecar file keeping an object's content type.
pub(crate) const TYPE_SUFFIX: &str = ".content-type";

/// The local backend; cheap to clone.
#[derive(Debug, Clone)]
pub struct LocalBackend {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) root: PathBuf,
    pub(crate) signer: Signer,
    /// Scheme, host and optional path prefix of the links; empty: links are relative.
    base_url: String,
    /// The largest upload any policy may allow (bounds the multipart stream).
    pub(crate) max_upload_bytes: u64,
}

fn unavailable(e: &std::io::Error) -> FileBackendError {
    FileBackendError::Unavailable(format!("local files: {e}"))
}

impl LocalBackend {
    /// Objects under `root`; links signed with `secret` and prefixed with `base_url`
    /// (`None`: relative links, which the SDK resolves against its endpoint).
    pub fn new(
        root: PathBuf,
        secret: &SecretBytes,
        base_url: Option<String>,
        max_upload_bytes: u64,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                root,
                signer: Signer::new(secret),
                base_url: base_url
                    .map(|u| u.trim_end_matches('/').to_owned())
                    .unwrap_or_default(),
                max_upload_bytes,
            }),
        }
    }

    /// The folder holding the objects.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// The file of an object (keys are server-made: `users/<hex>/<uuid>`, no `..`).
    pub(crate) fn path_of(&self, key: &str) -> PathBuf {
        self.inner.root.join(key)
    }

    /// A form upload, the fields in S3's order (`key`, `Content-Type`, `policy`, signature).
    pub async fn presign_post(
        &self,
        p: &UploadPolicy,
        _now: OffsetDateTime,
    ) -> Result<UploadForm, FileBackendError> {
        let (policy, signature) = self.inner.signer.policy(p);
        Ok(UploadForm {
            url: format!("{}{UPLOAD_PATH}", self.inner.base_url),
            fields: vec![
                ("key".into(), p.key.as_str().to_owned()),
                ("Content-Type".into(), p.content_type.clone()),
                ("policy".into(), policy),
                (SIGNATURE_FIELD.into(), signature),
            ],
            file_field: "file",
        })
    }

    /// A PUT of the body to `/files/_upload/<key>?policy=…&x-miniapp-signature=…`.
    pub async fn presign_put(
        &self,
        p: &UploadPolicy,
        _now: OffsetDateTime,
    ) -> Result<PresignedPut, FileBackendError> {
        let (policy, signature) = self.inner.signer.policy(p);
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("policy", &policy)
            .append_pair(SIGNATURE_FIELD, &signature)
            .finish();
        Ok(PresignedPut {
            url: format!(
                "{}{UPLOAD_PATH}/{}?{query}",
                self.inner.base_url,
                p.key.as_str()
            ),
            headers: vec![("Content-Type".into(), p.content_type.clone())],
        })
    }

    /// A GET link valid for `ttl`, answering with `content_type` and `download_name`.
    pub async fn presign_get(
        &self,
        key: &ObjectKey,
        download_name: &str,
        content_type: &str,
        ttl: Duration,
    ) -> Result<String, FileBackendError> {
        let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let expires = OffsetDateTime::now_utc()
            .unix_timestamp()
            .saturating_add(ttl);
        let signature = self
            .inner
            .signer
            .link(key.as_str(), expires, content_type, download_name);
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("expires", &expires.to_string())
            .append_pair("type", content_type)
            .append_pair("name", download_name)
            .append_pair(SIGNATURE_FIELD, &signature)
            .finish();
        Ok(format!(
            "{}{DOWNLOAD_PATH}{}?{query}",
            self.inner.base_url,
            key.as_str()
        ))
    }

    /// The object's size and type, or `None` when absent.
    pub async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectInfo>, FileBackendError> {
        let path = self.path_of(key.as_str());
        let meta = match tokio::fs::metadata(&path).await {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(unavailable(&e)),
        };
        let content_type = tokio::fs::read_to_string(type_path(&path)).await.ok();
        Ok(Some(ObjectInfo {
            size: meta.len(),
            content_type,
        }))
    }

    /// Removes the object; an absent one is not an error (as with S3).
    pub async fn delete(&self, key: &ObjectKey) -> Result<(), FileBackendError> {
        let path = self.path_of(key.as_str());
        for p in [type_path(&path), path] {
            match tokio::fs::remove_file(&p).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(unavailable(&e)),
            }
        }
        Ok(())
    }
}

/// The sidecar holding an object's content type.
pub(crate) fn type_path(object: &Path) -> PathBuf {
    let mut name = object.as_os_str().to_owned();
    name.push(TYPE_SUFFIX);
    PathBuf::from(name)
}
