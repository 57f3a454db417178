//! Upstream resource subscriptions shared by every agent: the first agent
//! to subscribe to a URI subscribes upstream, the last to leave ends it.
//! A handshake-era upstream gets `resources/subscribe`; a 2026-07-28 one a
//! `subscriptions/listen` stream for that URI, unless it offers
//! subscriptions only in the handshake era it also speaks. Each tenant holds at most
//! [`MAX_PER_TENANT`] subscriptions at a time, so one tenant cannot fill
//! the table or its upstreams.

use parking_lot::Mutex;
use std::collections::HashMap;

use rmcp::model::{
    ErrorData, ServerNotification, SubscribeRequestParams, SubscriptionFilter,
    UnsubscribeRequestParams,
};

use super::handler::upstream_error;
use crate::hub::Change;
use crate::serve::Gateway;
use crate::tenant::Caller;

/// How long an agent's subscription waits for a 2026-07-28 upstream to
/// acknowledge its `subscriptions/listen` stream.
const LISTEN_ACK: std::time::Duration = std::time::Duration::from_secs(5);

/// The most subscriptions one tenant holds at a time, over all its
/// sessions.
pub const MAX_PER_TENANT: usize = 256;

/// Subscriptions held per tenant, against [`MAX_PER_TENANT`].
#[derive(Default)]
struct Quota {
    held: Mutex<HashMap<String, usize>>,
}

impl Quota {
    /// Counts one more for `tenant` (the owner is not counted); `Err`
    /// with the limit when the tenant holds the most it may.
    fn take(&self, tenant: Option<&str>, max: usize) -> Result<(), usize> {
        let Some(t) = tenant else { return Ok(()) };
        let mut held = self.held.lock();
        let n = held.entry(t.to_string()).or_default();
        if *n >= max {
            return Err(max);
        }
        *n += 1;
        Ok(())
    }

    fn give_back(&self, tenant: Option<&str>) {
        let Some(t) = tenant else { return };
        let mut held = self.held.lock();
        if let Some(n) = held.get_mut(t) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                held.remove(t);
            }
        }
    }
}

fn tenant_of(caller: &Caller) -> Option<&str> {
    caller.tenant.as_ref().map(|t| t.name.as_str())
}

/// One exposed URI's upstream subscription.
struct Sub {
    count: usize,
    /// The listen stream's task, for a 2026-07-28 upstream.
    listener: Option<tokio::task::AbortHandle>,
    /// Subscribed over a dual-era server's handshake session (see
    /// [`handshake_subscriber`]).
    on_side: bool,
}

/// A dual-era server's handshake session, when its 2026-07-28 side does
/// not offer resource subscriptions and that session does: there, a
/// subscription is a `resources/subscribe`, and its updates come as they
/// do from any handshake-era server.
async fn handshake_subscriber(
    conn: &crate::upstream::Connection,
) -> Option<&crate::upstream::HandshakeSession> {
    let offers = |caps: Option<rmcp::model::ServerCapabilities>| {
        caps.and_then(|c| c.resources)
            .is_some_and(|r| r.subscribe == Some(true))
    };
    if offers(conn.service.peer_info().map(|i| i.capabilities.clone())) {
        return None;
    }
    let side = conn.handshake_side.as_ref()?.session().await?;
    offers(side.peer_info().map(|i| i.capabilities.clone())).then_some(side)
}

#[derive(Default)]
pub struct Subscriptions {
    subs: Mutex<HashMap<String, Sub>>,
    quota: Quota,
}

impl Gateway {
    /// Counts one more subscriber of `uri` (as the agent names it),
    /// subscribing upstream for the first; refused past the tenant's
    /// [`MAX_PER_TENANT`].
    pub(in crate::serve) async fn acquire(
        &self,
        caller: &Caller,
        uri: &str,
    ) -> Result<(), ErrorData> {
        if let Err(max) = self.subs.quota.take(tenant_of(caller), MAX_PER_TENANT) {
            return Err(ErrorData::invalid_request(
                format!(
                    "this tenant already holds {max} resource subscriptions, the most weft allows; unsubscribe from some first"
                ),
                None,
            ));
        }
        let acquired = self.acquire_counted(caller, uri).await;
        if acquired.is_err() {
            self.subs.quota.give_back(tenant_of(caller));
        }
        acquired
    }

    async fn acquire_counted(&self, caller: &Caller, uri: &str) -> Result<(), ErrorData> {
        let Some((server, inner)) = self.hub.catalog_for(caller).resolve_uri(uri) else {
            return Err(super::handler::unknown_resource(uri));
        };
        // Both eras' routes come here (`resources/subscribe` and the
        // resources of a `subscriptions/listen`): outside the caller's
        // view, nothing is sent upstream.
        if !crate::authz::allowed(caller, &crate::authz::Resource::Server(&server)) {
            return Err(super::handler::hidden_resource(caller, uri));
        }
        let Some(up) = self.hub.upstream_for(&server, caller).cloned() else {
            return Err(ErrorData::internal_error(
                format!("server {server:?} has no instance for this tenant"),
                None,
            ));
        };
        // One upstream subscription per instance and URI: a server run once
        // per tenant is subscribed to in each tenant's own process.
        let slot = slot(up.key(), uri);
        let uri = slot.as_str();
        {
            let mut subs = self.subs.subs.lock();
            if let Some(s) = subs.get_mut(uri) {
                s.count += 1;
                return Ok(());
            }
            subs.insert(
                uri.to_string(),
                Sub {
                    count: 1,
                    listener: None,
                    on_side: false,
                },
            );
        }
        let undo = || {
            self.subs.subs.lock().remove(uri);
        };
        let Some(conn) = up.connection() else {
            undo();
            return Err(ErrorData::internal_error(
                format!("server {server:?} is not available"),
                None,
            ));
        };
        let side = match conn.era().is_stateless() {
            true => handshake_subscriber(&conn).await,
            false => None,
        };
        if !conn.era().is_stateless() || side.is_some() {
            #[allow(deprecated)]
            let r = side
                .unwrap_or(&conn.service)
                .subscribe(SubscribeRequestParams::new(inner))
                .await;
            if let Err(e) = r {
                undo();
                return Err(upstream_error(&server, e));
            }
            if let Some(s) = self.subs.subs.lock().get_mut(uri) {
                s.on_side = side.is_some();
            }
            return Ok(());
        }
        let mut filter = SubscriptionFilter::new();
        filter.resource_subscriptions = Some(vec![inner]);
        // The listen stream runs in its own task from the start, so that an
        // upstream that never acknowledges it cannot hold the agent's
        // request: after LISTEN_ACK the agent is answered and the stream
        // stays open for updates that may still come.
        let peer = conn.service.peer().clone();
        let (acked, ack) = tokio::sync::oneshot::channel();
        let hub = self.hub.clone();
        let named = server.to_string();
        let tenant = up.tenant.clone();
        let task = tokio::spawn(async move {
            let mut subscription = match peer.listen(filter).await {
                Ok(s) => {
                    let _ = acked.send(Ok(()));
                    s
                }
                Err(e) => {
                    let _ = acked.send(Err(e));
                    return;
                }
            };
            while let Ok(Some(n)) = subscription.next().await {
                if let ServerNotification::ResourceUpdatedNotification(n) = n {
                    hub.announce(Change::ResourceUpdated {
                        server: named.clone(),
                        uri: n.params.uri,
                        tenant: tenant.clone(),
                    });
                }
            }
        });
        if let Some(s) = self.subs.subs.lock().get_mut(uri) {
            s.listener = Some(task.abort_handle());
        }
        match tokio::time::timeout(LISTEN_ACK, ack).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => {
                undo();
                Err(upstream_error(&server, e))
            }
            Ok(Err(_)) => {
                undo();
                Err(ErrorData::internal_error(
                    format!("server {server:?} ended the subscription before acknowledging it"),
                    None,
                ))
            }
            Err(_) => {
                tracing::warn!(server = %server, uri, "the upstream has not acknowledged the subscription yet; keeping it open");
                Ok(())
            }
        }
    }

    /// Counts one subscriber less, ending the upstream subscription after
    /// the last.
    pub(in crate::serve) async fn release(
        &self,
        caller: &Caller,
        uri: &str,
    ) -> Result<(), ErrorData> {
        let Some((server, inner)) = self.hub.catalog_for(caller).resolve_uri(uri) else {
            return Ok(());
        };
        let Some(up) = self.hub.upstream_for(&server, caller).cloned() else {
            return Ok(());
        };
        let slot = slot(up.key(), uri);
        let uri = slot.as_str();
        let listener = {
            let mut subs = self.subs.subs.lock();
            if subs.contains_key(uri) {
                self.subs.quota.give_back(tenant_of(caller));
            }
            match subs.get_mut(uri) {
                Some(s) if s.count > 1 => {
                    s.count -= 1;
                    return Ok(());
                }
                Some(_) => match subs.remove(uri) {
                    Some(s) => (s.listener, s.on_side),
                    None => (None, false),
                },
                None => return Ok(()),
            }
        };
        let (listener, on_side) = listener;
        if let Some(l) = listener {
            // Dropping the stream cancels the listen request.
            l.abort();
            return Ok(());
        }
        let Some(conn) = up.connection() else {
            return Ok(());
        };
        let side = match (on_side, &conn.handshake_side) {
            (true, Some(side)) => side.session().await,
            _ => None,
        };
        #[allow(deprecated)]
        let r = side
            .unwrap_or(&conn.service)
            .unsubscribe(UnsubscribeRequestParams::new(inner))
            .await;
        r.map_err(|e| upstream_error(&server, e))
    }
}

/// The subscription table's key: the instance and the agent's URI.
fn slot(instance: &str, uri: &str) -> String {
    format!("{instance}\n{uri}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_holds_at_most_its_quota_and_others_are_unaffected() {
        let quota = Quota::default();
        for _ in 0..3 {
            assert_eq!(quota.take(Some("a"), 3), Ok(()));
        }
        assert_eq!(quota.take(Some("a"), 3), Err(3));
        // Another tenant, and the owner, are not held back by a's.
        assert_eq!(quota.take(Some("b"), 3), Ok(()));
        assert_eq!(quota.take(None, 3), Ok(()));
        quota.give_back(Some("a"));
        assert_eq!(quota.take(Some("a"), 3), Ok(()));
        assert_eq!(quota.take(Some("a"), 3), Err(3));
    }
}
