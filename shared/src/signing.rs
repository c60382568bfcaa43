//! Request signing, CONTRACT.md §6: the canonical query, the string to sign, a client-side
//! signer (reference for the CLI and the JS SDK) and the server-side verifier.
//!
//! Choices where the contract is silent:
//! - The `Signature` hex may be upper or lower case: it is decoded to bytes and compared with
//!   the expected HMAC in constant time, so case is not part of what is signed.
//! - The HTTP method enters the string to sign exactly as sent (clients send it upper case).
//! - A signing header given more than once is ambiguous: a repeated `Authorization` or date is
//!   `InvalidAuthorization`, a repeated (or non-ASCII) token `InvalidSecurityToken`.
//! - `Authorization` is `MINIAPP-HMAC-SHA256` + one space + `Credential=<id>,` + any number of
//!   spaces + `Signature=<64 hex>`; nothing else.

use aws_lc_rs::{digest, hmac};
use http::{HeaderMap, HeaderName, HeaderValue};
use thiserror::Error;

use crate::credentials::{verify_token, Credentials, TokenError, TokenKeys};
use crate::http::ErrorCode;
use crate::ids::{SessionId, UserId};
use crate::percent::{self, PercentDecodeError};
use crate::secret::{SecretString, SecurityToken};
use crate::time_fmt::Timestamp;

/// The signing scheme, first word of `Authorization` and first line of the string to sign.
pub const ALGORITHM: &str = "MINIAPP-HMAC-SHA256";
/// The `Authorization` header (lower case, as `http` stores names).
pub const AUTHORIZATION_HEADER: &str = "authorization";
/// The request date header, `YYYYMMDDTHHMMSSZ`.
pub const DATE_HEADER: &str = "x-miniapp-date";
/// The security token header.
pub const SECURITY_TOKEN_HEADER: &str = "x-miniapp-security-token";
/// Largest accepted distance between the request date and the server clock, either way.
pub const MAX_CLOCK_SKEW_SECS: u64 = 300;

/// Longest query piece quoted in an error message.
const QUOTE_MAX: usize = 64;

/// Why a query string was refused (`InvalidQuery`, checked before authentication).
#[derive(Debug, Error, PartialEq, Eq, Clone)]
pub enum QueryError {
    /// A `%` not followed by two hex digits.
    #[error("query piece {0:?} has a malformed percent-escape (expected % and two hex digits)")]
    MalformedEscape(String),
    /// Escapes that decode to bytes that are not UTF-8.
    #[error("query piece {0:?} does not decode to UTF-8")]
    NotUtf8(String),
}

impl QueryError {
    /// The contract's code: always `InvalidQuery`.
    pub fn code(&self) -> ErrorCode {
        ErrorCode::InvalidQuery
    }
}

fn quote(piece: &str) -> String {
    piece.chars().take(QUOTE_MAX).collect()
}

/// Strict percent-decoding of one query piece, quoting it in the error.
fn decode_piece(piece: &str) -> Result<String, QueryError> {
    percent::decode(piece).map_err(|e| match e {
        PercentDecodeError::MalformedEscape => QueryError::MalformedEscape(quote(piece)),
        PercentDecodeError::NotUtf8 => QueryError::NotUtf8(quote(piece)),
    })
}

/// Decodes a raw query string (without `?`) into pairs, in order, as the server reads them.
pub fn parse_query(raw: &str) -> Result<Vec<(String, String)>, QueryError> {
    raw.split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (k, v) = piece.split_once('=').unwrap_or((piece, ""));
            Ok((decode_piece(k)?, decode_piece(v)?))
        })
        .collect()
}

/// The canonical query of already-decoded pairs (for a server that parsed the query once).
pub fn canonical_query_from_pairs(pairs: &[(String, String)]) -> String {
    let mut encoded: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| {
            (
                percent::encode(k).to_string(),
                percent::encode(v).to_string(),
            )
        })
        .collect();
    // Tuple order = by encoded key, then encoded value; String order is byte order.
    encoded.sort_unstable();
    let joined: Vec<String> = encoded
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    joined.join("&")
}

/// The canonical query of a raw query string (CONTRACT.md §6).
pub fn canonical_query(raw: &str) -> Result<String, QueryError> {
    parse_query(raw).map(|pairs| canonical_query_from_pairs(&pairs))
}

/// The six-line string to sign; `method` and `path` are taken exactly as sent.
pub fn string_to_sign(
    date: &str,
    method: &str,
    path: &str,
    canonical_query: &str,
    body: &[u8],
) -> String {
    let body_hash = hex::encode(digest::digest(&digest::SHA256, body));
    [ALGORITHM, date, method, path, canonical_query, &body_hash].join("\n")
}

/// Lower-case hex HMAC-SHA256 of `string_to_sign` under the UTF-8 bytes of `secret`.
pub fn sign(secret: &str, string_to_sign: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    hex::encode(hmac::sign(&key, string_to_sign.as_bytes()))
}

/// The date header's form, `YYYYMMDDTHHMMSSZ` (UTC).
pub fn format_date(t: Timestamp) -> String {
    t.iso8601_basic()
}

/// Parses the date header; `None` unless it names a real instant (no Feb 30, no second 60).
pub fn parse_date(s: &str) -> Option<Timestamp> {
    Timestamp::parse_iso8601_basic(s)
}

/// What a client needs to sign requests: the three values `POST /session` returned.
#[derive(Clone, Debug)]
pub struct ClientCredentials {
    /// `accessKeyId`, sent as `Credential`.
    pub access_key_id: String,
    /// `accessKeySecret`, never sent.
    pub access_key_secret: SecretString,
    /// `securityToken`, sent as `x-miniapp-security-token`.
    pub security_token: SecurityToken,
}

impl From<&Credentials> for ClientCredentials {
    fn from(c: &Credentials) -> Self {
        Self {
            access_key_id: c.access_key_id.clone(),
            access_key_secret: c.access_key_secret.clone(),
            security_token: c.security_token.clone(),
        }
    }
}

/// The three header values of a signed request.
#[derive(Clone, Debug)]
pub struct SignedHeaders {
    /// `MINIAPP-HMAC-SHA256 Credential=<akid>, Signature=<hex>`: with the token, a request
    /// that replays within the clock window, so redacted like a secret.
    pub authorization: SecretString,
    /// `x-miniapp-date`, e.g. `20261125T143640Z`.
    pub date: String,
    /// `x-miniapp-security-token`.
    pub security_token: SecurityToken,
}

impl SignedHeaders {
    /// Sets the three headers on `headers`, replacing any earlier values.
    pub fn insert_into(&self, headers: &mut HeaderMap) -> Result<(), http::Error> {
        let pairs = [
            (AUTHORIZATION_HEADER, self.authorization.expose()),
            (DATE_HEADER, &self.date),
            (SECURITY_TOKEN_HEADER, self.security_token.expose()),
        ];
        for (name, value) in pairs {
            let value = HeaderValue::from_str(value)?;
            headers.insert(HeaderName::from_static(name), value);
        }
        Ok(())
    }
}

/// Signs a request as a client does; `method` and `path` exactly as they will be sent.
pub fn sign_request(
    creds: &ClientCredentials,
    method: &str,
    path: &str,
    raw_query: &str,
    body: &[u8],
    now: Timestamp,
) -> Result<SignedHeaders, QueryError> {
    let date = format_date(now);
    let sts = string_to_sign(&date, method, path, &canonical_query(raw_query)?, body);
    let signature = sign(creds.access_key_secret.expose(), &sts);
    Ok(SignedHeaders {
        authorization: SecretString::new(format!(
            "{ALGORITHM} Credential={}, Signature={signature}",
            creds.access_key_id
        )),
        date,
        security_token: creds.security_token.clone(),
    })
}

/// Whether expired credentials are refused (everywhere but `POST /session/refresh`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryPolicy {
    /// Expired credentials are `CredentialsExpired`.
    Enforce,
    /// Expired credentials pass this check; only `POST /session/refresh` uses it.
    AllowExpired,
}

/// A request as the verifier sees it.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    /// The method as sent (`GET`, ...).
    pub method: &'a str,
    /// The path as sent, still percent-encoded.
    pub raw_path: &'a str,
    /// The query as sent, without `?`.
    pub raw_query: &'a str,
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// The raw body.
    pub body: &'a [u8],
}

/// The authenticated caller. Session revocation and expiry are the caller's next check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCaller {
    /// The session the credentials belong to.
    pub session_id: SessionId,
    /// Whose data the request may touch.
    pub user_id: UserId,
    /// The access key id that signed.
    pub access_key_id: String,
    /// When the credentials expire.
    pub expiration: Timestamp,
}

/// Why a request was not authenticated, one variant per contract code. Messages are safe to
/// return to the client: they never quote a secret, token or signature.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum AuthError {
    /// `InvalidQuery`: only from [`verify_request`], which checks the query first (the
    /// contract puts it before authentication).
    #[error(transparent)]
    InvalidQuery(#[from] QueryError),
    /// `MissingAuthorization`: the named signing header is absent.
    #[error("the request has no {0} header")]
    MissingAuthorization(&'static str),
    /// `InvalidAuthorization`: `Authorization` or the date header does not parse.
    #[error("{0}")]
    InvalidAuthorization(&'static str),
    /// `InvalidSecurityToken`: not ours, altered, retired key, or another access key id.
    #[error(transparent)]
    InvalidSecurityToken(#[from] TokenError),
    /// `CredentialsExpired`: now ≥ expiration (not checked under [`ExpiryPolicy::AllowExpired`]).
    #[error("the credentials expired at {0}; refresh them with POST /session/refresh")]
    CredentialsExpired(Timestamp),
    /// `RequestExpired`: the date is more than [`MAX_CLOCK_SKEW_SECS`] from the server clock.
    #[error("x-miniapp-date {date} is more than 300 seconds from the server time {now}")]
    RequestExpired { date: String, now: String },
    /// `SignatureDoesNotMatch`: the HMAC differs (compared in constant time).
    #[error("the request signature does not match; check the string to sign and the secret")]
    SignatureDoesNotMatch,
}

impl AuthError {
    /// The contract's error code for this failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidQuery(_) => ErrorCode::InvalidQuery,
            Self::MissingAuthorization(_) => ErrorCode::MissingAuthorization,
            Self::InvalidAuthorization(_) => ErrorCode::InvalidAuthorization,
            Self::InvalidSecurityToken(_) => ErrorCode::InvalidSecurityToken,
            Self::CredentialsExpired(_) => ErrorCode::CredentialsExpired,
            Self::RequestExpired { .. } => ErrorCode::RequestExpired,
            Self::SignatureDoesNotMatch => ErrorCode::SignatureDoesNotMatch,
        }
    }
}

/// Verifies a signed request: the canonical query first (`InvalidQuery`), then the checks of
/// [`verify_with_canonical_query`].
pub fn verify_request(
    req: &SignedRequest<'_>,
    keys: &TokenKeys,
    now: Timestamp,
    expiry: ExpiryPolicy,
) -> Result<VerifiedCaller, AuthError> {
    let canonical = canonical_query(req.raw_query)?;
    verify_with_canonical_query(req, &canonical, keys, now, expiry)
}

/// Verifies a signed request whose canonical query the caller already computed (`req.raw_query`
/// is ignored). Checks, in order: headers present, headers parse, token, credential expiry,
/// clock skew, signature.
pub fn verify_with_canonical_query(
    req: &SignedRequest<'_>,
    canonical_query: &str,
    keys: &TokenKeys,
    now: Timestamp,
    expiry: ExpiryPolicy,
) -> Result<VerifiedCaller, AuthError> {
    let raw = RawAuthHeaders::read(req.headers)?;
    let auth = parse_authorization(raw.authorization?)?;
    let date = raw.date?;
    let date_ts = parse_date(date).ok_or(AuthError::InvalidAuthorization(
        "x-miniapp-date must be YYYYMMDDTHHMMSSZ naming a real UTC instant",
    ))?;
    let token = verify_token(keys, raw.token?, auth.credential)?;
    if expiry == ExpiryPolicy::Enforce && now >= token.expiration {
        return Err(AuthError::CredentialsExpired(token.expiration));
    }
    // abs_diff: no overflow whatever the clocks say.
    if date_ts.unix().abs_diff(now.unix()) > MAX_CLOCK_SKEW_SECS {
        return Err(AuthError::RequestExpired {
            date: date.to_owned(),
            now: format_date(now),
        });
    }
    let sts = string_to_sign(date, req.method, req.raw_path, canonical_query, req.body);
    let key = hmac::Key::new(hmac::HMAC_SHA256, token.secret.expose().as_bytes());
    // Constant time: aws-lc compares the tags without early exit.
    hmac::verify(&key, sts.as_bytes(), &auth.signature)
        .map_err(|_| AuthError::SignatureDoesNotMatch)?;
    Ok(VerifiedCaller {
        session_id: token.session_id,
        user_id: token.user_id,
        access_key_id: token.access_key_id,
        expiration: token.expiration,
    })
}

/// The three header values, known present; each is unusable if repeated or not visible ASCII.
/// Kept as results so that the caller reports them in the contract's order.
struct RawAuthHeaders<'a> {
    authorization: Result<&'a str, AuthError>,
    date: Result<&'a str, AuthError>,
    token: Result<&'a str, AuthError>,
}

impl<'a> RawAuthHeaders<'a> {
    fn read(headers: &'a HeaderMap) -> Result<Self, AuthError> {
        let names = [AUTHORIZATION_HEADER, DATE_HEADER, SECURITY_TOKEN_HEADER];
        // All presence checks come before any parsing: a missing header outranks a bad one.
        if let Some(missing) = names.into_iter().find(|n| !headers.contains_key(*n)) {
            return Err(AuthError::MissingAuthorization(missing));
        }
        let [authorization, date, token] = names.map(|n| single(headers, n));
        Ok(Self {
            authorization,
            date,
            // An unreadable token is one we did not issue.
            token: token.map_err(|_| TokenError::Malformed("repeated or not visible ASCII").into()),
        })
    }
}

fn single<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<&'a str, AuthError> {
    let mut values = headers.get_all(name).iter();
    let bad = AuthError::InvalidAuthorization("a signing header is repeated or not visible ASCII");
    match (values.next(), values.next()) {
        (Some(v), None) => v.to_str().map_err(|_| bad),
        _ => Err(bad),
    }
}

/// The parsed `Authorization` header.
struct Authorization<'a> {
    credential: &'a str,
    signature: [u8; 32],
}

fn parse_authorization(value: &str) -> Result<Authorization<'_>, AuthError> {
    let bad = || {
        AuthError::InvalidAuthorization(
            "Authorization must be 'MINIAPP-HMAC-SHA256 Credential=<accessKeyId>, Signature=<64 hex>'",
        )
    };
    let rest = value
        .strip_prefix(ALGORITHM)
        .and_then(|r| r.strip_prefix(' '))
        .ok_or_else(bad)?;
    let (cred, sig) = rest.split_once(',').ok_or_else(bad)?;
    let credential = cred.strip_prefix("Credential=").ok_or_else(bad)?;
    let sig = sig
        .trim_start_matches(' ')
        .strip_prefix("Signature=")
        .ok_or_else(bad)?;
    if credential.is_empty() || credential.contains(' ') {
        return Err(bad());
    }
    let mut signature = [0u8; 32];
    // `hex` accepts either case and insists on exactly 64 digits for 32 bytes.
    hex::decode_to_slice(sig, &mut signature)
        .map_err(|_| AuthError::InvalidAuthorization("Signature must be exactly 64 hex digits"))?;
    Ok(Authorization {
        credential,
        signature,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(raw: &str) -> Result<String, QueryError> {
        canonical_query(raw)
    }

    #[test]
    fn canonical_query_examples() {
        let ok = [
            ("", ""),
            ("&&", ""),
            ("b=2&a=1", "a=1&b=2"),
            ("a=2&a=10&a=1", "a=1&a=10&a=2"),
            ("a=1&&b=", "a=1&b="),
            ("flag", "flag="),
            ("flag&x=y=z", "flag=&x=y%3Dz"),
            ("q=a+b", "q=a%2Bb"),
            ("q=a%20b", "q=a%20b"),
            ("a=%41", "a=A"),
            ("a=%7e%2d", "a=~-"),
            ("k=%e4%bd%a0", "k=%E4%BD%A0"),
            ("k=你", "k=%E4%BD%A0"),
            ("k=é😀", "k=%C3%A9%F0%9F%98%80"),
            (
                "r=:/?#[]@!$'()*,;",
                "r=%3A%2F%3F%23%5B%5D%40%21%24%27%28%29%2A%2C%3B",
            ),
            ("%3D=%26", "%3D=%26"),
            ("limit=20&prefix=a", "limit=20&prefix=a"),
            // Sorting is on the encoded form: "%" (0x25) sorts before letters and digits.
            ("b=1&%61=1&~=1&A=1&_=1", "A=1&_=1&a=1&b=1&~=1"),
            ("z=1&a%20b=2", "a%20b=2&z=1"),
        ];
        for (raw, want) in ok {
            assert_eq!(canon(raw).as_deref(), Ok(want), "raw {raw:?}");
        }
    }

    #[test]
    fn malformed_queries_are_refused() {
        for raw in [
            "a=%zz", "a=%", "a=%4", "%g0=1", "a=1&b=%2", "a=%ff", "a=%C3%28", "%80",
        ] {
            let err = canon(raw).err();
            assert!(err.is_some(), "raw {raw:?}");
            assert_eq!(err.map(|e| e.code()), Some(ErrorCode::InvalidQuery));
        }
        assert!(matches!(canon("a=%ff"), Err(QueryError::NotUtf8(_))));
        assert!(matches!(
            canon("a=%zz"),
            Err(QueryError::MalformedEscape(_))
        ));
    }

    #[test]
    fn parse_query_keeps_order_and_plus() {
        let pairs = parse_query("b=a+b&a&=x&c=%2B").unwrap_or_default();
        let want = [("b", "a+b"), ("a", ""), ("", "x"), ("c", "+")];
        let got: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn string_to_sign_has_six_lines() {
        let s = string_to_sign("20261125T143640Z", "GET", "/db/todos", "limit=20", b"");
        let want = "MINIAPP-HMAC-SHA256\n20261125T143640Z\nGET\n/db/todos\nlimit=20\n\
                    e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(s, want);
    }

    #[test]
    fn dates_round_trip_and_must_be_real() {
        let t = Timestamp::from_unix(1_795_617_400);
        assert_eq!(format_date(t), "20261125T143640Z");
        assert_eq!(parse_date("20261125T143640Z"), Some(t));
        assert_eq!(
            parse_date("20240229T000000Z").map(format_date).as_deref(),
            Some("20240229T000000Z")
        );
        let bad = [
            "",
            "20261125T143640",
            "20261125 143640Z",
            "20261125t143640Z",
            "2026-11-25T14:36Z",
            "20230229T000000Z",
            "20261131T000000Z",
            "20261300T000000Z",
            "20261100T000000Z",
            "20261125T240000Z",
            "20261125T236000Z",
            "20261125T235960Z",
            "+0261125T143640Z",
            "202611é5T14364Z",
            "20261125T143640Z ",
            "-0011125T143640Z",
        ];
        for s in bad {
            assert_eq!(parse_date(s), None, "{s:?}");
        }
    }

    #[test]
    fn authorization_parsing() {
        let sig = "ab".repeat(32);
        let good = [
            format!("MINIAPP-HMAC-SHA256 Credential=STS.x, Signature={sig}"),
            format!("MINIAPP-HMAC-SHA256 Credential=STS.x,Signature={sig}"),
            format!(
                "MINIAPP-HMAC-SHA256 Credential=STS.x,   Signature={}",
                sig.to_uppercase()
            ),
        ];
        for h in &good {
            let a = parse_authorization(h).map(|a| (a.credential, a.signature));
            assert_eq!(a.ok(), Some(("STS.x", [0xab; 32])), "{h}");
        }
        let bad = [
            format!("MINIAPP-HMAC-SHA256  Credential=STS.x, Signature={sig}"),
            format!("miniapp-hmac-sha256 Credential=STS.x, Signature={sig}"),
            format!("AWS4-HMAC-SHA256 Credential=STS.x, Signature={sig}"),
            format!("MINIAPP-HMAC-SHA256 Credential=, Signature={sig}"),
            format!("MINIAPP-HMAC-SHA256 Credential=STS.x Signature={sig}"),
            format!("MINIAPP-HMAC-SHA256 Signature={sig}, Credential=STS.x"),
            format!(
                "MINIAPP-HMAC-SHA256 Credential=STS.x, Signature={}",
                &sig[1..]
            ),
            format!("MINIAPP-HMAC-SHA256 Credential=STS.x, Signature={sig}0"),
            format!(
                "MINIAPP-HMAC-SHA256 Credential=STS.x, Signature={}g",
                &sig[1..]
            ),
            format!("MINIAPP-HMAC-SHA256 Credential=STS.x, Signature={sig} "),
            "MINIAPP-HMAC-SHA256".to_owned(),
        ];
        for h in &bad {
            let got = parse_authorization(h).map(|_| ()).map_err(|e| e.code());
            assert_eq!(got, Err(ErrorCode::InvalidAuthorization), "{h}");
        }
    }

    #[test]
    fn error_codes_map_to_the_contract() {
        let cases = [
            (
                AuthError::MissingAuthorization("authorization"),
                ErrorCode::MissingAuthorization,
            ),
            (
                AuthError::InvalidAuthorization("x"),
                ErrorCode::InvalidAuthorization,
            ),
            (
                AuthError::InvalidSecurityToken(TokenError::BadMac),
                ErrorCode::InvalidSecurityToken,
            ),
            (
                AuthError::CredentialsExpired(Timestamp::from_unix(0)),
                ErrorCode::CredentialsExpired,
            ),
            (
                AuthError::RequestExpired {
                    date: String::new(),
                    now: String::new(),
                },
                ErrorCode::RequestExpired,
            ),
            (
                AuthError::SignatureDoesNotMatch,
                ErrorCode::SignatureDoesNotMatch,
            ),
            (
                AuthError::InvalidQuery(QueryError::NotUtf8("%ff".into())),
                ErrorCode::InvalidQuery,
            ),
        ];
        for (e, code) in cases {
            assert_eq!(e.code(), code, "{e}");
        }
    }

    #[test]
    fn signed_headers_do_not_debug_print_secrets() {
        let creds = ClientCredentials {
            access_key_id: "STS.abc".into(),
            access_key_secret: SecretString::new("s3cr3t".into()),
            security_token: "v1.k1.tok.mac".into(),
        };
        let h = sign_request(&creds, "GET", "/db/todos", "", b"", Timestamp::from_unix(0));
        let h = h.unwrap_or_else(|e| panic!("{e}"));
        let printed = format!("{h:?} {creds:?}");
        assert!(!printed.contains("s3cr3t") && !printed.contains("tok.mac"));
        let authorization = h.authorization.expose();
        assert!(!printed.contains(&authorization[authorization.len() - 64..]));
        let mut map = HeaderMap::new();
        assert!(h.insert_into(&mut map).is_ok());
        assert_eq!(map.len(), 3);
    }
}
