//! How an answer leaves `weft serve --http`: in one write when it is ready
//! at once.
//!
//! rmcp answers a handshake-era POST with an SSE stream whose first event
//! (the "priming" event, which lets a client resume the stream) is ready
//! before the answer itself. Sent as it comes, that is the head and the
//! priming event in one write and the answer about a millisecond later in
//! a second: on a keep-alive connection whose peer delays its ACKs, Nagle's
//! algorithm holds that second write for ~40 ms. The listener sets
//! `TCP_NODELAY` (see [`super::http::serve_http`]); this module also keeps
//! a quick answer to one write: [`finish`] holds a POST's event stream back
//! until its answer is there (or [`HOLD`] has passed, or the stream carries
//! a notification or a request for the agent, which must not wait), and
//! sends what it has as one body. A stream that has ended by then becomes a
//! plain body with a `Content-Length`.
//!
//! The redaction pass runs here too, on whole events: a stream is cut
//! only after an event's blank line ([`redact_events`]), so a secret that
//! arrives split across two chunks is still seen whole. Each response is
//! redacted for the agent it goes to (see [`crate::redact::for_tenant`]
//! and [`Redactor::sparing`]).

use std::time::Duration;

use axum::body::HttpBody as _;
use axum::body::{Body, Bytes};
use axum::response::Response;
use futures::StreamExt;

use crate::redact::Redactor;

/// How long a POST's event stream may be held back waiting for its answer.
/// A call that takes longer gets its head (and priming event) at this
/// point and the answer when it comes.
pub const HOLD: Duration = Duration::from_millis(200);

/// At most this much is held back before the rest is streamed.
const MAX_HELD: usize = 4 << 20;

/// Whether a response is an SSE stream.
fn is_event_stream(response: &Response) -> bool {
    response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|e| e.trim().eq_ignore_ascii_case("text/event-stream"))
        })
}

/// Whether a chunk of an SSE stream carries a message the agent must get
/// at once: a notification (progress, a log message) or a request
/// (sampling, elicitation), that is, any event whose data has a `method`.
/// Unreadable data counts as urgent: it is passed on without waiting.
fn urgent(chunk: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Probe {
        method: Option<serde::de::IgnoredAny>,
    }
    let Ok(text) = std::str::from_utf8(chunk) else {
        return true;
    };
    text.lines().any(|line| {
        let Some(data) = line.strip_prefix("data:") else {
            return false;
        };
        let data = data.trim();
        if data.is_empty() {
            // The priming event: no message.
            return false;
        }
        serde_json::from_str::<Probe>(data).map_or(true, |p| p.method.is_some())
    })
}

/// The redaction pass over a chunk, when secrets are configured.
fn redacted(redactor: &Redactor, chunk: Bytes) -> Bytes {
    if !redactor.enabled() {
        return chunk;
    }
    match redactor.bytes(&chunk) {
        std::borrow::Cow::Borrowed(_) => chunk,
        std::borrow::Cow::Owned(v) => Bytes::from(v),
    }
}

/// An event longer than this is redacted and sent without waiting for its
/// end (a secret straddling the cut could then pass; events this large
/// are not what MCP sends).
const MAX_EVENT: usize = 8 << 20;

/// Where the complete events at the start of `pending` end: after the
/// last blank line (`\n\n` or `\r\n\r\n`), or everything once it is
/// over [`MAX_EVENT`].
fn events_end(pending: &[u8]) -> Option<usize> {
    let lf = pending
        .windows(2)
        .rposition(|w| w == b"\n\n")
        .map(|i| i + 2);
    let crlf = pending
        .windows(4)
        .rposition(|w| w == b"\r\n\r\n")
        .map(|i| i + 4);
    match lf.max(crlf) {
        Some(end) => Some(end),
        None if pending.len() > MAX_EVENT => Some(pending.len()),
        None => None,
    }
}

/// `rest` after `head`, redacted by whole events: bytes are held until the
/// event they belong to is complete (see the module doc). Without secrets
/// configured, chunks pass as they come.
fn redact_events<S, E>(
    redactor: Redactor,
    head: Vec<u8>,
    rest: S,
) -> impl futures::Stream<Item = Result<Bytes, E>> + Send
where
    S: futures::Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
    E: Send + 'static,
{
    struct State<S, E> {
        redactor: Redactor,
        rest: S,
        pending: Vec<u8>,
        ended: bool,
        error: Option<E>,
    }
    let state = State {
        redactor,
        rest,
        pending: head,
        ended: false,
        error: None,
    };
    futures::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(end) = events_end(&st.pending) {
                let events: Vec<u8> = st.pending.drain(..end).collect();
                return Some((Ok(redacted(&st.redactor, Bytes::from(events))), st));
            }
            if st.ended {
                if !st.pending.is_empty() {
                    let tail = Bytes::from(std::mem::take(&mut st.pending));
                    return Some((Ok(redacted(&st.redactor, tail)), st));
                }
                return st.error.take().map(|e| (Err(e), st));
            }
            match st.rest.next().await {
                None => st.ended = true,
                Some(Err(e)) => {
                    st.ended = true;
                    st.error = Some(e);
                }
                Some(Ok(chunk)) if st.pending.is_empty() && !st.redactor.enabled() => {
                    return Some((Ok(chunk), st));
                }
                Some(Ok(chunk)) => st.pending.extend_from_slice(&chunk),
            }
        }
    })
}

/// `response` as it should leave: a POST's event stream coalesced (see the
/// module doc) when `post` is set, and every body through `redactor`, the
/// redaction pass for the agent it goes to.
pub async fn finish(response: Response, post: bool, redactor: Redactor) -> Response {
    let coalesce = post && is_event_stream(&response);
    if !coalesce && !redactor.enabled() {
        return response;
    }
    let complete = response.body().size_hint().exact().is_some();
    let (mut parts, body) = response.into_parts();
    if !coalesce && !complete {
        // A stream we do not hold back (the standalone GET stream): it is
        // redacted event by event as it passes.
        parts.headers.remove(http::header::CONTENT_LENGTH);
        let stream = redact_events(redactor, Vec::new(), body.into_data_stream());
        return Response::from_parts(parts, Body::from_stream(stream));
    }
    let mut stream = body.into_data_stream();
    let mut held: Vec<u8> = Vec::new();
    let deadline = tokio::time::Instant::now() + HOLD;
    let ended = loop {
        let next = if coalesce {
            match tokio::time::timeout_at(deadline, stream.next()).await {
                Ok(next) => next,
                Err(_) => break false,
            }
        } else {
            // A complete body (a plain JSON answer) is ready at once.
            stream.next().await
        };
        match next {
            None => break true,
            Some(Ok(chunk)) => {
                let now = coalesce && urgent(&chunk);
                held.extend_from_slice(&chunk);
                if now || held.len() > MAX_HELD {
                    break false;
                }
            }
            Some(Err(e)) => {
                // Pass what was held, then the error, as the body would have.
                parts.headers.remove(http::header::CONTENT_LENGTH);
                let head =
                    futures::stream::iter([Ok(redacted(&redactor, Bytes::from(held))), Err(e)]);
                return Response::from_parts(parts, Body::from_stream(head));
            }
        }
    };
    if ended {
        let held = redacted(&redactor, Bytes::from(held));
        // (204 and 304 carry no body and may not declare one.)
        if parts.status != http::StatusCode::NO_CONTENT
            && parts.status != http::StatusCode::NOT_MODIFIED
        {
            parts.headers.insert(
                http::header::CONTENT_LENGTH,
                http::HeaderValue::from(held.len()),
            );
        }
        return Response::from_parts(parts, Body::from(held));
    }
    parts.headers.remove(http::header::CONTENT_LENGTH);
    // What was held may end inside an event: it goes through the same
    // event-by-event pass as the rest.
    let body = redact_events(redactor, held, stream);
    Response::from_parts(parts, Body::from_stream(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The body of `response`, read to its end.
    async fn body_of(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    /// An SSE response whose body comes in `chunks`. (The first of them
    /// is half a message, which counts as urgent: a POST's stream is not
    /// held back for the rest.)
    fn sse(chunks: &[&'static str]) -> Response {
        let chunks: Vec<Result<Bytes, std::io::Error>> = chunks
            .iter()
            .map(|c| Ok(Bytes::from_static(c.as_bytes())))
            .collect();
        let mut r = Response::new(Body::from_stream(futures::stream::iter(chunks)));
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/event-stream"),
        );
        r
    }

    #[tokio::test]
    async fn a_secret_split_across_chunks_is_redacted() {
        crate::redact::install(&["hunter2-split-secret".to_string()]);
        let split = [
            "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"data\":\"hunter2-spl",
            "it-secret\"}}\n\n",
            "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"x\":\"hunter2-split-",
            "secret\"}}\n\n",
        ];
        let want = "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"data\":\"[REDACTED]\"}}\n\n\
                    data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"x\":\"[REDACTED]\"}}\n\n";
        // A POST's stream (held back, then streamed) and a GET's stream.
        for post in [true, false] {
            let out =
                body_of(finish(sse(&split), post, crate::redact::for_tenant(None)).await).await;
            assert_eq!(out, want, "post: {post}");
        }
    }

    #[test]
    fn what_cannot_wait() {
        assert!(!urgent(b"id: 0\nretry: 3000\ndata:\n\n"));
        assert!(!urgent(
            b"data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n"
        ));
        assert!(urgent(
            b"data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\n"
        ));
        assert!(urgent(
            b"id: 3\ndata: {\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"sampling/createMessage\"}\n\n"
        ));
        assert!(urgent(b"data: {not json\n\n"));
        assert!(urgent(&[0xff, 0xfe]));
    }
}
