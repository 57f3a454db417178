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

mod catalogs;
mod changes;
mod opening;
mod pinned;
mod roots;

use changes::{rebuild, watch_changes};

use parking_lot::RwLock;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use futures::future::join_all;
use rmcp::model::{CallToolResult, JsonObject};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::{TaskTracker, task_tracker::TaskTrackerToken};

use crate::audit::Audit;
use crate::cache::Cache;
use crate::catalog::Catalog;
use crate::config::Config;
use crate::error::{CallError, ErrorKind};
use crate::metrics::Metrics;
use crate::router::{self, CallRequest, Forwarded, Route};
use crate::status::{PolicyRuns, ServerReport, StatusReport};
use crate::tenant::{Caller, Tenants};
use crate::upstream::{ServerStatus, StartError, Upstream};

/// Start-up progress, for front ends that show it.
#[derive(Debug, Clone)]
pub enum StartEvent {
    /// `count` servers are being started.
    Starting {
        /// How many enabled servers are being started.
        count: usize,
    },
    /// One server finished starting, well or badly.
    Finished {
        /// The server's status once its start ended.
        status: Box<ServerStatus>,
        /// Why it failed to start; `None` when it started.
        error: Option<StartError>,
    },
}

pub use crate::catalog::Change;

/// The running set of upstream servers and their merged catalog.
#[derive(Clone)]
pub struct Hub {
    shared: Arc<Shared>,
}

struct Shared {
    /// Cancelled by `shutdown`, so supervisors and background work end.
    stop: CancellationToken,
    config: Config,
    cache: Cache,
    metrics: Metrics,
    runs: PolicyRuns,
    started: std::time::Instant,
    /// Calls and policy runs in progress, for a graceful shutdown.
    /// Calls and runs in progress; closed when the hub drains.
    busy: TaskTracker,
    upstreams: Vec<Arc<Upstream>>,
    catalogs: RwLock<Arc<catalogs::Catalogs>>,
    /// The version the next catalog build takes.
    builds: AtomicU64,
    changes: broadcast::Sender<Change>,
    tenants: Tenants,
    audit: Option<Audit>,
    /// The tools' pinned definitions (see `pins`).
    pins: Arc<crate::pins::Pins>,
    /// The journal of durable runs, once whoever runs the hub opened it
    /// (durable adapters' calls are journaled there).
    journal: std::sync::OnceLock<Arc<dyn crate::journal::Backend>>,
}

impl Hub {
    /// Starts every enabled server in parallel and builds the catalog. A
    /// server that fails is reported in [`Hub::status`] and does not stop
    /// the others; this never fails as a whole.
    pub async fn start(config: Config) -> Hub {
        Self::start_with(config, |_| {}).await
    }

    /// Like [`Hub::start`], but a server that fails or crashes stays down
    /// (no supervisor): for one-shot work that exits anyway.
    pub async fn start_unsupervised(config: Config) -> Hub {
        Self::start_with_options(config, false, &|_| {}).await
    }

    /// Like [`Hub::start`], calling `on_event` as servers finish starting.
    pub async fn start_with(config: Config, on_event: impl Fn(StartEvent) + Send + Sync) -> Hub {
        Self::start_with_options(config, true, &on_event).await
    }

    /// Like [`Hub::start_with`]; `supervise = false` leaves a server that
    /// fails or crashes down, for one-shot commands that exit anyway.
    pub async fn start_with_options(
        config: Config,
        supervise: bool,
        // A trait object, not a generic: the start-up machinery (every
        // transport's rmcp service) is then compiled once, in this crate,
        // rather than again in every binary that passes a closure.
        on_event: &(dyn Fn(StartEvent) + Send + Sync),
    ) -> Hub {
        let mut config = config;
        // `oci://` components are pulled (or found in the cache by their
        // locked digest) first, so the rest of weft sees files.
        if let Err(e) = crate::oci::materialize(&mut config, false).await {
            tracing::warn!("{e}");
        }
        crate::redact::install(&config.secret_values.0);
        crate::redact::install_owned(&config.secret_values.1);
        let audit = opening::audit(&config.settings).await;
        let pins = opening::pins(&config.settings).await;
        let tenants = Tenants::new(&config.tenants);
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        // The shared state is made first, so a component server can hold a
        // weak handle on the hub for its nested calls; the servers start
        // after.
        let shared = Arc::new_cyclic(|weak: &std::sync::Weak<Shared>| {
            let upstreams = make_upstreams(&config, weak);
            Shared {
                stop: CancellationToken::new(),
                config,
                cache: Cache::default(),
                metrics: Metrics::new(),
                runs: PolicyRuns::default(),
                started: std::time::Instant::now(),
                busy: TaskTracker::new(),
                upstreams,
                catalogs: RwLock::new(Arc::default()),
                builds: AtomicU64::new(1),
                changes: broadcast::channel(256).0,
                tenants,
                audit,
                pins,
                journal: std::sync::OnceLock::new(),
            }
        });
        let hub = Hub { shared };
        let upstreams = &hub.shared.upstreams;
        let enabled = upstreams.iter().filter(|u| u.config.enabled).count();
        on_event(StartEvent::Starting { count: enabled });
        let settings = &hub.shared.config.settings;
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
        hub.rebuild_catalog();
        if supervise {
            for up in hub.shared.upstreams.iter().filter(|u| u.config.enabled) {
                tokio::spawn(crate::upstream::supervise::supervise(
                    up.clone(),
                    hub.shared.config.settings.clone(),
                    events_tx.clone(),
                    hub.shared.stop.clone(),
                ));
            }
        }
        drop(events_tx);
        if supervise && hub.shared.pins.is_stored() {
            tokio::spawn(changes::watch_pins(
                Arc::downgrade(&hub.shared),
                opening::PINS_POLL,
            ));
        }
        tokio::spawn(watch_changes(Arc::downgrade(&hub.shared), events_rx));
        hub
    }

    /// Gives the hub the journal of durable runs, for the calls of
    /// component servers with `durable = true`; a second call changes
    /// nothing.
    pub fn set_journal(&self, backend: Arc<dyn crate::journal::Backend>) {
        let _ = self.shared.journal.set(backend);
    }

    /// The journal of durable runs, if one was given.
    pub fn journal(&self) -> Option<&Arc<dyn crate::journal::Backend>> {
        self.shared.journal.get()
    }

    /// Whether a component server of this hub's config is durable (and so
    /// wants [`Hub::set_journal`]).
    pub fn has_durable_adapters(&self) -> bool {
        self.shared
            .config
            .servers
            .iter()
            .any(|s| matches!(&s.transport, crate::config::Transport::Component(a) if a.durable))
    }

    /// The configuration the hub runs.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// The current catalog snapshot as the owner sees it (a server run
    /// once per tenant by its first instance). Cheap; hold it as long as
    /// you like.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.shared.catalogs.read().owner.clone()
    }

    /// The current catalog snapshot `caller` sees: a tenant's own
    /// instances of per-tenant servers, never another tenant's.
    pub fn catalog_for(&self, caller: &Caller) -> Arc<Catalog> {
        self.shared.catalogs.read().for_caller(caller).clone()
    }

    /// Every configured server's state, in config order.
    pub fn status(&self) -> Vec<ServerStatus> {
        self.shared.upstreams.iter().map(|u| u.status()).collect()
    }

    /// The whole picture for `weft status` and `GET /status`: servers with
    /// their breakers, the catalog, the cache and policy runs.
    pub fn report(&self) -> StatusReport {
        let catalog = self.catalog();
        let recent = self.shared.metrics.recent().servers();
        StatusReport {
            uptime_s: self.shared.started.elapsed().as_secs(),
            servers: self
                .shared
                .upstreams
                .iter()
                .map(|u| ServerReport {
                    status: u.status(),
                    breaker: u.breaker.status(),
                    latency: recent.get(u.name()).and_then(|s| {
                        Some(crate::status::Latency {
                            calls: s.calls,
                            p50_ms: s.p50_ms?,
                            p99_ms: s.p99_ms?,
                        })
                    }),
                })
                .collect(),
            tools: catalog.tools().len(),
            resources: catalog.resources().len(),
            prompts: catalog.prompts().len(),
            cache: self.shared.cache.stats(),
            policy_runs: self.shared.runs.snapshot(),
        }
    }

    /// The Prometheus (OpenMetrics) text for `GET /metrics`.
    pub fn metrics_text(&self) -> String {
        let servers: Vec<_> = self
            .shared
            .upstreams
            .iter()
            .map(|u| (u.status(), u.breaker.status()))
            .collect();
        let dropped = self.shared.audit.as_ref().map_or(0, Audit::dropped);
        let catalog = self.catalog();
        self.shared.metrics.render(
            &servers,
            catalog.flagged(),
            &self.shared.cache.stats(),
            dropped,
        )
    }

    /// Where calls and runs are counted.
    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// The response cache.
    pub fn cache(&self) -> &Cache {
        &self.shared.cache
    }

    /// Counts a finished policy run for status and metrics: how it ended,
    /// its summary (policy, duration, fuel, calls) and the limit that
    /// stopped it, if one did.
    pub(crate) fn record_run(
        &self,
        status: crate::status::RunStatus,
        summary: crate::recent::RunSummary,
        limit: Option<&str>,
    ) {
        self.shared.runs.record(&summary.policy, status);
        self.shared.metrics.policy_run(
            &summary.policy,
            status.as_str(),
            std::time::Duration::from_secs_f64(summary.duration_ms.max(0.0) / 1000.0),
            summary.fuel_used,
            limit,
        );
        self.shared.metrics.recent().run(summary);
    }

    fn route(&self) -> Route<'_> {
        Route {
            upstreams: &self.shared.upstreams,
            metrics: &self.shared.metrics,
            cache: &self.shared.cache,
            audit: self.shared.audit.as_ref(),
            approvals: &self.shared.config.settings.approval,
        }
    }

    /// The configured tenants and their keys.
    pub fn tenants(&self) -> &Tenants {
        &self.shared.tenants
    }

    /// Records a call refused before it reached the router (a policy's
    /// grants did not allow it).
    pub fn audit_denied(&self, caller: &Caller, server: &str, tool: &str) {
        if let Some(audit) = &self.shared.audit {
            audit.call(
                caller,
                server,
                tool,
                ErrorKind::Denied.as_str(),
                0.0,
                String::new(),
            );
        }
    }

    /// The audit log, if one is configured.
    pub fn audit(&self) -> Option<&Audit> {
        self.shared.audit.as_ref()
    }

    /// The upstream named `server` (for a server run once per tenant, its
    /// first instance; see [`Hub::upstream_for`]).
    pub fn upstream(&self, server: &str) -> Option<&Arc<Upstream>> {
        self.shared.upstreams.iter().find(|u| u.name() == server)
    }

    /// The instance of `server` that serves `caller`: the shared one, or
    /// the caller's tenant's own.
    pub fn upstream_for(&self, server: &str, caller: &Caller) -> Option<&Arc<Upstream>> {
        router::instance(&self.shared.upstreams, server, caller)
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
        self.call_tool_as(&Caller::owner(), server, tool, args)
            .await
    }

    /// [`Hub::call_tool`] for a caller: the tenant's view is checked, its
    /// rate applied, and the call audited under its name.
    pub async fn call_tool_as(
        &self,
        caller: &Caller,
        server: &str,
        tool: &str,
        args: Option<JsonObject>,
    ) -> Result<CallToolResult, CallError> {
        let req = self.request(caller, server, tool, args);
        let _busy = self.busy();
        router::call_complete(self.route(), &req).await
    }

    /// A call of `tool` on `server` (or `@domain`) by `caller`, against
    /// the catalog the caller sees now; run it with [`Hub::call`].
    pub fn request(
        &self,
        caller: &Caller,
        server: &str,
        tool: &str,
        args: Option<JsonObject>,
    ) -> CallRequest {
        CallRequest::new(caller.clone(), self.catalog_for(caller), server, tool, args)
    }

    /// Runs a call through the pipeline: the one way every caller's call
    /// reaches a server.
    pub async fn call(&self, req: &CallRequest) -> Result<Forwarded, CallError> {
        let _busy = self.busy();
        router::call(self.route(), req).await
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

    /// Calls a tool by the name agents see (`server__tool`).
    pub async fn call_exposed(
        &self,
        exposed: &str,
        args: Option<JsonObject>,
    ) -> Result<CallToolResult, CallError> {
        let catalog = self.catalog();
        let Some(req) = CallRequest::exposed(Caller::owner(), catalog.clone(), exposed, args)
        else {
            let hint =
                crate::util::closest(exposed, catalog.tools().iter().map(|t| t.exposed.as_str()))
                    .map(|c| format!("; did you mean {c:?}?"))
                    .unwrap_or_default();
            return Err(CallError::new(
                ErrorKind::NotFound,
                "",
                exposed,
                format!("no tool named {}{hint}", crate::error::quote(exposed)),
            ));
        };
        let _busy = self.busy();
        router::call_complete(self.route(), &req).await
    }

    fn rebuild_catalog(&self) {
        rebuild(&self.shared);
    }

    /// Marks work in progress until the guard is dropped; [`Hub::drain`]
    /// waits for it.
    pub fn busy(&self) -> BusyGuard {
        BusyGuard {
            _token: self.shared.busy.token(),
        }
    }

    /// Calls and policy runs in progress.
    pub fn in_flight(&self) -> usize {
        self.shared.busy.len()
    }

    /// Waits until no call or run is in progress, at most `deadline`;
    /// returns how many were still running.
    /// Work that starts meanwhile is waited for too.
    pub async fn drain(&self, deadline: std::time::Duration) -> usize {
        let busy = &self.shared.busy;
        busy.close();
        let _ = tokio::time::timeout(deadline, busy.wait()).await;
        busy.len()
    }

    /// Stops every server and reaps its processes.
    pub async fn shutdown(&self) {
        self.shared.stop.cancel();
        for up in &self.shared.upstreams {
            up.stop();
        }
        // Calls still in flight end as their servers go away (their
        // connections close); wait for that, briefly, so their callers get
        // an answer before weft exits.
        self.drain(SHUTDOWN_CALLS_END).await;
        if let Some(audit) = &self.shared.audit {
            audit.flush().await;
        }
        let pins = self.shared.pins.clone();
        let _ = tokio::task::spawn_blocking(move || pins.flush()).await;
    }

    /// Cancelled once [`Hub::shutdown`] has begun.
    pub fn stopping(&self) -> CancellationToken {
        self.shared.stop.clone()
    }
}

/// Every configured server's instances: a server run once per tenant has
/// one per tenant that can reach it, each with that tenant's secrets; a
/// component server is served by the sandbox; the rest are shared.
fn make_upstreams(config: &Config, hub: &std::sync::Weak<Shared>) -> Vec<Arc<Upstream>> {
    let mut sandbox = None;
    config
        .servers
        .iter()
        .flat_map(|s| -> Vec<Upstream> {
            if let crate::config::Transport::Component(adapter) = &s.transport {
                let sandbox = sandbox
                    .get_or_insert_with(crate::sandbox::Sandbox::shared)
                    .clone();
                let server = crate::adapter::ComponentServer::new(
                    &s.name,
                    adapter,
                    sandbox,
                    link(hub.clone()),
                );
                return vec![Upstream::with_component(s.clone(), Arc::new(server))];
            }
            if s.per_tenant {
                s.tenant_transports
                    .0
                    .iter()
                    .map(|(t, transport)| Upstream::for_tenant(s.clone(), t, transport.clone()))
                    .collect()
            } else {
                vec![Upstream::new(s.clone())]
            }
        })
        .map(Arc::new)
        .collect()
}

/// A hub that may be gone, as a component server holds it (so the hub's
/// servers do not keep the hub alive).
fn link(shared: std::sync::Weak<Shared>) -> crate::adapter::HubLink {
    Arc::new(move || {
        shared
            .upgrade()
            .map(|shared| Arc::new(Hub { shared }) as Arc<dyn crate::adapter::AdapterHost>)
    })
}

impl Hub {
    /// A handle on this hub that does not keep it alive.
    pub(crate) fn link(&self) -> crate::adapter::HubLink {
        link(Arc::downgrade(&self.shared))
    }
}

impl crate::adapter::AdapterHost for Hub {
    fn journal(&self) -> Option<Arc<dyn crate::journal::Backend>> {
        Hub::journal(self).cloned()
    }
}

/// How long [`Hub::shutdown`] waits for calls to end once their servers
/// are stopped.
const SHUTDOWN_CALLS_END: std::time::Duration = std::time::Duration::from_secs(1);

/// One call or run in progress; dropping it ends it.
pub struct BusyGuard {
    _token: TaskTrackerToken,
}

/// The audit log `settings` name, if any: the shared database's table when
/// `settings.state` is set, else the file. One that cannot be opened is
/// logged, and calls then go unrecorded.
/// A run's host calls reach the hub through this (see
/// [`crate::sandbox::ToolHost`]).
impl crate::sandbox::ToolHost for Hub {
    fn catalog_for(&self, caller: &Caller) -> Arc<Catalog> {
        Hub::catalog_for(self, caller)
    }

    fn config(&self) -> &Config {
        Hub::config(self)
    }

    fn audit_denied(&self, caller: &Caller, server: &str, tool: &str) {
        Hub::audit_denied(self, caller, server, tool)
    }

    fn call_tool_as<'a>(
        &'a self,
        caller: &'a Caller,
        server: &'a str,
        tool: &'a str,
        args: Option<JsonObject>,
    ) -> futures::future::BoxFuture<'a, Result<CallToolResult, CallError>> {
        Box::pin(Hub::call_tool_as(self, caller, server, tool, args))
    }
}
