//! The `Authorization` header parser, reached through the verifier with a genuine token and
//! date, so that only the header decides. Oracle: a separate model of the grammar
//! (`MINIAPP-HMAC-SHA256 Credential=<id>,<spaces>Signature=<64 hex>`); whatever the model
//! accepts, rebuilt with the real access key id and signature (keeping the input's spaces and
//! hex case), must verify.
#![no_main]

use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use miniapp_fuzz::{credentials, token_keys, NOW};
use miniapp_shared::signing::{
    format_date, sign, string_to_sign, verify_with_canonical_query, AuthError, ExpiryPolicy,
    SignedRequest,
};

struct Parsed<'a> {
    credential: &'a str,
    spaces: &'a str,
    signature: &'a str,
}

/// The grammar, written independently of the parser: byte by byte.
fn model(value: &[u8]) -> Option<Parsed<'_>> {
    // What `HeaderValue::to_str` accepts: visible ASCII, space and tab.
    if !value
        .iter()
        .all(|&b| b == b'\t' || (0x20..0x7f).contains(&b))
    {
        return None;
    }
    let s = std::str::from_utf8(value).ok()?;
    let rest = s.strip_prefix("MINIAPP-HMAC-SHA256 Credential=")?;
    let comma = rest.bytes().position(|b| b == b',')?;
    let credential = &rest[..comma];
    if credential.is_empty() || credential.bytes().any(|b| b == b' ') {
        return None;
    }
    let after = &rest[comma + 1..];
    let n_spaces = after.bytes().take_while(|&b| b == b' ').count();
    let signature = after[n_spaces..].strip_prefix("Signature=")?;
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(Parsed {
        credential,
        spaces: &after[..n_spaces],
        signature,
    })
}

fn verify(authorization: HeaderValue) -> Result<(), AuthError> {
    let creds = credentials();
    let mut headers = HeaderMap::new();
    headers.insert("authorization", authorization);
    headers.insert(
        "x-miniapp-date",
        HeaderValue::from_str(&format_date(NOW)).unwrap(),
    );
    headers.insert(
        "x-miniapp-security-token",
        HeaderValue::from_str(creds.security_token.expose()).unwrap(),
    );
    let req = SignedRequest {
        method: "GET",
        raw_path: "/db/todos",
        raw_query: "",
        headers: &headers,
        body: b"",
    };
    verify_with_canonical_query(&req, "", token_keys(), NOW, ExpiryPolicy::Enforce).map(|_| ())
}

/// The right signature, in the letter case of `like` digit by digit.
fn signature_like(like: &str) -> String {
    let sts = string_to_sign(&format_date(NOW), "GET", "/db/todos", "", b"");
    let good = sign(credentials().access_key_secret.expose(), &sts);
    good.chars()
        .zip(like.chars())
        .map(|(g, l)| {
            if l.is_ascii_uppercase() {
                g.to_ascii_uppercase()
            } else {
                g
            }
        })
        .collect()
}

fuzz_target!(|value: &[u8]| {
    let Ok(header) = HeaderValue::from_bytes(value) else {
        return;
    };
    let result = verify(header);
    let Some(parsed) = model(value) else {
        assert!(
            matches!(result, Err(AuthError::InvalidAuthorization(_))),
            "the model refuses {value:?} but the verifier said {result:?}"
        );
        return;
    };
    // The parser accepted it too: the next check (the token's access key id) decides.
    assert!(
        !matches!(result, Err(AuthError::InvalidAuthorization(_))),
        "the model accepts {value:?} but the verifier said {result:?}"
    );
    if parsed.credential != credentials().access_key_id {
        assert!(
            matches!(result, Err(AuthError::InvalidSecurityToken(_))),
            "{result:?}"
        );
    }
    let rebuilt = format!(
        "MINIAPP-HMAC-SHA256 Credential={},{}Signature={}",
        credentials().access_key_id,
        parsed.spaces,
        signature_like(parsed.signature)
    );
    let rebuilt_result = verify(HeaderValue::from_str(&rebuilt).unwrap());
    assert_eq!(rebuilt_result, Ok(()), "{rebuilt:?}");
});
