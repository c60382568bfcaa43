//! The `where` expression of a filtered listing (docs/api.md §4.5): parsed here into a typed
//! tree with hard limits, then rendered by each backend with bound values only
//! (`filter_sql.rs`, `filter_dynamo.rs`). No text of the expression ever reaches SQL or a
//! DynamoDB expression: paths become validated identifier segments, values typed literals.
//!
//! Grammar (whitespace is spaces only; `AND` is case-sensitive):
//! ```text
//! expr  = term *( 1*SP "AND" 1*SP term )
//! term  = path 1*SP op 1*SP value
//! path  = segment *( "." segment )          ; at most MAX_PATH_DEPTH segments
//! segment = ( ALPHA / "_" ) *( ALPHA / DIGIT / "_" )   ; at most MAX_SEGMENT_LEN bytes
//! op    = "==" / "!=" / "<" / "<=" / ">" / ">=" / "in" / "exists"
//! value = a JSON string, number, true, false or null; for `in` a JSON array of those
//!         (1..=MAX_IN_VALUES); for `exists` true or false
//! ```

use std::fmt;

use serde_json::Value;
use thiserror::Error;

/// Longest accepted expression, in bytes.
pub const MAX_FILTER_BYTES: usize = 1024;
/// Most terms joined by `AND`.
pub const MAX_TERMS: usize = 8;
/// Most values in one `in` list.
pub const MAX_IN_VALUES: usize = 20;
/// Most segments in a path.
pub const MAX_PATH_DEPTH: usize = 8;
/// Longest path segment, in bytes.
pub const MAX_SEGMENT_LEN: usize = 64;
/// Most significant digits of a number in an expression: both backends compare such numbers
/// exactly (SQLite as doubles, DynamoDB as 38-digit decimals).
pub const MAX_NUMBER_DIGITS: usize = 15;

/// Why an expression was refused; the message is for the client.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("invalid where expression: {0}")]
pub struct FilterError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, FilterError> {
    Err(FilterError(msg.into()))
}

/// A parsed expression: every term must hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    terms: Vec<Term>,
}

/// One `path op value` term.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Term {
    pub(crate) path: Vec<String>,
    pub(crate) test: Test,
}

/// What a term asks of the value at its path.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Test {
    /// `==`: present and equal (same type).
    Eq(Scalar),
    /// `!=`: present and not equal (a value of another type is not equal).
    Ne(Scalar),
    /// `<`, `<=`, `>`, `>=`: present, of the value's type (number or string), and ordered so.
    Cmp(CmpOp, Ordered),
    /// `in`: present and equal to one of the values.
    In(Vec<Scalar>),
    /// `exists true` / `exists false`.
    Exists(bool),
}

/// An ordering comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    /// The operator as SQL and DynamoDB both spell it.
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
        }
    }
}

/// A literal that `==`, `!=` and `in` compare with.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar {
    Null,
    Bool(bool),
    Ordered(Ordered),
}

/// A literal that can also be ordered.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ordered {
    /// A canonical decimal (see [`number_text`]), kept as its text.
    Number(String),
    /// A string, compared by its UTF-8 bytes.
    Str(String),
}

impl Filter {
    /// Parses and checks an expression.
    pub fn parse(text: &str) -> Result<Self, FilterError> {
        if text.len() > MAX_FILTER_BYTES {
            return err(format!(
                "the expression is {} bytes, over the limit of {MAX_FILTER_BYTES}",
                text.len()
            ));
        }
        let mut p = Parser { rest: text };
        let mut terms = vec![p.term()?];
        while !p.at_end() {
            p.expect_and()?;
            terms.push(p.term()?);
            if terms.len() > MAX_TERMS {
                return err(format!("more than {MAX_TERMS} terms"));
            }
        }
        Ok(Self { terms })
    }

    pub(crate) fn terms(&self) -> &[Term] {
        &self.terms
    }
}

/// The canonical text of the filter: equal for equal filters whatever their spacing, so it is
/// what a list cursor binds.
impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.terms.iter().enumerate() {
            if i > 0 {
                f.write_str(" AND ")?;
            }
            f.write_str(&t.path.join("."))?;
            match &t.test {
                Test::Eq(v) => write!(f, " == {}", scalar_json(v))?,
                Test::Ne(v) => write!(f, " != {}", scalar_json(v))?,
                Test::Cmp(op, v) => write!(f, " {} {}", op.symbol(), ordered_json(v))?,
                Test::In(vs) => {
                    let list: Vec<String> = vs.iter().map(scalar_json).collect();
                    write!(f, " in [{}]", list.join(","))?;
                }
                Test::Exists(b) => write!(f, " exists {b}")?,
            }
        }
        Ok(())
    }
}

fn scalar_json(v: &Scalar) -> String {
    match v {
        Scalar::Null => "null".into(),
        Scalar::Bool(b) => b.to_string(),
        Scalar::Ordered(o) => ordered_json(o),
    }
}

fn ordered_json(v: &Ordered) -> String {
    match v {
        Ordered::Number(n) => n.clone(),
        Ordered::Str(s) => Value::String(s.clone()).to_string(),
    }
}

struct Parser<'a> {
    rest: &'a str,
}

impl Parser<'_> {
    fn skip_spaces(&mut self) {
        self.rest = self.rest.trim_start_matches(' ');
    }

    fn at_end(&mut self) -> bool {
        self.skip_spaces();
        self.rest.is_empty()
    }

    /// A run of non-space characters.
    fn word(&mut self) -> &str {
        self.skip_spaces();
        let end = self.rest.find(' ').unwrap_or(self.rest.len());
        let (w, rest) = self.rest.split_at(end);
        self.rest = rest;
        w
    }

    fn expect_and(&mut self) -> Result<(), FilterError> {
        match self.word() {
            "AND" => Ok(()),
            other => err(format!(
                "expected AND between terms, found {:?} (terms are joined by AND, in capitals; \
                 OR is not supported)",
                shorten(other)
            )),
        }
    }

    fn term(&mut self) -> Result<Term, FilterError> {
        let path = parse_path(self.word())?;
        let op = self.word().to_owned();
        self.skip_spaces();
        let value = self.value()?;
        let test = match op.as_str() {
            "==" => Test::Eq(scalar(value)?),
            "!=" => Test::Ne(scalar(value)?),
            "<" => Test::Cmp(CmpOp::Lt, ordered(value)?),
            "<=" => Test::Cmp(CmpOp::Le, ordered(value)?),
            ">" => Test::Cmp(CmpOp::Gt, ordered(value)?),
            ">=" => Test::Cmp(CmpOp::Ge, ordered(value)?),
            "in" => Test::In(in_list(value)?),
            "exists" => match value {
                Value::Bool(b) => Test::Exists(b),
                _ => return err("exists takes true or false"),
            },
            "" => return err("a term ends after its path; expected an operator"),
            other => {
                return err(format!(
                    "unknown operator {:?}; use ==, !=, <, <=, >, >=, in or exists",
                    shorten(other)
                ))
            }
        };
        Ok(Term { path, test })
    }

    /// One JSON value, read as far as it goes (a string may hold spaces or `AND`).
    fn value(&mut self) -> Result<Value, FilterError> {
        if self.rest.is_empty() {
            return err("a term has no value");
        }
        let mut values = serde_json::Deserializer::from_str(self.rest).into_iter::<Value>();
        let value = match values.next() {
            Some(Ok(v)) => v,
            _ => {
                return err(format!(
                    "expected a JSON value at {:?} (strings are in double quotes)",
                    shorten(self.rest)
                ))
            }
        };
        let used = values.byte_offset();
        self.rest = &self.rest[used..];
        if !self.rest.is_empty() && !self.rest.starts_with(' ') {
            return err(format!(
                "expected a space after a value, found {:?}",
                shorten(self.rest)
            ));
        }
        Ok(value)
    }
}

/// At most 32 characters of input, for messages.
fn shorten(s: &str) -> String {
    s.chars().take(32).collect()
}

fn parse_path(text: &str) -> Result<Vec<String>, FilterError> {
    if text.is_empty() {
        return err("expected a field path");
    }
    let segments: Vec<&str> = text.split('.').collect();
    if segments.len() > MAX_PATH_DEPTH {
        return err(format!("a path has at most {MAX_PATH_DEPTH} segments"));
    }
    for s in &segments {
        let mut bytes = s.bytes();
        let first_ok = bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
        let rest_ok = bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !first_ok || !rest_ok || s.len() > MAX_SEGMENT_LEN {
            return err(format!(
                "{:?} is not a field path: segments are letters, digits and _, not starting \
                 with a digit, at most {MAX_SEGMENT_LEN} bytes, joined by dots",
                shorten(text)
            ));
        }
    }
    Ok(segments.into_iter().map(str::to_owned).collect())
}

fn scalar(v: Value) -> Result<Scalar, FilterError> {
    match v {
        Value::Null => Ok(Scalar::Null),
        Value::Bool(b) => Ok(Scalar::Bool(b)),
        other => ordered(other).map(Scalar::Ordered),
    }
}

fn ordered(v: Value) -> Result<Ordered, FilterError> {
    match v {
        Value::String(s) => Ok(Ordered::Str(s)),
        Value::Number(n) => number_text(&n.to_string()).map(Ordered::Number),
        Value::Null | Value::Bool(_) => err("<, <=, > and >= take a number or a string"),
        Value::Array(_) | Value::Object(_) => {
            err("values are strings, numbers, true, false or null")
        }
    }
}

fn in_list(v: Value) -> Result<Vec<Scalar>, FilterError> {
    let Value::Array(items) = v else {
        return err("in takes a JSON array, e.g. in [\"a\",\"b\"]");
    };
    if items.is_empty() || items.len() > MAX_IN_VALUES {
        return err(format!("an in list holds 1 to {MAX_IN_VALUES} values"));
    }
    items.into_iter().map(scalar).collect()
}

/// A number of an expression: a canonical plain decimal (`-?(0|[1-9][0-9]*)(\.[0-9]*[1-9])?`,
/// not `-0`: what JavaScript's `JSON.stringify` writes below 1e21) with at most
/// [`MAX_NUMBER_DIGITS`] significant digits.
fn number_text(text: &str) -> Result<String, FilterError> {
    if !super::json_av::native_number(text) {
        return err(format!(
            "{text} is not a plain decimal number (no exponent, no trailing zeros, not -0)"
        ));
    }
    let significant = text
        .bytes()
        .filter(u8::is_ascii_digit)
        .skip_while(|b| *b == b'0')
        .count();
    if significant > MAX_NUMBER_DIGITS {
        return err(format!(
            "{text} has more than {MAX_NUMBER_DIGITS} significant digits"
        ));
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_canonically() {
        let f =
            Filter::parse(r#"done == false   AND  n >= 2 AND tag in ["a","b c",null]"#).unwrap();
        assert_eq!(
            f.to_string(),
            r#"done == false AND n >= 2 AND tag in ["a","b c",null]"#
        );
        let f = Filter::parse(r#"a.b_1.C exists false AND s != "x AND y""#).unwrap();
        assert_eq!(f.terms().len(), 2);
        assert_eq!(f.terms()[0].path, ["a", "b_1", "C"]);
        assert_eq!(
            f.terms()[1].test,
            Test::Ne(Scalar::Ordered(Ordered::Str("x AND y".into())))
        );
        assert_eq!(
            Filter::parse("x < -0.5").unwrap().terms()[0].test,
            Test::Cmp(CmpOp::Lt, Ordered::Number("-0.5".into()))
        );
    }

    #[test]
    fn refuses_with_a_message() {
        for bad in [
            "",
            "done",
            "done ==",
            "done == ",
            "done = 1",
            "done == 1 and x == 2",
            "done == 1 OR 1 == 1",
            "done == 1 AND",
            "a..b == 1",
            ".a == 1",
            "1a == 1",
            "a-b == 1",
            "a[0] == 1",
            "$.a == 1",
            "#name == 1",
            ":value == 1",
            "a == 'x'",
            "a == x",
            "a == \"x\")",
            "a == 1)",
            "a == {}",
            "a == [1]",
            "a < true",
            "a < null",
            "a in []",
            "a in 1",
            "a in [[1]]",
            "a exists 1",
            "a exists",
            "a == 1e2",
            "a == 1.0",
            "a == -0",
            "a == 1234567890123456",
            "a == 01",
            "a == \"x\"\"y\"",
            "a.b.c.d.e.f.g.h.i == 1",
        ] {
            assert!(Filter::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(Filter::parse("a.b.c.d.e.f.g.h == 1").is_ok());
        let long = format!("{} == 1", "a".repeat(65));
        assert!(Filter::parse(&long).is_err());
        let terms = ["a == 1"; MAX_TERMS + 1].join(" AND ");
        assert!(Filter::parse(&terms).is_err());
        let terms = ["a == 1"; MAX_TERMS].join(" AND ");
        assert!(Filter::parse(&terms).is_ok());
        let list: Vec<String> = (0..=MAX_IN_VALUES).map(|i| i.to_string()).collect();
        assert!(Filter::parse(&format!("a in [{}]", list.join(","))).is_err());
        let text = format!("a == \"{}\"", "x".repeat(MAX_FILTER_BYTES));
        assert!(Filter::parse(&text).is_err());
    }
}
