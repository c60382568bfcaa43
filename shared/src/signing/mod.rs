//! Request signing, docs/api.md §5: the canonical query, the string to sign, a client-side
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
//!
//! Layout: `query` canonicalises the query, `client` signs as a client does, `verify`
//! checks a request on the server; the scheme they share (headers, string to sign, HMAC, date
//! form) is here.

mod client;
mod query;
mod verify;

use aws_lc_rs::{digest, hmac};

use crate::time_fmt::Timestamp;

pub use client::{sign_request, ClientCredentials, SignedHeaders};
pub use query::{canonical_query, canonical_query_from_pairs, parse_query, QueryError};
pub use verify::{
    verify_request, verify_with_canonical_query, AuthError, ExpiryPolicy, SignedRequest,
    VerifiedCaller,
};

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
