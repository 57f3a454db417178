//! Change notifications toward agents: `list_changed` for tools, resources
//! and prompts, and `resources/updated` for subscribed URIs.
//!
//! A handshake-era session gets a watcher task from its `initialized`
//! notification until its transport closes. A 2026-07-28 client opens a
//! `subscriptions/listen` stream instead, served until it cancels.

use parking_lot::Mutex;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{ErrorData, ResourceUpdatedNotificationParam};
use rmcp::service::{Peer, RoleServer, SubscriptionContext};
use tokio::sync::broadcast::error::RecvError;

use crate::Hub;
use crate::hub::Change;
use crate::serve::Gateway;
use crate::tenant::Caller;

/// The URIs (as the agent sees them) one session subscribed to.
pub type Subscriptions = Arc<Mutex<HashSet<String>>>;

/// Whether an update from an instance of `tenant` (`None`: a shared
/// server) may reach `caller`: a per-tenant instance's only its tenant.
fn hears(caller: &Caller, tenant: Option<&str>) -> bool {
    tenant.is_none_or(|t| caller.tenant.as_ref().is_some_and(|c| c.name == t))
}

/// Forwards hub changes to one handshake-era session of `caller` until it
/// goes away. An HTTP session's resource updates are handed to the other
/// replicas too (see [`super::peers`]), and its peer leaves when it ends.
pub async fn watch_session(
    gw: Arc<Gateway>,
    peer: Peer<RoleServer>,
    subscriptions: Subscriptions,
    caller: Caller,
    session: Option<String>,
) {
    watch(&gw, &peer, &subscriptions, &caller, session.as_deref()).await;
    if let Some(id) = &session {
        gw.peers.leave(id);
    }
}

async fn watch(
    gw: &Gateway,
    peer: &Peer<RoleServer>,
    subscriptions: &Subscriptions,
    caller: &Caller,
    session: Option<&str>,
) {
    let hub = &gw.hub;
    let mut changes = hub.changes();
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    loop {
        let change = tokio::select! {
            c = changes.recv() => c,
            _ = tick.tick() => {
                if peer.is_transport_closed() {
                    return;
                }
                continue;
            }
        };
        let sent = match change {
            Ok(Change::Tools) => peer.notify_tool_list_changed().await,
            Ok(Change::Resources) => peer.notify_resource_list_changed().await,
            Ok(Change::Prompts) => peer.notify_prompt_list_changed().await,
            Ok(Change::ResourceUpdated {
                server,
                uri,
                tenant,
            }) => {
                if !hears(caller, tenant.as_deref()) {
                    continue;
                }
                let exposed = hub.catalog().expose_uri(&server, &uri);
                let wanted = subscriptions.lock().contains(&exposed);
                if !wanted {
                    continue;
                }
                if let Some(id) = session {
                    gw.peers.publish(id, &exposed);
                }
                peer.notify_resource_updated(ResourceUpdatedNotificationParam::new(exposed))
                    .await
            }
            // Missed some: say everything may have changed.
            Err(RecvError::Lagged(_)) => {
                let _ = peer.notify_tool_list_changed().await;
                let _ = peer.notify_resource_list_changed().await;
                peer.notify_prompt_list_changed().await
            }
            Err(RecvError::Closed) => return,
        };
        if sent.is_err() {
            return;
        }
    }
}

/// Serves one `subscriptions/listen` stream (2026-07-28) with updates of
/// the URIs in `subscribed` (those whose subscription succeeded); updates
/// of resources outside `caller`'s view, or from another tenant's
/// instance, are never sent.
pub async fn listen(
    hub: Hub,
    ctx: SubscriptionContext,
    caller: &Caller,
    subscribed: &[String],
) -> Result<(), ErrorData> {
    let mut changes = hub.changes();
    let catalog = hub.catalog_for(caller);
    let wanted_uris: HashSet<String> = subscribed
        .iter()
        .filter(|u| {
            catalog.resolve_uri(u).is_some_and(|(server, _)| {
                crate::authz::allowed(caller, &crate::authz::Resource::Server(&server))
            })
        })
        .cloned()
        .collect();
    drop(catalog);
    loop {
        let change = tokio::select! {
            _ = ctx.cancelled() => return Ok(()),
            c = changes.recv() => c,
        };
        let sink = ctx.sink();
        let sent = match change {
            Ok(Change::Tools) => sink.notify_tool_list_changed().await,
            Ok(Change::Resources) => sink.notify_resource_list_changed().await,
            Ok(Change::Prompts) => sink.notify_prompt_list_changed().await,
            Ok(Change::ResourceUpdated {
                server,
                uri,
                tenant,
            }) => {
                if !hears(caller, tenant.as_deref()) {
                    continue;
                }
                let exposed = hub.catalog().expose_uri(&server, &uri);
                if !wanted_uris.contains(&exposed) {
                    continue;
                }
                sink.notify_resource_updated(exposed).await
            }
            Err(RecvError::Lagged(_)) => {
                let _ = sink.notify_tool_list_changed().await;
                let _ = sink.notify_resource_list_changed().await;
                sink.notify_prompt_list_changed().await
            }
            Err(RecvError::Closed) => return Ok(()),
        };
        if sent.is_err() {
            // The filter may not include this category, or the stream ended.
            if ctx.request_context().ct.is_cancelled() {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_per_tenant_instances_update_reaches_only_its_tenant() {
        let tenant = |name: &str| {
            let config = crate::config::TenantConfig::named(name);
            Caller::tenant(Arc::new(crate::tenant::Tenant::new(&config)), "k")
        };
        let (a, b, owner) = (tenant("a"), tenant("b"), Caller::owner());
        assert!(hears(&a, Some("a")));
        assert!(!hears(&b, Some("a")));
        assert!(!hears(&owner, Some("a")));
        for c in [&a, &b, &owner] {
            assert!(hears(c, None));
        }
    }
}
