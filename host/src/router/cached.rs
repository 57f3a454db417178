//! Stage 3a of the pipeline: the tool cache. A read-only tool's result is
//! kept for the server's `cache.tool_ttl`, keyed by instance (each tenant's
//! own process may answer differently), tool and arguments. A call that
//! resumes after input rounds, and a result made after the agent answered
//! a question, are neither served from nor stored in the cache: they hold
//! that agent's answers.

use std::time::Duration;

use crate::cache::{Cached, Key};
use crate::catalog::ToolEntry;
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
    Some(Slot {
        key: Key::tool(up.key(), &req.tool, req.args.as_deref()),
        ttl,
    })
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
