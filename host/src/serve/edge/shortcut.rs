//! The MCP requests the edge answers itself, before rmcp's service: a
//! plain `tools/list` from the catalog's serialised lists
//! ([`crate::serve::view::listing`]), and a plain `tools/call` in the
//! connection's own task, stateless ([`crate::serve::calls::direct`]) or
//! in a session this replica holds, from an agent that can be asked
//! nothing ([`crate::serve::calls::session_call`]). A session's
//! `notifications/cancelled` is seen here too, so that it reaches such a
//! call; rmcp gets it as well. Anything else goes on to rmcp.
//!
//! The guard ([`super::admit`]) has already authenticated the request,
//! checked that a session it names is its tenant's, charged the tenant's
//! rate and read the body.

use std::sync::Arc;

use axum::response::Response;

use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;

use crate::serve::Gateway;
use crate::serve::calls::{direct, session_call};
use crate::serve::view::listing;
use crate::tenant::Caller;

/// A request the edge answers itself. (Its one value lives on one
/// request's stack and is moved once: boxing the large variant would cost
/// each call an allocation for nothing.)
#[allow(clippy::large_enum_variant)]
pub(super) enum Own {
    /// A `tools/list`, already answered.
    Listed(Response),
    /// A plain stateless `tools/call`.
    Stateless(Caller, direct::PlainCall),
    /// A plain `tools/call` in a session.
    Session(Caller, session_call::SessionCall, session_call::Taken),
}

/// What the edge answers itself of this POST of `method` with `bytes`
/// (`plain`: the body already read as a plain stateless call), if
/// anything; `None` leaves it to rmcp.
pub(super) async fn take(
    gw: &Arc<Gateway>,
    sessions: &LocalSessionManager,
    parts: &http::request::Parts,
    bytes: &[u8],
    method: Option<&str>,
    plain: Option<direct::PlainCall>,
) -> Option<Own> {
    let caller = || caller_of(parts, gw.hub.tenants());
    match method? {
        "tools/list" => {
            let found = listing::cacheable_request(&parts.headers, bytes)?;
            if !held_here(sessions, found.session.as_deref()).await {
                return None;
            }
            listing::answer(gw, &caller(), found).map(Own::Listed)
        }
        "tools/call" => {
            if let Some(call) = plain {
                return direct::takes(gw, &call).then(|| Own::Stateless(caller(), call));
            }
            let call = session_call::plain_call(&parts.headers, bytes)?;
            if !held_here(sessions, Some(call.session())).await {
                return None;
            }
            let taken = session_call::takes(gw, &call)?;
            Some(Own::Session(caller(), call, taken))
        }
        "notifications/cancelled" => {
            if let Some(session) = parts
                .headers
                .get("mcp-session-id")
                .and_then(|v| v.to_str().ok())
            {
                session_call::cancelled(gw, session, bytes);
            }
            None
        }
        _ => None,
    }
}

impl Own {
    /// The answer, counted by the path that gave it.
    pub(super) async fn answer(self, gw: &Arc<Gateway>) -> Response {
        let metrics = gw.hub.metrics();
        match self {
            Own::Listed(response) => {
                metrics.mcp_post("listed");
                response
            }
            Own::Stateless(caller, call) => {
                metrics.mcp_post("direct");
                direct::answer(gw, &caller, call).await
            }
            Own::Session(caller, call, taken) => {
                metrics.mcp_post("direct");
                session_call::answer(gw, &caller, call, taken).await
            }
        }
    }
}

/// Whether `session` (if any) is one rmcp holds on this replica: one it
/// does not is left to rmcp, to restore from the shared store or to end
/// with 404.
async fn held_here(sessions: &LocalSessionManager, session: Option<&str>) -> bool {
    use rmcp::transport::streamable_http_server::session::SessionManager;
    match session {
        None => true,
        Some(id) => sessions
            .has_session(&id.to_string().into())
            .await
            .unwrap_or(false),
    }
}

/// The request's caller, as the guard found it; without one, the owner
/// (a weft without tenants) or nobody.
pub(super) fn caller_of(parts: &http::request::Parts, tenants: &crate::tenant::Tenants) -> Caller {
    parts
        .extensions
        .get::<Caller>()
        .cloned()
        .unwrap_or_else(|| {
            if tenants.is_empty() {
                Caller::owner()
            } else {
                Caller::nobody()
            }
        })
}
