//! Stage 3 of the pipeline for one named server: the caller's view and
//! grants once more (so nothing, the cache included, serves a caller the
//! router would refuse), its instance for the caller, the tool's catalog
//! entry and its arguments' check against the tool's schema, the cache
//! ([`super::cached`]), then attempts under the server's retry policy,
//! counted in the metrics.
//!
//! A tool the catalog does not have (its server never listed, or is down)
//! is still tried, since weft cannot know it is made up; but it is counted
//! under the one label [`crate::metrics::UNKNOWN_TOOL`], never by its name.

use std::time::{Duration, Instant};

use crate::authz::{self, Resource};
use crate::error::{CallError, ErrorKind};
use crate::metrics::tool_label;
use crate::upstream::State;

use super::admit::{reachable, unknown};
use super::{CallRequest, Forward, Forwarded, Route, approve, cached, instance, invoke};

/// A call to `server` (the request's own, or a domain's member), retried
/// by the server's retry policy. `retry_unavailable` is false for a
/// domain's member: the domain fails over instead.
pub(super) async fn call(
    route: Route<'_>,
    req: &CallRequest,
    server: &str,
    retry_unavailable: bool,
) -> Result<Forwarded, CallError> {
    let tool = req.tool.as_str();
    // Admission already checked this (per member for a domain); checked
    // again here, right before the cache, so a cached result never
    // reaches a caller who could not have made the call.
    if !authz::allowed(&req.caller, &Resource::Tool { server, tool }) {
        return Err(unknown(route, req, server, true));
    }
    let Some(up) = instance(route.upstreams, server, &req.caller) else {
        if reachable(route, req, server) {
            // Only per-tenant instances, none of them this caller's.
            return Err(CallError::new(
                ErrorKind::Unavailable,
                server,
                tool,
                match &req.caller.tenant {
                    Some(t) => format!(
                        "the server runs once per tenant and has no instance for tenant {:?}",
                        t.name
                    ),
                    None => "the server runs once per tenant; call it as a tenant (weft call --tenant NAME)".to_string(),
                },
            ));
        }
        return Err(unknown(route, req, server, false));
    };
    let entry = req.entry_on(server);
    if entry.is_none() && up.in_catalog() {
        return Err(unknown(route, req, server, false));
    }
    let label = tool_label(entry.is_some(), tool);
    // The arguments against the tool's schema, before anything goes out.
    if let Some(e) = entry
        && up.config.validate_args
        && let Err(why) = e
            .args
            .check(&e.tool.name, &e.tool.input_schema, req.args.as_deref())
    {
        let e = CallError::new(ErrorKind::InvalidArgs, server, tool, why.to_string());
        route
            .metrics
            .refusal(req.caller.tenant_name(), server, label, e.kind.as_str());
        return Err(e);
    }
    // A person's approval, when a rule asks for one: before the cache, so
    // no stored result stands in for it, and an approved call's result is
    // its own (neither served from the cache nor stored in it).
    let approved = match approve::check(route, req, (server, up), entry).await {
        Ok(approved) => approved,
        Err(e) => {
            route
                .metrics
                .refusal(req.caller.tenant_name(), server, label, e.kind.as_str());
            return Err(e);
        }
    };
    let slot = if approved {
        None
    } else {
        cached::slot(up, req, entry)
    };
    if let Some(hit) = slot.as_ref().and_then(|s| cached::lookup(route, s)) {
        route.metrics.call(
            req.caller.tenant_name(),
            server,
            label,
            "ok",
            Duration::ZERO,
        );
        return Ok(hit);
    }
    // Retried without asking only when repeating it is harmless.
    let safe = entry.is_some_and(crate::catalog::ToolEntry::repeatable);
    let resuming = req.forward.as_ref().is_some_and(Forward::resuming);
    let policy = &up.config.resilience.retry;
    let began = Instant::now();
    let mut retries = 0;
    let outcome = loop {
        let (outcome, reached) = invoke::attempt(up, server, req).await;
        let Err(e) = &outcome else { break outcome };
        let restarting = matches!(
            up.state(),
            State::Starting | State::BackingOff { .. } | State::Down { .. }
        );
        let retry = retries < policy.max_retries
            && policy.kinds.contains(&e.kind)
            && (policy.all_tools || safe)
            && !resuming
            && (reached || restarting)
            && (retry_unavailable || e.kind != ErrorKind::Unavailable);
        if !retry {
            break outcome;
        }
        retries += 1;
        route.metrics.retry(server);
        let pause = policy.pause(retries);
        tracing::info!(kind = %e.kind, retry = retries, pause_ms = pause.as_millis() as u64, "retrying");
        if up.state() == State::Up {
            tokio::time::sleep(pause).await;
        } else {
            // Back as soon as the server is, but no later than the pause.
            up.wait_up(pause).await;
        }
    };
    let outcome_label = match &outcome {
        Ok(_) => "ok",
        Err(e) => e.kind.as_str(),
    };
    route.metrics.call(
        req.caller.tenant_name(),
        server,
        label,
        outcome_label,
        began.elapsed(),
    );
    if let (Some(slot), Ok(done)) = (slot, &outcome) {
        cached::store(route, slot, req, done);
    }
    outcome
}
