//! An adapter's outbound HTTP: `egress = [...]`, the allow-list of the
//! URLs it may request, and `[servers.NAME.egress_headers."HOST"]`, the
//! headers the host adds to requests for a host (secrets among them).
//!
//! An entry is `http://HOST[:PORT][/PATH]` or `https://HOST[:PORT][/PATH]`;
//! the scheme must match the request's (an `http://` entry never allows an
//! `https://` request, nor the other way round):
//! - `HOST` is a name (`api.example.com`, matched without regard to case),
//!   `*.example.com` (any name below it, not the name itself), `*` (any
//!   host) or an IP address (`127.0.0.1`, `[::1]`);
//! - `PORT` is a number or `*`; without one, 80 for http and 443 for https;
//! - `PATH` is a pattern in which `*` stands for any text, `/` included
//!   (`/v1/*`); without one, any path. The query is not matched.
//!
//! A private, loopback or link-local address is reached only when an entry
//! names that very address: a name never resolves into one (see
//! `sandbox/egress.rs`). This module only parses and matches; it never
//! opens a connection. The TLS settings of `https://` requests (a private
//! CA, a client certificate) are the server entry's `ca_file`,
//! `client_cert`, `client_key` and `insecure_skip_verify`, read by
//! `config/tls.rs` as for an HTTPS server.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use super::tls::TlsConfig;

/// The largest response body an adapter receives, unless
/// `limits.max_response` says otherwise.
pub const DEFAULT_MAX_RESPONSE: u64 = 4 << 20;
/// How long one request may take, unless `limits.request_timeout` says
/// otherwise (the call's own `timeout` still bounds it).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The most entries in `egress` and hosts in `egress_headers`.
const MAX_ENTRIES: usize = 256;

/// Which hosts an entry or a header table applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// `*`: every host.
    Any,
    /// `*.example.com`: names ending in `.example.com` (stored lowercase,
    /// with the leading dot).
    Below(String),
    /// One name, lowercase.
    Name(String),
    /// One address.
    Ip(IpAddr),
}

/// Why an `egress` entry or an `egress_headers` key is refused; the entry
/// as written comes first where there is one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EgressEntryError {
    /// The host is empty.
    #[error("has no host")]
    NoHost,
    /// The host, as written, is not a name, `*.NAME`, `*` or an IP address.
    #[error("{0:?} is not a host name, `*.NAME`, `*` or an IP address")]
    BadHost(String),
    /// The entry does not start with `http://` or `https://`.
    #[error("{0:?} does not start with http:// or https://")]
    NotHttp(String),
    /// Text other than `:PORT` follows a bracketed IPv6 address.
    #[error("{entry:?}: unexpected {after:?} after the address")]
    AfterAddress {
        /// The entry as written.
        entry: String,
        /// The text after the closing `]`.
        after: String,
    },
    /// The entry's host part is refused.
    #[error("{entry:?}: {why}")]
    Host {
        /// The entry as written.
        entry: String,
        /// What is wrong with the host.
        why: Box<EgressEntryError>,
    },
    /// The port is neither a number from 1 to 65535 nor `*`.
    #[error("{entry:?}: the port {port:?} is not a number from 1 to 65535, or `*`")]
    BadPort {
        /// The entry as written.
        entry: String,
        /// The port as written.
        port: String,
    },
    /// The entry's path holds a `?` or a `#`.
    #[error("{0:?}: a path pattern cannot hold a query or a fragment")]
    QueryInPath(String),
}

impl HostPattern {
    fn parse(text: &str) -> Result<HostPattern, EgressEntryError> {
        let t = text.trim();
        if t.is_empty() {
            return Err(EgressEntryError::NoHost);
        }
        if t == "*" {
            return Ok(HostPattern::Any);
        }
        let bare = t
            .strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .unwrap_or(t);
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(HostPattern::Ip(ip));
        }
        let (below, name) = match t.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, t),
        };
        let valid = !name.is_empty()
            && name.len() <= 253
            && name
                .split('.')
                .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        if !valid {
            return Err(EgressEntryError::BadHost(t.to_string()));
        }
        let name = name.to_ascii_lowercase();
        Ok(if below {
            HostPattern::Below(format!(".{name}"))
        } else {
            HostPattern::Name(name)
        })
    }

    /// Whether `host` (as the request's URL has it, IPv6 without brackets)
    /// is one this pattern covers.
    pub fn matches(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.');
        match self {
            HostPattern::Any => true,
            HostPattern::Below(suffix) => {
                host.len() > suffix.len()
                    && host
                        .get(host.len() - suffix.len()..)
                        .is_some_and(|end| end.eq_ignore_ascii_case(suffix))
            }
            HostPattern::Name(name) => host.eq_ignore_ascii_case(name),
            HostPattern::Ip(ip) => host.parse::<IpAddr>().is_ok_and(|h| h == *ip),
        }
    }
}

/// The scheme of an entry or a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `http://`.
    Http,
    /// `https://`.
    Https,
}

impl Scheme {
    /// `http` or `https`; anything else is `None`.
    pub fn parse(text: &str) -> Option<Scheme> {
        match text {
            "http" => Some(Scheme::Http),
            "https" => Some(Scheme::Https),
            _ => None,
        }
    }

    /// The port a URL of this scheme means when it names none.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }

    /// `http` or `https`, as written in a URL.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// One entry of `egress`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressRule {
    /// The entry as written, for messages.
    pub text: String,
    /// The scheme requests must use.
    pub scheme: Scheme,
    /// The hosts the entry covers.
    pub host: HostPattern,
    /// `None`: any port.
    pub port: Option<u16>,
    /// `None`: any path.
    pub path: Option<String>,
}

impl EgressRule {
    fn parse(text: &str) -> Result<EgressRule, EgressEntryError> {
        let (scheme, rest) = if let Some(rest) = text.strip_prefix("http://") {
            (Scheme::Http, rest)
        } else if let Some(rest) = text.strip_prefix("https://") {
            (Scheme::Https, rest)
        } else {
            return Err(EgressEntryError::NotHttp(text.to_string()));
        };
        let (authority, path) = match rest.find('/') {
            Some(at) => (&rest[..at], Some(&rest[at..])),
            None => (rest, None),
        };
        // `[::1]:8080`, `[::1]`, `host:8080`, `host`.
        let (host, port) = if let Some(end) = authority.find(']') {
            match &authority[end + 1..] {
                "" => (&authority[..=end], None),
                p => match p.strip_prefix(':') {
                    Some(port) => (&authority[..=end], Some(port)),
                    None => {
                        return Err(EgressEntryError::AfterAddress {
                            entry: text.to_string(),
                            after: p.to_string(),
                        });
                    }
                },
            }
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        let host = HostPattern::parse(host).map_err(|why| EgressEntryError::Host {
            entry: text.to_string(),
            why: Box::new(why),
        })?;
        let port = match port {
            None => Some(scheme.default_port()),
            Some("*") => None,
            Some(p) => Some(p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| {
                EgressEntryError::BadPort {
                    entry: text.to_string(),
                    port: p.to_string(),
                }
            })?),
        };
        if path.is_some_and(|p| p.contains('?') || p.contains('#')) {
            return Err(EgressEntryError::QueryInPath(text.to_string()));
        }
        Ok(EgressRule {
            text: text.to_string(),
            scheme,
            host,
            port,
            path: path.map(str::to_string),
        })
    }

    /// Whether a request of `scheme` to `host`, `port` and `path` (no
    /// query) fits.
    pub fn matches(&self, scheme: Scheme, host: &str, port: u16, path: &str) -> bool {
        self.scheme == scheme
            && self.host.matches(host)
            && self.port.is_none_or(|p| p == port)
            && self.path.as_deref().is_none_or(|p| wildcard(p, path))
    }
}

/// Whether `text` fits `pattern`, where `*` stands for any run of
/// characters. Linear in the lengths (no backtracking blow-up).
fn wildcard(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// What the host adds to every request for the hosts `host` covers:
/// headers (`egress_headers`), and for an OpenAPI server's security
/// schemes, query parameters and cookies too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InjectedHeaders {
    /// The hosts whose requests get these headers.
    pub host: HostPattern,
    /// Values are marked sensitive: their `Debug` shows no value.
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
    /// Query parameters, each replacing any of its name the request has.
    pub query: Vec<Injected>,
    /// Cookies, sent as the request's one `cookie` header.
    pub cookies: Vec<Injected>,
    /// An OAuth 2 client-credentials grant whose token goes in
    /// `authorization` (its `token_url` absolute).
    pub token: Option<crate::openapi::ClientCredentials>,
}

/// A query parameter or cookie the host adds: `Debug` shows its name
/// only.
#[derive(Clone, PartialEq, Eq)]
pub struct Injected {
    /// Its name.
    pub name: String,
    /// Its value, a secret.
    pub value: String,
}

impl std::fmt::Debug for Injected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}=[REDACTED]", self.name)
    }
}

/// What one adapter may request, and what the host adds on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressConfig {
    /// The `egress` entries; a request must fit one of them.
    pub rules: Vec<EgressRule>,
    /// The headers added per host (`egress_headers`).
    pub headers: Vec<InjectedHeaders>,
    /// The largest response body, in bytes.
    pub max_response: u64,
    /// How long one request may take, connecting included.
    pub request_timeout: Duration,
    /// How `https://` requests check servers and present a client
    /// certificate: the server entry's TLS keys (default: the platform's
    /// roots only).
    pub tls: TlsConfig,
}

impl EgressConfig {
    /// Parses `egress` and the resolved `egress_headers` (host → name →
    /// value). Messages name the entry, never a header's value.
    pub(crate) fn parse(
        egress: &[String],
        headers: &BTreeMap<String, BTreeMap<String, String>>,
    ) -> Result<EgressConfig, (&'static str, String)> {
        if egress.len() > MAX_ENTRIES || headers.len() > MAX_ENTRIES {
            return Err(("egress", format!("lists more than {MAX_ENTRIES} entries")));
        }
        let rules = egress
            .iter()
            .map(|e| EgressRule::parse(e))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|m| ("egress", m.to_string()))?;
        let mut injected = Vec::new();
        for (host, table) in headers {
            let pattern = HostPattern::parse(host)
                .map_err(|m| ("egress_headers", format!("the key {host:?}: {m}")))?;
            if !rules.iter().any(|r| overlaps(&r.host, &pattern)) {
                return Err((
                    "egress_headers",
                    format!(
                        "{host:?} is not a host any `egress` entry allows, so these headers would never be sent"
                    ),
                ));
            }
            let mut list = Vec::new();
            for (name, value) in table {
                let name_ok = http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                    (
                        "egress_headers",
                        format!("{host:?}: {name:?} is not a valid header name"),
                    )
                })?;
                let mut value_ok = http::HeaderValue::from_str(value).map_err(|_| {
                    (
                        "egress_headers",
                        format!(
                            "{host:?}: the value of {name:?} is not a valid header value (control characters or non-ASCII text)"
                        ),
                    )
                })?;
                value_ok.set_sensitive(true);
                list.push((name_ok, value_ok));
            }
            injected.push(InjectedHeaders {
                host: pattern,
                headers: list,
                query: Vec::new(),
                cookies: Vec::new(),
                token: None,
            });
        }
        Ok(EgressConfig {
            rules,
            headers: injected,
            max_response: DEFAULT_MAX_RESPONSE,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            tls: TlsConfig::default(),
        })
    }

    /// The allow-list of `entries` alone, as an adapter's `egress` key
    /// holds them, with no injected headers and the default limits.
    pub fn from_entries(entries: &[String]) -> anyhow::Result<EgressConfig> {
        EgressConfig::parse(entries, &BTreeMap::new()).map_err(|(_, why)| anyhow::anyhow!(why))
    }

    /// The first entry a request fits.
    pub fn allowing(
        &self,
        scheme: Scheme,
        host: &str,
        port: u16,
        path: &str,
    ) -> Option<&EgressRule> {
        self.rules
            .iter()
            .find(|r| r.matches(scheme, host, port, path))
    }

    /// Whether an entry the request fits names the address `ip` itself
    /// (which lets a request reach it even when it is private).
    pub fn names_address(&self, scheme: Scheme, ip: IpAddr, port: u16, path: &str) -> bool {
        self.rules.iter().any(|r| {
            r.host == HostPattern::Ip(ip) && r.matches(scheme, &ip.to_string(), port, path)
        })
    }

    /// Whether any entry allows `https://` requests.
    pub fn has_https(&self) -> bool {
        self.rules.iter().any(|r| r.scheme == Scheme::Https)
    }

    /// Adds what an OpenAPI server's security schemes need to every
    /// request for the host of `base` (the API's base URL).
    pub(crate) fn inject(
        &mut self,
        base: &str,
        injections: &[crate::openapi::Injection],
    ) -> Result<(), String> {
        use crate::openapi::Injection;
        if injections.is_empty() {
            return Ok(());
        }
        let base = url::Url::parse(base).map_err(|e| format!("the API's base URL: {e}"))?;
        let pattern = HostPattern::parse(base.host_str().unwrap_or(""))
            .map_err(|e| format!("the API's host: {e}"))?;
        let mut added = InjectedHeaders {
            host: pattern,
            headers: Vec::new(),
            query: Vec::new(),
            cookies: Vec::new(),
            token: None,
        };
        for i in injections {
            match i {
                Injection::Header(name, value) => {
                    let name = http::HeaderName::from_bytes(name.as_bytes())
                        .map_err(|_| format!("{name:?} is not a valid header name"))?;
                    let mut value = http::HeaderValue::from_str(value).map_err(|_| {
                        format!("the value for the header {name:?} is not a valid header value (control characters or non-ASCII text)")
                    })?;
                    value.set_sensitive(true);
                    added.headers.push((name, value));
                }
                Injection::Query(name, value) => added.query.push(Injected {
                    name: name.clone(),
                    value: value.clone(),
                }),
                Injection::Cookie(name, value) => {
                    if value.contains([';', '\r', '\n']) || name.contains([';', '=', ' ']) {
                        return Err(format!(
                            "the cookie {name:?} cannot carry its name or value in a cookie header"
                        ));
                    }
                    added.cookies.push(Injected {
                        name: name.clone(),
                        value: value.clone(),
                    })
                }
                Injection::Token(grant) => {
                    let url = base
                        .join(&grant.token_url)
                        .map_err(|e| format!("the tokenUrl {:?}: {e}", grant.token_url))?;
                    let scheme = Scheme::parse(url.scheme());
                    let on_list = scheme.is_some_and(|s| {
                        self.allowing(
                            s,
                            url.host_str().unwrap_or(""),
                            url.port_or_known_default().unwrap_or(0),
                            url.path(),
                        )
                        .is_some()
                    });
                    if !on_list {
                        return Err(format!(
                            "the tokenUrl {url} is not on the `egress` list: add it, so weft may ask it for tokens"
                        ));
                    }
                    added.token = Some(crate::openapi::ClientCredentials {
                        token_url: url.to_string(),
                        ..grant.clone()
                    });
                }
            }
        }
        let mut names: Vec<String> = added
            .headers
            .iter()
            .map(|(n, _)| format!("the header {n}"))
            .chain(
                added
                    .token
                    .iter()
                    .map(|_| "the header authorization".to_string()),
            )
            .chain(
                added
                    .query
                    .iter()
                    .map(|q| format!("the query parameter {}", q.name)),
            )
            .chain(
                added
                    .cookies
                    .iter()
                    .map(|c| format!("the cookie {}", c.name)),
            )
            .collect();
        names.sort();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!(
                "two of its schemes set {}; weft adds every scheme to every request, so serve the API as two servers, one scheme each",
                w[0]
            ));
        }
        self.headers.push(added);
        Ok(())
    }

    /// What the host adds to requests for `host`.
    pub fn injected_for<'a>(
        &'a self,
        host: &'a str,
    ) -> impl Iterator<Item = &'a InjectedHeaders> + 'a {
        self.headers.iter().filter(move |h| h.host.matches(host))
    }

    /// Every value the host adds, for masking in responses.
    pub fn injected_values(&self) -> impl Iterator<Item = &str> + '_ {
        self.headers.iter().flat_map(|h| {
            h.headers
                .iter()
                .filter_map(|(_, v)| v.to_str().ok())
                .chain(h.query.iter().chain(&h.cookies).map(|i| i.value.as_str()))
                .chain(h.token.iter().map(|t| t.client_secret.as_str()))
        })
    }

    /// The headers to add to a request for `host`, in order (a later table
    /// wins over an earlier one for the same name).
    pub fn headers_for<'a>(
        &'a self,
        host: &'a str,
    ) -> impl Iterator<Item = &'a (http::HeaderName, http::HeaderValue)> + 'a {
        self.headers
            .iter()
            .filter(move |h| h.host.matches(host))
            .flat_map(|h| h.headers.iter())
    }
}

/// Whether some host could fit both patterns (so headers for `b` can be
/// sent under an entry for `a`).
fn overlaps(a: &HostPattern, b: &HostPattern) -> bool {
    use HostPattern::*;
    match (a, b) {
        (Any, _) | (_, Any) => true,
        (Ip(x), Ip(y)) => x == y,
        (Ip(_), _) | (_, Ip(_)) => false,
        (Name(n), p) | (p, Name(n)) => p.matches(n),
        (Below(x), Below(y)) => x.ends_with(y.as_str()) || y.ends_with(x.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(t: &str) -> EgressRule {
        EgressRule::parse(t).expect(t)
    }

    #[test]
    fn entries_parse_and_match() {
        use Scheme::{Http, Https};
        let r = rule("http://api.example.com/v1/*");
        assert!(r.matches(Http, "API.example.com", 80, "/v1/items"));
        assert!(!r.matches(Http, "api.example.com", 80, "/v2/items"));
        assert!(!r.matches(Http, "api.example.com", 8080, "/v1/items"));
        let r = rule("http://*.internal.test:*");
        assert!(r.matches(Http, "a.b.internal.test", 8443, "/"));
        assert!(!r.matches(Http, "internal.test", 80, "/"));
        assert!(!r.matches(Http, "evilinternal.test", 80, "/"));
        let r = rule("http://127.0.0.1:8080");
        assert!(r.matches(Http, "127.0.0.1", 8080, "/anything"));
        assert_eq!(r.host, HostPattern::Ip("127.0.0.1".parse().unwrap()));
        let r = rule("http://[::1]:*/x");
        assert!(r.matches(Http, "::1", 9, "/x"));
        assert!(!r.matches(Http, "::1", 9, "/y"));
        // The scheme must match, and sets the default port.
        let r = rule("https://api.example.com/v1/*");
        assert!(r.matches(Https, "api.example.com", 443, "/v1/items"));
        assert!(!r.matches(Http, "api.example.com", 443, "/v1/items"));
        assert!(!r.matches(Https, "api.example.com", 80, "/v1/items"));
        let r = rule("http://api.example.com:*");
        assert!(!r.matches(Https, "api.example.com", 443, "/"));
        for bad in [
            "api.example.com",
            "ftp://x",
            "http://",
            "http://a b",
            "http://x:0",
            "http://x:99999",
            "http://x/?q",
            "https:/api.example.com",
            "HTTPS://api.example.com",
        ] {
            assert!(EgressRule::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn wildcards_do_not_backtrack_forever() {
        assert!(wildcard("/a*b*c", "/a-b-c"));
        assert!(!wildcard("/a*b*c", "/a-b-d"));
        assert!(wildcard("*", ""));
        let long = "a".repeat(10_000);
        assert!(!wildcard("*a*a*a*a*a*b", &long));
    }

    #[test]
    fn headers_need_an_allowed_host_and_hide_their_values() {
        let mut h = BTreeMap::new();
        h.insert(
            "api.example.com".to_string(),
            BTreeMap::from([(
                "Authorization".to_string(),
                "Bearer s3cr3t-value".to_string(),
            )]),
        );
        let c = EgressConfig::parse(&["http://*.example.com".into()], &h).expect("parses");
        assert_eq!(c.headers_for("api.example.com").count(), 1);
        assert_eq!(c.headers_for("other.example.com").count(), 0);
        assert!(!format!("{c:?}").contains("s3cr3t"));
        let e = EgressConfig::parse(&["http://other.test".into()], &h).unwrap_err();
        assert_eq!(e.0, "egress_headers");
    }
}
