//! Streamable HTTP upstreams, through rmcp's reqwest transport.
//!
//! Headers from the config (already resolved, secrets included) go on every
//! request to this server and nowhere else. A session the server expired is
//! re-established by the transport.
//!
//! An answer the transport cannot read (a JSON body that is not one
//! JSON-RPC message, an unexpected content type) fails the one request it
//! answered: [`is_bad_answer`] tells the router so, and the server, which is
//! evidently up, is not restarted.

use std::collections::{BTreeMap, HashMap};

use rmcp::transport::streamable_http_client::{
    StreamableHttpClientTransportConfig, StreamableHttpError,
};
use rmcp::transport::{DynamicTransportError, StreamableHttpClientTransport};

/// Builds the transport; fails only on headers that are not valid HTTP.
pub fn transport(
    url: &str,
    headers: &BTreeMap<String, String>,
) -> Result<StreamableHttpClientTransport<reqwest::Client>, String> {
    let mut custom = HashMap::new();
    let mut auth = None;
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("authorization") {
            // rmcp adds the Authorization header itself, as a bearer token.
            auth = Some(value.strip_prefix("Bearer ").unwrap_or(value).to_string());
            continue;
        }
        let n = http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("header name {name:?} is not valid HTTP"))?;
        // The value may hold a secret: say which header, never the value.
        let v = http::HeaderValue::from_str(value)
            .map_err(|_| format!("the value of header {name} is not valid HTTP"))?;
        custom.insert(n, v);
    }
    let mut config = StreamableHttpClientTransportConfig::with_uri(url.to_string())
        .custom_headers(custom)
        .reinit_on_expired_session(true);
    if let Some(token) = auth {
        config = config.auth_header(token);
    }
    Ok(StreamableHttpClientTransport::with_client(
        client()?,
        config,
    ))
}

/// Redirects followed for one request, at most.
const MAX_REDIRECTS: usize = 10;

/// The HTTP client for one upstream: connections are kept alive and reused
/// (rmcp's default client turns pooling off, which costs a TCP handshake per
/// call), with Nagle off. Only same-origin 307 and 308 redirects are followed: they keep
/// the method and body, and a cross-origin hop would carry the session id
/// and the configured headers (credentials) to another host.
fn client() -> Result<reqwest::Client, String> {
    let policy = reqwest::redirect::Policy::custom(|attempt| {
        let keeps_body = matches!(
            attempt.status(),
            reqwest::StatusCode::TEMPORARY_REDIRECT | reqwest::StatusCode::PERMANENT_REDIRECT
        );
        let same_origin = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        if keeps_body && same_origin && attempt.previous().len() <= MAX_REDIRECTS {
            attempt.follow()
        } else {
            attempt.stop()
        }
    });
    reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_idle_timeout(std::time::Duration::from_secs(60))
        .redirect(policy)
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// Whether a failed send is a streamable HTTP server's unreadable answer to
/// that one request (it answered, so it is up), rather than a connection
/// that failed.
pub fn is_bad_answer(error: &DynamicTransportError) -> bool {
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
