//! Secrets as types that cannot be printed: `Debug` redacts, there is no `Display`, memory is
//! zeroed on drop, and there is no `==` (it would not be constant-time; compare `expose()`d
//! bytes where a test must).
//!
//! Structs that hold these derive `Debug` and stay redacted.

use std::fmt;

use zeroize::Zeroizing;

/// A secret string (an access key secret, a private key's text, an auth code).
#[derive(Clone)]
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    /// Wraps a secret.
    pub fn new(s: String) -> Self {
        Self(Zeroizing::new(s))
    }
    /// The secret itself; call only where it is used, never to log.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for SecretString {
    fn from(s: String) -> Self {
        Self::new(s)
    }
}

impl From<&str> for SecretString {
    fn from(s: &str) -> Self {
        Self::new(s.to_owned())
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(<redacted>)")
    }
}

/// Secret key material.
#[derive(Clone)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Wraps key material.
    pub fn new(b: Vec<u8>) -> Self {
        Self(Zeroizing::new(b))
    }
    /// The key bytes; call only where they are used.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes(<{} bytes redacted>)", self.0.len())
    }
}

/// A security token (`x-miniapp-security-token`). It travels with every request, but with a
/// leaked access key secret it is a working credential, so it is kept out of logs like one.
#[derive(Clone)]
pub struct SecurityToken(SecretString);

impl SecurityToken {
    /// Wraps a token.
    pub fn new(token: String) -> Self {
        Self(SecretString::new(token))
    }
    /// The token's text; call only where it is sent or verified.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl From<String> for SecurityToken {
    fn from(token: String) -> Self {
        Self::new(token)
    }
}

impl From<&str> for SecurityToken {
    fn from(token: &str) -> Self {
        Self::new(token.to_owned())
    }
}

impl fmt::Debug for SecurityToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecurityToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_print() {
        let s = SecretString::new("hunter2".into());
        assert!(!format!("{s:?}").contains("hunter2"));
        let b = SecretBytes::new(b"hunter2".to_vec());
        assert!(!format!("{b:?}").contains("104"));
        assert_eq!(s.expose(), "hunter2");
        let t = SecurityToken::from("v1.k1.payload.mac");
        assert!(!format!("{t:?}").contains("payload"));
        assert_eq!(t.expose(), "v1.k1.payload.mac");
    }
}
