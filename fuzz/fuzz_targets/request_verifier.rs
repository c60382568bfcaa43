//! The whole signed-request check (`signing::verify_request`): an arbitrary request (method,
//! path, query, headers, body, clock) is verified; it must never panic. When the input asks
//! for it, the request is first signed as a client would with genuine credentials, and then it
//! must verify (unless the fuzzed headers add a second copy of a signing header, or the clock
//! moved past the skew or the expiry, each of which has its own expected answer).
#![no_main]

use arbitrary::Arbitrary;
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use miniapp_fuzz::{credentials, token_keys, NOW};
use miniapp_shared::signing::{
    canonical_query, sign_request, verify_request, AuthError, ClientCredentials, ExpiryPolicy,
    SignedRequest, MAX_CLOCK_SKEW_SECS,
};

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    method: &'a str,
    raw_path: &'a str,
    raw_query: &'a str,
    headers: Vec<(&'a [u8], &'a [u8])>,
    body: &'a [u8],
    /// Sign genuinely, at `NOW + sign_offset`, before adding `headers`.
    sign: bool,
    sign_offset: i16,
    /// The server's clock: `NOW + server_offset` seconds.
    server_offset: i32,
    allow_expired: bool,
}

fn client_credentials() -> ClientCredentials {
    let c = credentials();
    ClientCredentials {
        access_key_id: c.access_key_id.clone(),
        access_key_secret: c.access_key_secret.clone(),
        security_token: c.security_token.clone(),
    }
}

const SIGNING_HEADERS: [&str; 3] = [
    "authorization",
    "x-miniapp-date",
    "x-miniapp-security-token",
];

fuzz_target!(|input: Input<'_>| {
    let mut headers = HeaderMap::new();
    let mut signed = false;
    if input.sign {
        let at = NOW.plus_secs(i64::from(input.sign_offset));
        if let Ok(h) = sign_request(
            &client_credentials(),
            input.method,
            input.raw_path,
            input.raw_query,
            input.body,
            at,
        ) {
            signed = h.insert_into(&mut headers).is_ok();
        }
    }
    let mut extra_signing_header = false;
    for (name, value) in &input.headers {
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
            extra_signing_header |= SIGNING_HEADERS.contains(&n.as_str());
            headers.append(n, v);
        }
    }
    let now = NOW.plus_secs(i64::from(input.server_offset));
    let policy = if input.allow_expired {
        ExpiryPolicy::AllowExpired
    } else {
        ExpiryPolicy::Enforce
    };
    let req = SignedRequest {
        method: input.method,
        raw_path: input.raw_path,
        raw_query: input.raw_query,
        headers: &headers,
        body: input.body,
    };
    let result = verify_request(&req, token_keys(), now, policy);
    if canonical_query(input.raw_query).is_err() {
        assert!(
            matches!(result, Err(AuthError::InvalidQuery(_))),
            "{result:?}"
        );
        return;
    }
    if !signed || extra_signing_header {
        return;
    }
    let creds = credentials();
    let skew = i64::from(input.sign_offset).abs_diff(i64::from(input.server_offset));
    if policy == ExpiryPolicy::Enforce && now >= creds.expiration {
        assert_eq!(result, Err(AuthError::CredentialsExpired(creds.expiration)));
    } else if skew > MAX_CLOCK_SKEW_SECS {
        assert!(
            matches!(result, Err(AuthError::RequestExpired { .. })),
            "{result:?}"
        );
    } else {
        match result {
            Ok(caller) => {
                assert_eq!(caller.access_key_id, creds.access_key_id);
                assert_eq!(caller.expiration, creds.expiration);
                assert_eq!(caller.generation, 0);
            }
            Err(e) => panic!("a genuinely signed request was refused: {e:?}"),
        }
    }
});
