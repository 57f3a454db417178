//! A response body that holds something (a tenant's request permit) until
//! the body has ended: a streamed answer counts as a request in flight for
//! as long as it streams, not only until its head is sent.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::response::Response;
use http_body::{Frame, SizeHint};

/// `response` whose body keeps `held` until its last frame is taken (or
/// the body is dropped, when the client goes away first).
/// A body already complete (its size known) is in memory: it holds
/// nothing, so the request is over when the guard returns it.
pub fn hold<T: Send + Unpin + 'static>(response: Response, held: T) -> Response {
    if response.body().size_hint().exact().is_some() {
        return response;
    }
    let (parts, body) = response.into_parts();
    let body = Holding {
        inner: body,
        held: Some(held),
    };
    Response::from_parts(parts, Body::new(body))
}

struct Holding<T> {
    inner: Body,
    held: Option<T>,
}

impl<T: Send + Unpin + 'static> HttpBody for Holding<T> {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        // Let go as soon as the end is known, before the server writes
        // the end of the body: a client that reads it and sends its next
        // request must find the permit free.
        if matches!(polled, Poll::Ready(None) | Poll::Ready(Some(Err(_))))
            || self.inner.is_end_stream()
        {
            self.held = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn holds_until_the_stream_ends() {
        let permits = Arc::new(tokio::sync::Semaphore::new(1));
        let permit = permits.clone().try_acquire_owned().unwrap();
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
        let body = Body::from_stream(tokio_stream_from(rx));
        let response = hold(Response::new(body), permit);
        let mut body = response.into_body();
        tx.send(Ok(Bytes::from_static(b"a"))).await.unwrap();
        let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        assert!(frame.is_some());
        assert_eq!(permits.available_permits(), 0, "held while streaming");
        drop(tx);
        let end = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        assert!(end.is_none());
        assert_eq!(permits.available_permits(), 1, "given back at the end");
    }

    fn tokio_stream_from<T: Send + 'static>(
        mut rx: tokio::sync::mpsc::Receiver<T>,
    ) -> impl futures::Stream<Item = T> + Send {
        futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
    }
}
