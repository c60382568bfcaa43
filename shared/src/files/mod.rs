//! Files (docs/api.md §9): per-user uploads and downloads through presigned URLs. The function
//! never carries the bytes: `POST /files` records the file and signs a short-lived upload (a
//! multipart POST policy, and a PUT), `GET /files/{id}` confirms the upload with a HEAD and
//! signs a short-lived download.
//!
//! Object keys are `users/<keyed hash of the verified user>/<server-made id>` ([`keys`]); the
//! records are kept by the store in a key space of their own (`store/files.rs`). Backends:
//! [`local::LocalBackend`] (files on disk, served by this process) and, in deployments, S3.

pub mod backend;
pub mod keys;
pub mod limits;
pub mod local;
mod local_policy;
mod local_serve;
pub mod names;
pub mod post_policy;
#[cfg(feature = "files-s3")]
pub mod s3;
pub mod types;

use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;
use time::OffsetDateTime;

pub use backend::FileBackend;
pub use keys::KeyMaker;
pub use limits::FileLimits;
pub use local::LocalBackend;
pub use local_policy::SIGNATURE_FIELD;
pub use local_serve::FileResponse;
pub use types::{FileBackendError, ObjectInfo, ObjectKey, PresignedPut, UploadForm, UploadPolicy};

use crate::config::{vars, ConfigError, EnvSource};
use crate::credentials::TokenKeys;
use crate::ids::UserId;
use crate::store::{FileId, FileRecord, FileStatus, Store, StoreError, StoreKind};
use crate::time_fmt::Timestamp;

/// How long an upload policy is accepted.
pub const UPLOAD_TTL: Duration = Duration::from_secs(15 * 60);
/// How long a download link works.
pub const DOWNLOAD_TTL: Duration = Duration::from_secs(15 * 60);
/// What object keys' user hashes are derived from the token keys with.
const USER_HASH_LABEL: &[u8] = b"miniapp-files-user-v1";
/// What the local backend's signing key is derived from the token keys with.
pub const LOCAL_SIGNING_LABEL: &[u8] = b"miniapp-files-local-v1";

/// Which backend the configuration selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendChoice {
    /// Files under `dir`, links under `public_url` (`None`: relative links).
    Local {
        /// `MINIAPP_FILES_DIR`, or `files/` beside the embedded store.
        dir: PathBuf,
        /// `MINIAPP_FILES_PUBLIC_URL`.
        public_url: Option<String>,
    },
    /// The S3 bucket `FILES_BUCKET`.
    S3 {
        /// The bucket.
        bucket: String,
    },
}

/// The files configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilesConfig {
    /// Limits and quotas.
    pub limits: FileLimits,
    /// The backend.
    pub backend: BackendChoice,
}

/// The local backend's folder when `MINIAPP_FILES_DIR` is not set: `files/` beside the
/// embedded store's file, or `.miniapp/files`.
pub fn default_dir(store: &StoreKind) -> PathBuf {
    match store {
        StoreKind::Embedded(path) => path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .join("files"),
        StoreKind::Dynamo { .. } => PathBuf::from(".miniapp/files"),
    }
}

impl FilesConfig {
    /// Reads `FILES_BUCKET` and the `MINIAPP_FILES_*` variables.
    pub fn from_env(env: &dyn EnvSource, store: &StoreKind) -> Result<Self, ConfigError> {
        let limits = FileLimits::from_env(env)?;
        let backend = match env.get(vars::FILES_BUCKET) {
            Some(bucket) => BackendChoice::S3 {
                bucket: bucket.trim().to_owned(),
            },
            None => BackendChoice::Local {
                dir: env
                    .get(vars::MINIAPP_FILES_DIR)
                    .map_or_else(|| default_dir(store), PathBuf::from),
                public_url: match env.get(vars::MINIAPP_FILES_PUBLIC_URL) {
                    None => None,
                    Some(u) if u.starts_with("http://") || u.starts_with("https://") => {
                        Some(u.trim().to_owned())
                    }
                    Some(u) => {
                        return Err(ConfigError::Invalid {
                            var: vars::MINIAPP_FILES_PUBLIC_URL,
                            reason: format!("{u:?} is not an http:// or https:// URL"),
                        })
                    }
                },
            },
        };
        Ok(Self { limits, backend })
    }
}

/// Why a file operation failed; the API maps each to a code (`api/files.rs`).
#[derive(Debug, Error)]
pub enum FilesError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The backend failed.
    #[error(transparent)]
    Backend(#[from] FileBackendError),
    /// The declared size is over the per-file limit (or not positive).
    #[error("the file is {size} bytes; files must be from 1 to {max} bytes")]
    TooLarge {
        /// Declared.
        size: u64,
        /// Allowed.
        max: u64,
    },
    /// The declared type is not allowed.
    #[error("content type {0:?} is not allowed here")]
    TypeNotAllowed(String),
    /// The user's quota would be passed.
    #[error("{0}")]
    Quota(String),
    /// No such file of this user.
    #[error("no such file")]
    NotFound,
    /// The uploaded object broke its record's rules; both are gone.
    #[error("{0}")]
    Rejected(String),
}

/// What `POST /files` asks for.
#[derive(Debug, Clone)]
pub struct NewFile {
    /// The name as declared (sanitised here).
    pub name: String,
    /// The content type as declared.
    pub content_type: String,
    /// The declared size.
    pub size: u64,
}

/// What `POST /files` answers.
#[derive(Debug, Clone)]
pub struct CreatedFile {
    /// The record.
    pub record: FileRecord,
    /// The multipart POST.
    pub upload: UploadForm,
    /// The PUT.
    pub put: PresignedPut,
    /// When both stop working.
    pub expires_at: OffsetDateTime,
}

/// A record with its download link (ready files only).
#[derive(Debug, Clone)]
pub struct FileView {
    /// The record.
    pub record: FileRecord,
    /// The presigned GET.
    pub url: Option<String>,
}

/// How far [`Files::delete_all`] got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// Files removed by this call.
    pub deleted: u64,
    /// True when the user has no file left.
    pub done: bool,
}

/// The files service: backend, key maker and limits; cheap to clone.
#[derive(Debug, Clone)]
pub struct Files {
    backend: FileBackend,
    keys: KeyMaker,
    limits: FileLimits,
}

impl Files {
    /// The service over `backend`, hashing users with a key derived from `token_keys`.
    pub fn new(backend: FileBackend, token_keys: &TokenKeys, limits: FileLimits) -> Self {
        Self {
            backend,
            keys: KeyMaker::new(&token_keys.derive_key(USER_HASH_LABEL)),
            limits,
        }
    }

    /// Builds the configured backend.
    pub async fn open(
        config: FilesConfig,
        token_keys: &TokenKeys,
    ) -> Result<Self, FileBackendError> {
        let backend = match config.backend {
            BackendChoice::Local { dir, public_url } => {
                FileBackend::Local(local_backend(dir, public_url, token_keys, &config.limits))
            }
            #[cfg(feature = "files-s3")]
            BackendChoice::S3 { bucket } => {
                FileBackend::S3(std::sync::Arc::new(s3::S3Backend::from_env(bucket).await?))
            }
            #[cfg(not(feature = "files-s3"))]
            BackendChoice::S3 { bucket } => {
                return Err(FileBackendError::Misconfigured(format!(
                    "FILES_BUCKET={bucket} needs the S3 backend, which this build lacks"
                )))
            }
        };
        Ok(Self::new(backend, token_keys, config.limits))
    }

    /// The backend.
    pub fn backend(&self) -> &FileBackend {
        &self.backend
    }

    /// The limits.
    pub fn limits(&self) -> &FileLimits {
        &self.limits
    }

    /// The key of a user's file.
    pub fn object_key(&self, user: &UserId, id: &FileId) -> ObjectKey {
        self.keys.object_key(user, id)
    }

    /// Checks limits and quotas, records the file as pending and signs its upload.
    pub async fn create(
        &self,
        store: &Store,
        user: &UserId,
        new: NewFile,
    ) -> Result<CreatedFile, FilesError> {
        if new.size == 0 || new.size > self.limits.max_bytes {
            return Err(FilesError::TooLarge {
                size: new.size,
                max: self.limits.max_bytes,
            });
        }
        let content_type = self
            .limits
            .allowed_type(&new.content_type)
            .ok_or_else(|| FilesError::TypeNotAllowed(new.content_type.clone()))?;
        // No new file while the account is being deleted (docs/api.md §4.8).
        store.check_writable(user).await?;
        self.check_quota(store, user, new.size).await?;
        // Whole seconds: the API's timestamps have no fraction.
        let now = OffsetDateTime::now_utc();
        let now = now.replace_nanosecond(0).unwrap_or(now);
        let record = FileRecord {
            id: FileId::generate(),
            name: names::sanitize(&new.name),
            content_type,
            size: new.size,
            status: FileStatus::Pending,
            created_at: Timestamp::now(),
        };
        let policy = UploadPolicy {
            key: self.object_key(user, &record.id),
            content_type: record.content_type.clone(),
            max_size: record.size,
            expires_at: now + UPLOAD_TTL,
        };
        let upload = self.backend.presign_post(&policy, now).await?;
        let put = self.backend.presign_put(&policy, now).await?;
        store.create_file(user, &record).await?;
        Ok(CreatedFile {
            record,
            upload,
            put,
            expires_at: policy.expires_at,
        })
    }

    /// Best effort: two concurrent creates may both pass (by one file at most each).
    async fn check_quota(&self, store: &Store, user: &UserId, size: u64) -> Result<(), FilesError> {
        let usage = store.file_usage(user).await?;
        if usage.files >= self.limits.quota_count {
            return Err(FilesError::Quota(format!(
                "you hold {} files, the most allowed; delete some first",
                usage.files
            )));
        }
        if usage.bytes.saturating_add(size) > self.limits.quota_bytes {
            return Err(FilesError::Quota(format!(
                "this file would bring your files to {} bytes, over the quota of {} bytes",
                usage.bytes.saturating_add(size),
                self.limits.quota_bytes
            )));
        }
        Ok(())
    }

    /// The record, confirmed against storage while pending, with a download link when ready.
    pub async fn get(
        &self,
        store: &Store,
        user: &UserId,
        id: &FileId,
    ) -> Result<FileView, FilesError> {
        let mut record = store
            .get_file(user, id)
            .await?
            .ok_or(FilesError::NotFound)?;
        if record.status == FileStatus::Pending {
            record.status = self.confirm(store, user, &record).await?;
        }
        self.view(user, record).await
    }

    /// Pending → ready when a HEAD finds the object within its record's rules; an object
    /// breaking them is deleted with its record.
    async fn confirm(
        &self,
        store: &Store,
        user: &UserId,
        rec: &FileRecord,
    ) -> Result<FileStatus, FilesError> {
        let key = self.object_key(user, &rec.id);
        let Some(info) = self.backend.head(&key).await? else {
            return Ok(FileStatus::Pending);
        };
        let type_ok = info
            .content_type
            .as_deref()
            .is_none_or(|t| t.eq_ignore_ascii_case(&rec.content_type));
        if info.size > rec.size || info.size == 0 || !type_ok {
            self.backend.delete(&key).await?;
            store.delete_file(user, &rec.id).await?;
            return Err(FilesError::Rejected(format!(
                "the uploaded object ({} bytes, {}) does not match the file declared ({} bytes, {}); both were deleted",
                info.size,
                info.content_type.as_deref().unwrap_or("no type"),
                rec.size,
                rec.content_type
            )));
        }
        match store.mark_file_ready(user, &rec.id).await {
            // Deleted meanwhile: it is gone either way.
            Err(StoreError::NotFound) => Err(FilesError::NotFound),
            other => other.map(|()| FileStatus::Ready).map_err(FilesError::from),
        }
    }

    async fn view(&self, user: &UserId, record: FileRecord) -> Result<FileView, FilesError> {
        let url = match record.status {
            FileStatus::Ready => Some(
                self.backend
                    .presign_get(
                        &self.object_key(user, &record.id),
                        &record.name,
                        &record.content_type,
                        DOWNLOAD_TTL,
                    )
                    .await?,
            ),
            FileStatus::Pending => None,
        };
        Ok(FileView { record, url })
    }

    /// One page of the user's files (no HEAD per file: pending ones stay pending until read).
    pub async fn list(
        &self,
        store: &Store,
        user: &UserId,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<(Vec<FileView>, Option<String>), FilesError> {
        let page = store.list_files(user, limit, cursor).await?;
        let mut views = Vec::with_capacity(page.files.len());
        for record in page.files {
            views.push(self.view(user, record).await?);
        }
        Ok((views, page.next_cursor))
    }

    /// Deletes the object, then the record (so a failure leaves a record to retry with).
    pub async fn delete(
        &self,
        store: &Store,
        user: &UserId,
        id: &FileId,
    ) -> Result<(), FilesError> {
        if store.get_file(user, id).await?.is_none() {
            return Err(FilesError::NotFound);
        }
        self.backend.delete(&self.object_key(user, id)).await?;
        match store.delete_file(user, id).await {
            Err(StoreError::NotFound) => Ok(()),
            other => other.map_err(FilesError::from),
        }
    }

    /// Deletes up to `budget` of the user's files (objects and records); call again until
    /// `done` (account deletion). Resumable: it always starts from the first remaining file.
    pub async fn delete_all(
        &self,
        store: &Store,
        user: &UserId,
        budget: u32,
    ) -> Result<Progress, FilesError> {
        let mut progress = Progress::default();
        while progress.deleted < u64::from(budget) {
            let want = u32::try_from(u64::from(budget) - progress.deleted).unwrap_or(u32::MAX);
            let page = store.list_files(user, want, None).await?;
            if page.files.is_empty() {
                progress.done = true;
                return Ok(progress);
            }
            for rec in page.files {
                self.delete(store, user, &rec.id)
                    .await
                    .or_else(|e| match e {
                        FilesError::NotFound => Ok(()),
                        other => Err(other),
                    })?;
                progress.deleted += 1;
            }
        }
        progress.done = store.list_files(user, 1, None).await?.files.is_empty();
        Ok(progress)
    }
}

/// [`Files::delete_all`], as account deletion calls it.
pub async fn delete_all_files(
    store: &Store,
    files: &Files,
    user: &UserId,
    budget: u32,
) -> Result<Progress, FilesError> {
    files.delete_all(store, user, budget).await
}

/// The local backend the functions would open with this environment, for a front that serves
/// its URLs itself (`miniapp dev`'s gateway); `None` when the environment selects S3.
pub fn local_backend_from_env(env: &dyn EnvSource) -> Result<Option<LocalBackend>, String> {
    let common = crate::config::CommonConfig::from_env(env).map_err(|e| e.to_string())?;
    let config = FilesConfig::from_env(env, &common.store.kind).map_err(|e| e.to_string())?;
    Ok(match config.backend {
        BackendChoice::Local { dir, public_url } => Some(local_backend(
            dir,
            public_url,
            &common.token_keys,
            &config.limits,
        )),
        BackendChoice::S3 { .. } => None,
    })
}

/// The local backend over `dir`, signing with a key derived from `token_keys`.
fn local_backend(
    dir: PathBuf,
    public_url: Option<String>,
    token_keys: &TokenKeys,
    limits: &FileLimits,
) -> LocalBackend {
    LocalBackend::new(
        dir,
        &token_keys.derive_key(LOCAL_SIGNING_LABEL),
        public_url,
        limits.max_bytes,
    )
}
