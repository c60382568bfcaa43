//! A [`Filter`] as a DynamoDB `FilterExpression`. Path segments travel as expression attribute
//! names (`#w0`, ...) and values as expression attribute values (`:w0`, ...); the expression
//! text is made of this file's constants and those placeholders only.
//!
//! Matching SQLite (`filter_sql.rs`): every comparison is preceded by `attribute_type`, so a
//! value of another type never matches; `!=` is "exists and not `==`" (DynamoDB's `<>` alone
//! would be true for a missing attribute).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::filter::{Filter, Ordered, Scalar, Term, Test};

/// A rendered filter: the expression and the names and values it uses.
#[derive(Debug, Default)]
pub(crate) struct DynamoFilter {
    pub(crate) text: String,
    pub(crate) names: HashMap<String, String>,
    pub(crate) values: HashMap<String, AttributeValue>,
}

impl DynamoFilter {
    pub(crate) fn render(filter: &Filter) -> Self {
        let mut out = Self::default();
        out.names.insert("#wd".into(), "data".into());
        let terms: Vec<String> = filter.terms().iter().map(|t| out.term(t)).collect();
        out.text = terms.join(" AND ");
        out
    }

    /// The placeholder of a path segment (one per distinct name).
    fn name(&mut self, segment: &str) -> String {
        if let Some((p, _)) = self.names.iter().find(|(_, n)| *n == segment) {
            if p != "#wd" {
                return p.clone();
            }
        }
        let p = format!("#w{}", self.names.len());
        self.names.insert(p.clone(), segment.to_owned());
        p
    }

    fn value(&mut self, v: AttributeValue) -> String {
        let p = format!(":w{}", self.values.len());
        self.values.insert(p.clone(), v);
        p
    }

    fn term(&mut self, t: &Term) -> String {
        let mut path = "#wd".to_owned();
        for segment in &t.path {
            let p = self.name(segment);
            path.push('.');
            path.push_str(&p);
        }
        match &t.test {
            Test::Exists(true) => format!("attribute_exists({path})"),
            Test::Exists(false) => format!("attribute_not_exists({path})"),
            Test::Eq(v) => self.eq(&path, v),
            Test::Ne(v) => {
                let eq = self.eq(&path, v);
                format!("(attribute_exists({path}) AND NOT {eq})")
            }
            Test::In(vs) => {
                let any: Vec<String> = vs.iter().map(|v| self.eq(&path, v)).collect();
                format!("({})", any.join(" OR "))
            }
            Test::Cmp(op, v) => {
                let kind = self.value(AttributeValue::S(type_name(v).into()));
                let v = self.value(ordered_av(v));
                format!(
                    "(attribute_type({path}, {kind}) AND {path} {} {v})",
                    op.symbol()
                )
            }
        }
    }

    fn eq(&mut self, path: &str, v: &Scalar) -> String {
        match v {
            Scalar::Null => {
                let null = self.value(AttributeValue::S("NULL".into()));
                format!("attribute_type({path}, {null})")
            }
            // The type first: equality alone would let `false` equal `0` on some emulators.
            other => {
                let kind = self.value(AttributeValue::S(scalar_type(other).into()));
                let v = self.value(scalar_av(other));
                format!("(attribute_type({path}, {kind}) AND {path} = {v})")
            }
        }
    }
}

fn scalar_type(v: &Scalar) -> &'static str {
    match v {
        Scalar::Null => "NULL",
        Scalar::Bool(_) => "BOOL",
        Scalar::Ordered(o) => type_name(o),
    }
}

fn type_name(v: &Ordered) -> &'static str {
    match v {
        Ordered::Number(_) => "N",
        Ordered::Str(_) => "S",
    }
}

fn ordered_av(v: &Ordered) -> AttributeValue {
    match v {
        Ordered::Number(n) => AttributeValue::N(n.clone()),
        Ordered::Str(s) => AttributeValue::S(s.clone()),
    }
}

fn scalar_av(v: &Scalar) -> AttributeValue {
    match v {
        Scalar::Null => AttributeValue::Null(true),
        Scalar::Bool(b) => AttributeValue::Bool(*b),
        Scalar::Ordered(o) => ordered_av(o),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_placeholders_reach_the_expression() {
        let f = Filter::parse(r#"a.b == "x) OR #a = :v" AND a != 1 AND c in [null,true]"#).unwrap();
        let d = DynamoFilter::render(&f);
        assert_eq!(
            d.text,
            "(attribute_type(#wd.#w1.#w2, :w0) AND #wd.#w1.#w2 = :w1) \
             AND (attribute_exists(#wd.#w1) AND NOT (attribute_type(#wd.#w1, :w2) AND #wd.#w1 = :w3)) \
             AND (attribute_type(#wd.#w3, :w4) OR (attribute_type(#wd.#w3, :w5) AND #wd.#w3 = :w6))"
        );
        assert_eq!(d.names.get("#w1").map(String::as_str), Some("a"));
        assert_eq!(
            d.values.get(":w1"),
            Some(&AttributeValue::S("x) OR #a = :v".into()))
        );
    }
}
