//! Percent-encoding as this API uses it everywhere (paths, the canonical query, Runtime API
//! paths): one strict decoder and one encode set, RFC 3986's unreserved characters.

use std::fmt;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use thiserror::Error;

/// Everything but RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`) is escaped.
pub const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Why a piece of text does not percent-decode.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum PercentDecodeError {
    /// A `%` not followed by two hex digits.
    #[error("a malformed percent-escape (expected % and two hex digits)")]
    MalformedEscape,
    /// The escapes decode to bytes that are not UTF-8.
    #[error("the escapes do not decode to UTF-8")]
    NotUtf8,
}

/// Escapes every byte of `text` outside [`UNRESERVED`] as `%XX` (upper-case hex).
pub fn encode(text: &str) -> impl fmt::Display + '_ {
    utf8_percent_encode(text, UNRESERVED)
}

/// Strict decoding: every `%` starts a two-hex-digit escape and the result is UTF-8; `+` stays
/// `+` (this is not form decoding).
pub fn decode(text: &str) -> Result<String, PercentDecodeError> {
    // `percent_decode_str` passes malformed escapes through; this API refuses them.
    if !escapes_are_well_formed(text.as_bytes()) {
        return Err(PercentDecodeError::MalformedEscape);
    }
    percent_decode_str(text)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| PercentDecodeError::NotUtf8)
}

fn escapes_are_well_formed(bytes: &[u8]) -> bool {
    let mut rest = bytes;
    while let Some(i) = rest.iter().position(|&b| b == b'%') {
        match rest.get(i + 1..i + 3) {
            Some([hi, lo]) if hi.is_ascii_hexdigit() && lo.is_ascii_hexdigit() => {
                rest = &rest[i + 3..];
            }
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_strictly() {
        assert_eq!(decode("a%2Fb+c").as_deref(), Ok("a/b+c"));
        assert_eq!(decode("%e4%bd%a0").as_deref(), Ok("你"));
        assert_eq!(decode("").as_deref(), Ok(""));
        for bad in ["%", "%4", "a%zz", "%g0", "%%41"] {
            assert_eq!(
                decode(bad),
                Err(PercentDecodeError::MalformedEscape),
                "{bad}"
            );
        }
        for bad in ["%ff", "%C3%28", "%80"] {
            assert_eq!(decode(bad), Err(PercentDecodeError::NotUtf8), "{bad}");
        }
    }

    #[test]
    fn encodes_all_but_unreserved() {
        assert_eq!(encode("aZ09-._~").to_string(), "aZ09-._~");
        assert_eq!(encode("a b/你+").to_string(), "a%20b%2F%E4%BD%A0%2B");
    }
}
