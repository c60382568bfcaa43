//! The security token decoder (`credentials::verify_token`) and the `MINIAPP_TOKEN_KEYS`
//! parser. Tokens come three ways: raw text (the outer layout, base64 and MAC checks), a
//! genuine MAC and seal around a fuzzed payload (the binary claims decoder behind them), and
//! fuzzed claims issued then verified (oracle: the round trip gives the claims back).
#![no_main]

use arbitrary::Arbitrary;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use miniapp_fuzz::token_keys;
use miniapp_shared::credentials::{issue_at_generation, verify_token, TokenError, TokenKeys};
use miniapp_shared::fuzzing::token_with_payload;
use miniapp_shared::ids::{SessionId, UserId};
use miniapp_shared::time_fmt::Timestamp;

#[derive(Arbitrary, Debug)]
enum Input<'a> {
    Raw {
        token: &'a str,
        access_key_id: &'a str,
    },
    Payload {
        payload: &'a [u8],
        access_key_id: &'a str,
    },
    Claims {
        session: [u8; 24],
        user: &'a str,
        expiration: i64,
        generation: u64,
    },
    Keys(&'a str),
}

fn round_trip(session: [u8; 24], user: &str, expiration: i64, generation: u64) {
    let Ok(user) = UserId::parse(user) else {
        return;
    };
    let session = match SessionId::parse(&URL_SAFE_NO_PAD.encode(session)) {
        Ok(s) => s,
        Err(e) => panic!("24 bytes in base64url are a session id: {e:?}"),
    };
    let exp = Timestamp::from_unix(expiration);
    let creds = issue_at_generation(token_keys(), &session, &user, exp, generation);
    let token = creds.security_token.expose();
    let v = match verify_token(token_keys(), token, &creds.access_key_id) {
        Ok(v) => v,
        Err(e) => panic!("an issued token must verify: {e:?}"),
    };
    assert_eq!(v.session_id, session);
    assert_eq!(v.user_id, user);
    assert_eq!(v.access_key_id, creds.access_key_id);
    assert_eq!(v.expiration, exp);
    assert_eq!(v.generation, generation);
    assert_eq!(v.secret.expose(), creds.access_key_secret.expose());
    let other = verify_token(token_keys(), token, "STS.another");
    assert_eq!(other.err(), Some(TokenError::AccessKeyIdMismatch));
}

fuzz_target!(|input: Input<'_>| match input {
    Input::Raw {
        token,
        access_key_id,
    } => {
        let _ = verify_token(token_keys(), token, access_key_id);
    }
    Input::Payload {
        payload,
        access_key_id,
    } => {
        let token = token_with_payload(token_keys(), payload);
        if let Ok(v) = verify_token(token_keys(), &token, access_key_id) {
            // Anything the decoder accepts is a claim set it can issue again.
            assert_eq!(v.access_key_id, access_key_id);
            let again = issue_at_generation(
                token_keys(),
                &v.session_id,
                &v.user_id,
                v.expiration,
                v.generation,
            );
            let w = verify_token(
                token_keys(),
                again.security_token.expose(),
                &again.access_key_id,
            );
            assert!(w.is_ok_and(|w| w.session_id == v.session_id
                && w.user_id == v.user_id
                && w.expiration == v.expiration
                && w.generation == v.generation));
        }
    }
    Input::Claims {
        session,
        user,
        expiration,
        generation,
    } => round_trip(session, user, expiration, generation),
    Input::Keys(text) => {
        if let Ok(keys) = TokenKeys::parse(text) {
            assert!(keys.kids().count() >= 1);
        }
    }
});
