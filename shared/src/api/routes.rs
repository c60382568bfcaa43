//! Route matching on percent-decoded path segments.

use http::Method;

use super::error::ApiError;
use crate::http::ErrorCode;
use crate::percent;

/// The routes of both functions. Each binary serves its own and answers 404 to the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/session`
    Session,
    /// `/session/refresh`
    SessionRefresh,
    /// `/db/{collection}` with the decoded segment.
    Collection(String),
    /// `/db/{collection}/{id}` with the decoded segments.
    Item(String, String),
}

impl Route {
    /// The route template, for logs.
    pub fn template(&self) -> &'static str {
        match self {
            Route::Session => "/session",
            Route::SessionRefresh => "/session/refresh",
            Route::Collection(_) => "/db/{collection}",
            Route::Item(..) => "/db/{collection}/{id}",
        }
    }

    /// The methods the route accepts (the `Allow` header of a 405).
    pub fn allowed(&self) -> &'static [Method] {
        match self {
            Route::Session => &[Method::POST, Method::GET, Method::DELETE],
            Route::SessionRefresh => &[Method::POST],
            Route::Collection(_) => &[Method::POST, Method::GET],
            Route::Item(..) => &[Method::GET, Method::PUT, Method::PATCH, Method::DELETE],
        }
    }
}

/// Why a path did not route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    /// No route has this shape: 404 `RouteNotFound`.
    NotFound,
    /// The path has a route's shape (given, with its segments still encoded) but a segment has
    /// a malformed escape or is not UTF-8: 400 `InvalidQuery`, once the method and body size
    /// have been checked, before authentication like the query's escapes.
    BadEscape(Route),
}

/// The contract's answer to a path that does not route at all.
pub fn not_found() -> ApiError {
    ApiError::new(ErrorCode::RouteNotFound, "no such route")
}

/// The contract's answer to a path whose escapes do not decode.
pub fn bad_escape() -> ApiError {
    ApiError::new(
        ErrorCode::InvalidQuery,
        "the path has a malformed percent-escape or is not UTF-8",
    )
}

/// Matches a raw (still percent-encoded) path. Splitting happens before decoding, so
/// `/db/todos/a%2Fb` is the item `a/b` (which validation then refuses).
pub fn match_path(raw_path: &str) -> Result<Route, RouteError> {
    let rest = raw_path.strip_prefix('/').ok_or(RouteError::NotFound)?;
    let raw: Vec<&str> = rest.split('/').collect();
    let shape = match raw.as_slice() {
        ["session"] => return Ok(Route::Session),
        ["session", "refresh"] => return Ok(Route::SessionRefresh),
        ["db", c] => Route::Collection((*c).to_owned()),
        ["db", c, id] => Route::Item((*c).to_owned(), (*id).to_owned()),
        _ => return Err(RouteError::NotFound),
    };
    let decoded = match &shape {
        Route::Collection(c) => decode(c).map(Route::Collection),
        Route::Item(c, id) => decode(c).and_then(|c| Ok(Route::Item(c, decode(id)?))),
        Route::Session | Route::SessionRefresh => Ok(shape.clone()),
    };
    decoded.map_err(|()| RouteError::BadEscape(shape))
}

fn decode(segment: &str) -> Result<String, ()> {
    percent::decode(segment).map_err(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_contract_routes() {
        assert_eq!(match_path("/session"), Ok(Route::Session));
        assert_eq!(match_path("/session/refresh"), Ok(Route::SessionRefresh));
        assert_eq!(
            match_path("/db/todos"),
            Ok(Route::Collection("todos".into()))
        );
        assert_eq!(
            match_path("/db/todos/a%2Fb"),
            Ok(Route::Item("todos".into(), "a/b".into()))
        );
        assert_eq!(match_path("/db"), Err(RouteError::NotFound));
        assert_eq!(match_path("/db/a/b/c"), Err(RouteError::NotFound));
        assert_eq!(match_path("/session/"), Err(RouteError::NotFound));
        assert_eq!(match_path(""), Err(RouteError::NotFound));
        assert_eq!(
            match_path("/db/to%zzdos"),
            Err(RouteError::BadEscape(Route::Collection("to%zzdos".into())))
        );
        assert!(matches!(
            match_path("/db/todos/a%2"),
            Err(RouteError::BadEscape(Route::Item(..)))
        ));
        assert!(matches!(
            match_path("/db/todos/%ff"),
            Err(RouteError::BadEscape(_))
        ));
    }
}
