//! An agent's roots, for its tenant's servers that take them
//! (`forward_roots`): asked of the agent when its session starts, if it
//! declares roots, and again each time it says they changed; then kept
//! and announced to those servers by [`crate::Hub::set_roots`].

use std::time::Duration;

use rmcp::service::{Peer, RoleServer};

use crate::Hub;
use crate::tenant::Caller;

/// How long an agent has to answer `roots/list`.
const ASK: Duration = Duration::from_secs(10);

/// Asks the agent behind `peer` for its roots, in the background, when
/// it declares them and a server of its tenant takes them.
pub(in crate::serve) fn fetch(hub: Hub, peer: Peer<RoleServer>, caller: &Caller) {
    let Some(tenant) = caller.tenant.as_ref().map(|t| t.name.clone()) else {
        return;
    };
    if !hub.config().servers.iter().any(|s| s.forward_roots) {
        return;
    }
    #[allow(deprecated)] // roots: gone in 2026-07-28, still used before it
    let declares = peer
        .peer_info()
        .is_some_and(|info| info.capabilities.roots.is_some());
    if !declares {
        return;
    }
    tokio::spawn(async move {
        #[allow(deprecated)]
        match tokio::time::timeout(ASK, peer.list_roots()).await {
            Ok(Ok(answer)) => {
                let told = hub.set_roots(&tenant, answer.roots).await;
                tracing::debug!(%tenant, servers = told, "the agent's roots passed on");
            }
            Ok(Err(e)) => tracing::debug!(%tenant, error = %e, "the agent did not list its roots"),
            Err(_) => tracing::debug!(%tenant, "the agent did not list its roots in time"),
        }
    });
}
