//! weft's own client side of the streamable HTTP transport, for servers
//! of the handshake era (an `initialize` that opens an `Mcp-Session-Id`
//! session): the hot path of an HTTP upstream.
//!
//! Each message rmcp sends is one POST, made and read in the task rmcp
//! already gives that send: no worker task, no channel per request, no
//! task per answer stream. A JSON answer is one message; an event-stream
//! answer is read until it ends, each message handed to rmcp as it comes
//! (progress before the result, in the server's order). Server-initiated
//! messages outside any request come on a GET stream, opened once the
//! session is initialized and reopened while the server keeps it
//! (`session.rs`, with the renewal below).
//!
//! A session the server has expired (HTTP 404 to a request that carried
//! it) is started again once: the `initialize` and `initialized` rmcp
//! sent are repeated, and the request is sent again in the new session.
//! The configured headers go on every request exactly as written (an
//! `Authorization` of any scheme); redirects are not followed (the client
//! is built so in [`super::http`]). What the server sends is capped
//! ([`super::answer::MAX_ANSWER`]). A server of the stateless 2026-07-28
//! era is served by rmcp's own transport instead (see `connect.rs`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, WWW_AUTHENTICATE};
use rmcp::RoleClient;
use rmcp::model::{
    ClientJsonRpcMessage, ClientNotification, ClientRequest, GetMeta, JsonRpcMessage, RequestId,
    ServerJsonRpcMessage, ServerResult,
};
use rmcp::transport::Transport;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::answer::{
    Expect, Framing, HttpError, discover_refused, events, framing, is_answer_to, json_message,
};
use super::oauth::OAuth;
use super::stale::{repeatable, went_stale};

mod messages;
mod session;

use messages::{cancelled_id, names_modern_version, request_id};

const SESSION: HeaderName = HeaderName::from_static("mcp-session-id");
const VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");
const METHOD: HeaderName = HeaderName::from_static("mcp-method");
const ACCEPT_BOTH: HeaderValue = HeaderValue::from_static("application/json, text/event-stream");
const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// How long weft waits before reopening a GET stream the server ended.
const RELISTEN_AFTER: Duration = Duration::from_secs(1);
/// How many times one request's event stream is resumed.
const MAX_RESUMES: u32 = 5;
/// The longest wait before resuming that a server's `retry` can ask for.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(10);
const LAST_EVENT: HeaderName = HeaderName::from_static("last-event-id");
/// How long closing waits for the server to end the session.
const DELETE_WITHIN: Duration = Duration::from_secs(2);

/// The transport rmcp serves over; one per connection to a server.
pub struct Streamable {
    shared: Arc<Shared>,
    inbound: mpsc::UnboundedReceiver<ServerJsonRpcMessage>,
}

/// What every send, the GET stream and a renewal share.
struct Shared {
    client: reqwest::Client,
    /// The server's OAuth tokens, when it wants them.
    oauth: Option<Arc<OAuth>>,
    url: reqwest::Url,
    inbound: mpsc::UnboundedSender<ServerJsonRpcMessage>,
    session: parking_lot::Mutex<Session>,
    /// One renewal at a time; the others wait and find it done.
    renewing: tokio::sync::Mutex<()>,
    /// Cancelled when weft closes the transport or the server is gone:
    /// `receive` then ends, which tells the supervisor.
    ended: CancellationToken,
    listener: parking_lot::Mutex<Option<tokio::task::AbortHandle>>,
    /// The requests being read, to stop reading one rmcp cancels.
    in_flight: parking_lot::Mutex<HashMap<RequestId, CancellationToken>>,
    /// Set when the server refused the era probe only for its version
    /// while naming 2026-07-28 among those it supports: it is a server of
    /// that era, to be connected to again with rmcp's transport.
    modern: Arc<std::sync::atomic::AtomicBool>,
    /// Set once the first GET stream has its answer (open, refused, or
    /// failed): a server may send its own requests there from then on.
    heard: tokio::sync::watch::Sender<bool>,
}

/// The session as the server gave it, and what it takes to start it again.
#[derive(Default)]
struct Session {
    id: Option<HeaderValue>,
    version: Option<HeaderValue>,
    /// Counts renewals, so requests that failed on the same old session
    /// renew it once between them.
    generation: u64,
    initialize: Option<ClientJsonRpcMessage>,
    initialized: Option<ClientJsonRpcMessage>,
}

/// The headers one request carries for its session.
struct Stamp {
    id: Option<HeaderValue>,
    version: Option<HeaderValue>,
    generation: u64,
}

impl Streamable {
    /// A transport that POSTs to `url` with `client` (built with the
    /// server's configured headers as its default headers), and `oauth`'s
    /// token when there is one.
    pub fn new(
        client: reqwest::Client,
        url: reqwest::Url,
        oauth: Option<Arc<OAuth>>,
    ) -> Streamable {
        let (tx, rx) = mpsc::unbounded_channel();
        Streamable {
            shared: Arc::new(Shared {
                client,
                oauth,
                url,
                inbound: tx,
                session: Default::default(),
                renewing: Default::default(),
                ended: CancellationToken::new(),
                listener: Default::default(),
                in_flight: Default::default(),
                modern: Default::default(),
                heard: tokio::sync::watch::channel(false).0,
            }),
            inbound: rx,
        }
    }
}

impl Streamable {
    /// Set when the server turned out to be of the 2026-07-28 era (see
    /// `Shared::modern`); read after the handshake, win or lose.
    pub fn modern_flag(&self) -> Arc<std::sync::atomic::AtomicBool> {
        self.shared.modern.clone()
    }

    /// Becomes true once the GET stream opened after the handshake has
    /// the server's answer (or none will come). A server may send its own
    /// requests on that stream rather than on a call's: a call sent before
    /// it is open can miss them.
    pub fn listening(&self) -> tokio::sync::watch::Receiver<bool> {
        self.shared.heard.subscribe()
    }
}

impl Transport<RoleClient> for Streamable {
    type Error = HttpError;

    fn name() -> std::borrow::Cow<'static, str> {
        "weft streamable HTTP".into()
    }

    fn send(
        &mut self,
        item: ClientJsonRpcMessage,
    ) -> impl Future<Output = Result<(), HttpError>> + Send + 'static {
        let shared = self.shared.clone();
        async move { shared.send(item).await }
    }

    async fn receive(&mut self) -> Option<ServerJsonRpcMessage> {
        tokio::select! {
            biased;
            message = self.inbound.recv() => message,
            _ = self.shared.ended.cancelled() => None,
        }
    }

    async fn close(&mut self) -> Result<(), HttpError> {
        self.shared.stop_listening();
        self.shared.ended.cancel();
        let id = self.shared.session.lock().id.take();
        if let Some(id) = id {
            let shared = self.shared.clone();
            let delete = async move {
                let request = shared.client.delete(shared.url.clone()).header(SESSION, id);
                if let Ok(request) = shared.authorized("DELETE", request).await {
                    let _ = request.send().await;
                }
            };
            // A server that does not end sessions on request is fine.
            let _ = tokio::time::timeout(DELETE_WITHIN, delete).await;
        }
        Ok(())
    }
}

impl Drop for Streamable {
    fn drop(&mut self) {
        self.shared.stop_listening();
        self.shared.ended.cancel();
    }
}

impl Shared {
    async fn send(self: Arc<Self>, message: ClientJsonRpcMessage) -> Result<(), HttpError> {
        if self.ended.is_cancelled() {
            return Err(HttpError::Closed);
        }
        match &message {
            JsonRpcMessage::Request(r)
                if matches!(r.request, ClientRequest::InitializeRequest(_)) =>
            {
                self.session.lock().initialize = Some(message.clone());
                let response = self.post(&message, &self.stamp(), None).await?;
                self.take_session(&response);
                self.answer(response, Some(r.id.clone()), Expect::Any, true)
                    .await
            }
            JsonRpcMessage::Notification(n)
                if matches!(
                    n.notification,
                    ClientNotification::InitializedNotification(_)
                ) =>
            {
                self.session.lock().initialized = Some(message.clone());
                self.deliver(&message).await?;
                self.listen();
                Ok(())
            }
            _ => self.deliver(&message).await,
        }
    }

    /// POSTs a message in the current session, starting the session
    /// again once if the server has expired it, and reads the answer.
    async fn deliver(self: &Arc<Self>, message: &ClientJsonRpcMessage) -> Result<(), HttpError> {
        let Some(id) = request_id(message) else {
            if let Some(cancelled) = cancelled_id(message)
                && let Some(call) = self.in_flight.lock().remove(&cancelled)
            {
                call.cancel();
            }
            return self.exchange(message).await;
        };
        // A request stops being read when rmcp cancels it or the
        // transport closes, so a server that never answers holds nothing.
        let cancelled = CancellationToken::new();
        self.in_flight.lock().insert(id.clone(), cancelled.clone());
        let outcome = tokio::select! {
            outcome = self.exchange(message) => outcome,
            _ = cancelled.cancelled() => Ok(()),
            _ = self.ended.cancelled() => Err(HttpError::Closed),
        };
        self.in_flight.lock().remove(&id);
        outcome
    }

    /// POSTs one message and reads its answer (see [`Shared::deliver`]).
    async fn exchange(self: &Arc<Self>, message: &ClientJsonRpcMessage) -> Result<(), HttpError> {
        let (id, method, expect) = match message {
            JsonRpcMessage::Request(r) => {
                let method = matches!(r.request, ClientRequest::DiscoverRequest(_))
                    .then_some("server/discover");
                let expect = match r.request {
                    ClientRequest::CallToolRequest(_) => Expect::CallTool,
                    _ => Expect::Any,
                };
                (Some(r.id.clone()), method, expect)
            }
            _ => (None, None, Expect::Any),
        };
        let mut stamp = self.stamp();
        let mut response = match self.post(message, &stamp, method).await {
            Err(HttpError::Connect(e)) if went_stale(&e) && repeatable(message) => {
                tracing::debug!(error = %e, "sent again: a kept-alive connection closed");
                self.post(message, &stamp, method).await?
            }
            other => other?,
        };
        if response.status() == StatusCode::NOT_FOUND && stamp.id.is_some() {
            self.renew(stamp.generation).await?;
            stamp = self.stamp();
            response = self.post(message, &stamp, method).await?;
        }
        if method.is_some()
            && let Some(id) = id.clone()
            && response.status().is_client_error()
            && !matches!(
                response.status(),
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
            )
        {
            let refused = discover_refused(response, id).await;
            if names_modern_version(&refused) {
                self.modern
                    .store(true, std::sync::atomic::Ordering::Relaxed);
            }
            self.take(refused, true);
            return Ok(());
        }
        self.answer(response, id, expect, true).await
    }

    fn stamp(&self) -> Stamp {
        let s = self.session.lock();
        Stamp {
            id: s.id.clone(),
            version: s.version.clone(),
            generation: s.generation,
        }
    }

    /// One POST of `message`; `method` names a discover probe's method in
    /// its header, as the 2026-07-28 era asks.
    async fn post(
        &self,
        message: &ClientJsonRpcMessage,
        stamp: &Stamp,
        method: Option<&'static str>,
    ) -> Result<reqwest::Response, HttpError> {
        let body = serde_json::to_vec(message).map_err(HttpError::Malformed)?;
        let mut headers = HeaderMap::with_capacity(5);
        headers.insert(ACCEPT, ACCEPT_BOTH);
        headers.insert(CONTENT_TYPE, JSON);
        if let Some(id) = &stamp.id {
            headers.insert(SESSION, id.clone());
        }
        let inline = match message {
            JsonRpcMessage::Request(r) => r.request.get_meta().protocol_version(),
            _ => None,
        };
        match inline.and_then(|v| HeaderValue::from_str(v.as_str()).ok()) {
            Some(v) => {
                headers.insert(VERSION, v);
            }
            None => {
                if let Some(v) = &stamp.version {
                    headers.insert(VERSION, v.clone());
                }
            }
        }
        if let Some(method) = method {
            headers.insert(METHOD, HeaderValue::from_static(method));
        }
        let Some(oauth) = &self.oauth else {
            return self
                .client
                .post(self.url.clone())
                .headers(headers)
                .body(body)
                .send()
                .await
                .map_err(HttpError::Connect);
        };
        // With OAuth: the token, and one renewal and retry when the
        // server refuses it (401) or wants a wider scope (403). A DPoP
        // server's request for a nonce is answered once, with the token.
        let body = bytes::Bytes::from(body);
        let url = self.url.as_str();
        let send = |token: Option<String>| {
            let mut headers = headers.clone();
            let body = body.clone();
            async move {
                if let Some(t) = &token {
                    for (name, value) in oauth.present("POST", url, t)? {
                        headers.insert(name, value);
                    }
                }
                let sent = |headers: HeaderMap| {
                    self.client
                        .post(self.url.clone())
                        .headers(headers)
                        .body(body.clone())
                        .send()
                };
                let response = sent(headers.clone()).await.map_err(HttpError::Connect)?;
                if token.is_none() || !oauth.nonce_asked(response.status(), response.headers()) {
                    return Ok::<_, HttpError>(response);
                }
                // The proof carried the old nonce (or none): a new one.
                if let Some(t) = &token {
                    for (name, value) in oauth.present("POST", url, t)? {
                        headers.insert(name, value);
                    }
                }
                sent(headers).await.map_err(HttpError::Connect)
            }
        };
        let token = oauth.token().await?;
        let response = send(token.clone()).await?;
        let challenge = response
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let fresh = match (response.status(), challenge) {
            (StatusCode::UNAUTHORIZED, challenge) => {
                oauth
                    .unauthorized(token.as_deref(), challenge.as_deref())
                    .await?
            }
            (StatusCode::FORBIDDEN, Some(challenge))
                if challenge.contains("insufficient_scope") =>
            {
                oauth.forbidden(&challenge).await?
            }
            _ => return Ok(response),
        };
        send(Some(fresh)).await
    }

    /// `request` (a `method` request) with the server's token, when it
    /// wants one.
    async fn authorized(
        &self,
        method: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::RequestBuilder, HttpError> {
        let Some(oauth) = &self.oauth else {
            return Ok(request);
        };
        let mut request = request;
        if let Some(token) = oauth.token().await? {
            for (name, value) in oauth.present(method, self.url.as_str(), &token)? {
                request = request.header(name, value);
            }
        }
        Ok(request)
    }

    /// Keeps the session id the server gave in answer to `initialize`.
    fn take_session(&self, response: &reqwest::Response) {
        if let Some(id) = response.headers().get(SESSION) {
            self.session.lock().id = Some(id.clone());
        }
    }

    /// Reads the answer to one POST, handing its messages to rmcp when
    /// `forward` (a renewal reads its `initialize` answer for itself).
    /// `id` is the request's: an event stream that ends without its
    /// answer fails the request.
    async fn answer(
        &self,
        response: reqwest::Response,
        id: Option<RequestId>,
        expect: Expect,
        forward: bool,
    ) -> Result<(), HttpError> {
        let status = response.status();
        if status == StatusCode::ACCEPTED || status == StatusCode::NO_CONTENT {
            return Ok(());
        }
        if !status.is_success() {
            return self.refusal(response, forward).await;
        }
        if id.is_none() && response.content_length() == Some(0) {
            return Ok(());
        }
        match framing(response.headers().get(CONTENT_TYPE))? {
            Framing::Json => {
                let message = json_message(response, expect).await?;
                self.take(message, forward);
                Ok(())
            }
            Framing::EventStream => {
                let Some(id) = id else {
                    return self
                        .read_stream(response, None, expect, forward)
                        .await
                        .map(|_| ());
                };
                let mut resume = self
                    .read_stream(response, Some(&id), expect, forward)
                    .await?;
                // A stream that ends before its answer, having named its
                // events, is resumed with a GET from the last one (as the
                // server's `retry` asks), a bounded number of times.
                let mut attempts = 0;
                while let Some((last, retry)) = resume {
                    attempts += 1;
                    if attempts > MAX_RESUMES {
                        return Err(HttpError::Ended);
                    }
                    tokio::time::sleep(retry.min(MAX_RETRY_WAIT)).await;
                    let response = self.resume_from(&last).await?;
                    if !response.status().is_success() {
                        return Err(HttpError::Status {
                            status: response.status(),
                        });
                    }
                    resume = self
                        .read_stream(response, Some(&id), expect, forward)
                        .await?;
                }
                Ok(())
            }
        }
    }

    /// Reads an event stream to its end, handing its messages on. `None`
    /// when `id` was answered (or there is no `id`); otherwise the last
    /// event id and the delay to wait before resuming, or
    /// [`HttpError::Ended`] when the server named no event to resume from.
    async fn read_stream(
        &self,
        response: reqwest::Response,
        id: Option<&RequestId>,
        expect: Expect,
        forward: bool,
    ) -> Result<Option<(String, Duration)>, HttpError> {
        let mut answered = id.is_none();
        let mut last = None;
        let mut retry = RELISTEN_AFTER;
        let mut stream = std::pin::pin!(events(response, expect));
        while let Some(event) = stream.next().await {
            let event = event?;
            if let Some(event_id) = event.id {
                last = Some(event_id);
            }
            if let Some(ms) = event.retry {
                retry = Duration::from_millis(ms);
            }
            if let Some(message) = event.message {
                answered |= is_answer_to(&message, id);
                self.take(message, forward);
            }
        }
        match (answered, last) {
            (true, _) => Ok(None),
            (false, Some(last)) => Ok(Some((last, retry))),
            (false, None) => Err(HttpError::Ended),
        }
    }

    /// The GET that resumes an event stream after event `last`.
    async fn resume_from(&self, last: &str) -> Result<reqwest::Response, HttpError> {
        let stamp = self.stamp();
        let mut request = self
            .client
            .get(self.url.clone())
            .header(ACCEPT, "text/event-stream")
            .header(LAST_EVENT, last);
        if let Some(id) = stamp.id {
            request = request.header(SESSION, id);
        }
        if let Some(v) = stamp.version {
            request = request.header(VERSION, v);
        }
        self.authorized("GET", request)
            .await?
            .send()
            .await
            .map_err(HttpError::Connect)
    }

    /// A refusal: a JSON-RPC error in a JSON body reaches the caller as
    /// the server's own error; anything else is the status.
    async fn refusal(&self, response: reqwest::Response, forward: bool) -> Result<(), HttpError> {
        let status = response.status();
        let is_json = matches!(
            framing(response.headers().get(CONTENT_TYPE)),
            Ok(Framing::Json)
        );
        let small = response
            .content_length()
            .is_some_and(|n| n <= super::answer::MAX_ERROR_BODY as u64);
        if status != StatusCode::TOO_MANY_REQUESTS
            && is_json
            && small
            && let Ok(body) = response.bytes().await
            && let Ok(message @ JsonRpcMessage::Error(_)) =
                serde_json::from_slice::<ServerJsonRpcMessage>(&body)
            && matches!(&message, JsonRpcMessage::Error(e) if e.id.is_some())
        {
            self.take(message, forward);
            return Ok(());
        }
        Err(HttpError::Status { status })
    }

    /// Hands a message to rmcp, noting the protocol version an
    /// `initialize` answer names for the session's later requests.
    fn take(&self, message: ServerJsonRpcMessage, forward: bool) {
        if let JsonRpcMessage::Response(r) = &message
            && let ServerResult::InitializeResult(init) = &r.result
            && let Ok(v) = HeaderValue::from_str(init.protocol_version.as_str())
        {
            self.session.lock().version = Some(v);
        }
        if forward {
            let _ = self.inbound.send(message);
        }
    }
}
