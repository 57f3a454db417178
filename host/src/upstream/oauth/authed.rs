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
        self.with_token("POST", &uri, &headers, |token, headers| {
            let (uri, message, session_id) = (uri.clone(), message.clone(), session_id.clone());
            async move {
                self.client
                    .post_message(uri, message, session_id, token, headers)
                    .await
            }
        })
        .await
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
        self.with_token("POST", &uri, &headers, |token, headers| {
            let (uri, message, session_id) = (uri.clone(), message.clone(), session_id.clone());
            async move {
                self.client
                    .post_message_with_max_sse_event_size(
                        uri, message, session_id, token, headers, max,
                    )
                    .await
            }
        })
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
