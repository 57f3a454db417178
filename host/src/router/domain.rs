//! Stage 2 for `@domain` calls: the domain's member servers the caller may
//! use, in priority order, healthy ones only, failing over on
//! `unavailable`. Each member is checked against the caller's view and
//! grants, so a grant or view of one member never passes a call that the
//! router sends to another.

use std::sync::Arc;

use crate::authz::{self, Resource};
use crate::error::{CallError, ErrorKind, quote};
use crate::upstream::{State, Upstream};

use super::{CallRequest, Forwarded, Route, server};

/// A call to one domain. Only servers the caller can see count as
/// members, so a domain whose members are all outside the view answers as
/// an unknown domain does.
pub(super) async fn call(
    route: Route<'_>,
    req: &CallRequest,
    domain: &str,
) -> Result<Forwarded, CallError> {
    let at = format!("@{domain}");
    let (caller, tool) = (&req.caller, req.tool.as_str());
    let tenant = caller.tenant.as_ref().map(|t| t.name.as_str());
    let in_domain = |u: &&Arc<Upstream>| {
        u.config.enabled && u.config.domains.iter().any(|d| d == domain) && u.serves(tenant)
    };
    let may_call = |u: &Upstream| {
        authz::allowed(
            caller,
            &Resource::Tool {
                server: u.name(),
                tool,
            },
        )
    };
    let mut members: Vec<&Arc<Upstream>> = route
        .upstreams
        .iter()
        .filter(in_domain)
        .filter(|u| authz::allowed(caller, &Resource::Server(u.name())))
        .collect();
    // Whether a server outside the view has the tool: audited as denied.
    let hidden = route
        .upstreams
        .iter()
        .filter(in_domain)
        .any(|u| !may_call(u) && req.entry_on(u.name()).is_some());
    if members.is_empty() {
        let mut known: Vec<&str> = route
            .upstreams
            .iter()
            .filter(|u| authz::allowed(caller, &Resource::Server(u.name())))
            .flat_map(|u| u.config.domains.iter().map(String::as_str))
            .collect();
        known.sort_unstable();
        known.dedup();
        let hint = if known.is_empty() {
            "; no server declares a domain (servers.NAME.domains)".to_string()
        } else {
            format!("; domains: {}", known.join(", "))
        };
        let mut e = CallError::new(
            ErrorKind::NotFound,
            &at,
            tool,
            format!("no enabled server is in the domain {}{hint}", quote(domain)),
        );
        e.hidden = hidden;
        return Err(e);
    }
    members.sort_by(|a, b| {
        b.config
            .priority
            .cmp(&a.config.priority)
            .then_with(|| a.name().cmp(b.name()))
    });
    let with_tool: Vec<&Arc<Upstream>> = members
        .iter()
        .copied()
        .filter(|u| req.entry_on(u.name()).is_some() && may_call(u))
        .collect();
    if with_tool.is_empty() {
        let names: Vec<&str> = members.iter().map(|u| u.name()).collect();
        let mut e = CallError::new(
            ErrorKind::NotFound,
            &at,
            tool,
            format!(
                "no server in the domain {} ({}) has the tool {}, or none is up",
                quote(domain),
                names.join(", "),
                quote(tool)
            ),
        );
        e.hidden = hidden;
        return Err(e);
    }
    let mut passed = Vec::new();
    for (i, up) in with_tool.iter().enumerate() {
        if up.state() != State::Up || up.breaker.is_open() {
            let why = if up.breaker.is_open() {
                "breaker open"
            } else {
                up.state().name()
            };
            passed.push(format!("{}: {why}", up.name()));
            continue;
        }
        if i > 0 {
            route.metrics.failover(domain);
            tracing::info!(domain, server = up.name(), passed = ?passed, "failing over");
        }
        match server::call(route, req, up.name(), false).await {
            Err(e) if e.kind == ErrorKind::Unavailable => {
                passed.push(format!("{}: {}", up.name(), e.message));
            }
            other => return other,
        }
    }
    Err(CallError::new(
        ErrorKind::Unavailable,
        &at,
        tool,
        format!(
            "no server in the domain {domain:?} could take the call ({})",
            passed.join("; ")
        ),
    ))
}
