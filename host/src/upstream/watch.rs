//! A transport wrapper that says when the connection ended: the server
//! exited, closed its pipe, or the stream broke. The supervisor waits on it
//! to restart the server at once instead of finding out on the next call.

use std::borrow::Cow;

use rmcp::RoleClient;
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::{IntoTransport, Transport};
use tokio_util::sync::CancellationToken;

/// Wraps any client transport; `closed` is cancelled when it ends.
pub struct Watched<T> {
    inner: T,
    closed: CancellationToken,
}

/// Wraps `transport`, cancelling `closed` when its inbound side ends.
pub fn watched<T, E, A>(
    transport: T,
    closed: CancellationToken,
) -> Watched<impl Transport<RoleClient, Error = E> + 'static>
where
    T: IntoTransport<RoleClient, E, A>,
    E: std::error::Error + Send + Sync + 'static,
{
    Watched {
        inner: transport.into_transport(),
        closed,
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
        if message.is_none() {
            self.closed.cancel();
        }
        message
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.closed.cancel();
        self.inner.close().await
    }
}
