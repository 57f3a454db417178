//! Keeping the catalog current: a rebuild swaps in a new catalog and tells
//! agents what changed, and [`watch_changes`] turns the upstreams' events
//! (a server lost, restarted, or announcing new lists) into rebuilds.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::mpsc;

use super::{Change, Shared, catalogs};
use crate::upstream::UpstreamEvent;

/// Builds every audience's catalog anew and installs it, unless a newer
/// build is in place; sends the changes agents should hear of.
pub(super) fn rebuild(shared: &Shared) {
    // The version is taken before the listings are read, so a build that
    // read older listings never replaces one that read newer ones.
    let version = shared.builds.fetch_add(1, Ordering::SeqCst);
    let built = Arc::new(catalogs::Catalogs::build(
        version,
        &shared.config.settings,
        &shared.upstreams,
    ));
    let Some(old) = catalogs::install(&shared.catalogs, built.clone()) else {
        tracing::debug!(version, "a newer catalog is already in place");
        return;
    };
    let mut warned = std::collections::HashSet::new();
    for c in built.all().flat_map(|c| c.collisions()) {
        if warned.insert((c.kind, c.name.clone())) {
            tracing::warn!(kind = c.kind, name = %c.name, winner = %c.winner, hidden = ?c.hidden, "name collision resolved by priority");
        }
    }
    // A flagged tool is said once per build that first sees it.
    let before: std::collections::HashSet<(String, String)> = old
        .all()
        .flat_map(|c| c.flagged())
        .map(|f| (f.server.clone(), f.tool.clone()))
        .collect();
    let mut said = std::collections::HashSet::new();
    for f in built.all().flat_map(|c| c.flagged()) {
        let key = (f.server.clone(), f.tool.clone());
        if before.contains(&key) || !said.insert(key) {
            continue;
        }
        let rules: Vec<&str> = f.findings.iter().map(|x| x.rule.as_str()).collect();
        let outcome = if f.quarantined {
            "quarantined"
        } else {
            "flagged"
        };
        tracing::warn!(server = %f.server, tool = %f.tool, rules = ?rules, outcome, "a tool's definition was flagged by the scanner; `weft check` shows why");
        if let Some(audit) = &shared.audit {
            audit.event(
                &crate::Caller::owner(),
                crate::audit::AuditRoute::ToolFlagged,
                &format!("{}.{} ({})", f.server, f.tool, rules.join(", ")),
                outcome,
                0.0,
                None,
            );
        }
    }
    for change in old.changes_to(&built) {
        // Nobody listening is fine.
        let _ = shared.changes.send(change);
    }
}

/// Re-lists a server whose lists changed and swaps in a new catalog.
pub(super) async fn watch_changes(
    shared: std::sync::Weak<Shared>,
    mut events: mpsc::UnboundedReceiver<UpstreamEvent>,
) {
    while let Some(event) = events.recv().await {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        match event {
            UpstreamEvent::ResourceUpdated { server, uri } => {
                // `server` is the instance's key; agents know the name.
                shared.cache.invalidate_resource(&server, &uri);
                let (name, tenant) = shared
                    .upstreams
                    .iter()
                    .find(|u| u.key() == server)
                    .map_or((server, None), |u| (u.name().to_string(), u.tenant.clone()));
                let _ = shared.changes.send(Change::ResourceUpdated {
                    server: name,
                    uri,
                    tenant,
                });
            }
            UpstreamEvent::Lost { server } | UpstreamEvent::GaveUp { server } => {
                shared.cache.invalidate_server(&server);
                rebuild(&shared);
            }
            UpstreamEvent::Restarted { server } => {
                // Fresh lists: tell agents to re-list even when the merged
                // view looks the same (descriptions may have changed).
                shared.cache.invalidate_server(&server);
                rebuild(&shared);
                let listing = shared
                    .upstreams
                    .iter()
                    .find(|u| u.key() == server)
                    .map(|u| u.listing());
                if let Some(l) = listing {
                    if !l.tools.is_empty() {
                        let _ = shared.changes.send(Change::Tools);
                    }
                    if !l.resources.is_empty() || !l.templates.is_empty() {
                        let _ = shared.changes.send(Change::Resources);
                    }
                    if !l.prompts.is_empty() {
                        let _ = shared.changes.send(Change::Prompts);
                    }
                }
            }
            UpstreamEvent::ListChanged { server } => {
                let Some(up) = shared.upstreams.iter().find(|u| u.key() == server).cloned() else {
                    continue;
                };
                // A change announced during start-up (servers often add tools
                // right after the handshake) may postdate the first listing:
                // re-list once the server is up.
                let shared = shared.clone();
                tokio::spawn(async move {
                    if !up.wait_up(std::time::Duration::from_secs(30)).await {
                        return;
                    }
                    match up.refresh().await {
                        Ok(()) => {
                            shared.cache.invalidate_server(&server);
                            rebuild(&shared);
                        }
                        // Shutting down: the connection is gone on purpose.
                        Err(_) if shared.stop.is_cancelled() => {}
                        Err(e) => {
                            tracing::warn!(server = %server, error = %e, "cannot re-list after a change")
                        }
                    }
                });
            }
        }
    }
}
