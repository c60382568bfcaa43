//! `/app`: the Todo example's web page, served by `miniapp dev` beside the API, so a browser can
//! try the whole stack with no other server and no npm step. `/app/` is
//! `examples/todo/web/index.html`, `/app/<file>` a file of that folder, and `/app/sdk.js` the
//! client SDK's committed browser bundle. Both are found beside the template; without the web
//! folder (a template elsewhere) the feature is off.

use std::path::{Component, Path, PathBuf};

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::json;
use thiserror::Error;

use crate::emulator::event::HttpResponse;

/// The path under which the app is served.
pub const PREFIX: &str = "/app";
/// The web page's folder, relative to the template's folder.
const WEB_DIR: &str = "examples/todo/web";
/// The SDK's browser bundle, relative to the template's folder.
const SDK_BUNDLE: &str = "client/dist/miniapp-client.min.js";
/// The URL path (under [`PREFIX`]) of the SDK bundle.
const SDK_PATH: &str = "/sdk.js";

/// Why an `/app` request gets no file.
#[derive(Debug, Error)]
enum AppFileError {
    #[error("{0} is not allowed on the app's files (GET or HEAD)")]
    MethodNotAllowed(String),
    #[error("path {0:?} is not a plain path inside the app's folder")]
    InvalidPath(String),
    #[error("no app file at {0:?}")]
    NotFound(String),
    #[error("the SDK bundle {0:?} is missing; build the client (npm run build in client/)")]
    SdkMissing(String),
}

impl AppFileError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed"),
            Self::InvalidPath(_) => (StatusCode::BAD_REQUEST, "InvalidPath"),
            Self::NotFound(_) | Self::SdkMissing(_) => (StatusCode::NOT_FOUND, "NotFound"),
        }
    }
}

/// The app's folder and the SDK bundle, as found at start.
#[derive(Debug, Clone)]
pub struct AppFiles {
    /// Canonical, so that a resolved file can be checked to lie inside it.
    web: PathBuf,
    sdk: PathBuf,
}

impl AppFiles {
    /// The app beside the template in `root`; `None` when its web folder is absent.
    pub fn find(root: &Path) -> Option<Self> {
        let web = root.join(WEB_DIR).canonicalize().ok()?;
        web.is_dir().then(|| Self {
            web,
            sdk: root.join(SDK_BUNDLE),
        })
    }

    /// Whether `path` is the app's (`/app` or under `/app/`) rather than the API's.
    fn owns(path: &str) -> bool {
        path.strip_prefix(PREFIX)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }

    /// The answer to a request for an `/app` path; `None` for the API's paths.
    pub async fn answer(&self, method: &Method, path: &str) -> Option<HttpResponse> {
        if !Self::owns(path) {
            return None;
        }
        if method != Method::GET && method != Method::HEAD {
            return Some(error_response(&AppFileError::MethodNotAllowed(
                method.to_string(),
            )));
        }
        if path == PREFIX {
            return Some(redirect(&format!("{PREFIX}/")));
        }
        Some(match self.read(path).await {
            Ok((file, body)) => file_response(&file, body),
            Err(e) => error_response(&e),
        })
    }

    /// The file for `path` and its bytes.
    async fn read(&self, path: &str) -> Result<(PathBuf, Bytes), AppFileError> {
        let rest = path.strip_prefix(PREFIX).unwrap_or(path);
        if rest == SDK_PATH {
            return match tokio::fs::read(&self.sdk).await {
                Ok(b) => Ok((self.sdk.clone(), Bytes::from(b))),
                Err(_) => Err(AppFileError::SdkMissing(self.sdk.display().to_string())),
            };
        }
        let relative = relative_path(rest)?;
        let not_found = || AppFileError::NotFound(path.to_owned());
        let file = tokio::fs::canonicalize(self.web.join(relative))
            .await
            .map_err(|_| not_found())?;
        // A symbolic link inside the folder must not lead out of it.
        if !file.starts_with(&self.web) || !file.is_file() {
            return Err(not_found());
        }
        let body = tokio::fs::read(&file).await.map_err(|_| not_found())?;
        Ok((file, Bytes::from(body)))
    }
}

/// The relative file path a URL path below `/app` names: percent-decoded, plain segments only
/// (no `..`, `.`, backslashes or NULs), `index.html` for a folder.
fn relative_path(rest: &str) -> Result<PathBuf, AppFileError> {
    let invalid = || AppFileError::InvalidPath(rest.to_owned());
    let decoded = miniapp_shared::percent::decode(rest).map_err(|_| invalid())?;
    if decoded.contains(['\\', '\0']) {
        return Err(invalid());
    }
    let mut relative = PathBuf::new();
    for segment in decoded.split('/').filter(|s| !s.is_empty()) {
        let mut parts = Path::new(segment).components();
        match (parts.next(), parts.next()) {
            (Some(Component::Normal(part)), None) => relative.push(part),
            _ => return Err(invalid()),
        }
    }
    if decoded.is_empty() || decoded.ends_with('/') {
        relative.push("index.html");
    }
    Ok(relative)
}

/// The `Content-Type` of a file, by its extension.
fn content_type(file: &Path) -> &'static str {
    let ext = file
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("txt") => "text/plain; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    }
}

fn file_response(file: &Path, body: Bytes) -> HttpResponse {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(file)),
    );
    // Edits show on the next reload.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    HttpResponse {
        status: StatusCode::OK,
        headers,
        body,
    }
}

fn redirect(location: &str) -> HttpResponse {
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(location) {
        headers.insert(header::LOCATION, v);
    }
    HttpResponse {
        status: StatusCode::MOVED_PERMANENTLY,
        headers,
        body: Bytes::new(),
    }
}

fn error_response(e: &AppFileError) -> HttpResponse {
    let (status, code) = e.status_and_code();
    let body = json!({"error": {"code": code, "message": e.to_string()}});
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if status == StatusCode::METHOD_NOT_ALLOWED {
        headers.insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    }
    HttpResponse {
        status,
        headers,
        body: Bytes::from(body.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A template folder with the web folder, an SDK bundle, and a secret beside them.
    fn layout() -> Result<(tempfile::TempDir, AppFiles), Box<dyn std::error::Error>> {
        let root = tempfile::tempdir()?;
        let web = root.path().join(WEB_DIR);
        std::fs::create_dir_all(web.join("img"))?;
        std::fs::write(web.join("index.html"), "<!doctype html><title>t</title>")?;
        std::fs::write(web.join("app.js"), "export {};")?;
        std::fs::write(web.join("style.css"), "body{}")?;
        std::fs::write(web.join("img/logo.svg"), "<svg/>")?;
        std::fs::write(web.join("data.bin"), [0u8, 1])?;
        std::fs::create_dir_all(root.path().join("client/dist"))?;
        std::fs::write(root.path().join(SDK_BUNDLE), "export const sdk = 1;")?;
        std::fs::write(root.path().join("secret.txt"), "do not serve")?;
        let app = AppFiles::find(root.path()).ok_or("web folder not found")?;
        Ok((root, app))
    }

    fn content_type_of(r: &HttpResponse) -> &str {
        r.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The answer to GET or HEAD of an `/app` path.
    async fn get(app: &AppFiles, method: Method, path: &str) -> HttpResponse {
        match app.answer(&method, path).await {
            Some(r) => r,
            None => panic!("{path} is not the app's"),
        }
    }

    #[tokio::test]
    async fn leaves_the_api_paths_alone() -> Result<(), Box<dyn std::error::Error>> {
        let (_root, app) = layout()?;
        for theirs in ["/apps", "/application", "/db/app", "/", "/session"] {
            assert!(app.answer(&Method::GET, theirs).await.is_none(), "{theirs}");
        }
        Ok(())
    }

    #[test]
    fn owns_app_paths_only() {
        for ours in ["/app", "/app/", "/app/x.js", "/app/a/b"] {
            assert!(AppFiles::owns(ours), "{ours}");
        }
        for theirs in ["/apps", "/application", "/db/app", "/", "/session"] {
            assert!(!AppFiles::owns(theirs), "{theirs}");
        }
    }

    #[tokio::test]
    async fn serves_files_with_their_content_types() -> Result<(), Box<dyn std::error::Error>> {
        let (_root, app) = layout()?;
        for (path, ctype, body) in [
            (
                "/app/",
                "text/html; charset=utf-8",
                "<!doctype html><title>t</title>",
            ),
            (
                "/app/index.html",
                "text/html; charset=utf-8",
                "<!doctype html><title>t</title>",
            ),
            (
                "/app/app.js",
                "text/javascript; charset=utf-8",
                "export {};",
            ),
            ("/app/style.css", "text/css; charset=utf-8", "body{}"),
            ("/app/img/logo.svg", "image/svg+xml", "<svg/>"),
            ("/app/%73tyle.css", "text/css; charset=utf-8", "body{}"),
            (
                "/app/sdk.js",
                "text/javascript; charset=utf-8",
                "export const sdk = 1;",
            ),
        ] {
            let r = get(&app, Method::GET, path).await;
            assert_eq!(r.status, StatusCode::OK, "{path}");
            assert_eq!(content_type_of(&r), ctype, "{path}");
            assert_eq!(r.body, body.as_bytes(), "{path}");
        }
        let r = get(&app, Method::HEAD, "/app/data.bin").await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(content_type_of(&r), "application/octet-stream");
        Ok(())
    }

    #[tokio::test]
    async fn redirects_the_bare_prefix() -> Result<(), Box<dyn std::error::Error>> {
        let (_root, app) = layout()?;
        let r = get(&app, Method::GET, "/app").await;
        assert_eq!(r.status, StatusCode::MOVED_PERMANENTLY);
        assert_eq!(
            r.headers.get(header::LOCATION).ok_or("no Location")?,
            "/app/"
        );
        Ok(())
    }

    #[tokio::test]
    async fn refuses_escapes_from_the_folder() -> Result<(), Box<dyn std::error::Error>> {
        let (root, app) = layout()?;
        for path in [
            "/app/../../../secret.txt",
            "/app/%2e%2e/%2e%2e/%2e%2e/secret.txt",
            "/app/img/../../../../secret.txt",
            "/app/..%2f..%2f..%2fsecret.txt",
            "/app/..%5c..%5csecret.txt",
            "/app/./index.html",
            "/app/%00",
            "/app/%ff",
        ] {
            let r = get(&app, Method::GET, path).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}");
            assert!(!String::from_utf8_lossy(&r.body).contains("do not serve"));
        }
        // A link inside the folder that points out of it is not followed.
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(
                root.path().join("secret.txt"),
                root.path().join(WEB_DIR).join("link.txt"),
            )?;
            let r = get(&app, Method::GET, "/app/link.txt").await;
            assert_eq!(r.status, StatusCode::NOT_FOUND);
        }
        Ok(())
    }

    #[tokio::test]
    async fn answers_404_and_405() -> Result<(), Box<dyn std::error::Error>> {
        let (root, app) = layout()?;
        for path in ["/app/nope.js", "/app/img", "/app/img/", "/app/index.html/x"] {
            let r = get(&app, Method::GET, path).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
            assert_eq!(content_type_of(&r), "application/json");
        }
        let r = get(&app, Method::POST, "/app/").await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(r.headers.get(header::ALLOW).ok_or("no Allow")?, "GET, HEAD");
        std::fs::remove_file(root.path().join(SDK_BUNDLE))?;
        let r = get(&app, Method::GET, "/app/sdk.js").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert!(String::from_utf8_lossy(&r.body).contains("miniapp-client.min.js"));
        Ok(())
    }

    #[test]
    fn without_the_web_folder_the_feature_is_off() -> Result<(), Box<dyn std::error::Error>> {
        let root = tempfile::tempdir()?;
        assert!(AppFiles::find(root.path()).is_none());
        Ok(())
    }
}
