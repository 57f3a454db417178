//! Agents' roots, passed on to the servers that take them: each tenant's
//! instance of a server with `forward_roots`. When an agent of a tenant
//! declares its roots (or says they changed), those instances keep them
//! and hear `notifications/roots/list_changed`, so they ask again; their
//! `roots/list` is answered from what was kept (see
//! `upstream::handler::Roots`). No other tenant's instance hears of them.

use super::Hub;

impl Hub {
    /// Keeps `roots` as `tenant`'s, and tells each of its instances that
    /// takes roots when they changed. Returns how many instances changed.
    #[allow(deprecated)] // roots: gone in 2026-07-28, still used before it
    pub async fn set_roots(&self, tenant: &str, roots: Vec<rmcp::model::Root>) -> usize {
        let mut told = 0;
        for up in self.shared.upstreams.iter() {
            let Some(kept) = &up.roots else { continue };
            if up.tenant.as_deref() != Some(tenant) || !kept.set(roots.clone()) {
                continue;
            }
            told += 1;
            if let Some(conn) = up.connection() {
                // A server that has gone away hears it when it is back
                // (it asks for roots after its handshake).
                let _ = conn.service.peer().notify_roots_list_changed().await;
            }
        }
        told
    }
}
