//! The client side of each upstream connection: what weft tells a server
//! about itself, and where that server's notifications and requests go.
//!
//! Progress, log messages and server-to-client requests (sampling,
//! elicitation, roots) go back to the agent whose call caused them, through
//! the connection's [`Relays`]. weft declares sampling and elicitation so
//! servers offer the tools that need them; an agent that cannot answer gets
//! a clear error in its place. It declares roots only to a server run
//! once per tenant with `forward_roots` (see [`Roots`]): a shared process
//! would take whichever agent's roots it heard last, and a server such as
//! server-filesystem replaces its configured directories with them.

use rmcp::ClientHandler;
#[allow(deprecated)]
use rmcp::model::{
    ClientCapabilities, ClientConfig, CreateMessageRequest, CreateMessageRequestParams,
    CreateMessageResult, ElicitRequest, ElicitRequestParams, ElicitResult, ElicitationCapability,
    ErrorData, FormElicitationCapability, Implementation, InputRequest, ListRootsRequest,
    ListRootsResult, LoggingMessageNotificationParam, ProgressNotificationParam, ProtocolVersion,
    ResourceUpdatedNotificationParam, UrlElicitationCapability,
};
use rmcp::service::{NotificationContext, RequestContext, RoleClient};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;

use super::relay::Relays;

/// How much of an upstream log line weft's own debug log shows.
const LOGGED_DATA: usize = 200;

/// Something a server told weft without being asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamEvent {
    /// Its tools, resources or prompts changed: re-list them.
    ListChanged { server: String },
    /// A resource it serves changed (`uri` is the server's own URI).
    ResourceUpdated { server: String, uri: String },
    /// Its connection ended; the supervisor is bringing it back.
    Lost { server: String },
    /// The supervisor brought it back, with fresh lists.
    Restarted { server: String },
    /// The supervisor gave up on it.
    GaveUp { server: String },
}

/// The roots one tenant's agents declared, for that tenant's instance of
/// a server with `forward_roots`: what weft answers the server's
/// `roots/list` with. Replaced whenever an agent of the tenant connects
/// declaring roots or says they changed.
#[derive(Debug, Default)]
#[allow(deprecated)] // roots: gone in 2026-07-28, still what handshake-era servers use
pub struct Roots(parking_lot::Mutex<Vec<rmcp::model::Root>>);

/// The most roots kept, and the longest URI or name of one (what an agent
/// sends is hostile).
pub const MAX_ROOTS: usize = 256;
const MAX_ROOT_TEXT: usize = 4096;

#[allow(deprecated)]
impl Roots {
    /// Keeps `roots` (capped); true when they differ from those kept.
    pub fn set(&self, roots: Vec<rmcp::model::Root>) -> bool {
        let roots: Vec<rmcp::model::Root> = roots
            .into_iter()
            .filter(|r| r.uri.len() <= MAX_ROOT_TEXT)
            .take(MAX_ROOTS)
            .map(|mut r| {
                if let Some(name) = &mut r.name {
                    crate::util::truncate(name, MAX_ROOT_TEXT);
                }
                r.meta = None;
                r
            })
            .collect();
        let mut kept = self.0.lock();
        if *kept == roots {
            return false;
        }
        *kept = roots;
        true
    }

    pub fn get(&self) -> Vec<rmcp::model::Root> {
        self.0.lock().clone()
    }
}

/// One per connection; knows its server's name.
#[derive(Clone)]
pub struct Handler {
    server: String,
    events: mpsc::UnboundedSender<UpstreamEvent>,
    pub(crate) relays: Relays,
    /// The tenant's roots, for a server that takes them.
    roots: Option<std::sync::Arc<Roots>>,
}

impl Handler {
    pub fn new(server: &str, events: mpsc::UnboundedSender<UpstreamEvent>) -> Self {
        Handler {
            server: server.to_string(),
            events,
            relays: Relays::default(),
            roots: None,
        }
    }

    /// The same, answering the server's `roots/list` with `roots`.
    pub fn with_roots(mut self, roots: Option<std::sync::Arc<Roots>>) -> Self {
        self.roots = roots;
        self
    }

    fn changed(&self) {
        // The hub may be shutting down; then nobody needs the event.
        let _ = self.events.send(UpstreamEvent::ListChanged {
            server: self.server.clone(),
        });
    }

    /// Asks the agent and reads its answer as `T`.
    async fn ask<T: DeserializeOwned>(&self, request: InputRequest) -> Result<T, ErrorData> {
        let value = self.relays.ask(&self.server, request).await?;
        serde_json::from_value(value).map_err(|e| {
            ErrorData::internal_error(format!("the agent's answer is malformed: {e}"), None)
        })
    }
}

impl ClientHandler for Handler {
    fn get_info(&self) -> ClientConfig {
        let mut info = ClientConfig::default();
        info.client_info = Implementation::new("weft", env!("CARGO_PKG_VERSION"));
        // Asked for only by an `initialize`, which 2026-07-28 does not
        // have: the newest era that does (the era probe names 2026-07-28
        // on its own).
        info.protocol_version = ProtocolVersion::LATEST_WITH_INITIALIZE;
        // weft answers these for the agent (see `relay`).
        #[allow(deprecated)] // sampling: still what handshake-era servers use
        let caps = ClientCapabilities::builder()
            .enable_sampling()
            .enable_elicitation_with(
                ElicitationCapability::new()
                    .with_form(FormElicitationCapability::default())
                    .with_url(UrlElicitationCapability::new()),
            )
            .build();
        info.capabilities = caps;
        #[allow(deprecated)]
        if self.roots.is_some() {
            let mut roots = rmcp::model::RootsCapabilities::default();
            roots.list_changed = Some(true);
            info.capabilities.roots = Some(roots);
        }
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

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _ctx: NotificationContext<RoleClient>,
    ) {
        let _ = self.events.send(UpstreamEvent::ResourceUpdated {
            server: self.server.clone(),
            uri: params.uri,
        });
    }

    async fn on_progress(
        &self,
        _params: ProgressNotificationParam,
        _ctx: NotificationContext<RoleClient>,
    ) {
        // Relayed in order as the message is read (see `watch`), not here:
        // rmcp runs this on a task of its own, which may run after the
        // result has already reached the call.
    }

    // Logging is deprecated in 2026-07-28 but servers of earlier eras send it.
    #[allow(deprecated)]
    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _ctx: NotificationContext<RoleClient>,
    ) {
        // The line may hold anything the call handled: log a bounded prefix.
        let mut data = params.data.to_string();
        crate::util::truncate(&mut data, LOGGED_DATA);
        // Relayed in order as the message is read (see `watch`), as
        // progress is.
        tracing::debug!(server = %self.server, level = ?params.level, %data, "upstream log");
    }

    #[allow(deprecated)]
    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        _ctx: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        self.ask(InputRequest::CreateMessage(CreateMessageRequest::new(
            params,
        )))
        .await
    }

    async fn create_elicitation(
        &self,
        params: ElicitRequestParams,
        _ctx: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        self.ask(InputRequest::Elicitation(ElicitRequest::new(params)))
            .await
    }

    #[allow(deprecated)]
    async fn list_roots(
        &self,
        _ctx: RequestContext<RoleClient>,
    ) -> Result<ListRootsResult, ErrorData> {
        if let Some(roots) = &self.roots {
            return Ok(ListRootsResult::new(roots.get()));
        }
        self.ask(InputRequest::ListRoots(ListRootsRequest::default()))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weft_declares_sampling_and_both_elicitation_modes_to_servers() {
        let (events, _rx) = tokio::sync::mpsc::unbounded_channel();
        let info = Handler::new("s", events).get_info();
        let caps = serde_json::to_value(&info.capabilities).unwrap_or_default();
        assert_eq!(
            caps,
            serde_json::json!({"sampling": {}, "elicitation": {"form": {}, "url": {}}})
        );
    }
}
