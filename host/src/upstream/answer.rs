//! Reading a streamable HTTP server's answer to one POST (or its GET
//! stream): a single JSON message, or an event stream of messages, each
//! capped in size. An upstream is untrusted: an answer over the cap, a
//! body that is not one JSON-RPC message, or a content type that is
//! neither fails that one request with an [`HttpError`] that says so.
//! Also here: which message answers a request, and a handshake-era
//! server's refusal of the 2026-07-28 probe as the JSON-RPC error rmcp's
//! era detection expects.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use rmcp::model::{
    CallToolResult, JsonRpcMessage, JsonRpcResponse, RequestId, ServerJsonRpcMessage, ServerResult,
};

/// The largest JSON answer, or the largest single event of an event
/// stream, weft reads from a server (the same 16 MiB rmcp allows).
pub const MAX_ANSWER: usize = 16 << 20;

/// What went wrong talking to a streamable HTTP server. Callers branch on
/// it through [`HttpError::is_bad_answer`].
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// No HTTP exchange happened, or it broke part way.
    #[error("cannot reach the server: {}", Causes(.0))]
    Connect(#[source] reqwest::Error),
    /// The server refused the request with this status (the text says
    /// `HTTP 429` for a rate limit, which the router reads as such).
    #[error("the server answered HTTP {status}")]
    Status { status: reqwest::StatusCode },
    /// The session was gone and could not be established again.
    #[error("the server ended the session (HTTP 404) and a new one could not be started: {0}")]
    SessionLost(String),
    /// A content type that is neither JSON nor an event stream.
    #[error("the server answered with content type {0:?}, not JSON or an event stream")]
    ContentType(Option<String>),
    /// A JSON body or an event over [`MAX_ANSWER`] bytes.
    #[error("the server's answer is over {limit} bytes")]
    TooLarge { limit: usize },
    /// A body or event that is not one JSON-RPC message.
    #[error("the server's answer is not a JSON-RPC message: {0}")]
    Malformed(#[source] serde_json::Error),
    /// The event stream broke (bad framing).
    #[error("the server's event stream broke: {0}")]
    Stream(String),
    /// An event stream ended before the answer to its request.
    #[error("the server's event stream ended before its answer")]
    Ended,
    /// The transport was closed by weft.
    #[error("the connection to the server is closed")]
    Closed,
    /// The server wants OAuth, and weft has no token it takes.
    #[error("{0}")]
    Auth(#[from] super::oauth::OAuthError),
}

impl HttpError {
    /// Whether this is the server's unreadable answer to one request (it
    /// answered, so it is up), rather than a connection that failed.
    pub fn is_bad_answer(&self) -> bool {
        matches!(
            self,
            HttpError::ContentType(_)
                | HttpError::TooLarge { .. }
                | HttpError::Malformed(_)
                | HttpError::Stream(_)
        )
    }
}

/// The largest JSON error body weft reads from a refusal.
pub const MAX_ERROR_BODY: usize = 64 << 10;

/// How a server framed its answer.
pub enum Framing {
    Json,
    EventStream,
}

/// The framing a `Content-Type` names, or the error for one weft cannot read.
pub fn framing(content_type: Option<&reqwest::header::HeaderValue>) -> Result<Framing, HttpError> {
    let text = content_type.and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = text.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/json") {
        Ok(Framing::Json)
    } else if essence.eq_ignore_ascii_case("text/event-stream") {
        Ok(Framing::EventStream)
    } else {
        Err(HttpError::ContentType(content_type.map(|v| {
            String::from_utf8_lossy(v.as_bytes()).into_owned()
        })))
    }
}

/// Reads a JSON body of at most [`MAX_ANSWER`] bytes as one message.
pub async fn json_message(
    response: reqwest::Response,
    expect: Expect,
) -> Result<ServerJsonRpcMessage, HttpError> {
    if response
        .content_length()
        .is_some_and(|n| n > MAX_ANSWER as u64)
    {
        return Err(HttpError::TooLarge { limit: MAX_ANSWER });
    }
    let mut body = Vec::new();
    let mut chunks = response.bytes_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(HttpError::Connect)?;
        if body.len() + chunk.len() > MAX_ANSWER {
            return Err(HttpError::TooLarge { limit: MAX_ANSWER });
        }
        body.extend_from_slice(&chunk);
    }
    message(&body, expect).map_err(HttpError::Malformed)
}

/// What a request expects as its answer, so that the common answer is
/// read as what it is: rmcp's `ServerResult` is an untagged union that
/// tries its variants in order, and a `tools/call` result is the
/// sixteenth, after fifteen failed attempts that each build an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Anything (notifications, the GET stream, other requests).
    Any,
    /// The answer to a `tools/call`.
    CallTool,
}

/// One JSON-RPC message from a server. With [`Expect::CallTool`] a
/// `tools/call` result is read directly; anything else (an error, a
/// notification, a task or an input request) is read as rmcp reads it.
pub fn message(data: &[u8], expect: Expect) -> serde_json::Result<ServerJsonRpcMessage> {
    if expect == Expect::CallTool
        && let Ok(r) = serde_json::from_slice::<JsonRpcResponse<CallToolResult>>(data)
    {
        return Ok(JsonRpcMessage::Response(JsonRpcResponse {
            jsonrpc: r.jsonrpc,
            id: r.id,
            result: ServerResult::CallToolResult(r.result),
        }));
    }
    serde_json::from_slice(data)
}

/// One event of a stream, as weft uses it: its message, if it carries
/// one, and the id and reconnection delay the server gave with it (for
/// resuming a stream that ends before its answer).
pub struct Event {
    pub message: Option<ServerJsonRpcMessage>,
    pub id: Option<String>,
    pub retry: Option<u64>,
}

/// The events of an event stream, in order. Each event may be at most
/// [`MAX_ANSWER`] bytes; events named other than `message`, and events
/// without data (a server's priming event), carry no message.
pub fn events(
    response: reqwest::Response,
    expect: Expect,
) -> impl Stream<Item = Result<Event, HttpError>> + Send + 'static {
    let pending = Arc::new(AtomicUsize::new(0));
    let counted = {
        let pending = pending.clone();
        response.bytes_stream().map(move |chunk| {
            let chunk: Bytes = chunk.map_err(CapError::Read)?;
            // Bytes read since the last whole event: one event's size, or
            // a little more when a chunk holds the start of the next.
            if pending.fetch_add(chunk.len(), Ordering::Relaxed) + chunk.len() > MAX_ANSWER {
                return Err(CapError::Over);
            }
            Ok(chunk)
        })
    };
    sse_stream::SseStream::from_bytes_stream(counted).map(move |event| {
        let event = event.map_err(stream_error)?;
        pending.store(0, Ordering::Relaxed);
        let named_other = event.event.as_deref().is_some_and(|name| name != "message");
        let message = match event.data.filter(|d| !d.trim().is_empty() && !named_other) {
            Some(data) => Some(message(data.as_bytes(), expect).map_err(HttpError::Malformed)?),
            None => None,
        };
        Ok(Event {
            message,
            id: event.id,
            retry: event.retry,
        })
    })
}

/// A failure under the event parser: the read broke or the cap was hit.
#[derive(Debug, thiserror::Error)]
enum CapError {
    #[error("{0}")]
    Read(reqwest::Error),
    #[error("an event over the size cap")]
    Over,
}

/// An error followed by its causes, `a: b: c`: reqwest's own text stops at
/// "error sending request", and the cause (a refused connection, a
/// certificate that does not verify) is what a user needs to read.
pub struct Causes<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Causes<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(e) = source {
            write!(f, ": {e}")?;
            source = e.source();
        }
        Ok(())
    }
}

/// The parser's error as weft's: the cap and a broken read keep their
/// meaning, anything else is bad framing.
fn stream_error(error: sse_stream::Error) -> HttpError {
    use std::error::Error as _;
    let mut source = error.source();
    while let Some(e) = source {
        if let Some(cap) = e.downcast_ref::<CapError>() {
            return match cap {
                CapError::Over => HttpError::TooLarge { limit: MAX_ANSWER },
                CapError::Read(_) => HttpError::Stream(cap.to_string()),
            };
        }
        source = e.source();
    }
    HttpError::Stream(error.to_string())
}

/// A handshake-era server's HTTP refusal of the `server/discover` probe,
/// as the JSON-RPC error rmcp's era detection reads as "not this era" (a
/// server's refusal cannot carry the probe's id, so it is given it).
pub async fn discover_refused(response: reqwest::Response, id: RequestId) -> ServerJsonRpcMessage {
    let status = response.status();
    let body = crate::util::capped_body(response, MAX_ERROR_BODY).await;
    let error = match serde_json::from_slice::<ServerJsonRpcMessage>(&body) {
        Ok(JsonRpcMessage::Error(e)) => e.error,
        _ => rmcp::model::ErrorData::invalid_request(
            format!("server/discover refused with HTTP {status}"),
            None,
        ),
    };
    ServerJsonRpcMessage::error(error, Some(id))
}

/// Whether `message` answers the request `id`.
pub fn is_answer_to(message: &ServerJsonRpcMessage, id: Option<&RequestId>) -> bool {
    let Some(id) = id else { return false };
    match message {
        JsonRpcMessage::Response(r) => &r.id == id,
        JsonRpcMessage::Error(e) => e.id.as_ref() == Some(id),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Read with the `tools/call` fast path, every answer comes out as
    /// rmcp reads it.
    #[test]
    fn a_call_answer_reads_the_same_either_way() {
        let answers = [
            r#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"Echo: hi"}]}}"#,
            r#"{"jsonrpc":"2.0","id":"a","result":{"content":[],"structuredContent":{"n":1},"isError":false,"_meta":{"k":"v"}}}"#,
            r#"{"jsonrpc":"2.0","id":7,"result":{"structuredContent":null}}"#,
            r#"{"jsonrpc":"2.0","id":7,"error":{"code":-32602,"message":"Unknown tool"}}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}}"#,
            r#"{"jsonrpc":"2.0","id":7,"result":{"task":{"taskId":"t","status":"working","createdAt":"2026-01-01T00:00:00Z","lastUpdatedAt":"2026-01-01T00:00:00Z","ttl":null}}}"#,
            r#"{"jsonrpc":"2.0","id":7,"result":{"resultType":"input_required","inputRequests":{}}}"#,
            r#"{"jsonrpc":"2.0","id":7,"result":{}}"#,
            r#"{"jsonrpc":"2.0","id":3,"method":"sampling/createMessage","params":{"messages":[],"maxTokens":5}}"#,
        ];
        for text in answers {
            let fast = message(text.as_bytes(), Expect::CallTool);
            let general = serde_json::from_str::<ServerJsonRpcMessage>(text);
            let value = |m: &serde_json::Result<ServerJsonRpcMessage>| {
                m.as_ref().ok().map(|m| serde_json::to_value(m).unwrap())
            };
            assert_eq!(value(&fast), value(&general), "{text}");
            assert_eq!(fast.is_err(), general.is_err(), "{text}");
        }
        // The first one really is a call result.
        let Ok(JsonRpcMessage::Response(r)) = message(answers[0].as_bytes(), Expect::CallTool)
        else {
            panic!("a response")
        };
        assert!(matches!(r.result, ServerResult::CallToolResult(_)));
        assert!(message(b"{not json", Expect::CallTool).is_err());
    }
}
