//! rmcp's HTTP client with weft's tokens: what the 2026-07-28 transport
//! sends through for a server that wants OAuth. Each request carries the
//! server's token; a 401 or a 403 naming a scope gets one renewal and one
//! retry (see [`super::OAuth`]).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use futures::stream::BoxStream;
use http::{HeaderName, HeaderValue};
use rmcp::model::ClientJsonRpcMessage;
use rmcp::transport::auth::AuthError;
use rmcp::transport::streamable_http_client::{
    StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
};
use sse_stream::{Error as SseError, Sse};

use super::super::stale::{repeatable, went_stale};
use super::{OAuth, OAuthError};

type Failure = StreamableHttpError<reqwest::Error>;

/// A reqwest client that sends `oauth`'s tokens (none without one).
#[derive(Clone)]
pub struct Authed {
    pub client: reqwest::Client,
    pub oauth: Option<Arc<OAuth>>,
}

fn refused(e: OAuthError) -> Failure {
    StreamableHttpError::Auth(AuthError::AuthorizationFailed(e.to_string()))
}

type Headers = HashMap<HeaderName, HeaderValue>;

impl Authed {
    /// Runs `call` with the token, renewing it once when the server
    /// refuses it. `call` gets the token for rmcp to send as `Bearer`, or,
    /// for a DPoP server, none and `headers` with `Authorization: DPoP`
    /// and a fresh proof for a `method` request to `uri`.
    async fn with_token<T, F, Fut>(
        &self,
        method: &str,
        uri: &str,
        headers: &Headers,
        call: F,
    ) -> Result<T, Failure>
    where
        F: Fn(Option<String>, Headers) -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        let Some(oauth) = &self.oauth else {
            return call(None, headers.clone()).await;
        };
        let present = |token: Option<String>| -> Result<(Option<String>, Headers), Failure> {
            match token {
                Some(t) if oauth.uses_dpop() => {
                    let mut headers = headers.clone();
                    headers.extend(oauth.present(method, uri, &t).map_err(refused)?);
                    Ok((None, headers))
                }
                t => Ok((t, headers.clone())),
            }
        };
        let token = oauth.token().await.map_err(refused)?;
        let (sent, with) = present(token.clone())?;
        match call(sent, with).await {
            Err(StreamableHttpError::AuthRequired(e)) => {
                let fresh = oauth
                    .unauthorized(token.as_deref(), Some(&e.www_authenticate_header))
                    .await
                    .map_err(refused)?;
                let (sent, with) = present(Some(fresh))?;
                call(sent, with).await
            }
            Err(StreamableHttpError::InsufficientScope(e)) => {
                let fresh = oauth
                    .forbidden(&e.www_authenticate_header)
                    .await
                    .map_err(refused)?;
                let (sent, with) = present(Some(fresh))?;
                call(sent, with).await
            }
            other => other,
        }
    }
}

/// Sends `message` with `send`, and once more when a kept-alive
/// connection was closed under it and the message does no harm twice
/// ([`went_stale`], [`repeatable`]).
async fn once_more_if_stale<F, Fut>(
    message: ClientJsonRpcMessage,
    send: F,
) -> Result<StreamableHttpPostResponse, Failure>
where
    F: Fn(ClientJsonRpcMessage) -> Fut,
    Fut: Future<Output = Result<StreamableHttpPostResponse, Failure>>,
{
    match send(message.clone()).await {
        Err(StreamableHttpError::Client(e)) if went_stale(&e) && repeatable(&message) => {
            tracing::debug!(error = %e, "a kept-alive connection closed under a request; sending it again");
            send(message).await
        }
        other => other,
    }
}

impl Authed {
    /// A `POST` of `message` with the token, sent once more when a
    /// kept-alive connection closed under it ([`once_more_if_stale`]);
    /// `max` caps an event's size on its stream (rmcp's default if `None`).
    async fn post(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        headers: HashMap<HeaderName, HeaderValue>,
        max: Option<usize>,
    ) -> Result<StreamableHttpPostResponse, Failure> {
        self.with_token("POST", &uri, &headers, |token, headers| {
            let (uri, message, session_id) = (uri.clone(), message.clone(), session_id.clone());
            once_more_if_stale(message, move |message| {
                let (uri, session_id, token, headers) = (
                    uri.clone(),
                    session_id.clone(),
                    token.clone(),
                    headers.clone(),
                );
                async move {
                    let client = &self.client;
                    match max {
                        None => {
                            client
                                .post_message(uri, message, session_id, token, headers)
                                .await
                        }
                        Some(max) => {
                            client
                                .post_message_with_max_sse_event_size(
                                    uri, message, session_id, token, headers, max,
                                )
                                .await
                        }
                    }
                }
            })
        })
        .await
    }
}

impl StreamableHttpClient for Authed {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth: Option<String>,
        headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, Failure> {
        self.post(uri, message, session_id, headers, None).await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth: Option<String>,
        headers: HashMap<HeaderName, HeaderValue>,
        max: usize,
    ) -> Result<StreamableHttpPostResponse, Failure> {
        self.post(uri, message, session_id, headers, Some(max))
            .await
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        _auth: Option<String>,
        headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), Failure> {
        self.with_token("DELETE", &uri, &headers, |token, headers| {
            let (uri, session_id) = (uri.clone(), session_id.clone());
            async move {
                self.client
                    .delete_session(uri, session_id, token, headers)
                    .await
            }
        })
        .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth: Option<String>,
        headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, Failure> {
        self.with_token("GET", &uri, &headers, |token, headers| {
            let (uri, session_id, last) = (uri.clone(), session_id.clone(), last_event_id.clone());
            async move {
                self.client
                    .get_stream(uri, session_id, last, token, headers)
                    .await
            }
        })
        .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth: Option<String>,
        headers: HashMap<HeaderName, HeaderValue>,
        max: usize,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, Failure> {
        self.with_token("GET", &uri, &headers, |token, headers| {
            let (uri, session_id, last) = (uri.clone(), session_id.clone(), last_event_id.clone());
            async move {
                self.client
                    .get_stream_with_max_sse_event_size(uri, session_id, last, token, headers, max)
                    .await
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use rmcp::model::{CallToolRequestParams, ClientRequest, PingRequest, RequestId};
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpListener;

    use super::*;

    /// Reads one HTTP/1.1 request (head and `content-length` body); false
    /// when the connection ended first.
    async fn read_request<R: tokio::io::AsyncRead + Unpin>(r: &mut BufReader<R>) -> bool {
        let mut length = 0;
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                return false;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; length];
        r.read_exact(&mut body).await.is_ok()
    }

    /// A server that answers its first connection's first request, reads
    /// the second and closes the connection without a word (as a server
    /// closing an idle connection does), and answers every later
    /// connection's request. Returns its URL and its count of connections.
    async fn closes_the_second_request() -> (Arc<str>, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url: Arc<str> = format!("http://{}/mcp", listener.local_addr().unwrap()).into();
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = connections.clone();
        tokio::spawn(async move {
            let answer = br#"{"jsonrpc":"2.0","id":1,"result":{}}"#;
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                answer.len()
            );
            while let Ok((socket, _)) = listener.accept().await {
                let n = counted.fetch_add(1, Ordering::SeqCst);
                let mut socket = BufReader::new(socket);
                while read_request(&mut socket).await {
                    let _ = socket.get_mut().write_all(head.as_bytes()).await;
                    let _ = socket.get_mut().write_all(answer).await;
                    if n == 0 {
                        // The second request on the first connection.
                        read_request(&mut socket).await;
                        break;
                    }
                }
            }
        });
        (url, connections)
    }

    fn request(request: ClientRequest) -> ClientJsonRpcMessage {
        ClientJsonRpcMessage::request(request, RequestId::Number(1))
    }

    async fn send(
        authed: &Authed,
        url: &Arc<str>,
        message: ClientJsonRpcMessage,
    ) -> Result<StreamableHttpPostResponse, Failure> {
        authed
            .post_message(url.clone(), message, None, None, HashMap::new())
            .await
    }

    #[tokio::test]
    async fn a_request_is_sent_again_once_when_a_kept_alive_connection_closes_under_it() {
        let (url, connections) = closes_the_second_request().await;
        let authed = Authed {
            client: reqwest::Client::new(),
            oauth: None,
        };
        let ping = || request(ClientRequest::PingRequest(PingRequest::default()));
        assert!(matches!(
            send(&authed, &url, ping()).await,
            Ok(StreamableHttpPostResponse::Json(..))
        ));
        let again = send(&authed, &url, ping()).await;
        assert!(
            matches!(again, Ok(StreamableHttpPostResponse::Json(..))),
            "{again:?}"
        );
        assert_eq!(connections.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_tool_call_is_not_sent_again_when_its_connection_closes_under_it() {
        let (url, connections) = closes_the_second_request().await;
        let authed = Authed {
            client: reqwest::Client::new(),
            oauth: None,
        };
        let call = || {
            request(ClientRequest::CallToolRequest(
                rmcp::model::CallToolRequest::new(CallToolRequestParams::new("act")),
            ))
        };
        assert!(matches!(
            send(&authed, &url, call()).await,
            Ok(StreamableHttpPostResponse::Json(..))
        ));
        match send(&authed, &url, call()).await {
            Err(StreamableHttpError::Client(e)) => assert!(went_stale(&e), "{e:?}"),
            other => panic!("a tool call was sent again, or failed otherwise: {other:?}"),
        }
        assert_eq!(connections.load(Ordering::SeqCst), 1);
    }
}
