//! Streamable HTTP upstreams: the HTTP client for a server, and the
//! transport for each era.
//!
//! Headers from the config (already resolved, secrets included) go on every
//! request to this server and nowhere else, exactly as configured: an
//! `Authorization` header of any scheme (Bearer, Basic, …) is sent as
//! written.
//!
//! A handshake-era server (2024-11-05 … 2025-11-25, the servers there are)
//! is served by weft's own lean client ([`super::streamable`]): rmcp's
//! client worker, with a channel hop and a task per answer, cost weft in
//! front of an HTTP server more CPU per call than the server itself could
//! spare on a small machine. A 2026-07-28 server is served by rmcp's
//! `StreamableHttpClientTransport`, which sends that era's extra headers.
//!
//! A server with `oauth` gets its token on every request, and one renewal
//! and retry when it refuses one ([`super::oauth`]).
//!
//! An `https://` server is reached over rustls, with the platform's roots
//! and the server's own TLS settings ([`super::tls`]).
//!
//! Each transport gets its own HTTP client, one per server, that keeps
//! connections alive between calls with `TCP_NODELAY` set, so a reused
//! connection does not wait on delayed ACKs. It follows no redirects: a
//! redirect would replay the configured headers elsewhere.
//!
//! An answer the transport cannot read (a JSON body that is not one
//! JSON-RPC message, an unexpected content type, an answer over the size
//! cap) fails the one request it answered: [`is_bad_answer`] tells the
//! router so, and the server, which is evidently up, is not restarted.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use rmcp::transport::streamable_http_client::{
    StreamableHttpClientTransportConfig, StreamableHttpError,
};
use rmcp::transport::{DynamicTransportError, StreamableHttpClientTransport};

use super::answer::HttpError;
use super::oauth::{Authed, OAuth};
use super::streamable::Streamable;
use super::tls::Loaded;

/// Idle keep-alive connections kept per server.
const IDLE_CONNECTIONS: usize = 64;

/// How long an idle connection is kept for reuse: under the 5 s that
/// Node's and uvicorn's servers keep an idle connection open by default,
/// so weft does not pick a connection the server is closing that moment.
const IDLE_FOR: std::time::Duration = std::time::Duration::from_secs(4);

/// Calls in flight to one server at once through rmcp's transport. rmcp's
/// default (16) queues the rest inside the transport, so weft in front of
/// a server capped every agent load above 16 at 16. (weft's own client
/// has no cap of its own: each call is its own request.)
const MAX_IN_FLIGHT: usize = 256;

/// Why an HTTP client for a server cannot be made from its config.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("header name {name:?} is not valid HTTP")]
    HeaderName { name: String },
    /// The value may hold a secret: the error names the header only.
    #[error("the value of header {name} is not valid HTTP")]
    HeaderValue { name: String },
    #[error("cannot build an HTTP client: {0}")]
    Build(reqwest::Error),
    #[error("{url} is not a URL: {reason}")]
    Url { url: String, reason: String },
}

/// rmcp's transport, for a 2026-07-28 server, sending `oauth`'s tokens
/// when the server wants them; fails only on headers that are not valid
/// HTTP.
pub fn transport(
    url: &str,
    headers: &BTreeMap<String, String>,
    tls: &Loaded,
    oauth: Option<Arc<OAuth>>,
) -> Result<StreamableHttpClientTransport<Authed>, ClientError> {
    let config = StreamableHttpClientTransportConfig::with_uri(url.to_string())
        .custom_headers(header_values(headers)?)
        .max_concurrent_requests(MAX_IN_FLIGHT)
        .reinit_on_expired_session(true);
    let client = tls
        .apply(client_builder(), url)
        .build()
        .map_err(ClientError::Build)?;
    Ok(StreamableHttpClientTransport::with_client(
        Authed { client, oauth },
        config,
    ))
}

/// weft's own transport, for a handshake-era server: the configured
/// headers are the client's default headers, sent on every request, and
/// `oauth`'s token beside them.
pub fn lean_transport(
    url: &str,
    headers: &BTreeMap<String, String>,
    tls: &Loaded,
    oauth: Option<Arc<OAuth>>,
) -> Result<Streamable, ClientError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| ClientError::Url {
        url: url.into(),
        reason: e.to_string(),
    })?;
    let defaults = header_values(headers)?.into_iter().collect();
    let client = tls
        .apply(client_builder().default_headers(defaults), url)
        .build()
        .map_err(ClientError::Build)?;
    Ok(Streamable::new(client, parsed, oauth))
}

/// The HTTP client settings both transports share.
fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .pool_max_idle_per_host(IDLE_CONNECTIONS)
        .pool_idle_timeout(IDLE_FOR)
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
}

/// The configured headers as HTTP, every one as written (rmcp's own
/// `auth_header` would put `Bearer ` before any value, so an
/// `Authorization` header goes with the others).
fn header_values(
    headers: &BTreeMap<String, String>,
) -> Result<HashMap<http::HeaderName, http::HeaderValue>, ClientError> {
    let mut custom = HashMap::new();
    for (name, value) in headers {
        let n = http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| ClientError::HeaderName { name: name.clone() })?;
        // The value may hold a secret: say which header, never the value.
        let mut v = http::HeaderValue::from_str(value)
            .map_err(|_| ClientError::HeaderValue { name: name.clone() })?;
        v.set_sensitive(true);
        custom.insert(n, v);
    }
    Ok(custom)
}

/// Whether a failed send is a streamable HTTP server's unreadable answer to
/// that one request (it answered, so it is up), rather than a connection
/// that failed.
pub fn is_bad_answer(error: &DynamicTransportError) -> bool {
    if let Some(e) = error.error.downcast_ref::<HttpError>() {
        return e.is_bad_answer();
    }
    matches!(
        error
            .error
            .downcast_ref::<StreamableHttpError<reqwest::Error>>(),
        Some(
            StreamableHttpError::UnexpectedServerResponse(_)
                | StreamableHttpError::UnexpectedContentType(_)
                | StreamableHttpError::Deserialize(_)
                | StreamableHttpError::ResponseBodyTooLarge { .. }
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrapped(e: StreamableHttpError<reqwest::Error>) -> DynamicTransportError {
        DynamicTransportError::new::<StreamableHttpClientTransport<reqwest::Client>, rmcp::RoleClient>(
            e,
        )
    }

    #[test]
    fn an_authorization_header_of_any_scheme_is_sent_as_written() {
        for value in ["Basic dXNlcjpwYXNz", "Bearer tok-1", "Token abc"] {
            let headers = BTreeMap::from([("Authorization".to_string(), value.to_string())]);
            let sent = header_values(&headers).unwrap();
            assert_eq!(sent[&http::header::AUTHORIZATION], value);
        }
    }

    #[test]
    fn an_unreadable_answer_is_a_bad_answer_not_an_outage() {
        let two_messages = serde_json::from_str::<rmcp::model::ServerJsonRpcMessage>(
            r#"[{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}},
                {"jsonrpc":"2.0","id":1,"result":{"content":[]}}]"#,
        )
        .expect_err("a JSON array is not one message");
        assert!(is_bad_answer(&wrapped(StreamableHttpError::Deserialize(
            two_messages
        ))));
        assert!(is_bad_answer(&wrapped(
            StreamableHttpError::UnexpectedServerResponse("expect json".into())
        )));
        assert!(is_bad_answer(&wrapped(
            StreamableHttpError::UnexpectedContentType(Some("text/html".into()))
        )));
        assert!(!is_bad_answer(&wrapped(
            StreamableHttpError::SessionExpired
        )));
        assert!(!is_bad_answer(&wrapped(
            StreamableHttpError::UnexpectedEndOfStream
        )));
        assert!(!is_bad_answer(&wrapped(
            StreamableHttpError::TransportChannelClosed
        )));
    }
}
