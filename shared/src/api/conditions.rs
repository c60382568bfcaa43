//! `If-Match` and `If-None-Match` (RFC 9110 §13.1) parsed into the store's typed
//! [`Condition`] (docs/api.md §4.3). Only a syntactically malformed header is 400
//! `InvalidRequest`; a well-formed tag that names no version simply never matches.
//!
//! Grammar (RFC 9110 §8.8.3, §13.1.1, §5.6.1), over all field lines of a header joined by `,`:
//! `"*" / #entity-tag`, `entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE`,
//! `etagc = %x21 / %x23-7E / %x80-FF`; list elements are separated by commas with optional
//! spaces or tabs, and empty elements are ignored. A tag names version `n` when its opaque part
//! is `n` in canonical decimal (digits only, no leading zero, at least 1): `"01"`, `"+1"` and
//! `"0"` name none.

use http::header::{HeaderName, IF_MATCH, IF_NONE_MATCH};
use http::HeaderMap;

use super::error::ApiError;
use crate::http::ErrorCode;
use crate::ids::Version;
use crate::store::{Condition, Tags};

/// Most entity tags one header may list (DynamoDB's `IN` takes up to 100 operands).
pub(crate) const MAX_TAGS: usize = 100;

/// How a header's tags are compared with the item's ETag (RFC 9110 §8.8.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comparison {
    /// `If-Match`: a weak tag never matches.
    Strong,
    /// `If-None-Match`: weak and strong tags match alike.
    Weak,
}

/// Both conditional headers of a request.
pub(crate) fn parse(headers: &HeaderMap) -> Result<Condition, ApiError> {
    Ok(Condition {
        if_match: parse_header(headers, &IF_MATCH, Comparison::Strong)?,
        if_none_match: parse_header(headers, &IF_NONE_MATCH, Comparison::Weak)?,
    })
}

fn malformed(name: &HeaderName, why: &str) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidRequest,
        format!(
            "{name} is malformed ({why}); send * or a list of quoted entity tags, e.g. \"3\", \"4\""
        ),
    )
}

/// One header, all its field lines taken as one list; `None` when absent.
fn parse_header(
    headers: &HeaderMap,
    name: &HeaderName,
    comparison: Comparison,
) -> Result<Option<Tags>, ApiError> {
    let lines: Vec<&[u8]> = headers.get_all(name).iter().map(|v| v.as_bytes()).collect();
    if lines.is_empty() {
        return Ok(None);
    }
    let value = lines.join(&b","[..]);
    if trim_ows(&value) == b"*" {
        return Ok(Some(Tags::Any));
    }
    let tags = entity_tags(&value).map_err(|why| malformed(name, why))?;
    if tags.len() > MAX_TAGS {
        return Err(malformed(
            name,
            &format!("more than {MAX_TAGS} entity tags"),
        ));
    }
    let mut versions: Vec<Version> = tags
        .into_iter()
        .filter(|t| comparison == Comparison::Weak || !t.weak)
        .filter_map(|t| named_version(t.opaque))
        .collect();
    versions.sort_unstable();
    versions.dedup();
    Ok(Some(Tags::OneOf(versions)))
}

/// One entity tag: its opaque part without the quotes.
struct EntityTag<'a> {
    weak: bool,
    opaque: &'a [u8],
}

fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !is_ows(*first) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !is_ows(*last) {
            break;
        }
        s = rest;
    }
    s
}

fn is_etagc(b: u8) -> bool {
    b == 0x21 || (0x23..=0x7E).contains(&b) || b >= 0x80
}

/// `#entity-tag`: the tags of a comma-separated list (empty elements ignored).
fn entity_tags(value: &[u8]) -> Result<Vec<EntityTag<'_>>, &'static str> {
    let mut tags = Vec::new();
    let mut rest = value;
    loop {
        rest = trim_ows(rest);
        match rest {
            [] => return Ok(tags),
            [b',', tail @ ..] => rest = tail,
            _ => {
                let (tag, tail) = entity_tag(rest)?;
                tags.push(tag);
                rest = trim_ows(tail);
                match rest {
                    [] => return Ok(tags),
                    [b',', tail @ ..] => rest = tail,
                    _ => return Err("entity tags must be separated by commas"),
                }
            }
        }
    }
}

/// One `entity-tag` at the start of `s`, and what follows it.
fn entity_tag(s: &[u8]) -> Result<(EntityTag<'_>, &[u8]), &'static str> {
    let (weak, s) = match s.strip_prefix(b"W/") {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let Some(inner) = s.strip_prefix(b"\"") else {
        return Err("an entity tag must be in double quotes");
    };
    let end = inner
        .iter()
        .position(|b| !is_etagc(*b))
        .ok_or("an entity tag lacks its closing quote")?;
    if inner[end] != b'"' {
        return Err("an entity tag holds a character it cannot (space, control or quote)");
    }
    let tag = EntityTag {
        weak,
        opaque: &inner[..end],
    };
    Ok((tag, &inner[end + 1..]))
}

/// The version an opaque tag names: canonical decimal only, so each version has one tag.
fn named_version(opaque: &[u8]) -> Option<Version> {
    match opaque {
        [b'1'..=b'9', rest @ ..] if rest.iter().all(u8::is_ascii_digit) => {
            std::str::from_utf8(opaque)
                .ok()?
                .parse::<u64>()
                .ok()
                .and_then(Version::new)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn v(n: u64) -> Version {
        Version::new(n).unwrap()
    }

    fn one_of(ns: &[u64]) -> Option<Tags> {
        Some(Tags::OneOf(ns.iter().map(|n| v(*n)).collect()))
    }

    fn headers(name: HeaderName, lines: &[&[u8]]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for line in lines {
            h.append(name.clone(), HeaderValue::from_bytes(line).unwrap());
        }
        h
    }

    /// (field lines, If-Match as parsed, If-None-Match as parsed); `None` in the table: 400.
    #[allow(clippy::type_complexity)]
    fn table() -> Vec<(
        Vec<&'static [u8]>,
        Option<Option<Tags>>,
        Option<Option<Tags>>,
    )> {
        let ok = Some;
        vec![
            (vec![b"\"3\""], ok(one_of(&[3])), ok(one_of(&[3]))),
            (vec![b"  \"3\"\t"], ok(one_of(&[3])), ok(one_of(&[3]))),
            (vec![b"*"], ok(Some(Tags::Any)), ok(Some(Tags::Any))),
            (vec![b" * "], ok(Some(Tags::Any)), ok(Some(Tags::Any))),
            (
                vec![b"\"1\", \"3\""],
                ok(one_of(&[1, 3])),
                ok(one_of(&[1, 3])),
            ),
            (
                vec![b"\"3\",\"1\",\"3\""],
                ok(one_of(&[1, 3])),
                ok(one_of(&[1, 3])),
            ),
            (
                vec![b"\"1\"", b"\"3\""],
                ok(one_of(&[1, 3])),
                ok(one_of(&[1, 3])),
            ),
            (
                vec![b"\"1\", , \"2\","],
                ok(one_of(&[1, 2])),
                ok(one_of(&[1, 2])),
            ),
            // Weak tags: never match under strong comparison, match under weak.
            (vec![b"W/\"3\""], ok(one_of(&[])), ok(one_of(&[3]))),
            (
                vec![b"W/\"3\", \"4\""],
                ok(one_of(&[4])),
                ok(one_of(&[3, 4])),
            ),
            // Well formed, naming no version.
            (vec![b"\"abc\""], ok(one_of(&[])), ok(one_of(&[]))),
            (vec![b"\"0\""], ok(one_of(&[])), ok(one_of(&[]))),
            (vec![b"\"01\""], ok(one_of(&[])), ok(one_of(&[]))),
            (vec![b"\"+1\""], ok(one_of(&[])), ok(one_of(&[]))),
            (vec![b"\"-1\""], ok(one_of(&[])), ok(one_of(&[]))),
            (vec![b"\"\""], ok(one_of(&[])), ok(one_of(&[]))),
            (vec![b"\"1.0\""], ok(one_of(&[])), ok(one_of(&[]))),
            (
                vec![b"\"99999999999999999999999999\""],
                ok(one_of(&[])),
                ok(one_of(&[])),
            ),
            (
                vec![b"\"18446744073709551615\""],
                ok(one_of(&[u64::MAX])),
                ok(one_of(&[u64::MAX])),
            ),
            (vec![b"\"a,b\", \"2\""], ok(one_of(&[2])), ok(one_of(&[2]))),
            (vec![b"\"\xC3\xA9\""], ok(one_of(&[])), ok(one_of(&[]))),
            // An empty list names no tag.
            (vec![b""], ok(one_of(&[])), ok(one_of(&[]))),
            (vec![b" , "], ok(one_of(&[])), ok(one_of(&[]))),
            // Malformed.
            (vec![b"3"], None, None),
            (vec![b"abc"], None, None),
            (vec![b"\"3"], None, None),
            (vec![b"3\""], None, None),
            (vec![b"\"3\" \"4\""], None, None),
            (vec![b"\"3\"x"], None, None),
            (vec![b"\"a b\""], None, None),
            (vec![b"\"a\tb\""], None, None),
            (vec![b"w/\"3\""], None, None),
            (vec![b"W/3"], None, None),
            (vec![b"W/ \"3\""], None, None),
            (vec![b"*, \"3\""], None, None),
            (vec![b"*", b"\"3\""], None, None),
            (vec![b"*", b"*"], None, None),
            (vec![b"**"], None, None),
            (vec![b"\"1\";q=1"], None, None),
        ]
    }

    #[test]
    fn header_values_to_conditions() {
        for (lines, if_match, if_none_match) in table() {
            for (name, want) in [(IF_MATCH, if_match), (IF_NONE_MATCH, if_none_match)] {
                let got = parse(&headers(name.clone(), &lines));
                let shown = lines
                    .iter()
                    .map(|l| String::from_utf8_lossy(l).into_owned())
                    .collect::<Vec<_>>();
                match want {
                    Some(tags) => {
                        let got = got.unwrap_or_else(|e| panic!("{name} {shown:?}: {e:?}"));
                        let parsed = if name == IF_MATCH {
                            got.if_match
                        } else {
                            got.if_none_match
                        };
                        assert_eq!(parsed, tags, "{name} {shown:?}");
                    }
                    None => assert_eq!(
                        got.map_err(|e| e.code),
                        Err(ErrorCode::InvalidRequest),
                        "{name} {shown:?}"
                    ),
                }
            }
        }
    }

    #[test]
    fn absent_headers_and_both_at_once() {
        assert_eq!(parse(&HeaderMap::new()).unwrap(), Condition::NONE);
        let mut h = headers(IF_MATCH, &[b"\"2\""]);
        h.append(IF_NONE_MATCH, HeaderValue::from_static("W/\"1\""));
        assert_eq!(
            parse(&h).unwrap(),
            Condition {
                if_match: one_of(&[2]),
                if_none_match: one_of(&[1]),
            }
        );
    }

    #[test]
    fn tag_count_is_bounded() {
        let list = |n: usize| {
            (1..=n)
                .map(|i| format!("\"{i}\""))
                .collect::<Vec<_>>()
                .join(",")
        };
        let at_limit = list(MAX_TAGS);
        let h = headers(IF_MATCH, &[at_limit.as_bytes()]);
        assert!(
            matches!(parse(&h).unwrap().if_match, Some(Tags::OneOf(vs)) if vs.len() == MAX_TAGS)
        );
        let over = list(MAX_TAGS + 1);
        let h = headers(IF_NONE_MATCH, &[over.as_bytes()]);
        assert_eq!(parse(&h).unwrap_err().code, ErrorCode::InvalidRequest);
    }
}
