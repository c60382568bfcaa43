//! Identifiers validated at the edge: once built, they are known to be well formed.

use std::fmt;

use thiserror::Error;

/// Why an identifier was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum IdError {
    /// A collection name (`InvalidCollection`).
    #[error("collection {0:?} must match ^[A-Za-z0-9_-]{{1,64}}$")]
    Collection(String),
    /// An item id (`InvalidId`).
    #[error("id {0:?} must match ^[A-Za-z0-9_.-]{{1,128}}$ and be neither \".\" nor \"..\"")]
    Item(String),
    /// A user id.
    #[error("user id {0:?} must be 1 to 128 printable ASCII characters")]
    User(String),
    /// A session id.
    #[error("session id {0:?} is not one this service issues")]
    Session(String),
}

/// `N` bytes from the system's CSPRNG, for ids and access key ids.
#[allow(
    clippy::expect_used,
    reason = "aws-lc's DRBG fails only when the OS has no entropy source at all"
)]
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    aws_lc_rs::rand::fill(&mut bytes).expect("system random number generator is unavailable");
    bytes
}

fn all_bytes(s: &str, ok: impl Fn(u8) -> bool) -> bool {
    s.bytes().all(ok)
}

/// The caller's identity: Alipay's `open_id` (or `user_id`). Only ever taken from a verified
/// credential or from Alipay's signed answer, never from client input.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(String);

impl UserId {
    /// Accepts 1..=128 printable ASCII characters (Alipay ids are alphanumeric).
    pub fn parse(s: &str) -> Result<Self, IdError> {
        if (1..=128).contains(&s.len()) && all_bytes(s, |b| b.is_ascii_graphic()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(IdError::User(s.to_owned()))
        }
    }
    /// The id as Alipay sent it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// A short, stable, non-reversible tag for logs (first 12 hex digits of SHA-256).
    pub fn log_hash(&self) -> String {
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, self.0.as_bytes());
        hex::encode(&d.as_ref()[..6])
    }
}

impl fmt::Debug for UserId {
    // A user id is personal data: logs and debug output carry its stable hash instead.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserId({})", self.log_hash())
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An opaque session id: 192 random bits, base64url without padding (32 characters).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SessionId(String);

impl SessionId {
    const RANDOM_BYTES: usize = 24;
    const ENCODED_LEN: usize = 32;

    /// A fresh id from the system's CSPRNG.
    pub fn generate() -> Self {
        use base64::Engine;
        let bytes = random_bytes::<{ Self::RANDOM_BYTES }>();
        Self(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
    }
    /// Accepts only the form [`SessionId::generate`] makes.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let ok = s.len() == Self::ENCODED_LEN
            && all_bytes(s, |b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(IdError::Session(s.to_owned()))
        }
    }
    /// The id's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SessionId {
    // A session id is a bearer of nothing by itself, but keep logs free of it anyway.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({}…)", &self.0[..4.min(self.0.len())])
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A collection name: `^[A-Za-z0-9_-]{1,64}$`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Collection(String);

impl Collection {
    /// Accepts `^[A-Za-z0-9_-]{1,64}$`.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let ok = (1..=64).contains(&s.len())
            && all_bytes(s, |b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(IdError::Collection(s.to_owned()))
        }
    }
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Collection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An item id: `^[A-Za-z0-9_.-]{1,128}$`, neither `.` nor `..`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ItemId(String);

impl ItemId {
    /// Accepts `^[A-Za-z0-9_.-]{1,128}$` except `.` and `..`.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let ok = (1..=128).contains(&s.len())
            && s != "."
            && s != ".."
            && all_bytes(s, |b| {
                b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-'
            });
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(IdError::Item(s.to_owned()))
        }
    }
    /// A new time-ordered id (UUID v7), for `POST /db/{collection}`.
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }
    /// The id's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An item's version: 1 for a new item, +1 on every write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version(u64);

impl Version {
    /// A new item's version.
    pub const FIRST: Version = Version(1);

    /// Versions start at 1; 0 names no version that can exist.
    pub fn new(v: u64) -> Option<Self> {
        (v >= 1).then_some(Self(v))
    }
    /// The number.
    pub fn get(self) -> u64 {
        self.0
    }
    /// The version after this one.
    pub fn next(self) -> Self {
        Self(self.0 + 1)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collection_rules() {
        assert!(Collection::parse("todos").is_ok());
        assert!(Collection::parse(&"a".repeat(64)).is_ok());
        assert!(Collection::parse(&"a".repeat(65)).is_err());
        assert!(Collection::parse("").is_err());
        assert!(Collection::parse("a.b").is_err());
        assert!(Collection::parse("a/b").is_err());
    }

    #[test]
    fn item_id_rules() {
        assert!(ItemId::parse("a.b-c_d").is_ok());
        assert!(ItemId::parse(".").is_err());
        assert!(ItemId::parse("..").is_err());
        assert!(ItemId::parse("...").is_ok());
        assert!(ItemId::parse("a/b").is_err());
        assert!(ItemId::parse(&"x".repeat(129)).is_err());
        assert!(ItemId::parse(ItemId::generate().as_str()).is_ok());
    }

    #[test]
    fn session_ids_are_long_and_distinct() {
        let a = SessionId::generate();
        let b = SessionId::generate();
        assert_ne!(a, b);
        assert_eq!(SessionId::parse(a.as_str()), Ok(a));
        assert!(SessionId::parse("short").is_err());
    }

    #[test]
    fn versions_start_at_one() {
        assert_eq!(Version::new(0), None);
        assert_eq!(Version::FIRST.next().get(), 2);
    }
}
