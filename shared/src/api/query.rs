//! The `where` parameter of `GET /db/{collection}` (docs/api.md §4.5): at most once, parsed by
//! the store's filter grammar (`store/filter.rs`); any refusal is 400 `InvalidQuery`.

use super::db::{invalid_query, single};
use super::error::ApiError;
use crate::store::Filter;

/// The listing's filter; `None` when `where` is absent or empty.
pub(super) fn where_filter(pairs: &[(String, String)]) -> Result<Option<Filter>, ApiError> {
    single(pairs, "where")?
        .map(|text| Filter::parse(text).map_err(|e| invalid_query(e.to_string())))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::ErrorCode;

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn where_is_optional_single_and_checked() {
        assert_eq!(where_filter(&pairs(&[("x", "1")])).unwrap(), None);
        assert_eq!(where_filter(&pairs(&[("where", "")])).unwrap(), None);
        let f = where_filter(&pairs(&[("where", "done == false")])).unwrap();
        assert_eq!(f.unwrap().to_string(), "done == false");
        for bad in [
            pairs(&[("where", "done = false")]),
            pairs(&[("where", "a == 1"), ("where", "b == 2")]),
        ] {
            assert_eq!(
                where_filter(&bad).unwrap_err().code,
                ErrorCode::InvalidQuery
            );
        }
    }
}
