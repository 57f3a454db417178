//! The handshake-era session a dual-era HTTP server keeps beside its
//! 2026-07-28 connection, for the calls of handshake-era agents.
//!
//! A server that speaks both eras may not behave the same in both. The
//! conformance suite's own reference server (TypeScript SDK 1.29) answers
//! a 2026-07-28 request without a session, through an in-memory client
//! that cannot answer `sampling/createMessage` or `elicitation/create`;
//! its tools that ask for input with `extra.sendRequest` work only on a
//! handshake-era session, where the request rides the call's own stream.
//! weft connects to such a server in the 2026-07-28 era (its lists, its
//! `subscriptions/listen` and the input-required rounds of modern agents
//! go there), so a handshake-era agent calling such a tool through weft
//! got `-32601 Method not found` where, talking to the server directly,
//! it would have been asked.
//!
//! So a handshake-era agent's tool calls go to the server in the agent's
//! own era: over a handshake session opened on the first such call, with
//! weft's own streamable HTTP client and a handler that shares the
//! connection's relays (the server's requests reach the agent exactly as
//! they do from a handshake-era server). A server that refuses the
//! handshake (2026-07-28 only) is remembered as such, and those calls stay
//! on the 2026-07-28 connection, where weft drives the input rounds for
//! the agent. The session ends with its connection.

use std::sync::Arc;
use std::time::Duration;

use rmcp::service::{ClientLifecycleMode, ClientServiceExt, RoleClient, RunningService};
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

use super::handler::Handler;
use super::oauth::OAuth;
use super::tls::Loaded;
use super::{http, watch};

/// How long the side session's handshake may take before weft gives up on
/// it (and sends those calls over the 2026-07-28 connection).
const HANDSHAKE_WITHIN: Duration = Duration::from_secs(10);

/// A session of the handshake era.
pub type Session = RunningService<RoleClient, Handler>;

/// What opening the side session needs, and the session once opened.
pub struct HandshakeSide {
    server: String,
    url: String,
    headers: std::collections::BTreeMap<String, String>,
    tls: Loaded,
    oauth: Option<Arc<OAuth>>,
    /// The connection's handler: its relays, so the server's requests on
    /// this session reach the agent whose call it is.
    handler: Handler,
    /// Cancelled when the connection ends; ends this session too.
    closed: CancellationToken,
    /// `None` once the server has refused the handshake.
    session: OnceCell<Option<Session>>,
}

impl HandshakeSide {
    pub(super) fn new(
        server: &str,
        url: &str,
        headers: &std::collections::BTreeMap<String, String>,
        tls: Loaded,
        oauth: Option<Arc<OAuth>>,
        handler: Handler,
        closed: CancellationToken,
    ) -> HandshakeSide {
        HandshakeSide {
            server: server.to_string(),
            url: url.to_string(),
            headers: headers.clone(),
            tls,
            oauth,
            handler,
            closed,
            session: OnceCell::new(),
        }
    }

    /// The handshake session, opened on first use; `None` if the server
    /// speaks only the 2026-07-28 era (or its handshake failed: then the
    /// calls stay on the connection weft already has).
    pub async fn session(&self) -> Option<&Session> {
        self.session
            // Boxed: opened once per connection, and its future type would
            // otherwise sit inside every tool call's.
            .get_or_init(|| Box::pin(self.open()))
            .await
            .as_ref()
            .filter(|s| !s.is_closed())
    }

    async fn open(&self) -> Option<Session> {
        let transport =
            match http::lean_transport(&self.url, &self.headers, &self.tls, self.oauth.clone()) {
                Ok(t) => t,
                Err(e) => {
                    tracing::debug!(server = %self.server, error = %e, "no handshake session");
                    return None;
                }
            };
        let mut listening = transport.listening();
        let relays = self.handler.relays.clone();
        let serving = self.handler.clone().serve_with_lifecycle(
            watch::watched(transport, self.closed.child_token(), relays),
            ClientLifecycleMode::Initialize,
        );
        let session = match tokio::time::timeout(HANDSHAKE_WITHIN, serving).await {
            Ok(Ok(session)) => session,
            Ok(Err(e)) => {
                tracing::info!(
                    server = %self.server,
                    error = %e,
                    "the server refused a handshake-era session: handshake-era agents' calls go over its 2026-07-28 connection"
                );
                return None;
            }
            Err(_) => {
                tracing::info!(server = %self.server, "no answer to the handshake of a second session");
                return None;
            }
        };
        let era = session
            .peer_info()
            .map(|i| crate::era::Era::of(i.protocol_version.as_str()));
        if era.is_none_or(|e| e.is_stateless()) {
            let _ = session.cancel().await;
            return None;
        }
        session
            .set_response_cache_config(rmcp::ClientCacheConfig::disabled())
            .await;
        // The call that opened the session goes next: a server that asks
        // for input on its GET stream (the TypeScript SDK 2.x does, unless
        // told the request's id) must have that stream open by then.
        let _ = tokio::time::timeout(HANDSHAKE_WITHIN, listening.wait_for(|heard| *heard)).await;
        tracing::info!(server = %self.server, "opened a handshake-era session for handshake-era agents");
        Some(session)
    }

    /// Ends the session, if one was opened.
    pub(super) fn close(&self) {
        if let Some(Some(s)) = self.session.get() {
            s.cancellation_token().cancel();
        }
    }
}
