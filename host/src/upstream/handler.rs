//! The client side of each upstream connection: what weft tells a server
//! about itself, and where that server's notifications go.

use rmcp::ClientHandler;
#[allow(deprecated)]
use rmcp::model::LoggingMessageNotificationParam;
use rmcp::model::{ClientConfig, Implementation};
use rmcp::service::{NotificationContext, RoleClient};
use tokio::sync::mpsc;

/// Something a server told weft without being asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamEvent {
    /// Its tools, resources or prompts changed: re-list them.
    ListChanged { server: String },
}

/// One per connection; knows its server's name.
#[derive(Clone)]
pub struct Handler {
    server: String,
    events: mpsc::UnboundedSender<UpstreamEvent>,
}

impl Handler {
    pub fn new(server: &str, events: mpsc::UnboundedSender<UpstreamEvent>) -> Self {
        Handler {
            server: server.to_string(),
            events,
        }
    }

    fn changed(&self) {
        // The hub may be shutting down; then nobody needs the event.
        let _ = self.events.send(UpstreamEvent::ListChanged {
            server: self.server.clone(),
        });
    }
}

impl ClientHandler for Handler {
    fn get_info(&self) -> ClientConfig {
        let mut info = ClientConfig::default();
        info.client_info = Implementation::new("weft", env!("CARGO_PKG_VERSION"));
        info
    }

    async fn on_tool_list_changed(&self, _ctx: NotificationContext<RoleClient>) {
        self.changed();
    }

    async fn on_resource_list_changed(&self, _ctx: NotificationContext<RoleClient>) {
        self.changed();
    }

    async fn on_prompt_list_changed(&self, _ctx: NotificationContext<RoleClient>) {
        self.changed();
    }

    // Logging is deprecated in 2026-07-28 but servers of earlier eras send it.
    #[allow(deprecated)]
    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _ctx: NotificationContext<RoleClient>,
    ) {
        tracing::debug!(server = %self.server, level = ?params.level, data = %params.data, "upstream log");
    }
}
