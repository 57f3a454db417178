//! Stage 3a of the pipeline: the tool cache. A read-only tool's result is
//! kept for the server's `cache.tool_ttl`, keyed by everything it depends
//! on:
//!
//! - the instance (each tenant's own process may answer differently), the
//!   tool and the arguments, for every server;
//! - for a component server (an adapter), also the caller's whole
//!   authority ([`authority`]): its tenant, that tenant's view, the grants
//!   it calls with and the adapters it came through. An adapter's nested
//!   calls are made as its caller, so its result is what that caller may
//!   see; it is never served to another tenant, nor to a narrower caller
//!   of the same tenant.
//!
//! A plain server's process sees weft, never the caller, so its result is
//! shared; but the router admits the caller (view and grants, in
//! [`super::admit`] and [`super::domain`]) before the lookup, and
//! [`super::server`] checks again right before it, so a cached result
//! never reaches a caller who could not have made the call.
//!
//! A call that resumes after input rounds, and a result made after the
//! agent answered a question, are neither served from nor stored in the
//! cache: they hold that agent's answers.

use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::cache::{Cached, Key, Scope};
use crate::catalog::ToolEntry;
use crate::tenant::Caller;
use crate::upstream::Upstream;

use super::{CallRequest, Forward, Forwarded, Route};

/// Where one call's result is cached, if it may be.
pub(super) struct Slot {
    key: Key,
    ttl: Duration,
}

/// The cache slot for this call, or `None` when its result is not cached.
pub(super) fn slot(up: &Upstream, req: &CallRequest, entry: Option<&ToolEntry>) -> Option<Slot> {
    let resuming = req.forward.as_ref().is_some_and(Forward::resuming);
    let ttl = up
        .config
        .resilience
        .cache
        .tool_ttl
        .filter(|_| entry.is_some_and(|t| t.read_only) && !resuming)?;
    let scope = if up.is_component() {
        Scope::Caller(authority(&req.caller))
    } else {
        Scope::Public
    };
    Some(Slot {
        key: Key::tool(up.key(), &req.tool, req.args.as_deref(), scope),
        ttl,
    })
}

/// The caller's whole authority as one short text: the tenant's name (empty
/// for none) and a SHA-256 of its view as written, the grants it calls
/// with (none: no grants narrow it) and the adapters it came through. Two
/// callers with the same text may call exactly the same tools.
pub(super) fn authority(caller: &Caller) -> String {
    let mut hash = Sha256::new();
    // Each list is its length, then each item's length and bytes, so no
    // two different lists hash the same bytes.
    let mut list = |tag: &[u8], items: Option<&[String]>| {
        hash.update(tag);
        match items {
            None => hash.update([0]),
            Some(items) => {
                hash.update([1]);
                hash.update((items.len() as u64).to_le_bytes());
                for item in items {
                    hash.update((item.len() as u64).to_le_bytes());
                    hash.update(item.as_bytes());
                }
            }
        }
    };
    let view = caller.tenant.as_ref().map(|t| t.view.as_written());
    list(b"include", view.map(|(include, _)| include));
    list(b"exclude", view.map(|(_, exclude)| exclude));
    list(b"grants", caller.grants.as_ref().map(|g| g.as_written()));
    list(b"via", Some(&caller.via));
    format!("{}:{}", caller.tenant_name(), hex::encode(hash.finalize()))
}

/// A result cached for `slot`.
pub(super) fn lookup(route: Route<'_>, slot: &Slot) -> Option<Forwarded> {
    match route.cache.get(&slot.key) {
        Some(Cached::Tool(result)) => Some(Forwarded::Complete(result)),
        _ => None,
    }
}

/// Keeps a complete result, unless the agent was asked for input on the
/// way to it.
pub(super) fn store(route: Route<'_>, slot: Slot, req: &CallRequest, outcome: &Forwarded) {
    let asked = req.forward.as_ref().is_some_and(Forward::agent_was_asked);
    if let (Forwarded::Complete(result), false) = (outcome, asked) {
        route
            .cache
            .put(slot.key, Cached::Tool(result.clone()), slot.ttl);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::config::{Grants, TenantConfig};
    use crate::tenant::Tenant;

    fn tenant(name: &str, include: &[&str]) -> Caller {
        let mut config = TenantConfig::named(name);
        config.include = include.iter().map(|s| s.to_string()).collect();
        Caller::tenant(Arc::new(Tenant::new(&config)), "k")
    }

    #[test]
    fn the_authority_tells_apart_every_caller_that_may_call_differently() {
        let a = tenant("a", &["digest.*", "git.*"]);
        let grants = Grants::new(&["git.git_status".into()]).expect("grants");
        let all = [
            authority(&Caller::owner()),
            authority(&a),
            // Another tenant with the same view.
            authority(&tenant("b", &["digest.*", "git.*"])),
            // The same name, a narrower view (a reloaded config).
            authority(&tenant("a", &["digest.*"])),
            authority(&a.with_grants(&grants)),
            authority(&a.with_grants(&Grants::default())),
            authority(&a.through_adapter("digest", &grants)),
            // The items' bounds count: one pattern is not two that
            // spell the same bytes.
            authority(&tenant("a", &["x.ab.*"])),
            authority(&tenant("a", &["x.a", "b.*"])),
        ];
        let distinct: std::collections::BTreeSet<&String> = all.iter().collect();
        assert_eq!(distinct.len(), all.len(), "{all:#?}");
        assert!(all[1].starts_with("a:"), "{}", all[1]);
        // The same authority again is the same text: a key key-holders
        // of one tenant share.
        assert_eq!(
            authority(&tenant("a", &["digest.*", "git.*"])),
            authority(&a)
        );
    }
}
