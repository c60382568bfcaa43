//! The canonical query: strict decoding of the raw query into pairs, then the encoded, sorted
//! form that enters the string to sign.

use thiserror::Error;

use crate::http::ErrorCode;
use crate::percent::{self, PercentDecodeError};

/// Longest query piece quoted in an error message.
const QUOTE_MAX: usize = 64;

/// Why a query string was refused (`InvalidQuery`, checked before authentication).
#[derive(Debug, Error, PartialEq, Eq, Clone)]
pub enum QueryError {
    /// A `%` not followed by two hex digits.
    #[error("query piece {0:?} has a malformed percent-escape (expected % and two hex digits)")]
    MalformedEscape(String),
    /// Escapes that decode to bytes that are not UTF-8.
    #[error("query piece {0:?} does not decode to UTF-8")]
    NotUtf8(String),
}

impl QueryError {
    /// The contract's code: always `InvalidQuery`.
    pub fn code(&self) -> ErrorCode {
        ErrorCode::InvalidQuery
    }
}

fn quote(piece: &str) -> String {
    piece.chars().take(QUOTE_MAX).collect()
}

/// Strict percent-decoding of one query piece, quoting it in the error.
fn decode_piece(piece: &str) -> Result<String, QueryError> {
    percent::decode(piece).map_err(|e| match e {
        PercentDecodeError::MalformedEscape => QueryError::MalformedEscape(quote(piece)),
        PercentDecodeError::NotUtf8 => QueryError::NotUtf8(quote(piece)),
    })
}

/// Decodes a raw query string (without `?`) into pairs, in order, as the server reads them.
pub fn parse_query(raw: &str) -> Result<Vec<(String, String)>, QueryError> {
    raw.split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (k, v) = piece.split_once('=').unwrap_or((piece, ""));
            Ok((decode_piece(k)?, decode_piece(v)?))
        })
        .collect()
}

/// The canonical query of already-decoded pairs (for a server that parsed the query once).
pub fn canonical_query_from_pairs(pairs: &[(String, String)]) -> String {
    let mut encoded: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| {
            (
                percent::encode(k).to_string(),
                percent::encode(v).to_string(),
            )
        })
        .collect();
    // Tuple order = by encoded key, then encoded value; String order is byte order.
    encoded.sort_unstable();
    let joined: Vec<String> = encoded
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    joined.join("&")
}

/// The canonical query of a raw query string (docs/api.md §5.3).
pub fn canonical_query(raw: &str) -> Result<String, QueryError> {
    parse_query(raw).map(|pairs| canonical_query_from_pairs(&pairs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(raw: &str) -> Result<String, QueryError> {
        canonical_query(raw)
    }

    #[test]
    fn canonical_query_examples() {
        let ok = [
            ("", ""),
            ("&&", ""),
            ("b=2&a=1", "a=1&b=2"),
            ("a=2&a=10&a=1", "a=1&a=10&a=2"),
            ("a=1&&b=", "a=1&b="),
            ("flag", "flag="),
            ("flag&x=y=z", "flag=&x=y%3Dz"),
            ("q=a+b", "q=a%2Bb"),
            ("q=a%20b", "q=a%20b"),
            ("a=%41", "a=A"),
            ("a=%7e%2d", "a=~-"),
            ("k=%e4%bd%a0", "k=%E4%BD%A0"),
            ("k=你", "k=%E4%BD%A0"),
            ("k=é😀", "k=%C3%A9%F0%9F%98%80"),
            (
                "r=:/?#[]@!$'()*,;",
                "r=%3A%2F%3F%23%5B%5D%40%21%24%27%28%29%2A%2C%3B",
            ),
            ("%3D=%26", "%3D=%26"),
            ("limit=20&prefix=a", "limit=20&prefix=a"),
            // Sorting is on the encoded form: "%" (0x25) sorts before letters and digits.
            ("b=1&%61=1&~=1&A=1&_=1", "A=1&_=1&a=1&b=1&~=1"),
            ("z=1&a%20b=2", "a%20b=2&z=1"),
        ];
        for (raw, want) in ok {
            assert_eq!(canon(raw).as_deref(), Ok(want), "raw {raw:?}");
        }
    }

    #[test]
    fn malformed_queries_are_refused() {
        for raw in [
            "a=%zz", "a=%", "a=%4", "%g0=1", "a=1&b=%2", "a=%ff", "a=%C3%28", "%80",
        ] {
            let err = canon(raw).err();
            assert!(err.is_some(), "raw {raw:?}");
            assert_eq!(err.map(|e| e.code()), Some(ErrorCode::InvalidQuery));
        }
        assert!(matches!(canon("a=%ff"), Err(QueryError::NotUtf8(_))));
        assert!(matches!(
            canon("a=%zz"),
            Err(QueryError::MalformedEscape(_))
        ));
    }

    #[test]
    fn parse_query_keeps_order_and_plus() {
        let pairs = parse_query("b=a+b&a&=x&c=%2B").unwrap_or_default();
        let want = [("b", "a+b"), ("a", ""), ("", "x"), ("c", "+")];
        let got: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(got, want);
    }
}
