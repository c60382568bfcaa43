//! Object keys: `users/<opaque user hash>/<file id>`. The hash is a keyed HMAC of the verified
//! user id (so a key in a URL or a bucket listing does not reveal the user, and nobody without
//! the server key can compute anyone's prefix); the file id is server-generated.

use aws_lc_rs::hmac;

use super::types::ObjectKey;
use crate::ids::UserId;
use crate::secret::SecretBytes;
use crate::store::FileId;

/// The prefix every user's objects are under (the deployment's IAM policy names it).
pub const USERS_PREFIX: &str = "users/";
/// Hex digits of the user hash (128 bits).
const HASH_HEX: usize = 32;

/// Computes users' prefixes.
#[derive(Clone)]
pub struct KeyMaker {
    key: hmac::Key,
}

impl std::fmt::Debug for KeyMaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyMaker(..)")
    }
}

impl KeyMaker {
    /// A maker hashing with `secret` (derived from the token keys).
    pub fn new(secret: &SecretBytes) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret.expose()),
        }
    }

    /// `users/<hash>/`.
    pub fn user_prefix(&self, user: &UserId) -> String {
        let tag = hmac::sign(&self.key, user.as_str().as_bytes());
        let hash = hex::encode(tag.as_ref());
        format!("{USERS_PREFIX}{}/", &hash[..HASH_HEX])
    }

    /// The key of one of the user's files.
    pub fn object_key(&self, user: &UserId, id: &FileId) -> ObjectKey {
        ObjectKey::new(format!("{}{}", self.user_prefix(user), id.as_str()))
    }
}

/// True for a key of the form [`KeyMaker::object_key`] makes: what the local backend accepts
/// as a path below its folder (no `..`, no other characters).
pub fn is_well_formed(key: &str) -> bool {
    let Some(rest) = key.strip_prefix(USERS_PREFIX) else {
        return false;
    };
    let Some((hash, id)) = rest.split_once('/') else {
        return false;
    };
    hash.len() == HASH_HEX
        && hash
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        && FileId::parse(id).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_opaque_and_per_user() {
        let m = KeyMaker::new(&SecretBytes::new(vec![1; 32]));
        let (a, b) = (
            UserId::parse("2088a").unwrap(),
            UserId::parse("2088b").unwrap(),
        );
        let id = FileId::generate();
        let ka = m.object_key(&a, &id);
        assert!(is_well_formed(ka.as_str()), "{}", ka.as_str());
        assert!(!ka.as_str().contains("2088"));
        assert_ne!(m.user_prefix(&a), m.user_prefix(&b));
        let other = KeyMaker::new(&SecretBytes::new(vec![2; 32]));
        assert_ne!(other.user_prefix(&a), m.user_prefix(&a));
        for bad in [
            "users/../x",
            "users/0123456789abcdef0123456789abcdef/../../etc",
            "files/0123456789abcdef0123456789abcdef/0191d4a2-0000-7000-8000-000000000000",
            "users/0123456789ABCDEF0123456789abcdef/0191d4a2-0000-7000-8000-000000000000",
        ] {
            assert!(!is_well_formed(bad), "{bad}");
        }
        assert!(is_well_formed(
            "users/0123456789abcdef0123456789abcdef/0191d4a2-0000-7000-8000-000000000000"
        ));
    }
}
