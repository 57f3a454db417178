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
) -> Started<T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let mut call = Box::pin(call);
    tokio::select! {
        biased;
        Some(first) = source.recv() => {
            Started::Streaming(response(first, source, async move { last(call.await) }))
        }
        out = &mut call => match source.try_recv() {
            // It sent progress on its way to the end: progress first.
            Ok(first) => Started::Streaming(response(first, source, std::future::ready(last(out)))),
            Err(_) => Started::Ended(out),
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

/// What the body's stream has left to write.
struct Rest {
    first: Option<ServerJsonRpcMessage>,
    source: Source,
    /// The call, until it ends.
    call: Option<Call>,
    /// The call's final message, once it ended.
    last: Option<ServerJsonRpcMessage>,
}

/// The event stream of `first`, each message `source` gets while `call`
/// runs, and the message `call` ends with.
fn response<F>(first: ServerJsonRpcMessage, source: Source, call: F) -> Response
where
    F: Future<Output = Option<ServerJsonRpcMessage>> + Send + 'static,
{
    let rest = Rest {
        first: Some(first),
        source,
        call: Some(Box::pin(call)),
        last: None,
    };
    with_headers(Body::from_stream(futures::stream::unfold(rest, next)))
}

/// The next event of the stream, or its end.
async fn next(mut rest: Rest) -> Option<(Result<Bytes, Infallible>, Rest)> {
    loop {
        let message = if let Some(first) = rest.first.take() {
            first
        } else if let Some(call) = rest.call.as_mut() {
            tokio::select! {
                biased;
                Some(message) = rest.source.recv() => message,
                out = call => {
                    rest.call = None;
                    rest.last = out;
                    continue;
                }
            }
        } else if let Ok(message) = rest.source.try_recv() {
            // Sent before the call ended: before its answer.
            message
        } else {
            rest.last.take()?
        };
        return match event(&message) {
            Ok(bytes) => Some((Ok(bytes), rest)),
            Err(e) => {
                // Nothing weft builds fails to encode; were it to, the
                // stream ends rather than write half an event.
                tracing::warn!(error = %e, "cannot encode a message of a call's stream");
                None
            }
        };
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
        match start(async { 7 }, source, |_| None).await {
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
        let Started::Streaming(response) = start(call, source, |n| Some(answer(n))).await else {
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
        let Started::Streaming(response) = start(call, source, |()| None).await else {
            panic!("not streaming");
        };
        // The call is parked until the body is read past its first event.
        let _ = go.send(());
        let events = events(response).await;
        assert_eq!(events.len(), 2, "{events:?}");
        assert!(events[1].contains(r#""progress":2.0"#));
    }
}
