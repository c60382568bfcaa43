//! The client address a per-address bucket is keyed by.

use std::net::{IpAddr, Ipv6Addr};

use crate::http::Request;

/// The header a Function Compute front end puts the client's address in (first entry).
const FORWARDED_FOR: &str = "x-forwarded-for";

/// The request's client address as a bucket key: the platform's (Lambda: the event's
/// `sourceIp`; HTTP-server mode: the socket peer), or `x-forwarded-for`'s first entry when
/// `trust_forwarded_for` says a Function Compute front end set it. `None` when there is none.
///
/// IPv6 addresses count by their /64: one subscriber usually holds a whole /64, so counting
/// single addresses would let one client spread over 2^64 buckets.
pub fn client_address(req: &Request, trust_forwarded_for: bool) -> Option<String> {
    let forwarded = trust_forwarded_for.then(|| first_forwarded(req)).flatten();
    forwarded.or(req.source_ip).map(bucket_name)
}

fn first_forwarded(req: &Request) -> Option<IpAddr> {
    let value = req.headers.get(FORWARDED_FOR)?.to_str().ok()?;
    value.split(',').next()?.trim().parse().ok()
}

fn bucket_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                let net = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{net}/64")
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http::{HeaderMap, HeaderValue, Method};

    use super::*;

    fn req(peer: Option<&str>, xff: Option<&str>) -> Request {
        let mut headers = HeaderMap::new();
        if let Some(v) = xff {
            headers.insert(FORWARDED_FOR, HeaderValue::from_str(v).unwrap());
        }
        Request {
            method: Method::GET,
            raw_path: "/".into(),
            raw_query: String::new(),
            headers,
            body: Bytes::new(),
            body_too_large: false,
            request_id: "r".into(),
            source_ip: peer.map(|p| p.parse().unwrap()),
        }
    }

    #[test]
    fn the_peer_unless_the_front_end_is_trusted() {
        let r = req(Some("10.0.0.1"), Some("203.0.113.7, 10.0.0.1"));
        assert_eq!(client_address(&r, false).as_deref(), Some("10.0.0.1"));
        assert_eq!(client_address(&r, true).as_deref(), Some("203.0.113.7"));
        let garbage = req(Some("10.0.0.1"), Some("not-an-ip"));
        assert_eq!(client_address(&garbage, true).as_deref(), Some("10.0.0.1"));
        assert_eq!(client_address(&req(None, None), true), None);
    }

    #[test]
    fn ipv6_counts_by_its_64() {
        let a = req(Some("2001:db8:1:2:aaaa::1"), None);
        let b = req(Some("2001:db8:1:2:bbbb::2"), None);
        assert_eq!(client_address(&a, false), client_address(&b, false));
        assert_eq!(
            client_address(&a, false).as_deref(),
            Some("2001:db8:1:2::/64")
        );
        let mapped = req(Some("::ffff:192.0.2.1"), None);
        assert_eq!(client_address(&mapped, false).as_deref(), Some("192.0.2.1"));
    }
}
