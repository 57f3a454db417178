//! The listener of `weft serve --http`: how connections are taken and
//! served, with the defences against slow and greedy clients
//! (`settings.edge`, see [`EdgeLimits`]).
//!
//! - At most `max_connections` connections are open at once, and at most
//!   `max_connections_per_client` from one address. A connection over
//!   either cap is answered `503` with a JSON body saying which cap, and
//!   closed; no request on it is read.
//! - A request's head must arrive within `header_timeout`, counted from
//!   when weft starts waiting for it: a connection that sends nothing, or
//!   sends its head a byte at a time, or sits idle on keep-alive between
//!   requests, is closed when it runs out (hyper's header-read timer).
//! - A head is at most `max_header_bytes` bytes and `max_headers` fields
//!   (hyper answers 431 beyond either).
//! - An answer that the client takes none of for `idle_timeout` (a client
//!   that stops reading) closes the connection ([`Stalled`]).
//!
//! Connections speak HTTP/1.1 (the MCP transports' own); every one has
//! `TCP_NODELAY` (see [`super::coalesce`]). On `stop`, no connection is
//! taken any more, each open one finishes the request it is serving, and
//! [`serve`] returns when all have closed.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::head_timer::HeadTimer;
use super::self_wake::SelfWaking;
use crate::config::EdgeLimits;

/// How many connections are open, in all and by client address.
#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_client: HashMap<IpAddr, usize>,
}

/// Why a connection was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum Refusal {
    #[error("weft has {0} connections open, its limit (settings.max_connections); retry later")]
    Total(usize),
    #[error(
        "{0} connections from this address are open, its limit (settings.max_connections_per_client); close one first"
    )]
    Client(usize),
}

/// One open connection's place in the counts, given back when dropped.
struct Slot {
    counts: Arc<Mutex<Counts>>,
    client: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock();
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.by_client.get_mut(&self.client) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.by_client.remove(&self.client);
            }
        }
    }
}

/// A slot for a connection from `client`, or why there is none.
fn admit(
    counts: &Arc<Mutex<Counts>>,
    limits: &EdgeLimits,
    client: IpAddr,
) -> Result<Slot, Refusal> {
    let mut c = counts.lock();
    if c.total >= limits.max_connections {
        return Err(Refusal::Total(limits.max_connections));
    }
    let mine = c.by_client.entry(client).or_insert(0);
    if *mine >= limits.max_connections_per_client {
        return Err(Refusal::Client(limits.max_connections_per_client));
    }
    *mine += 1;
    c.total += 1;
    Ok(Slot {
        counts: counts.clone(),
        client,
    })
}

/// Serves `app` (the HTTP stack above this edge, `http.rs`'s `Front`) on
/// `listener` under `limits` until `stop` is cancelled.
pub async fn serve<S>(listener: TcpListener, app: S, limits: EdgeLimits, stop: CancellationToken)
where
    S: hyper::service::Service<
            http::Request<hyper::body::Incoming>,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    raise_fd_limit(limits.max_connections);
    let counts = Arc::new(Mutex::new(Counts::default()));
    let tracker = TaskTracker::new();
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1
        .header_read_timeout(limits.header_timeout)
        .max_headers(limits.max_headers)
        .max_header_size(limits.max_header_bytes);
    loop {
        let (tcp, peer) = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, or a connection that died
                    // in the backlog: wait a moment rather than spin.
                    tracing::warn!("cannot accept a connection: {e}");
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_millis(50)) => continue,
                    }
                }
            },
        };
        let slot = match admit(&counts, &limits, peer.ip()) {
            Ok(slot) => slot,
            Err(why) => {
                tracing::debug!(client = %peer.ip(), "refused a connection: {why}");
                tracker.spawn(refuse(tcp, why));
                continue;
            }
        };
        // Answers are small writes that follow one another on a kept-alive
        // connection: without TCP_NODELAY, Nagle's algorithm holds the
        // second until the client's delayed ACK, about 40 ms later.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!("cannot set TCP_NODELAY on a connection: {e}");
        }
        let io = TokioIo::new(Stalled::new(tcp, limits.idle_timeout));
        // Each connection has its own header-read clock (see `head_timer`).
        let conn = http1
            .clone()
            .timer(HeadTimer::default())
            .serve_connection(io, app.clone());
        let stop = stop.clone();
        tracker.spawn(async move {
            let _slot = slot;
            let mut conn = std::pin::pin!(conn);
            let ended = tokio::select! {
                ended = SelfWaking::new(conn.as_mut()) => ended,
                _ = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = ended {
                tracing::debug!(client = %peer.ip(), "a connection ended: {e}");
            }
        });
    }
    tracker.close();
    tracker.wait().await;
}

/// Answers a connection over a cap with 503 and closes it.
async fn refuse(mut tcp: TcpStream, why: Refusal) {
    let body = crate::serve::refusal::body(
        http::StatusCode::SERVICE_UNAVAILABLE,
        &why.to_string(),
        None,
        Some(Duration::from_secs(1)),
    );
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let sent = tokio::time::timeout(Duration::from_secs(1), async {
        tcp.write_all(answer.as_bytes()).await?;
        tcp.shutdown().await
    })
    .await;
    if let Ok(Err(e)) = sent {
        tracing::debug!("could not tell a refused connection why: {e}");
    }
}

/// Lifts the soft limit on open files toward the hard one, so that
/// `max_connections` connections (and the servers' pipes) fit.
fn raise_fd_limit(connections: usize) {
    let want = u64::try_from(connections)
        .unwrap_or(u64::MAX)
        .saturating_mul(2)
        .saturating_add(256);
    match rlimit::increase_nofile_limit(want) {
        Ok(got) if got < want => tracing::warn!(
            "the open-file limit is {got}, below the {want} that settings.max_connections = {connections} needs; raise it (ulimit -n) or lower the setting"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!("cannot raise the open-file limit: {e}"),
    }
}

/// A connection whose writes fail once the client has taken nothing for
/// `limit`: a client that stops reading cannot hold an answer (and the
/// task serving it) open for ever. Waiting for something to write costs
/// nothing here; only a write the client does not take is timed.
struct Stalled<T> {
    inner: T,
    limit: Duration,
    blocked: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<T> Stalled<T> {
    fn new(inner: T, limit: Duration) -> Self {
        Stalled {
            inner,
            limit,
            blocked: None,
        }
    }

    /// `polled` as the write's outcome, timing it while it is pending.
    fn timed<R>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        if polled.is_ready() {
            self.blocked = None;
            return polled;
        }
        let limit = self.limit;
        let timer = self
            .blocked
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        if timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "the client took nothing of the answer for {} (settings.idle_timeout)",
                    crate::util::fmt_duration(limit)
                ),
            )));
        }
        Poll::Pending
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Stalled<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Stalled<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.timed(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.timed(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        self.timed(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_count_per_address_and_in_all() {
        let limits = EdgeLimits {
            max_connections: 3,
            max_connections_per_client: 2,
            ..EdgeLimits::default()
        };
        let counts = Arc::new(Mutex::new(Counts::default()));
        let (a, b): (IpAddr, IpAddr) = ([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
        let a1 = admit(&counts, &limits, a).unwrap();
        let _a2 = admit(&counts, &limits, a).unwrap();
        assert_eq!(admit(&counts, &limits, a).err(), Some(Refusal::Client(2)));
        let _b1 = admit(&counts, &limits, b).unwrap();
        assert_eq!(admit(&counts, &limits, b).err(), Some(Refusal::Total(3)));
        drop(a1);
        assert!(admit(&counts, &limits, a).is_ok());
        assert_eq!(counts.lock().total, 2, "a slot is given back when dropped");
    }
}
