//! `miniapp login`, `refresh`, `sign` and `curl`: a client of the session function that keeps
//! its credentials in `.miniapp/credentials.json` (0600) and signs requests with them.

use std::io::Read;
use std::path::{Path, PathBuf};

use miniapp_shared::secret::{SecretString, SecurityToken};
use miniapp_shared::signing::{sign_request, ClientCredentials, SignedHeaders};
use miniapp_shared::time_fmt::Timestamp;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::state_dir::{write_private, StateDir, StateDirError};

/// Why a client command failed.
#[derive(Debug, Error)]
pub enum ClientSignError {
    #[error("no saved credentials at {0:?}; run `miniapp login <authCode>` first")]
    NotLoggedIn(String),
    #[error("{path:?} is not what `miniapp login` writes ({source}); log in again")]
    BadCredentialsFile {
        path: String,
        source: serde_json::Error,
    },
    #[error("cannot read {path:?}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("path {0:?} must start with '/' (e.g. /db/todos?limit=5)")]
    BadPath(String),
    #[error("method {0:?} is not an HTTP method")]
    BadMethod(String),
    #[error("cannot sign: {0}")]
    Query(String),
    #[error("cannot reach {url}: {source}")]
    Http { url: String, source: reqwest::Error },
    #[error("{url} answered {status}: {body}")]
    Refused {
        url: String,
        status: u16,
        body: String,
    },
    #[error("{url} answered 2xx without the session fields ({source})")]
    BadAnswer {
        url: String,
        source: serde_json::Error,
    },
    #[error(transparent)]
    State(#[from] StateDirError),
}

/// What `POST /session` and `POST /session/refresh` answer, plus the URL it came from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedSession {
    /// The API base URL, e.g. `http://127.0.0.1:3000`.
    #[serde(default)]
    pub url: String,
    pub session_id: String,
    pub user_id: String,
    pub expires_at: String,
    pub credentials: SavedCredentials,
}

/// The credentials part of a session answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedCredentials {
    pub access_key_id: String,
    #[serde(with = "secret_text")]
    pub access_key_secret: SecretString,
    #[serde(with = "secret_text")]
    pub security_token: SecurityToken,
    pub expiration: String,
}

/// A secret as the plain JSON string the session answer and the saved file hold.
mod secret_text {
    use miniapp_shared::secret::{SecretString, SecurityToken};
    use serde::{Deserialize, Deserializer, Serializer};

    /// The secret types kept in the credentials file.
    pub(super) trait Exposed {
        fn text(&self) -> &str;
    }

    impl Exposed for SecretString {
        fn text(&self) -> &str {
            self.expose()
        }
    }

    impl Exposed for SecurityToken {
        fn text(&self) -> &str {
            self.expose()
        }
    }

    pub(super) fn serialize<T: Exposed, S: Serializer>(
        secret: &T,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_str(secret.text())
    }

    pub(super) fn deserialize<'de, T: From<String>, D: Deserializer<'de>>(
        d: D,
    ) -> Result<T, D::Error> {
        String::deserialize(d).map(T::from)
    }
}

impl SavedCredentials {
    /// The form `signing::sign_request` takes.
    pub fn client(&self) -> ClientCredentials {
        ClientCredentials {
            access_key_id: self.access_key_id.clone(),
            access_key_secret: self.access_key_secret.clone(),
            security_token: self.security_token.clone(),
        }
    }
}

/// A request to sign: method, path and query as sent, body bytes.
#[derive(Debug, Clone)]
pub struct Target {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: Vec<u8>,
}

impl Target {
    /// `GET`, `/db/todos?limit=5`, and `--data` (text, `@file` or `@-` for stdin).
    pub fn parse(method: &str, target: &str, data: Option<&str>) -> Result<Self, ClientSignError> {
        let method = method.to_ascii_uppercase();
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(ClientSignError::BadMethod(method));
        }
        if !target.starts_with('/') {
            return Err(ClientSignError::BadPath(target.to_owned()));
        }
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        Ok(Self {
            method,
            path: path.to_owned(),
            query: query.to_owned(),
            body: read_data(data)?,
        })
    }

    /// `path?query`, or just the path.
    pub fn path_and_query(&self) -> String {
        if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query)
        }
    }
}

fn read_data(data: Option<&str>) -> Result<Vec<u8>, ClientSignError> {
    match data {
        None => Ok(Vec::new()),
        Some("@-") => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .map_err(|source| ClientSignError::Read {
                    path: "<stdin>".to_owned(),
                    source,
                })?;
            Ok(buf)
        }
        Some(d) => match d.strip_prefix('@') {
            Some(file) => std::fs::read(file).map_err(|source| ClientSignError::Read {
                path: file.to_owned(),
                source,
            }),
            None => Ok(d.as_bytes().to_vec()),
        },
    }
}

/// Reads what `miniapp login` saved.
pub fn load_session(state: &StateDir) -> Result<SavedSession, ClientSignError> {
    let path = state.credentials_path();
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ClientSignError::NotLoggedIn(path.display().to_string()))
        }
        Err(source) => {
            return Err(ClientSignError::Read {
                path: path.display().to_string(),
                source,
            })
        }
    };
    serde_json::from_slice(&bytes).map_err(|source| ClientSignError::BadCredentialsFile {
        path: path.display().to_string(),
        source,
    })
}

fn save_session(state: &StateDir, session: &SavedSession) -> Result<(), ClientSignError> {
    let path = state.credentials_path();
    let text = serde_json::to_vec_pretty(session).map_err(|source| {
        ClientSignError::BadCredentialsFile {
            path: path.display().to_string(),
            source,
        }
    })?;
    write_private(&path, &text)?;
    Ok(())
}

/// Signs `target` with the saved credentials at `now`.
pub fn sign(
    creds: &SavedCredentials,
    target: &Target,
    now: Timestamp,
) -> Result<SignedHeaders, ClientSignError> {
    sign_request(
        &creds.client(),
        &target.method,
        &target.path,
        &target.query,
        &target.body,
        now,
    )
    .map_err(|e| ClientSignError::Query(e.to_string()))
}

/// The three headers as `Name: value` lines.
pub fn header_lines(h: &SignedHeaders) -> String {
    format!(
        "Authorization: {}\nx-miniapp-date: {}\nx-miniapp-security-token: {}\n",
        h.authorization.expose(),
        h.date,
        h.security_token.expose()
    )
}

/// The three headers as single-quoted `-H` arguments, for copying or `eval`.
pub fn shell_args(h: &SignedHeaders) -> String {
    header_lines(h)
        .lines()
        .map(|l| format!("-H '{}'", l.replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Writes the headers to `.miniapp/signed-headers` and returns `-H @<that file>`: one word
/// without spaces, so that `curl $(miniapp sign GET /db/todos) URL` survives word splitting.
pub fn curl_file_arg(state: &StateDir, h: &SignedHeaders) -> Result<String, ClientSignError> {
    let path = state.signed_headers_path();
    write_private(&path, header_lines(h).as_bytes())?;
    Ok(format!("-H @{}", shortest_path(&path).display()))
}

/// The path relative to the working directory when it lies below it (no spaces from parents).
fn shortest_path(path: &Path) -> PathBuf {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(&cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_owned())
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// `POST {url}/session` with the auth code; saves and returns the session.
pub async fn login(
    state: &StateDir,
    url: &str,
    auth_code: &str,
) -> Result<SavedSession, ClientSignError> {
    let url = url.trim_end_matches('/').to_owned();
    let endpoint = format!("{url}/session");
    let body = serde_json::json!({ "authCode": auth_code }).to_string();
    let resp = client()
        .post(&endpoint)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|source| ClientSignError::Http {
            url: endpoint.clone(),
            source,
        })?;
    let session = session_answer(&endpoint, resp, &url).await?;
    save_session(state, &session)?;
    Ok(session)
}

/// `POST /session/refresh` with the saved credentials; saves the fresh ones.
pub async fn refresh(state: &StateDir) -> Result<SavedSession, ClientSignError> {
    let saved = load_session(state)?;
    let target = Target::parse("POST", "/session/refresh", None)?;
    let resp = send(&saved, &target, None).await?;
    let endpoint = format!("{}/session/refresh", saved.url);
    let session = session_answer(&endpoint, resp, &saved.url).await?;
    save_session(state, &session)?;
    Ok(session)
}

async fn session_answer(
    endpoint: &str,
    resp: reqwest::Response,
    url: &str,
) -> Result<SavedSession, ClientSignError> {
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.map_err(|source| ClientSignError::Http {
        url: endpoint.to_owned(),
        source,
    })?;
    if !(200..300).contains(&status) {
        return Err(ClientSignError::Refused {
            url: endpoint.to_owned(),
            status,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        });
    }
    let mut session: SavedSession =
        serde_json::from_slice(&bytes).map_err(|source| ClientSignError::BadAnswer {
            url: endpoint.to_owned(),
            source,
        })?;
    session.url = url.to_owned();
    Ok(session)
}

/// Signs and sends `target` to the saved URL (or `base_url`).
pub async fn send(
    saved: &SavedSession,
    target: &Target,
    base_url: Option<&str>,
) -> Result<reqwest::Response, ClientSignError> {
    let base = base_url.unwrap_or(&saved.url).trim_end_matches('/');
    let url = format!("{base}{}", target.path_and_query());
    let headers = sign(&saved.credentials, target, Timestamp::now())?;
    let method = reqwest::Method::from_bytes(target.method.as_bytes())
        .map_err(|_| ClientSignError::BadMethod(target.method.clone()))?;
    let mut req = client()
        .request(method, &url)
        .header("authorization", headers.authorization.expose())
        .header("x-miniapp-date", &headers.date)
        .header("x-miniapp-security-token", headers.security_token.expose());
    if !target.body.is_empty() {
        req = req
            .header("content-type", "application/json")
            .body(target.body.clone());
    }
    req.send()
        .await
        .map_err(|source| ClientSignError::Http { url, source })
}

/// `miniapp curl`: the status line, optionally the headers, then the body.
pub async fn curl(
    state: &StateDir,
    target: &Target,
    base_url: Option<&str>,
    include_headers: bool,
) -> Result<(u16, String), ClientSignError> {
    let saved = load_session(state)?;
    let resp = send(&saved, target, base_url).await?;
    let status = resp.status();
    let mut text = String::new();
    if include_headers {
        text.push_str(&format!("{:?} {status}\n", resp.version()));
        for (name, value) in resp.headers() {
            text.push_str(&format!(
                "{name}: {}\n",
                String::from_utf8_lossy(value.as_bytes())
            ));
        }
        text.push('\n');
    }
    let body = resp.bytes().await.map_err(|source| ClientSignError::Http {
        url: target.path.clone(),
        source,
    })?;
    text.push_str(&String::from_utf8_lossy(&body));
    Ok((status.as_u16(), text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> SavedCredentials {
        SavedCredentials {
            access_key_id: "STS.abc".into(),
            access_key_secret: SecretString::new("secret".into()),
            security_token: SecurityToken::new("v1.k.p.m".into()),
            expiration: "2026-11-25T15:36:40Z".into(),
        }
    }

    #[test]
    fn target_parses_method_path_query_and_data() -> Result<(), ClientSignError> {
        let t = Target::parse("get", "/db/todos?limit=5", Some(r#"{"a":1}"#))?;
        assert_eq!(
            (t.method.as_str(), t.path.as_str(), t.query.as_str()),
            ("GET", "/db/todos", "limit=5")
        );
        assert_eq!(t.body, br#"{"a":1}"#);
        assert!(matches!(
            Target::parse("GET", "db", None),
            Err(ClientSignError::BadPath(_))
        ));
        assert!(matches!(
            Target::parse("G T", "/x", None),
            Err(ClientSignError::BadMethod(_))
        ));
        Ok(())
    }

    #[test]
    fn signing_matches_the_shared_signer() -> Result<(), ClientSignError> {
        let t = Target::parse("POST", "/db/todos?b=2&a=1", Some("{}"))?;
        let now = Timestamp::from_unix(1_795_617_400);
        let h = sign(&creds(), &t, now)?;
        let direct = sign_request(
            &creds().client(),
            "POST",
            "/db/todos",
            "b=2&a=1",
            b"{}",
            now,
        )
        .map_err(|e| ClientSignError::Query(e.to_string()))?;
        assert_eq!(h.authorization.expose(), direct.authorization.expose());
        assert_eq!(h.date, direct.date);
        assert_eq!(h.security_token.expose(), direct.security_token.expose());
        assert!(h
            .authorization
            .expose()
            .starts_with("MINIAPP-HMAC-SHA256 Credential=STS.abc, Signature="));
        assert_eq!(h.date, "20261125T143640Z");
        let shell = shell_args(&h);
        assert_eq!(shell.matches("-H '").count(), 3, "{shell}");
        Ok(())
    }

    #[test]
    fn saved_secret_round_trips_as_text_and_never_prints() -> Result<(), serde_json::Error> {
        let text = serde_json::to_string(&creds())?;
        assert!(text.contains(r#""accessKeySecret":"secret""#), "{text}");
        let back: SavedCredentials = serde_json::from_str(&text)?;
        assert_eq!(back.access_key_secret.expose(), "secret");
        let debug = format!("{back:?}");
        assert!(
            !debug.contains("\"secret\"") && !debug.contains("v1.k.p.m"),
            "{debug}"
        );
        Ok(())
    }

    #[cfg(unix)]
    #[test]
    fn curl_arg_is_one_word_and_the_file_is_private() -> Result<(), Box<dyn std::error::Error>> {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir()?;
        let state = StateDir::open(&dir.path().join(".miniapp"))?;
        let h = sign(
            &creds(),
            &Target::parse("GET", "/db/todos", None)?,
            Timestamp::now(),
        )?;
        let arg = curl_file_arg(&state, &h)?;
        assert_eq!(arg.split_whitespace().count(), 2, "{arg}");
        let text = std::fs::read_to_string(state.signed_headers_path())?;
        assert_eq!(text.lines().count(), 3);
        let mode = std::fs::metadata(state.signed_headers_path())?
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        Ok(())
    }
}
