//! `Host` and `Origin` checks against DNS rebinding, for every route but
//! `/health`: the same lists and the same rules rmcp applies to the
//! requests it serves, so a page in a browser cannot call weft's tools or
//! read its status through a name that resolves to loopback. (weft
//! answers some `/mcp` requests itself, before rmcp sees them.)
//!
//! A `Host` passes when its name (case-insensitive, brackets of an IPv6
//! literal dropped) is on the list and, if the entry names a port, the
//! port matches. An `Origin`, when sent, passes when its scheme and host
//! match an entry and its port matches the entry's (`:*` for any; an
//! omitted port is the scheme's default).

use http::HeaderMap;
use http::uri::Authority;

/// A refused request: its status and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("Bad Request: the Host header is missing or malformed")]
    BadHost,
    #[error("Forbidden: Host header is not allowed")]
    Host,
    #[error("Forbidden: Origin header is not allowed")]
    Origin,
}

impl Refused {
    pub fn status(&self) -> http::StatusCode {
        match self {
            Refused::BadHost => http::StatusCode::BAD_REQUEST,
            _ => http::StatusCode::FORBIDDEN,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Port {
    Any,
    Is(u16),
}

/// The accepted hosts and origins.
#[derive(Debug, Clone, Default)]
pub struct Allowed {
    hosts: Vec<(String, Port)>,
    /// (scheme, host, port)
    origins: Vec<(String, String, Port)>,
}

fn name(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

/// `scheme://host[:port]` as (scheme, host, port), the port as written.
fn origin_parts(value: &str) -> Option<(String, String, Option<u16>)> {
    let uri = http::Uri::try_from(value.trim()).ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let authority = uri.authority()?;
    Some((scheme, name(authority.host()), authority.port_u16()))
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

impl Allowed {
    pub fn new(hosts: &[String], origins: &[String]) -> Allowed {
        let hosts = hosts
            .iter()
            .filter(|h| !h.trim().is_empty())
            .map(|h| match Authority::try_from(h.trim()) {
                Ok(a) => (name(a.host()), a.port_u16().map_or(Port::Any, Port::Is)),
                Err(_) => (name(h.trim()), Port::Any),
            })
            .collect();
        let origins = origins
            .iter()
            .filter_map(|o| {
                let o = o.trim();
                if let Some(base) = o.strip_suffix(":*") {
                    let (scheme, host, port) = origin_parts(base)?;
                    return port.is_none().then_some((scheme, host, Port::Any));
                }
                let (scheme, host, port) = origin_parts(o)?;
                Some((scheme, host, port.map_or(Port::Any, Port::Is)))
            })
            .collect();
        Allowed { hosts, origins }
    }

    /// Whether a request with these headers may be answered.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), Refused> {
        let host = headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| Authority::try_from(h).ok())
            .ok_or(Refused::BadHost)?;
        let (h, p) = (name(host.host()), host.port_u16());
        let host_ok = self.hosts.iter().any(|(n, port)| {
            *n == h && (*port == Port::Any || Some(port) == p.map(Port::Is).as_ref())
        });
        if !host_ok {
            return Err(Refused::Host);
        }
        let Some(origin) = headers.get(http::header::ORIGIN) else {
            return Ok(());
        };
        let (scheme, host, port) = origin
            .to_str()
            .ok()
            .and_then(origin_parts)
            .ok_or(Refused::Origin)?;
        let port = port.or_else(|| default_port(&scheme));
        let origin_ok = self.origins.iter().any(|(s, h, p)| {
            *s == scheme
                && *h == host
                && (*p == Port::Any || port.map(Port::Is).as_ref() == Some(p))
        });
        if origin_ok {
            Ok(())
        } else {
            Err(Refused::Origin)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn hosts_and_origins() {
        let allowed = Allowed::new(
            &["localhost".into(), "::1".into(), "weft.example:8443".into()],
            &[
                "http://localhost:*".into(),
                "https://app.example:8443".into(),
            ],
        );
        let check = |pairs: &[(&'static str, &str)]| allowed.check(&headers(pairs));
        assert_eq!(check(&[("host", "localhost:80")]), Ok(()));
        assert_eq!(check(&[("host", "LOCALHOST")]), Ok(()));
        assert_eq!(check(&[("host", "[::1]:9")]), Ok(()));
        assert_eq!(check(&[("host", "weft.example:8443")]), Ok(()));
        assert_eq!(check(&[("host", "weft.example:8444")]), Err(Refused::Host));
        assert_eq!(check(&[("host", "evil.example")]), Err(Refused::Host));
        assert_eq!(check(&[]), Err(Refused::BadHost));
        let with = |origin: &str| check(&[("host", "localhost"), ("origin", origin)]);
        assert_eq!(with("http://localhost:1234"), Ok(()));
        assert_eq!(with("https://app.example:8443"), Ok(()));
        assert_eq!(with("https://app.example"), Err(Refused::Origin));
        assert_eq!(with("http://evil.example"), Err(Refused::Origin));
        assert_eq!(with("null"), Err(Refused::Origin));
    }
}
