//! A [`Filter`] as an SQLite boolean expression over the `data` column. Every path and value is
//! a bound parameter (`?N`); the SQL text is made of this file's constants only.
//!
//! Matching DynamoDB (see `filter_dynamo.rs` and docs/api.md §4.5): a JSON value is tested by
//! its `json_type` first, so `true` never equals `1` and a string never orders against a number;
//! a stored number only compares when its text is one DynamoDB keeps as a number (a canonical
//! plain decimal; `1.0` or `1e2` are kept as text there, so here they match no comparison).

use rusqlite::types::Value as SqlValue;

use super::filter::{Filter, Ordered, Scalar, Term, Test};

/// SQL text with its parameters, numbered from `first`.
pub(crate) struct SqlFilter {
    pub(crate) text: String,
    pub(crate) params: Vec<SqlValue>,
    first: usize,
}

impl SqlFilter {
    /// Renders `filter`; its parameters are `?first`, `?first+1`, ...
    pub(crate) fn render(filter: &Filter, first: usize) -> Self {
        let mut out = Self {
            text: String::new(),
            params: Vec::new(),
            first,
        };
        let terms: Vec<String> = filter.terms().iter().map(|t| out.term(t)).collect();
        out.text = terms.join(" AND ");
        out
    }

    fn bind(&mut self, v: SqlValue) -> String {
        self.params.push(v);
        format!("?{}", self.first + self.params.len() - 1)
    }

    fn term(&mut self, t: &Term) -> String {
        // `$."a"."b"`: segments are identifiers (checked by the parser), quoted all the same.
        let json_path = format!(
            "${}",
            t.path
                .iter()
                .map(|s| format!(".\"{s}\""))
                .collect::<String>()
        );
        let p = self.bind(SqlValue::Text(json_path));
        let present = format!("json_type(data, {p}) IS NOT NULL");
        match &t.test {
            Test::Exists(true) => format!("({present})"),
            Test::Exists(false) => format!("(json_type(data, {p}) IS NULL)"),
            Test::Eq(v) => self.eq(&p, v),
            Test::Ne(v) => {
                let eq = self.eq(&p, v);
                format!("({present} AND NOT {eq})")
            }
            Test::In(vs) => {
                let any: Vec<String> = vs.iter().map(|v| self.eq(&p, v)).collect();
                format!("({})", any.join(" OR "))
            }
            Test::Cmp(op, v) => self.compare(&p, op.symbol(), v),
        }
    }

    fn eq(&mut self, p: &str, v: &Scalar) -> String {
        match v {
            Scalar::Null => format!("(json_type(data, {p}) = 'null')"),
            Scalar::Bool(true) => format!("(json_type(data, {p}) = 'true')"),
            Scalar::Bool(false) => format!("(json_type(data, {p}) = 'false')"),
            Scalar::Ordered(o) => self.compare(p, "=", o),
        }
    }

    fn compare(&mut self, p: &str, op: &str, v: &Ordered) -> String {
        match v {
            Ordered::Str(s) => {
                let v = self.bind(SqlValue::Text(s.clone()));
                // TEXT against TEXT with the BINARY collation: byte order.
                format!("(json_type(data, {p}) = 'text' AND json_extract(data, {p}) {op} {v})")
            }
            Ordered::Number(n) => {
                let v = self.bind(number_value(n));
                let text = format!("(data -> {p})");
                format!(
                    "(json_type(data, {p}) IN ('integer', 'real') \
                     AND {text} NOT GLOB '*[^0-9.-]*' AND {text} NOT GLOB '*.*0' \
                     AND {text} NOT GLOB '0[0-9]*' AND {text} NOT GLOB '-0[0-9]*' \
                     AND {text} <> '-0' AND length({text}) <= 40 \
                     AND json_extract(data, {p}) {op} {v})"
                )
            }
        }
    }
}

/// A filter number (canonical, at most 15 significant digits) as SQLite's integer or real.
fn number_value(text: &str) -> SqlValue {
    match text.parse::<i64>() {
        Ok(i) => SqlValue::Integer(i),
        Err(_) => SqlValue::Real(text.parse::<f64>().unwrap_or(f64::NAN)),
    }
}
