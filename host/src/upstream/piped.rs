//! The transport of a stdio server: rmcp's line transport over the server's
//! stdout and stdin, both passing through the server's [`Lane`], and the
//! child process itself, which lives as long as the transport.

use std::borrow::Cow;
use std::time::Duration;

use rmcp::RoleClient;
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use rmcp::transport::async_rw::AsyncRwTransport;
use tokio::process::{Child, ChildStdout};

use super::lane::{self, Lane, LaneReader, LaneWriter};

/// How long a closed server has to exit on its own before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// A stdio server's transport (see the module doc).
pub struct Piped {
    inner: AsyncRwTransport<RoleClient, LaneReader<ChildStdout>, LaneWriter>,
    /// Killed when dropped (`kill_on_drop`).
    child: Child,
}

impl Piped {
    /// The transport of `child`, whose stdin and stdout must be piped, and
    /// its lane; `None` if either pipe is missing.
    pub fn new(mut child: Child) -> Option<(Piped, Lane)> {
        let stdin = child.stdin.take()?;
        let stdout = child.stdout.take()?;
        let (lane, reader, writer) = lane::split(Box::new(stdin), stdout);
        let inner = AsyncRwTransport::new_client(reader, writer);
        Some((Piped { inner, child }, lane))
    }

    /// The child's process id, while it runs.
    pub fn id(&self) -> Option<u32> {
        self.child.id()
    }
}

impl Transport<RoleClient> for Piped {
    type Error = std::io::Error;

    fn name() -> Cow<'static, str> {
        "stdio".into()
    }

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleClient>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        self.inner.send(item)
    }

    fn receive(&mut self) -> impl Future<Output = Option<RxJsonRpcMessage<RoleClient>>> + Send {
        self.inner.receive()
    }

    /// Closes the server's stdin, gives it a moment to exit, then kills it.
    async fn close(&mut self) -> Result<(), Self::Error> {
        self.inner.close().await?;
        if tokio::time::timeout(EXIT_GRACE, self.child.wait())
            .await
            .is_err()
        {
            self.child.start_kill()?;
        }
        Ok(())
    }
}
