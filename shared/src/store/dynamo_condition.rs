//! A [`Condition`] as a DynamoDB `ConditionExpression`, so that DynamoDB checks it in the same
//! conditional write (no read-then-write race). Versions travel as expression attribute values
//! (`:m0`, `:n0`, ...), never as text pasted into the expression.

use aws_sdk_dynamodb::types::AttributeValue;

use super::condition::{Condition, Tags};
use super::StoreError;
use crate::ids::Version;

/// DynamoDB accepts at most 100 operands in one `IN`; longer lists are split (the API never
/// sends more than 100 tags per header, so this is a safety net).
const MAX_IN_OPERANDS: usize = 100;

/// A rendered condition: the expression and the names and values it uses (and only those:
/// DynamoDB refuses unused ones).
#[derive(Debug, Default)]
pub(crate) struct Expression {
    pub(crate) text: String,
    pub(crate) names: Vec<(&'static str, &'static str)>,
    pub(crate) values: Vec<(String, AttributeValue)>,
}

impl Expression {
    fn name(&mut self, placeholder: &'static str, attribute: &'static str) {
        if !self.names.iter().any(|(p, _)| *p == placeholder) {
            self.names.push((placeholder, attribute));
        }
    }

    /// `#v IN (:<prefix>0, ...)` (several joined by `OR` past [`MAX_IN_OPERANDS`]), its values
    /// added. `versions` is not empty.
    fn version_in(&mut self, prefix: &str, versions: &[Version]) -> String {
        self.name("#v", "version");
        let mut ins = Vec::new();
        for (c, chunk) in versions.chunks(MAX_IN_OPERANDS).enumerate() {
            let mut placeholders = Vec::with_capacity(chunk.len());
            for (i, v) in chunk.iter().enumerate() {
                let p = format!(":{prefix}{}", c * MAX_IN_OPERANDS + i);
                self.values
                    .push((p.clone(), AttributeValue::N(v.get().to_string())));
                placeholders.push(p);
            }
            ins.push(format!("#v IN ({})", placeholders.join(", ")));
        }
        ins.join(" OR ")
    }

    fn clause(&mut self, text: String) {
        if self.text.is_empty() {
            self.text = text;
        } else {
            self.text = format!("({}) AND ({text})", self.text);
        }
    }
}

/// Renders `cond` (plus "the item exists" when `require_existing`, for DELETE); an empty text
/// means no condition at all. `Err(PreconditionFailed)`: it can never hold (an `If-Match` whose
/// tags name no version), so there is nothing to send.
pub(crate) fn render(cond: &Condition, require_existing: bool) -> Result<Expression, StoreError> {
    let mut e = Expression::default();
    if require_existing {
        e.name("#pk", "pk");
        e.clause("attribute_exists(#pk)".into());
    }
    match &cond.if_match {
        None => {}
        Some(Tags::Any) => {
            e.name("#pk", "pk");
            e.clause("attribute_exists(#pk)".into());
        }
        Some(Tags::OneOf(vs)) if vs.is_empty() => return Err(StoreError::PreconditionFailed),
        // A comparison with a missing attribute is false: an absent item fails it.
        Some(Tags::OneOf(vs)) => {
            let text = e.version_in("m", vs);
            e.clause(text);
        }
    }
    match &cond.if_none_match {
        None => {}
        Some(Tags::OneOf(vs)) if vs.is_empty() => {}
        Some(Tags::Any) => {
            e.name("#pk", "pk");
            e.clause("attribute_not_exists(#pk)".into());
        }
        Some(Tags::OneOf(vs)) => {
            let is_in = e.version_in("n", vs);
            e.name("#pk", "pk");
            e.clause(format!("attribute_not_exists(#pk) OR NOT ({is_in})"));
        }
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(n: u64) -> Version {
        Version::new(n).unwrap()
    }

    #[test]
    fn renders_each_form() {
        assert_eq!(render(&Condition::NONE, false).unwrap().text, "");
        let e = render(&Condition::NONE, true).unwrap();
        assert_eq!(e.text, "attribute_exists(#pk)");
        let both = Condition {
            if_match: Some(Tags::OneOf(vec![v(1), v(3)])),
            if_none_match: Some(Tags::OneOf(vec![v(2)])),
        };
        let e = render(&both, false).unwrap();
        assert_eq!(
            e.text,
            "(#v IN (:m0, :m1)) AND (attribute_not_exists(#pk) OR NOT (#v IN (:n0)))"
        );
        assert_eq!(e.names, [("#v", "version"), ("#pk", "pk")]);
        let values: Vec<&str> = e.values.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(values, [":m0", ":m1", ":n0"]);
        let never = Condition {
            if_match: Some(Tags::OneOf(vec![])),
            if_none_match: None,
        };
        assert_eq!(
            render(&never, false).unwrap_err(),
            StoreError::PreconditionFailed
        );
        let star = Condition {
            if_match: Some(Tags::Any),
            if_none_match: Some(Tags::OneOf(vec![])),
        };
        let e = render(&star, true).unwrap();
        assert_eq!(
            e.text,
            "(attribute_exists(#pk)) AND (attribute_exists(#pk))"
        );
        let many = Condition {
            if_match: Some(Tags::OneOf((1..=101).map(v).collect())),
            if_none_match: None,
        };
        let e = render(&many, false).unwrap();
        assert!(e.text.ends_with(":m99) OR #v IN (:m100)"), "{}", e.text);
        assert_eq!(e.values.len(), 101);
    }
}
