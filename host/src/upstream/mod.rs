//! One supervised connection per MCP server: start it, detect its protocol
//! era, list what it offers, and keep its state for status and errors.
//!
//! Transports are separate files: [`stdio`] (child processes), [`http`]
//! (streamable HTTP: weft's own client in `streamable` and `answer` for
//! handshake-era servers, rmcp's for 2026-07-28 ones) and [`sse`] (the legacy HTTP+SSE transport, which rmcp
//! no longer ships). The protocol era is detected per server by rmcp's
//! `Auto` lifecycle: a `server/discover` probe for the stateless 2026-07-28
//! era, falling back to the `initialize` handshake (2024-11-05 … 2025-11-25).

mod answer;
pub mod builtin;
mod call_result;
pub mod component;
pub mod confine;
mod connect;
mod handler;
mod handshake_side;
pub(crate) mod http;
pub(crate) mod lane;
mod not_found;
pub mod oauth;
mod piped;
pub mod relay;
pub mod sse;
mod stale;
pub mod stdio;
mod streamable;
pub mod supervise;
pub(crate) mod tls;
mod watch;

use parking_lot::RwLock;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rmcp::service::{RoleClient, RunningService};
use serde::Serialize;
use tokio::sync::{mpsc, watch as notify};
use tokio_util::sync::CancellationToken;

use connect::ConnectError;
pub use connect::ListError;
use handler::Handler;
pub use handler::UpstreamEvent;
pub use handshake_side::Session as HandshakeSession;
pub use stdio::StderrTail;

use crate::catalog::Listing;
use crate::config::{ServerConfig, Settings, Transport};

/// How many stderr lines an error report carries.
const REPORT_TAIL: usize = 8;

/// Why a server could not be started.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize)]
#[error("{reason}")]
pub struct StartError {
    /// What went wrong, as a message.
    pub reason: String,
    /// The last lines the server wrote to stderr, oldest first.
    pub stderr_tail: Vec<String>,
}

/// Where a server is in its life.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum State {
    /// Not started: `enabled = false`.
    Disabled,
    /// Being spawned or connected to, greeted and listed.
    Starting,
    /// Connected and listed: calls go through.
    Up,
    /// It failed to start or its connection ended; the supervisor tries
    /// again at `retry_at_ms` (milliseconds since the Unix epoch).
    BackingOff {
        /// Why the last start failed or the connection ended.
        reason: String,
        /// The last lines the server wrote to stderr, oldest first.
        stderr_tail: Vec<String>,
        /// Failed starts or quick crashes in a row, this one included.
        attempt: u32,
        /// When the next start is due, in milliseconds since the Unix epoch.
        retry_at_ms: u64,
    },
    /// It could not be started, and nothing will try again.
    Failed {
        /// Why, with the server's last stderr lines.
        error: StartError,
    },
    /// Its connection ended after it was up, or weft stopped it.
    Down {
        /// Why it went down (`stopped` when weft stopped it).
        reason: String,
    },
}

impl State {
    /// The state's name as status shows it.
    pub fn name(&self) -> &'static str {
        match self {
            State::Disabled => "disabled",
            State::Starting => "starting",
            State::Up => "up",
            State::BackingOff { .. } => "backing-off",
            State::Failed { .. } => "failed",
            State::Down { .. } => "down",
        }
    }
}

/// A live connection.
pub struct Connection {
    pub service: RunningService<RoleClient, Handler>,
    /// The negotiated protocol version, like `2025-11-25` or `2026-07-28`.
    pub protocol: String,
    pub server_name: Option<String>,
    pub server_version: Option<String>,
    /// The child's process id (its process group id too), for stdio servers.
    pub pid: Option<u32>,
    /// A built-in server's tool calls, made in this process without rmcp.
    pub direct: Option<std::sync::Arc<dyn builtin::InProcess>>,
    /// A stdio server's lane for tool calls, once the handshake era is
    /// agreed (see [`lane`]).
    pub lane: Option<lane::Lane>,
    /// For a 2026-07-28 HTTP server: the handshake-era session its
    /// handshake-era agents' calls go over, if it speaks that era too
    /// (see [`handshake_side`]).
    pub handshake_side: Option<handshake_side::HandshakeSide>,
    /// The `subscriptions/listen` stream for list changes (2026-07-28).
    listener: parking_lot::Mutex<Option<tokio::task::AbortHandle>>,
    /// Cancelled when the connection ends, for whatever reason.
    pub closed: CancellationToken,
    /// A stdio server's sandbox folder and cgroup, removed after it.
    _confined: Option<confine::Confined>,
}

impl Connection {
    /// The protocol era the connection speaks.
    pub fn era(&self) -> crate::era::Era {
        crate::era::Era::of(&self.protocol)
    }

    /// Ends the connection and, for a child process, its whole group.
    fn close(&self) {
        if let Some(l) = self.listener.lock().take() {
            l.abort();
        }
        self.closed.cancel();
        if let Some(side) = &self.handshake_side {
            side.close();
        }
        self.service.cancellation_token().cancel();
        if let Some(pid) = self.pid {
            stdio::kill_group(pid);
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.close();
    }
}

/// A snapshot of one server for status and `check`.
#[derive(Debug, Clone, Serialize)]
pub struct ServerStatus {
    /// The server's name in the config.
    pub name: String,
    /// The tenant of a per-tenant instance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Where the server is in its life.
    #[serde(flatten)]
    pub state: State,
    /// How weft reaches it: `stdio`, `http`, `sse`, `builtin` or `component`.
    pub transport: &'static str,
    /// The negotiated protocol version, while connected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// The name the server gave in its handshake, while connected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// The version the server gave in its handshake, while connected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_version: Option<String>,
    /// The child's process id, for a connected stdio server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// How many tools its last listing had.
    pub tools: usize,
    /// How many resources its last listing had.
    pub resources: usize,
    /// How many resource templates its last listing had.
    pub templates: usize,
    /// How many prompts its last listing had.
    pub prompts: usize,
    /// Start-up time: spawn or connect, handshake and listing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_ms: Option<u64>,
    /// When it last came up, in seconds since the Unix epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<u64>,
    /// Times the supervisor brought it back after a crash or a lost
    /// connection.
    pub restarts: u32,
    /// The last failure: a start, a lost connection or a failed call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<LastError>,
    /// A stdio server's OS sandbox: `on (files, …)` with any layer the
    /// kernel lacks, or `off (why)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
    /// An `oci://` component server's reference, digest, source and
    /// signature state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    /// What a component server warned of when it loaded (an operation
    /// `builtin:openapi` skipped, and why).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// A component's own report (`builtin:openapi`: its operations, the
    /// ones it skipped and the security schemes weft adds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

/// The most recent thing that went wrong with a server.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LastError {
    pub message: String,
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
}

struct Inner {
    state: State,
    conn: Option<Arc<Connection>>,
    listing: Arc<Listing>,
    start_time: Option<Duration>,
    started_at: Option<SystemTime>,
    /// It has been up at least once, so its last listing is meaningful.
    listed: bool,
    restarts: u32,
    last_error: Option<LastError>,
}

/// One configured server and its connection, if any.
pub struct Upstream {
    pub config: ServerConfig,
    /// The tenant this instance serves, for a server run once per tenant;
    /// `None` for a shared server.
    pub tenant: Option<String>,
    /// `name`, or `name[tenant]` for a per-tenant instance: what events,
    /// the cache and metrics know the instance by.
    key: String,
    tail: StderrTail,
    inner: RwLock<Inner>,
    /// Bumped on every state change, for callers waiting for a server.
    generation: notify::Sender<u64>,
    /// Fails calls fast after repeated failures the server is to blame
    /// for: it is down, or (for callers without a tenant) it timed out.
    pub breaker: crate::breaker::Breaker,
    /// Each tenant's own breaker for timeouts: a tenant whose calls keep
    /// timing out (slow operations it asked for) is cut off alone. Keyed
    /// by the config's tenant names, so bounded by the config.
    tenant_breakers: parking_lot::Mutex<HashMap<String, Arc<crate::breaker::Breaker>>>,
    /// A component server's host side (see [`component`]).
    component: Option<Arc<dyn component::Component>>,
    /// The OAuth state of a server that wants tokens; it outlives each
    /// connection.
    pub oauth: Option<Arc<oauth::OAuth>>,
    /// The tenant's agents' roots, for a tenant's instance of a server
    /// with `forward_roots`; they outlive each connection.
    pub roots: Option<Arc<handler::Roots>>,
}

impl Upstream {
    /// The timeout breaker of `tenant` on this server (see
    /// `tenant_breakers`).
    pub fn tenant_breaker(&self, tenant: &str) -> Arc<crate::breaker::Breaker> {
        self.tenant_breakers
            .lock()
            .entry(tenant.to_string())
            .or_insert_with(|| {
                Arc::new(crate::breaker::Breaker::new(
                    self.config.resilience.breaker.clone(),
                ))
            })
            .clone()
    }

    pub fn new(config: ServerConfig) -> Upstream {
        Self::instance(config, None)
    }

    /// A component server, served by `component`.
    pub fn with_component(
        config: ServerConfig,
        component: Arc<dyn component::Component>,
    ) -> Upstream {
        Upstream {
            component: Some(component),
            ..Self::instance(config, None)
        }
    }

    /// One tenant's instance of a server run once per tenant: the config
    /// with that tenant's transport (its own secrets).
    pub fn for_tenant(mut config: ServerConfig, tenant: &str, transport: Transport) -> Upstream {
        config.transport = transport;
        config.tenant_transports = Default::default();
        Self::instance(config, Some(tenant.to_string()))
    }

    fn instance(config: ServerConfig, tenant: Option<String>) -> Upstream {
        let key = match &tenant {
            Some(t) => format!("{}[{t}]", config.name),
            None => config.name.clone(),
        };
        let state = if config.enabled {
            State::Starting
        } else {
            State::Disabled
        };
        let oauth = match &config.transport {
            Transport::Http {
                url,
                oauth: Some(o),
                tls,
                ..
            } => Some(Arc::new(
                oauth::OAuth::new(&config.name, tenant.clone(), url, (**o).clone())
                    .with_tls((**tls).clone()),
            )),
            _ => None,
        };
        let roots = (config.forward_roots && tenant.is_some()).then(Arc::default);
        Upstream {
            oauth,
            roots,
            breaker: crate::breaker::Breaker::new(config.resilience.breaker.clone()),
            tenant_breakers: parking_lot::Mutex::default(),
            component: None,
            config,
            tenant,
            key,
            tail: StderrTail::default(),
            inner: RwLock::new(Inner {
                state,
                conn: None,
                listing: Arc::default(),
                start_time: None,
                started_at: None,
                listed: false,
                restarts: 0,
                last_error: None,
            }),
            generation: notify::channel(0).0,
        }
    }

    /// Sets the state and wakes everyone waiting for a change.
    fn set_state(&self, state: State) {
        self.write().state = state;
        self.generation.send_modify(|g| *g += 1);
    }

    /// Waits until the server is up, at most `within`; true if it is.
    pub async fn wait_up(&self, within: Duration) -> bool {
        let mut changes = self.generation.subscribe();
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match self.state() {
                State::Up => return true,
                State::Starting | State::BackingOff { .. } => {}
                _ => return false,
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                _ => return self.state() == State::Up,
            }
        }
    }

    /// Records a failure for status.
    pub fn note_error(&self, message: &str) {
        self.write().last_error = Some(LastError {
            message: message.to_string(),
            at_ms: crate::util::unix_ms(SystemTime::now()),
        });
    }

    /// Whether its tools belong in the catalog: it has been up, and it is
    /// up or being brought back (agents keep its tools through a restart;
    /// calls meanwhile fail with `unavailable`).
    pub fn in_catalog(&self) -> bool {
        let inner = self.read();
        inner.listed
            && matches!(
                inner.state,
                State::Up | State::Starting | State::BackingOff { .. }
            )
    }

    /// The token cancelled when the current connection ends.
    pub fn closed_token(&self) -> Option<CancellationToken> {
        self.read().conn.as_ref().map(|c| c.closed.clone())
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Whether it is a Wasm component run in weft's sandbox.
    pub fn is_component(&self) -> bool {
        matches!(self.config.transport, Transport::Component(_))
    }

    /// `name`, or `name[tenant]` for a per-tenant instance.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Whether this instance serves calls for `tenant` (`None`: the owner
    /// or a weft without tenants): a shared server serves everyone, a
    /// per-tenant instance only its tenant.
    pub fn serves(&self, tenant: Option<&str>) -> bool {
        match &self.tenant {
            None => true,
            Some(t) => tenant == Some(t.as_str()),
        }
    }

    fn read(&self) -> parking_lot::RwLockReadGuard<'_, Inner> {
        // A panic while holding this lock cannot leave it inconsistent: every
        // writer replaces whole fields.
        self.inner.read()
    }

    fn write(&self) -> parking_lot::RwLockWriteGuard<'_, Inner> {
        self.inner.write()
    }

    /// The live connection, if the server is up.
    pub fn connection(&self) -> Option<Arc<Connection>> {
        let inner = self.read();
        match inner.state {
            State::Up => inner.conn.clone(),
            _ => None,
        }
    }

    pub fn state(&self) -> State {
        self.read().state.clone()
    }

    pub fn listing(&self) -> Arc<Listing> {
        self.read().listing.clone()
    }

    /// The last lines of the server's stderr.
    pub fn stderr_tail(&self, n: usize) -> Vec<String> {
        self.tail.last(n)
    }

    /// Starts the server and lists what it offers, within the start-up
    /// timeout. Never panics and never leaves a process behind on failure.
    pub async fn start(
        &self,
        settings: &Settings,
        events: mpsc::UnboundedSender<UpstreamEvent>,
    ) -> Result<(), StartError> {
        if !self.config.enabled {
            return Ok(());
        }
        self.set_state(State::Starting);
        let began = Instant::now();
        let attempt = tokio::time::timeout(settings.startup_timeout, self.connect(events)).await;
        let outcome = match attempt {
            Ok(done) => done,
            Err(_) => Err(ConnectError::Timeout(settings.startup_timeout)),
        };
        match outcome {
            Ok((conn, listing)) => {
                {
                    let mut inner = self.write();
                    inner.conn = Some(Arc::new(conn));
                    inner.listing = Arc::new(listing);
                    inner.start_time = Some(began.elapsed());
                    inner.started_at = Some(SystemTime::now());
                    inner.listed = true;
                }
                self.set_state(State::Up);
                Ok(())
            }
            Err(e) => {
                // Give a crashing process a moment to flush its last words.
                tokio::time::sleep(Duration::from_millis(30)).await;
                let error = StartError {
                    reason: e.to_string(),
                    stderr_tail: self.tail.last(REPORT_TAIL),
                };
                self.note_error(&error.reason);
                self.set_state(State::Failed {
                    error: error.clone(),
                });
                Err(error)
            }
        }
    }

    /// Re-lists the server's tools, resources and prompts after a change.
    pub async fn refresh(&self) -> Result<(), ListError> {
        let Some(conn) = self.connection() else {
            return Err(ListError::NotUp);
        };
        let listing = connect::list(&conn).await?;
        self.write().listing = Arc::new(listing);
        Ok(())
    }

    /// Marks a connection that failed under a call as down, so calls fail
    /// fast and the supervisor reconnects.
    pub fn mark_down(&self, reason: &str) {
        let conn = {
            let inner = self.read();
            if inner.state != State::Up {
                return;
            }
            inner.conn.clone()
        };
        self.set_state(State::Down {
            reason: reason.to_string(),
        });
        if let Some(conn) = conn {
            conn.closed.cancel();
        }
    }

    /// Drops a connection that ended, killing what is left of its process
    /// group, and says why it ended.
    pub(crate) fn lost(&self) -> String {
        let (conn, reason) = {
            let mut inner = self.write();
            let reason = match &inner.state {
                State::Down { reason } => reason.clone(),
                _ => "the server exited or closed its connection".to_string(),
            };
            (inner.conn.take(), reason)
        };
        if let Some(conn) = conn {
            conn.close();
        }
        self.note_error(&reason);
        reason
    }

    /// Records that the supervisor will try again at `at`.
    pub(crate) fn backing_off(&self, reason: &str, attempt: u32, at: SystemTime) {
        self.set_state(State::BackingOff {
            reason: reason.to_string(),
            stderr_tail: self.tail.last(REPORT_TAIL),
            attempt,
            retry_at_ms: crate::util::unix_ms(at),
        });
    }

    /// Records that the supervisor gave up.
    pub(crate) fn give_up(&self, reason: String) {
        self.set_state(State::Failed {
            error: StartError {
                reason,
                stderr_tail: self.tail.last(REPORT_TAIL),
            },
        });
    }

    /// Counts a successful restart.
    pub(crate) fn count_restart(&self) {
        self.write().restarts += 1;
    }

    /// Stops the server; its process group is killed.
    pub fn stop(&self) {
        let conn = {
            let mut inner = self.write();
            if inner.state != State::Disabled {
                inner.state = State::Down {
                    reason: "stopped".into(),
                };
            }
            inner.conn.take()
        };
        self.generation.send_modify(|g| *g += 1);
        if let Some(conn) = conn {
            conn.close();
        }
    }

    /// A snapshot for status output.
    pub fn status(&self) -> ServerStatus {
        let inner = self.read();
        let conn = inner.conn.as_ref();
        ServerStatus {
            name: self.config.name.clone(),
            tenant: self.tenant.clone(),
            state: inner.state.clone(),
            transport: match &self.config.transport {
                Transport::Stdio { .. } => "stdio",
                Transport::Http {
                    legacy_sse: false, ..
                } => "http",
                Transport::Http {
                    legacy_sse: true, ..
                } => "sse",
                Transport::Builtin { .. } => "builtin",
                Transport::Component(_) => "component",
            },
            protocol: conn.map(|c| c.protocol.clone()),
            server_name: conn.and_then(|c| c.server_name.clone()),
            server_version: conn.and_then(|c| c.server_version.clone()),
            pid: conn.and_then(|c| c.pid),
            tools: inner.listing.tools.len(),
            resources: inner.listing.resources.len(),
            templates: inner.listing.templates.len(),
            prompts: inner.listing.prompts.len(),
            start_ms: inner.start_time.map(|d| d.as_millis() as u64),
            started_at: inner
                .started_at
                .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                .map(|d| d.as_secs()),
            restarts: inner.restarts,
            last_error: inner.last_error.clone(),
            sandbox: match &self.config.transport {
                Transport::Stdio { sandbox, .. } => Some(confine::plan(sandbox).summary()),
                _ => None,
            },
            component: match &self.config.transport {
                Transport::Component(a) => a.oci.as_ref().map(|o| o.describe()),
                _ => None,
            },
            warnings: self
                .component
                .as_ref()
                .map(|c| c.warnings())
                .unwrap_or_default(),
            detail: self.component.as_ref().and_then(|c| c.detail()),
        }
    }
}
