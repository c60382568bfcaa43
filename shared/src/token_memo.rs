//! Security tokens that passed the full check lately, by their text. A client sends the same
//! token with every request until its credentials are refreshed, and the full check costs two
//! HMACs, an AES-GCM open and base64 decoding (~30k instructions of a warm GET's ~276k in user
//! space; callgrind, docs/benchmarks.md, "Instructions"). A hit hands back what the full check
//! found for exactly that text; the access key id and expiry are still checked per request.
//!
//! The map's hasher is std's keyed SipHash: which bucket a token falls in is not predictable
//! from outside, so comparing texts on a hit tells an attacker nothing they can steer.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use crate::credentials::VerifiedToken;

/// Most tokens remembered (~0.6 KB each); past it, it starts over.
const MAX_TOKENS: usize = 1_024;

/// Token text → what verifying it found.
#[derive(Default)]
pub(crate) struct TokenMemo {
    verified: Mutex<HashMap<String, VerifiedToken>>,
}

impl std::fmt::Debug for TokenMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Tokens and secrets are never printed.
        f.debug_struct("TokenMemo").finish_non_exhaustive()
    }
}

impl TokenMemo {
    /// What verifying `token` found, if it was verified lately.
    pub(crate) fn get(&self, token: &str) -> Option<VerifiedToken> {
        let verified = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
        verified.get(token).cloned()
    }

    /// Remembers that `token` verified as `found`.
    pub(crate) fn remember(&self, token: &str, found: &VerifiedToken) {
        let mut verified = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
        if verified.len() >= MAX_TOKENS {
            verified.clear();
        }
        verified.insert(token.to_owned(), found.clone());
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.verified
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}
