//! The db function's file routes (docs/api.md §9): `POST /files`, `GET /files`,
//! `GET /files/{id}`, `DELETE /files/{id}`. The caller is the verified user; the work is
//! [`crate::files::Files`]'s.

use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;

use super::auth::Caller;
use super::body::parse_object;
use super::error::ApiError;
use crate::files::limits::MAX_CONFIGURABLE_BYTES;
use crate::files::{CreatedFile, FileView, Files, FilesError, NewFile};
use crate::http::{ErrorCode, Request, Response};
use crate::store::{FileId, Store, MAX_LIST_LIMIT};

const DEFAULT_LIMIT: u32 = 20;

/// A file operation, its path segment decoded but not yet validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FileOp {
    /// `POST /files`.
    Create,
    /// `GET /files`.
    List,
    /// `GET /files/{id}`.
    Get { id: String },
    /// `DELETE /files/{id}`.
    Delete { id: String },
}

impl From<FilesError> for ApiError {
    fn from(e: FilesError) -> Self {
        match e {
            FilesError::Store(e) => e.into(),
            FilesError::Backend(e) => {
                tracing::warn!(error = %e, "file storage failed");
                Self::new(
                    ErrorCode::StorageUnavailable,
                    "file storage is temporarily unavailable; retry shortly",
                )
            }
            FilesError::TooLarge { .. } => Self::new(ErrorCode::FileTooLarge, e.to_string()),
            FilesError::TypeNotAllowed(_) => {
                Self::new(ErrorCode::UnsupportedFileType, e.to_string())
            }
            FilesError::Quota(_) => Self::new(ErrorCode::FileQuotaExceeded, e.to_string()),
            FilesError::NotFound => Self::new(ErrorCode::NotFound, "no such file"),
            FilesError::Rejected(_) => Self::new(ErrorCode::FileRejected, e.to_string()),
        }
    }
}

/// `POST /files`'s body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateBody {
    name: String,
    content_type: String,
    /// Any JSON number that is a whole number of bytes (`2129.0` included, as JSON Schema's
    /// `integer` allows); checked by [`declared_size`].
    size: serde_json::Number,
}

/// The declared size: a whole number from 1 to 5 GiB (400 otherwise; over the configured
/// limit is the service's 413).
fn declared_size(n: &serde_json::Number) -> Result<u64, ApiError> {
    let whole = n.as_u64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= u64::MAX as f64)
            .map(|f| f as u64)
    });
    whole
        .filter(|s| (1..=MAX_CONFIGURABLE_BYTES).contains(s))
        .ok_or_else(|| {
            invalid(format!(
                "size must be a whole number of bytes from 1 to {MAX_CONFIGURABLE_BYTES}, got {n}"
            ))
        })
}

/// A file as the API shows it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FileBody<'a> {
    id: &'a str,
    name: &'a str,
    content_type: &'a str,
    size: u64,
    status: &'static str,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<&'a str>,
}

impl<'a> FileBody<'a> {
    fn of(v: &'a FileView) -> Self {
        Self {
            id: v.record.id.as_str(),
            name: &v.record.name,
            content_type: &v.record.content_type,
            size: v.record.size,
            status: v.record.status.as_str(),
            created_at: v.record.created_at.rfc3339(),
            url: v.url.as_deref(),
        }
    }
}

fn json(status: StatusCode, value: &impl Serialize) -> Result<Response, ApiError> {
    let v = serde_json::to_value(value).map_err(|e| {
        tracing::error!(error = %e, "cannot serialize a response");
        ApiError::new(ErrorCode::InternalError, "internal error")
    })?;
    Ok(Response::json(status, &v))
}

fn invalid(msg: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidRequest, msg)
}

fn file_id(id: &str) -> Result<FileId, ApiError> {
    FileId::parse(id).ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidId,
            format!("{id:?} is not a file id (a UUID as POST /files returns it)"),
        )
    })
}

fn created_body(c: &CreatedFile) -> Value {
    let fields: Map<String, Value> = c
        .upload
        .fields
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let headers: Map<String, Value> = c
        .put
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    serde_json::json!({
        "id": c.record.id.as_str(),
        "upload": {
            "url": c.upload.url,
            "method": "POST",
            "fields": fields,
            "fileField": c.upload.file_field,
        },
        "put": {"url": c.put.url, "method": "PUT", "headers": headers},
        "expiresAt": c.expires_at.format(&Rfc3339).unwrap_or_default(),
    })
}

/// Answers a file operation for the verified caller.
pub(crate) async fn dispatch(
    files: &Files,
    store: &Store,
    req: &Request,
    query: &[(String, String)],
    caller: &Caller,
    op: &FileOp,
) -> Result<Response, ApiError> {
    let user = &caller.user_id;
    match op {
        FileOp::Create => {
            let body = parse_object(&req.body)?;
            let body: CreateBody = serde_json::from_value(Value::Object(body)).map_err(|e| {
                invalid(format!(
                    "POST /files takes {{\"name\": string, \"contentType\": string, \"size\": bytes}}: {e}"
                ))
            })?;
            let size = declared_size(&body.size)?;
            let created = files
                .create(
                    store,
                    user,
                    NewFile {
                        name: body.name,
                        content_type: body.content_type,
                        size,
                    },
                )
                .await?;
            json(StatusCode::CREATED, &created_body(&created))
        }
        FileOp::List => {
            let (limit, cursor) = list_params(query)?;
            let (views, next) = files.list(store, user, limit, cursor).await?;
            let items: Vec<FileBody<'_>> = views.iter().map(FileBody::of).collect();
            json(
                StatusCode::OK,
                &serde_json::json!({"items": items, "nextCursor": next}),
            )
        }
        FileOp::Get { id } => {
            let view = files.get(store, user, &file_id(id)?).await?;
            json(StatusCode::OK, &FileBody::of(&view))
        }
        FileOp::Delete { id } => {
            files.delete(store, user, &file_id(id)?).await?;
            Ok(Response::new(StatusCode::NO_CONTENT))
        }
    }
}

fn list_params(pairs: &[(String, String)]) -> Result<(u32, Option<&str>), ApiError> {
    let one = |key: &str| -> Result<Option<&str>, ApiError> {
        let mut found = pairs.iter().filter(|(k, _)| k == key);
        let first = found.next();
        if found.next().is_some() {
            return Err(ApiError::new(
                ErrorCode::InvalidQuery,
                format!("{key} is given more than once"),
            ));
        }
        Ok(first.map(|(_, v)| v.as_str()).filter(|v| !v.is_empty()))
    };
    let limit = match one("limit")? {
        None => DEFAULT_LIMIT,
        Some(v) => Some(v)
            .filter(|v| v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse::<u32>().ok())
            .filter(|n| (1..=MAX_LIST_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidQuery,
                    format!("limit must be a whole number from 1 to {MAX_LIST_LIMIT}, got {v:?}"),
                )
            })?,
    };
    Ok((limit, one("cursor")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_whole_numbers_of_bytes_up_to_5_gib() {
        let size = |text: &str| declared_size(&serde_json::from_str(text).unwrap());
        assert_eq!(size("1").unwrap(), 1);
        assert_eq!(size("2129.0").unwrap(), 2129);
        assert_eq!(size("5368709120").unwrap(), 5_368_709_120);
        for bad in [
            "0",
            "-1",
            "1.5",
            "5368709121",
            "1e300",
            "142887846805422014464",
        ] {
            assert_eq!(
                size(bad).unwrap_err().code,
                ErrorCode::InvalidRequest,
                "{bad}"
            );
        }
    }
}
