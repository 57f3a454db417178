//! The legacy HTTP+SSE transport (MCP 2024-11-05), for servers that speak
//! only that. rmcp removed its client for it, so weft keeps its own.
//!
//! The client opens `GET url` as an event stream. The server's first event,
//! `endpoint`, names the URL to POST messages to; every later `message`
//! event carries one JSON-RPC message from the server. An endpoint on
//! another origin than the configured URL is refused, as the official SDKs
//! do: the POSTs carry the server's configured headers (its credentials).

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use rmcp::service::{RoleClient, RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::sink_stream::SinkStreamTransport;
use sse_stream::SseStream;

use super::http::ClientError;

/// How long the server may take to name its message endpoint.
const ENDPOINT_WAIT: Duration = Duration::from_secs(10);

/// A transport rmcp can serve over.
pub type SseTransport = SinkStreamTransport<
    futures::channel::mpsc::Sender<TxJsonRpcMessage<RoleClient>>,
    futures::stream::BoxStream<'static, RxJsonRpcMessage<RoleClient>>,
>;

/// Why a legacy SSE server cannot be reached, or did not name where to
/// send messages.
#[derive(Debug, thiserror::Error)]
pub enum SseError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("cannot connect to {url}: {}", super::answer::Causes(source))]
    Connect { url: String, source: reqwest::Error },
    #[error("{url} answered {status} to the SSE request")]
    Status {
        url: String,
        status: reqwest::StatusCode,
    },
    #[error("the event stream broke: {0}")]
    Stream(sse_stream::Error),
    #[error(transparent)]
    Auth(#[from] super::oauth::OAuthError),
    #[error("the event stream ended before the server named its endpoint")]
    NoEndpoint,
    #[error("{url} did not send an `endpoint` event within 10 s; is it an SSE server?")]
    NoEndpointInTime { url: String },
    /// `shown` is the endpoint as sent, cut to 200 characters.
    #[error("the server named an invalid endpoint {shown:?}: {reason}")]
    InvalidEndpoint { shown: String, reason: String },
    /// The endpoint's `origin` is not the configured `url`'s.
    #[error(
        "{url} named a message endpoint on another origin ({origin}); weft refuses to send \
         the server's messages and headers there"
    )]
    ForeignEndpoint { url: String, origin: String },
}

/// A client with the configured headers (and the token), and the answer
/// to its GET of the event stream.
async fn listen(
    url: &str,
    headers: &BTreeMap<String, String>,
    tls: &super::tls::Loaded,
    token: Option<&str>,
) -> Result<(reqwest::Client, reqwest::Response), SseError> {
    let mut defaults = header_map(headers)?;
    if let Some(token) = token
        && let Ok(mut value) = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
    {
        value.set_sensitive(true);
        defaults.insert(reqwest::header::AUTHORIZATION, value);
    }
    let builder = reqwest::Client::builder()
        .default_headers(defaults)
        // A redirect would carry the configured headers elsewhere.
        .redirect(reqwest::redirect::Policy::none());
    let client = tls
        .apply(builder, url)
        .build()
        .map_err(ClientError::Build)?;
    let response = client
        .get(url)
        .header(reqwest::header::ACCEPT, "text/event-stream")
        .send()
        .await
        .map_err(|source| SseError::Connect {
            url: url.into(),
            source,
        })?;
    Ok((client, response))
}

fn header_map(
    headers: &BTreeMap<String, String>,
) -> Result<reqwest::header::HeaderMap, ClientError> {
    let mut map = reqwest::header::HeaderMap::new();
    for (name, value) in headers {
        let n = reqwest::header::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| ClientError::HeaderName { name: name.clone() })?;
        let v = reqwest::header::HeaderValue::from_str(value)
            .map_err(|_| ClientError::HeaderValue { name: name.clone() })?;
        map.insert(n, v);
    }
    Ok(map)
}

/// The message endpoint the server named in `data`, resolved against the
/// event stream's URL `base`; refused unless it is on the origin of the
/// configured `url`.
fn endpoint_of(url: &str, base: &reqwest::Url, data: &str) -> Result<reqwest::Url, SseError> {
    let endpoint = base.join(data.trim()).map_err(|e| {
        let mut shown = data.trim().to_string();
        crate::util::truncate(&mut shown, 200);
        SseError::InvalidEndpoint {
            shown,
            reason: e.to_string(),
        }
    })?;
    if endpoint.origin() != base.origin() {
        return Err(SseError::ForeignEndpoint {
            url: url.into(),
            origin: endpoint.origin().ascii_serialization(),
        });
    }
    Ok(endpoint)
}

/// `connect` with no TLS settings of the server's own (the platform's
/// roots only).
pub async fn connect_default(
    url: &str,
    headers: &BTreeMap<String, String>,
) -> Result<SseTransport, SseError> {
    connect(url, headers, &super::tls::Loaded::default(), None).await
}

/// Opens the event stream and waits for the endpoint event.
pub async fn connect(
    url: &str,
    headers: &BTreeMap<String, String>,
    tls: &super::tls::Loaded,
    oauth: Option<std::sync::Arc<super::oauth::OAuth>>,
) -> Result<SseTransport, SseError> {
    // The token (for a server with `oauth`) is one of the client's
    // headers for this connection; a refused one is renewed once.
    let token = match &oauth {
        Some(o) => o.token().await?,
        None => None,
    };
    let (mut client, mut response) = listen(url, headers, tls, token.as_deref()).await?;
    if let Some(o) = &oauth
        && response.status() == reqwest::StatusCode::UNAUTHORIZED
    {
        let challenge = response
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let fresh = o
            .unauthorized(token.as_deref(), challenge.as_deref())
            .await?;
        (client, response) = listen(url, headers, tls, Some(&fresh)).await?;
    }
    if !response.status().is_success() {
        return Err(SseError::Status {
            url: url.into(),
            status: response.status(),
        });
    }
    let base = response.url().clone();

    let mut events = SseStream::from_bytes_stream(response.bytes_stream());
    let endpoint = tokio::time::timeout(ENDPOINT_WAIT, async {
        while let Some(event) = events.next().await {
            let event = event.map_err(SseError::Stream)?;
            if event.event.as_deref() == Some("endpoint") {
                return endpoint_of(url, &base, &event.data.unwrap_or_default());
            }
        }
        Err(SseError::NoEndpoint)
    })
    .await
    .map_err(|_| SseError::NoEndpointInTime { url: url.into() })??;

    let incoming = events
        .filter_map(|event| async move {
            let event = event.ok()?;
            if event.event.as_deref().is_some_and(|e| e != "message") {
                return None;
            }
            let data = event.data?;
            match serde_json::from_str::<RxJsonRpcMessage<RoleClient>>(&data) {
                Ok(message) => Some(message),
                Err(e) => {
                    tracing::warn!(error = %e, "dropping a malformed message from an SSE server");
                    None
                }
            }
        })
        .boxed();

    let (tx, mut rx) = futures::channel::mpsc::channel::<TxJsonRpcMessage<RoleClient>>(64);
    tokio::spawn(async move {
        while let Some(message) = rx.next().await {
            let posted = client.post(endpoint.clone()).json(&message).send().await;
            match posted {
                Ok(r) if r.status().is_success() => {}
                Ok(r) => tracing::warn!(status = %r.status(), "an SSE server refused a message"),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot post to an SSE server");
                    break;
                }
            }
        }
    });

    Ok(SinkStreamTransport::new(tx, incoming))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_on_another_origin_is_refused() {
        let base = reqwest::Url::parse("http://127.0.0.1:8000/sse").unwrap();
        let url = base.as_str();
        let ok = endpoint_of(url, &base, "/messages?session=1").unwrap();
        assert_eq!(ok.as_str(), "http://127.0.0.1:8000/messages?session=1");
        for foreign in [
            "http://evil.example/messages",
            "http://127.0.0.1:8001/messages",
            "https://127.0.0.1:8000/messages",
            "//evil.example/messages",
        ] {
            let e = endpoint_of(url, &base, foreign).unwrap_err();
            assert!(
                matches!(e, SseError::ForeignEndpoint { .. }),
                "{foreign}: {e}"
            );
            assert!(e.to_string().contains("another origin"), "{foreign}: {e}");
        }
    }
}
