//! The canonical query (docs/api.md §5.3) and the strict percent-decoder under it. Oracles:
//! canonicalising is idempotent, the canonical form decodes to the same pairs (sorted), refusal
//! happens exactly when a piece has a malformed escape or decodes to non-UTF-8, and
//! encode → decode is the identity.
#![no_main]

use libfuzzer_sys::fuzz_target;
use miniapp_shared::percent;
use miniapp_shared::signing::{canonical_query, canonical_query_from_pairs, parse_query};

/// Whether every `%` starts two hex digits and the decoded bytes are UTF-8.
fn piece_decodes(piece: &str) -> bool {
    let b = piece.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                // from_str_radix also takes a sign; require two digits.
                Some(v) if hex.is_some_and(|h| h.bytes().all(|c| c.is_ascii_hexdigit())) => {
                    out.push(v);
                    i += 3;
                }
                _ => return false,
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    std::str::from_utf8(&out).is_ok()
}

fuzz_target!(|raw: &str| {
    let expect_ok = raw
        .split('&')
        .flat_map(|p| p.splitn(2, '='))
        .all(piece_decodes);
    let result = canonical_query(raw);
    assert_eq!(result.is_ok(), expect_ok, "{raw:?}: {result:?}");
    for piece in raw.split('&') {
        let _ = percent::decode(piece);
    }
    let Ok(canonical) = result else {
        return;
    };
    assert_eq!(canonical_query(&canonical).as_ref(), Ok(&canonical));
    let mut pairs = match parse_query(raw) {
        Ok(p) => p,
        Err(e) => panic!("canonical_query accepted what parse_query refuses: {e:?}"),
    };
    assert_eq!(canonical_query_from_pairs(&pairs), canonical);
    let mut back = match parse_query(&canonical) {
        Ok(p) => p,
        Err(e) => panic!("the canonical form does not parse: {e:?}"),
    };
    pairs.sort();
    back.sort();
    assert_eq!(pairs, back);
    for (k, v) in &pairs {
        for text in [k, v] {
            let encoded = percent::encode(text).to_string();
            assert!(encoded
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)));
            assert_eq!(percent::decode(&encoded).as_ref(), Ok(text));
        }
    }
});
