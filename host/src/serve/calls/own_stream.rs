//! A directly answered call's own event stream ([`super::direct`],
//! [`super::session_call`]): the progress the upstream sends while the
//! call runs, then the answer, each as one event, written as it comes.
//!
//! rmcp's client puts a progress token on every request, so without this
//! no call of rmcp's client could be answered directly. A call that ends
//! before it has sent anything is answered as before, in one piece
//! ([`Started::Ended`]); one that sends progress first gets an event
//! stream whose body drives the rest of the call ([`Started::Streaming`]).
//! hyper polls that body in the connection's task, so the call still runs
//! where the request was read, and a client that goes away drops the
//! body, and with it the call, which cancels the upstream request.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use rmcp::model::{
    ProgressNotification, ProgressNotificationParam, ServerJsonRpcMessage, ServerNotification,
};
use tokio::sync::mpsc;

use super::replay::Tape;

/// Where a call's messages for its own stream go.
pub type Sink = mpsc::UnboundedSender<ServerJsonRpcMessage>;
/// Where the stream reads them.
pub type Source = mpsc::UnboundedReceiver<ServerJsonRpcMessage>;

/// A call's own stream: the sink its agent sends on, and the source.
pub fn channel() -> (Sink, Source) {
    mpsc::unbounded_channel()
}

/// Sends one progress notification on the call's own stream.
pub(super) fn progress(sink: &Sink, params: ProgressNotificationParam) {
    let note = ServerNotification::ProgressNotification(ProgressNotification::new(params));
    let _ = sink.send(ServerJsonRpcMessage::notification(note));
}

/// How a call began to be answered.
pub enum Started<T> {
    /// The call ended before it sent anything on its own stream.
    Ended(T),
    /// The call sent a message first: the answer is its event stream.
    Streaming(Response),
}

/// Runs `call` until it ends or sends its first message on `source`. A
/// call that streams goes on inside the answer's body, which ends with
/// what `last` makes of the call's outcome (nothing: the stream closes
/// with no final message).
pub async fn start<F, T>(
    call: F,
    mut source: Source,
    last: fn(T) -> Option<ServerJsonRpcMessage>,
    tape: Option<Tape>,
) -> Started<T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let mut call = Box::pin(call);
    tokio::select! {
        biased;
        Some(first) = source.recv() => {
            let rest = async move { last(call.await) };
            Started::Streaming(response(first, source, rest, tape))
        }
        out = &mut call => match source.try_recv() {
            // It sent progress on its way to the end: progress first.
            Ok(first) => {
                let rest = std::future::ready(last(out));
                Started::Streaming(response(first, source, rest, tape))
            }
            Err(_) => {
                // Answered in one piece: nothing to resume.
                if let Some(mut tape) = tape {
                    tape.complete();
                }
                Started::Ended(out)
            }
        },
    }
}

/// One event of `message`, or why it cannot be written.
pub fn event(message: &ServerJsonRpcMessage) -> Result<Bytes, serde_json::Error> {
    let json = serde_json::to_vec(message)?;
    // Compact JSON has no line break: it is one `data:` line.
    let mut body = Vec::with_capacity(json.len() + 8);
    body.extend_from_slice(b"data: ");
    body.extend_from_slice(&json);
    body.extend_from_slice(b"\n\n");
    Ok(body.into())
}

/// An event-stream response with `body`, with the headers rmcp's event
/// streams carry.
pub fn with_headers(body: Body) -> Response {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    for (name, value) in [
        (http::header::CONTENT_TYPE, "text/event-stream"),
        (http::header::CACHE_CONTROL, "no-cache"),
    ] {
        headers.insert(name, http::HeaderValue::from_static(value));
    }
    headers.insert("x-accel-buffering", http::HeaderValue::from_static("no"));
    response
}

type Call = Pin<Box<dyn Future<Output = Option<ServerJsonRpcMessage>> + Send>>;

/// How often a quiet stream gets a comment line, so that proxies keep it
/// open (rmcp's default keep-alive).
const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(15);

/// What the body's stream has left to write.
struct Rest {
    first: Option<ServerJsonRpcMessage>,
    source: Source,
    /// The call, until it ends.
    call: Option<Call>,
    /// The call's final message, once it ended.
    last: Option<ServerJsonRpcMessage>,
    /// The record a dropped connection resumes from (a session's call).
    tape: Option<Tape>,
    primed: bool,
}

/// The event stream of `first`, each message `source` gets while `call`
/// runs, and the message `call` ends with; recorded on `tape`.
fn response<F>(first: ServerJsonRpcMessage, source: Source, call: F, tape: Option<Tape>) -> Response
where
    F: Future<Output = Option<ServerJsonRpcMessage>> + Send + 'static,
{
    let rest = Rest {
        first: Some(first),
        source,
        call: Some(Box::pin(call)),
        last: None,
        tape,
        primed: false,
    };
    with_headers(Body::from_stream(futures::stream::unfold(rest, next)))
}

/// The next event of the stream, or its end.
async fn next(mut rest: Rest) -> Option<(Result<Bytes, Infallible>, Rest)> {
    if !rest.primed {
        rest.primed = true;
        if let Some(tape) = &rest.tape {
            return Some((Ok(tape.priming()), rest));
        }
    }
    let message = if let Some(first) = rest.first.take() {
        first
    } else if let Some(call) = rest.call.as_mut() {
        tokio::select! {
            biased;
            Some(message) = rest.source.recv() => message,
            out = call => {
                rest.call = None;
                rest.last = out;
                return Box::pin(next(rest)).await;
            }
            _ = tokio::time::sleep(KEEP_ALIVE) => {
                return Some((Ok(Bytes::from_static(b":\n\n")), rest));
            }
        }
    } else if let Ok(message) = rest.source.try_recv() {
        // Sent before the call ended: before its answer.
        message
    } else if let Some(last) = rest.last.take() {
        last
    } else {
        // Written to the end: nothing is left to resume.
        if let Some(tape) = rest.tape.as_mut() {
            tape.complete();
        }
        return None;
    };
    match event(&message) {
        Ok(bytes) => {
            let bytes = match &rest.tape {
                Some(tape) => tape.event(&bytes),
                None => bytes,
            };
            Some((Ok(bytes), rest))
        }
        Err(e) => {
            // Nothing weft builds fails to encode; were it to, the
            // stream ends rather than write half an event.
            tracing::warn!(error = %e, "cannot encode a message of a call's stream");
            None
        }
    }
}

impl Drop for Rest {
    /// A connection that drops while a session's call runs leaves the
    /// call running, into its record, for the agent to resume (see
    /// [`super::replay`]); any other call is dropped with it, which
    /// cancels the upstream request.
    fn drop(&mut self) {
        if self.call.is_none() || !self.tape.as_ref().is_some_and(Tape::detach) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let rest = Rest {
            first: self.first.take(),
            source: std::mem::replace(&mut self.source, mpsc::unbounded_channel().1),
            call: self.call.take(),
            last: self.last.take(),
            tape: self.tape.take(),
            primed: true,
        };
        runtime.spawn(async move {
            let mut rest = rest;
            while let Some((_, more)) = next(rest).await {
                rest = more;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use rmcp::model::{EmptyResult, NumberOrString, RequestId, ServerResult};

    fn answer(id: i64) -> ServerJsonRpcMessage {
        ServerJsonRpcMessage::response(
            ServerResult::EmptyResult(EmptyResult {}),
            RequestId::Number(id),
        )
    }

    fn step(n: f64) -> ProgressNotificationParam {
        ProgressNotificationParam::new(rmcp::model::ProgressToken(NumberOrString::Number(1)), n)
    }

    async fn events(response: Response) -> Vec<String> {
        let mut stream = response.into_body().into_data_stream();
        let mut out = Vec::new();
        while let Some(Ok(chunk)) = stream.next().await {
            out.push(String::from_utf8_lossy(&chunk).into_owned());
        }
        out
    }

    #[tokio::test]
    async fn a_call_that_sends_nothing_ends_in_one_piece() {
        let (_sink, source) = channel();
        match start(async { 7 }, source, |_| None, None).await {
            Started::Ended(7) => {}
            _ => panic!("not ended with its outcome"),
        }
    }

    #[tokio::test]
    async fn progress_comes_before_the_answer_even_from_a_call_that_already_ended() {
        let (sink, source) = channel();
        let call = async move {
            progress(&sink, step(1.0));
            progress(&sink, step(2.0));
            3
        };
        let Started::Streaming(response) = start(call, source, |n| Some(answer(n)), None).await
        else {
            panic!("a call that sent progress was answered in one piece");
        };
        assert_eq!(
            response.headers()[http::header::CONTENT_TYPE],
            "text/event-stream"
        );
        let events = events(response).await;
        assert_eq!(events.len(), 3, "{events:?}");
        assert!(events[0].contains(r#""progress":1.0"#), "{events:?}");
        assert!(events[1].contains(r#""progress":2.0"#), "{events:?}");
        assert!(events[2].starts_with("data: ") && events[2].contains(r#""id":3"#));
    }

    #[tokio::test]
    async fn a_streaming_call_runs_inside_the_body_and_may_end_with_no_answer() {
        let (sink, source) = channel();
        let (go, wait) = tokio::sync::oneshot::channel::<()>();
        let call = async move {
            progress(&sink, step(1.0));
            let _ = wait.await;
            progress(&sink, step(2.0));
        };
        let Started::Streaming(response) = start(call, source, |()| None, None).await else {
            panic!("not streaming");
        };
        // The call is parked until the body is read past its first event.
        let _ = go.send(());
        let events = events(response).await;
        assert_eq!(events.len(), 2, "{events:?}");
        assert!(events[1].contains(r#""progress":2.0"#));
    }
}
