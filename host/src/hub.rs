//! The embeddable core: a [`Hub`] owns every upstream connection and the
//! merged catalog, and is what the CLI, `weft serve` and policies call.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let config = weft::Config::load("weft.toml".as_ref())?;
//! let hub = weft::Hub::start(config).await;
//! for tool in hub.catalog().tools() {
//!     println!("{} ({} on {})", tool.exposed, tool.name(), tool.server);
//! }
//! let args = serde_json::json!({"timezone": "UTC"});
//! let result = hub.call_tool("time", "get_current_time", args.as_object().cloned()).await?;
//! println!("{:?}", result.structured_content);
//! hub.shutdown().await;
//! # Ok(()) }
//! ```

use std::sync::{Arc, RwLock};

use futures::future::join_all;
use rmcp::model::{CallToolResult, JsonObject};
use tokio::sync::{broadcast, mpsc};

use crate::catalog::{Catalog, Source};
use crate::config::Config;
use crate::error::{CallError, ErrorKind};
use crate::router::{self, Forward, Forwarded};
use crate::upstream::{ServerStatus, StartError, State, Upstream, UpstreamEvent};

/// Start-up progress, for front ends that show it.
#[derive(Debug, Clone)]
pub enum StartEvent {
    /// `count` servers are being started.
    Starting { count: usize },
    /// One server finished starting, well or badly.
    Finished {
        status: Box<ServerStatus>,
        error: Option<StartError>,
    },
}

/// A change agents may want to hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The merged tool list changed.
    Tools,
    /// The merged resource or template list changed.
    Resources,
    /// The merged prompt list changed.
    Prompts,
    /// A resource changed; `uri` is the server's own URI.
    ResourceUpdated { server: String, uri: String },
}

/// The running set of upstream servers and their merged catalog.
#[derive(Clone)]
pub struct Hub {
    shared: Arc<Shared>,
}

struct Shared {
    /// Set by `shutdown`, so background work ends quietly.
    stopping: std::sync::atomic::AtomicBool,
    config: Config,
    upstreams: Vec<Arc<Upstream>>,
    catalog: RwLock<Arc<Catalog>>,
    changes: broadcast::Sender<Change>,
}

impl Hub {
    /// Starts every enabled server in parallel and builds the catalog. A
    /// server that fails is reported in [`Hub::status`] and does not stop
    /// the others; this never fails as a whole.
    pub async fn start(config: Config) -> Hub {
        Self::start_with(config, |_| {}).await
    }

    /// Like [`Hub::start`], calling `on_event` as servers finish starting.
    pub async fn start_with(config: Config, on_event: impl Fn(StartEvent) + Send + Sync) -> Hub {
        let upstreams: Vec<Arc<Upstream>> = config
            .servers
            .iter()
            .cloned()
            .map(|s| Arc::new(Upstream::new(s)))
            .collect();
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let enabled = upstreams.iter().filter(|u| u.config.enabled).count();
        on_event(StartEvent::Starting { count: enabled });
        let settings = &config.settings;
        let on_event = &on_event;
        join_all(upstreams.iter().filter(|u| u.config.enabled).map(|up| {
            let tx = events_tx.clone();
            async move {
                let result = up.start(settings, tx).await;
                on_event(StartEvent::Finished {
                    status: Box::new(up.status()),
                    error: result.err(),
                });
            }
        }))
        .await;
        let hub = Hub {
            shared: Arc::new(Shared {
                stopping: Default::default(),
                config,
                upstreams,
                catalog: RwLock::new(Arc::default()),
                changes: broadcast::channel(256).0,
            }),
        };
        hub.rebuild_catalog();
        tokio::spawn(watch_changes(Arc::downgrade(&hub.shared), events_rx));
        hub
    }

    /// The configuration the hub runs.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// The current catalog snapshot. Cheap; hold it as long as you like.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.shared
            .catalog
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Every configured server's state, in config order.
    pub fn status(&self) -> Vec<ServerStatus> {
        self.shared.upstreams.iter().map(|u| u.status()).collect()
    }

    /// The upstream named `server`.
    pub fn upstream(&self, server: &str) -> Option<&Arc<Upstream>> {
        self.shared.upstreams.iter().find(|u| u.name() == server)
    }

    /// Calls `tool` on `server` (the upstream's own tool name). A result
    /// with `isError: true` comes back as a [`CallError`] of kind
    /// `tool-error` that carries the whole result.
    pub async fn call_tool(
        &self,
        server: &str,
        tool: &str,
        args: Option<JsonObject>,
    ) -> Result<CallToolResult, CallError> {
        let catalog = self.catalog();
        router::call_tool(&self.shared.upstreams, &catalog, server, tool, args).await
    }

    /// Changes to the catalog and to resources, as they happen.
    pub fn changes(&self) -> broadcast::Receiver<Change> {
        self.shared.changes.subscribe()
    }

    /// Tells every listener about a change (used by `weft serve` for
    /// resource updates it hears on its own subscriptions).
    pub fn announce(&self, change: Change) {
        let _ = self.shared.changes.send(change);
    }

    /// Every configured upstream, in config order.
    pub fn upstreams(&self) -> &[Arc<Upstream>] {
        &self.shared.upstreams
    }

    /// An agent's call: like [`Hub::call_tool`], with progress, logs and
    /// the upstream's requests relayed through `forward`.
    pub async fn call_tool_forwarded(
        &self,
        server: &str,
        tool: &str,
        args: Option<JsonObject>,
        forward: &Forward,
    ) -> Result<Forwarded, CallError> {
        let catalog = self.catalog();
        router::call_tool_forwarded(
            &self.shared.upstreams,
            &catalog,
            server,
            tool,
            args,
            Some(forward),
        )
        .await
    }

    /// Calls a tool by the name agents see (`server__tool`).
    pub async fn call_exposed(
        &self,
        exposed: &str,
        args: Option<JsonObject>,
    ) -> Result<CallToolResult, CallError> {
        let catalog = self.catalog();
        let Some(entry) = catalog.tool_by_exposed(exposed) else {
            let hint =
                crate::util::closest(exposed, catalog.tools().iter().map(|t| t.exposed.as_str()))
                    .map(|c| format!("; did you mean {c:?}?"))
                    .unwrap_or_default();
            return Err(CallError::new(
                ErrorKind::NotFound,
                "",
                exposed,
                format!("no tool named {exposed:?}{hint}"),
            ));
        };
        let (server, tool) = (entry.server.clone(), entry.name().to_string());
        router::call_tool(&self.shared.upstreams, &catalog, &server, &tool, args).await
    }

    fn rebuild_catalog(&self) {
        rebuild(&self.shared);
    }

    /// Stops every server and reaps its processes.
    pub async fn shutdown(&self) {
        self.shared
            .stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        for up in &self.shared.upstreams {
            up.stop();
        }
    }
}

fn rebuild(shared: &Shared) {
    let listings: Vec<_> = shared
        .upstreams
        .iter()
        .filter(|u| u.connection().is_some())
        .map(|u| (u, u.listing()))
        .collect();
    let sources: Vec<Source<'_>> = listings
        .iter()
        .map(|(u, l)| Source {
            config: &u.config,
            listing: l,
        })
        .collect();
    let catalog = Arc::new(Catalog::build(&shared.config.settings, &sources));
    for c in catalog.collisions() {
        tracing::warn!(kind = c.kind, name = %c.name, winner = %c.winner, hidden = ?c.hidden, "name collision resolved by priority");
    }
    let old = std::mem::replace(
        &mut *shared.catalog.write().unwrap_or_else(|p| p.into_inner()),
        catalog.clone(),
    );
    for change in old.changes_to(&catalog) {
        // Nobody listening is fine.
        let _ = shared.changes.send(change);
    }
}

/// Re-lists a server whose lists changed and swaps in a new catalog.
async fn watch_changes(
    shared: std::sync::Weak<Shared>,
    mut events: mpsc::UnboundedReceiver<UpstreamEvent>,
) {
    while let Some(event) = events.recv().await {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        match event {
            UpstreamEvent::ResourceUpdated { server, uri } => {
                let _ = shared.changes.send(Change::ResourceUpdated { server, uri });
            }
            UpstreamEvent::ListChanged { server } => {
                let Some(up) = shared
                    .upstreams
                    .iter()
                    .find(|u| u.name() == server)
                    .cloned()
                else {
                    continue;
                };
                // A change announced during start-up (servers often add tools
                // right after the handshake) may postdate the first listing:
                // re-list once the server is up.
                let shared = shared.clone();
                tokio::spawn(async move {
                    let mut waited = 0;
                    while up.state() == State::Starting && waited < 600 {
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        waited += 1;
                    }
                    if up.state() != State::Up {
                        return;
                    }
                    match up.refresh().await {
                        Ok(()) => rebuild(&shared),
                        // Shutting down: the connection is gone on purpose.
                        Err(_) if shared.stopping.load(std::sync::atomic::Ordering::SeqCst) => {}
                        Err(e) => {
                            tracing::warn!(server = %server, error = %e, "cannot re-list after a change")
                        }
                    }
                });
            }
        }
    }
}
