//! Serving the local backend's URLs: the multipart POST upload (streamed through `multer` to a
//! staging file, the size limit enforced while streaming, renamed into place when complete),
//! the PUT upload and the GET download. Refusals are S3's: an XML `<Error>` with S3's codes
//! and statuses, so one client-side parser serves both backends.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Body;
use time::OffsetDateTime;
use tokio::io::AsyncWriteExt;

use super::keys::is_well_formed;
use super::local::{type_path, LocalBackend, DOWNLOAD_PATH, STAGING_DIR, UPLOAD_PATH};
use super::local_policy::{denied, Allowed, Refusal, SIGNATURE_FIELD};
use super::names::content_disposition;

/// Room for the form's text fields on top of the file.
const FIELDS_BYTES: u64 = 64 * 1024;
/// The policy's own fields, and the file, are all a form may carry (as S3 asks).
const KNOWN_FIELDS: [&str; 4] = ["key", "Content-Type", "policy", SIGNATURE_FIELD];

/// An answer of the local file URLs.
pub type FileResponse = Response<Full<Bytes>>;

fn xml_error(status: StatusCode, r: &Refusal) -> FileResponse {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message></Error>",
        r.code,
        escape(&r.message)
    );
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    cors(resp)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn refusal(code: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        code,
        message: message.into(),
    }
}

/// Status of each S3 code we answer with.
fn status_of(code: &str) -> StatusCode {
    match code {
        "AccessDenied" | "SignatureDoesNotMatch" => StatusCode::FORBIDDEN,
        "NoSuchKey" => StatusCode::NOT_FOUND,
        "MethodNotAllowed" => StatusCode::METHOD_NOT_ALLOWED,
        // S3's answer to a POST that is not multipart/form-data.
        "PreconditionFailed" => StatusCode::PRECONDITION_FAILED,
        "InternalError" => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

fn fail(r: &Refusal) -> FileResponse {
    xml_error(status_of(r.code), r)
}

/// Web pages upload from their own origin; the signed policy, not the origin, authorizes.
fn cors(mut resp: FileResponse) -> FileResponse {
    let h = resp.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("etag"),
    );
    resp
}

fn empty(status: StatusCode) -> FileResponse {
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = status;
    cors(resp)
}

impl LocalBackend {
    /// How much of a refused upload's body is still read (and dropped).
    fn drain_cap(&self) -> u64 {
        self.inner.max_upload_bytes.saturating_add(FIELDS_BYTES)
    }

    /// True when the request is one this backend serves: `POST /files/_upload`,
    /// `PUT /files/_upload/<key>`, `GET`/`HEAD /files/_download/<key>`, and their CORS
    /// preflights. Any other request goes to the API, which answers its own 400/404/405
    /// (`_upload` is no file id).
    pub fn owns(method: &Method, path: &str) -> bool {
        let put = path.starts_with(&format!("{UPLOAD_PATH}/"));
        let download = path.starts_with(DOWNLOAD_PATH);
        match *method {
            Method::POST => path == UPLOAD_PATH,
            Method::PUT => put,
            Method::GET | Method::HEAD => download,
            Method::OPTIONS => path == UPLOAD_PATH || put || download,
            _ => false,
        }
    }

    /// Answers a request that [`Self::owns`].
    pub async fn serve<B>(&self, req: Request<B>) -> FileResponse
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: std::fmt::Display + Send,
    {
        let now = OffsetDateTime::now_utc();
        let path = req.uri().path().to_owned();
        let query = req.uri().query().unwrap_or_default().to_owned();
        let outcome = match (req.method().clone(), path.as_str()) {
            (Method::OPTIONS, _) => Ok(preflight()),
            (Method::POST, UPLOAD_PATH) => self.post_upload(req, now).await,
            (Method::PUT, p) if p.starts_with(&format!("{UPLOAD_PATH}/")) => {
                let key = p[UPLOAD_PATH.len() + 1..].to_owned();
                self.put_upload(req, &key, &query, now).await
            }
            (Method::GET | Method::HEAD, p) if p.starts_with(DOWNLOAD_PATH) => {
                let head = req.method() == Method::HEAD;
                self.download(&p[DOWNLOAD_PATH.len()..], &query, head, now)
                    .await
            }
            _ => Err(refusal(
                "MethodNotAllowed",
                "The specified method is not allowed against this resource.",
            )),
        };
        outcome.unwrap_or_else(|r| fail(&r))
    }

    async fn post_upload<B>(
        &self,
        req: Request<B>,
        now: OffsetDateTime,
    ) -> Result<FileResponse, Refusal>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: std::fmt::Display + Send,
    {
        let boundary = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| multer::parse_boundary(v).ok())
            .ok_or_else(|| {
                refusal(
                    "PreconditionFailed",
                    "Bucket POST must be of the enclosure-type multipart/form-data",
                )
            })?;
        let limit = multer::SizeLimit::new()
            .whole_stream(self.inner.max_upload_bytes.saturating_add(FIELDS_BYTES))
            .per_field(FIELDS_BYTES)
            .for_field("file", self.inner.max_upload_bytes);
        let stream = body_stream(req.into_body(), self.drain_cap());
        let mut form = multer::Multipart::with_constraints(
            stream,
            boundary,
            multer::Constraints::new().size_limit(limit),
        );
        let mut fields: HashMap<String, String> = HashMap::new();
        loop {
            let field = form.next_field().await.map_err(malformed)?;
            let Some(field) = field else {
                return Err(refusal(
                    "InvalidArgument",
                    "POST requires exactly one file upload per request.",
                ));
            };
            let name = field.name().unwrap_or_default().to_owned();
            if name == "file" {
                let allowed = self.check_form(&fields, now)?;
                let size = self
                    .store(&allowed, field.map(|r| r.map_err(malformed)))
                    .await?;
                tracing::debug!(size, "local upload stored");
                return Ok(empty(StatusCode::NO_CONTENT));
            }
            if !KNOWN_FIELDS.contains(&name.as_str()) && !name.starts_with("x-ignore-") {
                return Err(denied(format!(
                    "Invalid according to Policy: Extra input fields: {name}"
                )));
            }
            let value = field.text().await.map_err(malformed)?;
            fields.insert(name, value);
        }
    }

    /// The policy's signature, expiry and conditions against the form's fields.
    fn check_form(
        &self,
        fields: &HashMap<String, String>,
        now: OffsetDateTime,
    ) -> Result<Allowed, Refusal> {
        let get = |n: &str| fields.get(n).map(String::as_str);
        let (Some(policy), Some(signature)) = (get("policy"), get(SIGNATURE_FIELD)) else {
            return Err(denied(
                "Bucket POST must contain a policy and its signature",
            ));
        };
        let allowed = self.inner.signer.open_policy(policy, signature, now)?;
        if get("key") != Some(allowed.key.as_str()) {
            return Err(denied(format!(
                "Invalid according to Policy: Policy Condition failed: [\"eq\", \"$key\", \"{}\"]",
                allowed.key
            )));
        }
        if get("Content-Type") != Some(allowed.content_type.as_str()) {
            return Err(denied(format!(
                "Invalid according to Policy: Policy Condition failed: [\"eq\", \"$Content-Type\", \"{}\"]",
                allowed.content_type
            )));
        }
        check_key(&allowed.key)?;
        Ok(allowed)
    }

    async fn put_upload<B>(
        &self,
        req: Request<B>,
        key: &str,
        query: &str,
        now: OffsetDateTime,
    ) -> Result<FileResponse, Refusal>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: std::fmt::Display + Send,
    {
        let q: HashMap<String, String> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let (Some(policy), Some(signature)) = (q.get("policy"), q.get(SIGNATURE_FIELD)) else {
            return Err(denied(
                "Query-string authentication requires the policy and its signature",
            ));
        };
        let allowed = self.inner.signer.open_policy(policy, signature, now)?;
        if key != allowed.key {
            return Err(denied("The policy was made for another key"));
        }
        let declared = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        if declared != Some(allowed.content_type.as_str()) {
            return Err(denied(format!(
                "The Content-Type header must be {}",
                allowed.content_type
            )));
        }
        check_key(&allowed.key)?;
        let stream =
            body_stream(req.into_body(), self.drain_cap()).map(|r| r.map_err(|_| incomplete()));
        self.store(&allowed, stream).await?;
        Ok(empty(StatusCode::OK))
    }

    /// Streams `chunks` to a staging file, refusing past `allowed.max_size`, then renames it
    /// into place (so a reader never sees half a file) with its content-type sidecar.
    async fn store<S>(&self, allowed: &Allowed, chunks: S) -> Result<u64, Refusal>
    where
        S: Stream<Item = Result<Bytes, Refusal>> + Send,
    {
        let staging_dir = self.inner.root.join(STAGING_DIR);
        tokio::fs::create_dir_all(&staging_dir)
            .await
            .map_err(io_failure)?;
        let staging = staging_dir.join(uuid::Uuid::new_v4().to_string());
        let written = write_limited(&staging, chunks, allowed.max_size).await;
        let size = match written {
            Ok(size) => size,
            Err(r) => {
                let _ = tokio::fs::remove_file(&staging).await;
                return Err(r);
            }
        };
        let dest = self.path_of(&allowed.key);
        let placed = place(&staging, &dest, &allowed.content_type).await;
        if let Err(e) = placed {
            let _ = tokio::fs::remove_file(&staging).await;
            return Err(io_failure(e));
        }
        Ok(size)
    }

    async fn download(
        &self,
        key: &str,
        query: &str,
        head: bool,
        now: OffsetDateTime,
    ) -> Result<FileResponse, Refusal> {
        let q: HashMap<String, String> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let get = |n: &str| q.get(n).map(String::as_str);
        let (Some(expires), Some(content_type), Some(name), Some(signature)) = (
            get("expires").and_then(|e| e.parse::<i64>().ok()),
            get("type"),
            get("name"),
            get(SIGNATURE_FIELD),
        ) else {
            return Err(denied(
                "Query-string authentication requires the expiry, type, name and signature",
            ));
        };
        self.inner
            .signer
            .open_link(key, expires, content_type, name, signature, now)?;
        check_key(key)?;
        let bytes = match tokio::fs::read(self.path_of(key)).await {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(refusal("NoSuchKey", "The specified key does not exist."))
            }
            Err(e) => return Err(io_failure(e)),
        };
        let len = bytes.len();
        let mut resp = Response::new(Full::new(if head {
            Bytes::new()
        } else {
            Bytes::from(bytes)
        }));
        let h = resp.headers_mut();
        let mut set = |name: header::HeaderName, value: &str| {
            if let Ok(v) = HeaderValue::from_str(value) {
                h.insert(name, v);
            }
        };
        set(header::CONTENT_TYPE, content_type);
        set(
            header::CONTENT_DISPOSITION,
            &content_disposition(name, content_type),
        );
        set(header::CONTENT_LENGTH, &len.to_string());
        set(header::CACHE_CONTROL, "private, max-age=300");
        // The API's origin serves the bytes: never as a page that could run script there.
        set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
        set(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; sandbox",
        );
        Ok(cors(resp))
    }
}

fn preflight() -> FileResponse {
    let mut resp = empty(StatusCode::NO_CONTENT);
    let h = resp.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, HEAD, POST, PUT"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("content-type"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("3000"),
    );
    resp
}

/// A request body as a stream of its data frames, read by a task of its own: when the upload
/// is refused part-way, the task goes on reading (and dropping) up to `cap` bytes, so that a
/// client still sending gets to read the refusal instead of a reset connection (S3 reads the
/// whole body too).
fn body_stream<B>(body: B, cap: u64) -> impl Stream<Item = Result<Bytes, String>> + Send + 'static
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: std::fmt::Display + Send,
{
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, String>>(4);
    tokio::spawn(async move {
        let mut frames = std::pin::pin!(body.into_data_stream());
        let mut seen = 0u64;
        let mut listening = true;
        while let Some(frame) = frames.next().await {
            let frame = frame.map_err(|e| e.to_string());
            seen = seen.saturating_add(frame.as_ref().map_or(0, |b| b.len() as u64));
            if listening {
                listening = tx.send(frame).await.is_ok();
            }
            if !listening && seen > cap {
                break;
            }
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}

fn check_key(key: &str) -> Result<(), Refusal> {
    if is_well_formed(key) {
        Ok(())
    } else {
        Err(denied("The policy names a key outside the users' prefix"))
    }
}

fn malformed(e: multer::Error) -> Refusal {
    match e {
        multer::Error::FieldSizeExceeded { .. } | multer::Error::StreamSizeExceeded { .. } => {
            too_large()
        }
        _ => refusal(
            "MalformedPOSTRequest",
            "The body of your POST request is not well-formed multipart/form-data.",
        ),
    }
}

fn too_large() -> Refusal {
    refusal(
        "EntityTooLarge",
        "Your proposed upload exceeds the maximum allowed size",
    )
}

fn io_failure(e: std::io::Error) -> Refusal {
    tracing::error!(error = %e, "local file storage failed");
    refusal(
        "InternalError",
        "We encountered an internal error. Please try again.",
    )
}

fn incomplete() -> Refusal {
    refusal(
        "IncompleteBody",
        "You did not provide the number of bytes specified by the Content-Length HTTP header.",
    )
}

async fn write_limited<S>(path: &Path, chunks: S, max: u64) -> Result<u64, Refusal>
where
    S: Stream<Item = Result<Bytes, Refusal>> + Send,
{
    let mut file = tokio::fs::File::create(path).await.map_err(io_failure)?;
    let mut size = 0u64;
    let mut chunks = std::pin::pin!(chunks);
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk?;
        size = size.saturating_add(chunk.len() as u64);
        if size > max {
            return Err(too_large());
        }
        file.write_all(&chunk).await.map_err(io_failure)?;
    }
    file.sync_all().await.map_err(io_failure)?;
    Ok(size)
}

async fn place(staging: &Path, dest: &PathBuf, content_type: &str) -> std::io::Result<()> {
    if let Some(dir) = dest.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    tokio::fs::write(type_path(dest), content_type).await?;
    tokio::fs::rename(staging, dest).await
}
