//! Finding the signed node of a gateway answer and verifying it over the exact bytes received.
//!
//! Alipay signs the raw text of the node's value, from its `{` to the matching `}`, as it sent
//! it (`\/` escapes and raw UTF-8 kept). Re-serialising parsed JSON would change those bytes,
//! so the node is located by a small scanner over the top-level object and verified before any
//! JSON parsing of its content.

use std::borrow::Cow;

use thiserror::Error;

use super::keys::AlipayPublicKey;
use super::sign::rsa2_verify;

/// Why an answer could not be accepted.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ResponseError {
    /// Not a JSON object, or its top level is broken.
    #[error("the gateway's answer is not a well-formed JSON object: {0}")]
    Malformed(&'static str),
    /// Neither the method's node nor `error_response` is present.
    #[error("the gateway's answer has no response node")]
    NoNode,
    /// The answer carries no top-level `sign`.
    #[error("the gateway's answer is not signed")]
    Unsigned,
    /// The top-level `sign` does not verify over the node.
    #[error("the gateway's answer signature does not verify")]
    BadSignature,
}

/// Which member held the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// `<method with . → _>_response`.
    Method,
    /// `error_response`.
    Error,
}

/// The signed part of an answer, borrowed from the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedNode<'a> {
    /// Whether the method node or `error_response` was found.
    pub kind: NodeKind,
    /// The node's raw value, from `{` to the matching `}`.
    pub content: &'a str,
    /// Byte offset of `content` in the body.
    pub offset: usize,
    /// The decoded top-level `sign`, if any.
    pub sign: Option<String>,
    /// The decoded top-level `alipay_cert_sn` (certificate mode), if any.
    pub cert_sn: Option<String>,
}

/// The member that holds a method's answer: `alipay.system.oauth.token` →
/// `alipay_system_oauth_token_response`.
pub fn response_node_name(method: &str) -> String {
    format!("{}_response", method.replace('.', "_"))
}

/// Finds the top-level method node (or `error_response`), the top-level `sign` and, in
/// certificate mode, `alipay_cert_sn`.
/// Nested members with the same names are ignored; a duplicated top-level member is refused.
pub fn extract_signed_node<'a>(
    body: &'a str,
    method_node: &str,
) -> Result<SignedNode<'a>, ResponseError> {
    let members = top_level_members(body)?;
    let method = find_unique(&members, method_node)?;
    let error = find_unique(&members, "error_response")?;
    let (kind, span) = match (method, error) {
        (Some(span), None) => (NodeKind::Method, span),
        (None, Some(span)) => (NodeKind::Error, span),
        (Some(_), Some(_)) => return Err(ResponseError::Malformed("both result and error nodes")),
        (None, None) => return Err(ResponseError::NoNode),
    };
    let content = &body[span.0..span.1];
    if !content.starts_with('{') {
        return Err(ResponseError::Malformed(
            "the response node is not an object",
        ));
    }
    let string_member = |name: &str| match find_unique(&members, name)? {
        Some((start, end)) => decode_string(&body[start..end]).map(Some),
        None => Ok(None),
    };
    Ok(SignedNode {
        kind,
        content,
        offset: span.0,
        sign: string_member("sign")?,
        cert_sn: string_member("alipay_cert_sn")?,
    })
}

/// Verifies the node's RSA2 signature with Alipay's public key.
pub fn verify_signed_node(
    node: &SignedNode<'_>,
    key: &AlipayPublicKey,
) -> Result<(), ResponseError> {
    let sign = node.sign.as_deref().ok_or(ResponseError::Unsigned)?;
    rsa2_verify(key, node.content.as_bytes(), sign).map_err(|_| ResponseError::BadSignature)
}

type Span = (usize, usize);

fn find_unique(
    members: &[(Cow<'_, str>, Span)],
    name: &str,
) -> Result<Option<Span>, ResponseError> {
    let mut found = members
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, span)| *span);
    let first = found.next();
    match found.next() {
        // Two members of one name could make us verify one and parse the other.
        Some(_) => Err(ResponseError::Malformed("a member appears twice")),
        None => Ok(first),
    }
}

fn decode_string(raw: &str) -> Result<String, ResponseError> {
    serde_json::from_str::<String>(raw).map_err(|_| ResponseError::Malformed("a string is invalid"))
}

/// The members of the top-level object: decoded key and the value's byte span.
fn top_level_members(body: &str) -> Result<Vec<(Cow<'_, str>, Span)>, ResponseError> {
    let mut sc = Scanner {
        s: body.as_bytes(),
        pos: 0,
    };
    sc.ws();
    sc.eat(b'{')?;
    let mut members = Vec::new();
    sc.ws();
    if sc.peek() == Some(b'}') {
        sc.pos += 1;
    } else {
        loop {
            members.push(sc.member(body)?);
            sc.ws();
            match sc.next_byte()? {
                b',' => continue,
                b'}' => break,
                _ => return Err(ResponseError::Malformed("expected ',' or '}'")),
            }
        }
    }
    sc.ws();
    match sc.peek() {
        None => Ok(members),
        Some(_) => Err(ResponseError::Malformed("text after the top-level object")),
    }
}

/// A byte cursor that skips JSON values without building them.
struct Scanner<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn next_byte(&mut self) -> Result<u8, ResponseError> {
        let b = self
            .peek()
            .ok_or(ResponseError::Malformed("unexpected end"))?;
        self.pos += 1;
        Ok(b)
    }

    fn eat(&mut self, want: u8) -> Result<(), ResponseError> {
        match self.next_byte()? {
            b if b == want => Ok(()),
            _ => Err(ResponseError::Malformed("unexpected character")),
        }
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// `"key" : value` (whitespace allowed around the colon).
    fn member<'b>(&mut self, body: &'b str) -> Result<(Cow<'b, str>, Span), ResponseError> {
        self.ws();
        let (ks, ke) = self.string()?;
        let raw = &body[ks..ke];
        let key = if raw.contains('\\') {
            Cow::Owned(decode_string(raw)?)
        } else {
            Cow::Borrowed(&raw[1..raw.len() - 1])
        };
        self.ws();
        self.eat(b':')?;
        self.ws();
        Ok((key, self.value()?))
    }

    /// Span of one value; the cursor ends just after it.
    fn value(&mut self) -> Result<Span, ResponseError> {
        match self.peek() {
            Some(b'"') => self.string(),
            Some(b'{' | b'[') => self.composite(),
            Some(_) => self.scalar(),
            None => Err(ResponseError::Malformed("unexpected end")),
        }
    }

    /// A string including its quotes; a backslash always escapes the next byte, which is
    /// enough to never mistake `\"` for the end (`\u` escapes contain no quote).
    fn string(&mut self) -> Result<Span, ResponseError> {
        let start = self.pos;
        self.eat(b'"')?;
        loop {
            match self.next_byte()? {
                b'"' => return Ok((start, self.pos)),
                b'\\' => {
                    self.next_byte()?;
                }
                _ => {}
            }
        }
    }

    /// An object or array, matching brackets outside strings; iterative, so deep nesting
    /// costs heap, never stack.
    fn composite(&mut self) -> Result<Span, ResponseError> {
        let start = self.pos;
        let mut open: Vec<u8> = Vec::new();
        loop {
            match self
                .peek()
                .ok_or(ResponseError::Malformed("unclosed object"))?
            {
                b'"' => {
                    self.string()?;
                    continue;
                }
                b'{' => open.push(b'}'),
                b'[' => open.push(b']'),
                c @ (b'}' | b']') if open.pop() != Some(c) => {
                    return Err(ResponseError::Malformed("mismatched brackets"));
                }
                _ => {}
            }
            self.pos += 1;
            if open.is_empty() {
                return Ok((start, self.pos));
            }
        }
    }

    /// A number, `true`, `false` or `null`: everything up to a delimiter.
    fn scalar(&mut self) -> Result<Span, ResponseError> {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                break;
            }
            self.pos += 1;
        }
        if self.pos == start {
            return Err(ResponseError::Malformed("a value is missing"));
        }
        Ok((start, self.pos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODE: &str = "alipay_system_oauth_token_response";

    fn content(body: &str) -> Result<&str, ResponseError> {
        extract_signed_node(body, NODE).map(|n| n.content)
    }

    #[test]
    fn braces_inside_strings_do_not_count() {
        let body = r#"{"alipay_system_oauth_token_response":{"a":"}{}}","b":"{"},"sign":"x"}"#;
        assert_eq!(content(body), Ok(r#"{"a":"}{}}","b":"{"}"#));
    }

    #[test]
    fn escaped_quotes_and_trailing_backslashes() {
        let body =
            r#"{"alipay_system_oauth_token_response":{"a":"q\"}\\","b":"\\\"{"},"sign":"x"}"#;
        assert_eq!(content(body), Ok(r#"{"a":"q\"}\\","b":"\\\"{"}"#));
    }

    #[test]
    fn nested_objects_and_arrays() {
        let body =
            r#"{"alipay_system_oauth_token_response":{"a":{"b":[{"c":1},[]]},"d":2},"sign":"x"}"#;
        assert_eq!(content(body), Ok(r#"{"a":{"b":[{"c":1},[]]},"d":2}"#));
    }

    #[test]
    fn nested_key_named_like_the_node_is_not_taken() {
        let body = r#"{"other":{"alipay_system_oauth_token_response":{"fake":1},"sign":"no"},"alipay_system_oauth_token_response":{"real":1},"sign":"yes"}"#;
        let node = extract_signed_node(body, NODE).unwrap();
        assert_eq!(node.content, r#"{"real":1}"#);
        assert_eq!(node.sign.as_deref(), Some("yes"));
        let only_nested = r#"{"other":{"alipay_system_oauth_token_response":{"fake":1}}}"#;
        assert_eq!(content(only_nested), Err(ResponseError::NoNode));
    }

    #[test]
    fn whitespace_between_tokens_and_escaped_sign() {
        let body = "{ \"error_response\" :\n {\"code\" : \"40002\"} ,\r\n \"sign\"\t:\"a\\/b\" }";
        let node = extract_signed_node(body, NODE).unwrap();
        assert_eq!(
            (node.kind, node.content),
            (NodeKind::Error, "{\"code\" : \"40002\"}")
        );
        assert_eq!(node.sign.as_deref(), Some("a/b"));
    }

    #[test]
    fn the_certificate_sn_is_read_from_the_top_level_only() {
        let body = r#"{"alipay_system_oauth_token_response":{"alipay_cert_sn":"inner"},"alipay_cert_sn":"5d63","sign":"s"}"#;
        let node = extract_signed_node(body, NODE).unwrap();
        assert_eq!(node.cert_sn.as_deref(), Some("5d63"));
        assert_eq!(
            extract_signed_node(r#"{"error_response":{}}"#, NODE)
                .unwrap()
                .cert_sn,
            None
        );
        let twice = r#"{"error_response":{},"alipay_cert_sn":"a","alipay_cert_sn":"b"}"#;
        assert!(matches!(
            extract_signed_node(twice, NODE),
            Err(ResponseError::Malformed(_))
        ));
    }

    #[test]
    fn escaped_key_names_are_decoded() {
        let body = r#"{"error_response":{"x":1},"\u0073ign":"s"}"#;
        assert_eq!(
            extract_signed_node(body, NODE).unwrap().sign.as_deref(),
            Some("s")
        );
    }

    #[test]
    fn broken_or_ambiguous_bodies_are_refused() {
        for body in [
            "",
            "[]",
            "not json",
            r#"{"alipay_system_oauth_token_response":{"a":"}"#,
            r#"{"alipay_system_oauth_token_response":{"a":1]}"#,
            r#"{"alipay_system_oauth_token_response":{},"sign":"x"} trailing"#,
            r#"{"alipay_system_oauth_token_response":{},"alipay_system_oauth_token_response":{}}"#,
            r#"{"alipay_system_oauth_token_response":{},"sign":"a","sign":"b"}"#,
            r#"{"alipay_system_oauth_token_response":{},"error_response":{}}"#,
            r#"{"alipay_system_oauth_token_response":"text"}"#,
            r#"{"alipay_system_oauth_token_response":{},"sign":5}"#,
        ] {
            assert!(
                matches!(content(body), Err(ResponseError::Malformed(_))),
                "{body:?}"
            );
        }
        assert_eq!(content("{}"), Err(ResponseError::NoNode));
    }

    #[test]
    fn deep_nesting_does_not_overflow_the_stack() {
        let inner = format!("{}1{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
        let deep = format!("{{\"{NODE}\":{inner}}}");
        assert_eq!(content(&deep), Ok(inner.as_str()));
    }
}
