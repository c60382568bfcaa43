//! The routing table of both functions: one row per (path template, method), naming the
//! operation. Matching, the `Allow` header of a 405 and the published list of routes all read
//! this one table.

use std::fmt;

use http::Method;

use super::error::ApiError;
use super::files::FileOp;
use crate::http::ErrorCode;
use crate::percent::{self, PercentDecodeError};

/// Which function serves a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FunctionKind {
    /// The session function (`functions/session`).
    Session,
    /// The db function (`functions/db`).
    Db,
}

impl FunctionKind {
    /// The function's name, as in `template.yaml` and the binaries: `session` or `db`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Session => "session",
            Self::Db => "db",
        }
    }
}

impl fmt::Display for FunctionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One route of the API: its path template, its method and the function that serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRoute {
    /// The path template, e.g. `/db/{collection}/{id}`.
    pub template: &'static str,
    /// The method.
    pub method: Method,
    /// The function that serves it.
    pub function: FunctionKind,
}

/// Every route of both functions, in table order (the order of each path's `Allow` header).
pub fn api_routes() -> impl Iterator<Item = ApiRoute> {
    ROUTES.iter().map(|row| ApiRoute {
        template: row.shape.template(),
        method: row.method.clone(),
        function: row.shape.function(),
    })
}

/// An operation of the session function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionOp {
    /// `POST /session`.
    Login,
    /// `GET /session`.
    Describe,
    /// `POST /session/refresh`.
    Refresh,
    /// `DELETE /session`.
    Revoke,
}

/// An operation of the db function, with its path segments decoded but not yet validated
/// (validation comes after authentication, docs/api.md §2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DbOp {
    /// `POST /db/{collection}`.
    Create { collection: String },
    /// `GET /db/{collection}`.
    List { collection: String },
    /// `GET /db/{collection}/{id}`.
    Get { collection: String, id: String },
    /// `PUT /db/{collection}/{id}`.
    Put { collection: String, id: String },
    /// `PATCH /db/{collection}/{id}`.
    Patch { collection: String, id: String },
    /// `DELETE /db/{collection}/{id}`.
    Delete { collection: String, id: String },
    /// `POST /db`: an atomic batch of writes (`api/batch.rs`).
    Batch,
    /// `GET /db`: the caller's collections (`super::collections`).
    Collections,
    /// `DELETE /account`: delete everything of the caller's (`super::account`).
    DeleteAccount,
    /// `/files` and `/files/{id}` (`api/files.rs`).
    File(FileOp),
}

/// What a request asks for: an operation of one of the two functions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    /// An operation of the session function.
    Session(SessionOp),
    /// An operation of the db function.
    Db(DbOp),
}

/// A path template and how its decoded parameters become an operation.
#[derive(Clone, Copy)]
enum Shape {
    /// A fixed path (no parameters): the session function's.
    Fixed(&'static str, SessionOp),
    /// A fixed path (no parameters) of the db function.
    DbFixed(&'static str, fn() -> DbOp),
    /// `/db/{collection}`.
    Collection(fn(String) -> DbOp),
    /// `/db/{collection}/{id}`.
    Item(fn(String, String) -> DbOp),
    /// `/files`.
    Files(fn() -> FileOp),
    /// `/files/{id}`.
    File(fn(String) -> FileOp),
}

impl Shape {
    fn template(self) -> &'static str {
        match self {
            Self::Fixed(path, _) | Self::DbFixed(path, _) => path,
            Self::Collection(_) => "/db/{collection}",
            Self::Item(_) => "/db/{collection}/{id}",
            Self::Files(_) => "/files",
            Self::File(_) => "/files/{id}",
        }
    }

    fn function(self) -> FunctionKind {
        match self {
            Self::Fixed(..) => FunctionKind::Session,
            Self::DbFixed(..)
            | Self::Collection(_)
            | Self::Item(_)
            | Self::Files(_)
            | Self::File(_) => FunctionKind::Db,
        }
    }

    /// The path's parameters, still encoded, when it has this shape; `segments` is the path
    /// split on `/` after its leading `/`.
    fn bind<'a>(self, raw_path: &str, segments: &[&'a str]) -> Option<Bound<'a>> {
        match (self, segments) {
            (Self::Fixed(path, op), _) => (raw_path == path).then_some(Bound::Fixed(op)),
            (Self::DbFixed(path, make), _) => (raw_path == path).then_some(Bound::DbFixed(make)),
            (Self::Collection(make), ["db", c]) => Some(Bound::Collection(make, c)),
            (Self::Item(make), ["db", c, id]) => Some(Bound::Item(make, c, id)),
            (Self::Files(op), ["files"]) => Some(Bound::Files(op)),
            (Self::File(make), ["files", id]) => Some(Bound::File(make, id)),
            // Any other path does not have this shape.
            (Self::Collection(_) | Self::Item(_) | Self::Files(_) | Self::File(_), _) => None,
        }
    }
}

/// A shape with its parameters, still percent-encoded.
#[derive(Clone, Copy)]
enum Bound<'a> {
    Fixed(SessionOp),
    DbFixed(fn() -> DbOp),
    Collection(fn(String) -> DbOp, &'a str),
    Item(fn(String, String) -> DbOp, &'a str, &'a str),
    Files(fn() -> FileOp),
    File(fn(String) -> FileOp, &'a str),
}

impl Bound<'_> {
    fn decode(self) -> Result<Op, PercentDecodeError> {
        Ok(match self {
            Self::Fixed(op) => Op::Session(op),
            Self::DbFixed(make) => Op::Db(make()),
            Self::Collection(make, c) => Op::Db(make(percent::decode(c)?)),
            Self::Item(make, c, id) => Op::Db(make(percent::decode(c)?, percent::decode(id)?)),
            Self::Files(make) => Op::Db(DbOp::File(make())),
            Self::File(make, id) => Op::Db(DbOp::File(make(percent::decode(id)?))),
        })
    }
}

/// One row of the table.
struct Row {
    method: Method,
    shape: Shape,
}

const fn row(method: Method, shape: Shape) -> Row {
    Row { method, shape }
}

/// The table. Rows of one path are in the order their `Allow` header lists the methods.
#[rustfmt::skip]
static ROUTES: [Row; 17] = [
    row(Method::POST, Shape::Fixed("/session", SessionOp::Login)),
    row(Method::GET, Shape::Fixed("/session", SessionOp::Describe)),
    row(Method::DELETE, Shape::Fixed("/session", SessionOp::Revoke)),
    row(Method::POST, Shape::Fixed("/session/refresh", SessionOp::Refresh)),
    row(Method::POST, Shape::Collection(|collection| DbOp::Create { collection })),
    row(Method::GET, Shape::Collection(|collection| DbOp::List { collection })),
    row(Method::GET, Shape::Item(|collection, id| DbOp::Get { collection, id })),
    row(Method::PUT, Shape::Item(|collection, id| DbOp::Put { collection, id })),
    row(Method::PATCH, Shape::Item(|collection, id| DbOp::Patch { collection, id })),
    row(Method::DELETE, Shape::Item(|collection, id| DbOp::Delete { collection, id })),
    // Batches: `POST /db/_batch` would be a create in the collection `_batch` (a valid name).
    row(Method::POST, Shape::DbFixed("/db", || DbOp::Batch)),
    row(Method::GET, Shape::DbFixed("/db", || DbOp::Collections)),
    row(Method::DELETE, Shape::DbFixed("/account", || DbOp::DeleteAccount)),
    // Files (api/files.rs). The local backend's upload and download URLs (`/files/_upload`,
    // `/files/_download/…`) are not API routes: they are signed by their policy, not by the
    // caller, and served before routing (files/local.rs).
    row(Method::POST, Shape::Files(|| FileOp::Create)),
    row(Method::GET, Shape::Files(|| FileOp::List)),
    row(Method::GET, Shape::File(|id| FileOp::Get { id })),
    row(Method::DELETE, Shape::File(|id| FileOp::Delete { id })),
];

/// The routes that take a path: whose they are, and what they make of the method.
#[derive(Debug)]
pub(crate) struct PathMatch {
    /// The function whose routes take the path.
    pub(crate) function: FunctionKind,
    /// The path's template.
    pub(crate) template: &'static str,
    /// The route of the request's method, or the methods the path takes.
    pub(crate) method: MethodMatch,
}

/// Whether one of a path's routes takes the request's method.
#[derive(Debug)]
pub(crate) enum MethodMatch {
    /// It does: the operation, or why the path's parameters do not percent-decode.
    Allowed(Result<Op, PercentDecodeError>),
    /// It does not: the methods the path takes, in table order.
    NotAllowed(Vec<&'static Method>),
}

/// Finds the routes of a raw (still percent-encoded) path and the one of `method`; `None` when
/// no route has this path.
pub(crate) fn resolve(raw_path: &str, method: &Method) -> Option<PathMatch> {
    let rest = raw_path.strip_prefix('/')?;
    // Splitting happens before decoding, so `/db/todos/a%2Fb` is the item `a/b` (which
    // validation then refuses).
    let segments: Vec<&str> = rest.split('/').collect();
    let mut on_path = ROUTES
        .iter()
        .filter_map(|row| Some((row, row.shape.bind(raw_path, &segments)?)))
        .peekable();
    let &(first, _) = on_path.peek()?;
    let (function, template) = (first.shape.function(), first.shape.template());
    let mut allow = Vec::new();
    for (row, bound) in on_path {
        if row.method == *method {
            let method = MethodMatch::Allowed(bound.decode());
            return Some(PathMatch {
                function,
                template,
                method,
            });
        }
        allow.push(&row.method);
    }
    Some(PathMatch {
        function,
        template,
        method: MethodMatch::NotAllowed(allow),
    })
}

/// The contract's answer to a path that does not route at all.
pub(crate) fn not_found() -> ApiError {
    ApiError::new(ErrorCode::RouteNotFound, "no such route")
}

/// The contract's answer to a path whose escapes do not decode.
pub(crate) fn bad_escape() -> ApiError {
    ApiError::new(
        ErrorCode::InvalidQuery,
        "the path has a malformed percent-escape or is not UTF-8",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(path: &str, method: Method) -> Option<Result<Op, PercentDecodeError>> {
        match resolve(path, &method)?.method {
            MethodMatch::Allowed(op) => Some(op),
            MethodMatch::NotAllowed(_) => None,
        }
    }

    fn allow(path: &str) -> Vec<&'static str> {
        match resolve(path, &Method::OPTIONS).map(|m| m.method) {
            Some(MethodMatch::NotAllowed(allow)) => allow.into_iter().map(Method::as_str).collect(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn matches_contract_routes() {
        let session = |o| Some(Ok(Op::Session(o)));
        assert_eq!(op("/session", Method::POST), session(SessionOp::Login));
        assert_eq!(op("/session", Method::GET), session(SessionOp::Describe));
        assert_eq!(op("/session", Method::DELETE), session(SessionOp::Revoke));
        assert_eq!(
            op("/session/refresh", Method::POST),
            session(SessionOp::Refresh)
        );
        assert_eq!(
            op("/db/todos", Method::GET),
            Some(Ok(Op::Db(DbOp::List {
                collection: "todos".into()
            })))
        );
        assert_eq!(
            op("/db/todos/a%2Fb", Method::PATCH),
            Some(Ok(Op::Db(DbOp::Patch {
                collection: "todos".into(),
                id: "a/b".into()
            })))
        );
        assert_eq!(op("/db", Method::POST), Some(Ok(Op::Db(DbOp::Batch))));
        assert_eq!(
            op("/db/_batch", Method::POST),
            Some(Ok(Op::Db(DbOp::Create {
                collection: "_batch".into()
            })))
        );
        assert_eq!(op("/db", Method::GET), Some(Ok(Op::Db(DbOp::Collections))));
        assert_eq!(
            op("/account", Method::DELETE),
            Some(Ok(Op::Db(DbOp::DeleteAccount)))
        );
        for path in [
            "/account/",
            "/db/a/b/c",
            "/session/",
            "",
            "session",
            "/x",
            "/db?x",
        ] {
            assert!(resolve(path, &Method::GET).is_none(), "{path}");
        }
        assert_eq!(
            op("/db/to%zzdos", Method::GET),
            Some(Err(PercentDecodeError::MalformedEscape))
        );
        assert!(matches!(op("/db/todos/a%2", Method::GET), Some(Err(_))));
        assert_eq!(
            op("/db/todos/%ff", Method::GET),
            Some(Err(PercentDecodeError::NotUtf8))
        );
    }

    #[test]
    fn allow_lists_come_from_the_table() {
        assert_eq!(allow("/session"), ["POST", "GET", "DELETE"]);
        assert_eq!(allow("/session/refresh"), ["POST"]);
        assert_eq!(allow("/account"), ["DELETE"]);
        assert_eq!(allow("/db/todos"), ["POST", "GET"]);
        assert_eq!(allow("/db/todos/%zz"), ["GET", "PUT", "PATCH", "DELETE"]);
        assert_eq!(allow("/db"), ["POST", "GET"]);
        assert_eq!(allow("/files"), ["POST", "GET"]);
        assert_eq!(allow("/files/x"), ["GET", "DELETE"]);
    }

    #[test]
    fn the_published_list_is_the_table() {
        let routes: Vec<(String, &str)> = api_routes()
            .map(|r| (format!("{} {}", r.method, r.template), r.function.as_str()))
            .collect();
        assert_eq!(routes.len(), 17);
        assert!(routes.contains(&("POST /db".into(), "db")));
        assert!(routes.contains(&("GET /db".into(), "db")));
        assert!(routes.contains(&("DELETE /account".into(), "db")));
        assert!(routes.contains(&("DELETE /files/{id}".into(), "db")));
        assert!(routes.contains(&("POST /session/refresh".into(), "session")));
        assert!(routes.contains(&("DELETE /db/{collection}/{id}".into(), "db")));
    }
}
