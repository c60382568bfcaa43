//! What several fuzz targets share: fixed server keys and a fixed clock, so that a crash input
//! replays exactly (no randomness decides what a target does with it).

use std::sync::OnceLock;

use miniapp_shared::credentials::{issue, Credentials, TokenKeys};
use miniapp_shared::ids::{SessionId, UserId};
use miniapp_shared::time_fmt::Timestamp;

/// The fuzzers' "now": 2026-11-25T14:36:40Z.
pub const NOW: Timestamp = Timestamp::from_unix(1_795_617_400);

/// Two token keys, `k2` signing and `k1` still accepted (a rotation in progress).
pub fn token_keys() -> &'static TokenKeys {
    static KEYS: OnceLock<TokenKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let parsed = TokenKeys::parse(
            "k2:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v,\
             k1:MDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6QUJDREVGR0hJSks",
        );
        match parsed {
            Ok(k) => k,
            Err(e) => panic!("fixed fuzz keys must parse: {e}"),
        }
    })
}

/// Credentials of one session, valid for an hour after [`NOW`].
pub fn credentials() -> &'static Credentials {
    static CREDS: OnceLock<Credentials> = OnceLock::new();
    CREDS.get_or_init(|| {
        let (Ok(session), Ok(user)) = (
            SessionId::parse("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
            UserId::parse("2088000000000001"),
        ) else {
            panic!("fixed fuzz ids must parse");
        };
        issue(token_keys(), &session, &user, NOW.plus_secs(3600))
    })
}

/// Splits fuzz input into two parts at the first `0xff` byte (never part of UTF-8 text).
pub fn split2(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == 0xff) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}
