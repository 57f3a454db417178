//! Keeping the catalog current: a rebuild swaps in a new catalog and tells
//! agents what changed, and [`watch_changes`] turns the upstreams' events
//! (a server lost, restarted, or announcing new lists) into rebuilds.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::mpsc;

use super::{Change, Shared, catalogs};
use crate::catalog::Flagged;
use crate::pins::HoldKind;
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
        &shared.pins,
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
    announce_flagged(shared, &old, &built);
    for change in old.changes_to(&built) {
        // Nobody listening is fine.
        let _ = shared.changes.send(change);
    }
}

/// Logs and audits each tool the scanner flagged, or whose definition
/// differs from its pin, once: in the first build that sees it so.
fn announce_flagged(shared: &Shared, old: &catalogs::Catalogs, built: &catalogs::Catalogs) {
    use crate::audit::AuditRoute;
    use std::collections::HashSet;
    let scanned = |f: &Flagged| (f.server.clone(), f.tool.clone());
    let pinned = |f: &Flagged| {
        let listed = f.pin.as_ref().map(|h| h.listed.clone());
        (f.server.clone(), f.tool.clone(), listed)
    };
    let all_old = || old.all().flat_map(|c| c.flagged());
    let scanned_before: HashSet<_> = all_old()
        .filter(|f| !f.findings.is_empty())
        .map(scanned)
        .collect();
    let pinned_before: HashSet<_> = all_old().filter(|f| f.pin.is_some()).map(pinned).collect();
    let (mut said_scan, mut said_pin) = (HashSet::new(), HashSet::new());
    let audit = |route, target: &str, outcome: &str| {
        if let Some(audit) = &shared.audit {
            audit.event(&crate::Caller::owner(), route, target, outcome, 0.0, None);
        }
    };
    for f in built.all().flat_map(|c| c.flagged()) {
        let quarantined = if f.quarantined {
            "quarantined"
        } else {
            "flagged"
        };
        if !f.findings.is_empty()
            && !scanned_before.contains(&scanned(f))
            && said_scan.insert(scanned(f))
        {
            let rules: Vec<&str> = f.findings.iter().map(|x| x.rule.as_str()).collect();
            tracing::warn!(server = %f.server, tool = %f.tool, rules = ?rules, outcome = quarantined, "a tool's definition was flagged by the scanner; `weft check` shows why");
            let target = format!("{}.{} ({})", f.server, f.tool, rules.join(", "));
            audit(AuditRoute::ToolFlagged, &target, quarantined);
        }
        let Some(hold) = &f.pin else { continue };
        if pinned_before.contains(&pinned(f)) || !said_pin.insert(pinned(f)) {
            continue;
        }
        let outcome = if hold.hidden { "quarantined" } else { "served" };
        let pinned_digest = hold.pinned.as_deref().unwrap_or("none");
        let name = format!("{}.{}", f.server, f.tool);
        match hold.kind {
            HoldKind::Changed => {
                tracing::warn!(tool = %name, pinned = %pinned_digest, listed = %hold.listed, outcome, "a tool's definition changed since weft pinned it; `weft pins diff {name}` shows how, and `weft pins approve {name}` trusts it")
            }
            HoldKind::New => {
                tracing::warn!(tool = %name, listed = %hold.listed, outcome, "a new tool on a server with pins waits for approval (pin = \"strict\"); `weft pins approve {name}` trusts it")
            }
        }
        let kind = match hold.kind {
            HoldKind::Changed => "changed",
            HoldKind::New => "new",
        };
        let target = format!(
            "{name} ({kind}: pinned {pinned_digest}, listed {})",
            hold.listed
        );
        audit(AuditRoute::ToolChanged, &target, outcome);
    }
}

/// Reads the pins' store again every `every`, and rebuilds the catalogs
/// when another process (`weft pins approve`, a replica) changed them.
pub(super) async fn watch_pins(shared: std::sync::Weak<Shared>, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(strong) = shared.upgrade() else {
            return;
        };
        if strong.stop.is_cancelled() {
            return;
        }
        let pins = strong.pins.clone();
        drop(strong);
        let refreshed = tokio::task::spawn_blocking(move || pins.refresh()).await;
        let Some(strong) = shared.upgrade() else {
            return;
        };
        match refreshed {
            Ok(Ok(true)) => {
                tracing::info!("the tool pins changed in their store; rebuilding the catalog");
                rebuild(&strong);
            }
            Ok(Ok(false)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot read the tool pins again"),
            Err(e) => tracing::warn!(error = %e, "the pins' reader failed"),
        }
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
