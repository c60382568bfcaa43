//! HTTP API route matching as API Gateway does it: `{name}` takes one segment, `{proxy+}` one
//! or more, `ANY` takes every method, and the most specific route wins.

use std::collections::BTreeMap;

use miniapp_shared::percent;

use crate::template::RouteSpec;

/// One segment of a route path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
    Greedy(String),
}

impl Segment {
    /// Higher is more specific (literal beats `{name}` beats `{name+}`).
    fn rank(&self) -> u8 {
        match self {
            Self::Literal(_) => 2,
            Self::Param(_) => 1,
            Self::Greedy(_) => 0,
        }
    }
}

/// A route of the table, pointing at a function by index.
#[derive(Debug, Clone)]
struct Route {
    method: String,
    /// `None` for `$default`.
    segments: Option<Vec<Segment>>,
    route_key: String,
    function: usize,
}

/// The table of all routes of a template.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<Route>,
}

/// A request matched to a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    /// Index of the function in the template's list.
    pub function: usize,
    /// `POST /session`, `ANY /db/{proxy+}` or `$default`.
    pub route_key: String,
    /// Percent-decoded values of the path's `{name}` / `{name+}` parameters.
    pub path_parameters: BTreeMap<String, String>,
}

/// Why no route took a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoRoute {
    /// No route has this path.
    NotFound,
    /// Routes have this path, for these other methods.
    MethodNotAllowed(Vec<String>),
}

impl RouteTable {
    /// Adds the routes of function `function`.
    pub fn add(&mut self, function: usize, specs: &[RouteSpec]) {
        for spec in specs {
            let segments = spec.path.as_deref().map(parse_path);
            let route_key = match &spec.path {
                Some(p) => format!("{} {p}", spec.method),
                None => "$default".to_owned(),
            };
            self.routes.push(Route {
                method: spec.method.clone(),
                segments,
                route_key,
                function,
            });
        }
    }

    /// Every route key, for the banner.
    pub fn keys_of(&self, function: usize) -> Vec<String> {
        self.routes
            .iter()
            .filter(|r| r.function == function)
            .map(|r| r.route_key.clone())
            .collect()
    }

    /// The most specific route for `method` and the raw (still percent-encoded) `path`.
    pub fn find(&self, method: &str, path: &str) -> Result<RouteMatch, NoRoute> {
        let parts: Vec<String> = split_path(path);
        let mut best: Option<(Vec<u8>, &Route, BTreeMap<String, String>)> = None;
        let mut other_methods = Vec::new();
        for route in &self.routes {
            let Some((rank, params)) = match_segments(route.segments.as_deref(), &parts) else {
                continue;
            };
            if route.method != "ANY" && route.method != method {
                other_methods.push(route.method.clone());
                continue;
            }
            let mut key = rank;
            key.push(u8::from(route.method != "ANY"));
            if best.as_ref().is_none_or(|(k, _, _)| key > *k) {
                best = Some((key, route, params));
            }
        }
        match best {
            Some((_, route, path_parameters)) => Ok(RouteMatch {
                function: route.function,
                route_key: route.route_key.clone(),
                path_parameters,
            }),
            None if other_methods.is_empty() => Err(NoRoute::NotFound),
            None => {
                other_methods.sort();
                other_methods.dedup();
                Err(NoRoute::MethodNotAllowed(other_methods))
            }
        }
    }
}

fn parse_path(path: &str) -> Vec<Segment> {
    path.trim_start_matches('/')
        .split('/')
        .map(
            |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => match name.strip_suffix('+') {
                    Some(greedy) => Segment::Greedy(greedy.to_owned()),
                    None => Segment::Param(name.to_owned()),
                },
                None => Segment::Literal(s.to_owned()),
            },
        )
        .collect()
}

/// Path segments, percent-decoded (the contract routes on decoded segments).
fn split_path(path: &str) -> Vec<String> {
    path.trim_start_matches('/')
        .split('/')
        .map(decode_or_raw)
        .collect()
}

/// The shared strict decoding; text with a malformed escape stays as sent, so that the request
/// still reaches its function, whose answer to a bad escape is the contract's 400.
pub(crate) fn decode_or_raw(text: &str) -> String {
    percent::decode(text).unwrap_or_else(|_| text.to_owned())
}

/// The specificity rank and parameters when `segments` match `parts`; `None` segments
/// (`$default`) match everything with the lowest rank.
fn match_segments(
    segments: Option<&[Segment]>,
    parts: &[String],
) -> Option<(Vec<u8>, BTreeMap<String, String>)> {
    let Some(segments) = segments else {
        return Some((Vec::new(), BTreeMap::new()));
    };
    let mut params = BTreeMap::new();
    let mut rank = Vec::new();
    for (i, seg) in segments.iter().enumerate() {
        rank.push(seg.rank());
        match seg {
            Segment::Literal(l) => {
                if parts.get(i) != Some(l) {
                    return None;
                }
            }
            Segment::Param(name) => {
                let value = parts.get(i).filter(|v| !v.is_empty())?;
                params.insert(name.clone(), value.clone());
            }
            Segment::Greedy(name) => {
                let rest = parts.get(i..).unwrap_or_default().join("/");
                if rest.is_empty() {
                    return None;
                }
                params.insert(name.clone(), rest);
                return Some((rank, params));
            }
        }
    }
    (segments.len() == parts.len()).then_some((rank, params))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(method: &str, path: Option<&str>) -> RouteSpec {
        RouteSpec {
            method: method.to_owned(),
            path: path.map(str::to_owned),
        }
    }

    fn table() -> RouteTable {
        let mut t = RouteTable::default();
        t.add(
            0,
            &[
                spec("POST", Some("/session")),
                spec("GET", Some("/session")),
                spec("POST", Some("/session/refresh")),
            ],
        );
        t.add(1, &[spec("ANY", Some("/db/{proxy+}"))]);
        t.add(2, &[spec("GET", Some("/db/special/{id}"))]);
        t
    }

    #[test]
    fn exact_routes_match_by_method() {
        let m = table().find("POST", "/session/refresh");
        assert_eq!(
            m.map(|m| (m.function, m.route_key)),
            Ok((0, "POST /session/refresh".into()))
        );
        assert_eq!(
            table().find("PUT", "/session"),
            Err(NoRoute::MethodNotAllowed(vec!["GET".into(), "POST".into()]))
        );
        assert_eq!(table().find("GET", "/sessions"), Err(NoRoute::NotFound));
        assert_eq!(table().find("GET", "/session/"), Err(NoRoute::NotFound));
    }

    #[test]
    fn greedy_proxy_takes_the_rest_decoded() -> Result<(), NoRoute> {
        let m = table().find("PATCH", "/db/todos/a%2Fb")?;
        assert_eq!(m.function, 1);
        assert_eq!(m.route_key, "ANY /db/{proxy+}");
        assert_eq!(
            m.path_parameters.get("proxy").map(String::as_str),
            Some("todos/a/b")
        );
        assert_eq!(table().find("GET", "/db"), Err(NoRoute::NotFound));
        assert_eq!(table().find("GET", "/db/"), Err(NoRoute::NotFound));
        Ok(())
    }

    #[test]
    fn most_specific_route_wins() -> Result<(), NoRoute> {
        let m = table().find("GET", "/db/special/7")?;
        assert_eq!((m.function, m.path_parameters["id"].as_str()), (2, "7"));
        // The specific route is GET only; other methods fall back to the greedy one.
        assert_eq!(table().find("DELETE", "/db/special/7")?.function, 1);
        Ok(())
    }

    #[test]
    fn default_route_catches_the_rest() -> Result<(), NoRoute> {
        let mut t = table();
        t.add(3, &[spec("ANY", None)]);
        assert_eq!(t.find("GET", "/anything/else")?.route_key, "$default");
        assert_eq!(t.find("GET", "/session")?.function, 0);
        Ok(())
    }
}
