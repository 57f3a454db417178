//! One request's URL, parsed once and checked: [`check`] reads the text
//! by the WHATWG URL rules (the `url` crate, the rules the HTTP client
//! itself applies), checks that parsed URL against an adapter's `egress`
//! list, and returns it as a [`Target`], which is exactly what is sent.
//!
//! Parsing once closes the gap between a check and its act: every spelling
//! of an address (`2130706433`, `127.1`, `0x7f.0.0.1`, `0177.0.0.1`,
//! full-width digits, IDNA names) becomes its one canonical form before
//! it is matched, and a path is matched after its `.` and `..` segments
//! are resolved, as the service will see it. A path that holds such a
//! segment at all, in any spelling (`..`, `%2e%2E`, `.%2e`, `..%2f`, a
//! backslash), is refused outright: an adapter that means `/admin` should
//! say so. A URL with credentials in it (`user:pass@`) is refused too:
//! secrets belong in `egress_headers`, where the adapter never holds them.
//!
//! [`Target::verify`] states what an allowed URL promises, read back from
//! its text with a second parser (the `http` crate's, which the client's
//! connector uses): the fuzz target, the property test and every send hold
//! a target to it.

use std::net::IpAddr;

use percent_encoding::percent_decode_str;
use url::{Host, Url};

use super::address::{bracketed, not_public};
use crate::config::EgressConfig;
use crate::config::egress::Scheme;

/// The most of a refused URL's text a message shows.
const SHOWN: usize = 200;

/// A URL that passed the check: what is sent, and what was checked.
#[derive(Debug, Clone)]
pub struct Target {
    /// The URL sent, byte for byte (no fragment, no credentials).
    pub url: Url,
    /// The scheme, `http` or `https`.
    pub scheme: Scheme,
    /// The host as checked and sent: a lowercase ASCII name, or an
    /// address in its WHATWG form (IPv6 without brackets).
    pub host: String,
    /// The address, when the URL names one rather than a name.
    pub ip: Option<IpAddr>,
    /// The port connected to: the URL's own, or the scheme's default (80 or 443).
    pub port: u16,
}

/// Why a URL is refused before anything is sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The text does not parse as a URL; holds the parser's message.
    #[error("not a URL: {0}")]
    NotUrl(String),
    /// The scheme is neither `http` nor `https`; holds the scheme (capped).
    #[error("{0}:// requests are not supported; only http:// and https://")]
    Scheme(String),
    /// The URL has no host, or an empty one.
    #[error("the URL has no host")]
    NoHost,
    /// The host has characters no resolver accepts; holds the host (capped).
    #[error("the host {0:?} is not a DNS name (ASCII letters, digits, `-`, `_` and dots)")]
    BadHost(String),
    /// The URL has a user name or password (`user:pass@`).
    #[error(
        "the URL holds credentials (user:password@); put secrets in `egress_headers`, where the host adds them"
    )]
    Credentials,
    /// The path has a `.` or `..` segment, in any spelling.
    #[error(
        "the path has a `.` or `..` segment (in some spelling: `%2e`, `%2f`, `\\`); request the path you mean"
    )]
    DotSegment,
    /// No `egress` entry allows this scheme, host, port and path.
    #[error("not on the `egress` list")]
    NotListed,
    /// The host is a non-public address (loopback, private...) that no entry names.
    #[error(
        "{ip} is a {kind} address, reached only when an `egress` entry names it (such as \"{scheme}://{shown}:{port}\")"
    )]
    NotPublic {
        /// The address the URL names.
        ip: IpAddr,
        /// What kind of address it is, such as `loopback` or `private`.
        kind: &'static str,
        /// The URL's scheme, `http` or `https`.
        scheme: &'static str,
        /// The address as an entry would write it (IPv6 in brackets).
        shown: String,
        /// The port requested.
        port: u16,
    },
}

impl Target {
    /// The URL as messages and logs show it: no query, no fragment.
    pub fn shown(&self) -> String {
        shown(&self.url)
    }

    /// Whether this target keeps the promises of a checked URL under
    /// `config`, read back from the text that is sent, with the `http`
    /// crate's parser (the one the HTTP client connects by):
    /// - its scheme, host, port and path are what was checked, and fit an
    ///   entry;
    /// - its host is an address only if the check saw one, and that
    ///   address is public unless an entry names it;
    /// - its path holds no `.` or `..` segment, and it holds no
    ///   credentials or fragment.
    pub fn verify(&self, config: &EgressConfig) -> anyhow::Result<()> {
        let text = self.url.as_str();
        let uri: http::Uri = text
            .parse()
            .map_err(|e| anyhow::anyhow!("{text:?} does not parse as an http::Uri: {e}"))?;
        let scheme = uri.scheme_str().and_then(Scheme::parse);
        if scheme != Some(self.scheme) {
            return Err(anyhow::anyhow!(
                "{text:?}: scheme {scheme:?}, checked {:?}",
                self.scheme
            ));
        }
        let authority = uri.authority().map(|a| a.as_str()).unwrap_or("");
        if authority.contains('@') {
            return Err(anyhow::anyhow!("{text:?} carries credentials"));
        }
        let host = uri
            .host()
            .unwrap_or("")
            .trim_start_matches('[')
            .trim_end_matches(']');
        if !host.eq_ignore_ascii_case(&self.host) {
            return Err(anyhow::anyhow!(
                "{text:?}: host {host:?}, checked {:?}",
                self.host
            ));
        }
        let port = uri.port_u16().unwrap_or(self.scheme.default_port());
        if port != self.port {
            return Err(anyhow::anyhow!(
                "{text:?}: port {port}, checked {}",
                self.port
            ));
        }
        // The connector dials an address literal directly, and resolves
        // anything else through weft's resolver.
        let literal = host.parse::<IpAddr>().ok();
        if literal != self.ip {
            return Err(anyhow::anyhow!(
                "{text:?}: the connector reads {literal:?}, the check saw {:?}",
                self.ip
            ));
        }
        let path = uri.path();
        if has_dot_segment(path) {
            return Err(anyhow::anyhow!("{text:?}: the path has a dot segment"));
        }
        if text.contains('#') {
            return Err(anyhow::anyhow!("{text:?} has a fragment"));
        }
        if config.allowing(self.scheme, host, port, path).is_none() {
            return Err(anyhow::anyhow!("{text:?} fits no entry"));
        }
        if let Some(ip) = literal
            && not_public(ip).is_some()
            && !config.names_address(self.scheme, ip, port, path)
        {
            return Err(anyhow::anyhow!(
                "{text:?} reaches {ip}, not public and named by no entry"
            ));
        }
        Ok(())
    }
}

/// `url` without its query and fragment.
fn shown(url: &Url) -> String {
    let mut s = url.clone();
    s.set_query(None);
    s.set_fragment(None);
    s.to_string()
}

/// At most [`SHOWN`] bytes of text a check refused (never split inside a
/// character).
pub(super) fn capped(text: &str) -> String {
    if text.len() <= SHOWN {
        return text.to_string();
    }
    let mut end = SHOWN;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// Whether a path, percent-decoded, has a `.` or `..` segment, with `/`
/// or `\` between segments.
fn has_dot_segment(path: &str) -> bool {
    let decoded = percent_decode_str(path).decode_utf8_lossy();
    decoded
        .split(['/', '\\'])
        .any(|segment| segment == "." || segment == "..")
}

/// The path of `raw` as written, before any parser resolves it: what
/// follows the authority, up to a query or a fragment.
fn raw_path(raw: &str) -> &str {
    let after_scheme = raw.find("://").map_or(raw, |at| &raw[at + 3..]);
    let path_at = after_scheme
        .find(['/', '\\', '?', '#'])
        .unwrap_or(after_scheme.len());
    let path = &after_scheme[path_at..];
    let end = path.find(['?', '#']).unwrap_or(path.len());
    &path[..end]
}

/// Parses `raw` once and checks it against `config`: the [`Target`] to
/// send, or why not. Nothing is resolved or connected here; a name is
/// checked again, address by address, when it is resolved.
pub fn check(config: &EgressConfig, raw: &str) -> Result<Target, Refused> {
    let mut url = Url::parse(raw).map_err(|e| Refused::NotUrl(format!("{e}")))?;
    let Some(scheme) = Scheme::parse(url.scheme()) else {
        return Err(Refused::Scheme(capped(url.scheme())));
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Refused::Credentials);
    }
    url.set_fragment(None);
    // The host as the URL is sent: a name in lowercase ASCII, or an
    // address in its one WHATWG form (IPv6 in hex, without brackets here).
    let host = url
        .host_str()
        .unwrap_or("")
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let ip = match url.host() {
        None => return Err(Refused::NoHost),
        Some(Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
        Some(Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
        // An http(s) URL's host is never a bare address by these rules;
        // should one slip through, it is checked as one.
        Some(Host::Domain(name)) => {
            // The WHATWG rules let through hosts no resolver or HTTP
            // client takes (`&`, `"`, `$`...): refused here, not failed
            // later.
            if !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            {
                return Err(Refused::BadHost(capped(name)));
            }
            name.parse::<IpAddr>().ok()
        }
    };
    if host.is_empty() {
        return Err(Refused::NoHost);
    }
    let port = url.port_or_known_default().unwrap_or(scheme.default_port());
    if has_dot_segment(raw_path(raw)) || has_dot_segment(url.path()) {
        return Err(Refused::DotSegment);
    }
    let path = url.path();
    if config.allowing(scheme, &host, port, path).is_none() {
        return Err(Refused::NotListed);
    }
    if let Some(ip) = ip
        && let Some(kind) = not_public(ip)
        && !config.names_address(scheme, ip, port, path)
    {
        return Err(Refused::NotPublic {
            ip,
            kind,
            scheme: scheme.as_str(),
            shown: bracketed(ip),
            port,
        });
    }
    Ok(Target {
        url,
        scheme,
        host,
        ip,
        port,
    })
}

/// The text a refused `raw` is shown as: parsed when it parses (without
/// query or fragment), else capped.
/// Credentials are never shown.
pub(super) fn shown_raw(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(mut url) => {
            // Cannot fail for a URL with a host; a URL without one holds
            // no credentials.
            let _ = url.set_username("");
            let _ = url.set_password(None);
            capped(&shown(&url))
        }
        Err(_) => {
            let before_query = raw.split(['?', '#']).next().unwrap_or("");
            let (scheme, rest) = before_query.split_once("://").unwrap_or(("", before_query));
            let authority_end = rest.find(['/', '\\']).unwrap_or(rest.len());
            let rest = match rest[..authority_end].rfind('@') {
                Some(at) => &rest[at + 1..],
                None => rest,
            };
            capped(&format!("{scheme}://{rest}"))
        }
    }
}

/// The allow-list every fuzz case without entries of its own is checked
/// under: any host and port, a named loopback prefix, and names below a
/// domain.
const FUZZ_LIST: [&str; 3] = [
    "http://*:*",
    "http://127.0.0.1:8080/v1/*",
    "https://*.example.com",
];

/// How a fuzz case reads (the cargo-fuzz target `egress` and the CI
/// driver in tests/egress_spellings.rs): every line but the last is an
/// `egress` entry (at most 8; none gives a fixed list), the last line is
/// the URL.
#[doc(hidden)]
pub fn split_case(text: &str) -> (Vec<String>, &str) {
    let mut lines: Vec<&str> = text.split('\n').collect();
    let url = lines.pop().unwrap_or("");
    let mut entries: Vec<String> = lines.iter().take(8).map(|l| l.to_string()).collect();
    if entries.is_empty() {
        entries = FUZZ_LIST.iter().map(|e| e.to_string()).collect();
    }
    (entries, url)
}
