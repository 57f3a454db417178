//! Outbound HTTP for adapters: `wasi:http/outgoing-handler`, with weft
//! sending every request itself.
//!
//! The interface is linked for every component, so a component that
//! imports it loads anywhere; what a request may do is decided here, per
//! run, by its [`Access`]:
//! - a policy, and an adapter without `egress`, get every request refused
//!   with a message saying why ([`Access::Policy`], [`Access::Closed`]);
//! - an adapter with `egress` ([`Access::Open`]) gets requests that fit
//!   its allow-list sent, and nothing else: the check comes before any
//!   connection or name lookup.
//!
//! A request's URL is parsed once, by the WHATWG rules, checked, and sent
//! exactly as checked (`target`): no spelling of an address or a path
//! reads one way to the check and another to the client. A name is
//! resolved by weft's own resolver (`resolve`), which refuses it when
//! any of its addresses is private, loopback, link-local or otherwise not
//! public (`address`), and hands the client exactly the addresses it
//! checked: a name cannot change its answer between the check and the
//! connection (DNS rebinding). An address that is not public is reached
//! only when the URL names it and an `egress` entry names that same
//! address. Redirects are not followed (the adapter sees the 3xx and may
//! make a new request, checked again), and no proxy is used.
//!
//! `https://` requests go over rustls, checked against the platform's
//! roots plus the server entry's own TLS settings (`ca_file`, a client
//! certificate, `insecure_skip_verify`), loaded by `upstream::tls` as for
//! an HTTPS server. An entry's scheme must match the request's.
//!
//! On the way out, the host adds the `egress_headers` of the request's
//! host; the adapter may not set those header names itself and never holds
//! their values. On the way back, every such value (and every secret weft
//! masks in its output) is replaced by `[REDACTED]` in the response's
//! headers and body, so an upstream that echoes a header cannot hand the
//! secret to the adapter. Responses are read whole, up to
//! `limits.max_response` bytes, within `limits.request_timeout`.

mod address;
mod inject;
mod resolve;
mod target;
mod token;

use std::future::Future;
use std::sync::Arc;

use aho_corasick::AhoCorasick;
use bytes::Bytes;
use http::HeaderName;
use http_body_util::{BodyExt, Full, Limited};
use wasmtime_wasi_http::{
    DEFAULT_FORBIDDEN_HEADERS, Error as HttpError, ForbiddenHeaderFilter, RequestOptions, WasiBody,
    WasiHttpHooks,
};

use crate::config::EgressConfig;
use crate::config::credentials::credential_values;
use crate::upstream::tls::Loaded;

pub use address::not_public;
use resolve::{PublicOnly, Refusal};
pub use target::{Refused, Target, check, split_case};

/// The largest request body an adapter may send.
const MAX_REQUEST_BODY: usize = 8 << 20;

/// What one run may do over HTTP.
#[derive(Clone, Default)]
pub enum Access {
    /// A policy: nothing.
    #[default]
    Policy,
    /// An adapter without `egress`: nothing.
    Closed {
        /// The adapter's server name, shown in the refusal.
        server: String,
    },
    /// An adapter with `egress`.
    Open(Arc<Egress>),
}

/// The `wasi:http` hooks of one run.
pub struct EgressHooks {
    access: Access,
}

impl EgressHooks {
    /// Hooks that send or refuse the run's requests as `access` allows.
    pub fn new(access: Access) -> EgressHooks {
        EgressHooks { access }
    }
}

/// A refusal, as the guest sees it: `internal-error` with the reason.
fn refused(message: String) -> HttpError {
    HttpError::InternalError(Some(message))
}

impl WasiHttpHooks for EgressHooks {
    fn forbidden_header_filter(&mut self) -> ForbiddenHeaderFilter {
        let injected: Vec<HeaderName> = match &self.access {
            Access::Open(e) => e.injected_names(),
            _ => Vec::new(),
        };
        Arc::new(move |name| DEFAULT_FORBIDDEN_HEADERS.contains(name) || injected.contains(name))
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        http::Response<WasiBody>,
                        Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                    ),
                    HttpError,
                >,
            > + Send,
    > {
        let access = self.access.clone();
        Box::new(async move {
            let egress = match access {
                Access::Policy => {
                    return Err(refused(
                        "weft egress: a policy cannot make HTTP requests; only an adapter whose server entry has an `egress` list can".into(),
                    ));
                }
                Access::Closed { server } => {
                    tracing::warn!(target: "weft::egress", server = %server, "refused an HTTP request: no `egress` list");
                    return Err(refused(format!(
                        "weft egress: adapter {server:?} may not make HTTP requests: its server entry has no `egress` list (add egress = [\"http://HOST:PORT/*\"] to [servers.{server}])"
                    )));
                }
                Access::Open(egress) => egress,
            };
            let response = egress.send(request).await?;
            let done: Box<dyn Future<Output = Result<(), HttpError>> + Send> =
                Box::new(async { Ok(()) });
            Ok((response, done))
        })
    }
}

/// One adapter's egress: its allow-list, its injected headers and the
/// client that sends its requests (shared by its calls, so connections are
/// reused).
pub struct Egress {
    server: String,
    config: Arc<EgressConfig>,
    client: reqwest::Client,
    /// The injected values (and their tokens without a scheme), masked in
    /// responses.
    masks: Option<AhoCorasick>,
    /// OAuth 2 tokens got for its requests (`token.rs`).
    tokens: token::Held,
}

/// Why an adapter's egress cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum EgressSetupError {
    /// The HTTP client could not be built (for instance from its TLS settings).
    #[error("cannot set up the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    /// The matcher that masks injected header values in responses could not be built.
    #[error("cannot set up masking: {0}")]
    Masking(#[source] aho_corasick::BuildError),
}

impl Egress {
    /// The egress of adapter `server`, with its TLS settings (`tls`,
    /// loaded from `config.tls`).
    pub fn new(
        server: &str,
        config: Arc<EgressConfig>,
        tls: &Loaded,
    ) -> Result<Egress, EgressSetupError> {
        Egress::with_resolver(server, config, tls, PublicOnly::system())
    }

    fn with_resolver(
        server: &str,
        config: Arc<EgressConfig>,
        tls: &Loaded,
        resolver: PublicOnly,
    ) -> Result<Egress, EgressSetupError> {
        let builder = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(resolver)
            .connect_timeout(config.request_timeout)
            .pool_idle_timeout(std::time::Duration::from_secs(30));
        let client = tls
            .apply(builder, &format!("the https:// egress of servers.{server}"))
            .build()
            .map_err(EgressSetupError::Client)?;
        let values: Vec<String> = config
            .injected_values()
            .flat_map(credential_values)
            .filter(|v| v.len() >= crate::redact::MIN_LEN)
            .collect();
        let masks = if values.is_empty() {
            None
        } else {
            // Longest first: `Bearer TOKEN` goes whole, not as `Bearer [REDACTED]`.
            let ac = AhoCorasick::builder()
                .match_kind(aho_corasick::MatchKind::LeftmostLongest)
                .build(&values)
                .map_err(EgressSetupError::Masking)?;
            Some(ac)
        };
        Ok(Egress {
            server: server.to_string(),
            config,
            client,
            masks,
            tokens: token::Held::default(),
        })
    }

    /// The headers the adapter may not set: those the host adds (the
    /// `cookie` header among them when the host adds a cookie).
    fn injected_names(&self) -> Vec<HeaderName> {
        self.config
            .headers
            .iter()
            .flat_map(|h| {
                let cookie = (!h.cookies.is_empty()).then_some(http::header::COOKIE);
                let token = h.token.as_ref().map(|_| http::header::AUTHORIZATION);
                h.headers
                    .iter()
                    .map(|(n, _)| n.clone())
                    .chain(cookie)
                    .chain(token)
            })
            .collect()
    }

    fn refuse(&self, shown: &str, why: String) -> HttpError {
        tracing::warn!(target: "weft::egress", server = %self.server, url = %shown, reason = %why, "refused an HTTP request");
        refused(format!("weft egress: refused {shown}: {why}"))
    }

    /// Checks a request against the allow-list, sends it and reads the
    /// response, masked.
    async fn send(
        &self,
        request: http::Request<WasiBody>,
    ) -> Result<http::Response<WasiBody>, HttpError> {
        let (parts, body) = request.into_parts();
        let raw = parts.uri.to_string();
        let target = match check(&self.config, &raw) {
            Ok(target) => target,
            Err(why) => return Err(self.refused_by(&target::shown_raw(&raw), why)),
        };
        let shown = target.shown();
        let body = Limited::new(body, MAX_REQUEST_BODY)
            .collect()
            .await
            .map_err(|e| {
                self.refuse(
                    &shown,
                    format!("cannot read the request body (at most {MAX_REQUEST_BODY} bytes): {e}"),
                )
            })?
            .to_bytes();
        self.fetch(parts.method, target, parts.headers, body).await
    }

    /// A check's refusal in words, with the list when the URL is not on it.
    fn refused_by(&self, shown: &str, why: Refused) -> HttpError {
        let why = match why {
            Refused::NotListed => {
                let list: Vec<&str> = self.config.rules.iter().map(|r| r.text.as_str()).collect();
                format!(
                    "not on the `egress` list of servers.{} ({})",
                    self.server,
                    list.join(", ")
                )
            }
            other => other.to_string(),
        };
        self.refuse(shown, why)
    }

    /// A `GET` of `url` that weft makes for this adapter (its OpenAPI
    /// document at `spec_url`), under the same check, injected headers,
    /// limits and masking as the adapter's own requests; with
    /// `if_none_match`, a conditional one. The refusal is in words.
    pub async fn get(
        &self,
        url: &str,
        if_none_match: Option<&str>,
    ) -> Result<(http::StatusCode, http::HeaderMap, Vec<u8>), String> {
        let in_words = |e: HttpError| match e {
            HttpError::InternalError(Some(m)) => m,
            other => format!("{other:?}"),
        };
        let target = check(&self.config, url)
            .map_err(|why| in_words(self.refused_by(&target::shown_raw(url), why)))?;
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::ACCEPT,
            http::HeaderValue::from_static("application/json, application/yaml;q=0.9, */*;q=0.8"),
        );
        if let Some(tag) = if_none_match.and_then(|t| http::HeaderValue::from_str(t).ok()) {
            headers.insert(http::header::IF_NONE_MATCH, tag);
        }
        self.exchange(http::Method::GET, target, headers, Bytes::new())
            .await
            .map_err(in_words)
    }

    /// Sends `target`, exactly as checked, with the request's own headers
    /// and the host's injected ones, and reads the response, masked.
    async fn fetch(
        &self,
        method: http::Method,
        target: Target,
        headers: http::HeaderMap,
        body: Bytes,
    ) -> Result<http::Response<WasiBody>, HttpError> {
        let (status, headers, body) = self.exchange(method, target, headers, body).await?;
        let mut response = http::Response::new(
            Full::new(Bytes::from(body))
                .map_err(|never| match never {})
                .boxed_unsync(),
        );
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        Ok(response)
    }

    /// Sends `target` and reads the whole answer: its status, its headers
    /// and its body, masked (the body's length in `content-length`).
    async fn exchange(
        &self,
        method: http::Method,
        mut target: Target,
        mut headers: http::HeaderMap,
        body: Bytes,
    ) -> Result<(http::StatusCode, http::HeaderMap, Vec<u8>), HttpError> {
        let shown = target.shown();
        inject::query(&mut target.url, &self.config, &target.host);
        // What is sent is held to what was checked, read back by the
        // connector's own parser.
        if let Err(why) = target.verify(&self.config) {
            tracing::error!(target: "weft::egress", server = %self.server, url = %shown, %why, "a checked URL failed its verification");
            return Err(self.refuse(&shown, format!("the URL did not verify: {why}")));
        }
        headers.remove(http::header::HOST);
        for (name, value) in self.config.headers_for(&target.host) {
            headers.insert(name.clone(), value.clone());
        }
        if let Some(cookie) = inject::cookie(&self.config, &target.host) {
            headers.insert(http::header::COOKIE, cookie);
        }
        let grants: Vec<_> = self
            .config
            .injected_for(&target.host)
            .filter_map(|h| h.token.clone())
            .collect();
        for grant in grants {
            let token = self
                .bearer(&grant)
                .await
                .map_err(|why| self.refuse(&shown, why))?;
            let mut value = http::HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| self.refuse(&shown, "the token is not a header value".into()))?;
            value.set_sensitive(true);
            headers.insert(http::header::AUTHORIZATION, value);
        }
        let timeout = self.config.request_timeout;
        let send = self
            .client
            .request(method.clone(), target.url)
            .headers(headers)
            .body(body)
            .send();
        let answer = tokio::time::timeout(timeout, async {
            let mut response = send.await?;
            let mut read = Vec::new();
            while let Some(chunk) = response.chunk().await? {
                if (read.len() + chunk.len()) as u64 > self.config.max_response {
                    return Ok(Err(response.status()));
                }
                read.extend_from_slice(&chunk);
            }
            Ok::<_, reqwest::Error>(Ok((response, read)))
        })
        .await;
        let (response, read) = match answer {
            Err(_) => {
                return Err(self.refuse(
                    &shown,
                    format!(
                        "no complete answer within {} ms (servers.{}.limits.request_timeout)",
                        timeout.as_millis(),
                        self.server
                    ),
                ));
            }
            Ok(Err(e)) => return Err(self.send_error(&shown, &e)),
            Ok(Ok(Err(status))) => {
                return Err(self.refuse(
                    &shown,
                    format!(
                        "the response ({status}) is over {} bytes (servers.{}.limits.max_response)",
                        self.config.max_response, self.server
                    ),
                ));
            }
            Ok(Ok(Ok(r))) => r,
        };
        tracing::debug!(target: "weft::egress", server = %self.server, method = %method, url = %shown, status = response.status().as_u16(), bytes = read.len(), "adapter request");
        let mut out = http::HeaderMap::new();
        for (name, value) in response.headers() {
            if name == http::header::CONTENT_LENGTH || name == http::header::TRANSFER_ENCODING {
                continue;
            }
            let masked = self.mask(value.as_bytes());
            let value = http::HeaderValue::from_bytes(&masked)
                .unwrap_or_else(|_| http::HeaderValue::from_static(crate::redact::MASK));
            out.append(name, value);
        }
        let body = self.mask(&read);
        out.insert(
            http::header::CONTENT_LENGTH,
            http::HeaderValue::from(body.len()),
        );
        Ok((response.status(), out, body))
    }

    /// The client's failure in words, with the resolver's refusal if that
    /// is what it was.
    fn send_error(&self, shown: &str, e: &reqwest::Error) -> HttpError {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(s) = source {
            if let Some(r) = s.downcast_ref::<Refusal>() {
                return self.refuse(shown, r.0.clone());
            }
            source = s.source();
        }
        let mut why = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            why = format!("{why}: {s}");
            source = s.source();
        }
        if why.contains("certificate") {
            why = format!(
                "{why} (if the server's certificate is issued by a private CA, trust that CA with `ca_file` in [servers.{}])",
                self.server
            );
        }
        tracing::warn!(target: "weft::egress", server = %self.server, url = %shown, error = %why, "an HTTP request failed");
        refused(format!("weft egress: {shown} failed: {why}"))
    }

    /// `bytes` with every injected value, and every secret weft masks,
    /// replaced by `[REDACTED]`.
    fn mask(&self, bytes: &[u8]) -> Vec<u8> {
        let once = match &self.masks {
            Some(ac) => {
                let with: Vec<&[u8]> = vec![crate::redact::MASK.as_bytes(); ac.patterns_len()];
                ac.replace_all_bytes(bytes, &with)
            }
            None => bytes.to_vec(),
        };
        let tokens = self.tokens.seen.lock().clone();
        let once = if tokens.is_empty() {
            once
        } else {
            match AhoCorasick::new(&tokens) {
                Ok(ac) => {
                    let with: Vec<&[u8]> = vec![crate::redact::MASK.as_bytes(); tokens.len()];
                    ac.replace_all_bytes(&once, &with)
                }
                Err(_) => once,
            }
        };
        crate::redact::bytes(&once).into_owned()
    }
}

#[cfg(test)]
mod tests;
