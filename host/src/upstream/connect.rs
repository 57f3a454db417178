//! Connecting to one server: its transport, the era detection (a
//! `server/discover` probe, falling back to the handshake), the first
//! listing, and the `subscriptions/listen` stream of a 2026-07-28 server.

use std::time::Duration;

use rmcp::model::ProtocolVersion;
use rmcp::service::{ClientInitializeError, ClientLifecycleMode, ClientServiceExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::handler::Handler;
use super::handshake_side::HandshakeSide;
use super::{Connection, Upstream, UpstreamEvent, builtin, component, http, sse, stdio, watch};
use crate::catalog::Listing;
use crate::config::{Transport, UpstreamEra};
use crate::phrases::{Phrase, says};

impl Upstream {
    /// Connects in whichever era the server speaks, and lists what it has.
    pub(super) async fn connect(
        &self,
        events: mpsc::UnboundedSender<UpstreamEvent>,
    ) -> Result<(Connection, Listing), ConnectError> {
        match self.config.era {
            UpstreamEra::Auto => {}
            UpstreamEra::Handshake => {
                return self
                    .connect_with(events, ClientLifecycleMode::Initialize)
                    .await;
            }
            UpstreamEra::Stateless => {
                let modern = ClientLifecycleMode::Discover {
                    preferred_versions: vec![ProtocolVersion::V_2026_07_28],
                };
                return self.connect_with(events, modern).await;
            }
        }
        let auto = ClientLifecycleMode::Auto {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            legacy_version: None,
        };
        match self.connect_with(events.clone(), auto).await {
            // rmcp's era probe gives up after 10 s and falls back to the
            // handshake; a slow modern server then answers the probe late and
            // the handshake fails on the mismatched id. The late answer shows
            // the server is modern: connect again, asking for 2026-07-28.
            Err(ConnectError::LateModernAnswer { .. }) => {
                tracing::info!(server = %self.config.name, "slow era probe; reconnecting in 2026-07-28 mode");
                let modern = ClientLifecycleMode::Discover {
                    preferred_versions: vec![ProtocolVersion::V_2026_07_28],
                };
                self.connect_with(events, modern).await
            }
            // A 2026-07-28 server found by weft's own client, which
            // serves only the handshake era.
            Err(ConnectError::Stateless) => {
                let modern = ClientLifecycleMode::Discover {
                    preferred_versions: vec![ProtocolVersion::V_2026_07_28],
                };
                self.connect_with(events, modern).await
            }
            // A slow handshake-era server refuses the probe late, and the
            // refusal arrives where the handshake's answer was expected:
            // connect again with the handshake alone.
            Err(ConnectError::LateProbeRefusal { .. }) => {
                tracing::info!(server = %self.config.name, "slow era probe refused; reconnecting with the handshake");
                self.connect_with(events, ClientLifecycleMode::Initialize)
                    .await
            }
            // A handshake-era server that answers any method with an empty
            // result answered the probe so: it is not a 2026-07-28 server.
            Err(ConnectError::ProbeNotUnderstood { .. }) => {
                tracing::info!(server = %self.config.name, "the era probe got no discovery; reconnecting with the handshake");
                self.connect_with(events, ClientLifecycleMode::Initialize)
                    .await
            }
            other => other,
        }
    }

    async fn connect_with(
        &self,
        events: mpsc::UnboundedSender<UpstreamEvent>,
        lifecycle: ClientLifecycleMode,
    ) -> Result<(Connection, Listing), ConnectError> {
        let handler = Handler::new(&self.key, events.clone()).with_roots(self.roots.clone());
        let relays = handler.relays.clone();
        let closed = CancellationToken::new();
        let mut direct = None;
        let mut lane = None;
        let mut handshake_side = None;
        let mut confined = None;
        let (service, pid) = match &self.config.transport {
            t @ Transport::Stdio { .. } => {
                let spawned = stdio::spawn(t, &self.tail).map_err(ConnectError::Spawn)?;
                let pid = spawned.pid;
                lane = Some(spawned.lane);
                confined = spawned.confined;
                let service = handler
                    .serve_with_lifecycle(
                        watch::watched(spawned.transport, closed.clone(), relays.clone()),
                        lifecycle,
                    )
                    .await
                    .map_err(|e| {
                        if let Some(pid) = pid {
                            stdio::kill_group(pid);
                        }
                        handshake_error(e, None)
                    })?;
                (service, pid)
            }
            Transport::Builtin { .. } | Transport::Component(_) => {
                let (pipe, in_process) = self.in_process().await?;
                direct = Some(in_process);
                let service = handler
                    .serve_with_lifecycle(
                        watch::watched(pipe, closed.clone(), relays.clone()),
                        ClientLifecycleMode::Initialize,
                    )
                    .await
                    .map_err(|e| handshake_error(e, None))?;
                (service, None)
            }
            // A server already known to be of the 2026-07-28 era: rmcp's
            // transport, which sends that era's headers.
            Transport::Http {
                url,
                headers,
                legacy_sse: false,
                tls,
                ..
            } if matches!(lifecycle, ClientLifecycleMode::Discover { .. }) => {
                let tls = super::tls::load(tls).await?;
                let transport = http::transport(url, headers, &tls, self.oauth.clone())?;
                handshake_side = Some(HandshakeSide::new(
                    &self.key,
                    url,
                    headers,
                    tls,
                    self.oauth.clone(),
                    handler.clone(),
                    closed.clone(),
                ));
                let service = handler
                    .serve_with_lifecycle(
                        watch::watched(transport, closed.clone(), relays.clone()),
                        lifecycle,
                    )
                    .await
                    .map_err(|e| handshake_error(e, Some(url)))?;
                (service, None)
            }
            // Otherwise weft's own client; a server that turns out to be
            // of the 2026-07-28 era is connected to again with rmcp's.
            Transport::Http {
                url,
                headers,
                legacy_sse: false,
                tls,
                ..
            } => {
                let transport = http::lean_transport(
                    url,
                    headers,
                    &super::tls::load(tls).await?,
                    self.oauth.clone(),
                )?;
                let modern = transport.modern_flag();
                let service = handler
                    .serve_with_lifecycle(
                        watch::watched(transport, closed.clone(), relays.clone()),
                        lifecycle,
                    )
                    .await
                    .map_err(|e| {
                        // A server that refused the probe's version while
                        // naming 2026-07-28: asked again in that era.
                        if modern.load(std::sync::atomic::Ordering::Relaxed) {
                            return ConnectError::Stateless;
                        }
                        handshake_error(e, Some(url))
                    })?;
                let modern = service.peer_info().is_some_and(|i| {
                    crate::era::Era::of(i.protocol_version.as_str()).is_stateless()
                });
                if modern {
                    let _ = service.cancel().await;
                    return Err(ConnectError::Stateless);
                }
                (service, None)
            }
            Transport::Http {
                url,
                headers,
                legacy_sse: true,
                tls,
                ..
            } => {
                let transport = sse::connect(
                    url,
                    headers,
                    &super::tls::load(tls).await?,
                    self.oauth.clone(),
                )
                .await?;
                // The legacy SSE transport predates 2026-07-28.
                let service = handler
                    .serve_with_lifecycle(
                        watch::watched(transport, closed.clone(), relays.clone()),
                        ClientLifecycleMode::Initialize,
                    )
                    .await
                    .map_err(|e| handshake_error(e, Some(url)))?;
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
        // That era's requests carry metadata rmcp adds and the lane does not.
        let lane = lane.filter(|_| !crate::era::Era::of(&protocol).is_stateless());
        let conn = Connection {
            protocol,
            server_name: server.as_ref().map(|s| s.name.clone()),
            server_version: server.as_ref().map(|s| s.version.clone()),
            pid,
            service,
            direct,
            lane,
            handshake_side,
            listener: Default::default(),
            closed,
            _confined: confined,
        };
        if conn.era().is_stateless() {
            listen_for_changes(&conn, &self.key, events.clone()).await;
        }
        let listing = list(&conn).await.map_err(ConnectError::List)?;
        Ok((conn, listing))
    }
}

impl Upstream {
    /// A server that runs in this process: a built-in, or a component
    /// (loaded and listed here). Its channels for listing, and its direct
    /// call path.
    async fn in_process(
        &self,
    ) -> Result<(builtin::Pipe, std::sync::Arc<dyn builtin::InProcess>), ConnectError> {
        if let Transport::Builtin { name } = &self.config.transport {
            return Ok(builtin::start(name)?);
        }
        let component = self.component.clone().ok_or_else(|| {
            ConnectError::Component("weft has no sandbox for components here".into())
        })?;
        let tools = component
            .load()
            .await
            .map_err(|e| ConnectError::Component(e.to_string()))?;
        let listed = component::Listed {
            tools: std::sync::Arc::new(tools),
            label: component.label(),
        };
        let pipe = builtin::serve_in_process(listed, "component");
        Ok((pipe, component))
    }
}

/// Lists everything the server says it has, following every page.
pub(super) async fn list(conn: &Connection) -> Result<Listing, ListError> {
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
            .map_err(|source| ListError::Request {
                method: "tools/list",
                source,
            })?;
    }
    if caps.resources.is_some() {
        listing.resources =
            peer.list_all_resources()
                .await
                .map_err(|source| ListError::Request {
                    method: "resources/list",
                    source,
                })?;
        // Templates are optional even for servers with resources.
        listing.templates = peer.list_all_resource_templates().await.unwrap_or_default();
    }
    if caps.prompts.is_some() {
        listing.prompts = peer
            .list_all_prompts()
            .await
            .map_err(|source| ListError::Request {
                method: "prompts/list",
                source,
            })?;
    }
    Ok(listing)
}

/// Why a connection could not be made. `url` is the remote server's,
/// named in the message as where weft was connecting. The era probe's two
/// late answers are told apart by rmcp's own error variants, so
/// [`Upstream::connect`] can retry in the era they show.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    /// A slow 2026-07-28 server answered the era probe after rmcp fell
    /// back to the handshake.
    #[error("{}handshake failed: {source}", at(.url))]
    LateModernAnswer {
        url: Option<String>,
        source: ClientInitializeError,
    },
    /// An HTTP server answered the era probe as a 2026-07-28 server:
    /// connect again with the transport for that era.
    #[error("the server speaks the 2026-07-28 era")]
    Stateless,
    /// A server answered the era probe with a result that is not a
    /// discovery (a handshake-era server that answers any method it does
    /// not know with an empty result).
    #[error("{}handshake failed: {source}", at(.url))]
    ProbeNotUnderstood {
        url: Option<String>,
        source: ClientInitializeError,
    },
    /// A slow handshake-era server refused the era probe late.
    #[error("{}handshake failed: {source}", at(.url))]
    LateProbeRefusal {
        url: Option<String>,
        source: ClientInitializeError,
    },
    #[error(
        "{}the server exited or closed its connection during the handshake ({source})",
        at(.url)
    )]
    Closed {
        url: Option<String>,
        source: ClientInitializeError,
    },
    #[error("{}handshake failed: {source}", at(.url))]
    Handshake {
        url: Option<String>,
        source: ClientInitializeError,
    },
    /// The stdio server's process could not be started.
    #[error(transparent)]
    Spawn(std::io::Error),
    #[error(transparent)]
    Builtin(#[from] builtin::NoBuiltin),
    /// A component could not be loaded or did not list its tools.
    #[error("{0}")]
    Component(String),
    #[error(transparent)]
    Http(#[from] http::ClientError),
    #[error("TLS settings: {0}")]
    Tls(#[from] super::tls::TlsError),
    /// The server wants OAuth, and weft has no token it takes (the text
    /// says which command fixes it).
    #[error(transparent)]
    Auth(super::oauth::OAuthError),
    #[error(transparent)]
    Sse(#[from] sse::SseError),
    #[error("the server started but listing failed: {0}")]
    List(ListError),
    /// No handshake within `settings.startup_timeout`.
    #[error(
        "no answer to the handshake within {} (settings.startup_timeout)",
        crate::util::fmt_duration(*.0)
    )]
    Timeout(Duration),
}

/// Where weft was connecting, as the start of a message.
fn at(url: &Option<String>) -> String {
    url.as_ref()
        .map(|u| format!("cannot connect to {u}: "))
        .unwrap_or_default()
}

/// Why a server's lists could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("the server is not up")]
    NotUp,
    /// `method` (`tools/list`, …) failed.
    #[error("{method}: {source}")]
    Request {
        method: &'static str,
        source: rmcp::ServiceError,
    },
}

/// rmcp's handshake error, kinded; `url` says where weft was connecting.
fn handshake_error(source: ClientInitializeError, url: Option<&str>) -> ConnectError {
    let url = url.map(str::to_owned);
    if let Some(auth) = oauth_cause(&source) {
        return ConnectError::Auth(auth);
    }
    match source {
        ClientInitializeError::ConflictInitResponseId(..) => {
            ConnectError::LateModernAnswer { url, source }
        }
        ClientInitializeError::UncorrelatedErrorResponse { .. } => {
            ConnectError::LateProbeRefusal { url, source }
        }
        ClientInitializeError::ExpectedInitResult(Some(_)) => {
            ConnectError::ProbeNotUnderstood { url, source }
        }
        ClientInitializeError::ConnectionClosed(_) => ConnectError::Closed { url, source },
        // A transport error says it only in words (an I/O error's text).
        _ if says(&source.to_string(), Phrase::Closed) => ConnectError::Closed { url, source },
        _ => ConnectError::Handshake { url, source },
    }
}

/// The OAuth failure behind a failed handshake, if that is what it was.
fn oauth_cause(error: &ClientInitializeError) -> Option<super::oauth::OAuthError> {
    let ClientInitializeError::TransportError { error, .. } = error else {
        return None;
    };
    match error.error.downcast_ref::<super::answer::HttpError>() {
        Some(super::answer::HttpError::Auth(e)) => Some(e.clone()),
        _ => None,
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
    *conn.listener.lock() = Some(task.abort_handle());
}
