//! One supervised connection per MCP server: start it, detect its protocol
//! era, list what it offers, and keep its state for status and errors.
//!
//! Transports are separate files: [`stdio`] (child processes), [`http`]
//! (streamable HTTP) and [`sse`] (the legacy HTTP+SSE transport, which rmcp
//! no longer ships). The protocol era is detected per server by rmcp's
//! `Auto` lifecycle: a `server/discover` probe for the stateless 2026-07-28
//! era, falling back to the `initialize` handshake (2024-11-05 … 2025-11-25).

mod builtin;
mod handler;
mod http;
pub mod relay;
mod sse;
pub mod stdio;

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use rmcp::model::ProtocolVersion;
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, RoleClient, RunningService};
use serde::Serialize;
use tokio::sync::mpsc;

pub use builtin::NAMES as BUILTINS;
use handler::Handler;
pub use handler::UpstreamEvent;
pub use stdio::StderrTail;

use crate::catalog::Listing;
use crate::config::{ServerConfig, Settings, Transport};

/// How many stderr lines an error report carries.
const REPORT_TAIL: usize = 8;

/// Why a server could not be started.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize)]
#[error("{reason}")]
pub struct StartError {
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
    Starting,
    Up,
    Failed {
        error: StartError,
    },
    /// Its connection ended after it was up.
    Down {
        reason: String,
    },
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
    /// The `subscriptions/listen` stream for list changes (2026-07-28).
    listener: std::sync::Mutex<Option<tokio::task::AbortHandle>>,
}

impl Connection {
    /// Ends the connection and, for a child process, its whole group.
    fn close(&self) {
        if let Some(l) = self
            .listener
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            l.abort();
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
    pub name: String,
    #[serde(flatten)]
    pub state: State,
    pub transport: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    pub tools: usize,
    pub resources: usize,
    pub templates: usize,
    pub prompts: usize,
    /// Start-up time: spawn or connect, handshake and listing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<u64>,
}

struct Inner {
    state: State,
    conn: Option<Arc<Connection>>,
    listing: Arc<Listing>,
    start_time: Option<Duration>,
    started_at: Option<SystemTime>,
}

/// One configured server and its connection, if any.
pub struct Upstream {
    pub config: ServerConfig,
    tail: StderrTail,
    inner: RwLock<Inner>,
}

impl Upstream {
    pub fn new(config: ServerConfig) -> Upstream {
        let state = if config.enabled {
            State::Starting
        } else {
            State::Disabled
        };
        Upstream {
            config,
            tail: StderrTail::default(),
            inner: RwLock::new(Inner {
                state,
                conn: None,
                listing: Arc::default(),
                start_time: None,
                started_at: None,
            }),
        }
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        // A panic while holding this lock cannot leave it inconsistent: every
        // writer replaces whole fields.
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
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
        self.write().state = State::Starting;
        let began = Instant::now();
        let attempt = tokio::time::timeout(settings.startup_timeout, self.connect(events)).await;
        let outcome = match attempt {
            Ok(Ok(done)) => Ok(done),
            Ok(Err(reason)) => Err(reason),
            Err(_) => Err(format!(
                "no answer to the handshake within {} (settings.startup_timeout)",
                crate::util::fmt_duration(settings.startup_timeout)
            )),
        };
        match outcome {
            Ok((conn, listing)) => {
                let mut inner = self.write();
                inner.state = State::Up;
                inner.conn = Some(Arc::new(conn));
                inner.listing = Arc::new(listing);
                inner.start_time = Some(began.elapsed());
                inner.started_at = Some(SystemTime::now());
                Ok(())
            }
            Err(reason) => {
                // Give a crashing process a moment to flush its last words.
                tokio::time::sleep(Duration::from_millis(30)).await;
                let error = StartError {
                    reason,
                    stderr_tail: self.tail.last(REPORT_TAIL),
                };
                self.write().state = State::Failed {
                    error: error.clone(),
                };
                Err(error)
            }
        }
    }

    async fn connect(
        &self,
        events: mpsc::UnboundedSender<UpstreamEvent>,
    ) -> Result<(Connection, Listing), String> {
        let auto = ClientLifecycleMode::Auto {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            legacy_version: None,
        };
        match self.connect_with(events.clone(), auto).await {
            // rmcp's era probe gives up after 10 s and falls back to the
            // handshake; a slow modern server then answers the probe late and
            // the handshake fails on the mismatched id. The late answer shows
            // the server is modern: connect again, asking for 2026-07-28.
            Err(e) if e.contains("conflict initialized response id") => {
                tracing::info!(server = %self.config.name, "slow era probe; reconnecting in 2026-07-28 mode");
                let modern = ClientLifecycleMode::Discover {
                    preferred_versions: vec![ProtocolVersion::V_2026_07_28],
                };
                self.connect_with(events, modern).await
            }
            other => other,
        }
    }

    async fn connect_with(
        &self,
        events: mpsc::UnboundedSender<UpstreamEvent>,
        lifecycle: ClientLifecycleMode,
    ) -> Result<(Connection, Listing), String> {
        let handler = Handler::new(&self.config.name, events.clone());
        let (service, pid) = match &self.config.transport {
            t @ Transport::Stdio { .. } => {
                let spawned = stdio::spawn(t, &self.tail).map_err(|e| e.to_string())?;
                let pid = spawned.pid;
                let service = handler
                    .serve_with_lifecycle(spawned.transport, lifecycle)
                    .await
                    .map_err(|e| {
                        if let Some(pid) = pid {
                            stdio::kill_group(pid);
                        }
                        handshake_error(&e.to_string())
                    })?;
                (service, pid)
            }
            Transport::Builtin { name } => {
                let pipe = builtin::start(name)?;
                let service = handler
                    .serve_with_lifecycle(pipe, ClientLifecycleMode::Initialize)
                    .await
                    .map_err(|e| handshake_error(&e.to_string()))?;
                (service, None)
            }
            Transport::Http {
                url,
                headers,
                legacy_sse: false,
            } => {
                let transport = http::transport(url, headers)?;
                let service = handler
                    .serve_with_lifecycle(transport, lifecycle)
                    .await
                    .map_err(|e| {
                        format!(
                            "cannot connect to {url}: {}",
                            handshake_error(&e.to_string())
                        )
                    })?;
                (service, None)
            }
            Transport::Http {
                url,
                headers,
                legacy_sse: true,
            } => {
                let transport = sse::connect(url, headers).await?;
                // The legacy SSE transport predates 2026-07-28.
                let service = handler
                    .serve_with_lifecycle(transport, ClientLifecycleMode::Initialize)
                    .await
                    .map_err(|e| {
                        format!(
                            "cannot connect to {url}: {}",
                            handshake_error(&e.to_string())
                        )
                    })?;
                (service, None)
            }
        };
        // weft keeps its own view of every list; rmcp's response cache would
        // answer from stale data when the server is gone, hiding the outage.
        service
            .set_response_cache_config(rmcp::ClientCacheConfig::disabled())
            .await;
        let info = service.peer_info();
        let protocol = info
            .as_ref()
            .map(|i| i.protocol_version.to_string())
            .unwrap_or_else(|| "unknown".into());
        let server = info.as_ref().and_then(|i| i.server_info.clone());
        let conn = Connection {
            protocol,
            server_name: server.as_ref().map(|s| s.name.clone()),
            server_version: server.as_ref().map(|s| s.version.clone()),
            pid,
            service,
            listener: Default::default(),
        };
        if conn.protocol.as_str() >= "2026-07-28" {
            listen_for_changes(&conn, &self.config.name, events.clone()).await;
        }
        let listing = list(&conn)
            .await
            .map_err(|e| format!("the server started but listing failed: {e}"))?;
        Ok((conn, listing))
    }

    /// Re-lists the server's tools, resources and prompts after a change.
    pub async fn refresh(&self) -> Result<(), String> {
        let Some(conn) = self.connection() else {
            return Err("the server is not up".into());
        };
        let listing = list(&conn).await?;
        self.write().listing = Arc::new(listing);
        Ok(())
    }

    /// Marks a connection that ended as down, so calls fail fast.
    pub fn mark_down(&self, reason: &str) {
        let mut inner = self.write();
        if inner.state == State::Up {
            inner.state = State::Down {
                reason: reason.to_string(),
            };
        }
    }

    /// Stops the server; its process group is killed.
    pub fn stop(&self) {
        let conn = {
            let mut inner = self.write();
            if inner.state == State::Up {
                inner.state = State::Down {
                    reason: "stopped".into(),
                };
            }
            inner.conn.take()
        };
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
        }
    }
}

/// Lists everything the server says it has, following every page.
async fn list(conn: &Connection) -> Result<Listing, String> {
    let caps = conn
        .service
        .peer_info()
        .map(|i| i.capabilities.clone())
        .unwrap_or_default();
    let peer = conn.service.peer();
    let mut listing = Listing::default();
    if caps.tools.is_some() {
        listing.tools = peer
            .list_all_tools()
            .await
            .map_err(|e| format!("tools/list: {e}"))?;
    }
    if caps.resources.is_some() {
        listing.resources = peer
            .list_all_resources()
            .await
            .map_err(|e| format!("resources/list: {e}"))?;
        // Templates are optional even for servers with resources.
        listing.templates = peer.list_all_resource_templates().await.unwrap_or_default();
    }
    if caps.prompts.is_some() {
        listing.prompts = peer
            .list_all_prompts()
            .await
            .map_err(|e| format!("prompts/list: {e}"))?;
    }
    Ok(listing)
}

/// Rewords rmcp's handshake errors for people.
fn handshake_error(raw: &str) -> String {
    let lower = raw.to_ascii_lowercase();
    if lower.contains("connection closed")
        || lower.contains("transport closed")
        || lower.contains("broken pipe")
    {
        format!("the server exited or closed its connection during the handshake ({raw})")
    } else {
        format!("handshake failed: {raw}")
    }
}

/// Opens a `subscriptions/listen` stream on a 2026-07-28 server for its
/// list changes (that era has no other way to hear them). A server that
/// does not offer the stream is fine: its lists are then what it listed.
async fn listen_for_changes(
    conn: &Connection,
    server: &str,
    events: mpsc::UnboundedSender<UpstreamEvent>,
) {
    use rmcp::model::{ServerNotification, SubscriptionFilter};
    let mut filter = SubscriptionFilter::new();
    filter.tools_list_changed = Some(true);
    filter.prompts_list_changed = Some(true);
    filter.resources_list_changed = Some(true);
    let opened = tokio::time::timeout(Duration::from_secs(5), conn.service.listen(filter)).await;
    let mut subscription = match opened {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::debug!(server, error = %e, "no list-change subscription");
            return;
        }
        Err(_) => {
            tracing::debug!(server, "no answer to subscriptions/listen");
            return;
        }
    };
    let server = server.to_string();
    let task = tokio::spawn(async move {
        while let Ok(Some(n)) = subscription.next().await {
            if matches!(
                n,
                ServerNotification::ToolListChangedNotification(_)
                    | ServerNotification::PromptListChangedNotification(_)
                    | ServerNotification::ResourceListChangedNotification(_)
            ) && events
                .send(UpstreamEvent::ListChanged {
                    server: server.clone(),
                })
                .is_err()
            {
                return;
            }
        }
    });
    *conn.listener.lock().unwrap_or_else(|p| p.into_inner()) = Some(task.abort_handle());
}
