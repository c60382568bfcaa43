//! Stateless STS-style credentials (docs/api.md §3, §5).
//!
//! A security token is `v2.<kid>.<base64url(sealed)>.<base64url(mac)>`:
//! - the plain payload is binary: `exp` (i64, big endian), `gen` (u64, big endian: the
//!   session's refresh generation the credentials were issued at, see `api/session.rs`), then
//!   `sid`, `uid` and `akid`, each a one-byte length followed by its bytes; nothing may follow.
//! - `sealed` is `nonce (12 random bytes) || AES-256-GCM(payload) || tag`, under a key derived
//!   from the `kid` key (`HMAC-SHA256(key, "miniapp-token-aead-v1")`): the session id and the
//!   user's open_id are not readable by whoever sees the token.
//! - `mac` is HMAC-SHA256 under the key named `kid` over `"miniapp-token\n"` followed by the
//!   token's own text up to (not including) its last `.`, so the version, kid and sealed
//!   payload are all covered. It is checked before anything is decrypted, so the order of
//!   checks and their codes are those of the unencrypted `v1` format.
//!
//! The access key secret is never stored: it is
//! `base64url(HMAC-SHA256(key, "miniapp-secret-v1\0" || payload))` over the plain payload,
//! which only a holder of the server key can compute, so the db function re-derives it from the
//! token alone. The HMAC inputs start with different domain labels, so a token MAC is never a
//! secret, and neither is a derived key.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::hmac;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use serde_json::json;
use thiserror::Error;

use crate::config::vars;
use crate::ids::{random_bytes, SessionId, UserId};
use crate::secret::{SecretBytes, SecretString, SecurityToken};
use crate::time_fmt::Timestamp;
use crate::token_memo::TokenMemo;

/// Prefix of every access key id (the contract requires `STS.`).
pub const ACCESS_KEY_ID_PREFIX: &str = "STS.";
/// Smallest accepted HMAC key, in bytes after base64 decoding.
pub const MIN_KEY_BYTES: usize = 32;

const TOKEN_VERSION: &str = "v2";
const TOKEN_MAC_DOMAIN: &[u8] = b"miniapp-token\n";
const SECRET_DOMAIN: &[u8] = b"miniapp-secret-v1\0";
const AEAD_KEY_LABEL: &[u8] = b"miniapp-token-aead-v1";
/// 144 random bits: 24 base64url characters after `STS.`.
const ACCESS_KEY_RANDOM_BYTES: usize = 18;
/// Far above any token we issue (user ids are at most 128 bytes); refuse work on junk early.
const MAX_TOKEN_LEN: usize = 1024;
const MAX_KID_LEN: usize = 32;

/// Why `MINIAPP_TOKEN_KEYS` was refused. Never carries key bytes.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum TokenKeysError {
    /// Nothing but whitespace.
    #[error(
        "{var} is empty: expected a comma-separated list of kid:base64key",
        var = vars::MINIAPP_TOKEN_KEYS
    )]
    Empty,
    /// An empty entry between commas.
    #[error("{var} entry {index} is empty (stray comma?)", var = vars::MINIAPP_TOKEN_KEYS)]
    EmptyEntry {
        /// The entry's position in the list, from 1.
        index: usize,
    },
    /// An entry without `kid:`.
    #[error(
        "{var} entry {index} has no ':' between kid and base64 key",
        var = vars::MINIAPP_TOKEN_KEYS
    )]
    MissingColon {
        /// The entry's position in the list, from 1.
        index: usize,
    },
    /// A kid outside `[A-Za-z0-9_-]{1,32}`. Not quoted: a key pasted in the wrong place
    /// must not reach the log.
    #[error(
        "{var} entry {index}: the kid ({len} characters before ':') must match ^[A-Za-z0-9_-]{{1,32}}$",
        var = vars::MINIAPP_TOKEN_KEYS
    )]
    InvalidKid {
        /// The entry's position in the list, from 1.
        index: usize,
        /// How many characters precede the `:`.
        len: usize,
    },
    /// A key that is not base64 (standard or URL-safe, padded or not).
    #[error(
        "{var} entry {index} (kid {kid:?}): the key is not valid base64",
        var = vars::MINIAPP_TOKEN_KEYS
    )]
    InvalidBase64 {
        /// The entry's position in the list, from 1.
        index: usize,
        /// The entry's key id.
        kid: String,
    },
    /// A key shorter than [`MIN_KEY_BYTES`].
    #[error(
        "{var} entry {index} (kid {kid:?}): the key is {len} bytes, at least 32 are required",
        var = vars::MINIAPP_TOKEN_KEYS
    )]
    KeyTooShort {
        /// The entry's position in the list, from 1.
        index: usize,
        /// The entry's key id.
        kid: String,
        /// The key's length in bytes.
        len: usize,
    },
    /// The same kid twice.
    #[error("{var} entry {index}: kid {kid:?} is listed twice", var = vars::MINIAPP_TOKEN_KEYS)]
    DuplicateKid {
        /// The entry's position in the list, from 1.
        index: usize,
        /// The entry's key id.
        kid: String,
    },
}

/// Why a security token was refused. Messages never quote the token.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum TokenError {
    /// Not `v1.<kid>.<payload>.<mac>`, or a part does not decode.
    #[error("the security token is malformed: {0}")]
    Malformed(&'static str),
    /// The kid is not in `MINIAPP_TOKEN_KEYS` (never was, or retired).
    #[error("the security token names key id {0:?}, which this service does not accept")]
    UnknownKey(String),
    /// The MAC does not verify under the named key.
    #[error("the security token was altered or not issued by this service")]
    BadMac,
    /// The token is genuine but was issued for another access key id.
    #[error("the security token belongs to another access key id than Credential")]
    AccessKeyIdMismatch,
}

/// One HMAC key, the payload encryption key derived from it, and its id (aws-lc's keys print
/// their algorithm only).
#[derive(Debug)]
struct TokenKey {
    kid: String,
    key: hmac::Key,
    aead: LessSafeKey,
}

/// The server's HMAC keys, parsed once at start. The first signs; all verify.
#[derive(Debug)]
pub struct TokenKeys {
    keys: Vec<TokenKey>,
    /// Tokens these keys verified lately (the keys are fixed for the process's life).
    verified: TokenMemo,
}

/// Accepts standard or URL-safe base64, padded or not: keys come from `openssl rand -base64`
/// as often as from a URL-safe generator.
fn decode_key(text: &str) -> Option<SecretBytes> {
    let cfg = GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    [alphabet::STANDARD, alphabet::URL_SAFE]
        .iter()
        .find_map(|a| GeneralPurpose::new(a, cfg).decode(text).ok())
        .map(SecretBytes::new)
}

fn valid_kid(kid: &str) -> bool {
    (1..=MAX_KID_LEN).contains(&kid.len())
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl TokenKeys {
    /// Parses `MINIAPP_TOKEN_KEYS`: comma-separated `kid:base64key`, spaces around entries ignored.
    pub fn parse(value: &str) -> Result<TokenKeys, TokenKeysError> {
        if value.trim().is_empty() {
            return Err(TokenKeysError::Empty);
        }
        let mut keys: Vec<TokenKey> = Vec::new();
        for (i, entry) in value.split(',').enumerate() {
            let key = parse_entry(i + 1, entry.trim())?;
            if keys.iter().any(|k| k.kid == key.kid) {
                return Err(TokenKeysError::DuplicateKid {
                    index: i + 1,
                    kid: key.kid,
                });
            }
            keys.push(key);
        }
        Ok(TokenKeys {
            keys,
            verified: TokenMemo::default(),
        })
    }

    /// The key ids, the signing one first (for a start-up log line).
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.kid.as_str())
    }

    fn signing(&self) -> &TokenKey {
        // `parse` never builds an empty list.
        &self.keys[0]
    }

    fn find(&self, kid: &str) -> Option<&TokenKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }
}

fn parse_entry(index: usize, entry: &str) -> Result<TokenKey, TokenKeysError> {
    if entry.is_empty() {
        return Err(TokenKeysError::EmptyEntry { index });
    }
    let (kid, b64) = entry
        .split_once(':')
        .ok_or(TokenKeysError::MissingColon { index })?;
    let kid = kid.trim().to_owned();
    if !valid_kid(&kid) {
        let len = kid.chars().count();
        return Err(TokenKeysError::InvalidKid { index, len });
    }
    let Some(bytes) = decode_key(b64.trim()) else {
        return Err(TokenKeysError::InvalidBase64 { index, kid });
    };
    let len = bytes.expose().len();
    if len < MIN_KEY_BYTES {
        return Err(TokenKeysError::KeyTooShort { index, kid, len });
    }
    let key = hmac::Key::new(hmac::HMAC_SHA256, bytes.expose());
    let aead = aead_key(&key);
    Ok(TokenKey { kid, key, aead })
}

/// The AES-256-GCM key of a token key: HMAC-SHA256 gives exactly the 32 bytes it needs.
fn aead_key(key: &hmac::Key) -> LessSafeKey {
    let tag = hmac::sign(key, AEAD_KEY_LABEL);
    let unbound = UnboundKey::new(&AES_256_GCM, tag.as_ref());
    #[allow(
        clippy::expect_used,
        reason = "a 32-byte key is always valid for AES-256-GCM"
    )]
    LessSafeKey::new(unbound.expect("32 bytes"))
}

/// `nonce || ciphertext || tag`. A random 96-bit nonce per token: far below the 2^32 tokens
/// per key at which random nonces start to risk a collision.
fn seal(key: &LessSafeKey, payload: &[u8]) -> Vec<u8> {
    let nonce_bytes = random_bytes::<NONCE_LEN>();
    let mut sealed = payload.to_vec();
    let nonce = Nonce::assume_unique_for_key(nonce_bytes);
    // Sealing in place only fails for inputs over GCM's 64 GiB limit.
    let _ = key.seal_in_place_append_tag(nonce, Aad::empty(), &mut sealed);
    [nonce_bytes.as_slice(), &sealed].concat()
}

fn open(key: &LessSafeKey, sealed: &[u8]) -> Result<Vec<u8>, TokenError> {
    let (nonce, ciphertext) = sealed
        .split_first_chunk::<NONCE_LEN>()
        .ok_or(TokenError::Malformed("payload too short"))?;
    let mut buf = ciphertext.to_vec();
    let nonce = Nonce::assume_unique_for_key(*nonce);
    // The MAC already verified: only a token MACed but not sealed by us gets here.
    let plain = key
        .open_in_place(nonce, Aad::empty(), &mut buf)
        .map_err(|_| TokenError::BadMac)?;
    let len = plain.len();
    buf.truncate(len);
    Ok(buf)
}

/// Credentials as `POST /session` and `POST /session/refresh` hand them out.
#[derive(Clone, Debug)]
pub struct Credentials {
    /// `STS.` followed by 24 random base64url characters.
    pub access_key_id: String,
    /// The signing secret; sent to the client once, never logged.
    pub access_key_secret: SecretString,
    /// Opaque to the client; carries and binds session, user, access key id and expiry.
    pub security_token: SecurityToken,
    /// When these credentials stop being accepted (except by `POST /session/refresh`).
    pub expiration: Timestamp,
}

impl Credentials {
    /// The contract's `credentials` object: `accessKeyId`, `accessKeySecret`, `securityToken`,
    /// `expiration` (RFC 3339).
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "accessKeyId": self.access_key_id,
            "accessKeySecret": self.access_key_secret.expose(),
            "securityToken": self.security_token.expose(),
            "expiration": self.expiration.rfc3339(),
        })
    }
}

/// What a valid security token says, plus the secret re-derived from it.
#[derive(Clone, Debug)]
pub struct VerifiedToken {
    /// The session the credentials belong to.
    pub session_id: SessionId,
    /// The caller's identity, as Alipay gave it at `POST /session`.
    pub user_id: UserId,
    /// The access key id bound into the token (equal to the `Credential` it was checked against).
    pub access_key_id: String,
    /// The credentials' expiry; not checked by [`verify_token`].
    pub expiration: Timestamp,
    /// The session's refresh generation the credentials were issued at (0 at log-in).
    pub generation: u64,
    /// The access key secret, re-derived with the server key.
    pub secret: SecretString,
}

/// When new credentials expire: the earlier of `now + credential_ttl_secs` and the session's end.
pub fn expiration_for(
    now: Timestamp,
    credential_ttl_secs: u64,
    session_expires_at: Timestamp,
) -> Timestamp {
    let ttl = i64::try_from(credential_ttl_secs).unwrap_or(i64::MAX);
    now.plus_secs(ttl).min(session_expires_at)
}

/// Issues fresh credentials for `session` and `user`, signed with the first key.
pub fn issue(
    keys: &TokenKeys,
    session: &SessionId,
    user: &UserId,
    expiration: Timestamp,
) -> Credentials {
    issue_at_generation(keys, session, user, expiration, 0)
}

/// Like [`issue`], for the session's refresh generation `generation` (`POST /session/refresh`).
pub fn issue_at_generation(
    keys: &TokenKeys,
    session: &SessionId,
    user: &UserId,
    expiration: Timestamp,
    generation: u64,
) -> Credentials {
    let access_key_id = new_access_key_id();
    let claims = Claims {
        session: session.as_str(),
        user: user.as_str(),
        access_key_id: &access_key_id,
        expiration,
        generation,
    };
    let payload = claims.encode();
    let signer = keys.signing();
    let signed_part = format!(
        "{TOKEN_VERSION}.{}.{}",
        signer.kid,
        URL_SAFE_NO_PAD.encode(seal(&signer.aead, &payload))
    );
    let mac = hmac::sign(&signer.key, &token_mac_input(&signed_part));
    Credentials {
        access_key_secret: derive_secret(&signer.key, &payload),
        security_token: SecurityToken::new(format!(
            "{signed_part}.{}",
            URL_SAFE_NO_PAD.encode(mac.as_ref())
        )),
        access_key_id,
        expiration,
    }
}

/// Checks that `token` was issued by one of `keys`, unaltered, for `access_key_id`, and
/// re-derives its secret. Expiry is NOT checked here: the caller orders that check.
pub fn verify_token(
    keys: &TokenKeys,
    token: &str,
    access_key_id: &str,
) -> Result<VerifiedToken, TokenError> {
    let verified = match keys.verified.get(token) {
        Some(found) => found,
        None => {
            let found = verify_token_fully(keys, token)?;
            keys.verified.remember(token, &found);
            found
        }
    };
    if verified.access_key_id != access_key_id {
        return Err(TokenError::AccessKeyIdMismatch);
    }
    Ok(verified)
}

/// [`verify_token`] without the memo and the access key id.
fn verify_token_fully(keys: &TokenKeys, token: &str) -> Result<VerifiedToken, TokenError> {
    let parts = split_token(token)?;
    let key = keys
        .find(parts.kid)
        .ok_or_else(|| TokenError::UnknownKey(parts.kid.chars().take(MAX_KID_LEN).collect()))?;
    let mac = URL_SAFE_NO_PAD
        .decode(parts.mac)
        .map_err(|_| TokenError::Malformed("the MAC is not base64url"))?;
    // Constant time: aws-lc compares the tags without early exit.
    hmac::verify(&key.key, &token_mac_input(parts.signed), &mac).map_err(|_| TokenError::BadMac)?;
    let sealed = URL_SAFE_NO_PAD
        .decode(parts.payload)
        .map_err(|_| TokenError::Malformed("the payload is not base64url"))?;
    let payload = open(&key.aead, &sealed)?;
    let claims = Claims::decode(&payload)?;
    Ok(VerifiedToken {
        // A MAC-valid payload was written by `issue` from valid ids; refuse anything else.
        session_id: SessionId::parse(claims.session)
            .map_err(|_| TokenError::Malformed("bad session id"))?,
        user_id: UserId::parse(claims.user).map_err(|_| TokenError::Malformed("bad user id"))?,
        access_key_id: claims.access_key_id.to_owned(),
        expiration: claims.expiration,
        generation: claims.generation,
        secret: derive_secret(&key.key, &payload),
    })
}

/// A token carrying `payload` as is, for `crate::fuzzing` (the decoder behind the MAC).
#[cfg(fuzzing)]
pub(crate) fn token_with_payload(keys: &TokenKeys, payload: &[u8]) -> String {
    let signer = keys.signing();
    let signed_part = format!(
        "{TOKEN_VERSION}.{}.{}",
        signer.kid,
        URL_SAFE_NO_PAD.encode(seal(&signer.aead, payload))
    );
    let mac = hmac::sign(&signer.key, &token_mac_input(&signed_part));
    format!("{signed_part}.{}", URL_SAFE_NO_PAD.encode(mac.as_ref()))
}

fn new_access_key_id() -> String {
    let bytes = random_bytes::<ACCESS_KEY_RANDOM_BYTES>();
    format!("{ACCESS_KEY_ID_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

fn token_mac_input(signed_part: &str) -> Vec<u8> {
    [TOKEN_MAC_DOMAIN, signed_part.as_bytes()].concat()
}

fn derive_secret(key: &hmac::Key, payload: &[u8]) -> SecretString {
    let tag = hmac::sign(key, &[SECRET_DOMAIN, payload].concat());
    SecretString::new(URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

struct TokenParts<'a> {
    /// `v1.<kid>.<payload>`: what the MAC covers.
    signed: &'a str,
    kid: &'a str,
    payload: &'a str,
    mac: &'a str,
}

fn split_token(token: &str) -> Result<TokenParts<'_>, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed("too long"));
    }
    let (signed, mac) = token
        .rsplit_once('.')
        .ok_or(TokenError::Malformed("expected v1.<kid>.<payload>.<mac>"))?;
    let mut it = signed.splitn(3, '.');
    let (Some(version), Some(kid), Some(payload)) = (it.next(), it.next(), it.next()) else {
        return Err(TokenError::Malformed("expected v1.<kid>.<payload>.<mac>"));
    };
    if version != TOKEN_VERSION {
        return Err(TokenError::Malformed("unknown version"));
    }
    Ok(TokenParts {
        signed,
        kid,
        payload,
        mac,
    })
}

/// The token payload's fields, borrowed.
struct Claims<'a> {
    session: &'a str,
    user: &'a str,
    access_key_id: &'a str,
    expiration: Timestamp,
    generation: u64,
}

impl<'a> Claims<'a> {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + 3 + 32 + 28 + self.user.len());
        out.extend_from_slice(&self.expiration.unix().to_be_bytes());
        out.extend_from_slice(&self.generation.to_be_bytes());
        for field in [self.session, self.user, self.access_key_id] {
            // Every field is at most 128 bytes (validated ids, our own akid), so fits a u8.
            let len = u8::try_from(field.len()).unwrap_or(u8::MAX);
            out.push(len);
            out.extend_from_slice(&field.as_bytes()[..usize::from(len)]);
        }
        out
    }

    fn decode(payload: &'a [u8]) -> Result<Self, TokenError> {
        let (exp, rest) = payload
            .split_first_chunk::<8>()
            .ok_or(TokenError::Malformed("payload too short"))?;
        let (generation, mut rest) = rest
            .split_first_chunk::<8>()
            .ok_or(TokenError::Malformed("payload too short"))?;
        let mut fields = [""; 3];
        for field in &mut fields {
            let (value, tail) = take_field(rest)?;
            *field = value;
            rest = tail;
        }
        if !rest.is_empty() {
            return Err(TokenError::Malformed("trailing bytes in payload"));
        }
        let [session, user, access_key_id] = fields;
        Ok(Claims {
            session,
            user,
            access_key_id,
            expiration: Timestamp::from_unix(i64::from_be_bytes(*exp)),
            generation: u64::from_be_bytes(*generation),
        })
    }
}

/// Reads one length-prefixed UTF-8 field.
fn take_field(bytes: &[u8]) -> Result<(&str, &[u8]), TokenError> {
    let (&len, rest) = bytes
        .split_first()
        .ok_or(TokenError::Malformed("payload truncated"))?;
    let len = usize::from(len);
    if rest.len() < len {
        return Err(TokenError::Malformed("payload truncated"));
    }
    let (value, tail) = rest.split_at(len);
    let value = std::str::from_utf8(value).map_err(|_| TokenError::Malformed("field not UTF-8"))?;
    Ok((value, tail))
}

/// Keys for other purposes, derived from the signing key so that no extra secret is needed.
impl TokenKeys {
    /// HMAC-SHA256 of `label` under the signing key: a separate key per purpose (e.g. list
    /// cursors), useless for forging tokens.
    pub fn derive_key(&self, label: &[u8]) -> SecretBytes {
        derive(&self.signing().key, label)
    }

    /// [`Self::derive_key`] under every listed key, the signing one first: for things signed
    /// with the newest key and accepted under any listed one (list cursors).
    pub fn derive_keys(&self, label: &[u8]) -> crate::store::CursorKeys {
        let mut all = self.keys.iter().map(|k| derive(&k.key, label));
        let first = all.next().unwrap_or_else(|| self.derive_key(label));
        crate::store::CursorKeys::new(first, all.collect())
    }
}

fn derive(key: &hmac::Key, label: &[u8]) -> SecretBytes {
    let tag = hmac::sign(key, label);
    SecretBytes::new(tag.as_ref().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const K2: &str = "k2:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8";

    fn keys(v: &str) -> TokenKeys {
        match TokenKeys::parse(v) {
            Ok(k) => k,
            Err(e) => panic!("test keys: {e}"),
        }
    }

    fn ids() -> (SessionId, UserId) {
        let sid = SessionId::generate();
        let uid = UserId::parse("2088102122524333").unwrap_or_else(|e| panic!("{e}"));
        (sid, uid)
    }

    #[test]
    fn parses_rotation_lists() {
        let k = keys(&format!("{K1}, {K2}"));
        assert_eq!(k.kids().collect::<Vec<_>>(), ["k1", "k2"]);
        // URL-safe, unpadded, 48-byte keys are fine too.
        let long = URL_SAFE_NO_PAD.encode([0xfbu8; 48]);
        assert!(TokenKeys::parse(&format!("a-_Z9:{long}")).is_ok());
        assert!(!format!("{k:?}").contains("AAEC"));
    }

    #[test]
    fn refuses_bad_key_lists() {
        let short = base64::engine::general_purpose::STANDARD.encode([7u8; 31]);
        let cases: [(&str, TokenKeysError); 8] = [
            ("", TokenKeysError::Empty),
            ("  ", TokenKeysError::Empty),
            (&format!("{K1},"), TokenKeysError::EmptyEntry { index: 2 }),
            ("k1", TokenKeysError::MissingColon { index: 1 }),
            (
                "bad.kid:AAAA",
                TokenKeysError::InvalidKid { index: 1, len: 7 },
            ),
            (
                &format!("{K1},k3:not base64!"),
                TokenKeysError::InvalidBase64 {
                    index: 2,
                    kid: "k3".into(),
                },
            ),
            (
                &format!("k9:{short}"),
                TokenKeysError::KeyTooShort {
                    index: 1,
                    kid: "k9".into(),
                    len: 31,
                },
            ),
            (
                &format!("{K1},{K1}"),
                TokenKeysError::DuplicateKid {
                    index: 2,
                    kid: "k1".into(),
                },
            ),
        ];
        for (input, want) in cases {
            let got = TokenKeys::parse(input).map(|_| ());
            assert_eq!(got, Err(want), "input {input:?}");
        }
        assert!(TokenKeys::parse(&format!("{}:{}", "k".repeat(33), &K1[3..])).is_err());
    }

    #[test]
    fn key_errors_do_not_print_key_material() {
        let short = base64::engine::general_purpose::STANDARD.encode(b"hunter2hunter2");
        let err = TokenKeys::parse(&format!("k1:{short}")).map(|_| ());
        let msg = err.map_err(|e| e.to_string()).err().unwrap_or_default();
        assert!(msg.contains("k1") && msg.contains("14 bytes"), "{msg}");
        assert!(!msg.contains(&short));
        // Key and kid swapped: the would-be kid is a key, so it is not quoted.
        let swapped = TokenKeys::parse(&format!("{}:k1", &K1[3..])).map(|_| ());
        let msg = swapped.map_err(|e| e.to_string()).err().unwrap_or_default();
        assert!(msg.contains("entry 1") && !msg.contains("AAEC"), "{msg}");
    }

    #[test]
    fn issue_then_verify_round_trips() {
        let k = keys(K1);
        let (sid, uid) = ids();
        let exp = Timestamp::from_unix(1_795_621_000);
        let c = issue(&k, &sid, &uid, exp);
        assert!(c.access_key_id.starts_with("STS."));
        assert_eq!(c.access_key_id.len(), 28);
        assert!(c.security_token.expose().starts_with("v2.k1."));
        let v = verify_token(&k, c.security_token.expose(), &c.access_key_id);
        let v = v.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v.session_id, sid);
        assert_eq!(v.user_id, uid);
        assert_eq!(v.access_key_id, c.access_key_id);
        assert_eq!(v.expiration, exp);
        assert_eq!(v.secret.expose(), c.access_key_secret.expose());
    }

    /// A token verified once is found in the memo, and what the memo hands back is still held
    /// to the access key id presented; an altered token is checked in full and refused.
    #[test]
    fn remembered_tokens_are_still_held_to_their_access_key_id() {
        let k = keys(K1);
        let (sid, uid) = ids();
        let c = issue(&k, &sid, &uid, Timestamp::from_unix(1_795_621_000));
        let token = c.security_token.expose();
        for _ in 0..3 {
            let v = verify_token(&k, token, &c.access_key_id).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(v.secret.expose(), c.access_key_secret.expose());
        }
        assert_eq!(k.verified.len(), 1);
        let got = verify_token(&k, token, "STS.other").map(|_| ());
        assert_eq!(got, Err(TokenError::AccessKeyIdMismatch));
        // The MAC's last base64url character carries 4 bits and 2 zero bits: 'A' and 'E' both
        // decode (to different bits), where 'B' would be refused as malformed, not as a bad MAC.
        let mut altered = token.to_owned();
        let last = altered
            .pop()
            .map_or('A', |ch| if ch == 'A' { 'E' } else { 'A' });
        altered.push(last);
        let got = verify_token(&k, &altered, &c.access_key_id).map(|_| ());
        assert_eq!(got, Err(TokenError::BadMac));
        assert_eq!(k.verified.len(), 1, "a refused token is not remembered");
    }

    #[test]
    fn each_issue_is_fresh() {
        let k = keys(K1);
        let (sid, uid) = ids();
        let a = issue(&k, &sid, &uid, Timestamp::from_unix(10));
        let b = issue(&k, &sid, &uid, Timestamp::from_unix(10));
        assert_ne!(a.access_key_id, b.access_key_id);
        assert_ne!(a.access_key_secret.expose(), b.access_key_secret.expose());
    }

    /// Re-signs a forged payload with a different key: the MAC must not verify.
    fn forge(k: &TokenKeys, claims: &Claims<'_>, mac_key: &TokenKeys) -> String {
        let signed = format!(
            "v2.{}.{}",
            k.signing().kid,
            URL_SAFE_NO_PAD.encode(seal(&k.signing().aead, &claims.encode()))
        );
        let mac = hmac::sign(&mac_key.signing().key, &token_mac_input(&signed));
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(mac.as_ref()))
    }

    #[test]
    fn token_is_bound_to_every_field() {
        let k = keys(K1);
        let (sid, uid) = ids();
        let other_sid = SessionId::generate();
        let c = issue(&k, &sid, &uid, Timestamp::from_unix(1000));
        let parts = split_token(c.security_token.expose()).unwrap_or_else(|e| panic!("{e}"));
        let sealed = URL_SAFE_NO_PAD.decode(parts.payload).unwrap_or_default();
        let payload = open(&k.signing().aead, &sealed).unwrap_or_else(|e| panic!("{e}"));
        let orig = Claims::decode(&payload).unwrap_or_else(|e| panic!("{e}"));
        let variants = [
            Claims {
                session: other_sid.as_str(),
                ..copy(&orig)
            },
            Claims {
                user: "2088000000000000",
                ..copy(&orig)
            },
            Claims {
                access_key_id: "STS.other",
                ..copy(&orig)
            },
            Claims {
                expiration: Timestamp::from_unix(1001),
                ..copy(&orig)
            },
            Claims {
                generation: 1,
                ..copy(&orig)
            },
        ];
        for claims in variants {
            // Same kid, payload swapped (sealed with the right key), original MAC kept.
            let sealed = seal(&k.signing().aead, &claims.encode());
            let signed = format!("v2.k1.{}", URL_SAFE_NO_PAD.encode(sealed));
            let token = format!("{signed}.{}", parts.mac);
            let got = verify_token(&k, &token, claims.access_key_id).map(|_| ());
            assert_eq!(got, Err(TokenError::BadMac));
        }
        // The access key id presented must be the one bound into the token.
        let got = verify_token(&k, c.security_token.expose(), "STS.other").map(|_| ());
        assert_eq!(got, Err(TokenError::AccessKeyIdMismatch));
        // A token MACed with another server's key under our kid is refused.
        let forged = forge(&k, &orig, &keys(&format!("k1:{}", &K2[3..])));
        let got = verify_token(&k, &forged, orig.access_key_id).map(|_| ());
        assert_eq!(got, Err(TokenError::BadMac));
    }

    fn copy<'a>(c: &Claims<'a>) -> Claims<'a> {
        Claims {
            session: c.session,
            user: c.user,
            access_key_id: c.access_key_id,
            expiration: c.expiration,
            generation: c.generation,
        }
    }

    #[test]
    fn refuses_malformed_and_unknown_tokens() {
        let k = keys(K1);
        let (sid, uid) = ids();
        let c = issue(&k, &sid, &uid, Timestamp::from_unix(1000));
        let t = c.security_token.expose();
        let akid = &c.access_key_id;
        let retired = verify_token(&keys(K2), t, akid).map(|_| ());
        assert_eq!(retired, Err(TokenError::UnknownKey("k1".into())));
        for bad in [
            "",
            "v1",
            "v1.k1.x",
            &t.replacen("v2.", "v1.", 1),
            &t.replacen("v2.", "v3.", 1),
            &"a".repeat(2000),
        ] {
            let got = verify_token(&k, bad, akid).map(|_| ());
            assert!(
                matches!(got, Err(TokenError::Malformed(_))),
                "{bad:?}: {got:?}"
            );
        }
        let extra = format!("{t}.x");
        assert!(verify_token(&k, &extra, akid).is_err());
    }

    #[test]
    fn payload_decoding_is_strict() {
        let claims = Claims {
            session: "s",
            user: "u",
            access_key_id: "a",
            expiration: Timestamp::from_unix(5),
            generation: 7,
        };
        let mut bytes = claims.encode();
        assert!(Claims::decode(&bytes).is_ok());
        bytes.push(0);
        assert!(Claims::decode(&bytes).is_err());
        assert!(Claims::decode(&bytes[..bytes.len() - 3]).is_err());
        assert!(Claims::decode(&bytes[..4]).is_err());
    }

    #[test]
    fn the_payload_is_encrypted_and_carries_the_generation() {
        let k = keys(K1);
        let (sid, uid) = ids();
        let c = issue_at_generation(&k, &sid, &uid, Timestamp::from_unix(1000), 41);
        let parts = split_token(c.security_token.expose()).unwrap_or_else(|e| panic!("{e}"));
        let sealed = URL_SAFE_NO_PAD.decode(parts.payload).unwrap_or_default();
        let contains = |needle: &[u8]| sealed.windows(needle.len()).any(|w| w == needle);
        assert!(!contains(sid.as_str().as_bytes()), "session id in clear");
        assert!(!contains(uid.as_str().as_bytes()), "user id in clear");
        assert!(
            !contains(c.access_key_id.as_bytes()),
            "access key id in clear"
        );
        let v = verify_token(&k, c.security_token.expose(), &c.access_key_id)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v.generation, 41);
        assert_eq!(
            issue(&k, &sid, &uid, Timestamp::from_unix(1000))
                .expiration
                .unix(),
            1000
        );
        // A payload MACed with the right key but not sealed by us is refused as altered.
        let signed = format!("v2.k1.{}", URL_SAFE_NO_PAD.encode([0u8; 40]));
        let mac = hmac::sign(&k.signing().key, &token_mac_input(&signed));
        let token = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(mac.as_ref()));
        assert_eq!(
            verify_token(&k, &token, &c.access_key_id).map(|_| ()),
            Err(TokenError::BadMac)
        );
    }

    #[test]
    fn debug_redacts_secrets() {
        let k = keys(K1);
        let (sid, uid) = ids();
        let c = issue(&k, &sid, &uid, Timestamp::from_unix(1000));
        let v = verify_token(&k, c.security_token.expose(), &c.access_key_id)
            .unwrap_or_else(|e| panic!("{e}"));
        let printed = format!("{c:?} {v:?}");
        assert!(!printed.contains(c.access_key_secret.expose()));
        assert!(!printed.contains(c.security_token.expose()));
        assert!(printed.contains(&c.access_key_id));
        let j = c.to_json();
        assert_eq!(j["accessKeySecret"], c.access_key_secret.expose());
        assert_eq!(j["expiration"], "1970-01-01T00:16:40Z");
    }

    #[test]
    fn expiration_is_capped_by_the_session() {
        let now = Timestamp::from_unix(1_000);
        let end = Timestamp::from_unix(2_000);
        assert_eq!(expiration_for(now, 3600, end), end);
        assert_eq!(expiration_for(now, 500, end), Timestamp::from_unix(1_500));
        assert_eq!(expiration_for(now, u64::MAX, end), end);
    }
}
