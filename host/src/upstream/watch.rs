//! A transport wrapper that says when the connection ended: the server
//! exited, closed its pipe, or the stream broke. The supervisor waits on it
//! to restart the server at once instead of finding out on the next call.
//!
//! It also relays progress notifications and log messages to the agent's
//! call as they are read, in the order the server sent them. rmcp hands each notification
//! to a task of its own, so a notification sent just before the result
//! could otherwise reach the call after the result did (and a log line
//! then found the call gone and was dropped); read here,
//! it is in the call's channel before rmcp even sees the result.

use std::borrow::Cow;

use rmcp::RoleClient;
use rmcp::model::{JsonRpcMessage, ServerNotification};
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::{IntoTransport, Transport};
use tokio_util::sync::CancellationToken;

use super::relay::Relays;

/// Wraps any client transport; `closed` is cancelled when it ends.
pub struct Watched<T> {
    inner: T,
    closed: CancellationToken,
    relays: Relays,
}

/// Wraps `transport`, cancelling `closed` when its inbound side ends and
/// relaying progress to the calls registered in `relays`.
pub fn watched<T, E, A>(
    transport: T,
    closed: CancellationToken,
    relays: Relays,
) -> Watched<impl Transport<RoleClient, Error = E> + 'static>
where
    T: IntoTransport<RoleClient, E, A>,
    E: std::error::Error + Send + Sync + 'static,
{
    Watched {
        inner: transport.into_transport(),
        closed,
        relays,
    }
}

impl<T> Transport<RoleClient> for Watched<T>
where
    T: Transport<RoleClient> + 'static,
{
    type Error = T::Error;

    fn name() -> Cow<'static, str> {
        T::name()
    }

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleClient>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        self.inner.send(item)
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleClient>> {
        let message = self.inner.receive().await;
        match &message {
            None => self.closed.cancel(),
            Some(JsonRpcMessage::Notification(n)) => match &n.notification {
                ServerNotification::ProgressNotification(p) => {
                    self.relays.progress(
                        &p.params.progress_token,
                        p.params.progress,
                        p.params.total,
                        p.params.message.clone(),
                    );
                }
                ServerNotification::LoggingMessageNotification(l)
                    if !self.relays.log(&l.params) =>
                {
                    tracing::debug!("upstream log dropped: no call of a single tenant to take it");
                }
                _ => {}
            },
            Some(_) => {}
        }
        message
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.closed.cancel();
        self.inner.close().await
    }
}
